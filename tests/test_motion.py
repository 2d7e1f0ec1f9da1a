import numpy as np
import pytest

from napari_gmm_background import extract_background
from napari_gmm_background.datasets import synthetic_lingering, synthetic_timelapse, synthetic_traffic
from napari_gmm_background.motion import motion_scores


def age(background, truth):
    return np.abs(background.astype(float) - truth).mean()


def test_motionless_recovers_what_a_lingering_object_hides():
    frames, truth = synthetic_lingering(seed=1)
    assert age(extract_background(frames), truth) > 4  # the seed rule picks the object
    assert age(extract_background(frames, method="motionless"), truth) < 0.8
    assert age(extract_background(frames, method="motionless-gmm"), truth) < 2


def test_motionless_on_a_uint16_timelapse_with_many_cells():
    frames, truth = synthetic_timelapse(100, 96, 96, n_cells=8, seed=6)
    result = extract_background(frames, method="motionless")
    assert result.dtype == np.uint16
    assert age(result, truth) < 0.25 * age(extract_background(frames), truth)
    assert age(result, truth) < 100  # cells up to 4000 above a ~1500 background


def test_motionless_keeps_sparse_traffic_right():
    frames, truth = synthetic_traffic(n_frames=100, height=60, width=80, seed=8)
    assert age(extract_background(frames, method="motionless"), truth) < 1.0


def test_motion_scores_see_moving_things_only():
    frames, _ = synthetic_lingering(n_frames=40, height=40, width=60, linger=0.0, noise=0.0, seed=2)
    scores = motion_scores(frames, window=3)
    assert scores.shape == frames.shape[:3] and scores.dtype == np.float32
    still = np.all(frames == frames[:1], axis=(0, 3))
    assert np.all(scores[:, still.nonzero()[0][0], still.nonzero()[1][0]] == 0)
    assert scores.max() > 10


def test_motionless_options_and_errors():
    frames, _ = synthetic_traffic(n_frames=20, height=20, width=24, seed=1)
    moved = np.moveaxis(frames, 0, 2)
    np.testing.assert_array_equal(
        extract_background(moved, time_axis=2, method="motionless"),
        extract_background(frames, method="motionless"),
    )
    single = extract_background(frames[:1], method="motionless")
    np.testing.assert_array_equal(single, frames[0])
    with pytest.raises(ValueError, match="method must be one of"):
        extract_background(frames, method="mode")
    with pytest.raises(ValueError, match=r"\(T, H, W\)"):
        extract_background(frames[:, 0, 0], method="motionless")
