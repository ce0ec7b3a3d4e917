"""Running the walks benchmark's children (:mod:`recall.bench.walks`): the cached graph file,
the peers' interpreters, one fresh child (``walks_children.py``) and our children's skip-gram
arguments. Standard library only at module level. Every name is also importable from
``recall.bench.walks``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

__all__ = ["CACHE", "OURS", "QUICK_SG", "REPO", "SG"]

CACHE = Path(os.environ.get("EMBRECALL_CACHE", Path.home() / ".cache" / "embrecall"))
REPO = Path(__file__).resolve().parents[2]
#: our children (PYTHONPATH = this checkout): the walks alone, walks + skip-gram, the import probe
OURS = ("ours", "ours-sg", "imports")
#: the skip-gram of the "walks + skip-gram" row (issue 16): d 128, window 5, 1 epoch
SG = dict(dim=128, window=5)
#: the warm-up run of ``memory_probe`` (fills numba's cache on the same graph, in seconds)
QUICK_SG = dict(num_walks=1, walk_length=5)


def _edge_file(nodes: int, m: int, seed: int) -> Path:
    """Seeded powerlaw-cluster graph as ``u<TAB>v<TAB>w`` lines (built once, cached)."""
    import networkx as nx
    import numpy as np

    from embeddings.io import atomic_write

    path = CACHE / "bench-walks" / f"plc_n{nodes}_m{m}_s{seed}.tsv"
    if path.exists():
        return path
    g = nx.powerlaw_cluster_graph(nodes, m, 0.1, seed=seed)
    edges = np.asarray(g.edges(), dtype=np.int64)
    weights = np.random.default_rng(seed).uniform(0.1, 1.0, edges.shape[0])
    with atomic_write(path, "w") as fh:
        np.savetxt(fh, np.column_stack([edges, weights]), fmt=["%d", "%d", "%.6f"], delimiter="\t")
    return path


def _find_python(tool: str, arg: str | None) -> tuple[Path | None, str]:
    """Interpreter that imports the peer (argument, environment variable, /tmp venv) or why not."""
    probe = {
        "pecanpy": "import pecanpy.pecanpy, numba_progress",
        "grape": "import grape",
    }[tool]
    env_var = f"EMBRECALL_{tool.upper()}_PYTHON"
    cands = [arg, os.environ.get(env_var), f"/tmp/{tool}-venv/bin/python"]
    if tool == "pecanpy":
        cands.append(str(CACHE / "pecanpy-venv" / "bin" / "python"))  # the former location
    for cand in cands:
        if cand and Path(cand).exists():
            ok = subprocess.run([cand, "-c", probe], capture_output=True).returncode == 0
            if ok:
                return Path(cand), f"{cand}"
    return None, f"no interpreter with {tool} (--{tool}-python, ${env_var} or /tmp/{tool}-venv)"


def _run_child(
    python: Path,
    tool: str,
    mode: str,
    edges: Path | None,
    p: float,
    q: float,
    cfg: dict,
    threads: int,
    extra: list[str] | None = None,
    env_extra: dict[str, str] | None = None,
    root: Path = REPO,
) -> dict:
    """One fresh child (``walks_children.py`` run as a script); its ``RESULT`` dict, or a
    ``status`` saying why it failed."""
    child = Path(__file__).resolve().with_name("walks_children.py")
    cmd = [str(python), str(child), "--child", tool, "--mode", mode or "-"]
    if edges is not None:
        cmd += ["--edges", str(edges)]
    cmd += ["--p", str(p), "--q", str(q), "--threads", str(threads)]
    cmd += ["--num-walks", str(cfg["num_walks"]), "--walk-length", str(cfg["walk_length"])]
    cmd += extra or []
    env = dict(
        os.environ,
        NUMBA_NUM_THREADS=str(threads),
        RAYON_NUM_THREADS=str(threads),
        OMP_NUM_THREADS=str(threads),
        PYTHONHASHSEED="0",
        **(env_extra or {}),
    )
    if tool in OURS:
        env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    else:
        env.pop("PYTHONPATH", None)  # the peers' own environments only
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"status": f"failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"}
    out = json.loads(lines[-1][len("RESULT ") :])
    out["process_s"] = time.perf_counter() - t0
    out["status"] = "ok"
    return out


def _sg_args(reader: str = "numpy") -> list[str]:
    return ["--dim", str(SG["dim"]), "--window", str(SG["window"]), "--reader", reader]
