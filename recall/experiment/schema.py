"""The config schema: allowed keys per table, type checks of trainer / index parameters, and
the classes a config may name (``resolve_class``)."""

from __future__ import annotations

import difflib
import importlib
import inspect
import logging
import re
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------- the config schema
#: modules whose classes a ``[[methods]]`` / ``[[indexes]]`` entry may name (exact module match:
#: the class must be defined there, not merely re-exported)
TRAINER_MODULES: tuple[str, ...] = ("embeddings.trainers", "embeddings.eges")
INDEX_MODULES: tuple[str, ...] = ("recall.exact", "recall.lsh", "recall.peers")
#: a name that becomes part of a file or folder name: letters, digits, ``_ . + -``, no path parts
SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+\-]{0,99}$")

TOP_KEYS = (
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
    "leave_last_out": ("kind", "n_last", "min_rating", "n_valid", "tie_seed"),
    "temporal": ("kind", "test_fraction", "min_rating"),
}
_EVAL_KEYS = ("metric", "e2e_mode", "query_modes")
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
TUNE_FIXED = ("vectors", "queries", "k", "metric", "random_state", "progress")


def suggest(word: Any, options: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_keys(table: Mapping[str, Any], allowed: Any, where: str, problems: list[str]) -> None:
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            problems.append(
                f"{where}: unknown key {key!r}{suggest(key, allowed)} "
                f"(allowed: {', '.join(allowed)})"
            )


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def int_list(
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
    items = [val] if is_int(val) else val
    if not isinstance(items, list) or not items:
        problems.append(f"{key} must be a non-empty list of integers, got {val!r}")
        return list(default)
    bad = [v for v in items if not is_int(v) or v < lo]
    if bad:
        problems.append(f"{key} must hold integers >= {lo}, got {bad[0]!r} in {val!r}")
        return list(default)
    if unique and len(set(items)) != len(items):
        problems.append(f"{key} holds duplicates: {val!r}")
    return [int(v) for v in items]


def check_name(value: Any, label: str, problems: list[str]) -> None:
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
        return is_int(value)
    if ann is float:
        return is_num(value)
    if ann is str:
        return isinstance(value, str)
    if origin in (tuple, list) or ann in (tuple, list):
        return isinstance(value, list | tuple)
    if origin is dict or ann is dict:
        return isinstance(value, dict)
    return None


def _type_text(ann: Any) -> str:
    return str(ann).replace("typing.", "") if not isinstance(ann, type) else ann.__name__


def check_params(
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
                    f"{suggest(key, named)} (valid: {', '.join(named)})"
                )
            continue
        if key in hints and _annotation_ok(val, hints[key]) is False:
            problems.append(
                f"{where}: {label}.{key} = {val!r} does not fit {cls.__name__}'s "
                f"{key}: {_type_text(hints[key])}"
            )


def is_trainer_class(cls: type) -> bool:
    """A trainer: a class following the Trainer protocol (:func:`embeddings.base.is_trainer`;
    the module it comes from is checked by :func:`resolve_class`)."""
    from embeddings.base import is_trainer

    return is_trainer(cls)


def _is_kind(cls: type, kind: str) -> bool:
    from recall.base import Index

    if not isinstance(cls, type) or cls.__name__.startswith("_"):
        return False
    if kind == "methods":
        return is_trainer_class(cls)
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
            f"class {spec!r}: {what} classes come from {', '.join(allowed)}{suggest(mod, allowed)}"
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
            f"class {spec!r} is not {article} {what} class of {mod}{suggest(name, public)} "
            f"(available: {', '.join(public)})"
        )
    return obj


def import_object(spec: str, kind: str = "methods") -> Any:
    """``"package.module:Name"`` of a trainer (``kind="methods"``) or index (``"indexes"``)
    class -> the class (see :func:`resolve_class`); ``ValueError`` for anything else."""
    return resolve_class(spec, kind)


def check_data(data: Any, problems: list[str]) -> None:
    if not isinstance(data, dict):
        problems.append(f"[data] must be a table, got {data!r}")
        return
    source = data.get("source", "synthetic")
    if source not in DATA_SOURCES:
        problems.append(
            f"[data] source {source!r} is unknown{suggest(source, DATA_SOURCES)} "
            f"(one of {', '.join(DATA_SOURCES)})"
        )
        return
    check_keys(data, DATA_SOURCES[source], f"[data] (source {source!r})", problems)
    for key in ("path", "variant"):
        if key in data and not isinstance(data[key], str):
            problems.append(f"[data] {key} must be a string, got {data[key]!r}")
    if source == "movielens" and not (data.get("path") or data.get("variant")):
        problems.append("[data] source='movielens' needs 'path' or 'variant'")
    if source == "synthetic" and "params" in data:
        from embeddings.datasets import make_synthetic

        check_params(make_synthetic, data["params"], "[data]", problems)


def check_split(split: Any, problems: list[str]) -> None:
    if not isinstance(split, dict):
        problems.append(f"[split] must be a table, got {split!r}")
        return
    kind = split.get("kind", "leave_last_out")
    if kind not in _SPLIT_KINDS:
        problems.append(
            f"[split] kind {kind!r} is unknown{suggest(kind, _SPLIT_KINDS)} "
            f"(one of {', '.join(_SPLIT_KINDS)})"
        )
        return
    check_keys(split, _SPLIT_KINDS[kind], f"[split] (kind {kind!r})", problems)
    if "min_rating" in split and not is_num(split["min_rating"]):
        problems.append(f"[split] min_rating must be a number, got {split['min_rating']!r}")
    if "n_last" in split and not (is_int(split["n_last"]) and split["n_last"] >= 1):
        problems.append(f"[split] n_last must be an integer >= 1, got {split['n_last']!r}")
    if "n_valid" in split and not (is_int(split["n_valid"]) and split["n_valid"] >= 1):
        problems.append(
            f"[split] n_valid must be an integer >= 1 (validation events per user), "
            f"got {split['n_valid']!r}"
        )
    if "n_valid" in split and split.get("n_last", 1) != 1:
        problems.append(f"[split] n_valid needs n_last = 1, got n_last = {split['n_last']!r}")
    ts = split.get("tie_seed", 0)
    if not (ts == "run" or is_int(ts)):
        problems.append(f'[split] tie_seed must be an integer or "run", got {ts!r}')
    tf = split.get("test_fraction", 0.2)
    if not (is_num(tf) and 0 < tf < 1):
        problems.append(f"[split] test_fraction must be a number in (0, 1), got {tf!r}")


def check_evaluation(ev: Any, problems: list[str]) -> None:
    if not isinstance(ev, dict):
        problems.append(f"[evaluation] must be a table, got {ev!r}")
        return
    check_keys(ev, _EVAL_KEYS, "[evaluation]", problems)
    for key, options in (("metric", ("cosine", "ip", "l2")), ("e2e_mode", ("u2i", "i2i", "best"))):
        if key in ev and ev[key] not in options:
            problems.append(
                f"[evaluation] {key} {ev[key]!r} is unknown{suggest(ev[key], options)} "
                f"(one of {', '.join(options)})"
            )
    if "query_modes" in ev:
        from embeddings.evaluation import query_modes

        qm = ev["query_modes"]
        if not (isinstance(qm, str) or isinstance(qm, list)):
            problems.append(
                f'[evaluation] query_modes must be "recency", "plain" or a list of modes such as '
                f'["i2i", "u2i", "u2i:h=5", "i2i:n=5,h=2"], got {qm!r}'
            )
        else:
            try:
                query_modes(qm)
            except ValueError as exc:
                problems.append(f"[evaluation] query_modes: {exc}")


def check_tuning(tun: Any, problems: list[str]) -> None:
    """``[tuning]``: the keys of ``embeddings.tuning.space_from_config``, a budget (``n_trials``
    an integer >= 1 and / or ``timeout`` seconds > 0), ``methods`` among the searchable ones."""
    from embeddings.tuning import METHODS as TUNABLE
    from embeddings.tuning import space_from_config

    if not isinstance(tun, Mapping):
        problems.append(f"[tuning] must be a table, got {type(tun).__name__}")
        return
    if "n_trials" in tun and not (is_int(tun["n_trials"]) and tun["n_trials"] >= 1):
        problems.append(f"[tuning] n_trials must be an integer >= 1, got {tun['n_trials']!r}")
    if "timeout" in tun and not (is_num(tun["timeout"]) and tun["timeout"] > 0):
        problems.append(f"[tuning] timeout must be a number of seconds > 0, got {tun['timeout']!r}")
    methods = tun.get("methods")
    if methods is not None:
        if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
            problems.append(f"[tuning] methods must be a list of names, got {methods!r}")
            return
        for m in methods:
            if m not in TUNABLE:
                problems.append(
                    f"[tuning] methods: {m!r} has no search{suggest(m, TUNABLE)} "
                    f"(searchable: {', '.join(TUNABLE)})"
                )
    warm = tun.get("warm_start", {})
    if not isinstance(warm, Mapping) or not all(
        isinstance(a, str) and isinstance(b, str) and a != b for a, b in warm.items()
    ):
        problems.append(
            "[tuning] warm_start must be a table of method name = method name it starts from "
            f'(e.g. {{ node2vec = "deepwalk" }}), got {warm!r}'
        )
    for meth in [m for m in methods or TUNABLE if m in TUNABLE]:
        try:
            space_from_config(tun, str(meth))
        except (ValueError, TypeError) as exc:
            problems.append(str(exc))


def check_index_grids(cls: Any, spec: Mapping[str, Any], where: str, problems: list[str]) -> None:
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
                    check_params(cls, {key: v}, where, problems, label=grid)
            continue
        settable = list(getattr(cls, "search_params", ()) or ())
        for key in table:
            if key not in settable:
                problems.append(
                    f"{where}: unknown search_grid key {key!r} for {cls.__name__}"
                    f"{suggest(key, settable)} (settable: {', '.join(settable)})"
                )
    tune = spec.get("tune")
    if tune is not None:
        from recall.lsh.tuning import tune_lsh

        if not isinstance(tune, dict):
            problems.append(f"{where}: tune must be a table, got {tune!r}")
            return
        fixed = [k for k in tune if k in TUNE_FIXED]
        if fixed:
            problems.append(f"{where}: tune keys {fixed} are set by the runner")
        free = {k: v for k, v in tune.items() if k not in TUNE_FIXED}
        check_params(tune_lsh, free, where, problems, label="tune")


def check_entries(raw: Mapping[str, Any], kind: str, problems: list[str]) -> None:
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
        check_keys(spec, _METHOD_KEYS if kind == "methods" else _INDEX_KEYS, where, problems)
        missing = [r for r in ("name", "class") if r not in spec]
        if missing:
            problems.append(f"{where} lacks {' and '.join(map(repr, missing))}")
            continue
        check_name(spec["name"], f"{where}: name", problems)
        names.append(spec["name"])
        if "description" in spec and not isinstance(spec["description"], str):
            problems.append(f"{where}: description must be a string, got {spec['description']!r}")
        if "family" in spec:  # families name plot files too
            check_name(spec["family"], f"{where}: family", problems)
        try:
            cls = resolve_class(spec["class"], kind)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        check_params(cls, spec.get("params", {}), where, problems)
        if kind == "indexes":
            check_index_grids(cls, spec, where, problems)
    dup = sorted({str(n) for n in names if names.count(n) > 1})
    if dup:
        problems.append(f"duplicate {'method' if kind == 'methods' else 'index'} names {dup}")
