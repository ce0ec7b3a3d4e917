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
``OUT/memory.csv`` (``recall.bench.walks_memory``; ``--memory-name`` renames them), never over
``results.md``.

Each run is ``walks_children.py`` in a fresh interpreter (a script inside the peers'
environments, so its module-level imports are standard library only); this module holds the
command line and interleaves the rounds. Its parts: ``walks_run`` (the cached graph, the peers'
interpreters, one child run), ``walks_report`` (the summary, the memory goal, ``results.md``),
``walks_memory`` (the ``--memory-rows`` rows and the ``--memory`` probe), ``walks_children``
and ``walks_probe`` (inside the children); every name stays importable from here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from recall.bench.walks_memory import (  # noqa: F401
    ISOLATED_IMPORTS,
    MEMORY_PATHS,
    check_memory_name,
    memory_probe,
)
from recall.bench.walks_report import (  # noqa: F401
    MEMORY_GOAL,
    _label,
    _memory_goal_lines,
    _write_reports,
    memory_goal,
    summarise,
)
from recall.bench.walks_run import (  # noqa: F401
    CACHE,
    OURS,
    QUICK_SG,
    REPO,
    SG,
    _edge_file,
    _find_python,
    _run_child,
    _sg_args,
)

SETTINGS = [(1.0, 1.0), (0.5, 2.0)]
FULL = dict(nodes=100_000, m=10, num_walks=10, walk_length=80)
QUICK = dict(nodes=2_000, m=3, num_walks=2, walk_length=20)
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
        "--memory-name",
        default="memory",
        help="with --memory-rows: the report's file name, OUT/NAME.md and OUT/NAME.csv "
        "(default memory; e.g. memory_gensim for --memory-trainers stream)",
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
    check_memory_name(args.memory_name)
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
        path = write_memory_rows(rows, meta, run, out, MEMORY_GOAL, _label, args.memory_name)
        log.info("wrote %s", path)
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
