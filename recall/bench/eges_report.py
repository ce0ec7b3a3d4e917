"""Report of the EGES benchmark (``recall.bench.eges``): ``results.csv`` and ``results.md``
(tables with the spread over seeds, the published AUC, the protocol, versions and threads).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embeddings.stats import mean_ci, paired_bootstrap
from recall.bench.eges_setup import (
    PAPER_AUC,
)

logger = logging.getLogger(__name__)

PER_USER = "cold_start_cold_only_per_user"
SIDE_POP = "popularity (side info)"


_MAIN = re.compile(r"^(GES|EGES)( drop=[0-9.eE+-]+)?( norm)?$")


def _pairs(models: list[str]) -> list[tuple[str, str]]:
    """The comparisons of the cold-start goal: each EGES variant vs the GES of the same
    item_dropout (and vs plain GES), every GES / EGES variant vs side-info popularity; the
    same among the "... norm" rows (unit field vectors); the one-field rows "... [field]" get
    intervals but no pairs."""
    main = [m for m in models if _MAIN.match(m)]
    out: list[tuple[str, str]] = []
    for m in main:
        name, norm = (m[: -len(" norm")], " norm") if m.endswith(" norm") else (m, "")
        base, _, drop = name.partition(" drop=")
        plain_ges = "GES" + norm
        if base == "EGES":
            ges = (f"GES drop={drop}" if drop else "GES") + norm
            if ges in models:
                out.append((m, ges))
            if drop and plain_ges in models:
                out.append((m, plain_ges))
        if base == "GES" and drop and plain_ges in models:
            out.append((m, plain_ges))
    if SIDE_POP in models:
        out += [(m, SIDE_POP) for m in main]
    return out


def cold_start_statistics(
    df: pd.DataFrame, n_boot: int = 10_000, random_state: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Intervals of the cold-only HR@10 from the per-user rows of ``df``.

    Returns (per model: mean over seeds with its 95% Student-t interval over the seeds' means;
    per pair (a, b): paired bootstrap over the (seed, user) units of mean(a) - mean(b) and
    mean(a) / mean(b), 95% percentile intervals, verdict "win" / "loss" only when the
    difference's interval excludes zero). Empty frames without per-user rows."""
    pu = df[df.experiment == PER_USER]
    if pu.empty:
        return pd.DataFrame(), pd.DataFrame()
    by_seed = pu.groupby(["model", "seed"], sort=False)["value"].mean()
    models = list(dict.fromkeys(pu["model"]))
    ci_rows = []
    for m in models:
        v = by_seed.loc[m].to_numpy(float)
        mean, lo, hi = mean_ci(v)
        ci_rows.append({"model": m, "seeds": v.size, "mean": mean, "ci_low": lo, "ci_high": hi})
    wide = pu.pivot_table(index=["seed", "user_id"], columns="model", values="value")
    pair_rows = []
    for a, b in _pairs(models):
        both = wide[[a, b]].dropna()
        r = paired_bootstrap(
            both[a].to_numpy(), both[b].to_numpy(), n_boot=n_boot, random_state=random_state
        )
        pair_rows.append({"a": a, "b": b, **r.as_dict()})
    return pd.DataFrame(ci_rows), pd.DataFrame(pair_rows)


