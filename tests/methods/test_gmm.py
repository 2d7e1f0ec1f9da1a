import warnings

import numpy as np
import pytest

from napari_gmm_background import (
    BackgroundModel,
    Progress,
    fit_background_model,
    iter_fit_background_model,
)
from napari_gmm_background.datasets import synthetic_timelapse, synthetic_traffic
from napari_gmm_background.methods.gmm import EMSettings, plan_fit
from napari_gmm_background.methods.reference import fit_pixel_sklearn

from ..helpers import drain, shared_file


def notebook(data, **kwargs):
    """The notebook's rule, which this module's engine computes."""
    from napari_gmm_background import extract_background

    return extract_background(data, method="notebook", **kwargs)


def sklearn_agreement(frames: np.ndarray, n_pixels: int = 400, seed: int = 0):
    """Within-1-grey-level agreement on sampled pixel-channels.

    Returns (ours vs scikit-learn, scikit-learn vs scikit-learn), each
    averaged over three scikit-learn seeds (pairs of seeds for the second):
    the second is how well the reference agrees with itself.
    """
    flat = frames.reshape(frames.shape[0], -1)
    rng = np.random.default_rng(seed)
    columns = rng.choice(flat.shape[1], n_pixels, replace=False)
    ours = notebook(flat[:, columns]).astype(float)
    ours_vs_ref, ref_vs_ref = [], []
    for j, column in enumerate(columns):
        fits = [fit_pixel_sklearn(flat[:, column], random_state=s) for s in (1, 2, 3)]
        ref = np.array([g.means_[np.argmax(g.weights_), 0] for g in fits])
        ours_vs_ref.append(np.mean(np.abs(ours[j] - ref) <= 1))
        ref_vs_ref.append(np.mean(np.abs(ref - np.roll(ref, 1)) <= 1))
    return np.mean(ours_vs_ref), np.mean(ref_vs_ref)


def test_agrees_with_sklearn_on_a_decoded_video(traffic_frames):
    ours, reference = sklearn_agreement(traffic_frames)
    assert ours >= reference - 0.02, (ours, reference)


@pytest.mark.parametrize("clip", ["traffic.avi", "highway1.avi"])
def test_agrees_with_sklearn_on_shared_clips(clip):
    from napari_gmm_background.io import read_video

    frames = read_video(shared_file("cdnet", clip))
    ours, reference = sklearn_agreement(frames, n_pixels=500)
    assert ours >= reference - 0.02, (ours, reference)


def test_recovers_known_mixtures():
    rng = np.random.default_rng(2)
    n_frames, n_pixels = 400, 64
    background = rng.uniform(40, 200, n_pixels)
    foreground = background + rng.choice([-1, 1], n_pixels) * rng.uniform(40, 60, n_pixels)
    is_foreground = rng.random((n_frames, n_pixels)) < rng.uniform(0.05, 0.35, n_pixels)
    data = np.where(is_foreground, foreground, background) + rng.normal(0, 3, (n_frames, n_pixels))

    model = fit_background_model(data)
    np.testing.assert_allclose(model.background_mean, background, atol=0.6)
    np.testing.assert_allclose(model.background_std, 3, atol=0.6)
    np.testing.assert_allclose(model.background_weight, 1 - is_foreground.mean(0), atol=0.01)
    np.testing.assert_allclose(model.weights.sum(-1), 1)


def test_recovers_the_synthetic_traffic_background():
    frames, truth = synthetic_traffic(n_frames=100, height=60, width=80, seed=1)
    background = notebook(frames)
    error = np.abs(background.astype(int) - truth)
    assert error.mean() < 2.0
    assert np.percentile(error, 95) <= 5


def test_agrees_with_sklearn_on_a_uint16_timelapse():
    """16-bit, nearly every value distinct: the least favourable case measured.

    On real 8-bit clips our k-means optimum agrees with scikit-learn more
    often than scikit-learn agrees with itself. On this synthetic uint16
    stack it agrees about 0.01-0.025 less often (README, "Agreement"), so the
    bound here is 0.04.
    """
    frames, _ = synthetic_timelapse(n_frames=80, height=48, width=48, n_cells=4, seed=4)
    assert notebook(frames).dtype == np.uint16
    ours, reference = sklearn_agreement(frames, n_pixels=600)
    assert ours >= reference - 0.04, (ours, reference)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32, np.float32, np.float64])
