"""Reports of the ANN benchmark: Pareto frontiers, the target table, plots, cost growth, results.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recall.bench.harness import BenchRun, fmt_range
from recall.bench.harness import write_report as write_bench_report


def pareto(g: pd.DataFrame, x: str = "knn_recall", y: str = "qps") -> pd.DataFrame:
    """Points not dominated in (higher recall, higher QPS), sorted by recall."""
    g = g.sort_values([x, y], ascending=[False, False])
    keep, best = [], -np.inf
    for i, r in g.iterrows():
        if r[y] > best:
            keep.append(i)
            best = r[y]
    return g.loc[keep].sort_values(x)


TARGETS = [
    # (target text, reference role, ratio kind, needed); issue 11's table at knn-recall@10 >= 0.9
    ("single-query QPS >= 50x faiss IndexFlat", "faiss IndexFlat", "qps", 50.0),
    (
        "single-query QPS >= 2x FALCONN cross-polytope (its best point >= 0.9)",
        "FALCONN",
        "qps",
        2.0,
    ),
    (
        "single-query QPS >= 0.25x hnswlib (its best point >= 0.9; stretch 0.5x)",
        "hnswlib",
        "qps",
        0.25,
    ),
    (
        "single-query QPS >= 2x faiss IndexLSH+refine at equal or higher recall",
        "faiss IndexLSH+refine",
        "qps",
        2.0,
    ),
    ("build incl. tuning <= 0.2x hnswlib build (ratio = hnswlib / ours)", "hnswlib", "build", 5.0),
    ("index memory <= 2x the float32 vectors (ratio = vectors / index)", "vectors", "memory", 0.5),
]


def targets(final: dict[str, dict[str, Any]], points: pd.DataFrame) -> pd.DataFrame:
    """The issue's target ratios, in wall time, from the interleaved target phase: for our
    fastest point >= 0.9 (``point`` = "fastest"), and again for our fastest point >= 0.9 whose
    index is within 2x the vectors (``point`` = "fastest within 2x memory") when that is another
    point: the goals are met together only if one point meets them all."""
    out = [_targets_of(final.get("ours"), final, points).assign(point="fastest")]
    capped = final.get("ours <= 2x memory")
    ours = final.get("ours")
    if capped is not None and (
        ours is None or (capped["family"], capped["params"]) != (ours["family"], ours["params"])
    ):
        out.append(_targets_of(capped, final, points).assign(point="fastest within 2x memory"))
    return pd.concat(out, ignore_index=True)


def _targets_of(
    ours: dict[str, Any] | None, final: dict[str, dict[str, Any]], points: pd.DataFrame
) -> pd.DataFrame:
    """The target rows of one of our points against the peers' re-timed best points."""
    rows: list[dict[str, Any]] = []
    fal = points[(points["family"] == "FALCONN cross-polytope") & (points["knn_recall"] >= 0.9)]
    falc = None if fal.empty else fal.loc[fal["qps"].idxmax()]
    for text, role, kind, need in TARGETS:
        ref: dict[str, Any] | None
        if role == "vectors":
            ref = None if ours is None else {"memory": True}
        elif role == "FALCONN":
            ref = (
                None
                if falc is None
                else {
                    "family": falc["family"],
                    "params": f"{falc['build_params']} {falc['search_params']}",
                    "knn_recall": falc["knn_recall"],
                    "qps": falc["qps"],
                    "build_total_s": falc["build_total_s"],
                }
            )
        else:
            ref = final.get(role)
        row: dict[str, Any] = {"target": text, "needed": need}
        if ours is None:
            row.update(ours="no LSH point reaches knn-recall@10 0.9", met=False, ratio=np.nan)
        else:
            row["ours"] = (
                f"{ours['family']} [{ours['params']}]: {ours['qps']:,.0f} QPS at {ours['knn_recall']:.3f}; "
                f"build {ours['build_s']:.1f}s + tuning {ours['tune_s']:.1f}s"
            )
        if role == "vectors" and ours is not None:
            vec_mb = float(points.attrs.get("vectors_mb", np.nan))
            mem = float(ours.get("memory_mb", np.nan))
            row["reference"] = f"float32 vectors: {vec_mb:,.0f} MB; index {mem:,.0f} MB"
            ratio = vec_mb / mem if mem > 0 else np.nan
            row.update(ratio=ratio, met=None if np.isnan(ratio) else bool(ratio >= need))
        elif ref is None:
            row.update(reference="absent (no point at the recall needed)", ratio=np.nan)
            row.setdefault("met", None if ours is not None else False)
        else:
            qw = ref.get("qps_wrapped", np.nan)
            row["reference"] = (
                f"{ref['family']} [{ref['params']}]: {ref['qps']:,.0f} QPS"
                + ("" if pd.isna(qw) else f" native ({qw:,.0f} through the wrapper)")
                + f" at {ref['knn_recall']:.3f}; build {ref['build_total_s']:.1f}s"
            )
            row["reference_qps"] = ref["qps"]
            row["reference_qps_wrapped"] = qw
            if ours is not None:
                ratio = (
                    ours["qps"] / ref["qps"]
                    if kind == "qps"
                    else ref["build_total_s"] / max(ours["build_total_s"], 1e-9)
                )
                row.update(ratio=ratio, met=bool(ratio >= need))
        rows.append(row)
    return pd.DataFrame(rows)


