"""``report.md`` and plots of an experiment folder, from its CSV tables.

``write_report(outdir)`` reads ``results.csv`` (method x index x params x seed) and
``quality.csv`` (method x mode x seed), draws the plots into ``plots/`` and writes ``report.md``.
It can be re-run on its own (``embrecall report reports/<name>``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embeddings._io import atomic_write
from recall import plots

logger = logging.getLogger(__name__)

__all__ = [
    "write_report",
    "end_to_end_table",
    "best_methods",
    "fastest_reaching",
    "summary_lines",
    "summary_text",
    "method_quality",
    "validation_lines",
]


def _md_table(df: pd.DataFrame, floatfmt: str = "{:.4g}") -> str:
    if df.empty:
        return "_(no rows)_\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(str(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if isinstance(v, float | np.floating):
                cells.append("" if np.isnan(v) else floatfmt.format(v))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def end_to_end_table(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per method x index x params: ``metric`` through the index vs exact, and the speed-up."""
    e2e_col = f"e2e_{metric}"
    if e2e_col not in results:
        return pd.DataFrame()
    keys = ["method", "metric"]
    exact = results[results["index_family"] == "exact"].groupby(keys)[e2e_col].mean()
    out = results.copy()
    out[f"exact_{metric}"] = [
        exact.get((m, me), np.nan) for m, me in zip(out["method"], out["metric"])
    ]
    out[f"{metric}_lost"] = out[f"exact_{metric}"] - out[e2e_col]
    cols = [
        "method",
        "index",
        "params",
        "knn_recall",
        "speedup",
        f"exact_{metric}",
        e2e_col,
        f"{metric}_lost",
    ]
    return out[[c for c in cols if c in out]]


