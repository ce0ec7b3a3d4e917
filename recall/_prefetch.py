"""``prefetch(array, i)``: a software prefetch of row (or element) ``i`` of a numba array.

Compiled kernels call it to start several independent cache misses before using the data (the
candidates of an LSH bucket are scattered rows). It lowers to LLVM's ``llvm.prefetch`` (read,
high locality, data cache). Where this numba / llvmlite cannot compile the intrinsic, ``prefetch``
is a compiled no-op with the same signature, so kernels stay correct (only slower).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch", "PREFETCH_ACTIVE"]


@intrinsic
def _prefetch_intrinsic(typingctx, arr, idx):  # noqa: ARG001 - numba's intrinsic signature
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        from llvmlite import ir

        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        i = context.cast(builder, args[1], idxty, types.intp)
        # pointer to the start of row ``idx`` (first dimension only)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [i], wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        builder.call(
            fn,
            [
                builder.bitcast(ptr, i8p),
                ir.Constant(i32, 0),
                ir.Constant(i32, 3),
                ir.Constant(i32, 1),
            ],
        )
        return context.get_dummy_value()

    return sig, codegen


@nb.njit(inline="always")
def _real(arr, i):
    _prefetch_intrinsic(arr, i)


@nb.njit(inline="always")
def _noop(arr, i):
    return None


def _works() -> bool:
    @nb.njit
    def probe(a, rows):
        s = 0
        for r in rows:
            _real(a, r)
            s += a[r, 0]
        return s

    try:
        a = np.ones((4, 3), dtype=np.int8)
        return int(probe(a, np.arange(4))) == 4 and int(probe(a, np.arange(4, dtype=np.int32))) == 4
    except Exception:  # noqa: BLE001 - any compilation failure means: use the no-op
        return False


PREFETCH_ACTIVE: bool = _works()
prefetch = _real if PREFETCH_ACTIVE else _noop
