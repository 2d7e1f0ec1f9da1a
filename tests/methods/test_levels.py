"""The fluorescence method: each pixel's dimmest steady level."""

import numpy as np

from napari_gmm_background import extract_background
from napari_gmm_background.datasets import fluorescence_movie


def test_cells_that_add_light_do_not_pull_the_level_up():
    movie = fluorescence_movie(60, 96, 96, n_cells=6, seed=3)
    truth = movie.background[0]
    ours = extract_background(movie.frames, method="fluorescence").astype(float)
    median = np.median(movie.frames, axis=0)
    assert np.abs(ours - truth).mean() < 0.5 * np.abs(median - truth).mean()
    # Only noise: the level is the centre (no bias from the one-sided window).
    untouched = ~movie.touched
    assert abs((ours - truth)[untouched].mean()) < 5  # a tenth of the noise


def test_a_cell_that_never_leaves_is_filled_in():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:80, 0:80]
    truth = 500 + 2.0 * xx  # a smooth ramp
    cell = 800 * np.exp(-((yy - 40) ** 2 + (xx - 40) ** 2) / (2 * 6**2))
    frames = np.stack(
        [truth + np.roll(cell, t // 10, axis=1) + rng.normal(0, 5, truth.shape) for t in range(60)]
    )
    ours = extract_background(frames, method="fluorescence")
    assert np.abs(ours - truth)[35:45, 35:45].max() < 50  # under the cell (800 over it), the ramp