def write_report(outdir: str | Path, command: str | None = None) -> Path:
    """Draw plots and write ``report.md`` in ``outdir`` from its CSV files; returns the path.

    The report opens with a summary (``summary_lines``) answering which method is best and, per
    method, which index is fastest at knn-recall >= 0.9 and what it costs; the full tables follow
    (folded), then the plots.
    """
    out = Path(outdir)
    res_path, qual_path = out / "results.csv", out / "quality.csv"
    if not res_path.exists() and not qual_path.exists():
        raise FileNotFoundError(f"{out}: no results.csv or quality.csv to report on")
    results = pd.read_csv(res_path) if res_path.exists() else pd.DataFrame()
    quality = pd.read_csv(qual_path) if qual_path.exists() else pd.DataFrame()
    tun_path = out / "tuning.csv"
    tuning = pd.read_csv(tun_path) if tun_path.exists() else pd.DataFrame()
    config = _read_json(out / "config.resolved.json")
    env = _read_json(out / "environment.json")
    figs: list[tuple[str, str, str]] = []  # (title, path, what it shows)
    pdir = out / "plots"
    name = config.get("name", out.name)

    k = int(config.get("k", [10])[0]) if config else 10
    hr = f"hit_rate@{k}"
    e2e_mode = _e2e_mode(config)
    if not quality.empty and hr in quality:
        figs.append(
            (
                f"{hr} by method",
                _save(plots.plot_quality_by_method(quality, hr), pdir / "quality_by_method.png"),
                "Recommendation quality of each method with exact search, one bar per query mode, "
                "with 95% intervals; the dashed line is the popularity baseline.",
            )
        )
    if not results.empty:
        figs.append(
            (
                "knn-recall vs QPS",
                _save(
                    plots.plot_recall_vs_qps(
                        results, title=f"{name}: knn-recall@{k} vs single-query QPS, per method"
                    ),
                    pdir / "recall_vs_qps.png",
                ),
                "One panel per embedding method: each index family's frontier (lines) over its "
                "settings (dots). Up and to the right is better.",
            )
        )
        e2e_col = f"e2e_{hr}"
        if e2e_col in results and results[e2e_col].notna().any():
            figs.append(
                (
                    f"{hr} through each index vs QPS",
                    _save(
                        plots.plot_hit_rate_vs_qps(
                            results,
                            hr_col=e2e_col,
                            title=f"{name}: {hr} ({e2e_mode}) through each index vs QPS",
                        ),
                        pdir / "hit_rate_vs_qps.png",
                    ),
                    f"One panel per method: {hr} of the recommendations served through each "
                    "index setting against its speed; the dashed line is exact search. A point "
                    "below the line gives up quality.",
                )
            )
        e2e = end_to_end_table(results, hr)
        if not e2e.empty:
            e2e_plot = e2e.merge(
                results[["method", "index", "params", "index_family"]].drop_duplicates(),
                on=["method", "index", "params"],
            )
            figs.append(
                (
                    f"{hr} lost vs speed-up",
                    _save(
                        plots.plot_quality_lost_vs_speedup(e2e_plot, lost_col=f"{hr}_lost"),
                        pdir / "quality_lost_vs_speedup.png",
                    ),
                    f"The same as a difference: {hr} given up (exact minus index) against the "
                    "speed-up over exact search, per method.",
                )
            )
        if "mean_candidates" in results and results["mean_candidates"].notna().any():
            figs.append(
                (
                    "candidates vs knn-recall",
                    _save(
                        plots.plot_candidates_vs_recall(
                            results, title=f"{name}: candidates scored per query vs knn-recall"
                        ),
                        pdir / "candidates_vs_recall.png",
                    ),
                    "For the indexes that report it (LSH): how many items each query re-ranks "
                    "exactly to reach its knn-recall; the dotted line is all items.",
                )
            )
        lsh = results[results["index_family"].astype(str).str.contains("lsh", case=False)]
        for p in ("param_n_tables", "param_n_probes"):
            if p in lsh and lsh[p].notna().sum() > 1 and lsh[p].nunique() > 1:
                figs.append(
                    (
                        f"LSH knn-recall vs {p[6:]}",
                        _save(
                            plots.plot_param_sweep(
                                lsh.dropna(subset=[p]),
                                p,
                                group_col="index",
                                title=f"LSH knn-recall@{k} vs {p[6:]} (mean over methods)",
                            ),
                            pdir / f"lsh_recall_vs_{p[6:]}.png",
                        ),
                        f"knn-recall of each LSH index against {p[6:]}, averaged over methods "
                        "and the other settings.",
                    )
                )
    for extra in sorted(pdir.glob("*.png")) if pdir.exists() else []:
        if all(extra.name != Path(f).name for _, f, _ in figs):
            figs.append((extra.stem.replace("_", " "), str(extra), _caption(extra.stem)))

    if command is None:  # a redraw keeps the command that produced the results
        command = _previous_command(out / "report.md")
    lines: list[str] = [f"# Experiment `{name}`", ""]
    if command:
        lines += ["Produced by:", "", "```", command, "```", ""]
    if config.get("description"):
        lines += [str(config["description"]), ""]
    data = config.get("data", {})
    lines += [
        f"Data: `{json.dumps(data, sort_keys=True)}`; split: `{json.dumps(config.get('split', {}))}`; seeds {config.get('seeds')}.",
        "",
    ]
    lines += summary_lines(results, quality, k, e2e_mode)
    lines += validation_lines(tuning)
    if not quality.empty:
        lines += ["## Recommendation quality (exact search over each method's vectors)", ""]
        is_cls = quality["mode"] == "genre-classification"
        rec = quality[~is_cls].dropna(axis=1, how="all")
        qcols = [c for c in rec.columns if c not in ("experiment", "micro_f1", "macro_f1", "leaks")]
        agg = rec[qcols].groupby(["method", "mode"], sort=False).mean(numeric_only=True)
        lines += [_md_table(agg.reset_index()), ""]
        if is_cls.any():
            cls = quality[is_cls].groupby("method", sort=False)[["micro_f1", "macro_f1"]].mean()
            if "leaks" in quality.columns:
                leak = quality[is_cls].groupby("method", sort=False)["leaks"].max()
                cls["label leak"] = [
                    "trained with genres: leaks the label" if v is True or v == 1 else ""
                    for v in leak.reindex(cls.index)
                ]
            lines += [
                "## Genre classification from the item vectors",
                "",
                "The node-classification protocol (one-vs-rest logistic regression, 50% of the "
                "labelled items for training, top-k genres per item) with each item's genres as "
                "labels: how much genre structure each method's vectors hold. A method trained "
                "with the genres field (GES / EGES) reads its input back: its row is marked and "
                "measures no learning.",
                "",
                _md_table(cls.reset_index()),
                "",
            ]
    if not results.empty:
        rcols = [
            "method",
            "index",
            "params",
            "knn_recall",
            "qps_single",
            "qps_single_min",
            "qps_single_max",
            "qps_single_cpu",
            "qps_batch",
            "speedup",
            "build_s",
            "compile_s",
            "memory_bytes",
            "mean_candidates",
            "load_1min",
        ]
        table = results[[c for c in rcols if c in results]]
        lines += [
            "## Indexes: knn-recall against exact search, speed, build time, memory",
            "",
            f"{len(table)} rows (method x index x setting), folded:",
            "",
            "<details><summary>all index settings</summary>",
            "",
            _md_table(table),
            "</details>",
            "",
        ]
        e2e = end_to_end_table(results, hr)
        if not e2e.empty:
            lines += [
                f"## End to end: {hr} of recommendations through each index vs exact search",
                "",
                "`speedup` is the single-query QPS ratio over exact search on the same vectors; "
                f"`{hr}_lost` = exact minus index (positive = quality given up). Folded:",
                "",
                "<details><summary>all index settings</summary>",
                "",
                _md_table(e2e),
                "</details>",
                "",
            ]
    if figs:
        lines += ["## Plots", ""]
        for title, f, what in figs:
            lines += [f"### {title}", ""]
            if what:
                lines += [what, ""]
            lines += [f"![{title}]({Path(f).relative_to(out).as_posix()})", ""]
    if env:
        libs = env.get("libraries", {})
        lines += [
            "## Environment",
            "",
            f"CPU: {env.get('cpu')} x {env.get('cpu_count')}; Python {env.get('python')}; "
            f"numba threads {env.get('numba_threads')}; BLAS pools {[(p.get('internal_api'), p.get('num_threads')) for p in env.get('threadpools', [])]}.",
            "",
            "Libraries: " + ", ".join(f"{k} {v}" for k, v in libs.items() if v != "absent"),
            "",
        ]
        lines += _load_lines(env)
    target = out / "report.md"
    with atomic_write(target, "w") as fh:
        fh.write("\n".join(lines))
    return target


