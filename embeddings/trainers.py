"""Trainers: ``Item2Vec`` (sequence / set), ``DeepWalk``, ``Node2Vec`` and a ``Popularity`` baseline.

Every trainer takes its hyperparameters in ``__init__`` (stored as given, no logic there) and
``fit(data, side_info=None) -> Embeddings``. ``data`` may be:

- ``Interactions``: turned into per-user time-ordered sessions with ``build_sessions``
  (``min_rating`` keeps only positives, ``session_gap`` splits a user's history into sessions);
- ``Sessions``: used as they are (``min_rating`` still filters events by rating);
- a list of int id arrays (Item2Vec only): sequences or sets given directly;
- ``ItemGraph`` (DeepWalk / Node2Vec only): walked as it is. From sessions, the graph is
  ``ItemGraph.from_sessions`` (weight of A->B = times B directly follows A).

None of these methods uses item side information; a ``side_info`` passed in is ignored (logged)
so that one runner can call every trainer alike.

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
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings._validate import spawn_seeds
from embeddings.base import TrainerBase
from embeddings.datasets.tables import Interactions
from embeddings.graph import ItemGraph
from embeddings.params import SkipGramParams
from embeddings.sessions import Sessions, build_sessions
from embeddings.types import Embeddings
from embeddings.walks.stage import Walks
from embeddings.word2vec import MAX_SEQUENCE_TOKENS, SkipGram

__all__ = ["Item2Vec", "DeepWalk", "Node2Vec", "Popularity", "graph_from_data"]

logger = logging.getLogger(__name__)


def _note_side_info(name: str, side_info: Any) -> None:
    if side_info is not None:
        logger.info("%s does not use item side information; side_info ignored", name)


def _filter_sessions(sessions: Sessions, min_rating: float | None, min_length: int) -> Sessions:
    """Keep events with rating >= min_rating, then sessions with at least min_length events."""
    keep = (
        np.ones(sessions.items.shape[0], bool)
        if min_rating is None
        else sessions.ratings >= min_rating
    )
    seg = np.repeat(np.arange(len(sessions)), sessions.lengths())
    lens = np.bincount(seg[keep], minlength=len(sessions))
    ok = lens >= min_length
    if not ok.any():
        raise ValueError(
            f"no session of length >= {min_length} left after filtering (min_rating={min_rating})"
        )
    keep &= ok[seg]
    return Sessions(
        user_ids=sessions.user_ids[ok],
        indptr=np.concatenate([[0], np.cumsum(lens[ok])]).astype(np.int64),
        items=sessions.items[keep],
        timestamps=sessions.timestamps[keep],
        ratings=sessions.ratings[keep],
    )


def _sessions_from(
    data: Any, min_rating: float | None, session_gap: int | None, min_length: int
) -> Sessions:
    if isinstance(data, Interactions):
        return build_sessions(
            data, min_rating=min_rating, session_gap=session_gap, min_length=min_length
        )
    if isinstance(data, Sessions):
        if len(data) == 0:
            raise ValueError("empty Sessions: nothing to train on")
        return _filter_sessions(data, min_rating, min_length)
    raise ValueError(
        f"expected Interactions or Sessions, got {type(data).__name__}"
        + (
            " (a graph can only be walked: use DeepWalk or Node2Vec)"
            if isinstance(data, ItemGraph) or type(data).__module__.startswith("networkx")
            else ""
        )
    )


def graph_from_data(
    data: Any,
    min_rating: float | None = None,
    session_gap: int | None = None,
    directed: bool = True,
) -> ItemGraph:
    """``ItemGraph`` from ``ItemGraph`` (returned as is), ``Sessions`` or ``Interactions``.

    From sessions the weight of A->B is the number of times B directly follows A; with
    ``directed=False`` the transitions are made symmetric (weight(A-B) = both directions summed),
    so that no item is a dead end.
    """
    if isinstance(data, ItemGraph):
        return data
    sessions = _sessions_from(data, min_rating, session_gap, min_length=2)
    graph = ItemGraph.from_sessions(sessions)
    if not directed:
        rows = np.repeat(np.arange(graph.n_nodes), graph.out_degree())
        graph = ItemGraph.from_edges(
            graph.node_ids[rows],
            graph.node_ids[graph.indices],
            graph.weights,
            directed=False,
            node_ids=graph.node_ids,
        )
    return graph


def networkx_to_graph(
    data: Any, weight: str = "weight"
) -> tuple[ItemGraph, list[Any] | None] | None:
    """``(ItemGraph, labels)`` of a networkx graph (``None`` for anything else).

    Integer node labels are the ids (``labels`` None); any other hashable labels get codes
    0..n-1 in the graph's node order, and ``labels[code]`` is the node. Directedness follows
    the graph; parallel edges of a multigraph are summed; edge attribute ``weight`` (default 1).
    """
    if not type(data).__module__.startswith("networkx"):
        return None
    import networkx as nx

    if not isinstance(data, nx.Graph):
        return None
    nodes = list(data.nodes)
    if not nodes:
        raise ValueError("the networkx graph has no nodes")
    if all(isinstance(n, int | np.integer) and not isinstance(n, bool) for n in nodes):
        ids, labels = np.asarray(nodes, dtype=np.int64), None
    else:
        ids, labels = np.arange(len(nodes), dtype=np.int64), nodes
    pos = {n: i for i, n in enumerate(nodes)}
    edges = list(data.edges(data=weight, default=1.0))
    if not edges:
        raise ValueError("the networkx graph has no edges: nothing to walk")
    src = ids[np.fromiter((pos[u] for u, _, _ in edges), np.int64, len(edges))]
    dst = ids[np.fromiter((pos[v] for _, v, _ in edges), np.int64, len(edges))]
    try:
        w = np.fromiter((float(x) for _, _, x in edges), np.float64, len(edges))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"networkx edge attribute {weight!r} is not a number ({exc})") from exc
    graph = ItemGraph.from_edges(src, dst, w, directed=data.is_directed(), node_ids=ids)
    return graph, labels


def _item_labels(data: Any) -> list[Any] | None:
    vocab = getattr(data, "item_vocab", None) if isinstance(data, Interactions) else None
    return None if vocab is None else list(vocab.labels)


def _with_item_labels(emb: Embeddings, labels: list[Any] | None) -> Embeddings:
    return emb if labels is None else emb.with_labels(labels)


def _all_item_ids(data: Any) -> NDArray[np.int64] | None:
    if isinstance(data, Interactions):
        return data.item_ids()
    if isinstance(data, Sessions):
        return data.item_ids()
    if isinstance(data, ItemGraph):
        return data.node_ids
    return None


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
    if isinstance(data, Interactions):
        seqs: Any = _sessions_from(data, min_rating, None, min_length)
    elif isinstance(data, Sessions):
        seqs = _sessions_from(data, min_rating, None, min_length)
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

    def __init__(
        self,
        mode: str = "sequence",
        dim: int = 64,
        window: int = 5,
        epochs: int = 10,
        sg: int = 1,
        negative: int = 5,
        ns_exponent: float = 0.75,
        sample: float = 1e-3,
        min_count: int = 1,
        alpha: float = 0.025,
        min_alpha: float = 1e-4,
        shrink_windows: bool = True,
        min_rating: float | None = None,
        session_gap: int | None = None,
        min_length: int = 2,
        max_set_size: int | None = None,
        workers: int = 1,
        random_state: Any = None,
        progress: bool = True,
    ) -> None:
        self.mode = mode
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
        self.min_rating = min_rating
        self.session_gap = session_gap
        self.min_length = min_length
        self.max_set_size = max_set_size
        self.workers = workers
        self.random_state = random_state
        self.progress = progress

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
            if isinstance(data, Interactions | Sessions):
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
            workers: skip-gram settings (d=128, k=10 as in the node2vec reference code, but
            **2 epochs** instead of its one: on the validation folds of Wiki / PPI, Macro-F1 at
            1, 2, 3, 5 epochs was 0.434, 0.478, 0.485, 0.488 / 0.159, 0.153, 0.134, 0.130
            and BlogCatalog 0.209, 0.252, -, 0.228 (``reports/quality/defaults_check.csv``):
            2 is the best on BlogCatalog, near the best on Wiki, and within noise of 1 on PPI.
            ``workers`` is used for walking too.
        min_rating, session_gap, directed: how a graph is built from Interactions / Sessions
            (see ``graph_from_data``); ignored when an ``ItemGraph`` is given.
        random_state: seeds the walks and gensim (independent streams).
        progress: progress bars.

    Two stages: ``walks(data) -> Walks`` and ``fit_walks(walks) -> Embeddings``; ``fit`` runs
    both with independent seeds drawn from ``random_state``.
    """

    uses_side_info = False
    input_kind = "graph"
    _method = "node2vec"

    def __init__(
        self,
        p: float = 1.0,
        q: float = 1.0,
        num_walks: int = 10,
        walk_length: int = 80,
        dim: int = 128,
        window: int = 10,
        epochs: int = 2,
        sg: int = 1,
        negative: int = 5,
        ns_exponent: float = 0.75,
        sample: float = 1e-3,
        min_count: int = 1,
        alpha: float = 0.025,
        min_alpha: float = 1e-4,
        walk_mode: str = "auto",
        corpus_file: bool = False,
        min_rating: float | None = None,
        session_gap: int | None = None,
        directed: bool = True,
        workers: int = 1,
        random_state: Any = None,
        progress: bool = True,
        stream: bool | str = False,
    ) -> None:
        self.p = p
        self.q = q
        self.num_walks = num_walks
        self.walk_length = walk_length
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
        self.walk_mode = walk_mode
        self.corpus_file = corpus_file
        self.min_rating = min_rating
        self.session_gap = session_gap
        self.directed = directed
        self.workers = workers
        self.random_state = random_state
        self.progress = progress
        self.stream = stream

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
        graph = graph_from_data(data, self.min_rating, self.session_gap, self.directed)
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
        model = SkipGram.from_params(params, seed, self.progress)
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


