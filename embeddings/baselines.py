"""Baselines a recommender researcher expects to see beaten: popularity, item-kNN and implicit
ALS / BPR.

``Popularity`` (imported as ``embeddings.trainers.Popularity``): one score per item, see its doc.

Both return ``Embeddings``, so they go through the very same evaluation (and indexes) as the
learned item vectors:

``ItemKNN`` (the classic neighbourhood baseline, Sarwar et al. 2001; Deshpande & Karypis 2004)
    Item i's vector is its column of the binary user-item matrix X (n_users dims).
    ``similarity="cosine"``: columns scaled to unit norm, so the cosine search over them *is*
    item-kNN by cosine (sim(i, j) = |U_i ∩ U_j| / sqrt(|U_i| |U_j|)); as U2I with an
    inner-product search over the mean of the user's unit columns it is the item-kNN score
    sum_j sim(i, j) over the user's items (all neighbours kept, no truncation).
    ``similarity="cooccurrence"``: raw binary columns with inner product: score = co-occurrence
    count |U_i ∩ U_j| (favours popular items). ``meta["metric"]`` says which search to use.
    The vectors are dense float32 (n_items, n_users): fit refuses more than ``max_cells`` cells.

``ImplicitMF`` (matrix factorisation for implicit feedback from the ``implicit`` library)
    ``model="als"``: weighted ALS (Hu, Koren & Volinsky 2008) with confidence 1 + alpha * r;
    ``model="bpr"``: Bayesian personalised ranking (Rendle et al. 2009).
    ``fit`` returns item factors; ``user_embeddings`` (after fit) the user factors: evaluate
    U2I with ``evaluate_u2i(items, ..., user_embeddings=users, metric="ip")``. It runs one
    thread (``num_threads=1``) with the BLAS pool limited to one thread, so a seed gives the
    same factors. ``implicit`` is the optional extra ``baselines``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from embeddings.base import TrainerBase, public_module
from embeddings.inputs import (
    _SESSIONS,
    _TABLES,
    _is,
    _item_labels,
    _note_side_info,
    _with_item_labels,
)
from embeddings.types import Embeddings
from embeddings.validate import spawn_seeds

if TYPE_CHECKING:  # pragma: no cover
    # both modules import pandas: a caller that trains a graph (``embeddings.trainers`` imports
    # this module) never loads it; an ``Interactions`` or ``Sessions`` instance means it is loaded
    from embeddings.datasets.tables import Interactions

__all__ = ["Popularity", "ItemKNN", "ImplicitMF", "user_item_matrix"]

logger = logging.getLogger(__name__)


def user_item_matrix(
    interactions: Interactions, min_rating: float | None = None, binary: bool = True
) -> tuple[Any, NDArray[np.int64], NDArray[np.int64]]:
    """(X csr (n_users, n_items) float32, user_ids, item_ids) of ``interactions``.

    ``binary``: 1 per (user, item) seen at least once (repeats count once), else the number of
    events. ``min_rating`` keeps only events rated >= it.
    """
    from scipy import sparse

    if not _is(interactions, _TABLES, "Interactions"):
        raise ValueError(f"expected Interactions, got {type(interactions).__name__}")
    df = interactions.frame
    if min_rating is not None:
        df = df[df["rating"] >= min_rating]
    if len(df) == 0:
        raise ValueError(f"{interactions.name}: no interaction left (min_rating={min_rating})")
    users, u_idx = np.unique(df["user_id"].to_numpy(), return_inverse=True)
    items, i_idx = np.unique(df["item_id"].to_numpy(), return_inverse=True)
    x = sparse.csr_matrix(
        (np.ones(len(df), np.float32), (u_idx, i_idx)), shape=(users.size, items.size)
    )
    x.sum_duplicates()
    if binary:
        x.data[:] = 1.0
    return x, users.astype(np.int64), items.astype(np.int64)


@public_module("embeddings.trainers")
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
        if _is(data, _TABLES, "Interactions"):
            df = data.frame
            if self.min_rating is not None:
                df = df[df["rating"] >= self.min_rating]
            items = df["item_id"].to_numpy()
        elif _is(data, _SESSIONS, "Sessions"):
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


class ItemKNN(TrainerBase):
    """Item-kNN baseline as item vectors (columns of the user-item matrix), see module doc.

    Args:
        similarity: ``"cosine"`` (use cosine search for I2I, inner product of the mean of unit
            columns for U2I) or ``"cooccurrence"`` (inner-product search).
        min_rating: positives only (rating >= this), None = all events.
        max_cells: refuse n_items * n_users above this (dense vectors).
        random_state: unused (deterministic); accepted so every trainer is called alike.
    """

    uses_side_info = False
    input_kind = "interactions"

    def __init__(
        self,
        similarity: str = "cosine",
        min_rating: float | None = None,
        max_cells: int = 200_000_000,
        random_state: Any = None,
    ) -> None:
        self.similarity = similarity
        self.min_rating = min_rating
        self.max_cells = max_cells
        self.random_state = random_state

    def fit(self, data: Interactions, side_info: Any = None) -> Embeddings:
        """Item vectors float32 (n_items, n_users) of ``data``."""
        if self.similarity not in ("cosine", "cooccurrence"):
            raise ValueError(
                f"ItemKNN: similarity must be 'cosine' or 'cooccurrence', got {self.similarity!r}"
            )
        x, users, items = user_item_matrix(data, self.min_rating)
        cells = int(users.size) * int(items.size)
        if cells > self.max_cells:
            raise ValueError(
                f"ItemKNN: {items.size} items x {users.size} users = {cells} cells exceeds "
                f"max_cells={self.max_cells} (dense item vectors)"
            )
        vec = np.ascontiguousarray(x.T.toarray(), dtype=np.float32)
        if self.similarity == "cosine":
            vec /= np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
        return Embeddings(
            items,
            vec,
            {
                "method": f"itemknn-{self.similarity}",
                "trainer": "ItemKNN",
                "trainer_params": self._meta_params(),
                "metric": "cosine" if self.similarity == "cosine" else "ip",
                "u2i_metric": "ip",
            },
        )


class ImplicitMF(TrainerBase):
    """Implicit-feedback matrix factorisation (``implicit`` ALS or BPR) as item + user vectors.

    Args:
        model: ``"als"`` or ``"bpr"``.
        factors: dimension (BPR adds a bias column: vectors have factors + 1 columns).
        regularization: L2 weight.
        iterations: ALS sweeps / BPR epochs.
        alpha: ALS confidence scale (confidence = 1 + alpha * count).
        learning_rate: BPR step size.
        min_rating: positives only (rating >= this).
        random_state: seed of the factor initialisation and BPR sampling.
    """

    uses_side_info = False
    input_kind = "interactions"

    def __init__(
        self,
        model: str = "als",
        factors: int = 64,
        regularization: float = 0.01,
        iterations: int = 15,
        alpha: float = 1.0,
        learning_rate: float = 0.01,
        min_rating: float | None = None,
        random_state: Any = None,
    ) -> None:
        self.model = model
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.min_rating = min_rating
        self.random_state = random_state
        self.user_embeddings: Embeddings | None = None

    def fit(self, data: Interactions, side_info: Any = None) -> Embeddings:
        """Item factors (n_items, d) float32; user factors in ``self.user_embeddings``."""
        try:
            import implicit.cpu.als as als
            import implicit.cpu.bpr as bpr
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "ImplicitMF needs the 'implicit' package: pip install 'embrecall[baselines]'"
            ) from exc
        from threadpoolctl import threadpool_limits

        if self.model not in ("als", "bpr"):
            raise ValueError(f"ImplicitMF: model must be 'als' or 'bpr', got {self.model!r}")
        if not isinstance(self.factors, int | np.integer) or self.factors < 1:
            raise ValueError(f"ImplicitMF: factors must be an int >= 1, got {self.factors}")
        if not isinstance(self.iterations, int | np.integer) or self.iterations < 1:
            raise ValueError(f"ImplicitMF: iterations must be an int >= 1, got {self.iterations}")
        x, users, items = user_item_matrix(data, self.min_rating)
        seed = spawn_seeds(self.random_state, 1)[0] % (2**31 - 1)
        with threadpool_limits(1):
            if self.model == "als":
                m = als.AlternatingLeastSquares(
                    factors=int(self.factors),
                    regularization=float(self.regularization),
                    alpha=float(self.alpha),
                    iterations=int(self.iterations),
                    num_threads=1,
                    random_state=seed,
                )
            else:
                m = bpr.BayesianPersonalizedRanking(
                    factors=int(self.factors),
                    learning_rate=float(self.learning_rate),
                    regularization=float(self.regularization),
                    iterations=int(self.iterations),
                    num_threads=1,
                    random_state=seed,
                )
            m.fit(x, show_progress=False)
        meta = {
            "method": f"implicit-{self.model}",
            "trainer": "ImplicitMF",
            "trainer_params": self._meta_params(),
            "random_state": self.random_state if isinstance(self.random_state, int) else None,
            "metric": "ip",
        }
        self.user_embeddings = Embeddings(
            users, np.ascontiguousarray(m.user_factors, dtype=np.float32), {**meta, "kind": "user"}
        )
        return Embeddings(items, np.ascontiguousarray(m.item_factors, dtype=np.float32), meta)
