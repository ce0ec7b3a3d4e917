"""The memory rows of the walks benchmark alone (issue 16): ours walks + skip-gram vs the leanest
peer's walks, ``python -m recall.bench.walks --memory-rows``.

At p = q = 1 (DeepWalk), interleaved rounds of: our walks + skip-gram in one fresh process
(``walks_children.py --child ours-sg``; the numba skip-gram, and with ``--memory-trainers
numba,stream`` gensim's too) and the leanest peer's walks alone (PecanPy ``PreCompFirstOrder``,
712 MB in ``reports/walks/results.md``, the smallest peak of any peer there). Peak resident
memory does not depend on the machine's load, so these rows may run beside other work (the load
is recorded; the seconds are not figures then). Writes ``memory.md`` and ``memory.csv`` (one
row per run, with each of our runs' phases; ``--memory-name`` changes the file name, e.g.
``memory_gensim`` for the gensim trainer's rows) into ``--out`` (default ``./reports/walks``),
beside, never over, the timing report ``results.md``.

Also here: :func:`memory_probe` (``--memory``), where that memory goes: RSS after each import,
then one process per path the walks can take to the skip-gram (:data:`MEMORY_PATHS`), written
to ``reports/scale/memory.md`` by ``recall.bench.scale_report.write_memory_report``.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recall.bench.walks_run import QUICK_SG, _run_child, _sg_args

__all__ = [
    "ISOLATED_IMPORTS",
    "MEMORY_PATHS",
    "MEMORY_ROWS",
    "check_memory_name",
    "memory_probe",
    "run_memory_rows",
    "memory_lines",
    "reference_peer",
    "write_memory_rows",
]

#: (tool, mode) of the memory rows: ``ours-sg`` modes are ``walks_children.SG_PATHS`` keys
MEMORY_ROWS = {
    "numba": ("ours-sg", "numba"),
    "stream": ("ours-sg", "stream"),
    "pecanpy": ("pecanpy", "PreCompFirstOrder"),
}


def check_memory_name(name: str) -> str:
    """``--memory-name``: a plain file name without suffix (letters, digits, ``_``, ``-``, ``.``
    not first), else ``ValueError`` naming it; returns it."""
    import re

    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*", name):
        raise ValueError(
            f"--memory-name must be a plain file name without suffix (letters, digits, _ - .), "
            f"got {name!r}"
        )
    return name


def run_memory_rows(
    run_child: Callable[..., dict],
    cfg: dict,
    edges: Path,
    threads: int,
    rounds: int,
    trainers: list[str],
    pecanpy: Path | None,
    sg_args: list[str],
    warm_cfg: dict,
    log: Any = None,
) -> list[dict]:
    """``rounds`` interleaved rounds of our walks + skip-gram (one row per mode in
    ``trainers``, keys of :data:`MEMORY_ROWS`) and of PecanPy's walks (``pecanpy``: its
    interpreter, None = not run); one dict per run (``walks_children`` ``RESULT`` + labels).
    ``run_child``: ``recall.bench.walks._run_child``; ``sg_args``: our children's skip-gram
    arguments; ``warm_cfg``: the short run that fills numba's cache first."""
    bad = [t for t in trainers if t not in MEMORY_ROWS or t == "pecanpy"]
    if bad or not trainers:
        raise ValueError(f"--memory-trainers: choose among numba, stream; got {trainers}")
    variants = [MEMORY_ROWS[t] for t in trainers] + [MEMORY_ROWS["pecanpy"]]
    py = Path(sys.executable)
    for _, mode in variants[:-1]:  # fills numba's cache: compilation is not in any peak
        run_child(py, "ours-sg", mode, edges, 1.0, 1.0, warm_cfg, 1, sg_args)
    rows = []
    for rnd in range(rounds):
        for tool, mode in variants:
            row = {"round": rnd, "tool": tool, "mode": mode, "p": 1.0, "q": 1.0, **cfg,
                   "threads": threads}  # fmt: skip
            python = py if tool == "ours-sg" else pecanpy
            if python is None:
                row["status"] = "not run: no PecanPy interpreter (see recall/bench/walks.py)"
            else:
                extra = sg_args if tool == "ours-sg" else None
                row.update(run_child(python, tool, mode, edges, 1.0, 1.0, cfg, threads, extra))
            if log is not None:
                log.info("round %d %s %s: %s MB", rnd, tool, mode, row.get("peak_rss_mb"))
            rows.append(row)
    return rows


