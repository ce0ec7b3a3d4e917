"""Link prediction of the EGES benchmark (the EGES paper's protocol, ``recall.bench.eges``).

A third of the undirected item pairs of the session graph is held out; BGE, GES, EGES and the
gensim reference train on the same walks over the rest; held-out pairs are scored against as
many unlinked random pairs (cosine and the skip-gram logit), AUC by ``roc_auc_score``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from embeddings.datasets.tables import Interactions, ItemSideInfo
from embeddings.graph import ItemGraph
from embeddings.sessions import build_sessions
from embeddings.validate import spawn_seeds
from recall.bench.eges_setup import (
    MODELS,
    REFERENCE,
    gensim_deepwalk,
    make_model,
    train_walks,
    unit_rows,
)

logger = logging.getLogger(__name__)


def _link_logit(H: np.ndarray, C: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Symmetrised skip-gram logit H_a.C_b + H_b.C_a of item pairs (positions)."""
    return np.einsum("ij,ij->i", H[a], C[b]) + np.einsum("ij,ij->i", H[b], C[a])


def link_prediction(
    interactions: Interactions, side: ItemSideInfo, cfg: dict[str, Any], seed: int
) -> list[dict[str, Any]]:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    full = ItemGraph.from_sessions(build_sessions(interactions))
    n = full.n_nodes
    src = np.repeat(np.arange(n), full.out_degree())
    dst = full.indices.astype(np.int64)
    key = np.minimum(src, dst) * n + np.maximum(src, dst)
    pairs = np.unique(key)
    held = pairs[rng.random(pairs.shape[0]) < cfg["holdout"]]
    keep = ~np.isin(key, held)
    train = ItemGraph.from_edges(
        full.node_ids[src[keep]],
        full.node_ids[dst[keep]],
        full.weights[keep],
        directed=True,
        node_ids=full.node_ids,
    )
    # random non-linked pairs, as many as held-out pairs
    neg: list[np.ndarray] = []
    need = held.shape[0]
    pair_set = pairs
    while need > 0:
        a = rng.integers(0, n, 2 * need)
        b = rng.integers(0, n, 2 * need)
        k = np.minimum(a, b) * n + np.maximum(a, b)
        ok = (a != b) & ~np.isin(k, pair_set)
        k = np.unique(k[ok])[:need]
        neg.append(k)
        pair_set = np.union1d(pair_set, k)
        need -= k.shape[0]
    negk = np.concatenate(neg)
    ea, eb = held // n, held % n
    na, nb = negk // n, negk % n
    isolated = int((train.out_degree() + np.bincount(train.indices, minlength=n) == 0).sum())
    logger.info(
        "link prediction: %d pairs, %d held out, %d items left without edges",
        pairs.shape[0],
        held.shape[0],
        isolated,
    )
    walks = train_walks(train, cfg, spawn_seeds(seed, 2)[0])
    rows = []
    for name in [*MODELS, REFERENCE]:
        t0 = time.perf_counter()
        if name == REFERENCE:
            emb, ctx = gensim_deepwalk(walks, train, cfg, seed)
        else:
            model = make_model(name, cfg, seed)
            emb = model.fit_walks(walks, train, side)
            ctx = model.context_vectors_
        v = unit_rows(emb.vectors)  # rows = graph positions (same node order)
        s_pos = np.einsum("ij,ij->i", v[ea], v[eb])
        s_neg = np.einsum("ij,ij->i", v[na], v[nb])
        y = np.concatenate([np.ones_like(s_pos), np.zeros_like(s_neg)])
        auc = roc_auc_score(y, np.concatenate([s_pos, s_neg]))
        # the model's own link score: skip-gram logit H_a.C_b, symmetrised
        auc_hc = roc_auc_score(
            y,
            np.concatenate(
                [
                    _link_logit(emb.vectors, ctx, ea, eb),
                    _link_logit(emb.vectors, ctx, na, nb),
                ]
            ),
        )
        # AUC restricted to held-out pairs touching an item left without training edges
        iso = (train.out_degree() + np.bincount(train.indices, minlength=n)) == 0
        m_pos = iso[ea] | iso[eb]
        m_neg = iso[na] | iso[nb]
        auc_iso = (
            roc_auc_score(
                np.concatenate([np.ones(m_pos.sum()), np.zeros(m_neg.sum())]),
                np.concatenate([s_pos[m_pos], s_neg[m_neg]]),
            )
            if m_pos.any() and m_neg.any()
            else float("nan")
        )
        base = {"experiment": "link_prediction", "model": name, "seed": seed}
        rows.append({**base, "metric": "auc", "value": auc, "n": int(y.shape[0])})
        rows.append({**base, "metric": "auc_logit", "value": auc_hc, "n": int(y.shape[0])})
        rows.append(
            {
                **base,
                "metric": "auc_isolated_items",
                "value": auc_iso,
                "n": int(m_pos.sum() + m_neg.sum()),
            }
        )
        rows.append({**base, "metric": "train_seconds", "value": time.perf_counter() - t0, "n": 0})
        logger.info("link prediction %s: AUC %.4f (isolated-item pairs %.4f)", name, auc, auc_iso)
    return rows
