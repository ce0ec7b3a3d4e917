"""Plots for the reports. Each takes a DataFrame (or arrays) and returns a matplotlib Figure.

None of them calls ``plt.show()`` and none chooses a matplotlib backend: importing this module
leaves the backend as the caller set it (inline in Jupyter; scripts and the CLI pick their own).
``save_figure`` writes a PNG and closes the figure.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import NDArray

__all__ = [
    "pareto_frontier",
    "mean_interval",
    "plot_recall_vs_qps",
    "plot_hit_rate_vs_qps",
    "plot_candidates_vs_recall",
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


def mean_interval(
    values: NDArray[np.float64] | pd.Series, n_trials: float | None = None, z: float = 1.96
) -> tuple[float, float, float]:
    """(mean, low, high): a 95% interval of a metric.

    Over several seeds (``len(values) >= 2``): mean +- t * standard error of the seeds. From one
    seed, when the metric is a proportion over ``n_trials`` users (hit rate): the Wilson score
    interval. Otherwise (one value, no count): ``(v, nan, nan)``.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    m = float(v.mean())
    if v.size >= 2:
        from embeddings.stats import mean_ci

        return mean_ci(v, 0.95)
    if n_trials is not None and np.isfinite(n_trials) and n_trials > 0 and 0.0 <= m <= 1.0:
        n = float(n_trials)
        den = 1.0 + z * z / n
        centre = (m + z * z / (2 * n)) / den
        half = z * math.sqrt(m * (1 - m) / n + z * z / (4 * n * n)) / den
        return m, centre - half, centre + half
    return m, math.nan, math.nan


def _family_colours(families: list[str]) -> dict[str, tuple[float, ...]]:
    """One fixed colour per family (sorted), the same in every panel."""
    cmap = plt.get_cmap("tab10" if len(families) <= 10 else "tab20")
    return {f: cmap(i % cmap.N) for i, f in enumerate(sorted(families))}


def _panel_grid(
    n: int, width: float = 3.6, height: float = 3.0, max_cols: int = 4
) -> tuple[Figure, list[Axes]]:
    cols = min(max_cols, max(1, n))
    rows = math.ceil(n / cols)
    size = (7.0, 4.8) if n == 1 else (width * cols + 1.8, height * rows + 0.8)
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False, sharey=True)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _panels(df: pd.DataFrame, panel_col: str | None) -> list[tuple[str, pd.DataFrame]]:
    if panel_col and panel_col in df.columns and df[panel_col].nunique() > 1:
        return [(str(k), g) for k, g in df.groupby(panel_col, sort=False)]
    return [("", df)]


def _log_axis(ax: Axes, axis: str = "x") -> None:
    """Log scale whose ticks stay labelled over a narrow range (1, 2, 5 x 10^k)."""
    a = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    a.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    a.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    a.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _figure_legend(fig: Figure, colours: dict[str, tuple[float, ...]], extra=()) -> None:
    """One legend for all panels, right of them; inside the axes when there is a single panel."""
    handles = [plt.Line2D([], [], color=c, marker="o", lw=1.5, label=f) for f, c in colours.items()]
    handles += list(extra)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    if len(visible) == 1:
        visible[0].legend(handles=handles, loc="best", fontsize=7, framealpha=0.85)
    else:
        fig.legend(handles=handles, loc="center right", fontsize=8, frameon=False)


def _legend_rect(fig: Figure, right: float) -> tuple[float, float, float, float]:
    """tight_layout area: leave room on the right for a figure legend (several panels only)."""
    return (0, 0, right if sum(ax.get_visible() for ax in fig.axes) > 1 else 1, 1)


def _frontier_panels(
    df: pd.DataFrame,
    x: str,
    y: str,
    family_col: str,
    panel_col: str | None,
    frontier: tuple[str, str],
    title: str,
    xlabel: str,
    ylabel: str,
    xlog: bool = False,
    ylog: bool = False,
    reference: str | None = None,
) -> Figure:
    """One panel per ``panel_col`` value: every setting as a faint dot, the Pareto frontier of
    each family as a line (same family colours in every panel, one legend)."""
    panels = _panels(df, panel_col)
    colours = _family_colours([str(f) for f in df[family_col].dropna().unique()])
    fig, axes = _panel_grid(len(panels))
    extra = []
    for ax, (name, g) in zip(axes, panels, strict=True):
        if reference is not None and reference in g:
            ref = g.loc[g[family_col] == "exact", reference].dropna()
            if len(ref):
                ax.axhline(float(ref.mean()), color="k", ls="--", lw=0.9)
        for fam, gf in g.groupby(family_col, sort=True):
            c = colours[str(fam)]
            ax.scatter(gf[x], gf[y], s=9, alpha=0.3, color=c, linewidths=0)
            front = pareto_frontier(gf, *frontier)
            ax.plot(front[x], front[y], marker="o", ms=3.5, lw=1.3, color=c)
        if xlog:
            _log_axis(ax, "x")
        if ylog:
            _log_axis(ax, "y")
        ax.grid(True, which="major", alpha=0.3)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes:
        ax.set_xlabel(xlabel, fontsize=8)
    for i, ax in enumerate(axes):
        if i % min(4, len(axes)) == 0:
            ax.set_ylabel(ylabel, fontsize=8)
    if reference is not None:
        extra = [plt.Line2D([], [], color="k", ls="--", lw=0.9, label="exact search")]
    _figure_legend(fig, colours, extra)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=_legend_rect(fig, 0.86))
    return fig


