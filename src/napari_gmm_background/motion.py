"""Backgrounds from each pixel's most motionless frames.

The seed rule (the heaviest Gaussian of all frames) fails where foreground
lingers or covers much of the frame: the foreground then wins the weight.
LaBGen-P (Laugraud et al., second in the 2016 Scene Background Modeling
Contest) scores every sample by the motion around it and estimates the
background from the most motionless samples only. Here:

1. motion of frame t at a pixel = the larger absolute grey-level change to
   the previous and the next frame, averaged over a wide square window plus
   the same averaged over the pixel's 5 x 5 neighbourhood. Both neighbours,
   so a frame repeated by a frame-rate conversion does not look still; a
   wide window, because a person standing still still moves a little
   somewhere around the pixel while the empty scene does not; the small
   one, because a small object crossing the pixel must count even when the
   wide window is busy with others (cells on a large field of view);
2. per pixel, the ``n_samples`` frames with the least motion are kept; ties
   go to the later frames, so the background is the scene as it was left;
3. their median ("motionless") or the seed rule's GMM on them
   ("motionless-gmm") is a robust first estimate. It rests on a few frames,
   so it is noisy: the result is the median of *all* frames within
   ``tolerance`` noise standard deviations of it, the frames that show the
   same thing.

Numbers only: arrays in, arrays out.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Generator

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from .engine import Progress

__all__ = [
    "count_motionless_steps",
    "estimate_noise",
    "iter_motionless_background",
    "motion_scores",
    "motionless_background",
]

# LaBGen-P's default subset size; the window and tolerance were measured on
# the SBI sequences and synthetic sets of benchmarks/quality.py.
DEFAULT_N_SAMPLES = 19
DEFAULT_WINDOW_FRACTION = 0.1
DEFAULT_TOLERANCE = 5.0
# The second, pixel-sized scale of the motion score.
_LOCAL_SIZE = (5, 5)

# Progress is reported every _FRAMES_PER_STEP scored frames and after each of
# _ROW_BANDS bands of the second pass: a cancel is honoured within a step.
_FRAMES_PER_STEP = 16
_ROW_BANDS = 8


def _grey(frame: np.ndarray) -> np.ndarray:
    """Sum of the channels in float32 (colour order does not matter)."""
    if frame.ndim == 2:
        return frame.astype(np.float32)
    from ._motion_kernels import grey_into

    grey = np.empty(frame.shape[:2], dtype=np.float32)
    grey_into(frame, grey)
    return grey


def _iter_scores(frames: np.ndarray, window: int):
    """Yield ``(t, scores)`` for every frame, scores (H, W) float32.

    Only three grey frames are alive at a time, so scoring a long stack
    costs no stack-sized temporaries.
    """
    import cv2

    n_frames = frames.shape[0]
    size = (window, window)
    if n_frames == 1:
        yield 0, np.zeros(frames.shape[1:3], dtype=np.float32)
        return
    check_finite = not np.issubdtype(frames.dtype, np.integer)
    previous_change = None
    grey = _grey(frames[0])
    for t in range(n_frames):
        if t + 1 < n_frames:
            following = _grey(frames[t + 1])
            next_change = np.abs(following - grey)
        else:
            next_change = previous_change
        scores = next_change if previous_change is None else np.maximum(previous_change, next_change)
        if check_finite and not np.isfinite(scores).all():
            from .engine import NON_FINITE_MESSAGE

            raise ValueError(NON_FINITE_MESSAGE)
        around = cv2.blur(scores, size, borderType=cv2.BORDER_REPLICATE)
        around += cv2.blur(scores, _LOCAL_SIZE, borderType=cv2.BORDER_REPLICATE)
        yield t, around
        previous_change = next_change
        if t + 1 < n_frames:
            grey = following


def motion_scores(frames: np.ndarray, *, window: int) -> np.ndarray:
    """Motion of every sample: (T, H, W) float32 from (T, H, W[, C]) frames.

    The larger absolute change (summed over channels) to the previous and to
    the next frame, averaged over a ``window`` x ``window`` neighbourhood,
    plus the same averaged over 5 x 5.
    For inspection; the methods score frame by frame without keeping this.
    """
    scores = np.empty(frames.shape[:3], dtype=np.float32)
    for t, frame_scores in _iter_scores(frames, window):
        scores[t] = frame_scores
    return scores


def estimate_noise(frames: np.ndarray, *, max_samples: int = 1_000_000) -> float:
    """Standard deviation of the temporal noise of (T, ...) frames.

    From the median absolute change between consecutive frames, which
    moving things barely shift because most samples show none. Evenly spaced
    frame pairs and rows are used when the stack is large.
    """
    n_frames = frames.shape[0]
    if n_frames < 2:
        return 0.0
    per_pair = math.prod(frames.shape[1:])
    n_pairs = max(1, min(n_frames - 1, max_samples // max(per_pair, 1)))
    starts = np.linspace(0, n_frames - 2, n_pairs).round().astype(int)
    row_step = max(1, -(-per_pair // max_samples))
    changes = np.concatenate([
        np.abs(
            frames[t + 1][::row_step].astype(np.float32) - frames[t][::row_step].astype(np.float32)
        ).ravel()
        for t in np.unique(starts)
    ])
    # median |x - y| of two independent normal samples = 0.6745 * sqrt(2) * sigma
    return float(np.median(changes) / (0.6745 * math.sqrt(2)))


def _check(frames, n_samples, tolerance, statistic):
    if frames.ndim not in (3, 4):
        raise ValueError(
            "the motionless methods need (T, H, W) or (T, H, W, C) frames, got "
            f"{frames.ndim} axes; use the default method for other layouts"
        )
    if not (isinstance(n_samples, (int, np.integer)) and n_samples >= 1):
        raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    if statistic not in ("median", "gmm"):
        raise ValueError(f"statistic must be 'median' or 'gmm', got {statistic!r}")


def _window_for(height: int, width: int) -> int:
    return max(3, int(round(DEFAULT_WINDOW_FRACTION * min(height, width))) | 1)


def _heaviest_means(kept: np.ndarray, *, engine: str = "numba", random_state=None, **em) -> np.ndarray:
    """The seed rule's background of ``kept``, not rounded to its dtype."""
    from .engine import extract_background, fit_background_model

    if engine == "numba":  # the model's means: uint8 keeps its fast path
        return fit_background_model(kept, **em).background_mean
    return extract_background(kept.astype(np.float64), engine=engine, random_state=random_state, **em)


