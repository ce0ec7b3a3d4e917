"""embrecall.recall: nearest-neighbour indexes (exact, LSH, peers) and their benchmarks."""

from recall.base import METRICS, Index, SearchResult, load_index

__all__ = ["Index", "SearchResult", "METRICS", "load_index"]
