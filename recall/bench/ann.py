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

Writes ``results.csv`` (every point), ``frontier.csv``, ``targets.csv``, ``growth.csv``,
``results.md`` and ``recall_vs_qps_<dataset>.png`` into ``--out`` (default ``reports/ann``;
``--quick`` defaults to a temporary folder so smoke runs never overwrite committed reports).
"""

from __future__ import annotations

import importlib
import itertools
import json
import logging
import math
import os
import subprocess
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from recall.base import Index, SearchResult, normalize_rows
from recall.bench.datasets import FAMILIES, make_family
from recall.bench.harness import (
    BenchRun,
    Timing,
    bench_parser,
    default_out,
    fmt_range,
    interleave,
    single_thread,
    start_run,
    timed,
)
from recall.bench.harness import (
    write_report as write_bench_report,
)
from recall.exact import exact_knn, knn_recall, knn_recall_ties, scores_of

log = logging.getLogger(__name__)

GRIDS = Path(__file__).resolve().parent / "grids"  # package data: the grids ship with the code
K = 10
REAL = ("sparkals", "sparrow", "item2vec")
#: strict knn-recall at which a search sweep stops (larger settings cannot improve it)
SATURATED = 0.999


# ----------------------------------------------------------------------------- data
def data_root() -> Path:
    """``$EMBRECALL_DATA``, else ``../shared/data`` beside the checkout (input, not output)."""
    # TODO(lead): use embeddings.paths.data_root
    env = os.environ.get("EMBRECALL_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


def load_sparkals(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """(items (3706, 10), users (6040, 10)) float32 from the Spark ALS CSVs (``id,features``)."""
    base = root / "movielens-1m-sparkals-embeddings"

    def read(name: str) -> np.ndarray:
        df = pd.read_csv(base / name)
        return np.asarray([json.loads(s) for s in df["features"]], dtype=np.float32)

    return read("movielens_sparkals_item_embedding.csv"), read(
        "movielens_sparkals_user_embedding.csv"
    )


def load_sparrow(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """(items (881, 10), users (29775, 10)) float32 from SparrowRecSys ``id:v1 v2 ...`` files."""
    base = root / "sparrowrecsys-movielens-sample" / "modeldata"

    def read(name: str) -> np.ndarray:
        rows = []
        with open(base / name, encoding="utf-8") as fh:
            for line in fh:
                if ":" in line:
                    rows.append([float(v) for v in line.split(":", 1)[1].split()])
        return np.asarray(rows, dtype=np.float32)

    return read("item2vecEmb.csv"), read("userEmb.csv")


def load_item2vec(root: Path, random_state: int = 0, quick: bool = False):
    """Item2vec (sequence mode, 64-d) trained here on ml-latest-small; users = mean liked item."""
    from embeddings.datasets.movielens import load_movielens
    from embeddings.trainers import Item2Vec
    from embeddings.users import user_vectors

    ml = load_movielens(root / "movielens-latest-small")
    emb = Item2Vec(
        mode="sequence", dim=64, epochs=2 if quick else 10, workers=1, random_state=random_state
    ).fit(ml.interactions)
    users = user_vectors(emb, ml.interactions, min_rating=3.5)
    return emb.vectors, users.vectors


@dataclass
class Data:
    """One data set of the run: base (n, d) and queries float32, tuning queries, metric."""

    name: str
    x: NDArray[np.float32]
    q: NDArray[np.float32]
    q_tune: NDArray[np.float32]
    metric: str
    description: str

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def d(self) -> int:
        return int(self.x.shape[1])


def make_data(name: str, n: int, d: int, n_queries: int, seed: int, quick: bool) -> Data | None:
    """A synthetic family at size n, or a real set (None when its files are absent)."""
    if name in FAMILIES:
        x, qq, metric = make_family(name, n, d, n_queries + 200, random_state=seed)
        q, q_tune = qq[:n_queries], qq[n_queries:]
        desc = FAMILIES[name].description
    else:
        root = data_root()
        try:
            if name == "sparkals":
                x, users = load_sparkals(root)
                desc = "Spark ALS item vectors of MovieLens-1M, queried by its user vectors (ip)"
            elif name == "sparrow":
                x, users = load_sparrow(root)
                desc = "SparrowRecSys item2vec item vectors, queried by its user vectors (cosine)"
            elif name == "item2vec":
                x, users = load_item2vec(root, seed, quick)
                desc = "item2vec trained here on ml-latest-small, queried by user means (cosine)"
            else:
                raise ValueError(f"unknown data set {name!r}")
        except (FileNotFoundError, OSError) as exc:
            log.warning("skipping %s: %s", name, exc)
            return None
        rng = np.random.default_rng(seed)
        pick = rng.choice(users.shape[0], size=min(users.shape[0], n_queries + 200), replace=False)
        q, q_tune = users[pick[:n_queries]], users[pick[n_queries:]]
        metric = "ip" if name == "sparkals" else "cosine"
    if metric == "cosine":  # every method gets unit vectors: cosine = ip = l2 ranking
        x, q, q_tune = normalize_rows(x), normalize_rows(q), normalize_rows(q_tune)
    return Data(
        name,
        np.ascontiguousarray(x, dtype=np.float32),
        np.ascontiguousarray(q, dtype=np.float32),
        np.ascontiguousarray(q_tune, dtype=np.float32),
        metric,
        desc,
    )


# ----------------------------------------------------------------------------- a bucketed SimHash peer
class BinaryMultiHashIndex(Index):
    """faiss ``IndexBinaryMultiHash`` over SimHash codes + exact re-rank: bucketed SimHash peer.

    Codes are the signs of ``nbits`` seeded Gaussian projections; faiss hashes ``nhash`` tables
    of ``b`` bits of the code each, probes buckets within ``nflip`` bit flips, ranks the bucket
    candidates by Hamming distance and returns ``k * refine_factor`` of them, which are re-scored
    exactly. Metric cosine (unit vectors) or ip.
    """

    name = "faiss_binary_multihash"

    def __init__(
        self,
        metric: str = "cosine",
        nbits: int = 64,
        nhash: int = 8,
        b: int = 12,
        nflip: int = 0,
        refine_factor: int = 10,
        random_state: int = 0,
    ) -> None:
        if metric not in ("cosine", "ip"):
            raise ValueError(f"BinaryMultiHashIndex supports cosine and ip, got {metric!r}")
        if nbits % 8 or nbits < 8:
            raise ValueError(f"nbits must be a positive multiple of 8, got {nbits}")
        if not 1 <= b <= 64 or nhash * b > nbits or nhash < 1:
            raise ValueError(f"need nhash * b <= nbits and 1 <= b <= 64, got {nhash}, {b}, {nbits}")
        super().__init__(metric)  # type: ignore[arg-type]
        self.nbits, self.nhash, self.b = int(nbits), int(nhash), int(b)
        self.nflip, self.refine_factor, self.random_state = (
            int(nflip),
            int(refine_factor),
            random_state,
        )

    def set_search_params(self, **kw: Any) -> BinaryMultiHashIndex:
        for k, v in kw.items():
            if k not in ("nflip", "refine_factor"):
                raise ValueError(f"unknown search parameter {k!r}; settable: nflip, refine_factor")
            setattr(self, k, int(v))
        return self

    def _codes(self, x: NDArray[np.float32]) -> NDArray[np.uint8]:
        return np.packbits(x @ self._proj > 0, axis=1)

    def _reset(self) -> None:
        self._index = None

    def _add(self, vectors: NDArray[np.float32], ids: NDArray[np.int64]) -> None:
        import faiss

        if getattr(self, "_index", None) is None:
            rng = np.random.default_rng(self.random_state)
            self._proj = rng.standard_normal((vectors.shape[1], self.nbits), dtype=np.float32)
            self._index = faiss.IndexBinaryMultiHash(self.nbits, self.nhash, self.b)
            self._x = np.empty((0, vectors.shape[1]), dtype=np.float32)
        self._index.add(self._codes(vectors))
        self._x = np.ascontiguousarray(np.vstack([self._x, vectors]), dtype=np.float32)

    def _search(self, queries: NDArray[np.float32], k: int) -> SearchResult:
        self._index.nflip = self.nflip
        kk = min(self._x.shape[0], k * max(1, self.refine_factor))
        _, rows = self._index.search(self._codes(queries), kk)
        valid = rows >= 0
        self._last_candidates = float(valid.sum(axis=1).mean())
        g = self._x[np.where(valid, rows, 0)]
        s = np.where(valid, np.einsum("qkd,qd->qk", g, queries), -np.inf)
        order = np.argsort(-s, axis=1, kind="stable")[:, :k]
        top_rows = np.take_along_axis(rows, order, axis=1)
        top_s = np.take_along_axis(s, order, axis=1).astype(np.float32)
        ids = np.where(top_rows >= 0, self._ids[np.maximum(top_rows, 0)], -1)
        if ids.shape[1] < k:
            pad = k - ids.shape[1]
            ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
            top_s = np.pad(top_s, ((0, 0), (0, pad)), constant_values=-np.inf)
        return SearchResult(ids.astype(np.int64), top_s)

    def native_search(self, queries: Any, k: int) -> Any:
        """faiss ``IndexBinaryMultiHash.search`` on the query's SimHash code, then the exact
        re-rank of its candidates, one query per call (unit rows prepared once; the code is
        computed inside the call: hashing is the method's work)."""
        from embeddings._validate import as_vectors
        from recall.peers import NativeSearch

        q = self._prepare(as_vectors(queries, "queries", dim=self.dim))
        k = min(int(k), len(self))
        index, proj, x, ids = self._index, self._proj, self._x, self._ids
        kk = min(x.shape[0], k * max(1, self.refine_factor))

        def apply() -> None:
            index.nflip = self.nflip

        def call(v: NDArray[np.float32]) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
            _, rows = index.search(np.packbits(v @ proj > 0, axis=1), kk)
            r = rows[0][rows[0] >= 0]
            sc = np.einsum("qkd,qd->qk", x[r][None], v)[0]
            top = np.argsort(-sc, kind="stable")[:k]
            return r[top], sc[top]

        return NativeSearch(
            how="faiss `IndexBinaryMultiHash.search(code, k * refine_factor)` on the query's "
            "SimHash code + exact re-rank of the candidates (numpy), one query per call",
            inputs=[q[i : i + 1] for i in range(q.shape[0])],
            apply=apply,
            call=call,
            to_ids=lambda out: ids[out[0]],
        )

    def _stats(self) -> dict[str, float]:
        return {
            "memory_bytes": float(self._x.nbytes + self._x.shape[0] * self.nbits / 8 * self.nhash),
            "mean_candidates": getattr(self, "_last_candidates", float("nan")),
        }

    def _get_state(self) -> dict[str, NDArray]:  # pragma: no cover - not saved by the bench
        raise NotImplementedError("BinaryMultiHashIndex is a benchmark peer; it is not saved")

    def _set_state(self, state: dict[str, NDArray]) -> None:  # pragma: no cover
        raise NotImplementedError("BinaryMultiHashIndex is a benchmark peer; it is not saved")


# ----------------------------------------------------------------------------- grids
def grid_path(name: str) -> Path:
    p = Path(name)
    if p.suffix == ".toml" and p.exists():
        return p
    q = GRIDS / f"{name}.toml"
    if not q.exists():
        known = sorted(f.stem for f in GRIDS.glob("*.toml"))
        raise ValueError(f"unknown grid {name!r}: not a .toml file, nor one of {known}")
    return q


def load_grid(name: str) -> dict[str, Any]:
    """The grid file as a dict (``rounds``, ``k``, ``methods``), validated."""
    path = grid_path(name)
    with open(path, "rb") as fh:
        grid = tomllib.load(fh)
    methods = grid.get("methods")
    if not isinstance(methods, dict) or not methods:
        raise ValueError(f"{path}: no [methods.NAME] tables")
    for mname, m in methods.items():
        kinds = [key for key in ("index", "tune", "external") if key in m]
        if len(kinds) != 1:
            raise ValueError(f"{path}: method {mname!r} needs exactly one of index/tune/external")
        if "family" not in m:
            raise ValueError(f"{path}: method {mname!r} has no family")
    grid["path"] = str(path)
    return grid


_SAFE = {"sqrt": math.sqrt, "log2": math.log2, "round": round, "int": int, "min": min, "max": max}


def resolve(value: Any, n: int, d: int) -> Any:
    """A grid value: literals as they are; a string starting with ``=`` is an expression of n, d."""
    if isinstance(value, str) and value.startswith("="):
        try:
            return eval(value[1:], {"__builtins__": {}}, {**_SAFE, "n": n, "d": d})  # noqa: S307
        except Exception as exc:  # noqa: BLE001 - report which grid value is wrong
            raise ValueError(f"bad grid expression {value!r}: {exc}") from exc
    return value


def expand(spec: dict[str, list[Any]] | None, n: int, d: int) -> list[dict[str, Any]]:
    """Cartesian product of the lists (after resolving), duplicates dropped, order kept."""
    if not spec:
        return [{}]
    keys = list(spec)
    lists = [
        [resolve(v, n, d) for v in (spec[k] if isinstance(spec[k], list) else [spec[k]])]
        for k in keys
    ]
    out: list[dict[str, Any]] = []
    for combo in itertools.product(*lists):
        s = dict(zip(keys, combo, strict=True))
        if s not in out:
            out.append(s)
    return out


def import_obj(spec: str) -> Any:
    mod, _, name = spec.partition(":")
    return getattr(importlib.import_module(mod), name)


def set_search(idx: Any, **kw: Any) -> None:
    """Search-time parameters, only through the index's ``set_search_params`` (the contract)."""
    if kw:
        idx.set_search_params(**kw)


#: how an index without ``native_search`` (ours, exact) is called in the single-query loop
WRAPPED_CALL = "`index.search(row, k)` (our public single-query path)"


def _label(d: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in d.items())


# ----------------------------------------------------------------------------- measuring
class Bench:
    """The sweep of one data set: ground truth, timed points, the kept indexes of the targets."""

    def __init__(self, data: Data, grid: dict[str, Any], n_single: int, rounds: int, seed: int):
        self.data, self.grid, self.rounds, self.seed = data, grid, rounds, seed
        self.k = int(grid.get("k", K))
        log.info("[%s n=%d] ground truth", data.name, data.n)
        truth = exact_knn(data.x, data.q, self.k, metric=data.metric)  # type: ignore[arg-type]
        self.truth_ids = truth.ids
        self.truth_scores = scores_of(data.x, data.q, truth.ids, data.metric)  # type: ignore[arg-type]
        self.rows = [data.q[i : i + 1] for i in range(min(n_single, data.q.shape[0]))]
        self.q_single = np.ascontiguousarray(data.q[: len(self.rows)])
        self.points: list[dict[str, Any]] = []
        #: a timed pass repeats the single-query loop until it lasts this long (quick: shorter)
        self.min_pass_s = 0.02 if n_single < 100 else 0.1
        self.exact_qps = 0.0  # the faster exact baseline's single-query QPS (dominance floor)
        # the target roles: (index, setting, point) of the best point so far
        self.keep: dict[str, tuple[Any, dict[str, Any], dict[str, Any]]] = {}

    def recall(self, ids: NDArray[np.int64]) -> tuple[float, float]:
        s = scores_of(self.data.x, self.data.q, ids, self.data.metric)  # type: ignore[arg-type]
        return (
            knn_recall_ties(s, self.truth_scores, self.k, result_ids=ids),
            knn_recall(ids, self.truth_ids, self.k),
        )

    def native(self, idx: Any, setting: dict[str, Any]) -> Any:
        """The peer's own single-query call at ``setting`` (queries prepared once), or None."""
        if not hasattr(idx, "native_search"):
            return None
        set_search(idx, **setting)
        return idx.native_search(self.q_single, self.k)

    def single_loop(
        self, idx: Any, setting: dict[str, Any], reps: int = 1, wrapped: bool = False
    ) -> Callable[[], None]:
        """One timed pass: the single-query loop over ``rows``, ``reps`` times.

        A peer is called through its native call (``native_search``: the library's own
        single-query function on queries prepared once, outside the pass); ours and exact
        through ``search(row, k)``, their shortest public path. ``wrapped=True`` times a peer
        through the ``Index`` wrapper instead (reported beside, never used in a ratio)."""
        nat = None if wrapped else self.native(idx, setting)
        if nat is None:
            rows, k = self.rows, self.k

            def run() -> None:
                set_search(idx, **setting)
                for _ in range(reps):
                    for r in rows:
                        idx.search(r, k)

            return run
        inputs, call, apply = nat.inputs, nat.call, nat.apply

        def run_native() -> None:
            set_search(idx, **setting)  # this setting's parameters, then into the library
            apply()
            for _ in range(reps):
                for r in inputs:
                    call(r)

        return run_native

    def check_native(self, idx: Any, setting: dict[str, Any]) -> dict[str, Any]:
        """Untimed: the native call's ids vs the wrapped ``search`` ids, row by row; and one
        timed pass of the wrapped loop (``qps_wrapped_1pass``, transparency only)."""
        nat = self.native(idx, setting)
        if nat is None:
            return {"call": WRAPPED_CALL, "native_ids_match": np.nan, "qps_wrapped_1pass": np.nan}
        nat.apply()
        raw = np.full((len(nat.inputs), self.k), -1, dtype=np.int64)
        for i, r in enumerate(nat.inputs):
            got = nat.to_ids(nat.call(r))[: self.k]
            raw[i, : got.size] = got
        wrapped_ids, w, _ = timed(lambda: np.vstack([idx.search(r, self.k).ids for r in self.rows]))
        match = float(np.mean(np.all(raw == wrapped_ids[:, : raw.shape[1]], axis=1)))
        if match < 1.0:
            log.warning(
                "[%s] %s %s: native call and wrapped search disagree on %.1f%% of the queries",
                self.data.name,
                type(idx).__name__,
                _label(setting),
                100 * (1 - match),
            )
        return {
            "call": nat.how,
            "native_ids_match": match,
            "qps_wrapped_1pass": len(self.rows) / max(w, 1e-12),
        }

    def reps_for(self, seconds_per_loop: float) -> int:
        """Loops per timed pass so that a pass lasts >= ``min_pass_s`` (scheduler noise)."""
        return max(1, int(math.ceil(self.min_pass_s / max(seconds_per_loop, 1e-9))))

    def warmup(self, make: Callable[[], Any]) -> float:
        """Build + search on a small slice once (compilation, library init): its wall seconds."""
        m = min(self.data.n, 2000)

        def go() -> None:
            idx = make()
            idx.build(self.data.x[:m])
            idx.search(self.data.q[:2], min(self.k, m))

        try:
            return timed(go)[1]
        except Exception as exc:  # noqa: BLE001 - a small slice may be too small for a config
            log.info("warm-up failed (%s); the build below then includes it", exc)
            return float("nan")

    def sweep(
        self,
        method: str,
        family: str,
        idx: Any,
        build_label: str,
        settings: list[dict[str, Any]],
        build_s: float,
        build_cpu: float,
        tune_s: float,
        warmup_s: float,
    ) -> None:
        base = {
            "dataset": self.data.name,
            "n": self.data.n,
            "dim": self.data.d,
            "metric": self.data.metric,
            "family": family,
            "method": method,
            "build_params": build_label,
            "build_s": build_s,
            "build_cpu_s": build_cpu,
            "tune_s": tune_s,
            "build_total_s": build_s + tune_s,
            "warmup_s": warmup_s,
        }
        recs = []
        for s in settings:
            set_search(idx, **s)
            res, b_wall, _ = timed(lambda: idx.search(self.data.q, self.k))
            st = idx.stats()
            rt, rs = self.recall(res.ids)
            recs.append(
                {
                    **base,
                    **self.check_native(idx, s),
                    "search_params": _label(s),
                    "knn_recall": rt,
                    "knn_recall_strict": rs,
                    "mean_candidates": float(st.get("mean_candidates", np.nan)),
                    "memory_mb": float(st.get("memory_bytes", np.nan)) / 2**20,
                    # secondary figure: the batched call that gave the recall, one pass
                    "qps_batch_1pass": self.data.q.shape[0] / max(b_wall, 1e-12),
                }
            )
            if rs >= SATURATED and s is not settings[-1]:  # a larger setting cannot do better
                log.info(
                    "[%s] %s %s: recall saturated at %s",
                    self.data.name,
                    family,
                    build_label,
                    _label(s),
                )
                break
        settings = settings[: len(recs)]
        # warm-up pass of every setting; a point slower than half the exact baseline is
        # dominated by exact search: it keeps that single pass (flagged) instead of the rounds
        warm = {i: timed(self.single_loop(idx, s))[1:] for i, s in enumerate(settings)}
        floor = 0.5 * self.exact_qps if self.exact_qps else 0.0
        for i, s in enumerate(settings):  # a second pass before calling a point dominated
            if len(self.rows) / max(warm[i][0], 1e-12) < floor:
                again = timed(self.single_loop(idx, s))[1:]
                warm[i] = min(warm[i], again)
        reps = {i: self.reps_for(warm[i][0]) for i in range(len(settings))}
        live = {
            i: self.single_loop(idx, s, reps[i])
            for i, s in enumerate(settings)
            if len(self.rows) / max(warm[i][0], 1e-12) >= floor
        }
        t_single = interleave(live, self.rounds, warmup=False) if live else {}
        for i, (s, rec) in enumerate(zip(settings, recs, strict=True)):
            if i in t_single:
                rec.update(t_single[i].rate(len(self.rows) * reps[i], "qps"))
                rec["dominated_by_exact"] = False
            else:
                rec.update(Timing((warm[i][0],), (warm[i][1],)).rate(len(self.rows), "qps"))
                rec["qps_flagged"] = True
                rec["dominated_by_exact"] = True
            self.points.append(rec)
            log.info(
                "[%s n=%d] %s %s %s: recall %.3f, %.0f QPS (%.0f-%.0f), build %.1fs",
                self.data.name,
                self.data.n,
                family,
                build_label,
                _label(s),
                rec["knn_recall"],
                rec["qps"],
                rec["qps_min"],
                rec["qps_max"],
                build_s + tune_s,
            )
            self._consider(family, idx, s, rec)
            if family in ("exact (ours)", "faiss IndexFlat"):
                self.exact_qps = max(self.exact_qps, rec["qps"])

    def _consider(self, family: str, idx: Any, s: dict[str, Any], rec: dict[str, Any]) -> None:
        def better(role: str, floor: float) -> bool:
            if rec["knn_recall"] < floor:
                return False
            cur = self.keep.get(role)
            return cur is None or rec["qps"] > cur[2]["qps"]

        if family == "exact (ours)":
            self.keep["exact"] = (idx, s, rec)
        elif family == "faiss IndexFlat":
            self.keep["faiss IndexFlat"] = (idx, s, rec)
        elif family.startswith("ours") and better("ours", 0.9):
            self.keep["ours"] = (idx, s, rec)
        elif family == "hnswlib" and better("hnswlib", 0.9):
            self.keep["hnswlib"] = (idx, s, rec)
        elif family == "faiss IndexLSH+refine":
            ours = self.keep.get("ours")
            floor = ours[2]["knn_recall"] if ours else 0.9
            if better("faiss IndexLSH+refine", floor):
                self.keep["faiss IndexLSH+refine"] = (idx, s, rec)

    def run_method(self, mname: str, m: dict[str, Any]) -> None:
        data = self.data
        if data.metric not in m.get("metrics", ["cosine", "ip", "l2"]):
            log.info("[%s] %s: metric %s not supported, skipped", data.name, mname, data.metric)
            return
        family = m["family"]
        if "external" in m:
            return  # run after the target phase (another interpreter)
        if "tune" in m:
            import recall.lsh_tuning as lsh_tuning

            kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in m["tune"].items()}
            tuner = getattr(lsh_tuning, str(kw.pop("tuner", "tune_lsh")))
            kw = {
                k: resolve(v, data.n, data.d)
                if not isinstance(v, tuple)
                else tuple(resolve(x, data.n, data.d) for x in v)
                for k, v in kw.items()
            }
            if tuner is lsh_tuning.tune_lsh:
                cls_path = "recall.lsh:" + (
                    "E2LSHIndex" if kw.get("kind") == "e2lsh" else "SimHashIndex"
                )
            else:  # the balanced tuner (it may also pick a SimHash: both compile on warm-up)
                self.warmup(lambda: import_obj("recall.lsh:SimHashIndex")(metric=data.metric))
                cls_path = "recall.lsh_balanced:BalancedLSHIndex"
            warm = self.warmup(lambda: import_obj(cls_path)(metric=data.metric))
            try:
                res, tune_s, _ = timed(
                    lambda: tuner(
                        data.x,
                        data.q_tune,
                        k=self.k,
                        metric=data.metric,
                        random_state=self.seed,
                        **kw,
                    )
                )
            except ValueError as exc:
                log.warning("[%s] tuning %s failed: %s", data.name, mname, exc)
                return
            idx, b_wall, b_cpu = timed(lambda: res.make_index().build(data.x))
            swept = set(m.get("search_factors", {}))
            chosen = {
                k: v for k, v in res.params.items() if k not in ("metric", "random_state", *swept)
            }
            settings = []
            for key, factors in m.get("search_factors", {}).items():
                base = res.params.get(key)
                if base is None:
                    continue
                lo = int(res.params.get("n_tables", 1)) if key == "n_probes" else 1
                for f in factors:
                    s = {key: max(lo, int(round(base * f)))}
                    if s not in settings:
                        settings.append(s)
            label = (
                "tuned: "
                + ("" if res.index_class.__name__ in cls_path else res.index_class.__name__ + " ")
                + _label(chosen)
                + ("" if res.reached else " (target not reached)")
            )
            self.sweep(mname, family, idx, label, settings or [{}], b_wall, b_cpu, tune_s, warm)
            del idx
            return
        cls = import_obj(m["index"])
        searches = expand(m.get("search"), data.n, data.d)
        for j, bp in enumerate(expand(m.get("build"), data.n, data.d)):
            kw = dict(bp)
            if "random_state" in _init_params(cls):
                kw.setdefault("random_state", self.seed)
            if "threads" in _init_params(cls):
                kw.setdefault("threads", 1)

            def make(kw: dict[str, Any] = kw) -> Any:
                return cls(metric=data.metric, **kw)

            try:
                warm = self.warmup(make) if j == 0 else float("nan")
                idx, b_wall, b_cpu = timed(lambda: make().build(data.x))
            except (ValueError, RuntimeError, MemoryError) as exc:
                log.warning("[%s] %s %s failed to build: %s", data.name, mname, _label(bp), exc)
                continue
            lo = int(getattr(idx, "n_tables", 1)) if "n_probes" in (m.get("search") or {}) else 1
            settings = [s for s in searches if s.get("n_probes", lo) >= lo]
            self.sweep(mname, family, idx, _label(bp), settings, b_wall, b_cpu, 0.0, warm)
            del idx

    def target_phase(self) -> dict[str, dict[str, Any]]:
        """Re-time the target points together, interleaved; returns role -> timed figures."""
        roles = {r: v for r, v in self.keep.items() if r != "exact"}
        if not roles:
            return {}
        rounds = max(self.rounds, 5)
        reps = {r: self.reps_for(len(self.rows) / v[2]["qps"]) for r, v in roles.items()}
        loops = {r: self.single_loop(v[0], v[1], reps[r]) for r, v in roles.items()}
        # peers also through the Index wrapper, interleaved with the rest (transparency only)
        for r, v in roles.items():
            if hasattr(v[0], "native_search"):
                loops[f"{r} (wrapped)"] = self.single_loop(v[0], v[1], reps[r], wrapped=True)
        ts: dict[str, Timing] = interleave(loops, rounds)
        out = {}
        for r, (_, s, rec) in roles.items():
            out[r] = {
                "role": r,
                "family": rec["family"],
                "params": f"{rec['build_params']} {_label(s)}".strip() or "defaults",
                "knn_recall": rec["knn_recall"],
                "build_s": rec["build_s"],
                "tune_s": rec["tune_s"],
                "build_total_s": rec["build_total_s"],
                "memory_mb": rec.get("memory_mb", float("nan")),
                "call": rec.get("call", WRAPPED_CALL),
                **ts[r].rate(len(self.rows) * reps[r], "qps"),
            }
            w = ts.get(f"{r} (wrapped)")
            out[r]["qps_wrapped"] = (
                w.rate(len(self.rows) * reps[r], "qps")["qps"] if w is not None else np.nan
            )
        return out


