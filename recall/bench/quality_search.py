"""Stage *search* of the quality benchmark: Optuna TPE on the validation split / fold.

Recommendation: one search per (data set, method) on (train, valid), the query mode chosen with
the hyperparameters. Node classification: one search per walk method on the validation fold of
the labelled graphs in ``--node-search``. Each search writes ``search/<key>.csv|json`` and
``plots/search_<key>.png`` under ``--out``; :func:`load_best` reads them back for the final stage.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from embeddings.evaluation import split_labelled_nodes
from embeddings.sessions import train_valid_test_split
from embeddings.tuning import (
    default_space,
    defaults_in_space,
    plot_history,
    tune,
    tune_node_classification,
)
from recall.bench.quality_protocol import (
    NODE_SPACE,
    PQ_GRID,
    PQ_GRID_KEY,
    REC_WALK_SPACE,
    rec_data,
    safe_name,
)

logger = logging.getLogger(__name__)


def _space(method: str, rec_walk_space: dict[str, Any]) -> dict[str, Any] | None:
    """The search space of a recommendation method (``None``: ``default_space``)."""
    if method in ("deepwalk", "node2vec"):
        space = dict(rec_walk_space)
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


def load_best(out: Path, key: str) -> dict[str, Any] | None:
    """The best setting a search saved under ``out/search/<key>.json`` (``None``: not run)."""
    p = out / "search" / f"{key}.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None


def run_search(
    cfg: dict[str, Any],
    root: Path,
    out: Path,
    methods: list[str],
    seed: int,
    cache: Path,
    *,
    rec_walk_space: dict[str, Any] = REC_WALK_SPACE,
    node_space: dict[str, Any] = NODE_SPACE,
) -> None:
    """Optuna searches on validation; results in ``out/search`` (resumable via ``cache``).

    ``rec_walk_space`` / ``node_space``: the walk search spaces on the recommendation logs and
    on the labelled graphs.
    """
    for ds in cfg["rec_datasets"]:
        inter = rec_data(ds, cfg, root, seed)
        if inter is None:
            continue
        train, valid, _ = train_valid_test_split(inter, random_state=seed)
        for method in methods:
            if method not in cfg["trials"] or method.startswith("node:"):
                continue
            key = f"{safe_name(ds)}__{method}"
            t0 = time.perf_counter()
            space = _space(method, rec_walk_space) or default_space(method)
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
        grid = cfg.get("node_search_mode") == "pq-grid"
        if grid and "node2vec" not in methods:
            logger.warning("--node-pq-grid searches node2vec's p, q only: nothing to search on %s "
                           "for %s", ds, methods)  # fmt: skip
        for method in ("deepwalk", "node2vec"):
            if method not in methods or (grid and method != "node2vec"):
                continue  # the p, q grid has nothing to search for DeepWalk (p = q = 1)
            folds = cfg.get("node_cv_folds")
            key = (
                f"{ds}__{method}" + (PQ_GRID_KEY if grid else "") + (f"-cv{folds}" if folds else "")
            )
            space = dict(PQ_GRID if grid else node_space)
            if method == "node2vec" and not grid:
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
                initial=None if grid else [defaults_in_space(method, space)],
                n_trials=None if grid else cfg["trials"][f"node:{method}"],
                timeout=None if grid else cfg["timeout"],  # the grid is the budget
                random_state=seed,
                storage=str(cache / f"{key}.log"),
                study_name=key,
                sampler="grid" if grid else "tpe",
                classifier="select" if grid else "papers",
                cv_folds=folds,
            )
            _save_search(out, key, res)
            logger.info(
                "search %s: best %.4f in %.0f s, %s",
                key,
                res.best_value,
                time.perf_counter() - t0,
                res.best_params,
            )
