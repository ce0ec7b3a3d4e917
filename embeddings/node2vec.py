"""``Node2Vec`` and ``DeepWalk``: random walks of the item graph (``embeddings.walks``), then
skip-gram (gensim) over the walks, as two stages: ``walks(data) -> Walks`` and
``fit_walks(walks) -> Embeddings``."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings.base import TrainerBase, public_module
from embeddings.graph import ItemGraph
from embeddings.inputs import (
    _all_item_ids,
    _item_labels,
    _note_side_info,
    _with_item_labels,
    graph_from_data,
    networkx_to_graph,
)
from embeddings.params import SkipGramParams, skipgram_hyperparams
from embeddings.types import Embeddings
from embeddings.validate import spawn_seeds
from embeddings.walks.stage import Walks
from embeddings.word2vec import SkipGram

__all__ = ["Node2Vec", "DeepWalk"]

logger = logging.getLogger("embeddings.trainers")


@public_module("embeddings.trainers")
class Node2Vec(TrainerBase):
    """Node2vec (Grover & Leskovec 2016): second-order biased walks + skip-gram.

    Args:
        p: return parameter (unnormalised weight w/p for going back to the previous node).
        q: in-out parameter (w/q for moving to a node not adjacent to the previous one).
        num_walks: walks started from every node.
        walk_length: nodes per walk (walks end early at dead ends).
        walk_mode: walk engine mode passed to ``generate_walks`` ("auto", ...).
        corpus_file: write the walks to a temporary corpus file and use gensim's ``corpus_file``
            mode (faster with several workers, lowest Python memory) instead of streaming them.
        stream: never hold the whole walk matrix: walks are generated in blocks
            (``embeddings.walks.WalkCorpus``) and fed to gensim as they come (or written to the
            corpus file block by block). ``True`` or ``"regenerate"`` walks again for every
            pass gensim makes (vocabulary + each epoch); ``"spill"`` keeps them in a temporary
            ``.npy`` file instead. Same seed, same walks, same vectors (at ``workers=1``) as
            ``stream=False``.
        dim, window, epochs, sg, negative, ns_exponent, sample, min_count, alpha, min_alpha,
            workers: skip-gram settings (:class:`embeddings.params.SkipGramParams`); d=128,
            k=10 as in the node2vec reference code, but **2 epochs** instead of its one: on the validation folds of Wiki / PPI, Macro-F1 at
            1, 2, 3, 5 epochs was 0.434, 0.478, 0.485, 0.488 / 0.159, 0.153, 0.134, 0.130
            and BlogCatalog 0.209, 0.252, -, 0.228 (``reports/quality/defaults_check.csv``):
            2 is the best on BlogCatalog, near the best on Wiki, and within noise of 1 on PPI.
            ``workers`` is used for walking too.
        min_rating, session_gap, directed, graph_window: how a graph is built from
            Interactions / Sessions (see ``graph_from_data``); ignored when an ``ItemGraph`` is
            given. ``graph_window=1`` (default): A->B counts how often B directly follows A;
            ``w`` > 1 also counts B up to ``w`` steps after A in a session.
        distance_weighting, popularity_exponent: each windowed pair adds 1 or 1/d
            (``"uniform"`` / ``"inverse"``), and edge weights are divided by the endpoints'
            strengths to this power (0 = as counted); see ``graph_from_data``.
        random_state: seeds the walks and gensim (independent streams).
        progress: progress bars.
        trainer: the skip-gram trainer, ``"gensim"`` (default) or ``"numba"``
            (:mod:`embeddings.sgns`: reads the walk positions or the corpus file directly).

    Two stages: ``walks(data) -> Walks`` and ``fit_walks(walks) -> Embeddings``; ``fit`` runs
    both with independent seeds drawn from ``random_state``.
    """

    uses_side_info = False
    input_kind = "graph"
    _method = "node2vec"

    hyperparams = {
        "p": (1.0, float),
        "q": (1.0, float),
        "num_walks": (10, int),
        "walk_length": (80, int),
        **skipgram_hyperparams(
            ("dim", "window", "epochs", "sg", "negative", "ns_exponent", "sample", "min_count"),
            dim=128,
            window=10,
            epochs=2,
        ),
        **skipgram_hyperparams(("alpha", "min_alpha")),
        "walk_mode": ("auto", str),
        "corpus_file": (False, bool),
        "min_rating": (None, float | None),
        "session_gap": (None, int | None),
        "directed": (True, bool),
        "graph_window": (1, int),
        "distance_weighting": ("uniform", str),
        "popularity_exponent": (0.0, float),
        **skipgram_hyperparams(("workers",)),
        "random_state": (None, Any),
        "progress": (True, bool),
        "stream": (False, bool | str),
        "trainer": ("gensim", str),
    }

    def fit(self, data: Any, side_info: Any = None) -> Embeddings:
        """Walk the graph of ``data`` (ItemGraph, networkx graph, Sessions or Interactions);
        returns node vectors.

        A networkx graph may have any hashable node labels: integer labels are used as the ids,
        others are coded 0..n-1 in node order and kept as the vocabulary
        (``Embeddings.labels_of``, ``to_keyed_vectors`` keys); edge attribute ``weight`` is the
        weight (1 when absent).
        """
        _note_side_info(type(self).__name__, side_info)
        labels = _item_labels(data)
        nxg = networkx_to_graph(data)
        if nxg is not None:
            data, labels = nxg
        params = SkipGramParams.of(self)  # fail before walking
        SkipGram.from_params(params, trainer=self.trainer)._check_params()  # trainer too
        seed_walks, seed_w2v = spawn_seeds(self.random_state, 2)
        walks = self._walks(data, seed_walks)
        with walks:
            emb = self._fit_walks(walks, params, seed_w2v)
        return _with_item_labels(emb, labels)

    def walks(self, data: Any) -> Walks:
        """The walks ``fit`` trains on (same seed stream): the first stage of ``fit``.

        ``data`` as for ``fit`` (a networkx graph's non-integer labels are not kept here: pass
        it through ``networkx_to_graph`` first). With ``stream`` set, the ``Walks`` hold a
        ``WalkCorpus`` (close it, or use ``with``, to delete a spill file).
        """
        nxg = networkx_to_graph(data)
        if nxg is not None:
            data = nxg[0]
        return self._walks(data, spawn_seeds(self.random_state, 2)[0])

    def fit_walks(
        self, walks: Walks | ArrayLike, graph: ItemGraph | None = None, side_info: Any = None
    ) -> Embeddings:
        """Train the skip-gram on given walks (the second stage of ``fit``).

        ``walks``: a ``Walks`` (e.g. from ``walks()``, or shared with another trainer), or an
        int (n_walks, length) matrix of node positions of ``graph`` (-1 padded). Same seed and
        walks as ``fit`` give the same vectors as ``fit``.
        """
        _note_side_info(type(self).__name__, side_info)
        walks = Walks.of(walks, graph)
        return self._fit_walks(walks, SkipGramParams.of(self), spawn_seeds(self.random_state, 2)[1])

    def _walks(self, data: Any, seed: int) -> Walks:
        graph = graph_from_data(
            data,
            self.min_rating,
            self.session_gap,
            self.directed,
            self.graph_window,
            self.distance_weighting,
            self.popularity_exponent,
        )
        return Walks.generate(
            graph,
            num_walks=self.num_walks,
            walk_length=self.walk_length,
            p=self.p,
            q=self.q,
            mode=self.walk_mode,
            workers=self.workers,
            random_state=seed,
            progress=self.progress,
            stream=self.stream,
            expected_ids=_all_item_ids(data),
        )

    def _fit_walks(self, walks: Walks, params: SkipGramParams, seed: int) -> Embeddings:
        graph = walks.graph
        extra: dict[str, Any] = {
            "method": self._method,
            "trainer": type(self).__name__,
            "trainer_params": self._meta_params(),
            "random_state": self.random_state if isinstance(self.random_state, int) else None,
            "graph": graph.describe(),
        }
        model = SkipGram.from_params(params, seed, self.progress, trainer=self.trainer)
        all_ids = graph.node_ids if walks.expected_ids is None else walks.expected_ids
        if walks.streamed:
            extra["walks_streamed"] = walks.rows.cache
            return self._fit_streamed(walks.rows, model, extra, all_ids)
        extra.update(walks.stats(), walk_seconds=walks.seconds)
        if extra["walks_shorter_than_2"]:
            logger.info(
                "%d walks have fewer than 2 nodes (isolated nodes or immediate dead ends); "
                "skipped for training",
                extra["walks_shorter_than_2"],
            )
        lengths = walks.lengths()
        if not (lengths >= 2).any():
            raise ValueError("no walk with at least 2 nodes: the graph has no edges to learn")
        if self.corpus_file:
            from embeddings.walks import walks_to_corpus_file

            with tempfile.TemporaryDirectory(prefix="embrecall-walks-") as tmp:
                path = walks_to_corpus_file(
                    walks.rows[lengths >= 2], graph, os.path.join(tmp, "walks.txt")
                )
                return model.fit_sequences(path, meta=extra, all_ids=all_ids)
        return model.fit_sequences(walks.sequences(), meta=extra, all_ids=all_ids)

    def _fit_streamed(
        self, corpus: Any, model: SkipGram, extra: dict[str, Any], all_ids: Any
    ) -> Embeddings:
        """Training on walks streamed in blocks (``stream``); the same vectors as a matrix."""
        from embeddings.word2vec import BlockCorpus

        graph = corpus.graph
        if self.corpus_file:
            with tempfile.TemporaryDirectory(prefix="embrecall-walks-") as tmp:
                path = corpus.to_corpus_file(os.path.join(tmp, "walks.txt"))
                extra.update(corpus.stats)
                if path.stat().st_size == 0:
                    raise ValueError(
                        "no walk with at least 2 nodes: the graph has no edges to learn"
                    )
                return model.fit_sequences(path, meta=extra, all_ids=all_ids)
        # the walk statistics are known after gensim's first pass; fit_sequences merges
        # ``extra`` into the meta only after training, so filling it in place is enough
        stats = _StatsInto(corpus, extra)
        try:
            return model.fit_sequences(
                BlockCorpus(stats, graph.node_ids), meta=extra, all_ids=all_ids
            )
        except ValueError as exc:
            if extra.get("walks_shorter_than_2") == extra.get("n_walks"):
                raise ValueError(
                    "no walk with at least 2 nodes: the graph has no edges to learn"
                ) from exc
            raise


class _StatsInto:
    """Iterates a ``WalkCorpus`` and copies its ``stats`` into ``target`` after each pass."""

    def __init__(self, corpus: Any, target: dict[str, Any]) -> None:
        self.corpus = corpus
        self.target = target

    def __iter__(self) -> Iterator[NDArray[np.int32]]:
        yield from self.corpus
        self.target.update(self.corpus.stats)


@public_module("embeddings.trainers")
class DeepWalk(Node2Vec):
    """DeepWalk (Perozzi et al. 2014): first-order random walks (next node drawn in proportion to
    the edge weight) + skip-gram. Same arguments as ``Node2Vec`` without ``p`` and ``q``.
    """

    _method = "deepwalk"

    #: first-order walks: Node2vec's return and in-out parameters fixed at 1 (not arguments)
    p = 1.0
    q = 1.0
    hyperparams = {k: v for k, v in Node2Vec.hyperparams.items() if k not in ("p", "q")}
