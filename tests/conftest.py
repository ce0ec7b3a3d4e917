"""Shared fixtures: the shared data root (skip when absent) and small seeded data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_data_root() -> Path | None:
    env = os.environ.get("EMBRECALL_DATA")
    if env:
        return Path(env) if Path(env).is_dir() else None
    cand = REPO.parent / "shared" / "data"
    return cand if cand.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_root()
    if root is None:
        pytest.skip("shared data folder not found (set EMBRECALL_DATA)")
    return root


@pytest.fixture(scope="session")
def synthetic_small():
    from embeddings.datasets import make_synthetic

    return make_synthetic(n_users=300, n_items=200, n_genres=8, mean_events=30, random_state=7)
