"""``SkipGramParams``: the skip-gram hyperparameters shared by every trainer, in one object.

Item2vec, DeepWalk and Node2vec hand them to gensim (``embeddings.word2vec.SkipGram``); BGE /
GES / EGES to their own compiled loop (``embeddings.eges``). The trainers keep flat keyword
arguments (``Item2Vec(dim=32, epochs=5)``: what configs, notebooks and tuning spaces use) and
build this object from them at ``fit`` time with :meth:`SkipGramParams.of`; their signatures
are declared from the fields here by :func:`skipgram_hyperparams` (name, type and default in
one place; a trainer only states the defaults that differ, e.g. Node2vec's ``dim=128,
window=10, epochs=2``, documented on each trainer).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SkipGramParams", "SKIPGRAM_FIELDS", "skipgram_hyperparams"]


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


@dataclass(frozen=True)
class SkipGramParams:
    """Skip-gram with negative sampling, trained by SGD with a linearly decaying rate.

    Attributes:
        dim: vector size (>= 1).
        window: context radius (>= 1): pairs up to ``window`` positions apart.
        epochs: passes over the corpus (>= 1).
        negative: negative samples per positive pair (>= 1).
        ns_exponent: exponent of the negative-sampling distribution (unigram^0.75 in word2vec).
        alpha, min_alpha: learning rate, decayed linearly from ``alpha`` (> 0) to ``min_alpha``
            (0 <= min_alpha <= alpha).
        shrink_windows: draw the effective window uniformly in 1..window per position
            (word2vec); False = every position uses the full window.
        workers: threads (>= 1); results are bit-reproducible for a seed only with 1.
        sg: 1 = skip-gram, 0 = CBOW (gensim only).
        sample: subsampling threshold of frequent tokens, 0 = none (gensim only).
        min_count: tokens seen fewer times get no vector (>= 1; gensim only).

    Invalid values raise ``ValueError`` naming the parameter when the object is built.
    """

    dim: int = 64
    window: int = 5
    epochs: int = 5
    negative: int = 5
    ns_exponent: float = 0.75
    alpha: float = 0.025
    min_alpha: float = 1e-4
    shrink_windows: bool = True
    workers: int = 1
    sg: int = 1
    sample: float = 1e-3
    min_count: int = 1

    def __post_init__(self) -> None:
        for name in ("dim", "window", "epochs", "negative", "min_count", "workers"):
            val = getattr(self, name)
            if not _is_int(val) or val < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {val!r}")
        if self.sg not in (0, 1) or isinstance(self.sg, float):
            raise ValueError(f"sg must be 1 (skip-gram) or 0 (CBOW), got {self.sg!r}")
        for name in ("alpha", "min_alpha", "sample", "ns_exponent"):
            val = getattr(self, name)
            if not _is_number(val) or not np.isfinite(val):
                raise ValueError(f"{name} must be a finite number, got {val!r}")
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")
        if not 0 <= self.min_alpha <= self.alpha:
            raise ValueError(
                f"need 0 <= min_alpha <= alpha, got min_alpha={self.min_alpha}, alpha={self.alpha}"
            )
        if self.sample < 0:
            raise ValueError(f"sample must be >= 0, got {self.sample}")
        if not isinstance(self.shrink_windows, bool | np.bool_):
            raise ValueError(f"shrink_windows must be True or False, got {self.shrink_windows!r}")

    @classmethod
    def of(cls, params: Any, **overrides: Any) -> SkipGramParams:
        """Built from the matching keys of a mapping or the matching attributes of an object
        (a trainer), then ``overrides``; names it does not have keep the defaults here."""
        names = SKIPGRAM_FIELDS
        if isinstance(params, dict):
            got = {k: params[k] for k in names if k in params}
        else:
            got = {k: getattr(params, k) for k in names if hasattr(params, k)}
        got.update(overrides)
        return cls(**got)

    def as_dict(self) -> dict[str, Any]:
        """The flat ``name -> value`` dict (what ``get_params`` of a trainer holds)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> SkipGramParams:
        """A copy with some values changed (validated again)."""
        return dataclasses.replace(self, **changes)


#: the names of the fields of ``SkipGramParams``
SKIPGRAM_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SkipGramParams))


#: the fields' annotations as types (the dataclass holds strings under postponed annotations)
_FIELD_TYPES: dict[str, Any] = typing.get_type_hints(SkipGramParams)


def skipgram_hyperparams(names: tuple[str, ...], **defaults: Any) -> dict[str, tuple[Any, Any]]:
    """The declared hyperparameters (``name -> (default, annotation)``) of the skip-gram fields
    ``names``, in that order, for a trainer's ``hyperparams`` (:class:`embeddings.base.
    TrainerBase`): annotation from the field of ``SkipGramParams``, default from ``defaults``
    when given there, else the field's. Unknown names raise ``ValueError``."""
    fields = {f.name: f for f in dataclasses.fields(SkipGramParams)}
    unknown = sorted((set(names) | set(defaults)) - set(fields))
    if unknown:
        raise ValueError(f"not skip-gram parameters: {unknown} (valid: {', '.join(fields)})")
    stray = sorted(set(defaults) - set(names))
    if stray:
        raise ValueError(f"defaults given for parameters not declared: {stray}")
    return {n: (defaults.get(n, fields[n].default), _FIELD_TYPES[n]) for n in names}
