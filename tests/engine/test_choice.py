"""What the default decides from the frames, and that it says so."""

import numpy as np
import pytest

from napari_gmm_background import (
    DriftWarning,
    choose_method,
    extract_background,
    iter_background,
)
from napari_gmm_background.core.progress import run_to_end
from napari_gmm_background.datasets import (
    fields_of_view,
    fluorescence_movie,
    synthetic_traffic,
    transmitted_light_movie,
)
from napari_gmm_background.engine.choice import describe_choices
from napari_gmm_background.engine.run import count_steps


def error(background, truth):
    return float(np.abs(background.astype(np.float64) - truth).mean())


@pytest.mark.parametrize(
    ("make", "method", "foreground", "of_median"),
    [
        (lambda: fluorescence_movie(60, 128, 128, n_cells=3, seed=1), "fluorescence", "adds", 0.7),
        (
            lambda: transmitted_light_movie(60, 128, 128, n_cells=3, seed=1),
            "transmitted",
            "takes",
            0.7,
        ),
        (  # halos as bright as the cells are dark: the hard case, about the median's
            lambda: transmitted_light_movie(60, 128, 128, n_cells=3, contrast="phase", seed=1),
            "gmm",
            "adds and takes",
            1.0,
        ),
        (lambda: fields_of_view(60, 128, 128, n_cells=3, seed=1), "gmm", "adds", 0.7),
    ],
    ids=["fluorescence", "brightfield", "phase", "fields of view"],
)
def test_the_default_picks_the_model_of_the_foreground_and_beats_the_median(
    make, method, foreground, of_median
):
    movie = make()
    [choice] = choose_method(movie.frames)
    assert choice.method == method and choice.foreground.startswith(foreground)
    assert choice.smoothed and choice.reason.startswith(method)
    truth = movie.background[0]
    ours = error(extract_background(movie.frames), truth)
    assert ours < of_median * error(np.median(movie.frames, axis=0), truth)
    # Smoothing where flat: better than the chosen method alone.
    assert ours < error(extract_background(movie.frames, method=method), truth)


def test_fields_of_view_are_told_from_a_time_lapse_by_how_frames_follow():
    [time_lapse] = choose_method(fluorescence_movie(60, 128, 128, n_cells=3, seed=2).frames)
    [fields] = choose_method(fields_of_view(60, 128, 128, n_cells=3, seed=2).frames)
    assert time_lapse.following < 0.5 < fields.following


def test_colour_video_keeps_the_gmm_unsmoothed():
    frames, _ = synthetic_traffic(n_frames=40, height=48, width=64, seed=3)
    [choice] = choose_method(frames)
    assert (choice.method, choice.foreground, choice.smoothed) == ("gmm", "colour", False)
    np.testing.assert_array_equal(
        extract_background(frames), extract_background(frames, method="gmm")
    )


def test_the_run_adds_the_choices_choose_method_makes_one_per_stack():
    first = fluorescence_movie(60, 128, 128, n_cells=3, seed=1).frames
    second = transmitted_light_movie(60, 128, 128, n_cells=3, seed=1).frames
    stack = np.stack([first, second], axis=1)  # T, C, Y, X
    choices = []
    background = run_to_end(iter_background(stack, choices=choices))
    assert [c.method for c in choices] == ["fluorescence", "transmitted"]
    assert choices == choose_method(stack)
    np.testing.assert_array_equal(background[1], extract_background(second))
    said = describe_choices(choices)
    assert said.startswith("auto chose fluorescence") and "transmitted" in said and "(x1)" in said


def test_the_default_counts_its_steps_before_the_run_in_memory_and_read_in_blocks():
    import dask.array as da

    from napari_gmm_background.core.reading import Reading

    frames = transmitted_light_movie(40, 64, 80, n_cells=2, seed=4).frames
    total = count_steps(frames.shape, dtype=frames.dtype)
    progress = list(_drain(iter_background(frames)))
    assert [p.done for p in progress] == list(range(1, total + 1))
    lazy = da.from_array(frames, chunks=(5, 64, 80))
    reading = Reading.of(lazy, part_bytes=4 * frames[0].nbytes, block_bytes=40 * 16 * 80 * 2)
    total = count_steps(lazy.shape, reading=reading, dtype=frames.dtype)
    steps = list(_drain(iter_background(lazy, reading=reading)))
    assert [p.done for p in steps] == list(range(1, total + 1))


def _drain(generator):
    while True:
        try:
            yield next(generator)
        except StopIteration:
            return


def test_a_static_run_says_the_brightness_drifts_and_a_static_movie_says_nothing():
    import warnings

    bleaching = fluorescence_movie(60, 128, 128, drift="bleaching", n_cells=2, seed=5)
    with pytest.warns(DriftWarning, match=r"drifts by (2\d|3\d) %.*per_frame=True.*--per-frame"):
        extract_background(bleaching.frames)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DriftWarning)
        extract_background(bleaching.frames, per_frame=True)  # what follows the drift
        extract_background(fluorescence_movie(60, 128, 128, n_cells=2, seed=5).frames)


def test_lazy_data_is_chosen_for_from_its_sampled_frames_alone():
    import dask.array as da

    frames = fluorescence_movie(100, 96, 96, n_cells=2, seed=6).frames
    lazy = da.from_array(frames, chunks=(10, 96, 96))
    assert choose_method(lazy) == choose_method(frames)
    np.testing.assert_array_equal(extract_background(lazy).compute(), extract_background(frames))


def _densest_runs_counted(rows, width):
    """Each row's densest run ``width`` wide by counting from every start, and its median."""
    medians = []
    for ratios in np.sort(rows, axis=1):
        counts = np.searchsorted(ratios, ratios + width, side="right") - np.arange(len(ratios))
        start = int(np.argmax(counts))
        medians.append(np.median(ratios[start : start + counts[start]]))
    return np.array(medians)


@pytest.mark.parametrize("kind", ["noise", "clustered", "tied"])
def test_the_compiled_searches_find_the_runs_a_count_from_every_start_finds(kind):
    from napari_gmm_background.engine.choice import _brightness, densest_level

    rng = np.random.default_rng(3)
    n_frames, n_pixels = 40, 500
    if kind == "noise":
        values = rng.normal(100, 5, (n_frames, n_pixels))
    elif kind == "clustered":  # a background and a brighter foreground over a third of the frames
        values = rng.normal(100, 2, (n_frames, n_pixels))
        values[rng.random((n_frames, n_pixels)) < 0.35] += 40
    else:
        values = rng.integers(0, 4, (n_frames, n_pixels)).astype(np.float64) + 1
    width = np.full(n_pixels, 6.0)
    ordered = np.sort(values, axis=0)
    counted = []
    for column in ordered.T:
        counts = np.searchsorted(column, column + 6.0, side="right") - np.arange(n_frames)
        start = int(np.argmax(counts))
        counted.append(column[start : start + counts[start]].mean())
    # the same run of samples (its sum taken in another order)
    np.testing.assert_allclose(densest_level(values, width), counted, rtol=1e-12)
    level, std = np.full(n_pixels, 100.0), np.full(n_pixels, 2.0)
    brightness, _ = _brightness(values, level, std)
    assert np.array_equal(brightness, _densest_runs_counted(values / level, 2 * 2.0 / 100))
