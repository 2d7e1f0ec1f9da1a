"""Videos longer than memory: histograms over decoding passes, the same answer."""

import numpy as np
import pytest

from napari_gmm_background import extract_background, fit_background_model
from napari_gmm_background.datasets import synthetic_traffic
from napari_gmm_background.io import read_video
from napari_gmm_background.io.streaming import iter_video_background, video_background

from ..helpers import drain, write_video


@pytest.fixture(scope="module")
def road(tmp_path_factory):
    frames, _ = synthetic_traffic(n_frames=45, height=40, width=56, seed=21)
    path = write_video(tmp_path_factory.mktemp("stream") / "road.avi", frames)
    return path, read_video(path)


@pytest.mark.parametrize("budget", [60_000, 10**9])  # several passes; all in memory
def test_streamed_background_is_bit_identical(road, budget):
    path, frames = road
    np.testing.assert_array_equal(
        video_background(path, memory_budget=budget, method="notebook"),
        extract_background(frames, method="notebook"),
    )


def test_the_default_method_runs_in_memory_and_says_so_over_the_budget(road):
    path, frames = road
    np.testing.assert_array_equal(video_background(path), extract_background(frames))
    with pytest.raises(ValueError, match="'notebook'"):
        video_background(path, memory_budget=60_000)


def test_streamed_model_equals_the_in_memory_model(road):
    path, frames = road
    background, model = video_background(
        path, memory_budget=60_000, keep_model=True, method="notebook"
    )
    expected = fit_background_model(frames)
    np.testing.assert_array_equal(background, expected.background())
    for name in ("weights", "means", "variances", "n_iter", "converged"):
        np.testing.assert_array_equal(getattr(model, name), getattr(expected, name))


def test_progress_has_decode_and_fit_stages_over_every_pass(road):
    path, _ = road
    steps, _ = drain(iter_video_background(path, memory_budget=60_000, method="notebook"))
    assert [s.done for s in steps] == list(range(1, len(steps) + 1))
    assert {s.total for s in steps} == {len(steps)}
    decode = [s for s in steps if s.stage == "decode"]
    fit = [s for s in steps if s.stage == "fit"]
    assert decode and fit and len(decode) + len(fit) == len(steps)
    # Decoding counts frames: the 45 of each pass, more than one pass.
    assert decode[-1].stage_done == decode[-1].stage_total and decode[-1].stage_total % 45 == 0
    assert decode[-1].stage_total > 45
    assert fit[-1].stage_done == fit[-1].stage_total == decode[-1].stage_total // 45


def test_frame_selection(road):
    path, frames = road
    np.testing.assert_array_equal(
        video_background(path, frames=slice(3, 40, 2), memory_budget=60_000, method="notebook"),
        extract_background(frames[3:40:2], method="notebook"),
    )
    with pytest.raises(ValueError, match="no frames selected"):
        video_background(path, frames=slice(50, 60))


def test_methods_that_need_memory_run_in_memory_or_are_refused_before_decoding(road):
    path, frames = road
    np.testing.assert_array_equal(
        video_background(path, method="motionless"),
        extract_background(frames, method="motionless"),
    )
    with pytest.raises(ValueError, match="needs the selected frames in memory"):
        iter_video_background(path, method="motionless", memory_budget=60_000)


@pytest.mark.parametrize(
    "bad", [{"n_components": 0}, {"max_iter": 0}, {"tol": -1.0}, {"reg_covar": float("nan")}]
)
def test_parameters_are_refused_before_anything_is_decoded(road, bad):
    path, _ = road
    with pytest.raises(ValueError, match=next(iter(bad))):
        iter_video_background(path, memory_budget=60_000, method="notebook", **bad)