def _e2e_mode(config: dict[str, Any]) -> str | None:
    """The run's ``e2e_mode`` (``best`` by default with ``[tuning]``, as the runner does)."""
    if not config:
        return None
    default = "best" if "tuning" in config else "u2i"
    return str(config.get("evaluation", {}).get("e2e_mode", default))


def validation_lines(tuning: pd.DataFrame) -> list[str]:
    """The section on what validation chose: per method and seed, the setting (tuned within the
    ``[tuning]`` budget, or the config's), the query mode and the validation figures."""
    if tuning.empty:
        return []
    metric = str(tuning["metric"].iloc[0]) if "metric" in tuning else "validation figure"
    cols = ["method", "seed", "setting", "search", "n_trials", "validated_mode"]
    cols += [c for c in tuning.columns if c.startswith("valid_") and c != "validated_mode"]
    cols += ["seconds", "params"]
    table = tuning[[c for c in cols if c in tuning]].copy()
    if "params" in table:
        table["params"] = table["params"].map(_short_params)
    return [
        "## Validation: each method's setting and query mode",
        "",
        f"Chosen on the validation split only (train -> valid, {metric}); the chosen setting "
        "was then refit on train + valid and read on test once. `tuned` = searched by "
        "`embeddings.tuning.tune` within the `[tuning]` budget, starting from the config's "
        "setting; `config` = the config's setting as written.",
        "",
        _md_table(table),
        "",
    ]


