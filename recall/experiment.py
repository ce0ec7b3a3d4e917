"""The experiment runner behind ``embrecall run CONFIG``.

An experiment is one TOML file (see ``configs/default.toml``)::

    name = "default"            # output folder reports/<name>/
    seeds = [0]
    k = [10]                    # K of HR@K / Recall@K / NDCG@K and of knn-recall@K
    n_queries = 500             # queries for knn-recall and QPS (user vectors of test users)

    [data]     source = "synthetic" | "movielens" | "csv";  path / variant / columns;  [data.params]
    [split]    kind = "leave_last_out" | "temporal";  min_rating;  n_last / test_fraction
    [[methods]]  name, class = "module:Class", [methods.params]
    [[indexes]]  name, family, class = "module:Class", [indexes.params], [indexes.search_grid]

The whole config is validated against a schema before any work starts (``parse_config``: unknown
keys with a did-you-mean suggestion, types, safe names, classes that are trainers / indexes).

Stages: load data -> split -> train every method (cached by method, seed, code and a content
fingerprint of the data and split) -> evaluate it (exact search) -> build every index on every
method's vectors -> knn-recall@K against exact ground truth (cached), single-query and batched
QPS, build time, memory, mean candidates -> the same recommendation metrics through the index (end
to end) -> results.csv, quality.csv, plots, report.md, config.resolved.json, environment.json and
run.json, written into a staging folder and switched in complete: by default a fresh
``runs/<name>-<timestamp>/``; the committed ``reports/<name>/`` only when asked for.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import inspect
import itertools
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from embeddings import Embeddings
from embeddings._io import atomic_write
from embeddings.datasets import Interactions, ItemSideInfo
from recall.base import MAX_K

logger = logging.getLogger(__name__)

__all__ = [
    "ExperimentConfig",
    "load_config",
    "resolve_data_path",
    "import_object",
    "run_experiment",
    "select",
    "check_run_folder",
    "data_fingerprint",
    "default_run_folder",
    "load_data",
    "split_data",
    "train_method",
    "benchmark_indexes",
]

REPO_ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------- config
@dataclass
class ExperimentConfig:
    """A parsed and validated experiment config (``raw`` keeps the resolved TOML content)."""

    name: str
    raw: dict[str, Any]
    path: Path | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    k: list[int] = field(default_factory=lambda: [10])
    n_queries: int = 500
    single_query_max: int = 300

    @property
    def methods(self) -> list[dict[str, Any]]:
        return list(self.raw.get("methods", []))

    @property
    def indexes(self) -> list[dict[str, Any]]:
        return list(self.raw.get("indexes", []))


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> ExperimentConfig:
    """Read and validate a TOML experiment config; ``ValueError`` naming what is wrong."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no config file at {p}")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{p}: malformed TOML ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{p}: not UTF-8 text ({exc})") from exc
    raw.update(overrides or {})
    return parse_config(raw, p)


# ---------------------------------------------------------------------- the config schema
#: modules whose classes a ``[[methods]]`` / ``[[indexes]]`` entry may name (exact module match:
#: the class must be defined there, not merely re-exported)
TRAINER_MODULES: tuple[str, ...] = ("embeddings.trainers", "embeddings.eges")
INDEX_MODULES: tuple[str, ...] = ("recall.exact", "recall.lsh", "recall.peers")
#: a name that becomes part of a file or folder name: letters, digits, ``_ . + -``, no path parts
SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+\-]{0,99}$")

_TOP_KEYS = (
    "name",
    "description",
    "seeds",
    "k",
    "n_queries",
    "single_query_max",
    "data",
    "split",
    "evaluation",
    "methods",
    "indexes",
    "tuning",
)
#: keys of ``[data]`` per source (``params`` of the synthetic source are make_synthetic's)
DATA_SOURCES: dict[str, tuple[str, ...]] = {
    "synthetic": ("source", "params"),
    "movielens": ("source", "path", "variant"),
    "csv": ("source", "path", "columns", "sep", "rating_default"),
    "file": ("source", "path", "columns", "sep", "rating_default"),
}
_SPLIT_KINDS: dict[str, tuple[str, ...]] = {
    "leave_last_out": ("kind", "n_last", "min_rating"),
    "temporal": ("kind", "test_fraction", "min_rating"),
}
_EVAL_KEYS = ("metric", "e2e_mode")
_METHOD_KEYS = ("name", "class", "params", "description")
_INDEX_KEYS = (
    "name",
    "family",
    "class",
    "params",
    "build_grid",
    "search_grid",
    "tune",
    "description",
)
#: tune_lsh arguments the runner sets itself
_TUNE_FIXED = ("vectors", "queries", "k", "metric", "random_state", "progress")


