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
