import numpy as np
import pytest

from napari_gmm_background import extract_background
from napari_gmm_background.datasets import (
    synthetic_lingering,
    synthetic_timelapse,
    synthetic_traffic,
)
from napari_gmm_background.engine import count_steps, iter_background
from napari_gmm_background.methods.motion import motion_scores

from ..helpers import drain


def age(background, truth):
    return np.abs(background.astype(float) - truth).mean()


def test_motionless_recovers_what_a_lingering_object_hides():
    frames, truth = synthetic_lingering(seed=1)
    assert (
        age(extract_background(frames, method="notebook"), truth) > 4
    )  # the seed rule picks the object
    assert age(extract_background(frames, method="motionless"), truth) < 0.4
    assert age(extract_background(frames, method="motionless-gmm"), truth) < 0.4


def test_motionless_on_a_uint16_timelapse_with_many_cells():
    frames, truth = synthetic_timelapse(100, 96, 96, n_cells=8, seed=6)
    result = extract_background(frames, method="motionless")
    assert result.dtype == np.uint16
    assert age(result, truth) < 0.25 * age(extract_background(frames, method="notebook"), truth)
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


def test_a_change_at_the_pixel_counts_even_in_a_wide_window():
    frames = np.zeros((10, 61, 61), dtype=np.uint8)
    frames[5, 30, 30] = 100
    scores = motion_scores(frames, window=31)
    # Spread over the 31 x 31 window it would be 0.1; the 5 x 5 term keeps it at 4.
    assert scores[5, 30, 30] == pytest.approx(100 / 31**2 + 100 / 25)
    assert scores[5, 0, 0] == 0


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
    with pytest.raises(ValueError, match="engine must be one of"):
        extract_background(frames, method="motionless", engine="opencv")
    # A series without two image axes is one row of pixels.
    np.testing.assert_array_equal(
        extract_background(frames[:, 0], method="motionless"),
        extract_background(frames[:, :1], method="motionless")[0],
    )


def test_refinement_averages_the_noise_of_the_few_kept_frames():
    frames, truth = synthetic_traffic(n_frames=120, height=60, width=80, noise=12.0, seed=4)
    refined = extract_background(frames, method="motionless")
    few_frames_only = extract_background(frames, method="motionless", agreement=0.0)
    # Seed rule and 19-frame median both carry the noise; the refined median does not.
    assert age(refined, truth) < 0.6 * age(few_frames_only, truth)
    assert age(refined, truth) < 0.6 * age(extract_background(frames, method="notebook"), truth)
    assert age(refined, truth) < 2.0


def test_an_object_that_stood_perfectly_still_then_left_is_not_background():
    # Frames 0-59: an object that does not move at all; 60-99: the empty scene.
    # Both look equally still; ties go to later frames: the scene as it was left.
    rng = np.random.default_rng(3)
    scene = rng.integers(40, 200, (48, 64), dtype=np.uint8)
    frames = np.repeat(scene[None], 100, axis=0)
    frames[:60, 10:40, 20:50] = 230
    result = extract_background(frames, method="motionless")
    np.testing.assert_array_equal(result, scene)
    assert (
        age(extract_background(frames, method="notebook"), scene) > 10
    )  # the seed rule keeps the object


def test_motionless_gmm_starts_from_the_mixture_and_refines_the_same_way():
    frames, truth = synthetic_lingering(seed=4)
    result = extract_background(frames, method="motionless-gmm")
    assert age(result, truth) < 0.5 < age(extract_background(frames, method="notebook"), truth)


def test_integer_and_float_data_give_the_same_background():
    # Integer data counts agreeing values, float data partitions them.
    frames, _ = synthetic_lingering(n_frames=60, height=40, width=48, seed=5)
    as_float = extract_background(frames.astype(np.float64), method="motionless")
    np.testing.assert_array_equal(
        np.rint(as_float).astype(np.uint8), extract_background(frames, method="motionless")
    )


def test_progress_steps_and_cancel():
    frames, _ = synthetic_traffic(n_frames=40, height=30, width=40, seed=2)
    for method in ("motionless", "motionless-gmm", "gmm"):
        steps, result = drain(iter_background(frames, method=method))
        assert len(steps) == count_steps(frames.shape, method=method)
        assert steps[-1].done == steps[-1].total == len(steps)
        np.testing.assert_array_equal(result, extract_background(frames, method=method))
    generator = iter_background(frames, method="motionless")
    next(generator)
    generator.close()  # abandoning between steps is allowed


def test_bad_values_and_parameters_are_refused():
    frames = np.zeros((10, 8, 8), dtype=np.float32)
    frames[3, 2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        extract_background(frames, method="motionless")
    good = np.zeros((10, 8, 8), dtype=np.uint8)
    with pytest.raises(ValueError, match="n_stillest"):
        extract_background(good, method="motionless", n_stillest=0)
    with pytest.raises(ValueError, match="agreement"):
        extract_background(good, method="motionless", agreement=-1)


def leaves_over_a_wall(n_frames=200, clear_every=50, clear_for=6, seed=8):
    """A still wall (noise sd 2) that leaves, brighter by 12-40 and new every frame, hide
    over most of the view, except a few frames every ``clear_every``."""
    rng = np.random.default_rng(seed)
    wall = rng.integers(60, 180, (48, 64)).astype(np.float64)
    frames = wall + rng.normal(0, 2.0, (n_frames, 48, 64))
    leaves = np.ones(n_frames, dtype=bool)
    for start in range(clear_every - clear_for, n_frames, clear_every):
        leaves[start : start + clear_for] = False
    cover = rng.random((n_frames, 48, 64)) < 0.85
    cover[~leaves] = False
    frames[cover] += rng.uniform(12, 40, cover.sum())
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8), wall


def test_leaves_over_most_of_the_view_do_not_widen_what_agrees():
    # The frames' changes are mostly leaves: a tolerance measured from them would let
    # every leaf agree with the wall. The stillest frames show the wall alone, and their
    # spread is its noise.
    frames, wall = leaves_over_a_wall()
    for method in ("gmm", "motionless"):
        assert age(extract_background(frames, method=method), wall) < 1.0
    assert age(np.median(frames, axis=0), wall) > 10


def test_a_frame_shown_twice_does_not_look_still():
    # A frame-rate conversion repeats frames exactly. Were a frame before its repeat
    # still, every such frame would be, and the last of them (someone fidgeting in
    # view) kept instead of the empty scene of the start.
    rng = np.random.default_rng(5)
    wall = rng.integers(60, 180, (40, 56)).astype(np.float64)
    frames = wall + rng.normal(0, 2.0, (80, 40, 56))
    for t in range(20, 80):
        x = 16 + t % 3
        frames[t, 8:32, x : x + 14] = 230 - 20 * (t % 2)
    frames = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
    repeated = np.repeat(frames, 2, axis=0)
    assert age(extract_background(repeated, method="motionless"), wall) < 1.0


def test_cells_scale_with_the_image_and_motion_is_scored_per_cell():
    from napari_gmm_background.methods.motion import cell_size_for

    assert cell_size_for(136, 200) == 1 and cell_size_for(240, 320) == 2
    assert cell_size_for(512, 512) == 3 and cell_size_for(1080, 1920) == 7
    frames, _ = synthetic_traffic(n_frames=12, height=40, width=60, seed=9)
    scores = motion_scores(frames, window=3, cell=4)
    assert scores.shape == (12, 10, 15)
