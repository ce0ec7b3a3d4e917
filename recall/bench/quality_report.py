"""Stage *report* of the quality benchmark: ``results.csv`` and ``results.md``.

The tables with their intervals and bootstrap verdicts, the goal table of issue 12, the evidence
for the walk defaults (``defaults_check.csv``), the searches, the settings and the environment.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _f(x: Any, d: int = 4) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    return f"{x:.{d}f}"


def _ci(r: pd.Series, d: int = 4) -> str:
    if pd.isna(r.get("ci_low")):
        return _f(r["value"], d)
    return f"{_f(r['value'], d)} [{_f(r['ci_low'], d)}, {_f(r['ci_high'], d)}]"


def _vs(r: pd.Series, prefix: str) -> str:
    if pd.isna(r.get(f"{prefix}_diff")):
        return ""
    return (
        f"{r[f'{prefix}_diff']:+.4f} [{r[f'{prefix}_low']:+.4f}, {r[f'{prefix}_high']:+.4f}] "
        f"{r[f'{prefix}_verdict']}"
    )


def write_report(df: pd.DataFrame, out: Path, cfg_name: str, cfg: dict, env: dict) -> None:
    """``results.csv`` and ``results.md`` (tables with intervals, searches, goal table)."""
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "results.csv", index=False)
    L = [
        "# Quality of the trainers on a validation protocol",
        "",
        f"Produced by `python -m recall.bench.quality{' --quick' if cfg_name == 'quick' else ''}`"
        f" ({cfg_name} settings); see the module docstring for the protocol. "
        + (
            f"Machine: {env['load_text']}; seconds are wall clock (`time.perf_counter`)."
            if env.get("load_text")
            else f"Load average at the end: {env.get('loadavg')}; seconds are indicative."
        ),
        "",
        *[line for n in env.get("load_notes", []) for line in (f"> {n}", "")],
        "Reproduce (each stage resumes from `--cache` and `--out`; `--stage` may repeat): "
        "`python -m recall.bench.quality --stage search` (Optuna searches, validation only), "
        "`--stage defaults-check` (old vs new walk defaults, validation folds), "
        "`--stage final` (test split, seeds, bootstrap; writes this file). "
        f"This file was last written by: `{env.get('command', '')}`.",
        "",
        "Protocol: leave-last-out test, second-to-last validation; ties between equal "
        "timestamps broken at random with a fixed seed (`ties='random'`); every choice "
        "(hyperparameters, graph construction, query mode) is made on validation; the test "
        "split is read once. Figures: mean over seeds with a 95% Student-t interval in "
        "brackets; *vs popularity* / *vs best baseline*: paired bootstrap over test users of "
        "the HR@10 difference (95% interval); *win* / *loss* only when the interval excludes "
        "zero. With one held-out item per user HR@10 = Recall@10 (both columns are in "
        "`results.csv`).",
        "",
    ]
    data = df[df["section"] == "data"] if "section" in df else df.iloc[0:0]
    if len(data):
        L += ['## What "next item" means in these logs', ""]
        for ds, g in data.groupby("dataset", sort=False):
            L.append(
                f"- {ds}: "
                + "; ".join(
                    f"{m} {v:.1%}" if v < 1 and "share" in m else f"{m} {int(v)}"
                    for m, v in zip(g["metric"], g["value"], strict=True)
                )
            )
        L += [
            "",
            "On MovieLens the timestamps are those of rating screens: most consecutive ratings "
            'are entered seconds apart, in an order the site chose, so the held-out "next '
            'item" is the last movie a user rated in a burst, not the next movie watched. '
            "Ties on the last timestamp are broken at random (seeded), not by file order "
            "(which would always hold out the largest movieId). Compare the order-free "
            "baselines (item-kNN, ALS) with the sequence methods below before reading "
            "sequence order into this task.",
            "",
        ]
    rec = df[df["section"] == "recommendation"] if "section" in df else df.iloc[0:0]
    for ds, g in rec.groupby("dataset", sort=False):
        bb = g["best_baseline"].dropna().iloc[0] if g["best_baseline"].notna().any() else "?"
        L += [
            f"## Recommendation: {ds} (HR@10 on test, {int(g['users'].max())} users)",
            "",
            f"Best baseline on validation: **{bb}**. Rows in *italic mode* are the mode not "
            "chosen on validation (shown for completeness). Baselines: popularity; item-kNN "
            "(cosine / co-occurrence of the binary user-item matrix; I2I = last item, U2I = "
            "sum of similarities); `implicit` ALS and BPR (U2I with their own user factors). "
            "The Spark ALS vectors in the shared data are of MovieLens-1M: their ids do not "
            "match ml-latest-small, so they have no row here. A method without a *defaults* "
            "row was not run at the library defaults in this run (`--skip-defaults`); "
            "Node2Vec's defaults (p = q = 1) are DeepWalk's.",
            "",
            "| method | setting | mode | HR@10 [95% CI over seeds] | NDCG@10 | vs popularity "
            "(diff [CI] verdict) | ratio to popularity [CI] | vs best baseline | train s |",
            "|---|---|---|---|---:|---|---|---|---:|",
        ]
        for _, r in g.iterrows():
            mode = r["mode"] if r.get("validated_mode", True) else f"*{r['mode']}*"
            ratio = (
                f"{r['vs_pop_ratio']:.2f}× [{r['vs_pop_ratio_low']:.2f}, "
                f"{r['vs_pop_ratio_high']:.2f}]"
                if not pd.isna(r.get("vs_pop_ratio"))
                else ""
            )
            L.append(
                f"| {r['method']} | {r['setting']} | {mode} | {_ci(r)} | {_f(r['ndcg@10'])} | "
                f"{_vs(r, 'vs_pop')} | {ratio} | {_vs(r, 'vs_best_baseline')} | "
                f"{_f(r.get('train_seconds'), 1)} |"
            )
        same = np.allclose(g["value"].astype(float), g["recall@10"].astype(float))
        pop = g[g["method"] == "popularity"]
        if len(pop):
            p0 = pop.iloc[0]
            L += [
                "",
                f"HR@10 {'=' if same else '≠'} Recall@10 in every row of this table (one "
                f"held-out item per user), e.g. popularity: HR@10 {p0['value']:.4f}, Recall@10 "
                f"{p0['recall@10']:.4f}; only one of the two is shown.",
            ]
        L.append("")
    nc = df[df["section"] == "node_classification"] if "section" in df else df.iloc[0:0]
    if len(nc):
        L += [
            "## Node classification (test nodes, classifier fit on the training nodes)",
            "",
            "50% of the labelled nodes are test; the validation fold (20% of the training "
            "nodes) was used by the search only. *Published*: node2vec paper Table 2, Macro-F1 "
            "at 50% (their Wikipedia = our `pos`).",
            "",
            "| data set | method | setting | Macro-F1 [95% CI] | Micro-F1 [95% CI] | "
            "published Macro-F1 | train s |",
            "|---|---|---|---|---|---:|---:|",
        ]
        for (ds, m, st), g in nc.groupby(["dataset", "method", "setting"], sort=False):
            ma = g[g["metric"] == "macro_f1"].iloc[0]
            mi = g[g["metric"] == "micro_f1"].iloc[0]
            L.append(
                f"| {ds} | {m} | {st} | {_ci(ma)} | {_ci(mi)} | {_f(ma['published'])} | "
                f"{_f(ma['train_seconds'], 1)} |"
            )
        L.append("")
    L += _goal_section(df)
    check = out / "defaults_check.csv"
    if check.is_file():
        c = pd.read_csv(check)
        L += [
            "## Evidence for the walk defaults (validation fold, one seed)",
            "",
            "DeepWalk / Node2Vec went from 1 to 2 skip-gram epochs: 2 is the best of those "
            "tried on BlogCatalog, near the best on Wiki and the synthetic log, and within "
            "noise of 1 on PPI (where more epochs hurt). "
            "`--stage defaults-check`: the old and the new defaults on each graph's validation "
            "fold (test nodes unread) and on the recommendation logs' validation split (I2I).",
            "",
            "| data set | setting | Macro-F1 (valid) | Micro-F1 (valid) | I2I HR@10 (valid) | "
            "seconds (load) |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for _, r in c.iterrows():
            L.append(
                f"| {r['dataset']} | {r['setting']} | {_f(r.get('macro_f1_valid'))} | "
                f"{_f(r.get('micro_f1_valid'))} | {_f(r.get('hit_rate@10_i2i_valid'))} | "
                f"{r['seconds']:.0f} ({r['loadavg_1min']:.1f}) |"
            )
        L.append("")
    L += _search_section(out)
    L += [
        "## Settings",
        "",
        "```json",
        json.dumps(cfg, indent=2, default=str),
        "```",
        "",
        "## Environment",
        "",
        "```json",
        json.dumps(env, indent=2, default=str),
        "```",
        "",
    ]
    (out / "results.md").write_text("\n".join(L), encoding="utf-8")


def _goal_section(df: pd.DataFrame) -> list[str]:
    """The issue's goal table, filled from the rows (met / not met / not measured)."""
    L = [
        "## Goals of issue 12 (test split, after tuning on validation)",
        "",
        "| data | figure | measured | goal | verdict |",
        "|---|---|---|---|---|",
    ]
    rec = df[(df.get("section") == "recommendation")] if "section" in df else df.iloc[0:0]
    ml = rec[(rec["dataset"] == "movielens-latest-small")] if len(rec) else rec
    if len(ml):
        emb = ml[(ml["kind"] == "embedding") & (ml["validated_mode"].astype(bool))]
        # per method: the tuned row where there is one (the setting chosen on validation)
        pick = emb.sort_values("setting", key=lambda s: s != "tuned").groupby("method").head(1)
        best = pick.sort_values("value", ascending=False).iloc[0]
        ratio, lo, hi = best["vs_pop_ratio"], best["vs_pop_ratio_low"], best["vs_pop_ratio_high"]
        if lo >= 1.6:
            verdict_ratio = "met"
        elif ratio >= 1.6 and best["vs_pop_verdict"] == "win":
            verdict_ratio = (
                "met on the point estimate (a significant win), but its interval reaches below 1.6×"
            )
        else:
            verdict_ratio = "not met"
        L.append(
            f"| ml-latest-small | best embedding HR@10 / popularity | {best['method']} "
            f"({best['setting']}, {best['mode']}) {ratio:.2f}× [{lo:.2f}, {hi:.2f}], "
            f"{best['vs_pop_verdict']} | ≥ 1.6×, significant | {verdict_ratio} |"
        )
        wins = (pick["vs_pop_verdict"] == "win").sum()
        L.append(
            f"| ml-latest-small | methods above popularity (significant) | {wins} of "
            f"{len(pick)} ({', '.join(f'{m}: {v}' for m, v in zip(pick['method'], pick['vs_pop_verdict'], strict=True))}) "
            f"| all | {'met' if wins == len(pick) else 'not met'} |"
        )
        i2v = pick[pick["method"].str.startswith("item2vec")]["value"].max()
        for m in ("deepwalk", "node2vec"):
            r = pick[pick["method"] == m]
            if len(r) and i2v > 0:
                q = r["value"].iloc[0] / i2v
                L.append(
                    f"| ml-latest-small | {m} / best item2vec (best modes) | {q:.2f}× | ≥ 0.9× | "
                    f"{'met' if q >= 0.9 else 'not met'} |"
                )
        knn = ml[(ml["method"] == "itemknn-cosine") & ml["validated_mode"].astype(bool)]
        if len(knn):
            kv = float(knn["value"].iloc[0])
            q = best["value"] / kv
            worst = pick["value"].min() / kv
            L.append(
                f"| ml-latest-small | embeddings / item-kNN cosine ({kv:.4f}) | best {q:.2f}×, "
                f"worst {worst:.2f}× | all ≥ 1.0×, best ≥ 1.25× | "
                f"{'met' if worst >= 1.0 and q >= 1.25 else 'not met'} |"
            )
    else:
        L.append("| ml-latest-small | all rows | not measured in this run | | not measured |")
    nc = df[df.get("section") == "node_classification"] if "section" in df else df.iloc[0:0]
    bc = nc[(nc["dataset"] == "blogcatalog") & (nc["metric"] == "macro_f1")] if len(nc) else nc
    if len(bc[bc["setting"] == "defaults"]):
        d = bc[(bc["setting"] == "defaults") & (bc["method"] == "deepwalk")].iloc[0]
        L.append(
            f"| BlogCatalog, 50% | DeepWalk Macro-F1 at the defaults | {_ci(d)} | ≥ 0.26 | "
            f"{_goal_verdict(d, 0.26)} |"
        )
    else:
        L.append(
            "| BlogCatalog, 50% | DeepWalk Macro-F1 at the defaults | not measured in this run "
            "| ≥ 0.26 | not measured |"
        )
    for ds in ("blogcatalog", "ppi", "pos"):
        r = nc[(nc["dataset"] == ds) & (nc["metric"] == "macro_f1") & (nc["method"] == "node2vec")]
        d = nc[(nc["dataset"] == ds) & (nc["metric"] == "macro_f1") & (nc["method"] == "deepwalk")]
        if len(r) and len(d):
            n2v, dw = validated_node_row(r), validated_node_row(d)
            L.append(
                f"| {ds} | node2vec (p, q chosen on the training nodes) vs DeepWalk, Macro-F1 | "
                f"{_ci(n2v)} ({n2v['setting']}) vs {_ci(dw)} ({dw['setting']}) | node2vec ≥ "
                f"DeepWalk | {'met on the mean' if n2v['value'] >= dw['value'] else 'not met'}"
                f"{'' if _apart(n2v, dw) else ' (intervals overlap)'} |"
            )
        if ds == "blogcatalog":  # its goals: DeepWalk's defaults (above), node2vec >= DeepWalk
            continue
        if len(r):
            top = validated_node_row(r)
            L.append(
                f"| {ds} | node2vec Macro-F1 vs paper ({top['published']:.4f}) | {_ci(top)} "
                f"({top['setting']}) | ≥ paper | "
                f"{_goal_verdict(top, float(top['published']))} |"
            )
        else:
            L.append(
                f"| {ds} | node2vec Macro-F1 vs paper | not measured in this run | ≥ paper | not measured |"
            )
    L.append(
        "| EGES | cold-start HR@10 vs side-info popularity | not part of this benchmark "
        "(`recall.bench.eges`) | EGES ≥ GES, ≥ 2× | not measured |"
    )
    L.append("")
    return L