def test_dtypes_give_the_same_background(dtype):
    frames, _ = synthetic_traffic(n_frames=40, height=16, width=24, seed=2)
    reference = notebook(frames)
    result = notebook(frames.astype(dtype))
    assert result.dtype == dtype
    assert result.shape == reference.shape
    assert np.abs(result.astype(float) - reference).max() <= 0.5 + 1e-9


def test_float_result_is_not_rounded():
    data = np.array([1.25, 1.25, 1.25, 9.0])[:, None].astype(np.float32)
    background = notebook(data)
    assert background.dtype == np.float32
    assert background[0] == pytest.approx(1.25)


def test_integer_result_is_rounded_and_clipped():
    data = np.zeros((10, 3), dtype=np.uint8)
    data[:, 0] = [254, 255] * 5
    data[:, 1] = [0, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    data[:, 2] = [7] * 3 + [8] * 7
    background = notebook(data)
    assert background.tolist() == [254, 1, 8]


@pytest.mark.parametrize("time_axis", [0, 1, 2, -1])
def test_any_time_axis(time_axis):
    frames, _ = synthetic_traffic(n_frames=30, height=12, width=10, seed=5)
    reference = notebook(frames)
    moved = np.moveaxis(frames, 0, time_axis)
    result = notebook(moved, time_axis=time_axis)
    np.testing.assert_array_equal(result, reference)


def test_layouts_strides_and_extra_axes():
    frames, _ = synthetic_traffic(n_frames=30, height=12, width=10, seed=5)
    reference = notebook(frames)
    np.testing.assert_array_equal(notebook(np.asfortranarray(frames)), reference)
    np.testing.assert_array_equal(notebook(frames[:, ::2, ::3]), reference[::2, ::3])
    # T, Z, Y, X: the channel axis of the RGB frames stands in for Z.
    tzyx = np.ascontiguousarray(np.moveaxis(frames, 3, 1))
    np.testing.assert_array_equal(notebook(tzyx), np.moveaxis(reference, 2, 0))
    # Z, T, Y, X with time second.
    ztyx = np.ascontiguousarray(np.moveaxis(tzyx, 1, 0))
    np.testing.assert_array_equal(notebook(ztyx, time_axis=1), np.moveaxis(reference, 2, 0))
    # Columns stored before rows: the pixels do not flatten into long views.
    columns_first = np.ascontiguousarray(frames.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
    np.testing.assert_array_equal(notebook(columns_first), reference)
    # A single pixel's series gives a 0-d background.
    single = notebook(frames[:, 0, 0, 0])
    assert single.shape == () and single == reference[0, 0, 0]


def test_is_deterministic():
    frames, _ = synthetic_traffic(n_frames=50, height=30, width=40, seed=6)
    first = notebook(frames.astype(np.float64))
    for _ in range(3):
        np.testing.assert_array_equal(notebook(frames.astype(np.float64)), first)


def test_degenerate_pixels_have_defined_answers_and_no_warnings():
    data = np.zeros((6, 5), dtype=np.uint16)
    data[:, 0] = 7  # constant
    data[:, 1] = [3, 3, 3, 3, 9, 9]  # two values, two components
    data[:, 2] = [65535] * 6  # at the top of the range
    data[:, 3] = [1, 2, 3, 4, 5, 6]  # all distinct
    data[:, 4] = [0, 0, 0, 0, 0, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = fit_background_model(data)
        background = notebook(data)
    assert background.tolist()[:3] == [7, 3, 65535]
    assert background[4] == 0
    for array in (model.weights, model.means, model.variances):
        assert np.all(np.isfinite(array))
    assert model.n_iter[0] == 0 and model.n_iter[3] > 0


def test_no_more_components_than_frames():
    # scikit-learn's rule: a huge n_components on a short clip is refused at once.
    data = np.array([[5, 10]], dtype=np.uint8)  # one frame, two pixels
    assert notebook(data, n_components=1).tolist() == [5, 10]
    data = np.array([[5], [10], [10]], dtype=np.float64)
    assert notebook(data, n_components=3).tolist() == [10.0]
    assert notebook(data, n_components=1).tolist() == [pytest.approx(25 / 3)]
    for n_components in (4, 10**6):
        with pytest.raises(ValueError, match=f"n_components={n_components} needs at least"):
            notebook(data, n_components=n_components)


def test_more_components():
    rng = np.random.default_rng(3)
    data = np.concatenate(
        [rng.normal(50, 2, (300, 10)), rng.normal(120, 2, (100, 10)), rng.normal(200, 2, (60, 10))]
    )
    model = fit_background_model(data, n_components=3)
    np.testing.assert_allclose(np.sort(model.means, axis=-1), [[50, 120, 200]] * 10, atol=1)
    np.testing.assert_allclose(model.background_mean, 50, atol=0.5)


def test_nan_is_a_clear_error():
    data = np.ones((5, 4), dtype=np.float32)
    data[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        notebook(data)
    data[2, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        notebook(data)


@pytest.mark.parametrize(
    "data, kwargs, error, match",
    [
        (np.zeros((0, 4, 4)), {}, ValueError, "no frames"),
        (np.zeros((4, 4), bool), {}, TypeError, "integers or floats"),
        (np.zeros((4, 4), complex), {}, TypeError, "integers or floats"),
        (np.zeros((4, 4)), {"time_axis": 2}, ValueError, "out of range"),
        (np.zeros((4, 4)), {"n_components": 0}, ValueError, "n_components"),
        (np.zeros((4, 4)), {"max_iter": 0}, ValueError, "max_iter"),
        (np.zeros((4, 4)), {"tol": -1}, ValueError, "tol"),
        (np.zeros((4, 4)), {"reg_covar": 0}, ValueError, "reg_covar"),
        (np.zeros((4, 4)), {"engine": "cuda"}, ValueError, "engine"),
        (np.float64(3.0), {}, ValueError, "time axis"),
    ],
)
def test_bad_input_is_a_clear_error(data, kwargs, error, match):
    with pytest.raises(error, match=match):
        notebook(data, **kwargs)


def test_model_background_equals_extract_background(traffic_frames):
    model = fit_background_model(traffic_frames)
    assert isinstance(model, BackgroundModel)
    assert model.weights.shape == traffic_frames.shape[1:] + (2,)
    np.testing.assert_array_equal(model.background(), notebook(traffic_frames))
    assert model.converged.all()


def test_foreground_mask_marks_the_vehicles():
    frames, truth = synthetic_traffic(n_frames=60, height=48, width=64, noise=2.0, seed=7)
    model = fit_background_model(frames)
    mask = model.foreground_mask(frames, threshold=5.0).any(axis=-1)
    vehicles = (np.abs(frames.astype(int) - truth) > 30).any(axis=-1)
    recall = (mask & vehicles).sum() / vehicles.sum()
    false_alarms = (mask & ~vehicles).sum() / (~vehicles).sum()
    assert recall > 0.99 and false_alarms < 0.01
    # Another time axis, and frames the model was not fitted on.
    moved = model.foreground_mask(np.moveaxis(frames[:5], 0, -1), time_axis=-1)
    np.testing.assert_array_equal(np.moveaxis(moved, -1, 0), model.foreground_mask(frames[:5]))
    with pytest.raises(ValueError, match="do not match"):
        model.foreground_mask(frames[:, :10])


def test_progress_generator_reports_and_returns_the_model():
    frames, _ = synthetic_traffic(n_frames=20, height=240, width=320, seed=8)
    steps, model = drain(iter_fit_background_model(frames))
    planned = plan_fit(frames.shape, EMSettings(), lambda: frames, store_model=True)
    assert len(steps) == planned.n_steps > 1
    assert all(isinstance(step, Progress) for step in steps)
    assert [s.done for s in steps] == list(range(1, len(steps) + 1))
    assert steps[-1].done == steps[-1].total
    np.testing.assert_array_equal(model.background(), notebook(frames))


def test_progress_generator_can_be_abandoned():
    frames, _ = synthetic_traffic(n_frames=20, height=240, width=320, seed=8)
    generator = iter_fit_background_model(frames)
    first = next(generator)
    generator.close()
    assert 0 < first.done < first.total
