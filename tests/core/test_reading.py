"""Frames read on demand: parts along time, blocks of rows, the same backgrounds as in memory."""

import numpy as np
import pytest

from napari_gmm_background import METHODS, extract_background
from napari_gmm_background.core.layout import Layout
from napari_gmm_background.core.progress import run_to_end
from napari_gmm_background.core.reading import (
    LazyFrames,
    Reading,
    is_lazy,
    plan_read_whole,
)
from napari_gmm_background.datasets import synthetic_timelapse, synthetic_traffic
from napari_gmm_background.engine.run import count_steps, iter_background

from ..helpers import drain

da = pytest.importorskip("dask.array")

IN_BLOCKS = [name for name, row in METHODS.items() if row.reads_in_blocks]


class CountingArray:
    """A sliceable array that is not numpy and counts the values read (a store on disk)."""

    def __init__(self, array):
        self.array = array
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim
        self.values_read = 0
        self.largest_read = 0

    def __getitem__(self, index):
        values = self.array[index]
        self.values_read += values.size
        self.largest_read = max(self.largest_read, values.nbytes)
        return values


def test_what_counts_as_lazy():
    assert is_lazy(da.zeros((2, 3, 3))) and is_lazy(CountingArray(np.zeros((2, 3, 3))))
    assert not is_lazy(np.zeros((2, 3, 3))) and not is_lazy(np.float64(3.0))
    assert not is_lazy([[1, 2], [3, 4]])


def test_parts_follow_the_chunks_of_the_data():
    reading = Reading(itemsize=1, time_chunks=(5, 5, 5, 5, 3), part_bytes=100, block_bytes=1000)
    # Frames of 10 bytes: whole chunks, two of them fit in a part of 100 bytes.
    assert [(p.start, p.stop) for p in reading.parts(23, 10)] == [(0, 10), (10, 20), (20, 23)]
    # Frames of 30 bytes: a chunk (150 bytes) is larger than a part but read whole.
    assert [(p.start, p.stop) for p in reading.parts(23, 30)][:2] == [(0, 5), (5, 10)]
    # Frames of 300 bytes: a chunk of 5 (1500 bytes) exceeds a block, so it is cut into
    # parts of a quarter block (one frame); the last chunk, of 3, fits a block: one part.
    parts = [(p.start, p.stop) for p in reading.parts(23, 300)]
    assert parts == [(t, t + 1) for t in range(20)] + [(20, 23)]
    # Without chunks (or chunks that do not match): parts of part_bytes.
    plain = Reading(itemsize=1, part_bytes=100)
    assert [(p.start, p.stop) for p in plain.parts(23, 30)][:2] == [(0, 3), (3, 6)]
    assert Reading.of(da.zeros((23, 4, 4), chunks=(5, 4, 4))).time_chunks == (5, 5, 5, 5, 3)
    assert Reading.of(da.zeros((4, 23, 4), chunks=(4, 7, 2)), 1).time_chunks == (7, 7, 7, 2)
    assert Reading.of(CountingArray(np.zeros((3, 2, 2)))).time_chunks is None
    # Rows: the second image axis from the end, before a colour axis, wherever time is.
    assert Reading.of(da.zeros((6, 20, 8), chunks=(2, 5, 8))).row_chunks == (5, 5, 5, 5)
    assert Reading.of(da.zeros((20, 8, 6), chunks=(5, 8, 2)), 2).row_chunks == (5, 5, 5, 5)
    rgb = da.zeros((6, 20, 8, 3), chunks=(2, 10, 8, 3))
    assert Reading.of(rgb).row_chunks == (10, 10)
    assert Reading.of(da.zeros((3, 2), dtype=np.float16)).itemsize == 4  # computed as float32


def sampled_values(frames: np.ndarray) -> int:
    """The values a run reads first from a stack's sampled frames."""
    from napari_gmm_background.engine.choice import sample_indices

    return len(sample_indices(len(frames))) * frames[0].size


def test_parts_are_read_in_strips_of_whole_row_chunks():
    # Parts of 4 frames (whole time chunks); rows in chunks of 10: strips of 2 chunks
    # (4 frames x 20 rows x 8 x 2 bytes = 1280 <= 1400), a step each.
    reading = Reading(itemsize=2, time_chunks=(4, 4), row_chunks=(10,) * 5, part_bytes=1400)
    frames, _ = synthetic_timelapse(n_frames=8, height=50, width=8, seed=1)
    store = CountingArray(frames)
    lazy = LazyFrames(store, 0, reading)
    (_, stack), *_ = lazy.stacks(Layout.of(frames.shape))
    stack.keep_rows([(0, 50)])
    assert stack.parts() == [slice(0, 4), slice(4, 8)]
    reads = stack.part_reads(slice(0, 4))
    assert len(reads) == 3 and sum(len(stack.part_reads(part)) for part in stack.parts()) == 6
    for read in reads:
        read()
    assert store.largest_read <= 4 * 20 * 8 * 2
    np.testing.assert_array_equal(stack.frames(slice(0, 4))[..., 0], frames[:4])


