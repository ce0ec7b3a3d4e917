"""Walk-engine benchmark: ``embeddings.walks`` vs PecanPy SparseOTF, side by side in one run.

    python -m recall.bench.walks [--quick] [--out reports/walks] [--threads N]

Builds a seeded weighted graph (networkx ``powerlaw_cluster_graph(n, m, 0.1)``, weights uniform in
[0.1, 1)), writes it once as a tab-separated edge list (cached outside the repository) and, for
node2vec (p, q) = (1, 1) and (0.5, 2), runs each tool in its own subprocess on that file so that
the peak resident memory of each is measured cleanly (the child's ``ru_maxrss``). Reported:
load seconds, warm-up (JIT) seconds, walking seconds, walks/second, peak RSS, and the ratios.

PecanPy 2.0.9 needs numpy < 2, so it runs in a virtualenv of its own created once under
``~/.cache/embrecall/pecanpy-venv`` (``pecanpy==2.0.9 "numpy<2"``); if that cannot be installed
the report says so and lists our figures only.

Like for like: both produce walks of ``walk_length`` nodes as an integer matrix (PecanPy's
``_random_walks``, which ``simulate_walks`` calls before converting to token lists; its
``walk_length`` argument counts steps, so it is given ``walk_length - 1``). Neither time includes
converting walks to strings.

This file runs as a script inside the PecanPy environment too, so its module-level imports are
standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

PECANPY_SPEC = ["pecanpy==2.0.9", "numpy<2"]
CACHE = Path(os.environ.get("EMBRECALL_CACHE", Path.home() / ".cache" / "embrecall"))
REPO = Path(__file__).resolve().parents[2]
SETTINGS = [(1.0, 1.0), (0.5, 2.0)]
FULL = dict(nodes=100_000, m=10, num_walks=10, walk_length=80)
QUICK = dict(nodes=5_000, m=5, num_walks=10, walk_length=80)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _trim_heap() -> None:
    """Give freed heap memory back to the OS (glibc keeps the loaders' temporaries otherwise),
    so that the peak RSS reflects the walk engine rather than allocator leftovers; done the same
    way for both tools, right after loading the graph."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


# ------------------------------------------------------------------------------------ children
def _child_ours(args: argparse.Namespace) -> dict:
    import numba
    import numpy as np
    import pandas as pd

    from embeddings.graph import ItemGraph
    from embeddings.walks import generate_walks

    t0 = time.perf_counter()
    df = pd.read_csv(args.edges, sep="\t", header=None, names=["u", "v", "w"])
    graph = ItemGraph.from_edges(df["u"], df["v"], df["w"], directed=False)
    del df
    load_s = time.perf_counter() - t0
    _trim_heap()

    t0 = time.perf_counter()  # JIT (or numba cache load) on one short walk
    generate_walks(graph, 1, 3, p=args.p, q=args.q, start_nodes=[0], progress=False)
    warmup_s = time.perf_counter() - t0

    rss_before = _rss_mb()
    c0 = time.process_time()
    t0 = time.perf_counter()
    walks = generate_walks(
        graph,
        args.num_walks,
        args.walk_length,
        p=args.p,
        q=args.q,
        workers=args.threads,
        random_state=0,
        progress=False,
    )
    walk_s = time.perf_counter() - t0
    walk_cpu_s = time.process_time() - c0
    return {
        "load_s": load_s,
        "warmup_s": warmup_s,
        "walk_s": walk_s,
        "walk_cpu_s": walk_cpu_s,
        "walks": int(walks.shape[0]),
        "nodes_walked": int((walks >= 0).sum()),
        "rss_before_walk_mb": rss_before,
        "threads": numba.get_num_threads(),
        "threading_layer": numba.threading_layer(),
        "versions": {"numpy": np.__version__, "numba": numba.__version__},
    }


def _child_pecanpy(args: argparse.Namespace) -> dict:
    import numba
    import numpy as np
    from numba_progress import ProgressBar
    from pecanpy import pecanpy as pp

    t0 = time.perf_counter()
    g = pp.SparseOTF(p=args.p, q=args.q, workers=args.threads, verbose=False, random_state=0)
    g.read_edg(str(args.edges), weighted=True, directed=False)
    load_s = time.perf_counter() - t0
    _trim_heap()

    # what simulate_walks does, minus the conversion of the walks to lists of str
    t0 = time.perf_counter()
    g._preprocess_transition_probs()
    move_forward = g.get_move_forward()
    has_nbrs = g.get_has_nbrs()
    steps = args.walk_length - 1  # PecanPy's walk_length counts steps after the start node
    small = np.zeros(4, dtype=np.uint32)
    with ProgressBar(total=small.size, disable=True) as bar:  # JIT on a few walks
        g._random_walks(small.size, steps, 0, small, has_nbrs, move_forward, bar)
    warmup_s = time.perf_counter() - t0

    rss_before = _rss_mb()
    c0 = time.process_time()
    t0 = time.perf_counter()
    nodes = np.arange(g.num_nodes, dtype=np.uint32)
    start = np.concatenate([nodes] * args.num_walks)
    np.random.default_rng(0).shuffle(start)  # as simulate_walks: shuffled for load balance
    with ProgressBar(total=start.size, disable=True) as bar:
        mat = g._random_walks(start.size, steps, 0, start, has_nbrs, move_forward, bar)
    walk_s = time.perf_counter() - t0
    walk_cpu_s = time.process_time() - c0
    return {
        "load_s": load_s,
        "warmup_s": warmup_s,
        "walk_s": walk_s,
        "walk_cpu_s": walk_cpu_s,
        "walks": int(mat.shape[0]),
        "nodes_walked": int(mat[:, -1].astype(np.int64).sum()),
        "rss_before_walk_mb": rss_before,
        "threads": numba.get_num_threads(),
        "threading_layer": numba.threading_layer(),
        "versions": {
            "numpy": np.__version__,
            "numba": numba.__version__,
            "pecanpy": _dist_version("pecanpy"),
        },
    }


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def _child_main(args: argparse.Namespace) -> None:
    run = _child_ours if args.child == "ours" else _child_pecanpy
    result = run(args)
    result["peak_rss_mb"] = _peak_rss_mb()
    result["python"] = platform.python_version()
    print("RESULT " + json.dumps(result), flush=True)


# ------------------------------------------------------------------------------------ parent
def _edge_file(nodes: int, m: int, seed: int) -> Path:
    """Seeded powerlaw-cluster graph as ``u<TAB>v<TAB>w`` lines (built once, cached)."""
    import networkx as nx
    import numpy as np

    from embeddings._io import atomic_write

    path = CACHE / "bench-walks" / f"plc_n{nodes}_m{m}_s{seed}.tsv"
    if path.exists():
        return path
    g = nx.powerlaw_cluster_graph(nodes, m, 0.1, seed=seed)
    edges = np.asarray(g.edges(), dtype=np.int64)
    weights = np.random.default_rng(seed).uniform(0.1, 1.0, edges.shape[0])
    with atomic_write(path, "w") as fh:
        np.savetxt(fh, np.column_stack([edges, weights]), fmt=["%d", "%d", "%.6f"], delimiter="\t")
    return path


def _pecanpy_python() -> tuple[Path | None, str]:
    """Python of the cached PecanPy virtualenv (created on first use), or None and why not."""
    venv = CACHE / "pecanpy-venv"
    py = venv / "bin" / "python"
    probe = [str(py), "-c", "import pecanpy.pecanpy, numba_progress, numpy"]
    if py.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return py, "cached"
    try:
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", *PECANPY_SPEC],
            check=True,
            capture_output=True,
            text=True,
            timeout=1200,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return None, f"could not install {' '.join(PECANPY_SPEC)}: {detail.strip()[-300:]}"
    if subprocess.run(probe, capture_output=True).returncode != 0:
        return None, "PecanPy virtualenv created but pecanpy does not import"
    return py, "installed"


def _run_child(python: Path, tool: str, edges: Path, p: float, q: float, cfg: dict, threads: int):
    cmd = [str(python)]
    cmd += ["-m", "recall.bench.walks"] if tool == "ours" else [str(Path(__file__).resolve())]
    cmd += ["--child", tool, "--edges", str(edges), "--p", str(p), "--q", str(q)]
    cmd += ["--num-walks", str(cfg["num_walks"]), "--walk-length", str(cfg["walk_length"])]
    cmd += ["--threads", str(threads)]
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), PYTHONHASHSEED="0")
    if tool == "ours":
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"status": f"failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"}
    out = json.loads(lines[-1][len("RESULT ") :])
    out["status"] = "ok"
    return out


