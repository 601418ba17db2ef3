"""Numba intrinsics shared by the Numba kernel modules."""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch"]


@intrinsic
def prefetch(typingctx, arr, i, j):
    """Ask the CPU to start loading ``arr[i]`` (1-D) or ``arr[i, j]`` (2-D) into its caches
    (``llvm.prefetch``: a read, kept in every level), as ``lab_prefetch`` does in the
    Cython kernels. A hint only: results never depend on it, and a prefetch does not
    fault, but callers still keep the index inside the array. ``j`` is ignored for 1-D
    arrays."""
    if not isinstance(arr, types.Array) or arr.ndim not in (1, 2) \
            or not isinstance(i, types.Integer) or not isinstance(j, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        inds = [context.cast(builder, args[1], signature.args[1], types.intp)]
        if aryty.ndim == 2:
            inds.append(context.cast(builder, args[2], signature.args[2], types.intp))
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, inds,
                                       wraparound=False, boundscheck=False)
        i32, i8p = ir.IntType(32), ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read, kept in every cache level, data
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, i, j), codegen
