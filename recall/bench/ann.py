"""Approximate nearest neighbours: our LSH vs exact search and the peers, on every data family.

    python -m recall.bench.ann [--quick] [--grid ann_100k] [--sizes 100000] [--dataset all] [--out DIR]

Data (every one in every report): the synthetic families of :mod:`recall.bench.datasets` --
``gmm`` (Gaussian mixture, the easy case), ``skewed`` (anisotropic low-rank clusters, power-law
sizes, outliers) and ``ip_heavy`` (inner-product search over heavy-tailed norms, user-like queries)
-- at each size of ``--sizes``, and the real vectors: ``sparkals`` (Spark ALS MovieLens-1M items,
queried by its users), ``sparrow`` (SparrowRecSys item2vec items, by its users) and ``item2vec``
(trained here on ml-latest-small, queried by user vectors = mean of each user's liked items). Real
sets need the shared data folder (``EMBRECALL_DATA`` or ``../shared/data``) and are skipped without.

Methods and their parameter grids are declared in ``recall/bench/grids/*.toml`` (``--grid``); every
peer is swept over its build grid x its search parameter, ours over the same kind of grid and over
``tune_lsh`` variants (tuning time counted in the build time, shown apart too).

Measurement (:mod:`recall.bench.harness`): one thread everywhere; wall clock the figure, CPU beside.
Every peer is timed through its own single-query call in its documented mode (``native_search``:
hnswlib ``knn_query``, faiss ``index.search``, annoy ``get_nns_by_vector``, scikit-learn
``query``, faiss ``IndexBinaryMultiHash.search`` + re-rank; FALCONN's query object), with the same
pre-processing (unit float32 rows for cosine) done once outside the timed loop; the ids of that
call are checked against the wrapped ``search`` (``native_ids_match``) and the wrapped QPS is
reported beside, never used in a ratio. Ours and exact search are timed through ``search(row, k)``,
their shortest public single-query path. Search parameters are set only through
``set_search_params``. Per built index, every search setting's single-query loop is timed in rounds interleaved across
settings (a timed pass repeats the loop until it lasts >= 0.1 s, so that
scheduler noise stays small); the batched QPS (all queries in one call) is secondary and comes
from the one call that measured the recall; medians with min-max, > 20% spread flagged. knn-recall@10 is
tie-aware (a returned item as close as the true 10th counts; strict recall in results.csv too).
After the sweeps, the points the issue's targets compare (ours, faiss IndexFlat, faiss
IndexLSH+refine, hnswlib) are re-timed together, interleaved, and the target ratios come from that
phase. FALCONN runs in its own interpreter (numpy < 2) right after, not interleaved (said so).
Two rules keep the effort bounded without favouring anyone: a search sweep stops once strict
recall reaches 0.999 (a larger setting cannot do better), and a point whose warm-up pass is slower
than half the faster exact baseline (in two passes) is dominated by exact search: it keeps the
better pass (flagged, ``dominated_by_exact``) instead of the timed rounds.

Full runs, for a quiet machine (1-minute load < 1.5 on 2 cores; the run refuses otherwise):

    python -m recall.bench.ann --grid ann_100k                       # every family at 100k, ~30 min
    python -m recall.bench.ann --grid ann_100k_issue --dataset gmm --out reports/ann_issue_gmm
                                                   # the issue's full HNSW grid, ~25 min per family
    python -m recall.bench.ann --grid ann_1m --sizes 10000,100000,1000000 \
        --dataset gmm,skewed,ip_heavy --out reports/ann_1m       # 1M + cost growth, ~2 h (or per family)

(times are estimates from runs at 3k-20k on a loaded machine; the report records the real one).

FALCONN 1.3.1 does not install from pip on Python 3.11 (its bundled pybind11 2.3 fails to
compile); it builds from the sdist once the headers are swapped for a newer pybind11::

    python -m venv /tmp/falconn-venv && /tmp/falconn-venv/bin/pip install "numpy<2" "pybind11==2.10.4" setuptools wheel
    pip download --no-deps --no-binary :all: falconn==1.3.1 && tar xzf FALCONN-1.3.1.tar.gz
    rm -r FALCONN-1.3.1/external/pybind11/include && mkdir FALCONN-1.3.1/external/pybind11/include
    cp -r $(/tmp/falconn-venv/bin/python -c "import pybind11; print(pybind11.get_include())")/pybind11 \
        FALCONN-1.3.1/external/pybind11/include/
    /tmp/falconn-venv/bin/pip install --no-build-isolation ./FALCONN-1.3.1

and is found through ``--falconn-python``, ``$EMBRECALL_FALCONN_PYTHON`` or /tmp/falconn-venv.

Parts, one module each: :mod:`recall.bench.ann_data` (the data sets), :mod:`recall.bench.ann_grids`
(grid files), :mod:`recall.bench.ann_binary` (the faiss ``IndexBinaryMultiHash`` peer),
:mod:`recall.bench.ann_falconn` (FALCONN in its own interpreter), :mod:`recall.bench.ann_report`
(frontiers, targets, plots, ``results.md``); this module measures (``Bench``) and runs (``main``).

Writes ``results.csv`` (every point), ``frontier.csv``, ``targets.csv``, ``growth.csv``,
``results.md`` and ``recall_vs_qps_<dataset>.png`` into ``--out`` (default ``./reports/ann``;
``--quick`` defaults to a temporary folder so smoke runs never overwrite committed reports).
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

# the parts of the benchmark, one module each; re-exported here (grids name
# ``recall.bench.ann:BinaryMultiHashIndex``; tests and notebooks use ``ann.pareto`` etc.)
from recall.bench.ann_bench import SATURATED, Bench, K  # noqa: E402,F401
from recall.bench.ann_binary import BinaryMultiHashIndex  # noqa: E402,F401
from recall.bench.ann_data import (  # noqa: E402,F401
    REAL,
    Data,
    data_root,
    load_item2vec,
    load_sparkals,
    load_sparrow,
    make_data,
)
from recall.bench.ann_falconn import falconn_python, run_falconn  # noqa: E402,F401
from recall.bench.ann_grids import (  # noqa: E402,F401
    GRIDS,
    WRAPPED_CALL,
    _label,
    expand,
    grid_path,
    import_obj,
    load_grid,
    resolve,
    set_search,
)
from recall.bench.ann_report import (  # noqa: E402,F401
    TARGETS,
    growth_table,
    pareto,
    plot_families,
    targets,
    write_report,
)
from recall.bench.datasets import FAMILIES
from recall.bench.harness import (
    bench_parser,
    default_out,
    single_thread,
    start_run,
)

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    ap = bench_parser(
        "ann", __doc__.split("\n")[0], quick_help="small sizes and the quick grid (~1 min)"
    )
    ap.add_argument("--grid", default=None, help="grid name in recall/bench/grids or a .toml path")
    ap.add_argument(
        "--dataset",
        default="all",
        help="comma list of gmm,skewed,ip_heavy,sparkals,sparrow,item2vec or all",
    )
    ap.add_argument(
        "--sizes",
        default=None,
        help="comma list of n for the synthetic families (default 100000; quick 5000)",
    )
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument(
        "--queries", type=int, default=None, help="evaluation queries (default 1000; quick 100)"
    )
    ap.add_argument(
        "--single",
        type=int,
        default=None,
        help="queries in the single-query loop (default 300; quick 50)",
    )
    ap.add_argument(
        "--rounds", type=int, default=None, help="interleaved rounds (>= 3; default from the grid)"
    )
    ap.add_argument("--falconn-python", default=None, help="interpreter with falconn installed")
    ap.add_argument(
        "--methods", default=None, help="comma list of grid method names (default: all)"
    )
    args = ap.parse_args(argv)
    run = start_run("ann", args, argv)
    grid = load_grid(args.grid or ("ann_quick" if args.quick else "ann_100k"))
    rounds = args.rounds or int(grid.get("rounds", 3))
    if rounds < 3:
        raise ValueError(f"--rounds must be >= 3 (the harness's rule), got {rounds}")
    sizes = [int(s) for s in (args.sizes or ("5000" if args.quick else "100000")).split(",")]
    nq = args.queries or (100 if args.quick else 1000)
    n_single = args.single or (50 if args.quick else 300)
    out = default_out("ann", args.quick, args.out)
    names = [*FAMILIES, *REAL] if args.dataset == "all" else args.dataset.split(",")
    for nm in names:
        if nm not in FAMILIES and nm not in REAL:
            raise ValueError(f"unknown data set {nm!r}; known: {[*FAMILIES, *REAL]}")
    fpy = falconn_python(args.falconn_python)
    if fpy is None:
        log.warning("FALCONN not installed (see the module docstring); its rows are absent")
    grid["falconn_note"] = (
        f"FALCONN 1.3.1 built from the sdist with pybind11 2.10.4 headers ({fpy})"
        if fpy
        else "not installed: its rows and target are absent"
    )
    methods = grid["methods"]
    if args.methods:
        unknown = sorted(set(args.methods.split(",")) - set(methods))
        if unknown:
            raise ValueError(f"unknown methods {unknown}; the grid has {sorted(methods)}")
        methods = {k: v for k, v in methods.items() if k in args.methods.split(",")}
    order = sorted(
        methods,
        key=lambda k: (
            0
            if "exact" in methods[k]["family"] or "Flat" in methods[k]["family"]
            else 1
            if methods[k]["family"].startswith("ours")
            else 2
        ),
    )
    points: list[dict[str, Any]] = []
    tgs: list[pd.DataFrame] = []
    jobs = [(nm, n) for nm in names for n in (sizes if nm in FAMILIES else [0])]
    with single_thread(args.threads):
        for nm, n in jobs:
            data = make_data(nm, n, args.dim, nq, args.seed, args.quick)
            if data is None:
                continue
            b = Bench(data, grid, n_single, rounds, args.seed)
            for mname in order:
                b.run_method(mname, methods[mname])
            final = b.target_phase()
            for mname in order:
                if "external" in methods[mname] and fpy:
                    run_falconn(fpy, b, methods[mname])
            pts = pd.DataFrame(b.points)
            pts.attrs["vectors_mb"] = data.x.nbytes / 2**20
            points.extend(b.points)
            tg = targets(final, pts)
            tg.insert(0, "n", data.n)
            tg.insert(0, "dataset", data.name)
            tgs.append(tg)
            del b
            # after every data set: a partial run keeps its results
            run.finish()
            write_report(pd.DataFrame(points), pd.concat(tgs, ignore_index=True), run, out, grid)
    log.info("report written to %s", out)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    raise SystemExit(main())
