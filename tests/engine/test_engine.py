"""The front door: the method table, layouts, steps, models, for every method."""

import numpy as np
import pytest

from napari_gmm_background import METHODS, extract_background, fit_background_model
from napari_gmm_background.datasets import synthetic_timelapse, synthetic_traffic
from napari_gmm_background.engine.run import (
    DEFAULT_METHOD,
    count_steps,
    get_method,
    iter_background,
)

from ..helpers import drain, kernels_compiled_by

ALL_METHODS = list(METHODS)


@pytest.fixture(scope="module")
def two_channel_stack():
    """T, C, Y, X: two different uint16 time-lapses as channels."""
    first, _ = synthetic_timelapse(40, 48, 56, n_cells=4, seed=11)
    second, _ = synthetic_timelapse(40, 48, 56, n_cells=6, seed=12)
    return np.stack([first, second], axis=1)


def test_the_table_names_every_method_once_with_its_help():
    assert DEFAULT_METHOD in METHODS
    assert len(ALL_METHODS) == len(set(ALL_METHODS)) >= 3
    for name, row in METHODS.items():
        assert row.name == name and row.summary and row.estimate
        assert get_method(name) is row
    with pytest.raises(ValueError, match="method must be one of"):
        get_method("mode")


@pytest.mark.parametrize("method", ALL_METHODS)
def test_tcyx_channels_are_independent_stacks(two_channel_stack, method):
    result = extract_background(two_channel_stack, method=method)
    assert result.shape == (2, 48, 56) and result.dtype == np.uint16
    for channel in range(2):
        np.testing.assert_array_equal(
            result[channel], extract_background(two_channel_stack[:, channel], method=method)
        )
    # C, T, Y, X: time second gives the same.
    ctyx = np.ascontiguousarray(np.moveaxis(two_channel_stack, 1, 0))
    np.testing.assert_array_equal(extract_background(ctyx, time_axis=1, method=method), result)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_tzyx_rgb_slices_are_independent_stacks(method):
    frames, _ = synthetic_traffic(n_frames=30, height=36, width=44, seed=13)
    tzyxc = np.stack([frames, frames[:, ::-1], frames[::-1]], axis=1)  # T, Z, Y, X, RGB
    result = extract_background(tzyxc, method=method)
    assert result.shape == (3, 36, 44, 3)
    for z in range(3):
        np.testing.assert_array_equal(result[z], extract_background(tzyxc[:, z], method=method))


@pytest.mark.parametrize("method", ALL_METHODS)
def test_rgb_false_makes_a_short_last_axis_an_image_axis(method):
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 200, (25, 4, 20, 3), dtype=np.uint8)  # T, Z, Y, X with X = 3
    result = extract_background(frames, method=method, rgb=False)
    for z in range(4):
        np.testing.assert_array_equal(
            result[z], extract_background(frames[:, z], method=method, rgb=False)
        )
    with pytest.raises(ValueError, match="rgb=True"):
        extract_background(frames[..., :2], method=method, rgb=True)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_a_series_is_a_row_of_pixels_and_a_single_series_one_pixel(method):
    frames, _ = synthetic_traffic(n_frames=30, height=1, width=24, seed=14)
    row = extract_background(frames[:, 0], method=method)  # (T, X, RGB), read as napari does
    as_image = extract_background(frames, method=method)[0]
    if METHODS[method].per_pixel:
        np.testing.assert_array_equal(row, as_image)
    else:  # napari reads (T, 24, 3) as a grey 24 x 3 image: motion is measured on other pixels
        assert row.shape == as_image.shape
        assert np.abs(row.astype(int) - as_image).max() <= 1
    pixel = extract_background(frames[:, 0, 5], method=method, rgb=False)
    assert pixel.shape == (3,)
    grey_pixel = extract_background(frames[:, 0, 5, 1], method=method)
    assert grey_pixel.shape == ()


@pytest.mark.parametrize("method", ALL_METHODS)
@pytest.mark.parametrize("keep_model", [False, True])
def test_steps_are_counted_before_the_run(two_channel_stack, method, keep_model):
    data = two_channel_stack[:, :, :, :30]
    steps, result = drain(iter_background(data, method=method, keep_model=keep_model))
    assert len(steps) == count_steps(data.shape, method=method, keep_model=keep_model)
    assert [step.done for step in steps] == list(range(1, len(steps) + 1))
    assert all(step.total == len(steps) for step in steps)
    background = result[0] if keep_model else result
    np.testing.assert_array_equal(background, extract_background(data, method=method))
    if keep_model:
        expected = fit_background_model(data)
        np.testing.assert_array_equal(result[1].means, expected.means)


def test_a_run_can_be_abandoned_between_steps(two_channel_stack):
    generator = iter_background(two_channel_stack, method="motionless")
    first = next(generator)
    generator.close()
    assert first.done == 1 and first.total > 1


@pytest.mark.parametrize("method", ALL_METHODS)
def test_dask_input_gives_a_lazy_result_for_every_method(two_channel_stack, method):
    da = pytest.importorskip("dask.array")
    lazy = extract_background(
        da.from_array(two_channel_stack, chunks=(7, 1, 20, 20)), method=method
    )
    assert isinstance(lazy, da.Array) and lazy.shape == (2, 48, 56)
    np.testing.assert_array_equal(
        lazy.compute(), extract_background(two_channel_stack, method=method)
    )


