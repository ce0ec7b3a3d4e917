"""Walk-engine benchmark: ``embeddings.walks`` vs PecanPy and GRAPE, each in its best mode.

    python -m recall.bench.walks [--quick] [--out reports/walks] [--threads 2] [--rounds 3]

Builds a seeded weighted graph (networkx ``powerlaw_cluster_graph(n, m, 0.1)``, weights uniform in
[0.1, 1); 100,000 nodes / ~1M edges by default), writes it once as a tab-separated edge list
(cached outside the repository) and, for node2vec (p, q) = (1, 1) and (0.5, 2), runs every tool in
a fresh subprocess of its own (peak resident memory = that child's ``ru_maxrss``), in interleaved
rounds (ours, peer 1, peer 2, ...; ``--rounds`` >= 3), wall clock the figure, the median with its
min-max reported.

Peers, in their best documented configuration:

- **PecanPy 2.0.9**: ``PreCompFirstOrder`` at p = q = 1 (its README's advice for first-order
  walks); ``SparseOTF`` and ``PreComp`` at p != q. Walk time = transition pre-computation + walks
  (both are part of producing walks), after a JIT warm-up of the same mode on a 3-node graph in the
  same child (compilation reported apart, never in the time). Its ``walk_length`` counts steps,
  so it is given ``walk_length - 1``; the int matrix is timed without the conversion to str.
- **GRAPE** (pip ``grape``, the Rust ensmallen engine): ``Graph.complete_walks`` with
  ``return_weight = 1/p``, ``explore_weight = 1/q``, ``iterations = num_walks``; exact walks with
  ``max_neighbours=None`` (``grape exact``) and at its default ``max_neighbours=100``, which samples
  neighbours and so approximates the walk (``grape approx``, labelled so). ``RAYON_NUM_THREADS``
  = ``--threads``.

PecanPy needs numpy < 2 and GRAPE pins its own stack, so each runs in a virtualenv of its own,
found through ``--pecanpy-python`` / ``$EMBRECALL_PECANPY_PYTHON`` / ``/tmp/pecanpy-venv`` and
``--grape-python`` / ``$EMBRECALL_GRAPE_PYTHON`` / ``/tmp/grape-venv``; created once with::

    python3 -m venv /tmp/pecanpy-venv && /tmp/pecanpy-venv/bin/pip install "pecanpy==2.0.9" "numpy<2"
    python3 -m venv /tmp/grape-venv && /tmp/grape-venv/bin/pip install grape

A peer whose interpreter is not found is listed as not run (nothing is installed on the fly).

Memory (issue 16): at p = q = 1 a row "ours walks + skip-gram" runs DeepWalk end to end in one
fresh process (edge list read by numpy, walks streamed in blocks into gensim's skip-gram, d 128,
window 5, 1 epoch, same threads) and its peak RSS is set against the leanest peer's peak for the
walks alone (goal <= 0.5x). Peak RSS does not depend on the load, so it runs ``--sg-rounds`` (1)
times, after an unrecorded short run that fills numba's cache. ``--memory`` runs instead the
probe of where that memory goes (RSS after each import, then one process per path the walks can
take to the skip-gram, RSS per phase; ``--baseline DIR`` adds another checkout's figures) and
writes ``reports/scale/memory.md``. ``--memory-rows`` runs only the memory rows, ours and
PecanPy PreCompFirstOrder in ``--rounds`` interleaved rounds, into ``OUT/memory.md`` and
``OUT/memory.csv`` (``recall.bench.walks_memory``), never over ``results.md``.

Each run is ``walks_children.py`` in a fresh interpreter (a script inside the peers'
environments, so its module-level imports are standard library only); this module builds the
graph, finds the interpreters, interleaves the rounds and writes the report.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(os.environ.get("EMBRECALL_CACHE", Path.home() / ".cache" / "embrecall"))
REPO = Path(__file__).resolve().parents[2]
SETTINGS = [(1.0, 1.0), (0.5, 2.0)]
FULL = dict(nodes=100_000, m=10, num_walks=10, walk_length=80)
QUICK = dict(nodes=2_000, m=3, num_walks=2, walk_length=20)
#: our children (PYTHONPATH = this checkout): the walks alone, walks + skip-gram, the import probe
OURS = ("ours", "ours-sg", "imports")
#: the skip-gram of the "walks + skip-gram" row (issue 16): d 128, window 5, 1 epoch
SG = dict(dim=128, window=5)
# (tool, mode) per setting; ours first so that every round starts from the reference
VARIANTS = {
    "first": [
        ("ours", ""),
        ("ours-sg", "stream"),
        ("ours-sg", "numba"),
        ("pecanpy", "PreCompFirstOrder"),
        ("grape", "exact"),
        ("grape", "approx"),
    ],
    "second": [
        ("ours", ""),
        ("pecanpy", "SparseOTF"),
        ("pecanpy", "PreComp"),
        ("grape", "exact"),
        ("grape", "approx"),
    ],
}


def _edge_file(nodes: int, m: int, seed: int) -> Path:
    """Seeded powerlaw-cluster graph as ``u<TAB>v<TAB>w`` lines (built once, cached)."""
    import networkx as nx
    import numpy as np

    from embeddings.io import atomic_write

    path = CACHE / "bench-walks" / f"plc_n{nodes}_m{m}_s{seed}.tsv"
    if path.exists():
        return path
    g = nx.powerlaw_cluster_graph(nodes, m, 0.1, seed=seed)
    edges = np.asarray(g.edges(), dtype=np.int64)
    weights = np.random.default_rng(seed).uniform(0.1, 1.0, edges.shape[0])
    with atomic_write(path, "w") as fh:
        np.savetxt(fh, np.column_stack([edges, weights]), fmt=["%d", "%d", "%.6f"], delimiter="\t")
    return path


def _find_python(tool: str, arg: str | None) -> tuple[Path | None, str]:
    """Interpreter that imports the peer (argument, environment variable, /tmp venv) or why not."""
    probe = {
        "pecanpy": "import pecanpy.pecanpy, numba_progress",
        "grape": "import grape",
    }[tool]
    env_var = f"EMBRECALL_{tool.upper()}_PYTHON"
    cands = [arg, os.environ.get(env_var), f"/tmp/{tool}-venv/bin/python"]
    if tool == "pecanpy":
        cands.append(str(CACHE / "pecanpy-venv" / "bin" / "python"))  # the former location
    for cand in cands:
        if cand and Path(cand).exists():
            ok = subprocess.run([cand, "-c", probe], capture_output=True).returncode == 0
            if ok:
                return Path(cand), f"{cand}"
    return None, f"no interpreter with {tool} (--{tool}-python, ${env_var} or /tmp/{tool}-venv)"


def _run_child(
    python: Path,
    tool: str,
    mode: str,
    edges: Path | None,
    p: float,
    q: float,
    cfg: dict,
    threads: int,
    extra: list[str] | None = None,
    env_extra: dict[str, str] | None = None,
    root: Path = REPO,
) -> dict:
    """One fresh child (``walks_children.py`` run as a script); its ``RESULT`` dict, or a
    ``status`` saying why it failed."""
    child = Path(__file__).resolve().with_name("walks_children.py")
    cmd = [str(python), str(child), "--child", tool, "--mode", mode or "-"]
    if edges is not None:
        cmd += ["--edges", str(edges)]
    cmd += ["--p", str(p), "--q", str(q), "--threads", str(threads)]
    cmd += ["--num-walks", str(cfg["num_walks"]), "--walk-length", str(cfg["walk_length"])]
    cmd += extra or []
    env = dict(
        os.environ,
        NUMBA_NUM_THREADS=str(threads),
        RAYON_NUM_THREADS=str(threads),
        OMP_NUM_THREADS=str(threads),
        PYTHONHASHSEED="0",
        **(env_extra or {}),
    )
    if tool in OURS:
        env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    else:
        env.pop("PYTHONPATH", None)  # the peers' own environments only
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"status": f"failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"}
    out = json.loads(lines[-1][len("RESULT ") :])
    out["process_s"] = time.perf_counter() - t0
    out["status"] = "ok"
    return out


def _sg_args(reader: str = "numpy") -> list[str]:
    return ["--dim", str(SG["dim"]), "--window", str(SG["window"]), "--reader", reader]


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


#: the warm-up run of ``memory_probe`` (fills numba's cache on the same graph, in seconds)
QUICK_SG = dict(num_walks=1, walk_length=5)


def _label(tool: str, mode: str) -> str:
    if tool == "ours":
        return "ours (embeddings.walks)"
    if tool == "ours-sg":
        return (
            f"ours walks + skip-gram ({mode or 'stream'}; d {SG['dim']}, "
            f"window {SG['window']}, 1 epoch)"
        )
    if tool == "grape":
        return (
            "GRAPE exact (max_neighbours=None)"
            if mode == "exact"
            else ("GRAPE approx (max_neighbours=100, default)")
        )
    return f"PecanPy {mode}"


def summarise(rows: list[dict]) -> list[dict]:
    """Per (p, q, tool, mode): median walk seconds with min-max, peak RSS, ratio vs ours."""
    out = []
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["p"], r["q"], r["tool"], r["mode"]), []).append(r)
    for (p, q, tool, mode), rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        s = {
            "p": p,
            "q": q,
            "tool": tool,
            "mode": mode,
            "label": _label(tool, mode),
            "rounds": len(ok),
            "status": "ok" if ok else rs[0]["status"],
        }
        if ok:
            w = [r["walk_s"] for r in ok]
            med = statistics.median(w)
            s.update(
                walk_s=med,
                walk_s_min=min(w),
                walk_s_max=max(w),
                spread=(max(w) - min(w)) / med if med > 0 else 0.0,
                walk_cpu_s=statistics.median(r["walk_cpu_s"] for r in ok),
                prep_s=statistics.median(r["prep_s"] for r in ok),
                walk_s_with_compile=statistics.median(
                    r.get("walk_s_with_compile", r["walk_s"]) for r in ok
                ),
                warmup_s=statistics.median(r["warmup_s"] for r in ok),
                load_s=statistics.median(r["load_s"] for r in ok),
                walks=ok[0]["walks"],
                walks_per_s=ok[0]["walks"] / med,
                peak_rss_mb=max(r["peak_rss_mb"] for r in ok),
                rss_before_walk_mb=statistics.median(r["rss_before_walk_mb"] for r in ok),
            )
            s["flagged"] = len(ok) > 1 and s["spread"] > 0.2
        out.append(s)
    for s in out:
        ref = next(
            (o for o in out if o["p"] == s["p"] and o["q"] == s["q"] and o["tool"] == "ours"), None
        )
        if ref and "walk_s" in ref and "walk_s" in s and s["tool"] != "ours-sg":
            s["speedup_of_ours"] = s["walk_s"] / ref["walk_s"]
            s["memory_ours_over_this"] = ref["peak_rss_mb"] / s["peak_rss_mb"]
    return out


#: issue 16: peak of our walks + skip-gram <= this x the leanest peer's peak for its walks alone
MEMORY_GOAL = 0.5


def memory_goal(summary: list[dict]) -> list[dict]:
    """Per (p, q) with a walks + skip-gram row: its peak RSS over the leanest peer's (the
    smallest peak among the peers' rows that ran, walks alone), and whether the goal is met."""
    out = []
    for s in summary:
        if s["tool"] != "ours-sg" or s["status"] != "ok":
            continue
        peers = [
            o for o in summary
            if o["p"] == s["p"] and o["q"] == s["q"] and o["tool"] not in OURS
            and o["status"] == "ok"
        ]  # fmt: skip
        walks = next(
            (o for o in summary if (o["p"], o["q"], o["tool"]) == (s["p"], s["q"], "ours")), None
        )
        row = {"p": s["p"], "q": s["q"], "label": s["label"], "peak_rss_mb": s["peak_rss_mb"],
               "fit_s": s["walk_s"], "ours_walks_peak_mb": walks and walks.get("peak_rss_mb")}  # fmt: skip
        if peers:
            lean = min(peers, key=lambda o: o["peak_rss_mb"])
            ratio = s["peak_rss_mb"] / lean["peak_rss_mb"]
            row.update(leanest=lean["label"], leanest_peak_mb=lean["peak_rss_mb"], ratio=ratio,
                       met=ratio <= MEMORY_GOAL)  # fmt: skip
        out.append(row)
    return out


