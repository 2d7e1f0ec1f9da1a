"""Videos longer than memory: histograms over decoding passes, the same answer."""

import numpy as np
import pytest

from napari_gmm_background import extract_background, fit_background_model
from napari_gmm_background.datasets import synthetic_traffic
from napari_gmm_background.io import read_video
from napari_gmm_background.io.streaming import iter_video_background, video_background

from ..helpers import drain, kernels_compiled_by, write_video


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


@pytest.fixture(scope="module")
def long_road(tmp_path_factory):
    """A video longer than the refinement reads (in these tests: every 4th frame after 16)."""
    frames, _ = synthetic_traffic(n_frames=150, height=48, width=64, seed=22)
    path = write_video(tmp_path_factory.mktemp("stream") / "long_road.avi", frames)
    return path, read_video(path)


@pytest.fixture
def refinement_of_few_frames(monkeypatch):
    """The default's refinement capped as for big stacks (every n-th frame), here at 16 frames."""
    from napari_gmm_background.methods import motion

    monkeypatch.setattr(motion, "MAX_REFINE_SAMPLES", 16 * 48 * 64)
    monkeypatch.setattr(motion, "MIN_REFINE_FRAMES", 16)


@pytest.mark.parametrize("method", ["gmm", "motionless", "motionless-gmm"])
def test_block_methods_stream_a_video_decoded_once_with_the_in_memory_result(
    long_road, method, refinement_of_few_frames, monkeypatch
):
    """Over the budget, the default keeps what it needs as the frames go by; the
    motionless methods, which refine with every frame, go through a scratch file."""
    import cv2

    path, frames = long_road
    opened = []
    real = cv2.VideoCapture

    def counted(*args):
        opened.append(args)
        return real(*args)

    monkeypatch.setattr(cv2, "VideoCapture", counted)
    budget = frames.nbytes // 2  # what the default keeps fits: 72 of the 150 frames
    steps, streamed = drain(iter_video_background(path, memory_budget=budget, method=method))
    np.testing.assert_array_equal(streamed, extract_background(frames, method=method))
    assert [s.done for s in steps] == list(range(1, len(steps) + 1))
    assert {s.total for s in steps} == {len(steps)}
    if method == "gmm":  # decoded once: half by each of two captures (its info read before)
        assert len(opened) == 3
        decode = [s for s in steps if s.stage == "decode"]
        assert decode[-1].stage_done == decode[-1].stage_total == len(frames)


def test_a_selection_of_frames_streams_as_in_memory(long_road, refinement_of_few_frames):
    path, frames = long_road
    selected = slice(5, 140, 2)
    np.testing.assert_array_equal(
        video_background(path, frames=selected, memory_budget=frames.nbytes // 6),
        extract_background(frames[selected]),
    )


def test_methods_that_cannot_stream_say_so_before_decoding(road):
    path, frames = road
    np.testing.assert_array_equal(video_background(path), extract_background(frames))
    with pytest.raises(ValueError, match="'gmm'.*'notebook'|'notebook'.*'gmm'"):
        video_background(path, memory_budget=60_000, method="fluorescence")


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
        video_background(path, method="fluorescence"),
        extract_background(frames, method="fluorescence"),
    )
    with pytest.raises(ValueError, match="needs the selected frames in memory"):
        iter_video_background(path, method="fluorescence", memory_budget=60_000)


@pytest.mark.parametrize(
    "bad", [{"n_components": 0}, {"max_iter": 0}, {"tol": -1.0}, {"reg_covar": float("nan")}]
)
def test_parameters_are_refused_before_anything_is_decoded(road, bad):
    path, _ = road
    with pytest.raises(ValueError, match=next(iter(bad))):
        iter_video_background(path, memory_budget=60_000, method="notebook", **bad)


def test_a_damaged_video_streams_the_frames_that_decode_as_in_memory(
    tmp_path, refinement_of_few_frames
):
    from napari_gmm_background.io import DamagedVideoWarning

    frames, _ = synthetic_traffic(n_frames=150, height=48, width=64, seed=23)
    data = bytearray(write_video(tmp_path / "good.avi", frames).read_bytes())
    rng = np.random.default_rng(1)
    for start in rng.integers(len(data) // 4, 3 * len(data) // 4, 4):
        data[start : start + 300] = rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
    path = tmp_path / "damaged.avi"
    path.write_bytes(data)
    with pytest.warns(DamagedVideoWarning):
        decoded = read_video(path)  # the frames that decode, in order
    assert len(decoded) < 150
    with pytest.warns(DamagedVideoWarning, match="could not be decoded"):
        steps, streamed = drain(iter_video_background(path, memory_budget=decoded.nbytes // 2))
    np.testing.assert_array_equal(streamed, extract_background(decoded))
    # Planned again once the loss showed: every step counted, the last total the real one.
    assert [s.done for s in steps] == list(range(1, len(steps) + 1))
    assert steps[-1].total == len(steps)


def test_a_video_of_predicted_frames_streams_from_two_decoders_as_in_memory(
    tmp_path, refinement_of_few_frames
):
    """The second decoder seeks to the middle of the video: with an inter-frame codec
    (MPEG-4 part 2, keyframes far apart) it must land on the very frame a sequential
    read gives, so that the halves together are the video."""
    frames, _ = synthetic_traffic(n_frames=150, height=48, width=64, seed=24)
    path = write_video(tmp_path / "road.mp4", frames, fourcc="mp4v")
    decoded = read_video(path)
    streamed = video_background(path, memory_budget=decoded.nbytes // 2)
    np.testing.assert_array_equal(streamed, extract_background(decoded))


def test_after_warm_up_a_streamed_video_compiles_nothing(long_road, tmp_path):
    """The kernels only frames that go by once use are warmed with those of a colour run."""
    path, frames = long_road
    setup = """
import numpy as np
from napari_gmm_background.engine import warm_up
from napari_gmm_background.methods import motion
warm_up(np.uint8, colour=True)
motion.MAX_REFINE_SAMPLES, motion.MIN_REFINE_FRAMES = 16 * 48 * 64, 16  # refinement_of_few_frames
"""
    run = f"""
from napari_gmm_background.io import streaming
kept = []
real = streaming.VideoStack.__init__
def counted(self, *args, **kwargs):
    real(self, *args, **kwargs)
    kept.append(self)
streaming.VideoStack.__init__ = counted
streaming.video_background({str(path)!r}, memory_budget={frames.nbytes // 2})
assert len(kept) == 1 and not kept[0].keeps_every_frame  # it streamed
"""
    assert kernels_compiled_by(setup, run, tmp_path / "cache") == []
