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
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from gensim.models import Word2Vec
from gensim.models.callbacks import CallbackAny2Vec
from numpy.typing import ArrayLike, NDArray

from embeddings.hugepages import huge_page_copy
from embeddings.params import SkipGramParams
from embeddings.types import Embeddings
from embeddings.validate import as_ids, describe_values, spawn_seeds
from embeddings.word2vec_vocab import count_position_blocks, scan_corpus_file

__all__ = [
    "SkipGram",
    "MAX_SEQUENCE_TOKENS",
    "TRAINERS",
    "chunk_sequence",
    "TokenCorpus",
    "BlockCorpus",
]

logger = logging.getLogger(__name__)

#: gensim's per-sentence (and per-batch) token limit on the iterable path (word2vec_inner).
MAX_SEQUENCE_TOKENS = 10_000
#: the skip-gram trainers: gensim ``Word2Vec`` or :func:`embeddings.sgns.train_sgns`
TRAINERS = ("gensim", "numba")


def chunk_sequence(
    seq: NDArray[np.int64], max_len: int = MAX_SEQUENCE_TOKENS, overlap: int = 0
) -> list[NDArray[np.int64]]:
    """Split ``seq`` into chunks of at most ``max_len`` tokens, consecutive ones sharing ``overlap``.

    Every run of ``overlap + 1`` consecutive tokens lies inside at least one chunk, so a sliding
    window of radius ``overlap`` sees all its pairs.
    """
    if max_len < 2:
        raise ValueError(f"max_len must be >= 2, got {max_len}")
    if not 0 <= overlap < max_len:
        raise ValueError(f"overlap must be in [0, max_len), got {overlap} (max_len={max_len})")
    n = seq.shape[0]
    if n <= max_len:
        return [seq]
    step = max_len - overlap
    out = []
    start = 0
    while True:
        out.append(seq[start : start + max_len])
        if start + max_len >= n:
            break
        start += step
    return out


