"""Applying a background: subtract, flat-field; numpy and lazy dask alike."""

import dask.array as da
import numpy as np
import pytest

from napari_gmm_background import apply_background


@pytest.fixture
def stack():
    rng = np.random.default_rng(0)
    return rng.integers(200, 1000, (12, 16, 20)).astype(np.uint16)


def test_subtract_and_divide(stack):
    background = np.full((16, 20), 150.0)
    np.testing.assert_allclose(apply_background(stack, background), stack - 150.0)
    flat = apply_background(stack, background, mode="divide", dark=100.0)
    np.testing.assert_allclose(flat, (stack - 100.0) / 50.0 * 50.0, rtol=1e-6)
    assert flat.dtype == np.float32 and flat.shape == stack.shape


def test_per_frame_backgrounds_and_a_time_axis_elsewhere(stack):
    per_frame = stack.astype(np.float32) - 5
    np.testing.assert_allclose(apply_background(stack, per_frame), 5.0)
    moved = np.moveaxis(stack, 0, 2)
    image = stack[0].astype(float)
    np.testing.assert_allclose(
        apply_background(moved, image, time_axis=2), np.moveaxis(stack - image, 0, 2)
    )


@pytest.mark.parametrize("mode", ["subtract", "divide"])
def test_dask_stays_lazy_and_equals_numpy(stack, mode):
    background = stack.mean(axis=0)
    lazy = apply_background(da.from_array(stack, chunks=(5, 8, 7)), background, mode=mode)
    assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(lazy.compute(), apply_background(stack, background, mode=mode))
    per_frame = apply_background(da.from_array(stack, chunks=(5, 8, 7)), stack - 1.0, mode=mode)
    np.testing.assert_array_equal(
        per_frame.compute(), apply_background(stack, stack - 1.0, mode=mode)
    )


def test_bad_input_is_refused(stack):
    with pytest.raises(ValueError, match="neither"):
        apply_background(stack, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="dark level"):
        apply_background(stack, np.full((16, 20), 90.0), mode="divide", dark=100.0)
    with pytest.raises(ValueError, match="mode"):
        apply_background(stack, stack[0], mode="multiply")
    with pytest.raises(ValueError, match="NaN"):
        apply_background(stack, np.full((16, 20), np.nan))
