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
