"""Walk corpora: ``WalkCorpus`` (the walks of ``generate_walks`` streamed in blocks), and the
matrix's other forms: id lists (``walks_to_ids``) and gensim corpus files
(``walks_to_corpus_file``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numba
import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from embeddings.graph import ItemGraph
from embeddings.io import atomic_write
from embeddings.walks.generate import Mode, _check_positive_int, _WalkPlan
from embeddings.walks.kernels import CHUNK

__all__ = ["WalkCorpus", "walks_to_ids", "walks_to_corpus_file"]

logger = logging.getLogger(__name__)

Cache = Literal["regenerate", "spill"]


class WalkCorpus:
    """The rows of :func:`generate_walks`, streamed in blocks: a restartable iterable.

    Iterating yields int32 blocks ``(<= block_walks, walk_length)`` of node positions (-1
    padded) whose concatenation is exactly ``generate_walks(graph, ...)`` for the same arguments
    and ``random_state`` (each block is a chunk-aligned range of a round, walked with that
    range's own seeds), so training on the stream gives the same vectors as training on the
    matrix. Only one block is held at a time, plus the sampler's tables (16 bytes per edge).

    Every pass gives the same walks. ``cache`` says where later passes (gensim reads its corpus
    once for the vocabulary and once per epoch) get them from:

    * ``"regenerate"`` (default): walk again. Measured side by side on a 100k-node / 1M-edge
      weighted graph (DeepWalk 10 walks x 80, gensim d=128, window 1, one negative, one thread,
      run together, load 14): peak RSS 624.2 MB regenerating vs 623.7 MB spilling, 1292 s vs
      1284 s end to end; a pass of walking is a few seconds against minutes of skip-gram, so
      regenerating costs no measurable time and needs no disk (4 bytes per step, 320 MB at that size, 3.2 GB at 1M nodes).
    * ``"spill"``: the first pass also writes the blocks to a temporary ``.npy`` file (deleted by
      :meth:`close`, on exit of a ``with`` block, or when the object is collected); later passes
      read it back block by block (plain reads, no memory map in the resident set). It is needed
      for random access to rows (:meth:`take`, used by EGES, which shuffles walks each epoch).

    Args:
        graph, num_walks, walk_length, p, q, mode, workers, random_state, start_nodes: as for
            :func:`generate_walks` (the tables are built once, at the first pass).
        block_walks: walks per block, rounded up to a multiple of ``CHUNK``. Default 2048:
            gensim's iterable path turns a whole block into Python lists at once, so the block
            is a transient of ~36 bytes per step; at 16384 walks x 80 the streamed DeepWalk
            (100k nodes, d 128) peaked 24 MB higher (559 vs 535 MB, measured side by side).
        cache: ``"regenerate"`` or ``"spill"``.
        spill_dir: folder of the spill file (default: the system temp folder).

    After a full pass, ``stats`` holds ``n_walks``, ``mean_walk_length`` and
    ``walks_shorter_than_2`` (walks with fewer than 2 nodes).
    """

    def __init__(
        self,
        graph: ItemGraph,
        num_walks: int = 10,
        walk_length: int = 80,
        p: float = 1.0,
        q: float = 1.0,
        mode: Mode = "auto",
        workers: int = 1,
        random_state: Any = None,
        start_nodes: ArrayLike | None = None,
        block_walks: int = 2048,
        cache: Cache = "regenerate",
        spill_dir: str | os.PathLike | None = None,
    ) -> None:
        self._plan = _WalkPlan(
            graph, num_walks, walk_length, p, q, mode, workers, random_state, start_nodes
        )
        block_walks = _check_positive_int(block_walks, "block_walks")
        if cache not in ("regenerate", "spill"):
            raise ValueError(f"cache must be 'regenerate' or 'spill', got {cache!r}")
        self.graph = graph
        self.block_chunks = -(-block_walks // CHUNK)
        self.cache = cache
        self.spill_dir = spill_dir
        self._spill: Path | None = None  # complete spill file
        self._header = 0
        self.stats: dict[str, Any] = {}

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_walks, walk_length)`` of the whole (never materialised) walk matrix."""
        return self._plan.n_walks, self._plan.walk_length

    @property
    def used(self) -> str:
        """The sampler: ``"first-order"``, ``"otf"`` or ``"precomputed"``."""
        return self._plan.used

    def _generate(self) -> Iterator[NDArray[np.int32]]:
        plan = self._plan
        prev_threads = numba.get_num_threads()
        threads = plan.threads()
        step = self.block_chunks * CHUNK
        for round_starts, seeds in plan.rounds():
            for lo in range(0, plan.n_start, step):
                hi = min(plan.n_start, lo + step)
                block = np.empty((hi - lo, plan.walk_length), np.int32)
                numba.set_num_threads(threads)
                try:
                    plan.build()
                    c0 = lo // CHUNK
                    plan.fill(block, round_starts[lo:hi], seeds[c0 : c0 + self.block_chunks])
                finally:
                    numba.set_num_threads(prev_threads)
                yield block

    def _read_spill(self) -> Iterator[NDArray[np.int32]]:
        assert self._spill is not None
        n_walks, length = self.shape
        step = self.block_chunks * CHUNK
        with open(self._spill, "rb") as fh:
            for lo in range(0, n_walks, step):
                rows = min(step, n_walks - lo)
                fh.seek(self._header + lo * length * 4)
                block = np.fromfile(fh, dtype=np.int32, count=rows * length)
                if block.shape[0] != rows * length:
                    raise ValueError(f"spill file {self._spill} is truncated")
                yield block.reshape(rows, length)

    def __iter__(self) -> Iterator[NDArray[np.int32]]:
        if self._spill is not None:
            yield from self._read_spill()
            return
        writer = None
        path = None
        if self.cache == "spill":
            import tempfile

            fd, name = tempfile.mkstemp(
                prefix="embrecall-walks-", suffix=".npy", dir=self.spill_dir
            )
            path = Path(name)
            writer = os.fdopen(fd, "wb")
            np.lib.format.write_array_header_1_0(
                writer, {"descr": "<i4", "fortran_order": False, "shape": self.shape}
            )
            self._header = writer.tell()
        n_rows = 0
        n_short = 0
        n_nodes = 0
        complete = False
        try:
            for block in self._generate():
                lengths = (block >= 0).sum(axis=1)
                n_rows += block.shape[0]
                n_short += int((lengths < 2).sum())
                n_nodes += int(lengths.sum())
                if writer is not None:
                    block.tofile(writer)
                yield block
            complete = True
        finally:
            if writer is not None:
                writer.close()
                if complete:
                    self._spill = path
                elif path is not None:
                    path.unlink(missing_ok=True)
        self.stats = {
            "n_walks": n_rows,
            "mean_walk_length": n_nodes / n_rows if n_rows else 0.0,
            "walks_shorter_than_2": n_short,
        }

    def take(self, rows: NDArray[np.int64]) -> NDArray[np.int32]:
        """Walks ``rows`` (int positions in ``[0, n_walks)``) as an int32 ``(len(rows), L)`` copy.

        Needs ``cache="spill"`` and one full pass first. Reads through a memory map whose pages
        are released from the resident set after the copy (``MADV_DONTNEED``).
        """
        import mmap

        if self._spill is None:
            raise ValueError("take() needs cache='spill' and one full pass over the corpus first")
        idx = np.asarray(rows, dtype=np.int64)
        n_walks, length = self.shape
        if idx.size and (idx.min() < 0 or idx.max() >= n_walks):
            raise ValueError(f"rows must lie in [0, {n_walks})")
        with open(self._spill, "rb") as fh:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            view = np.frombuffer(mm, dtype=np.int32, offset=self._header).reshape(n_walks, length)
            out = view[idx]
            del view
            if hasattr(mm, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
                mm.madvise(mmap.MADV_DONTNEED)
        finally:
            mm.close()
        return out

    def to_corpus_file(self, path: str | os.PathLike) -> Path:
        """Write every walk with >= 2 nodes as a line of node ids (gensim ``corpus_file``), one
        block at a time, atomically; returns the path."""
        g = self.graph
        tokens = [str(i).encode() for i in g.node_ids.tolist()]
        tok_len = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
        tok_off = np.concatenate([[0], np.cumsum(tok_len)]).astype(np.int64)
        tok_bytes = np.frombuffer(b"".join(tokens), dtype=np.uint8)
        max_tok = int(tok_len.max(initial=1))
        target = Path(path)
        with atomic_write(target, "wb") as fh:
            for block in self:
                keep = block[(block >= 0).sum(axis=1) >= 2]
                buf = np.empty(keep.shape[0] * (keep.shape[1] * (max_tok + 1) + 1), np.uint8)
                used = _format_rows(keep, tok_bytes, tok_off, buf)
                fh.write(memoryview(buf[:used]))
        return target

    def close(self) -> None:
        """Delete the spill file (if any); the corpus walks again on the next pass."""
        if self._spill is not None:
            self._spill.unlink(missing_ok=True)
            self._spill = None

    def __enter__(self) -> WalkCorpus:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


# ---------------------------------------------------------------------------------------------
def _check_walks(walks: Any, graph: ItemGraph) -> NDArray[np.int32]:
    w = np.asarray(walks)
    if w.ndim != 2 or not np.issubdtype(w.dtype, np.integer):
        raise ValueError(f"walks must be a 2-D integer matrix, got {w.dtype} {w.shape}")
    if w.size and (w.max() >= graph.n_nodes or w.min() < -1):
        raise ValueError(f"walks hold positions outside [-1, {graph.n_nodes}) of this graph")
    return np.ascontiguousarray(w, dtype=np.int32)


def walks_to_ids(walks: NDArray[np.int32], graph: ItemGraph) -> list[NDArray[np.int64]]:
    """One int64 array of node ids per walk, the -1 padding dropped."""
    w = _check_walks(walks, graph)
    valid = w >= 0
    lengths = valid.sum(axis=1)
    flat = graph.node_ids[w[valid]]
    return np.split(flat, np.cumsum(lengths)[:-1]) if w.shape[0] else []


@njit(cache=True)
def _format_rows(walks, tok_bytes, tok_off, buf):
    """Write rows as ``tok tok ...\\n`` into ``buf``; returns bytes written."""
    pos = 0
    for i in range(walks.shape[0]):
        first = True
        for j in range(walks.shape[1]):
            v = walks[i, j]
            if v < 0:
                break
            if not first:
                buf[pos] = 32
                pos += 1
            first = False
            for b in range(tok_off[v], tok_off[v + 1]):
                buf[pos] = tok_bytes[b]
                pos += 1
        buf[pos] = 10
        pos += 1
    return pos


def walks_to_corpus_file(
    walks: NDArray[np.int32], graph: ItemGraph, path: str | os.PathLike, rows_per_block: int = 65536
) -> Path:
    """Write walks as text for gensim's ``corpus_file``: one walk per line, ids separated by spaces.

    Written in blocks of ``rows_per_block`` walks (bounded memory) and atomically.
    """
    w = _check_walks(walks, graph)
    tokens = [str(i).encode() for i in graph.node_ids.tolist()]
    tok_len = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
    tok_off = np.concatenate([[0], np.cumsum(tok_len)]).astype(np.int64)
    tok_bytes = np.frombuffer(b"".join(tokens), dtype=np.uint8)
    max_tok = int(tok_len.max(initial=1))
    target = Path(path)
    with atomic_write(target, "wb") as fh:
        for start in range(0, w.shape[0], rows_per_block):
            block = w[start : start + rows_per_block]
            buf = np.empty(block.shape[0] * (block.shape[1] * (max_tok + 1) + 1), np.uint8)
            used = _format_rows(block, tok_bytes, tok_off, buf)
            fh.write(memoryview(buf[:used]))
    return target