def plot_families(g: pd.DataFrame, title: str):
    """Recall (x) vs log single-query QPS (y, wall): Pareto line per family, ours solid."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 6))
    ax = fig.subplots()
    cmap = plt.get_cmap("tab20")
    for i, fam in enumerate(dict.fromkeys(g["family"])):
        gg = g[g["family"] == fam]
        ours = str(fam).startswith("ours")
        color = cmap(i % 20)
        ax.scatter(gg["knn_recall"], gg["qps"], s=8, alpha=0.3, color=color)
        f = pareto(gg)
        ax.plot(
            f["knn_recall"],
            f["qps"],
            marker="o" if ours else "s",
            linestyle="-" if ours else "--",
            linewidth=2.0 if ours else 1.2,
            color=color,
            label=str(fam),
        )
    ax.axvline(0.9, color="grey", linewidth=0.8, linestyle=":")
    ax.set_yscale("log")
    ax.set_xlabel("knn-recall@10 (tie-aware, vs exact search)")
    ax.set_ylabel("single-query QPS, wall clock (log)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def growth_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per data family x method family x n: fastest QPS at recall >= 0.9 and its build seconds."""
    rows = []
    for (ds, fam, n), g in df.groupby(["dataset", "family", "n"], sort=False):
        ok = g[g["knn_recall"] >= 0.9]
        if ok.empty:
            rows.append(
                {
                    "dataset": ds,
                    "family": fam,
                    "n": n,
                    "qps": np.nan,
                    "build_total_s": np.nan,
                    "best_recall": g["knn_recall"].max(),
                }
            )
            continue
        r = ok.loc[ok["qps"].idxmax()]
        rows.append(
            {
                "dataset": ds,
                "family": fam,
                "n": n,
                "qps": r["qps"],
                "build_total_s": r["build_total_s"],
                "best_recall": g["knn_recall"].max(),
            }
        )
    return pd.DataFrame(rows)


