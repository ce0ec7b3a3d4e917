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

__all__ = ["write_report", "end_to_end_table"]


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
    """Draw plots and write ``report.md`` in ``outdir`` from its CSV files; returns the path."""
    out = Path(outdir)
    res_path, qual_path = out / "results.csv", out / "quality.csv"
    if not res_path.exists() and not qual_path.exists():
        raise FileNotFoundError(f"{out}: no results.csv or quality.csv to report on")
    results = pd.read_csv(res_path) if res_path.exists() else pd.DataFrame()
    quality = pd.read_csv(qual_path) if qual_path.exists() else pd.DataFrame()
    config = _read_json(out / "config.resolved.json")
    env = _read_json(out / "environment.json")
    figs: list[tuple[str, str]] = []
    pdir = out / "plots"

    k = int(config.get("k", [10])[0]) if config else 10
    hr = f"hit_rate@{k}"
    if not quality.empty and hr in quality:
        figs.append(
            (
                f"{hr} by method",
                _save(plots.plot_quality_by_method(quality, hr), pdir / "quality_by_method.png"),
            )
        )
    if not results.empty:
        figs.append(
            (
                "knn-recall vs QPS",
                _save(
                    plots.plot_recall_vs_qps(
                        results,
                        title=f"{config.get('name', '')}: knn-recall@{k} vs single-query QPS",
                    ),
                    pdir / "recall_vs_qps.png",
                ),
            )
        )
        e2e = end_to_end_table(results, hr)
        if not e2e.empty:
            e2e_plot = e2e.merge(
                results[["method", "index", "params", "index_family"]],
                on=["method", "index", "params"],
            )
            figs.append(
                (
                    f"{hr} lost vs speed-up",
                    _save(
                        plots.plot_quality_lost_vs_speedup(e2e_plot, lost_col=f"{hr}_lost"),
                        pdir / "quality_lost_vs_speedup.png",
                    ),
                )
            )
        for p in ("param_n_tables", "param_n_probes"):
            lsh = results[results["index_family"].astype(str).str.contains("lsh", case=False)]
            if p in lsh and lsh[p].notna().sum() > 1 and lsh[p].nunique() > 1:
                figs.append(
                    (
                        f"LSH recall vs {p[6:]}",
                        _save(
                            plots.plot_param_sweep(lsh.dropna(subset=[p]), p, group_col="index"),
                            pdir / f"lsh_recall_vs_{p[6:]}.png",
                        ),
                    )
                )
    for extra in sorted(pdir.glob("*.png")) if pdir.exists() else []:
        if all(extra.name != Path(f).name for _, f in figs):
            figs.append((extra.stem.replace("_", " "), str(extra)))

    lines: list[str] = [f"# Experiment `{config.get('name', out.name)}`", ""]
    if command:
        lines += ["Produced by:", "", "```", command, "```", ""]
    if config.get("description"):
        lines += [str(config["description"]), ""]
    data = config.get("data", {})
    lines += [
        f"Data: `{json.dumps(data, sort_keys=True)}`; split: `{json.dumps(config.get('split', {}))}`; seeds {config.get('seeds')}.",
        "",
    ]
    if not quality.empty:
        lines += ["## Recommendation quality (exact search over each method's vectors)", ""]
        is_cls = quality["mode"] == "genre-classification"
        rec = quality[~is_cls].dropna(axis=1, how="all")
        qcols = [c for c in rec.columns if c not in ("experiment", "micro_f1", "macro_f1")]
        agg = rec[qcols].groupby(["method", "mode"], sort=False).mean(numeric_only=True)
        lines += [_md_table(agg.reset_index()), ""]
        if is_cls.any():
            cls = quality[is_cls].groupby("method", sort=False)[["micro_f1", "macro_f1"]].mean()
            lines += [
                "## Genre classification from the item vectors",
                "",
                "The node-classification protocol (one-vs-rest logistic regression, 50% of the "
                "labelled items for training, top-k genres per item) with each item's genres as "
                "labels: how much genre structure each method's vectors hold.",
                "",
                _md_table(cls.reset_index()),
                "",
            ]
    if not results.empty:
        lines += ["## Indexes: knn-recall against exact search, speed, build time, memory", ""]
        rcols = [
            "method",
            "index",
            "params",
            "knn_recall",
            "qps_single",
            "qps_batch",
            "speedup",
            "build_s",
            "memory_bytes",
            "mean_candidates",
        ]
        lines += [_md_table(results[[c for c in rcols if c in results]]), ""]
        e2e = end_to_end_table(results, hr)
        if not e2e.empty:
            lines += [
                f"## End to end: {hr} of recommendations through each index vs exact search",
                "",
            ]
            lines += [
                "`speedup` is the single-query QPS ratio over exact search on the same vectors; "
                f"`{hr}_lost` = exact minus index (positive = quality given up).",
                "",
            ]
            lines += [_md_table(e2e), ""]
    if figs:
        lines += ["## Plots", ""]
        for title, f in figs:
            lines += [f"### {title}", "", f"![{title}]({Path(f).relative_to(out).as_posix()})", ""]
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
    target = out / "report.md"
    with atomic_write(target, "w") as fh:
        fh.write("\n".join(lines))
    return target


def _save(fig: Any, path: Path) -> str:
    return str(plots.save_figure(fig, path))


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: malformed JSON ({exc})") from exc
