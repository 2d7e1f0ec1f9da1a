"""Frames that are not in memory (dask, zarr, a lazily decoded video), read a part at a time.

A big stack read whole before fitting holds all of itself in memory, and a
cancel waits for the whole read. Here such data is read in parts along
time of about :data:`READ_PART_BYTES` (a progress step each, so a cancel is
honoured within one part), and the methods that work in row bands (see
:mod:`napari_gmm_background.motion`) hold at most a block of rows of
:data:`READ_BLOCK_BYTES` over all frames at a time: their first pass scores
whole frames as they stream by, their second reads each block of rows and
fits it. The parts and blocks follow from the shape alone, so the progress
steps of a run are known before it starts.

Numbers only: sliceable arrays in, numpy arrays out; the only file here is
an anonymous scratch file that holds blocks of rows read in the first pass
until the second needs them (a dask or zarr array reads its own files).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from .layout import Layout, check_time_axis, native_part, time_first
from .plan import Plan, Step

__all__ = [
    "READ_BLOCK_BYTES",
    "READ_PART_BYTES",
    "LazyFrames",
    "LazyStack",
    "OverBudget",
    "Reading",
    "InMemory",
    "is_lazy",
    "plan_read_whole",
]

# A part read along time: a cancel waits for one at most.
READ_PART_BYTES = 16 * 2**20
# Rows of every frame held at once by the methods that work in row bands.
READ_BLOCK_BYTES = 256 * 2**20


class OverBudget(ValueError):
    """A plan would hold more than its source's memory budget (``need`` bytes)."""

    def __init__(self, need: int, budget: int):
        super().__init__(f"would hold {need} bytes, over the budget of {budget}")
        self.need, self.budget = need, budget


def is_lazy(data: Any) -> bool:
    """Whether ``data`` is an array that reads its values on demand (dask, zarr, h5py...)."""
    return (
        not isinstance(data, (np.ndarray, np.generic))
        and hasattr(data, "shape")
        and hasattr(data, "dtype")
        and hasattr(data, "__getitem__")
    )


def computed_dtype(dtype) -> np.dtype:
    """The dtype frames are computed in (see :func:`napari_gmm_background.layout.as_frames`)."""
    dtype = np.dtype(dtype)
    if dtype == np.float16:
        return np.dtype(np.float32)
    return dtype.newbyteorder("=") if not dtype.isnative else dtype


