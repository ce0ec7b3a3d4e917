"""Item2vec on Spark ML ``Word2Vec``: sessions DataFrame in, the project's ``Embeddings`` out."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings.spark.frames import require_pyspark
from embeddings.types import Embeddings
from embeddings.validate import spawn_seeds

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

__all__ = ["SparkItem2Vec"]

logger = logging.getLogger(__name__)


class SparkItem2Vec:
    """Item2vec with Spark ML ``Word2Vec`` (skip-gram, hierarchical softmax), output ``Embeddings``.

    Args:
        vector_size: embedding dimension.
        window: context window radius.
        min_count: items seen fewer times get no vector (logged).
        epochs: Spark's ``maxIter``.
        learning_rate: Spark's ``stepSize``.
        num_partitions: Spark's ``numPartitions``; 1 (default) gives reproducible vectors for a
            seed, more partitions train faster but their merge order is not fixed.
        max_sentence_length: longer sessions are split by Spark into chunks of this length.
        random_state: seed (int / SeedSequence / Generator), passed to Spark's ``seed``.
    """

    def __init__(
        self,
        vector_size: int = 32,
        window: int = 5,
        min_count: int = 1,
        epochs: int = 1,
        learning_rate: float = 0.025,
        num_partitions: int = 1,
        max_sentence_length: int = 1000,
        random_state: Any = None,
    ) -> None:
        self.vector_size = vector_size
        self.window = window
        self.min_count = min_count
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.num_partitions = num_partitions
        self.max_sentence_length = max_sentence_length
        self.random_state = random_state

    def _check(self) -> None:
        for name in ("vector_size", "window", "epochs", "num_partitions", "max_sentence_length"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        if (
            isinstance(self.min_count, bool)
            or not isinstance(self.min_count, int)
            or self.min_count < 0
        ):
            raise ValueError(f"min_count must be an int >= 0, got {self.min_count!r}")
        if not (isinstance(self.learning_rate, float | int) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")

    def fit(self, sessions: DataFrame, items_col: str = "items") -> Embeddings:
        """Train on a DataFrame with an array<bigint> column of item ids (e.g. ``spark_sessions``)."""
        pyspark = require_pyspark()
        from pyspark.ml.feature import Word2Vec
        from pyspark.sql import functions as F

        self._check()
        if items_col not in sessions.columns:
            raise ValueError(f"sessions: no column {items_col!r} (has {sessions.columns})")
        seed = spawn_seeds(self.random_state, 1)[0]
        tokens = sessions.select(
            F.transform(F.col(items_col), lambda x: x.cast("bigint").cast("string")).alias("_tok")
        )
        w2v = Word2Vec(
            vectorSize=int(self.vector_size),
            windowSize=int(self.window),
            minCount=int(self.min_count),
            maxIter=int(self.epochs),
            stepSize=float(self.learning_rate),
            numPartitions=int(self.num_partitions),
            maxSentenceLength=int(self.max_sentence_length),
            seed=int(seed),
            inputCol="_tok",
            outputCol="_vec",
        )
        t0 = time.perf_counter()
        model = w2v.fit(tokens)
        rows = model.getVectors().collect()
        seconds = time.perf_counter() - t0
        if not rows:
            raise ValueError(f"no item reached min_count={self.min_count}: empty vocabulary")
        ids = np.array([int(r["word"]) for r in rows], dtype=np.int64)
        vecs = np.array([r["vector"].toArray() for r in rows], dtype=np.float32)
        order = np.argsort(ids, kind="stable")
        n_seen = sessions.select(F.explode(items_col).alias("i")).distinct().count()
        if n_seen > ids.size:
            logger.info(
                "%d of %d items got no vector (min_count=%d)",
                n_seen - ids.size,
                n_seen,
                self.min_count,
            )
        meta = {
            "method": "item2vec-spark",
            "params": {
                "vector_size": self.vector_size,
                "window": self.window,
                "min_count": self.min_count,
                "epochs": self.epochs,
                "learning_rate": self.learning_rate,
                "num_partitions": self.num_partitions,
                "max_sentence_length": self.max_sentence_length,
            },
            "seed": int(seed),
            "seconds": seconds,
            "versions": {"pyspark": pyspark.__version__, "numpy": np.__version__},
            "items_without_vector": int(n_seen - ids.size),
        }
        return Embeddings(ids[order], vecs[order], meta)
