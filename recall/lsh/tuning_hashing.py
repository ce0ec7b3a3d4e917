"""``tune_lsh``: the (bits or w, m, tables, probes) of an E2LSH / SimHash index that reach a target
knn-recall at the lowest cost (see :mod:`recall.lsh.tuning`)."""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from embeddings.validate import as_vectors, check_random_state
from recall.base import Index, Metric
from recall.exact import knn_recall
from recall.lsh.index import E2LSHIndex, SimHashIndex
from recall.lsh.scales import knn_distance_scale, params_for_bucket_size
from recall.lsh.tuning_common import (
    WALL_CLOCK,
    TuningResult,
    _load_average,
    _time_search,
    _truth,
    _tuning_queries,
)

log = logging.getLogger("recall.lsh.tuning")


def tune_lsh(
    vectors: ArrayLike,
    queries: ArrayLike | None = None,
    k: int = 10,
    target_recall: float = 0.9,
    kind: Literal["simhash", "e2lsh"] = "simhash",
    metric: Metric | None = None,
    n_tables: tuple[int, ...] = (4, 8, 16),
    n_hashes: tuple[int, ...] | None = None,
    bucket_width: float | None = None,
    strategy: Literal["or", "and", "vote"] = "or",
    min_votes: int | None = None,
    cost: Literal["time", "candidates"] = "time",
    max_probes_per_table: int = 64,
    n_queries: int = 200,
    random_state: int | None = 0,
    progress: bool = False,
) -> TuningResult:
    """Tune an LSH index to reach ``target_recall`` (knn-recall@k vs exact search) cheaply.

    ``vectors`` (n, d) float32; ``queries`` (nq, d) a sample like the real queries (default: hold out
    ``n_queries`` rows). ``n_hashes`` overrides the grid of hashes (bits) per table. Returns the
    chosen parameters and ``frontier`` (one row per evaluated setting: kind, n_tables, n_hashes,
    bucket_width, n_probes, recall, mean_candidates, seconds_per_query, qps, build_s, reached,
    chosen). When no setting reaches the target the one with the highest recall is chosen and
    ``reached`` is False.
    """
    x = as_vectors(vectors, "vectors")
    if kind not in ("simhash", "e2lsh"):
        raise ValueError(f"kind must be 'simhash' or 'e2lsh', got {kind!r}")
    if cost not in ("time", "candidates"):
        raise ValueError(f"cost must be 'time' or 'candidates', got {cost!r}")
    if not 0 < target_recall <= 1:
        raise ValueError(f"target_recall must be in (0, 1], got {target_recall}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if not n_tables or any(int(t) < 1 for t in n_tables):
        raise ValueError(f"n_tables must be a non-empty tuple of ints >= 1, got {n_tables}")
    metric = metric or ("cosine" if kind == "simhash" else "l2")
    rng = check_random_state(random_state)
    x, q = _tuning_queries(x, queries, n_queries, k, rng)
    n = x.shape[0]
    truth = _truth(x, q, k, metric)
    b0 = int(np.clip(round(math.log2(max(2, n))), 6, 22))
    w: float | None = None
    if kind == "simhash":
        grid = sorted(
            {int(np.clip(b, 1, 64)) for b in (n_hashes or (b0 - 5, b0 - 4, b0 - 3, b0 - 2))}
        )
    else:
        w = (
            bucket_width
            if bucket_width is not None
            else 4.0 * knn_distance_scale(x, random_state=rng)
        )
        if n_hashes is not None:
            grid = sorted({int(np.clip(m, 1, 32)) for m in n_hashes})
        else:
            grid = sorted(
                {
                    int(
                        params_for_bucket_size(
                            x, max(2.0, n / 2.0**b), "e2lsh", bucket_width=w, random_state=rng
                        )["n_hashes"]
                    )
                    for b in (b0 - 5, b0 - 4, b0 - 3, b0 - 2)
                }
            )
    seed = None if random_state is None else int(rng.integers(0, 2**31 - 1))
    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    combos = [(int(L), m) for L in n_tables for m in grid]
    try:
        from embeddings.progress import progress_bar as tqdm  # plain lines when not a TTY

        it = tqdm(combos, desc="tune_lsh", disable=not progress)
    except ImportError:  # pragma: no cover
        it = combos
    for L, m in it:
        common: dict[str, Any] = {
            "metric": metric,
            "n_tables": L,
            "strategy": strategy,
            "random_state": seed,
        }
        if strategy == "vote":
            common["min_votes"] = min(L, min_votes or max(1, (L + 1) // 2))
        if kind == "simhash":
            params = {**common, "n_bits": m}
            idx: SimHashIndex | E2LSHIndex = SimHashIndex(**params)
        else:
            params = {**common, "n_hashes": m, "bucket_width": w}
            idx = E2LSHIndex(**params)
        t0 = time.perf_counter()
        idx.build(x)
        build_s = time.perf_counter() - t0
        idx.search(q[:2], k)  # compile / warm

        base_row = {
            "kind": kind,
            **{kk: v for kk, v in params.items() if kk != "random_state"},
            "n_hashes": m,
            "bucket_width": w,
            "build_s": build_s,
        }

        def evaluate(
            p: int, idx: Index = idx, base_row: dict[str, Any] = base_row
        ) -> dict[str, Any]:
            idx.n_probes = p  # type: ignore[attr-defined]
            spq, ids = _time_search(idx, q, k)
            row = {
                **base_row,
                "n_probes": p,
                "recall": knn_recall(ids, truth, k),
                "mean_candidates": idx.stats()["mean_candidates"],
                "seconds_per_query": spq,
                "qps": 1.0 / spq if spq > 0 else math.inf,
            }
            rows.append(row)
            return row

        p = L
        last_below = None
        cap = L * max_probes_per_table
        while True:
            r = evaluate(p)
            if r["recall"] >= target_recall or p >= cap:
                break
            last_below = p
            p = min(cap, 2 * p)
        if r["recall"] >= target_recall and last_below is not None:
            lo, hi = last_below, p
            for _ in range(4):
                if hi - lo <= max(1, hi // 16):
                    break
                mid = (lo + hi) // 2
                if evaluate(mid)["recall"] >= target_recall:
                    hi = mid
                else:
                    lo = mid
    frontier = pd.DataFrame(rows)
    frontier["reached"] = frontier["recall"] >= target_recall
    cost_col = "seconds_per_query" if cost == "time" else "mean_candidates"
    ok = frontier[frontier["reached"]]
    if len(ok):
        best = ok[cost_col].idxmin()
    else:
        best = frontier["recall"].idxmax()
        log.warning(
            "no setting reached recall %.3f; best was %.3f", target_recall, frontier["recall"].max()
        )
    frontier["chosen"] = False
    frontier.loc[best, "chosen"] = True
    row = frontier.loc[best]
    cls: type[Index] = SimHashIndex if kind == "simhash" else E2LSHIndex
    chosen: dict[str, Any] = {
        "metric": metric,
        "n_tables": int(row["n_tables"]),
        "strategy": strategy,
        "n_probes": int(row["n_probes"]),
        "random_state": seed,
    }
    if strategy == "vote":
        chosen["min_votes"] = int(row["min_votes"])
    if kind == "simhash":
        chosen["n_bits"] = int(row["n_hashes"])
    else:
        chosen["n_hashes"] = int(row["n_hashes"])
        chosen["bucket_width"] = float(w)  # type: ignore[arg-type]
    return TuningResult(
        index_class=cls,
        params=chosen,
        recall=float(row["recall"]),
        cost=float(row[cost_col]),
        reached=bool(row["reached"]),
        frontier=frontier,
        seconds=time.perf_counter() - t_start,
        cost_unit=WALL_CLOCK if cost == "time" else "mean candidates re-ranked per query",
        load_average=_load_average(),
    )
