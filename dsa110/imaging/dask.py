"""Dask layer of the gridder: each chunk grids onto its own uv grids, grids are summed, one FFT.

The visibilities arrive as dask arrays ``(time, baseline_id, frequency)`` chunked
like the dataset (about one time block × subband per chunk). Each chunk grids its
visibilities onto a stack of w planes; the stacks of all chunks are summed with a
tree reduction, and each summed plane is Fourier transformed once — never one FFT
per chunk. Planes are processed in batches so that a chunk's stack stays small.

The block functions dispatch on the chunk's array type (NumPy → Numba kernels,
CuPy → :mod:`dsa110.imaging.cuda`).
"""

from __future__ import annotations

import threading

import dask
import dask.array as da
import numpy as np

from dsa110._compat.array_api import get_array_namespace
from dsa110.imaging import kernels as np_kernels
from dsa110.imaging import weighting as np_weighting

__all__ = [
    "StackPool",
    "weight_density",
    "imaging_weights",
    "dirty_image",
    "model_visibilities",
]

#: Largest stack of uv planes a chunk produces at once, bytes.
MAX_STACK_BYTES = 1 << 30


class StackPool:
    """Stacks of uv planes handed from one gridding pass to the next (thread-safe).

    A full tile's stack is ~0.7 GB; allocated afresh for every pass, each costs its
    first-touch page faults again (~1 s per GB on a small VM, most of it the kernel
    finding huge pages), several seconds per CLEAN. The pool keeps the stacks a
    pass gives back for the next pass to take, each of the shape asked for. It holds
    stacks of one grid shape only (any number of planes: a pass's batches of planes
    need not be equal): asking for another grid (a PSF twice the image's size) lets
    the held ones go, so the pool never adds to what the passes themselves hold at
    once.
    """

    def __init__(self):
        self._free = []
        self._lock = threading.Lock()

    def __reduce__(self):
        # a graph sent to a distributed worker carries an empty pool of its own
        # (the held stacks and the lock stay in this process)
        return (StackPool, ())

    def take(self, shape, dtype, *, zero=False):
        """Return a stack of ``shape`` and ``dtype``: a held one if any, else a new one.

        Parameters
        ----------
        shape : tuple of int
        dtype : numpy.dtype
        zero : bool, keyword-only
            Fill it with zeros.

        Returns
        -------
        numpy.ndarray
        """
        shape, dtype = tuple(shape), np.dtype(dtype)
        with self._lock:
            match = [
                i
                for i, s in enumerate(self._free)
                if s.shape == shape and s.dtype == dtype
            ]
            stack = self._free.pop(match[-1]) if match else None
            if stack is None:
                # another grid's stacks go; this grid's (other plane counts: a
                # pass's batches of planes need not be equal) stay
                self._free = [
                    s
                    for s in self._free
                    if s.shape[1:] == shape[1:] and s.dtype == dtype
                ]
        if stack is None:
            return np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
        if zero:
            stack[...] = 0
        return stack

    def give(self, stack):
        """Hand a stack back for the next pass (NumPy arrays only)."""
        if isinstance(stack, np.ndarray):
            with self._lock:
                self._free.append(stack)

    def clear(self):
        """Let every held stack go."""
        with self._lock:
            self._free.clear()


def _rows(x):
    """Flatten ``(time, baseline, ...)`` to ``(row, ...)``."""
    return x.reshape((x.shape[0] * x.shape[1],) + x.shape[2:])


def _density_block(uvw, weight, freq, *, grid, uv_range):
    xp = get_array_namespace(uvw, weight)
    if xp is not np:  # the density is small and cheap: compute it on the host
        uvw, weight = uvw.get(), weight.get()
    out = np_weighting.weight_density(
        _rows(uvw), freq, _rows(weight), uv_range=uv_range, **grid
    )
    return out[None, None, None]


def _check_chunks(uvw, vis):
    if uvw.chunks[:2] != vis.chunks[:2]:
        raise ValueError(
            f"UVW chunks {uvw.chunks[:2]} must match the visibilities' {vis.chunks[:2]} "
            "along time and baseline_id"
        )
    if len(uvw.chunks[2]) != 1:
        raise ValueError("UVW must have a single chunk along uvw_label")


