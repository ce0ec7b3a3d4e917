"""The one software prefetch of the compiled kernels (``recall.lsh.prefetch``).

A prefetch is a hint: a kernel must give the same answers with it, without it (the no-op
fallback), on 1-D arrays (an element) and n-D arrays (a row), with int32 and int64 indices, at the
first and last row. Where the intrinsic compiles, the kernel's LLVM code must call
``llvm.prefetch`` (otherwise the hint silently does nothing, as the old "touch" loads did).
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pytest

from embeddings import prefetch as P


def _kernel(pf):
    @nb.njit
    def kernel(codes, vec, rows):  # type: ignore[no-untyped-def]
        s = 0
        for a in range(rows.shape[0]):
            if a + 2 < rows.shape[0]:
                pf(codes, rows[a + 2])  # a row of a 2-D array
                pf(codes[rows[a + 2]], codes.shape[1] - 1)  # the end of that row (1-D view)
                pf(vec, rows[a + 2])  # an element of a 1-D array
            r = rows[a]
            for c in range(codes.shape[1]):
                s += codes[r, c]
            s += vec[r]
        return s

    return kernel


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_same_answers_with_and_without_the_hint(dtype):
    rng = np.random.default_rng(0)
    codes = rng.integers(-127, 128, size=(1000, 64), dtype=np.int8)
    vec = rng.integers(0, 1000, size=1000).astype(np.int64)
    rows = np.r_[0, rng.integers(0, 1000, size=500), 999].astype(dtype)
    want = int(codes[rows].astype(np.int64).sum() + vec[rows].sum())
    assert int(_kernel(P.prefetch)(codes, vec, rows)) == want
    assert int(_kernel(P._noop)(codes, vec, rows)) == want


def test_a_3d_array_prefetches_a_row():
    codes = np.arange(2 * 5 * 4, dtype=np.int8).reshape(2, 5, 4)

    @nb.njit
    def k(a):  # type: ignore[no-untyped-def]
        for t in range(a.shape[0]):
            P.prefetch(a, t)
            P.prefetch(a[t], 4)
            P.prefetch(a[t, 4], 3)
        return a.sum()

    assert int(k(codes)) == int(codes.sum())


def test_the_hint_is_compiled_in():
    if not P.PREFETCH_ACTIVE:
        pytest.skip(f"llvm.prefetch does not compile with numba {nb.__version__}: no-op fallback")
    codes = np.ones((8, 4), dtype=np.int8)
    kernel = _kernel(P.prefetch)
    kernel(codes, np.ones(8, dtype=np.int64), np.arange(8))
    llvm = "\n".join(kernel.inspect_llvm().values())
    assert "llvm.prefetch" in llvm
    noop = _kernel(P._noop)
    noop(codes, np.ones(8, dtype=np.int64), np.arange(8))
    assert "llvm.prefetch" not in "\n".join(noop.inspect_llvm().values())


def test_both_search_kernels_use_the_one_prefetch():
    import recall.lsh.balanced_kernels as bk
    import recall.lsh.kernels as kk

    assert bk.prefetch is P.prefetch and kk.prefetch is P.prefetch
