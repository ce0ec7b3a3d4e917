"""Quality of the trainers on a validation protocol: searches, baselines, intervals, bootstrap.

``python -m recall.bench.quality [--quick] [--stage search|final|report ...] [--data DIR]
[--out DIR] [--datasets ...] [--methods ...] [--trials N] [--timeout S] [--seeds 0 1 2]``

Recommendation (ml-latest-small, the synthetic default)
    ``train_valid_test_split``: each user's last event is the test item, the second-to-last the
    validation item, ties between equal timestamps broken at random with a fixed seed.
    *search*: Optuna TPE (``embeddings.tuning.tune``) per method on (train, valid): the
    hyperparameters, graph construction and query mode (I2I / U2I) are chosen on validation
    HR@10. *final*: every method is refit on train + valid with ``--seeds`` and read on test
    once: the library defaults and the tuned setting, next to popularity, item-kNN (cosine,
    co-occurrence) and implicit ALS / BPR. The best baseline is the one best on validation.
Node classification (BlogCatalog, PPI, POS = the node2vec paper's "Wikipedia", Wiki = OpenNE's)
    ``split_labelled_nodes``: 50% of the labelled nodes are test, 20% of the rest a validation
    fold. *search* on the fold (``tune_node_classification``; ``--node-search``, default
    BlogCatalog): TPE, or with ``--node-pq-grid`` node2vec's p, q on the paper's grid
    {0.25, 0.5, 1, 2, 4}^2 per graph, the classifier chosen on the fold in every trial; with
    ``--node-cv-folds K`` each trial is scored by K-fold cross-validation over all training
    nodes instead (key ``<graph>__node2vec-pq-grid-cvK``; the goal rows prefer it). *final*:
    the classifier is fit on all training nodes and scored on the test nodes, over ``--seeds``
    embedding seeds; a graph's own grid choice is run, and the setting tuned on
    ``--node-tuned-on`` is also applied unchanged to the other graphs (does it generalise?).

Statistics: mean and 95% Student-t interval over the seeds; paired bootstrap over test users
(each user's hit averaged over seeds) of every method vs popularity and vs the best baseline; a
difference is a win only when its interval excludes zero. *report* writes ``results.csv``,
``results.md``, ``search/*.csv|json`` and ``plots/search_*.png`` under ``--out``.

Modules: ``quality_protocol`` (the settings, re-exported here: ``PUBLISHED_MACRO_F1``,
``REC_METHODS``, ``BASELINES``, ``METRIC``, ``REC_WALK_SPACE``, ``NODE_SPACE``, ``CONFIGS``,
``OLD_WALK_DEFAULTS``; the data), ``quality_search`` (*search*), ``quality_recommendation``
(*final* on the logs), ``quality_nodes`` (*final* on the graphs, *defaults-check*),
``quality_report`` (*report*); this module is the command line and runs the stages in order.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd

from recall.bench.harness import bench_parser, default_out, start_run
from recall.bench.quality_nodes import defaults_check, node_final
from recall.bench.quality_protocol import (
    BASELINES,
    CONFIGS,
    METRIC,
    NODE_SPACE,
    OLD_WALK_DEFAULTS,
    PUBLISHED_MACRO_F1,
    REC_METHODS,
    REC_WALK_SPACE,
)
from recall.bench.quality_recommendation import recommendation_final
from recall.bench.quality_report import write_report
from recall.bench.quality_search import run_search

__all__ = [
    "BASELINES",
    "CONFIGS",
    "METRIC",
    "NODE_SPACE",
    "OLD_WALK_DEFAULTS",
    "PUBLISHED_MACRO_F1",
    "REC_METHODS",
    "REC_WALK_SPACE",
    "defaults_check",
    "main",
    "node_final",
    "recommendation_final",
    "run_search",
    "write_report",
]

logger = logging.getLogger(__name__)


def _data_root(arg: str | None) -> Path:
    """``--data``, else :func:`embeddings.paths.data_root`; when there is none, the first place it
    looks (a real data set then fails with a ``FileNotFoundError`` naming it; synthetic runs need
    no data folder)."""
    if arg:
        return Path(arg)
    from embeddings.paths import data_root, data_root_candidates

    root = data_root()
    return root if root is not None else data_root_candidates()[0]


def merge_rows(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``results.csv`` after a final: the new rows, and the old rows of every (data set,
    method) pair not re-run now (e.g. a node2vec final keeps the graph's DeepWalk rows)."""
    if "setting" not in old.columns or "method" not in old.columns:  # an older layout
        return new
    done = set(zip(new["dataset"], new["method"], strict=True))
    keep = [(d, m) not in done for d, m in zip(old["dataset"], old["method"], strict=True)]
    return pd.concat([old[keep], new], ignore_index=True)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """The command line: run the ``--stage`` s in order; returns the results table."""
    ap = bench_parser(
        "quality", __doc__.split("\n")[0], quick_help="small settings (a few minutes)", threads=None
    )
    ap.add_argument("--data", default=None, help="shared data root (default $EMBRECALL_DATA)")
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "embrecall" / "quality"))
    ap.add_argument(
        "--stage",
        choices=("search", "final", "defaults-check", "report"),
        action="append",
        default=None,
    )
    ap.add_argument("--datasets", nargs="*", default=None, help="subset of the config's")
    ap.add_argument("--methods", nargs="*", default=None)
    ap.add_argument(
        "--node-search", nargs="*", default=None, help="graphs searched (default blogcatalog)"
    )
    ap.add_argument("--node-tuned-on", default=None, help="graph whose search the others reuse")
    ap.add_argument(
        "--node-pq-grid",
        action="store_true",
        help="search node2vec's p, q on the paper's grid {0.25..4}^2 per --node-search graph "
        "(classifier chosen on the validation fold in every trial), not TPE",
    )
    ap.add_argument(
        "--node-cv-folds",
        type=int,
        default=None,
        help="node search: score each trial by K-fold cross-validation over the training nodes "
        "(fit + valid) instead of the one validation fold; the key gets '-cvK'",
    )
    ap.add_argument(
        "--skip-defaults",
        nargs="*",
        default=[],
        help="methods whose library-default row is not run (e.g. the slow walks on a shared box)",
    )
    ap.add_argument(
        "--check-epochs", type=int, nargs="*", default=None, help="defaults-check: these epochs"
    )
    ap.add_argument("--trials", type=int, default=None, help="override every search budget")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per search")
    ap.add_argument("--seeds", type=int, nargs="*", default=None)
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("gensim").setLevel(logging.WARNING)

    from recall.measure import environment_info

    cfg_name = "quick" if args.quick else "full"
    cfg = json.loads(json.dumps(CONFIGS[cfg_name]))
    if args.datasets is not None:
        cfg["rec_datasets"] = [d for d in cfg["rec_datasets"] if d in args.datasets]
        cfg["node_datasets"] = [d for d in cfg["node_datasets"] if d in args.datasets]
        cfg["node_search"] = [d for d in cfg["node_search"] if d in args.datasets]
    if args.node_search is not None:
        cfg["node_search"] = args.node_search
    if args.node_pq_grid:
        cfg["node_search_mode"] = "pq-grid"
    if args.node_cv_folds is not None:
        if args.node_cv_folds < 2:
            ap.error(f"--node-cv-folds must be >= 2, got {args.node_cv_folds}")
        cfg["node_cv_folds"] = args.node_cv_folds
    if args.node_tuned_on is not None:
        cfg["node_tuned_on"] = args.node_tuned_on
    if args.trials is not None:
        cfg["trials"] = {k: args.trials for k in cfg["trials"]}
    if args.timeout is not None:
        cfg["timeout"] = args.timeout
    if args.seeds:
        cfg["seeds"] = args.seeds
    cfg["skip_defaults"] = list(args.skip_defaults)
    if args.check_epochs:
        cfg["check_epochs"] = list(args.check_epochs)
    methods = args.methods or [*REC_METHODS, "implicit-als", "implicit-bpr"]
    stages = args.stage or ["search", "final", "report"]
    root, out, cache = (
        _data_root(args.data),
        default_out("quality", args.quick, args.out),
        Path(args.cache),
    )
    run = None
    if {"search", "final", "defaults-check"} & set(stages):  # stages that time what they train
        run = start_run("quality", args, argv)
    t0 = time.perf_counter()
    if "search" in stages:
        run_search(
            cfg,
            root,
            out,
            methods,
            args.seed,
            cache,
            rec_walk_space=REC_WALK_SPACE,
            node_space=NODE_SPACE,
        )
    rows_file = out / "results.csv"
    if "defaults-check" in stages:
        check = defaults_check(cfg, root, args.seed, OLD_WALK_DEFAULTS)
        if len(check):
            path = out / "defaults_check.csv"
            if path.is_file():  # rows of other (data set, setting) pairs are kept
                old = pd.read_csv(path)
                new_keys = set(zip(check["dataset"], check["setting"], strict=True))
                keep = [
                    (d, st) not in new_keys
                    for d, st in zip(old["dataset"], old["setting"], strict=True)
                ]
                check = pd.concat([old[keep], check], ignore_index=True)
            check.to_csv(path, index=False)
    if "final" in stages:
        rows = recommendation_final(cfg, root, out, methods, args.seed, args.progress)
        rows += node_final(cfg, root, out, methods, args.seed)
        new = pd.DataFrame(rows)
        if rows_file.is_file() and len(new):
            new = merge_rows(pd.read_csv(rows_file), new)
        df = new
    else:
        df = pd.read_csv(rows_file) if rows_file.is_file() else pd.DataFrame()
    env = environment_info()
    shown = argv if argv is not None else sys.argv[1:]
    env["command"] = "python -m recall.bench.quality " + " ".join(shown)
    env.update(seed=args.seed, total_seconds=time.perf_counter() - t0, loadavg=os.getloadavg())
    if run is not None:
        run.finish()
        env.update(load_text=run.load_text(), load_notes=list(run.notes), loaded=run.loaded)
    if "report" in stages or "final" in stages:
        write_report(df, out, cfg_name, cfg, env)
        logger.info("wrote %s", out / "results.md")
    return df


if __name__ == "__main__":
    main()
