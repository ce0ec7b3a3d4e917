"""Progress output: plain lines (no carriage returns) when the output is not a terminal, a final
line with the totals; and numba compilation reported apart from build time."""

from __future__ import annotations

import io
import time

import numpy as np

from embeddings import Embeddings
from embeddings.progress import progress_bar
from recall.experiment import index as experiment


def test_plain_lines_when_not_a_terminal(monkeypatch):
    monkeypatch.delitem(__import__("sys").modules, "ipykernel", raising=False)
    buf = io.StringIO()  # not a TTY, like a log file
    bar = progress_bar(total=50, desc="word2vec epochs", unit="epoch", file=buf)
    for _ in range(50):
        bar.update(1)
        bar.set_postfix(loss=0.5)
    bar.close()
    text = buf.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    # one line at the start and one at the end: updates in between are throttled (30 s)
    assert len(lines) == 2, lines
    assert lines[-1].startswith("word2vec epochs: 50/50 epoch") and "loss=0.5" in lines[-1]


def test_lines_are_periodic(monkeypatch):
    monkeypatch.delitem(__import__("sys").modules, "ipykernel", raising=False)
    monkeypatch.setattr("embeddings.progress.LINE_INTERVAL", 0.05)
    buf = io.StringIO()
    for _ in progress_bar(range(6), desc="walks", file=buf):
        time.sleep(0.06)
    lines = buf.getvalue().splitlines()
    assert 4 <= len(lines) <= 8 and lines[-1].startswith("walks: 6/6")


def test_disabled_bar_writes_nothing():
    buf = io.StringIO()
    for _ in progress_bar(range(3), desc="x", disable=True, file=buf):
        pass
    assert buf.getvalue() == ""


def test_compile_time_is_reported_apart(monkeypatch):
    monkeypatch.setattr(experiment, "_WARMED", set())
    rng = np.random.default_rng(0)
    emb = Embeddings(np.arange(2000), rng.normal(size=(2000, 8)).astype(np.float32))
    specs = [
        {"name": "a", "family": "lsh", "class": "recall.lsh:SimHashIndex",
         "build_grid": {"n_tables": [2, 3]}},
    ]  # fmt: skip
    rows = experiment.benchmark_indexes(emb, emb.vectors[:20], specs, 5, 0)
    assert rows[0]["compile_s"] > 0.0  # the first build of the class in this process
    assert rows[1]["compile_s"] == 0.0  # already warm
    assert all(r["build_s"] > 0 for r in rows)
