"""Recommendation part of the EGES benchmark (``recall.bench.eges``): warm HR@10 / NDCG@10 (I2I)
and cold start of hidden items from their side information, against random, side-info
popularity and oracle popularity; "cold-only" and "all items" rankings.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from embeddings.datasets.tables import Interactions, ItemSideInfo
from embeddings.evaluation import evaluate_i2i, evaluate_popularity, recommendation_metrics
from embeddings.evaluation.metrics import recommendation_metrics_per_user
from embeddings.graph import ItemGraph
from embeddings.neighbours import top_k
from embeddings.sessions import build_sessions, leave_last_out
from embeddings.validate import spawn_seeds
from recall.bench.eges_setup import (
    REFERENCE,
    gensim_deepwalk,
    make_model,
    model_names,
    train_walks,
    unit_rows,
)

logger = logging.getLogger(__name__)


def cold_items(
    interactions: Interactions, cfg: dict[str, Any], seed: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(hidden, evaluated) item ids (int64, sorted) of one seed's cold-start split.

    Test split (``cfg["split"] == "test"``, the default): ``n_cold`` items with at least
    ``min_cold_users`` users, drawn with ``rng`` (the bench's ``default_rng(seed + 1)``);
    hidden = evaluated.
    Validation split: the same test items stay hidden (never trained on, never evaluated), and
    ``n_cold`` more items drawn from the remaining eligible (training) items with an independent
    seeded stream are hidden too and evaluated: choices made on them never see the test items.
    """
    counts = interactions.frame["item_id"].value_counts()
    eligible = np.sort(counts.index[counts >= cfg["min_cold_users"]].to_numpy())
    test = np.sort(rng.choice(eligible, min(cfg["n_cold"], eligible.shape[0]), replace=False))
    split = cfg.get("split", "test")
    if split == "test":
        return test, test
    if split != "valid":
        raise ValueError(f"split must be 'test' or 'valid', got {split!r}")
    rest = eligible[~np.isin(eligible, test)]
    vrng = np.random.default_rng(np.random.SeedSequence([seed, 12]))
    valid = np.sort(vrng.choice(rest, min(cfg["n_cold"], rest.shape[0]), replace=False))
    return np.union1d(test, valid), valid


