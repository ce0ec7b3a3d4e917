"""Weight matrices on transparent huge pages: same values, same vectors; a clean fallback."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

import embeddings.hugepages as hp
from embeddings.word2vec import SkipGram

DEFRAG = Path("/sys/kernel/mm/transparent_hugepage/defrag")


def test_copy_has_the_same_values_and_layout():
    a = np.random.default_rng(0).random((3000, 200), dtype=np.float32)  # 2.4 MB
    out = hp.huge_page_copy(a)
    if hp.huge_page_mode() in ("never", "unavailable"):
        assert out is None
        pytest.skip("no transparent huge pages here: the fallback is tested below")
    assert out is not None
    assert out.dtype == a.dtype and out.shape == a.shape and out.flags.c_contiguous
    assert out.flags.writeable and np.array_equal(out, a)
    out[0, 0] = -1.0
    assert a[0, 0] != -1.0  # a copy, not a view
    assert hp.huge_page_copy(a[:10]) is None  # below 2 MiB: not worth a mapping


def test_copy_is_backed_by_huge_pages_where_the_kernel_offers_them():
    if hp.huge_page_mode() not in ("always", "madvise"):
        pytest.skip(f"transparent huge pages are {hp.huge_page_mode()}")
    try:
        if "[never]" in DEFRAG.read_text():
            pytest.skip("huge pages are never assembled at fault time here (defrag=never)")
    except OSError:
        pass
    out = hp.huge_page_copy(np.ones((8 * 2**20) // 4, np.float32))  # 8 MiB
    got = hp.huge_page_bytes_of(out)
    if got is None:
        pytest.skip("/proc/self/smaps is not readable")
    assert got >= 2**21  # at least one 2 MiB page


class _RefusingMmap:
    """An ``mmap`` module whose ``madvise`` fails, as an old kernel's would."""

    MADV_HUGEPAGE = 14
    MAP_PRIVATE = 2
    MAP_ANONYMOUS = 32

    class mmap:  # noqa: N801 - mimics the module's class
        def __init__(self, *args, **kwargs):
            self.closed = False

        def madvise(self, *args):
            raise OSError(22, "Invalid argument")

        def close(self):
            self.closed = True


def test_fallback_where_madvise_is_unavailable_or_refused(monkeypatch):
    a = np.ones((1024, 1024), np.float32)
    monkeypatch.setattr(hp, "mmap", types.SimpleNamespace())  # no MADV_HUGEPAGE at all
    assert hp.huge_page_mode() == "unavailable"
    assert hp.huge_page_copy(a) is None
    monkeypatch.setattr(hp, "mmap", _RefusingMmap)
    monkeypatch.setattr(hp, "huge_page_mode", lambda: "madvise")
    assert hp.huge_page_copy(a) is None


def _fit(**kw):
    rng = np.random.default_rng(2)
    seqs = [rng.integers(0, 6000, 30) for _ in range(800)]  # 6000 x 96 float32 = 2.3 MB
    return SkipGram(dim=96, epochs=1, window=3, workers=1, random_state=1, progress=False,
                    **kw).fit_sequences(seqs)  # fmt: skip


def test_same_vectors_with_and_without_huge_pages(monkeypatch):
    on = _fit(huge_pages=True)
    off = _fit(huge_pages=False)
    assert off.meta["huge_page_bytes"] == 0
    if hp.huge_page_mode() in ("always", "madvise"):
        assert on.meta["huge_page_bytes"] >= 2 * off.vectors.nbytes  # both matrices moved
    assert np.array_equal(on.ids, off.ids)
    assert np.array_equal(on.vectors, off.vectors)
    monkeypatch.setattr(hp, "mmap", types.SimpleNamespace())  # fallback inside the trainer
    fallback = _fit(huge_pages=True)
    assert fallback.meta["huge_page_bytes"] == 0
    assert np.array_equal(fallback.vectors, on.vectors)