def _init_params(cls: type) -> set[str]:
    import inspect

    try:
        return set(inspect.signature(cls).parameters)
    except (TypeError, ValueError):  # pragma: no cover
        return set()


# ----------------------------------------------------------------------------- FALCONN
_FALCONN_SCRIPT = r"""
import json, sys, time
import numpy as np
import falconn
x = np.load(sys.argv[1]); q = np.load(sys.argv[2]); out = sys.argv[3]
cfg = json.loads(open(sys.argv[4]).read())
n, d = x.shape
center = x.mean(axis=0)
xc = np.ascontiguousarray(x - center, dtype=np.float32); qc = np.ascontiguousarray(q - center, dtype=np.float32)
rows = [qc[i] for i in range(min(cfg["n_single"], len(qc)))]
res = []
for bp in cfg["builds"]:
    # EuclideanSquared on centred unit vectors ranks exactly like cosine on the originals
    p = falconn.get_default_parameters(n, d, falconn.DistanceFunction.EuclideanSquared, True)
    p.l = int(bp["L"]); p.num_rotations = 1; p.seed = 5721840; p.num_setup_threads = 1
    p.storage_hash_table = falconn.StorageHashTable.FlatHashTable
    falconn.compute_number_of_hash_functions(int(bp["bits"]), p)
    c0, w0 = time.process_time(), time.perf_counter()
    t = falconn.LSHIndex(p); t.setup(xc)
    build_cpu, build_wall = time.process_time() - c0, time.perf_counter() - w0
    qo = t.construct_query_object()
    probes = sorted({max(p.l, int(p.l * f)) for f in cfg["probes_factor"]})
    recs = []
    for pr in probes:
        qo.set_num_probes(pr)
        ids = np.full((len(qc), cfg["k"]), -1, dtype=np.int64)
        qo.reset_query_statistics()
        for i in range(len(qc)):
            r = qo.find_k_nearest_neighbors(qc[i], cfg["k"])
            ids[i, :len(r)] = r
        cand = qo.get_query_statistics().average_num_unique_candidates
        np.save(f"{out}/ids_{len(res) + len(recs)}.npy", ids)
        recs.append(dict(L=p.l, bits=int(bp["bits"]), k=p.k, probes=pr, build_s=build_wall,
                         build_cpu_s=build_cpu, candidates=cand, wall=[], cpu=[]))
    for rnd in range(cfg["rounds"] + 1):  # round 0 = warm-up, which sets the loops per pass
        for rec in recs:
            qo.set_num_probes(rec["probes"])
            reps = rec.get("reps", 1)
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(reps):
                for r in rows:
                    qo.find_k_nearest_neighbors(r, cfg["k"])
            w = time.perf_counter() - w0
            if rnd:
                rec["wall"].append(w); rec["cpu"].append(time.process_time() - c0)
            else:
                rec["reps"] = max(1, int(np.ceil(cfg["min_pass_s"] / max(w, 1e-9))))
    res.extend(recs)
    del qo, t
json.dump(res, open(f"{out}/falconn.json", "w"))
"""


