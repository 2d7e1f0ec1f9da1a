"""What the default method decides from the data: which model of the foreground fits.

Foreground either only adds light (fluorescence: cells, vesicles), only
takes it away (absorption: bright field, transmitted light), or both
(video, phase-contrast halos). Which, the frames tell: on a grid of pixels
of a sample of frames, a sample is foreground where it stands more than
five noise deviations, on the same side, both from its pixel's background
and from the backgrounds around it; the share of the foreground's
departure that is brighter says which side it is on.

A pixel's background here is its most populated level: the mean of the
densest run of its samples four noise deviations wide (after each frame's
overall brightness is divided out, so that bleaching or a lamp change is
not foreground). Not the median: where a cell covers a pixel most of the
time, its samples spread as it moves and changes, while the background's
keep within the noise. And where a cell covers a pixel all the sampled
time, its own level is the densest; the samples that show the background
there (darker than the cell, for fluorescence) are then no departure from
the backgrounds around it, so they count for neither side.

Light added, where the frames follow one another (a time-lapse: a cell
is still there in the next frame), goes to the dimmest steady level
(``fluorescence``); light added in frames that do not follow one another
(fields of view of a tiled acquisition: a pixel's frames are
interchangeable) to every frame that agrees (``gmm``), which averages more
of them; light taken away to the brightest steady level (``transmitted``);
both, colour and no foreground at all to ``gmm``. A single-channel
background is then smoothed where the data show it smooth
(:mod:`napari_gmm_background.methods.smoothing`); a colour video is not.

Numbers only: arrays in, arrays out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ..core.noise import NoiseModel, fit_noise_model, sorted_medians, variance_of_changes
from ..core.plan import Plan, Step

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "Choice",
    "choose_for_sample",
    "colour_choice",
    "choose_method",
    "compile_kernels",
    "describe_choices",
    "densest_level",
    "grid_step",
    "plan_sample",
    "sample_indices",
]

# Pairs of consecutive frames sampled, and the side of the grid of pixels, at most.
SAMPLE_PAIRS = 32
GRID_SIDE = 128
# The surroundings a departure is also measured against: a quarter of the grid's side.
SURROUNDINGS = 1 / 4
# A sample is foreground this many noise deviations from its pixel's background.
FOREGROUND = 5.0
# The width of the densest run of samples, in noise deviations.
DENSEST = 4.0
# One side's share of the foreground's departure that makes it one-sided.
ONE_SIDED = 0.95
# Frames follow one another where consecutive ones change at most this
# share as often as frames far apart do.
FOLLOWING = 0.5
# Fewer foreground samples than this share: nothing moves.
NO_FOREGROUND = 1e-3

ADDS, TAKES, BOTH, NONE, COLOUR = (
    "adds light",
    "takes light away",
    "adds and takes light",
    "none seen",
    "colour",
)


@dataclass(frozen=True)
class Choice:
    """What the default method decided for one stack, and from what.

    Attributes
    ----------
    method : str
        The method of :data:`~napari_gmm_background.METHODS` it used.
    foreground : str
        "adds light", "takes light away", "adds and takes light", "none
        seen", or "colour" (a colour video: not looked at).
    smoothed : bool
        Whether the background was then smoothed where it is smooth.
    brighter : float or None
        The share of the foreground's departure from the background that is
        brighter than it (1: fluorescence, 0: absorption).
    following : float or None
        For light added: how often consecutive frames change, relative to
        frames far apart (near 0: a time-lapse; near 1: fields of view).
    noise : NoiseModel or None
        The frames' noise, measured on the sample (what the smoothing uses).
    """

    method: str
    foreground: str
    smoothed: bool
    brighter: "float | None" = None
    following: "float | None" = None
    noise: "NoiseModel | None" = field(default=None, repr=False, compare=False)

    @property
    def reason(self) -> str:
        """The decision in words, for a status line or a summary."""
        smoothed = ", smoothed where flat" if self.smoothed else ""
        if self.foreground == COLOUR:
            return f"{self.method}: colour frames{smoothed}"
        if self.foreground == NONE:
            return f"{self.method}: no foreground seen{smoothed}"
        said = f"{self.method}: foreground {self.foreground} ({100 * self.brighter:.0f} % brighter"
        if self.following is not None:
            kind = "a time-lapse" if self.following <= FOLLOWING else "frames that do not follow"
            said += f"; {kind}"
        return f"{said}){smoothed}"


def sample_indices(n_frames: int) -> "list[int]":
    """The frames the choice looks at: up to 32 pairs of consecutive frames, evenly spread."""
    if n_frames <= 2 * SAMPLE_PAIRS:
        return list(range(n_frames - n_frames % 2))
    starts = np.linspace(0, n_frames - 2, SAMPLE_PAIRS).round().astype(int)
    return [int(t) + k for t in starts for k in (0, 1)]


def grid_step(image_shape: tuple) -> int:
    """The step between the rows and columns sampled: a grid at most GRID_SIDE across."""
    return max(1, -(-max(image_shape, default=1) // GRID_SIDE))


def plan_sample(stack) -> Plan:
    """Reading the frames :func:`sample_indices` of a stack (InMemory, LazyStack).

    The result is the (n, Y, X, colours) sample, on the grid of
    :class:`FrameSample` (every k-th row and column, at most
    :data:`GRID_SIDE` across): all that is looked at, and little to hold. A
    stack read on demand is read a part's worth of frames a step
    (:meth:`Reading.parts`), so a cancel waits for no more than a part, as
    in the run's own reading.
    """
    indices = sample_indices(stack.shape[0])
    step = grid_step(stack.shape[1:3])
    per_step = len(indices) or 1
    if stack.reading is not None:
        frame_bytes = math.prod(stack.shape[1:]) * stack.reading.itemsize
        per_step = max(1, stack.reading.part_bytes // max(frame_bytes, 1))
    groups = [indices[i : i + per_step] for i in range(0, len(indices), per_step)] or [[]]
    read: list = []
    steps = [Step(partial(lambda group: read.append(stack.sample(group, step)), g)) for g in groups]

    def sample() -> np.ndarray:
        whole = np.concatenate(read) if len(read) > 1 else read[0]
        read.clear()
        return whole

    return Plan(steps, sample)


def colour_choice() -> Choice:
    """The choice for colour frames, made from their shape alone."""
    return Choice("gmm", COLOUR, False)


class FrameSample:
    """The sampled frames of one stack on a grid of pixels, and what they show.

    Parameters
    ----------
    sample : numpy.ndarray
        (T, Y, X, colours) the frames :func:`sample_indices` in order
        (consecutive pairs), at least two.

    Attributes
    ----------
    values : numpy.ndarray
        (T, N) float64: every pixel-channel of a grid at most
        :data:`GRID_SIDE` across (every k-th row and column).
    grid : tuple
        The grid's (rows, columns, colours), N in all.
    noise : NoiseModel
        Measured from the changes within the pairs.
    level, std : numpy.ndarray
        (N,) each pixel's most populated level and its noise deviation.
    brightness : numpy.ndarray
        (T,) each frame's brightness relative to the levels: the ratio most
        of its samples share (cells and whatever else is far from the
        background do not count).
    agreeing : numpy.ndarray
        (T,) the share of each frame's samples within three noise
        deviations of that ratio.
    """

    def __init__(self, sample: np.ndarray):
        from ..core.layout import check_magnitude

        check_magnitude(sample)  # frames read on demand are checked here first
        step = grid_step(sample.shape[1:3])
        on_grid = sample[:, ::step, ::step]
        self.grid = on_grid.shape[1:]
        self.values = on_grid.reshape(len(sample), -1).astype(np.float64)
        quantum = 1 / 12 if np.issubdtype(sample.dtype, np.integer) else 0.0
        ordered = np.sort(self.values, axis=0)
        median = sorted_medians(ordered)
        changes = self.values[0::2] - self.values[1::2]
        self.noise = fit_noise_model(median, variance_of_changes(changes), quantum)
        self.std = self.noise.std(median)
        self.level = _densest_of_sorted(ordered, DENSEST * self.std)
        self.brightness, self.agreeing = _brightness(self.values, self.level, self.std)


def choose_for_sample(sample: np.ndarray, image_shape: "tuple | None" = None) -> Choice:
    """The choice for one (T, Y, X, colours) stack, from its frames :func:`sample_indices`.

    ``sample`` holds those frames in order (consecutive pairs), whole or on
    the grid of :func:`plan_sample`; ``image_shape`` is the stack's (Y, X),
    by default the sample's.
    """
    if sample.shape[-1] > 1:
        return colour_choice()
    if len(sample) < 2 or sample[0].size == 0:
        return Choice("gmm", NONE, False)
    from ..methods.smoothing import can_smooth

    seen = FrameSample(sample)
    noise, std = seen.noise, seen.std
    smooth = can_smooth(sample.shape[1:3] if image_shape is None else image_shape)
    values = seen.values / seen.brightness[:, None]
    level = densest_level(values, DENSEST * std)
    deviation = (values - level) / std
    from_around = (values - _surroundings(level, seen.grid)) / std
    foreground = (np.abs(deviation) > FOREGROUND) & (np.abs(from_around) > FOREGROUND)
    foreground &= np.sign(deviation) == np.sign(from_around)
    deviation = from_around
    if foreground.mean() < NO_FOREGROUND:
        return Choice("gmm", NONE, smooth, noise=noise)
    departure = np.abs(deviation[foreground])
    brighter = float(departure[deviation[foreground] > 0].sum() / departure.sum())
    if brighter <= 1 - ONE_SIDED:
        return Choice("transmitted", TAKES, smooth, brighter, noise=noise)
    if brighter < ONE_SIDED:
        return Choice("gmm", BOTH, smooth, brighter, noise=noise)
    following = _following(values[0::2], values[1::2], std)
    method = "fluorescence" if following <= FOLLOWING else "gmm"
    return Choice(method, ADDS, smooth, brighter, following, noise=noise)


def _surroundings(level: np.ndarray, grid: tuple) -> np.ndarray:
    """The median of the levels around each pixel of the grid, wider than a cell."""
    from scipy import ndimage

    size = max(5, int(min(grid[:2]) * SURROUNDINGS))
    around = ndimage.median_filter(level.reshape(grid), size=(size, size, 1), mode="nearest")
    return around.reshape(-1)


def densest_level(values: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Each column's most populated level: the mean of its densest run of samples ``width`` wide.

    ``values`` (T, N); ``width`` (N,).
    """
    return _densest_of_sorted(np.sort(values, axis=0), width)


def _densest_of_sorted(ordered: np.ndarray, width: np.ndarray) -> np.ndarray:
    """:func:`densest_level` of ``ordered``, each column's samples sorted."""
    from ..methods._level_kernels import densest_starts

    columns = np.arange(ordered.shape[1])
    start = np.zeros(ordered.shape[1], dtype=np.int64)
    densest_starts(ordered, np.ascontiguousarray(width, dtype=np.float64), start)
    low = ordered[start, columns]
    inside = (ordered >= low) & (ordered <= low + width)
    return np.where(inside, ordered, 0.0).sum(axis=0) / inside.sum(axis=0)


def compile_kernels() -> None:
    """Compile, or load from numba's cache, the kernels of the choice and the drift check."""
    densest_level(np.zeros((2, 1)), np.ones(1))
    _brightness(np.ones((2, 1)), np.ones(1), np.ones(1))


def _brightness(values: np.ndarray, level: np.ndarray, std: np.ndarray) -> tuple:
    """Each frame's ratio to the levels, and the share of its samples that agree with it.

    A frame's ratio is the median of its samples' ratios to their levels in
    the densest run of them (two typical noise deviations wide): light that
    changes changes the background's pixels alike, and they crowd there,
    where the foreground's spread. A sample agrees within three of its own
    deviations. See :class:`FrameSample`.
    """
    from ..methods._level_kernels import densest_run_medians

    usable = level > 0
    if not usable.any():
        return np.ones(len(values)), np.ones(len(values))
    ratio = values[:, usable] / level[usable]
    spread = std[usable] / level[usable]
    width = 2 * float(np.median(spread))
    brightness = np.empty(len(values))
    # numpy's sort is several times numba's; the rest of the search is one compiled pass.
    densest_run_medians(np.sort(ratio, axis=1), width, brightness)
    agreeing = np.abs(ratio - brightness[:, None]) < 3 * spread
    return brightness, agreeing.mean(axis=1)


def _following(first: np.ndarray, second: np.ndarray, std: np.ndarray) -> float:
    """How often consecutive frames change, over how often frames of different pairs do."""
    if len(first) < 2:
        return 0.0
    threshold = FOREGROUND * math.sqrt(2) * std
    consecutive = np.count_nonzero(np.abs(first - second) > threshold)
    # Against the pair half the sample away: frames far apart in time.
    apart = np.count_nonzero(np.abs(first - np.roll(second, len(first) // 2, axis=0)) > threshold)
    return consecutive / apart if apart else 0.0


def describe_choices(choices: "list[Choice]") -> str:
    """What the default decided, in words: each different choice once, with its count of stacks."""
    if not choices:
        return ""
    counts: "dict[str, int]" = {}
    for choice in choices:
        counts[choice.reason] = counts.get(choice.reason, 0) + 1
    if len(counts) == 1:
        return f"auto chose {next(iter(counts))}"
    parts = [f"{reason} (x{count})" for reason, count in counts.items()]
    return "auto chose " + "; ".join(parts)


def choose_method(
    data: "ArrayLike", *, time_axis: int = 0, rgb: "bool | None" = None
) -> "list[Choice]":
    """What the default method decides for ``data``: a :class:`Choice` per stack.

    The same decision the default (``method="auto"``) makes as it runs,
    from the same frames: for a T, C, Y, X stack one per channel, for
    T, Z, Y, X one per slice, in order.

    Parameters
    ----------
    data : array_like
        As :func:`~napari_gmm_background.extract_background` takes it
        (numpy, dask, zarr; only the sampled frames are read).
    time_axis : int
        The axis that is time.
    rgb : bool, optional
        Whether the last axis is colour; guessed as there by default.

    Returns
    -------
    list of Choice

    Examples
    --------
    >>> from napari_gmm_background.datasets import fluorescence_movie
    >>> [choice.method for choice in choose_method(fluorescence_movie(40, 64, 64).frames)]
    ['fluorescence']
    """
    from ..core.checks import check_flag
    from ..core.layout import Layout, time_first

    rgb = check_flag("rgb", rgb, optional=True)
    data = data if hasattr(data, "shape") and hasattr(data, "dtype") else np.asarray(data)
    shape = time_first(data.shape, time_axis)
    layout = Layout.of(shape, rgb)
    before = (slice(None),) * time_axis
    frames = np.stack([np.asarray(data[(*before, t)]) for t in sample_indices(shape[0])])
    choices = []
    for index in np.ndindex(*layout.stacks_shape):
        stack = frames[(slice(None), *index)].reshape((len(frames), *layout.stack_shape[1:]))
        choices.append(choose_for_sample(stack, layout.stack_shape[1:3]))
    return choices
