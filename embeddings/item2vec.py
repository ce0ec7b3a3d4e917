"""``Item2Vec``: skip-gram (gensim) over item sequences or item sets.

Item2vec set mode (Barkan & Koenigstein 2016): every pair of items in a user's set is a context
pair. It is implemented by giving gensim a window as long as the longest set, with window
shrinking off: gensim's skip-gram pairs position i with every position within ``window`` of it in
the same sentence, so each of the n*(n-1) ordered pairs of a set of n items is trained exactly once
per epoch, whatever the order of the items (tested by counting the pairs through gensim's loss).
This was chosen over shuffling with a short window because it is exact and deterministic: a
shuffled short window only samples the pairs. Sets longer than ``max_set_size`` (at most gensim's
10,000-token limit) cannot be one sentence; they are shuffled and cut into near-equal random
chunks afresh in every epoch, so each epoch trains all pairs inside the chunks and, over epochs,
a uniform sample of all pairs. The cost of set mode is quadratic in set length (a user with 2,000
items gives 4 million pairs per epoch); ``max_set_size`` bounds it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from embeddings.base import TrainerBase, public_module
from embeddings.graph import ItemGraph
from embeddings.inputs import (
    _SESSIONS,
    _TABLES,
    _all_item_ids,
    _is,
    _item_labels,
    _note_side_info,
    _sessions_from,
    _with_item_labels,
)
from embeddings.params import SkipGramParams, skipgram_hyperparams
from embeddings.types import Embeddings
from embeddings.validate import spawn_seeds
from embeddings.word2vec import MAX_SEQUENCE_TOKENS, SkipGram

__all__ = ["Item2Vec"]

logger = logging.getLogger("embeddings.trainers")


class _SetCorpus:
    """Restartable iterable of item sets for set mode (id arrays, one set per sentence).

    Sets up to ``cap`` items are yielded whole (order irrelevant: the window covers the set).
    Longer sets are shuffled and cut into near-equal chunks of at most ``cap`` items; pass ``e``
    uses its own generator seeded from ``(seed, e)``, so every pass cuts differently but runs are
    reproducible.
    """

    def __init__(self, sets: list[NDArray[np.int64]], cap: int, seed: int) -> None:
        self.sets = sets
        self.cap = cap
        self.seed = seed
        self.passes = 0

    def __iter__(self) -> Iterator[NDArray[np.int64]]:
        rng = np.random.default_rng([self.seed, self.passes])
        self.passes += 1
        for s in self.sets:
            n = s.shape[0]
            if n <= self.cap:
                yield s
                continue
            n_chunks = -(-n // self.cap)
            yield from np.array_split(rng.permutation(s), n_chunks)


def _as_item_sets(data: Any, min_rating: float | None, min_length: int) -> list[NDArray[np.int64]]:
    """One set per user (Interactions) or per given session / sequence, duplicates removed."""
    if _is(data, _TABLES, "Interactions") or _is(data, _SESSIONS, "Sessions"):
        seqs: Any = _sessions_from(data, min_rating, None, min_length)
    else:
        seqs = _as_sequence_list(data)
    out = []
    for s in seqs:
        _, first = np.unique(s, return_index=True)
        u = s[np.sort(first)]  # distinct items in first-seen order
        if u.shape[0] >= min_length:
            out.append(np.ascontiguousarray(u, dtype=np.int64))
    if not out:
        raise ValueError(f"no set with at least {min_length} distinct items")
    return out


def _as_sequence_list(data: Any) -> list[NDArray[np.int64]]:
    if isinstance(data, ItemGraph) or type(data).__module__.startswith("networkx"):
        raise ValueError(
            f"Item2Vec needs sequences or interactions, not a graph ({type(data).__name__}): "
            "use DeepWalk or Node2Vec"
        )
    if isinstance(data, str | bytes | os.PathLike) or not isinstance(data, Sequence | Iterator):
        raise ValueError(
            f"expected Interactions, Sessions or a list of id arrays, got {type(data).__name__}"
        )
    out = []
    for i, s in enumerate(data):
        arr = np.asarray(s)
        if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"sequence {i}: expected a 1-D integer id array, got {arr.dtype}")
        out.append(arr.astype(np.int64))
    if not out or all(a.size == 0 for a in out):
        raise ValueError("no sequences given (empty input)")
    return out


@public_module("embeddings.trainers")
class Item2Vec(TrainerBase):
    """Item2vec: skip-gram over item sequences (``mode="sequence"``) or item sets (``"set"``).

    Args:
        mode: ``"sequence"`` = time-ordered sessions with a sliding ``window`` (randomly shrunk
            as in word2vec unless ``shrink_windows=False``); ``"set"`` = every pair of a user's
            items (Barkan & Koenigstein), see the module docstring. ``window`` and
            ``shrink_windows`` only apply to sequence mode.
        dim, window, epochs, sg, negative, ns_exponent, sample, min_count, alpha, min_alpha,
            shrink_windows, workers: the skip-gram settings
            (:class:`embeddings.params.SkipGramParams`), trained by gensim.
        min_rating: keep only interactions rated >= this (None = all).
        session_gap: sequence mode: split a user's history after a gap longer than this many
            timestamp units (None = one sequence per user). Set mode always uses one set per user.
        min_length: drop sequences/sets with fewer items (a single item has no context).
        max_set_size: set mode: longest set trained as one sentence (None = gensim's limit,
            10,000); longer sets are chunked at random each epoch.
        random_state: seed of gensim and of the set chunking.
        progress: progress bar over epochs.
    """

    uses_side_info = False
    input_kind = "sessions"

    hyperparams = {
        "mode": ("sequence", str),
        **skipgram_hyperparams(
            (
                "dim",
                "window",
                "epochs",
                "sg",
                "negative",
                "ns_exponent",
                "sample",
                "min_count",
                "alpha",
                "min_alpha",
                "shrink_windows",
            ),
            epochs=10,
        ),
        "min_rating": (None, float | None),
        "session_gap": (None, int | None),
        "min_length": (2, int),
        "max_set_size": (None, int | None),
        **skipgram_hyperparams(("workers",)),
        "random_state": (None, Any),
        "progress": (True, bool),
    }

    def fit(self, data: Any, side_info: Any = None) -> Embeddings:
        """Train on ``Interactions``, ``Sessions`` or a list of id arrays; returns item vectors."""
        _note_side_info("Item2Vec", side_info)
        if self.mode not in ("sequence", "set"):
            raise ValueError(f"Item2Vec: mode must be 'sequence' or 'set', got {self.mode!r}")
        if not isinstance(self.min_length, int | np.integer) or self.min_length < 2:
            raise ValueError(f"Item2Vec: min_length must be an int >= 2, got {self.min_length}")
        params = SkipGramParams.of(self)
        seed_chunks, seed_w2v = spawn_seeds(self.random_state, 2)
        extra: dict[str, Any] = {"method": f"item2vec-{self.mode}", "trainer": "Item2Vec"}
        if self.mode == "sequence":
            if _is(data, _TABLES, "Interactions") or _is(data, _SESSIONS, "Sessions"):
                seqs: Any = _sessions_from(data, self.min_rating, self.session_gap, self.min_length)
                n_seq = len(seqs)
            else:
                seqs = [s for s in _as_sequence_list(data) if s.shape[0] >= self.min_length]
                if not seqs:
                    raise ValueError(f"no sequence with at least {self.min_length} items")
                n_seq = len(seqs)
            model = SkipGram.from_params(params, seed_w2v, self.progress)
            extra.update(window_used=int(self.window), n_sequences=int(n_seq))
        else:
            cap = MAX_SEQUENCE_TOKENS if self.max_set_size is None else int(self.max_set_size)
            if not 2 <= cap <= MAX_SEQUENCE_TOKENS:
                raise ValueError(
                    f"Item2Vec: max_set_size must be in [2, {MAX_SEQUENCE_TOKENS}], "
                    f"got {self.max_set_size}"
                )
            sets = _as_item_sets(data, self.min_rating, self.min_length)
            longest = max(s.shape[0] for s in sets)
            window = max(1, min(longest, cap) - 1)
            n_chunked = sum(s.shape[0] > cap for s in sets)
            if n_chunked:
                logger.info(
                    "set mode: %d sets longer than max_set_size=%d are chunked at random per epoch",
                    n_chunked,
                    cap,
                )
            seqs = _SetCorpus(sets, cap, seed_chunks)
            model = SkipGram.from_params(
                params.replace(window=window, shrink_windows=False), seed_w2v, self.progress
            )
            lens = np.array([s.shape[0] for s in sets])
            extra.update(
                window_used=int(window),
                n_sets=len(sets),
                longest_set=int(longest),
                sets_chunked=int(n_chunked),
                pairs_per_epoch=int((lens * (lens - 1)).sum()) if not n_chunked else None,
            )
        extra["trainer_params"] = self._meta_params()
        extra["random_state"] = self.random_state if isinstance(self.random_state, int) else None
        emb = model.fit_sequences(seqs, meta=extra, all_ids=_all_item_ids(data))
        return _with_item_labels(emb, _item_labels(data))
