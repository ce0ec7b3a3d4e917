"""Query modes: how a user becomes a ranked list (``i2i`` / ``u2i``, with the recency
parameters ``n`` (last items) and ``h`` (half-life in events)), their names, and the grids a
validation chooses from."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from embeddings.users import check_half_life

__all__ = ["LEGACY_MODES", "QueryMode", "RECENCY_MODES", "parse_mode", "query_modes"]


@dataclass(frozen=True)
class QueryMode:
    """How a user is turned into a ranked list: ``kind`` ``"i2i"`` or ``"u2i"``.

    ``last_n`` (i2i): the user's last N items are queried (1 = the plain I2I); ``half_life``
    (both kinds): recency decay in events, weight 2^(-age / half_life) with age 0 = the user's
    latest item (``inf`` = no decay). ``str(mode)`` is the canonical name (``"i2i"``,
    ``"i2i:n=5"``, ``"i2i:n=5,h=2"``, ``"u2i"``, ``"u2i:h=5"``), ``parse_mode`` the inverse.
    """

    kind: str
    last_n: int = 1
    half_life: float = math.inf

    def __post_init__(self) -> None:
        if self.kind not in ("i2i", "u2i"):
            raise ValueError(f"query mode kind must be 'i2i' or 'u2i', got {self.kind!r}")
        n = self.last_n
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(
                f"query mode {self.kind}: n (last items) must be an int >= 1, got {n!r}"
            )
        if self.kind == "u2i" and n != 1:
            raise ValueError(f"query mode u2i takes no n (it averages every item), got n={n}")
        object.__setattr__(self, "last_n", int(n))
        object.__setattr__(self, "half_life", check_half_life(self.half_life))
        if self.kind == "i2i" and self.last_n == 1 and not math.isinf(self.half_life):
            raise ValueError(
                f"query mode i2i: h={self.half_life:g} does nothing with n=1 (one item, weight 1)"
            )

    def __str__(self) -> str:
        parts = []
        if self.last_n != 1:
            parts.append(f"n={self.last_n}")
        if not math.isinf(self.half_life):
            parts.append(f"h={self.half_life:g}")
        return self.kind + (":" + ",".join(parts) if parts else "")


def parse_mode(mode: str | QueryMode) -> QueryMode:
    """``"i2i"``, ``"u2i"``, ``"i2i:n=5"``, ``"i2i:n=5,h=2"``, ``"u2i:h=5"`` (h may be ``inf``)
    as a ``QueryMode``; ``ValueError`` naming the bad part (unknown kind or key, n not an int >=
    1, h not > 0, n given to u2i)."""
    if isinstance(mode, QueryMode):
        return mode
    if not isinstance(mode, str):
        raise ValueError(f"query mode must be a string such as 'u2i:h=5', got {mode!r}")
    kind, _, rest = mode.strip().partition(":")
    if kind not in ("i2i", "u2i"):
        raise ValueError(f"query mode {mode!r}: unknown mode kind {kind!r} (i2i or u2i)")
    kw: dict[str, Any] = {}
    for part in filter(None, (x.strip() for x in rest.split(","))):
        key, eq, val = part.partition("=")
        key = key.strip()
        if not eq or key not in ("n", "h"):
            raise ValueError(f"query mode {mode!r}: unknown parameter {part!r} (n=... or h=...)")
        if key in kw:
            raise ValueError(f"query mode {mode!r}: {key} given twice")
        if key == "n":
            try:
                kw[key] = int(val)
            except ValueError:
                raise ValueError(
                    f"query mode {mode!r}: n must be an int >= 1, got {val!r}"
                ) from None
        else:
            try:
                kw[key] = float(val)
            except ValueError:
                raise ValueError(
                    f"query mode {mode!r}: h must be a number > 0 or inf, got {val!r}"
                ) from None
    try:
        return QueryMode(kind, kw.get("n", 1), kw.get("h", math.inf))
    except ValueError as exc:
        raise ValueError(f"query mode {mode!r}: {exc}") from None


#: the two plain modes (what the evaluation always used)
LEGACY_MODES: tuple[str, ...] = ("i2i", "u2i")
#: the recency grid: u2i with half-lives 1, 2, 5, 10, 25 events and inf (the plain mean); i2i
#: over the last 1 (the plain I2I), 3, 5, 10 items, each with half-life 1, 5 or inf. The plain
#: modes come first, so a tie on validation keeps the simpler one.
RECENCY_MODES: tuple[str, ...] = (
    "i2i",
    "u2i",
    *(f"u2i:h={h}" for h in (1, 2, 5, 10, 25)),
    *(f"i2i:n={n}{hh}" for n in (3, 5, 10) for hh in (",h=1", ",h=5", "")),
)


def query_modes(modes: str | Iterable[str | QueryMode] | None) -> tuple[str, ...]:
    """Canonical mode names of ``modes``: a list of modes, ``"recency"`` (``RECENCY_MODES``),
    ``"plain"`` or ``None`` (``LEGACY_MODES``). ``ValueError`` for an empty list, a bad mode
    or a mode given twice."""
    if modes is None or modes == "plain":
        return LEGACY_MODES
    if modes == "recency":
        return RECENCY_MODES
    if isinstance(modes, str | QueryMode):
        modes = [modes]
    out = [str(parse_mode(m)) for m in modes]
    if not out:
        raise ValueError("query modes: empty list")
    dup = sorted({m for m in out if out.count(m) > 1})
    if dup:
        raise ValueError(f"query modes given twice: {dup}")
    return tuple(out)
