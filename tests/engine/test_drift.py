"""Per-frame backgrounds: gain per frame, change points."""

import numpy as np
import pytest

from napari_gmm_background import DriftWarning, SceneChangeWarning, extract_background
from napari_gmm_background.datasets import fluorescence_movie
from napari_gmm_background.engine.drift import find_changes


def test_bleaching_is_followed_frame_by_frame():
    movie = fluorescence_movie(100, 128, 128, drift="bleaching", n_cells=2, seed=2)
    backgrounds = extract_background(movie.frames, method="fluorescence", per_frame=True)
    assert backgrounds.shape == movie.frames.shape and backgrounds.dtype == np.uint16
    with pytest.warns(DriftWarning, match=r"drifts by \d+ %.*per_frame=True"):
        static = extract_background(movie.frames, method="fluorescence")
    per_frame_error = np.abs(backgrounds - movie.background).mean()
    static_error = np.abs(static[None].astype(float) - movie.background).mean()
    assert per_frame_error < 0.5 * static_error


def test_time_axis_is_kept_where_it_was():
    movie = fluorescence_movie(30, 48, 40, drift="bleaching", n_cells=2, seed=1)
    moved = np.moveaxis(movie.frames, 0, 2)
    first = extract_background(movie.frames, method="motionless", per_frame=True)
    second = extract_background(moved, method="motionless", per_frame=True, time_axis=2)
    np.testing.assert_array_equal(np.moveaxis(second, 2, 0), first)


def test_a_sudden_scene_change_is_found_and_named():
    rng = np.random.default_rng(0)
    before = 300 + 200 * rng.random((64, 64))
    after = 300 + 200 * rng.random((64, 64))
    frames = np.stack([before if t < 37 else after for t in range(80)])
    frames = frames + rng.normal(0, 3, frames.shape)
    assert find_changes(frames[..., None]) == (37,)
    with pytest.warns(SceneChangeWarning, match="frame 37"):
        backgrounds = extract_background(frames, method="motionless", per_frame=True)
    assert np.abs(backgrounds[:37] - before).mean() < 2
    assert np.abs(backgrounds[37:] - after).mean() < 2


def test_a_still_movie_has_no_change_points():
    movie = fluorescence_movie(60, 64, 64, n_cells=4, seed=5)
    assert find_changes(movie.frames[..., None].astype(np.float32)) == ()
