import numpy as np
import pytest

from napari_gmm_background import extract_background
from napari_gmm_background.datasets import synthetic_traffic
from napari_gmm_background.methods.reference import extract_background_sklearn


def test_seed_loop_gives_the_background_and_agrees_with_the_engine():
    frames, truth = synthetic_traffic(n_frames=40, height=8, width=10, seed=9)
    reference = extract_background(frames, method="notebook", engine="sklearn", random_state=0)
    assert reference.shape == truth.shape and reference.dtype == np.uint8
    assert np.abs(reference.astype(int) - truth).mean() < 3
    ours = extract_background(frames, method="notebook")
    assert np.mean(np.abs(ours.astype(int) - reference) <= 1) > 0.75


def test_seed_loop_is_reproducible_with_a_seed():
    frames, _ = synthetic_traffic(n_frames=30, height=4, width=4, seed=10)
    first = extract_background_sklearn(frames, random_state=3)
    np.testing.assert_array_equal(extract_background_sklearn(frames, random_state=3), first)


def test_seed_loop_needs_enough_frames():
    with pytest.raises(ValueError, match="at least 2 frames"):
        extract_background_sklearn(np.zeros((1, 3, 3)))
