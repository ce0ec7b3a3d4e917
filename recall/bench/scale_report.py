"""Report of the scale benchmark (``recall.bench.scale``): one cost-growth table per task with the
fitted growth exponent, log-log plots, the versions and the full-size commands."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _slope(x: Any, y: Any) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def _table(df: pd.DataFrame, cols: list[str]) -> str:
    cols = [c for c in cols if c in df.columns]
    sub = df[cols].copy()
    for c in cols:
        if sub[c].dtype.kind == "f":
            sub[c] = sub[c].map(lambda v: "" if pd.isna(v) else f"{v:.3g}")
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    return head + "".join("| " + " | ".join(map(str, r)) + " |\n" for r in sub.values.tolist())


def _growth(df: pd.DataFrame, cost_cols: list[str], by: str | None = None) -> str:
    parts = []
    groups = [(None, df)] if by is None else list(df.groupby(by, sort=False))
    for key, g in groups:
        slopes = ", ".join(f"{c} ~ size^{_slope(g['size'], g[c]):.2f}" for c in cost_cols if c in g)
        parts.append(f"- {'' if key is None else f'{key}: '}{slopes}")
    return "\n".join(parts)


def _plot(df: pd.DataFrame, out: Path, name: str, cost_cols: list[str], by: str | None) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0 * len(cost_cols), 3.6), constrained_layout=True)
    axes = fig.subplots(1, len(cost_cols), squeeze=False)[0]
    groups = [(name, df)] if by is None else list(df.groupby(by, sort=False))
    for ax, col in zip(axes, cost_cols, strict=True):
        for key, g in groups:
            ax.plot(g["size"], g[col], marker="o", label=str(key))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("size")
        ax.set_ylabel(col)
        ax.legend(fontsize=7)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "plots" / f"{name}.png", dpi=90)


def library_versions() -> dict[str, str]:
    import gensim
    import numba

    out = {"python": platform.python_version(), "numpy": np.__version__,
           "numba": numba.__version__, "gensim": gensim.__version__, "pandas": pd.__version__}  # fmt: skip
    try:
        import pyspark

        out["pyspark"] = pyspark.__version__
    except ImportError:
        pass
    return out


SECTIONS = {
    "deepwalk": ("DeepWalk end to end (read -> walks -> vectors), streamed walks",
                 ["size", "edges", "arcs", "corpus_file", "read_s", "walks_vectors_s", "total_s", "peak_mb",
                  "peak_after_read_mb", "load_before"], ["total_s", "peak_mb"], None),
    "memory": ("Walks + skip-gram: walk matrix held vs streamed (dim as shown, window 1, 1 "
               "negative: the model's memory does not depend on window or negatives)",
               ["variant", "size", "edges", "dim", "read_s", "walks_vectors_s", "peak_mb",
                "peak_after_read_mb", "load_before"], [], None),
    "walkspeed": ("Walk engine throughput, baseline checkout vs this one (interleaved)",
                  ["variant", "repeat", "size", "walk_s_p1.0_q1.0", "walk_s_p0.5_q2.0",
                   "load_before"], [], None),
    "item2vec": ("Item2vec (sequence mode) on growing synthetic interactions",
                 ["size", "users", "corpus_tokens", "generate_s", "train_s", "peak_mb",
                  "load_before"], ["train_s", "peak_mb"], None),
    "search": ("Exact search and SimHash LSH on n x 32 (1,000 queries, k = 10)",
               ["variant", "size", "build_s", "search_s", "peak_mb", "knn_recall@10",
                "load_before"], ["build_s", "search_s", "peak_mb"], "variant"),
    "sparkwalks": ("Spark random walks on local[2] (adjacency DataFrame, joins; undirected "
                   "Chung-Lu graph, 10 edges per node)",
                   ["variant", "size", "edges", "walks", "nodes_walked", "seconds", "peak_tree_mb",
                    "load_before"], ["seconds"], "variant"),
    "spark": ("Spark batch recall on local[2] (all users, k = 10)",
              ["variant", "size", "users", "seconds", "knn_recall", "peak_tree_mb",
               "load_before"], ["seconds"], "variant"),
}  # fmt: skip


def write_report(rows: list[dict], out: Path, meta: dict, run: Any = None) -> None:
    """``results.csv``, ``report.md`` (and ``run.json`` with the harness record ``run``)."""
    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)
    df.to_csv(out / "results.csv", index=False)
    lines = [
        "# Scale: cost growth with problem size",
        "",
        f"Produced by `{meta['command']}` on {meta['date']} ({meta['cpus']} CPUs, "
        f"{meta['threads']} thread(s) per run). Versions: "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
        + ".",
        "",
    ]
    if run is not None:
        lines += [f"Machine: {run.load_text()}.", "", *[f"> {n}" for n in run.notes], ""]
    if meta["quick"]:
        lines += [
            "**Small run (`--quick`) on a shared, loaded machine: the sizes are far below the "
            "goal and the timings are noisy. Read the shapes of the growth, not the figures; "
            "the full-size commands are below.**",
            "",
        ]
    for task, (title, cols, cost_cols, by) in SECTIONS.items():
        sub = df[df["task"] == task] if "task" in df else df.iloc[0:0]
        if sub.empty:
            continue
        lines += [f"## {title}", "", _table(sub, cols)]
        if cost_cols and sub["size"].nunique() >= 2:
            lines += ["Growth (log-log slope):", "", _growth(sub, cost_cols, by), ""]
            _plot(sub, out, task, cost_cols, by)
            lines += [f"![{task}](plots/{task}.png)", ""]
        if task == "walkspeed":
            med = sub.groupby("variant")[["walk_s_p1.0_q1.0", "walk_s_p0.5_q2.0"]].median()
            if {"baseline", "this"} <= set(med.index):
                ratio = med.loc["baseline"] / med.loc["this"]
                lines += [
                    "Median speed ratio baseline time / this time: "
                    + ", ".join(f"{k}: {v:.3f}" for k, v in ratio.items()),
                    "",
                ]
    lines += ["## Full-size commands (for a quiet machine)", "", meta["full_help"], ""]
    if run is not None:
        lines += run.markdown()
        (out / "run.json").write_text(run.to_json(), encoding="utf-8")
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
