"""Quality of embeddings: recommendation metrics on held-out interactions, node classification.

One module per idea; every public name is importable from ``embeddings.evaluation``:

- :mod:`~embeddings.evaluation.metrics` -- HitRate@K, Recall@K, NDCG@K of ranked lists
  (``recommendation_metrics``, per user for paired statistics);
- :mod:`~embeddings.evaluation.recommend` -- I2I ("next item") and U2I evaluation of item
  embeddings on held-out interactions with a pluggable search (``SearchFn``; default
  ``exact_search``), query modes with recency (``QueryMode``, ``evaluate_mode``; its parts ``modes``, ``search``,
  ``last_n``), the popularity baseline, and the results table ``evaluate_recommenders``;
- :mod:`~embeddings.evaluation.nodes` -- multi-label node classification with the DeepWalk /
  node2vec protocol (repeated random splits, or a fixed fit / valid / test split for tuning);
- :mod:`~embeddings.evaluation.side_info` -- the same protocol on item vectors with a side
  information field as labels, flagging embeddings trained with that field.
"""

from embeddings.evaluation.metrics import recommendation_metrics, recommendation_metrics_per_user
from embeddings.evaluation.nodes import (
    cross_validate_classifier,
    node_classification,
    node_classification_holdout,
    select_classifier,
    split_labelled_nodes,
    summarize_node_classification,
)
from embeddings.evaluation.recommend import (
    LEGACY_MODES,
    RECENCY_MODES,
    QueryMode,
    SearchFn,
    evaluate_i2i,
    evaluate_mode,
    evaluate_popularity,
    evaluate_recommenders,
    evaluate_u2i,
    exact_search,
    parse_mode,
    query_modes,
)
from embeddings.evaluation.side_info import side_info_classification, trained_side_fields

__all__ = [
    "SearchFn",
    "exact_search",
    "recommendation_metrics",
    "evaluate_i2i",
    "evaluate_u2i",
    "evaluate_mode",
    "QueryMode",
    "parse_mode",
    "query_modes",
    "LEGACY_MODES",
    "RECENCY_MODES",
    "evaluate_popularity",
    "evaluate_recommenders",
    "cross_validate_classifier",
    "node_classification",
    "node_classification_holdout",
    "select_classifier",
    "split_labelled_nodes",
    "recommendation_metrics_per_user",
    "summarize_node_classification",
    "side_info_classification",
    "trained_side_fields",
]