def _write_reports(rows: list[dict], meta: dict, out: Path) -> None:
    import pandas as pd

    from embeddings._io import atomic_write

    df = pd.DataFrame(rows)
    with atomic_write(out / "results.csv", "w") as fh:
        df.to_csv(fh, index=False)

    lines = [
        "# Walk engine vs PecanPy SparseOTF",
        "",
        f"Command: `{meta['command']}`  ",
        f"Graph: networkx powerlaw_cluster_graph({meta['nodes']}, {meta['m']}, 0.1, seed=0), "
        f"{meta['edges']:,} undirected weighted edges (uniform [0.1, 1)), "
        f"{meta['num_walks']} walks x {meta['walk_length']} nodes per node.  ",
        f"Threads: {meta['threads']} for both (numba). Machine: {meta['cpus']} CPUs, shared with "
        f"other work (load average {meta['load_before']} before, {meta['load_after']} after): "
        "read the ratios, not the absolute times.  ",
        f"PecanPy: {meta['pecanpy_status']}.",
        "",
        "| tool | p | q | walk s | walk CPU s | walks/s | peak RSS MB | RSS before walks MB | "
        "growth while walking MB | load s | JIT warm-up s | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("status") == "ok":
            lines.append(
                f"| {r['tool']} | {r['p']:g} | {r['q']:g} | {r['walk_s']:.2f} | "
                f"{r['walk_cpu_s']:.2f} | {r['walks_per_s']:,.0f} | {r['peak_rss_mb']:.0f} | "
                f"{r['rss_before_walk_mb']:.0f} | "
                f"{r['peak_rss_mb'] - r['rss_before_walk_mb']:.0f} | {r['load_s']:.1f} | {r['warmup_s']:.1f} | ok |"
            )
        else:
            lines.append(
                f"| {r['tool']} | {r['p']:g} | {r['q']:g} | | | | | | | | | {r['status']} |"
            )
    lines += ["", "## Ratios", ""]
    lines += [
        "| p | q | speed-up in walks/s (wall) | CPU-time ratio (PecanPy / ours) | "
        "peak memory ratio (ours / PecanPy) |",
        "|---|---|---|---|---|",
    ]
    for p, q in SETTINGS:
        pair = {r["tool"]: r for r in rows if r["p"] == p and r["q"] == q and r["status"] == "ok"}
        if "ours" in pair and "pecanpy" in pair:
            speed = pair["ours"]["walks_per_s"] / pair["pecanpy"]["walks_per_s"]
            cpu = pair["pecanpy"]["walk_cpu_s"] / pair["ours"]["walk_cpu_s"]
            mem = pair["ours"]["peak_rss_mb"] / pair["pecanpy"]["peak_rss_mb"]
            lines.append(f"| {p:g} | {q:g} | {speed:.1f}x | {cpu:.1f}x | {mem:.2f} |")
        else:
            lines.append(f"| {p:g} | {q:g} | n/a | n/a | n/a |")
    lines += [
        "",
        "## Environment",
        "",
        f"- ours: Python {meta['ours_python']}, " + ", ".join(meta["ours_versions"]),
        f"- PecanPy env: {meta['pecanpy_versions']}",
        f"- numba threading layer: {meta['threading_layer']}",
        f"- threadpoolctl (ours, parent process): {meta['threadpools']}",
        "",
        "Walk CPU s is the child's process time (all threads), less sensitive to the load of the",
        "machine than wall time.",
        "Walk time excludes reading the edge list and JIT compilation (both listed separately);",
        "peak RSS is the whole child process (imports, graph, tables, walks matrix; freed heap",
        "is returned to the OS with malloc_trim after loading, for both tools). PecanPy's walks/s",
        "counts its int matrix only, without the conversion to str tokens of simulate_walks.",
    ]
    with atomic_write(out / "results.md", "w") as fh:
        fh.write("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m recall.bench.walks", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--quick", action="store_true", help="small graph (runs in well under a minute)"
    )
    ap.add_argument("--out", type=Path, default=REPO / "reports" / "walks")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-pecanpy", action="store_true", help="skip the PecanPy runs")
    # child mode (internal)
    ap.add_argument("--child", choices=["ours", "pecanpy"], help=argparse.SUPPRESS)
    ap.add_argument("--edges", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--p", type=float, default=1.0, help=argparse.SUPPRESS)
    ap.add_argument("--q", type=float, default=1.0, help=argparse.SUPPRESS)
    ap.add_argument("--num-walks", type=int, default=10, help=argparse.SUPPRESS)
    ap.add_argument("--walk-length", type=int, default=80, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child_main(args)
        return 0

    import logging

    from threadpoolctl import threadpool_info

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log = logging.getLogger("recall.bench.walks")
    cfg = QUICK if args.quick else FULL
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    edges = _edge_file(cfg["nodes"], cfg["m"], seed=0)
    n_edges = sum(1 for _ in open(edges))
    log.info("graph %s: %d edges", edges, n_edges)

    if args.no_pecanpy:
        pec_py, pec_status = None, "skipped (--no-pecanpy)"
    else:
        pec_py, pec_status = _pecanpy_python()
    log.info("PecanPy: %s", pec_status)

    rows = []
    for p, q in SETTINGS:
        for tool, python in (("ours", Path(sys.executable)), ("pecanpy", pec_py)):
            row = {"tool": tool, "p": p, "q": q, **cfg, "edges": n_edges}
            if python is None:
                row["status"] = f"not run: {pec_status}"
            else:
                log.info("running %s p=%g q=%g ...", tool, p, q)
                row.update(_run_child(python, tool, edges, p, q, cfg, args.threads))
            if row["status"] == "ok":
                row["walks_per_s"] = row["walks"] / row["walk_s"]
                row["steps_per_s"] = row["nodes_walked"] / row["walk_s"]
                log.info(
                    "  %s: %.2f s walking, %.0f walks/s, peak %.0f MB",
                    tool,
                    row["walk_s"],
                    row["walks_per_s"],
                    row["peak_rss_mb"],
                )
            else:
                log.info("  %s: %s", tool, row["status"])
            rows.append(row)

    ours_ok = next((r for r in rows if r["tool"] == "ours" and r["status"] == "ok"), {})
    pec_ok = next((r for r in rows if r["tool"] == "pecanpy" and r["status"] == "ok"), {})
    import numba
    import numpy as np

    meta = {
        "command": "python -m recall.bench.walks" + (" --quick" if args.quick else ""),
        **cfg,
        "edges": n_edges,
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "pecanpy_status": pec_status,
        "ours_python": platform.python_version(),
        "ours_versions": [f"numpy {np.__version__}", f"numba {numba.__version__}"],
        "pecanpy_versions": (
            f"Python {pec_ok['python']}, "
            + ", ".join(f"{k} {v}" for k, v in pec_ok["versions"].items())
            if pec_ok
            else "n/a"
        ),
        "threading_layer": ours_ok.get("threading_layer", "?"),
        "threadpools": [
            f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info()
        ],
    }
    for r in rows:  # flatten for the CSV
        for k, v in r.pop("versions", {}).items():
            r[f"{k}_version"] = v
    _write_reports(rows, meta, args.out)
    log.info("wrote %s and %s", args.out / "results.csv", args.out / "results.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
