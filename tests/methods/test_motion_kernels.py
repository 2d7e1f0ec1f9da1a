"""The compiled kernels of the motionless methods."""

import numpy as np
import pytest

from napari_gmm_background.methods import _motion_kernels


def test_the_kept_frames_are_the_least_moving_with_later_frames_winning_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, (50, 3, 5)).astype(np.float32)  # many ties
    n_keep = 7
    best = np.empty((3, 5, n_keep), dtype=np.uint64)
    worst = np.full((3, 5), np.iinfo(np.uint64).max, dtype=np.uint64)
    for first in range(0, 50, 16):
        bits = scores[first : first + 16].view(np.uint32)
        # In two parts of rows, as the threads run it.
        _motion_kernels.keep_least_moving(bits, first, best, worst, 0, 1)
        _motion_kernels.keep_least_moving(bits, first, best, worst, 1, 3)
    kept = _motion_kernels.frames_of(best)
    assert kept.dtype == np.int32
    frame = np.arange(50)
    for y in range(3):
        for x in range(5):
            expected = np.lexsort((-frame, scores[:, y, x]))[:n_keep]
            np.testing.assert_array_equal(kept[y, x], expected)


def test_median_in_place_is_numpys_median():
    rng = np.random.default_rng(1)
    for n in range(1, 40):
        values = rng.integers(0, 5, n).astype(np.float64)  # duplicates
        assert _motion_kernels.median_in_place(values.copy(), n) == np.median(values)
        values = rng.normal(size=n)
        assert _motion_kernels.median_in_place(values.copy(), n) == np.median(values)


