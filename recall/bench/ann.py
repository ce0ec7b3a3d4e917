"""Approximate nearest neighbours: our LSH vs exact search and the peers, side by side in one run.

``python -m recall.bench.ann [--quick] [--dataset gmm|sparkals|sparrow|all]``

Data sets: ``gmm`` = clustered unit vectors (Gaussian mixture, 200 clusters, seeded; 1,000,000 x 64
by default, 50,000 with ``--quick``) with 1,000 held-out evaluation queries and 200 separate tuning
queries; ``sparkals`` = Spark ALS item vectors of MovieLens-1M (3,706 x 10) queried by user
vectors; ``sparrow`` = SparrowRecSys item2vec vectors (881 x 10) queried by its user vectors.
Metric cosine everywhere (E2LSH works on the unit-normalised vectors: same ranking as l2).

Every index runs a sweep of its search parameter (probes, ef, nprobe, search_k, refine factor), so
each family gives a recall-vs-QPS curve. Per point: knn-recall@10 against exact search (batched
results over all evaluation queries), single-query QPS (a loop of 1-query calls over the first
``--single`` queries), batched QPS (one call), build seconds and memory. One thread everywhere
(BLAS, faiss OpenMP, hnswlib, annoy, numba). Times are process CPU seconds (``time.process_time``:
every thread of this process, immune to other processes' load on a shared machine) with wall
seconds beside them; the target ratios use CPU time. FALCONN runs in its own interpreter
(``--falconn-python``; it needs numpy < 2 and a source build) on the same vectors.

FALCONN 1.3.1 does not install from pip on Python 3.11 (its bundled pybind11 2.3 fails to
compile); it builds from the sdist once the headers are swapped for a newer pybind11::

    python -m venv /tmp/falconn-venv && /tmp/falconn-venv/bin/pip install "numpy<2" "pybind11==2.10.4" setuptools wheel
    pip download --no-deps --no-binary :all: falconn==1.3.1 && tar xzf FALCONN-1.3.1.tar.gz
    rm -r FALCONN-1.3.1/external/pybind11/include && mkdir FALCONN-1.3.1/external/pybind11/include
    cp -r $(/tmp/falconn-venv/bin/python -c "import pybind11; print(pybind11.get_include())")/pybind11 \
        FALCONN-1.3.1/external/pybind11/include/
    /tmp/falconn-venv/bin/pip install --no-build-isolation ./FALCONN-1.3.1

and is found through ``--falconn-python``, ``$EMBRECALL_FALCONN_PYTHON`` or /tmp/falconn-venv.

Writes ``reports/ann/results.csv``, ``results.md`` (best point >= 0.9 per family, the issue's
target ratios marked met / not met, environment) and ``recall_vs_qps_<dataset>.png``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from recall.base import Index, normalize_rows
from recall.bench.datasets import gaussian_mixture
from recall.exact import ExactIndex, exact_knn, knn_recall
from recall.lsh import knn_distance_scale, params_for_bucket_size
from recall.lsh_tuning import tune_lsh
from recall.measure import environment_info

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
K = 10


# ----------------------------------------------------------------------------- data
def data_root() -> Path:
    env = os.environ.get("EMBRECALL_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


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


# ----------------------------------------------------------------------------- timing
def _clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def _since(t: tuple[float, float]) -> tuple[float, float]:
    return time.process_time() - t[0], time.perf_counter() - t[1]


def measure_point(
    idx: Index, q: np.ndarray, truth: np.ndarray, n_single: int, repeat: int = 1
) -> dict[str, float]:
    """recall@10 (batched results), batched and single-query QPS (CPU and wall), candidates."""
    idx.search(q[:2], K)  # warm (compilation, caches)
    best_b = (np.inf, np.inf)
    res = None
    for _ in range(repeat):
        t = _clock()
        res = idx.search(q, K)
        best_b = min(best_b, _since(t))
    assert res is not None
    rows = [q[i : i + 1] for i in range(min(n_single, q.shape[0]))]
    best_s = (np.inf, np.inf)
    for _ in range(repeat):
        t = _clock()
        for r in rows:
            idx.search(r, K)
        best_s = min(best_s, _since(t))
    st = idx.stats()
    return {
        "knn_recall": knn_recall(res.ids, truth, K),
        "qps_single": len(rows) / max(best_s[0], 1e-9),
        "qps_single_wall": len(rows) / max(best_s[1], 1e-9),
        "qps_batch": q.shape[0] / max(best_b[0], 1e-9),
        "qps_batch_wall": q.shape[0] / max(best_b[1], 1e-9),
        "mean_candidates": float(st.get("mean_candidates", np.nan)),
        "memory_bytes": float(st.get("memory_bytes", np.nan)),
    }


def build(make: Callable[[], Index], x: np.ndarray) -> tuple[Index, float, float]:
    idx = make()
    t = _clock()
    idx.build(x)
    cpu, wall = _since(t)
    return idx, cpu, wall


# ----------------------------------------------------------------------------- FALCONN
_FALCONN_SCRIPT = r"""
import json, sys, time
import numpy as np
import falconn
x = np.load(sys.argv[1]); q = np.load(sys.argv[2]); out = sys.argv[3]
tables = [int(v) for v in sys.argv[4].split(",")]; max_probes = int(sys.argv[5]); n_single = int(sys.argv[6])
n, d = x.shape
center = x.mean(axis=0)
xc = np.ascontiguousarray(x - center, dtype=np.float32); qc = np.ascontiguousarray(q - center, dtype=np.float32)
res = []
for L in tables:
    # EuclideanSquared on centred unit vectors ranks exactly like cosine on the originals
    p = falconn.get_default_parameters(n, d, falconn.DistanceFunction.EuclideanSquared, True)
    p.l = L
    p.num_rotations = 1
    p.seed = 5721840
    p.num_setup_threads = 1
    p.storage_hash_table = falconn.StorageHashTable.FlatHashTable
    falconn.compute_number_of_hash_functions(int(np.round(np.log2(n))), p)
    c0, w0 = time.process_time(), time.perf_counter()
    t = falconn.LSHIndex(p); t.setup(xc)
    build_cpu, build_wall = time.process_time() - c0, time.perf_counter() - w0
    qo = t.construct_query_object()
    probes = L
    while probes <= max_probes:
        qo.set_num_probes(probes)
        ids = np.full((len(qc), 10), -1, dtype=np.int64)
        for i in range(len(qc)):
            r = qo.find_k_nearest_neighbors(qc[i], 10)
            ids[i, :len(r)] = r
        best = (1e18, 1e18)
        for _ in range(2):
            c0, w0 = time.process_time(), time.perf_counter()
            for i in range(min(n_single, len(qc))):
                qo.find_k_nearest_neighbors(qc[i], 10)
            best = min(best, (time.process_time() - c0, time.perf_counter() - w0))
        stats = qo.get_query_statistics()
        np.save(f"{out}/ids_{L}_{probes}.npy", ids)
        res.append(dict(tables=L, probes=probes, hash_bits=p.k, build_cpu=build_cpu, build_wall=build_wall,
                        qps_single=min(n_single, len(qc)) / best[0], qps_single_wall=min(n_single, len(qc)) / best[1],
                        candidates=stats.average_num_unique_candidates))
        qo.reset_query_statistics()
        print(json.dumps(res[-1]), flush=True)
        probes *= 2
