"""Hyperparameter search on a validation split (Optuna TPE): seeded, resumable, with a budget.

One API for every trainer:

- ``tune(method, train, valid, ...)``: recommendation. Every trial fits ``method`` with the
  suggested parameters on ``train`` and scores ``metric`` (HR@10 by default) on ``valid``
  (``sessions.train_valid_test_split``: valid = each user's second-to-last positive); the query
  mode (I2I / U2I) is chosen on validation too (the better of ``modes`` is the trial's value and
  is recorded). The test split is never seen.
- ``tune_node_classification(method, graph, labels, node_ids, fit_nodes, valid_nodes, ...)``:
  Macro-F1 of a classifier fit on ``fit_nodes`` and scored on ``valid_nodes``
  (``evaluation.split_labelled_nodes``); the test nodes are never seen.

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

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embeddings.datasets.tables import Interactions

__all__ = [
    "METHODS",
    "TuneResult",
    "default_space",
    "defaults_in_space",
    "method_for_class",
    "make_trainer",
    "plot_history",
    "space_from_config",
    "tune",
    "tune_node_classification",
]

logger = logging.getLogger(__name__)

#: method name -> (trainer class path, fixed keyword arguments)
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "item2vec-sequence": ("embeddings.trainers:Item2Vec", {"mode": "sequence"}),
    "item2vec-set": ("embeddings.trainers:Item2Vec", {"mode": "set"}),
    "deepwalk": ("embeddings.trainers:DeepWalk", {}),
    "node2vec": ("embeddings.trainers:Node2Vec", {}),
    "bge": ("embeddings.eges:BGE", {}),
    "ges": ("embeddings.eges:GES", {}),
    "eges": ("embeddings.eges:EGES", {}),
    "itemknn": ("embeddings.baselines:ItemKNN", {}),
    "implicit-als": ("embeddings.baselines:ImplicitMF", {"model": "als"}),
    "implicit-bpr": ("embeddings.baselines:ImplicitMF", {"model": "bpr"}),
}

_SKIPGRAM = {
    "dim": {"int": [16, 128], "log": True},
    "window": {"int": [1, 20], "log": True},
    "epochs": {"int": [1, 30], "log": True},
    "negative": {"int": [2, 20], "log": True},
    "ns_exponent": {"float": [-1.0, 1.0]},
    "sample": {"float": [1e-5, 1e-1], "log": True},
    "alpha": {"float": [0.005, 0.1], "log": True},
}
_WALKS = {
    "num_walks": {"int": [2, 20], "log": True},
    "walk_length": {"int": [10, 80], "log": True},
}
_GRAPH_FROM_LOG = {
    "directed": {"choices": [True, False]},
    "min_rating": {"choices": ["none", 3.5]},
    "session_gap": {"choices": ["none", 3600, 86400]},
}
_PQ = {"p": {"float": [0.25, 4.0], "log": True}, "q": {"float": [0.25, 4.0], "log": True}}


def default_space(method: str, task: str = "recommendation") -> dict[str, dict[str, Any]]:
    """The issue's search space for ``method`` and ``task`` (``recommendation`` or ``nodes``).

    Skip-gram methods: dim, window, epochs, negative, ns_exponent (-1 ... 1), sample, alpha;
    walk methods add walks per node, walk length (and p, q for node2vec); on a behaviour log
    also the graph construction (directed, min_rating, session_gap, graph_window: 1 = direct
    successions, w = items up to w steps apart; sequence item2vec: min_rating, session_gap). Node-classification epochs are capped lower (a graph of 10k nodes
    costs ~1 min per epoch on one core). Side-information methods (BGE / GES / EGES) use the
    skip-gram and walk space; their side-information fields are a ``fixed`` choice of the caller.
    """
    if task not in ("recommendation", "nodes"):
        raise ValueError(f"task must be 'recommendation' or 'nodes', got {task!r}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {sorted(METHODS)}")
    sg = dict(_SKIPGRAM)
    if task == "nodes":
        sg["epochs"] = {"int": [1, 5]}
        sg["window"] = {"int": [2, 10]}
    if method.startswith("item2vec"):
        space = {**sg}
        space["min_rating"] = _GRAPH_FROM_LOG["min_rating"]
        if method == "item2vec-sequence":
            space["session_gap"] = _GRAPH_FROM_LOG["session_gap"]
        else:
            space.pop("window")
            space["epochs"] = {"int": [1, 10]}
            space["max_set_size"] = {"choices": [50, 100, 200]}
        return space
    if method in ("deepwalk", "node2vec", "bge", "ges", "eges"):
        space = {**sg, **_WALKS}
        if method == "node2vec":
            space.update(_PQ)
        if task == "recommendation":
            if method in ("deepwalk", "node2vec"):
                space.update(_GRAPH_FROM_LOG)
                space["graph_window"] = {"choices": [1, 2, 5, 20]}
            else:
                space["min_rating"] = _GRAPH_FROM_LOG["min_rating"]
        return space
    if task == "nodes":
        raise ValueError(f"{method} is a recommendation baseline, not a node embedding")
    if method == "itemknn":
        return {
            "similarity": {"choices": ["cosine", "cooccurrence"]},
            "min_rating": _GRAPH_FROM_LOG["min_rating"],
        }
    space = {
        "factors": {"int": [16, 256], "log": True},
        "regularization": {"float": [1e-4, 1.0], "log": True},
        "iterations": {"int": [5, 50], "log": True},
        "min_rating": _GRAPH_FROM_LOG["min_rating"],
    }
    if method == "implicit-als":
        space["alpha"] = {"float": [0.1, 50.0], "log": True}
    else:
        space["learning_rate"] = {"float": [1e-3, 0.1], "log": True}
        space["iterations"] = {"int": [20, 300], "log": True}
    return space


def _check_space(space: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    if not isinstance(space, Mapping) or not space:
        raise ValueError("space: expected a non-empty table of parameters")
    out = {}
    for name, spec in space.items():
        if not isinstance(spec, Mapping):
            raise ValueError(f"space[{name!r}]: expected a table, got {spec!r}")
        kinds = [k for k in ("int", "float", "choices") if k in spec]
        if len(kinds) != 1:
            raise ValueError(f"space[{name!r}]: give exactly one of int / float / choices")
        kind = kinds[0]
        extra = set(spec) - {kind, "log", "step"}
        if extra:
            raise ValueError(f"space[{name!r}]: unknown keys {sorted(extra)}")
        if kind == "choices":
            ch = list(spec["choices"])
            if not ch:
                raise ValueError(f"space[{name!r}]: empty choices")
        else:
            lo, hi = spec[kind]
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
                raise ValueError(f"space[{name!r}]: bad range [{lo}, {hi}]")
            if spec.get("log") and lo <= 0:
                raise ValueError(f"space[{name!r}]: log scale needs a positive low bound")
        out[name] = dict(spec)
    return out


def _suggest(trial: Any, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, spec in space.items():
        if "int" in spec:
            lo, hi = spec["int"]
            params[name] = trial.suggest_int(
                name, int(lo), int(hi), log=bool(spec.get("log", False)), step=spec.get("step", 1)
            )
        elif "float" in spec:
            lo, hi = spec["float"]
            params[name] = trial.suggest_float(
                name, float(lo), float(hi), log=bool(spec.get("log", False)), step=spec.get("step")
            )
        else:
            v = trial.suggest_categorical(name, list(spec["choices"]))
            params[name] = None if v == "none" else v
    return params


def _load_class(path: str) -> Any:
    import importlib

    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def method_for_class(class_path: str, params: Mapping[str, Any] | None = None) -> str:
    """The ``METHODS`` key of a config's ``class = "module:Class"`` with its ``params``
    (e.g. ``("embeddings.trainers:Item2Vec", {"mode": "set"})`` -> ``"item2vec-set"``), so a
    runner can search the methods of its config. ``ValueError`` for a class with no search."""
    params = dict(params or {})
    best = None
    for key, (path, fixed) in METHODS.items():
        if path != class_path:
            continue
        # a fixed argument left out of params counts as the trainer's default
        if all(params.get(k, v if k != "mode" else "sequence") == v for k, v in fixed.items()):
            if best is None or len(fixed) > len(METHODS[best][1]):
                best = key
    if best is None:
        raise ValueError(f"no search defined for {class_path} with {params}")
    return best


def make_trainer(method: str, params: Mapping[str, Any], random_state: Any = 0) -> Any:
    """The trainer of ``method`` with ``params`` (plus the method's fixed arguments).

    Skip-gram trainers run with ``workers=1`` and no progress bar, so a seed fixes the result.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {sorted(METHODS)}")
    path, fixed = METHODS[method]
    cls = _load_class(path)
    kwargs = {**fixed, **params}
    accepted = cls.param_names()  # the Trainer protocol (embeddings.base)
    if "workers" in accepted:
        kwargs.setdefault("workers", 1)
    if "progress" in accepted:
        kwargs["progress"] = False
    unknown = set(kwargs) - set(accepted)
    if unknown:
        raise ValueError(f"{method}: unknown parameters {sorted(unknown)}")
    return cls(**kwargs, random_state=random_state)


@dataclass
class TuneResult:
    """Outcome of a search.

    Attributes:
        method: the method searched.
        best_params: the best trial's parameters merged with the fixed ones (ready for
            ``make_trainer``).
        best_value: its validation figure.
        best_attrs: what the best trial recorded (e.g. ``mode``: the better query mode).
        history: one row per trial: number, value, state, seconds, best_so_far, the parameters
            (``params_*``) and recorded attributes (``attr_*``).
        study_name, objective: name of the Optuna study and of the figure maximised.
    """

    method: str
    best_params: dict[str, Any]
    best_value: float
    best_attrs: dict[str, Any]
    history: pd.DataFrame
    study_name: str
    objective: str
    extra: dict[str, Any] = field(default_factory=dict)


def _storage(storage: Any) -> Any:
    if storage is None:
        return None
    s = str(storage)
    if s.endswith((".log", ".jsonl")) and "://" not in s:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        Path(s).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(s))
    return storage


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's own logger at WARNING inside our calls (its per-study and per-trial INFO lines
    go to stderr through its own handler); the level the user had is restored on exit, and no
    other logger is touched."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _run_study(
    objective: Callable[[dict[str, Any]], tuple[float, dict[str, Any]]],
    method: str,
    space: Mapping[str, Mapping[str, Any]],
    fixed: Mapping[str, Any],
    n_trials: int | None,
    timeout: float | None,
    random_state: int,
    storage: Any,
    study_name: str,
    objective_name: str,
    initial: Any = None,
) -> TuneResult:
    import optuna

    if n_trials is None and timeout is None:
        raise ValueError("give a budget: n_trials and/or timeout (seconds)")
    if n_trials is not None and (not isinstance(n_trials, int | np.integer) or n_trials < 1):
        raise ValueError(f"n_trials must be an int >= 1, got {n_trials}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    if not isinstance(random_state, int | np.integer):
        raise ValueError(
            f"random_state must be an int (it seeds the sampler), got {random_state!r}"
        )
    space = _check_space(space)
    clash = set(space) & set(fixed)
    if clash:
        raise ValueError(f"parameters both searched and fixed: {sorted(clash)}")
    # TPE starts with random draws (Optuna's default: 10) before it models anything: with a
    # budget of 10-15 trials that is all random search. A third of the budget (3..10) is random.
    startup = 10 if n_trials is None else max(3, min(10, int(n_trials) // 3))
    sampler = optuna.samplers.TPESampler(seed=int(random_state), n_startup_trials=startup)
    with _quiet_optuna():  # its "A new study created" INFO line, not the user's logging
        study = optuna.create_study(
            study_name=study_name,
            storage=_storage(storage),
            sampler=sampler,
            direction="maximize",
            load_if_exists=True,
        )
    if initial and not study.trials:  # a new study evaluates these settings first
        for params in initial:
            study.enqueue_trial(_to_space(params, space))
    done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    remaining = None if n_trials is None else max(0, int(n_trials) - done)

    def _objective(trial: Any) -> float:
        params = {**_suggest(trial, space), **fixed}
        t0 = time.perf_counter()
        value, attrs = objective(params)
        for k, v in attrs.items():
            trial.set_user_attr(k, v)
        trial.set_user_attr("seconds", time.perf_counter() - t0)
        return value

    if remaining is None or remaining > 0:
        with _quiet_optuna():
            study.optimize(_objective, n_trials=remaining, timeout=timeout, n_jobs=1)
    history = _history(study)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise ValueError(f"{method}: no trial finished within the budget")
    best = study.best_trial
    best_params = {k: (None if v == "none" else v) for k, v in best.params.items()} | dict(fixed)
    return TuneResult(
        method=method,
        best_params=best_params,
        best_value=float(best.value),
        best_attrs=dict(best.user_attrs),
        history=history,
        study_name=study.study_name,
        objective=objective_name,
    )


def _to_space(params: Mapping[str, Any], space: Mapping[str, Mapping[str, Any]]) -> dict:
    """``params`` restricted to ``space`` (None written as "none"); values outside the space
    raise ``ValueError``."""
    out = {}
    for k, v in params.items():
        if k not in space:
            continue
        spec = space[k]
        v = "none" if v is None else v
        if "choices" in spec:
            if v not in list(spec["choices"]):
                raise ValueError(f"initial {k}={v!r} is not among the choices {spec['choices']}")
        else:
            lo, hi = spec["int"] if "int" in spec else spec["float"]
            if not lo <= v <= hi:
                raise ValueError(f"initial {k}={v!r} is outside [{lo}, {hi}]")
        out[k] = v
    return out


def defaults_in_space(method: str, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The trainer's own defaults for the searched parameters that the space can hold (what
    ``initial=[...]`` needs so that a search starts from the library defaults)."""
    cls = _load_class(METHODS[method][0])
    fixed = METHODS[method][1]
    out = {}
    for name, default in cls().get_params().items():  # a trainer made with its defaults
        if name in space and name not in fixed:
            try:
                out.update(_to_space({name: default}, {name: space[name]}))
            except ValueError:
                continue
    return {k: (None if v == "none" else v) for k, v in out.items()}


def _history(study: Any) -> pd.DataFrame:
    rows = []
    for t in study.trials:
        row: dict[str, Any] = {
            "number": t.number,
            "value": t.value if t.value is not None else np.nan,
            "state": t.state.name,
        }
        row.update({f"params_{k}": v for k, v in t.params.items()})
        row.update({f"attr_{k}": v for k, v in t.user_attrs.items()})
        rows.append(row)
    df = pd.DataFrame(rows)
    if len(df):
        df["best_so_far"] = df["value"].where(df["state"] == "COMPLETE").cummax()
    return df


def tune(
    method: str,
    train: Interactions,
    valid: Interactions,
    space: Mapping[str, Any] | None = None,
    n_trials: int | None = 20,
    timeout: float | None = None,
    random_state: int = 0,
    storage: Any = None,
    study_name: str | None = None,
    fixed: Mapping[str, Any] | None = None,
    metric: str = "hit_rate@10",
    modes: tuple[str, ...] = ("i2i", "u2i"),
    side_info: Any = None,
    initial: Any = None,
    min_rating: float | None = None,
) -> TuneResult:
    """Search ``method``'s hyperparameters on (train, valid) of a behaviour log.

    Args:
        method: a key of ``METHODS`` (e.g. ``"item2vec-sequence"``, ``"deepwalk"``).
        train, valid: from ``sessions.train_valid_test_split`` (never the test split).
        space: search space (default ``default_space(method)``); ``fixed``: constant params.
        n_trials, timeout: the budget (trials and/or seconds); at least one.
        random_state: seeds the TPE sampler and every trial's trainer (same seed, same search).
        storage, study_name: Optuna storage (URL, or a ``.log`` journal path) to resume from.
        metric: figure maximised (``hit_rate@K``, ``recall@K`` or ``ndcg@K``).
        modes: query modes tried per trial (``i2i``, ``u2i``); the better one counts.
        side_info: passed to ``fit`` (EGES / GES).
        initial: settings evaluated first by a new study (e.g. ``[defaults_in_space(method,
            space)]``, so the search never ends below the library defaults).
        min_rating: the split's positive threshold: U2I user vectors average only the
            training items rated >= it (``evaluate_u2i(min_rating=...)``), as the untuned
            validation and the final evaluation do; None = every training item.

    Embedding methods are searched by cosine; ``itemknn`` uses its own metric; ``implicit-*``
    score U2I by inner product with their own user factors.
    """
    from embeddings.evaluation import evaluate_i2i, evaluate_u2i

    k = int(metric.split("@")[1]) if "@" in metric else 10
    if min_rating is not None and not (
        isinstance(min_rating, int | float | np.number) and math.isfinite(min_rating)
    ):
        raise ValueError(f"min_rating must be a finite number or None, got {min_rating!r}")
    for m in modes:
        if m not in ("i2i", "u2i"):
            raise ValueError(f"unknown mode {m!r} (i2i or u2i)")
    space = default_space(method) if space is None else space

    def objective(params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        trainer = make_trainer(method, params, random_state)
        emb = trainer.fit(train, side_info) if side_info is not None else trainer.fit(train)
        scores: dict[str, float] = {}
        if method.startswith("implicit"):
            r = evaluate_u2i(
                emb, train, valid, k, metric="ip", user_embeddings=trainer.user_embeddings
            )
            scores["u2i"] = float(r[metric])
        else:
            i2i_metric = emb.meta.get("metric", "cosine")
            if "i2i" in modes:
                scores["i2i"] = float(evaluate_i2i(emb, train, valid, k, metric=i2i_metric)[metric])
            if "u2i" in modes:
                u2i_metric = emb.meta.get("u2i_metric", "cosine")
                r = evaluate_u2i(emb, train, valid, k, metric=u2i_metric, min_rating=min_rating)
                scores["u2i"] = float(r[metric])
        mode = max(scores, key=lambda m: scores[m])
        attrs = {"mode": mode, **{f"{metric}_{m}": v for m, v in scores.items()}}
        return scores[mode], attrs

    return _run_study(
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
) -> TuneResult:
    """Search ``method`` (deepwalk / node2vec) on a labelled graph's validation fold.

    ``fit_nodes`` / ``valid_nodes`` from ``evaluation.split_labelled_nodes`` (the test nodes stay
    out); each trial embeds the whole graph (unsupervised) and scores ``metric`` (``macro_f1`` or
    ``micro_f1``) of the classifier fit on ``fit_nodes`` on ``valid_nodes``.
    """
    from embeddings.evaluation import node_classification_holdout

    if metric not in ("macro_f1", "micro_f1"):
        raise ValueError(f"metric must be macro_f1 or micro_f1, got {metric!r}")
    space = default_space(method, "nodes") if space is None else space

    def objective(params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        emb = make_trainer(method, params, random_state).fit(graph)
        r = node_classification_holdout(emb, labels, node_ids, fit_nodes, valid_nodes)
        other = "micro_f1" if metric == "macro_f1" else "macro_f1"
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
        f"validation {metric}",
        initial,
    )


def space_from_config(tuning: Mapping[str, Any], method: str) -> dict[str, Any]:
    """Read a config's ``[tuning]`` table for one method.

    Format (TOML)::

        [tuning]
        n_trials = 20            # budget in trials ...
        timeout = 600            # ... and/or seconds (optional)
        random_state = 0
        storage = "reports/x/search.db"   # optional: sqlite file or .log journal, resumable
        metric = "hit_rate@10"
        methods = ["item2vec-sequence", "deepwalk"]   # optional: which methods to search

        [tuning.space.deepwalk]  # optional: overrides default_space("deepwalk")
        ns_exponent = { float = [-1.0, 1.0] }
        directed = { choices = [true, false] }

        [tuning.fixed.deepwalk]  # optional: constant parameters
        dim = 64

    Returns the keyword arguments of ``tune`` for ``method`` (space, fixed, n_trials, timeout,
    random_state, storage, metric); a relative ``storage`` path becomes a sqlite URL.
    """
    allowed = {"n_trials", "timeout", "random_state", "storage", "metric", "methods", "space"}
    allowed |= {"fixed", "modes"}
    unknown = set(tuning) - allowed
    if unknown:
        raise ValueError(f"[tuning]: unknown keys {sorted(unknown)} (allowed {sorted(allowed)})")
    methods = tuning.get("methods")
    if methods is not None and method not in methods:
        raise ValueError(f"[tuning]: method {method!r} not in methods {list(methods)}")
    space = (tuning.get("space") or {}).get(method)
    out: dict[str, Any] = {
        "space": _check_space(space) if space is not None else None,
        "fixed": dict((tuning.get("fixed") or {}).get(method) or {}),
        "n_trials": tuning.get("n_trials", 20 if "timeout" not in tuning else None),
        "timeout": tuning.get("timeout"),
        "random_state": int(tuning.get("random_state", 0)),
        "metric": tuning.get("metric", "hit_rate@10"),
    }
    if "modes" in tuning:
        out["modes"] = tuple(tuning["modes"])
    st = tuning.get("storage")
    if st is not None:
        st = str(st)
        if "://" not in st and not st.endswith((".log", ".jsonl")):
            st = f"sqlite:///{Path(st).resolve()}"
        out["storage"] = st
    return out


def plot_history(
    history: pd.DataFrame,
    title: str | None = None,
    ax: Any = None,
    ylabel: str = "validation value",
) -> Any:
    """Validation value per trial (dots) and best so far (line); returns the ``Figure``."""
    import matplotlib.figure

    if not {"number", "value"} <= set(history.columns):
        raise ValueError("history needs columns number and value (TuneResult.history)")
    if ax is None:
        fig = matplotlib.figure.Figure(figsize=(5.5, 3.5))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    ok = history[history.get("state", "COMPLETE") == "COMPLETE"] if "state" in history else history
    ax.scatter(ok["number"], ok["value"], s=14, alpha=0.7, label="trial")
    ax.plot(ok["number"], ok["value"].cummax(), color="C3", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig
