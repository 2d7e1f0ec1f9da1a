"""The steady-level methods: each pixel's dimmest (fluorescence) or brightest steady level.

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

In transmitted light (bright field) it is the other way round: cells take
light away, so the background is the brightest level the samples keep
returning to, the same search on the negated samples. There the window is
wider (two deviations towards the bright side, three towards the dark):
the faint bright halo cells scatter around their edges would hold a
narrow window near the bright end, and light that a cell takes away is far
beyond three deviations.

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
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ..core.layout import check_magnitude
from ..core.noise import NoiseModel, NoiseSampler
from ..core.plan import Plan, Step

if TYPE_CHECKING:
    from ..core.reading import InMemory, LazyStack

__all__ = ["DIMMEST", "BRIGHTEST", "Window", "fill_in", "never_uncovered", "plan_steady_levels"]

START_QUANTILE = 0.05
# At least this many bands of rows, of at most _BAND_SAMPLES samples each: a
# cancel is honoured within a step.
_ROW_BANDS = 8
_BAND_SAMPLES = 2**24
# A level is a cell's, not the background's, this far above the envelope
# (noise deviations) with this little support.
COVERED_EXCESS = 3.0
COVERED_SUPPORT = 0.6
# The envelope's width: a fraction of the smaller image side, wider than a cell.
_ENVELOPE_FRACTION = 1 / 8
_MIN_ENVELOPE = 15
# Filling widens its reach in these steps of Gaussian sigma (pixels).
_FILL_SIGMAS = (2, 4, 8, 16, 32, 64, 128)


@dataclass(frozen=True)
class Window:
    """Which steady level is searched for, and the window of the search.

    Attributes
    ----------
    sign : {1, -1}
        1: the dimmest level (foreground adds light); -1: the brightest
        (foreground takes light away), searched as the dimmest of the
        negated samples.
    below, above : float
        The window, in noise deviations, below and above the level (of the
        samples as searched: for the brightest level, ``above`` is towards
        the dark side).
    """

    sign: int
    below: float
    above: float

    @property
    def shift(self) -> float:
        """Deviations to add to the mean of pure noise in the window to get its centre."""
        return window_shift(self.below, self.above)


DIMMEST = Window(1, 3.0, 1.0)
BRIGHTEST = Window(-1, 2.0, 3.0)


def _normal_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def window_shift(below: float, above: float) -> float:
    """Deviations to add to the mean of pure noise in [-below, above] to get its centre."""
    inside = _normal_cdf(above) - _normal_cdf(-below)
    return -(_normal_pdf(-below) - _normal_pdf(above)) / inside


def plan_steady_levels(
    source: "InMemory | LazyStack", window: Window = DIMMEST, noise: "NoiseModel | None" = None
) -> Plan:
    """The steady level of every pixel-channel of a (T, Y, X, colours) stack.

    ``source`` is the stack in memory or read on demand, with the same
    result: the first pass reads each part of the frames and samples the
    noise (``noise``, by default the stack's own model), the second finds
    the levels a band of rows a step, a block of rows at a time; the last
    step fills in where a cell never left. The result is (Y, X, colours)
    float64.
    """
    levels = _Levels(source, window, noise)
    source.keep_rows(levels.blocks)
    steps = []
    for part in source.parts():
        steps += [Step(read) for read in source.part_reads(part)]
        steps.append(Step(partial(levels.sample_noise, part)))
    for block, bands in enumerate(levels.block_bands):
        steps += [Step(read) for read in source.block_reads(block)]
        steps += [Step(partial(levels.band, block, *band)) for band in bands]
    steps.append(Step(levels.fill_in_covered))
    return Plan(steps, levels.result)


class _Levels:
    """The state the steps of :func:`plan_steady_levels` share."""

    def __init__(self, source, window: Window, noise: "NoiseModel | None"):
        self.source = source
        self.shape = source.shape
        self.window = window
        self.noise = noise
        self.sampler = None
        n_frames, height, width, n_colours = self.shape
        self.out = np.empty((height, width * n_colours))
        self.support = np.empty_like(self.out)
        self._plan_blocks()

    def _plan_blocks(self) -> None:
        """Blocks of rows that fit the reading's block size, in bands of rows a step each."""
        n_frames, height = self.shape[:2]
        row_samples = n_frames * math.prod(self.shape[2:])
        rows_per_block = height
        reading = self.source.reading
        if reading is not None:
            row_bytes = math.prod(self.shape[2:]) * reading.itemsize
            rows_per_block = max(1, reading.block_bytes // max(row_bytes * n_frames, 1))
        n_bands = min(max(_ROW_BANDS, -(-row_samples * height // _BAND_SAMPLES)), max(height, 1))
        rows_per_band = max(1, -(-height // n_bands))
        self.blocks, self.block_bands = [], []
        for start in range(0, height, rows_per_block):
            stop = min(start + rows_per_block, height)
            self.blocks.append((start, stop))
            edges = list(range(0, stop - start, rows_per_band)) + [stop - start]
            self.block_bands.append(list(zip(edges[:-1], edges[1:], strict=True)))

    def sample_noise(self, part: slice) -> None:
        """The noise model's samples of the frames of ``part``."""
        frames = self.source.frames(part)
        if self.noise is not None:
            return
        if self.sampler is None:
            self.sampler = NoiseSampler(self.shape, frames.dtype)
        for t in range(part.start, part.stop):
            frame = frames[t - part.start]
            check_magnitude(frame)  # frames read on demand were not checked before
            self.sampler.add(t, frame)

    @property
    def searched_noise(self) -> NoiseModel:
        """The noise model of the samples as searched (negated for the brightest level)."""
        if self.noise is None:
            self.noise = self.sampler.model()
            self.sampler = None
        noise = self.noise
        return NoiseModel(noise.read_variance, self.window.sign * noise.gain, noise.floor)

    def band(self, block: int, start: int, stop: int) -> None:
        from ..core.threads import in_parts
        from ._level_kernels import steady_levels

        values = self.source.block(block)
        rows = values.reshape(values.shape[0], values.shape[1], -1)
        if not rows.dtype.isnative or rows.dtype.kind not in "iuf":
            rows = rows.astype(np.float64)
        noise, window = self.searched_noise, self.window
        first_row = self.blocks[block][0]

        def levels_of(a: int, b: int) -> None:
            steady_levels(
                rows, a, b, first_row, float(window.sign), START_QUANTILE, window.below,
                window.above, window.shift, noise.read_variance, noise.gain, noise.floor,
                self.out, self.support,
            )  # fmt: skip

        in_parts(start, stop, levels_of)
        if stop == self.block_bands[block][-1][1]:
            self.source.done_with_block(block)

    def fill_in_covered(self) -> None:
        """Where a cell never left, the level is the smooth continuation of the rest."""
        height, width, n_colours = self.shape[1:]
        sign, noise = self.window.sign, self.searched_noise
        level = self.out.reshape(height, width, n_colours)
        support = self.support.reshape(height, width, n_colours)
        for channel in range(n_colours):
            searched = sign * level[..., channel]
            covered = never_uncovered(searched, support[..., channel], noise)
            level[..., channel] = sign * fill_in(searched, covered)
        self.support = None

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
