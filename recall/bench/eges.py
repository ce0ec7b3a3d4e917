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
   - reference row "DeepWalk (gensim sg)": gensim skip-gram on the same walks with the same
     settings, i.e. what BGE computes, trained by gensim instead of our loop.
3. **Throughput**: the same walks fed to EGES/BGE (``fit_walks``, one epoch) and to gensim
   ``Word2Vec(sg=1, hs=0)`` (same dim, window, negatives, ``sample=0``, ``min_count=1``, one
   epoch, vocabulary built outside the timing), with 1 and 2 workers; pairs/s = positive
   (centre, context) pairs per second, counted exactly for ours and as the exact expectation
   under word2vec's window shrinking for gensim (both shrink windows the same way).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embeddings.datasets.movielens import load_movielens
from embeddings.datasets.tables import Interactions, ItemSideInfo
from embeddings.eges import BGE, EGES, GES
from embeddings.evaluation import evaluate_i2i, evaluate_popularity, recommendation_metrics
from embeddings.graph import ItemGraph
from embeddings.neighbours import top_k
from embeddings.paths import data_root as shared_data_root
from embeddings.sessions import build_sessions, leave_last_out
from embeddings.types import Embeddings
from embeddings.validate import spawn_seeds
from embeddings.walks import generate_walks

logger = logging.getLogger(__name__)

MODELS = {"BGE": BGE, "GES": GES, "EGES": EGES}
REFERENCE = "DeepWalk (gensim sg)"

# published link-prediction AUC (Wang et al., KDD 2018, Table 2; via /work/shared/ANCHORS.md)
PAPER_AUC = {
    "Amazon": {"BGE": 0.9327, "GES": 0.9575, "EGES": 0.9700},
    "Taobao": {"BGE": 0.8797, "GES": 0.9704, "EGES": 0.9746},
}


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def data_root(arg: str | None) -> Path:
    """``--data``, else :func:`embeddings.paths.data_root` (``FileNotFoundError`` naming where it
    looked when there is none)."""
    if arg:
        return Path(arg)
    root = shared_data_root(required=True)
    assert root is not None
    return root


