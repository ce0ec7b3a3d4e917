"""The experiment config: ``ExperimentConfig``, ``load_config`` / ``parse_config`` (validated
before any work starts) and ``select`` (a subset of methods, indexes, seeds)."""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recall.base import MAX_K
from recall.experiment.schema import (
    TOP_KEYS,
    check_data,
    check_entries,
    check_evaluation,
    check_keys,
    check_name,
    check_split,
    check_tuning,
    int_list,
    is_int,
    suggest,
)

logger = logging.getLogger(__name__)


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
    check_keys(raw, TOP_KEYS, "top level", problems)
    if "name" in raw:
        check_name(raw["name"], "name", problems)
    if "tuning" in raw:
        check_tuning(raw["tuning"], problems)
        warm = raw["tuning"].get("warm_start", {}) if isinstance(raw["tuning"], dict) else {}
        names = [m.get("name") for m in raw.get("methods", []) if isinstance(m, dict)]
        for dst, src in warm.items() if isinstance(warm, dict) else []:
            if dst not in names or src not in names or names.index(src) > names.index(dst):
                problems.append(
                    f"[tuning] warm_start: {dst} = {src!r} needs both methods in [[methods]], "
                    f"{src!r} listed before {dst!r} (methods: {names})"
                )
    if "description" in raw and not isinstance(raw["description"], str):
        problems.append(f"description must be a string, got {raw['description']!r}")
    ks = list(dict.fromkeys(int_list(raw, "k", [10], 1, problems, unique=False)))
    if max(ks) > MAX_K:
        problems.append(f"k must be <= {MAX_K} (recall.base.MAX_K), got {max(ks)}")
    seeds = int_list(raw, "seeds", [0], 0, problems)
    ints: dict[str, int] = {}
    for key, default in (("n_queries", 500), ("single_query_max", 300)):
        val = raw.get(key, default)
        if not (is_int(val) and val >= 1):
            problems.append(f"{key} must be an integer >= 1, got {val!r}")
            val = default
        ints[key] = int(val)
    if "data" in raw:
        check_data(raw["data"], problems)
    check_split(raw.get("split", {}), problems)
    check_evaluation(raw.get("evaluation", {}), problems)
    if "methods" in raw:
        check_entries(raw, "methods", problems)
    check_entries(raw, "indexes", problems)
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


def _select_warm_start(tuning: dict[str, Any], kept: set[str]) -> dict[str, Any]:
    """``[tuning]`` without the ``warm_start`` entries of methods left out by a selection; a kept
    method whose warm start was left out is a ``ValueError`` naming the method to add."""
    warm = tuning.get("warm_start")
    if not isinstance(warm, dict):
        return tuning
    for dst, src in warm.items():
        if dst in kept and src not in kept:
            raise ValueError(
                f"{dst} starts its search from {src}'s choice ([tuning] warm_start): "
                f"select {src} too (--method {src} --method {dst})"
            )
    return {**tuning, "warm_start": {d: s for d, s in warm.items() if d in kept}}


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
            hint = suggest(unknown[0], have)
            raise ValueError(
                f"{kind} not in the config: {unknown}{hint} (the config has: {', '.join(have)})"
            )
        raw[kind] = [s for s in raw.get(kind, []) if s["name"] in set(wanted)]
        if kind == "methods" and isinstance(raw.get("tuning"), dict):
            raw["tuning"] = _select_warm_start(raw["tuning"], set(wanted))
    if seeds:
        bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or s < 0]
        if bad:
            raise ValueError(f"seeds must be integers >= 0, got {bad}")
        raw["seeds"] = list(dict.fromkeys(int(s) for s in seeds))
    return parse_config(raw, config.path)
