"""The one output type of every trainer: ``Embeddings(ids, vectors, meta)``.

On-disk format (``save``/``load``): an uncompressed NumPy ``.npz`` archive with exactly three
members:

- ``ids``     int64 (n,)       the caller's own ids (unique), never row positions
- ``vectors`` float32 (n, d)   C-contiguous
- ``meta``    uint8 (b,)       UTF-8 JSON of the ``meta`` mapping
- plus ``format`` = "embrecall.embeddings/1" stored in the meta JSON under ``"__format__"``.

Loading checks the member names, dtypes, shapes and the format tag, so a truncated or foreign file
raises ``ValueError`` naming the problem. Round trips are bit-exact.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings.io import atomic_write, read_npz
from embeddings.validate import as_ids, as_vectors, describe_values

if TYPE_CHECKING:  # pragma: no cover
    from gensim.models import KeyedVectors

__all__ = ["Embeddings", "FORMAT_TAG"]

logger = logging.getLogger(__name__)

FORMAT_TAG = "embrecall.embeddings/1"


@dataclass(frozen=True, eq=False)
class Embeddings:
    """Vectors keyed by int64 ids.

    Attributes:
        ids: int64 (n,), unique.
        vectors: float32 (n, d), C-contiguous, finite.
        meta: JSON-serialisable mapping (method, params, seed, seconds, library versions, ...).
    """

    ids: NDArray[np.int64]
    vectors: NDArray[np.float32]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        vectors = as_vectors(self.vectors, "vectors", allow_empty=True)
        ids = as_ids(self.ids, n=vectors.shape[0], name="ids")
        object.__setattr__(self, "vectors", vectors)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "meta", dict(self.meta))
        order = np.argsort(ids, kind="stable")
        object.__setattr__(self, "_sorted_ids", ids[order])
        object.__setattr__(self, "_order", order)

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def dim(self) -> int:
        """Vector dimension d."""
        return int(self.vectors.shape[1])

    def __contains__(self, item_id: object) -> bool:
        try:
            self.index_of([item_id])
        except (KeyError, ValueError):
            return False
        return True

    def has(self, ids: ArrayLike) -> NDArray[np.bool_]:
        """Boolean mask (m,): which of ``ids`` have a vector (the padding id -1 never has one)."""
        q = as_ids(ids, unique=False, allow_padding=True)
        pos = np.searchsorted(self._sorted_ids, q)
        pos = np.minimum(pos, max(len(self) - 1, 0))
        if len(self) == 0:
            return np.zeros(q.shape[0], dtype=bool)
        return self._sorted_ids[pos] == q

    def index_of(self, ids: ArrayLike) -> NDArray[np.int64]:
        """Row positions (m,) of ``ids``; ``KeyError`` naming the unknown ones."""
        q = as_ids(ids, unique=False)
        found = self.has(q)
        if not found.all():
            raise KeyError(f"unknown ids {describe_values(q[~found])}")
        return self._order[np.searchsorted(self._sorted_ids, q)].astype(np.int64)

    def lookup(self, ids: ArrayLike) -> NDArray[np.float32]:
        """Vectors (m, d) of ``ids``; ``KeyError`` naming the unknown ones."""
        return self.vectors[self.index_of(ids)]

    # ------------------------------------------------------------------ external ids
    @property
    def labels(self) -> list[Any] | None:
        """The id vocabulary (``meta["id_labels"]``: id ``i`` stands for ``labels[i]``) when the
        data had non-integer ids (``"u1"``, networkx node names); ``None`` otherwise."""
        lab = self.meta.get("id_labels")
        return None if lab is None else list(lab)

    def with_labels(self, labels: Any) -> Embeddings:
        """A copy carrying an id vocabulary (a sequence of labels, or an ``IdVocabulary``) whose
        codes are this object's ids; ``ValueError`` if an id is not a code of it."""
        lab = list(getattr(labels, "labels", labels))
        if len(self) and (self.ids.min() < 0 or self.ids.max() >= len(lab)):
            raise ValueError(
                f"ids outside the vocabulary's codes 0..{len(lab) - 1}: "
                f"{describe_values(self.ids[(self.ids < 0) | (self.ids >= len(lab))])}"
            )
        return Embeddings(self.ids, self.vectors, {**self.meta, "id_labels": lab})

    def labels_of(self, ids: ArrayLike) -> NDArray[np.object_]:
        """External labels of ``ids`` (any shape, e.g. ``SearchResult.ids``), object dtype, with
        ``None`` for the -1 padding; the ids themselves when there is no vocabulary."""
        from embeddings.datasets.tables import IdVocabulary

        lab = self.labels
        if lab is None:
            c = np.asarray(ids, dtype=np.int64)
            out = c.astype(object)
            out[c < 0] = None
            return out
        return IdVocabulary(tuple(lab)).decode(ids)

    def ids_of(self, labels: Any) -> NDArray[np.int64]:
        """int64 ids (m,) of external ``labels``; ``KeyError`` naming unknown ones. Without a
        vocabulary the labels must be the ids."""
        from embeddings.datasets.tables import IdVocabulary

        lab = self.labels
        vals = [labels] if isinstance(labels, str) or np.ndim(labels) == 0 else list(labels)
        if lab is None:
            return as_ids(vals, unique=False)
        return IdVocabulary(tuple(lab)).encode(vals)

    def subset(self, ids: ArrayLike) -> Embeddings:
        """A new ``Embeddings`` with only ``ids`` (in that order)."""
        return Embeddings(as_ids(ids), self.lookup(ids), self.meta)

    def normalized(self) -> Embeddings:
        """Unit-length copy (zero vectors stay zero)."""
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        return Embeddings(self.ids, self.vectors / np.maximum(norms, 1e-12), self.meta)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Embeddings):
            return NotImplemented
        return (
            np.array_equal(self.ids, other.ids)
            and self.vectors.shape == other.vectors.shape
            and np.array_equal(self.vectors.view(np.uint32), other.vectors.view(np.uint32))
            and dict(self.meta) == dict(other.meta)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Embeddings(n={len(self)}, dim={self.vectors.shape[1]}, method={self.meta.get('method')!r})"

    # ------------------------------------------------------------------ npz format
    def save(self, path: str | os.PathLike) -> Path:
        """Write the documented ``.npz`` format atomically; returns the path written."""
        target = Path(path)
        meta = dict(self.meta)
        meta["__format__"] = FORMAT_TAG
        try:
            meta_bytes = json.dumps(meta, sort_keys=True, default=_json_default).encode("utf-8")
        except TypeError as exc:
            raise ValueError(f"meta is not JSON-serialisable: {exc}") from exc
        with atomic_write(target, "wb") as fh:
            np.savez(
                fh,
                ids=self.ids,
                vectors=self.vectors,
                meta=np.frombuffer(meta_bytes, dtype=np.uint8),
            )
        return target

    @classmethod
    def load(cls, path: str | os.PathLike) -> Embeddings:
        """Read a file written by ``save``; validated exactly as ``Embeddings(...)`` validates
        built input. ``ValueError`` naming the file and the problem for a truncated, foreign or
        inconsistent file (random bytes, pickled members, meta that is no JSON object, duplicate
        or fractional ids, NaN vectors, ...)."""
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"no embeddings file at {p}")
        z = read_npz(p, "an embrecall embeddings file")
        if set(z) != {"ids", "vectors", "meta"}:
            raise ValueError(f"{p}: not an embrecall embeddings file (members {sorted(z)})")
        ids, vectors, meta_raw = z["ids"], z["vectors"], z["meta"]
        if ids.dtype != np.int64 or vectors.dtype != np.float32 or meta_raw.dtype != np.uint8:
            raise ValueError(f"{p}: unexpected dtypes {ids.dtype}/{vectors.dtype}/{meta_raw.dtype}")
        if meta_raw.ndim != 1:
            raise ValueError(f"{p}: meta must be 1-D bytes, got shape {meta_raw.shape}")
        if vectors.ndim != 2 or ids.shape != (vectors.shape[0],):
            raise ValueError(f"{p}: shapes do not match: ids {ids.shape}, vectors {vectors.shape}")
        try:
            meta = json.loads(meta_raw.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{p}: corrupt meta JSON ({exc})") from exc
        if not isinstance(meta, dict):
            raise ValueError(f"{p}: meta must be a JSON object, got a JSON {type(meta).__name__}")
        if meta.pop("__format__", None) != FORMAT_TAG:
            raise ValueError(f"{p}: missing or unknown format tag (expected {FORMAT_TAG})")
        try:
            return cls(ids, vectors, meta)
        except ValueError as exc:
            raise ValueError(f"{p}: {exc}") from exc

    # ------------------------------------------------------------------ gensim / word2vec text
    def to_keyed_vectors(self) -> KeyedVectors:
        """gensim ``KeyedVectors`` with ``str(id)`` keys (``str(label)`` when the embeddings carry
        an id vocabulary), same order and values.

        The result (``embeddings._keyed.IdKeyedVectors``) reads an int key as an item id, not a
        row position as plain gensim does: ``kv.most_similar(17)`` answers for item 17, ``17 in
        kv`` is true only when item 17 has a vector, and an unknown id raises ``KeyError``.
        """
        from embeddings._keyed import IdKeyedVectors

        kv = IdKeyedVectors(vector_size=self.dim, dtype=np.float32)
        keys = self.labels_of(self.ids) if self.labels is not None else self.ids
        kv.add_vectors([str(i) for i in keys.tolist()], self.vectors)
        return kv

    @classmethod
    def from_keyed_vectors(
        cls, kv: KeyedVectors, meta: Mapping[str, Any] | None = None
    ) -> Embeddings:
        """From gensim ``KeyedVectors`` whose keys are integer ids (int or decimal strings)."""
        keys = list(kv.index_to_key)
        try:
            ids = np.array([int(k) for k in keys], dtype=np.int64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"KeyedVectors keys must be integer ids: {exc}") from exc
        return cls(ids, np.asarray(kv.vectors, dtype=np.float32), meta or {})

    def save_word2vec_format(self, path: str | os.PathLike, binary: bool = False) -> Path:
        """Write the word2vec format atomically (text: shortest round-trip floats, bit-exact)."""
        target = Path(path)
        if binary:
            tmp = target.with_name(f".{target.name}.w2v.tmp")
            try:
                self.to_keyed_vectors().save_word2vec_format(str(tmp), binary=True)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            return target
        with atomic_write(target, "w") as fh:
            fh.write(f"{len(self)} {self.dim}\n")
            for i, row in zip(self.ids.tolist(), self.vectors, strict=True):
                fh.write(
                    f"{i} "
                    + " ".join(np.format_float_positional(v, unique=True, trim="-") for v in row)
                    + "\n"
                )
        return target

    @classmethod
    def load_word2vec_format(cls, path: str | os.PathLike, binary: bool = False) -> Embeddings:
        """Read the word2vec text (or binary) format; ``ValueError`` for a malformed file."""
        from gensim.models import KeyedVectors

        try:
            kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
        except FileNotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001 - gensim raises many types for bad files
            raise ValueError(f"{path}: malformed word2vec file ({exc})") from exc
        return cls.from_keyed_vectors(kv, {"source": str(path)})


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