json.dump(res, open(f"{out}/falconn.json", "w"))
"""


def falconn_python(arg: str | None) -> str | None:
    for cand in (arg, os.environ.get("EMBRECALL_FALCONN_PYTHON"), "/tmp/falconn-venv/bin/python"):
        if cand and Path(cand).exists():
            ok = subprocess.run([cand, "-c", "import falconn"], capture_output=True).returncode == 0
            if ok:
                return cand
    return None


def run_falconn(
    py: str,
    x: np.ndarray,
    q: np.ndarray,
    truth: np.ndarray,
    tables: list[int],
    max_probes: int,
    n_single: int,
) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="falconn_") as tmp:
        np.save(f"{tmp}/x.npy", x)
        np.save(f"{tmp}/q.npy", q)
        script = Path(tmp) / "run.py"
        script.write_text(_FALCONN_SCRIPT)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        proc = subprocess.run(
            [
                py,
                str(script),
                f"{tmp}/x.npy",
                f"{tmp}/q.npy",
                tmp,
                ",".join(map(str, tables)),
                str(max_probes),
                str(n_single),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        if proc.returncode != 0:
            log.warning("FALCONN failed: %s", proc.stderr[-2000:])
            return []
        rows = json.loads(Path(f"{tmp}/falconn.json").read_text())
        out = []
        for r in rows:
            ids = np.load(f"{tmp}/ids_{r['tables']}_{r['probes']}.npy")
            out.append(
                {
                    "family": "FALCONN cross-polytope",
                    "method": "falconn",
                    "params": f"L={r['tables']} k={r['hash_bits']} probes={r['probes']}",
                    "knn_recall": knn_recall(ids, truth, K),
                    "qps_single": r["qps_single"],
                    "qps_single_wall": r["qps_single_wall"],
                    "qps_batch": np.nan,
                    "qps_batch_wall": np.nan,
                    "build_s": r["build_cpu"],
                    "build_s_wall": r["build_wall"],
                    "mean_candidates": r["candidates"],
                    "memory_bytes": np.nan,
                }
            )
        return out


# ----------------------------------------------------------------------------- the run
def run_dataset(
    name: str,
    x: np.ndarray,
    q: np.ndarray,
    q_tune: np.ndarray,
    quick: bool,
    n_single: int,
    falconn_py: str | None,
) -> pd.DataFrame:
    from recall import peers

    n = x.shape[0]
    x = normalize_rows(x)
    q = normalize_rows(q)
    q_tune = normalize_rows(q_tune)
    log.info("[%s] %d x %d, %d queries: ground truth", name, n, x.shape[1], q.shape[0])
    truth = exact_knn(x, q, K, metric="cosine").ids
    rows: list[dict[str, Any]] = []

    def sweep(
        family: str,
        method: str,
        make: Callable[[], Index],
        settings: list[dict[str, Any]],
        extra: str = "",
    ):
        log.info("[%s] %s: build", name, method)
        try:
            idx, bcpu, bwall = build(make, x)
        except Exception as exc:  # noqa: BLE001 - a peer failing must not stop the benchmark
            log.warning("[%s] %s failed to build: %s", name, method, exc)
            return
        for s in settings:
            for k, v in s.items():
                setattr(idx, k, v)
            m = measure_point(idx, q, truth, n_single)
            label = " ".join(f"{k}={v}" for k, v in s.items())
            rows.append(
                {
                    "family": family,
                    "method": method,
                    "params": (extra + " " + label).strip(),
                    "build_s": bcpu,
                    "build_s_wall": bwall,
                    **m,
                }
            )
            log.info(
                "[%s] %s %s: recall %.3f, %.0f single QPS",
                name,
                method,
                label,
                m["knn_recall"],
                m["qps_single"],
            )
        del idx

    # exact baselines
    sweep("exact (ours)", "ExactIndex", lambda: ExactIndex("cosine", threads=1), [{}])
    sweep(
        "faiss IndexFlat", "FaissFlatIndex", lambda: peers.FaissFlatIndex("cosine", threads=1), [{}]
    )

    # our LSH, tuned per kind and strategy on separate tuning queries
    big = n > 200_000
    w_e2 = 4.0 * knn_distance_scale(x, random_state=0)  # the E2LSH manual's w = 4R
    b0 = int(np.clip(round(np.log2(max(2, n))), 6, 22))
    tuned: dict[str, Any] = {}
    for kind in ("simhash", "e2lsh"):
        for strategy in ("or", "vote", "and"):
            t = _clock()
            # the grids are small at 1M: a shared 2-core machine gives this run a fraction of a core
            grid = {
                "or": (8,) if big else (4, 8),
                "vote": (8,) if big else (4, 8),
                "and": (2,) if big else (2, 4),
            }[strategy]
            kw: dict[str, Any] = {}
            if strategy == "or" and big:
                kw["n_hashes"] = (b0 - 5, b0 - 4, b0 - 3)
            elif strategy == "vote":
                kw["n_hashes"] = (b0 - 6,) if big else (b0 - 6, b0 - 4)
                kw["min_votes"] = 2
            elif strategy == "and":
                kw["n_hashes"] = (b0 - 8,) if big else (b0 - 8, b0 - 6)
            if "n_hashes" in kw:
                kw["n_hashes"] = tuple(max(1, v) for v in kw["n_hashes"])
            if kind == "e2lsh":
                kw["bucket_width"] = w_e2
                if (
                    "n_hashes" in kw
                ):  # E2LSH hashes are not bits: same mean bucket sizes as those bits
                    kw["n_hashes"] = tuple(
                        sorted(
                            {
                                int(
                                    params_for_bucket_size(
                                        x, max(2.0, n / 2.0**b), "e2lsh", bucket_width=w_e2
                                    )["n_hashes"]
                                )
                                for b in kw["n_hashes"]
                            }
                        )
                    )
            try:
                res = tune_lsh(
                    x,
                    q_tune,
                    k=K,
                    target_recall=0.91,  # a little margin: the tuning sample is small
                    kind=kind,
                    metric="cosine",
                    n_tables=grid,
                    strategy=strategy,  # type: ignore[arg-type]
                    random_state=0,
                    **kw,
                )
            except ValueError as exc:
                log.warning("tuning %s/%s failed: %s", kind, strategy, exc)
                continue
            tune_cpu, _ = _since(t)
            tuned[f"{kind}/{strategy}"] = res
            fam = f"ours {'SimHash' if kind == 'simhash' else 'E2LSH'} {strategy.upper()}"
            p0 = int(res.params["n_probes"])
            L = int(res.params["n_tables"])
            probes = sorted(
                {max(L, int(round(p0 * f))) for f in (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)}
            )
            extra = f"tuned({tune_cpu:.0f}s) " + " ".join(
                f"{k}={v}"
                for k, v in res.params.items()
                if k not in ("metric", "random_state", "n_probes")
            )
            sweep(
                fam,
                res.index_class.__name__,
                res.make_index,
                [{"n_probes": p} for p in probes],
                extra,
            )

    # peers
    sweep(
        "faiss IndexLSH+refine",
        "FaissLSHIndex",
        lambda: peers.FaissLSHIndex("cosine", nbits=4 * x.shape[1], threads=1),
        [{"refine_factor": r} for r in ((5, 20, 80) if big else (2, 5, 10, 20, 40, 80))],
        f"nbits={4 * x.shape[1]}",
    )
    sweep(
        "faiss IVF",
        "FaissIVFIndex",
        lambda: peers.FaissIVFIndex("cosine", nlist=1024 if big else None, threads=1),
        [{"nprobe": p} for p in ((2, 4, 8, 16, 32) if big else (1, 2, 4, 8, 16, 32, 64))],
        "nlist=1024" if big else "nlist=4*sqrt(n)",
    )
    hnsw_ef = [
        {"ef": e} for e in ((16, 32, 64, 128) if big else (10, 16, 24, 32, 48, 64, 96, 128, 256))
    ]
    sweep(
        "hnswlib",
        "HnswlibIndex",
        lambda: peers.HnswlibIndex("cosine", M=16, ef_construction=100 if big else 200, threads=1),
        hnsw_ef,
        f"M=16 efC={100 if big else 200}",
    )
    sweep(
        "faiss HNSW", "FaissHNSWIndex", lambda: peers.FaissHNSWIndex("cosine", threads=1), hnsw_ef
    )
    sweep(
        "annoy",
        "AnnoyIndex",
        lambda: peers.AnnoyIndex("cosine", n_trees=20 if n > 200_000 else 50, threads=1),
        [
            {"search_k": s}
            for s in (1_000, 3_000, 10_000, 30_000, 100_000)
            if s <= max(3_000, 3 * n)
        ],
        f"n_trees={20 if n > 200_000 else 50}",
    )
    if falconn_py:
        log.info("[%s] FALCONN", name)
        tables = [10] if quick else [10, 20]
        rows.extend(
            run_falconn(falconn_py, x, q, truth, tables, 2048 if n > 10_000 else 256, n_single)
        )
    df = pd.DataFrame(rows)
    df.insert(0, "dataset", name)
    df["n"] = n
    df["dim"] = x.shape[1]
    return df


def best_at(df: pd.DataFrame, family: str, min_recall: float) -> pd.Series | None:
    g = df[(df["family"] == family) & (df["knn_recall"] >= min_recall)]
    if g.empty:
        return None
    return g.loc[g["qps_single"].idxmax()]


def targets(df: pd.DataFrame) -> pd.DataFrame:
    """The issue's target ratios for one data set (ours = best LSH point at recall >= 0.9)."""
    ours_fams = [f for f in df["family"].unique() if str(f).startswith("ours")]
    cand = df[df["family"].isin(ours_fams) & (df["knn_recall"] >= 0.9)]
    out: list[dict[str, Any]] = []
    if cand.empty:
        return pd.DataFrame([{"target": "our LSH reaches recall 0.9", "met": False}])
    ours = cand.loc[cand["qps_single"].idxmax()]

    def add(target: str, ref: pd.Series | None, ratio: float | None, need: float) -> None:
        out.append(
            {
                "target": target,
                "ours": f"{ours['family']} {ours['params']}: {ours['qps_single']:.0f} QPS at {ours['knn_recall']:.3f}",
                "reference": "absent"
                if ref is None
                else f"{ref['family']} {ref['params']}: {ref['qps_single']:.0f} QPS at {ref['knn_recall']:.3f}",
                "ratio": np.nan if ratio is None else ratio,
                "needed": need,
                "met": None if ratio is None else bool(ratio >= need),
            }
        )

    flat = best_at(df, "faiss IndexFlat", 0.0)
    add(
        "single-query QPS >= 10x faiss IndexFlat",
        flat,
        None if flat is None else ours["qps_single"] / flat["qps_single"],
        10,
    )
    lsh = best_at(df, "faiss IndexLSH+refine", float(ours["knn_recall"]))
    add(
        "single-query QPS >= 2x faiss IndexLSH+refine at equal or higher recall",
        lsh,
        None if lsh is None else ours["qps_single"] / lsh["qps_single"],
        2,
    )
    fal = best_at(df, "FALCONN cross-polytope", 0.9)
    add(
        "single-query QPS >= FALCONN cross-polytope (recall >= 0.9)",
        fal,
        None if fal is None else ours["qps_single"] / fal["qps_single"],
        1,
    )
    hn = best_at(df, "hnswlib", 0.9)
    add(
        "single-query QPS >= 0.5x hnswlib (recall >= 0.9)",
        hn,
        None if hn is None else ours["qps_single"] / hn["qps_single"],
        0.5,
    )
    add(
        "build >= 5x faster than hnswlib",
        hn,
        None if hn is None else float(hn["build_s"]) / float(ours["build_s"]),
        5,
    )
    return pd.DataFrame(out)


