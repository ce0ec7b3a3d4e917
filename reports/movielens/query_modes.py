"""Which query mode lifts validation HR@10? (issue 12, ml-latest-small; validation only)

    python reports/movielens/query_modes.py --seeds 0 1 2

For each seed: the split of ``configs/movielens.toml`` (leave-last-out test, ``[split] n_valid``
validation events per user, the run's tie seed), models trained on **train only** with the
config's own settings (``[[methods]]``: item2vec-seq, item2vec-set, DeepWalk; item2vec-seq and
DeepWalk also at dim 64 and 128), and item-kNN (similarity and positives threshold, chosen like
any mode); every model scored on validation in every mode of
``embeddings.evaluation.RECENCY_MODES`` through the one mode code
(``embeddings.tuning.scoring.validation_table``). The test split is never read: the script
takes (train, valid) and drops test unread.

Writes ``query_modes.csv`` (one row per seed x model x mode: validation HR@10 mean over users,
the event before test alone) and ``query_modes_lift.csv`` (per seed x model: best plain mode,
best recency mode, and the lift of the mode chosen on one half of the users measured on the
other half, so that the choice and its measurement never share users), then ``query_modes.md``
from both.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
METRIC = "hit_rate@10"
#: (label, config method name, dim override or None)
MODELS = (
    ("item2vec-seq d32", "item2vec-seq", None),
    ("item2vec-seq d64", "item2vec-seq", 64),
    ("item2vec-seq d128", "item2vec-seq", 128),
    ("item2vec-set d32", "item2vec-set", None),
    ("deepwalk d32", "deepwalk", None),
    ("deepwalk d64", "deepwalk", 64),
    ("deepwalk d128", "deepwalk", 128),
)
KNN_GRID = (("cosine", None), ("cosine", 3.5), ("cooccurrence", None), ("cooccurrence", 3.5))


def _halves(users: np.ndarray, seed: int) -> np.ndarray:
    """A seeded random half of ``users`` (bool mask)."""
    rng = np.random.default_rng([seed, 12])
    mask = np.zeros(users.shape[0], bool)
    mask[rng.permutation(users.shape[0])[: users.shape[0] // 2]] = True
    return mask


def cross_fit_lift(table: pd.DataFrame, plain: list[str], seed: int) -> dict[str, Any]:
    """Lift of choosing the mode on one half of the users, measured on the other half.

    For each half A (and then B): the best plain mode and the best mode of all on A; on the
    other half, the difference (best-of-all's figure - best plain's figure). Averaged over both
    directions: a selection effect (winner's curse of choosing among 16 modes) cannot inflate it.
    """
    half = _halves(table.index.to_numpy(), seed)
    diffs, picks = [], []
    for fit, check in ((half, ~half), (~half, half)):
        means = table[fit].mean()
        best_all = str(means.idxmax())
        best_plain = str(means[plain].idxmax())
        other = table[check]
        diffs.append(float(other[best_all].mean() - other[best_plain].mean()))
        picks.append(best_all)
    return {"cross_fit_lift": float(np.mean(diffs)), "cross_fit_picks": "|".join(picks)}


def run(seeds: list[int], config: Path, out: Path) -> None:
    from embeddings.baselines import ItemKNN
    from embeddings.evaluation import LEGACY_MODES, RECENCY_MODES
    from embeddings.stats import paired_bootstrap
    from embeddings.tuning.scoring import validation_table
    from recall.experiment import load_config
    from recall.experiment.data import load_data, split_validation
    from recall.experiment.train import train_method

    cfg = load_config(config)
    raw = cfg.raw
    split = raw["split"]
    min_rating = split.get("min_rating")
    specs = {m["name"]: m for m in cfg.methods}
    rows, lifts = [], []
    for seed in seeds:
        data = load_data(raw["data"], seed)
        train, valid, _test = split_validation(data.interactions, split, seed)
        del _test  # never read
        models: list[tuple[str, Any, str, str, dict[str, Any]]] = []
        for label, name, dim in MODELS:
            params = {**specs[name]["params"], "workers": 1}
            if dim is not None:
                params["dim"] = dim
            spec = {**specs[name], "params": params}
            t0 = time.perf_counter()
            emb, _ = train_method(spec, train, None, seed, None, {})
            models.append((label, emb, "cosine", "cosine", {"train_s": time.perf_counter() - t0}))
        for sim, mr in KNN_GRID:
            knn = ItemKNN(similarity=sim, min_rating=mr).fit(train)
            label = f"itemknn {sim} min_rating={mr}"
            models.append((label, knn, knn.meta["metric"], knn.meta["u2i_metric"], {}))
        for label, emb, i2i_metric, u2i_metric, extra in models:
            t0 = time.perf_counter()
            table = validation_table(
                emb,
                valid,
                METRIC,
                RECENCY_MODES,
                min_rating,
                i2i_metric=i2i_metric,
                u2i_metric=u2i_metric,
            )
            last_step = valid.steps[0][1].frame["user_id"].unique()
            for mode in table.columns:
                rows.append(
                    {
                        "seed": seed,
                        "model": label,
                        "mode": mode,
                        "valid": float(table[mode].mean()),
                        "n_users": int(table.shape[0]),
                        "users_last_event": int(last_step.shape[0]),
                    }
                )
            means = table.mean()
            plain = list(LEGACY_MODES)
            best_plain = str(means[plain].idxmax())
            best = str(means.idxmax())
            b = paired_bootstrap(
                table[best].to_numpy(), table[best_plain].to_numpy(), random_state=seed
            )
            lifts.append(
                {
                    "seed": seed,
                    "model": label,
                    "best_plain": best_plain,
                    "valid_best_plain": float(means[best_plain]),
                    "best_mode": best,
                    "valid_best": float(means[best]),
                    "diff_all_users": b.diff,
                    "diff_low": b.diff_low,
                    "diff_high": b.diff_high,
                    **cross_fit_lift(table, plain, seed),
                    "score_s": time.perf_counter() - t0,
                    "load": os.getloadavg()[0],
                    **extra,
                }
            )
            pd.DataFrame(rows).to_csv(out, index=False)
            pd.DataFrame(lifts).to_csv(out.with_name(out.stem + "_lift.csv"), index=False)


def tables(out: Path) -> str:
    """Markdown tables of the CSVs: validation HR@10 per model and mode (mean over seeds, and
    the spread over seeds), and per model the lift of the modes chosen by cross-fitting."""
    df = pd.read_csv(out)
    lift = pd.read_csv(out.with_name(out.stem + "_lift.csv"))
    # only the seeds every model finished (a run stopped midway leaves a partial seed)
    n_models = lift.groupby("seed")["model"].nunique()
    done = n_models.index[n_models == n_models.max()]
    df, lift = df[df["seed"].isin(done)], lift[lift["seed"].isin(done)]
    n_seeds = df["seed"].nunique()
    piv = df.pivot_table(index="mode", columns="model", values="valid", aggfunc="mean")
    models = list(dict.fromkeys(df["model"]))
    modes = list(dict.fromkeys(df["mode"]))
    piv = piv.loc[modes, models]
    lines = [
        f"Validation HR@10, mean over {n_seeds} seed(s) ({', '.join(map(str, done))}; best of "
        "each column in bold):",
        "",
        "| mode | " + " | ".join(models) + " |",
        "|---|" + "---|" * len(models),
    ]
    for mode in modes:
        cells = []
        for m in models:
            v = piv.loc[mode, m]
            cells.append(f"**{v:.4f}**" if v == piv[m].max() else f"{v:.4f}")
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Per model: the best plain mode and the best mode of all (mean over seeds of each seed's "
        "figures), the paired bootstrap of best-vs-plain on all users (biased upwards: chosen and "
        "measured on the same users), and the cross-fitted lift (mode chosen on one half of the "
        "users, measured on the other; mean over seeds and [min, max] over seeds):",
        "",
        "| model | best plain | best mode (seeds' picks) | valid best plain | valid best | "
        "diff, same users | cross-fitted lift [min, max] |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in models:
        g = lift[lift["model"] == m]
        picks = ", ".join(g["best_mode"].astype(str))
        lines.append(
            f"| {m} | {g['best_plain'].mode().iloc[0]} | {picks} | "
            f"{g['valid_best_plain'].mean():.4f} | {g['valid_best'].mean():.4f} | "
            f"{g['diff_all_users'].mean():+.4f} | {g['cross_fit_lift'].mean():+.4f} "
            f"[{g['cross_fit_lift'].min():+.4f}, {g['cross_fit_lift'].max():+.4f}] |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "movielens.toml")
    ap.add_argument("--out", type=Path, default=HERE / "query_modes.csv")
    ap.add_argument("--tables", action="store_true", help="print the tables of existing CSVs")
    args = ap.parse_args(argv)
    if args.tables:
        sys.stdout.write(tables(args.out))
        return 0
    run(args.seeds, args.config, args.out)
    sys.stdout.write(tables(args.out))
    (args.out.with_suffix(".json")).write_text(
        json.dumps({"seeds": args.seeds, "config": str(args.config)}, indent=2)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
