"""Backgrounds that drift: one per frame, from a static one, a gain and change points.

A fluorescence background is rarely still: it bleaches, the lamp drifts,
focus jumps. Over a stretch of frames, the background of frame ``t`` is
the static background ``B`` of the stretch seen through that frame's
illumination: ``offset[t] + gain[t] * B``, the model of BaSiC's baseline
(an offset absorbs the camera's dark level). Where the scene itself changes
(focus, a moved sample), no gain maps one background on the other: the
movie is cut there, at change points found automatically, and each segment
gets a static background of its own.

The steps, on one (T, Y, X, colours) stack:

1. the static background of every other frame (a reference only: it
   measures the illumination), by the chosen method;
2. each frame's offset and gain against it: least squares over the pixels
   that show background (those within three noise deviations of the model,
   so cells do not pull it), a few rounds;
3. the frames corrected by them, so bleaching and lamp changes are gone;
4. change points: where the corrected frames, averaged in blocks, change
   between the median of the frames before and the median of the frames
   after by far more than that block usually moves, over a quarter of the
   image or more;
5. per segment, the static background of its corrected frames, and each
   frame's offset and gain against it again.

Numbers only: arrays in, arrays out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ..core.layout import cast_like
from ..core.noise import NoiseModel, estimate_noise_model
from ..core.plan import Plan, Step

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

    from ..core.reading import InMemory

__all__ = [
    "BrightnessDrift",
    "Drift",
    "DriftWarning",
    "brightness_drift",
    "change_message",
    "find_changes",
    "fit_illumination",
    "plan_drift",
    "plan_drift_check",
    "warn_of_drift",
]

# Pixels sampled (per colour) to fit each frame's offset and gain.
_FIT_PIXELS = 5_000
_FIT_ROUNDS = 5
_CLIP = 3.0
# Change points: blocks about this many across the smaller image side;
# a block changes when its median moves by this many robust deviations of
# its own moves over the movie (blocks that cells cross often move often);
# a frame is a change point where at least this share of the blocks
# changes, and this many times the share that changes at a typical frame.
_BLOCKS_ACROSS = 64
CHANGE_DEVIATIONS = 8.0
CHANGE_SHARE = 0.25
CHANGE_OVER_TYPICAL = 3.0
# Gains this close to 1 and offsets this small (noise deviations) all movie
# long: no drift, the first static background stands.
_STILL_GAIN = 0.005
# The reference background is made of every second frame and, in images
# this big, every second pixel of each row and column: it only measures
# the illumination, at a few thousand pixels.
_REFERENCE_STEP = 2
_REFERENCE_GRID = 2
_REFERENCE_GRID_FROM = 256
# The dark level is told apart from the light only where the gain moves this much.
_DARK_NEEDS_GAIN_RANGE = 0.1
# Pixels fitted: those at their background in this share of frames (cells
# rarely cross them), when there are enough of them.
_STEADY_SHARE = 0.9
_MIN_STEADY_PIXELS = 1000


@dataclass(frozen=True)
class Drift:
    """How one stack's background changes over its frames.

    Attributes
    ----------
    offset, gain : numpy.ndarray
        (T, colours): frame ``t``'s background is ``offset[t] + gain[t] *``
        its segment's static background.
    brightness : numpy.ndarray
        (T,) the mean of each frame's background over the mean of the first
        frame's: 0.7 at the end of a movie that bleached by 30 %.
    change_frames : tuple of int
        The first frame of each new segment, where the scene changed.
    """

    offset: np.ndarray
    gain: np.ndarray
    brightness: np.ndarray
    change_frames: tuple


def _reference_grid(stack_shape: tuple) -> int:
    """The pixel step of the reference and the fitting: every other pixel of big images."""
    return _REFERENCE_GRID if min(stack_shape[1:3]) >= _REFERENCE_GRID_FROM else 1


def _reference_shape(stack_shape: tuple) -> tuple:
    n_frames, height, width, n_colours = stack_shape
    grid = _reference_grid(stack_shape)
    return (
        len(range(0, n_frames, _REFERENCE_STEP)),
        len(range(0, height, grid)),
        len(range(0, width, grid)),
        n_colours,
    )


def _sample(stack: np.ndarray) -> np.ndarray:
    """Evenly spread (T, S, colours) samples of a (T, Y, X, colours) stack, float64."""
    n_frames, height, width, n_colours = stack.shape
    flat = stack.reshape(n_frames, height * width, n_colours)
    step = max(1, flat.shape[1] // _FIT_PIXELS)
    return flat[:, ::step].astype(np.float64)


def fit_illumination(
    samples: np.ndarray,
    background: np.ndarray,
    noise: NoiseModel,
    dark: "float | None" = None,
) -> "tuple[np.ndarray, np.ndarray]":
    """Each frame's offset and gain against a static background, robustly.

    Parameters
    ----------
    samples : numpy.ndarray
        (T, S, colours) samples of the frames at S pixels.
    background : numpy.ndarray
        (S, colours) the static background at the same pixels.
    noise : NoiseModel
        The frames' noise, for telling background samples from the rest.
    dark : float, optional
        The camera's dark level, where no light gives the same value in
        every frame: then only the gain is fitted, ``offset = dark * (1 - gain)``.

    Returns
    -------
    offset, gain : numpy.ndarray
        (T, colours) each.
    """
    x = background[None]  # (1, S, C)
    # A start that bleaching and offsets cannot throw far: the ratio of medians.
    x_median = np.median(background, axis=0)
    y_median = np.median(samples, axis=1)
    usable = np.abs(x_median) > 1e-12
    gain = np.where(usable, y_median / np.where(usable, x_median, 1.0), 1.0)
    offset = np.where(usable, 0.0, y_median - x_median)
    if dark is not None:
        offset = dark * (1 - gain)
    for round_ in range(_FIT_ROUNDS):
        model = offset[:, None] + gain[:, None] * x
        clip = (2 * _CLIP if round_ == 0 else _CLIP) * noise.std(model)
        weight = (np.abs(samples - model) <= clip).astype(np.float64)
        n = weight.sum(axis=1)
        if dark is not None:  # through the dark level: one parameter
            light = x - dark
            sxx = (weight * light * light).sum(axis=1)
            sxy = (weight * light * (samples - dark)).sum(axis=1)
            gain = np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1.0), gain)
            offset = dark * (1 - gain)
            continue
        sx = (weight * x).sum(axis=1)
        sy = (weight * samples).sum(axis=1)
        sxx = (weight * x * x).sum(axis=1)
        sxy = (weight * x * samples).sum(axis=1)
        determinant = n * sxx - sx * sx
        # Too few background samples, or a flat background: keep the gain, fit the offset.
        solvable = (n >= 2) & (determinant > 1e-9 * np.maximum(n * sxx, 1e-300))
        safe = np.where(solvable, determinant, 1.0)
        gain = np.where(solvable, (n * sxy - sx * sy) / safe, gain)
        offset = np.where(n > 0, (sy - gain * sx) / np.maximum(n, 1), offset)
    return offset, gain


def steady_pixels(
    samples: np.ndarray, background: np.ndarray, offset: np.ndarray, gain: np.ndarray, noise
) -> np.ndarray:
    """Which sampled pixels show their background in most frames, bool (S,).

    Light that cells add near a pixel (a faint edge within the noise) would
    pull the gain up; pixels cells rarely reach give an unbiased fit.
    """
    model = offset[:, None] + gain[:, None] * background[None]
    at_background = (np.abs(samples - model) <= _CLIP * noise.std(model)).all(axis=2)
    share = at_background.mean(axis=0)
    steady = share >= _STEADY_SHARE
    if steady.sum() < _MIN_STEADY_PIXELS:
        steady = share >= np.median(share)
    return steady


def dark_level(offset: np.ndarray, gain: np.ndarray, background: np.ndarray) -> float:
    """The dark level shared by frames fitted with free offsets and gains.

    Frames that differ only in illumination share the level no light
    reaches: ``offset = dark * (1 - gain)``; fitted through the origin over
    all frames. Where the gain hardly changes the level does not matter,
    and 0 is returned; it never exceeds the background's 1st percentile.
    """
    spread = gain - 1
    if np.ptp(gain) < _DARK_NEEDS_GAIN_RANGE:
        return 0.0
    dark = float(-(offset * spread).sum() / (spread * spread).sum())
    return min(dark, float(np.percentile(background, 1)))


def _blocks(stack: np.ndarray) -> np.ndarray:
    """(T, blocks) block means of a (T, Y, X, colours) stack, float32."""
    n_frames, height, width, n_colours = stack.shape
    size = max(1, min(height, width) // _BLOCKS_ACROSS)
    rows, cols = height // size, width // size
    cropped = stack[:, : rows * size, : cols * size]
    blocks = cropped.reshape(n_frames, rows, size, cols, size, n_colours)
    return blocks.mean(axis=(2, 4), dtype=np.float32).reshape(n_frames, -1)


def change_window(n_frames: int) -> int:
    """Frames on each side of a candidate change point that are compared."""
    return int(np.clip(n_frames // 20, 3, 15))


def find_changes(corrected: np.ndarray) -> tuple:
    """The frames where the scene of gain-corrected frames changes suddenly.

    Parameters
    ----------
    corrected : numpy.ndarray
        (T, Y, X, colours) frames with bleaching and lamp changes taken out.

    Returns
    -------
    tuple of int
        The first frame after each change, ascending; empty for a movie
        too short to tell (under four times :func:`change_window` frames).
    """
    n_frames = corrected.shape[0]
    window = change_window(n_frames)
    if n_frames < 4 * window:
        return ()
    blocks = _blocks(corrected)
    candidates = np.arange(window, n_frames - window + 1)
    # The median of each run of `window` frames, from every start: before a
    # candidate is the run ending there, after it the run starting there.
    runs = np.lib.stride_tricks.sliding_window_view(blocks, window, axis=0)
    medians = np.median(runs, axis=-1)
    moves = medians[candidates] - medians[candidates - window]
    spread = 1.4826 * np.median(np.abs(moves), axis=0)
    # A block that never moves (a constant region) changes by any move at all.
    spread = np.maximum(spread, 1e-6 * max(float(np.abs(blocks).max()), 1.0))
    share = (np.abs(moves) > CHANGE_DEVIATIONS * spread).mean(axis=1)
    needed = max(CHANGE_SHARE, CHANGE_OVER_TYPICAL * float(np.median(share)))
    changes = []
    # Highest first; a change suppresses its neighbours within the window.
    for index in np.argsort(-share, kind="stable"):
        if share[index] < needed:
            break
        frame = int(candidates[index])
        if all(abs(frame - other) >= window for other in changes):
            changes.append(frame)
    return tuple(sorted(changes))


def plan_drift(
    stack: "InMemory",
    plan_static: "Callable[[InMemory], Plan]",
    *,
    dtype: "DTypeLike" = np.float32,
) -> Plan:
    """Each frame's background of one (T, Y, X, colours) stack, and how it drifts, step by step.

    Parameters
    ----------
    stack : InMemory
        The (T, Y, X, colours) frames (given when the first step runs).
    plan_static : callable
        A method's plan of a stack's static (Y, X, colours) background, for
        a :class:`~napari_gmm_background.core.reading.InMemory`.
    dtype : numpy dtype
        Of the backgrounds returned: float32, or an integer type (rounded and
        clipped to its range, frame by frame, so no float movie is cast whole).

    Returns
    -------
    Plan
        Steps: the reference background's, the illumination fit, as many
        as the static background of the whole stack takes (the segments'
        backgrounds, found only then, are spread over them: segments never
        take fewer steps in all than the whole), the backgrounds made.
        Its result is ``(backgrounds, drift)``: the (T, Y, X, colours)
        backgrounds in ``dtype`` and the :class:`Drift`.
    """
    from ..core.reading import InMemory

    grid = _reference_grid(stack.shape)
    thinned = (slice(None, None, _REFERENCE_STEP), slice(None, None, grid), slice(None, None, grid))
    reference_stack = lambda: stack.array()[thinned]  # noqa: E731
    reference = plan_static(InMemory(_reference_shape(stack.shape), stack.dtype, reference_stack))
    n_static = plan_static(stack).n_steps
    drifting = _Drifting(stack.array, reference, plan_static, n_static, grid, np.dtype(dtype))
    steps = reference.steps + [Step(drifting.fit_illumination)]
    steps += [Step(partial(drifting.segment_share, share)) for share in range(n_static)]
    steps.append(Step(drifting.make_backgrounds))
    return Plan(steps, drifting.result)


class _Drifting:
    """What the steps of :func:`plan_drift` share: the stack's illumination and segments."""

    def __init__(self, stack, reference: Plan, plan_static, n_static: int, grid: int, dtype):
        self.stack = stack
        self.reference = reference
        self.plan_static = plan_static
        self.n_static = n_static
        self.grid = grid
        self.dtype = dtype

    def fit_illumination(self) -> None:
        """Each frame's offset and gain against the reference, the change points, the segments."""
        from ..core.plan import sequence
        from ..core.reading import InMemory

        stack, grid = self.stack(), self.grid
        first = self.reference.result()
        noise = estimate_noise_model(stack)
        samples = _sample(stack[:, ::grid, ::grid])
        first_samples = _sample(first[None])[0]
        offset, gain = fit_illumination(samples, first_samples, noise)
        steady = steady_pixels(samples, first_samples, offset, gain, noise)
        samples, first_samples = samples[:, steady], first_samples[steady]
        offset, gain = fit_illumination(samples, first_samples, noise)
        dark = dark_level(offset, gain, first_samples)
        offset, gain = fit_illumination(samples, first_samples, noise, dark)
        # The backgrounds go to this buffer at the end; until then it holds the corrected frames.
        self.out = np.empty(stack.shape, dtype=np.float32)
        level = float(np.abs(first).mean()) or 1.0
        still = np.abs(gain - 1).max() < _STILL_GAIN and np.abs(offset).max() < 0.1 * float(
            noise.std(level)
        )
        if still and not find_changes(stack):
            corrected, changes = stack, ()
        else:
            safe_gain = np.where(np.abs(gain) > 1e-6, gain, 1.0)
            corrected = np.subtract(
                stack, offset[:, None, None].astype(np.float32), out=self.out, dtype=np.float32
            )
            corrected /= safe_gain[:, None, None].astype(np.float32)
            changes = find_changes(corrected)
        bounds = (0, *changes, len(stack))
        self.segments = list(zip(bounds[:-1], bounds[1:], strict=True))
        plans = [
            self.plan_static(
                InMemory(
                    (stop - start, *stack.shape[1:]),
                    corrected.dtype,
                    lambda start=start, stop=stop: corrected[start:stop],
                )
            )
            for start, stop in self.segments
        ]
        self.backgrounds = sequence(plans, combine=list)
        self.shares = self.backgrounds.spread_over(self.n_static)
        self.samples, self.steady, self.noise, self.dark = samples, steady, noise, dark
        self.offset, self.gain, self.changes = offset, gain, changes

    def segment_share(self, share: int) -> None:
        """A share of the segments' static backgrounds (see :meth:`Plan.spread_over`)."""
        self.shares[share].action()

    def make_backgrounds(self) -> None:
        """Every frame refitted against its own segment's background, and its background made."""
        backgrounds = self.backgrounds.result()
        stack, out, grid, dtype = self.stack(), self.out, self.grid, self.dtype
        offset, gain = self.offset, self.gain
        for (start, stop), background in zip(self.segments, backgrounds, strict=True):
            reference = _sample(background[None, ::grid, ::grid])[0][self.steady]
            offset[start:stop], gain[start:stop] = fit_illumination(
                self.samples[start:stop], reference, self.noise, self.dark
            )
        means = np.empty(len(stack))
        result = out if dtype == out.dtype else np.empty(stack.shape, dtype=dtype)
        for (start, stop), background in zip(self.segments, backgrounds, strict=True):
            background = background.astype(np.float32, copy=False)
            colour_means = background.reshape(-1, background.shape[-1]).mean(0, dtype=np.float64)
            for t in range(start, stop):
                frame = out[t]  # the corrected frames are done with: a frame of scratch
                np.multiply(background, gain[t].astype(np.float32), out=frame)
                frame += offset[t].astype(np.float32)
                if result is not out:
                    result[t] = cast_like(frame, dtype, overwrite=True)
            # The mean of offset + gain * background, without reading the frames again.
            means[start:stop] = (offset[start:stop] + gain[start:stop] * colour_means).mean(-1)
        first_mean = means[0] if means[0] != 0 else 1.0
        self.made = (result, Drift(offset, gain, means / first_mean, tuple(self.changes)))
        self.out = self.samples = None

    def result(self) -> "tuple[np.ndarray, Drift]":
        return self.made