def _memory_goal_lines(summary: list[dict], rows: list[dict]) -> list[str]:
    """The issue-16 table: our walks + skip-gram in one process vs the peers' walks alone."""
    goal = memory_goal(summary)
    sg_rows = [r for r in rows if r["tool"] == "ours-sg" and r["status"] == "ok"]
    failed = [s for s in summary if s["tool"] == "ours-sg" and s["status"] != "ok"]
    if not goal and not failed:
        return []
    lines = [
        "",
        "## Memory: our walks + skip-gram vs the leanest peer's walks alone (issue 16)",
        "",
        f"One fresh process reads the edge list, walks and trains the skip-gram (DeepWalk, "
        f"`stream=True`: walks produced in blocks and fed to the skip-gram trainer, never held "
        f"whole; gensim, or embeddings.sgns in the `numba` row; "
        f"d {SG['dim']}, window {SG['window']}, 1 epoch, same threads). Its peak RSS is "
        f"compared with the smallest peak of a peer producing the walks alone; goal "
        f"<= {MEMORY_GOAL}x. Resident memory does not depend on the load, so this row runs in "
        f"{len(sg_rows)} round(s) (`--sg-rounds`); its seconds are walks + skip-gram, not a "
        f"walk time.",
        "",
        "| p | q | ours (one process) | walks + skip-gram s | peak RSS MB | ours walks alone MB "
        "| leanest peer (walks alone) | its peak MB | ratio | goal | met |",
        "|---|---|---|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for g in goal:
        walks_mb = g["ours_walks_peak_mb"]
        lines.append(
            f"| {g['p']:g} | {g['q']:g} | {g['label']} | {g['fit_s']:.1f} | "
            f"{g['peak_rss_mb']:.0f} | {'' if walks_mb is None else f'{walks_mb:.0f}'} | "
            f"{g.get('leanest', 'no peer ran')} | "
            + (
                f"{g['leanest_peak_mb']:.0f} | {g['ratio']:.2f} | <= {MEMORY_GOAL} | "
                f"{'**met**' if g['met'] else '**not met**'} |"
                if "ratio" in g
                else " | | | |"
            )
        )
    for s in failed:
        lines.append(f"| {s['p']:g} | {s['q']:g} | {s['label']} | | | | | | | | {s['status']} |")
    for r in sg_rows[:1]:
        lines += ["", "Where its memory goes (first round; RSS sampled every 10 ms):", ""]
        lines += ["| phase | seconds | RSS at start MB | peak MB | RSS at end MB |",
                  "|---|---:|---:|---:|---:|"]  # fmt: skip
        for ph in r.get("phases", []):
            lines.append(
                f"| {ph['phase']} | {ph['seconds']:.1f} | {ph['start_rss_mb']:.0f} | "
                f"{ph['peak_rss_mb']:.0f} | {ph['end_rss_mb']:.0f} |"
            )
        lines.append(f"\nLibraries loaded: {', '.join(r.get('modules', []))}.")
    return lines


def _write_reports(rows: list[dict], summary: list[dict], meta: dict, run, out: Path) -> None:
    import pandas as pd

    from embeddings.io import atomic_write
    from recall.bench.harness import fmt_range

    out.mkdir(parents=True, exist_ok=True)
    flat = [
        {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in r.items()} for r in rows
    ]
    with atomic_write(out / "results.csv", "w") as fh:
        pd.DataFrame(flat).to_csv(fh, index=False)
    with atomic_write(out / "summary.csv", "w") as fh:
        pd.DataFrame(summary).to_csv(fh, index=False)
    lines = run.header("Walk engine vs PecanPy and GRAPE (each in its best mode)")
    lines += [
        f"Graph: networkx powerlaw_cluster_graph({meta['nodes']}, {meta['m']}, 0.1, "
        f"seed={meta['seed']}), "
        f"{meta['edges']:,} undirected weighted edges (uniform [0.1, 1)), "
        f"{meta['num_walks']} walks x {meta['walk_length']} nodes per node; {meta['threads']} "
        f"threads for every tool; {meta['rounds']} interleaved rounds, each run a fresh process.",
        f"PecanPy: {meta['pecanpy_status']}. GRAPE: {meta['grape_status']}."
        + (f" Left out (--skip): {meta['skip']}." if meta.get("skip") else ""),
        "",
        "Walk s = wall seconds producing the walks (PecanPy: transition pre-computation + walks, "
        "after a JIT warm-up of the same mode on a 3-node graph; ours: alias tables + walks, after "
        "a one-walk warm-up), median (min-max) of the rounds, ⚠ = spread > 20%. PecanPy compiles "
        "its pre-computation kernel inside every call (it is defined in the method): its 3-node "
        "call's time is taken as the compile estimate and removed from `prep s` and `walk s`; "
        "`with compile` keeps it (what a user waits). `ours is Nx faster` "
        "= this tool's walk s / ours. Peak RSS = the child process's maximum resident set (max "
        "over rounds). Loading the edge list and compilation are listed apart.",
        "",
        "| p | q | tool | walk s (min-max) | with compile | walk CPU s | prep s | ours is Nx faster "
        "| peak RSS MB | memory ours / this | load s | warm-up s | status |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in summary:
        if s["tool"] == "ours-sg":
            continue  # its own table below: walks + skip-gram is not a walk time
        if s["status"] == "ok":
            lines.append(
                f"| {s['p']:g} | {s['q']:g} | {s['label']} | "
                f"{fmt_range(s['walk_s'], s['walk_s_min'], s['walk_s_max'], 2, s['flagged'])} | "
                f"{s['walk_s_with_compile']:.2f} | {s['walk_cpu_s']:.2f} | {s['prep_s']:.2f} | {s.get('speedup_of_ours', float('nan')):.2f} | "
                f"{s['peak_rss_mb']:.0f} | {s.get('memory_ours_over_this', float('nan')):.2f} | "
                f"{s['load_s']:.1f} | {s['warmup_s']:.1f} | ok |"
            )
        else:
            lines.append(
                f"| {s['p']:g} | {s['q']:g} | {s['label']} | | | | | | | | | | {s['status']} |"
            )
    lines += _memory_goal_lines(summary, rows)
    lines += ["", *run.markdown()]
    lines += [f"- peers: {meta['peer_versions']}", ""]
    with atomic_write(out / "results.md", "w") as fh:
        fh.write("\n".join(lines) + "\n")
    (out / "run.json").write_text(run.to_json(), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """The command line: interleaved rounds of every tool, then the report; returns 0."""
    from recall.bench.harness import bench_parser

    ap = bench_parser(
        "walks", __doc__.split("\n")[0], quick_help="small graph (seconds per run)", threads=None
    )
    ap.add_argument(
        "--threads", type=int, default=None, help="threads per tool (default 2; quick 1)"
    )
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (>= 3)")
    ap.add_argument(
        "--nodes", type=int, default=None, help="graph size (default 100,000; quick 2,000)"
    )
    ap.add_argument("--pecanpy-python", default=None, help="interpreter with pecanpy 2.0.9")
    ap.add_argument("--grape-python", default=None, help="interpreter with grape")
    ap.add_argument("--no-peers", action="store_true", help="ours only")
    ap.add_argument(
        "--skip",
        default="",
        help="comma list of tool:mode to leave out, e.g. pecanpy:SparseOTF (said in the report)",
    )
    ap.add_argument(
        "--peers", action="store_true", help="with --quick: run the peers too (their JIT is slow)"
    )
    ap.add_argument(
        "--sg-rounds",
        type=int,
        default=1,
        help="rounds of the walks + skip-gram row (a memory figure: 1 is enough; 0 = none)",
    )
    ap.add_argument(
        "--memory",
        action="store_true",
        help="instead: where the memory goes (imports, then walks + skip-gram by each path the "
        "walks can take to gensim) -> --memory-out",
    )
    ap.add_argument("--memory-out", type=Path, default=REPO / "reports" / "scale" / "memory.md")
    ap.add_argument(
        "--baseline", type=Path, default=None, help="with --memory: a checkout to compare with"
    )
    ap.add_argument(
        "--memory-rows",
        action="store_true",
        help="instead: only the issue-16 memory rows (ours walks + skip-gram, PecanPy "
        "PreCompFirstOrder), --rounds interleaved rounds -> OUT/memory.md, OUT/memory.csv "
        "(recall.bench.walks_memory)",
    )
    ap.add_argument(
        "--memory-trainers",
        default="numba",
        help="with --memory-rows: our rows, comma list of numba, stream (gensim)",
    )
    ap.add_argument(
        "--memory-paths",
        default=",".join(MEMORY_PATHS),
        help=f"with --memory: comma list of {', '.join(MEMORY_PATHS)}",
    )
    ap.add_argument(
        "--num-walks",
        type=int,
        default=None,
        help="walks per node (default 10; quick 2): fewer only to measure memory under load, "
        "said in the report",
    )
    args = ap.parse_args(argv)

    import logging

    from recall.bench.harness import default_out, start_run

    log = logging.getLogger("recall.bench.walks")
    if args.rounds < 3:
        raise ValueError(f"--rounds must be >= 3 (the harness's rule), got {args.rounds}")
    for opt, val in (("--num-walks", args.num_walks), ("--nodes", args.nodes)):
        if val is not None and val < 1:
            raise ValueError(f"{opt} must be >= 1, got {val}")
    run = start_run("walks", args, argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.nodes is not None:
        cfg["nodes"] = args.nodes
    if args.num_walks is not None:
        cfg["num_walks"] = args.num_walks
    threads = args.threads or (1 if args.quick else 2)
    out = default_out("walks", args.quick, args.out)
    edges = _edge_file(cfg["nodes"], cfg["m"], seed=args.seed)
    n_edges = sum(1 for _ in open(edges))
    log.info("graph %s: %d edges", edges, n_edges)
    pythons: dict[str, tuple[Path | None, str]] = {
        "ours": (Path(sys.executable), "this interpreter"),
        "ours-sg": (Path(sys.executable), "this interpreter"),
    }
    if args.memory_rows:
        from recall.bench.walks_memory import run_memory_rows, write_memory_rows

        pecanpy = None if args.no_peers else _find_python("pecanpy", args.pecanpy_python)[0]
        rows = run_memory_rows(
            _run_child, {**cfg, "edges": n_edges}, edges, threads, args.rounds,
            [t for t in args.memory_trainers.split(",") if t], pecanpy, _sg_args(), QUICK_SG, log,
        )  # fmt: skip
        run.finish()
        meta = {**cfg, **SG, "edges": n_edges, "threads": threads, "rounds": args.rounds,
                "seed": args.seed, "pecanpy": pecanpy or "not run",
                "goal_walks": FULL["num_walks"]}  # fmt: skip
        log.info("wrote %s", write_memory_rows(rows, meta, run, out, MEMORY_GOAL, _label))
        return 0
    if args.memory:
        from recall.bench.scale_report import write_memory_report

        probe = memory_probe(cfg, edges, threads, args.memory_paths.split(","), args.baseline)
        run.finish()
        write_memory_report(
            probe, args.memory_out, {**cfg, "edges": n_edges, "threads": threads}, run
        )
        log.info("wrote %s", args.memory_out)
        return 0
    for tool, arg in (("pecanpy", args.pecanpy_python), ("grape", args.grape_python)):
        if args.no_peers or (args.quick and not args.peers):
            why = "skipped (--no-peers)" if args.no_peers else "skipped in --quick (add --peers)"
            pythons[tool] = (None, why)
        else:
            pythons[tool] = _find_python(tool, arg)
        log.info("%s: %s", tool, pythons[tool][1])

    rows = []
    peer_versions: dict[str, str] = {}
    if args.sg_rounds > 0:  # fills numba's cache (the vocabulary scan too): not in the row's peak
        _run_child(Path(sys.executable), "ours-sg", "stream", edges, 1.0, 1.0, QUICK_SG, 1,
                   _sg_args())  # fmt: skip
    for p, q in SETTINGS:
        skip = {v for v in args.skip.split(",") if v}
        variants = [
            v
            for v in VARIANTS["first" if p == q == 1.0 else "second"]
            if f"{v[0]}:{v[1]}" not in skip
        ]
        for rnd in range(args.rounds):
            for tool, mode in variants:
                if tool == "ours-sg" and rnd >= args.sg_rounds:
                    continue
                python, status = pythons[tool]
                row = {
                    "round": rnd,
                    "tool": tool,
                    "mode": mode,
                    "p": p,
                    "q": q,
                    **cfg,
                    "edges": n_edges,
                    "threads": threads,
                }
                if python is None:
                    row["status"] = f"not run: {status}"
                else:
                    log.info("round %d: %s p=%g q=%g ...", rnd, _label(tool, mode), p, q)
                    extra = _sg_args() if tool == "ours-sg" else None
                    row.update(_run_child(python, tool, mode, edges, p, q, cfg, threads, extra))
                if row["status"] == "ok":
                    for k, v in row.pop("versions", {}).items():
                        row[f"{k}_version"] = v
                        if tool not in OURS:
                            peer_versions[f"{tool} env {k}"] = v
                    what = "walks + skip-gram" if tool == "ours-sg" else "walking"
                    log.info("  %.2f s %s, peak %.0f MB", row["walk_s"], what, row["peak_rss_mb"])
                else:
                    log.info("  %s", row["status"])
                rows.append(row)
    summary = summarise(rows)
    run.finish()
    meta = {
        **cfg,
        "edges": n_edges,
        "threads": threads,
        "rounds": args.rounds,
        "seed": args.seed,
        "skip": args.skip,
        "pecanpy_status": pythons["pecanpy"][1],
        "grape_status": pythons["grape"][1],
        "peer_versions": ", ".join(f"{k} {v}" for k, v in peer_versions.items()) or "n/a",
    }
    _write_reports(rows, summary, meta, run, out)
    log.info("wrote %s", out / "results.md")
    return 0


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sys.exit(main())