def falconn_python(arg: str | None) -> str | None:
    for cand in (arg, os.environ.get("EMBRECALL_FALCONN_PYTHON"), "/tmp/falconn-venv/bin/python"):
        if cand and Path(cand).exists():
            ok = subprocess.run([cand, "-c", "import falconn"], capture_output=True).returncode == 0
            if ok:
                return cand
    return None


def run_falconn(py: str, b: Bench, m: dict[str, Any]) -> None:
    data = b.data
    if data.metric not in m.get("metrics", ["cosine"]):
        return
    builds = expand(m.get("build"), data.n, data.d)
    factors = [
        float(resolve(v, data.n, data.d)) for v in (m.get("search") or {}).get("probes_factor", [1])
    ]
    with tempfile.TemporaryDirectory(prefix="falconn_") as tmp:
        np.save(f"{tmp}/x.npy", data.x)
        np.save(f"{tmp}/q.npy", data.q)
        cfg = {
            "builds": builds,
            "probes_factor": factors,
            "k": b.k,
            "rounds": b.rounds,
            "n_single": len(b.rows),
            "min_pass_s": b.min_pass_s,
        }
        Path(tmp, "cfg.json").write_text(json.dumps(cfg))
        script = Path(tmp) / "run.py"
        script.write_text(_FALCONN_SCRIPT)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        proc = subprocess.run(
            [py, str(script), f"{tmp}/x.npy", f"{tmp}/q.npy", tmp, f"{tmp}/cfg.json"],
            capture_output=True,
            text=True,
            env=env,
        )
        if proc.returncode != 0:
            log.warning("FALCONN failed: %s", proc.stderr[-2000:])
            return
        for i, r in enumerate(json.loads(Path(tmp, "falconn.json").read_text())):
            ids = np.load(f"{tmp}/ids_{i}.npy")
            rt, rs = b.recall(ids)
            t = Timing(tuple(r["wall"]), tuple(r["cpu"]))
            rec = {
                "dataset": data.name,
                "n": data.n,
                "dim": data.d,
                "metric": data.metric,
                "family": m["family"],
                "method": "falconn",
                "build_params": f"L={r['L']} bits={r['bits']} k={r['k']}",
                "build_s": r["build_s"],
                "build_cpu_s": r["build_cpu_s"],
                "tune_s": 0.0,
                "build_total_s": r["build_s"],
                "warmup_s": float("nan"),
                "search_params": f"probes={r['probes']}",
                "knn_recall": rt,
                "knn_recall_strict": rs,
                "mean_candidates": r["candidates"],
                "memory_mb": float("nan"),
                "call": "FALCONN `QueryObject.find_k_nearest_neighbors(q, k)` on centred float32 "
                "vectors, in its own interpreter (numpy < 2), after the others",
                **t.rate(len(b.rows) * r["reps"], "qps"),
            }
            b.points.append(rec)


