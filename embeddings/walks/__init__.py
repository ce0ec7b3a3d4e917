"""Random walks on the weighted directed item graph: DeepWalk (first order) and node2vec (p, q).

=====================  =========================================================================
module                 what it holds
=====================  =========================================================================
``walks.kernels``      compiled kernels: SplitMix64 streams, Vose alias tables, the walkers
``walks.generate``     ``generate_walks``: validated parameters, sampler choice, one int32 matrix
``walks.corpus``       ``WalkCorpus`` (the same walks streamed in blocks), ``walks_to_ids``,
                       ``walks_to_corpus_file`` (gensim ``corpus_file`` text)
``walks.stage``        ``Walks``: the walk corpus as the stage between a graph and a trainer
                       (``trainer.walks(data)`` then ``trainer.fit_walks(walks)``)
=====================  =========================================================================

The same ``random_state`` gives identical walks for any number of workers and in any form
(matrix, streamed, spilled).
"""

from embeddings.walks.corpus import WalkCorpus, walks_to_corpus_file, walks_to_ids
from embeddings.walks.generate import (
    PRECOMPUTED_MAX_BYTES,
    _check_positive_float,
    _check_positive_int,
    generate_walks,
)
from embeddings.walks.kernels import CHUNK, LOCKSTEP
from embeddings.walks.stage import Walks, WalkSequences

__all__ = [
    "generate_walks",
    "Walks",
    "WalkCorpus",
    "WalkSequences",
    "walks_to_ids",
    "walks_to_corpus_file",
    "CHUNK",
    "LOCKSTEP",
    "PRECOMPUTED_MAX_BYTES",
    "_check_positive_float",  # used by recall.spark
    "_check_positive_int",
]
