"""Stage *final* of the quality benchmark on the recommendation logs (test split, read once).

Every method is refit on train + valid with each seed, at the library defaults and at the tuned
setting, next to popularity, item-kNN and implicit ALS / BPR; the query mode (I2I / U2I) and the
best baseline are the ones best on validation. Rows carry the mean over seeds with a Student-t
interval and the paired bootstrap over test users against popularity and the best baseline.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embeddings.evaluation import evaluate_i2i, evaluate_popularity, evaluate_u2i
from embeddings.sessions import concat_interactions, train_valid_test_split
from embeddings.stats import mean_ci, paired_bootstrap, per_user_mean
from embeddings.tuning import make_trainer
from recall.bench.quality_protocol import BASELINES, METRIC, REC_METHODS, rec_data, safe_name
from recall.bench.quality_search import load_best
from recall.measure import load_average

logger = logging.getLogger(__name__)


def _baseline_model(name: str, params: dict[str, Any], seed: int) -> Any:
    """An unfitted baseline trainer (item-kNN takes its similarity from the name)."""
    if name.startswith("itemknn"):
        return make_trainer("itemknn", {"similarity": name.split("-")[1]}, seed)
    return make_trainer(name, params, seed)


def _evaluate(
    name: str, trainer: Any, emb: Any, train: Any, test: Any, modes: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    out = {}
    if name.startswith("implicit"):
        out["u2i"] = evaluate_u2i(
            emb, train, test, metric="ip", user_embeddings=trainer.user_embeddings, per_user=True
        )
        return out
    if "i2i" in modes:
        out["i2i"] = evaluate_i2i(
            emb, train, test, metric=emb.meta.get("metric", "cosine"), per_user=True
        )
    if "u2i" in modes:
        out["u2i"] = evaluate_u2i(
            emb, train, test, metric=emb.meta.get("u2i_metric", "cosine"), per_user=True
        )
    return out


def recommendation_final(
    cfg: dict[str, Any], root: Path, out: Path, methods: list[str], seed: int, progress: bool
) -> list[dict[str, Any]]:
    """Test-split figures of every method (defaults and tuned) and baseline, with statistics."""
    rows: list[dict[str, Any]] = []
    for ds in cfg["rec_datasets"]:
        inter = rec_data(ds, cfg, root, seed)
        if inter is None:
            continue
        rows += _data_rows(ds, inter)
        train, valid, test = train_valid_test_split(inter, random_state=seed)
        full = concat_interactions(train, valid, name=f"{inter.name}/train+valid")
        # (name, setting, trainer params, validated mode or None) of every row to run
        runs: list[tuple[str, str, dict[str, Any], str | None]] = []
        valid_scores: dict[str, float] = {}
        for b in BASELINES:
            best = load_best(out, f"{safe_name(ds)}__{b}")
            params = {k: v for k, v in (best or {}).get("best_params", {}).items()}
            try:
                trainer = _baseline_model(b, params, seed)
                emb = trainer.fit(train)
            except ImportError as exc:
                logger.warning("skipping %s: %s", b, exc)
                continue
            res = _evaluate(b, trainer, emb, train, valid, ("i2i", "u2i"))
            mode = max(res, key=lambda m: res[m][METRIC])
            valid_scores[b] = res[mode][METRIC]
            runs.append((b, "tuned" if best else "defaults", params, mode))
        best_baseline = max(valid_scores, key=lambda b: valid_scores[b])
        for m in methods:
            if m not in REC_METHODS:
                continue
            # Node2Vec's defaults (p = q = 1) are DeepWalk's: the same walks, the same row
            if m != "node2vec" and m not in cfg.get("skip_defaults", ()):
                runs.append((m, "defaults", {}, None))
            best = load_best(out, f"{safe_name(ds)}__{m}")
            if best is not None:
                runs.append((m, "tuned", best["best_params"], best["best_attrs"].get("mode")))
        pop = evaluate_popularity(full, test, per_user=True)
        pop_users = pop["per_user"].set_index("user_id")[METRIC].sort_index()
        per_user_store: dict[tuple[str, str, str], pd.Series] = {}
        seed_rows: list[dict[str, Any]] = []
        for name, setting, params, mode in runs:
            if mode is None:  # defaults: the query mode is chosen on validation too
                trainer = make_trainer(name, params, cfg["seeds"][0])
                emb = trainer.fit(train)
                res = _evaluate(name, trainer, emb, train, valid, ("i2i", "u2i"))
                mode = max(res, key=lambda k: res[k][METRIC])
            seeds = cfg["seeds"] if not name.startswith("itemknn") else cfg["seeds"][:1]
            tables: dict[str, list[pd.DataFrame]] = {}
            for s in seeds:
                t0 = time.perf_counter()
                trainer = (
                    _baseline_model(name, params, s)
                    if name in BASELINES
                    else make_trainer(name, params, s)
                )
                emb = trainer.fit(full)
                secs = time.perf_counter() - t0
                res = _evaluate(name, trainer, emb, full, test, ("i2i", "u2i"))
                for md, r in res.items():
                    tables.setdefault(md, []).append(r["per_user"])
                    seed_rows.append(
                        {
                            "dataset": ds,
                            "method": name,
                            "setting": setting,
                            "mode": md,
                            "validated_mode": md == mode,
                            "seed": s,
                            METRIC: r[METRIC],
                            "recall@10": r["recall@10"],
                            "ndcg@10": r["ndcg@10"],
                            "train_seconds": secs,
                            "loadavg_1min": load_average()[0],
                            "users": r["n_users"],
                            "users_without_query": r["n_no_query"],
                        }
                    )
                logger.info("%s %s %s seed %d: %s", ds, name, setting, s, {
                    md: round(r[METRIC], 4) for md, r in res.items()})  # fmt: skip
            for md, tl in tables.items():
                per_user_store[(name, setting, md)] = per_user_mean(tl, METRIC)
            rows_params = {"params": json.dumps(params, default=str), "validated_mode": mode}
            for md in tables:
                per_user_store[(name, setting, md)].attrs.update(rows_params)
        sr = pd.DataFrame(seed_rows)
        best_key = next(
            (k for k in per_user_store if k[0] == best_baseline and k[2] == _mode_of(sr, k)),
            None,
        )
        for (name, setting, md), users in per_user_store.items():
            g = sr[(sr["method"] == name) & (sr["setting"] == setting) & (sr["mode"] == md)]
            m, lo, hi = mean_ci(g[METRIC].to_numpy())
            row = {
                "section": "recommendation",
                "dataset": ds,
                "method": name,
                "setting": setting,
                "mode": md,
                "validated_mode": users.attrs["validated_mode"] == md,
                "kind": "baseline" if name in BASELINES else "embedding",
                "params": users.attrs["params"],
                "metric": METRIC,
                "value": m,
                "ci_low": lo,
                "ci_high": hi,
                "n_seeds": int(len(g)),
                "recall@10": float(g["recall@10"].mean()),
                "ndcg@10": float(g["ndcg@10"].mean()),
                "train_seconds": float(g["train_seconds"].mean()),
                "loadavg_1min_max": float(g["loadavg_1min"].max()),
                "users": int(g["users"].iloc[0]),
                "users_without_query": int(g["users_without_query"].iloc[0]),
                "best_baseline": best_baseline,
            }
            a = users.loc[pop_users.index].to_numpy()
            bp = paired_bootstrap(a, pop_users.to_numpy(), cfg["n_boot"], random_state=seed)
            row.update(_boot_cols("vs_pop", bp))
            if best_key is not None and (name, setting, md) != best_key:
                bb = per_user_store[best_key].loc[pop_users.index].to_numpy()
                bb_res = paired_bootstrap(a, bb, cfg["n_boot"], random_state=seed)
                row.update(_boot_cols("vs_best_baseline", bb_res))
            rows.append(row)
        rows.append(
            {
                "section": "recommendation",
                "dataset": ds,
                "method": "popularity",
                "setting": "-",
                "mode": "popularity",
                "validated_mode": True,
                "kind": "baseline",
                "metric": METRIC,
                "value": pop[METRIC],
                "recall@10": pop["recall@10"],
                "ndcg@10": pop["ndcg@10"],
                "n_seeds": 1,
                "users": pop["n_users"],
                "best_baseline": best_baseline,
            }
        )
    return rows


def _data_rows(ds: str, inter: Any) -> list[dict[str, Any]]:
    """What "next item" means here: how close in time consecutive events are, and ties."""
    f = inter.frame.sort_values(["user_id", "timestamp"], kind="stable")
    same_user = f["user_id"].to_numpy()[1:] == f["user_id"].to_numpy()[:-1]
    gaps = np.diff(f["timestamp"].to_numpy())[same_user]
    last = f.groupby("user_id")["timestamp"].transform("max")
    tied = f[f["timestamp"] == last].groupby("user_id").size()
    vals = {
        "share of consecutive events < 60 s apart": float((gaps < 60).mean()),
        "share of consecutive events with the same timestamp": float((gaps == 0).mean()),
        "users whose last timestamp is shared by several events": int((tied > 1).sum()),
        "users": int(f["user_id"].nunique()),
    }
    return [{"section": "data", "dataset": ds, "metric": k, "value": v} for k, v in vals.items()]


def _mode_of(sr: pd.DataFrame, key: tuple[str, str, str]) -> str:
    g = sr[(sr["method"] == key[0]) & (sr["setting"] == key[1]) & sr["validated_mode"]]
    return str(g["mode"].iloc[0]) if len(g) else ""


def _boot_cols(prefix: str, b: Any) -> dict[str, Any]:
    return {
        f"{prefix}_diff": b.diff,
        f"{prefix}_low": b.diff_low,
        f"{prefix}_high": b.diff_high,
        f"{prefix}_ratio": b.ratio,
        f"{prefix}_ratio_low": b.ratio_low,
        f"{prefix}_ratio_high": b.ratio_high,
        f"{prefix}_verdict": b.verdict,
    }