#: the node-classification rows whose every choice was made on the graph's training nodes, most
#: searched first: node2vec's own p, q grid scored by K-fold cross-validation over the training
#: nodes (``--node-cv-folds``), the same grid on the one validation fold, the graph's own TPE
#: search, the defaults; within each, the classifier chosen by K-fold cross-validation, then the
#: one chosen on the validation fold. A goal row quotes the first present, never the best test
#: figure among rows (that would choose on test). Cross-validation comes first because it is the
#: node2vec paper's protocol and the one fold's choices were seen to vary with the seed (on POS
#: the fold chose C = 0.3, 100 and 10 for seeds 0, 1, 2); that order was set after POS's first
#: cross-validated test figures had been read (said in ``node_classification.md``).
_VALIDATED_NODE_SETTINGS = (
    r"tuned \(p, q grid, \d+-fold cv\)",
    r"tuned \(p, q grid\)",
    r"tuned \(\d+-fold cv\)",
    r"tuned",
    r"defaults",
)
#: a tuned setting equal to the defaults is not refit and gets this mark (``node_final``)
_AT_DEFAULTS = r"(?: \(= defaults\))?"
_VALIDATED_CLASSIFIERS = (
    r" \+ classifier chosen by \d+-fold cv",
    r" \+ classifier chosen on valid",
)


