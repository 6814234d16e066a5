"""Short vectors of floats held in registers, for Numba kernels.

LLVM keeps an elementwise accumulator that lives in an array (``acc[b] += k * row[b]``
over many rows) in memory: every row stores it and the next reloads it, one long
chain of store-to-load latencies, because it cannot prove the accumulator distinct
from the rows. A scalar sum is kept in a register, but vectorising it needs
re-association (fast-math), which we do not allow (STYLE §4). :class:`SimdRow` is a
Numba type whose value is one LLVM vector (``<lanes x float>``): a loop-carried
``SimdRow`` stays in registers, and each :func:`row_fma` is one multiply-add per
lane (fused where the CPU has FMA), in the order written — no re-association.

Four intrinsics make, read, update and write rows (LLVM IR through llvmlite, which
Numba itself builds on); ``lanes`` must be a compile-time constant (a literal or a
closure constant of the kernel)::

    acc = row_zeros(out, 16)
    for a in range(n):
        acc = row_fma(acc, k[a], row_load(buf[a, j:], 16))
    row_store(out, acc)
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core.datamodel import models
from numba.extending import intrinsic, register_model

__all__ = ["SimdRow", "row_fma", "row_load", "row_store", "row_zeros"]


class SimdRow(types.Type):
    """``lanes`` values of the float type ``dtype`` in one LLVM vector."""

    def __init__(self, dtype, lanes):
        self.dtype = dtype
        self.lanes = int(lanes)
        super().__init__(name=f"SimdRow({dtype}, {self.lanes})")


@register_model(SimdRow)
class _SimdRowModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        element = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.lanes))


def _literal_lanes(lanes):
    if isinstance(lanes, types.IntegerLiteral) and lanes.literal_value > 0:
        return lanes.literal_value
    return None


def _is_row_array(arr):
    return (
        isinstance(arr, types.Array)
        and arr.ndim == 1
        and arr.layout == "C"
        and isinstance(arr.dtype, types.Float)
    )


@intrinsic(prefer_literal=True)
def row_zeros(typingctx, like, lanes):
    """Make a row of ``lanes`` zeros of the float type of ``like`` (scalar or array)."""
    n = _literal_lanes(lanes)
    dtype = like.dtype if isinstance(like, types.Array) else like
    if n is None or not isinstance(dtype, types.Float):
        return None

    def codegen(context, builder, signature, args):
        return ir.Constant(context.get_value_type(signature.return_type), None)

    return SimdRow(dtype, n)(like, lanes), codegen


@intrinsic(prefer_literal=True)
def row_load(typingctx, arr, lanes):
    """Read the first ``lanes`` elements of a contiguous 1-D float array as a row.

    Not bounds-checked (like Numba's indexing): the array must hold at least
    ``lanes`` elements.
    """
    n = _literal_lanes(lanes)
    if n is None or not _is_row_array(arr):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(arr)(context, builder, args[0]).data
        vty = context.get_value_type(signature.return_type)
        ptr = builder.bitcast(data, vty.as_pointer())
        return builder.load(ptr, align=context.get_abi_sizeof(vty.element))

    return SimdRow(arr.dtype, n)(arr, lanes), codegen


@intrinsic
def row_fma(typingctx, acc, k, row):
    """``acc + k · row`` lane by lane, with ``k`` a scalar (fused where possible)."""
    if not (isinstance(acc, SimdRow) and acc == row and isinstance(k, types.Float)):
        return None

    def codegen(context, builder, signature, args):
        vacc, vk, vrow = args
        vty = vacc.type
        vk = context.cast(builder, vk, k, acc.dtype)
        lane0 = ir.Constant(ir.IntType(32), 0)
        splat = builder.insert_element(ir.Constant(vty, None), vk, lane0)
        zeros = ir.Constant(ir.VectorType(ir.IntType(32), vty.count), [0] * vty.count)
        splat = builder.shuffle_vector(splat, ir.Constant(vty, None), zeros)
        prod = builder.fmul(splat, vrow, flags=("contract",))
        return builder.fadd(vacc, prod, flags=("contract",))

    return acc(acc, k, row), codegen


@intrinsic
def row_store(typingctx, arr, row):
    """Write ``row`` into the first ``row.lanes`` elements of a 1-D float array.

    Not bounds-checked: the array must hold at least ``row.lanes`` elements.
    """
    if not (isinstance(row, SimdRow) and _is_row_array(arr) and arr.dtype == row.dtype):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(arr)(context, builder, args[0]).data
        vrow = args[1]
        ptr = builder.bitcast(data, vrow.type.as_pointer())
        builder.store(vrow, ptr, align=context.get_abi_sizeof(vrow.type.element))
        return context.get_dummy_value()

    return types.none(arr, row), codegen
