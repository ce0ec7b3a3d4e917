"""Scale benchmark: how time and peak memory grow with the size of the problem.

    python -m recall.bench.scale [--quick] [--tasks deepwalk,node2vec,stages,quality,memory,walkspeed,
                                  item2vec,search,spark,sparkwalks] [--setting scale|defaults]
                                 [--trainer gensim|numba|gensim,numba]
                                 [--out reports/scale] [--threads N]
    embrecall bench scale --quick        # the same, through the command line (<= 1 min)

Every measurement runs in a fresh subprocess (``--child``) so that its peak resident memory is
the child's own ``ru_maxrss`` (for Spark, whose work happens in a JVM, the peak summed RSS of the
process tree, sampled every 0.1 s with psutil). Tasks, each at 3+ sizes:

* ``deepwalk``: end to end, read an edge-list file -> walks -> vectors
  (``read_edgelist`` + ``DeepWalk(stream=True)``, d = 128) at ``--setting``: ``scale``
  (:data:`AT_SCALE`: 2 walks x 40 per node, window 5, one epoch, alpha 0.1; the default),
  ``scale-5x40`` or the library ``defaults`` (10 x 80, window 10, 2 epochs), on a seeded Chung-Lu graph with communities
  (:func:`chung_lu_edges`, 10 edges per node).
* ``node2vec``: the same end to end with ``Node2Vec(p=--p, q=--q)`` (default p = 0.5, q = 2,
  so the second-order walk path runs; p = q = 1 would walk first-order, as DeepWalk).
* ``stages``: DeepWalk stage by stage at the defaults' walks: read (pandas C parser), graph
  build, walks (matrix held), corpus file, and one skip-gram epoch on one walk per node for
  gensim ``corpus_file`` / iterable at window 5 / 10 (wall and CPU seconds, resident memory
  after each stage); the report projects each setting to 1M nodes / 10M edges.
* ``quality``: what :data:`AT_SCALE` costs: DeepWalk's validation-fold Macro/Micro-F1 on
  BlogCatalog at the defaults, the scale setting and the steps between (3 seeds).

``--trainer`` picks DeepWalk's skip-gram trainer in ``deepwalk`` and ``quality``: gensim (the
default) or the numba trainer of :mod:`embeddings.sgns`; ``gensim,numba`` runs both, one after
the other at each size (``deepwalk``) or setting and seed (``quality``). Each row says which.
* ``memory``: walks + skip-gram at one size, the walk matrix held (``stream=False``) against
  streamed walks (``stream="regenerate"`` and ``"spill"``).
* ``walkspeed``: the walk engine alone, this checkout against another one (``--baseline DIR``,
  e.g. an older commit exported with ``git archive``), interleaved A B A B.
* ``item2vec``: ``Item2Vec`` (sequence mode, defaults) on the synthetic default data grown in
  users and items (``make_synthetic``), generation and training timed apart.
* ``search``: exact search (``ExactIndex``, cosine) and our SimHash LSH index (16 tables x 12 bits,
  exact re-rank, multi-probe) on ``n x 32`` clustered unit vectors, build and 1,000 queries,
  with knn_recall@10 of LSH.
* ``sparkwalks``: :func:`recall.spark.spark_random_walks` (DeepWalk and node2vec p=0.5, q=2) on
  the Chung-Lu graph read from its edge file by Spark, ``local[2]``.
* ``sparkitem2vec``: Spark ML ``Word2Vec`` Item2vec (:class:`embeddings.spark.SparkItem2Vec`)
  on ``local[2]`` on the ``item2vec`` task's interaction sets: Parquet -> Spark sessions ->
  vectors, wall time and the peak RSS of the process tree (driver, JVM, Python workers); at
  the smallest size, next-item HR@10 against the local ``Item2Vec`` and popularity.
* ``spark``: batch recall for all users on ``local[2]`` (:mod:`recall.bench.spark_recall`): our
  bucket join, Spark's ``BucketedRandomProjectionLSH`` and exact, items and users grown together.

The report (``report.md``, ``results.csv``, ``plots/*.png``) holds one cost-growth table per task
with the fitted growth exponent (slope of log cost against log size), the command, the versions
and the load average before each run. Graph files are cached under ``$EMBRECALL_CACHE`` (default
``~/.cache/embrecall``), outside the repository.

Modules: ``scale_settings`` (the sizes, the settings, ``--trainer`` / ``--p`` / ``--q`` parsing and
the full run's commands; re-exported here), ``scale_data`` (the seeded generators, re-exported
here), ``scale_children`` (one measurement, run as a script in a fresh interpreter; the Spark
ones in ``scale_children_spark``, the process's own memory and CPU readings in ``scale_probe``),
``scale_report`` (tables, growth exponents, plots); this module holds the tasks and the command
line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recall.bench.harness import bench_parser, default_out, start_run
from recall.bench.scale_data import chung_lu_edges, synthetic_interactions
from recall.bench.scale_report import library_versions, write_report
from recall.bench.scale_settings import (  # noqa: F401
    AT_SCALE,
    AT_SCALE_5X40,
    FULL,
    FULL_HELP,
    LIBRARY_DEFAULTS,
    QUALITY_SETTINGS,
    QUICK,
    SETTINGS,
    TRAINERS,
    parse_pq,
    parse_trainers,
)

__all__ = [
    "FULL",
    "QUICK",
    "chung_lu_edges",
    "edge_file",
    "main",
    "synthetic_interactions",
    "write_report",
]

CACHE = Path(os.environ.get("EMBRECALL_CACHE", Path.home() / ".cache" / "embrecall"))
#: the checkout whose code the child processes import (not an output location)
REPO = Path(__file__).resolve().parents[2]


def edge_file(n_nodes: int, n_edges: int, seed: int = 0) -> Path:
    """The Chung-Lu graph as ``u<TAB>v<TAB>w`` lines, written once and cached."""
    from embeddings.io import atomic_write

    path = CACHE / "bench-scale" / f"chunglu_n{n_nodes}_e{n_edges}_s{seed}.tsv"
    if path.exists():
        return path
    src, dst, w = chung_lu_edges(n_nodes, n_edges, random_state=seed)
    df = pd.DataFrame({"u": src, "v": dst, "w": np.round(w, 6)})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as fh:
        df.to_csv(fh, sep="\t", header=False, index=False, float_format="%.6f")
    return path


def _run_child(task: str, params: dict, root: Path = REPO, timeout: float = 7200) -> dict:
    """Run one measurement in a fresh interpreter importing the code under ``root``."""
    env = dict(os.environ, PYTHONPATH=str(root))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(params.get("threads", 1))
    env["NUMBA_NUM_THREADS"] = str(max(params.get("threads", 1), 1))
    # scale_children.py run as a script: its imports are numpy/pandas/stdlib, and ``embeddings``
    # / ``recall`` come from ``root`` (which may be another checkout, e.g. the walkspeed baseline)
    script = str(Path(__file__).resolve().with_name("scale_children.py"))
    cmd = [sys.executable, script, task, json.dumps(params)]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, env=env, cwd=root, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{task} {params} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update(task=task, load_before=load, wall_s=time.perf_counter() - t0)
    return out


def task_deepwalk(cfg: dict, threads: int, method: str = "deepwalk") -> list[dict]:
    """DeepWalk (or, with ``method="node2vec"``, Node2vec at ``cfg["p"]``, ``cfg["q"]``) end to
    end at each size, at ``cfg["setting"]`` (walks streamed, never held), with each of
    ``cfg["trainers"]``."""
    if method not in ("deepwalk", "node2vec"):
        raise ValueError(f"method must be 'deepwalk' or 'node2vec', got {method!r}")
    rows = []
    st = cfg["setting"]
    trainers = cfg.get("trainers", ["gensim"])
    for n in cfg[method]:
        path = edge_file(n, 10 * n)
        for trainer in trainers:
            params = dict(edges=str(path), stream="regenerate", num_walks=st["num_walks"],
                          walk_length=st["walk_length"], epochs=st["epochs"],
                          alpha=st.get("alpha"), threads=threads,
                          dim=cfg["dim_window"][0], window=st["window"],
                          corpus_file=cfg.get("corpus_file", False))  # fmt: skip
            if trainer != "gensim":
                params["trainer"] = trainer
            if method == "node2vec":
                params.update(method="node2vec", p=cfg["p"], q=cfg["q"])
            r = _run_child("deepwalk", params)
            if r.get("skipgram_trainer") != trainer:
                raise RuntimeError(
                    f"the {method} child trained with {r.get('skipgram_trainer')!r}, "
                    f"asked for {trainer!r}"
                )
            r.update(size=n, edges=10 * n, corpus_file=bool(cfg.get("corpus_file", False)),
                     setting=cfg["setting_name"], trainer=trainer)  # fmt: skip
            if method == "node2vec":
                r.update(task="node2vec", p=cfg["p"], q=cfg["q"])
            rows.append(r)
    return rows


def task_hugepages(cfg: dict, threads: int) -> list[dict]:
    """Skip-gram with and without huge-page weights, interleaved, at the largest deepwalk size
    (vocabulary of the whole walk corpus, training on ``cfg["hugepages_fraction"]`` of it)."""
    n = max(cfg["deepwalk"])
    st = cfg["setting"]
    out = _run_child(
        "hugepages",
        dict(edges=str(edge_file(n, 10 * n)), num_walks=st["num_walks"],
             walk_length=st["walk_length"], window=st["window"], alpha=st.get("alpha") or 0.025,
             dim=cfg["dim_window"][0], threads=threads, fraction=cfg["hugepages_fraction"],
             repeats=cfg["hugepages_repeats"]),
    )  # fmt: skip
    rows = []
    for r in out["rows"]:
        r.update(task="hugepages", size=n, edges=10 * n)
        rows.append(r)
    return rows


def task_stages(cfg: dict, threads: int) -> list[dict]:
    """Each DeepWalk stage apart (read, build, walks, corpus file, one skip-gram epoch's words/s
    for gensim ``corpus_file`` / iterable at window 5 / 10) at the library defaults' walks."""
    rows = []
    nw, wl = cfg["walks"]
    dim = cfg["dim_window"][0]
    variants = [["corpus_file", 5], ["corpus_file", 10], ["iterable", 5], ["iterable", 10]]
    for n in cfg["stages"]:
        path = edge_file(n, 10 * n)
        params = dict(edges=str(path), num_walks=nw, walk_length=wl, threads=threads, dim=dim,
                      variants=variants)  # fmt: skip
        r = _run_child("stages", params)
        r.update(size=n, edges=10 * n, dim=dim, num_walks=nw, walk_length=wl, threads=threads)
        rows.append(r)
    return rows


