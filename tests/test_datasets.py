"""Synthetic data: known backgrounds, reproducible by seed."""

import numpy as np
import pytest

from napari_gmm_background.datasets import (
    synthetic_lingering,
    synthetic_timelapse,
    synthetic_traffic,
)


@pytest.mark.parametrize(
    "make, shape, dtype",
    [
        (lambda seed: synthetic_traffic(20, 30, 40, seed=seed), (20, 30, 40, 3), np.uint8),
        (lambda seed: synthetic_timelapse(20, 30, 40, seed=seed), (20, 30, 40), np.uint16),
        (lambda seed: synthetic_lingering(20, 30, 40, seed=seed), (20, 30, 40, 3), np.uint8),
    ],
)
def test_shapes_dtypes_and_seeds(make, shape, dtype):
    frames, background = make(1)
    assert frames.shape == shape and frames.dtype == dtype
    assert background.shape == shape[1:] and background.dtype == dtype
    again, _ = make(1)
    other, _ = make(2)
    np.testing.assert_array_equal(frames, again)
    assert not np.array_equal(frames, other)


def test_the_background_is_what_most_frames_show():
    frames, background = synthetic_traffic(60, 48, 64, noise=0.0, seed=3)
    shown = (frames == background).all(axis=-1).mean(axis=0)
    assert np.median(shown) == 1.0  # off the lanes, every frame shows the background
