"""The two searches: ``tune`` (recommendation, HR@K on a validation split) and
``tune_node_classification`` (Macro-F1 on a validation fold)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from embeddings.datasets.tables import Interactions
from embeddings.evaluation.recommend import QueryMode, query_modes
from embeddings.sessions import ValidationEvents
from embeddings.tuning.scoring import best_mode, validation_scores
from embeddings.tuning.spaces import decode_params, default_space, make_trainer
from embeddings.tuning.study import TuneResult, _run_study


def tune(
    method: str,
    train: Interactions,
    valid: Interactions | ValidationEvents,
    space: Mapping[str, Any] | None = None,
    n_trials: int | None = 20,
    timeout: float | None = None,
    random_state: int = 0,
    storage: Any = None,
    study_name: str | None = None,
    fixed: Mapping[str, Any] | None = None,
    metric: str = "hit_rate@10",
    modes: str | Iterable[str | QueryMode] = ("i2i", "u2i"),
    side_info: Any = None,
    initial: Any = None,
    min_rating: float | None = None,
) -> TuneResult:
    """Search ``method``'s hyperparameters on (train, valid) of a behaviour log.

    Args:
        method: a key of ``METHODS`` (e.g. ``"item2vec-sequence"``, ``"deepwalk"``).
        train, valid: from ``sessions.train_valid_test_split`` (never the test split), or
            ``valid`` the ``ValidationEvents`` of ``sessions.validation_split`` (several events
            per user, each predicted from the events before it: ``scoring.validation_scores``;
            the trial records ``<metric>_<mode>_last``, the event before test alone, too).
        space: search space (default ``default_space(method)``); ``fixed``: constant params.
        n_trials, timeout: the budget (trials and/or seconds); at least one.
        random_state: seeds the TPE sampler and every trial's trainer (same seed, same search).
        storage, study_name: Optuna storage (URL, or a ``.log`` journal path) to resume from.
        metric: figure maximised (``hit_rate@K``, ``recall@K`` or ``ndcg@K``).
        modes: query modes tried per trial (``i2i``, ``u2i``, recency modes such as
            ``"u2i:h=5"`` / ``"i2i:n=5,h=2"``, or ``"recency"`` for
            ``embeddings.evaluation.RECENCY_MODES``); the best one is the trial's value, and
            the trial records it (``mode``) with every mode's figure (``<metric>_<mode>``).
        side_info: passed to ``fit`` (EGES / GES).
        initial: settings evaluated first by a new study (e.g. ``[defaults_in_space(method,
            space)]``, so the search never ends below the library defaults).
        min_rating: the split's positive threshold: U2I user vectors average only the
            training items rated >= it (``evaluate_u2i(min_rating=...)``), as the untuned
            validation and the final evaluation do; None = every training item.

    Embedding methods are searched by cosine; ``itemknn`` uses its own metric; ``implicit-*``
    score U2I by inner product with their own user factors.
    """
    if min_rating is not None and not (
        isinstance(min_rating, int | float | np.number) and math.isfinite(min_rating)
    ):
        raise ValueError(f"min_rating must be a finite number or None, got {min_rating!r}")
    modes = query_modes(modes)  # ValueError naming a bad mode, before any trial
    space = default_space(method) if space is None else space

    def objective(params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        trainer = make_trainer(method, params, random_state)
        emb = trainer.fit(train, side_info) if side_info is not None else trainer.fit(train)
        if method.startswith("implicit"):
            scores = validation_scores(
                emb,
                train,
                valid,
                metric,
                ("u2i",),
                u2i_metric="ip",
                user_embeddings=trainer.user_embeddings,
            )
        else:
            scores = validation_scores(
                emb,
                train,
                valid,
                metric,
                modes,
                min_rating,
                i2i_metric=emb.meta.get("metric", "cosine"),
                u2i_metric=emb.meta.get("u2i_metric", "cosine"),
            )
        mode = best_mode(scores)
        attrs = {"mode": mode, **{f"{metric}_{m}": v for m, v in scores.items()}}
        return scores[mode], attrs

    res = _run_study(
        objective,
        method,
        space,
        dict(fixed or {}),
        n_trials,
        timeout,
        random_state,
        storage,
        study_name or f"{method}-{train.name}",
        f"validation {metric}",
        initial,
    )
    res.best_params = decode_params(res.best_params)
    return res


def tune_node_classification(
    method: str,
    graph: Any,
    labels: Any,
    node_ids: Any,
    fit_nodes: Any,
    valid_nodes: Any,
    space: Mapping[str, Any] | None = None,
    n_trials: int | None = 20,
    timeout: float | None = None,
    random_state: int = 0,
    storage: Any = None,
    study_name: str | None = None,
    fixed: Mapping[str, Any] | None = None,
    metric: str = "macro_f1",
    initial: Any = None,
    sampler: str = "tpe",
    classifier: str = "papers",
    cv_folds: int | None = None,
) -> TuneResult:
    """Search ``method`` (deepwalk / node2vec) on a labelled graph's validation fold.

    ``fit_nodes`` / ``valid_nodes`` from ``evaluation.split_labelled_nodes`` (the test nodes stay
    out); each trial embeds the whole graph (unsupervised) and scores ``metric`` (``macro_f1`` or
    ``micro_f1``) of the classifier fit on ``fit_nodes`` on ``valid_nodes``.

    ``classifier``: ``"papers"`` (one-vs-rest logistic regression, C = 1, raw vectors) or
    ``"select"`` (C and feature scaling chosen per trial by ``select_classifier`` on the same
    fold; the trial records ``C`` and ``standardise``). ``sampler``: ``"tpe"``, or ``"grid"``
    when every parameter of ``space`` is a ``choices`` list (e.g. the node2vec paper's p, q in
    {0.25, 0.5, 1, 2, 4}): every point once, in a seeded order, ``n_trials`` capped at the grid.
    ``cv_folds``: score each trial by ``cv_folds``-fold cross-validation over ``fit_nodes +
    valid_nodes`` instead of the one fold (``evaluation.cross_validate_classifier``; folds
    seeded by ``random_state``, the same in every trial); the trial records the folds' sd.
    """
    from embeddings.evaluation import (
        cross_validate_classifier,
        node_classification_holdout,
        select_classifier,
    )

    if metric not in ("macro_f1", "micro_f1"):
        raise ValueError(f"metric must be macro_f1 or micro_f1, got {metric!r}")
    if classifier not in ("papers", "select"):
        raise ValueError(f"classifier must be 'papers' or 'select', got {classifier!r}")
    if cv_folds is not None and (int(cv_folds) != cv_folds or cv_folds < 2):
        raise ValueError(f"cv_folds must be None or an integer >= 2, got {cv_folds}")
    space = default_space(method, "nodes") if space is None else space
    other = "micro_f1" if metric == "macro_f1" else "macro_f1"
    if np.intersect1d(np.asarray(fit_nodes), np.asarray(valid_nodes)).size:
        raise ValueError(
            "fit_nodes and valid_nodes overlap: a node must be in only one of them "
            "(use evaluation.split_labelled_nodes)"
        )
    train_nodes = None if cv_folds is None else np.concatenate([fit_nodes, valid_nodes])

    def objective(params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        emb = make_trainer(method, params, random_state).fit(graph)
        if cv_folds is not None:
            grid = {} if classifier == "select" else {"Cs": (1.0,), "standardise": (False,)}
            chosen, table = cross_validate_classifier(
                emb, labels, node_ids, train_nodes, n_folds=cv_folds, metric=metric,
                random_state=random_state, **grid,
            )  # fmt: skip
            pick = (table["C"] == chosen["C"]) & (table["standardise"] == chosen["standardise"])
            attrs = {other: float(table.loc[pick, other].mean()), "C": chosen["C"],
                     "standardise": chosen["standardise"], f"{metric}_sd": chosen[f"{metric}_sd"]}  # fmt: skip
            return chosen[metric], attrs
        if classifier == "select":
            chosen, table = select_classifier(
                emb, labels, node_ids, fit_nodes, valid_nodes, metric=metric
            )
            row = table[
                (table["C"] == chosen["C"]) & (table["standardise"] == chosen["standardise"])
            ]
            attrs = {other: float(row[other].iloc[0]), "C": chosen["C"]}
            return chosen[metric], attrs | {"standardise": chosen["standardise"]}
        r = node_classification_holdout(emb, labels, node_ids, fit_nodes, valid_nodes)
        return float(r[metric]), {other: float(r[other])}

    return _run_study(
        objective,
        method,
        space,
        dict(fixed or {}),
        n_trials,
        timeout,
        random_state,
        storage,
        study_name or f"{method}-nodes",
        (f"{cv_folds}-fold cross-validated {metric}" if cv_folds else f"validation {metric}")
        + (" (classifier chosen on it)" if classifier == "select" else ""),
        initial,
        sampler,
    )