def write_report(
    df: pd.DataFrame, tg: pd.DataFrame, run: BenchRun, out: Path, grid: dict[str, Any]
) -> None:
    from recall.plots import save_figure

    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "results.csv", index=False)
    tg.to_csv(out / "targets.csv", index=False)
    fronts = (
        pd.concat(
            [
                pareto(g).assign(dataset=ds, n=n)
                for (ds, n, _f), g in df.groupby(["dataset", "n", "family"], sort=False)
            ],
            ignore_index=True,
        )
        if len(df)
        else df
    )
    fronts.to_csv(out / "frontier.csv", index=False)
    gr = growth_table(df) if len(df) else pd.DataFrame()
    gr.to_csv(out / "growth.csv", index=False)
    lines = run.header("ANN benchmark: our LSH vs exact search and the peers, every data family")
    lines += [
        f"Grid: `{Path(grid['path']).name}` ({len(grid['methods'])} methods). One thread everywhere. "
        "QPS = single-query QPS in wall time (a loop of 1-query calls), median of the interleaved "
        "rounds (min-max); knn-recall@10 is tie-aware (ann-benchmarks' rule). Build = wall seconds "
        "of the build; for tuned methods `tuning` is shown apart and counted in `build total`. "
        "Compilation/initialisation (warm-up on a 2,000-row slice) is in `warmup_s` of results.csv, "
        "never in the build.",
        "",
    ]
    for (ds, n), g in df.groupby(["dataset", "n"], sort=False):
        d, metric = int(g["dim"].iloc[0]), g["metric"].iloc[0]
        lines += [f"## {ds}: {n:,} x {d} ({metric})", ""]
        t = tg[(tg["dataset"] == ds) & (tg["n"] == n)] if len(tg) else tg
        if len(t):
            lines += [
                "### Targets (wall time; ours and the peers re-timed together, interleaved)",
                "",
            ]
            lines += [
                "| our point | target | ours | reference | ratio | needed | met |",
                "|---|---|---|---|---:|---:|---|",
            ]
            for _, r in t.iterrows():
                met = {True: "**met**", False: "**NOT met**"}.get(r.get("met"), "n/a")
                ratio = r.get("ratio", np.nan)
                lines.append(
                    f"| {r.get('point', 'fastest')} | {r['target']} | {r.get('ours', '')} | "
                    f"{r.get('reference', '')} | {'' if pd.isna(ratio) else f'{ratio:.2f}'} | "
                    f"{r['needed']:g} | {met} |"
                )
            lines += [
                "",
                "*fastest*: our fastest point at knn-recall@10 >= 0.9; *fastest within 2x "
                "memory*: our fastest point >= 0.9 whose index is at most twice the float32 "
                "vectors (shown when it is another point): every goal is met at once only where "
                "one point meets them all.",
            ]
            lines += [
                "",
                "Every peer is timed through its own single-query call (see *How each method "
                "was called*), queries prepared once outside the loop; its QPS through "
                "embrecall's `Index` wrapper is shown beside for transparency and never enters a "
                "ratio. FALCONN runs in its own process after the others (not interleaved).",
                "",
            ]

        lines += ["### How each method was called (the single-query loop that is timed)", ""]
        lines += ["| family | call | native ids = wrapped ids |", "|---|---|---:|"]
        for fam, gg in g.groupby("family", sort=False):
            calls = "; ".join(dict.fromkeys(str(c) for c in gg.get("call", pd.Series(["?"]))))
            m = gg["native_ids_match"] if "native_ids_match" in gg else pd.Series([np.nan])
            ok = "n/a" if m.isna().all() else f"{m.min():.0%} of queries (worst setting)"
            lines.append(f"| {fam} | {calls} | {ok} |")
        lines += [
            "",
            "### Pareto frontier per family",
            "",
            "| family | points | build params | search params | knn-recall@10 | QPS (min-max) | QPS wrapped (1 pass) | QPS batch (1 pass) | build total s (tuning) | memory MB |",
            "|---|---:|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for fam, gg in g.groupby("family", sort=False):
            for _, r in pareto(gg).iterrows():
                flag = bool(r["qps_flagged"])
                tune = f" ({r['tune_s']:.1f})" if r["tune_s"] else ""
                mem = "" if pd.isna(r["memory_mb"]) else f"{r['memory_mb']:.0f}"
                qb1 = r.get("qps_batch_1pass", np.nan)
                qb = "" if pd.isna(qb1) else f"{qb1:,.0f}"
                qw1 = r.get("qps_wrapped_1pass", np.nan)
                qw = "" if pd.isna(qw1) else f"{qw1:,.0f}"
                qps = (
                    f"{r['qps']:,.0f} (best of 2 passes: < exact/2, not timed further)"
                    if str(r.get("dominated_by_exact")) == "True"  # NaN for FALCONN rows
                    else fmt_range(r["qps"], r["qps_min"], r["qps_max"], flag=flag)
                )
                lines.append(
                    f"| {fam} | {len(gg)} | {r['build_params']} | {r['search_params']} | {r['knn_recall']:.3f} | "
                    f"{qps} | {qw} | {qb} | "
                    f"{r['build_total_s']:.1f}{tune} | {mem} |"
                )
        fig = plot_families(g, f"{ds}: {n:,} x {d} ({metric}), knn-recall@10, 1 thread, wall clock")
        png = out / f"recall_vs_qps_{ds}_{n}.png"
        save_figure(fig, png)
        lines += ["", f"![recall vs QPS]({png.name})", ""]
    if len(gr):  # only data families measured at more than one size
        gr = gr[gr.groupby("dataset")["n"].transform("nunique") > 1]
    if len(gr):
        lines += ["## Cost growth (fastest point at knn-recall@10 >= 0.9: QPS / build total s)", ""]
        sizes = sorted(gr["n"].unique())
        lines += [
            "| data | family | " + " | ".join(f"n={s:,}" for s in sizes) + " |",
            "|---|---|" + "---:|" * len(sizes),
        ]
        for (ds, fam), g in gr.groupby(["dataset", "family"], sort=False):
            cells = []
            for s in sizes:
                r = g[g["n"] == s]
                if r.empty:
                    cells.append("")
                elif pd.isna(r["qps"].iloc[0]):
                    cells.append(f"< 0.9 (best {r['best_recall'].iloc[0]:.2f})")
                else:
                    cells.append(f"{r['qps'].iloc[0]:,.0f} / {r['build_total_s'].iloc[0]:.1f}s")
            lines.append(f"| {ds} | {fam} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["FALCONN: " + grid.get("falconn_note", "see the module docstring for its build"), ""]
    write_bench_report(out, run, lines)