def plot_recall_vs_qps(
    df: pd.DataFrame,
    recall_col: str = "knn_recall",
    qps_col: str = "qps_single",
    family_col: str = "index_family",
    panel_col: str | None = "method",
    title: str = "",
) -> Figure:
    """ann-benchmarks style: knn-recall (x) vs QPS (y, log), one panel per ``panel_col`` value
    (embedding method), the Pareto frontier of each index family as a line, every setting a dot.

    Frontiers are never pooled across panels: each method's vectors make a different search
    problem.
    """
    _require(df, [recall_col, qps_col, family_col], "plot_recall_vs_qps")
    return _frontier_panels(
        df,
        recall_col,
        qps_col,
        family_col,
        panel_col,
        (recall_col, qps_col),
        title or "knn-recall vs speed",
        f"{recall_col} (agreement with exact)",
        f"{qps_col} (queries/s, log)",
        ylog=True,
    )


def plot_hit_rate_vs_qps(
    df: pd.DataFrame,
    hr_col: str = "e2e_hit_rate@10",
    qps_col: str = "qps_single",
    family_col: str = "index_family",
    panel_col: str | None = "method",
    title: str = "",
) -> Figure:
    """Recommendation quality through each index (y) against its speed (x, log), one panel per
    method, the exact-search level as a dashed line: what a faster index costs in hit rate."""
    _require(df, [hr_col, qps_col, family_col], "plot_hit_rate_vs_qps")
    return _frontier_panels(
        df,
        qps_col,
        hr_col,
        family_col,
        panel_col,
        (qps_col, hr_col),
        title or f"{hr_col} through each index vs speed",
        f"{qps_col} (queries/s, log)",
        hr_col.removeprefix("e2e_"),
        xlog=True,
        reference=hr_col,
    )


def plot_candidates_vs_recall(
    df: pd.DataFrame,
    candidates_col: str = "mean_candidates",
    recall_col: str = "knn_recall",
    index_col: str = "index",
    panel_col: str | None = "method",
    title: str = "",
) -> Figure:
    """knn-recall (y) against the mean number of candidates scored per query (x, log), one line
    per index (settings sorted by candidates), one panel per method: the work a hashing index
    does for its recall. Rows without a candidate count (graph and tree peers) are left out."""
    _require(df, [candidates_col, recall_col, index_col], "plot_candidates_vs_recall")
    d = df.dropna(subset=[candidates_col, recall_col])
    if d.empty:
        raise ValueError("plot_candidates_vs_recall: no rows with a candidate count")
    panels = _panels(d, panel_col)
    colours = _family_colours([str(i) for i in d[index_col].unique()])
    fig, axes = _panel_grid(len(panels))
    for ax, (name, g) in zip(axes, panels, strict=True):
        for idx, gi in g.groupby(index_col, sort=True):
            gi = gi.sort_values(candidates_col)
            ax.plot(
                gi[candidates_col], gi[recall_col], marker="o", ms=3.5, lw=1.2, alpha=0.85,
                color=colours[str(idx)],
            )  # fmt: skip
        if "n_items" in g and g["n_items"].notna().any():
            ax.axvline(float(g["n_items"].max()), color="grey", ls=":", lw=0.9)
        _log_axis(ax, "x")
        ax.axhline(0.9, color="k", ls="--", lw=0.7)
        ax.grid(True, which="major", alpha=0.3)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel(f"{candidates_col} per query (log)", fontsize=8)
    axes[0].set_ylabel(recall_col, fontsize=8)
    extra = [
        plt.Line2D([], [], color="k", ls="--", lw=0.7, label="knn-recall 0.9"),
        plt.Line2D([], [], color="grey", ls=":", lw=0.9, label="all items (exact)"),
    ]
    _figure_legend(fig, colours, extra)
    fig.suptitle(title or "candidates scored vs knn-recall", fontsize=11)
    fig.tight_layout(rect=_legend_rect(fig, 0.84))
    return fig