@dataclass(frozen=True)
class Reading:
    """How data not in memory is read.

    Attributes
    ----------
    itemsize : int
        Bytes per value, as computed (half floats take 4).
    time_chunks : tuple of int, optional
        The lengths along time of the data's own chunks (a dask or zarr
        array's), which parts follow: a compressed chunk is decompressed
        whole however little of it is read, so a part is whole chunks (up
        to a block; a larger chunk is cut into parts of a quarter block).
    row_chunks : tuple of int, optional
        The lengths of its chunks along the image rows: a part of whole
        frames is read in strips of whole row chunks of about
        ``part_bytes``, a progress step each, so a cancel waits for one
        strip, not for a part of many chunks.
    part_bytes : int
        Bytes of one part (or strip) read (small chunks are read together
        up to this).
    block_bytes : int
        Bytes of the block of rows (over every frame) a method working in
        row bands holds at a time; at least one band.
    compute : callable
        Turns a slice of the data into a numpy array (``numpy.asarray``; on
        a distributed worker, a computation that leaves its thread to the
        cluster while it waits).
    """

    itemsize: int
    time_chunks: "tuple | None" = None
    row_chunks: "tuple | None" = None
    part_bytes: int = READ_PART_BYTES
    block_bytes: int = READ_BLOCK_BYTES
    compute: "Callable[[Any], np.ndarray]" = field(default=np.asarray, compare=False)

    @classmethod
    def of(cls, data: Any, time_axis: int = 0, rgb: "bool | None" = None, **settings) -> "Reading":
        """How ``data`` is read: its itemsize as computed, its chunks, and ``settings``.

        ``rgb`` as :class:`napari_gmm_background.layout.Layout` (guessed by
        default), to find the image rows among the axes.
        """
        settings = {key: value for key, value in settings.items() if value is not None}
        settings.setdefault("part_bytes", READ_PART_BYTES)
        settings.setdefault("block_bytes", READ_BLOCK_BYTES)
        ndim = len(data.shape)
        layout = Layout.of(time_first(data.shape, time_axis), rgb)
        time_axis %= ndim
        rows = ndim - 2 - layout.rgb  # time first; the same axis of data is one less or not
        row_chunks = None
        if layout.n_image_axes == 2:
            row_chunks = _chunk_lengths(data, rows - 1 if rows - 1 < time_axis else rows)
        return cls(
            itemsize=computed_dtype(data.dtype).itemsize,
            time_chunks=_chunk_lengths(data, time_axis),
            row_chunks=row_chunks,
            **settings,
        )

    def parts(self, n_frames: int, frame_bytes: int) -> "list[slice]":
        """The time slices ``n_frames`` frames of ``frame_bytes`` each are read in."""
        frame_bytes = max(frame_bytes, 1)
        per_part = max(1, self.part_bytes // frame_bytes)
        chunks = self.time_chunks
        if not chunks or sum(chunks) != n_frames:
            chunks = None
        bounds: "list[tuple[int, int]]" = []
        start = 0
        # A chunk too big to hold is cut into parts of a quarter block: each
        # part decompresses the chunk again, so few, large ones.
        per_big_part = max(per_part, self.block_bytes // 4 // frame_bytes)
        for length in chunks or (n_frames,):
            stop = start + length
            if chunks is None:
                bounds += [(t, min(t + per_part, stop)) for t in range(start, stop, per_part)]
            elif length * frame_bytes > self.block_bytes:
                step = per_big_part
                bounds += [(t, min(t + step, stop)) for t in range(start, stop, step)]
            elif bounds and (stop - bounds[-1][0]) * frame_bytes <= self.part_bytes:
                bounds[-1] = (bounds[-1][0], stop)  # small chunks read together
            else:
                bounds.append((start, stop))
            start = stop
        return [slice(a, b) for a, b in bounds]


def _strips(reading: Reading, n_frames: int, height: int, row_bytes: int) -> "list[slice]":
    """The row strips ``n_frames`` whole frames are read in (see ``Reading.row_chunks``)."""
    chunks = reading.row_chunks
    if not chunks or sum(chunks) != height or len(chunks) == 1:
        return [slice(0, height)]
    bounds: "list[tuple[int, int]]" = []
    start = 0
    for length in chunks:
        stop = start + length
        if bounds and n_frames * (stop - bounds[-1][0]) * row_bytes <= reading.part_bytes:
            bounds[-1] = (bounds[-1][0], stop)
        else:
            bounds.append((start, stop))
        start = stop
    return [slice(a, b) for a, b in bounds]


def _chunk_lengths(data: Any, axis: int) -> "tuple | None":
    """The lengths of ``data``'s chunks along ``axis`` (dask, zarr, h5py), or None."""
    chunks = getattr(data, "chunks", None)
    if not chunks:
        return None
    try:
        lengths = chunks[axis % len(data.shape)]
        if isinstance(lengths, (int, np.integer)):
            n, step = data.shape[axis], int(lengths)
            return tuple(min(step, n - start) for start in range(0, n, step))
        return tuple(int(length) for length in lengths)
    except (TypeError, IndexError, ValueError, ZeroDivisionError):
        return None


def plan_read_whole(data: Any, time_axis: int, reading: Reading) -> Plan:
    """Reading lazy ``data`` into memory, a part along time a step.

    The result is the whole array in its own axis order (half floats as
    float32). A plan made with ``data`` None (a shape-only stand-in) counts.
    """
    check_time_axis(time_axis, len(data.shape))
    time_axis %= len(data.shape)
    n_frames = data.shape[time_axis]
    frame_bytes = math.prod(data.shape) // max(n_frames, 1) * reading.itemsize
    before = (slice(None),) * time_axis
    whole: "list[np.ndarray]" = []

    def read(part: slice) -> None:
        if not whole:
            whole.append(np.empty(data.shape, dtype=computed_dtype(data.dtype)))
        whole[0][before + (part,)] = native_part(reading.compute(data[before + (part,)]))

    parts = reading.parts(n_frames, frame_bytes) or [slice(0, 0)]
    return Plan([Step(partial(read, part)) for part in parts], lambda: whole.pop())


class LazyFrames:
    """Lazy data seen time first, as :func:`napari_gmm_background.layout.as_frames` sees arrays.

    Parameters
    ----------
    data : array_like
        A dask, zarr or other sliceable array.
    time_axis : int
        Its time axis.
    reading : Reading
        How it is read.
    """

    def __init__(self, data: Any, time_axis: int, reading: Reading):
        check_time_axis(time_axis, len(data.shape))
        dtype = np.dtype(data.dtype)
        if dtype.kind not in "iuf":
            raise TypeError(f"data must hold integers or floats, got dtype {dtype}")
        if data.shape[time_axis] == 0:
            raise ValueError("data has no frames: its time axis has length 0")
        self.data = data
        self.time_axis = time_axis % len(data.shape)
        self.reading = reading
        self.shape = time_first(data.shape, time_axis)
        self.dtype = computed_dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def stacks(self, layout: Layout) -> "Iterator[tuple[tuple, LazyStack]]":
        """Each stack's index and a :class:`LazyStack` reading it."""
        colour = (slice(None),) if layout.rgb else ()
        for index in np.ndindex(*layout.stacks_shape):

            def read(frames: slice, rows: slice, index=index) -> np.ndarray:
                return self.read((frames, *index, rows, slice(None), *colour))

            yield index, LazyStack.of(layout, self.dtype, self.reading, read)

    def read(self, index: tuple) -> np.ndarray:
        """The values at a time-first ``index`` (time slice first), time first, as computed."""
        original = list(index[1:])
        original.insert(self.time_axis, index[0])
        values = native_part(self.reading.compute(self.data[tuple(original)]))
        # Integer indices (a stack's) drop their axes: time moved by those before it.
        dropped = sum(isinstance(i, (int, np.integer)) for i in index[1 : self.time_axis + 1])
        return np.moveaxis(values, self.time_axis - dropped, 0)


class InMemory:
    """Values in memory, given when a step needs them (an earlier step may make them).

    ``values()`` gives the array. For the block methods, a (T, Y, X,
    colours) stack in memory read as a :class:`LazyStack` is: nothing to
    read, one block of every row, so a method goes through both alike.
    """

    reading = None

    def __init__(self, shape: tuple, dtype, values: "Callable[[], np.ndarray]"):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self._values = values
        self._blocks: "list[tuple[int, int]]" = []

    def array(self) -> np.ndarray:
        """The whole array."""
        return self._values()

    def again(self) -> "InMemory":
        """The same values, as a source no plan has planned its blocks on."""
        return InMemory(self.shape, self.dtype, self._values)

    def sample(self, indices: "list[int]", step: int = 1) -> np.ndarray:
        """The frames ``indices``, every ``step``-th row and column of them.

        (Of the first two axes after time, for values of another layout.)
        """
        values = self._values()
        every = (slice(None, None, step),) * min(2, values.ndim - 1)
        return values[(indices, *every)]

    def parts(self) -> "list[slice]":
        return [slice(0, self.shape[0])]

    def part_reads(self, part: slice) -> "list[Callable[[], None]]":
        return []

    def frames(self, part: slice) -> np.ndarray:
        return self._values()[part]

    def keep_rows(self, blocks: "list[tuple[int, int]]") -> None:
        self._blocks = list(blocks)

    def block_reads(self, block: int) -> "list[Callable[[], None]]":
        return []

    def block(self, block: int) -> np.ndarray:
        start, stop = self._blocks[block]
        return self._values()[:, start:stop]

    def done_with_block(self, block: int) -> None:
        pass


class LazyStack:
    """One (T, Y, X, colours) stack read on demand: in parts along time, then in blocks of rows.

    The first pass reads every frame whole anyway; :meth:`keep_rows` has it
    keep each block of rows as the frames go by, in a scratch file, so that
    every value is read from the data once (a video is decoded once; a
    chunk of whole frames is not decompressed again for each block) and the
    first pass holds no block in memory. Whether there will be a scratch
    file is decided when the blocks are planned, so the reads are known
    before the run: without one, the first block is kept in memory and the
    others are read again. Should the scratch file fail during the run (a
    full disk), the planned reads of its blocks read the data instead.

    Parameters
    ----------
    shape : tuple
        (T, Y, X, colours).
    dtype : numpy dtype
        As computed.
    reading : Reading
        How it is read.
    read : callable
        ``read(frames, rows)``: those frames and rows as a (t, rows, X,
        colours) array; None for a plan that only counts.
    """

    def __init__(self, shape: tuple, dtype, reading: Reading, read):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.reading = reading
        self._read_values = read
        self._blocks: "list[tuple[int, int]]" = []
        self._scratch_planned = False
        self._part: "tuple[slice, np.ndarray] | None" = None
        self._keeps_first_block = False
        self._first_block: "np.ndarray | None" = None  # made as the first pass fills it
        self._spill: "_Spill | None" = None
        self._block: "tuple[int, np.ndarray] | None" = None

    @classmethod
    def of(cls, layout: Layout, dtype, reading: Reading, read) -> "LazyStack":
        """The stack of frames of this layout (two image axes), read by ``read``."""
        if layout.n_image_axes != 2:
            raise ValueError("a stack read in blocks of rows needs two image axes")
        return cls(layout.stack_shape, dtype, reading, read)

    def again(self) -> "LazyStack":
        """The same stack, read the same way, as a source no plan has planned its blocks on."""
        return LazyStack(self.shape, self.dtype, self.reading, self._read_values)

    def sample(self, indices: "list[int]", step: int = 1) -> np.ndarray:
        """The frames ``indices``, every ``step``-th row and column, read a frame at a time."""
        rows = slice(0, self.shape[1])
        frames = [self._read(slice(t, t + 1), rows)[:, ::step, ::step] for t in indices]
        if not frames:
            return np.empty((0, *self.shape[1:]), self.dtype)[:, ::step, ::step]
        return np.concatenate(frames)

    @property
    def row_bytes(self) -> int:
        """Bytes of one image row of one frame, as read (the reading's itemsize)."""
        return math.prod(self.shape[2:]) * self.reading.itemsize

    def _block_shape(self, block: int) -> tuple:
        start, stop = self._blocks[block]
        return (self.shape[0], stop - start, *self.shape[2:])

    def _block_sizes(self) -> "list[int]":
        """Bytes of each planned block."""
        itemsize = self.dtype.itemsize
        return [math.prod(self._block_shape(b)) * itemsize for b in range(len(self._blocks))]

    def _read(self, frames: slice, rows: slice) -> np.ndarray:
        values = self._read_values(frames, rows)
        return values.reshape((-1, values.shape[1], self.shape[2], self.shape[3]))

    # -- the first pass: whole frames, a part along time at a time ----------

    def parts(self) -> "list[slice]":
        """The time slices of whole frames the first pass reads."""
        return self.reading.parts(self.shape[0], self.shape[1] * self.row_bytes)

    def part_reads(self, part: slice) -> "list[Callable[[], None]]":
        """The reads of ``part``, a strip of whole row chunks each (a step each)."""
        strips = _strips(self.reading, part.stop - part.start, self.shape[1], self.row_bytes)
        return [partial(self._read_strip, part, strip) for strip in strips]

    def _read_strip(self, part: slice, rows: slice) -> None:
        if self._part is None or self._part[0] != part:
            if part.start == 0 and self._scratch_planned:
                self._spill = _Spill.open(self._block_sizes(), self.shape[0])
            values = np.empty((part.stop - part.start, *self.shape[1:]), dtype=self.dtype)
            self._part = (part, values)
        values = self._part[1]
        values[:, rows] = self._read(part, rows)
        self._keep(part, rows, values)  # as each strip comes: the writes are spread too

    def frames(self, part: slice) -> np.ndarray:
        """The whole frames of ``part``, once its reads have run."""
        return self._part[1]

    def keep_rows(self, blocks: "list[tuple[int, int]]") -> None:
        """Plan the blocks of rows (in order) the second pass reads, kept as the frames go by.

        Several blocks go to a scratch file if one can be written (see
        :meth:`_Spill.usable`); otherwise, and for a single block, the first
        is kept in memory.
        """
        self._blocks = list(blocks)
        if len(blocks) > 1:
            self._scratch_planned = _Spill.usable(sum(self._block_sizes()))
        self._keeps_first_block = not self._scratch_planned

    def _keep(self, part: slice, rows: slice, values: np.ndarray) -> None:
        """Keep ``rows`` of the frames ``part`` (``values``) where :meth:`keep_rows` said."""
        for number, (block_start, block_stop) in enumerate(self._blocks):
            start, stop = max(rows.start, block_start), min(rows.stop, block_stop)
            if start >= stop:
                continue
            if number == 0 and self._keeps_first_block:
                if self._first_block is None:
                    self._first_block = np.empty(self._block_shape(0), dtype=self.dtype)
                self._first_block[part, start - block_start : stop - block_start] = values[
                    :, start:stop
                ]
            if self._spill is not None:
                self._spill.write(number, part, start - block_start, values[:, start:stop])
                if self._spill.failed:  # a full disk: the blocks are read again
                    self._spill = None

    # -- the second pass: a block of rows of every frame at a time ---------

    def block_reads(self, block: int) -> "list[Callable[[], None]]":
        """The reads of ``block``, a part along time each: none for a block kept in memory."""
        if block == 0 and self._keeps_first_block:
            return []
        start, stop = self._blocks[block]
        parts = self.reading.parts(self.shape[0], (stop - start) * self.row_bytes)
        return [partial(self._read_block_part, block, part) for part in parts]

    def _read_block_part(self, block: int, part: slice) -> None:
        if self._block is None or self._block[0] != block:
            self._part = None  # the first pass is over
            self._block = (block, np.empty(self._block_shape(block), dtype=self.dtype))
        values = self._block[1]
        if self._spill is not None:
            self._spill.read(block, part, values)
        else:
            start, stop = self._blocks[block]
            values[part] = self._read(part, slice(start, stop))

    def block(self, block: int) -> np.ndarray:
        """Rows of ``block`` of every frame, (T, rows, X, colours), once its reads have run."""
        if block == 0 and self._keeps_first_block:
            self._part = None
            return self._first_block
        return self._block[1]

    def done_with_block(self, block: int) -> None:
        """Let the block's rows go; after the last, the scratch file too."""
        if block == 0:
            self._first_block = None
        self._block = None
        if block == len(self._blocks) - 1 and self._spill is not None:
            self._spill.close()
            self._spill = None


class _Spill:
    """Blocks of rows kept on disk while the frames stream by: an anonymous scratch file.

    Each block is one region, frame after frame, so it is read back in
    parts along time. The file has no name (deleted when closed, or when
    the process ends); a write that fails (a full disk) marks it failed and
    the caller reads those blocks from the data instead.
    """

    def __init__(self, file, sizes: "list[int]", n_frames: int):
        self.file = file
        self.n_frames = n_frames
        self.offsets = [0]
        for size in sizes[:-1]:
            self.offsets.append(self.offsets[-1] + size)
        self.sizes = sizes
        self.failed = False

    @staticmethod
    def usable(n_bytes: int) -> bool:
        """Whether a scratch file of ``n_bytes`` should be written in the temporary folder.

        Not on a file system in memory (a tmpfs /tmp would hold the data in
        RAM, which reading in blocks is there to avoid), nor where it would
        leave less than 1 GiB free.
        """
        import shutil
        import tempfile

        folder = tempfile.gettempdir()
        try:
            if _in_memory_file_system(folder):
                return False
            return shutil.disk_usage(folder).free >= n_bytes + 2**30
        except OSError:
            return False

    @classmethod
    def open(cls, sizes: "list[int]", n_frames: int) -> "_Spill | None":
        """A scratch file for blocks of these sizes, or None if it cannot be made."""
        import tempfile

        try:
            file = tempfile.TemporaryFile(prefix="napari-gmm-background-")
        except OSError:
            return None
        return cls(file, sizes, n_frames)

    def write(self, block: int, frames: slice, first_row: int, rows: np.ndarray) -> None:
        """Write ``rows`` (frames, rows, X, colours) of ``frames`` into spilled ``block``
        from its row ``first_row`` on."""
        frame_bytes = self.sizes[block] // self.n_frames
        row_bytes = rows[0, 0].nbytes if rows.size else 0
        try:
            for i, frame_rows in enumerate(rows):
                offset = self.offsets[block] + (frames.start + i) * frame_bytes
                self.file.seek(offset + first_row * row_bytes)
                self.file.write(np.ascontiguousarray(frame_rows).data)
        except OSError:
            self.failed = True
            self.close()

    def read(self, block: int, frames: slice, out: np.ndarray) -> None:
        """Read ``frames`` of spilled block number ``block`` into ``out[frames]``."""
        target = out[frames]
        self.file.seek(self.offsets[block] + frames.start * out[0].nbytes)
        if self.file.readinto(memoryview(target).cast("B")) != target.nbytes:
            raise OSError("the scratch file of a block of rows was cut short")

    def close(self) -> None:
        self.file.close()


def _in_memory_file_system(folder: str) -> bool:
    """Whether ``folder`` is on a tmpfs or ramfs (Linux; False where that cannot be told)."""
    import os

    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            entries = [line.split()[:3] for line in mounts]
    except OSError:
        return False
    folder = os.path.realpath(folder)
    best, kind = "", ""
    for _device, point, fstype in (entry for entry in entries if len(entry) == 3):
        inside = folder == point or folder.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fstype
    return kind in ("tmpfs", "ramfs")
