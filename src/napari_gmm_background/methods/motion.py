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

from ..core.checks import check_count, check_number
from ..core.layout import NON_FINITE_MESSAGE, Layout, as_frames, cast_like, iter_by_stack
from ..core.progress import Progress, renumber, run_to_end

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..core.reading import LazyStack, Reading

    # A first estimate: the kept frames of a stack, (n_kept, Y, X, colours),
    # to a (Y, X, colours) float64 background.
    FirstEstimate = Callable[[np.ndarray], np.ndarray]

__all__ = [
    "count_motionless_steps",
    "count_stack_steps",
    "estimate_noise",
    "iter_motionless_background",
    "iter_stack_background",
    "cell_size_for",
    "refine_frames_for",
    "motion_scores",
    "motionless_background",
]

# LaBGen-P's default subset size; the window and tolerance were measured on
# the SBI sequences and synthetic sets of benchmarks/quality.py.
DEFAULT_N_SAMPLES = 19
DEFAULT_WINDOW_FRACTION = 0.1
DEFAULT_TOLERANCE = 5.0
# The second, pixel-sized scale of the motion score, in pixels.
_LOCAL_PIXELS = 5
# Motion measured on a grid of cells, where the frames are large: about
# this many cells across the smaller image side (see cell_size_for).
CELLS_ACROSS = 160
# The refinement reads every frame up to this many samples per channel
# (pixels x frames, about 1080p x 128 frames), then evenly spread frames,
# at least MIN_REFINE_FRAMES: beyond a hundred or so, more frames hardly
# lower the noise of a median.
MAX_REFINE_SAMPLES = 2**28
MIN_REFINE_FRAMES = 128

# Two colours differ, for the vote between the stillest and the most
# recurring one, by more than this share of the values' spread (or the
# noise tolerance, if larger): well above noise and compression artefacts.
_DECISION_SHARE = 0.025

# Progress is reported every _FRAMES_PER_STEP scored frames and after each of
# _ROW_BANDS bands of the second pass at least, and more for big stacks (at
# most _BAND_SAMPLES samples each): a cancel is honoured within a step.
_FRAMES_PER_STEP = 16
_BATCH_BYTES = 64 * 2**20
_ROW_BANDS = 8
_BAND_SAMPLES = 2**24