# ----------------------------------------------------------------------------- analysis
def pareto(g: pd.DataFrame, x: str = "knn_recall", y: str = "qps") -> pd.DataFrame:
    """Points not dominated in (higher recall, higher QPS), sorted by recall."""
    g = g.sort_values([x, y], ascending=[False, False])
    keep, best = [], -np.inf
    for i, r in g.iterrows():
        if r[y] > best:
            keep.append(i)
            best = r[y]
    return g.loc[keep].sort_values(x)


TARGETS = [
    # (target text, reference role, ratio kind, needed); issue 11's table at knn-recall@10 >= 0.9
    ("single-query QPS >= 50x faiss IndexFlat", "faiss IndexFlat", "qps", 50.0),
    (
        "single-query QPS >= 2x FALCONN cross-polytope (its best point >= 0.9)",
        "FALCONN",
        "qps",
        2.0,
    ),
    (
        "single-query QPS >= 0.25x hnswlib (its best point >= 0.9; stretch 0.5x)",
        "hnswlib",
        "qps",
        0.25,
    ),
    (
        "single-query QPS >= 2x faiss IndexLSH+refine at equal or higher recall",
        "faiss IndexLSH+refine",
        "qps",
        2.0,
    ),
    ("build incl. tuning <= 0.2x hnswlib build (ratio = hnswlib / ours)", "hnswlib", "build", 5.0),
    ("index memory <= 2x the float32 vectors (ratio = vectors / index)", "vectors", "memory", 0.5),
]