def task_quality(cfg: dict, threads: int) -> list[dict]:
    """Validation-fold Macro-F1 on BlogCatalog of each of ``QUALITY_SETTINGS`` over the seeds
    (skipped, with a warning row, when the shared data is absent)."""
    from embeddings.paths import data_root

    if data_root() is None:
        return [dict(task="quality", setting="(skipped: no shared data folder)")]
    trainers = cfg.get("trainers", ["gensim"])
    # the child passes each setting's dict to DeepWalk as keywords: the trainer rides along
    settings = {}
    for name, st in cfg["quality_settings"].items():
        for trainer in trainers:
            key = name if trainers == ["gensim"] else f"{name} [{trainer}]"
            settings[key] = st if trainer == "gensim" else {**st, "trainer": trainer}
    params = dict(dataset=cfg["quality_dataset"], seeds=cfg["quality_seeds"], threads=threads,
                  settings=settings, split_seed=0)  # fmt: skip
    r = _run_child("quality", params)
    rows = []
    for row in r["rows"]:
        st = settings[row["setting"]]
        row.update(task="quality", dataset=cfg["quality_dataset"], nodes=r["nodes"],
                   arcs=r["arcs"], load_before=r["load_before"],
                   trainer=st.get("trainer", "gensim"), params=json.dumps(st))  # fmt: skip
        rows.append(row)
    return rows


