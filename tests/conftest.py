"""Shared fixtures: the shared data root (skip when absent) and small seeded data."""

from __future__ import annotations

from pathlib import Path

import pytest

from embeddings.paths import data_root


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = data_root()
    if root is None:
        pytest.skip("shared data folder not found (set EMBRECALL_DATA or place ../shared/data)")
    return root


@pytest.fixture(scope="session")
def synthetic_small():
    from embeddings.datasets import make_synthetic

    return make_synthetic(n_users=300, n_items=200, n_genres=8, mean_events=30, random_state=7)
