"""Quality of the trainers on a validation protocol: searches, baselines, intervals, bootstrap.

``python -m recall.bench.quality [--quick] [--stage search|final|report ...] [--data DIR]
[--out DIR] [--datasets ...] [--methods ...] [--trials N] [--timeout S] [--seeds 0 1 2]``

Recommendation (ml-latest-small, the synthetic default)
    ``train_valid_test_split``: each user's last event is the test item, the second-to-last the
    validation item, ties between equal timestamps broken at random with a fixed seed.
    *search*: Optuna TPE (``embeddings.tuning.tune``) per method on (train, valid): the
    hyperparameters, graph construction and query mode (I2I / U2I) are chosen on validation
    HR@10. *final*: every method is refit on train + valid with ``--seeds`` and read on test
    once: the library defaults and the tuned setting, next to popularity, item-kNN (cosine,
    co-occurrence) and implicit ALS / BPR. The best baseline is the one best on validation.
Node classification (BlogCatalog, PPI, POS = the node2vec paper's "Wikipedia", Wiki = OpenNE's)
    ``split_labelled_nodes``: 50% of the labelled nodes are test, 20% of the rest a validation
    fold. *search* on the fold (``tune_node_classification``; ``--node-search``, default
    BlogCatalog), *final*: the classifier is fit on all training nodes and scored on the test
    nodes, over ``--seeds`` embedding seeds; the setting tuned on ``--node-tuned-on`` is also
    applied unchanged to the other graphs (does it generalise?).

Statistics: mean and 95% Student-t interval over the seeds; paired bootstrap over test users
(each user's hit averaged over seeds) of every method vs popularity and vs the best baseline; a
difference is a win only when its interval excludes zero. *report* writes ``results.csv``,
``results.md``, ``search/*.csv|json`` and ``plots/search_*.png`` under ``--out``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embeddings.datasets import make_synthetic
from embeddings.evaluation import (
    evaluate_i2i,
    evaluate_popularity,
    evaluate_u2i,
    node_classification_holdout,
    split_labelled_nodes,
)
from embeddings.sessions import concat_interactions, train_valid_test_split
from embeddings.stats import mean_ci, paired_bootstrap, per_user_mean
from embeddings.tuning import (
    default_space,
    defaults_in_space,
    make_trainer,
    plot_history,
    tune,
    tune_node_classification,
)
from recall.bench.harness import bench_parser, default_out, start_run
from recall.measure import load_average

logger = logging.getLogger(__name__)

#: node2vec paper (Grover & Leskovec, KDD 2016), Table 2: Macro-F1 at 50% labelled nodes.
#: Their "Wikipedia" is the word co-occurrence graph with POS labels (``pos`` here), not the
#: 2,405-node hyperlink "Wiki" of OpenNE.
PUBLISHED_MACRO_F1 = {
    ("blogcatalog", "deepwalk"): 0.2110,
    ("blogcatalog", "node2vec"): 0.2581,
    ("ppi", "deepwalk"): 0.1768,
    ("ppi", "node2vec"): 0.1791,
    ("pos", "deepwalk"): 0.1303,
    ("pos", "node2vec"): 0.1552,
}
REC_METHODS = ("item2vec-sequence", "item2vec-set", "deepwalk", "node2vec")
BASELINES = ("itemknn-cosine", "itemknn-cooccurrence", "implicit-als", "implicit-bpr")
METRIC = "hit_rate@10"

#: search spaces of the recommendation walks, trimmed so that one trial stays near a minute
REC_WALK_SPACE = {
    "num_walks": {"int": [2, 10], "log": True},
    "walk_length": {"int": [10, 40], "log": True},
    "epochs": {"int": [1, 5]},
    "dim": {"int": [16, 128], "log": True},
    "window": {"int": [1, 10], "log": True},
    "negative": {"int": [2, 20], "log": True},
    "ns_exponent": {"float": [-1.0, 1.0]},
    "sample": {"float": [1e-5, 1e-1], "log": True},
    "alpha": {"float": [0.005, 0.1], "log": True},
    "directed": {"choices": [True, False]},
    "min_rating": {"choices": ["none", 3.5]},
}
NODE_SPACE = {
    "num_walks": {"int": [5, 10]},
    "walk_length": {"int": [20, 80], "log": True},
    "epochs": {"int": [1, 5]},
    "window": {"int": [2, 10]},
    "negative": {"int": [2, 10]},
    "ns_exponent": {"float": [-1.0, 1.0]},
    "sample": {"float": [1e-5, 1e-2], "log": True},
    "alpha": {"float": [0.005, 0.05], "log": True},
}

CONFIGS: dict[str, dict[str, Any]] = {
    "full": {
        "rec_datasets": ["movielens-latest-small", "synthetic"],
        "node_datasets": ["blogcatalog", "ppi", "pos", "wiki"],
        "node_search": ["blogcatalog"],
        "node_tuned_on": "blogcatalog",
        "trials": {"item2vec-sequence": 25, "item2vec-set": 8, "deepwalk": 15, "node2vec": 15,
                   "implicit-als": 15, "implicit-bpr": 10, "node:deepwalk": 10,
                   "node:node2vec": 10},
        "timeout": 1200,
        "seeds": [0, 1, 2],
        "synthetic": {"n_users": 2000, "n_items": 1000},
        "n_boot": 5000,
    },
    "quick": {
        "rec_datasets": ["synthetic"],
        "node_datasets": [],
        "node_search": [],
        "node_tuned_on": "blogcatalog",
        "trials": {"item2vec-sequence": 3, "item2vec-set": 2, "deepwalk": 2, "node2vec": 2,
                   "implicit-als": 2, "implicit-bpr": 2, "node:deepwalk": 2, "node:node2vec": 2},
        "timeout": 120,
        "seeds": [0, 1, 2],
        "synthetic": {"n_users": 400, "n_items": 300},
        "n_boot": 1000,
    },
}  # fmt: skip


def _data_root(arg: str | None) -> Path:
    """``--data``, else :func:`embeddings.paths.data_root`; when there is none, the first place it
    looks (a real data set then fails with a ``FileNotFoundError`` naming it; synthetic runs need
    no data folder)."""
    if arg:
        return Path(arg)
    from embeddings.paths import data_root, data_root_candidates

    root = data_root()
    return root if root is not None else data_root_candidates()[0]


def _rec_data(name: str, cfg: dict[str, Any], root: Path, seed: int) -> Any:
    if name == "synthetic":
        return make_synthetic(**cfg["synthetic"], random_state=seed).interactions
    from embeddings.datasets.movielens import load_movielens

    d = root / name
    if not d.is_dir():
        logger.warning("skipping %s: %s not found", name, d)
        return None
    return load_movielens(d).interactions


def _space(method: str) -> dict[str, Any] | None:
    if method in ("deepwalk", "node2vec"):
        space = dict(REC_WALK_SPACE)
        if method == "node2vec":
            space["p"] = {"float": [0.25, 4.0], "log": True}
            space["q"] = {"float": [0.25, 4.0], "log": True}
        return space
    if method == "item2vec-set":
        space = default_space(method)
        space["max_set_size"] = {"choices": [50, 100]}
        space["epochs"] = {"int": [1, 5]}
        return space
    return None  # default_space


def _safe(name: str) -> str:
    return name.replace("/", "_")


def _save_search(out: Path, key: str, res: Any) -> None:
    d = out / "search"
    d.mkdir(parents=True, exist_ok=True)
    res.history.to_csv(d / f"{key}.csv", index=False)
    (d / f"{key}.json").write_text(
        json.dumps(
            {
                "method": res.method,
                "objective": res.objective,
                "best_value": res.best_value,
                "best_params": res.best_params,
                "best_attrs": res.best_attrs,
                "n_trials": int(len(res.history)),
            },
            indent=2,
            default=str,
        ),
        encoding="utf-8",
    )
    from recall.plots import save_figure

    fig = plot_history(res.history, key, ylabel=res.objective)
    save_figure(fig, out / "plots" / f"search_{key}.png")


def _load_best(out: Path, key: str) -> dict[str, Any] | None:
    p = out / "search" / f"{key}.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None


# ------------------------------------------------------------------ stage: search
def run_search(
    cfg: dict[str, Any], root: Path, out: Path, methods: list[str], seed: int, cache: Path
) -> None:
    """Optuna searches on validation; results in ``out/search`` (resumable via ``cache``)."""
    for ds in cfg["rec_datasets"]:
        inter = _rec_data(ds, cfg, root, seed)
        if inter is None:
            continue
        train, valid, _ = train_valid_test_split(inter, random_state=seed)
        for method in methods:
            if method not in cfg["trials"] or method.startswith("node:"):
                continue
            key = f"{_safe(ds)}__{method}"
            t0 = time.perf_counter()
            space = _space(method) or default_space(method)
            res = tune(
                method,
                train,
                valid,
                space=space,
                initial=[defaults_in_space(method, space)],
                n_trials=cfg["trials"][method],
                timeout=cfg["timeout"],
                random_state=seed,
                storage=str(cache / f"{key}.log"),
                study_name=key,
            )
            _save_search(out, key, res)
            logger.info(
                "search %s: best %.4f (%s) in %.0f s, %s",
                key,
                res.best_value,
                res.best_attrs.get("mode"),
                time.perf_counter() - t0,
                res.best_params,
            )
    from embeddings.datasets.graphs import load_labelled_graph

    for ds in cfg["node_search"]:
        try:
            lg = load_labelled_graph(ds, root)
        except (FileNotFoundError, ValueError) as exc:
            logger.warning("skipping %s: %s", ds, exc)
            continue
        fit, valid, _ = split_labelled_nodes(lg.labels, lg.node_ids, random_state=seed)
        for method in ("deepwalk", "node2vec"):
            if method not in methods:
                continue
            key = f"{ds}__{method}"
            space = dict(NODE_SPACE)
            if method == "node2vec":
                space["p"] = {"float": [0.25, 4.0], "log": True}
                space["q"] = {"float": [0.25, 4.0], "log": True}
            t0 = time.perf_counter()
            res = tune_node_classification(
                method,
                lg.graph,
                lg.labels,
                lg.node_ids,
                fit,
                valid,
                space=space,
                initial=[defaults_in_space(method, space)],
                n_trials=cfg["trials"][f"node:{method}"],
                timeout=cfg["timeout"],
                random_state=seed,
                storage=str(cache / f"{key}.log"),
                study_name=key,
            )
            _save_search(out, key, res)
            logger.info(
                "search %s: best %.4f in %.0f s, %s",
                key,
                res.best_value,
                time.perf_counter() - t0,
                res.best_params,
            )


# ------------------------------------------------------------------ stage: final
def _baseline_model(name: str, params: dict[str, Any], seed: int) -> Any:
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
        inter = _rec_data(ds, cfg, root, seed)
        if inter is None:
            continue
        rows += _data_rows(ds, inter)
        train, valid, test = train_valid_test_split(inter, random_state=seed)
        full = concat_interactions(train, valid, name=f"{inter.name}/train+valid")
        # (name, setting, trainer params, validated mode or None) of every row to run
        runs: list[tuple[str, str, dict[str, Any], str | None]] = []
        valid_scores: dict[str, float] = {}
        for b in BASELINES:
            best = _load_best(out, f"{_safe(ds)}__{b}")
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
            best = _load_best(out, f"{_safe(ds)}__{m}")
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


def node_final(
    cfg: dict[str, Any], root: Path, out: Path, methods: list[str], seed: int
) -> list[dict[str, Any]]:
    """Macro/Micro-F1 on the test nodes (classifier fit on fit + valid nodes), over seeds."""
    from embeddings.datasets.graphs import load_labelled_graph

    rows: list[dict[str, Any]] = []
    for ds in cfg["node_datasets"]:
        try:
            lg = load_labelled_graph(ds, root)
        except (FileNotFoundError, ValueError) as exc:
            logger.warning("skipping %s: %s", ds, exc)
            continue
        fit, valid, test = split_labelled_nodes(lg.labels, lg.node_ids, random_state=seed)
        train_nodes = np.concatenate([fit, valid])
        for method in ("deepwalk", "node2vec"):
            if method not in methods:
                continue
            settings: list[tuple[str, dict[str, Any]]] = [("defaults", {})]
            src = cfg["node_tuned_on"]
            best = _load_best(out, f"{src}__{method}")
            if best is not None:
                where = "tuned" if ds == src else f"tuned on {src}"
                settings.append((where, best["best_params"]))
            for setting, params in settings:
                vals = []
                for s in cfg["seeds"]:
                    t0 = time.perf_counter()
                    emb = make_trainer(method, params, s).fit(lg.graph)
                    secs = time.perf_counter() - t0
                    r = node_classification_holdout(emb, lg.labels, lg.node_ids, train_nodes, test)
                    vals.append({**r, "seconds": secs})
                    logger.info("%s %s %s seed %d: %s", ds, method, setting, s, r)
                v = pd.DataFrame(vals)
                for metric in ("macro_f1", "micro_f1"):
                    m, lo, hi = mean_ci(v[metric].to_numpy())
                    rows.append(
                        {
                            "section": "node_classification",
                            "dataset": ds,
                            "method": method,
                            "setting": setting,
                            "params": json.dumps(params, default=str),
                            "metric": metric,
                            "value": m,
                            "ci_low": lo,
                            "ci_high": hi,
                            "n_seeds": len(v),
                            "train_seconds": float(v["seconds"].mean()),
                            "published": PUBLISHED_MACRO_F1.get((ds, method))
                            if metric == "macro_f1"
                            else np.nan,
                            "n_test_nodes": int(v["n_eval"].iloc[0]),
                        }
                    )
    return rows


OLD_WALK_DEFAULTS = {"epochs": 1}  # what DeepWalk / Node2Vec used before issue 12


def _check_settings(cfg: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Settings of the defaults check: old and new defaults, or ``--check-epochs`` values."""
    if cfg.get("check_epochs"):
        return [(f"epochs={e}", {"epochs": int(e)}) for e in cfg["check_epochs"]]
    return [("old default", OLD_WALK_DEFAULTS), ("library default", {})]


