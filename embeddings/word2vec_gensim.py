"""The gensim side of :class:`embeddings.word2vec.SkipGram` (``trainer="gensim"``): training with
gensim ``Word2Vec`` on a token corpus or a corpus file, the per-epoch loss, the compiled
vocabulary scans and the weight matrices moved to huge pages (see :mod:`embeddings.word2vec`
for what each does and why).

Split from :mod:`embeddings.word2vec` so that gensim is imported only when it trains: this
module imports gensim at its top, and ``SkipGram`` imports this module only on its gensim path.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import gensim
import numpy as np
from gensim.models import Word2Vec
from gensim.models.callbacks import CallbackAny2Vec
from numpy.typing import NDArray

from embeddings.hugepages import huge_page_copy
from embeddings.params import SkipGramParams
from embeddings.word2vec_corpus import MAX_SEQUENCE_TOKENS, BlockCorpus, TokenCorpus
from embeddings.word2vec_vocab import count_position_blocks, scan_corpus_file

__all__ = ["fit_gensim", "library_versions"]

#: the same logger as ``embeddings.word2vec`` (callers filter on that name)
logger = logging.getLogger("embeddings.word2vec")


def library_versions() -> dict[str, str]:
    """Versions recorded in the meta of a gensim fit."""
    return {
        "gensim": gensim.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def fit_gensim(
    sequences: Iterable[Any] | str | os.PathLike,
    corpus_file: str | None,
    params: SkipGramParams,
    seed: int,
    params_dict: dict[str, Any],
    random_state: Any = None,
    progress: bool = True,
    huge_pages: bool = True,
) -> tuple[NDArray[np.int64], NDArray[np.float32], dict[str, Any]]:
    """``SkipGram.fit_sequences`` with gensim: ``(ids, vectors, info)`` sorted by id, the
    arguments checked by the caller (``corpus_file``: the path of ``sequences`` when it is a
    file; ``params_dict``: ``SkipGram.get_params()`` for the meta)."""
    corpus: TokenCorpus | BlockCorpus | None = None
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

    huge_bytes = _move_weights_to_huge_pages(model) if huge_pages else 0

    bar = None
    if progress:
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

    # the output matrix is no longer needed: freed before the input one is copied in id order
    model.syn1neg = None
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
        "params": params_dict,
        "seed": int(seed),
        "random_state": random_state if isinstance(random_state, int) else None,
        "seconds": seconds,
        "versions": library_versions(),
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
    return ids, vectors, info


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
