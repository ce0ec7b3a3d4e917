"""The benchmark harness: interleaved repeats, medians and spreads, the load guard."""

from __future__ import annotations

import time

import pytest

from recall.bench import harness
from recall.bench.harness import BenchRun, LoadTooHighError, Timing, interleave


def test_interleave_order_warmup_and_rounds():
    calls: list[str] = []
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    out = interleave(fns, rounds=3)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # one warm-up each, then A B, A B, A B
    assert set(out) == {"a", "b"}
    assert all(len(t.wall) == 3 and t.warmup_s >= 0 for t in out.values())
    with pytest.raises(ValueError, match="rounds"):
        interleave(fns, rounds=0)


def test_timing_median_spread_flag():
    t = Timing(wall=(1.0, 1.1, 2.0), cpu=(0.9, 1.0, 1.0))
    assert t.median == 1.1 and t.min == 1.0 and t.max == 2.0
    assert t.spread == pytest.approx(1.0 / 1.1)
    assert t.flagged
    r = t.rate(100)
    assert r["qps"] == pytest.approx(100 / 1.1)
    assert r["qps_min"] == pytest.approx(50) and r["qps_max"] == pytest.approx(100)
    assert r["qps_cpu"] == pytest.approx(100)
    steady = Timing(wall=(1.0, 1.05, 1.1), cpu=(1.0, 1.0, 1.0))
    assert not steady.flagged


def test_wall_clock_is_the_figure():
    t = interleave({"sleep": lambda: time.sleep(0.02)}, rounds=3)["sleep"]
    assert t.median >= 0.018  # sleeping costs wall time ...
    assert t.cpu_median < 0.015  # ... but almost no CPU time: the wall clock is what is reported


def test_load_guard(monkeypatch):
    monkeypatch.setattr(harness, "load_average", lambda: (5.0, 4.0, 3.0))
    with pytest.raises(LoadTooHighError, match="allow-load"):
        BenchRun.start("x", [], max_load=1.5)
    forced = BenchRun.start("x", ["--allow-load"], max_load=1.5, allow_load=True)
    assert forced.notes and "forced" in forced.notes[0]
    quick = BenchRun.start("x", ["--quick"], quick=True, max_load=1.5)
    assert quick.notes and "quick" in quick.notes[0]
    quick.finish()
    assert quick.loaded
    md = "\n".join(quick.header("T") + quick.markdown())
    assert "5.00/4.00/3.00 before" in md and "--quick" in md and "architecture" in md
    monkeypatch.setattr(harness, "load_average", lambda: (0.2, 0.2, 0.2))
    calm = BenchRun.start("x", [], max_load=1.5).finish()
    assert not calm.loaded and not calm.notes


# ---------------------------------------------------------------------------- the bench scaffold
def test_bench_parser_shared_options_and_start_run(monkeypatch):
    ap = harness.bench_parser("demo", "a demo bench", seed=7)
    a = ap.parse_args(["--quick", "--out", "x/y", "--threads", "2", "--max-load", "9"])
    assert a.quick and str(a.out) == "x/y" and a.seed == 7 and a.threads == 2 and a.max_load == 9
    bare = vars(harness.bench_parser("d", "d", seed=None, threads=None).parse_args([]))
    assert "seed" not in bare and "threads" not in bare and "allow_load" in bare
    monkeypatch.setattr(harness, "load_average", lambda: (5.0, 4.0, 3.0))
    with pytest.raises(LoadTooHighError):
        harness.start_run("demo", ap.parse_args([]), [])  # a timed run on a busy machine
    run = harness.start_run("demo", ap.parse_args(["--allow-load"]), ["--allow-load"])
    assert run.allow_load and run.notes and run.command.endswith("demo --allow-load")


def test_default_out_follows_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert harness.default_out("ann") == tmp_path / "reports" / "ann"  # never the package folder
    assert harness.default_out("ann", out="elsewhere") == harness.Path("elsewhere")
    quick = harness.default_out("ann", quick=True)
    assert quick.name == "embrecall-bench-ann-quick" and tmp_path not in quick.parents


def test_write_report_writes_tables_markdown_with_environment_and_run_json(tmp_path, monkeypatch):
    import json

    import pandas as pd

    monkeypatch.setattr(harness, "load_average", lambda: (0.3, 0.2, 0.1))
    run = BenchRun.start("demo", ["--n", "3"]).finish()
    md = harness.write_report(
        tmp_path / "r", run, ["# Demo", "", "body"], {"results.csv": pd.DataFrame({"a": [1, 2]})}
    )
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# Demo") and "## Environment" in text and "0.30/0.20/0.10" in text
    assert pd.read_csv(tmp_path / "r" / "results.csv")["a"].tolist() == [1, 2]
    assert json.loads((tmp_path / "r" / "run.json").read_text())["command"].endswith("--n 3")


def test_scale_bench_refuses_a_busy_machine(monkeypatch, tmp_path):
    from recall.bench import scale

    monkeypatch.setattr(harness, "load_average", lambda: (9.0, 9.0, 9.0))
    with pytest.raises(LoadTooHighError, match="allow-load"):
        scale.main(["--tasks", "search", "--out", str(tmp_path)])
    assert not any(tmp_path.iterdir())  # refused before anything ran or was written