def weight_density(
    uvw, weight, freq, *, npix_x, npix_y, pixsize_x, pixsize_y, uv_range=(0.0, np.inf)
):
    """Dask version of :func:`dsa110.imaging.weighting.weight_density`.

    Parameters
    ----------
    uvw : dask.array.Array
        ``(time, baseline_id, uvw_label)`` float64, metres.
    weight : dask.array.Array
        ``(time, baseline_id, frequency)`` natural weights.
    freq : numpy.ndarray
        ``(frequency,)`` float64, Hz (all channels).
    npix_x, npix_y, pixsize_x, pixsize_y : keyword-only
        The image grid.
    uv_range : (float, float), keyword-only

    Returns
    -------
    dask.array.Array
        ``(npix_x, npix_y)`` float64 density summed over all chunks.
    """
    _check_chunks(uvw, weight)
    grid = dict(npix_x=npix_x, npix_y=npix_y, pixsize_x=pixsize_x, pixsize_y=pixsize_y)
    freq_da = da.from_array(np.asarray(freq, np.float64), chunks=(weight.chunks[2],))
    per_chunk = da.blockwise(
        _density_block,
        "tbfxy",
        uvw,
        "tbu",
        weight,
        "tbf",
        freq_da,
        "f",
        new_axes={"x": npix_x, "y": npix_y},
        concatenate=True,
        dtype=np.float64,
        adjust_chunks={"t": 1, "b": 1, "f": 1},
        grid=grid,
        uv_range=uv_range,
        meta=np.empty((0,) * 5, np.float64),
    )
    return per_chunk.sum(axis=(0, 1, 2), split_every=4)


def _weights_block(uvw, weight, freq, density, *, kwargs):
    xp = get_array_namespace(uvw, weight)
    if xp is not np:
        uvw, weight = uvw.get(), weight.get()
    out = np_weighting.imaging_weights(
        _rows(uvw), freq, _rows(weight), density, **kwargs
    )
    out = out.reshape(weight.shape)
    return xp.asarray(out) if xp is not np else out


def imaging_weights(uvw, weight, freq, density, *, f2=None, **kwargs):
    """Dask version of :func:`dsa110.imaging.weighting.imaging_weights`.

    Parameters
    ----------
    uvw : dask.array.Array
        ``(time, baseline_id, uvw_label)`` float64.
    weight : dask.array.Array
        ``(time, baseline_id, frequency)`` natural weights.
    freq : numpy.ndarray
        ``(frequency,)`` float64, Hz.
    density : numpy.ndarray or None
        ``(npix_x, npix_y)`` density of all the data (computed).
    f2 : float, keyword-only
        Briggs ``f²`` of all the data.
    **kwargs
        The grid and weighting options of the NumPy function.

    Returns
    -------
    dask.array.Array
        ``(time, baseline_id, frequency)``, chunked like ``weight``.
    """
    _check_chunks(uvw, weight)
    freq_da = da.from_array(np.asarray(freq, np.float64), chunks=(weight.chunks[2],))
    return da.blockwise(
        _weights_block,
        "tbf",
        uvw,
        "tbu",
        weight,
        "tbf",
        freq_da,
        "f",
        concatenate=True,
        dtype=weight.dtype,
        density=density,
        kwargs=dict(kwargs, f2=f2),
        meta=np.empty((0, 0, 0), weight.dtype),
    )