def _stats_md(ci: pd.DataFrame, pairs: pd.DataFrame) -> list[str]:
    md = [
        "### Cold start (hidden items only), HR@10 with intervals",
        "",
        "Mean over seeds with the 95% Student-t interval of the seeds' means:",
        "",
        "| model | seeds | HR@10 | 95% interval |",
        "|---|---|---|---|",
    ]
    for r in ci.itertuples():
        iv = "-" if np.isnan(r.ci_low) else f"[{r.ci_low:.4f}, {r.ci_high:.4f}]"
        md.append(f"| {r.model} | {r.seeds} | {r.mean:.4f} | {iv} |")
    md += [
        "",
        "Paired bootstrap over (seed, user) units (10,000 resamples; the same users and hidden "
        "items for both models of a pair). A difference is significant only when its 95% "
        "interval excludes zero; the goal '>= 2x side-info popularity' is met significantly "
        "only when the ratio's lower bound is >= 2.",
        "",
        "| a | b | HR@10 a | HR@10 b | a - b [95%] | a / b [95%] | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in pairs.itertuples():
        verdict = {"win": "a better (significant)", "loss": "a worse (significant)"}.get(
            r.verdict, r.verdict
        )
        md.append(
            f"| {r.a} | {r.b} | {r.mean_a:.4f} | {r.mean_b:.4f} | "
            f"{r.diff:+.4f} [{r.diff_low:+.4f}, {r.diff_high:+.4f}] | "
            f"{r.ratio:.2f} [{r.ratio_low:.2f}, {r.ratio_high:.2f}] | {verdict} |"
        )
    return md


def _table(df: pd.DataFrame, index: str | list[str], columns: str, fmt: str = "{:.4f}") -> str:
    piv = df.pivot_table(index=index, columns=columns, values="value", aggfunc="mean", sort=False)
    sd = df.pivot_table(index=index, columns=columns, values="value", aggfunc="std", sort=False)
    n_seeds = df["seed"].nunique() if "seed" in df else 1
    cols = list(piv.columns)
    idx = [index] if isinstance(index, str) else index
    head = "| " + " | ".join(idx + [str(c) for c in cols]) + " |"
    sep = "|" + "---|" * (len(idx) + len(cols))
    lines = [head, sep]
    for key, row in piv.iterrows():
        keys = key if isinstance(key, tuple) else (key,)
        keys = tuple(int(x) if isinstance(x, float) and x.is_integer() else x for x in keys)
        cells = []
        for c, v in zip(cols, row.tolist(), strict=True):
            cell = fmt.format(v) if pd.notna(v) else "-"
            if n_seeds > 1 and pd.notna(v) and key in sd.index and pd.notna(sd.loc[key, c]):
                cell += " ± " + fmt.format(sd.loc[key, c])
            cells.append(cell)
        lines.append("| " + " | ".join([str(x) for x in keys] + cells) + " |")
    return "\n".join(lines)


def write_report(
    df: pd.DataFrame, cfg: dict[str, Any], env: dict[str, Any], out: Path, run: Any = None
) -> None:
    from embeddings.io import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    per_user = df[df.experiment == PER_USER]
    ci, pairs = cold_start_statistics(df)
    df = df[df.experiment != PER_USER].dropna(axis=1, how="all")
    with atomic_write(out / "results.csv", "w") as fh:
        df.to_csv(fh, index=False)
    if len(per_user):
        with atomic_write(out / "cold_per_user.csv", "w") as fh:
            per_user.dropna(axis=1, how="all").to_csv(fh, index=False)
        with atomic_write(out / "cold_stats.csv", "w") as fh:
            pd.concat(
                [ci.assign(kind="seed_interval"), pairs.assign(kind="paired_bootstrap")]
            ).to_csv(fh, index=False)
    if run is not None:  # the harness's header: command, load before/after, clock policy
        md = run.header("EGES on MovieLens ml-latest-small")
    else:
        md = ["# EGES on MovieLens ml-latest-small", ""]
        md.append(f"Command: `python -m recall.bench.eges{' --quick' if cfg['quick'] else ''}`")
    md.append(
        f"Seeds {cfg['seeds']}; values are means (± standard deviation) over seeds. Protocol: see the docstring of "
        "`recall/bench/eges.py`."
    )
    md.append("")
    md.append(
        "Settings: "
        + ", ".join(
            f"{k}={cfg[k]}"
            for k in (
                "dim",
                "window",
                "negative",
                "epochs",
                "num_walks",
                "walk_length",
                "workers",
                "holdout",
                "n_cold",
                "min_cold_users",
                "split",
                "item_dropout",
            )
            if k in cfg
        )
        + "; side info: genres, tags, year5 (5-year buckets)."
    )
    lp = df[df.experiment == "link_prediction"]
    if len(lp):
        md += ["", "## Link prediction (held-out edges vs random non-edges, cosine)", ""]
        md.append(_table(lp[lp.metric != "train_seconds"], "model", "metric"))
        md += [
            "",
            "`auc`: cosine of the item vectors (what retrieval uses). `auc_logit`: the "
            "skip-gram model's own link score H_a.C_b + H_b.C_a (hidden vector against the "
            "other item's context vector). `auc_isolated_items`: cosine, only the pairs touching "
            "an item that lost all its edges to the hold-out (BGE has nothing but its random "
            "initial vector for those).",
            "",
            "Published (EGES paper, Table 2; different data): "
            + "; ".join(
                f"{d} BGE {v['BGE']} / GES {v['GES']} / EGES {v['EGES']}"
                for d, v in PAPER_AUC.items()
            )
            + ".",
        ]
    rec = df[df.experiment.isin(["warm_i2i", "cold_start_cold_only", "cold_start_all_items"])]
    rec = rec[rec.metric != "train_seconds"]
    if len(rec):
        md += ["", "## Recommendation (HR@10, NDCG@10)", ""]
        for exp, title in (
            ("warm_i2i", "Warm items, leave-last-out, I2I (query = last training item)"),
            (
                "cold_start_cold_only",
                "Cold start: hidden items ranked among the hidden items (query = mean of the "
                "user's training item vectors)",
            ),
            ("cold_start_all_items", "Cold start: hidden items ranked among all items"),
        ):
            sub = rec[rec.experiment == exp]
            if len(sub):
                md += [f"### {title}", "", _table(sub, "model", "metric"), ""]
                n = int(sub["n"].max())
                md.append(f"Users evaluated: {n}.")
                main = sub[~sub["model"].str.contains("[", regex=False)]  # not one-field rows
                if "skipped_cold_items" in main and main["skipped_cold_items"].notna().any():
                    md.append(
                        "Hidden items without any side-information value seen in training "
                        f"(cannot be embedded): {int(main['skipped_cold_items'].max())}."
                    )
                md.append("")
                if exp == "cold_start_cold_only" and len(ci):
                    md += _stats_md(ci, pairs) + [""]
    fw = df[df.experiment == "field_weights"]
    if len(fw):
        md += ["## Mean field weights (softmax, over items having the field)", ""]
        md += [_table(fw, "model", "metric", "{:.3f}"), ""]
    tp = df[df.experiment == "throughput"]
    if len(tp):
        md += ["## Throughput (one epoch on the same walks)", ""]
        md += [_table(tp, ["workers", "model"], "metric", "{:,.2f}"), ""]
        md.append(
            "Pairs = positive (centre, context) pairs; each comes with `negative` negatives in "
            f"both tools. Wall clock: the median of {cfg['tp_repeat']} rounds interleaved "
            "(EGES, BGE, gensim; EGES, BGE, gensim; ...) after an untimed warm-up; "
            "`train_s_min` / `train_s_max` give the spread, `train_cpu_s` the CPU time beside it."
        )
        md.append("")
    md += ["## Environment", ""]
    md.append(f"- python {env['python']}, {env['platform']}, CPU {env['cpu']} x{env['cpu_count']}")
    md.append(f"- numba threads: {env['numba_threads']}")
    for p in env["threadpools"]:
        md.append(
            f"- threadpool {p.get('user_api')}/{p.get('internal_api')}: "
            f"{p.get('num_threads')} threads"
        )
    md.append(
        "- libraries: "
        + ", ".join(f"{k} {v}" for k, v in env["libraries"].items() if v != "absent")
    )
    md.append(f"- total wall time: {cfg['wall_seconds']:.0f} s")
    with atomic_write(out / "results.md", "w") as fh:
        fh.write("\n".join(md) + "\n")