def recommendation(
    interactions: Interactions, side: ItemSideInfo, cfg: dict[str, Any], seed: int
) -> list[dict[str, Any]]:
    """Rows of the warm and cold-start tables for one seed (see ``recall.bench.eges``), and the
    per-user cold-only figures (experiment ``cold_start_cold_only_per_user``, column
    ``user_id``) that the report's intervals and paired bootstraps resample."""
    rng = np.random.default_rng(seed + 1)
    frame = interactions.frame
    hidden, cold = cold_items(interactions, cfg, seed, rng)
    is_hidden = frame["item_id"].isin(hidden).to_numpy()
    warm_log = interactions.filter(~is_hidden, "warm")
    cold_log = frame[frame["item_id"].isin(cold).to_numpy()]
    train, test = leave_last_out(warm_log)
    graph = ItemGraph.from_sessions(build_sessions(train))
    walks = train_walks(graph, cfg, spawn_seeds(seed, 2)[0])
    rows: list[dict[str, Any]] = []
    k = 10

    def add(exp: str, model: str, metrics: dict[str, Any], extra: dict[str, Any] | None = None):
        for m in ("hit_rate@10", "ndcg@10", "recall@10"):
            if m in metrics:
                rows.append(
                    {
                        "experiment": exp,
                        "model": model,
                        "seed": seed,
                        "metric": m,
                        "value": float(metrics[m]),
                        "n": int(metrics.get("n_users", 0)),
                        **(extra or {}),
                    }
                )

    # cold users: query = mean unit vector of their training items
    tr = train.frame
    user_items = {int(u): g.to_numpy(np.int64) for u, g in tr.groupby("user_id")["item_id"]}
    cold_users = np.array(
        sorted(u for u in cold_log["user_id"].unique().tolist() if int(u) in user_items),
        dtype=np.int64,
    )
    relevant = [
        np.unique(g.to_numpy(np.int64))
        for _, g in cold_log[cold_log["user_id"].isin(cold_users)].groupby("user_id")["item_id"]
    ]
    logger.info(
        "recommendation: %d cold items, %d cold users, %d warm test users",
        cold.shape[0],
        cold_users.shape[0],
        test.n_users,
    )

    def per_user(model: str, rec: np.ndarray) -> None:
        tab = recommendation_metrics_per_user(rec, relevant, k)
        for u, h, g in zip(cold_users.tolist(), tab["hit_rate@10"], tab["ndcg@10"], strict=True):
            rows.append(
                {
                    "experiment": "cold_start_cold_only_per_user",
                    "model": model,
                    "seed": seed,
                    "user_id": u,
                    "metric": "hit_rate@10",
                    "value": float(h),
                    "ndcg@10": float(g),
                    "n": 1,
                }
            )

    def cold_only(model: str, rec: np.ndarray, extra: dict[str, Any] | None = None) -> None:
        add("cold_start_cold_only", model, recommendation_metrics(rec, relevant, k), extra)
        per_user(model, rec)

    def ranked(scores: np.ndarray, cand: np.ndarray, exclude: list[np.ndarray] | None = None):
        out = np.full((scores.shape[0], k), -1, np.int64)
        for r in range(scores.shape[0]):
            s = scores[r].copy()
            if exclude is not None:
                s[np.isin(cand, exclude[r])] = -np.inf
            top = top_k(s[None], min(k, s.shape[0]))[0][0]
            out[r, : top.shape[0]] = cand[top]
        return out

    # baselines (cold-only candidates)
    rand_scores = rng.random((cold_users.shape[0], cold.shape[0]))
    cold_only("random", ranked(rand_scores, cold))
    train_count = tr["item_id"].value_counts()
    genre_pop: dict[str, list[float]] = {}
    for iid, gs in side.frame["genres"].items():
        if iid in train_count.index:
            for g in gs:
                genre_pop.setdefault(g, []).append(float(train_count[iid]))
    gp = {g: float(np.mean(v)) for g, v in genre_pop.items()}
    side_pop = np.array(
        [np.mean([gp[g] for g in side.frame.loc[i, "genres"] if g in gp] or [0.0]) for i in cold]
    )
    cold_only("popularity (side info)", ranked(np.tile(side_pop, (cold_users.shape[0], 1)), cold))
    oracle = cold_log["item_id"].value_counts().reindex(cold).fillna(0).to_numpy(float)
    cold_only("popularity (oracle counts)", ranked(np.tile(oracle, (cold_users.shape[0], 1)), cold))

    names = [*model_names(cfg), REFERENCE]
    chosen = cfg.get("models") or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        raise ValueError(f"unknown models {unknown}: choose among {names}")
    for name in [n for n in names if n in chosen]:
        t0 = time.perf_counter()
        if name == REFERENCE:
            emb, _ = gensim_deepwalk(walks, graph, cfg, seed)
        else:
            model = make_model(name, cfg, seed)
            emb = model.fit_walks(walks, graph, side)
        seconds = time.perf_counter() - t0
        add("warm_i2i", name, evaluate_i2i(emb, train, test, k=k))
        rows.append(
            {
                "experiment": "warm_i2i",
                "model": name,
                "seed": seed,
                "metric": "train_seconds",
                "value": seconds,
                "n": 0,
            }  # fmt: skip
        )
        if name in ("BGE", REFERENCE):
            continue
        cold_emb = model.cold_start_vectors(side, cold, errors="skip")
        n_skipped = len(cold_emb.meta["skipped_ids"])
        # user queries from the warm vectors
        warm_unit = emb.normalized()
        queries = np.stack(
            [unit_rows(warm_unit.lookup(user_items[int(u)])).mean(0) for u in cold_users]
        ).astype(np.float32)
        cv = np.zeros((cold.shape[0], emb.dim), np.float32)
        have = np.isin(cold, cold_emb.ids)
        cv[have] = unit_rows(cold_emb.lookup(cold[have]))
        s_cold = queries @ cv.T
        s_cold[:, ~have] = -np.inf  # items without any known value cannot be recommended
        extra = {"skipped_cold_items": n_skipped}
        cold_only(name, ranked(s_cold, cold), extra)
        # all items: cold vectors among the warm ones, the user's training items excluded
        cand = np.concatenate([emb.ids, cold])
        allv = np.concatenate([warm_unit.vectors, cv])
        s_all = queries @ allv.T
        s_all[:, emb.ids.shape[0] :][:, ~have] = -np.inf
        rec = ranked(s_all, cand, [user_items[int(u)] for u in cold_users])
        add("cold_start_all_items", name, recommendation_metrics(rec, relevant, k), extra)
        # diagnostics (no training): unit-length field vectors; one field alone
        variants = [(f"{name} norm", side, True)] if cfg.get("cold_variants", True) else []
        if cfg.get("cold_variants", True):
            for f in model.fields_:
                one = ItemSideInfo(side.frame[[f]].reset_index(), side.titles)
                variants.append((f"{name} [{f}]", one, False))
        for label, info, norm in variants:
            ce = model.cold_start_vectors(info, cold, errors="skip", normalize_fields=norm)
            cv = np.zeros((cold.shape[0], emb.dim), np.float32)
            have = np.isin(cold, ce.ids)
            cv[have] = unit_rows(ce.lookup(cold[have]))
            s_cold = queries @ cv.T
            s_cold[:, ~have] = -np.inf
            extra = {"skipped_cold_items": len(ce.meta["skipped_ids"])}
            cold_only(label, ranked(s_cold, cold), extra)
        fw = model.mean_field_weights()
        for f, wv in fw.items():
            rows.append(
                {
                    "experiment": "field_weights",
                    "model": name,
                    "seed": seed,
                    "metric": f"mean_weight_{f}",
                    "value": float(wv),
                    "n": 0,
                }  # fmt: skip
            )
        item_w = float(model.field_weights()["item"].mean())
        rows.append(
            {
                "experiment": "field_weights",
                "model": name,
                "seed": seed,
                "metric": "mean_weight_item",
                "value": item_w,
                "n": 0,
            }  # fmt: skip
        )
    add("warm_i2i", "popularity", evaluate_popularity(train, test, k=k))
    # random baseline among all items (expected hit rate of a random top-10)
    n_all = graph.n_nodes + cold.shape[0]
    rand_all = rng.random((cold_users.shape[0], n_all))
    cand = np.concatenate([graph.node_ids, cold])
    rec = ranked(rand_all, cand, [user_items[int(u)] for u in cold_users])
    add("cold_start_all_items", "random", recommendation_metrics(rec, relevant, k))
    return rows
