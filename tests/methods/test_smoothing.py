"""Smoothing where the background is smooth, and nowhere else."""

import numpy as np

from napari_gmm_background.core.noise import NoiseModel
from napari_gmm_background.methods.smoothing import smooth_where_flat


def test_a_smooth_field_loses_its_noise_and_a_speck_of_debris_stays():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:128, 0:128]
    field = 1000 + 300 * np.sin(yy / 40) * np.cos(xx / 50)
    field[60:63, 60:63] += 400  # a speck of debris, three pixels across
    n_frames, noise = 50, NoiseModel(100.0, 0.0, 1.0)  # 10 per frame
    estimate = field + rng.normal(0, 10 / np.sqrt(n_frames), field.shape)
    smoothed = smooth_where_flat(estimate, noise, n_frames)
    flat = np.ones(field.shape, bool)
    flat[55:68, 55:68] = False
    before = np.abs(estimate - field)[flat].mean()
    assert np.abs(smoothed - field)[flat].mean() < 0.7 * before
    assert np.abs(smoothed - field)[60:63, 60:63].max() < 10  # not blurred away


def test_a_flat_image_stays_exactly_as_it_is_and_small_images_are_left_alone():
    noise = NoiseModel(4.0, 0.0, 1.0)
    for value in (0.0, 7.0, 1e300):
        flat = np.full((32, 40), value)
        np.testing.assert_array_equal(smooth_where_flat(flat, noise, 20), flat)
    small = np.random.default_rng(1).normal(0, 1, (8, 40))
    np.testing.assert_array_equal(smooth_where_flat(small, noise, 20), small)


def test_colour_channels_are_smoothed_each_on_its_own():
    rng = np.random.default_rng(2)
    image = rng.normal(100, 1, (40, 48, 2))
    image[..., 1] += 50
    noise = NoiseModel(1.0, 0.0, 0.1)
    both = smooth_where_flat(image, noise, 1)
    for channel in range(2):
        np.testing.assert_array_equal(
            both[..., channel], smooth_where_flat(image[..., channel], noise, 1)
        )
