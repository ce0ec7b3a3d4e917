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

from embeddings.io import atomic_write
from recall import plots
from recall.summary import (
    best_methods,
    e2e_mode_of,
    fastest_reaching,
    md_table,
    method_quality,
    read_json,
    summary_lines,
    summary_text,
    validation_lines,
)

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
    config = read_json(out / "config.resolved.json")
    env = read_json(out / "environment.json")
    figs: list[tuple[str, str, str]] = []  # (title, path, what it shows)
    pdir = out / "plots"
    name = config.get("name", out.name)

    k = int(config.get("k", [10])[0]) if config else 10
    hr = f"hit_rate@{k}"
    e2e_mode = e2e_mode_of(config)
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
        lines += [md_table(agg.reset_index()), ""]
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
                md_table(cls.reset_index()),
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
            md_table(table),
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
                md_table(e2e),
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
