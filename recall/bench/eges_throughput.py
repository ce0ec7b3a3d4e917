"""Throughput part of the EGES benchmark (``recall.bench.eges``): the same walks fed to EGES / BGE
(one epoch) and to gensim ``Word2Vec(sg=1)``, 1 and 2 workers, positive pairs per second.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from embeddings.datasets.tables import Interactions, ItemSideInfo
from embeddings.graph import ItemGraph
from embeddings.sessions import build_sessions
from embeddings.walks import generate_walks
from recall.bench.eges_setup import (
    make_model,
)

logger = logging.getLogger(__name__)


def expected_sg_pairs(lengths: np.ndarray, window: int) -> float:
    """Expected positive pairs of word2vec skip-gram with a reduced window b ~ U{1..window}."""
    total = 0.0
    vals, cnt = np.unique(lengths, return_counts=True)
    for L, c in zip(vals.tolist(), cnt.tolist(), strict=True):
        pos = np.arange(L)
        per = 0.0
        for b in range(1, window + 1):
            per += (np.minimum(pos, b) + np.minimum(L - 1 - pos, b)).sum()
        total += c * per / window
    return total


def throughput(
    interactions: Interactions, side: ItemSideInfo, cfg: dict[str, Any], seed: int
) -> list[dict[str, Any]]:
    from gensim.models import Word2Vec

    from embeddings.walks import walks_to_ids

    graph = ItemGraph.from_sessions(build_sessions(interactions))
    walks = generate_walks(
        graph,
        num_walks=cfg["tp_num_walks"],
        walk_length=cfg["walk_length"],
        random_state=seed,
        progress=False,
    )
    lengths = (walks >= 0).sum(1)
    tokens = [[str(x) for x in w.tolist()] for w in walks_to_ids(walks, graph)]
    n_tokens = int(lengths.sum())
    g_pairs = expected_sg_pairs(lengths, cfg["window"])
    rows = []
    from recall.bench.harness import Timing

    def fit_once(name: str, workers: int) -> tuple[float, float, float]:
        """(wall s, CPU s, pairs) of one epoch of ``name``; only the training is timed."""
        if name == "gensim sg":
            w2v = Word2Vec(
                vector_size=cfg["dim"],
                window=cfg["window"],
                negative=cfg["negative"],
                sg=1,
                hs=0,
                sample=0,
                min_count=1,
                workers=workers,
                seed=seed,
            )
            w2v.build_vocab(tokens)
            c0, t0 = time.process_time(), time.perf_counter()
            w2v.train(tokens, total_examples=len(tokens), epochs=1)
            return time.perf_counter() - t0, time.process_time() - c0, g_pairs
        m = make_model(name, cfg, seed, epochs=1, workers=workers)
        c0, t0 = time.process_time(), time.perf_counter()
        m.fit_walks(walks, graph, side)
        return time.perf_counter() - t0, time.process_time() - c0, float(m.n_pairs_)

    for workers in cfg["tp_workers"]:
        # warm-up (numba compile / cache load), not timed
        make_model("EGES", cfg, seed, epochs=1, workers=workers).fit_walks(walks[:200], graph, side)
        # interleaved rounds (EGES, BGE, gensim; EGES, BGE, gensim; ...): wall clock, median
        names = ("EGES", "BGE", "gensim sg")
        wall: dict[str, list[float]] = {nm: [] for nm in names}
        cpu: dict[str, list[float]] = {nm: [] for nm in names}
        pairs: dict[str, float] = {}
        for _ in range(cfg["tp_repeat"]):
            for name in names:
                w, c, pr = fit_once(name, workers)
                wall[name].append(w)
                cpu[name].append(c)
                pairs[name] = pr
        res: dict[str, tuple[float, float]] = {}
        for name in names:
            t = Timing(tuple(wall[name]), tuple(cpu[name]))
            res[name] = (pairs[name] / t.median, t.median)
            base = {"experiment": "throughput", "model": name, "seed": seed, "workers": workers}
            rows.append({**base, "metric": "train_s_min", "value": t.min, "n": n_tokens})
            rows.append({**base, "metric": "train_s_max", "value": t.max, "n": n_tokens})
            rows.append({**base, "metric": "train_cpu_s", "value": t.cpu_median, "n": n_tokens})
        for name, (pps, secs) in res.items():
            base = {"experiment": "throughput", "model": name, "seed": seed, "workers": workers}
            rows.append({**base, "metric": "pairs_per_s", "value": pps, "n": n_tokens})
            rows.append({**base, "metric": "tokens_per_s", "value": n_tokens / secs, "n": n_tokens})
            rows.append(
                {
                    **base,
                    "metric": "ratio_vs_gensim",
                    "value": pps / res["gensim sg"][0],
                    "n": n_tokens,
                }
            )
        logger.info(
            "throughput workers=%d: EGES %.0f pairs/s, gensim %.0f pairs/s (%.2fx)",
            workers,
            res["EGES"][0],
            res["gensim sg"][0],
            res["EGES"][0] / res["gensim sg"][0],
        )
    return rows