def change_message(drifts: "list[Drift]") -> str:
    """One sentence naming the change frames of the stacks' drifts; empty without any."""
    frames = sorted({frame for one in drifts for frame in one.change_frames})
    if not frames:
        return ""
    named = ", ".join(str(frame) for frame in frames)
    plural = "s" if len(frames) > 1 else ""
    return (
        f"the scene changes suddenly at frame{plural} {named}: each segment between them "
        "got a background of its own"
    )


class DriftWarning(UserWarning):
    """A static background was asked for, and the stack's brightness drifts.

    Bleaching, lamp drift or a scene change: one background fits few of the
    frames. ``per_frame=True`` (the widget's *background per frame*, the command
    line's ``--per-frame``) follows the drift with one background per frame.
    """


# A static background is questioned where the frames' brightness moves by
# this share or more, and by this many times its jitter between consecutive
# frames (the noise); slow changes smaller than that are within what cells
# moving over a twentieth of the image do to it.
DRIFT_SHARE = 0.05
DRIFT_OVER_JITTER = 20.0
_DRIFT_PIXELS = 16_384
# A frame's brightness counts where this share of its pixels agree with it.
_DRIFT_AGREEING = 0.5
_DRIFT_MIN_FRAMES = 8
_DRIFT_MIN_PIXELS = 4096