class DeepWalk(Node2Vec):
    """DeepWalk (Perozzi et al. 2014): first-order random walks (next node drawn in proportion to
    the edge weight) + skip-gram. Same arguments as ``Node2Vec`` without ``p`` and ``q``.
    """

    _method = "deepwalk"

    def __init__(
        self,
        num_walks: int = 10,
        walk_length: int = 80,
        dim: int = 128,
        window: int = 10,
        epochs: int = 2,
        sg: int = 1,
        negative: int = 5,
        ns_exponent: float = 0.75,
        sample: float = 1e-3,
        min_count: int = 1,
        alpha: float = 0.025,
        min_alpha: float = 1e-4,
        walk_mode: str = "auto",
        corpus_file: bool = False,
        min_rating: float | None = None,
        session_gap: int | None = None,
        directed: bool = True,
        workers: int = 1,
        random_state: Any = None,
        progress: bool = True,
        stream: bool | str = False,
    ) -> None:
        super().__init__(
            p=1.0,
            q=1.0,
            num_walks=num_walks,
            walk_length=walk_length,
            dim=dim,
            window=window,
            epochs=epochs,
            sg=sg,
            negative=negative,
            ns_exponent=ns_exponent,
            sample=sample,
            min_count=min_count,
            alpha=alpha,
            min_alpha=min_alpha,
            walk_mode=walk_mode,
            corpus_file=corpus_file,
            min_rating=min_rating,
            session_gap=session_gap,
            directed=directed,
            workers=workers,
            random_state=random_state,
            progress=progress,
            stream=stream,
        )


