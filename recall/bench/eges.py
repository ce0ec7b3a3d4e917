"""EGES experiment on MovieLens ml-latest-small, and EGES throughput next to gensim.

Run ``python -m recall.bench.eges`` (``--quick`` for a < 1 min smoke run). Writes
``reports/eges/results.csv`` (long format: one row per experiment x model x metric) and
``reports/eges/results.md`` (tables, protocol, library versions and thread counts).

Side information: the MovieLens ``genres`` (multi-valued), ``tags`` (multi-valued, user tags
lower-cased) and the release year in 5-year buckets (``year5``: "1995-1999").

1. **Link prediction** (the EGES paper's protocol): the item graph of all sessions (weight A->B
   = times B directly follows A in a user's time-ordered history); a fraction (1/3) of its
   undirected item pairs is held out (both directions removed); BGE, GES and EGES train on the
   same walks over the remaining graph (items left without edges keep their node: BGE can only
   give them their random initial vector, GES/EGES their side information); held-out pairs are
   scored against an equal number of random item pairs that are not linked in the full graph,
   by cosine similarity; AUC = ``roc_auc_score``.
2. **Recommendation** (one training per model serves both parts):
   - ``n_cold`` items with at least ``min_cold_users`` users are hidden: all their interactions
     are removed; the rest is split leave-last-out (each user's last event is the test item).
   - warm: HR@10 / NDCG@10 I2I (query = the user's last training item, seen items excluded,
     ``embeddings.evaluation.evaluate_i2i``) and the popularity baseline.
   - cold: each user who interacted with a hidden item and has training items gets a query
     vector = the mean of the unit vectors of their training items; candidates are the hidden
     items only ("cold-only": a slot for new items), ranked by cosine against their
     ``cold_start_vectors`` built from side information. Relevant = the user's hidden items.
     Baselines: random order; "side-info popularity" (a hidden item scores the mean training
     count of the warm items sharing its genres: what a popularity rule can know about a new
     item); and "oracle popularity" (the hidden items' true counts - uses the held-out data, an
     upper reference for any non-personalised ranking). A second ranking, "all items", puts the
     cold vectors among all warm vectors (user's training items excluded). BGE has no side
     information and cannot embed a new item.
   - ``--split valid``: the test's cold items stay hidden and are never evaluated; another
     ``n_cold`` items are carved from the training items (seeded, independent stream), hidden
     too, and evaluated instead: settings (``--item-dropout``) are chosen there, and the test
     split is read once with the chosen settings.
   - statistics (``--seeds`` >= 3): per model the mean HR@10 over seeds with its 95% Student-t
     interval; paired bootstrap over (seed, user) units (``embeddings.stats``) of EGES vs GES
     and each vs side-info popularity (difference and ratio, 95%); "significant" only when the
     interval excludes zero. Per-user rows in ``cold_per_user.csv``, intervals in
     ``cold_stats.csv``. Diagnostic rows (no training): "X norm" (field vectors scaled to unit
     length before the weighted sum), "X [field]" (one field alone).
   - reference row "DeepWalk (gensim sg)": gensim skip-gram on the same walks with the same
     settings, i.e. what BGE computes, trained by gensim instead of our loop.
3. **Throughput**: the same walks fed to EGES/BGE (``fit_walks``, one epoch) and to gensim
   ``Word2Vec(sg=1, hs=0)`` (same dim, window, negatives, ``sample=0``, ``min_count=1``, one
   epoch, vocabulary built outside the timing), with 1 and 2 workers; pairs/s = positive
   (centre, context) pairs per second, counted exactly for ours and as the exact expectation
   under word2vec's window shrinking for gensim (both shrink windows the same way).

Modules: ``eges_setup`` (models, data, walks, the gensim reference), ``eges_link`` (1),
``eges_cold`` (2), ``eges_throughput`` (3), ``eges_report``; this module is the command line.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd

from embeddings.datasets.movielens import load_movielens
from recall.bench.eges_cold import recommendation
from recall.bench.eges_link import link_prediction
from recall.bench.eges_report import write_report
from recall.bench.eges_setup import (
    MODELS,
    PAPER_AUC,
    REFERENCE,
    data_root,
    gensim_deepwalk,
    movielens_side_info,
)
from recall.bench.eges_throughput import expected_sg_pairs, throughput

__all__ = [
    "MODELS",
    "PAPER_AUC",
    "REFERENCE",
    "data_root",
    "expected_sg_pairs",
    "gensim_deepwalk",
    "link_prediction",
    "main",
    "movielens_side_info",
    "recommendation",
    "throughput",
    "write_report",
]

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """The command line: run the ``--parts`` over the seeds; returns the long results table."""
    from recall.bench.harness import bench_parser, default_out, start_run

    ap = bench_parser(
        "eges", __doc__.splitlines()[0], quick_help="small sizes (< 1 min)", threads=None
    )
    ap.add_argument("--data", help="shared data root (default $EMBRECALL_DATA or ../shared/data)")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="threads for the quality runs (1 = bit-reproducible); throughput uses 1 and 2",
    )
    ap.add_argument("--parts", default="lp,rec,tp", help="comma list of lp, rec, tp")
    ap.add_argument(
        "--split",
        choices=["test", "valid"],
        default="test",
        help="cold-start items evaluated: the test items, or validation items carved from the "
        "training items (the test items stay hidden); choose settings on 'valid'",
    )
    ap.add_argument(
        "--item-dropout",
        default="",
        help="comma list of item_dropout values > 0: adds 'GES drop=x' and 'EGES drop=x' rows",
    )
    ap.add_argument(
        "--models",
        default="",
        help="comma list: train only these models in the recommendation part (default: all; "
        "names as in the tables, e.g. 'GES,EGES,EGES drop=0.5')",
    )
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    run = start_run("eges", args, argv)
    args.out = str(default_out("eges", args.quick, args.out))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("gensim").setLevel(logging.WARNING)

    cfg: dict[str, Any] = {
        "quick": args.quick,
        "dim": 64,
        "window": 5,
        "negative": 5,
        "epochs": 3,
        "num_walks": 10,
        "walk_length": 20,
        "workers": args.workers,
        "holdout": 1 / 3,
        "n_cold": 300,
        "min_cold_users": 5,
        "tp_num_walks": 5,
        "tp_workers": [1, 2],
        "tp_repeat": 3,
        "seeds": 1,
        "split": args.split,
        "item_dropout": [float(x) for x in args.item_dropout.split(",") if x.strip()],
        "models": [x.strip() for x in args.models.split(",") if x.strip()],
        "progress": args.progress,
    }
    if args.quick:
        cfg.update(dim=32, epochs=1, num_walks=2, walk_length=10, n_cold=100)
        cfg.update(tp_num_walks=1, tp_workers=[2], tp_repeat=3)
    if args.seeds is not None:
        cfg["seeds"] = args.seeds
    ml = load_movielens(data_root(args.data) / "movielens-latest-small")
    side = movielens_side_info(ml.side_info)
    interactions = ml.interactions
    if args.quick:
        users = interactions.user_ids()[:150]
        interactions = interactions.filter(interactions.frame["user_id"].isin(users), "ml-quick")
    parts = set(args.parts.split(","))
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for seed in range(args.seed, args.seed + cfg["seeds"]):  # --seed: the first seed (default 0)
        if "lp" in parts:
            rows += link_prediction(interactions, side, cfg, seed)
        if "rec" in parts:
            rows += recommendation(interactions, side, cfg, seed)
    if "tp" in parts:
        rows += throughput(interactions, side, cfg, args.seed)
    cfg["wall_seconds"] = time.perf_counter() - t0
    from recall.measure import environment_info

    df = pd.DataFrame(rows)
    run.finish()
    write_report(df, cfg, environment_info(), Path(args.out), run)
    logger.info("wrote %s", args.out)
    return df


if __name__ == "__main__":
    main()
