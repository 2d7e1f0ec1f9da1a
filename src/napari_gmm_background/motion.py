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

Every stack of a layout (see :mod:`napari_gmm_background.layout`) is done on
its own: the channels or Z slices of a hyperstack never mix. Numbers only:
arrays in, arrays out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from .layout import NON_FINITE_MESSAGE, Layout, as_frames, cast_like, iter_by_stack
from .progress import Progress, run_to_end

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    # A first estimate: the kept frames of a stack, (n_kept, Y, X, colours),
    # to a (Y, X, colours) float64 background.
    FirstEstimate = Callable[[np.ndarray], np.ndarray]

__all__ = [
    "count_motionless_steps",
    "count_stack_steps",
    "estimate_noise",
    "iter_motionless_background",
    "iter_stack_background",
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
    """Sum of the channels of a (H, W, C) frame in float32 (colour order does not matter)."""
    if frame.shape[2] == 1:
        return frame[..., 0].astype(np.float32)
    from ._motion_kernels import grey_into

    grey = np.empty(frame.shape[:2], dtype=np.float32)
    grey_into(frame, grey)
    return grey


def _iter_scores(frames: np.ndarray, window: int):
    """Yield ``(t, scores)`` for every frame of (T, H, W, C), scores (H, W) float32.

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
        scores = (
            next_change if previous_change is None else np.maximum(previous_change, next_change)
        )
        if check_finite and not np.isfinite(scores).all():
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
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[..., np.newaxis]
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
    changes = np.concatenate(
        [
            np.abs(
                frames[t + 1][::row_step].astype(np.float32)
                - frames[t][::row_step].astype(np.float32)
            ).ravel()
            for t in np.unique(starts)
        ]
    )
    # median |x - y| of two independent normal samples = 0.6745 * sqrt(2) * sigma
    return float(np.median(changes) / (0.6745 * math.sqrt(2)))


def _window_for(height: int, width: int) -> int:
    return max(3, int(round(DEFAULT_WINDOW_FRACTION * min(height, width))) | 1)


def _first_estimate(statistic, gmm_settings) -> "FirstEstimate | None":
    """None for the kept frames' median (done in the kernel), else a callable."""
    if callable(statistic):
        return statistic
    if statistic == "median":
        return None
    if statistic == "gmm":
        from .gmm import EMSettings, heaviest_means

        return partial(heaviest_means, settings=EMSettings(**gmm_settings))
    raise ValueError(f"statistic must be 'median', 'gmm' or a callable, got {statistic!r}")


def _check(n_samples, tolerance) -> None:
    if not (isinstance(n_samples, (int, np.integer)) and n_samples >= 1):
        raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")


def count_stack_steps(stack_shape: tuple, *, refines_a_first_estimate: bool = False) -> int:
    """Progress steps of one (T, Y, X, colours) stack."""
    n_frames, height = stack_shape[:2]
    return -(-n_frames // _FRAMES_PER_STEP) + min(_ROW_BANDS, height) + refines_a_first_estimate


def count_motionless_steps(
    data_shape: tuple, time_axis: int = 0, statistic="median", rgb: "bool | None" = None
) -> int:
    """How many progress steps :func:`iter_motionless_background` yields."""
    shape = list(data_shape)
    shape.insert(0, shape.pop(time_axis % len(shape)))
    layout = Layout.of(tuple(shape), rgb)
    per_stack = count_stack_steps(
        layout.stack_frames_shape, refines_a_first_estimate=statistic != "median"
    )
    return per_stack * layout.n_stacks


def iter_stack_background(
    stack: np.ndarray,
    *,
    n_samples: int = DEFAULT_N_SAMPLES,
    window: "int | None" = None,
    tolerance: float = DEFAULT_TOLERANCE,
    first_estimate: "FirstEstimate | None" = None,
) -> "Generator[Progress, None, np.ndarray]":
    """The motionless background of one (T, Y, X, colours) stack, float64.

    Yields :func:`count_stack_steps` progress steps. ``first_estimate``
    None takes the median of each pixel's kept frames.
    """
    from . import _motion_kernels

    n_frames, height, width, n_colours = stack.shape
    if window is None:
        window = _window_for(height, width)
    n_kept = min(n_frames, n_samples)
    total = count_stack_steps(stack.shape, refines_a_first_estimate=first_estimate is not None)
    done = 0

    best = np.empty((height, width, n_kept), dtype=np.uint64)
    worst = np.full((height, width), np.iinfo(np.uint64).max, dtype=np.uint64)
    batch = np.empty((min(_FRAMES_PER_STEP, n_frames), height, width), dtype=np.float32)
    for t, scores in _iter_scores(stack, window):
        batch[t % _FRAMES_PER_STEP] = scores
        if (t + 1) % _FRAMES_PER_STEP == 0 or t + 1 == n_frames:
            first = t - t % _FRAMES_PER_STEP
            _motion_kernels.keep_least_moving(
                batch[: t + 1 - first].view(np.uint32), first, best, worst
            )
            done += 1
            yield Progress(done, total)
    best_frames = np.empty((height, width, n_kept), dtype=np.int32)
    _motion_kernels.frames_of(best, best_frames)
    del best, worst, batch

    first_estimates = np.empty((0, 0, 0), dtype=np.float64)
    if first_estimate is not None:
        kept = np.take_along_axis(stack, np.moveaxis(best_frames, -1, 0)[..., np.newaxis], axis=0)
        first_estimates = np.asarray(first_estimate(np.ascontiguousarray(kept)), dtype=np.float64)
        done += 1
        yield Progress(done, total)

    tolerance_levels = tolerance * estimate_noise(stack)
    count_width = 0
    if np.issubdtype(stack.dtype, np.integer):
        # Below half a level, only the exact first median would agree.
        tolerance_levels = max(tolerance_levels, 0.5)
        # The agreeing values are counted over their 2 * tolerance levels,
        # unless clearing that many counters would cost more than the count.
        span = 2 * int(math.floor(tolerance_levels)) + 2
        count_width = span if span <= max(64, n_frames) else 0
    background = np.empty((height, width, n_colours), dtype=np.float64)
    bands = np.linspace(0, height, min(_ROW_BANDS, height) + 1).round().astype(int)
    for row_start, row_stop in zip(bands[:-1], bands[1:], strict=True):
        _motion_kernels.motionless_medians(
            stack,
            best_frames,
            n_kept,
            first_estimates,
            float(tolerance_levels),
            count_width,
            int(row_start),
            int(row_stop),
            background,
        )
        done += 1
        yield Progress(done, total)
    return background


def iter_motionless_background(
    data: "ArrayLike",
    *,
    time_axis: int = 0,
    rgb: "bool | None" = None,
    n_samples: int = DEFAULT_N_SAMPLES,
    window: "int | None" = None,
    tolerance: float = DEFAULT_TOLERANCE,
    statistic="median",
    **gmm_settings,
) -> "Generator[Progress, None, np.ndarray]":
    """:func:`motionless_background` as a generator that reports progress.

    Yields a :class:`~napari_gmm_background.progress.Progress` in steps (see
    :func:`count_motionless_steps`) and returns the background as
    ``StopIteration.value``; closing it between steps abandons the work.
    """
    _check(n_samples, tolerance)
    first_estimate = _first_estimate(statistic, gmm_settings)
    frames = as_frames(data, time_axis)
    layout = Layout.of(frames.shape, rgb)
    layout.require_image("the motionless methods")
    background = yield from iter_by_stack(
        frames,
        layout,
        iterate_stack=partial(
            iter_stack_background,
            n_samples=n_samples,
            window=window,
            tolerance=tolerance,
            first_estimate=first_estimate,
        ),
        count_stack_steps=partial(
            count_stack_steps, refines_a_first_estimate=first_estimate is not None
        ),
    )
    return cast_like(background, frames.dtype)


def motionless_background(
    data: "ArrayLike",
    *,
    time_axis: int = 0,
    rgb: "bool | None" = None,
    n_samples: int = DEFAULT_N_SAMPLES,
    window: "int | None" = None,
    tolerance: float = DEFAULT_TOLERANCE,
    statistic="median",
    **gmm_settings,
) -> np.ndarray:
    """Background from each pixel's least-moving frames.

    Parameters
    ----------
    data : array_like
        Frames with a time axis, two image axes (Y, X), maybe a trailing
        colour axis, and any other axes (channels, Z...), each of whose
        stacks is done on its own.
    time_axis : int
        The time axis.
    rgb : bool, optional
        Whether the last axis is colour (its channels are scored together);
        by default guessed as napari does (last axis of length 3 or 4).
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
    statistic : {"median", "gmm"} or callable
        First estimate: the median of the kept frames, or the mean of the
        heaviest Gaussian of a mixture fitted to them (``gmm_settings`` as
        :class:`napari_gmm_background.gmm.EMSettings`), or a callable
        taking the kept frames (n_kept, Y, X, colours) to a (Y, X, colours)
        estimate.

    Returns
    -------
    numpy.ndarray
        The background, in ``data``'s dtype.
    """
    return run_to_end(
        iter_motionless_background(
            data,
            time_axis=time_axis,
            rgb=rgb,
            n_samples=n_samples,
            window=window,
            tolerance=tolerance,
            statistic=statistic,
            **gmm_settings,
        )
    )
