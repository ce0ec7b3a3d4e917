"""FALCONN in the ANN benchmark: run in its own interpreter (numpy < 2), its points added to a sweep."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from recall.bench.ann_grids import expand, resolve
from recall.bench.harness import Timing

log = logging.getLogger("recall.bench.ann")

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


def run_falconn(py: str, b: Any, m: dict[str, Any]) -> None:
    """Run FALCONN over the grid of method ``m`` on the data of ``b`` (an ann ``Bench``); its
    points are appended to ``b.points``."""
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
