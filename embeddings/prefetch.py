"""A software prefetch for compiled (numba) kernels: ``prefetch(arr, i)`` asks the CPU to bring the
cache line where ``arr[i]`` starts (element ``i`` of a 1-D array, row ``i`` of an n-D one, e.g.
``codes[t, row]`` or ``codes, row``) into cache, without waiting for it.

Why (issue 11): the search kernel used to *load* a byte of the rows it would score a few steps
later (``touch += codes[row, 0]``) so that their cache misses would overlap. A load has to
complete before it retires, and with a 64-dimension dot product between two touches the
out-of-order window fills up, so the misses did not overlap: on 4,000 random int8 rows of a
128 MB array, a loop with such touches took the same ~930 us as one without, and the same loop
with ``llvm.prefetch`` (read, keep in all cache levels) ~260 us (CPU time, shared 2-core machine).
A prefetch is only a hint: it never faults and never changes a result.

Both LSH search kernels use it (:mod:`recall.lsh.kernels`, :mod:`recall.lsh.balanced_kernels`,
through the re-export :mod:`recall.lsh.prefetch`), and so does the skip-gram trainer
(:mod:`embeddings.sgns_kernels`): it lives in ``embeddings`` because ``embeddings`` never imports
``recall``.
It lowers to LLVM's ``llvm.prefetch`` under the name this llvmlite's LLVM expects; where the
intrinsic does not compile (checked once at import on a tiny kernel), ``prefetch`` is a compiled
no-op with the same signature and ``PREFETCH_ACTIVE`` is False: kernels stay correct, only slower.
"""

from __future__ import annotations

import llvmlite.binding as _llvm
import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch", "PREFETCH_ACTIVE"]

# LLVM >= 15 has opaque pointers (``ptr``; intrinsic suffix ``p0``); older ones name ``i8*``
_NAME = "llvm.prefetch.p0" if _llvm.llvm_version_info >= (15,) else "llvm.prefetch.p0i8"


@intrinsic
def _prefetch(typingctx, arr, i):  # type: ignore[no-untyped-def]
    """``_prefetch(arr, i)``: hint the cache line where ``arr[i]`` starts (integer ``i``)."""
    if not isinstance(arr, types.Array) or not isinstance(i, types.Integer):
        return None
    sig = types.void(arr, i)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = context.cast(builder, args[1], idxty, types.intp)
        # the start of row ``i``: an index on the first axis only (numba's pointer arithmetic
        # pairs indices with strides: the other axes add nothing)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [idx])
        ptr = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _NAME)
        # read (0), locality 3 (keep in every cache level), data cache (1)
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@nb.njit(inline="always")
def _hint(arr, i):  # type: ignore[no-untyped-def]
    """The intrinsic inside an always-inlined function: with it both search kernels compile
    to the same machine code as with the two former prefetch modules (assembly compared)."""
    _prefetch(arr, i)


@nb.njit(inline="always")
def _noop(arr, i):  # type: ignore[no-untyped-def]
    """The fallback: same signature, no hint."""
    return None


def _works() -> bool:
    """Whether a kernel calling the intrinsic compiles and runs here (1-D and 2-D arrays,
    int32 and int64 indices)."""

    @nb.njit
    def probe(a, rows):  # type: ignore[no-untyped-def]
        s = 0
        for r in rows:
            _prefetch(a, r)
            _prefetch(a[r], 0)
            s += a[r, 0]
        return s

    try:
        a = np.ones((4, 3), dtype=np.int8)
        return all(int(probe(a, np.arange(4, dtype=dt))) == 4 for dt in (np.int64, np.int32))
    except Exception:  # noqa: BLE001 - any compilation failure means: use the no-op
        return False


#: whether ``prefetch`` emits the CPU hint (False: the no-op fallback)
PREFETCH_ACTIVE: bool = _works()
prefetch = _hint if PREFETCH_ACTIVE else _noop
