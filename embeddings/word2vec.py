"""``SkipGram``: the one skip-gram step used by every sequence-based method.

Item2vec (sessions or sets), DeepWalk and Node2vec (random walks) all end here. It trains with
gensim ``Word2Vec`` (``trainer="gensim"``, the default) or with the numba trainer of
:mod:`embeddings.sgns` (``trainer="numba"``: the same algorithm on int id arrays, walk blocks or
an integer corpus file, no strings; skip-gram only). Both return the same ``Embeddings``. With
gensim, the wrapper

- maps int64 ids to gensim ``str`` tokens and back (``Embeddings.ids`` are the caller's ids);
- streams the sequences to gensim through a restartable iterable that converts one sequence to
  tokens at a time (no giant list of strings), or trains from a corpus file (``corpus_file``
  mode, one sequence per line of space-separated id tokens, e.g. from
  ``embeddings.walks.walks_to_corpus_file``);
- splits sequences longer than gensim's ``MAX_WORDS_IN_BATCH`` (10,000 tokens) into chunks that
  overlap by ``window`` tokens, because gensim's iterable path silently drops every token after
  the 10,000th of a sentence (gensim issue #2880). The overlap keeps every (center, context)
  pair within ``window`` in at least one chunk; the ``window * (window - 1)`` ordered pairs that
  lie entirely inside an overlap are trained twice per chunk boundary (negligible for long
  sequences). The corpus-file path of gensim already splits long lines itself;
- records the training loss **per epoch** in ``meta["loss_per_epoch"]``. gensim's
  ``get_latest_training_loss()`` is a running sum kept in a float32 that is never reset between
  epochs, so it saturates and its per-epoch differences become meaningless (gensim #2617, #2735).
  Here the loss is moved into a float64 accumulator after every job and reset, then summed per
  epoch. With ``workers=1`` this is exact; with several worker threads gensim's threads share one
  loss variable, so the figure is approximate (gensim's own race, not fixed here);
- counts the vocabulary of a corpus file of integer ids in compiled code
  (:mod:`embeddings.word2vec_vocab`: the raw vocabulary gensim's own Python scan would build, in
  the same order, so the same vectors) and falls back to gensim's scan for any other file; the
  same for streamed walk blocks (``BlockCorpus``);
- trains on copies of gensim's two weight matrices placed on transparent huge pages
  (:mod:`embeddings.hugepages`, ``huge_pages=True``): same values, fewer TLB misses on the
  random rows a large vocabulary is trained on;
- seeds gensim from ``random_state``. gensim 4 draws initial vectors with
  ``numpy.random.default_rng(seed)`` and negative samples / window shrinking from a per-job
  ``RandomState`` derived from the model seed; its ``hashfxn`` (Python ``hash``) is only used by
  the deprecated ``seeded_vector``. So with ``workers=1`` the same seed gives bit-identical
  vectors whatever ``PYTHONHASHSEED`` is (tested); with ``workers > 1`` the thread scheduling
  changes the order of updates and results differ from run to run (gensim #546 — older gensim
  versions also needed a fixed ``PYTHONHASHSEED``).

The code sits in three modules, all names importable from here: this one (``SkipGram``, the
numba path), :mod:`embeddings.word2vec_corpus` (``TokenCorpus``, ``BlockCorpus``,
``chunk_sequence``) and :mod:`embeddings.word2vec_gensim` (the gensim path). gensim is imported
only when ``trainer="gensim"`` trains, so a numba fit never loads it (65 MB of resident memory,
``reports/scale/memory.md``).
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings.params import SkipGramParams
from embeddings.types import Embeddings
from embeddings.validate import as_ids, check_corpus_file, describe_values, spawn_seeds
from embeddings.word2vec_corpus import (
    MAX_SEQUENCE_TOKENS,
    BlockCorpus,
    TokenCorpus,
    chunk_sequence,
)

__all__ = [
    "SkipGram",
    "MAX_SEQUENCE_TOKENS",
    "TRAINERS",
    "chunk_sequence",
    "TokenCorpus",
    "BlockCorpus",
]

logger = logging.getLogger(__name__)

#: the skip-gram trainers: gensim ``Word2Vec`` or :func:`embeddings.sgns.train_sgns`
TRAINERS = ("gensim", "numba")


def _numba_version() -> str:
    import numba

    return str(numba.__version__)


def _library_versions() -> dict[str, str]:
    """Versions for the meta, gensim's read from its installed metadata: the numba path never
    imports gensim (65 MB of resident memory it would not use)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        gensim_version = version("gensim")
    except PackageNotFoundError:  # pragma: no cover - gensim is a core dependency
        gensim_version = "not installed"
    return {
        "gensim": gensim_version,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


class SkipGram:
    """Skip-gram (or CBOW) with negative sampling over id sequences (gensim ``Word2Vec``).

    Args:
        dim, window, epochs, sg, negative, ns_exponent, sample, min_count, alpha, min_alpha,
            shrink_windows, workers: the fields of :class:`embeddings.params.SkipGramParams`
            (validated there at fit time; ``window`` must also stay below gensim's
            10,000-token sentence limit). Determinism needs ``workers=1``.
        random_state: int / SeedSequence / Generator / None; gensim's seed is derived from it.
        progress: tqdm bar over epochs.
        huge_pages: train on copies of gensim's two weight matrices placed on transparent huge
            pages (:mod:`embeddings.hugepages`; fewer TLB misses at large vocabularies). Where the
            kernel does not offer them the matrices stay as they are. Same values either way,
            so the same vectors: a memory placement, not a hyperparameter.
        trainer: ``"gensim"`` (default) or ``"numba"`` (:func:`embeddings.sgns.train_sgns`:
            skip-gram only, ``sg=1``; ids must be integers, and a corpus file must hold ids in
            ``[0, 2**24)``). Same algorithm and vocabulary rules, different random streams.
    """

    def __init__(
        self,
        dim: int = 64,
        window: int = 5,
        epochs: int = 5,
        sg: int = 1,
        negative: int = 5,
        ns_exponent: float = 0.75,
        sample: float = 1e-3,
        min_count: int = 1,
        alpha: float = 0.025,
        min_alpha: float = 1e-4,
        shrink_windows: bool = True,
        workers: int = 1,
        random_state: Any = None,
        progress: bool = True,
        huge_pages: bool = True,
        trainer: str = "gensim",
    ) -> None:
        self.dim = dim
        self.window = window
        self.epochs = epochs
        self.sg = sg
        self.negative = negative
        self.ns_exponent = ns_exponent
        self.sample = sample
        self.min_count = min_count
        self.alpha = alpha
        self.min_alpha = min_alpha
        self.shrink_windows = shrink_windows
        self.workers = workers
        self.random_state = random_state
        self.progress = progress
        self.huge_pages = huge_pages
        self.trainer = trainer

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as a dict (JSON-serialisable except ``random_state`` objects)."""
        keys = (
            "dim window epochs sg negative ns_exponent sample min_count alpha min_alpha "
            "shrink_windows workers trainer"
        ).split()
        return {k: getattr(self, k) for k in keys}

    @classmethod
    def from_params(
        cls,
        params: SkipGramParams,
        random_state: Any = None,
        progress: bool = True,
        trainer: str = "gensim",
    ) -> SkipGram:
        """The wrapper for a ``SkipGramParams`` (what the trainers use)."""
        return cls(
            **params.as_dict(), random_state=random_state, progress=progress, trainer=trainer
        )

    def _check_params(self) -> SkipGramParams:
        try:
            params = SkipGramParams.of(self)
        except ValueError as exc:
            raise ValueError(f"SkipGram: {exc} (params {self.get_params()})") from None
        if self.trainer not in TRAINERS:
            raise ValueError(f"SkipGram: trainer must be one of {TRAINERS}, got {self.trainer!r}")
        if self.trainer == "numba" and params.sg != 1:
            raise ValueError("SkipGram: trainer='numba' trains skip-gram only (sg=1), got sg=0")
        if params.window >= MAX_SEQUENCE_TOKENS:
            raise ValueError(
                f"SkipGram: window {params.window} must be < {MAX_SEQUENCE_TOKENS} "
                "(gensim's per-sentence limit)"
            )
        return params

    def fit_sequences(
        self,
        sequences: Iterable[ArrayLike] | str | os.PathLike,
        meta: dict[str, Any] | None = None,
        all_ids: ArrayLike | None = None,
    ) -> Embeddings:
        """Train on id sequences and return one vector per id seen at least ``min_count`` times.

        Args:
            sequences: an iterable of 1-D integer id arrays (a list, ``Sessions``, any object
                iterable more than once; a one-shot iterator is read once into a list of int
                arrays), a :class:`BlockCorpus` (blocks of position rows, e.g. streamed walks;
                gensim reads it once for the vocabulary and once per epoch), or the path of a
                corpus file (one sequence per line, ids separated by spaces) for gensim's
                ``corpus_file`` mode.
            meta: extra entries for the returned ``Embeddings.meta`` (e.g. the method name).
            all_ids: the full list of item ids the caller expects; the number (and a sample) of
                those that got no vector is logged and stored in meta as ``n_without_vector``.

        Returns:
            ``Embeddings`` sorted by id, with meta: method, params, seed, seconds, versions,
            ``loss_per_epoch`` (list of floats), vocabulary and corpus sizes.
        """
        params = self._check_params()
        seed = spawn_seeds(self.random_state, 1)[0] % (2**31 - 1)
        corpus_file: str | None = None
        if isinstance(sequences, str | os.PathLike):
            corpus_file = str(check_corpus_file(sequences))
        if self.trainer == "numba":
            return self._fit_numba(sequences, params, int(seed), meta, all_ids)
        from embeddings.word2vec_gensim import fit_gensim  # imports gensim

        ids, vectors, info = fit_gensim(
            sequences, corpus_file, params, int(seed), self.get_params(), self.random_state,
            self.progress, self.huge_pages,
        )  # fmt: skip
        return self._finish(ids, vectors, info, params, meta, all_ids)

    def _fit_numba(
        self,
        sequences: Any,
        params: SkipGramParams,
        seed: int,
        meta: dict[str, Any] | None,
        all_ids: ArrayLike | None,
    ) -> Embeddings:
        """``fit_sequences`` with :func:`embeddings.sgns.train_sgns`."""
        from embeddings import sgns

        t0 = time.perf_counter()
        is_file = isinstance(sequences, str | os.PathLike)
        if is_file:
            corpus = sgns.corpus_from_file(sequences, int(params.min_count))
        elif isinstance(sequences, BlockCorpus):
            corpus = sgns.corpus_from_position_blocks(
                sequences.blocks, sequences.node_ids, sequences.min_length, int(params.min_count)
            )
        else:
            if isinstance(sequences, Iterator):
                sequences = list(sequences)
            corpus = sgns.corpus_from_sequences(sequences, int(params.min_count))
        vocab_seconds = time.perf_counter() - t0
        res = sgns.train_sgns(
            corpus,
            dim=params.dim,
            window=params.window,
            epochs=params.epochs,
            negative=params.negative,
            ns_exponent=params.ns_exponent,
            sample=params.sample,
            alpha=params.alpha,
            min_alpha=params.min_alpha,
            shrink_windows=params.shrink_windows,
            workers=params.workers,
            random_state=seed,
            huge_pages=self.huge_pages,
            progress=self.progress,
            keep_context=False,  # the output vectors are freed before the copy below
        )
        order = np.argsort(corpus.ids, kind="stable")
        ids = corpus.ids[order]
        vectors = np.ascontiguousarray(res.vectors[order], dtype=np.float32)
        res.vectors = vectors  # the training matrix is freed here
        info: dict[str, Any] = {
            "method": "skipgram",
            "params": self.get_params(),
            "seed": int(seed),
            "random_state": self.random_state if isinstance(self.random_state, int) else None,
            "seconds": vocab_seconds + res.seconds,
            "versions": {**_library_versions(), "numba": _numba_version()},
            "loss_per_epoch": [float(x) for x in res.loss_per_epoch],
            "corpus_sequences": int(corpus.n_sequences),
            "corpus_tokens": int(corpus.n_tokens),
            "vocabulary": int(corpus.n_words),
            "sequences_split": 0,
            "corpus_file": is_file,
            "vocab_seconds": vocab_seconds,
            "vocab_scan": "compiled" if corpus.source in ("file", "blocks") else "numpy",
            "huge_page_bytes": int(res.huge_page_bytes),
            "skipgram_trainer": "numba",
            "compile_seconds": res.compile_seconds,
            "pairs_trained": int(res.pairs),
        }
        return self._finish(ids, vectors, info, params, meta, all_ids)

    def _finish(
        self,
        ids: NDArray[np.int64],
        vectors: NDArray[np.float32],
        info: dict[str, Any],
        params: SkipGramParams,
        meta: dict[str, Any] | None,
        all_ids: ArrayLike | None,
    ) -> Embeddings:
        """The ``Embeddings`` of either trainer, with the missing ids logged and ``meta``."""
        seconds = info["seconds"]
        if all_ids is not None:
            wanted = np.unique(as_ids(all_ids, name="all_ids", unique=False))
            missing = wanted[~np.isin(wanted, ids)]
            info["n_without_vector"] = int(missing.shape[0])
            if missing.size:
                logger.warning(
                    "%d of %d items got no vector (not in any sequence or fewer than "
                    "min_count=%d occurrences): %s",
                    missing.shape[0],
                    wanted.shape[0],
                    params.min_count,
                    describe_values(missing),
                )
            else:
                logger.info("all %d items got a vector", wanted.shape[0])
        if meta:
            info.update(meta)
        logger.info(
            "%s: %d vectors of dim %d in %.1f s, loss per epoch %s",
            info["method"],
            ids.shape[0],
            params.dim,
            seconds,
            [round(x, 1) for x in info["loss_per_epoch"]],
        )
        return Embeddings(ids, vectors, info)


def __getattr__(name: str) -> Any:
    """Names that moved to :mod:`embeddings.word2vec_gensim` (imported on first access, with
    gensim): ``_move_weights_to_huge_pages``, ``_LossTrackingWord2Vec``."""
    if name in ("_move_weights_to_huge_pages", "_LossTrackingWord2Vec"):
        from embeddings import word2vec_gensim

        return getattr(word2vec_gensim, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
