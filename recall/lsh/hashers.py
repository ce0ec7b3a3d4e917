"""LSH hash functions: E2LSH (p-stable, Euclidean) and SimHash (random hyperplanes, cosine).

- :class:`E2LSHHasher` ``(dim, n_tables=L, n_hashes=m, bucket_width=w, random_state)``:
  ``h_j(v) = floor((a_j . v + b_j) / w)`` with ``a_j ~ N(0, I)``, ``b_j ~ U[0, w)``; the ``m``
  functions of table ``t`` are AND-ed into one uint64 key
  ``key_t(v) = sum_j c_{t,j} * uint64(h_{t,j}(v))  (mod 2**64)`` where ``c`` are random odd uint64
  multipliers stored with the hasher (``uint64(h)`` is the two's-complement bit pattern of the int64
  ``h``). The map is linear, so a multi-probe neighbour ``h_j +- 1`` has key ``key +- c_j``.
- :class:`SimHashHasher` ``(dim, n_tables=L, n_bits=m, random_state)``: bit ``j`` of table ``t`` is
  ``[a_{t,j} . v > 0]`` with ``a ~ N(0, I)``; ``key_t(v) = sum_j bit_j << j`` (``m <= 64``).

Both draw their random arrays table by table from one ``numpy.random.default_rng(random_state)``
stream, so the first ``L'`` tables of a hasher with ``L`` tables equal a hasher with ``L'`` tables.
Projections are computed in float32 as ``(v @ A + b) / w`` (E2LSH) or ``v @ A`` (SimHash).
``keys(vectors) -> uint64 (n, L)`` (projected in blocks of rows, never all at once); ``to_arrays()`` / ``from_arrays()`` persist them exactly and
``fingerprint()`` is the sha256 of the kind, the scalar parameters and the bytes of every array.
The hashers are shared by the in-memory index, the Redis bucket store and the Spark batch recall.
The cross-polytope hash of the balanced index is in :mod:`recall.lsh.crosspolytope`.
"""

from __future__ import annotations

import hashlib
import math
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings.validate import as_vectors, check_random_state
from recall.lsh import kernels as K
from recall.lsh._checks import check_int as _check_int
from recall.lsh.build_kernels import blocked_keys

__all__ = ["E2LSHHasher", "SimHashHasher", "hasher_from_arrays"]


def _random_odd_u64(rng: np.random.Generator, size: int) -> NDArray[np.uint64]:
    return rng.integers(0, 2**64, size=size, dtype=np.uint64, endpoint=False) | np.uint64(1)


class _Hasher:
    """Common part of the hashers: projections (dim, L*m) float32, keys (n, L) uint64."""

    kind: ClassVar[str] = ""

    dim: int
    n_tables: int
    m: int
    projections: NDArray[np.float32]

    def _scalars(self) -> dict[str, float]:
        raise NotImplementedError

    def project(self, vectors: ArrayLike) -> NDArray[np.float32]:
        """Per-function projections f (n, L*m) float32 that the keys are computed from."""
        raise NotImplementedError

    def keys(self, vectors: ArrayLike) -> NDArray[np.uint64]:
        """Bucket keys (n, L) uint64 of vectors (n, dim)."""
        raise NotImplementedError

    def to_arrays(self) -> dict[str, NDArray]:
        """Every parameter as arrays (0-d for scalars); ``from_arrays`` restores it exactly."""
        out: dict[str, NDArray] = {"kind": np.array(self.kind)}
        out.update({k: np.array(v) for k, v in self._scalars().items()})
        out.update(self._arrays())
        return out

    def _arrays(self) -> dict[str, NDArray]:
        raise NotImplementedError

    def fingerprint(self) -> str:
        """sha256 hex digest of kind, scalar parameters and array bytes (dtype/shape included)."""
        h = hashlib.sha256()
        h.update(self.kind.encode())
        for k, v in sorted(self._scalars().items()):
            h.update(f"|{k}={v!r}".encode())
        for k, a in sorted(self._arrays().items()):
            a = np.ascontiguousarray(a)
            h.update(f"|{k}:{a.dtype.str}:{a.shape}".encode())
            h.update(a.tobytes())
        return h.hexdigest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Hasher) and self.fingerprint() == other.fingerprint()

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self._scalars().items())
        return f"{type(self).__name__}({args})"

    def _as_input(self, vectors: ArrayLike) -> NDArray[np.float32]:
        return as_vectors(vectors, "vectors", dim=self.dim)


class E2LSHHasher(_Hasher):
    """p-stable (Gaussian) LSH for Euclidean distance; see the module docstring for the formulas.

    ``projections`` (dim, L*m) float32 ~ N(0, 1); ``offsets`` (L*m,) float32 ~ U[0, w);
    ``multipliers`` (L*m,) uint64 random odd. Function ``j`` of table ``t`` is column ``t*m + j``.
    """

    kind = "e2lsh"

    def __init__(
        self,
        dim: int,
        n_tables: int = 8,
        n_hashes: int = 8,
        bucket_width: float = 1.0,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.dim = _check_int("dim", dim, 1)
        self.n_tables = _check_int("n_tables", n_tables, 1)
        self.m = _check_int("n_hashes", n_hashes, 1, 64)
        if not (isinstance(bucket_width, int | float | np.floating) and bucket_width > 0):
            raise ValueError(f"bucket_width must be a positive number, got {bucket_width!r}")
        if not math.isfinite(float(bucket_width)):
            raise ValueError(f"bucket_width must be finite, got {bucket_width!r}")
        self.bucket_width = float(np.float32(bucket_width))
        rng = check_random_state(random_state)
        A, b, c = [], [], []
        for _ in range(self.n_tables):
            A.append(rng.standard_normal((self.dim, self.m), dtype=np.float32))
            b.append(rng.uniform(0.0, self.bucket_width, self.m).astype(np.float32))
            c.append(_random_odd_u64(rng, self.m))
        self.projections = np.ascontiguousarray(np.concatenate(A, axis=1))
        self.offsets = np.minimum(
            np.concatenate(b), np.nextafter(np.float32(self.bucket_width), np.float32(0))
        ).astype(np.float32)
        self.multipliers = np.concatenate(c)

    @property
    def n_hashes(self) -> int:
        return self.m

    def _scalars(self) -> dict[str, float]:
        return {
            "dim": self.dim,
            "n_tables": self.n_tables,
            "n_hashes": self.m,
            "bucket_width": self.bucket_width,
        }

    def _arrays(self) -> dict[str, NDArray]:
        return {
            "projections": self.projections,
            "offsets": self.offsets,
            "multipliers": self.multipliers,
        }

    def project(self, vectors: ArrayLike) -> NDArray[np.float32]:
        """``(v @ A + b) / w`` (n, L*m) float32; ``floor`` of it are the hash values."""
        return self._project_rows(self._as_input(vectors))

    def _project_rows(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        f = x @ self.projections
        f += self.offsets
        f /= np.float32(self.bucket_width)
        return f

    def hash_values(self, vectors: ArrayLike) -> NDArray[np.int64]:
        """Integer hash values h (n, L, m) int64."""
        f = self.project(vectors)
        return np.floor(f).astype(np.int64).reshape(f.shape[0], self.n_tables, self.m)

    def keys(self, vectors: ArrayLike) -> NDArray[np.uint64]:
        return blocked_keys(
            self._as_input(vectors),
            self.n_tables,
            self._project_rows,
            lambda f: K.combine_e2lsh(f, self.multipliers, self.n_tables, self.m),
        )

    @classmethod
    def from_arrays(cls, arrays: dict[str, NDArray]) -> E2LSHHasher:
        """Inverse of ``to_arrays`` (raises ValueError on a foreign or inconsistent dict)."""
        _check_kind(arrays, cls.kind)
        try:
            obj = cls.__new__(cls)
            obj.dim = int(arrays["dim"])
            obj.n_tables = int(arrays["n_tables"])
            obj.m = int(arrays["n_hashes"])
            obj.bucket_width = float(arrays["bucket_width"])
            obj.projections = np.ascontiguousarray(arrays["projections"], dtype=np.float32)
            obj.offsets = np.ascontiguousarray(arrays["offsets"], dtype=np.float32)
            obj.multipliers = np.ascontiguousarray(arrays["multipliers"], dtype=np.uint64)
        except KeyError as exc:
            raise ValueError(f"E2LSH hasher arrays lack {exc}") from exc
        width = obj.n_tables * obj.m
        if (
            obj.projections.shape != (obj.dim, width)
            or obj.offsets.shape != (width,)
            or obj.multipliers.shape != (width,)
        ):
            raise ValueError("E2LSH hasher arrays have inconsistent shapes")
        return obj


class SimHashHasher(_Hasher):
    """Random-hyperplane LSH for cosine similarity: ``n_bits`` sign bits per table key.

    ``projections`` (dim, L*m) float32 ~ N(0, 1); bit ``j`` of table ``t`` uses column ``t*m + j``.
    """

    kind = "simhash"

    def __init__(
        self,
        dim: int,
        n_tables: int = 8,
        n_bits: int = 16,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.dim = _check_int("dim", dim, 1)
        self.n_tables = _check_int("n_tables", n_tables, 1)
        self.m = _check_int("n_bits", n_bits, 1, 64)
        rng = check_random_state(random_state)
        self.projections = np.ascontiguousarray(
            np.concatenate(
                [
                    rng.standard_normal((self.dim, self.m), dtype=np.float32)
                    for _ in range(self.n_tables)
                ],
                axis=1,
            )
        )

    @property
    def n_bits(self) -> int:
        return self.m

    def _scalars(self) -> dict[str, float]:
        return {"dim": self.dim, "n_tables": self.n_tables, "n_bits": self.m}

    def _arrays(self) -> dict[str, NDArray]:
        return {"projections": self.projections}

    def project(self, vectors: ArrayLike) -> NDArray[np.float32]:
        """``v @ A`` (n, L*m) float32; the bits are ``> 0``."""
        return self._as_input(vectors) @ self.projections

    def bits(self, vectors: ArrayLike) -> NDArray[np.bool_]:
        """Sign bits (n, L, m) bool."""
        f = self.project(vectors)
        return (f > 0).reshape(f.shape[0], self.n_tables, self.m)

    def keys(self, vectors: ArrayLike) -> NDArray[np.uint64]:
        return blocked_keys(
            self._as_input(vectors),
            self.n_tables,
            lambda b: b @ self.projections,
            lambda f: K.combine_bits(f, self.n_tables, self.m),
        )

    @classmethod
    def from_arrays(cls, arrays: dict[str, NDArray]) -> SimHashHasher:
        """Inverse of ``to_arrays`` (raises ValueError on a foreign or inconsistent dict)."""
        _check_kind(arrays, cls.kind)
        try:
            obj = cls.__new__(cls)
            obj.dim = int(arrays["dim"])
            obj.n_tables = int(arrays["n_tables"])
            obj.m = int(arrays["n_bits"])
            obj.projections = np.ascontiguousarray(arrays["projections"], dtype=np.float32)
        except KeyError as exc:
            raise ValueError(f"SimHash hasher arrays lack {exc}") from exc
        if obj.projections.shape != (obj.dim, obj.n_tables * obj.m):
            raise ValueError("SimHash hasher arrays have inconsistent shapes")
        return obj


def _check_kind(arrays: dict[str, NDArray], kind: str) -> None:
    got = str(arrays.get("kind", ""))
    if got != kind:
        raise ValueError(f"hasher arrays are of kind {got!r}, expected {kind!r}")


def hasher_from_arrays(arrays: dict[str, NDArray]) -> E2LSHHasher | SimHashHasher:
    """Restore whichever hasher ``arrays`` (from ``to_arrays``) describes."""
    kind = str(arrays.get("kind", ""))
    for cls in (E2LSHHasher, SimHashHasher):
        if cls.kind == kind:
            return cls.from_arrays(arrays)
    raise ValueError(f"unknown hasher kind {kind!r}")