def count_motionless_steps(data_shape: tuple, time_axis: int = 0, statistic: str = "median") -> int:
    """How many progress steps :func:`iter_motionless_background` yields."""
    shape = list(data_shape)
    n_frames = shape.pop(time_axis % len(shape))
    scoring = -(-n_frames // _FRAMES_PER_STEP)
    return scoring + min(_ROW_BANDS, shape[0]) + (statistic == "gmm")


def iter_motionless_background(
    data: "ArrayLike",
    *,
    time_axis: int = 0,
    n_samples: int = DEFAULT_N_SAMPLES,
    window: "int | None" = None,
    tolerance: float = DEFAULT_TOLERANCE,
    statistic: str = "median",
    **gmm_settings,
) -> "Generator[Progress, None, np.ndarray]":
    """:func:`motionless_background` as a generator that reports progress.

    Yields a :class:`~napari_gmm_background.engine.Progress` in steps (see
    :func:`count_motionless_steps`) and returns the background as
    ``StopIteration.value``; closing it between steps abandons the work.
    """
    from . import _motion_kernels
    from .engine import Progress, _as_frames, _cast_like

    frames = _as_frames(data, time_axis)
    _check(frames, n_samples, tolerance, statistic)
    n_frames, height, width = frames.shape[:3]
    if window is None:
        window = _window_for(height, width)
    n_kept = min(n_frames, n_samples)
    total = count_motionless_steps(frames.shape, 0, statistic)
    done = 0

    best = np.empty((height, width, n_kept), dtype=np.uint64)
    worst = np.full((height, width), np.iinfo(np.uint64).max, dtype=np.uint64)
    batch = np.empty((min(_FRAMES_PER_STEP, n_frames), height, width), dtype=np.float32)
    for t, scores in _iter_scores(frames, window):
        batch[t % _FRAMES_PER_STEP] = scores
        if (t + 1) % _FRAMES_PER_STEP == 0 or t + 1 == n_frames:
            first = t - t % _FRAMES_PER_STEP
            _motion_kernels.keep_least_moving(batch[: t + 1 - first].view(np.uint32), first, best, worst)
            done += 1
            yield Progress(done, total)
    best_frames = np.empty((height, width, n_kept), dtype=np.int32)
    _motion_kernels.frames_of(best, best_frames)
    del best, worst, batch

    pixels = frames if frames.ndim == 4 else frames[..., np.newaxis]
    first_estimates = np.empty((0, 0, 0), dtype=np.float64)
    if statistic == "gmm":
        kept = np.take_along_axis(pixels, np.moveaxis(best_frames, -1, 0)[..., np.newaxis], axis=0)
        first_estimates = _heaviest_means(np.ascontiguousarray(kept), **gmm_settings)
        done += 1
        yield Progress(done, total)

    tolerance_levels = tolerance * estimate_noise(frames)
    count_width = 0
    if np.issubdtype(frames.dtype, np.integer):
        # Below half a level, only the exact first median would agree.
        tolerance_levels = max(tolerance_levels, 0.5)
        # The agreeing values are counted over their 2 * tolerance levels,
        # unless clearing that many counters would cost more than the count.
        span = 2 * int(math.floor(tolerance_levels)) + 2
        count_width = span if span <= max(64, n_frames) else 0
    background = np.empty((height, width, pixels.shape[-1]), dtype=np.float64)
    bands = np.linspace(0, height, min(_ROW_BANDS, height) + 1).round().astype(int)
    for row_start, row_stop in zip(bands[:-1], bands[1:]):
        _motion_kernels.motionless_medians(
            pixels, best_frames, n_kept, first_estimates, float(tolerance_levels), count_width,
            int(row_start), int(row_stop), background,
        )
        done += 1
        yield Progress(done, total)
    if frames.ndim == 3:
        background = background[..., 0]
    return _cast_like(background, frames.dtype)


def motionless_background(
    data: "ArrayLike",
    *,
    time_axis: int = 0,
    n_samples: int = DEFAULT_N_SAMPLES,
    window: "int | None" = None,
    tolerance: float = DEFAULT_TOLERANCE,
    statistic: str = "median",
    **gmm_settings,
) -> np.ndarray:
    """Background from each pixel's least-moving frames.

    Parameters
    ----------
    data : array_like
        (T, H, W) or (T, H, W, C) after moving ``time_axis`` first; other
        layouts: use :func:`napari_gmm_background.extract_background`.
    time_axis : int
        The time axis.
    n_samples : int
        Frames kept per pixel, those with the least motion around it (all
        frames if there are fewer).
    window : int, optional
        Side of the square window motion is averaged over; default a tenth of
        the smaller image side.
    tolerance : float
        Frames within this many noise standard
        deviations (:func:`estimate_noise`; for integer data at least half a
        level) of the first estimate make the final median.
    statistic : {"median", "gmm"}
        First estimate: the median of the kept frames, or the mean of the
        heaviest Gaussian of a mixture fitted to them (``gmm_settings`` as
        :func:`~napari_gmm_background.extract_background`).

    Returns
    -------
    numpy.ndarray
        The background, in ``data``'s dtype.
    """
    from .engine import _run_to_end

    return _run_to_end(iter_motionless_background(
        data, time_axis=time_axis, n_samples=n_samples, window=window,
        tolerance=tolerance, statistic=statistic, **gmm_settings,
    ))
