"""gensim ``KeyedVectors`` keyed by item id (imported only when gensim is wanted).

gensim reads an ``int`` key as a *row position* when it is not a key itself
(``kv.most_similar(17)`` = neighbours of row 17, ``17 in kv`` true for any row). Our ids are the
caller's own, never positions, so ``IdKeyedVectors`` reads an int key as the id ``str(17)`` and
raises a ``KeyError`` naming it when there is no such item. Rows are still reachable by name:
``kv.index_to_key[row]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gensim.models import KeyedVectors

__all__ = ["IdKeyedVectors"]


class IdKeyedVectors(KeyedVectors):
    """``KeyedVectors`` whose keys are ``str(item id)`` (or the item's external label), and
    where an ``int`` key means that item id, never a row position."""

    def get_index(self, key: Any, default: Any = None) -> int:
        """Row of ``key``; an int (or numpy integer) is looked up as the string of that id."""
        if isinstance(key, int | np.integer) and not isinstance(key, bool):
            skey = str(int(key))
            val = self.key_to_index.get(skey, -1)
            if val >= 0:
                return val
            if default is not None:
                return default
            raise KeyError(
                f"no item with id {int(key)} in these vectors (int keys are item ids, not row "
                f"positions; the keys are strings such as {self._example_key()!r}; a row's key is "
                "kv.index_to_key[row])"
            )
        return super().get_index(key, default)

    def _example_key(self) -> str:
        return str(self.index_to_key[0]) if len(self.index_to_key) else ""

    def get_mean_vector(
        self,
        keys: Any,
        weights: Any = None,
        pre_normalize: bool = True,
        post_normalize: bool = False,
        ignore_missing: bool = True,
    ) -> np.ndarray:
        """As gensim's, but an unknown int id raises the ``KeyError`` of ``get_index`` (which
        says that int keys are ids) instead of gensim's bare "not present"."""
        if not ignore_missing:
            for key in keys:
                if isinstance(key, int | np.integer) and not isinstance(key, bool):
                    self.get_index(key)
        return super().get_mean_vector(keys, weights, pre_normalize, post_normalize, ignore_missing)