def _grid_blocks(blocks, *, plan, planes, nthreads, pool=None):
    """Grid several chunks (each with its own frequencies) onto one stack of planes."""
    out = None
    for uvw, vis, wgt, freq in blocks:
        xp = get_array_namespace(uvw, vis, wgt)
        if xp is np:
            if out is None:
                shape = (len(planes), plan.grid_rows, plan.ngy)
                out = (
                    np.zeros(shape, plan.complex_dtype)
                    if pool is None
                    else pool.take(shape, plan.complex_dtype, zero=True)
                )
            np_kernels.grid_planes(
                _rows(uvw),
                freq,
                _rows(vis),
                _rows(wgt),
                plan=plan,
                planes=planes,
                nthreads=nthreads,
                out=out,
            )
        else:  # deferred: the GPU module imports CuPy
            from dsa110.imaging import cuda

            grids = np_kernels.compact_rows(
                cuda.grid_planes(
                    _rows(uvw), freq, _rows(vis), _rows(wgt), plan=plan, planes=planes
                ),
                plan,
            )
            out = grids if out is None else out + grids
    return out


def _sum_stacks(*stacks, pool=None):
    """Sum per-task plane stacks, in place into the first (an intermediate result)."""
    out = stacks[0]
    for other in stacks[1:]:
        out += other
        if pool is not None:
            pool.give(other)
    return out


def _image_block(grids, *, plan, planes, nthreads, pool=None):
    xp = get_array_namespace(grids)
    if xp is not np:
        grids = grids.get()
    image = np_kernels.planes_to_image(
        np.ascontiguousarray(grids), plan=plan, planes=planes, nthreads=nthreads
    )
    if pool is not None:
        pool.give(grids)
    return image


def _chunk_blocks(uvw, vis, wgt, freq):
    """``(uvw, vis, wgt, freq)`` of every chunk of one part: delayed blocks, NumPy freq."""
    _check_chunks(uvw, vis)
    if vis.chunks != wgt.chunks:
        raise ValueError("visibilities and weights must be chunked alike")
    freq = np.asarray(freq, np.float64)
    edges = np.cumsum((0,) + vis.chunks[2])
    d_uvw, d_vis, d_wgt = uvw.to_delayed(), vis.to_delayed(), wgt.to_delayed()
    return [
        (d_uvw[t, b, 0], d_vis[t, b, f], d_wgt[t, b, f], freq[edges[f] : edges[f + 1]])
        for t, b, f in np.ndindex(d_vis.shape)
    ]


