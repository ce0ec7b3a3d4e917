"""One run of one walk tool in a fresh interpreter, for the walk benchmark (``recall.bench.walks``).

    python recall/bench/walks_children.py --child ours|pecanpy|grape --mode MODE --edges FILE
        --p P --q Q --threads N --num-walks W --walk-length L     # prints "RESULT <json>"

The parent runs it as ``python -m recall.bench.walks_children`` for ours (``PYTHONPATH`` = this
checkout) and as a script in the peers' own virtualenvs (PecanPy needs numpy < 2), so its
module-level imports are the standard library only: each tool is imported inside its function.
Peak resident memory is the child's ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _trim_heap() -> None:
    """Give freed heap memory back to the OS (glibc keeps the loaders' temporaries otherwise),
    so that the peak RSS reflects the walk engine rather than allocator leftovers; done the same
    way for every tool, right after loading the graph."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


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
        "prep_s": 0.0,
        "walk_s": walk_s,
        "walk_cpu_s": walk_cpu_s,
        "walks": int(walks.shape[0]),
        "rss_before_walk_mb": rss_before,
        "threads": numba.get_num_threads(),
        "versions": {"numpy": np.__version__, "numba": numba.__version__},
    }


def _child_pecanpy(args: argparse.Namespace) -> dict:
    import numba
    import numpy as np
    from numba_progress import ProgressBar
    from pecanpy import pecanpy as pp

    mode = getattr(pp, args.mode)
    steps = args.walk_length - 1  # PecanPy's walk_length counts steps after the start node

    def walks(g, start, move_forward, has_nbrs):
        with ProgressBar(total=start.size, disable=True) as bar:
            return g._random_walks(start.size, steps, 0, start, has_nbrs, move_forward, bar)

    def make(path):
        g = mode(p=args.p, q=args.q, workers=args.threads, verbose=False, random_state=0)
        g.read_edg(str(path), weighted=True, directed=False)
        return g

    # JIT warm-up of the same mode on a 3-node graph: compiles the pre-computation kernels
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tiny = Path(tmp) / "tiny.tsv"
        tiny.write_text("0\t1\t0.5\n1\t2\t0.7\n0\t2\t0.2\n")
        gt = make(tiny)
        t1, c1 = time.perf_counter(), time.process_time()
        gt._preprocess_transition_probs()
        # PecanPy defines its pre-computation kernel inside _preprocess_transition_probs, so
        # numba compiles it on every call: the 3-node call is all compilation, our estimate of
        # the compile time inside the real call below
        compile_in_prep_s = time.perf_counter() - t1
        compile_in_prep_cpu = time.process_time() - c1
        walks(gt, np.arange(3, dtype=np.uint32), gt.get_move_forward(), gt.get_has_nbrs())
        del gt
    warmup_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    g = make(args.edges)
    load_s = time.perf_counter() - t0
    _trim_heap()
    rss_before = _rss_mb()
    c0 = time.process_time()
    t0 = time.perf_counter()
    g._preprocess_transition_probs()  # PreComp: the transition tables; OTF: nothing much
    move_forward = g.get_move_forward()
    has_nbrs = g.get_has_nbrs()
    prep_s = time.perf_counter() - t0
    prep_cpu = time.process_time() - c0
    # the walk kernel takes move_forward, a closure over this graph's arrays, as a first-class
    # function: numba compiles it for this closure, so it is warmed up here on 4 walks (as
    # simulate_walks would pay it once); compilation is not walking and is reported apart
    t1 = time.perf_counter()
    walks(g, np.zeros(4, dtype=np.uint32), move_forward, has_nbrs)
    warmup_s += time.perf_counter() - t1
    nodes = np.arange(g.num_nodes, dtype=np.uint32)
    start = np.concatenate([nodes] * args.num_walks)
    np.random.default_rng(0).shuffle(start)  # as simulate_walks: shuffled for load balance
    c0 = time.process_time()
    t0 = time.perf_counter()
    mat = walks(g, start, move_forward, has_nbrs)
    walks_only_s = time.perf_counter() - t0
    walk_cpu_s = max(0.0, prep_cpu - compile_in_prep_cpu) + time.process_time() - c0
    with_compile_s = prep_s + walks_only_s  # what a user of simulate_walks waits (minus 4 walks)
    prep_s = max(0.0, prep_s - compile_in_prep_s)
    walk_s = prep_s + walks_only_s  # pre-computation (its compile estimate removed) + walks
    return {
        "load_s": load_s,
        "warmup_s": warmup_s,
        "prep_s": prep_s,
        "walk_s": walk_s,
        "walk_s_with_compile": with_compile_s,
        "walk_cpu_s": walk_cpu_s,
        "walks": int(mat.shape[0]),
        "rss_before_walk_mb": rss_before,
        "threads": numba.get_num_threads(),
        "versions": {
            "numpy": np.__version__,
            "numba": numba.__version__,
            "pecanpy": _dist_version("pecanpy"),
        },
    }


def _child_grape(args: argparse.Namespace) -> dict:
    import numpy as np
    from grape import Graph

    t0 = time.perf_counter()
    g = Graph.from_csv(
        edge_path=str(args.edges),
        edge_list_separator="\t",
        edge_list_header=False,
        sources_column_number=0,
        destinations_column_number=1,
        weights_column_number=2,
        directed=False,
        name="bench",
        verbose=False,
    )
    load_s = time.perf_counter() - t0
    _trim_heap()
    kw = {"max_neighbours": None} if args.mode == "exact" else {}  # default 100: approximate
    t0 = time.perf_counter()  # no JIT; a short call pays any lazy initialisation
    g.complete_walks(walk_length=3, iterations=1, random_state=1, **kw)
    warmup_s = time.perf_counter() - t0
    rss_before = _rss_mb()
    c0 = time.process_time()
    t0 = time.perf_counter()
    w = g.complete_walks(
        walk_length=args.walk_length,
        return_weight=1.0 / args.p,
        explore_weight=1.0 / args.q,
        iterations=args.num_walks,
        random_state=0,
        **kw,
    )
    walk_s = time.perf_counter() - t0
    walk_cpu_s = time.process_time() - c0
    w = np.asarray(w)
    return {
        "load_s": load_s,
        "warmup_s": warmup_s,
        "prep_s": 0.0,
        "walk_s": walk_s,
        "walk_cpu_s": walk_cpu_s,
        "walks": int(w.shape[0]),
        "rss_before_walk_mb": rss_before,
        "threads": int(os.environ.get("RAYON_NUM_THREADS", "0") or 0),
        "versions": {"numpy": np.__version__, "grape": _dist_version("grape")},
    }


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def run_child(argv: list[str] | None = None) -> None:
    """Run one tool once on ``--edges`` and print ``RESULT <json>`` (what the parent reads)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", choices=["ours", "pecanpy", "grape"], required=True)
    ap.add_argument("--mode", default="-")
    ap.add_argument("--edges", type=Path, required=True)
    ap.add_argument("--p", type=float, default=1.0)
    ap.add_argument("--q", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--num-walks", type=int, default=10)
    ap.add_argument("--walk-length", type=int, default=80)
    args = ap.parse_args(argv)
    run = {"ours": _child_ours, "pecanpy": _child_pecanpy, "grape": _child_grape}[args.child]
    result = run(args)
    result["peak_rss_mb"] = _peak_rss_mb()
    result["python"] = platform.python_version()
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    run_child()
