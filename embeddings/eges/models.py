"""BGE / GES / EGES trainers: walks of the item graph, then the compiled side-information
skip-gram (``embeddings.eges.kernels``); the model is described in ``embeddings.eges``."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

import numba
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from embeddings.base import TrainerBase, public_module
from embeddings.datasets.tables import Interactions, ItemSideInfo
from embeddings.eges import cold_start
from embeddings.eges.kernels import _hidden_all, _train_block
from embeddings.eges.side_info import NO_SIDE_INFO, prepare_side_info
from embeddings.graph import ItemGraph
from embeddings.inputs import graph_from_data
from embeddings.params import SkipGramParams, skipgram_hyperparams
from embeddings.sessions import Sessions
from embeddings.types import Embeddings
from embeddings.validate import check_random_state, spawn_seeds
from embeddings.walks.corpus import WalkCorpus
from embeddings.walks.generate import _check_positive_int
from embeddings.walks.stage import Walks

__all__ = ["BGE", "GES", "EGES"]

logger = logging.getLogger(__name__)

#: prange chunks per worker thread in each training block (workers > 1 only)
_CHUNKS_PER_WORKER = 8

#: the largest learning rate accepted: beyond it the SGD overflows on ordinary data
_MAX_ALPHA = 1.0


class _SideInfoSkipGram(TrainerBase):
    """Shared implementation of BGE / GES / EGES (see the module docstring).

    Args:
        dim, window, epochs, negative, ns_exponent, alpha, min_alpha, shrink_windows,
            workers: the skip-gram settings (:class:`embeddings.params.SkipGramParams`; this
            loop has no CBOW, subsampling or min_count). ``alpha <= 1`` (larger rates diverge);
            negatives come from unigram^``ns_exponent`` of walk occurrences; ``workers``
            threads walk and train (Hogwild; not bit-reproducible when > 1).
        num_walks, walk_length, p, q: walks (``embeddings.walks.generate_walks``) started from
            every node; p = q = 1 is DeepWalk, as in the EGES paper.
        min_rating, session_gap, directed, graph_window, distance_weighting,
            popularity_exponent: how the item graph is built from Interactions / Sessions
            (``graph_from_data``; ignored for an ``ItemGraph``).
        random_state: seeds the walks and the training (independent streams).
        progress: tqdm bars with the running loss per pair.

    Two stages: ``walks(data) -> Walks`` and ``fit_walks(walks, side_info=...)``; ``fit`` runs
    both. Fitted attributes: ``embeddings_`` (hidden vectors H of the graph's items), ``item_ids_``,
    ``fields_``, ``vocabularies_``, ``item_vectors_`` (W), ``side_vectors_`` (S, all fields'
    values stacked; see ``value_embeddings``), ``context_vectors_`` (C), ``weight_scores_``
    (a), ``loss_history_`` (mean loss per positive pair and epoch), ``n_pairs_``.
    """

    uses_side_info = True
    input_kind = "graph"
    has_field_weights = True
    _method: str = ""

    hyperparams = {
        **skipgram_hyperparams(
            ("dim", "window", "epochs", "negative", "ns_exponent", "alpha", "min_alpha")
        ),
        "num_walks": (10, int),
        "walk_length": (40, int),
        "p": (1.0, float),
        "q": (1.0, float),
        "min_rating": (None, float | None),
        "session_gap": (None, int | None),
        "directed": (True, bool),
        "graph_window": (1, int),
        "distance_weighting": ("uniform", str),
        "popularity_exponent": (0.0, float),
        **skipgram_hyperparams(("shrink_windows", "workers")),
        "random_state": (None, int | None),
        "progress": (True, bool),
    }

    # ------------------------------------------------------------------ parameters
    def _skipgram_params(self) -> SkipGramParams:
        """The validated skip-gram settings (this loop has no CBOW, subsampling or min_count),
        after the walk settings and the EGES-specific bounds are checked."""
        for name in ("num_walks", "walk_length"):
            _check_positive_int(getattr(self, name), name)
        params = SkipGramParams.of(self, sg=1, sample=0.0, min_count=1)
        if params.alpha > _MAX_ALPHA:
            raise ValueError(
                f"need 0 < alpha <= {_MAX_ALPHA} and 0 <= min_alpha <= alpha (larger learning "
                f"rates diverge), got alpha={self.alpha}, min_alpha={self.min_alpha}"
            )
        if getattr(self, "missing", "raise") not in ("raise", "item_only"):
            raise ValueError(f"missing must be 'raise' or 'item_only', got {self.missing!r}")
        drop = getattr(self, "item_dropout", 0.0)
        if (
            isinstance(drop, bool)
            or not isinstance(drop, int | float)
            or not 0.0 <= float(drop) < 1.0
        ):
            raise ValueError(f"item_dropout must be a number in [0, 1), got {drop!r}")
        return params

    def _learns_weights(self) -> bool:
        return bool(getattr(self, "learn_weights", False))

    # ------------------------------------------------------------------ fitting
    def fit(
        self, data: Interactions | Sessions | ItemGraph, side_info: ItemSideInfo | None = None
    ) -> Embeddings:
        """Build the item graph (unless given), generate walks, train; returns ``Embeddings``.

        Interactions are grouped into sessions with ``min_rating`` / ``session_gap``; the graph
        weight A->B counts direct successions. ``fit`` is ``fit_walks(walks(data), side_info)``.
        """
        self._skipgram_params()
        return self.fit_walks(self.walks(data), side_info=side_info)

    def walks(self, data: Interactions | Sessions | ItemGraph) -> Walks:
        """The walks ``fit`` trains on: ``embeddings.walks.generate_walks`` with ``num_walks``,
        ``walk_length``, ``p``, ``q``, ``workers`` over the item graph of ``data``."""
        graph = graph_from_data(  # given, or built from sessions (weight A->B: B follows A)
            data,
            self.min_rating,
            self.session_gap,
            self.directed,
            self.graph_window,
            self.distance_weighting,
            self.popularity_exponent,
        )
        seed_walks, _ = spawn_seeds(self.random_state, 2)
        return Walks.generate(
            graph,
            num_walks=self.num_walks,
            walk_length=self.walk_length,
            p=self.p,
            q=self.q,
            workers=self.workers,
            random_state=seed_walks,
            progress=self.progress,
        )

    def fit_walks(
        self,
        walks: Walks | ArrayLike | WalkCorpus,
        graph: ItemGraph | None = None,
        side_info: ItemSideInfo | None = None,
    ) -> Embeddings:
        """Train on given walks (the second stage of ``fit``).

        ``walks``: a ``Walks`` (from ``walks()``, or shared with another trainer and gensim, as
        the benchmarks do), or an int (n_walks, length) matrix of node positions of ``graph``
        (-1 padded). A ``WalkCorpus`` with ``cache="spill"`` (alone or inside ``Walks``) is
        read from its temporary file, each training block gathering its rows from there, so the
        whole matrix is never in memory; same vectors as the matrix.
        """
        params = self._skipgram_params()
        t0 = time.perf_counter()
        if graph is not None and not isinstance(graph, ItemGraph):
            raise ValueError(f"graph must be an ItemGraph, got {type(graph).__name__}")
        walks = Walks.of(walks, graph)
        graph = walks.graph
        node_ids = graph.node_ids
        n = node_ids.shape[0]
        source: WalkCorpus | None = None
        if isinstance(walks.rows, WalkCorpus):
            source = walks.rows
            if source.cache != "spill":
                raise ValueError("fit_walks needs a WalkCorpus with cache='spill' (random access)")
            walk_arr = np.empty((0, 1), np.int32)
        else:
            walk_arr = walks.rows
        if self.uses_side_info:
            fields, ptr, vals, vocabs, offsets = prepare_side_info(
                side_info, node_ids, self.fields, self.missing, self._method
            )
        else:
            fields, ptr, vals, vocabs, offsets = NO_SIDE_INFO
        F = len(fields)
        n_values = int(offsets[-1])

        _, seed_train = spawn_seeds(self.random_state, 2)
        rng = check_random_state(seed_train)
        d = int(params.dim)
        W = ((rng.random((n, d), dtype=np.float32) - 0.5) / d).astype(np.float32)
        S = ((rng.random((n_values, d), dtype=np.float32) - 0.5) / d).astype(np.float32)
        C = np.zeros((n, d), np.float32)
        A = np.zeros((n, F + 1), np.float32)

        if source is None:
            counts = np.bincount(walk_arr[walk_arr >= 0], minlength=n).astype(np.float64)
        else:  # one pass: counts, and the spill file for the blocks' random access
            counts = np.zeros(n, np.float64)
            for blk in source:
                counts += np.bincount(blk[blk >= 0], minlength=n)
        weights = counts**params.ns_exponent
        weights[counts == 0] = 0.0
        if weights.sum() <= 0:
            raise ValueError("walks hold no node: nothing to train on")
        cum_prob = np.cumsum(weights / weights.sum())
        cum_prob[-1] = 1.0

        n_walks = walk_arr.shape[0] if source is None else source.shape[0]
        workers = int(params.workers)
        n_threads = min(workers, numba.config.NUMBA_NUM_THREADS)
        if n_threads < workers:
            logger.warning("workers=%d but numba has only %d threads", workers, n_threads)
        # workers > 1: many small chunks per block, handed out one at a time (chunk size 1), so
        # a thread slowed by other work does not hold the block's barrier (static halves did)
        n_chunks = 1 if workers == 1 else workers * _CHUNKS_PER_WORKER
        seeds = np.array(spawn_seeds(rng, n_chunks), dtype=np.uint64)
        block = max(n_chunks * 16, workers * 64, -(-n_walks // 20))
        total = params.epochs * n_walks
        losses: list[float] = []
        pair_total = 0
        learn = self._learns_weights() and F > 0
        drop = float(getattr(self, "item_dropout", 0.0)) if F > 0 else 0.0
        bar = _progress(total, self.progress, self._method)
        prev_threads = numba.get_num_threads()
        numba.set_num_threads(n_threads)
        prev_chunk = numba.set_parallel_chunksize(1 if n_chunks > 1 else 0)
        try:
            for epoch in range(params.epochs):
                order = rng.permutation(n_walks).astype(np.int64)
                ep_loss, ep_pairs = 0.0, 0
                for start in range(0, n_walks, block):
                    stop = min(n_walks, start + block)
                    done0 = epoch * n_walks + start
                    lr0 = params.alpha - (params.alpha - params.min_alpha) * done0 / total
                    lr1 = (
                        params.alpha
                        - (params.alpha - params.min_alpha) * (done0 + stop - start) / total
                    )
                    if source is None:
                        blk, blk_order, b0, b1 = walk_arr, order, start, stop
                    else:  # the block's rows, gathered in training order
                        blk = source.take(order[start:stop])
                        blk_order, b0, b1 = np.arange(stop - start, dtype=np.int64), 0, stop - start
                    try:
                        lo, pa, _ = _train_block(
                            blk,
                            blk_order,
                            b0,
                            b1,
                            n_chunks,
                            seeds,
                            W,
                            S,
                            A,
                            C,
                            ptr,
                            vals,
                            F,
                            cum_prob,
                            int(params.window),
                            bool(params.shrink_windows),
                            int(params.negative),
                            float(lr0),
                            float(lr1),
                            learn,
                            drop,
                        )
                    except (SystemError, OverflowError, ZeroDivisionError) as exc:
                        # math.exp overflow inside the compiled loop: the SGD diverged
                        raise ValueError(
                            f"{self._method} training diverged (overflow at epoch {epoch + 1}, "
                            f"alpha={params.alpha}): lower the learning rate alpha"
                        ) from exc
                    if not np.isfinite(lo).all():
                        raise ValueError(
                            f"{self._method} training diverged (non-finite loss at epoch "
                            f"{epoch + 1}, alpha={params.alpha}): lower the learning rate alpha"
                        )
                    ep_loss += float(lo.sum())
                    ep_pairs += int(pa.sum())
                    if bar is not None:
                        bar.update(stop - start)
                        bar.set_postfix(
                            epoch=epoch + 1, loss=f"{ep_loss / max(ep_pairs, 1):.4f}", refresh=False
                        )
                if ep_pairs == 0:
                    raise ValueError(
                        "walks hold no (center, context) pair: every walk has length 1 "
                        "(graph without edges?)"
                    )
                losses.append(ep_loss / ep_pairs)
                pair_total += ep_pairs
                logger.info("%s epoch %d: loss per pair %.4f", self._method, epoch + 1, losses[-1])
        finally:
            numba.set_num_threads(prev_threads)
            numba.set_parallel_chunksize(prev_chunk)
            if bar is not None:
                bar.close()

        H, field_w = _hidden_all(W, S, A, ptr, vals, F)
        seconds = time.perf_counter() - t0
        # fitted state
        self.graph_ = graph
        self.item_ids_ = node_ids.copy()
        self.fields_ = list(fields)
        self.vocabularies_ = vocabs
        self.value_offsets_ = offsets
        self.item_vectors_ = W
        self.side_vectors_ = S
        self.context_vectors_ = C
        self.weight_scores_ = A
        self.weights_ = field_w
        self.field_present_ = np.diff(ptr).reshape(n, F) > 0 if F else np.zeros((n, 0), bool)
        self.loss_history_ = losses
        self.n_pairs_ = pair_total
        self.seconds_ = seconds
        meta = {
            "method": self._method,
            "params": self._meta_params(),
            "random_state": self.random_state if isinstance(self.random_state, int) else None,
            "fields": list(fields),
            "n_values": n_values,
            "loss_per_epoch": losses,
            "pairs": pair_total,
            "walks": int(n_walks),
            "seconds": seconds,
            "library": {"numpy": np.__version__, "numba": numba.__version__},
        }
        self.embeddings_ = Embeddings(node_ids, H, meta)
        logger.info(
            "%s: %d items, %d side-info values, %d pairs in %.1f s",
            self._method,
            n,
            n_values,
            pair_total,
            seconds,
        )
        return self.embeddings_

    # ------------------------------------------------------------------ inspection
    def _check_fitted(self) -> None:
        if not hasattr(self, "embeddings_"):
            raise ValueError(f"{type(self).__name__} is not fitted yet: call fit first")

    def field_weights(self) -> pd.DataFrame:
        """Softmax weight of each field per item: DataFrame (item_id x ["item", *fields]).

        Rows sum to 1; a field the item has no value for has weight 0. GES: equal weights over
        the fields present; BGE: the single column "item" = 1.
        """
        self._check_fitted()
        return pd.DataFrame(
            self.weights_.astype(np.float64),
            index=pd.Index(self.item_ids_, name="item_id"),
            columns=["item", *self.fields_],
        )

    def value_embeddings(self, field: str) -> pd.DataFrame:
        """Trained embeddings of the values of one side-info field: DataFrame (value x dim)."""
        self._check_fitted()
        if field not in self.fields_:
            raise ValueError(f"unknown field {field!r} (fields: {self.fields_})")
        f = self.fields_.index(field)
        lo, hi = self.value_offsets_[f], self.value_offsets_[f + 1]
        return pd.DataFrame(
            self.side_vectors_[lo:hi], index=pd.Index(self.vocabularies_[f], name=field)
        )

    def cold_field_weights(self) -> pd.Series:
        """Per field: the weight an item gets without its own vector (softmax of its scores over
        its side-info fields only, as trained with ``item_dropout``), averaged over the warm
        items that have that field. What ``cold_start_vectors`` uses; GES: equal weights."""
        self._check_fitted()
        present = self.field_present_
        F = present.shape[1]
        if F == 0:
            return pd.Series(np.zeros(0), index=pd.Index([], name="field"), name="weight")
        a = self.weight_scores_[:, 1:].astype(np.float64)
        a = np.where(present, a, -np.inf)
        amax = a.max(1, keepdims=True)
        has = present.any(1)
        e = np.where(present, np.exp(a - np.where(has[:, None], amax, 0.0)), 0.0)
        w = e / np.maximum(e.sum(1, keepdims=True), 1e-300)
        with np.errstate(invalid="ignore"):
            mean = np.where(present.any(0), (w * present).sum(0) / present.sum(0), 0.0)
        return pd.Series(mean, index=pd.Index(self.fields_, name="field"), name="weight")

    def mean_field_weights(self) -> pd.Series:
        """Per field: the weight averaged over the warm items that have that field."""
        self._check_fitted()
        fw = self.weights_[:, 1:].astype(np.float64)
        present = self.field_present_
        with np.errstate(invalid="ignore"):
            mean = np.where(present.any(0), (fw * present).sum(0) / present.sum(0), 0.0)
        return pd.Series(mean, index=pd.Index(self.fields_, name="field"), name="weight")

    # ------------------------------------------------------------------ cold start
    def cold_start_vectors(
        self,
        side_info: ItemSideInfo,
        item_ids: ArrayLike | None = None,
        errors: Literal["raise", "skip"] = "raise",
        normalize_fields: bool = False,
    ) -> Embeddings:
        """Vectors for items known only by their side information
        (``embeddings.eges.cold_start.cold_start_vectors``)."""
        return cold_start.cold_start_vectors(self, side_info, item_ids, errors, normalize_fields)

    def embeddings_with_cold_start(
        self, side_info: ItemSideInfo, item_ids: ArrayLike | None = None
    ) -> Embeddings:
        """Warm embeddings plus cold-start vectors
        (``embeddings.eges.cold_start.embeddings_with_cold_start``)."""
        return cold_start.embeddings_with_cold_start(self, side_info, item_ids)


def _progress(total: int, enabled: bool, desc: str) -> Any:
    if not enabled:
        return None
    from embeddings.progress import progress_bar as tqdm  # plain lines when not a TTY

    return tqdm(total=total, desc=f"{desc} walks", unit="walk", leave=False)


_SIDE_INFO_DOC = """
    Side-information options (beyond the shared skip-gram/walk hyperparameters):
        fields: side-info fields to use (default: all fields of the ``ItemSideInfo``).
        missing: items of the graph without a row in the side information raise
            ``ValueError`` ("raise") or train on their own embedding alone ("item_only").
        item_dropout: probability in [0, 1) that a centre item with side information is
            trained without its own vector (softmax over its side-info fields only), so that
            the side-information-only vector of a cold item is a trained vector and not half
            of one. 0 (the default) is the paper's model.
"""


class _WithSideInfo(_SideInfoSkipGram):
    hyperparams = {
        **_SideInfoSkipGram.hyperparams,
        "fields": (None, Sequence[str] | None),
        "missing": ("raise", Literal["raise", "item_only"]),
        "item_dropout": (0.0, float),
    }


@public_module("embeddings.eges")
class EGES(_WithSideInfo):
    """Enhanced Graph Embedding with Side information: learned per-item field weights.

    ``fit(data, side_info)``: data = Interactions / Sessions / ItemGraph. ``learn_weights=False``
    freezes the weights at equal values, which is exactly ``GES``.
    """

    _method = "eges"

    hyperparams = {**_WithSideInfo.hyperparams, "learn_weights": (True, bool)}


@public_module("embeddings.eges")
class GES(_WithSideInfo):
    """Graph Embedding with Side information: equal weights over the item and its fields."""

    _method = "ges"


@public_module("embeddings.eges")
class BGE(_SideInfoSkipGram):
    """Base Graph Embedding: item embeddings only (DeepWalk with the shared compiled loop).

    ``side_info`` passed to ``fit`` is ignored, so the three trainers can be called alike.
    """

    _method = "bge"
    uses_side_info = False


EGES.__doc__ = (EGES.__doc__ or "") + _SIDE_INFO_DOC
GES.__doc__ = (GES.__doc__ or "") + _SIDE_INFO_DOC