def _as_id_sequence(seq: Any, index: int) -> NDArray[np.int64]:
    arr = np.asarray(seq)
    if arr.ndim != 1:
        raise ValueError(f"sequence {index}: expected a 1-D array of ids, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"sequence {index}: ids must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


class TokenCorpus:
    """Restartable iterable of ``list[str]`` for gensim, built lazily from id sequences.

    Each pass converts one sequence at a time to tokens, splitting sequences longer than
    ``max_len`` (see ``chunk_sequence``). Only the int arrays are held in memory.
    """

    def __init__(
        self,
        sequences: Iterable[NDArray[np.int64]],
        max_len: int = MAX_SEQUENCE_TOKENS,
        overlap: int = 0,
    ) -> None:
        self.sequences = sequences
        self.max_len = max_len
        self.overlap = overlap
        self.n_split = 0  # sequences split in the last pass

    def __iter__(self) -> Iterator[list[str]]:
        n_split = 0
        for i, seq in enumerate(self.sequences):
            arr = _as_id_sequence(seq, i)
            if arr.shape[0] > self.max_len:
                n_split += 1
                for chunk in chunk_sequence(arr, self.max_len, self.overlap):
                    yield list(map(str, chunk.tolist()))
            else:
                yield list(map(str, arr.tolist()))
        self.n_split = n_split


class BlockCorpus:
    """Restartable iterable of ``list[str]`` over blocks of node-position rows (walks).

    ``blocks`` is any restartable iterable of 2-D integer arrays (e.g.
    ``embeddings.walks.WalkCorpus``, or ``[walks]`` for a whole matrix) whose rows are positions
    into ``node_ids``, padded on the right with -1. A row with fewer than ``min_length`` nodes is
    skipped (it holds no pair, and a token seen only there would keep an untrained vector). The
    tokens of a row are looked up in a per-position list of ``str(node_id)`` built once, and rows
    longer than ``max_len`` are split as by :class:`TokenCorpus`. Only one block is held at a
    time, so a streamed walk corpus never exists as a whole.
    """

    def __init__(
        self,
        blocks: Iterable[NDArray[np.integer]],
        node_ids: ArrayLike,
        max_len: int = MAX_SEQUENCE_TOKENS,
        overlap: int = 0,
        min_length: int = 2,
    ) -> None:
        self.blocks = blocks
        self.node_ids = as_ids(node_ids, name="node_ids")
        self.max_len = max_len
        self.overlap = overlap
        self.min_length = min_length
        self.n_split = 0  # rows split in the last pass
        self._tokens: list[str] | None = None

    def __iter__(self) -> Iterator[list[str]]:
        if self._tokens is None:
            self._tokens = [str(i) for i in self.node_ids.tolist()]
        toks = self._tokens
        n_nodes = len(toks)
        n_split = 0
        for block in self.blocks:
            arr = np.asarray(block)
            if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
                raise ValueError(f"blocks must be 2-D integer arrays, got {arr.dtype} {arr.shape}")
            if arr.size and (arr.max() >= n_nodes or arr.min() < -1):
                raise ValueError(f"block holds positions outside [-1, {n_nodes})")
            lengths = (arr >= 0).sum(axis=1).tolist()
            for row, n in zip(arr.tolist(), lengths, strict=True):
                if n < self.min_length:
                    continue
                if n > self.max_len:
                    n_split += 1
                    for chunk in chunk_sequence(np.asarray(row[:n]), self.max_len, self.overlap):
                        yield [toks[j] for j in chunk.tolist()]
                else:
                    yield [toks[j] for j in row[:n]]
        self.n_split = n_split


def _numba_version() -> str:
    import numba

    return str(numba.__version__)


def _library_versions() -> dict[str, str]:
    import gensim

    return {
        "gensim": gensim.__version__,
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
                gensim reads it once for the vocabulary and once per epoch), or the path of a corpus file (one sequence per line, ids separated by
                spaces) for gensim's ``corpus_file`` mode.
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
        corpus: TokenCorpus | BlockCorpus | None = None
        if isinstance(sequences, str | os.PathLike):
            path = Path(sequences)
            if not path.is_file():
                raise ValueError(f"corpus file {path} does not exist")
            if path.stat().st_size == 0:
                raise ValueError(f"corpus file {path} is empty")
            corpus_file = str(path)
        if self.trainer == "numba":
            return self._fit_numba(sequences, params, int(seed), meta, all_ids)
        if corpus_file is None and isinstance(sequences, BlockCorpus):
            corpus = BlockCorpus(
                sequences.blocks,
                sequences.node_ids,
                MAX_SEQUENCE_TOKENS,
                overlap=int(params.window),
                min_length=sequences.min_length,
            )
        elif corpus_file is None:
            if isinstance(sequences, Iterator):
                sequences = list(sequences)
            corpus = TokenCorpus(sequences, MAX_SEQUENCE_TOKENS, overlap=int(params.window))

        t0 = time.perf_counter()
        model = _LossTrackingWord2Vec(
            vector_size=int(params.dim),
            window=int(params.window),
            min_count=int(params.min_count),
            sg=int(params.sg),
            hs=0,
            negative=int(params.negative),
            ns_exponent=float(params.ns_exponent),
            sample=float(params.sample),
            alpha=float(params.alpha),
            min_alpha=float(params.min_alpha),
            shrink_windows=bool(params.shrink_windows),
            workers=int(params.workers),
            seed=int(seed),
            compute_loss=True,
        )
        # the raw vocabulary gensim's Python scan would build, counted in compiled code where
        # the corpus allows it (None: gensim scans it, and names any problem)
        if corpus_file is not None:
            counted = scan_corpus_file(corpus_file)
        elif isinstance(corpus, BlockCorpus):
            counted = count_position_blocks(corpus.blocks, corpus.node_ids, corpus.min_length)
        else:
            counted = None
        if counted is not None:
            model.build_vocab_from_freq(counted.raw_vocab(), corpus_count=counted.n_sentences)
            model.corpus_total_words = counted.n_tokens
        elif corpus_file is not None:
            model.build_vocab(corpus_file=corpus_file)
        else:
            model.build_vocab(corpus_iterable=corpus)
        vocab_scan = "gensim" if counted is None else "compiled"
        vocab_seconds = time.perf_counter() - t0
        if len(model.wv) == 0:
            raise ValueError(
                "no id occurs at least min_count="
                f"{params.min_count} times (empty sequences or min_count too high)"
            )
        n_split = corpus.n_split if corpus is not None else 0
        if n_split:
            logger.info(
                "split %d sequences longer than %d tokens into overlapping chunks (gensim #2880)",
                n_split,
                MAX_SEQUENCE_TOKENS,
            )

        huge_bytes = _move_weights_to_huge_pages(model) if self.huge_pages else 0

        bar = None
        if self.progress:
            from embeddings.progress import progress_bar as tqdm  # plain lines when not a TTY

            bar = tqdm(total=int(params.epochs), desc="word2vec epochs", unit="epoch")

        class _EpochEnd(CallbackAny2Vec):
            def on_epoch_end(self, m: Any) -> None:
                m.close_epoch_loss()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{m.epoch_losses[-1]:.4g}")

        try:
            if corpus_file is not None:
                model.train(
                    corpus_file=corpus_file,
                    total_words=model.corpus_total_words,
                    total_examples=model.corpus_count,
                    epochs=int(params.epochs),
                    compute_loss=True,
                    callbacks=[_EpochEnd()],
                )
            else:
                model.train(
                    corpus_iterable=corpus,
                    total_examples=model.corpus_count,
                    epochs=int(params.epochs),
                    compute_loss=True,
                    callbacks=[_EpochEnd()],
                )
        finally:
            if bar is not None:
                bar.close()
        seconds = time.perf_counter() - t0

        keys = model.wv.index_to_key
        try:
            ids = np.fromiter((int(k) for k in keys), dtype=np.int64, count=len(keys))
        except ValueError as exc:
            raise ValueError(f"corpus holds a token that is not an integer id: {exc}") from exc
        order = np.argsort(ids, kind="stable")
        vectors = np.ascontiguousarray(model.wv.vectors[order], dtype=np.float32)
        ids = ids[order]

        info: dict[str, Any] = {
            "method": "skipgram" if params.sg else "cbow",
            "params": self.get_params(),
            "seed": int(seed),
            "random_state": self.random_state if isinstance(self.random_state, int) else None,
            "seconds": seconds,
            "versions": _library_versions(),
            "loss_per_epoch": [float(x) for x in model.epoch_losses],
            "corpus_sequences": int(model.corpus_count),
            "corpus_tokens": int(model.corpus_total_words),
            "vocabulary": int(len(keys)),
            "sequences_split": int(n_split),
            "corpus_file": corpus_file is not None,
            "vocab_seconds": vocab_seconds,
            "vocab_scan": vocab_scan,
            "huge_page_bytes": int(huge_bytes),
            "skipgram_trainer": "gensim",
        }
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
        )
        order = np.argsort(corpus.ids, kind="stable")
        ids = corpus.ids[order]
        vectors = np.ascontiguousarray(res.vectors[order], dtype=np.float32)
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


