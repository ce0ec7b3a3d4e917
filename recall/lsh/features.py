"""LSH as a feature extractor: random projections bucketed at several resolutions, one-hot.

The "CosineVectorEmbedding" idea: a vector is described by which bucket it falls in along ``n``
random directions, at coarse and fine resolutions at once. A linear model on these sparse one-hot
features is piecewise constant in the original space, so it can fit targets that no linear model on
the raw vectors can (cones, XOR-like regions, stripes).

For projection ``j`` (direction ``a_j ~ N(0, I)``, unit-normalised) and resolution ``r`` (number
of bins over the training range ``[lo_j, hi_j]`` of ``a_j . x``), with a random offset
``u_{j,r} ~ U[0, 1)``::

    bucket = clip(floor((a_j . x - lo_j) / ((hi_j - lo_j) / r) + u_{j,r}), 0, r)

(``r + 1`` possible values: the offset shifts the grid so different projections cut in different
places). Each (j, r) contributes exactly one active column, so every row has
``n_projections * len(resolutions)`` ones.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from embeddings.validate import as_vectors, check_random_state
from recall.base import normalize_rows

__all__ = ["LSHBucketFeatures"]


class LSHBucketFeatures(TransformerMixin, BaseEstimator):
    """Map vectors (n, d) to sparse one-hot bucket ids of random projections at several resolutions.

    Parameters: ``n_projections`` random directions; ``resolutions`` bin counts (e.g. 1, 2, 4, 8,
    16); ``normalize`` unit-normalises rows first (cosine geometry); ``dtype`` of the output;
    ``random_state`` seeds the directions and offsets. ``transform`` returns a ``scipy.sparse``
    CSR matrix (n, n_features_out) with ``n_projections * len(resolutions)`` ones per row.
    """

    def __init__(
        self,
        n_projections: int = 32,
        resolutions: tuple[int, ...] = (1, 2, 4, 8, 16),
        normalize: bool = True,
        dtype: type = np.float32,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.n_projections = n_projections
        self.resolutions = resolutions
        self.normalize = normalize
        self.dtype = dtype
        self.random_state = random_state

    def _validate_params_(self) -> tuple[int, NDArray[np.int64]]:
        if isinstance(self.n_projections, bool) or not isinstance(
            self.n_projections, int | np.integer
        ):
            raise ValueError(f"n_projections must be an int, got {self.n_projections!r}")
        if self.n_projections < 1:
            raise ValueError(f"n_projections must be >= 1, got {self.n_projections}")
        res = np.asarray(self.resolutions)
        if (
            res.ndim != 1
            or res.size == 0
            or not np.issubdtype(res.dtype, np.integer)
            or (res < 1).any()
        ):
            raise ValueError(
                f"resolutions must be a non-empty sequence of ints >= 1, got {self.resolutions!r}"
            )
        return int(self.n_projections), res.astype(np.int64)

    def _prep(self, X: ArrayLike, dim: int | None = None) -> NDArray[np.float32]:
        x = as_vectors(X, "X", dim=dim)
        return normalize_rows(x) if self.normalize else x

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> LSHBucketFeatures:
        """Draw directions and offsets; take each projection's range from ``X`` (n, d)."""
        n_proj, res = self._validate_params_()
        x = self._prep(X)
        rng = check_random_state(self.random_state)
        a = rng.standard_normal((x.shape[1], n_proj)).astype(np.float32)
        a /= np.linalg.norm(a, axis=0, keepdims=True)
        p = x @ a
        lo, hi = p.min(axis=0), p.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0).astype(np.float32)
        self.directions_ = a
        self.low_ = lo.astype(np.float32)
        self.span_ = span
        self.offsets_ = rng.uniform(0.0, 1.0, size=(res.size, n_proj)).astype(np.float32)
        self.resolutions_ = res
        # column blocks ordered (resolution, projection): (j, r) owns r + 1 columns
        widths = np.repeat(res + 1, n_proj)
        self.column_base_ = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64)
        self.n_features_in_ = x.shape[1]
        self.n_features_out_ = int(widths.sum())
        return self

    def bucket_ids(self, X: ArrayLike) -> NDArray[np.int64]:
        """Bucket numbers (n, len(resolutions) * n_projections) int64, resolution-major."""
        check_is_fitted(self, "directions_")
        x = self._prep(X, dim=self.n_features_in_)
        z = (x @ self.directions_ - self.low_) / self.span_  # (n, n_proj), 0..1 on the fit range
        out = np.empty((x.shape[0], self.resolutions_.size * self.n_projections), dtype=np.int64)
        P = self.directions_.shape[1]
        for i, r in enumerate(self.resolutions_):
            b = np.floor(z * r + self.offsets_[i])
            out[:, i * P : (i + 1) * P] = np.clip(b, 0, r).astype(np.int64)
        return out

    def transform(self, X: ArrayLike) -> sp.csr_matrix:
        """Sparse one-hot features (n, n_features_out_) CSR, ``n_projections * len(resolutions)`` ones per row."""
        b = self.bucket_ids(X)
        n, per_row = b.shape
        cols = (b + self.column_base_[None, :]).ravel()
        indptr = np.arange(0, n * per_row + 1, per_row, dtype=np.int64)
        data = np.ones(n * per_row, dtype=self.dtype)
        return sp.csr_matrix((data, cols, indptr), shape=(n, self.n_features_out_))

    def get_feature_names_out(self, input_features: ArrayLike | None = None) -> NDArray[np.object_]:
        """Names ``lsh_r{resolution}_p{projection}_b{bucket}``."""
        check_is_fitted(self, "directions_")
        names = [
            f"lsh_r{r}_p{j}_b{b}"
            for r in self.resolutions_
            for j in range(self.directions_.shape[1])
            for b in range(int(r) + 1)
        ]
        return np.asarray(names, dtype=object)
