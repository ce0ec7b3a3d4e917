"""Hyperparameter search on a validation split (Optuna TPE): seeded, resumable, with a budget.

One API for every trainer:

- ``tune(method, train, valid, ...)``: recommendation. Every trial fits ``method`` with the
  suggested parameters on ``train`` and scores ``metric`` (HR@10 by default) on ``valid``
  (``sessions.train_valid_test_split``: valid = each user's second-to-last positive); the query
  mode (I2I / U2I) is chosen on validation too (the better of ``modes`` is the trial's value and
  is recorded). The test split is never seen.
- ``tune_node_classification(method, graph, labels, node_ids, fit_nodes, valid_nodes, ...)``:
  Macro-F1 of a classifier fit on ``fit_nodes`` and scored on ``valid_nodes``
  (``evaluation.split_labelled_nodes``); the test nodes are never seen. ``classifier="select"``
  chooses the classifier's C and feature scaling on the same fold in every trial
  (``select_classifier``); ``sampler="grid"`` visits every point of an all-``choices`` space
  once in a seeded order (the node2vec paper's p, q in {0.25, 0.5, 1, 2, 4}); the grid is then
  the budget.

Both return a ``TuneResult`` (best parameters, best value, history DataFrame) and accept:
``space`` (default ``default_space(method, task)``), ``n_trials`` and/or ``timeout`` (seconds;
the budget), ``random_state`` (seeds Optuna's ``TPESampler`` and every trial's trainer, which
runs with ``workers=1``: same seed, same trials, same best parameters; the first third of
``n_trials``, 3 to 10, are TPE's random start-up draws), ``storage`` (an Optuna
storage URL such as ``sqlite:///search.db``, or a path ending in ``.log`` / ``.jsonl`` for a
journal file) and ``study_name``: a study found in the storage is resumed, and ``n_trials`` is
then the total budget (finished trials count). A resumed study continues the same search but is
not bit-identical to an uninterrupted one (the sampler's random state restarts).

Search space format (also the ``[tuning.space.<method>]`` tables of a config, see
``space_from_config``): ``{"dim": {"int": [16, 128], "log": True}, "ns_exponent":
{"float": [-1.0, 1.0]}, "directed": {"choices": [True, False]}}``; the string ``"none"`` in
``choices`` stands for ``None`` (TOML has no null). ``fixed`` parameters are passed to every
trial unchanged.

Why Optuna: maintained, TPE handles mixed int / float / categorical spaces with log scales, its
storages make a search resumable and inspectable, and its sampler is seeded.
"""

from __future__ import annotations

from embeddings.tuning.search import tune, tune_node_classification
from embeddings.tuning.spaces import (
    METHODS,
    decode_params,
    default_space,
    defaults_in_space,
    make_trainer,
    method_for_class,
    space_from_config,
)
from embeddings.tuning.study import TuneResult, plot_history

__all__ = [
    "METHODS",
    "TuneResult",
    "decode_params",
    "default_space",
    "defaults_in_space",
    "method_for_class",
    "make_trainer",
    "plot_history",
    "space_from_config",
    "tune",
    "tune_node_classification",
]
