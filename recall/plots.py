"""Plots for the reports. Each takes a DataFrame (or arrays) and returns a matplotlib Figure.

None of them calls ``plt.show()``; ``save_figure`` writes a PNG and closes the figure.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # headless: reports are written to files

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

__all__ = [
    "pareto_frontier",
    "plot_recall_vs_qps",
    "plot_quality_by_method",
    "plot_quality_lost_vs_speedup",
    "plot_param_sweep",
    "plot_bucket_sizes",
    "plot_embedding_map",
    "plot_field_weights",
    "save_figure",
]


def _require(df: pd.DataFrame, cols: list[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}")


def pareto_frontier(df: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Rows not dominated in (higher ``x``, higher ``y``), sorted by ``x``."""
    d = df.dropna(subset=[x, y]).sort_values([x, y], ascending=[False, False])
    keep, best_y = [], -np.inf
    for idx, row in d.iterrows():
        if row[y] > best_y:
            keep.append(idx)
            best_y = row[y]
    return d.loc[keep].sort_values(x)


def plot_recall_vs_qps(
    df: pd.DataFrame,
    recall_col: str = "knn_recall",
    qps_col: str = "qps_single",
    family_col: str = "index_family",
    title: str = "",
) -> Figure:
    """ann-benchmarks style: knn-recall (x) vs log QPS (y), Pareto frontier per index family."""
    _require(df, [recall_col, qps_col, family_col], "plot_recall_vs_qps")
    fig, ax = plt.subplots(figsize=(7, 5))
    for fam, g in df.groupby(family_col, sort=True):
        ax.scatter(g[recall_col], g[qps_col], s=10, alpha=0.35)
        front = pareto_frontier(g, recall_col, qps_col)
        ax.plot(front[recall_col], front[qps_col], marker="o", label=str(fam))
    ax.set_yscale("log")
    ax.set_xlabel(f"{recall_col} (agreement with exact search)")
    ax.set_ylabel(f"{qps_col} (queries/second, log)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "recall vs speed")
    fig.tight_layout()
    return fig


def plot_quality_by_method(
    df: pd.DataFrame,
    metric: str = "hr@10",
    method_col: str = "method",
    mode_col: str | None = "mode",
    baseline: str = "popularity",
    title: str = "",
) -> Figure:
    """Bars of a recommendation metric per method (one group per query mode), baseline dashed."""
    _require(df, [metric, method_col], "plot_quality_by_method")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    others = df[df[method_col] != baseline]
    modes = sorted(others[mode_col].unique()) if mode_col and mode_col in df else [None]
    methods = list(pd.unique(others[method_col]))
    width = 0.8 / max(1, len(modes))
    x = np.arange(len(methods))
    for j, mode in enumerate(modes):
        sub = others if mode is None else others[others[mode_col] == mode]
        vals = [sub.loc[sub[method_col] == m, metric].mean() for m in methods]
        ax.bar(x + j * width, vals, width, label=str(mode) if mode is not None else metric)
    base = df.loc[df[method_col] == baseline, metric]
    if len(base):
        ax.axhline(float(base.mean()), ls="--", lw=1, color="k", label=baseline)
    ax.set_xticks(x + width * (len(modes) - 1) / 2)
    ax.set_xticklabels(methods, rotation=30, ha="right")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    ax.set_title(title or f"{metric} by embedding method")
    fig.tight_layout()
    return fig


def plot_quality_lost_vs_speedup(
    df: pd.DataFrame,
    lost_col: str = "hr_lost",
    speedup_col: str = "speedup",
    family_col: str = "index_family",
    title: str = "",
) -> Figure:
    """Recommendation quality given up (y) against speed-up over exact search (x, log)."""
    _require(df, [lost_col, speedup_col, family_col], "plot_quality_lost_vs_speedup")
    fig, ax = plt.subplots(figsize=(7, 5))
    for fam, g in df.groupby(family_col, sort=True):
        ax.scatter(g[speedup_col], g[lost_col], label=str(fam), s=18)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("speed-up over exact search (single-query QPS ratio, log)")
    ax.set_ylabel(f"{lost_col} (exact minus index)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "recommendation quality lost vs speed-up")
    fig.tight_layout()
    return fig


def plot_param_sweep(
    df: pd.DataFrame,
    param: str,
    y: str = "knn_recall",
    group_col: str | None = None,
    title: str = "",
) -> Figure:
    """``y`` against one parameter (e.g. LSH tables L or probes), one line per group."""
    _require(df, [param, y], "plot_param_sweep")
    fig, ax = plt.subplots(figsize=(6, 4))
    groups = df.groupby(group_col, sort=True) if group_col else [("", df)]
    for name, g in groups:
        g2 = g.groupby(param, sort=True)[y].mean()
        ax.plot(g2.index, g2.values, marker="o", label=str(name) if group_col else None)
    ax.set_xlabel(param)
    ax.set_ylabel(y)
    ax.grid(True, alpha=0.3)
    if group_col:
        ax.legend(fontsize=8)
    ax.set_title(title or f"{y} vs {param}")
    fig.tight_layout()
    return fig


def plot_bucket_sizes(sizes: NDArray[np.int64], title: str = "") -> Figure:
    """Histogram (log-log) of LSH bucket sizes."""
    s = np.asarray(sizes)
    s = s[s > 0]
    if s.size == 0:
        raise ValueError("plot_bucket_sizes: no non-empty bucket")
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.unique(np.logspace(0, np.log10(s.max() + 1), 30).astype(int))
    ax.hist(s, bins=bins)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("bucket size (items)")
    ax.set_ylabel("buckets")
    ax.set_title(title or f"bucket sizes (mean {s.mean():.1f}, max {s.max()})")
    fig.tight_layout()
    return fig


def plot_embedding_map(
    vectors: NDArray[np.float32],
    labels: NDArray | pd.Series,
    title: str = "",
    method: str = "pca",
    random_state: int | None = 0,
    max_points: int = 3000,
) -> Figure:
    """2-D map (PCA or t-SNE) of vectors coloured by a label (e.g. primary genre)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = np.asarray(vectors, dtype=np.float32)
    lab = np.asarray(labels)
    if x.shape[0] != lab.shape[0]:
        raise ValueError(f"plot_embedding_map: {x.shape[0]} vectors but {lab.shape[0]} labels")
    rng = np.random.default_rng(random_state)
    if x.shape[0] > max_points:
        pick = rng.choice(x.shape[0], max_points, replace=False)
        x, lab = x[pick], lab[pick]
    if method == "pca":
        xy = PCA(n_components=2, random_state=random_state).fit_transform(x)
    elif method == "tsne":
        xy = TSNE(n_components=2, random_state=random_state, init="pca").fit_transform(x)
    else:
        raise ValueError(f"unknown map method {method!r} (pca or tsne)")
    fig, ax = plt.subplots(figsize=(6, 5))
    cats = pd.Series(lab).astype(str)
    for i, c in enumerate(sorted(cats.unique())):
        m = (cats == c).to_numpy()
        ax.scatter(xy[m, 0], xy[m, 1], s=5, alpha=0.6, color=plt.cm.tab20(i % 20), label=c)
    if cats.nunique() <= 20:
        ax.legend(fontsize=6, markerscale=2, ncol=2)
    ax.set_title(title or f"{method.upper()} map")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_field_weights(weights: pd.DataFrame, title: str = "") -> Figure:
    """Box plot of learned EGES field weights (items x fields, rows sum to 1)."""
    if weights.empty:
        raise ValueError("plot_field_weights: empty weights table")
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.boxplot([weights[c].to_numpy() for c in weights.columns], showfliers=False)
    ax.set_xticks(np.arange(1, weights.shape[1] + 1))
    ax.set_xticklabels([str(c) for c in weights.columns])
    ax.axhline(1.0 / weights.shape[1], ls="--", color="grey", lw=1, label="equal weights")
    ax.set_ylabel("softmax weight")
    ax.legend(fontsize=8)
    ax.set_title(title or "EGES learned field weights per item")
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write a PNG (parent directories created) and close the figure."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=dpi)
    plt.close(fig)
    return p