def validated_node_row(rows: pd.DataFrame) -> pd.Series:
    """The row of ``rows`` (one method on one graph) chosen on validation (see above)."""
    for setting in _VALIDATED_NODE_SETTINGS:
        for clf in _VALIDATED_CLASSIFIERS:
            pat = re.compile(setting + _AT_DEFAULTS + clf)
            hit = rows[rows["setting"].map(lambda s, pat=pat: bool(pat.fullmatch(s)))]
            if len(hit):
                return hit.iloc[0]
    hit = rows[rows["setting"] == "defaults"]
    return hit.iloc[0] if len(hit) else rows.iloc[0]


def _apart(a: Any, b: Any) -> bool:
    """True when the two rows' 95% seed intervals do not overlap."""
    return bool(a["ci_low"] > b["ci_high"] or b["ci_low"] > a["ci_high"])


def _goal_verdict(r: Any, goal: float) -> str:
    """Met only when the whole 95% interval over seeds clears ``goal``; a mean on the other side
    of the goal from part of its interval is said so (no verdict from a point estimate alone)."""
    v, lo, hi = float(r["value"]), r.get("ci_low"), r.get("ci_high")
    if lo is None or pd.isna(lo):
        return "met (one seed, no interval)" if v >= goal else "not met (one seed, no interval)"
    if lo >= goal:
        return "met"
    if v >= goal:
        return "met on the mean, but its interval reaches below the goal"
    if hi >= goal:
        return "not met on the mean; its interval reaches the goal"
    return "not met"


def _search_section(out: Path) -> list[str]:
    """The table of the searches saved under ``out/search``."""
    files = sorted((out / "search").glob("*.json")) if (out / "search").is_dir() else []
    if not files:
        return []
    L = [
        "## Searches (validation only)",
        "",
        "Optuna TPE, seeded; history plots in `plots/search_*.png`, every trial in `search/*.csv`.",
        "",
        "| search | trials | best validation value | mode | best setting |",
        "|---|---:|---:|---|---|",
    ]
    for f in files:
        j = json.loads(f.read_text(encoding="utf-8"))
        params = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in j["best_params"].items()
        )
        L.append(
            f"| {f.stem} | {j['n_trials']} | {j['best_value']:.4f} | "
            f"{j['best_attrs'].get('mode', '')} | {params} |"
        )
    L.append("")
    return L
