import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from recall import plots


def test_pareto_frontier_keeps_only_non_dominated():
    df = pd.DataFrame({"r": [0.5, 0.9, 0.8, 0.95, 0.7], "q": [100, 50, 40, 10, 120]})
    front = plots.pareto_frontier(df, "r", "q")
    assert list(zip(front["r"], front["q"], strict=True)) == [(0.7, 120), (0.9, 50), (0.95, 10)]


def test_plots_return_figures(tmp_path):
    rng = np.random.default_rng(0)
    res = pd.DataFrame(
        {
            "knn_recall": rng.random(8),
            "qps_single": rng.random(8) * 1000 + 1,
            "index_family": ["lsh"] * 4 + ["exact"] * 4,
            "hr_lost": rng.normal(size=8),
            "speedup": rng.random(8) * 10 + 0.5,
            "param_n_probes": [1, 2, 4, 8] * 2,
        }
    )
    figs = [
        plots.plot_recall_vs_qps(res),
        plots.plot_quality_lost_vs_speedup(res),
        plots.plot_param_sweep(res, "param_n_probes", group_col="index_family"),
        plots.plot_bucket_sizes(rng.integers(0, 50, 100)),
        plots.plot_embedding_map(rng.normal(size=(60, 8)), np.repeat(["a", "b", "c"], 20)),
        plots.plot_field_weights(pd.DataFrame({"item": [0.5, 0.2], "genres": [0.5, 0.8]})),
        plots.plot_quality_by_method(
            pd.DataFrame(
                {
                    "method": ["a", "b", "popularity"] * 2,
                    "mode": ["i2i"] * 3 + ["u2i"] * 3,
                    "hr@10": rng.random(6),
                }
            )
        ),
    ]
    for i, f in enumerate(figs):
        assert isinstance(f, Figure)
        p = plots.save_figure(f, tmp_path / f"f{i}.png")
        assert p.stat().st_size > 1000


def test_plot_errors():
    with pytest.raises(ValueError, match="missing columns"):
        plots.plot_recall_vs_qps(pd.DataFrame({"x": [1]}))
    with pytest.raises(ValueError, match="2 labels"):
        plots.plot_embedding_map(np.zeros((3, 2)), ["a", "b"])
    with pytest.raises(ValueError, match="no non-empty"):
        plots.plot_bucket_sizes(np.zeros(4, dtype=int))