def plot_quality_by_method(
    df: pd.DataFrame,
    metric: str = "hr@10",
    method_col: str = "method",
    mode_col: str | None = "mode",
    baseline: str = "popularity",
    n_col: str = "n_users",
    title: str = "",
) -> Figure:
    """Bars of a recommendation metric per method (one bar per query mode), with 95% intervals
    (``mean_interval``: over seeds, or Wilson over ``n_col`` users from one seed); the baseline
    as a dashed line. Modes without a value of ``metric`` are left out (no empty legend entry)."""
    _require(df, [metric, method_col], "plot_quality_by_method")
    d = df.dropna(subset=[metric])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    others = d[d[method_col] != baseline]
    modes = sorted(others[mode_col].unique()) if mode_col and mode_col in d else [None]
    methods = list(pd.unique(others[method_col]))
    width = 0.8 / max(1, len(modes))
    x = np.arange(len(methods))
    for j, mode in enumerate(modes):
        sub = others if mode is None else others[others[mode_col] == mode]
        stats = []
        for m in methods:
            rows = sub[sub[method_col] == m]
            n = float(rows[n_col].mean()) if n_col in rows and len(rows) else None
            stats.append(mean_interval(rows[metric], n))
        mean = np.array([s[0] for s in stats])
        lo = np.array([s[1] for s in stats])
        hi = np.array([s[2] for s in stats])
        err = np.vstack([mean - lo, hi - mean])
        err = np.where(np.isfinite(err), err, 0.0)
        ax.bar(
            x + j * width, mean, width, yerr=err, capsize=2, error_kw={"lw": 0.8},
            label=str(mode) if mode is not None else metric,
        )  # fmt: skip
    base = d.loc[d[method_col] == baseline, metric]
    if len(base):
        ax.axhline(float(base.mean()), ls="--", lw=1, color="k", label=baseline)
    ax.set_xticks(x + width * (len(modes) - 1) / 2)
    ax.set_xticklabels(methods, rotation=30, ha="right")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    ax.set_title(title or f"{metric} by embedding method (95% intervals)")
    fig.tight_layout()
    return fig


def plot_quality_lost_vs_speedup(
    df: pd.DataFrame,
    lost_col: str = "hr_lost",
    speedup_col: str = "speedup",
    family_col: str = "index_family",
    panel_col: str | None = "method",
    title: str = "",
) -> Figure:
    """Recommendation quality given up (y, exact minus index) against the speed-up over exact
    search (x, log with labelled ticks), one panel per method, one colour per index family."""
    _require(df, [lost_col, speedup_col, family_col], "plot_quality_lost_vs_speedup")
    panels = _panels(df, panel_col)
    colours = _family_colours([str(f) for f in df[family_col].dropna().unique()])
    fig, axes = _panel_grid(len(panels))
    for ax, (name, g) in zip(axes, panels, strict=True):
        for fam, gf in g.groupby(family_col, sort=True):
            ax.scatter(
                gf[speedup_col], gf[lost_col], s=14, alpha=0.6, color=colours[str(fam)],
                linewidths=0,
            )  # fmt: skip
        ax.axhline(0.0, color="k", lw=0.8)
        _log_axis(ax, "x")
        ax.grid(True, which="major", alpha=0.3)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("speed-up over exact (log)", fontsize=8)
    axes[0].set_ylabel(f"{lost_col} (exact minus index)", fontsize=8)
    _figure_legend(fig, colours)
    fig.suptitle(title or "recommendation quality lost vs speed-up", fontsize=11)
    fig.tight_layout(rect=_legend_rect(fig, 0.86))
    return fig


def plot_param_sweep(
    df: pd.DataFrame,
    param: str,
    y: str = "knn_recall",
    group_col: str | None = None,
    title: str = "",
) -> Figure:
    """``y`` (mean over the other settings) against one parameter (e.g. LSH tables or probes),
    one line per group."""
    _require(df, [param, y], "plot_param_sweep")
    fig, ax = plt.subplots(figsize=(6, 4))
    groups = df.groupby(group_col, sort=True) if group_col else [("", df)]
    for name, g in groups:
        g2 = g.groupby(param, sort=True)[y].mean()
        ax.plot(g2.index, g2.values, marker="o", label=str(name) if group_col else None)
    ax.set_xlabel(param.removeprefix("param_"))
    ax.set_ylabel(f"{y} (mean over other settings)")
    ax.grid(True, alpha=0.3)
    if group_col:
        ax.legend(fontsize=8)
    ax.set_title(title or f"{y} vs {param.removeprefix('param_')}")
    fig.tight_layout()
    return fig


def plot_bucket_sizes(sizes: NDArray[np.int64], title: str = "", subtitle: str = "") -> Figure:
    """Histogram (log-log) of LSH bucket sizes; the title should name the index and the vectors
    it hashed (``subtitle``, e.g. method and build parameters); mean, median and max are shown."""
    s = np.asarray(sizes)
    s = s[s > 0]
    if s.size == 0:
        raise ValueError("plot_bucket_sizes: no non-empty bucket")
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.unique(np.logspace(0, np.log10(s.max() + 1), 30).astype(int))
    ax.hist(s, bins=bins, color="C0")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("bucket size (items in the bucket, log)")
    ax.set_ylabel("number of buckets (log)")
    ax.text(
        0.97, 0.95,
        f"{s.size} buckets, {int(s.sum())} items\nmean {s.mean():.1f}, median "
        f"{np.median(s):.0f}, max {s.max()}",
        transform=ax.transAxes, ha="right", va="top", fontsize=8,
        bbox={"boxstyle": "round", "fc": "white", "alpha": 0.8},
    )  # fmt: skip
    ax.set_title(title or "LSH bucket sizes", fontsize=10)
    if subtitle:
        fig.text(0.5, 0.005, subtitle, ha="center", va="bottom", fontsize=7, color="0.3")
    fig.tight_layout(rect=(0, 0.03 if subtitle else 0, 1, 1))
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
