"""The compiled kernels of the motionless methods."""

import numpy as np

from napari_gmm_background import _motion_kernels


def test_the_kept_frames_are_the_least_moving_with_later_frames_winning_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, (50, 3, 5)).astype(np.float32)  # many ties
    n_keep = 7
    best = np.empty((3, 5, n_keep), dtype=np.uint64)
    worst = np.full((3, 5), np.iinfo(np.uint64).max, dtype=np.uint64)
    for first in range(0, 50, 16):
        _motion_kernels.keep_least_moving(
            scores[first : first + 16].view(np.uint32), first, best, worst
        )
    kept = np.empty((3, 5, n_keep), dtype=np.int32)
    _motion_kernels.frames_of(best, kept)
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
        _motion_kernels.cell_grey_into(frame.reshape(10, 39), 3, cell, out)
        sums = frame.sum(axis=2, dtype=np.float64)
        for cy in range(height):
            for cx in range(width):
                block = sums[cy * cell : (cy + 1) * cell, cx * cell : (cx + 1) * cell]
                assert (
                    out[cy, cx] == np.float32(block.mean())
                    or abs(out[cy, cx] - block.mean()) < 1e-3
                )


def test_kept_medians_share_the_kept_frames_of_a_cell():
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 255, (30, 6, 8, 2), dtype=np.uint8)
    kept = rng.integers(0, 30, (2, 3, 5), dtype=np.int32)  # cells of 3 x 3 pixels
    out = np.empty((6, 8, 2))
    _motion_kernels.kept_medians(frames, kept, 3, 0, 6, out)
    for y in range(6):
        for x in range(8):
            expected = np.median(frames[kept[y // 3, x // 3], y, x], axis=0)
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
            _motion_kernels.agreeing_medians(data, first, 5.0, width, joint, 0, 1, out)
            results[joint, width] = out[0, 0].tolist()
    assert results[False, 0] == results[False, 16] == [104, 100, 100]
    assert results[True, 0] == results[True, 16] == [100, 100, 100]