def _median_row(rows: list[dict]) -> dict:
    """The run whose peak is the median of the group (its phases are the ones shown)."""
    ok = sorted((r for r in rows if r["status"] == "ok"), key=lambda r: r["peak_rss_mb"])
    return ok[(len(ok) - 1) // 2]


def reference_peer(summary_csv: Path) -> tuple[str, float] | None:
    """The leanest peer's peak for the walks alone at p = q = 1 in a committed walks report
    (``summary.csv`` of ``python -m recall.bench.walks``): ``(label, MB)``, or None."""
    import csv

    if not Path(summary_csv).is_file():
        return None
    with open(summary_csv, encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh)
                if r.get("tool") in ("pecanpy", "grape") and r.get("status") == "ok"
                and float(r["p"]) == 1.0 and float(r["q"]) == 1.0]  # fmt: skip
    if not rows:
        return None
    lean = min(rows, key=lambda r: float(r["peak_rss_mb"]))
    return lean["label"], float(lean["peak_rss_mb"])


def memory_lines(
    rows: list[dict],
    goal: float,
    reference: tuple[str, float] | None = None,
    label: Callable[[str, str], str] = lambda tool, mode: f"{tool} {mode}",
) -> list[str]:
    """The report's tables: peak RSS per tool (median and min-max of the rounds), the ratio to
    the peer (run here, else ``reference``: a committed measurement) and the goal, then the
    phases of the median run of each of ours (``label(tool, mode)``: a row's name)."""
    _label = label
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["tool"], r["mode"]), []).append(r)
    peer = [r for r in groups.get(MEMORY_ROWS["pecanpy"], []) if r["status"] == "ok"]
    peer_mb = statistics.median(r["peak_rss_mb"] for r in peer) if peer else None
    if peer_mb is None and reference is not None:
        peer_mb = reference[1]
    lines = [
        "| tool | rounds | peak RSS MB, median (min-max) | / leanest peer's walks | goal | met "
        "| walks + skip-gram s (load-dependent) | libraries loaded |",
        "|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for (tool, mode), rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        if not ok:
            lines.append(f"| {_label(tool, mode)} | 0 | {rs[0]['status']} | | | | | |")
            continue
        peaks = [r["peak_rss_mb"] for r in ok]
        med = statistics.median(peaks)
        ratio = "" if peer_mb is None or tool != "ours-sg" else f"{med / peer_mb:.2f}"
        met = "" if not ratio else ("**met**" if med / peer_mb <= goal else "**not met**")
        secs = statistics.median(r["walk_s"] for r in ok)
        lines.append(
            f"| {_label(tool, mode)} | {len(ok)} | {med:.0f} ({min(peaks):.0f}-{max(peaks):.0f}) "
            f"| {ratio} | {'<= ' + str(goal) if ratio else ''} | {met} | {secs:.1f} | "
            f"{', '.join(ok[0].get('modules', []))} |"
        )
    for (tool, mode), rs in groups.items():
        if tool != "ours-sg" or not any(r["status"] == "ok" for r in rs):
            continue
        r = _median_row(rs)
        exact = "exact (`VmHWM` reset at each phase start)" if r.get("peak_exact") else "sampled"
        lines += ["", f"### Phases: {_label(tool, mode)}, the median run (round {r['round']}; "
                  f"peak per phase {exact})", "",
                  "| phase | seconds | RSS at start MB | peak MB | RSS at end MB |",
                  "|---|---:|---:|---:|---:|"]  # fmt: skip
        for ph in r.get("phases", []):
            lines.append(
                f"| {ph['phase']} | {ph['seconds']:.1f} | {ph['start_rss_mb']:.0f} | "
                f"{ph['peak_rss_mb']:.0f} | {ph['end_rss_mb']:.0f} |"
            )
    return lines


def write_memory_rows(
    rows: list[dict],
    meta: dict,
    run: Any,
    out: Path,
    goal: float,
    label: Callable[[str, str], str] = lambda tool, mode: f"{tool} {mode}",
    name: str = "memory",
) -> Path:
    """``out/NAME.md`` and ``out/NAME.csv`` (phases as JSON in a column; ``name`` a plain file
    name without suffix, default ``memory``); returns the .md."""
    import csv
    import io

    from embeddings.io import atomic_write

    check_memory_name(name)
    out.mkdir(parents=True, exist_ok=True)
    flat = [{k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in r.items()}
            for r in rows]  # fmt: skip
    keys = sorted({k for r in flat for k in r})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(flat)
    with atomic_write(out / f"{name}.csv", "w") as fh:
        fh.write(buf.getvalue())
    reference = None if meta["pecanpy"] != "not run" else reference_peer(out / "summary.csv")
    peer_text = (
        f"PecanPy: {meta['pecanpy']}."
        if reference is None
        else f"PecanPy not run here: the ratio uses the leanest peer of the committed timed "
        f"run (`summary.csv` beside this file), {reference[0]}, {reference[1]:.0f} MB."
    )
    reduced = (
        []
        if meta["num_walks"] >= meta.get("goal_walks", meta["num_walks"])
        else [
            f"> **Reduced run**: {meta['num_walks']} walk(s) per node instead of the goal's "
            f"{meta['goal_walks']} (`--num-walks`), to finish under load. The walks are "
            "streamed (walked again for each pass, one block held), so what is held does not "
            "grow with the number of walks; the goal's own figure is the full run.",
            "",
        ]
    )
    lines = [
        "# Memory: our walks + skip-gram vs the leanest peer's walks alone (issue 16)",
        "",
        f"Command: `{run.command}`  ",
        f"Machine: {run.load_text()}.",
        "",
        f"Graph: networkx powerlaw_cluster_graph({meta['nodes']}, {meta['m']}, 0.1, seed="
        f"{meta['seed']}), {meta['edges']:,} undirected weighted edges, {meta['num_walks']} "
        f"walks x {meta['walk_length']} per node, {meta['threads']} threads; skip-gram d "
        f"{meta['dim']}, window {meta['window']}, 1 epoch (DeepWalk, walks streamed in blocks "
        "into the trainer, never held whole). Each run is a fresh process; peak RSS = the "
        "child's maximum resident set (ours: the largest of its exact per-phase peaks); "
        f"{meta['rounds']} interleaved rounds, median (min-max). Resident memory does not depend "
        "on the load, so these figures stand under load; the seconds do not (the timed "
        "comparison is `reports/walks/results.md`). Goal: our peak <= "
        f"{goal} x the leanest peer's peak for its walks alone. {peer_text}",
        "",
        *reduced,
        *memory_lines(rows, goal, reference, label),
        "",
        *run.markdown(),
    ]
    path = out / f"{name}.md"
    with atomic_write(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


#: ``--memory`` runs: how the walks reach gensim (``walks_children.SG_PATHS``), plus variants
#: ``:cold-cache`` (an empty numba cache: every kernel compiled by LLVM in the process) and
#: ``:pandas`` (the edge list read by pandas instead of numpy)
MEMORY_PATHS = (
    "numba",
    "stream",
    "matrix",
    "spill",
    "corpus_file",
    "stream+corpus_file",
    "stream:cold-cache",
    "stream:pandas",
)
#: ``--memory``: each imported alone in a fresh interpreter (its own cost, shared parts included)
ISOLATED_IMPORTS = (
    "numpy",
    "numba",
    "scipy.sparse",
    "gensim.models.word2vec",
    "pandas",
    "networkx",
    "sklearn.linear_model",
    "matplotlib.figure",
    "embeddings",
    "embeddings.graph",
    "embeddings.walks",
    "embeddings.trainers",
)


def memory_probe(
    cfg: dict, edges: Path, threads: int, paths: list[str], baseline: Path | None = None
) -> dict:
    """Where the memory of walks + skip-gram goes: RSS after each import (in sequence, and each
    alone), then one fresh process per path in ``paths`` (``MEMORY_PATHS``) with its RSS per
    phase. Resident memory does not depend on the machine's load (only times do).

    ``baseline``: another checkout (e.g. ``git archive`` of the commit before a change); its
    import sequence and its ``stream`` and ``matrix`` runs are added, labelled ``before``."""
    import logging
    import tempfile

    log = logging.getLogger("recall.bench.walks")
    py = Path(sys.executable)
    bad = [p for p in paths if p not in MEMORY_PATHS]
    if bad:
        raise ValueError(f"unknown --memory-paths {bad}; choose among {list(MEMORY_PATHS)}")
    out: dict = {"imports": [], "isolated": [], "runs": []}
    seq = _run_child(py, "imports", "-", None, 1.0, 1.0, cfg, threads)
    out["imports"] = seq.get("rows", [])
    if baseline is not None:
        old = _run_child(py, "imports", "-", None, 1.0, 1.0, cfg, threads, root=baseline)
        out["imports_before"] = old.get("rows", [])
    for mod in ISOLATED_IMPORTS:
        r = _run_child(py, "imports", mod, None, 1.0, 1.0, cfg, threads)
        rows = r.get("rows", [])
        out["isolated"].append(
            {"module": mod, "status": r["status"], "rss_mb": rows[-1]["rss_mb"] if rows else None,
             "python_mb": rows[0]["rss_mb"] if rows else None,
             "seconds": rows[-1]["seconds"] if rows else None,
             "loaded": rows[-1]["loaded"] if rows else []}
        )  # fmt: skip
    for path in paths:
        mode, _, variant = path.partition(":")
        log.info("memory: walks + skip-gram, %s ...", path)
        with tempfile.TemporaryDirectory(prefix="embrecall-numba-") as cache:
            env = {"NUMBA_CACHE_DIR": cache} if variant == "cold-cache" else None
            if env is None:  # warm the numba cache first, so that the run below loads it
                _run_child(py, "ours-sg", mode, edges, 1.0, 1.0, QUICK_SG, 1, _sg_args())
            r = _run_child(
                py, "ours-sg", mode, edges, 1.0, 1.0, cfg, threads,
                _sg_args("pandas" if variant == "pandas" else "numpy"), env,
            )  # fmt: skip
        r["path"] = path
        out["runs"].append(r)
        if r["status"] == "ok":
            log.info("  peak %.0f MB, %.1f s", r["peak_rss_mb"], r["walk_s"])
        else:
            log.info("  %s", r["status"])
    for mode in ("stream", "matrix") if baseline is not None else ():
        log.info("memory: walks + skip-gram, %s, before (%s) ...", mode, baseline)
        # a short run first fills the baseline's numba cache
        _run_child(py, "ours-sg", mode, edges, 1.0, 1.0, QUICK_SG, 1, _sg_args(), None,
                   baseline)  # fmt: skip
        r = _run_child(py, "ours-sg", mode, edges, 1.0, 1.0, cfg, threads, _sg_args(), None,
                       baseline)  # fmt: skip
        r["path"] = f"{mode} (before)"
        out["runs"].append(r)
    return out
