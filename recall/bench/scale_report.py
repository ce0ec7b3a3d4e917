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


STAGE_COSTS = ["read_s", "build_s", "walk_s", "corpus_write_s"]


def _extrapolate(x: Any, y: Any, target: float, floor: float = 1.0) -> float:
    """``y`` at ``target`` by a power law from the largest measured point, with the fitted
    log-log exponent floored at ``floor``: 1 for a stage's time (no stage grows slower than
    linearly in the graph size: a smaller fitted slope at these sizes is fixed overhead), 0 for
    a cost per token (a smaller vocabulary does not make a token cheaper)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    k = int(np.argmax(x))
    slope = _slope(x, y)
    slope = floor if not np.isfinite(slope) else max(slope, floor)
    return float(y[k] * (target / x[k]) ** slope)


def stages_projection(
    df: pd.DataFrame, settings: dict[str, dict[str, int]], target: int = 1_000_000
) -> pd.DataFrame:
    """Projected DeepWalk time at ``target`` nodes (10 edges each) from the ``stages`` rows.

    The per-stage times of the default walks (``num_walks x walk_length`` per node) are scaled
    to each setting's steps per node; the skip-gram time is ``tokens x epochs x seconds per
    token`` of the measured ``(mode, window)`` epoch, the seconds per token extrapolated in size
    like the stages. One row per setting and skip-gram mode (``corpus_file`` or iterable).
    ``*_from_cpu``: the same from CPU seconds (walks and skip-gram divided by the ``threads``),
    the estimate that a loaded machine distorts least.
    """
    rows = []
    threads = int(df["threads"].iloc[0]) if "threads" in df else 1
    steps = float(df["num_walks"].iloc[0] * df["walk_length"].iloc[0])
    per = {c: _extrapolate(df["size"], df[c], target) for c in STAGE_COSTS if c in df}
    tok_per_node = _extrapolate(df["size"], df["tokens_per_epoch"], target) / target / steps
    for name, st in settings.items():
        f = st["num_walks"] * st["walk_length"] / steps  # share of the default walks' steps
        tokens = target * st["num_walks"] * st["walk_length"] * tok_per_node
        for mode in ("corpus_file", "iterable"):
            col = f"epoch_s_{mode}_w{st['window']}"
            if col not in df:
                continue
            sec_per_tok = _extrapolate(df["size"], df[col] / df["sample_tokens"], target, 0.0)
            sg = tokens * st["epochs"] * sec_per_tok
            walks = per.get("walk_s", np.nan) * f
            write = per.get("corpus_write_s", np.nan) * f if mode == "corpus_file" else 0.0
            # the same from CPU seconds (the load-robust estimate of a quiet run's wall time:
            # single-threaded stages at their CPU time, walks and skip-gram over the threads)
            cpu = {c: _extrapolate(df["size"], df[c.replace("_s", "_cpu_s")], target)
                   for c in STAGE_COSTS if c.replace("_s", "_cpu_s") in df}  # fmt: skip
            ccol = f"epoch_cpu_s_{mode}_w{st['window']}"
            if ccol in df and cpu:
                sg_cpu = (
                    tokens
                    * st["epochs"]
                    * _extrapolate(df["size"], df[ccol] / df["sample_tokens"], target, 0.0)
                    / threads
                )
                cpu_total = (cpu["read_s"] + cpu["build_s"] + cpu["walk_s"] * f / threads
                             + (cpu["corpus_write_s"] * f if mode == "corpus_file" else 0.0)
                             + sg_cpu)  # fmt: skip
            else:
                sg_cpu = cpu_total = np.nan
            rows.append({
                "setting": name, "skipgram": mode, "nodes": target,
                "tokens_per_epoch": tokens, "epochs": st["epochs"], "window": st["window"],
                "read_s": per.get("read_s"), "build_s": per.get("build_s"), "walk_s": walks,
                "corpus_write_s": write, "skipgram_s": sg,
                "total_min": (per.get("read_s", 0) + per.get("build_s", 0) + walks + write + sg)
                / 60,
                "skipgram_s_from_cpu": sg_cpu, "total_min_from_cpu": cpu_total / 60,
                "corpus_file_gb": (_extrapolate(df["size"], df["corpus_file_mb"], target) * f
                                   / 1024 if mode == "corpus_file" else 0.0),
                "walk_matrix_gb_if_held": _extrapolate(df["size"], df["walk_matrix_mb"], target)
                * f / 1024,
            })  # fmt: skip
    return pd.DataFrame(rows)


def quality_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and per-seed change against the defaults (the setting named
    ``defaults...``, else the first) of the validation Macro/Micro-F1, one row per setting."""
    names = list(dict.fromkeys(df["setting"]))
    first = next((n for n in names if str(n).startswith("defaults")), names[0])
    base = df[df["setting"] == first].set_index("seed")
    out = []
    for name, g in df.groupby("setting", sort=False):
        g = g.set_index("seed")
        d = (g["macro_f1"] - base["macro_f1"].reindex(g.index)).dropna()
        out.append({
            "setting": name, "n_seeds": len(g), "macro_f1": g["macro_f1"].mean(),
            "macro_sd": g["macro_f1"].std(ddof=1) if len(g) > 1 else np.nan,
            "micro_f1": g["micro_f1"].mean(), "d_macro_vs_defaults": d.mean(),
            "d_macro_min": d.min(), "d_macro_max": d.max(), "train_s": g["train_s"].mean(),
            "corpus_tokens": g["corpus_tokens"].mean(),
        })  # fmt: skip
    return pd.DataFrame(out)