def _planes_per_batch(plan):
    """W planes per stack within :data:`MAX_STACK_BYTES` (at least one)."""
    plane_bytes = plan.grid_rows * plan.ngy * np.dtype(plan.complex_dtype).itemsize
    return max(1, min(plan.nplanes, MAX_STACK_BYTES // plane_bytes))


def _tasks(parts):
    """The chunks of every part dealt round robin into gridding tasks (lists of blocks)."""
    per_part = [_chunk_blocks(*part) for part in parts]
    ntask = max((len(b) for b in per_part), default=0)
    if ntask == 0:
        raise ValueError("parts: no visibilities to grid")
    tasks = [[] for _ in range(ntask)]
    for blocks in per_part:
        for i, block in enumerate(blocks):
            tasks[i % ntask].append(block)
    return tasks


def _image_of_stacks(blocks, *, plan, planes, nthreads, pool=None):
    """Tree-sum delayed plane stacks (4 at a time, in place) and Fourier transform once."""
    while len(blocks) > 1:
        blocks = [
            dask.delayed(_sum_stacks)(*blocks[i : i + 4], pool=pool)
            for i in range(0, len(blocks), 4)
        ]
    return da.from_delayed(
        dask.delayed(_image_block)(
            blocks[0], plan=plan, planes=planes, nthreads=nthreads, pool=pool
        ),
        shape=(plan.npix_x, plan.npix_y),
        dtype=plan.real_dtype,
        meta=np.empty((0, 0), plan.real_dtype),
    )


def dirty_image(parts, *, plan, nthreads=1, pool=None):
    """Dirty image of chunked visibilities: per-task grids, summed, one FFT per w plane.

    Parameters
    ----------
    parts : sequence of (uvw, vis, wgt, freq)
        Visibilities with their own channel frequencies (one part, or one per
        class of :mod:`dsa110.imaging.averaging`), all gridded onto one set of
        planes:

        - ``uvw``: ``(time, baseline_id, uvw_label)`` float64 dask array, metres;
        - ``vis``: ``(time, baseline_id, frequency)`` complex64/complex128;
        - ``wgt``: real imaging weights chunked like ``vis`` (0 = skip);
        - ``freq``: ``(frequency,)`` float64 NumPy array, Hz.
    plan : GridPlan, keyword-only
        From :func:`dsa110.imaging.kernels.plan_gridding` with the w range of all data.
    nthreads : int, keyword-only
        Threads per task.
    pool : StackPool, keyword-only
        Take the tasks' stacks from it and give them back once transformed (for
        the next pass); by default each pass allocates its own.

    Returns
    -------
    dask.array.Array
        ``(npix_x, npix_y)`` real dirty image (unnormalised, corrected for the kernel).

    Notes
    -----
    There are as many gridding tasks as the part with the most chunks has chunks;
    task ``j`` grids the ``j``-th chunk of every part (round robin) onto its own
    stack, so parts with one chunk each share one stack.
    """
    tasks = _tasks(parts)
    batch = _planes_per_batch(plan)
    image = None
    for start in range(0, plan.nplanes, batch):
        planes = range(start, min(start + batch, plan.nplanes))
        blocks = [
            dask.delayed(_grid_blocks)(
                task, plan=plan, planes=planes, nthreads=nthreads, pool=pool
            )
            for task in tasks
        ]
        part = _image_of_stacks(
            blocks, plan=plan, planes=planes, nthreads=nthreads, pool=pool
        )
        image = part if image is None else image + part
    return image.map_blocks(
        _finish_block,
        dtype=plan.real_dtype,
        plan=plan,
        meta=np.empty((0, 0), plan.real_dtype),
    )


def _finish_block(image, *, plan):
    return np_kernels.finish_image(np.array(image), plan=plan)


def _degrid_block(uvw, freq, planes_data, *, plan, planes, nthreads):
    vis = np_kernels.degrid_planes(
        planes_data, _rows(uvw), freq, plan=plan, planes=planes, nthreads=nthreads
    )
    return vis.reshape(uvw.shape[:2] + (freq.shape[0],))


def _model_planes(model, *, plan, planes, nthreads):
    return np_kernels.image_to_planes(
        model, plan=plan, planes=planes, nthreads=nthreads
    )


def model_visibilities(parts, model, *, plan, nthreads=1):
    """Degrid a model image to visibilities, chunk by chunk.

    The model's uv planes are computed once (per batch of planes) and read by
    every chunk of every part.

    Parameters
    ----------
    parts : sequence of (uvw, freq, vis_chunks)
        ``uvw``: ``(time, baseline_id, uvw_label)`` float64 dask array;
        ``freq``: ``(frequency,)`` float64, Hz; ``vis_chunks``: chunks of the
        output ``(time, baseline_id, frequency)``.
    model : numpy.ndarray
        ``(npix_x, npix_y)`` model image (Jy/pixel).
    plan : GridPlan, keyword-only
    nthreads : int, keyword-only

    Returns
    -------
    list of dask.array.Array
        ``(time, baseline_id, frequency)`` complex model visibilities, one per part.
    """
    model = np.asarray(model, dtype=plan.real_dtype)
    batch = _planes_per_batch(plan)
    out = [None] * len(parts)
    for start in range(0, plan.nplanes, batch):
        planes = range(start, min(start + batch, plan.nplanes))
        grids = dask.delayed(_model_planes)(
            model, plan=plan, planes=planes, nthreads=nthreads
        )
        for i, (uvw, freq, vis_chunks) in enumerate(parts):
            freq_da = da.from_array(
                np.asarray(freq, np.float64), chunks=(vis_chunks[2],)
            )
            vis = da.blockwise(
                _degrid_block,
                "tbf",
                uvw,
                "tbu",
                freq_da,
                "f",
                grids,
                None,
                concatenate=True,
                dtype=plan.complex_dtype,
                plan=plan,
                planes=planes,
                nthreads=nthreads,
                meta=np.empty((0, 0, 0), plan.complex_dtype),
            )
            out[i] = vis if out[i] is None else out[i] + vis
    return out