def test_parameters_are_checked_once_for_every_method():
    frames = np.zeros((10, 8, 8), np.uint8)
    for name in ALL_METHODS:
        for bad, match in (
            ({"n_components": 0}, "n_components"),
            ({"max_iter": 0}, "max_iter"),
            ({"tol": float("nan")}, "tol"),
            ({"reg_covar": -1.0}, "reg_covar"),
            ({"engine": "cuda"}, "engine"),
        ):
            with pytest.raises(ValueError, match=match):
                extract_background(frames, method=name, **bad)


def test_the_command_line_offers_exactly_the_table(capsys):
    from napari_gmm_background.cli.arguments import parser as _parser

    [method_action] = [a for a in _parser()._actions if a.dest == "method"]
    assert list(method_action.choices) == ALL_METHODS
    assert method_action.default == DEFAULT_METHOD
    for row in METHODS.values():
        assert row.summary in method_action.help


def test_the_default_beats_the_median_and_the_notebook_rule_on_a_fluorescence_movie():
    from napari_gmm_background.datasets import synthetic_fluorescence

    frames, truth, touched = synthetic_fluorescence(
        80, 128, 128, n_cells=4, seed=5, with_cell_mask=True
    )
    errors = {
        name: extract_background(frames, method=name).astype(float) - truth
        for name in ("gmm", "notebook")
    }
    errors["median"] = np.median(frames, axis=0) - truth
    age = {name: np.abs(error).mean() for name, error in errors.items()}
    assert age["gmm"] < 0.7 * age["median"] and age["gmm"] < 0.6 * age["notebook"], age
    # Where only noise ever was, the default is as unbiased as the median.
    noise_only = errors["gmm"][~touched]
    assert abs(noise_only.mean()) < 1.0 and np.abs(noise_only).mean() < 6.0


def test_the_default_paints_no_false_colours_on_the_sample():
    import cv2

    frames, truth = synthetic_traffic()

    def chroma(image):
        return cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)[..., 1:].astype(float)

    off = np.hypot(*np.moveaxis(chroma(extract_background(frames)) - chroma(truth), -1, 0))
    assert (off > 20).mean() <= 0.001  # the bar: at most 0.1 % of the pixels
    assert np.abs(extract_background(frames).astype(float) - truth).mean() < 0.3


@pytest.mark.parametrize("colour", [False, True])
def test_after_warm_up_a_run_compiles_nothing(tmp_path, colour):
    """A colour video only ever runs gmm under the default: warming that alone is enough."""
    setup = f"""
import numpy as np
from napari_gmm_background.engine import is_warm, warm_up
colour = {colour}
warm_up(np.uint8, colour=colour)
assert is_warm(np.uint8, colour=colour) and not is_warm(np.uint16, colour=colour)
assert is_warm(np.uint8, colour=not colour) == (not colour)  # all candidates cover colour too
"""
    run = """
from napari_gmm_background import extract_background
from napari_gmm_background.datasets import synthetic_traffic
extract_background(synthetic_traffic(n_frames=40)[0])
"""
    assert kernels_compiled_by(setup, run, tmp_path / "cache") == []


@pytest.mark.parametrize("power", [1000, -990])
def test_float_data_near_the_limits_of_float64_gives_the_same_background(power):
    """Nothing overflows inside: finite data is not taken for NaN, and comes back exact."""
    rng = np.random.default_rng(0)
    frames = np.abs(rng.normal(100, 5, (30, 40, 48)))
    far = frames * 2.0**power
    for method in METHODS:
        background = extract_background(far, method=method)
        assert np.isfinite(background).all(), method
        if method == "notebook":  # reg_covar is a variance floor in the data's units
            np.testing.assert_allclose(
                background / 2.0**power, extract_background(frames, method=method), rtol=1e-3
            )
        else:
            np.testing.assert_array_equal(
                background / 2.0**power, extract_background(frames, method=method)
            )
    per_frame = extract_background(far, method="fluorescence", per_frame=True)
    assert per_frame.dtype == np.float64
    np.testing.assert_array_equal(
        per_frame / 2.0**power, extract_background(frames, method="fluorescence", per_frame=True)
    )


def test_lazy_data_too_large_to_compute_is_refused_for_what_it_is():
    da = pytest.importorskip("dask.array")
    frames = np.abs(np.random.default_rng(1).normal(100, 5, (20, 32, 40))) * 1e300
    with pytest.raises(ValueError, match="beyond what the computation holds") as refused:
        extract_background(da.from_array(frames, chunks=(5, 32, 40))).compute()
    assert "NaN" not in str(refused.value)


def test_a_warm_up_still_running_is_not_started_again(monkeypatch):
    from napari_gmm_background.engine import compiling

    monkeypatch.setattr(compiling, "_warm", set())  # as in a fresh process
    first = compiling.start_warm_up(np.uint8, "motionless")
    again = compiling.start_warm_up(np.uint8, "motionless")
    assert first is not None and again is first
    first.join()
    assert compiling.start_warm_up(np.uint8, "motionless") is None  # warm now
