"""``tune_balanced_lsh``: the balanced index's grid (or SimHash where cheaper) under a memory cap,
with a validation slice and a message naming the knob that ran out (see :mod:`recall.lsh.tuning`)."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from embeddings.validate import as_vectors, check_random_state
from recall.base import Index, Metric
from recall.exact import knn_recall
from recall.lsh.balanced import BalancedLSHIndex
from recall.lsh.index import SimHashIndex
from recall.lsh.tuning_common import (
    WALL_CLOCK,
    TuningResult,
    _load_average,
    _time_search,
    _truth,
    _tuning_queries,
)

log = logging.getLogger("recall.lsh.tuning")


#: (n_tables, n_dirs, leaf_size) tried in order by :func:`tune_balanced_lsh`; the later ones are
#: the "grown" grid, tried only when the earlier ones cannot reach the target. Leaves of 64 first
#: (issue 11: at 1M, 8 x 8 with leaves of 64 beat leaves of 32 at recall 0.9 on the skewed and
#: inner-product families, e.g. skewed 0.922 at 14,940 QPS vs 0.912 at 12,861, and built faster;
#: at 100k likewise on every family, reports/ann*/results.csv)
BALANCED_GRID: tuple[tuple[int, int, int], ...] = ((8, 8, 64), (16, 4, 64), (24, 4, 64))
#: a balanced grid point stops probing once a setting short of the target costs this many times
#: the best point's seconds per query (slack for timing noise)
LOSE_SLACK = 1.25
#: SimHash is not built when, on a sample of :data:`SIMHASH_SAMPLE` rows, its fewest probes (one
#: bucket per table) already predict this many times the candidates of the best balanced point
#: (issue 11, 1M: a SimHash candidate, sketch-filtered, cost ~1/7 of a balanced one; SimHash at
#: its fewest probes had 0.6x the balanced point's candidates on the Gaussian mixture, where it
#: won, and 63x on the skewed family, where it lost after a 3-6 s build)
SIMHASH_SKIP = 16.0
SIMHASH_SAMPLE = 65_536


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
    explore: bool = False,
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
    doubled up to ``max_refine`` (int8 scoring can hide true neighbours). A grid point whose index
    takes more than ``max_memory_ratio`` times the float32 vectors is skipped (and named in
    ``message``); when none fits (short vectors, where ids and tables outweigh them), the first
    grid point is tuned anyway and ``message`` says so.

    Where the time goes and what was chosen (issue 11): at 1M the builds are most of the tuning,
    so the tuner builds as few indexes as it can. The grid ends at the first balanced point that
    meets the target: the later points (more tables) are the *grown* grid, tried only when the
    earlier ones run out of probes and refinement (at 1M, 16 tables never beat 8 at recall 0.9
    on the skewed and inner-product families and were within 10% on the Gaussian mixture, for
    twice the build); ``explore=True`` also tries them after a point met the target, while each
    one wins. With ``include_simhash`` (cosine only), one
    :class:`recall.lsh.SimHashIndex` (16 tables of ``round(log2 n) - 4`` bits, 12 or 8 when short
    vectors leave no room for one int8 copy beside 16 permutations; as many contiguous int8
    copies in bucket order as the memory cap allows and 32-bit sketches on the other tables when
    they fit) is swept *after the first balanced point* (``n_probes`` doubling from 16) and
    chosen when it is cheaper: on isotropic Gaussian mixtures random hyperplanes need no
    balancing and their flat buckets cost less per candidate than the split tree. Swept first (as
    before), on the skewed family at 1M its build (3-6 s) and its sketch-radius evaluations were
    spent before the balanced point won (SimHash met the target at 16 probes with ~25,000
    candidates per query, ~1,600 QPS, vs ~10,000 QPS). After the first balanced point, its sweep
    stops at the first probe count still short of the target that already costs more than
    ``LOSE_SLACK`` times the best point (it cannot win; the same rule stops a balanced point's
    sweep), and its sketch-radius refinement is skipped when it cannot win.
    Before SimHash is built at all, its candidates at the fewest probes are predicted on a sample
    of ``SIMHASH_SAMPLE`` rows; more than ``SIMHASH_SKIP`` times the best balanced point's
    candidates and it is not built (on the skewed family at 1M: 63x, a 3-6 s build saved; on
    the Gaussian mixture 0.6x, where SimHash wins). Ground truth for unit-length rows is searched
    by inner product (no normalised copy).
    The cost is wall-clock seconds per query (``time.perf_counter``, best of two batch searches;
    ``cost_unit``, ``load_average``); ``timings`` splits ``seconds`` into ground truth, builds,
    searches and validation. ``frontier`` names the index kind (``index``) and its probe knob
    (``probe_knob``: ``query_probes`` or ``n_probes``) with its value in ``probes``. Once a point
    reached the target, no further index is built when the tuning would then likely run past
    ``max_seconds`` (estimated from the builds so far); the target is never given up for time.

    Returns a :class:`TuningResult`: ``recall`` on the tuning slice, ``validation_recall`` on the
    held-out slice, ``reached`` (tuning recall >= target), ``message`` naming the knob that ran out
    when the target was missed, ``frontier`` (one row per evaluated setting) and ``index``, the
    chosen index as built during the tuning (when ``queries`` were given; ids 0 .. n-1), so that
    it need not be built a second time.
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
    timings = {"truth": 0.0, "build": 0.0, "search": 0.0, "validation": 0.0}
    t0 = time.perf_counter()
    truth = _truth(x, q, k, metric)
    timings["truth"] = time.perf_counter() - t0
    t_val, t_tune = truth[perm[:n_val]], truth[perm[n_val:]]
    seed = None if random_state is None else int(rng.integers(0, 2**31 - 1))

    def per_query(ids: NDArray, tr: NDArray) -> NDArray[np.float64]:
        hits = (ids[:, :, None] == tr[:, None, :]).any(axis=1).sum(axis=1)
        return hits / tr.shape[1]

    rows: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    exhausted: list[str] = []
    lost: list[str] = []  # indexes given up because they could no longer beat the best point

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
        beat: float | None = None,
    ) -> dict[str, Any] | None:
        """Build one index, find its cheapest probe count reaching the target; None if never.

        ``beat``: seconds per query of the best point so far; the probe doubling stops (None) once
        a setting still short of the target already costs more than ``beat`` times
        ``LOSE_SLACK`` (more probes only cost more, so this index cannot win)."""
        t0 = time.perf_counter()
        idx = cls(**params).build(x)
        build_s = time.perf_counter() - t0
        timings["build"] += build_s
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

        def evaluate(p: int, refine: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
            extra = extra or {}
            idx.set_search_params(**{knob: p, "refine_factor": refine, **extra})
            t_s = time.perf_counter()
            spq, ids = _time_search(idx, q_tune, k)
            timings["search"] += time.perf_counter() - t_s
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
                **extra,
                "_params": params,
                "_search": extra,
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
            if beat is not None and r["seconds_per_query"] > LOSE_SLACK * beat:
                lost.append(
                    f"{kind}({label}): {knob}={p} short of the target (recall {r['recall']:.3f}) "
                    f"already costs more than the best point"
                )
                return None
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
            while hi - lo > max(1, hi // 16):
                mid = (lo + hi) // 2
                if ok(evaluate(mid, refine)):
                    hi = mid
                else:
                    lo = mid
        met_cost = min(row["seconds_per_query"] for row in mine if ok(row))
        if (
            kind == "simhash"
            and params.get("sketch_bits")
            and (beat is None or met_cost <= LOSE_SLACK * beat)
        ):
            # a tighter sketch filter (fewer random int8 reads): the build's radius minus 1 and 2
            # at the probes found, or one bisection step more (issue 11: at 1M gmm radius 12 -> 10
            # kept recall within 0.005 and gave +4-7% CPU QPS, measured under load)
            p0 = min((row for row in mine if ok(row)), key=lambda row: row["probes"])["probes"]
            auto = int(st["sketch_radius"])
            for rad in (auto - 1, auto - 2):
                if rad < 0:
                    break
                for pp in (p0, min(cap, p0 + max(1, p0 // 16))):
                    if ok(evaluate(pp, refine, {"sketch_radius": rad})):
                        break
            idx.set_search_params(sketch_radius=None)
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

    def simhash_point() -> None:
        """Sweep the one SimHash point (``include_simhash``) and keep it when it is cheaper."""
        nonlocal best
        # round(log2 n) - 4 bits (16 at 1M): at 1M gmm, 16 bits reached 0.919 at 60 probes where 17
        # bits needed 88 for 0.920, about as many candidates and +5% CPU QPS (interleaved, load 12)
        bits = int(np.clip(round(math.log2(max(2, n))) - 4, 4, 20))
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
        if best is not None and n > SIMHASH_SAMPLE:
            # its candidates at the fewest probes, predicted from a sample (a build of a few
            # hundredths of a second): skipped when it cannot win
            pick = np.sort(np.random.default_rng(seed).choice(n, SIMHASH_SAMPLE, replace=False))
            t0 = time.perf_counter()
            probe = SimHashIndex(
                **{**sp, "contiguous_bytes": 0, "sketch_bits": 0, "n_probes": n_tab}
            ).build(x[pick])
            timings["build"] += time.perf_counter() - t0
            probe.search(q_tune, k)
            predicted = probe.stats()["mean_candidates"] * n / SIMHASH_SAMPLE
            if predicted > SIMHASH_SKIP * float(best["mean_candidates"]):
                lost.append(
                    f"simhash: ~{predicted:.0f} candidates per query at its fewest probes "
                    f"(predicted on {SIMHASH_SAMPLE} rows) vs {best['mean_candidates']:.0f} "
                    f"for the best point: not built"
                )
                log.info(lost[-1])
                return
        r = sweep(
            "simhash",
            SimHashIndex,
            sp,
            "n_probes",
            n_tab,
            lambda st: n_tab * 64,
            beat=None if best is None else float(best["seconds_per_query"]),
        )
        if r is not None and (best is None or r["seconds_per_query"] < best["seconds_per_query"]):
            best = r

    with_simhash = include_simhash and metric == "cosine"
    simhash_done = False
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
        n_lost = len(lost)
        r = sweep(
            "balanced",
            BalancedLSHIndex,
            params,
            "query_probes",
            4,
            lambda st: st["n_leaves"],
            beat=None if best is None else float(best["seconds_per_query"]),
        )
        if r is not None and (best is None or r["seconds_per_query"] < best["seconds_per_query"]):
            best = r
        beaten = len(lost) > n_lost
        if with_simhash and not simhash_done:
            # SimHash after the first balanced point, so that it can be skipped or its sweep
            # stopped as soon as it cannot beat it (issue 11: on the skewed family at 1M, swept
            # first, its build and sketch-radius sweep were spent before the balanced point won)
            simhash_done = True
            simhash_point()
        # a point that met the target ends the grid: the later points (more tables) are the
        # grown grid, for targets the first cannot reach (issue 11: at 1M, 16 tables never beat
        # 8 at recall 0.9 on skewed / ip, within 10% on gmm, for twice the build); ``explore`` tries
        # them while they win. A point beaten by a cheaper one also ends it; a point skipped
        # for memory or out of probes lets the next one try.
        if beaten or (r is not None and (not explore or best is not r)):
            break
    if with_simhash and not simhash_done:
        simhash_point()
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
    drop = ("_index", "_params", "_search")
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
        t0 = time.perf_counter()
        idx = cls_b(**best["_params"]).build(x)
        timings["build"] += time.perf_counter() - t0
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
        **best["_search"],
    }
    index_class: type[Index] = BalancedLSHIndex if best["index"] == "balanced" else SimHashIndex
    val = None
    t0 = time.perf_counter()
    idx.set_search_params(
        **{
            best["probe_knob"]: chosen[best["probe_knob"]],
            "refine_factor": chosen["refine_factor"],
            **best["_search"],
        }
    )
    if n_val:
        val = knn_recall(idx.search(q_val, k).ids, t_val, k)
    timings["validation"] = time.perf_counter() - t0
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
        timings=timings,
        index=idx if queries is not None else None,
    )
