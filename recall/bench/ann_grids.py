"""Parameter grids of the ANN benchmark (``recall/bench/grids/*.toml``): load, resolve, expand."""

from __future__ import annotations

import importlib
import itertools
import math
import tomllib
from pathlib import Path
from typing import Any

GRIDS = Path(__file__).resolve().parent / "grids"  # package data: the grids ship with the code


def grid_path(name: str) -> Path:
    p = Path(name)
    if p.suffix == ".toml" and p.exists():
        return p
    q = GRIDS / f"{name}.toml"
    if not q.exists():
        known = sorted(f.stem for f in GRIDS.glob("*.toml"))
        raise ValueError(f"unknown grid {name!r}: not a .toml file, nor one of {known}")
    return q


def load_grid(name: str) -> dict[str, Any]:
    """The grid file as a dict (``rounds``, ``k``, ``methods``), validated."""
    path = grid_path(name)
    with open(path, "rb") as fh:
        grid = tomllib.load(fh)
    methods = grid.get("methods")
    if not isinstance(methods, dict) or not methods:
        raise ValueError(f"{path}: no [methods.NAME] tables")
    for mname, m in methods.items():
        kinds = [key for key in ("index", "tune", "external") if key in m]
        if len(kinds) != 1:
            raise ValueError(f"{path}: method {mname!r} needs exactly one of index/tune/external")
        if "family" not in m:
            raise ValueError(f"{path}: method {mname!r} has no family")
    grid["path"] = str(path)
    return grid


_SAFE = {"sqrt": math.sqrt, "log2": math.log2, "round": round, "int": int, "min": min, "max": max}


def resolve(value: Any, n: int, d: int) -> Any:
    """A grid value: literals as they are; a string starting with ``=`` is an expression of n, d."""
    if isinstance(value, str) and value.startswith("="):
        try:
            return eval(value[1:], {"__builtins__": {}}, {**_SAFE, "n": n, "d": d})  # noqa: S307
        except Exception as exc:  # noqa: BLE001 - report which grid value is wrong
            raise ValueError(f"bad grid expression {value!r}: {exc}") from exc
    return value


def expand(spec: dict[str, list[Any]] | None, n: int, d: int) -> list[dict[str, Any]]:
    """Cartesian product of the lists (after resolving), duplicates dropped, order kept."""
    if not spec:
        return [{}]
    keys = list(spec)
    lists = [
        [resolve(v, n, d) for v in (spec[k] if isinstance(spec[k], list) else [spec[k]])]
        for k in keys
    ]
    out: list[dict[str, Any]] = []
    for combo in itertools.product(*lists):
        s = dict(zip(keys, combo, strict=True))
        if s not in out:
            out.append(s)
    return out


def import_obj(spec: str) -> Any:
    mod, _, name = spec.partition(":")
    return getattr(importlib.import_module(mod), name)


def set_search(idx: Any, **kw: Any) -> None:
    """Search-time parameters, only through the index's ``set_search_params`` (the contract)."""
    if kw:
        idx.set_search_params(**kw)


#: how an index without ``native_search`` (ours, exact) is called in the single-query loop
WRAPPED_CALL = "`index.search(row, k)` (our public single-query path)"


def _label(d: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in d.items())
