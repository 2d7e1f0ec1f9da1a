"""Layouts: which axes are time, image, colour and independent stacks."""

import numpy as np
import pytest

from napari_gmm_background.core.layout import Layout, as_frames, cast_like, guess_rgb, time_first


@pytest.mark.parametrize(
    "frames_shape, rgb, stacks, image, colours",
    [
        ((10, 32, 48), None, (), (32, 48), 1),
        ((10, 32, 48, 3), None, (), (32, 48), 3),
        ((10, 32, 48, 4), None, (), (32, 48), 4),
        ((10, 2, 32, 48), None, (2,), (32, 48), 1),  # T, C, Y, X
        ((10, 5, 2, 32, 48), None, (5, 2), (32, 48), 1),  # T, Z, C, Y, X
        ((10, 5, 32, 48, 3), None, (5,), (32, 48), 3),  # T, Z, Y, X, RGB
        ((10, 5, 32, 3), False, (5,), (32, 3), 1),  # a short X is not colour when told
        ((10, 32, 3), None, (), (32, 3), 1),  # two axes: never colour
        ((10, 7), None, (), (1, 7), 1),
        ((10,), None, (), (1, 1), 1),
    ],
)
def test_layout_of_common_stacks(frames_shape, rgb, stacks, image, colours):
    layout = Layout.of(frames_shape, rgb)
    assert (layout.stacks_shape, layout.image_shape, layout.n_colours) == (stacks, image, colours)
    assert layout.spatial_shape == frames_shape[1:]
    assert layout.stack_shape == (frames_shape[0], *image, colours)


def test_guess_rgb_is_napari_s_rule():
    assert guess_rgb((32, 48, 3)) and guess_rgb((32, 48, 4)) and guess_rgb((5, 32, 48, 3))
    assert not guess_rgb((32, 3)) and not guess_rgb((32, 48, 5)) and not guess_rgb((3,))


def test_rgb_true_needs_a_colour_axis():
    with pytest.raises(ValueError, match="rgb=True"):
        Layout.of((10, 32, 48), rgb=True)


def test_stacks_are_views_of_the_frames_in_index_order():
    frames = np.arange(4 * 2 * 3 * 5 * 6).reshape(4, 2, 3, 5, 6)  # T, Z, C, Y, X
    layout = Layout.of(frames.shape)
    stacks = list(layout.stacks(frames))
    assert [index for index, _ in stacks] == [(z, c) for z in range(2) for c in range(3)]
    for (z, c), stack in stacks:
        assert stack.shape == (4, 5, 6, 1) and np.shares_memory(stack, frames)
        np.testing.assert_array_equal(stack[..., 0], frames[:, z, c])


def test_as_frames_and_cast_like():
    data = np.zeros((3, 4, 5), np.uint16)
    assert as_frames(data, 1).shape == (4, 3, 5)
    with pytest.raises(ValueError, match="out of range"):
        as_frames(data, 3)
    with pytest.raises(ValueError, match="no frames"):
        as_frames(np.zeros((0, 3)), 0)
    with pytest.raises(TypeError, match="integers or floats"):
        as_frames(np.zeros(3, bool), 0)
    assert cast_like(np.array([-3.0, 2.5, 70000.0]), np.uint16).tolist() == [0, 2, 65535]
    assert cast_like(np.array([2.25]), np.float32).dtype == np.float32


def test_time_first_is_the_shape_as_frames_gives():
    data = np.zeros((2, 5, 3, 4))
    assert time_first(data.shape, 1) == as_frames(data, 1).shape == (5, 2, 3, 4)
    assert time_first(data.shape, -1) == (4, 2, 5, 3)
    with pytest.raises(ValueError, match="out of range"):
        time_first(data.shape, 4)


def test_float_data_far_from_one_is_scaled_exactly_by_a_power_of_two():
    from napari_gmm_background.core.layout import SAFE_MAGNITUDES, exact_scale

    values = np.array([1.0, -3.0, 2.0**900])
    scale = exact_scale(values)
    assert np.log2(scale).is_integer() and SAFE_MAGNITUDES[0] <= 2.0**900 * scale <= 2.0**16
    np.testing.assert_array_equal((values * scale) / scale, values)  # exact both ways
    assert exact_scale(np.array([1e-300])) > 1 and exact_scale(np.array([5.0, 0.0])) == 1.0
    assert exact_scale(np.array([7, 2**40], dtype=np.int64)) == 1.0  # integers are never scaled
    with pytest.raises(ValueError, match="NaN or infinite"):
        exact_scale(np.array([1.0, np.inf]))
