"""Choose LSH parameters that reach a target knn-recall@k at the lowest cost, and show the frontier.

The question every LSH user asks: which (bits or w and m per table, tables L, probes T) reach
recall 0.9 fastest? :func:`tune_lsh` answers it on the data:

1. ground truth: exact top-k of a query sample (``recall.exact.exact_knn``); without queries,
   ``n_queries`` rows are held out of the vectors and the index is built on the rest;
2. a grid of tables ``L`` and hashes per table ``m`` around the literature's choice of about
   ``log2(n)`` bits per table (SimHash: ``m = b0 - 5 .. b0 - 2`` with ``b0 = round(log2 n)``;
   E2LSH: ``w = 4 R`` with ``R`` the median 10-NN distance -- the E2LSH manual's rule -- and
   ``m`` giving the same mean bucket sizes as those SimHash bit counts, via
   :func:`recall.lsh.scales.params_for_bucket_size`);
3. for each built index, the probes ``T`` (buckets probed over all tables) by doubling from ``L``
   until the target is reached, then binary search between the last two values;
4. the cheapest setting that reaches the target: ``cost="time"`` (wall-clock seconds per query,
   ``time.perf_counter``, best of two batch searches) or ``cost="candidates"`` (mean candidates
   re-ranked). The result says which (``cost_unit``) and records the load average
   (``load_average``): under load wall-clock costs rise, so compare tunings run side by side.

Every evaluated setting is one row of ``TuningResult.frontier`` (recall, candidates, qps, ...).

:func:`tune_balanced_lsh` does the same for :class:`recall.lsh.balanced.BalancedLSHIndex`
(grid of tables / directions / leaf sizes, probes by doubling and bisection, ``refine_factor``
when every leaf is probed), with a held-out validation slice, a margin of standard errors on the
tuning slice, a memory cap, and a ``message`` naming the knob that ran out when the target is
missed.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from embeddings.validate import as_vectors, check_random_state
from recall.base import Index, Metric
from recall.exact import exact_knn, knn_recall
from recall.lsh.balanced import BalancedLSHIndex
from recall.lsh.index import E2LSHIndex, SimHashIndex
from recall.lsh.scales import knn_distance_scale, params_for_bucket_size

__all__ = ["TuningResult", "tune", "tune_lsh", "tune_balanced_lsh", "params_for_bucket_size"]

log = logging.getLogger(__name__)


@dataclass
class TuningResult:
    """Chosen parameters (constructor kwargs of ``index_class``) and the explored frontier."""

    index_class: type[Index]
    params: dict[str, Any]
    recall: float
    cost: float
    reached: bool
    frontier: pd.DataFrame = field(repr=False)
    #: knn-recall@k of the chosen point on the held-out validation queries (None: no slice)
    validation_recall: float | None = None
    #: what limited the search when the target was not reached (empty when it was)
    message: str = ""
    #: wall-clock seconds of the whole tuning, builds included
    seconds: float = 0.0
    #: what ``cost`` (and the frontier's ``seconds_per_query``) measures
    cost_unit: str = ""
    #: ``os.getloadavg()`` when the tuning finished (None where the platform has none)
    load_average: tuple[float, float, float] | None = None

    def make_index(self) -> Index:
        """A new, unbuilt index with the chosen parameters."""
        return self.index_class(**self.params)


def _tuning_queries(
    x: NDArray[np.float32],
    queries: ArrayLike | None,
    n_queries: int,
    k: int,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """``(base, queries)``: the given queries, or ``n_queries`` rows held out of ``x`` (the index
    is then built on the rest); ``ValueError`` when too few vectors remain for ``k``."""
    if queries is None:
        if x.shape[0] < 2 * n_queries:
            raise ValueError(
                f"need at least {2 * n_queries} vectors to hold out {n_queries} queries"
            )
        held = rng.choice(x.shape[0], size=n_queries, replace=False)
        keep = np.ones(x.shape[0], dtype=bool)
        keep[held] = False
        q, x = x[held], x[keep]
    else:
        q = as_vectors(queries, "queries", dim=x.shape[1])
    if k > x.shape[0]:
        raise ValueError(f"k={k} exceeds the {x.shape[0]} vectors")
    return x, q


def _truth(
    x: NDArray[np.float32], q: NDArray[np.float32], k: int, metric: str
) -> NDArray[np.int64]:
    return exact_knn(x, q, k, metric=metric).ids  # type: ignore[arg-type]


#: the clock of every cost in this module
WALL_CLOCK = "wall-clock seconds per query (time.perf_counter, best of 2 batch searches)"


def _load_average() -> tuple[float, float, float] | None:
    try:
        return tuple(float(v) for v in os.getloadavg())  # type: ignore[return-value]
    except (AttributeError, OSError):  # pragma: no cover - platforms without it
        return None


def _time_search(
    idx: Index, q: NDArray[np.float32], k: int, repeat: int = 2
) -> tuple[float, NDArray]:
    """Wall-clock seconds per query of a batch search (best of ``repeat``) and its ids."""
    best = math.inf
    ids = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = idx.search(q, k)
        best = min(best, time.perf_counter() - t0)
        ids = res.ids
    return best / q.shape[0], ids  # type: ignore[return-value]


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


#: (n_tables, n_dirs, leaf_size) tried in order by :func:`tune_balanced_lsh`; the last ones are the
#: "grown" grid, tried only when the earlier ones cannot reach the target
BALANCED_GRID: tuple[tuple[int, int, int], ...] = ((8, 8, 32), (16, 4, 64), (24, 4, 64))


def tune_balanced_lsh(
    vectors: ArrayLike,
    queries: ArrayLike | None = None,
    k: int = 10,
    target_recall: float = 0.9,
    metric: Metric = "cosine",
    grid: tuple[tuple[int, int, int], ...] = BALANCED_GRID,
    validation: float = 0.25,
    n_queries: int = 200,
    max_refine: int = 16,
    max_memory_ratio: float = 2.0,
    margin_se: float = 2.0,
    include_simhash: bool = False,
    max_seconds: float | None = 60.0,
    random_state: int | None = 0,
) -> TuningResult:
    """Tune :class:`recall.lsh.balanced.BalancedLSHIndex` until it reaches ``target_recall``.

    ``vectors`` (n, d) float32; ``queries`` (nq, d) a sample like the real queries (default: hold
    out ``n_queries`` rows of ``vectors``). A random ``validation`` fraction of the queries is held
    out; the rest (the *tuning* slice) chooses the parameters. For each ``(n_tables, n_dirs,
    leaf_size)`` of ``grid`` in order, one index is built and ``query_probes`` (leaves scanned per
    query) found by doubling from 4 until the tuning recall reaches the target plus ``margin_se``
    standard errors of its mean over the tuning queries (so that it still holds on new queries),
    then by bisection; when every leaf is probed and the recall is still short, ``refine_factor`` is
    doubled up to ``max_refine`` (int8 scoring can hide true neighbours). Later grid points (more
    tables, bigger leaves) are tried only while the target is not reached or while they are
    cheaper; a grid point whose index takes more than ``max_memory_ratio`` times the float32
    vectors is skipped (and named in ``message``); when none fits (short vectors, where ids and
    tables outweigh them), the first grid point is tuned anyway and ``message`` says so. With ``include_simhash`` (cosine only), one
    :class:`recall.lsh.SimHashIndex` (16 tables of ``round(log2 n) - 3`` bits, 12 or 8 when short
    vectors leave no room for one int8 copy beside 16 permutations; as many contiguous
    int8 copies in bucket order as the memory cap allows and 32-bit sketches on the other tables
    when they fit) is swept too (``n_probes`` doubling from 16) and chosen when it is cheaper: on isotropic
    Gaussian mixtures random hyperplanes need no balancing and their flat buckets cost less per
    candidate than the split tree. The cost is wall-clock seconds per query
    (``time.perf_counter``, best of two batch searches; ``cost_unit``, ``load_average``). ``frontier`` names the index kind (``index``) and its probe knob
    (``probe_knob``: ``query_probes`` or ``n_probes``) with its value in ``probes``. Once a point
    reached the target, no further index is built when the tuning would then likely run past
    ``max_seconds`` (estimated from the builds so far); the target is never given up for time.

    Returns a :class:`TuningResult`: ``recall`` on the tuning slice, ``validation_recall`` on the
    held-out slice, ``reached`` (tuning recall >= target), ``message`` naming the knob that ran out
    when the target was missed, and ``frontier`` (one row per evaluated setting).
    """

    t_start = time.perf_counter()
    x = as_vectors(vectors, "vectors")
    if not 0 < target_recall <= 1:
        raise ValueError(f"target_recall must be in (0, 1], got {target_recall}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if not 0 <= validation < 1:
        raise ValueError(f"validation must be in [0, 1), got {validation}")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be > 0 or None, got {max_seconds}")
    if not max_memory_ratio > 0 or not margin_se >= 0:
        raise ValueError(
            f"max_memory_ratio must be > 0 and margin_se >= 0, got {max_memory_ratio}, {margin_se}"
        )
    if not grid or any(len(g) != 3 or min(int(v) for v in g) < 1 for g in grid):
        raise ValueError(f"grid must be (n_tables, n_dirs, leaf_size) triples of ints >= 1: {grid}")
    rng = check_random_state(random_state)
    x, q = _tuning_queries(x, queries, n_queries, k, rng)
    n = x.shape[0]
    n_val = int(round(validation * q.shape[0]))
    if validation > 0 and (n_val < 1 or q.shape[0] - n_val < 1):
        raise ValueError(f"{q.shape[0]} queries are too few to hold out a validation slice")
    perm = rng.permutation(q.shape[0])
    q_val, q_tune = q[perm[:n_val]], q[perm[n_val:]]
    truth = _truth(x, q, k, metric)
    t_val, t_tune = truth[perm[:n_val]], truth[perm[n_val:]]
    seed = None if random_state is None else int(rng.integers(0, 2**31 - 1))

    def per_query(ids: NDArray, tr: NDArray) -> NDArray[np.float64]:
        hits = (ids[:, :, None] == tr[:, None, :]).any(axis=1).sum(axis=1)
        return hits / tr.shape[1]

    rows: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    exhausted: list[str] = []

    def ok(r: dict[str, Any]) -> bool:
        return r["recall"] - margin_se * r["recall_se"] >= target_recall or r["recall"] >= 1.0

    def sweep(
        kind: str,
        cls: type[Index],
        params: dict[str, Any],
        knob: str,
        start: int,
        cap_of: Any,
        ignore_memory: bool = False,
    ) -> dict[str, Any] | None:
        """Build one index, find its cheapest probe count reaching the target; None if never."""
        t0 = time.perf_counter()
        idx = cls(**params).build(x)
        build_s = time.perf_counter() - t0
        idx.search(q_tune[:2], k)  # compile / warm
        st = idx.stats()
        mem = st["memory_bytes"] / max(1, x.nbytes)
        label = ", ".join(
            f"{kk}={v}" for kk, v in params.items() if kk not in ("metric", "random_state")
        )
        if mem > max_memory_ratio and not ignore_memory:
            exhausted.append(
                f"{kind}({label}): memory {mem:.2f}x the float32 vectors > max_memory_ratio"
            )
            return None
        cap = int(cap_of(st))
        mine: list[dict[str, Any]] = []

        def evaluate(p: int, refine: int) -> dict[str, Any]:
            idx.set_search_params(**{knob: p, "refine_factor": refine})
            spq, ids = _time_search(idx, q_tune, k)
            pq = per_query(ids, t_tune)
            se = float(pq.std(ddof=1) / math.sqrt(pq.size)) if pq.size > 1 else 0.0
            row = {
                "index": kind,
                **{kk: v for kk, v in params.items() if kk != "random_state"},
                "probe_knob": knob,
                "probes": p,
                "refine_factor": refine,
                "recall": float(pq.mean()),
                "recall_se": se,
                "mean_candidates": idx.stats()["mean_candidates"],
                "seconds_per_query": spq,
                "qps": 1.0 / spq if spq > 0 else math.inf,
                "build_s": build_s,
                "memory_vs_float32": mem,
                "_params": params,
            }
            rows.append(row)
            mine.append(row)
            return row

        refine = 4
        p = start
        last_below = None
        while True:
            r = evaluate(p, refine)
            if ok(r):
                break
            if p >= cap:
                if refine * 2 <= max_refine:
                    refine *= 2
                    continue
                exhausted.append(
                    f"{kind}({label}): {knob} at its limit ({p}) and refine_factor={refine}: "
                    f"recall {r['recall']:.3f}"
                )
                return None
            last_below = p
            p = min(cap, 2 * p)
        if last_below is not None:
            lo, hi = last_below, p
            while hi - lo > max(1, hi // 8):
                mid = (lo + hi) // 2
                if ok(evaluate(mid, refine)):
                    hi = mid
                else:
                    lo = mid
        # the cheapest measured setting that meets the target (under load a larger probe count
        # can time faster than the bisection's end point; both meet the target)
        r = min((row for row in mine if ok(row)), key=lambda row: row["seconds_per_query"])
        r["_index"] = idx
        return r

    def over_budget(scale: float) -> bool:
        """True when a point already reached and one more build would likely pass max_seconds."""
        if best is None or max_seconds is None or not rows:
            return False
        elapsed = time.perf_counter() - t_start
        last_build = float(rows[-1]["build_s"]) / max(1, int(rows[-1]["n_tables"]))
        return elapsed + 2.0 * last_build * scale > max_seconds

    for L, dirs, leaf in grid:
        if over_budget(float(L)):
            exhausted.append(f"stopped before n_tables={L}: max_seconds={max_seconds}")
            break
        params: dict[str, Any] = {
            "metric": metric,
            "n_tables": int(L),
            "n_dirs": int(dirs),
            "leaf_size": int(leaf),
            "random_state": seed,
        }
        r = sweep(
            "balanced", BalancedLSHIndex, params, "query_probes", 4, lambda st: st["n_leaves"]
        )
        if r is not None:
            if best is None or r["seconds_per_query"] < best["seconds_per_query"]:
                best = r
            # a bigger grid point only pays when it is cheaper; stop after the first miss
            if best is not r:
                break
    if include_simhash and metric == "cosine" and not over_budget(4.0):
        bits = int(np.clip(round(math.log2(max(2, n))) - 3, 4, 20))
        d = x.shape[1]
        # contiguous int8 copies (one per table, in bucket order) as far as the memory cap allows:
        # float32 vectors, two id arrays, ranks, norms, the scratch row list, 16 permutations and
        # the bucket offsets, then n*d bytes per copy; the tables left without a copy get 32-bit
        # sketches (4 bytes per item each) when they fit, so that they filter their candidates
        # before the random int8 reads (issue 11: at 1M x 64 the copies are the memory)
        # (short vectors: fewer tables, 12 or 8, when 16 permutations leave no room for a copy)
        for n_tab in (16, 12, 8):
            fixed = x.nbytes + n * (8 + 8 + 8 + 4 + 4 + 4 * n_tab) + n_tab * 4 * (2**bits + 1)
            spare = max_memory_ratio * x.nbytes - fixed
            if spare >= n * d:
                break
        copies = int(np.clip(spare // max(1, n * d), 1, n_tab))
        sketch_bits = 0
        if copies < n_tab:
            copies = int(np.clip((spare - n_tab * 4 * n) // max(1, n * d - 4 * n), 1, n_tab))
            sketch_bits = 32 if spare - copies * n * d - (n_tab - copies) * 4 * n >= 0 else 0
        sp: dict[str, Any] = {
            "metric": metric,
            "n_tables": n_tab,
            "n_bits": bits,
            "contiguous_bytes": copies * n * d,
            "sketch_bits": sketch_bits,
            "random_state": seed,
        }
        r = sweep("simhash", SimHashIndex, sp, "n_probes", n_tab, lambda st: n_tab * 64)
        if r is not None and (best is None or r["seconds_per_query"] < best["seconds_per_query"]):
            best = r
    memory_note = ""
    if not rows:
        # nothing fits (small dimensions: ids and tables outweigh short vectors): tune the first
        # grid point anyway and say so
        memory_note = "no grid point fits in max_memory_ratio (" + "; ".join(exhausted) + ")"
        L, dirs, leaf = grid[0]
        r = sweep(
            "balanced",
            BalancedLSHIndex,
            {
                "metric": metric,
                "n_tables": int(L),
                "n_dirs": int(dirs),
                "leaf_size": int(leaf),
                "random_state": seed,
            },
            "query_probes",
            4,
            lambda st: st["n_leaves"],
            ignore_memory=True,
        )
        if r is not None:
            best = r
    drop = ("_index", "_params")
    frontier = pd.DataFrame([{kk: v for kk, v in r.items() if kk not in drop} for r in rows])
    frontier["reached"] = frontier["recall"] >= target_recall
    if best is None:
        best_pos = int(frontier["recall"].idxmax())
        best = rows[best_pos]
        message = (
            f"target {target_recall} not reached; best tuning recall "
            f"{best['recall']:.3f}; knobs that ran out: " + "; ".join(exhausted)
        )
        log.warning(message)
        cls_b = BalancedLSHIndex if best["index"] == "balanced" else SimHashIndex
        idx = cls_b(**best["_params"]).build(x)
    else:
        best_pos = next(i for i, r in enumerate(rows) if r is best)
        message = ""
        idx = best["_index"]
    if memory_note:
        message = f"{message}; {memory_note}" if message else memory_note
    frontier["chosen"] = False
    frontier.loc[best_pos, "chosen"] = True
    chosen: dict[str, Any] = {
        **best["_params"],
        best["probe_knob"]: int(best["probes"]),
        "refine_factor": int(best["refine_factor"]),
    }
    index_class: type[Index] = BalancedLSHIndex if best["index"] == "balanced" else SimHashIndex
    val = None
    if n_val:
        idx.set_search_params(
            **{
                best["probe_knob"]: chosen[best["probe_knob"]],
                "refine_factor": chosen["refine_factor"],
            }
        )
        val = knn_recall(idx.search(q_val, k).ids, t_val, k)
    return TuningResult(
        index_class=index_class,
        params=chosen,
        recall=float(best["recall"]),
        cost=float(best["seconds_per_query"]),
        reached=bool(best["recall"] >= target_recall),
        frontier=frontier,
        validation_recall=None if val is None else float(val),
        message=message,
        seconds=time.perf_counter() - t_start,
        cost_unit=WALL_CLOCK,
        load_average=_load_average(),
    )


def tune(
    vectors: ArrayLike,
    queries: ArrayLike | None = None,
    k: int = 10,
    target_recall: float = 0.9,
    metric: Metric = "cosine",
    **kwargs: Any,
) -> TuningResult:
    """The cheapest LSH index reaching ``target_recall``: :func:`tune_balanced_lsh` with
    ``include_simhash=True`` (balanced cross-polytope trees, or SimHash where it is cheaper),
    within ``max_memory_ratio`` (default 2) times the float32 vectors. ``kwargs`` go to
    :func:`tune_balanced_lsh`; ``result.make_index()`` builds the chosen class."""
    kwargs.setdefault("include_simhash", True)
    return tune_balanced_lsh(
        vectors, queries, k=k, target_recall=target_recall, metric=metric, **kwargs
    )