def _cell_grey(frame: np.ndarray, cell: int) -> np.ndarray:
    """Channel sums of a (H, W, C) frame in float32, averaged over cells of ``cell`` pixels."""
    height, width, n_channels = frame.shape
    if cell == 1:  # OpenCV, whose calls cost far less than a parallel kernel's on small frames
        import cv2

        grey = frame[..., 0] if n_channels == 1 else frame
        grey = grey.astype(np.float32)
        if n_channels > 1:
            grey = cv2.transform(grey, np.ones((1, n_channels), dtype=np.float32))
        return grey
    from ..core.threads import in_parts
    from ._motion_kernels import cell_grey_into

    grey = np.empty((-(-height // cell), -(-width // cell)), dtype=np.float32)
    rows = np.ascontiguousarray(frame).reshape(height, width * n_channels)
    in_parts(0, len(grey), lambda a, b: cell_grey_into(rows, n_channels, cell, grey, a, b))
    return grey


class _Scorer:
    """The motion scores of frames pushed in order: float32 per cell, one frame behind.

    A frame's score needs the next frame, so :meth:`push` returns the scores
    of the frame before the one pushed, and :meth:`finish` those of the
    last. A cell is ``cell`` x ``cell`` pixels (the scores are (H, W) for
    1). Only three grey frames are alive at a time, so scoring a long stack,
    or one read as it streams by, costs no stack-sized temporaries.
    """

    def __init__(self, n_frames: int, window: int, cell: int = 1):
        self.n_frames = n_frames
        self.size = (window, window)
        self.local = _local_size(cell)
        self.cell = cell
        self.t = -1  # the last frame pushed
        self.grey = None
        self.previous_change = None
        self.check_finite = False

    def _around(self, scores: np.ndarray) -> np.ndarray:
        import cv2

        if self.check_finite and not np.isfinite(scores).all():
            raise ValueError(NON_FINITE_MESSAGE)
        around = cv2.blur(scores, self.size, borderType=cv2.BORDER_REPLICATE)
        around += cv2.blur(scores, (self.local, self.local), borderType=cv2.BORDER_REPLICATE)
        return around

    def push(self, frame: np.ndarray) -> "list[tuple[int, np.ndarray]]":
        """Take the next (H, W, C) frame; ``[(t, scores)]`` of the frame before it, if any."""
        import cv2

        self.t += 1
        if self.t == 0:
            self.check_finite = not np.issubdtype(frame.dtype, np.integer)
            if self.n_frames == 1 and self.check_finite and not np.isfinite(frame).all():
                raise ValueError(NON_FINITE_MESSAGE)
            self.grey = _cell_grey(frame, self.cell)
            return []
        following = _cell_grey(frame, self.cell)
        next_change = cv2.absdiff(following, self.grey)
        previous = self.previous_change
        scores = next_change if previous is None else cv2.max(previous, next_change)
        self.previous_change, self.grey = next_change, following
        return [(self.t - 1, self._around(scores))]

    def finish(self) -> "list[tuple[int, np.ndarray]]":
        """``[(t, scores)]`` of the last frame, once every frame was pushed."""
        if self.n_frames == 1:
            return [(0, np.zeros(self.grey.shape, dtype=np.float32))]
        return [(self.t, self._around(self.previous_change))]


def _local_size(cell: int) -> int:
    """Side, in cells, of the small scale of the motion score: about 5 pixels."""
    return max(1, round(_LOCAL_PIXELS / cell)) | 1


def cell_size_for(height: int, width: int) -> int:
    """Pixels per side of the cells motion is measured on, for images of this size.

    Motion is averaged over a window a tenth of the image wide, so a grid
    of about :data:`CELLS_ACROSS` cells across the smaller side sees it as
    well as every pixel does, at a fraction of the cost; neighbouring pixels
    of a cell then take their background from the same still moments.
    """
    return max(1, round(min(height, width) / CELLS_ACROSS))


def refine_frames_for(n_frames: int, n_pixels: int) -> int:
    """How many frames the refinement reads of a stack: all, unless it is very large."""
    return min(n_frames, max(MIN_REFINE_FRAMES, MAX_REFINE_SAMPLES // max(n_pixels, 1)))


def motion_scores(frames: np.ndarray, *, window: int, cell: int = 1) -> np.ndarray:
    """Motion of every sample: (T, H, W) float32 from (T, H, W[, C]) frames.

    The larger absolute change (summed over channels) to the previous and to
    the next frame, averaged over a ``window`` x ``window`` neighbourhood,
    plus the same averaged over about 5 x 5 pixels. With ``cell`` > 1, per
    cell of ``cell`` x ``cell`` pixels (the frames averaged over each cell
    first), and ``window`` counts cells: (T, ceil(H / cell), ceil(W / cell)).
    For inspection; the methods score frame by frame without keeping this.
    """
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[..., np.newaxis]
    scorer = _Scorer(len(frames), window, cell)
    scores = None
    for frame in [*frames, None]:
        for t, frame_scores in scorer.push(frame) if frame is not None else scorer.finish():
            if scores is None:
                scores = np.empty((len(frames),) + frame_scores.shape, dtype=np.float32)
            scores[t] = frame_scores
    return scores


def estimate_noise(frames: np.ndarray, *, max_samples: int = 1_000_000) -> float:
    """Standard deviation of the temporal noise of (T, ...) frames.

    From the median absolute change between consecutive frames, which
    moving things barely shift because most samples show none. Evenly spaced
    frame pairs and rows are used when the stack is large.
    """
    sampler = _NoiseSampler(frames.shape, max_samples)
    for t in sampler.frames_needed:
        sampler.see(t, frames[t])
    return sampler.noise()


class _NoiseSampler:
    """:func:`estimate_noise` fed one frame at a time, in order (frames streamed from disk)."""

    def __init__(self, shape: tuple, max_samples: int = 1_000_000):
        n_frames = shape[0]
        per_pair = math.prod(shape[1:])
        n_pairs = max(1, min(n_frames - 1, max_samples // max(per_pair, 1)))
        starts = np.linspace(0, n_frames - 2, n_pairs).round().astype(int) if n_frames > 1 else []
        self.starts = {int(t) for t in starts}
        self.frames_needed = sorted(self.starts | {t + 1 for t in self.starts})
        self.row_step = max(1, -(-per_pair // max_samples))
        self.changes: "list[np.ndarray]" = []
        self.previous = None

    def see(self, t: int, frame: np.ndarray) -> None:
        """Take frame ``t``; frames must come in increasing order (others are ignored)."""
        rows = None
        if t - 1 in self.starts and self.previous is not None:
            rows = frame[:: self.row_step].astype(np.float32)
            self.changes.append(np.abs(rows - self.previous).ravel())
        if t in self.starts:
            self.previous = frame[:: self.row_step].astype(np.float32) if rows is None else rows
        else:
            self.previous = None

    def noise(self) -> float:
        if not self.changes:
            return 0.0
        # median |x - y| of two independent normal samples = 0.6745 * sqrt(2) * sigma
        return float(np.median(np.concatenate(self.changes)) / (0.6745 * math.sqrt(2)))


def _value_range(frames: np.ndarray) -> float:
    """The spread of the values of (T, ...) frames: 1st to 99th percentile of some frames."""
    sampler = _ValueSampler(len(frames))
    for t in range(0, len(frames), sampler.every):
        sampler.see(t, frames[t])
    return sampler.value_range()


class _ValueSampler:
    """:func:`_value_range` fed one frame at a time."""

    def __init__(self, n_frames: int):
        self.every = max(1, n_frames // 16)
        self.samples: "list[np.ndarray]" = []

    def see(self, t: int, frame: np.ndarray) -> None:
        if t % self.every == 0:
            self.samples.append(frame[::4, ::4].copy())

    def value_range(self) -> float:
        low, high = np.percentile(np.stack(self.samples), [1, 99])
        return float(high - low)


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


def _check(n_samples, window, tolerance, gmm_settings) -> None:
    check_count("n_samples", n_samples)
    if window is not None:
        check_count("window", window)
    check_number("tolerance", tolerance)
    unknown = sorted(set(gmm_settings) - {"n_components", "max_iter", "tol", "reg_covar"})
    if unknown:
        raise TypeError(
            f"unexpected keyword {unknown[0]!r}; the mixture settings are n_components, "
            "max_iter, tol and reg_covar"
        )
    from .gmm import EMSettings

    EMSettings(**gmm_settings)


def count_stack_steps(
    stack_shape: tuple,
    *,
    refines_a_first_estimate: bool = False,
    cell_size: "int | None" = 1,
    reading: "Reading | None" = None,
) -> int:
    """Progress steps of one (T, Y, X, colours) stack.

    ``cell_size`` as :func:`iter_stack_background`; ``reading`` for a stack
    read on demand (:class:`napari_gmm_background.reading.LazyStack`), whose
    reading is counted too.
    """
    plan = _Plan(stack_shape, cell_size, reading)
    return plan.n_steps(refines_a_first_estimate)


class _Plan:
    """How a stack is gone through: steps of the first pass, bands and blocks of the second.

    The second pass fits bands of rows, at least :data:`_ROW_BANDS` and of
    at most :data:`_BAND_SAMPLES` samples, their edges on whole cells. A
    stack in memory is one block; one read on demand is read a block of
    whole bands at a time, each of at most ``reading.block_bytes`` over all
    frames, a part of its frames a step (see
    :class:`napari_gmm_background.reading.LazyStack`).
    """

    def __init__(self, stack_shape: tuple, cell_size: "int | None", reading: "Reading | None"):
        n_frames, height, width = stack_shape[:3]
        self.n_frames = n_frames
        self.cell = cell_size_for(height, width) if cell_size is None else int(cell_size)
        n_bands = min(max(_ROW_BANDS, -(-math.prod(stack_shape) // _BAND_SAMPLES)), height)
        edges = np.linspace(0, height, n_bands + 1) / self.cell
        edges = np.minimum(edges.round().astype(int) * self.cell, height)
        edges[-1] = height
        self.bands = list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))
        self.scoring_steps = -(-n_frames // _FRAMES_PER_STEP)
        self.read_steps = 0
        self.blocks = [(0, len(self.bands))]  # [first band, stop band)
        self.block_reads = [0]
        if reading is None:
            return
        from ..core.reading import count_read_steps

        row_bytes = math.prod(stack_shape[2:]) * reading.itemsize  # one row of one frame
        self.read_steps = count_read_steps(stack_shape, reading)
        self.blocks, self.block_reads, start = [], [], 0
        rows_per_block = max(1, reading.block_bytes // max(row_bytes * n_frames, 1))
        for stop in range(1, len(self.bands) + 1):
            last = stop == len(self.bands)
            too_big = not last and self.bands[stop][1] - self.bands[start][0] > rows_per_block
            if last or too_big:
                first_row, last_row = self.bands[start][0], self.bands[stop - 1][1]
                parts = reading.parts(n_frames, (last_row - first_row) * row_bytes)
                self.block_reads.append(len(parts))
                self.blocks.append((start, stop))
                start = stop
        if len(self.blocks) == 1:
            self.block_reads = [0]  # kept in memory from the first pass

    def rows(self, block: int) -> "tuple[int, int]":
        first, stop = self.blocks[block]
        return self.bands[first][0], self.bands[stop - 1][1]

    def n_steps(self, refines_a_first_estimate: bool) -> int:
        per_block = refines_a_first_estimate * len(self.blocks)
        first_pass = self.scoring_steps + self.read_steps
        return first_pass + sum(self.block_reads) + per_block + len(self.bands)


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
    stack: "np.ndarray | LazyStack",
    *,
    n_samples: int = DEFAULT_N_SAMPLES,
    window: "int | None" = None,
    tolerance: float = DEFAULT_TOLERANCE,
    first_estimate: "FirstEstimate | None" = None,
    cell_size: "int | None" = 1,
    joint_colour: bool = False,
    max_refine_frames: "int | None" = None,
    prefer_recurring: bool = False,
) -> "Generator[Progress, None, np.ndarray]":
    """The motionless background of one (T, Y, X, colours) stack, float64.

    Yields :func:`count_stack_steps` progress steps.

    Parameters
    ----------
    stack : numpy.ndarray or LazyStack
        (T, Y, X, colours) frames, in memory or read on demand a part at a
        time (:class:`napari_gmm_background.reading.LazyStack`), with the
        same result.
    n_samples, window, tolerance
        As :func:`motionless_background` (``window`` in cells).
    first_estimate : callable, optional
        Takes the kept frames (n_kept, Y, X, colours) to a first estimate;
        None takes the median of each pixel's kept frames.
    cell_size : int or None
        Motion is scored, and frames kept, per cell of this many pixels
        across; None picks :func:`cell_size_for` the image.
    joint_colour : bool
        A frame agrees with the first estimate only where all its colour
        channels do, so every channel's median comes from the same frames.
    max_refine_frames : int, optional
        Refine with at most this many frames, every n-th.
    prefer_recurring : bool
        Where fewer than half the frames agree with the result, weigh it
        against the pixel's most recurring colour (see
        :func:`napari_gmm_background._motion_kernels.prefer_recurring`).
    """
    from ..core.threads import in_parts
    from . import _motion_kernels

    lazy = not isinstance(stack, np.ndarray)
    n_frames, height, width, n_colours = stack.shape
    plan = _Plan(stack.shape, cell_size, stack.reading if lazy else None)
    cell = plan.cell
    grid = (-(-height // cell), -(-width // cell))
    if window is None:
        window = _window_for(*grid)
    n_kept = min(n_frames, n_samples)
    total = plan.n_steps(first_estimate is not None)
    done = 0
    if height == 0 or width == 0:  # an empty image: an empty background
        for done in range(1, total + 1):
            yield Progress(done, total)
        return np.empty((height, width, n_colours))

    # First pass: every frame scored in turn. Frames read on demand also
    # give here what the second pass needs of whole frames (the noise, the
    # spread of values), and keep its blocks of rows (LazyStack.keep_rows).
    noise = _NoiseSampler(stack.shape)
    values = _ValueSampler(n_frames) if prefer_recurring else None
    if lazy:
        stack.keep_rows([plan.rows(block) for block in range(len(plan.blocks))])
    best = np.empty(grid + (n_kept,), dtype=np.uint64)
    worst = np.full(grid, np.iinfo(np.uint64).max, dtype=np.uint64)
    # Scores are offered a batch of frames at a time; a batch divides a step
    # and holds at most _BATCH_BYTES (a few frames of a large image).
    per_batch = _FRAMES_PER_STEP
    while per_batch > 1 and per_batch * math.prod(grid) * 4 > _BATCH_BYTES:
        per_batch //= 2
    batch = np.empty((min(per_batch, n_frames),) + grid, dtype=np.float32)
    scorer = _Scorer(n_frames, window, cell)

    def keep(t: int, scores: np.ndarray, batch=batch, best=best, worst=worst) -> bool:
        """Offer frame ``t``'s scores; whether a step of frames was scored."""
        batch[t % per_batch] = scores
        last = t + 1 == n_frames
        if (t + 1) % per_batch and not last:
            return False
        first = t - t % per_batch
        score_bits = batch[: t + 1 - first].view(np.uint32)
        offer = partial(_motion_kernels.keep_least_moving, score_bits, first, best, worst)
        in_parts(0, grid[0], offer)
        return (t + 1) % _FRAMES_PER_STEP == 0 or last

    parts = stack.parts() if lazy else [slice(0, n_frames)]
    for part in parts:
        if lazy:
            frames = yield from renumber(stack.iter_read_part(part), total, done)
            done += stack.count_strips(part)
        else:
            frames = stack
        for t, frame in enumerate(frames, start=part.start):
            if lazy:
                noise.see(t, frame)
                if values is not None:
                    values.see(t, frame)
            ready = scorer.push(frame) if t + 1 < n_frames else scorer.push(frame) + scorer.finish()
            for scored, scores in ready:
                if keep(scored, scores):
                    done += 1
                    yield Progress(done, total)
        del frames
    best_frames = _motion_kernels.frames_of(best)
    del keep, best, worst, batch

    if not lazy:
        for t in noise.frames_needed:
            noise.see(t, stack[t])
        if values is not None:
            for t in range(0, n_frames, values.every):
                values.see(t, stack[t])
    tolerance_levels = tolerance * noise.noise()
    count_width = 0
    if np.issubdtype(stack.dtype, np.integer):
        # Below half a level, only the exact first median would agree.
        tolerance_levels = max(tolerance_levels, 0.5)
        # The agreeing values are counted over their 2 * tolerance levels,
        # unless clearing that many counters would cost more than the count.
        span = 2 * int(math.floor(tolerance_levels)) + 2
        n_refine = n_frames
        if max_refine_frames is not None and n_frames > max_refine_frames:
            n_refine = len(range(0, n_frames, -(-n_frames // max_refine_frames)))
        count_width = span if span <= max(64, n_refine) else 0
    if prefer_recurring:
        decision_tolerance = max(tolerance_levels, _DECISION_SHARE * values.value_range())
    tolerance_levels = float(tolerance_levels)

    first_estimates = np.empty((height, width, n_colours), dtype=np.float64)
    background = np.empty((height, width, n_colours), dtype=np.float64)
    support = np.empty((height, width), dtype=np.int32)

    def fit_band(frames, refine_frames, offset: int, band_start: int, band_stop: int) -> None:
        """Fit image rows ``band_start:band_stop``; ``frames`` hold rows from ``offset`` on."""
        rows_best = best_frames[offset // cell :]
        rows_first = first_estimates[offset:]
        rows_background = background[offset:]
        rows_support = support[offset:]

        def first_medians(a: int, b: int) -> None:
            _motion_kernels.kept_medians(frames, rows_best, cell, a, b, rows_first)

        def refine(a: int, b: int) -> None:
            # Only the kernel a call needs is compiled: counting for integers, sorting otherwise.
            if count_width:
                _motion_kernels.agreeing_medians_counted(
                    refine_frames, rows_first, tolerance_levels, count_width, joint_colour,
                    a, b, rows_background, rows_support,
                )  # fmt: skip
            else:
                _motion_kernels.agreeing_medians_sorted(
                    refine_frames, rows_first, tolerance_levels, joint_colour,
                    a, b, rows_background, rows_support,
                )  # fmt: skip
            if prefer_recurring:
                _motion_kernels.prefer_recurring(
                    frames, refine_frames, rows_best, cell, tolerance_levels,
                    float(decision_tolerance), rows_support, 0.5, a, b, rows_background,
                )  # fmt: skip

        if first_estimate is None:
            in_parts(band_start - offset, band_stop - offset, first_medians)
        in_parts(band_start - offset, band_stop - offset, refine)

    # Second pass, a block of rows at a time: the kernels see the block's
    # frames and the views of the per-pixel arrays from its first row on, so
    # they index both alike (the block's first row is on a whole cell).
    for block, (first_band, stop_band) in enumerate(plan.blocks):
        row_start, row_stop = plan.rows(block)
        if not lazy:
            frames, offset = stack, 0
        else:
            offset = row_start
            frames = yield from renumber(stack.iter_block(row_start, row_stop), total, done)
            done += plan.block_reads[block]
        refine_frames = frames
        if max_refine_frames is not None and n_frames > max_refine_frames:
            refine_frames = frames[:: -(-n_frames // max_refine_frames)]  # a view, not a copy
        if first_estimate is not None:
            cells = best_frames[row_start // cell : -(-row_stop // cell)]
            per_pixel = cells.repeat(cell, axis=0).repeat(cell, axis=1)
            per_pixel = per_pixel[: row_stop - row_start, :width]
            kept = np.take_along_axis(
                frames[:, row_start - offset : row_stop - offset],
                np.moveaxis(per_pixel, -1, 0)[..., np.newaxis],
                axis=0,
            )
            del per_pixel
            first_estimates[row_start:row_stop] = first_estimate(np.ascontiguousarray(kept))
            del kept
            done += 1
            yield Progress(done, total)

        for band_start, band_stop in plan.bands[first_band:stop_band]:
            fit_band(frames, refine_frames, offset, band_start, band_stop)
            done += 1
            yield Progress(done, total)
        del frames, refine_frames
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
    _check(n_samples, window, tolerance, gmm_settings)
    first_estimate = _first_estimate(statistic, gmm_settings)
    frames = as_frames(data, time_axis)
    dtype = np.asarray(data).dtype  # half floats are computed as float32
    layout = Layout.of(frames.shape, rgb)
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
    return cast_like(background, dtype)


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
