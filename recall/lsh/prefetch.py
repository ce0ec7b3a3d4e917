"""A software prefetch for compiled (numba) kernels: ``prefetch(arr, i)`` asks the CPU to bring the
cache line of ``arr[i]`` (a 1-D array, e.g. a row view ``codes[t, row]``) into cache, without
waiting for it.

Why (issue 11): the search kernel used to *load* a byte of the rows it would score a few steps
later (``touch += codes[row, 0]``) so that their cache misses would overlap. A load has to
complete before it retires, and with a 64-dimension dot product between two touches the
out-of-order window fills up, so the misses did not overlap: on 4,000 random int8 rows of a
128 MB array, a loop with such touches took the same ~930 us as one without, and the same loop
with ``llvm.prefetch`` (read, keep in all cache levels) ~260 us (CPU time, shared 2-core machine).
A prefetch is only a hint: it never faults and never changes a result.
"""

from __future__ import annotations

import llvmlite.binding as _llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch"]

# LLVM >= 15 has opaque pointers (``ptr``; intrinsic suffix ``p0``); older ones name ``i8*``
_NAME = "llvm.prefetch.p0" if _llvm.llvm_version_info >= (15,) else "llvm.prefetch.p0i8"


@intrinsic
def prefetch(typingctx, arr, i):  # type: ignore[no-untyped-def]
    """``prefetch(arr, i)``: hint the cache line of ``arr[i]`` (1-D array, integer index)."""
    if not isinstance(arr, types.Array) or arr.ndim != 1 or not isinstance(i, types.Integer):
        return None
    sig = types.void(arr, i)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = context.cast(builder, args[1], idxty, types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [idx])
        ptr = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _NAME)
        # read (0), locality 3 (keep in every cache level), data cache (1)
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen
