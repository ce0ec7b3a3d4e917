"""Index files of earlier layouts keep loading after the LSH modules moved or split.

A file records the module and class of its index (``recall.base.Index.save``). The LSH classes
have been recorded under ``recall.lsh`` (their public home), ``recall.lsh.index`` (the file that
defined them before ``_LSHIndex`` was split into ``index_base`` / ``index_storage`` /
``index_search``) and ``recall.lsh_balanced`` (before the package; ``recall.base._MOVED_MODULES``).
Each such header must load into the same class with the same answers, and the arrays a file holds
(the state format) must stay the ones earlier versions wrote.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from recall.base import _MOVED_MODULES, load_index
from recall.lsh import BalancedLSHIndex, E2LSHIndex, SimHashIndex

#: the state arrays an LSH index file held before the split (besides the hasher's ``h_*``)
_STATE = {"vectors", "rank"}


def _rewrite_module(path, module, out):
    with np.load(path) as z:
        members = {k: z[k] for k in z.files}
    header = json.loads(members["header"].tobytes().decode("utf-8"))
    header["module"] = module
    members["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    np.savez(out, **members)
    return out, header


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((600, 16)).astype(np.float32)
    q = rng.standard_normal((20, 16)).astype(np.float32)
    return x, q, (np.arange(600) * 3 + 5).astype(np.int64)


CASES = [
    (SimHashIndex, {"n_tables": 6, "n_probes": 24}, ["recall.lsh", "recall.lsh.index"]),
    (
        SimHashIndex,
        {"n_tables": 6, "n_probes": 24, "contiguous_bytes": 1, "sketch_bits": 16},
        ["recall.lsh.index"],
    ),
    (E2LSHIndex, {"n_tables": 6, "n_probes": 24}, ["recall.lsh", "recall.lsh.index"]),
    (BalancedLSHIndex, {"n_tables": 4}, ["recall.lsh", "recall.lsh_balanced"]),
]


@pytest.mark.parametrize(
    "cls, kw, modules", CASES, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CASES)]
)
def test_files_naming_earlier_modules_load(cls, kw, modules, data, tmp_path):
    x, q, ids = data
    idx = cls(random_state=3, **kw).build(x, ids)
    saved = idx.save(tmp_path / "idx.npz")
    want = idx.search(q, 10)
    for module in modules:
        path, header = _rewrite_module(saved, module, tmp_path / f"{module}.npz")
        back = load_index(path)
        assert type(back) is cls, module
        assert back.params() == idx.params()
        got = back.search(q, 10)
        assert np.array_equal(got.ids, want.ids), module
        np.testing.assert_allclose(got.scores, want.scores, rtol=1e-6, atol=1e-6)
        if cls is not BalancedLSHIndex:
            keys = set(header["state_keys"])
            assert _STATE <= keys and all(
                k in _STATE or k.startswith("h_") or k == "sk_planes" for k in keys
            ), keys


def test_moved_modules_name_modules_that_hold_the_classes():
    import importlib
    import importlib.util

    for old, new in _MOVED_MODULES.items():
        assert importlib.util.find_spec(old) is None, f"{old} exists again: drop it from the map"
        importlib.import_module(new)
    for module in ("recall.lsh", "recall.lsh.index"):
        mod = importlib.import_module(module)
        assert mod.SimHashIndex is SimHashIndex and mod.E2LSHIndex is E2LSHIndex
