"""The noise model: variance as a line of the level."""

import numpy as np

from napari_gmm_background.core.noise import estimate_noise_model


def test_shot_noise_grows_with_the_light():
    rng = np.random.default_rng(0)
    light = np.linspace(100, 1000, 64)[None, None, :] * np.ones((60, 32, 64))
    frames = (2.0 * rng.poisson(light) + rng.normal(0, 3, light.shape)).astype(np.float32)
    model = estimate_noise_model(frames)
    for level in (400.0, 1800.0):  # 2 ADU per photon: variance = 2 * level + 9
        assert abs(model.std(level) / np.sqrt(2 * level + 9) - 1) < 0.12


def test_constant_noise_and_too_few_frames():
    rng = np.random.default_rng(1)
    model = estimate_noise_model(rng.normal(50, 4, (40, 32, 32)))
    assert model.gain == 0 or model.gain < 0.05
    assert abs(model.std(50.0) - 4) < 0.4
    single = estimate_noise_model(np.zeros((1, 8, 8), np.uint8))
    assert single.std(10.0) == np.sqrt(1 / 12)


def test_column_medians_are_numpys_medians_for_few_and_many_rows():
    from napari_gmm_background.core.noise import column_medians

    rng = np.random.default_rng(2)
    for n_rows in (1, 2, 7, 64, 513):
        values = np.round(rng.normal(100, 5, (n_rows, 300, 3)))  # ties, as integers give
        assert np.array_equal(column_medians(values), np.median(values, axis=0))