@dataclass(frozen=True)
class BrightnessDrift:
    """How much a stack's brightness moves over its frames, from a sample of them.

    Attributes
    ----------
    change : float
        The highest over the lowest brightness, less one (0.3: 30 % brighter).
    brightest, dimmest : int
        Frames (of those sampled) where it is highest and lowest.
    """

    change: float
    brightest: int
    dimmest: int

    def message(self) -> str:
        """The warning's words: the size of the change, and the option that follows it."""
        return (
            f"the brightness drifts by {100 * self.change:.0f} % over the frames "
            f"(brightest near frame {self.brightest}, dimmest near frame {self.dimmest}), far "
            "more than the noise explains: one static background fits few of the frames; "
            "per_frame=True (the widget's 'background per frame (drift)', the command line's "
            "--per-frame) gives each frame its own"
        )


def brightness_drift(sample: np.ndarray, indices: "list[int]") -> "BrightnessDrift | None":
    """The drift of a (T, Y, X, colours) stack's brightness, None where it holds still.

    ``sample`` holds the stack's frames ``indices``
    (:func:`napari_gmm_background.engine.choice.sample_indices`): pairs of
    consecutive frames, whose differences measure the brightness's jitter.
    Light that drifts (bleaching, a lamp, a camera's exposure) changes most
    of the image by one factor; foreground that fills much of it (a crowd,
    a tree in the wind) changes parts of it by many: a frame's brightness
    counts only where most of its pixels agree with it.
    """
    from .choice import FrameSample

    if len(sample) < _DRIFT_MIN_FRAMES or sample[0].size < _DRIFT_MIN_PIXELS:
        return None  # too little to say that anything drifts
    # Where pixels are does not matter here: evenly spread ones, of any layout,
    # as the square image FrameSample takes.
    flat = sample.reshape(len(sample), -1)
    flat = flat[:, :: max(1, flat.shape[1] // _DRIFT_PIXELS)]
    side = math.isqrt(flat.shape[1])
    seen = FrameSample(flat[:, : side * side].reshape(len(flat), side, side, 1))
    brightness, agreeing = seen.brightness, seen.agreeing
    pairs = (brightness[0::2] + brightness[1::2]) / 2
    jitter = 1.4826 * float(np.median(np.abs(brightness[0::2] - brightness[1::2]))) / np.sqrt(2)
    pairs = np.where(np.minimum(agreeing[0::2], agreeing[1::2]) >= _DRIFT_AGREEING, pairs, np.nan)
    if np.isnan(pairs).all() or np.nanmin(pairs) <= 0:
        return None
    lowest, highest = float(np.nanmin(pairs)), float(np.nanmax(pairs))
    change = highest / lowest - 1
    if change < DRIFT_SHARE or highest - lowest < DRIFT_OVER_JITTER * jitter:
        return None
    brightest, dimmest = 2 * int(np.nanargmax(pairs)), 2 * int(np.nanargmin(pairs))
    return BrightnessDrift(change, indices[brightest], indices[dimmest])


def warn_of_drift(sample: np.ndarray, n_frames: int) -> None:
    """:class:`DriftWarning` where the brightness of a stack of ``n_frames`` drifts.

    ``sample``: its frames :func:`~napari_gmm_background.engine.choice.sample_indices`.
    """
    import warnings

    from .choice import sample_indices

    found = brightness_drift(sample, sample_indices(n_frames))
    if found is not None:
        warnings.warn(found.message(), DriftWarning, stacklevel=2)


def plan_drift_check(stack) -> Plan:
    """The steps that read a stack's sampled frames and warn where its brightness drifts."""
    from .choice import plan_sample

    sample = plan_sample(stack)
    check = Step(lambda: warn_of_drift(sample.result(), stack.shape[0]))
    return Plan(sample.steps + [check])