def method_quality(quality: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per method: ``metric`` on test in the mode chosen on validation (``validated_mode``
    rows of ``quality.csv``), with a 95% interval (``plots.mean_interval``: Student-t over
    seeds, or Wilson over the test users with one seed); popularity last. Empty when the run
    chose no mode on validation."""
    if quality.empty or metric not in quality or "validated_mode" not in quality:
        return pd.DataFrame()
    chosen = quality["validated_mode"].astype(str).str.lower().isin(("true", "1", "1.0"))
    q = quality[chosen | (quality["mode"] == "popularity")].dropna(subset=[metric])
    rows = []
    for (method, mode), g in q.groupby(["method", "mode"], sort=False):
        n = float(g["n_users"].mean()) if "n_users" in g else None
        mean, lo, hi = plots.mean_interval(g[metric], n)
        setting = str(g["setting"].iloc[0]) if "setting" in g and g["setting"].notna().any() else ""
        rows.append(
            {
                "method": method,
                "setting": setting if mode != "popularity" else "",
                "mode": mode,
                "mean": mean,
                "low": lo,
                "high": hi,
                "seeds": int(g["seed"].nunique()) if "seed" in g else len(g),
            }
        )
    out = pd.DataFrame(rows)
    is_pop = out["mode"] == "popularity"
    return pd.concat(
        [out[~is_pop].sort_values("mean", ascending=False), out[is_pop]], ignore_index=True
    )


def _load_lines(env: dict[str, Any]) -> list[str]:
    """The machine's load during the run (1-minute load average before / after), flagged above
    the limit (0.75 x cores): speeds of a loaded run measure the other work too."""
    before, after = env.get("load_before"), env.get("load_after")
    if not before or not after:
        return []
    limit = float(env.get("max_load") or 0.75 * float(env.get("cpu_count") or 1))
    text = (
        f"Load average (1/5/15 min): {before[0]:.2f}/{before[1]:.2f}/{before[2]:.2f} before, "
        f"{after[0]:.2f}/{after[1]:.2f}/{after[2]:.2f} after ({env.get('cpu_count')} cores); "
        "timings are wall clock (`time.perf_counter`), median of 3 passes after a warm-up pass, "
        "min-max and CPU time in `results.csv` (`qps_single_min`, `_max`, `_cpu`), the load of "
        "each row in `load_1min`; settings are timed one after another, not interleaved."
    )
    lines = [text, ""]
    if max(float(before[0]), float(after[0])) > limit:
        lines += [
            f"> **Loaded machine**: 1-minute load above {limit:.2f} during the run: compare rows "
            "of this run with each other only.",
            "",
        ]
    return lines


def _previous_command(path: Path) -> str | None:
    """The command in the "Produced by" block of an existing ``report.md`` (None if absent)."""
    if not path.exists():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "Produced by:" and i + 3 < len(lines) and lines[i + 2] == "```":
            end = lines.index("```", i + 3) if "```" in lines[i + 3 :] else None
            return "\n".join(lines[i + 3 : end]) if end else None
    return None


def _caption(stem: str) -> str:
    """What a plot drawn during the run (not by ``write_report``) shows, from its file name."""
    if stem.startswith("map_"):
        return (
            f"2-D PCA map of the {stem[4:]} item vectors, coloured by primary genre: "
            "same-colour clusters mean the vectors separate genres."
        )
    if stem.startswith("buckets_"):
        return (
            f"Bucket sizes of hash table 0 of the {stem[8:]} index (first build, on the vectors "
            "named in the caption): a long right tail means a few huge buckets that cost "
            "candidates."
        )
    if stem.startswith("field_weights_"):
        return (
            "Learned EGES weight of each side-information field per item; the dashed line is "
            "equal weights."
        )
    return ""


def _save(fig: Any, path: Path) -> str:
    return str(plots.save_figure(fig, path))


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: malformed JSON ({exc})") from exc


def best_methods(quality: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per query mode: each method's mean ``metric`` with a 95% interval, best first.

    Columns mode, method, mean, low, high, seeds, separable (the interval lies wholly above the
    runner-up's: only meaningful on the first row of each mode). Intervals come from
    ``plots.mean_interval``: over seeds when there are several, else Wilson over the test users.
    """
    if quality.empty or metric not in quality:
        return pd.DataFrame()
    q = quality.dropna(subset=[metric])
    rows = []
    for (mode, method), g in q.groupby(["mode", "method"], sort=False):
        n = float(g["n_users"].mean()) if "n_users" in g else None
        mean, lo, hi = plots.mean_interval(g[metric], n)
        seeds = int(g["seed"].nunique()) if "seed" in g else len(g)
        rows.append(
            {"mode": mode, "method": method, "mean": mean, "low": lo, "high": hi, "seeds": seeds}
        )
    out = pd.DataFrame(rows)
    out = out.sort_values(["mode", "mean"], ascending=[True, False]).reset_index(drop=True)
    out["separable"] = False
    for _, g in out.groupby("mode", sort=False):
        if len(g) >= 2:
            first, second = g.index[0], g.index[1]
            out.loc[first, "separable"] = bool(out.loc[first, "low"] > out.loc[second, "high"])
    return out


def fastest_reaching(
    results: pd.DataFrame, metric: str, target: float = 0.9, qps_col: str = "qps_single"
) -> pd.DataFrame:
    """Per method: the fastest index setting (highest ``qps_col``, exact search excluded) whose
    knn-recall reaches ``target``, with its speed-up and ``metric`` through it vs exact search.

    A method where no setting reaches the target gets its highest-recall setting and
    ``reached=False``. Means over seeds per (method, index, params).
    """
    if results.empty:
        return pd.DataFrame()
    e2e_col = f"e2e_{metric}"
    keys = ["method", "index", "index_family", "params"]
    num = [c for c in ["knn_recall", qps_col, "speedup", e2e_col] if c in results]
    agg = results.groupby(keys, sort=False)[num].mean().reset_index()
    modes = (
        results.groupby("method", sort=False)["e2e_mode"]
        .agg(lambda m: "/".join(sorted(set(map(str, m)))))
        .to_dict()
        if "e2e_mode" in results
        else None
    )
    rows = []
    for method, g in agg.groupby("method", sort=False):
        exact = g[g["index_family"] == "exact"]
        cand = g[g["index_family"] != "exact"]
        if cand.empty:
            continue
        ok = cand[cand["knn_recall"] >= target]
        pick = ok.loc[ok[qps_col].idxmax()] if len(ok) else cand.loc[cand["knn_recall"].idxmax()]
        row = {
            "method": method,
            "index": pick["index"],
            "params": _short_params(pick["params"]),
            "reached": bool(len(ok)),
            "knn_recall": pick["knn_recall"],
            qps_col: pick[qps_col],
            "exact_qps": float(exact[qps_col].mean()) if len(exact) else np.nan,
            "speedup": pick.get("speedup", np.nan),
        }
        if modes is not None:
            row["e2e_mode"] = modes.get(method, "")
        if e2e_col in g:
            row[f"exact_{metric}"] = float(exact[e2e_col].mean()) if len(exact) else np.nan
            row[f"index_{metric}"] = pick[e2e_col]
            row[f"{metric}_lost"] = row[f"exact_{metric}"] - row[f"index_{metric}"]
        rows.append(row)
    return pd.DataFrame(rows)


def _short_params(params: Any) -> str:
    """The JSON params of a results row without metric and random_state, as k=v pairs."""
    try:
        d = json.loads(params) if isinstance(params, str) else dict(params)
    except (json.JSONDecodeError, TypeError, ValueError):
        return str(params)
    return ", ".join(f"{k}={v}" for k, v in d.items() if k not in ("metric", "random_state"))


def summary_lines(
    results: pd.DataFrame, quality: pd.DataFrame, k: int, e2e_mode: str | None, target: float = 0.9
) -> list[str]:
    """The opening section of ``report.md``: which method is best (with a 95% interval), and per
    method the fastest index reaching knn-recall >= ``target`` and what it costs in hit rate."""
    hr = f"hit_rate@{k}"
    lines = ["## Summary", ""]
    best = best_methods(quality, hr)
    if not best.empty:
        n_seeds = int(best["seeds"].max())
        how = (
            f"mean over {n_seeds} seeds, 95% t-interval"
            if n_seeds >= 2
            else "one seed, 95% Wilson interval over the test users"
        )
        lines += [f"**Best method** by {hr} with exact search ({how}):", ""]
        for mode, g in best.groupby("mode", sort=False):
            if mode == "popularity":
                continue
            g = g.reset_index(drop=True)
            top = g.iloc[0]
            text = f"- `{mode}`: **{top['method']}** {_ci(top)}"
            if len(g) >= 2:
                sec = g.iloc[1]
                verdict = (
                    "ahead of" if top["separable"] else "not separable (overlapping intervals) from"
                )
                text += f", {verdict} {sec['method']} {_ci(sec)}"
            pop = best[best["mode"] == "popularity"]
            if len(pop):
                p = pop.iloc[0]
                text += f"; popularity {_ci(p)}"
                if p["mean"] > top["mean"]:
                    text += " — **popularity is higher than every method in this mode**"
                elif not (np.isfinite(top["low"]) and top["low"] > p["high"]):
                    text += " (the best is not separable from popularity)"
            lines.append(text)
        lines.append("")
    per_method = method_quality(quality, hr)
    if not per_method.empty:
        lines += [
            "**Quality per method** on test with exact search, in the query mode chosen on "
            "validation (95% interval), before what any index loses:",
            "",
            _md_table(
                pd.DataFrame(
                    {
                        "method": per_method["method"],
                        "setting": per_method["setting"],
                        "mode": per_method["mode"],
                        hr: [_ci(r) for _, r in per_method.iterrows()],
                        "seeds": per_method["seeds"],
                    }
                )
            ),
            "",
        ]
    fast = fastest_reaching(results, hr, target)
    if not fast.empty:
        if e2e_mode == "best":
            via = " (each method's query mode chosen on validation, column `mode`)"
        else:
            via = f" ({e2e_mode} queries)" if e2e_mode else ""
        lines += [
            f"**Fastest index reaching knn-recall@{k} >= {target}**, per method: its "
            f"single-query speed-up over exact search, and {hr}{via} through it vs exact search "
            "(cost = exact minus index; positive = quality given up):",
            "",
        ]
        table = pd.DataFrame(
            {
                "method": fast["method"],
                "fastest index": [
                    f"{i} ({p})" + ("" if r else f" — none reaches {target}")
                    for i, p, r in zip(fast["index"], fast["params"], fast["reached"], strict=True)
                ],
                "mode": fast["e2e_mode"] if "e2e_mode" in fast else e2e_mode or "",
                "knn-recall": fast["knn_recall"].map(lambda v: f"{v:.3f}"),
                "QPS": fast["qps_single"].map(lambda v: f"{v:,.0f}"),
                "speed-up": fast["speedup"].map(lambda v: f"{v:.2f}x"),
            }
        )
        if f"{hr}_lost" in fast:
            table[f"{hr} exact"] = fast[f"exact_{hr}"].map(lambda v: f"{v:.4f}")
            table[f"{hr} index"] = fast[f"index_{hr}"].map(lambda v: f"{v:.4f}")
            table["cost"] = fast[f"{hr}_lost"].map(lambda v: f"{v:+.4f}")
        lines += [_md_table(table), ""]
        best_speed = float(fast["speedup"].max())
        worst_cost = float(fast[f"{hr}_lost"].max()) if f"{hr}_lost" in fast else np.nan
        notes = []
        if best_speed < 2:
            notes.append(
                f"no index is even 2x faster than exact search here (best {best_speed:.2f}x): "
                "on this many items exact search is the sensible choice"
            )
        if np.isfinite(worst_cost):
            notes.append(
                f"the largest {hr} given up by these picks is {worst_cost:+.4f}"
                + (
                    " — within the sampling noise of the test users"
                    if not best.empty and worst_cost < _half_width(best)
                    else ""
                )
            )
        if notes:
            lines += ["Reading: " + "; ".join(notes) + ".", ""]
        lines += [
            "Speeds were measured on a shared machine: compare rows of one run, not absolute "
            "numbers across runs.",
            "",
        ]
    return lines


def _ci(row: pd.Series) -> str:
    if np.isfinite(row["low"]):
        return f"{row['mean']:.3f} [{row['low']:.3f}, {row['high']:.3f}]"
    return f"{row['mean']:.3f}"


def _half_width(best: pd.DataFrame) -> float:
    hw = ((best["high"] - best["low"]) / 2).dropna()
    return float(hw.median()) if len(hw) else 0.0


def summary_text(outdir: str | Path) -> str:
    """The summary section of an experiment folder's results, as plain text (for the end of
    ``embrecall run``)."""
    out = Path(outdir)
    results = pd.read_csv(out / "results.csv") if (out / "results.csv").exists() else pd.DataFrame()
    quality = pd.read_csv(out / "quality.csv") if (out / "quality.csv").exists() else pd.DataFrame()
    config = _read_json(out / "config.resolved.json")
    k = int(config.get("k", [10])[0]) if config else 10
    return "\n".join(summary_lines(results, quality, k, _e2e_mode(config)))