def movielens_side_info(side: ItemSideInfo) -> ItemSideInfo:
    """genres, tags (lower-cased) and year in 5-year buckets."""
    frame = pd.DataFrame(index=side.frame.index)
    frame["genres"] = side.frame["genres"]
    frame["tags"] = [tuple(sorted({t.lower() for t in tup})) for tup in side.frame["tags"]]

    def bucket(tup: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for y in tup:
            if y.isdigit():
                lo = int(y) // 5 * 5
                out.append(f"{lo}-{lo + 4}")
        return tuple(out)

    frame["year5"] = [bucket(t) for t in side.frame["year"]]
    return ItemSideInfo(frame.reset_index(), side.titles)


def _walks(graph: ItemGraph, cfg: dict[str, Any], seed: int) -> np.ndarray:
    return generate_walks(
        graph,
        num_walks=cfg["num_walks"],
        walk_length=cfg["walk_length"],
        workers=cfg["workers"],
        random_state=seed,
        progress=False,
    )


def _model(name: str, cfg: dict[str, Any], seed: int, epochs: int | None = None, workers=None):
    return MODELS[name](
        dim=cfg["dim"],
        window=cfg["window"],
        negative=cfg["negative"],
        epochs=cfg["epochs"] if epochs is None else epochs,
        num_walks=cfg["num_walks"],
        walk_length=cfg["walk_length"],
        workers=cfg["workers"] if workers is None else workers,
        random_state=seed,
        progress=cfg["progress"],
    )


def gensim_deepwalk(walks: np.ndarray, graph: ItemGraph, cfg: dict[str, Any], seed: int):
    """Reference: gensim ``Word2Vec(sg=1)`` on the same walks, same dim/window/negatives/epochs
    (``sample=0``, ``min_count=1``), as ``Embeddings`` in the graph's node order (every node
    starts walks, so every node has a vector). Returns (embeddings, context vectors)."""
    from gensim.models import Word2Vec

    from embeddings.walks import walks_to_ids

    tokens = [[str(x) for x in w.tolist()] for w in walks_to_ids(walks, graph)]
    w2v = Word2Vec(
        tokens,
        vector_size=cfg["dim"],
        window=cfg["window"],
        negative=cfg["negative"],
        sg=1,
        hs=0,
        sample=0,
        min_count=1,
        epochs=cfg["epochs"],
        workers=cfg["workers"],
        seed=seed,
    )
    idx = [w2v.wv.key_to_index[str(i)] for i in graph.node_ids.tolist()]
    vec = np.asarray(w2v.wv.vectors[idx], np.float32)
    ctx = np.asarray(w2v.syn1neg[idx], np.float32)
    return Embeddings(graph.node_ids, vec, {"method": "gensim-deepwalk"}), ctx


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _link_logit(H: np.ndarray, C: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Symmetrised skip-gram logit H_a.C_b + H_b.C_a of item pairs (positions)."""
    return np.einsum("ij,ij->i", H[a], C[b]) + np.einsum("ij,ij->i", H[b], C[a])


# ---------------------------------------------------------------------------------------------
# 1. link prediction
# ---------------------------------------------------------------------------------------------
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
    walks = _walks(train, cfg, spawn_seeds(seed, 2)[0])
    rows = []
    for name in [*MODELS, REFERENCE]:
        t0 = time.perf_counter()
        if name == REFERENCE:
            emb, ctx = gensim_deepwalk(walks, train, cfg, seed)
        else:
            model = _model(name, cfg, seed)
            emb = model.fit_walks(walks, train, side)
            ctx = model.context_vectors_
        v = _unit(emb.vectors)  # rows = graph positions (same node order)
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


# ---------------------------------------------------------------------------------------------
# 2. recommendation: warm HR@10 and cold start
# ---------------------------------------------------------------------------------------------
def recommendation(
    interactions: Interactions, side: ItemSideInfo, cfg: dict[str, Any], seed: int
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed + 1)
    frame = interactions.frame
    counts = frame["item_id"].value_counts()
    eligible = np.sort(counts.index[counts >= cfg["min_cold_users"]].to_numpy())
    cold = np.sort(rng.choice(eligible, min(cfg["n_cold"], eligible.shape[0]), replace=False))
    is_cold = frame["item_id"].isin(cold).to_numpy()
    warm_log = interactions.filter(~is_cold, "warm")
    cold_log = frame[is_cold]
    train, test = leave_last_out(warm_log)
    graph = ItemGraph.from_sessions(build_sessions(train))
    walks = _walks(graph, cfg, spawn_seeds(seed, 2)[0])
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
    add(
        "cold_start_cold_only",
        "random",
        recommendation_metrics(ranked(rand_scores, cold), relevant, k),
    )
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
    add(
        "cold_start_cold_only",
        "popularity (side info)",
        recommendation_metrics(
            ranked(np.tile(side_pop, (cold_users.shape[0], 1)), cold), relevant, k
        ),
    )
    oracle = cold_log["item_id"].value_counts().reindex(cold).fillna(0).to_numpy(float)
    add(
        "cold_start_cold_only",
        "popularity (oracle counts)",
        recommendation_metrics(
            ranked(np.tile(oracle, (cold_users.shape[0], 1)), cold), relevant, k
        ),
    )

    for name in [*MODELS, REFERENCE]:
        t0 = time.perf_counter()
        if name == REFERENCE:
            emb, _ = gensim_deepwalk(walks, graph, cfg, seed)
        else:
            model = _model(name, cfg, seed)
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
            [_unit(warm_unit.lookup(user_items[int(u)])).mean(0) for u in cold_users]
        ).astype(np.float32)
        cv = np.zeros((cold.shape[0], emb.dim), np.float32)
        have = np.isin(cold, cold_emb.ids)
        cv[have] = _unit(cold_emb.lookup(cold[have]))
        s_cold = queries @ cv.T
        s_cold[:, ~have] = -np.inf  # items without any known value cannot be recommended
        extra = {"skipped_cold_items": n_skipped}
        add("cold_start_cold_only", name, recommendation_metrics(ranked(s_cold, cold), relevant, k), extra)  # fmt: skip
        # all items: cold vectors among the warm ones, the user's training items excluded
        cand = np.concatenate([emb.ids, cold])
        allv = np.concatenate([warm_unit.vectors, cv])
        s_all = queries @ allv.T
        s_all[:, emb.ids.shape[0] :][:, ~have] = -np.inf
        rec = ranked(s_all, cand, [user_items[int(u)] for u in cold_users])
        add("cold_start_all_items", name, recommendation_metrics(rec, relevant, k), extra)
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


# ---------------------------------------------------------------------------------------------
# 3. throughput
# ---------------------------------------------------------------------------------------------
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
        m = _model(name, cfg, seed, epochs=1, workers=workers)
        c0, t0 = time.process_time(), time.perf_counter()
        m.fit_walks(walks, graph, side)
        return time.perf_counter() - t0, time.process_time() - c0, float(m.n_pairs_)

    for workers in cfg["tp_workers"]:
        # warm-up (numba compile / cache load), not timed
        _model("EGES", cfg, seed, epochs=1, workers=workers).fit_walks(walks[:200], graph, side)
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


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------
def _table(df: pd.DataFrame, index: str | list[str], columns: str, fmt: str = "{:.4f}") -> str:
    piv = df.pivot_table(index=index, columns=columns, values="value", aggfunc="mean", sort=False)
    sd = df.pivot_table(index=index, columns=columns, values="value", aggfunc="std", sort=False)
    n_seeds = df["seed"].nunique() if "seed" in df else 1
    cols = list(piv.columns)
    idx = [index] if isinstance(index, str) else index
    head = "| " + " | ".join(idx + [str(c) for c in cols]) + " |"
    sep = "|" + "---|" * (len(idx) + len(cols))
    lines = [head, sep]
    for key, row in piv.iterrows():
        keys = key if isinstance(key, tuple) else (key,)
        keys = tuple(int(x) if isinstance(x, float) and x.is_integer() else x for x in keys)
        cells = []
        for c, v in zip(cols, row.tolist(), strict=True):
            cell = fmt.format(v) if pd.notna(v) else "-"
            if n_seeds > 1 and pd.notna(v) and key in sd.index and pd.notna(sd.loc[key, c]):
                cell += " ± " + fmt.format(sd.loc[key, c])
            cells.append(cell)
        lines.append("| " + " | ".join([str(x) for x in keys] + cells) + " |")
    return "\n".join(lines)


def write_report(
    df: pd.DataFrame, cfg: dict[str, Any], env: dict[str, Any], out: Path, run: Any = None
) -> None:
    from embeddings.io import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "results.csv", "w") as fh:
        df.to_csv(fh, index=False)
    if run is not None:  # the harness's header: command, load before/after, clock policy
        md = run.header("EGES on MovieLens ml-latest-small")
    else:
        md = ["# EGES on MovieLens ml-latest-small", ""]
        md.append(f"Command: `python -m recall.bench.eges{' --quick' if cfg['quick'] else ''}`")
    md.append(
        f"Seeds {cfg['seeds']}; values are means (± standard deviation) over seeds. Protocol: see the docstring of "
        "`recall/bench/eges.py`."
    )
    md.append("")
    md.append(
        "Settings: "
        + ", ".join(
            f"{k}={cfg[k]}"
            for k in (
                "dim",
                "window",
                "negative",
                "epochs",
                "num_walks",
                "walk_length",
                "workers",
                "holdout",
                "n_cold",
                "min_cold_users",
            )
        )
        + "; side info: genres, tags, year5 (5-year buckets)."
    )
    lp = df[df.experiment == "link_prediction"]
    if len(lp):
        md += ["", "## Link prediction (held-out edges vs random non-edges, cosine)", ""]
        md.append(_table(lp[lp.metric != "train_seconds"], "model", "metric"))
        md += [
            "",
            "`auc`: cosine of the item vectors (what retrieval uses). `auc_logit`: the "
            "skip-gram model's own link score H_a.C_b + H_b.C_a (hidden vector against the "
            "other item's context vector). `auc_isolated_items`: cosine, only the pairs touching "
            "an item that lost all its edges to the hold-out (BGE has nothing but its random "
            "initial vector for those).",
            "",
            "Published (EGES paper, Table 2; different data): "
            + "; ".join(
                f"{d} BGE {v['BGE']} / GES {v['GES']} / EGES {v['EGES']}"
                for d, v in PAPER_AUC.items()
            )
            + ".",
        ]
    rec = df[df.experiment.isin(["warm_i2i", "cold_start_cold_only", "cold_start_all_items"])]
    rec = rec[rec.metric != "train_seconds"]
    if len(rec):
        md += ["", "## Recommendation (HR@10, NDCG@10)", ""]
        for exp, title in (
            ("warm_i2i", "Warm items, leave-last-out, I2I (query = last training item)"),
            (
                "cold_start_cold_only",
                "Cold start: hidden items ranked among the hidden items (query = mean of the "
                "user's training item vectors)",
            ),
            ("cold_start_all_items", "Cold start: hidden items ranked among all items"),
        ):
            sub = rec[rec.experiment == exp]
            if len(sub):
                md += [f"### {title}", "", _table(sub, "model", "metric"), ""]
                n = int(sub["n"].max())
                md.append(f"Users evaluated: {n}.")
                if "skipped_cold_items" in sub and sub["skipped_cold_items"].notna().any():
                    md.append(
                        "Hidden items without any side-information value seen in training "
                        f"(cannot be embedded): {int(sub['skipped_cold_items'].max())}."
                    )
                md.append("")
    fw = df[df.experiment == "field_weights"]
    if len(fw):
        md += ["## Mean field weights (softmax, over items having the field)", ""]
        md += [_table(fw, "model", "metric", "{:.3f}"), ""]
    tp = df[df.experiment == "throughput"]
    if len(tp):
        md += ["## Throughput (one epoch on the same walks)", ""]
        md += [_table(tp, ["workers", "model"], "metric", "{:,.2f}"), ""]
        md.append(
            "Pairs = positive (centre, context) pairs; each comes with `negative` negatives in "
            f"both tools. Wall clock: the median of {cfg['tp_repeat']} rounds interleaved "
            "(EGES, BGE, gensim; EGES, BGE, gensim; ...) after an untimed warm-up; "
            "`train_s_min` / `train_s_max` give the spread, `train_cpu_s` the CPU time beside it."
        )
        md.append("")
    md += ["## Environment", ""]
    md.append(f"- python {env['python']}, {env['platform']}, CPU {env['cpu']} x{env['cpu_count']}")
    md.append(f"- numba threads: {env['numba_threads']}")
    for p in env["threadpools"]:
        md.append(
            f"- threadpool {p.get('user_api')}/{p.get('internal_api')}: "
            f"{p.get('num_threads')} threads"
        )
    md.append(
        "- libraries: "
        + ", ".join(f"{k} {v}" for k, v in env["libraries"].items() if v != "absent")
    )
    md.append(f"- total wall time: {cfg['wall_seconds']:.0f} s")
    with atomic_write(out / "results.md", "w") as fh:
        fh.write("\n".join(md) + "\n")


def main(argv: list[str] | None = None) -> pd.DataFrame:
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
