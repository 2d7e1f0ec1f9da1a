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


def test_transmitted_light_cells_take_light_away_with_a_halo_bright_in_phase():
    from napari_gmm_background.datasets import transmitted_light_movie

    for contrast in ("brightfield", "phase"):
        movie = transmitted_light_movie(20, 64, 64, n_cells=3, contrast=contrast, seed=1)
        assert movie.frames.shape == (20, 64, 64) and movie.frames.dtype == np.uint16
        change = movie.frames.astype(np.float64) - movie.background
        darker = change[movie.cells & (change < 0)]
        brighter = change[movie.cells & (change > 0)]
        assert darker.size and np.median(np.abs(darker)) > 0.1 * movie.background.mean()
        # The halo: faint in bright field (about the noise), strong in phase.
        halo = np.median(brighter) / np.median(np.abs(darker))
        assert halo > 0.5 if contrast == "phase" else halo < 0.3
        np.testing.assert_array_equal(
            movie.frames,
            transmitted_light_movie(20, 64, 64, n_cells=3, contrast=contrast, seed=1).frames,
        )
    with pytest.raises(ValueError, match="contrast"):
        transmitted_light_movie(4, 8, 8, contrast="dic")


def test_fields_of_view_share_one_flat_field_and_no_frame_follows_another():
    from napari_gmm_background.datasets import fields_of_view, fluorescence_movie

    def overlap(cells):  # the share of a frame's cells where the frame before had some
        return (cells[:-1] & cells[1:]).sum() / cells[1:].sum()

    movie = fields_of_view(10, 128, 128, n_cells=2, seed=2)
    assert movie.frames.shape == (10, 128, 128)
    assert (movie.background == movie.background[0]).all()
    # Each field its own cells: they overlap by chance alone, unlike a time-lapse's.
    assert overlap(movie.cells) < movie.cells.mean() + 0.1
    assert overlap(fluorescence_movie(10, 128, 128, n_cells=2, seed=2).cells) > 0.8
