"""The 3-seed picture of ``configs/movielens.toml``: one table over seeds from the per-seed
outputs of ``validation_protocol.py`` and, given the run's search journal, every trial's
validation figure and the search-history plot. Writes beside this file:

    python reports/movielens/three_seeds.py [--journal search.journal.log]

``three_seeds.md`` (test HR@10 mean and 95% t-interval over the seeds, the ratio to popularity
and to item-kNN, the per-seed paired-bootstrap verdicts), ``search_history.csv`` and
``plots/search_history.png`` (only with ``--journal``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

HERE = Path(__file__).resolve().parent
SHORT = {"no significant difference": "n.s.", "win": "win", "loss": "loss"}


def _interval(x: pd.Series) -> str:
    """Mean and 95% t-interval of the per-seed values."""
    v = np.asarray(x, dtype=float)
    m = float(v.mean())
    if len(v) < 2:
        return f"{m:.3f}"
    h = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return f"{m:.3f} [{m - h:.3f}, {m + h:.3f}]"


def seed_table(seeds: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-seed rows of validation_protocol_s{seed}.csv with popularity / item-kNN beside."""
    rows, base = [], []
    for s in seeds:
        d = pd.read_csv(HERE / f"validation_protocol_s{s}.csv")
        j = json.loads((HERE / f"validation_protocol_s{s}.json").read_text())
        d["seed"] = s
        rows.append(d)
        base.append(
            {
                "seed": s,
                "popularity": j["popularity"],
                "itemknn": j.get("itemknn_test", j.get("itemknn_i2i")),
            }
        )
    return pd.concat(rows, ignore_index=True), pd.DataFrame(base)


def summary_markdown(d: pd.DataFrame, base: pd.DataFrame) -> str:
    pop, knn = base["popularity"].mean(), base["itemknn"].mean()
    lines = [
        "| method | modes (per seed) | valid HR@10 | test HR@10 | x popularity | x item-kNN "
        "| vs popularity (per seed) | vs item-kNN (per seed) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    order = d.groupby("method", sort=False)["test"].mean().sort_values(ascending=False).index
    for m in order:
        g = d[d["method"] == m].sort_values("seed")
        lines.append(
            f"| {m} | {' / '.join(g['mode'])} | {_interval(g['valid_k'])} | "
            f"**{_interval(g['test'])}** | {g['test'].mean() / pop:.2f} | "
            f"{g['test'].mean() / knn:.2f} | "
            f"{' / '.join(SHORT.get(v, v) for v in g['verdict_popularity'])} | "
            f"{' / '.join(SHORT.get(v, v) for v in g['verdict_itemknn'])} |"
        )
    lines.append(
        f"| popularity | | | {_interval(base['popularity'])} | 1.00 | {pop / knn:.2f} | | |"
    )
    lines.append(
        f"| item-kNN (cosine, last item) | | | {_interval(base['itemknn'])} | {knn / pop:.2f} "
        "| 1.00 | | |"
    )
    return "\n".join(lines)


def search_history(journal: str, names: list[str]) -> pd.DataFrame:
    """Every trial of the movielens studies in the journal (method, seed, number, value)."""
    import optuna

    from embeddings.tuning.study import _history, _storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = _storage(journal)
    out = []
    for summary in optuna.study.get_all_study_summaries(storage):
        name = summary.study_name
        if not name.startswith("movielens-"):
            continue
        stem = name[len("movielens-") :].removesuffix("-from-deepwalk")  # node2vec's warm start
        method, seed = stem.rsplit("-", 2)[:2]
        if method not in names:
            continue
        h = _history(optuna.load_study(study_name=name, storage=storage))
        h.insert(0, "seed", int(seed.lstrip("s")))
        h.insert(0, "method", method)
        out.append(h)
    return pd.concat(out, ignore_index=True).sort_values(["method", "seed", "number"])


def plot_search(history: pd.DataFrame) -> object:
    import matplotlib.figure

    methods = list(dict.fromkeys(history["method"]))
    fig = matplotlib.figure.Figure(figsize=(3.2 * len(methods), 3.0), layout="constrained")
    axes = fig.subplots(1, len(methods), sharey=True, squeeze=False)[0]
    for ax, m in zip(axes, methods, strict=True):
        for seed, g in history[history["method"] == m].groupby("seed"):
            (line,) = ax.plot(g["number"], g["best_so_far"], label=f"seed {seed}")
            ax.plot(g["number"], g["value"], ".", color=line.get_color(), alpha=0.5)
        ax.set_title(m)
        ax.set_xlabel("trial")
    axes[0].set_ylabel("validation HR@10 (5 events / user)")
    axes[0].legend(fontsize=7)
    return fig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--journal", default=None, help="the run's search journal (.log)")
    args = ap.parse_args(argv)
    d, base = seed_table(args.seeds)
    (HERE / "three_seeds_table.md").write_text(summary_markdown(d, base) + "\n")
    if args.journal:
        hist = search_history(args.journal, sorted(set(d["method"])))
        keep = ["method", "seed", "number", "value", "best_so_far", "state"]
        keep += [c for c in hist.columns if c.startswith("params_")]
        hist[keep].to_csv(HERE / "search_history.csv", index=False)
        (HERE / "plots").mkdir(exist_ok=True)
        plot_search(hist).savefig(HERE / "plots" / "search_history.png", dpi=110)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