def plot_families(g: pd.DataFrame, title: str):
    """Recall (x) vs log single-query QPS (y): Pareto line per family, ours solid, peers dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from recall.plots import pareto_frontier

    fams = list(dict.fromkeys(g["family"]))
    cmap = plt.get_cmap("tab20")
    fig, ax = plt.subplots(figsize=(9, 6))
    for i, fam in enumerate(fams):
        gg = g[g["family"] == fam]
        ours = str(fam).startswith("ours")
        color = cmap(i % 20)
        ax.scatter(gg["knn_recall"], gg["qps_single"], s=8, alpha=0.3, color=color)
        front = pareto_frontier(gg, "knn_recall", "qps_single")
        ax.plot(
            front["knn_recall"],
            front["qps_single"],
            marker="o" if ours else "s",
            linestyle="-" if ours else "--",
            linewidth=2.0 if ours else 1.2,
            color=color,
            label=str(fam),
        )
    ax.axvline(0.9, color="grey", linewidth=0.8, linestyle=":")
    ax.set_yscale("log")
    ax.set_xlabel("knn-recall@10 (agreement with exact search)")
    ax.set_ylabel("single-query QPS (log)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def write_report(
    df: pd.DataFrame,
    out: Path,
    args: argparse.Namespace,
    env: dict[str, Any],
    command: str | None = None,
) -> None:
    from recall.plots import save_figure

    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "results.csv", index=False)
    lines = [
        "# ANN benchmark: our LSH vs exact search and the peers",
        "",
        f"Command: `{command or 'python -m recall.bench.ann ' + ' '.join(sys.argv[1:])}`  ",
        "One thread everywhere. QPS = queries per CPU second of this process (`time.process_time`, all "
        "threads; immune to other processes on the shared machine); `*_wall` columns in results.csv "
        "give wall-clock figures. knn-recall@10 vs exact search over all evaluation queries; "
        "single-query QPS from a loop of 1-query calls; build seconds are CPU seconds.",
        "",
    ]
    for name, g in df.groupby("dataset", sort=False):
        n, d = int(g["n"].iloc[0]), int(g["dim"].iloc[0])
        lines += [f"## {name}: {n:,} x {d}", ""]
        tg = targets(g)
        lines += ["### Targets (ours = fastest LSH point at knn-recall@10 >= 0.9)", ""]
        lines.append("| target | ours | reference | ratio | needed | met |")
        lines.append("|---|---|---|---|---|---|")
        for _, r in tg.iterrows():
            met = {True: "**met**", False: "not met", None: "n/a"}[r.get("met")]
            ratio = r.get("ratio", np.nan)
            lines.append(
                f"| {r['target']} | {r.get('ours', '')} | {r.get('reference', '')} | "
                f"{'' if pd.isna(ratio) else f'{ratio:.2f}'} | {r.get('needed', '')} | {met} |"
            )
        lines += [
            "",
            "### Best point per family (fastest single-query at recall >= 0.9; else highest recall)",
            "",
        ]
        lines.append(
            "| family | params | knn-recall@10 | QPS single | QPS batch | build s | memory MB | candidates |"
        )
        lines.append("|---|---|---|---|---|---|---|---|")
        for fam, gg in g.groupby("family", sort=False):
            ok = gg[gg["knn_recall"] >= 0.9]
            r = ok.loc[ok["qps_single"].idxmax()] if len(ok) else gg.loc[gg["knn_recall"].idxmax()]
            mem = r["memory_bytes"] / 2**20 if pd.notna(r["memory_bytes"]) else np.nan
            qb = "" if pd.isna(r["qps_batch"]) else f"{r['qps_batch']:.0f}"
            mb = "" if pd.isna(mem) else f"{mem:.0f}"
            mc = "" if pd.isna(r["mean_candidates"]) else f"{r['mean_candidates']:.0f}"
            lines.append(
                f"| {fam} | {r['params']} | {r['knn_recall']:.3f} | {r['qps_single']:.0f} | "
                f"{qb} | {r['build_s']:.1f} | {mb} | {mc} |"
            )
        fig = plot_families(g, f"{name}: {n:,} x {d}, knn-recall@10, 1 thread (CPU-time QPS)")
        png = out / f"recall_vs_qps_{name}.png"
        save_figure(fig, png)
        lines += ["", f"![recall vs QPS]({png.name})", ""]
    lines += ["## Environment", "", "```", json.dumps(env, indent=1, default=str), "```", ""]
    (out / "results.md").write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (< 1 min per data set)")
    ap.add_argument("--dataset", default="all", choices=["gmm", "sparkals", "sparrow", "all"])
    ap.add_argument(
        "--n", type=int, default=None, help="gmm size (default 1,000,000; quick 50,000)"
    )
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--single", type=int, default=None, help="queries in the single-query loop")
    ap.add_argument("--falconn-python", default=None, help="interpreter with falconn installed")
    ap.add_argument("--out", default=str(REPO / "reports" / "ann"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--replot", action="store_true", help="rewrite results.md / plots from results.csv"
    )
    ap.add_argument(
        "--command", default=None, help="with --replot: the command that made results.csv"
    )
    args = ap.parse_args(argv)
    if args.replot:
        out = Path(args.out)
        df = pd.read_csv(out / "results.csv")
        env = environment_info()
        env["falconn"] = "FALCONN 1.3.1 built from the sdist, pybind11 2.10.4 headers swapped in"
        env["note"] = "report re-rendered from results.csv (--replot); measurements are the run's"
        write_report(df, out, args, env, command=args.command)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    n_single = args.single or (100 if args.quick else 300)
    if args.quick and args.queries == 1000:
        args.queries = 300
    fpy = falconn_python(args.falconn_python)
    if fpy is None:
        log.warning(
            "FALCONN not installed (pip install falconn fails on Python 3.11; see results.md)"
        )
    frames = []
    with threadpool_limits(1):
        import numba

        numba.set_num_threads(1)
        try:
            import faiss

            faiss.omp_set_num_threads(1)
        except ImportError:
            pass
        names = ["gmm", "sparkals", "sparrow"] if args.dataset == "all" else [args.dataset]
        for name in names:
            if name == "gmm":
                n = args.n or (20_000 if args.quick else 1_000_000)
                x, qq = gaussian_mixture(
                    n, args.dim, 200, args.queries + 200, random_state=args.seed
                )
                q, q_tune = qq[: args.queries], qq[args.queries :]
            else:
                root = data_root()
                loader = load_sparkals if name == "sparkals" else load_sparrow
                try:
                    x, users = loader(root)
                except FileNotFoundError as exc:
                    log.warning("skipping %s: %s", name, exc)
                    continue
                rng = np.random.default_rng(args.seed)
                pick = rng.choice(
                    users.shape[0], size=min(users.shape[0], args.queries + 200), replace=False
                )
                q, q_tune = users[pick[: args.queries]], users[pick[args.queries :]]
            frames.append(run_dataset(name, x, q, q_tune, args.quick, n_single, fpy))
            del x, q, q_tune
            df = pd.concat(frames, ignore_index=True)
            env = environment_info()
            env["falconn_python"] = fpy
            env["falconn"] = (
                "FALCONN 1.3.1 built from the sdist with pybind11 2.10.4 headers swapped in (numpy < 2)"
                if fpy
                else "not installed"
            )
            write_report(
                df, Path(args.out), args, env
            )  # after every data set: partial runs keep results
    print(targets(df[df["dataset"] == df["dataset"].iloc[0]]).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
