"""Applying a background: subtract, flat-field; numpy and lazy dask alike."""

import dask.array as da
import numpy as np
import pytest

from napari_gmm_background import ClippedValuesWarning, apply_background, correction_offset


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


@pytest.mark.parametrize("mode", ["subtract", "divide"])
def test_the_input_type_keeps_the_data_within_a_level_of_float32_plus_the_offset(stack, mode):
    rng = np.random.default_rng(1)
    background = rng.uniform(150, 190, (16, 20))  # vignetting-like: not one value
    as_float = apply_background(stack, background, mode=mode, dark=100.0)
    kept = apply_background(stack, background, mode=mode, dark=100.0, dtype="input")
    offset = correction_offset(background, mode=mode, dtype=stack.dtype)
    assert kept.dtype == np.uint16 and kept.shape == stack.shape
    assert offset == (int(np.ceil(background.max())) if mode == "subtract" else 0)
    assert np.abs(kept - (as_float.astype(np.float64) + offset)).max() <= 0.5
    lazy = apply_background(
        da.from_array(stack, chunks=(5, 8, 7)), background, mode=mode, dark=100.0, dtype="input"
    )
    assert lazy.dtype == np.uint16
    np.testing.assert_array_equal(lazy.compute(), kept)


def test_values_that_still_clip_are_counted_and_said():
    frames = np.array([[[10, 250]], [[12, 255]]], dtype=np.uint8)  # (2, 1, 2)
    background = np.array([[200.0, 10.0]])
    # offset 200: 10 - 200 + 200 = 10 fits; 255 - 10 + 200 = 445 does not
    with pytest.warns(ClippedValuesWarning, match=r"2 of 4 .* 0\.\.255 .*0 below, 2 above"):
        kept = apply_background(frames, background, dtype="input")
    np.testing.assert_array_equal(kept, [[[10, 255]], [[12, 255]]])


def test_float_data_keeps_its_type_without_an_offset():
    frames = np.linspace(0, 1, 24, dtype=np.float64).reshape(2, 3, 4)
    kept = apply_background(frames, frames[0], dtype="input")
    assert kept.dtype == np.float64 and correction_offset(frames[0], dtype=np.float64) == 0
    np.testing.assert_allclose(kept, frames - frames[0], atol=1e-6)


def test_an_unknown_type_is_refused(stack):
    with pytest.raises(ValueError, match="dtype must be one of"):
        apply_background(stack, stack[0], dtype="uint8")
