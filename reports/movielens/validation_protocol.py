"""Does validation predict test? Reads the runs of ``configs/movielens.toml`` (one seed, one
folder per group of methods) and writes ``validation_protocol.md`` / ``.csv`` beside this file.

    python reports/movielens/validation_protocol.py --seed 0 RUN_DIR [RUN_DIR ...]

For every method: the validation figure of the chosen setting on the K events per user
(``[split] n_valid``) and on the one event before test alone (what the old protocol read), the
test figure (refit on train + valid, the run's cached vectors), the paired bootstrap over test
users against popularity and item-kNN (similarity, threshold and query mode chosen on the same
validation among the config's ``[evaluation] query_modes``), and from the search journal how the
two validation figures agree over all trials. ``--refit-last`` also refits, for every method,
the trial the one-event validation would have chosen, and reads it on test.

Beside ``--out`` (``X.csv``): ``X.json`` (popularity, item-kNN's choice and figures) and
``X_users.csv``, every test user's HR@10 (one column per method, ``popularity`` and
``itemknn``; 0 / 1 with one test event per user), which ``three_seeds.py`` pools over seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
METRIC = "hit_rate@10"


def _per_user(emb: Any, train: Any, test: Any, mode: str, min_rating: Any) -> pd.Series:
    from embeddings.evaluation import evaluate_mode, parse_mode

    i2i = parse_mode(mode).kind == "i2i"
    metric = emb.meta.get("metric", "cosine") if i2i else emb.meta.get("u2i_metric", "cosine")
    r = evaluate_mode(
        emb, train, test, mode, 10, metric=metric, min_rating=min_rating, per_user=True
    )
    return r["per_user"].set_index("user_id")[METRIC].sort_index()


def per_user_table(methods: dict[str, pd.Series], pop: pd.Series, knn: pd.Series) -> pd.DataFrame:
    """Every test user's figure: user_id, one column per method (in ``methods``' order),
    ``popularity`` and ``itemknn``; each Series is indexed by user_id and must cover the same
    users (``ValueError`` otherwise). Whole-number figures are written as ints (compact)."""
    cols = {**methods, "popularity": pop, "itemknn": knn}
    first = pop.sort_index().index
    for name, u in cols.items():
        if not u.sort_index().index.equals(first):
            raise ValueError(f"{name}: per-user figures cover other users than popularity's")
    out = pd.DataFrame({name: u.sort_index() for name, u in cols.items()})
    for c in out.columns:
        v = out[c].to_numpy()
        if np.isfinite(v).all() and (v == np.round(v)).all():
            out[c] = v.astype(np.int64)
    return out.rename_axis("user_id").reset_index()


def _trials(storage: str, study: str) -> pd.DataFrame:
    import optuna

    from embeddings.tuning.study import _history, _storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return _history(optuna.load_study(study_name=study, storage=_storage(storage)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "movielens.toml")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--storage", default=None, help="the search journal (default: config's)")
    ap.add_argument("--refit-last", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "validation_protocol.csv")
    args = ap.parse_args(argv)

    from embeddings.baselines import ItemKNN
    from embeddings.evaluation import evaluate_popularity
    from embeddings.sessions import concat_interactions
    from embeddings.stats import paired_bootstrap
    from recall.experiment import load_config
    from recall.experiment.data import data_fingerprint, load_data, split_validation
    from recall.experiment.train import train_method

    config = load_config(args.config)
    raw, seed = config.raw, args.seed
    split = raw["split"]
    min_rating = split.get("min_rating")
    data = load_data(raw["data"], seed)
    train, valid, test = split_validation(data.interactions, split, seed)
    fit_on = concat_interactions(train, valid, name=f"{data.interactions.name}/train+valid")
    base = {"data": raw["data"], "split": split, "data_seed": seed}
    cache_key = {**base, "content": data_fingerprint(fit_on, test, data.side_info)}
    valid_content = data_fingerprint(train, valid, data.side_info)
    from recall.experiment.validation import modes_of, modes_tag

    tag = modes_tag(modes_of(raw))  # the runner's study names carry the mode grid's tag
    storage = args.storage or str(raw["tuning"]["storage"])

    pop = evaluate_popularity(fit_on, test, 10, min_rating=min_rating, per_user=True)
    pop_u = pop["per_user"].set_index("user_id")[METRIC].sort_index()
    # item-kNN: similarity, positives threshold and query mode chosen on validation, among the
    # same query modes as every method ([evaluation] query_modes)
    from embeddings.tuning.scoring import validation_scores

    grid = [(s, r) for s in ("cosine", "cooccurrence") for r in (None, min_rating)]
    knn_valid: dict[tuple[Any, ...], float] = {}
    for g in grid:
        m = ItemKNN(similarity=g[0], min_rating=g[1]).fit(train)
        sc = validation_scores(
            m,
            train,
            valid,
            METRIC,
            modes_of(raw),
            min_rating,
            i2i_metric=m.meta["metric"],
            u2i_metric=m.meta["u2i_metric"],
        )
        knn_valid.update({(*g, mode): v for mode, v in sc.items() if not mode.endswith("_last")})
    knn_choice = max(knn_valid, key=lambda g: knn_valid[g])
    knn = ItemKNN(similarity=knn_choice[0], min_rating=knn_choice[1]).fit(fit_on)
    knn_u = _per_user(knn, fit_on, test, str(knn_choice[2]), min_rating)

    specs = {m["name"]: m for m in config.methods}
    rows = []
    users: dict[str, pd.Series] = {}
    for run in args.runs:
        tun = pd.read_csv(run / "tuning.csv")
        for _, t in tun[tun["seed"] == seed].iterrows():
            name, mode = str(t["method"]), str(t["validated_mode"])
            spec = {**specs[name], "params": json.loads(t["params"])}
            emb, cached = train_method(
                spec, fit_on, data.side_info, seed, run.parent / "cache", cache_key
            )
            u = _per_user(emb, fit_on, test, mode, min_rating)
            users[name] = u
            row: dict[str, Any] = {
                "method": name,
                "mode": mode,
                "valid_k": t[f"valid_{mode}"],
                "valid_last": t.get(f"valid_{mode}_last", np.nan),
                "test": float(u.mean()),
                "cached": cached,
            }
            for other, ou in (("popularity", pop_u), ("itemknn", knn_u)):
                b = paired_bootstrap(u.to_numpy(), ou.to_numpy(), n_boot=10_000, random_state=0)
                row[f"x_{other}"] = b.ratio
                row[f"diff_{other}"] = f"{b.diff:+.4f} [{b.diff_low:+.4f}, {b.diff_high:+.4f}]"
                row[f"verdict_{other}"] = b.verdict
            warm = (raw["tuning"].get("warm_start") or {}).get(name)
            study = (
                f"{config.name}-{name}-s{seed}-{valid_content}"
                + (f"-from-{warm}" if warm else "")
                + tag
            )
            try:
                h = _trials(storage, study)
            except KeyError:
                h = pd.DataFrame()
            if len(h):
                h = h[h["state"] == "COMPLETE"]
                k_col = h["value"]
                last = h[[f"attr_{METRIC}_i2i_last", f"attr_{METRIC}_u2i_last"]].max(axis=1)
                row["n_trials"] = len(h)
                row["trials_spearman_k_vs_last"] = float(k_col.corr(last, method="spearman"))
                row["trials_sd_k"] = float(k_col.std())
                row["trials_sd_last"] = float(last.std())
                pick = int(last.to_numpy().argmax())
                row["last_pick_trial"] = int(h["number"].iloc[pick])
                row["k_pick_trial"] = int(h["number"].iloc[int(k_col.to_numpy().argmax())])
                if args.refit_last and row["last_pick_trial"] != row["k_pick_trial"]:
                    params = {
                        c.removeprefix("params_"): h[c].iloc[pick]
                        for c in h.columns
                        if c.startswith("params_")
                    }
                    from embeddings.tuning import decode_params

                    params = decode_params(
                        {k: (None if v == "none" else v) for k, v in params.items()}
                    )
                    params = {
                        k: (int(v) if isinstance(v, float) and float(v).is_integer() else v)
                        for k, v in params.items()
                    }
                    lmode = (
                        "i2i"
                        if h[f"attr_{METRIC}_i2i_last"].iloc[pick]
                        >= h[f"attr_{METRIC}_u2i_last"].iloc[pick]
                        else "u2i"
                    )
                    spec2 = {**specs[name], "params": {**spec["params"], **params}}
                    emb2, _ = train_method(spec2, fit_on, data.side_info, seed, None, cache_key)
                    row["test_of_last_pick"] = float(
                        _per_user(emb2, fit_on, test, lmode, min_rating).mean()
                    )
                elif args.refit_last:
                    row["test_of_last_pick"] = row["test"]
            rows.append(row)
    df = pd.DataFrame(rows)
    df.to_csv(args.out, index=False)
    extra = {
        "popularity": float(pop_u.mean()),
        "itemknn_test": float(knn_u.mean()),  # in the mode of itemknn_choice
        "itemknn_choice": list(knn_choice),
        "itemknn_valid": {"/".join(map(str, g)): v for g, v in knn_valid.items()},
        "n_test_users": int(pop_u.size),
        "n_valid_events": int(len(valid)),
    }
    args.out.with_suffix(".json").write_text(json.dumps(extra, indent=2))
    per_user_table(users, pop_u, knn_u).to_csv(
        args.out.with_name(f"{args.out.stem}_users.csv"), index=False
    )
    sys.stdout.write(df.to_string() + "\n" + json.dumps(extra) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