def task_memory(cfg: dict, threads: int) -> list[dict]:
    n = cfg["memory"]
    path = edge_file(n, 10 * n)
    nw, wl = cfg["walks"]
    rows = []
    # the skip-gram's memory (vectors, context vectors, vocabulary, noise table) depends on the
    # vocabulary and dim only: window 1 and one negative keep it and cut the training time
    dim = cfg["dim_window"][0]
    for stream, corpus_file in (("matrix", False), ("regenerate", False), ("spill", False),
                                ("regenerate", True)):  # fmt: skip
        params = dict(edges=str(path), stream=stream, num_walks=nw, walk_length=wl,
                      threads=threads, dim=dim, window=1, negative=1, corpus_file=corpus_file)  # fmt: skip
        r = _run_child("deepwalk", params)
        variant = stream + (" + corpus_file" if corpus_file else "")
        r.update(size=n, edges=10 * n, variant=variant, task="memory", dim=dim)
        rows.append(r)
    return rows


def task_walkspeed(cfg: dict, threads: int, baseline: Path | None, repeats: int = 3) -> list[dict]:
    if baseline is None:
        return []
    n = cfg["walkspeed"]
    path = edge_file(n, 10 * n)
    nw, wl = cfg["walks"]
    rows = []
    for rep in range(repeats):
        for name, root in (("baseline", baseline), ("this", REPO)):
            params = dict(edges=str(path), num_walks=nw, walk_length=wl, threads=threads)
            r = _run_child("walkspeed", params, root=root)
            r.update(size=n, variant=name, repeat=rep)
            rows.append(r)
    return rows


