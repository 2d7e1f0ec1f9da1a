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
from collections.abc import Generator

import numpy as np

from ..core.layout import NON_FINITE_MESSAGE
from ..core.noise import NoiseModel, estimate_noise_model
from ..core.progress import Progress

__all__ = ["count_level_steps", "iter_dimmest_levels"]

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


def count_level_steps(stack_shape: tuple) -> int:
    """Steps :func:`iter_dimmest_levels` yields for a (T, Y, X, colours) stack."""
    return 2 + min(_ROW_BANDS, stack_shape[1])


def iter_dimmest_levels(
    stack: np.ndarray, noise: "NoiseModel | None" = None
) -> "Generator[Progress, None, np.ndarray]":
    """The dimmest steady level of every pixel-channel of a (T, Y, X, colours) stack.

    Yields :func:`count_level_steps` progress steps and returns (Y, X,
    colours) float64. ``noise`` defaults to the stack's own model.
    """
    from ..core.threads import in_parts
    from ._level_kernels import dimmest_steady_levels

    n_frames, height, width, n_colours = stack.shape
    if stack.dtype.kind == "f" and not np.isfinite(stack).all():
        raise ValueError(NON_FINITE_MESSAGE)
    if noise is None:
        noise = estimate_noise_model(stack)
    yield Progress(1, count_level_steps(stack.shape))
    rows = stack.reshape(n_frames, height, width * n_colours)
    if not rows.dtype.isnative or rows.dtype.kind not in "iuf":
        rows = rows.astype(np.float64)
    out = np.empty((height, width * n_colours))
    support = np.empty_like(out)
    bands = np.linspace(0, height, min(_ROW_BANDS, height) + 1).round().astype(int)
    shift = window_shift(BELOW, ABOVE)

    def levels_of(start: int, stop: int) -> None:
        dimmest_steady_levels(
            rows, start, stop, START_QUANTILE, BELOW, ABOVE, shift,
            noise.read_variance, noise.gain, noise.floor, out, support,
        )  # fmt: skip

    for band, (start, stop) in enumerate(zip(bands[:-1], bands[1:], strict=True)):
        in_parts(int(start), int(stop), levels_of)
        yield Progress(band + 2, count_level_steps(stack.shape))
    level = out.reshape(height, width, n_colours)
    support = support.reshape(height, width, n_colours)
    for channel in range(n_colours):
        covered = never_uncovered(level[..., channel], support[..., channel], noise)
        level[..., channel] = fill_in(level[..., channel], covered)
    yield Progress(count_level_steps(stack.shape), count_level_steps(stack.shape))
    return level


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
