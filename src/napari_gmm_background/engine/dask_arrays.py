"""Backgrounds of dask arrays: lazy, computed wherever dask runs them.

For the methods that read in blocks, one task per stack reads its data a
part along time and a block of rows at a time, as the widget reads a lazy
layer; for the others, blocks are rechunked to hold the whole time axis
(and the image, for methods that look at neighbouring pixels) and each is
done on its own. Values equal those of the same data in numpy.

Numbers only: arrays in, arrays out.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..core.layout import Layout, time_first
from ..core.progress import run_to_end
from ..core.reading import Reading
from .run import iter_background, reads_in_blocks
from .table import get_method, settings_for

__all__ = ["background_of_dask", "is_dask"]


def is_dask(data) -> bool:
    """Whether ``data`` is a dask array."""
    return hasattr(data, "__dask_graph__") and hasattr(data, "map_blocks")


def background_of_dask(data, *, time_axis: int, rgb, method: str, **settings):
    """Lazy background of a dask array (see the module's description); checked now.

    The time axis is whole in every block, and so are the image axes for
    methods that look at neighbouring pixels; pixels and stacks are
    independent, so blocks need no overlap.
    """
    entry = get_method(method)
    settings_for(entry, **settings)
    layout = Layout.of(time_first(data.shape, time_axis), rgb)
    if data.shape[time_axis] == 0:
        raise ValueError("data has no frames: its time axis has length 0")
    time_axis %= data.ndim
    kwargs = dict(settings, method=method)
    if reads_in_blocks(entry, layout, per_frame=False, keep_model=False):
        return _dask_by_stack(data, time_axis=time_axis, layout=layout, kwargs=kwargs)
    others = [axis for axis in range(data.ndim) if axis != time_axis]
    n_whole = (0 if entry.per_pixel else layout.n_image_axes) + layout.rgb
    whole = [time_axis] + others[len(others) - n_whole :]
    return data.rechunk({axis: -1 for axis in whole}).map_blocks(
        _block_background,
        time_axis=time_axis,
        rgb=layout.rgb,
        kwargs=kwargs,
        drop_axis=time_axis,
        dtype=data.dtype,
    )


def _block_background(block, *, time_axis, rgb, kwargs):
    return run_to_end(iter_background(block, time_axis=time_axis, rgb=rgb, **kwargs))


class _Unopened:
    """Holds a dask array inside a task unseen, so the task reads it, not dask beforehand."""

    def __init__(self, array):
        self.array = array


def _dask_by_stack(data, *, time_axis: int, layout: Layout, kwargs: dict):
    """Lazy background of a dask array for a method that reads in blocks: a task per stack.

    Each task reads its stack a part and a block of rows at a time (see
    :mod:`napari_gmm_background.reading`), so no worker ever holds a whole
    stack, and nothing is rechunked (dask's rechunking holds the data
    several times over).
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    name = "gmm-background-" + tokenize(data, time_axis, layout.rgb, sorted(kwargs.items()))
    image_axes = len(layout.spatial_shape) - len(layout.stacks_shape)
    tasks = {}
    for index in np.ndindex(*layout.stacks_shape):
        key = (name, *index, *(0,) * image_axes)
        tasks[key] = (_stack_task, _Unopened(data), time_axis, index, layout.rgb, kwargs)
    graph = HighLevelGraph.from_collections(name, tasks, dependencies=[])
    chunks = tuple((1,) * n for n in layout.stacks_shape) + tuple(
        (n,) for n in layout.spatial_shape[len(layout.stacks_shape) :]
    )
    return da.Array(graph, name, chunks, dtype=data.dtype)


def _stack_task(unopened: _Unopened, time_axis: int, index: tuple, rgb: bool, kwargs: dict):
    """One stack's background, as a block of the result (stack axes of length 1)."""
    data = unopened.array
    others = [axis for axis in range(data.ndim) if axis != time_axis]
    selection = [slice(None)] * data.ndim
    for axis, position in zip(others, index, strict=False):
        selection[axis] = position
    stack = data[tuple(selection)]
    stack_time_axis = time_axis - sum(axis < time_axis for axis in others[: len(index)])
    with _reading_here() as compute:
        reading = Reading.of(stack, stack_time_axis, rgb, compute=compute)
        background = run_to_end(
            iter_background(stack, time_axis=stack_time_axis, rgb=rgb, reading=reading, **kwargs)
        )
    return background.reshape((1,) * len(index) + background.shape)


@contextlib.contextmanager
def _reading_here():
    """How a task reads a dask array: on a distributed worker, through its cluster.

    A distributed worker's thread that waits for other tasks must leave the
    worker's pool meanwhile (``worker_client``), or a cluster whose threads
    all wait deadlocks; elsewhere dask computes a slice where it is asked.
    """
    try:
        from distributed import get_worker, worker_client

        get_worker()
    except (ImportError, ValueError):
        yield np.asarray
        return
    with worker_client() as client:
        yield lambda part: np.asarray(client.compute(part).result())