SECTIONS = {
    "deepwalk": ("DeepWalk end to end (read -> walks -> vectors), streamed walks",
                 ["size", "edges", "arcs", "setting", "epochs", "corpus_file", "corpus_tokens",
                  "read_s", "walks_file_s", "skipgram_s", "vocab_s", "train_s",
                  "train_tokens_per_s", "huge_page_mb", "total_s", "peak_mb",
                  "peak_after_read_mb", "load_before"], ["total_s", "skipgram_s", "peak_mb"], None),
    "node2vec": ("Node2vec end to end (read -> second-order walks -> vectors), streamed walks",
                 ["size", "edges", "arcs", "p", "q", "setting", "trainer", "epochs",
                  "corpus_file", "corpus_tokens", "read_s", "walk_s", "walks_file_s",
                  "skipgram_s", "train_s", "train_tokens_per_s", "total_s", "peak_mb",
                  "peak_after_read_mb", "load_before"],
                 ["total_s", "walks_file_s", "skipgram_s", "peak_mb"], None),
    "hugepages": ("gensim skip-gram at the largest size's vocabulary, weights on 4 KiB pages "
                  "(numpy) vs huge pages, interleaved; training on a slice of the walks",
                  ["variant", "repeat", "size", "vocabulary", "train_tokens", "train_s",
                   "train_cpu_s", "tokens_per_s", "tokens_per_cpu_s", "huge_page_mb",
                   "load_before"], [], None),
    "stages": ("DeepWalk stage by stage at the defaults' walks (walk matrix held; skip-gram: "
               "one epoch on one walk per node, words/s of gensim with the threads shown)",
               ["size", "arcs", "read_s", "build_s", "walk_s", "corpus_write_s", "graph_mb",
                "walk_matrix_mb", "corpus_file_mb", "rss_after_build_mb", "rss_after_walks_mb",
                "words_per_s_corpus_file_w5", "words_per_s_corpus_file_w10",
                "words_per_s_iterable_w5", "words_per_s_iterable_w10", "vocab_s_corpus_file_w5",
                "vocab_s_iterable_w5", "peak_mb", "load_before"],
               ["read_s", "build_s", "walk_s", "corpus_write_s", "rss_after_walks_mb"], None),
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
    "quality": ("What the scale setting costs: DeepWalk on BlogCatalog, validation fold (the "
                "classifier fit on the fit nodes; test nodes unread)",
                ["setting", "seed", "corpus_tokens", "train_s", "macro_f1", "micro_f1",
                 "n_eval", "load_before"], [], None),
    "sparkitem2vec": ("Spark ML Word2Vec Item2vec on local[2] (Parquet -> sessions -> vectors; "
                      "peak = summed RSS of the process tree)",
                      ["size", "users", "tokens", "vectors", "generate_s", "train_s", "fit_s",
                       "peak_tree_mb", "hr10_spark", "hr10_local", "hr10_popularity",
                       "overlap10_spark_local", "overlap10_local_seeds", "local_train_s",
                       "load_before"], ["train_s", "peak_tree_mb"], None),
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
        if task == "stages" and meta.get("settings"):
            proj = stages_projection(sub, meta["settings"])
            lines += [
                "Projected to 1M nodes / 10M edges (each stage's time by a power law from the "
                "largest size, exponent floored at 1; skip-gram = tokens x epochs x measured "
                "seconds per token). A projection from loaded runs, not a measurement:",
                "",
                _table(proj, list(proj.columns)),
            ]
        if task == "quality" and "macro_f1" in sub and sub["macro_f1"].notna().any():
            lines += [
                "Summary over seeds (change in Macro-F1 against the defaults, same seed):",
                "",
                _table(quality_summary(sub), list(quality_summary(sub).columns)),
            ]
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


def _mb(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.0f}"


def memory_report_lines(probe: dict, meta: dict) -> list[str]:
    """The tables of ``reports/scale/memory.md`` from ``recall.bench.walks.memory_probe``."""
    lines = [
        f"Graph: the walks benchmark's (networkx powerlaw_cluster_graph({meta['nodes']}, "
        f"{meta['m']}, 0.1), {meta['edges']:,} undirected weighted edges), "
        f"{meta['num_walks']} walks x {meta['walk_length']} per node, {meta['threads']} threads; "
        "skip-gram d 128, window 5, 1 epoch (DeepWalk). RSS = resident set (`/proc/self/status` "
        "VmRSS; the process peak is `ru_maxrss`). Resident memory does not depend on the "
        "machine's load (only times do), so these figures stand under load; seconds do not.",
        "",
        "## Imports, in sequence (one fresh interpreter)",
        "",
        "| import | RSS after MB | added MB | seconds | libraries it loaded |",
        "|---|---:|---:|---:|---|",
    ]
    for key, title in (("imports", None), ("imports_before", "Before (baseline checkout)")):
        rows = probe.get(key) or []
        if title and rows:
            lines += ["", f"{title}:", "", "| import | RSS after MB | added MB | seconds | "
                      "libraries it loaded |", "|---|---:|---:|---:|---|"]  # fmt: skip
        prev = None
        for r in rows:
            added = "" if prev is None else f"{r['rss_mb'] - prev:+.0f}"
            lines.append(
                f"| `{r['module']}` | {r['rss_mb']:.0f} | {added} | {r['seconds']:.2f} | "
                f"{', '.join(r['loaded'])} |"
            )
            prev = r["rss_mb"]
    lines += [
        "",
        "## Each import alone (a fresh interpreter each: its cost with everything it pulls in)",
        "",
        "| import | RSS MB | over bare Python MB | libraries loaded |",
        "|---|---:|---:|---|",
    ]
    for r in probe.get("isolated", []):
        if r["rss_mb"] is None:
            lines.append(f"| `{r['module']}` | | | {r['status']} |")
            continue
        lines.append(
            f"| `{r['module']}` | {r['rss_mb']:.0f} | {r['rss_mb'] - r['python_mb']:+.0f} | "
            f"{', '.join(r['loaded'])} |"
        )
    runs = probe.get("runs", [])
    lines += [
        "",
        "## Walks + skip-gram in one process, by the path the walks take to gensim",
        "",
        "`stream`: `DeepWalk(stream=True)`, walks produced in blocks and walked again for each "
        "pass gensim makes; `spill`: the first pass also written to a temporary `.npy` and read "
        "back; `matrix`: the whole int32 walk matrix held (`stream=False`); `corpus_file`: the "
        "matrix written as text for gensim's `corpus_file` mode; `stream+corpus_file`: blocks "
        "written to the text file, never held whole. `:cold-cache` runs with an empty numba "
        "cache (every kernel compiled by LLVM inside the process); the others load the kernels "
        "from numba's cache (warmed by a short run first). `:pandas` reads the edge list with "
        "pandas instead of `numpy.loadtxt`.",
        "",
        "| path | peak RSS MB | RSS after read + build MB | RSS before fit MB | fit s "
        "(walks + skip-gram) | of it skip-gram s | vectors | libraries loaded | status |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in runs:
        if r.get("status") != "ok":
            lines.append(f"| {r['path']} | | | | | | | | {r.get('status')} |")
            continue
        ph = {p["phase"].split(" (")[0]: p for p in r.get("phases", [])}
        read = next((p for k, p in ph.items() if k.startswith("read edge list")), None)
        lines.append(
            f"| {r['path']} | {r['peak_rss_mb']:.0f} | {_mb(read and read['end_rss_mb'])} | "
            f"{r['rss_before_walk_mb']:.0f} | {r['walk_s']:.1f} | {r['skipgram_s']:.1f} | "
            f"{r['vectors']:,} | {', '.join(r.get('modules', []))} | ok |"
        )
    for r in runs:
        if r.get("status") != "ok":
            continue
        lines += [
            "",
            f"### Phases: {r['path']} (peak {r['peak_rss_mb']:.0f} MB)",
            "",
            "| phase | seconds | RSS at start MB | sampled peak MB | RSS at end MB | VmHWM at "
            "end MB |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for p in r.get("phases", []):
            lines.append(
                f"| {p['phase']} | {p['seconds']:.1f} | {_mb(p['start_rss_mb'])} | "
                f"{_mb(p['peak_rss_mb'])} | {_mb(p['end_rss_mb'])} | {_mb(p.get('hwm_mb'))} |"
            )
    return lines


def write_memory_report(probe: dict, path: Path, meta: dict, run: Any = None) -> None:
    """``reports/scale/memory.md``: where the memory of walks + skip-gram goes (written
    atomically; ``run`` is the harness record, for the command, load and versions)."""
    from embeddings.io import atomic_write

    lines = ["# Where the memory of walks + skip-gram goes (issue 16)", ""]
    if run is not None:
        lines += [f"Command: `{run.command}`  ", f"Machine: {run.load_text()}.", ""]
    lines += memory_report_lines(probe, meta)
    if run is not None:
        lines += ["", *run.markdown()]
    path = Path(path)
    with atomic_write(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    with atomic_write(path.with_suffix(".json"), "w") as fh:
        import json

        fh.write(json.dumps({"meta": meta, **probe}, indent=1, default=str))
