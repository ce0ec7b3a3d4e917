"""BGE, GES and EGES: skip-gram over item-graph walks with side-information embeddings.

Wang et al., "Billion-scale Commodity Embedding for E-commerce Recommendation in Alibaba"
(KDD 2018). All three trainers share one compiled (numba) skip-gram loop and differ only in the
side information and its weights:

- **BGE** (base graph embedding): item embeddings only, i.e. DeepWalk trained by this loop.
- **GES**: the hidden vector of item i is the *equal-weight* mean of its own embedding and one
  vector per side-information field (``genres``, ``tags``, ``year``, ...).
- **EGES**: the same mean with learned per-item weights: with scores ``a_i`` (n_fields + 1,),
  ``H_i = sum_j exp(a_ij) V_ij / sum_j exp(a_ij)``.

Model (per item i, with fields f = 1..F of the ``ItemSideInfo``):

- ``V_i0`` = the item's own embedding ``W[i]``;
- ``V_if`` = the mean of the embeddings of the item's values of field f (multi-valued fields
  such as genres and tags are averaged within the field; single-valued fields are 1-tuples);
- a field with no value for item i is left out of that item's mean: its weight is 0 and the
  softmax is renormalised over the fields present (the item's own embedding is always present);
- items that are not in the side-information table at all raise ``ValueError`` unless
  ``missing="item_only"``, which trains them on their own embedding alone.

Training: skip-gram with negative sampling over the walk pairs ``(center, context)`` with
``|center - context| <= window`` (window shrunk at random per position as in word2vec when
``shrink_windows``); the centre uses the hidden vector ``H``, the context a separate output
embedding ``C`` (zeros at start, as in word2vec). Negatives are drawn from the unigram^0.75
distribution of node occurrences in the walks; a negative equal to the positive context is
skipped. The learning rate decays linearly from ``alpha`` to ``min_alpha`` over all epochs.

Per centre position, the loss of all its window pairs (each positive with its negatives) is one
SGD step for the input side: the gradient w.r.t. ``H`` is accumulated over the window (as
word2vec's CBOW does over negatives) and then pushed to ``W[i]``, the side-info vectors
``S[v]`` (scaled by ``w_if / m_if``) and the scores ``a_i`` (``dL/da_ij = w_ij (V_ij - H_i) .
dL/dH_i``). Output vectors are updated target by target as in word2vec. With a single pair in
the window this is exactly the gradient of the pair loss (checked in the tests by finite
differences); computing ``H`` once per centre instead of once per pair keeps the side
information nearly free.

Parallelism: ``workers`` threads (numba ``prange``) take slices of the walks (8 per thread and
block, handed out dynamically so that a thread slowed by other work does not stall the block)
and update the shared parameters without locks (Hogwild). With ``workers > 1`` results are therefore not
bit-reproducible; ``workers=1`` with a fixed ``random_state`` is.

Cold start: ``cold_start_vectors`` (see ``embeddings.eges.cold_start``).

=======================  =======================================================================
module                   what it holds
=======================  =======================================================================
``eges.kernels``         compiled (numba) skip-gram step, Hogwild block training, hidden vectors
``eges.side_info``       the fields of an ``ItemSideInfo`` encoded as a CSR of value indices
``eges.models``          the trainers ``BGE``, ``GES``, ``EGES`` (walks, training, inspection)
``eges.cold_start``      vectors of items known only by their side information
=======================  =======================================================================
"""

from embeddings.eges.models import BGE, EGES, GES
from embeddings.eges.models import _SideInfoSkipGram as _SideInfoSkipGram  # runner's base list

__all__ = ["BGE", "GES", "EGES"]
