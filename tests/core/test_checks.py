"""One parameter check for every path: clear messages naming the parameter."""

import numpy as np
import pytest

from napari_gmm_background import (
    METHODS,
    choose_method,
    extract_background,
    fit_background_model,
)
from napari_gmm_background.core.checks import check_count, check_number
from napari_gmm_background.datasets import synthetic_traffic


@pytest.fixture(scope="module")
def frames():
    return synthetic_traffic(n_frames=12, height=16, width=20, seed=11)[0]


def test_counts_and_numbers():
    assert check_count("n", 3) == 3 and check_count("n", np.int64(2)) == 2
    for bad, error in ((0, ValueError), (True, TypeError), (2.0, TypeError), ("2", TypeError)):
        with pytest.raises(error, match="^n must be an integer >= 1"):
            check_count("n", bad)
    assert check_number("x", 0) == 0.0 and check_number("x", np.float32(1.5)) == 1.5
    for bad, error in (
        (-1, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("1", TypeError),
        (None, TypeError),
        (True, TypeError),
    ):
        with pytest.raises(error, match="^x must be a"):
            check_number("x", bad)
    with pytest.raises(ValueError, match="> 0"):
        check_number("x", 0.0, inclusive=False)


BAD_SETTINGS = [
    ({"n_components": 0}, "n_components"),
    ({"n_components": True}, "n_components"),
    ({"max_iter": 0}, "max_iter"),
    ({"tol": float("nan")}, "tol"),
    ({"tol": "1"}, "tol"),
    ({"reg_covar": 0.0}, "reg_covar"),
    ({"reg_covar": float("inf")}, "reg_covar"),
    ({"time_axis": 1.0}, "time_axis"),
    ({"time_axis": None}, "time_axis"),
]


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("bad, name", BAD_SETTINGS)
def test_every_method_names_the_bad_parameter(frames, method, bad, name):
    with pytest.raises((TypeError, ValueError), match=name):
        extract_background(frames, method=method, **bad)


@pytest.mark.parametrize("bad, name", BAD_SETTINGS)
def test_the_model_checks_the_same_way(frames, bad, name):
    with pytest.raises((TypeError, ValueError), match=name):
        fit_background_model(frames, **bad)


@pytest.mark.parametrize("method", ["gmm", "motionless", "motionless-gmm"])
@pytest.mark.parametrize(
    "bad, name",
    [
        ({"n_stillest": 0}, "n_stillest"),
        ({"n_stillest": 2.5}, "n_stillest"),
        ({"agreement": float("inf")}, "agreement"),
        ({"agreement": -1.0}, "agreement"),
        ({"n_component": 2}, "n_component"),
    ],
)
def test_motion_settings(frames, method, bad, name):
    with pytest.raises((TypeError, ValueError), match=name):
        extract_background(frames, method=method, **bad)


@pytest.mark.parametrize("threshold", [-1.0, float("nan"), float("inf")])
def test_mask_threshold(frames, threshold):
    model = fit_background_model(frames)
    with pytest.raises(ValueError, match="threshold"):
        model.foreground_mask(frames, threshold=threshold)


def test_a_mixture_on_the_stillest_frames_needs_that_many(frames):
    doubled = np.concatenate([frames, frames])  # 24 frames, of which 19 are kept
    with pytest.raises(ValueError, match="n_components=20 needs at least .* stillest"):
        extract_background(doubled, method="motionless-gmm", n_components=20)


def test_awkward_dtypes_are_computed_and_returned_in_their_type(frames):
    grey = frames[..., 1].astype(np.float64)
    expected = extract_background(grey)
    for dtype in (np.float16, ">f8", ">u2"):
        result = extract_background(grey.astype(dtype))
        assert result.dtype == np.dtype(dtype)
        np.testing.assert_allclose(result.astype(float), expected, rtol=1e-3, atol=0.5)
    with pytest.raises(TypeError, match="integers or floats"):
        extract_background(np.arange(60).reshape(15, 2, 2).astype("m8[s]"))


def test_64_bit_integers_beyond_exact_floats_are_refused_not_rounded():
    constant = np.full((5, 4, 4), 2**53, np.int64)
    np.testing.assert_array_equal(extract_background(constant), constant[0])
    for value in (np.iinfo(np.int64).max, -(2**62)):
        with pytest.raises(ValueError, match="2\\*\\*53"):
            extract_background(np.full((5, 4, 4), value, np.int64))
    with pytest.raises(ValueError, match="2\\*\\*53"):
        extract_background(np.full((5, 4, 4), 2**64 - 5, np.uint64))


def test_a_single_frame_with_nan_is_refused(frames):
    single = frames[:1].astype(np.float32)
    single[0, 3, 3, 1] = np.nan
    for method, row in METHODS.items():
        if method != "notebook":
            one = {"n_components": 1} if row.fits_mixtures else {}
            with pytest.raises(ValueError, match="NaN"):
                extract_background(single, method=method, **one)


def test_masks_of_nan_samples_and_frames_out_of_order_are_refused(frames, tmp_path):
    from napari_gmm_background.io import iter_video_frames

    from ..helpers import write_video

    model = fit_background_model(frames)
    holes = frames.astype(np.float32)
    holes[2, 3, 3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.foreground_mask(holes)
    path = write_video(tmp_path / "clip.avi", frames)
    with pytest.raises(ValueError, match="must ascend"):
        list(iter_video_frames(path, indices=range(10, 0, -1)))


@pytest.fixture(scope="module")
def small_video(tmp_path_factory):
    from ..helpers import write_video

    frames, _ = synthetic_traffic(n_frames=20, height=32, width=40, seed=1)
    return write_video(tmp_path_factory.mktemp("video") / "clip.avi", frames)


def _public_calls(frames, video):
    from napari_gmm_background import (
        apply_background,
        datasets,
        foreground_labels,
        io,
        iter_background,
        streaming,
    )

    background = frames[0]
    return {
        "extract_background": lambda **k: extract_background(frames, **k),
        "iter_background": lambda **k: list(iter_background(frames, **k)),
        "apply_background": lambda **k: apply_background(frames, background, **k),
        "foreground_labels": lambda **k: foreground_labels(frames, background, **k),
        "read_video": lambda **k: io.read_video(video, **k),
        "iter_video_frames": lambda **k: list(io.iter_video_frames(video, **k)),
        "open_video": lambda **k: io.open_video(video, **k),
        "read_video_dask": lambda **k: io.read_video_dask(video, **k),
        "video_background": lambda **k: streaming.video_background(video, **k),
        "synthetic_traffic": lambda **k: datasets.synthetic_traffic(**k),
        "fluorescence_movie": lambda **k: datasets.fluorescence_movie(**k),
        "transmitted_light_movie": lambda **k: datasets.transmitted_light_movie(4, 8, 8, **k),
        "fields_of_view": lambda **k: datasets.fields_of_view(**k),
        "choose_method": lambda **k: choose_method(frames, **k),
    }


@pytest.mark.parametrize(
    "function, parameter, value",
    [
        ("extract_background", "rgb", "yes"),
        ("extract_background", "per_frame", "no"),
        ("extract_background", "random_state", -1),
        ("iter_background", "keep_model", "x"),
        ("iter_background", "reading", "fast"),
        ("apply_background", "mode", "mul"),
        ("apply_background", "dark", float("nan")),
        ("foreground_labels", "min_size", 1.5),
        ("foreground_labels", "rgb", "x"),
        ("read_video", "rgb", 2),
        ("iter_video_frames", "indices", slice(0, 3)),
        ("open_video", "budget", "1G"),
        ("open_video", "budget", -1),
        ("read_video_dask", "frames_per_chunk", 1.5),
        ("video_background", "frames", "1:4"),
        ("video_background", "frames", slice(0, 5, 0)),
        ("video_background", "memory_budget", -5),
        ("video_background", "keep_model", "x"),
        ("synthetic_traffic", "n_frames", 1.5),
        ("synthetic_traffic", "noise", -1.0),
        ("synthetic_traffic", "seed", "s"),
        ("fluorescence_movie", "n_cells", -1),
        ("fluorescence_movie", "photons", -5.0),
        ("transmitted_light_movie", "halo", -0.5),
        ("transmitted_light_movie", "absorption", "much"),
        ("fields_of_view", "n_fields", 0),
        ("choose_method", "rgb", "yes"),
        ("choose_method", "time_axis", 5),
    ],
)
def test_every_public_parameter_is_checked_by_name(frames, small_video, function, parameter, value):
    call = _public_calls(frames, small_video)[function]
    with pytest.raises((TypeError, ValueError), match=parameter):
        call(**{parameter: value})