@pytest.mark.parametrize("method", IN_BLOCKS)
def test_blocks_of_rows_give_the_background_of_the_frames_in_memory(method, monkeypatch):
    from napari_gmm_background.core import reading as reading_module

    # Whatever this machine's /tmp is, the scratch file is written.
    monkeypatch.setattr(reading_module, "_in_memory_file_system", lambda folder: False)
    frames, _ = synthetic_traffic(n_frames=40, height=60, width=80, seed=3)
    store = CountingArray(frames)
    # Parts of 2 frames and blocks of about 10 rows: many of each.
    reading = Reading.of(store, part_bytes=2 * frames[0].nbytes, block_bytes=40 * 10 * 80 * 3)
    steps, background = drain(iter_background(store, method=method, reading=reading))
    np.testing.assert_array_equal(background, extract_background(frames, method=method))
    total = count_steps(frames.shape, method=method, reading=reading)
    assert [step.done for step in steps] == list(range(1, total + 1))
    assert total > count_steps(frames.shape, method=method)  # the reading is counted
    # Never more than a block at a time, and every value read once: the first pass
    # keeps the blocks of rows (the first in memory, the others in a scratch file).
    # The frames sampled first (for the drift, and the default's choice) are read again.
    assert store.largest_read <= reading.block_bytes
    assert store.values_read == frames.size + sampled_values(frames)


@pytest.mark.parametrize("trouble", ["full disk", "temporary folder in memory"])
def test_without_a_scratch_file_the_blocks_are_read_again(monkeypatch, trouble):
    from napari_gmm_background.core import reading as reading_module

    def full_disk(self, block, frames, first_row, rows):
        self.failed = True
        self.close()

    if trouble == "full disk":
        monkeypatch.setattr(reading_module._Spill, "write", full_disk)
    else:  # a tmpfs /tmp would hold the blocks in memory
        monkeypatch.setattr(reading_module, "_in_memory_file_system", lambda folder: True)
    frames, _ = synthetic_timelapse(n_frames=20, height=40, width=48, seed=5)
    store = CountingArray(frames)
    reading = Reading.of(store, block_bytes=20 * 10 * 48 * 2)
    background = run_to_end(iter_background(store, reading=reading))
    np.testing.assert_array_equal(background, extract_background(frames))
    read = store.values_read - sampled_values(frames)
    if trouble == "full disk":  # failed at the first write: every block is read again
        assert read == 2 * frames.size
    else:  # the first block is kept in memory instead, the others read again
        assert frames.size < read < 2 * frames.size


def test_closing_between_parts_stops_reading():
    frames, _ = synthetic_timelapse(n_frames=40, height=32, width=40, seed=2)
    store = CountingArray(frames)
    reading = Reading.of(store, part_bytes=2 * frames[0].nbytes)
    generator = iter_background(store, reading=reading)
    for _ in range(3):
        next(generator)
    generator.close()
    assert store.values_read <= sampled_values(frames) + 8 * frames[0].size


@pytest.mark.parametrize("method", ["gmm", "notebook"])
def test_unlabelled_channel_first_stacks_read_lazily_equal_numpy(method):
    first, _ = synthetic_timelapse(30, 40, 48, n_cells=4, seed=1)
    second, _ = synthetic_timelapse(30, 40, 48, n_cells=6, seed=2)
    stack = np.stack([first, second])  # C, T, Y, X
    lazy = da.from_array(stack, chunks=(1, 4, 40, 24))
    reading = Reading.of(lazy, 1, part_bytes=first[0].nbytes, block_bytes=30 * 8 * 48 * 2)
    background = run_to_end(iter_background(lazy, time_axis=1, method=method, reading=reading))
    np.testing.assert_array_equal(background, extract_background(stack, time_axis=1, method=method))


def test_reading_whole_keeps_the_axes_and_computes_half_floats_as_float32():
    data = np.arange(5 * 3 * 4, dtype=np.float16).reshape(3, 5, 4)
    frames = LazyFrames(da.from_array(data, chunks=1), 1, Reading.of(data))
    assert frames.shape == (5, 3, 4) and frames.dtype == np.float32
    plan = plan_read_whole(da.from_array(data), 1, Reading(itemsize=4, part_bytes=8))
    steps, whole = drain(plan.run())
    assert len(steps) == 5  # a frame of 3 x 4 float32 a part
    assert whole.dtype == np.float32 and whole.shape == data.shape
    np.testing.assert_array_equal(whole, data.astype(np.float32))


def test_lazy_input_errors_are_clear():
    with pytest.raises(TypeError, match="integers or floats"):
        run_to_end(iter_background(da.zeros((4, 8, 8), dtype=bool)))
    with pytest.raises(ValueError, match="no frames"):
        run_to_end(iter_background(da.zeros((0, 8, 8))))
    with pytest.raises(ValueError, match="out of range"):
        run_to_end(iter_background(da.zeros((4, 8, 8)), time_axis=3))
    nan = np.zeros((6, 8, 8), np.float32)
    nan[3, 2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        run_to_end(iter_background(da.from_array(nan)))


def test_a_zarr_array_is_read_in_blocks(tmp_path):
    zarr = pytest.importorskip("zarr")
    frames, _ = synthetic_timelapse(n_frames=30, height=40, width=48, seed=4)
    store = zarr.open(str(tmp_path / "movie.zarr"), mode="w", shape=frames.shape,
                      chunks=(4, 20, 48), dtype=frames.dtype)  # fmt: skip
    store[:] = frames
    reading = Reading.of(store, block_bytes=30 * 10 * 48 * 2)
    assert reading.time_chunks == (4,) * 7 + (2,)
    background = run_to_end(iter_background(store, reading=reading))
    np.testing.assert_array_equal(background, extract_background(frames))