def test_cell_grey_is_the_mean_channel_sum_of_each_block():
    rng = np.random.default_rng(2)
    frame = rng.integers(0, 255, (10, 13, 3), dtype=np.uint8)
    for cell in (1, 3, 4):
        height, width = -(-10 // cell), -(-13 // cell)
        out = np.empty((height, width), np.float32)
        _motion_kernels.cell_grey_into(frame.reshape(10, 39), 3, cell, out, 0, height // 2)
        _motion_kernels.cell_grey_into(frame.reshape(10, 39), 3, cell, out, height // 2, height)
        sums = frame.sum(axis=2, dtype=np.float64)
        for cy in range(height):
            for cx in range(width):
                block = sums[cy * cell : (cy + 1) * cell, cx * cell : (cx + 1) * cell]
                assert (
                    out[cy, cx] == np.float32(block.mean())
                    or abs(out[cy, cx] - block.mean()) < 1e-3
                )


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 19, 20, 33])
def test_sorting_networks_sort_any_values(n):
    rng = np.random.default_rng(n)
    pairs = _motion_kernels.sorting_network(n)
    assert (pairs[:, 0] < pairs[:, 1]).all() and (pairs < n).all()
    values = rng.integers(0, 4, (500, n))  # few levels: many ties
    for a, b in pairs:
        low, high = np.minimum(values[:, a], values[:, b]), np.maximum(values[:, a], values[:, b])
        values[:, a], values[:, b] = low, high
    assert (np.diff(values, axis=1) >= 0).all()


@pytest.mark.parametrize("n_kept", [5, 19, 20])  # odd and even: numpy's median
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_kept_medians_share_the_kept_frames_of_a_cell(n_kept, dtype):
    rng = np.random.default_rng(3)
    # wider than a block of pixels, which the kernel sorts together
    frames = rng.integers(0, 255, (30, 6, 70, 2)).astype(dtype)
    kept = rng.integers(0, 30, (2, 24, n_kept), dtype=np.int32)  # cells of 3 x 3 pixels
    out = np.empty((6, 70, 2))
    pairs = _motion_kernels.sorting_network(n_kept)
    _motion_kernels.kept_medians(frames, kept, 3, pairs, 0, 6, out)
    for y in range(6):
        for x in range(70):
            expected = np.median(frames[kept[y // 3, x // 3], y, x].astype(np.float64), axis=0)
            np.testing.assert_array_equal(out[y, x], expected)


def test_joint_colour_refinement_takes_every_channel_from_the_same_frames():
    # 5 frames of grey, 10 of a colour whose red is within tolerance of grey
    # and whose blue is not: channel by channel, red would mix the two.
    frames = np.array([[100, 100, 100]] * 5 + [[104, 100, 160]] * 10, np.uint8)
    frames = frames[:, None, None, :]
    first = np.full((1, 1, 3), 100.0)
    results = {}
    for joint in (False, True):
        for width in (0, 16):  # the float path and the counting path
            out = np.empty((1, 1, 3))
            data = frames if width else frames.astype(np.float64)
            support = np.empty((1, 1), np.int32)
            if width:
                _motion_kernels.agreeing_medians_counted(
                    data, first, 5.0, width, joint, 0, 1, out, support
                )
            else:
                _motion_kernels.agreeing_medians_sorted(data, first, 5.0, joint, 0, 1, out, support)
            assert support[0, 0] == (5 if joint else 15)
            results[joint, width] = out[0, 0].tolist()
    assert results[False, 0] == results[False, 16] == [104, 100, 100]
    assert results[True, 0] == results[True, 16] == [100, 100, 100]


@pytest.mark.parametrize("n_channels", [1, 2, 3])
@pytest.mark.parametrize("joint", [False, True])
def test_counting_and_sorting_give_the_same_agreeing_medians(n_channels, joint):
    # Integers near a first estimate, a third of them foreground: each
    # counting loop (colours, values, any channels jointly) against sorting.
    rng = np.random.default_rng(n_channels + 10 * joint)
    base = rng.integers(10, 240, (4, 150, n_channels))
    frames = base + rng.integers(-6, 7, (41, 4, 150, n_channels))
    foreground = rng.random(frames.shape[:3]) < 0.3
    frames[foreground] = rng.integers(0, 255, (foreground.sum(), n_channels))
    frames = frames.clip(0, 255).astype(np.uint16)
    first = base + rng.random(base.shape) - 0.5
    counted, sorted_ = np.empty(first.shape), np.empty(first.shape)
    counted_support, sorted_support = np.empty((4, 150), np.int32), np.empty((4, 150), np.int32)
    _motion_kernels.agreeing_medians_counted(
        frames, first, 4.3, 10, joint, 0, 4, counted, counted_support
    )
    _motion_kernels.agreeing_medians_sorted(
        frames.astype(np.float64), first, 4.3, joint, 0, 4, sorted_, sorted_support
    )
    np.testing.assert_array_equal(counted, sorted_)
    np.testing.assert_array_equal(counted_support, sorted_support)
    assert 0 < counted_support.min() < counted_support.max() < 41


def test_a_background_shown_now_and_then_wins_over_a_slow_uniform_object():
    # 40 frames: the road (100, 90, 80) in 12, scattered; a slow uniform van
    # (30, 60, 200) in 10 consecutive ones, which were the stillest; the rest
    # other vehicles, each a different colour.
    rng = np.random.default_rng(4)
    series = rng.integers(0, 255, (40, 3)).astype(np.uint8)
    road = np.arange(0, 40, 3)[:12]
    van = np.array([t for t in range(40) if t not in set(road)][10:20])
    series[road] = (100, 90, 80)
    series[van] = (30, 60, 200)
    frames = series[:, None, None, :]
    best = van[None, None, :8].astype(np.int32)  # the stillest frames show the van
    background = np.array([[[30.0, 60.0, 200.0]]])  # what the still frames gave
    support = np.array([[10]], np.int32)
    args = (frames, frames, best, 1, 2.0, 6.0, support)
    _motion_kernels.prefer_recurring(*args, 0.5, 0, 1, background)
    # Still frames vote van 2 x 8/8; all frames: road 12/40, van 10/40: the van stays.
    assert background[0, 0].tolist() == [30, 60, 200]
    best = np.concatenate([van[:4], road[:4]])[None, None, :].astype(np.int32)
    _motion_kernels.prefer_recurring(
        frames, frames, best, 1, 2.0, 6.0, support, 0.5, 0, 1, background
    )
    # Half the still frames show the road: it recurs a little more (1.3 against
    # 1.25), a hair's breadth, as a leaf's colour does where leaves move: the van stays.
    assert background[0, 0].tolist() == [30, 60, 200]
    best = np.concatenate([van[:3], road[:5]])[None, None, :].astype(np.int32)
    _motion_kernels.prefer_recurring(
        frames, frames, best, 1, 2.0, 6.0, support, 0.5, 0, 1, background
    )
    # Five of the eight still frames show it: 1.55 against 1.0, so it wins.
    assert background[0, 0].tolist() == [100, 90, 80]


@pytest.mark.parametrize(
    "values",
    [
        [7.0],
        [3.0, 5.0],  # even: the mean of the middle two
        [10.0, 12.0, 11.0, 10.0, 13.0, 12.0],
        [0.0, 63.0, 20.0],  # 64 levels: counted
        [0.0, 64.0, 20.0, 5.0],  # 65 levels: selected
        [1.5, 2.0, 2.5],  # not integers: selected
        [-4.0, -2.0, -3.0, -2.0],
    ],
)
def test_the_median_of_levels_is_numpys(values):
    counts = np.zeros(_motion_kernels._COUNTED_SPAN, dtype=np.int64)
    data = np.array(values + [99.0])  # a value past n, not taken
    median = _motion_kernels._median_of_levels(data, len(values), counts)
    assert median == np.median(values)
    assert not counts.any()  # left zero for the next call