def _label(setting: str, emb: Any) -> str:
    epochs = emb.meta.get("trainer_params", {}).get("epochs")
    return setting if setting.startswith("epochs=") else f"epochs={epochs} ({setting})"


def defaults_check(cfg: dict[str, Any], root: Path, seed: int) -> pd.DataFrame:
    """Validation-fold Macro/Micro-F1 of DeepWalk at the old and the new library defaults.

    The evidence for the walk defaults: one embedding seed per setting (``--seeds``' first),
    the classifier fit on the fit nodes and scored on the validation fold (test nodes unread).
    """
    from embeddings.datasets.graphs import load_labelled_graph

    rows = []
    for ds in cfg["node_datasets"]:
        try:
            lg = load_labelled_graph(ds, root)
        except (FileNotFoundError, ValueError) as exc:
            logger.warning("skipping %s: %s", ds, exc)
            continue
        fit, valid, _ = split_labelled_nodes(lg.labels, lg.node_ids, random_state=seed)
        for setting, params in _check_settings(cfg):
            t0 = time.perf_counter()
            emb = make_trainer("deepwalk", params, cfg["seeds"][0]).fit(lg.graph)
            r = node_classification_holdout(emb, lg.labels, lg.node_ids, fit, valid)
            rows.append(
                {
                    "dataset": ds,
                    "method": "deepwalk",
                    "setting": _label(setting, emb),
                    "params": json.dumps(emb.meta.get("trainer_params", {}), default=str),
                    "macro_f1_valid": r["macro_f1"],
                    "micro_f1_valid": r["micro_f1"],
                    "seconds": time.perf_counter() - t0,
                    "loadavg_1min": load_average()[0],
                }
            )
            logger.info("defaults check %s %s: %s", ds, setting, r)
    for ds in cfg["rec_datasets"]:
        inter = _rec_data(ds, cfg, root, seed)
        if inter is None:
            continue
        train, valid, _ = train_valid_test_split(inter, random_state=seed)
        for setting, params in _check_settings(cfg):
            t0 = time.perf_counter()
            emb = make_trainer("deepwalk", params, cfg["seeds"][0]).fit(train)
            r = evaluate_i2i(emb, train, valid)
            rows.append(
                {
                    "dataset": ds,
                    "method": "deepwalk",
                    "setting": _label(setting, emb),
                    "params": json.dumps(emb.meta.get("trainer_params", {}), default=str),
                    "hit_rate@10_i2i_valid": r[METRIC],
                    "seconds": time.perf_counter() - t0,
                    "loadavg_1min": load_average()[0],
                }
            )
            logger.info("defaults check %s %s: HR@10 %.4f", ds, setting, r[METRIC])
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ stage: report
def _f(x: Any, d: int = 4) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    return f"{x:.{d}f}"