def _suggest(word: Any, options: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_keys(table: Mapping[str, Any], allowed: Any, where: str, problems: list[str]) -> None:
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            problems.append(
                f"{where}: unknown key {key!r}{_suggest(key, allowed)} "
                f"(allowed: {', '.join(allowed)})"
            )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _int_list(
    raw: Mapping[str, Any],
    key: str,
    default: list[int],
    lo: int,
    problems: list[str],
    unique: bool = True,
) -> list[int]:
    """A list of ints >= lo (a single int is one element); a string or float is an error."""
    if key not in raw:
        return list(default)
    val = raw[key]
    items = [val] if _is_int(val) else val
    if not isinstance(items, list) or not items:
        problems.append(f"{key} must be a non-empty list of integers, got {val!r}")
        return list(default)
    bad = [v for v in items if not _is_int(v) or v < lo]
    if bad:
        problems.append(f"{key} must hold integers >= {lo}, got {bad[0]!r} in {val!r}")
        return list(default)
    if unique and len(set(items)) != len(items):
        problems.append(f"{key} holds duplicates: {val!r}")
    return [int(v) for v in items]


def _check_name(value: Any, label: str, problems: list[str]) -> None:
    if not isinstance(value, str) or not SAFE_NAME_RE.match(value) or ".." in value:
        problems.append(
            f"{label} {value!r} must be a plain file name: letters, digits, '_', '.', '+', '-' "
            "(no '/', no '..', at most 100 characters)"
        )


def _annotation_ok(value: Any, ann: Any) -> bool | None:
    """Whether ``value`` fits the type annotation ``ann`` (None: cannot tell, accept)."""
    import types
    import typing

    if ann is inspect.Parameter.empty or ann is Any:
        return None
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return value in typing.get_args(ann)
    if origin in (typing.Union, types.UnionType):
        verdicts = [_annotation_ok(value, a) for a in typing.get_args(ann)]
        if any(v is None for v in verdicts):
            return None
        return any(verdicts)
    if ann is type(None):
        return value is None
    if ann is bool:
        return isinstance(value, bool)
    if ann is int:
        return _is_int(value)
    if ann is float:
        return _is_num(value)
    if ann is str:
        return isinstance(value, str)
    if origin in (tuple, list) or ann in (tuple, list):
        return isinstance(value, list | tuple)
    if origin is dict or ann is dict:
        return isinstance(value, dict)
    return None


def _type_text(ann: Any) -> str:
    return str(ann).replace("typing.", "") if not isinstance(ann, type) else ann.__name__


def _check_params(
    cls: Any, params: Any, where: str, problems: list[str], label: str = "params"
) -> None:
    """Keys of ``params`` must be constructor arguments of ``cls`` (did-you-mean on typos) and
    values must fit their annotations where these are simple (int, float, str, bool, Literal)."""
    import typing

    if not isinstance(params, dict):
        problems.append(f"{where}: {label} must be a table, got {params!r}")
        return
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return
    named = {
        n: prm
        for n, prm in sig.parameters.items()
        if prm.kind in (prm.POSITIONAL_OR_KEYWORD, prm.KEYWORD_ONLY)
    }
    takes_kwargs = any(prm.kind == prm.VAR_KEYWORD for prm in sig.parameters.values())
    try:
        hints = typing.get_type_hints(cls.__init__ if isinstance(cls, type) else cls)
    except Exception:  # noqa: BLE001 - unresolvable annotations: skip the type check
        hints = {}
    for key, val in params.items():
        if key not in named:
            if not takes_kwargs:
                problems.append(
                    f"{where}: unknown {label} key {key!r} for {cls.__name__}"
                    f"{_suggest(key, named)} (valid: {', '.join(named)})"
                )
            continue
        if key in hints and _annotation_ok(val, hints[key]) is False:
            problems.append(
                f"{where}: {label}.{key} = {val!r} does not fit {cls.__name__}'s "
                f"{key}: {_type_text(hints[key])}"
            )


def _trainer_bases() -> tuple[type, ...]:
    from embeddings.eges import _SideInfoSkipGram
    from embeddings.trainers import Item2Vec, Node2Vec, Popularity

    return (Item2Vec, Node2Vec, Popularity, _SideInfoSkipGram)


def _is_kind(cls: type, kind: str) -> bool:
    from recall.base import Index

    if not isinstance(cls, type) or cls.__name__.startswith("_"):
        return False
    if kind == "methods":
        return issubclass(cls, _trainer_bases())
    return issubclass(cls, Index) and not inspect.isabstract(cls)


def resolve_class(spec: Any, kind: str) -> type:
    """``"module:Class"`` of a ``[[methods]]`` (kind ``"methods"``) or ``[[indexes]]`` entry ->
    the class. It must be defined in one of ``TRAINER_MODULES`` / ``INDEX_MODULES`` (exact
    module, never another module that merely starts alike) and be a trainer / concrete ``Index``
    subclass; ``ValueError`` otherwise. No module outside those lists is ever imported."""
    if kind not in ("methods", "indexes"):
        raise ValueError(f"kind must be 'methods' or 'indexes', got {kind!r}")
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ValueError(f"class {spec!r} must look like 'package.module:Class'")
    mod, _, name = spec.partition(":")
    allowed = TRAINER_MODULES if kind == "methods" else INDEX_MODULES
    what = "trainer" if kind == "methods" else "index"
    article = "a" if kind == "methods" else "an"
    if mod not in allowed:
        raise ValueError(
            f"class {spec!r}: {what} classes come from {', '.join(allowed)}{_suggest(mod, allowed)}"
        )
    module = importlib.import_module(mod)
    obj = getattr(module, name, None)
    if not (isinstance(obj, type) and obj.__module__ == mod and _is_kind(obj, kind)):
        public = sorted(
            n
            for n, v in vars(module).items()
            if isinstance(v, type) and v.__module__ == mod and _is_kind(v, kind)
        )
        raise ValueError(
            f"class {spec!r} is not {article} {what} class of {mod}{_suggest(name, public)} "
            f"(available: {', '.join(public)})"
        )
    return obj


def import_object(spec: str, kind: str = "methods") -> Any:
    """``"package.module:Name"`` of a trainer (``kind="methods"``) or index (``"indexes"``)
    class -> the class (see :func:`resolve_class`); ``ValueError`` for anything else."""
    return resolve_class(spec, kind)


def _check_data(data: Any, problems: list[str]) -> None:
    if not isinstance(data, dict):
        problems.append(f"[data] must be a table, got {data!r}")
        return
    source = data.get("source", "synthetic")
    if source not in DATA_SOURCES:
        problems.append(
            f"[data] source {source!r} is unknown{_suggest(source, DATA_SOURCES)} "
            f"(one of {', '.join(DATA_SOURCES)})"
        )
        return
    _check_keys(data, DATA_SOURCES[source], f"[data] (source {source!r})", problems)
    for key in ("path", "variant"):
        if key in data and not isinstance(data[key], str):
            problems.append(f"[data] {key} must be a string, got {data[key]!r}")
    if source == "movielens" and not (data.get("path") or data.get("variant")):
        problems.append("[data] source='movielens' needs 'path' or 'variant'")
    if source == "synthetic" and "params" in data:
        from embeddings.datasets import make_synthetic

        _check_params(make_synthetic, data["params"], "[data]", problems)


def _check_split(split: Any, problems: list[str]) -> None:
    if not isinstance(split, dict):
        problems.append(f"[split] must be a table, got {split!r}")
        return
    kind = split.get("kind", "leave_last_out")
    if kind not in _SPLIT_KINDS:
        problems.append(
            f"[split] kind {kind!r} is unknown{_suggest(kind, _SPLIT_KINDS)} "
            f"(one of {', '.join(_SPLIT_KINDS)})"
        )
        return
    _check_keys(split, _SPLIT_KINDS[kind], f"[split] (kind {kind!r})", problems)
    if "min_rating" in split and not _is_num(split["min_rating"]):
        problems.append(f"[split] min_rating must be a number, got {split['min_rating']!r}")
    if "n_last" in split and not (_is_int(split["n_last"]) and split["n_last"] >= 1):
        problems.append(f"[split] n_last must be an integer >= 1, got {split['n_last']!r}")
    tf = split.get("test_fraction", 0.2)
    if not (_is_num(tf) and 0 < tf < 1):
        problems.append(f"[split] test_fraction must be a number in (0, 1), got {tf!r}")


def _check_evaluation(ev: Any, problems: list[str]) -> None:
    if not isinstance(ev, dict):
        problems.append(f"[evaluation] must be a table, got {ev!r}")
        return
    _check_keys(ev, _EVAL_KEYS, "[evaluation]", problems)
    for key, options in (("metric", ("cosine", "ip", "l2")), ("e2e_mode", ("u2i", "i2i"))):
        if key in ev and ev[key] not in options:
            problems.append(
                f"[evaluation] {key} {ev[key]!r} is unknown{_suggest(ev[key], options)} "
                f"(one of {', '.join(options)})"
            )


def _check_index_grids(cls: Any, spec: Mapping[str, Any], where: str, problems: list[str]) -> None:
    for grid in ("build_grid", "search_grid"):
        table = spec.get(grid, {})
        if not isinstance(table, dict):
            problems.append(f"{where}: {grid} must be a table, got {table!r}")
            continue
        for key, vals in table.items():
            if isinstance(vals, list) and not vals:
                problems.append(f"{where}: {grid}.{key} is an empty list")
        if grid == "build_grid":  # each value is checked as a constructor argument
            for key, vals in table.items():
                for v in vals if isinstance(vals, list) else [vals]:
                    _check_params(cls, {key: v}, where, problems, label=grid)
            continue
        settable = list(getattr(cls, "search_params", ()) or ())
        if not settable:
            settable = [n for n in inspect.signature(cls).parameters if n != "self"]
        for key in table:
            if key not in settable:
                problems.append(
                    f"{where}: unknown search_grid key {key!r} for {cls.__name__}"
                    f"{_suggest(key, settable)} (settable: {', '.join(settable)})"
                )
    tune = spec.get("tune")
    if tune is not None:
        from recall.lsh.tuning import tune_lsh

        if not isinstance(tune, dict):
            problems.append(f"{where}: tune must be a table, got {tune!r}")
            return
        fixed = [k for k in tune if k in _TUNE_FIXED]
        if fixed:
            problems.append(f"{where}: tune keys {fixed} are set by the runner")
        free = {k: v for k, v in tune.items() if k not in _TUNE_FIXED}
        _check_params(tune_lsh, free, where, problems, label="tune")


def _check_entries(raw: Mapping[str, Any], kind: str, problems: list[str]) -> None:
    entries = raw.get(kind, [])
    label = f"[[{kind}]]"
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        problems.append(f"{label} must be an array of tables, got {entries!r}")
        return
    if kind == "methods" and not entries:
        problems.append("[[methods]]: at least one method is needed")
    names = []
    for i, spec in enumerate(entries):
        where = f"{label} #{i + 1}" + (f" ({spec['name']!r})" if "name" in spec else "")
        _check_keys(spec, _METHOD_KEYS if kind == "methods" else _INDEX_KEYS, where, problems)
        missing = [r for r in ("name", "class") if r not in spec]
        if missing:
            problems.append(f"{where} lacks {' and '.join(map(repr, missing))}")
            continue
        _check_name(spec["name"], f"{where}: name", problems)
        names.append(spec["name"])
        if "description" in spec and not isinstance(spec["description"], str):
            problems.append(f"{where}: description must be a string, got {spec['description']!r}")
        if "family" in spec:  # families name plot files too
            _check_name(spec["family"], f"{where}: family", problems)
        try:
            cls = resolve_class(spec["class"], kind)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        _check_params(cls, spec.get("params", {}), where, problems)
        if kind == "indexes":
            _check_index_grids(cls, spec, where, problems)
    dup = sorted({str(n) for n in names if names.count(n) > 1})
    if dup:
        problems.append(f"duplicate {'method' if kind == 'methods' else 'index'} names {dup}")


def parse_config(raw: dict[str, Any], path: Path | None = None) -> ExperimentConfig:
    """Validate a whole config mapping (as read from TOML) before any work starts.

    Unknown keys anywhere are errors with a did-you-mean suggestion; types are checked (``k``
    and ``seeds`` lists of integers, numbers where numbers belong); names must be plain file
    names; ``class`` must name a trainer / index class of the project; trainer and index
    ``params`` must be constructor arguments of that class with fitting types. Every problem
    found is reported in one ``ValueError`` (one line).
    """
    where = str(path) if path else "config"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a config is a table of keys, got {type(raw).__name__}")
    problems: list[str] = []
    for key in ("name", "data", "methods"):
        if key not in raw:
            problems.append(f"missing required key {key!r}")
    _check_keys(raw, _TOP_KEYS, "top level", problems)
    if "name" in raw:
        _check_name(raw["name"], "name", problems)
    if "tuning" in raw:  # read by embeddings.tuning (the runner does not search yet)
        from embeddings.tuning import METHODS as _TUNABLE
        from embeddings.tuning import space_from_config

        tun = raw["tuning"]
        if not isinstance(tun, Mapping):
            problems.append(f"[tuning] must be a table, got {type(tun).__name__}")
        else:
            for meth in tun.get("methods") or list(_TUNABLE):
                try:
                    space_from_config(tun, str(meth))
                except (ValueError, TypeError) as exc:
                    problems.append(str(exc))
    if "description" in raw and not isinstance(raw["description"], str):
        problems.append(f"description must be a string, got {raw['description']!r}")
    ks = list(dict.fromkeys(_int_list(raw, "k", [10], 1, problems, unique=False)))
    if max(ks) > MAX_K:
        problems.append(f"k must be <= {MAX_K} (recall.base.MAX_K), got {max(ks)}")
    seeds = _int_list(raw, "seeds", [0], 0, problems)
    ints: dict[str, int] = {}
    for key, default in (("n_queries", 500), ("single_query_max", 300)):
        val = raw.get(key, default)
        if not (_is_int(val) and val >= 1):
            problems.append(f"{key} must be an integer >= 1, got {val!r}")
            val = default
        ints[key] = int(val)
    if "data" in raw:
        _check_data(raw["data"], problems)
    _check_split(raw.get("split", {}), problems)
    _check_evaluation(raw.get("evaluation", {}), problems)
    if "methods" in raw:
        _check_entries(raw, "methods", problems)
    _check_entries(raw, "indexes", problems)
    if problems:
        raise ValueError(f"{where}: " + "; ".join(problems))
    return ExperimentConfig(
        name=str(raw["name"]),
        raw={**raw, "k": ks, "seeds": seeds},
        path=path,
        seeds=seeds,
        k=ks,
        n_queries=ints["n_queries"],
        single_query_max=ints["single_query_max"],
    )


def resolve_data_path(value: str, data_root: Path | None = None) -> Path:
    """``shared:NAME`` -> <data root>/NAME (``$EMBRECALL_DATA`` or ../shared/data); else a path."""
    from recall.cli import default_data_root

    if value.startswith("shared:"):
        root = data_root or default_data_root()
        if root is None:
            raise FileNotFoundError(
                f"{value}: no shared data folder (set EMBRECALL_DATA or place ../shared/data)"
            )
        return Path(root) / value.split(":", 1)[1]
    p = Path(value).expanduser()
    return p if p.is_absolute() else (REPO_ROOT / p)


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 over the source files of the ``embeddings`` package: a cached embedding is reused
    only while the code that made it (trainers, walks, data generators) is unchanged."""
    import embeddings

    h = hashlib.sha256()
    root = Path(embeddings.__file__).parent
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------- data
@dataclass
class LoadedData:
    interactions: Interactions
    side_info: ItemSideInfo | None
    item_labels: pd.Series | None  # item_id -> label used to colour maps (primary genre)
    description: dict[str, Any]


def load_data(spec: Mapping[str, Any], seed: int, data_root: Path | None = None) -> LoadedData:
    """Load the data set named in the ``[data]`` table."""
    source = spec.get("source", "synthetic")
    if source == "synthetic":
        from embeddings.datasets import make_synthetic

        params = dict(spec.get("params", {}))
        params.setdefault("random_state", seed)
        d = make_synthetic(**params)
        names = pd.Series(
            [f"genre{g:02d}" for g in d.item_genre.to_numpy()], index=d.item_genre.index
        )
        return LoadedData(d.interactions, d.side_info, names, {"source": "synthetic", **params})
    if source == "movielens":
        from embeddings.datasets.movielens import fetch_movielens, load_movielens

        if spec.get("path"):
            try:
                path = resolve_data_path(str(spec["path"]), data_root)
            except FileNotFoundError:
                if not spec.get("variant"):
                    raise
                path = None
            if (path is None or not path.exists()) and spec.get("variant"):
                logger.info("%s not found: fetching %s", spec["path"], spec["variant"])
                path = fetch_movielens(str(spec["variant"]))
        elif spec.get("variant"):
            path = fetch_movielens(str(spec["variant"]))
        else:
            raise ValueError("[data] source='movielens' needs 'path' or 'variant'")
        ml = load_movielens(path)
        side = ml.side_info
        labels = None
        if side is not None and "genres" in side.fields:
            labels = pd.Series(
                [g[0] if g else "(none)" for g in side.frame["genres"]], index=side.frame.index
            )
        return LoadedData(ml.interactions, side, labels, {"source": "movielens", "path": str(path)})
    if source in ("csv", "file"):
        return _load_file_source(spec, data_root)
    raise ValueError(f"unknown data source {source!r} (synthetic, movielens or csv)")


def _load_file_source(spec: Mapping[str, Any], data_root: Path | None) -> LoadedData:
    """``[data] source = "csv"``: an interactions file (CSV/TSV/Parquet, ``path`` may be
    ``shared:NAME``) read by ``load_interactions`` with optional ``columns`` (field -> column),
    ``sep`` and ``rating_default``; string ids are coded (``Interactions.item_vocab``)."""
    from embeddings.datasets import load_interactions

    if not spec.get("path"):
        raise ValueError("[data] source='csv' needs 'path' (an interactions file)")
    path = resolve_data_path(str(spec["path"]), data_root)
    kwargs = {k: spec[k] for k in ("columns", "sep", "rating_default") if k in spec}
    inter = load_interactions(path, **kwargs)
    return LoadedData(inter, None, None, {"source": "csv", "path": str(path)})


def split_data(inter: Interactions, spec: Mapping[str, Any]) -> tuple[Interactions, Interactions]:
    """Apply the ``[split]`` table: leave-last-out (default) or global temporal split."""
    from embeddings import leave_last_out, temporal_split

    kind = spec.get("kind", "leave_last_out")
    if kind == "leave_last_out":
        return leave_last_out(
            inter, n_last=int(spec.get("n_last", 1)), min_rating=spec.get("min_rating")
        )
    if kind == "temporal":
        return temporal_split(inter, test_fraction=float(spec.get("test_fraction", 0.2)))
    raise ValueError(f"unknown split kind {kind!r} (leave_last_out or temporal)")


# ---------------------------------------------------------------------- training
def train_method(
    spec: Mapping[str, Any],
    train: Interactions,
    side_info: ItemSideInfo | None,
    seed: int,
    cache_dir: Path | None,
    cache_key: Mapping[str, Any],
    progress: bool = False,
    reuse: bool = True,
) -> tuple[Embeddings, bool]:
    """Train one ``[[methods]]`` entry, or load it from ``cache_dir`` when ``reuse`` and a file of
    the same config, seed and code exists. Returns (embeddings, cached). Trainers with learned
    field weights (EGES) also leave them as CSV in ``cache_dir`` (named in ``meta``)."""
    key = _hash({"method": dict(spec), "seed": seed, "code": code_fingerprint(), **cache_key})
    path = cache_dir / f"emb-{spec['name']}-s{seed}-{key}.npz" if cache_dir else None
    if reuse and path is not None and path.exists():
        try:
            return Embeddings.load(path), True
        except ValueError as exc:  # a damaged cache entry is retrained, not trusted
            logger.warning("ignoring damaged cache file %s: %s", path, exc)
    cls = import_object(str(spec["class"]))
    params = dict(spec.get("params", {}))
    sig = inspect.signature(cls)
    if "random_state" in sig.parameters:
        params.setdefault("random_state", seed)
    if "progress" in sig.parameters:
        params.setdefault("progress", progress)
    try:
        trainer = cls(**params)
    except TypeError as exc:  # a spec that did not go through parse_config
        raise ValueError(f"method {spec['name']!r}: bad params for {cls.__name__} ({exc})") from exc
    fit_sig = inspect.signature(trainer.fit)
    t0 = time.perf_counter()
    if "side_info" in fit_sig.parameters:
        emb = trainer.fit(train, side_info=side_info)
    else:
        emb = trainer.fit(train)
    seconds = time.perf_counter() - t0
    meta = dict(emb.meta)
    meta.setdefault("train_seconds", seconds)
    meta["experiment_method"] = spec["name"]
    if hasattr(trainer, "field_weights"):  # EGES-style trainers: keep the learned field weights
        fw = trainer.field_weights()
        meta["mean_field_weights"] = {str(k): float(v) for k, v in fw.mean(axis=0).items()}
        if cache_dir is not None:
            fw_name = f"fieldweights-{spec['name']}-s{seed}-{key}.csv"
            with atomic_write(cache_dir / fw_name, "w") as fh:
                fw.to_csv(fh)
            meta["field_weights_file"] = fw_name
    emb = Embeddings(emb.ids, emb.vectors, meta)
    if path is not None:
        emb.save(path)
    return emb, False


# ---------------------------------------------------------------------- indexes
def _grid(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """All combinations of a ``{param: [values]}`` table (scalars count as one value)."""
    if not spec:
        return [{}]
    keys = sorted(spec)
    vals = [v if isinstance(v, list) else [v] for v in (spec[k] for k in keys)]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*vals)]


def set_search_params(index: Any, params: Mapping[str, Any]) -> None:
    """Apply search-time parameters: ``index.set_search_params(**p)`` or plain attributes."""
    if not params:
        return
    if hasattr(index, "set_search_params"):
        index.set_search_params(**params)
        return
    for k, v in params.items():
        if not hasattr(index, k):
            raise ValueError(f"{type(index).__name__} has no search parameter {k!r}")
        setattr(index, k, v)


def _tuned(
    emb: Embeddings,
    k: int,
    metric: str,
    tune: dict[str, Any],
    seed: int,
    queries: NDArray[np.float32] | None = None,
) -> tuple[type, dict[str, Any]]:
    """Choose LSH parameters with ``recall.lsh.tuning.tune_lsh``.

    ``queries`` is a tuning sample disjoint from the benchmark queries (user vectors of other
    users); without one the tuner holds out its own sample of item vectors.
    """
    from recall.lsh.tuning import tune_lsh

    res = tune_lsh(emb.vectors, queries, k=k, metric=metric, random_state=seed, **tune)
    logger.info(
        "tuned %s: %s (recall %.3f, reached=%s)",
        tune.get("kind"),
        res.params,
        res.recall,
        res.reached,
    )
    return res.index_class, dict(res.params)


@dataclass
class IndexRun:
    """One built index with one search setting, measured."""

    row: dict[str, Any]
    search: Callable[[NDArray[np.float32], int], NDArray[np.int64]]


def benchmark_indexes(
    emb: Embeddings,
    queries: NDArray[np.float32],
    index_specs: list[dict[str, Any]],
    k: int,
    seed: int,
    single_query_max: int = 300,
    truth_cache: dict[str, NDArray[np.int64]] | None = None,
    on_setting: Callable[[IndexRun], None] | None = None,
    tune_queries: NDArray[np.float32] | None = None,
    on_build: Callable[[Any, dict[str, Any]], None] | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Build every index on ``emb`` and measure every search setting against exact search.

    Rows: index, index_family, params (JSON), metric, build_s, memory_bytes, knn_recall,
    qps_single, qps_batch, mean_candidates, plus ``speedup`` over the exact search row of the
    same metric (single-query QPS ratio). ``on_setting`` is called with each measured setting
    (the runner uses it for the end-to-end evaluation through the index).
    """
    from embeddings.progress import progress_bar as tqdm  # plain lines when not a TTY
    from recall.exact import exact_knn, knn_recall
    from recall.measure import batch_qps, single_query_qps

    truth_cache = {} if truth_cache is None else truth_cache
    rows: list[dict[str, Any]] = []
    for spec in tqdm(index_specs, desc="indexes", disable=not progress, leave=False):
        cls = import_object(str(spec["class"]), "indexes")
        params = dict(spec.get("params", {}))
        if "random_state" in inspect.signature(cls).parameters:
            params.setdefault("random_state", seed)
        metric = params.get("metric", "cosine")
        if metric not in truth_cache:
            truth_cache[metric] = exact_knn(emb.vectors, queries, k, metric).ids
        truth_pos = truth_cache[metric]
        truth_ids = np.where(truth_pos >= 0, emb.ids[np.maximum(truth_pos, 0)], -1)
        tune = spec.get("tune")
        if tune is not None:
            cls, params = _tuned(emb, k, metric, dict(tune), seed, tune_queries)
        for build_params in _grid(spec.get("build_grid", {})):
            try:
                index = cls(**{**params, **build_params})
            except ImportError as exc:  # an optional peer that is not installed
                logger.warning("skipping index %s: %s", spec["name"], exc)
                break
            compile_s = _warm_up(cls, {**params, **build_params}, emb, queries, k)
            t0 = time.perf_counter()
            index.build(emb.vectors, emb.ids)
            build_s = time.perf_counter() - t0
            if on_build is not None:
                on_build(index, spec)
            for search_params in _grid(spec.get("search_grid", {})):
                set_search_params(index, search_params)
                res = index.search(queries, k)
                stats = index.stats()
                row = {
                    "index": spec["name"],
                    "index_family": spec.get("family", spec["name"]),
                    "params": json.dumps(
                        {**params, **build_params, **search_params}, sort_keys=True
                    ),
                    "metric": metric,
                    "k": k,
                    "n_items": len(emb),
                    "dim": emb.dim,
                    "n_queries": int(queries.shape[0]),
                    "build_s": build_s,
                    "compile_s": compile_s,
                    "memory_bytes": float(stats.get("memory_bytes", np.nan)),
                    "knn_recall": knn_recall(res.ids, truth_ids, k),
                    "mean_candidates": float(stats.get("mean_candidates", np.nan)),
                    "qps_batch": batch_qps(index.search, queries, k, repeat=2),
                    "qps_single": single_query_qps(
                        index.search, queries, k, max_queries=single_query_max, repeat=2
                    ),
                    **{f"param_{p}": v for p, v in {**build_params, **search_params}.items()},
                }
                rows.append(row)
                logger.info(
                    "%s %s recall=%.3f qps=%.0f",
                    spec["name"],
                    row["params"],
                    row["knn_recall"],
                    row["qps_single"],
                )
                if on_setting is not None:
                    on_setting(IndexRun(row, lambda q, kk, _i=index: _i.search(q, kk).ids))
    exact_qps = {r["metric"]: r["qps_single"] for r in rows if r["index_family"] == "exact"}
    for r in rows:
        base = exact_qps.get(r["metric"])
        r["speedup"] = r["qps_single"] / base if base else np.nan
    return rows


_WARMED: set[tuple[str, str]] = set()


def _warm_up(
    cls: Any, params: Mapping[str, Any], emb: Embeddings, queries: NDArray[np.float32], k: int
) -> float:
    """Build and search a small sample once per index class and metric in this process, so that
    numba compilation is not counted as build time; returns the seconds it took (0.0 when this
    class was already warm). Reported as ``compile_s`` beside ``build_s``."""
    key = (f"{cls.__module__}.{cls.__qualname__}", str(params.get("metric", "cosine")))
    if key in _WARMED:
        return 0.0
    _WARMED.add(key)
    n = min(len(emb), 512)
    t0 = time.perf_counter()
    try:
        small = cls(**params).build(emb.vectors[:n], emb.ids[:n])
        small.search(queries[:4], min(k, n))
    except (ValueError, RuntimeError) as exc:  # e.g. more clusters than sample vectors
        logger.info("warm-up of %s skipped: %s", key[0], exc)
        return 0.0
    return time.perf_counter() - t0


# ---------------------------------------------------------------------- the whole run
def _quality_rows(
    method: str,
    emb: Embeddings,
    train: Interactions,
    test: Interactions,
    ks: list[int],
    metric: str,
    min_rating: float | None,
    search: Callable[[NDArray[np.float32], int], NDArray[np.int64]] | None = None,
) -> list[dict[str, Any]]:
    from embeddings.evaluation import evaluate_i2i, evaluate_u2i

    out = []
    for fn, kwargs in (
        (evaluate_i2i, {}),
        (evaluate_u2i, {"min_rating": min_rating}),
    ):
        r = fn(emb, train, test, ks, search=search, metric=metric, **kwargs)
        out.append({"method": method, **r})
    return out


def _user_queries(
    emb: Embeddings,
    train: Interactions,
    test: Interactions,
    n: int,
    min_rating: float | None,
    seed: int,
) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
    """Benchmark queries: up to ``n`` user vectors of test users (the U2I queries), sampled with
    ``seed``; and a disjoint tuning sample of up to ``n`` other users' vectors (None if fewer than
    50 remain), so that tuned indexes never see the queries they are measured on."""
    from embeddings.users import user_vectors

    users = user_vectors(emb, train, min_rating=min_rating)
    test_users = np.unique(test.frame["user_id"].to_numpy())
    test_users = test_users[users.has(test_users)]
    if test_users.shape[0] == 0:
        raise ValueError("no test user has a vector: cannot form queries")
    rng = np.random.default_rng(seed)
    order = rng.permutation(test_users.shape[0])
    bench = np.sort(test_users[order[:n]])
    rest = np.setdiff1d(users.ids, bench)
    if rest.shape[0] > n:
        rest = np.sort(rng.choice(rest, n, replace=False))
    tune = users.lookup(rest) if rest.shape[0] >= 50 else None
    return users.lookup(bench), tune


# ---------------------------------------------------------------------- run folders
#: the files a run writes that ``report`` reads: recorded with their sha256 in ``run.json``
RUN_FILES: tuple[str, ...] = (
    "config.resolved.json",
    "environment.json",
    "quality.csv",
    "results.csv",
)
RUN_MANIFEST = "run.json"


def default_runs_root() -> Path:
    """Where runs go by default: ``./runs`` under the working directory (git-ignored in the
    checkout), never beside the installed package files."""
    return Path.cwd() / "runs"


def default_run_folder(name: str, root: Path | None = None) -> Path:
    """A fresh folder ``<runs root>/<name>-<YYYYmmdd-HHMMSS>`` (a suffix if it exists)."""
    root = Path(root) if root is not None else default_runs_root()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime())
    cand = root / f"{name}-{stamp}"
    n = 2
    while cand.exists():
        cand = root / f"{name}-{stamp}-{n}"
        n += 1
    return cand


