"""One run of one walk tool in a fresh interpreter, for the walk benchmark (``recall.bench.walks``).

    python recall/bench/walks_children.py --child ours|pecanpy|grape --mode MODE --edges FILE
        --p P --q Q --threads N --num-walks W --walk-length L     # prints "RESULT <json>"
    python recall/bench/walks_children.py --child ours-sg --mode stream --edges FILE ...
        [--dim 128 --window 5 --reader numpy]    # ours: walks + skip-gram, RSS per phase
    python recall/bench/walks_children.py --child imports [--mode mod1,mod2,...]  # RSS per import

The parent runs it as a script, in the peers' own virtualenvs (PecanPy needs numpy < 2) and for
ours with ``PYTHONPATH`` = this checkout (not as ``-m recall.bench...``, which would import the
``recall`` package first and count it), so its module-level imports are the standard library
only: each tool is imported inside its function. Peak resident memory is the child's
``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
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

    from embeddings.walks import generate_walks

    t0 = time.perf_counter()
    graph = _read_graph(args.edges, args.reader)
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


# --------------------------------------------------------------------------------------------
# walks + skip-gram in one process (issue 16), and where its memory goes


def _probe():
    """``walks_probe.py`` beside this file, loaded by its path (no ``recall`` package import)."""
    import importlib.util

    name = "embrecall_walks_probe"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().with_name("walks_probe.py")
        )
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


def _read_graph(edges: Path, reader: str):
    """The benchmark's edge list (``u<TAB>v<TAB>w``, undirected) as an ``ItemGraph``:
    ``reader="numpy"`` (``np.loadtxt``'s C parser into an int64, int64, float64 record per
    line: no pandas, ids parsed as integers, no float64 matrix and casts) or ``"pandas"``
    (its C parser). Both give the same graph (tested)."""
    import numpy as np

    from embeddings.graph import ItemGraph

    if reader == "pandas":
        import pandas as pd

        df = pd.read_csv(edges, sep="\t", header=None, names=["u", "v", "w"],
                         dtype={"u": np.int64, "v": np.int64, "w": np.float64}, engine="c")  # fmt: skip
        u, v, w = df["u"].to_numpy(), df["v"].to_numpy(), df["w"].to_numpy()
        del df
    else:
        rec = np.loadtxt(edges, delimiter="\t", ndmin=1,
                         dtype=[("u", np.int64), ("v", np.int64), ("w", np.float64)])  # fmt: skip
        u, v, w = rec["u"], rec["v"], rec["w"]
    return ItemGraph.from_edges(u, v, w, directed=False)


#: how the walks reach gensim: (stream argument of DeepWalk, corpus_file)
SG_PATHS = {
    "stream": ("regenerate", False),
    "spill": ("spill", False),
    "matrix": (False, False),
    "corpus_file": (False, True),
    "stream+corpus_file": ("regenerate", True),
    "numba": ("regenerate", False),
}
#: the skip-gram trainer per path (gensim unless named here: embeddings.sgns for "numba")
SG_TRAINERS = {"numba": "numba"}


def _child_ours_sg(args: argparse.Namespace) -> dict:
    """DeepWalk end to end in this process: read, walks, skip-gram (``--dim``, ``--window``, 1
    epoch), the walks reaching the trainer as ``--mode`` says (``SG_PATHS``); RSS per phase,
    each phase's peak exact (``VmHWM`` reset at every phase start)."""
    mode = args.mode if args.mode in SG_PATHS else "stream"
    stream, corpus_file = SG_PATHS[mode]
    trainer = SG_TRAINERS.get(mode, "gensim")
    probe = _probe()
    with probe.RssPhases() as rss:
        rss.mark("imports (numpy, numba, embeddings.node2vec)")
        import numba
        import numpy as np

        # DeepWalk's own module (``embeddings.trainers``, which also imports Item2Vec and the
        # baselines, loads no pandas either: they import it only where interactions are read)
        from embeddings.node2vec import DeepWalk
        from embeddings.walks import generate_walks

        rss.mark(f"read edge list ({args.reader}) + CSR build")
        t0 = time.perf_counter()
        graph = _read_graph(args.edges, args.reader)
        load_s = time.perf_counter() - t0
        _trim_heap()
        rss.mark("JIT warm-up (or numba cache load)")
        t0 = time.perf_counter()
        generate_walks(graph, 1, 3, p=args.p, q=args.q, start_nodes=[0], progress=False)
        warmup_s = time.perf_counter() - t0
        rss_before = _rss_mb()
        model = DeepWalk(
            num_walks=args.num_walks, walk_length=args.walk_length, dim=args.dim,
            window=args.window, epochs=1, workers=args.threads, stream=stream,
            corpus_file=corpus_file, trainer=trainer, random_state=0, progress=False,
        )  # fmt: skip
        probe.instrument(rss, trainer)
        fit_start = "fit: set-up" if stream else "fit: walks (the whole matrix)"
        rss.mark(fit_start + (", corpus file written" if corpus_file else ""))
        c0 = time.process_time()
        t0 = time.perf_counter()
        emb = model.fit(graph)
        t1 = time.perf_counter()
        cpu_s = time.process_time() - c0
        rss.mark("after fit")
        del model
    sg_s, vocab_s = float(emb.meta["seconds"]), float(emb.meta["vocab_seconds"])
    return {
        "load_s": load_s,
        "warmup_s": warmup_s,
        "prep_s": 0.0,
        "walk_s": t1 - t0,  # walks + skip-gram: the whole fit
        "walk_cpu_s": cpu_s,
        "walks_only_s": float(emb.meta.get("walk_seconds") or 0.0),
        "skipgram_s": sg_s,
        "vocab_s": vocab_s,
        "walks": int(emb.meta.get("n_walks", 0)),
        "corpus_tokens": emb.meta.get("corpus_tokens"),
        "skipgram_trainer": emb.meta.get("skipgram_trainer"),
        "vectors": int(emb.vectors.shape[0]),
        "huge_page_mb": emb.meta.get("huge_page_bytes", 0) / 2**20,
        "rss_before_walk_mb": rss_before,
        "phases": rss.phases(),
        "peak_exact": rss.exact,
        "process_peak_mb": rss.peak_mb,
        "modules": sorted(m for m in _HEAVY if m in sys.modules),
        "threads": numba.get_num_threads(),
        "versions": {"numpy": np.__version__, "numba": numba.__version__},
    }