def test_imports_leave_the_matplotlib_backend_alone():
    """The library never chooses a backend: after importing it, the backend is whatever the
    caller had (here a non-default one chosen first, and "none chosen yet" in a fresh process)."""
    code = textwrap.dedent(
        """
        import matplotlib
        assert matplotlib.rcParams._get_backend_or_none() is None, "resolved before import"
        import embeddings, recall, recall.plots, recall.report, recall.experiment, recall.cli
        import embeddings.trainers, recall.lsh, recall.exact
        assert matplotlib.rcParams._get_backend_or_none() is None, matplotlib.get_backend()
        matplotlib.use("svg")
        import importlib
        importlib.reload(recall.plots)
        assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
        # the CLI called in-process (a notebook, a test) leaves the caller's backend alone too
        assert recall.cli.main(["bench", "no_such_bench"]) == 1  # runs main()'s body
        assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def _results() -> pd.DataFrame:
    rows = []
    for method, exact_hr in (("m1", 0.20), ("m2", 0.10)):
        rows.append(
            dict(method=method, index="exact", index_family="exact", params="{}", seed=0,
                 knn_recall=1.0, qps_single=1000.0, speedup=1.0, mean_candidates=np.nan,
                 n_items=500, metric="cosine", **{"e2e_hit_rate@10": exact_hr})
        )  # fmt: skip
        for probes, rec, qps, hr in (
            (1, 0.7, 9000.0, exact_hr - 0.05),
            (4, 0.93, 4000.0, exact_hr - 0.01),
            (16, 0.99, 1500.0, exact_hr),
        ):
            rows.append(
                dict(method=method, index="lsh", index_family="lsh", params=f'{{"n_probes": {probes}}}',
                     seed=0, knn_recall=rec, qps_single=qps, speedup=qps / 1000.0,
                     mean_candidates=30.0 * probes, n_items=500, param_n_probes=probes, metric="cosine",
                     **{"e2e_hit_rate@10": hr})
            )  # fmt: skip
        rows.append(
            dict(method=method, index="hnsw", index_family="hnsw", params='{"ef": 16}', seed=0,
                 knn_recall=0.95, qps_single=3000.0, speedup=3.0, mean_candidates=np.nan,
                 n_items=500, metric="cosine", **{"e2e_hit_rate@10": exact_hr})
        )  # fmt: skip
    return pd.DataFrame(rows)


def test_new_plots_have_one_panel_per_method(tmp_path):
    res = _results()
    for fig in (
        plots.plot_recall_vs_qps(res),
        plots.plot_hit_rate_vs_qps(res),
        plots.plot_candidates_vs_recall(res),
    ):
        visible = [ax for ax in fig.axes if ax.get_visible()]
        assert [ax.get_title() for ax in visible] == ["m1", "m2"]
        assert fig.legends, "one figure legend naming the families"
        plots.save_figure(fig, tmp_path / "f.png")
    with pytest.raises(ValueError, match="no rows with a candidate count"):
        plots.plot_candidates_vs_recall(res.assign(mean_candidates=np.nan))


def test_quality_bars_leave_out_modes_without_values():
    q = pd.DataFrame(
        {
            "method": ["a", "a", "a", "popularity"],
            "mode": ["i2i", "u2i", "genre-classification", "popularity"],
            "hr@10": [0.2, 0.1, np.nan, 0.05],
            "n_users": [400, 400, np.nan, 400],
        }
    )
    fig = plots.plot_quality_by_method(q, "hr@10")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert sorted(labels) == ["i2i", "popularity", "u2i"]


def test_mean_interval():
    m, lo, hi = plots.mean_interval([0.2], n_trials=400)
    assert m == 0.2 and 0.16 < lo < 0.2 < hi < 0.245  # Wilson, about +-0.04
    m, lo, hi = plots.mean_interval([0.2, 0.22, 0.18])
    assert m == pytest.approx(0.2) and lo < 0.2 < hi and hi - lo < 0.11
    assert np.isnan(plots.mean_interval([0.2])[1])


def test_report_opens_with_a_summary(tmp_path):
    from recall.report import fastest_reaching, write_report

    res = _results()
    res.to_csv(tmp_path / "results.csv", index=False)
    pd.DataFrame(
        {
            "seed": [0] * 5,
            "method": ["popularity", "m1", "m1", "m2", "m2"],
            "mode": ["popularity", "i2i", "u2i", "i2i", "u2i"],
            "hit_rate@10": [0.05, 0.30, 0.20, 0.10, 0.10],
            "n_users": [1000] * 5,
        }
    ).to_csv(tmp_path / "quality.csv", index=False)
    fast = fastest_reaching(res, "hit_rate@10")
    # the fastest setting at knn-recall >= 0.9 is lsh with 4 probes (4000 QPS > hnsw's 3000)
    assert fast["index"].tolist() == ["lsh", "lsh"]
    assert fast["params"].tolist() == ["n_probes=4", "n_probes=4"]
    assert fast["hit_rate@10_lost"].round(4).tolist() == [0.01, 0.01]
    text = write_report(tmp_path).read_text()
    summary = text[text.index("## Summary") : text.index("## Recommendation quality")]
    assert "**m1** 0.300 [" in summary and "ahead of m2" in summary  # i2i: 0.30 vs 0.10
    assert "lsh (n_probes=4)" in summary and "4.00x" in summary and "+0.0100" in summary
    assert text.index("## Summary") < text.index("## Indexes")
    for png in ("recall_vs_qps", "hit_rate_vs_qps", "candidates_vs_recall", "quality_by_method"):
        assert (tmp_path / "plots" / f"{png}.png").stat().st_size > 5000
        assert f"plots/{png}.png" in text