def _move_weights_to_huge_pages(model: Word2Vec) -> int:
    """Replace the arrays gensim's compiled training reads at random rows (through
    ``wv.vectors``, ``syn1neg`` and ``cum_table`` at each ``train`` call: the input and output
    matrices, and the table binary-searched for every negative sample) by copies on huge pages;
    returns the bytes moved (0 where huge pages are unavailable)."""
    moved = 0
    vectors = huge_page_copy(model.wv.vectors)
    if vectors is not None:
        model.wv.vectors = vectors
        moved += vectors.nbytes
    for name in ("syn1neg", "cum_table"):
        arr = getattr(model, name, None)
        copy = None if arr is None else huge_page_copy(arr)
        if copy is not None:
            setattr(model, name, copy)
            moved += copy.nbytes
    return moved


class _LossTrackingWord2Vec(Word2Vec):
    """``Word2Vec`` that moves gensim's float32 running loss into a float64 sum after each job."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loss_lock = threading.Lock()
        self._job_loss_sum = 0.0
        self.epoch_losses: list[float] = []
        super().__init__(*args, **kwargs)

    def _harvest_loss(self) -> None:
        with self._loss_lock:
            self._job_loss_sum += float(self.running_training_loss)
            self.running_training_loss = 0.0

    def _do_train_job(self, sentences: Any, alpha: Any, inits: Any) -> Any:
        out = super()._do_train_job(sentences, alpha, inits)
        self._harvest_loss()
        return out

    def _do_train_epoch(self, *args: Any, **kwargs: Any) -> Any:
        out = super()._do_train_epoch(*args, **kwargs)
        self._harvest_loss()
        return out

    def close_epoch_loss(self) -> None:
        """Append the loss summed since the last call to ``epoch_losses``."""
        self._harvest_loss()
        with self._loss_lock:
            self.epoch_losses.append(self._job_loss_sum)
            self._job_loss_sum = 0.0