#: libraries whose presence in ``sys.modules`` the memory probe reports
_HEAVY = ("numpy", "numba", "llvmlite", "scipy", "gensim", "pandas", "pyarrow", "networkx",
          "sklearn", "matplotlib", "tqdm", "threadpoolctl", "smart_open")  # fmt: skip


def _child_imports(args: argparse.Namespace) -> dict:
    """RSS after each import, in order, in this fresh interpreter (``--mode`` = comma list of
    modules; ``-`` = the default sequence)."""
    import importlib

    seq = (
        args.mode.split(",")
        if args.mode not in ("-", "")
        else ["numpy", "numba", "embeddings", "embeddings.graph", "embeddings.walks",
              "gensim.models.word2vec", "embeddings.word2vec", "embeddings.trainers", "pandas",
              "scipy.sparse", "networkx", "sklearn.linear_model", "matplotlib.figure"]
    )  # fmt: skip
    rows = [{"module": "(python)", "rss_mb": _probe().status_kb("VmRSS") / 1024,
             "hwm_mb": _probe().status_kb("VmHWM") / 1024, "seconds": 0.0, "loaded": []}]  # fmt: skip
    for name in seq:
        before = {m for m in _HEAVY if m in sys.modules}
        t0 = time.perf_counter()
        importlib.import_module(name)
        rows.append({
            "module": name, "rss_mb": _probe().status_kb("VmRSS") / 1024,
            "hwm_mb": _probe().status_kb("VmHWM") / 1024, "seconds": time.perf_counter() - t0,
            "loaded": sorted(m for m in _HEAVY if m in sys.modules and m not in before),
        })  # fmt: skip
    return {"rows": rows}


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def run_child(argv: list[str] | None = None) -> None:
    """Run one tool once on ``--edges`` and print ``RESULT <json>`` (what the parent reads)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", choices=sorted(CHILDREN), required=True)
    ap.add_argument("--mode", default="-")
    ap.add_argument("--edges", type=Path, default=None)
    ap.add_argument("--p", type=float, default=1.0)
    ap.add_argument("--q", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--num-walks", type=int, default=10)
    ap.add_argument("--walk-length", type=int, default=80)
    ap.add_argument("--dim", type=int, default=128, help="ours-sg: vector size")
    ap.add_argument("--window", type=int, default=5, help="ours-sg: skip-gram window")
    ap.add_argument("--reader", choices=["numpy", "pandas"], default="numpy",
                    help="ours, ours-sg: edge-list parser")  # fmt: skip
    args = ap.parse_args(argv)
    if args.edges is None and args.child != "imports":
        ap.error(f"--child {args.child} needs --edges")
    result = CHILDREN[args.child](args)
    # ru_maxrss, or the largest exact phase peak of a child that measured its phases
    # (ru_maxrss may hold the parent's RSS at fork, kept across exec)
    process_peak = result.pop("process_peak_mb", None)
    result["peak_rss_mb"] = _peak_rss_mb() if process_peak is None else process_peak
    result["python"] = platform.python_version()
    print("RESULT " + json.dumps(result), flush=True)


CHILDREN = {
    "ours": _child_ours,
    "ours-sg": _child_ours_sg,
    "imports": _child_imports,
    "pecanpy": _child_pecanpy,
    "grape": _child_grape,
}


if __name__ == "__main__":
    # run as a script, the first entry of sys.path is this folder (recall/bench): drop it, so
    # that its module names (datasets.py, exact.py, ...) cannot shadow a library's
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        del sys.path[0]
    run_child()