def targets(final: dict[str, dict[str, Any]], points: pd.DataFrame) -> pd.DataFrame:
    """The issue's target ratios, in wall time, from the interleaved target phase."""
    rows: list[dict[str, Any]] = []
    ours = final.get("ours")
    fal = points[(points["family"] == "FALCONN cross-polytope") & (points["knn_recall"] >= 0.9)]
    falc = None if fal.empty else fal.loc[fal["qps"].idxmax()]
    for text, role, kind, need in TARGETS:
        ref: dict[str, Any] | None
        if role == "vectors":
            ref = None if ours is None else {"memory": True}
        elif role == "FALCONN":
            ref = (
                None
                if falc is None
                else {
                    "family": falc["family"],
                    "params": f"{falc['build_params']} {falc['search_params']}",
                    "knn_recall": falc["knn_recall"],
                    "qps": falc["qps"],
                    "build_total_s": falc["build_total_s"],
                }
            )
        else:
            ref = final.get(role)
        row: dict[str, Any] = {"target": text, "needed": need}
        if ours is None:
            row.update(ours="no LSH point reaches knn-recall@10 0.9", met=False, ratio=np.nan)
        else:
            row["ours"] = (
                f"{ours['family']} [{ours['params']}]: {ours['qps']:,.0f} QPS at {ours['knn_recall']:.3f}; "
                f"build {ours['build_s']:.1f}s + tuning {ours['tune_s']:.1f}s"
            )
        if role == "vectors" and ours is not None:
            vec_mb = float(points.attrs.get("vectors_mb", np.nan))
            mem = float(ours.get("memory_mb", np.nan))
            row["reference"] = f"float32 vectors: {vec_mb:,.0f} MB; index {mem:,.0f} MB"
            ratio = vec_mb / mem if mem > 0 else np.nan
            row.update(ratio=ratio, met=None if np.isnan(ratio) else bool(ratio >= need))
        elif ref is None:
            row.update(reference="absent (no point at the recall needed)", ratio=np.nan)
            row.setdefault("met", None if ours is not None else False)
        else:
            qw = ref.get("qps_wrapped", np.nan)
            row["reference"] = (
                f"{ref['family']} [{ref['params']}]: {ref['qps']:,.0f} QPS"
                + ("" if pd.isna(qw) else f" native ({qw:,.0f} through the wrapper)")
                + f" at {ref['knn_recall']:.3f}; build {ref['build_total_s']:.1f}s"
            )
            row["reference_qps"] = ref["qps"]
            row["reference_qps_wrapped"] = qw
            if ours is not None:
                ratio = (
                    ours["qps"] / ref["qps"]
                    if kind == "qps"
                    else ref["build_total_s"] / max(ours["build_total_s"], 1e-9)
                )
                row.update(ratio=ratio, met=bool(ratio >= need))
        rows.append(row)
    return pd.DataFrame(rows)


