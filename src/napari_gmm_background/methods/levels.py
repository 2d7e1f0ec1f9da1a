"""The fluorescence method: each pixel's dimmest steady level.

In fluorescence, whatever is not background adds light: cells, vesicles,
anything labelled is brighter than what is behind it. So a pixel's
background is the lowest level its samples keep coming back to, and light
that cells add (often, in part, or faintly at their edges) must not pull it
up. Each pixel's level is found by a one-sided mean shift: starting low,
the level moves to the mean of the samples from three noise deviations
below it to one above it (corrected so that for pure noise it is the
centre), until it settles. Samples farther above are foreground and never
count. The noise deviation at each level comes from the stack's noise model
(:mod:`.noise`), so shot noise that grows with brightness is allowed for.

Where a cell never leaves (it barely moves all movie long), no sample shows
the background and the dimmest level is the cell's. Such places stand out
twice: the level rises well above the image's smooth lower envelope (by
more than three noise deviations), and few samples stay at it (under 60 %,
as the cell moves or changes a little), where fixed bright debris, just as
far above the envelope, keeps nearly every sample. They are filled in from
around them, as the smooth continuation of the background.

Numbers only: arrays in, arrays out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import numpy as np

from ..core.layout import NON_FINITE_MESSAGE
from ..core.noise import NoiseModel, estimate_noise_model
from ..core.plan import Plan, Step

__all__ = ["fill_in", "never_uncovered", "plan_dimmest_levels"]

START_QUANTILE = 0.05
BELOW = 3.0
ABOVE = 1.0
_ROW_BANDS = 8
# A level is a cell's, not the background's, this far above the envelope
# (noise deviations) with this little support.
COVERED_EXCESS = 3.0
COVERED_SUPPORT = 0.6
# The envelope's width: a fraction of the smaller image side, wider than a cell.
_ENVELOPE_FRACTION = 1 / 8
_MIN_ENVELOPE = 15
# Filling widens its reach in these steps of Gaussian sigma (pixels).
_FILL_SIGMAS = (2, 4, 8, 16, 32, 64, 128)


def _normal_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def window_shift(below: float, above: float) -> float:
    """Deviations to add to the mean of pure noise in [-below, above] to get its centre."""
    inside = _normal_cdf(above) - _normal_cdf(-below)
    return -(_normal_pdf(-below) - _normal_pdf(above)) / inside


def plan_dimmest_levels(
    stack_shape: tuple,
    stack: "Callable[[], np.ndarray]",
    noise: "NoiseModel | None" = None,
) -> Plan:
    """The dimmest steady level of every pixel-channel of a (T, Y, X, colours) stack.

    ``stack()`` gives the frames when the first step runs; ``noise``
    defaults to the stack's own model. Steps: the noise model, a band of
    rows each, the filling in; the result is (Y, X, colours) float64.
    """
    levels = _Levels(stack_shape, stack, noise)
    height = stack_shape[1]
    bands = np.linspace(0, height, min(_ROW_BANDS, height) + 1).round().astype(int).tolist()
    steps = [Step(levels.start)]
    steps += [Step(partial(levels.band, a, b)) for a, b in zip(bands[:-1], bands[1:], strict=True)]
    steps.append(Step(levels.fill_in_covered))
    return Plan(steps, levels.result)


class _Levels:
    """The state the steps of :func:`plan_dimmest_levels` share."""

    def __init__(self, stack_shape: tuple, stack, noise: "NoiseModel | None"):
        self.shape = stack_shape
        self.stack = stack
        self.noise = noise
        self.shift = window_shift(BELOW, ABOVE)

    def start(self) -> None:
        n_frames, height, width, n_colours = self.shape
        stack = self.stack()
        if stack.dtype.kind == "f" and not np.isfinite(stack).all():
            raise ValueError(NON_FINITE_MESSAGE)
        if self.noise is None:
            self.noise = estimate_noise_model(stack)
        rows = stack.reshape(n_frames, height, width * n_colours)
        if not rows.dtype.isnative or rows.dtype.kind not in "iuf":
            rows = rows.astype(np.float64)
        self.rows = rows
        self.out = np.empty((height, width * n_colours))
        self.support = np.empty_like(self.out)

    def band(self, start: int, stop: int) -> None:
        from ..core.threads import in_parts
        from ._level_kernels import dimmest_steady_levels

        noise = self.noise

        def levels_of(a: int, b: int) -> None:
            dimmest_steady_levels(
                self.rows, a, b, START_QUANTILE, BELOW, ABOVE, self.shift,
                noise.read_variance, noise.gain, noise.floor, self.out, self.support,
            )  # fmt: skip

        in_parts(start, stop, levels_of)

    def fill_in_covered(self) -> None:
        """Where a cell never left, the level is the smooth continuation of the rest."""
        height, width, n_colours = self.shape[1:]
        level = self.out.reshape(height, width, n_colours)
        support = self.support.reshape(height, width, n_colours)
        for channel in range(n_colours):
            covered = never_uncovered(level[..., channel], support[..., channel], self.noise)
            level[..., channel] = fill_in(level[..., channel], covered)
        self.rows = self.support = None

    def result(self) -> np.ndarray:
        return self.out.reshape(self.shape[1:])


def _envelope_size(shape: tuple) -> int:
    return max(_MIN_ENVELOPE, int(min(shape) * _ENVELOPE_FRACTION)) | 1


def never_uncovered(level: np.ndarray, support: np.ndarray, noise: NoiseModel) -> np.ndarray:
    """Where an image's dimmest levels are those of something that never left, bool.

    ``level`` and ``support`` (Y, X): a pixel's level and the share of its
    samples at that level. Flagged: far above the smooth lower envelope,
    with little support (see the module's description), then widened to
    take in the faint edges of what covered it.
    """
    from scipy import ndimage

    size = _envelope_size(level.shape)
    if min(level.shape) < 3:
        return np.zeros(level.shape, dtype=bool)
    envelope = ndimage.uniform_filter(ndimage.grey_opening(level, size=size), size)
    excess = (level - envelope) / noise.std(level)
    covered = (excess > COVERED_EXCESS) & (support < COVERED_SUPPORT)
    covered = ndimage.binary_opening(covered)  # single pixels are noise
    return ndimage.binary_dilation(covered, iterations=max(1, size // 10))


def fill_in(image: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """``image`` with its ``missing`` pixels filled in smoothly from the others.

    Normalised convolution: each missing pixel gets the Gaussian-weighted
    mean of the known pixels around it, with the narrowest reach that finds
    enough of them, so small holes take their near neighbours and large
    ones a wider surround.
    """
    from scipy import ndimage

    if not missing.any() or missing.all():
        return image
    filled = image.copy()
    known = ~missing
    weights = known.astype(np.float64)
    weighted = np.where(known, image, 0.0)
    for sigma in _FILL_SIGMAS:
        total = ndimage.gaussian_filter(weighted, sigma, mode="nearest")
        weight = ndimage.gaussian_filter(weights, sigma, mode="nearest")
        reached = ~known & (weight > 1e-2)
        filled[reached] = total[reached] / weight[reached]
        known = known | reached
        if known.all():
            break
    if not known.all():  # beyond every reach: the mean of what is known
        filled[~known] = image[~missing].mean()
    return filled
