"""Foreground labels from a background and the noise model."""

import numpy as np
import pytest

from napari_gmm_background import extract_background, foreground_labels
from napari_gmm_background.datasets import fluorescence_movie


def test_cells_are_found_and_little_else():
    movie = fluorescence_movie(40, 128, 128, n_cells=8, seed=4)
    background = extract_background(movie.frames, method="fluorescence")
    labels = foreground_labels(movie.frames, background, min_size=30)
    assert labels.shape == movie.frames.shape and labels.dtype == np.int32
    found = labels > 0
    precision = (found & movie.cells).sum() / found.sum()
    recall = (found & movie.cells).sum() / movie.cells.sum()
    assert precision > 0.95 and recall > 0.8


def test_min_size_drops_specks_and_rgb_any_channel():
    frames = np.zeros((3, 20, 20, 3), np.float32)
    rng = np.random.default_rng(0)
    frames += rng.normal(0, 1, frames.shape)
    frames[1, 2, 2, 0] = 50  # one bright pixel in one channel
    frames[1, 10:16, 10:16, 2] = 50
    labels = foreground_labels(frames, np.zeros((20, 20, 3)))
    assert labels.shape == (3, 20, 20) and labels[1, 2, 2] > 0 and labels[1, 12, 12] > 0
    big_only = foreground_labels(frames, np.zeros((20, 20, 3)), min_size=20)
    assert big_only[1, 2, 2] == 0 and big_only[1, 12, 12] == 1 and big_only[0].max() == 0


def test_shapes_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="neither"):
        foreground_labels(np.zeros((4, 8, 8)), np.zeros((5, 5)))