def plot_families(g: pd.DataFrame, title: str):
    """Recall (x) vs log single-query QPS (y, wall): Pareto line per family, ours solid."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 6))
    ax = fig.subplots()
    cmap = plt.get_cmap("tab20")
    for i, fam in enumerate(dict.fromkeys(g["family"])):
        gg = g[g["family"] == fam]
        ours = str(fam).startswith("ours")
        color = cmap(i % 20)
        ax.scatter(gg["knn_recall"], gg["qps"], s=8, alpha=0.3, color=color)
        f = pareto(gg)
        ax.plot(
            f["knn_recall"],
            f["qps"],
            marker="o" if ours else "s",
            linestyle="-" if ours else "--",
            linewidth=2.0 if ours else 1.2,
            color=color,
            label=str(fam),
        )
    ax.axvline(0.9, color="grey", linewidth=0.8, linestyle=":")
    ax.set_yscale("log")
    ax.set_xlabel("knn-recall@10 (tie-aware, vs exact search)")
    ax.set_ylabel("single-query QPS, wall clock (log)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def growth_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per data family x method family x n: fastest QPS at recall >= 0.9 and its build seconds."""
    rows = []
    for (ds, fam, n), g in df.groupby(["dataset", "family", "n"], sort=False):
        ok = g[g["knn_recall"] >= 0.9]
        if ok.empty:
            rows.append(
                {
                    "dataset": ds,
                    "family": fam,
                    "n": n,
                    "qps": np.nan,
                    "build_total_s": np.nan,
                    "best_recall": g["knn_recall"].max(),
                }
            )
            continue
        r = ok.loc[ok["qps"].idxmax()]
        rows.append(
            {
                "dataset": ds,
                "family": fam,
                "n": n,
                "qps": r["qps"],
                "build_total_s": r["build_total_s"],
                "best_recall": g["knn_recall"].max(),
            }
        )
    return pd.DataFrame(rows)