class Popularity(TrainerBase):
    """Most-popular baseline: one score per item, the number of (positive) interactions.

    ``fit`` returns ``Embeddings`` with a single dimension holding the count, so the score of
    item i for any user is the inner product of the user vector [1.0] with it: the evaluation
    ranks items by popularity through the same search code as the learned embeddings
    (``embeddings.evaluation.evaluate_popularity``). Deterministic (no random state); ties are
    broken by the smaller item id.

    Args:
        min_rating: count only interactions rated >= this (None = all).
        random_state: unused (deterministic); accepted so that every trainer is called alike.
    """

    uses_side_info = False
    input_kind = "sessions"

    def __init__(self, min_rating: float | None = None, random_state: Any = None) -> None:
        self.min_rating = min_rating
        self.random_state = random_state

    def fit(self, data: Any, side_info: Any = None) -> Embeddings:
        """Count interactions per item of ``Interactions`` or events per item of ``Sessions``."""
        _note_side_info("Popularity", side_info)
        if isinstance(data, Interactions):
            df = data.frame
            if self.min_rating is not None:
                df = df[df["rating"] >= self.min_rating]
            items = df["item_id"].to_numpy()
        elif isinstance(data, Sessions):
            keep = (
                np.ones(data.items.shape[0], bool)
                if self.min_rating is None
                else data.ratings >= self.min_rating
            )
            items = data.items[keep]
        else:
            raise ValueError(
                f"Popularity: expected Interactions or Sessions, got {type(data).__name__}"
            )
        if items.shape[0] == 0:
            raise ValueError(f"Popularity: no interaction left (min_rating={self.min_rating})")
        ids, counts = np.unique(items, return_counts=True)
        emb = Embeddings(
            ids,
            counts.astype(np.float32).reshape(-1, 1),
            {
                "method": "popularity",
                "trainer": "Popularity",
                "trainer_params": {"min_rating": self.min_rating},
                "n_interactions": int(items.shape[0]),
            },
        )
        return _with_item_labels(emb, _item_labels(data))