def task_item2vec(cfg: dict, threads: int) -> list[dict]:
    rows = []
    events = 40 if cfg["quick"] else 156
    for users in cfg["item2vec"]:
        params = dict(users=users, items=max(users // 3, 200) if cfg["quick"] else 60_000,
                      events=events,
                      epochs=cfg["epochs_item2vec"], threads=threads)  # fmt: skip
        r = _run_child("item2vec", params)
        r.update(size=r["interactions"], users=users)
        rows.append(r)
    return rows


def task_search(cfg: dict, threads: int) -> list[dict]:
    rows = []
    for n in cfg["search"]:
        for method in ("exact", "lsh"):
            r = _run_child("search", dict(n=n, method=method, threads=threads))
            r.update(size=n, variant=method)
            rows.append(r)
    return rows


def task_sparkwalks(cfg: dict, threads: int) -> list[dict]:
    rows = []
    nw, wl = cfg["sparkwalks_len"]
    for n in cfg["sparkwalks"]:
        path = edge_file(n, 10 * n)
        for pq in ((1.0, 1.0), (0.5, 2.0)):
            params = dict(edges=str(path), num_walks=nw, walk_length=wl, p=pq[0], q=pq[1],
                          threads=threads)  # fmt: skip
            r = _run_child("sparkwalks", params)
            r.update(size=n, edges=10 * n, variant=f"p={pq[0]}, q={pq[1]}")
            rows.append(r)
    return rows


def task_sparkitem2vec(cfg: dict, threads: int) -> list[dict]:
    """Spark ML Word2Vec Item2vec on ``local[2]`` on the item2vec task's interaction sets (same
    generator and sizes), dim / window / epochs of ``cfg["sparkitem2vec_params"]``; the smallest
    size also runs the quality check against the local ``Item2Vec``."""
    rows = []
    events = 40 if cfg["quick"] else 156
    sizes = cfg["item2vec"]
    for users in sizes:
        params = dict(users=users, items=max(users // 3, 200) if cfg["quick"] else 60_000,
                      events=events, threads=threads, quality=users == min(sizes),
                      **cfg["sparkitem2vec_params"])  # fmt: skip
        r = _run_child("sparkitem2vec", params)
        r.update(size=r["interactions"], users=users, task="sparkitem2vec")
        rows.append(r)
    return rows


def task_spark(cfg: dict, threads: int) -> list[dict]:
    rows = []
    for items, users in cfg["spark"]:
        r = _run_child("spark", dict(items=items, users=users, threads=threads))
        for m in r.pop("rows"):
            bl = m.get("bucket_length")
            variant = m["method"] if bl is None or pd.isna(bl) else f"{m['method']} (b={bl})"
            rows.append(
                dict(
                    task="spark", size=items, users=users, variant=variant,
                    seconds=m["seconds"], knn_recall=m["knn_recall"],
                    peak_tree_mb=r["peak_tree_mb"], load_before=r["load_before"],
                )
            )  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    """The command line: run the ``--tasks`` and write the report; returns 0."""
    ap = bench_parser(
        "scale", __doc__.split("\n")[0], quick_help="small sizes (about a minute)", seed=None
    )
    ap.add_argument("--tasks", default=None, help="comma-separated subset of the tasks")
    ap.add_argument("--baseline", type=Path, default=None, help="checkout for walkspeed")
    ap.add_argument(
        "--sizes",
        default=None,
        help="comma-separated sizes for deepwalk/node2vec/item2vec/search/sparkwalks/stages",
    )
    ap.add_argument(
        "--corpus-file",
        action="store_true",
        help="deepwalk / node2vec: gensim corpus_file mode (C reader)",
    )
    ap.add_argument(
        "--setting",
        choices=sorted(SETTINGS),
        default="scale",
        help="deepwalk / node2vec: walks / window / epochs: 'scale' (AT_SCALE: 2 x 40, window 5, 1 epoch, "
        "alpha 0.1), 'scale-5x40' (5 walks) or the library 'defaults' (10 x 80, window 10, "
        "2 epochs)",
    )
    ap.add_argument(
        "--trainer",
        default="gensim",
        help="deepwalk / node2vec / quality: the skip-gram trainer, 'gensim' (default), 'numba' "
        "(embeddings.sgns) or 'gensim,numba' (both, one after the other)",
    )
    ap.add_argument("--p", default="0.5", help="node2vec: return parameter p (default 0.5)")
    ap.add_argument("--q", default="2.0", help="node2vec: in-out parameter q (default 2)")
    args = ap.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    cfg["p"], cfg["q"] = parse_pq(args.p, "p"), parse_pq(args.q, "q")
    cfg["trainers"] = parse_trainers(args.trainer)
    cfg["quick"] = args.quick
    cfg["corpus_file"] = args.corpus_file
    cfg["setting"] = SETTINGS[args.setting]
    cfg["setting_name"] = args.setting
    if args.sizes:
        sizes = [int(x) for x in args.sizes.split(",")]
        for key in ("deepwalk", "node2vec", "item2vec", "search", "sparkwalks", "stages"):
            cfg[key] = sizes
    default = (
        "deepwalk,memory,item2vec,search" if args.quick else "deepwalk,memory,item2vec,search,spark"
    )
    tasks = (args.tasks or default).split(",")
    unknown = set(tasks) - {"deepwalk", "node2vec", "sparkitem2vec", "memory", "walkspeed", "item2vec", "search", "spark",
                            "sparkwalks", "stages", "quality", "hugepages"}  # fmt: skip
    if unknown:
        raise ValueError(f"unknown tasks {sorted(unknown)}")
    run = start_run("scale", args, argv)  # refuses a busy machine unless --allow-load / --quick
    rows: list[dict] = []
    runners = {
        "deepwalk": lambda: task_deepwalk(cfg, args.threads),
        "node2vec": lambda: task_deepwalk(cfg, args.threads, method="node2vec"),
        "memory": lambda: task_memory(cfg, args.threads),
        "walkspeed": lambda: task_walkspeed(cfg, args.threads, args.baseline),
        "item2vec": lambda: task_item2vec(cfg, args.threads),
        "search": lambda: task_search(cfg, args.threads),
        "spark": lambda: task_spark(cfg, args.threads),
        "sparkitem2vec": lambda: task_sparkitem2vec(cfg, args.threads),
        "sparkwalks": lambda: task_sparkwalks(cfg, args.threads),
        "stages": lambda: task_stages(cfg, args.threads),
        "quality": lambda: task_quality(cfg, args.threads),
        "hugepages": lambda: task_hugepages(cfg, args.threads),
    }
    for t in tasks:
        rows += runners[t]()
    meta = {
        "command": "python -m recall.bench.scale "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "versions": library_versions(),
        "quick": args.quick,
        "full_help": FULL_HELP,
        "settings": QUALITY_SETTINGS,
    }
    run.finish()
    write_report(rows, default_out("scale", args.quick, args.out), meta, run)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