def select(
    config: ExperimentConfig,
    methods: list[str] | None = None,
    indexes: list[str] | None = None,
    seeds: list[int] | None = None,
) -> ExperimentConfig:
    """The config restricted to some methods / indexes (by name) and seeds; ``ValueError``
    naming an unknown name (with a did-you-mean suggestion). ``None`` keeps everything."""
    raw = dict(config.raw)
    for kind, wanted in (("methods", methods), ("indexes", indexes)):
        if not wanted:
            continue
        have = [str(s["name"]) for s in raw.get(kind, [])]
        unknown = [w for w in wanted if w not in have]
        if unknown:
            hint = _suggest(unknown[0], have)
            raise ValueError(
                f"{kind} not in the config: {unknown}{hint} (the config has: {', '.join(have)})"
            )
        raw[kind] = [s for s in raw.get(kind, []) if s["name"] in set(wanted)]
    if seeds:
        bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or s < 0]
        if bad:
            raise ValueError(f"seeds must be integers >= 0, got {bad}")
        raw["seeds"] = list(dict.fromkeys(int(s) for s in seeds))
    return parse_config(raw, config.path)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_run_folder(folder: str | Path) -> dict[str, Any] | None:
    """Check that the report inputs in ``folder`` all come from one run.

    Returns the run's manifest (``run.json``), or None for a folder written before manifests
    existed. ``ValueError`` if a recorded file is missing or changed, or a report input is present
    that the run did not write (e.g. left by another, killed run).
    """
    folder = Path(folder)
    man_path = folder / RUN_MANIFEST
    if not man_path.is_file():
        _check_legacy_folder(folder)
        return None
    try:
        manifest = json.loads(man_path.read_text(encoding="utf-8"))
        files = dict(manifest["files"])
        run_id = str(manifest["run_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{man_path}: corrupt run manifest ({exc})") from exc
    problems = []
    for name in RUN_FILES:
        p = folder / name
        if name in files:
            if not p.is_file():
                problems.append(f"{name} is missing")
            elif _sha256_file(p) != files[name]:
                problems.append(f"{name} was changed or written by another run")
        elif p.exists():
            problems.append(f"{name} was not written by this run")
    if problems:
        raise ValueError(
            f"{folder}: files do not all come from run {run_id}: {'; '.join(problems)} "
            "(re-run the experiment into this folder, or into a fresh one)"
        )
    return manifest


def _check_legacy_folder(folder: Path) -> None:
    """A folder without ``run.json``: its CSVs must at least name the config's experiment and
    methods (a config left by another run next to older results is refused)."""
    cfg_path = folder / "config.resolved.json"
    if not cfg_path.is_file():
        return
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        methods = {str(m["name"]) for m in cfg.get("methods", [])}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{cfg_path}: unreadable resolved config ({exc})") from exc
    problems = []
    for name, col in (("quality.csv", "method"), ("results.csv", "method")):
        p = folder / name
        if not p.is_file():
            continue
        try:
            found = set(pd.read_csv(p, usecols=[col])[col].astype(str)) - {"popularity"}
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{p}: unreadable ({exc})") from exc
        if found != methods:
            problems.append(f"{name} has methods {sorted(found)}, the config {sorted(methods)}")
    res = folder / "results.csv"
    if res.is_file() and "name" in cfg:
        exp = set(
            pd.read_csv(res, usecols=lambda c: c == "experiment").squeeze("columns").astype(str)
        )
        if exp and exp != {str(cfg["name"])}:
            problems.append(
                f"results.csv is of experiment {sorted(exp)}, the config {cfg['name']!r}"
            )
    if problems:
        raise ValueError(
            f"{folder}: files come from different runs: {'; '.join(problems)} (re-run the "
            "experiment into this folder, or into a fresh one)"
        )


def _prepare_run_folder(out: Path) -> None:
    """``out`` may be replaced by the run: it must be absent, empty, or an earlier run's folder."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder: choose another --out")
    entries = {p.name for p in out.iterdir()}
    if entries and not ({RUN_MANIFEST, "config.resolved.json"} & entries):
        raise ValueError(
            f"{out} holds files that are not an embrecall run ({sorted(entries)[:5]}): "
            "refusing to replace it; choose another --out"
        )


def _switch_in(stage: Path, out: Path, run_id: str) -> None:
    """Make the complete ``stage`` folder ``out``: rename the old one aside, rename the new one
    in, delete the old one. Readers see the old run or the new run, never a mixture."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.replaced-{run_id}"
        os.replace(out, old)
    os.replace(stage, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _git_commit() -> dict[str, Any]:
    """The checkout's commit and whether the working tree differs from it (None outside git)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": head or None, "dirty": bool(dirty)}


def data_fingerprint(*tables: Any) -> str:
    """sha256 over the content of ``Interactions`` / ``ItemSideInfo`` tables (None allowed):
    the cache key of trained vectors, so changed data at the same path is never reused."""
    h = hashlib.sha256()
    for t in tables:
        if t is None:
            h.update(b"<none>")
            continue
        frame = t.frame
        h.update(json.dumps([str(frame.index.name), [str(c) for c in frame.columns]]).encode())
        h.update(str(len(frame)).encode())
        if all(pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns):
            hashed = pd.util.hash_pandas_object(frame, index=True)
        else:
            hashed = pd.util.hash_pandas_object(frame.astype(str), index=True)
        h.update(hashed.to_numpy().tobytes())
    return h.hexdigest()[:24]


def run_experiment(
    config: ExperimentConfig,
    out_root: str | Path | None = None,
    data_root: Path | None = None,
    progress: bool = True,
    use_cache: bool = True,
    command: str | None = None,
    *,
    out: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """Run every stage of an experiment; returns the folder written.

    Where: ``out`` (exactly that folder), else ``out_root/<name>``, else a fresh timestamped
    ``./runs/<name>-<YYYYmmdd-HHMMSS>`` under the working directory — the committed references
    under ``reports/`` change only when asked for (``out="reports/default"``). Everything is written into a hidden staging
    folder beside the target and switched in when complete (a killed run leaves the previous
    folder untouched); ``run.json`` records the sha256 of the report inputs. Trained vectors are
    cached in ``cache_dir`` (default ``<parent of the folder>/cache``), keyed by the method, the
    seed, the code and a content fingerprint of the training / test data and side information.
    ``environment.json`` records the commit, date and command. Use :func:`select` to run a
    subset of methods, indexes or seeds.
    """
    from recall.measure import environment_info
    from recall.report import write_report

    if out is not None:
        final = Path(out)
    elif out_root is not None:
        final = Path(out_root) / config.name
    else:
        final = default_run_folder(config.name)
    final = final.expanduser().absolute()
    _prepare_run_folder(final)
    cache = Path(cache_dir) if cache_dir is not None else final.parent / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{os.urandom(3).hex()}"
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        _run_into(config, stage, cache, data_root, progress, use_cache)
        env = environment_info()
        env.update(
            {
                "run_id": run_id,
                "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "command": command,
                "config_file": str(config.path) if config.path else None,
                **_git_commit(),
            }
        )
        with atomic_write(stage / "environment.json", "w") as fh:
            json.dump(env, fh, indent=2, default=str)
        write_report(stage, command=command)
        files = {n: _sha256_file(stage / n) for n in RUN_FILES if (stage / n).is_file()}
        with atomic_write(stage / RUN_MANIFEST, "w") as fh:
            json.dump({"run_id": run_id, "files": files}, fh, indent=2, sort_keys=True)
        os.chmod(stage, 0o777 & ~_umask())
        _switch_in(stage, final, run_id)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    logger.info("run %s written to %s", run_id, final)
    return final


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _run_into(
    config: ExperimentConfig,
    out: Path,
    cache_dir: Path,
    data_root: Path | None,
    progress: bool,
    use_cache: bool,
) -> None:
    """The stages of :func:`run_experiment`, writing into the (staging) folder ``out``."""
    from embeddings.progress import progress_bar as tqdm  # plain lines when not a TTY

    raw = config.raw
    with atomic_write(out / "config.resolved.json", "w") as fh:
        json.dump(raw, fh, indent=2, sort_keys=True, default=str)

    split_spec = raw.get("split", {})
    min_rating = split_spec.get("min_rating")
    eval_metric = raw.get("evaluation", {}).get("metric", "cosine")
    ks = config.k
    k_bench = max(ks)
    quality: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    bucket_plots: set[str] = set()
    for seed in config.seeds:
        data = load_data(raw["data"], seed, data_root)
        train, test = split_data(data.interactions, split_spec)
        cache_key = {
            "data": raw["data"],
            "split": split_spec,
            "data_seed": seed,
            # content, not paths: changed ratings (or split) at the same path are retrained
            "content": data_fingerprint(train, test, data.side_info),
        }
        pop = _popularity_row(train, test, ks, min_rating)
        quality.append({"seed": seed, "method": "popularity", **pop})
        bar = tqdm(config.methods, desc=f"methods (seed {seed})", disable=not progress)
        for spec in bar:
            bar.set_postfix_str(spec["name"])
            emb, cached = train_method(
                spec,
                train,
                data.side_info,
                seed,
                cache_dir,
                cache_key,
                progress=progress,  # epochs / walks inside the method, not a frozen bar
                reuse=use_cache,
            )
            logger.info(
                "%s: %d vectors (%s)", spec["name"], len(emb), "cached" if cached else "trained"
            )
            for r in _quality_rows(spec["name"], emb, train, test, ks, eval_metric, min_rating):
                quality.append({"seed": seed, "train_seconds": emb.meta.get("train_seconds"), **r})
            _method_plots(out, spec["name"], emb, data, cache_dir)
            genre = _genre_classification(spec["name"], emb, data, seed)
            if genre is not None:
                quality.append({"seed": seed, **genre})
            if not config.indexes:
                continue
            queries, tune_queries = _user_queries(
                emb, train, test, config.n_queries, min_rating, seed
            )
            e2e: dict[tuple[str, str], dict[str, Any]] = {}
            hook = functools.partial(
                _end_to_end,
                emb=emb,
                train=train,
                test=test,
                ks=ks,
                min_rating=min_rating,
                mode=raw.get("evaluation", {}).get("e2e_mode", "u2i"),
                store=e2e,
            )
            rows = benchmark_indexes(
                emb,
                queries,
                config.indexes,
                k_bench,
                seed,
                single_query_max=config.single_query_max,
                on_setting=hook,
                tune_queries=tune_queries,
                progress=progress,
                on_build=functools.partial(
                    _bucket_histogram,
                    vectors=emb.vectors,
                    out=out,
                    done=bucket_plots,
                    method=spec["name"],
                ),
            )
            for r in rows:
                results.append(
                    {
                        "experiment": config.name,
                        "seed": seed,
                        "method": spec["name"],
                        **r,
                        **e2e.get((r["index"], r["params"]), {}),
                    }
                )
    qdf = pd.DataFrame(quality)
    rdf = pd.DataFrame(results)
    with atomic_write(out / "quality.csv", "w") as fh:
        qdf.to_csv(fh, index=False)
    if not rdf.empty:
        with atomic_write(out / "results.csv", "w") as fh:
            rdf.to_csv(fh, index=False)


def _end_to_end(
    run: IndexRun,
    emb: Embeddings,
    train: Interactions,
    test: Interactions,
    ks: list[int],
    min_rating: float | None,
    mode: str,
    store: dict[tuple[str, str], dict[str, Any]],
) -> None:
    """Recommendation metrics of ``mode`` (i2i/u2i) computed through the index's search."""
    from embeddings.evaluation import evaluate_i2i, evaluate_u2i

    m = run.row["metric"]
    if mode == "i2i":
        r = evaluate_i2i(emb, train, test, ks, search=run.search, metric=m)
    elif mode == "u2i":
        r = evaluate_u2i(emb, train, test, ks, search=run.search, metric=m, min_rating=min_rating)
    else:
        raise ValueError(f"unknown e2e_mode {mode!r} (i2i or u2i)")
    store[(run.row["index"], run.row["params"])] = {
        f"e2e_{key}": val for key, val in r.items() if "@" in key
    }


def _popularity_row(
    train: Interactions, test: Interactions, ks: list[int], min_rating: float | None
) -> dict[str, Any]:
    from embeddings.evaluation import evaluate_popularity

    return {**evaluate_popularity(train, test, ks, min_rating=min_rating), "mode": "popularity"}


def _method_plots(
    out: Path, name: str, emb: Embeddings, data: LoadedData, cache_dir: Path | None
) -> None:
    """2-D map of the item vectors coloured by label (genre); EGES field weights if saved."""
    from recall import plots

    fw_file = emb.meta.get("field_weights_file")
    if cache_dir is not None and fw_file and (cache_dir / fw_file).exists():
        fw = pd.read_csv(cache_dir / fw_file, index_col=0)
        # BGE (one field) and GES (equal weights) have constant weights: nothing to plot
        if not fw.empty and float(np.ptp(fw.to_numpy(dtype=np.float64))) > 1e-6:
            fig = plots.plot_field_weights(fw, title=f"{name}: learned field weights per item")
            plots.save_figure(fig, out / "plots" / f"field_weights_{name}.png")
    if data.item_labels is None:
        return
    have = emb.has(data.item_labels.index.to_numpy())
    if have.sum() < 10:
        return
    ids = data.item_labels.index.to_numpy()[have]
    fig = plots.plot_embedding_map(
        emb.lookup(ids), data.item_labels.loc[ids].to_numpy(), title=f"{name}: PCA map by genre"
    )
    plots.save_figure(fig, out / "plots" / f"map_{name}.png")


def _bucket_histogram(
    index: Any,
    spec: dict[str, Any],
    vectors: NDArray[np.float32],
    out: Path,
    done: set[str],
    method: str = "",
) -> None:
    """Bucket sizes of table 0 of the first build of each LSH spec (indexes with a ``hasher``),
    titled with the index, the method whose vectors it hashed and the build parameters."""
    from recall import plots

    hasher = getattr(index, "hasher", None)
    if hasher is None or spec["name"] in done:
        return
    done.add(spec["name"])
    x = index._prepare(vectors)  # the vectors as the index hashed them (unit rows for cosine)
    sizes = np.unique(hasher.keys(x)[:, 0], return_counts=True)[1]
    params = {k: v for k, v in spec.get("params", {}).items() if k != "metric"}
    fig = plots.plot_bucket_sizes(
        sizes,
        title=f"{spec['name']} on {method or 'the first method'}'s vectors: table 0 buckets",
        subtitle=f"build {json.dumps(params, sort_keys=True, default=str)}; "
        f"n={vectors.shape[0]} items",
    )
    plots.save_figure(fig, out / "plots" / f"buckets_{spec['name']}.png")


def _genre_classification(
    name: str, emb: Embeddings, data: LoadedData, seed: int
) -> dict[str, Any] | None:
    """Node-classification protocol on the item vectors with the items' genres as labels
    (multi-label; one-vs-rest logistic regression, 50% of the labelled items for training).
    ``leaks`` marks a model trained with the genres field itself (GES / EGES read their input
    back: such a row measures no learning)."""
    from embeddings.evaluation import side_info_classification

    side = data.side_info
    if side is None or "genres" not in side.fields:
        return None
    res = side_info_classification(emb, side, "genres", 0.5, 3, seed)
    if res is None:
        return None
    return {
        "method": name,
        "mode": "genre-classification",
        "micro_f1": res["micro_f1"],
        "macro_f1": res["macro_f1"],
        "leaks": bool(res["leaks"]),
    }