def write_report(
    df: pd.DataFrame, tg: pd.DataFrame, run: BenchRun, out: Path, grid: dict[str, Any]
) -> None:
    from recall.plots import save_figure

    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "results.csv", index=False)
    tg.to_csv(out / "targets.csv", index=False)
    fronts = (
        pd.concat(
            [
                pareto(g).assign(dataset=ds, n=n)
                for (ds, n, _f), g in df.groupby(["dataset", "n", "family"], sort=False)
            ],
            ignore_index=True,
        )
        if len(df)
        else df
    )
    fronts.to_csv(out / "frontier.csv", index=False)
    gr = growth_table(df) if len(df) else pd.DataFrame()
    gr.to_csv(out / "growth.csv", index=False)
    lines = run.header("ANN benchmark: our LSH vs exact search and the peers, every data family")
    lines += [
        f"Grid: `{Path(grid['path']).name}` ({len(grid['methods'])} methods). One thread everywhere. "
        "QPS = single-query QPS in wall time (a loop of 1-query calls), median of the interleaved "
        "rounds (min-max); knn-recall@10 is tie-aware (ann-benchmarks' rule). Build = wall seconds "
        "of the build; for tuned methods `tuning` is shown apart and counted in `build total`. "
        "Compilation/initialisation (warm-up on a 2,000-row slice) is in `warmup_s` of results.csv, "
        "never in the build.",
        "",
    ]
    for (ds, n), g in df.groupby(["dataset", "n"], sort=False):
        d, metric = int(g["dim"].iloc[0]), g["metric"].iloc[0]
        lines += [f"## {ds}: {n:,} x {d} ({metric})", ""]
        t = tg[(tg["dataset"] == ds) & (tg["n"] == n)] if len(tg) else tg
        if len(t):
            lines += [
                "### Targets (wall time; ours and the peers re-timed together, interleaved)",
                "",
            ]
            lines += [
                "| target | ours | reference | ratio | needed | met |",
                "|---|---|---|---:|---:|---|",
            ]
            for _, r in t.iterrows():
                met = {True: "**met**", False: "**NOT met**"}.get(r.get("met"), "n/a")
                ratio = r.get("ratio", np.nan)
                lines.append(
                    f"| {r['target']} | {r.get('ours', '')} | {r.get('reference', '')} | "
                    f"{'' if pd.isna(ratio) else f'{ratio:.2f}'} | {r['needed']:g} | {met} |"
                )
            lines += [
                "",
                "Every peer is timed through its own single-query call (see *How each method "
                "was called*), queries prepared once outside the loop; its QPS through "
                "embrecall's `Index` wrapper is shown beside for transparency and never enters a "
                "ratio. FALCONN runs in its own process after the others (not interleaved).",
                "",
            ]

        lines += ["### How each method was called (the single-query loop that is timed)", ""]
        lines += ["| family | call | native ids = wrapped ids |", "|---|---|---:|"]
        for fam, gg in g.groupby("family", sort=False):
            calls = "; ".join(dict.fromkeys(str(c) for c in gg.get("call", pd.Series(["?"]))))
            m = gg["native_ids_match"] if "native_ids_match" in gg else pd.Series([np.nan])
            ok = "n/a" if m.isna().all() else f"{m.min():.0%} of queries (worst setting)"
            lines.append(f"| {fam} | {calls} | {ok} |")
        lines += [
            "",
            "### Pareto frontier per family",
            "",
            "| family | points | build params | search params | knn-recall@10 | QPS (min-max) | QPS wrapped (1 pass) | QPS batch (1 pass) | build total s (tuning) | memory MB |",
            "|---|---:|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for fam, gg in g.groupby("family", sort=False):
            for _, r in pareto(gg).iterrows():
                flag = bool(r["qps_flagged"])
                tune = f" ({r['tune_s']:.1f})" if r["tune_s"] else ""
                mem = "" if pd.isna(r["memory_mb"]) else f"{r['memory_mb']:.0f}"
                qb1 = r.get("qps_batch_1pass", np.nan)
                qb = "" if pd.isna(qb1) else f"{qb1:,.0f}"
                qw1 = r.get("qps_wrapped_1pass", np.nan)
                qw = "" if pd.isna(qw1) else f"{qw1:,.0f}"
                qps = (
                    f"{r['qps']:,.0f} (best of 2 passes: < exact/2, not timed further)"
                    if str(r.get("dominated_by_exact")) == "True"  # NaN for FALCONN rows
                    else fmt_range(r["qps"], r["qps_min"], r["qps_max"], flag=flag)
                )
                lines.append(
                    f"| {fam} | {len(gg)} | {r['build_params']} | {r['search_params']} | {r['knn_recall']:.3f} | "
                    f"{qps} | {qw} | {qb} | "
                    f"{r['build_total_s']:.1f}{tune} | {mem} |"
                )
        fig = plot_families(g, f"{ds}: {n:,} x {d} ({metric}), knn-recall@10, 1 thread, wall clock")
        png = out / f"recall_vs_qps_{ds}_{n}.png"
        save_figure(fig, png)
        lines += ["", f"![recall vs QPS]({png.name})", ""]
    if len(gr):  # only data families measured at more than one size
        gr = gr[gr.groupby("dataset")["n"].transform("nunique") > 1]
    if len(gr):
        lines += ["## Cost growth (fastest point at knn-recall@10 >= 0.9: QPS / build total s)", ""]
        sizes = sorted(gr["n"].unique())
        lines += [
            "| data | family | " + " | ".join(f"n={s:,}" for s in sizes) + " |",
            "|---|---|" + "---:|" * len(sizes),
        ]
        for (ds, fam), g in gr.groupby(["dataset", "family"], sort=False):
            cells = []
            for s in sizes:
                r = g[g["n"] == s]
                if r.empty:
                    cells.append("")
                elif pd.isna(r["qps"].iloc[0]):
                    cells.append(f"< 0.9 (best {r['best_recall'].iloc[0]:.2f})")
                else:
                    cells.append(f"{r['qps'].iloc[0]:,.0f} / {r['build_total_s'].iloc[0]:.1f}s")
            lines.append(f"| {ds} | {fam} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["FALCONN: " + grid.get("falconn_note", "see the module docstring for its build"), ""]
    write_bench_report(out, run, lines)


# ----------------------------------------------------------------------------- main
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
