"""Search spaces and trainers by method name: ``METHODS``, ``default_space``, the space format's
checks, ``defaults_in_space``, ``space_from_config``, ``make_trainer``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


#: how a walk method's item graph is built from a behaviour log (``inputs.graph_from_data``):
#: the same for every walk method (DeepWalk, node2vec, BGE, GES, EGES)
_GRAPH_CONSTRUCTION = {
    **_GRAPH_FROM_LOG,
    "graph_window": {"choices": [1, 2, 5, 20]},
    "distance_weighting": {"choices": ["uniform", "inverse"]},
    "popularity_exponent": {"float": [0.0, 1.0]},
}


#: methods that walk an item graph
WALK_METHODS = ("deepwalk", "node2vec", "bge", "ges", "eges")


_PQ = {"p": {"float": [0.25, 4.0], "log": True}, "q": {"float": [0.25, 4.0], "log": True}}


def default_space(method: str, task: str = "recommendation") -> dict[str, dict[str, Any]]:
    """The issue's search space for ``method`` and ``task`` (``recommendation`` or ``nodes``).

    Skip-gram methods: dim, window, epochs, negative, ns_exponent (-1 ... 1), sample, alpha;
    walk methods (DeepWalk, node2vec, BGE, GES, EGES) add walks per node, walk length (and p, q
    for node2vec) and, on a behaviour log, the same graph construction for all five (directed,
    min_rating, session_gap, graph_window: 1 = direct successions, w = items up to w steps
    apart, distance_weighting, popularity_exponent; see ``inputs.graph_from_data``); sequence
    item2vec: min_rating, session_gap. Node-classification epochs are capped lower (a graph of
    10k nodes costs ~1 min per epoch on one core). BGE / GES / EGES have no sub-sampling
    (``sample``); the side-information fields of GES / EGES depend on the data, so they are
    searched only when a config names them (``fields = { choices = ["all", "genres",
    "genres+tags"] }``: fields joined by ``+``, ``"all"`` = every field; ``decode_params``).
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
    if method in WALK_METHODS:
        space = {**sg, **_WALKS}
        if method == "node2vec":
            space.update(_PQ)
        if method in ("bge", "ges", "eges"):
            space.pop("sample")  # their compiled loop has no sub-sampling
        if task == "recommendation":
            space.update(_GRAPH_CONSTRUCTION)
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


def decode_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Searched values as trainer arguments: a ``fields`` string (a categorical choice holds
    no lists) becomes the list of fields joined by ``+`` in it, ``"all"`` becomes None (every
    field); anything else is passed through."""
    out = dict(params)
    f = out.get("fields")
    if isinstance(f, str):
        names = [x.strip() for x in f.split("+")]
        if not all(names):
            raise ValueError(f"fields {f!r}: expected field names joined by '+', or 'all'")
        out["fields"] = None if f == "all" else names
    return out


def make_trainer(method: str, params: Mapping[str, Any], random_state: Any = 0) -> Any:
    """The trainer of ``method`` with ``params`` (plus the method's fixed arguments).

    Skip-gram trainers run with ``workers=1`` and no progress bar, so a seed fixes the result.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {sorted(METHODS)}")
    path, fixed = METHODS[method]
    cls = _load_class(path)
    kwargs = {**fixed, **decode_params(params)}
    accepted = cls.param_names()  # the Trainer protocol (embeddings.base)
    if "workers" in accepted:
        kwargs.setdefault("workers", 1)
    if "progress" in accepted:
        kwargs["progress"] = False
    unknown = set(kwargs) - set(accepted)
    if unknown:
        raise ValueError(f"{method}: unknown parameters {sorted(unknown)}")
    return cls(**kwargs, random_state=random_state)


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
        if name == "fields" and default is None:
            default = "all"  # every field, as a searched choice (``decode_params``)
        if name in space and name not in fixed:
            try:
                out.update(_to_space({name: default}, {name: space[name]}))
            except ValueError:
                continue
    return {k: (None if v == "none" else v) for k, v in out.items()}


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
    allowed |= {"fixed", "modes", "warm_start"}  # warm_start: read by the runner
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