def _ci(r: pd.Series, d: int = 4) -> str:
    if pd.isna(r.get("ci_low")):
        return _f(r["value"], d)
    return f"{_f(r['value'], d)} [{_f(r['ci_low'], d)}, {_f(r['ci_high'], d)}]"


def _vs(r: pd.Series, prefix: str) -> str:
    if pd.isna(r.get(f"{prefix}_diff")):
        return ""
    return (
        f"{r[f'{prefix}_diff']:+.4f} [{r[f'{prefix}_low']:+.4f}, {r[f'{prefix}_high']:+.4f}] "
        f"{r[f'{prefix}_verdict']}"
    )


def write_report(df: pd.DataFrame, out: Path, cfg_name: str, cfg: dict, env: dict) -> None:
    """``results.csv`` and ``results.md`` (tables with intervals, searches, goal table)."""
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "results.csv", index=False)
    L = [
        "# Quality of the trainers on a validation protocol",
        "",
        f"Produced by `python -m recall.bench.quality{' --quick' if cfg_name == 'quick' else ''}`"
        f" ({cfg_name} settings); see the module docstring for the protocol. "
        + (
            f"Machine: {env['load_text']}; seconds are wall clock (`time.perf_counter`)."
            if env.get("load_text")
            else f"Load average at the end: {env.get('loadavg')}; seconds are indicative."
        ),
        "",
        *[line for n in env.get("load_notes", []) for line in (f"> {n}", "")],
        "Reproduce (each stage resumes from `--cache` and `--out`; `--stage` may repeat): "
        "`python -m recall.bench.quality --stage search` (Optuna searches, validation only), "
        "`--stage defaults-check` (old vs new walk defaults, validation folds), "
        "`--stage final` (test split, seeds, bootstrap; writes this file). "
        f"This file was last written by: `{env.get('command', '')}`.",
        "",
        "Protocol: leave-last-out test, second-to-last validation; ties between equal "
        "timestamps broken at random with a fixed seed (`ties='random'`); every choice "
        "(hyperparameters, graph construction, query mode) is made on validation; the test "
        "split is read once. Figures: mean over seeds with a 95% Student-t interval in "
        "brackets; *vs popularity* / *vs best baseline*: paired bootstrap over test users of "
        "the HR@10 difference (95% interval); *win* / *loss* only when the interval excludes "
        "zero. With one held-out item per user HR@10 = Recall@10 (both columns are in "
        "`results.csv`).",
        "",
    ]
    data = df[df["section"] == "data"] if "section" in df else df.iloc[0:0]
    if len(data):
        L += ['## What "next item" means in these logs', ""]
        for ds, g in data.groupby("dataset", sort=False):
            L.append(
                f"- {ds}: "
                + "; ".join(
                    f"{m} {v:.1%}" if v < 1 and "share" in m else f"{m} {int(v)}"
                    for m, v in zip(g["metric"], g["value"], strict=True)
                )
            )
        L += [
            "",
            "On MovieLens the timestamps are those of rating screens: most consecutive ratings "
            'are entered seconds apart, in an order the site chose, so the held-out "next '
            'item" is the last movie a user rated in a burst, not the next movie watched. '
            "Ties on the last timestamp are broken at random (seeded), not by file order "
            "(which would always hold out the largest movieId). Compare the order-free "
            "baselines (item-kNN, ALS) with the sequence methods below before reading "
            "sequence order into this task.",
            "",
        ]
    rec = df[df["section"] == "recommendation"] if "section" in df else df.iloc[0:0]
    for ds, g in rec.groupby("dataset", sort=False):
        bb = g["best_baseline"].dropna().iloc[0] if g["best_baseline"].notna().any() else "?"
        L += [
            f"## Recommendation: {ds} (HR@10 on test, {int(g['users'].max())} users)",
            "",
            f"Best baseline on validation: **{bb}**. Rows in *italic mode* are the mode not "
            "chosen on validation (shown for completeness). Baselines: popularity; item-kNN "
            "(cosine / co-occurrence of the binary user-item matrix; I2I = last item, U2I = "
            "sum of similarities); `implicit` ALS and BPR (U2I with their own user factors). "
            "The Spark ALS vectors in the shared data are of MovieLens-1M: their ids do not "
            "match ml-latest-small, so they have no row here. A method without a *defaults* "
            "row was not run at the library defaults in this run (`--skip-defaults`); "
            "Node2Vec's defaults (p = q = 1) are DeepWalk's.",
            "",
            "| method | setting | mode | HR@10 [95% CI over seeds] | NDCG@10 | vs popularity "
            "(diff [CI] verdict) | ratio to popularity [CI] | vs best baseline | train s |",
            "|---|---|---|---|---:|---|---|---|---:|",
        ]
        for _, r in g.iterrows():
            mode = r["mode"] if r.get("validated_mode", True) else f"*{r['mode']}*"
            ratio = (
                f"{r['vs_pop_ratio']:.2f}× [{r['vs_pop_ratio_low']:.2f}, "
                f"{r['vs_pop_ratio_high']:.2f}]"
                if not pd.isna(r.get("vs_pop_ratio"))
                else ""
            )
            L.append(
                f"| {r['method']} | {r['setting']} | {mode} | {_ci(r)} | {_f(r['ndcg@10'])} | "
                f"{_vs(r, 'vs_pop')} | {ratio} | {_vs(r, 'vs_best_baseline')} | "
                f"{_f(r.get('train_seconds'), 1)} |"
            )
        same = np.allclose(g["value"].astype(float), g["recall@10"].astype(float))
        pop = g[g["method"] == "popularity"]
        if len(pop):
            p0 = pop.iloc[0]
            L += [
                "",
                f"HR@10 {'=' if same else '≠'} Recall@10 in every row of this table (one "
                f"held-out item per user), e.g. popularity: HR@10 {p0['value']:.4f}, Recall@10 "
                f"{p0['recall@10']:.4f}; only one of the two is shown.",
            ]
        L.append("")
    nc = df[df["section"] == "node_classification"] if "section" in df else df.iloc[0:0]
    if len(nc):
        L += [
            "## Node classification (test nodes, classifier fit on the training nodes)",
            "",
            "50% of the labelled nodes are test; the validation fold (20% of the training "
            "nodes) was used by the search only. *Published*: node2vec paper Table 2, Macro-F1 "
            "at 50% (their Wikipedia = our `pos`).",
            "",
            "| data set | method | setting | Macro-F1 [95% CI] | Micro-F1 [95% CI] | "
            "published Macro-F1 | train s |",
            "|---|---|---|---|---|---:|---:|",
        ]
        for (ds, m, st), g in nc.groupby(["dataset", "method", "setting"], sort=False):
            ma = g[g["metric"] == "macro_f1"].iloc[0]
            mi = g[g["metric"] == "micro_f1"].iloc[0]
            L.append(
                f"| {ds} | {m} | {st} | {_ci(ma)} | {_ci(mi)} | {_f(ma['published'])} | "
                f"{_f(ma['train_seconds'], 1)} |"
            )
        L.append("")
    L += _goal_section(df)
    check = out / "defaults_check.csv"
    if check.is_file():
        c = pd.read_csv(check)
        L += [
            "## Evidence for the walk defaults (validation fold, one seed)",
            "",
            "DeepWalk / Node2Vec went from 1 to 2 skip-gram epochs: 2 is the best of those "
            "tried on BlogCatalog, near the best on Wiki and the synthetic log, and within "
            "noise of 1 on PPI (where more epochs hurt). "
            "`--stage defaults-check`: the old and the new defaults on each graph's validation "
            "fold (test nodes unread) and on the recommendation logs' validation split (I2I).",
            "",
            "| data set | setting | Macro-F1 (valid) | Micro-F1 (valid) | I2I HR@10 (valid) | "
            "seconds (load) |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for _, r in c.iterrows():
            L.append(
                f"| {r['dataset']} | {r['setting']} | {_f(r.get('macro_f1_valid'))} | "
                f"{_f(r.get('micro_f1_valid'))} | {_f(r.get('hit_rate@10_i2i_valid'))} | "
                f"{r['seconds']:.0f} ({r['loadavg_1min']:.1f}) |"
            )
        L.append("")
    L += _search_section(out)
    L += [
        "## Settings",
        "",
        "```json",
        json.dumps(cfg, indent=2, default=str),
        "```",
        "",
        "## Environment",
        "",
        "```json",
        json.dumps(env, indent=2, default=str),
        "```",
        "",
    ]
    (out / "results.md").write_text("\n".join(L), encoding="utf-8")


def _goal_section(df: pd.DataFrame) -> list[str]:
    """The issue's goal table, filled from the rows (met / not met / not measured)."""
    L = [
        "## Goals of issue 12 (test split, after tuning on validation)",
        "",
        "| data | figure | measured | goal | verdict |",
        "|---|---|---|---|---|",
    ]
    rec = df[(df.get("section") == "recommendation")] if "section" in df else df.iloc[0:0]
    ml = rec[(rec["dataset"] == "movielens-latest-small")] if len(rec) else rec
    if len(ml):
        emb = ml[(ml["kind"] == "embedding") & (ml["validated_mode"].astype(bool))]
        # per method: the tuned row where there is one (the setting chosen on validation)
        pick = emb.sort_values("setting", key=lambda s: s != "tuned").groupby("method").head(1)
        best = pick.sort_values("value", ascending=False).iloc[0]
        ratio, lo, hi = best["vs_pop_ratio"], best["vs_pop_ratio_low"], best["vs_pop_ratio_high"]
        if lo >= 1.6:
            verdict_ratio = "met"
        elif ratio >= 1.6 and best["vs_pop_verdict"] == "win":
            verdict_ratio = (
                "met on the point estimate (a significant win), but its interval reaches below 1.6×"
            )
        else:
            verdict_ratio = "not met"
        L.append(
            f"| ml-latest-small | best embedding HR@10 / popularity | {best['method']} "
            f"({best['setting']}, {best['mode']}) {ratio:.2f}× [{lo:.2f}, {hi:.2f}], "
            f"{best['vs_pop_verdict']} | ≥ 1.6×, significant | {verdict_ratio} |"
        )
        wins = (pick["vs_pop_verdict"] == "win").sum()
        L.append(
            f"| ml-latest-small | methods above popularity (significant) | {wins} of "
            f"{len(pick)} ({', '.join(f'{m}: {v}' for m, v in zip(pick['method'], pick['vs_pop_verdict'], strict=True))}) "
            f"| all | {'met' if wins == len(pick) else 'not met'} |"
        )
        i2v = pick[pick["method"].str.startswith("item2vec")]["value"].max()
        for m in ("deepwalk", "node2vec"):
            r = pick[pick["method"] == m]
            if len(r) and i2v > 0:
                q = r["value"].iloc[0] / i2v
                L.append(
                    f"| ml-latest-small | {m} / best item2vec (best modes) | {q:.2f}× | ≥ 0.9× | "
                    f"{'met' if q >= 0.9 else 'not met'} |"
                )
        knn = ml[(ml["method"] == "itemknn-cosine") & ml["validated_mode"].astype(bool)]
        if len(knn):
            kv = float(knn["value"].iloc[0])
            q = best["value"] / kv
            worst = pick["value"].min() / kv
            L.append(
                f"| ml-latest-small | embeddings / item-kNN cosine ({kv:.4f}) | best {q:.2f}×, "
                f"worst {worst:.2f}× | all ≥ 1.0×, best ≥ 1.25× | "
                f"{'met' if worst >= 1.0 and q >= 1.25 else 'not met'} |"
            )
    else:
        L.append("| ml-latest-small | all rows | not measured in this run | | not measured |")
    nc = df[df.get("section") == "node_classification"] if "section" in df else df.iloc[0:0]
    bc = nc[(nc["dataset"] == "blogcatalog") & (nc["metric"] == "macro_f1")] if len(nc) else nc
    if len(bc[bc["setting"] == "defaults"]):
        d = bc[(bc["setting"] == "defaults") & (bc["method"] == "deepwalk")].iloc[0]
        L.append(
            f"| BlogCatalog, 50% | DeepWalk Macro-F1 at the defaults | {_ci(d)} | ≥ 0.26 | "
            f"{'met' if d['value'] >= 0.26 else 'not met'} |"
        )
    else:
        L.append(
            "| BlogCatalog, 50% | DeepWalk Macro-F1 at the defaults | not measured in this run "
            "| ≥ 0.26 | not measured |"
        )
    for ds in ("ppi", "pos"):
        r = nc[(nc["dataset"] == ds) & (nc["metric"] == "macro_f1") & (nc["method"] == "node2vec")]
        if len(r):
            top = r.sort_values("value").iloc[-1]
            L.append(
                f"| {ds} | node2vec Macro-F1 vs paper ({top['published']:.4f}) | {_ci(top)} "
                f"({top['setting']}) | ≥ paper | "
                f"{'met' if top['value'] >= top['published'] else 'not met'} |"
            )
        else:
            L.append(
                f"| {ds} | node2vec Macro-F1 vs paper | not measured in this run | ≥ paper | not measured |"
            )
    L.append(
        "| EGES | cold-start HR@10 vs side-info popularity | not part of this benchmark "
        "(`recall.bench.eges`) | EGES ≥ GES, ≥ 2× | not measured |"
    )
    L.append("")
    return L


def _search_section(out: Path) -> list[str]:
    files = sorted((out / "search").glob("*.json")) if (out / "search").is_dir() else []
    if not files:
        return []
    L = [
        "## Searches (validation only)",
        "",
        "Optuna TPE, seeded; history plots in `plots/search_*.png`, every trial in `search/*.csv`.",
        "",
        "| search | trials | best validation value | mode | best setting |",
        "|---|---:|---:|---|---|",
    ]
    for f in files:
        j = json.loads(f.read_text(encoding="utf-8"))
        params = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in j["best_params"].items()
        )
        L.append(
            f"| {f.stem} | {j['n_trials']} | {j['best_value']:.4f} | "
            f"{j['best_attrs'].get('mode', '')} | {params} |"
        )
    L.append("")
    return L


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = bench_parser(
        "quality", __doc__.split("\n")[0], quick_help="small settings (a few minutes)", threads=None
    )
    ap.add_argument("--data", default=None, help="shared data root (default $EMBRECALL_DATA)")
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "embrecall" / "quality"))
    ap.add_argument(
        "--stage",
        choices=("search", "final", "defaults-check", "report"),
        action="append",
        default=None,
    )
    ap.add_argument("--datasets", nargs="*", default=None, help="subset of the config's")
    ap.add_argument("--methods", nargs="*", default=None)
    ap.add_argument(
        "--node-search", nargs="*", default=None, help="graphs searched (default blogcatalog)"
    )
    ap.add_argument("--node-tuned-on", default=None, help="graph whose search the others reuse")
    ap.add_argument(
        "--skip-defaults",
        nargs="*",
        default=[],
        help="methods whose library-default row is not run (e.g. the slow walks on a shared box)",
    )
    ap.add_argument(
        "--check-epochs", type=int, nargs="*", default=None, help="defaults-check: these epochs"
    )
    ap.add_argument("--trials", type=int, default=None, help="override every search budget")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per search")
    ap.add_argument("--seeds", type=int, nargs="*", default=None)
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("gensim").setLevel(logging.WARNING)

    from recall.measure import environment_info

    cfg_name = "quick" if args.quick else "full"
    cfg = json.loads(json.dumps(CONFIGS[cfg_name]))
    if args.datasets is not None:
        cfg["rec_datasets"] = [d for d in cfg["rec_datasets"] if d in args.datasets]
        cfg["node_datasets"] = [d for d in cfg["node_datasets"] if d in args.datasets]
        cfg["node_search"] = [d for d in cfg["node_search"] if d in args.datasets]
    if args.node_search is not None:
        cfg["node_search"] = args.node_search
    if args.node_tuned_on is not None:
        cfg["node_tuned_on"] = args.node_tuned_on
    if args.trials is not None:
        cfg["trials"] = {k: args.trials for k in cfg["trials"]}
    if args.timeout is not None:
        cfg["timeout"] = args.timeout
    if args.seeds:
        cfg["seeds"] = args.seeds
    cfg["skip_defaults"] = list(args.skip_defaults)
    if args.check_epochs:
        cfg["check_epochs"] = list(args.check_epochs)
    methods = args.methods or [*REC_METHODS, "implicit-als", "implicit-bpr"]
    stages = args.stage or ["search", "final", "report"]
    root, out, cache = (
        _data_root(args.data),
        default_out("quality", args.quick, args.out),
        Path(args.cache),
    )
    run = None
    if {"search", "final", "defaults-check"} & set(stages):  # stages that time what they train
        run = start_run("quality", args, argv)
    t0 = time.perf_counter()
    if "search" in stages:
        run_search(cfg, root, out, methods, args.seed, cache)
    rows_file = out / "results.csv"
    if "defaults-check" in stages:
        check = defaults_check(cfg, root, args.seed)
        if len(check):
            path = out / "defaults_check.csv"
            if path.is_file():  # rows of other (data set, setting) pairs are kept
                old = pd.read_csv(path)
                new_keys = set(zip(check["dataset"], check["setting"], strict=True))
                keep = [
                    (d, st) not in new_keys
                    for d, st in zip(old["dataset"], old["setting"], strict=True)
                ]
                check = pd.concat([old[keep], check], ignore_index=True)
            check.to_csv(path, index=False)
    if "final" in stages:
        rows = recommendation_final(cfg, root, out, methods, args.seed, args.progress)
        rows += node_final(cfg, root, out, methods, args.seed)
        new = pd.DataFrame(rows)
        if rows_file.is_file() and len(new):
            old = pd.read_csv(rows_file)
            if "setting" in old.columns:  # keep rows of data sets not re-run now
                done = set(new["dataset"])
                new = pd.concat([old[~old["dataset"].isin(done)], new], ignore_index=True)
        df = new
    else:
        df = pd.read_csv(rows_file) if rows_file.is_file() else pd.DataFrame()
    env = environment_info()
    shown = argv if argv is not None else sys.argv[1:]
    env["command"] = "python -m recall.bench.quality " + " ".join(shown)
    env.update(seed=args.seed, total_seconds=time.perf_counter() - t0, loadavg=os.getloadavg())
    if run is not None:
        run.finish()
        env.update(load_text=run.load_text(), load_notes=list(run.notes), loaded=run.loaded)
    if "report" in stages or "final" in stages:
        write_report(df, out, cfg_name, cfg, env)
        logger.info("wrote %s", out / "results.md")
    return df


if __name__ == "__main__":
    main()
