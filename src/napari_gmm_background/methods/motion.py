"""Backgrounds from each pixel's most motionless frames.

The seed rule (the heaviest Gaussian of all frames) fails where foreground
lingers or covers much of the frame: the foreground then wins the weight.
LaBGen-P (Laugraud et al., second in the 2016 Scene Background Modeling
Contest) scores every sample by the motion around it and estimates the
background from the most motionless samples only. Here:

1. motion of frame t at a pixel = the absolute grey-level change to the
   next frame, averaged over a wide square window plus the same averaged
   over the pixel's 5 x 5 neighbourhood. One change, not the larger of the
   changes to both neighbours: where the background itself never stops
   (leaves in the wind) a moment still for two frames is found far more
   often than one still for three (SBI Foliage 1.57 -> 0.96 AGE for the
   median of the kept frames), and nowhere measured did it cost. A frame
   the next one repeats exactly (a frame-rate conversion) takes its change
   from the previous frame instead, so repeats do not look still. A wide window,
   because a person standing still still moves a little somewhere around
   the pixel while the empty scene does not; the small one, because a
   small object crossing the pixel must count even when the wide window is
   busy with others (cells on a large field of view);
2. per pixel, the ``n_samples`` frames with the least motion are kept; ties
   go to the later frames, so the background is the scene as it was left;
3. their median ("motionless") or the seed rule's GMM on them
   ("motionless-gmm") is a robust first estimate. It rests on a few frames,
   so it is noisy: the result is the median of *all* frames within
   ``tolerance`` times the kept frames' typical distance from their median
   (see :func:`_kept_spread`), the frames that show the same thing. That
   distance, not the noise between consecutive frames: where leaves move
   over most of the view, most changes between frames are leaves, and a
   tolerance from them let leaves in (SBI Foliage 0.96 -> 1.84 AGE after
   refining; 0.44 now); and where the camera's exposure wanders (SBI
   Board) the still moments of the background differ by more than its
   noise, and all of them belong in its median (2.87 -> 1.54).

Every stack of a layout (see :mod:`napari_gmm_background.layout`) is done on
its own: the channels or Z slices of a hyperstack never mix. Numbers only:
arrays in, arrays out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ..core.checks import check_count, check_number
from ..core.layout import NON_FINITE_MESSAGE, check_magnitude
from ..core.noise import column_medians
from ..core.plan import Plan, Step

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

    from ..core.reading import InMemory, LazyStack

    StackSource = InMemory | LazyStack
    # Runs task(a, b) over parts of range(start, stop): core.threads.in_parts or in_one_part.
    Split = Callable[[int, int, Callable[[int, int], object]], list]

    # A first estimate: the kept frames of a stack, (n_kept, Y, X, colours),
    # to a (Y, X, colours) float64 background.
    FirstEstimate = Callable[[np.ndarray], np.ndarray]

__all__ = [
    "MotionOptions",
    "cell_size_for",
    "compile_streamed_pass",
    "motion_scores",
    "plan_stack",
    "refine_frames_for",
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

# The refinement's tolerance is a multiple of how far each pixel's stillest
# frames lie from their median, measured at about this many pixels (fewer
# in long stacks, up to this many values over all frames).
_SPREAD_PIXELS = 4096
_SPREAD_SAMPLES = 2**22

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


def _cell_grey(frame: np.ndarray, cell: int, split: "Split | None" = None) -> np.ndarray:
    """Channel sums of a (H, W, C) frame in float32, averaged over cells of ``cell`` pixels.

    ``split`` runs the kernel over rows of cells (default: ``in_parts``).
    """
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
    split = split or in_parts
    split(0, len(grey), lambda a, b: cell_grey_into(rows, n_channels, cell, grey, a, b))
    return grey


class _Scorer:
    """The motion scores of frames pushed in order: float32 per cell, one frame behind.

    A frame's score needs the next frame, so :meth:`push` returns the scores
    of the frame before the one pushed, and :meth:`finish` those of the
    last. A cell is ``cell`` x ``cell`` pixels (the scores are (H, W) for
    1). Only two grey frames and a change are alive at a time, so scoring a long stack,
    or one read as it streams by, costs no stack-sized temporaries.
    """

    def __init__(self, n_frames: int, window: int, cell: int = 1, split: "Split | None" = None):
        self.n_frames = n_frames
        self.split = split
        self.size = (window, window)
        self.local = _local_size(cell)
        self.cell = cell
        self.t = -1  # the last frame pushed
        self.grey = None
        self.previous_change = None  # into the last frame pushed
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
            self.grey = _cell_grey(frame, self.cell, self.split)
            return []
        following = _cell_grey(frame, self.cell, self.split)
        change = cv2.absdiff(following, self.grey)
        self.grey, into = following, self.previous_change
        self.previous_change = change
        if into is not None and not cv2.countNonZero(change):  # the frame scored is repeated
            change = into
        return [(self.t - 1, self._around(change))]

    def finish(self) -> "list[tuple[int, np.ndarray]]":
        """``[(t, scores)]`` of the last frame, once every frame was pushed.

        It has no next frame: its change is the one into it.
        """
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


class _SpreadSampler:
    """Every frame on a sparse grid of pixels, for :func:`_kept_spread` of their stillest.

    About :data:`_SPREAD_PIXELS` pixels, fewer where a long stack would
    exceed :data:`_SPREAD_SAMPLES` values: a strided copy a frame, so
    sampling costs next to nothing beside scoring.
    """

    def __init__(self, shape: tuple, dtype):
        n_frames, height, width, n_colours = shape
        self.step = _spread_step(shape)
        grid = (len(range(0, height, self.step)), len(range(0, width, self.step)))
        self.samples = np.empty((n_frames, *grid, n_colours), dtype=dtype)

    def see(self, t: int, frame: np.ndarray) -> None:
        self.samples[t] = frame[:: self.step, :: self.step]

    def kept(self, kept_index: np.ndarray, cell: int) -> np.ndarray:
        """The sampled pixels' values in their cells' stillest frames: (S, rows, columns, C)."""
        _, n_rows, n_columns, _ = self.samples.shape
        rows = np.arange(n_rows) * self.step // cell
        columns = np.arange(n_columns) * self.step // cell
        frames = np.moveaxis(kept_index[rows][:, columns], -1, 0)
        return np.take_along_axis(self.samples, frames[..., np.newaxis], axis=0)


def _spread_step(shape: tuple) -> int:
    """The spacing of :class:`_SpreadSampler`'s grid for a (T, H, W, colours) stack."""
    n_frames, height, width, n_colours = shape
    wanted = min(_SPREAD_PIXELS, max(1, _SPREAD_SAMPLES // max(n_frames * n_colours, 1)))
    return max(1, round(math.sqrt(height * width / wanted)))


def _kept_spread(kept: np.ndarray) -> float:
    """How far the stillest frames lie from their median: the median distance of all.

    ``kept`` (S, ..., colours): pixels' values in their stillest frames.
    A frame's distance is its farthest channel's, for every method: measured
    per channel, colour quantised in coarse steps in one channel (SBI
    IBMtest2) gave ``motionless`` a tolerance below its steps (0.16 -> 1.35
    AGE).
    """
    if kept.size == 0:
        return 0.0
    values = kept.reshape(len(kept), -1, kept.shape[-1]).astype(np.float64)
    return float(np.median(np.abs(values - column_medians(values)).max(axis=-1)))


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


@dataclass(frozen=True)
class MotionOptions:
    """How a motionless method goes through a stack; checked when made.

    Attributes
    ----------
    n_samples : int
        Frames kept per pixel (or cell), those with the least motion around
        it (all frames if there are fewer).
    tolerance : float
        Frames within this many times the stillest frames' typical
        distance from their median (for integer data at least half a
        level) of the first estimate make the final median.
    window : int, optional
        Side, in cells, of the square window motion is averaged over;
        default a tenth of the smaller image side.
    first_estimate : callable, optional
        Takes the kept frames (n_kept, Y, X, colours) to a first estimate;
        None takes the median of each pixel's kept frames.
    cell_size : int or None
        Motion is scored, and frames kept, per cell of this many pixels
        across; None picks :func:`cell_size_for` the image.
    joint_colour : bool
        A frame agrees with the first estimate only where all its colour
        channels do, so every channel's median comes from the same frames.
    limit_refine : bool
        Refine with at most :func:`refine_frames_for` frames, every n-th.
    prefer_recurring : bool
        Where fewer than half the frames agree with the result, weigh it
        against the pixel's most recurring colour (see
        :func:`napari_gmm_background.methods._motion_kernels.prefer_recurring`).
    """

    n_samples: int = DEFAULT_N_SAMPLES
    tolerance: float = DEFAULT_TOLERANCE
    window: "int | None" = None
    first_estimate: "FirstEstimate | None" = field(default=None, compare=False)
    cell_size: "int | None" = 1
    joint_colour: bool = False
    limit_refine: bool = False
    prefer_recurring: bool = False

    def __post_init__(self):
        check_count("n_samples", self.n_samples)
        check_number("tolerance", self.tolerance)
        if self.window is not None:
            check_count("window", self.window)


def plan_stack(source: "StackSource", options: MotionOptions = MotionOptions()) -> Plan:
    """The motionless background of one (T, Y, X, colours) stack, step by step.

    ``source`` is the stack in memory
    (:class:`napari_gmm_background.core.reading.InMemory`) or read on
    demand (:class:`napari_gmm_background.core.reading.LazyStack`), with
    the same result. The first pass reads each part of the frames and
    scores them, a few frames a step; the second fits a band of rows a
    step, a block of rows at a time (for a stack read on demand, each block
    read first, a part a step). The result is (Y, X, colours) float64.
    """
    fit = _StackFit(source, options)
    if fit.empty:  # an empty image: an empty background
        return Plan([Step(fit.make_empty)], fit.result)
    source.keep_rows(fit.block_rows)
    steps = fit.streamed_steps() if fit.streams else []
    for part in [] if fit.streams else source.parts():
        steps += [Step(read) for read in source.part_reads(part)]
        for start in range(part.start, part.stop, _FRAMES_PER_STEP):
            stop = min(start + _FRAMES_PER_STEP, part.stop)
            steps.append(Step(partial(fit.score, part, start, stop)))
    for block, bands in enumerate(fit.block_bands):
        steps += [Step(read) for read in source.block_reads(block)]
        if options.first_estimate is not None:
            steps.append(Step(partial(fit.estimate, block)))
        steps += [Step(partial(fit.fit_band, block, band)) for band in bands]
    return Plan(steps, fit.result)


class _StackFit:
    """What the steps of :func:`plan_stack` share: the stack's geometry and its fit so far."""

    def __init__(self, source: "StackSource", options: MotionOptions):
        self.source = source
        self.options = options
        n_frames, height, width, self.n_colours = source.shape
        self.n_frames, self.height, self.width = n_frames, height, width
        cell = cell_size_for(height, width) if options.cell_size is None else options.cell_size
        self.cell = int(cell)
        self.grid = (-(-height // self.cell), -(-width // self.cell))
        self.window = options.window or _window_for(*self.grid)
        self.n_kept = min(n_frames, options.n_samples)
        self.refine_step = 1
        if options.limit_refine:
            limit = refine_frames_for(n_frames, height * width)
            self.refine_step = -(-n_frames // limit) if n_frames > limit else 1
        self.empty = height == 0 or width == 0
        # A stack whose frames go by once (a video as it is decoded): its first
        # pass keeps what the second needs, each cell's stillest frames and the
        # refinement's frames, instead of reading any frame again.
        self.n_refine = len(range(0, n_frames, self.refine_step))
        self.streams = not getattr(source, "keeps_every_frame", True)
        if self.streams:
            self._check_budget()
        self._plan_blocks()
        self.scoring = False

    def _check_budget(self) -> None:
        """OverBudget where what frames going by once must keep exceeds the source's budget."""
        from ..core.reading import OverBudget

        frame_bytes = math.prod(self.source.shape[1:]) * self.source.dtype.itemsize
        # Each decoder's share keeps its own stillest frames; they are merged into one more set.
        n_kept_sets = len(self.source.streams) + 1
        need = (n_kept_sets * self.n_kept + self.n_refine) * frame_bytes
        budget = getattr(self.source, "budget", None)
        if budget is not None and need > budget:
            raise OverBudget(need, budget)

    def _plan_blocks(self) -> None:
        """Bands of rows on whole cells, and the blocks of bands the second pass reads.

        At least :data:`_ROW_BANDS` bands of at most :data:`_BAND_SAMPLES`
        samples; a stack in memory is one block, one read on demand blocks
        of at most ``reading.block_bytes`` over all frames.
        """
        height, cell = self.height, self.cell
        n_samples = math.prod(self.source.shape)
        n_bands = min(max(_ROW_BANDS, -(-n_samples // _BAND_SAMPLES)), height)
        edges = np.linspace(0, height, n_bands + 1) / cell
        edges = np.minimum(edges.round().astype(int) * cell, height)
        edges[-1] = height
        bands = list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))
        reading = self.source.reading
        rows_per_block = height
        if reading is not None and not self.streams:
            row_bytes = math.prod(self.source.shape[2:]) * reading.itemsize
            rows_per_block = max(1, reading.block_bytes // max(row_bytes * self.n_frames, 1))
        self.block_bands = [[]]
        for band in bands:
            block = self.block_bands[-1]
            if block and band[1] - block[0][0] > rows_per_block:
                self.block_bands.append([])
            self.block_bands[-1].append(band)
        self.block_rows = [(block[0][0], block[-1][1]) for block in self.block_bands]

    def make_empty(self) -> None:
        self.background = np.empty((self.height, self.width, self.n_colours))

    # -- the first pass: every frame scored in turn ---------------------------

    def _start_first_pass(self) -> None:
        from ..core.threads import in_parts

        grid, n_frames = self.grid, self.n_frames
        self.spread = _SpreadSampler(self.source.shape, self.source.dtype)
        self.values = _ValueSampler(n_frames) if self.options.prefer_recurring else None
        self.best = np.empty(grid + (self.n_kept,), dtype=np.uint64)
        self.worst = np.full(grid, np.iinfo(np.uint64).max, dtype=np.uint64)
        # Scores are offered a batch of frames at a time; a batch divides a
        # step and holds at most _BATCH_BYTES (a few frames of a large image).
        per_batch = _FRAMES_PER_STEP
        while per_batch > 1 and per_batch * math.prod(grid) * 4 > _BATCH_BYTES:
            per_batch //= 2
        self.per_batch = per_batch
        self.batch = np.empty((min(per_batch, n_frames),) + grid, dtype=np.float32)
        self.scorer = _Scorer(n_frames, self.window, self.cell, in_parts)

    def score(self, part: slice, start: int, stop: int) -> None:
        """Score frames ``start:stop`` of ``part`` (read), and sample what the fit needs."""
        if not self.scoring:
            self._start_first_pass()
            self.scoring = True
        frames = self.source.frames(part)
        for t in range(start, stop):
            frame = frames[t - part.start]
            check_magnitude(frame)  # frames read on demand were not scaled (engine.run)
            self.spread.see(t, frame)
            if self.values is not None:
                self.values.see(t, frame)
            ready = self.scorer.push(frame)
            if t + 1 == self.n_frames:
                ready += self.scorer.finish()
            for scored, scores in ready:
                self._offer(scored, scores)
        if stop == self.n_frames:
            self._end_first_pass()

    def streamed_steps(self) -> "list[Step]":
        """The first pass over frames that go by once: a few frames of every decoder's share a step.

        The shares are scored side by side, each on a core beside its decoder.
        """
        shares = [stream.share for stream in self.source.streams]
        steps = []
        for start in range(0, max(len(share) for share in shares), _FRAMES_PER_STEP):
            stops = [min(share.start + start + _FRAMES_PER_STEP, share.stop) for share in shares]
            ends = zip(shares, stops, strict=True)
            size = sum(stop - min(share.start + start, stop) for share, stop in ends)
            steps.append(Step(partial(self.score_shares, stops), "decode", size))
        return steps

    def score_shares(self, stops: "list[int]") -> None:
        """Score each decoder's share up to its frame in ``stops``; after the last, end the pass."""
        from ..core.threads import on_workers

        if not self.scoring:
            shape, dtype = self.source.shape[1:], self.source.dtype
            cells = self.grid + (self.n_kept, self.cell, self.cell * self.n_colours)
            streams = self.source.streams
            # Each share's kept frames, a cell's side by side (merged into self.kept at the end).
            self.kept_cells = np.empty((len(streams), *cells), dtype=dtype)
            self.refine = np.empty((self.n_refine, *shape), dtype=dtype)
            self.shares = [
                _SharePass(self, stream, kept)
                for stream, kept in zip(streams, self.kept_cells, strict=True)
            ]
            self.scoring = True
        shares = self.shares

        def score(worker: int, n_workers: int) -> None:
            for i in range(worker, len(shares), n_workers):
                shares[i].score_until(stops[i])

        on_workers(score, len(shares))
        if all(stop == share.stream.share.stop for share, stop in zip(shares, stops, strict=True)):
            self._end_streamed_pass()

    def _end_streamed_pass(self) -> None:
        """The shares' stillest frames merged into one set per cell, as planes (S, H, W, C)."""
        from ..core.threads import in_parts
        from . import _motion_kernels

        shares, grid, n_kept = self.shares, self.grid, self.n_kept
        self.values = shares[0].values
        for share in shares[1:]:  # their samples in frame order, as one pass would take them
            if self.values is not None:
                self.values.samples += share.values.samples
        bests = np.stack([share.best for share in shares])
        slots = np.stack([share.slots for share in shares])
        offered = np.array([share.n_offered for share in shares], dtype=np.int64)
        cells = self.kept_cells
        planes = np.empty((n_kept, self.height, self.width * self.n_colours), dtype=cells.dtype)
        merge = partial(_motion_kernels.merge_kept, bests, slots, offered, cells, self.cell, planes)
        in_parts(0, grid[0], merge)
        del self.shares, self.kept_cells, cells
        self.kept = planes.reshape(n_kept, self.height, self.width, self.n_colours)
        # Where the second pass finds each cell's kept frames: plane j holds its j-th stillest.
        self.kept_index = np.empty(grid + (n_kept,), dtype=np.int32)
        self.kept_index[...] = np.arange(n_kept, dtype=np.int32)
        step = _spread_step(self.source.shape)  # the grid a pass over frames in memory samples
        kept = self.kept[:, ::step, ::step]
        self._tolerances(_kept_spread(kept))

    def _offer(self, t: int, scores: np.ndarray) -> None:
        """Offer frame ``t``'s scores; a full batch goes to the cells' stillest frames."""
        from ..core.threads import in_parts
        from . import _motion_kernels

        per_batch = self.per_batch
        self.batch[t % per_batch] = scores
        if (t + 1) % per_batch and t + 1 < self.n_frames:
            return
        first = t - t % per_batch
        score_bits = self.batch[: t + 1 - first].view(np.uint32)
        offer = partial(_motion_kernels.keep_least_moving, score_bits, first, self.best, self.worst)
        in_parts(0, self.grid[0], offer)

    def _end_first_pass(self) -> None:
        """The stillest frames of every cell, as frame numbers of the stack."""
        from . import _motion_kernels

        self.kept_index = _motion_kernels.frames_of(self.best)
        del self.best, self.worst, self.batch, self.scorer
        kept = self.spread.kept(self.kept_index, self.cell)
        del self.spread
        self._tolerances(_kept_spread(kept))

    def _tolerances(self, spread: float) -> None:
        """The tolerances the refinement needs, and the arrays the second pass fills.

        ``spread``: how far the stillest frames lie from their median (:func:`_kept_spread`).
        """
        from . import _motion_kernels

        tolerance = self.options.tolerance * spread
        self.count_width = 0
        if np.issubdtype(self.source.dtype, np.integer):
            # Below half a level, only the exact first median would agree.
            tolerance = max(tolerance, 0.5)
            # The agreeing values are counted over their 2 * tolerance levels,
            # unless clearing that many counters would cost more than the count.
            span = 2 * int(math.floor(tolerance)) + 2
            self.count_width = span if span <= max(64, self.n_refine) else 0
        if self.options.prefer_recurring:
            share = _DECISION_SHARE * self.values.value_range()
            self.decision_tolerance = float(max(tolerance, share))
        self.tolerance = float(tolerance)
        self.network = _motion_kernels.sorting_network(self.n_kept)  # for the kept medians
        shape = (self.height, self.width, self.n_colours)
        self.first_estimates = np.empty(shape, dtype=np.float64)
        self.background = np.empty(shape, dtype=np.float64)
        self.support = np.empty((self.height, self.width), dtype=np.int32)

    # -- the second pass, a block of rows at a time ----------------------------
    # The kernels see the block's frames and the per-pixel arrays from its
    # first row on, so they index both alike (a block starts on a whole cell).

    def _second_pass_frames(self, block: int):
        """A block's kept frames (values, and each cell's index into them) and refinement frames.

        Rows from the block's first on; for frames that went by once, what the
        first pass kept (one block of every row).
        """
        if self.streams:
            return self.kept, self.kept_index, self.refine
        frames = self.source.block(block)
        return frames, self.kept_index, frames[:: self.refine_step]  # a view, not a copy

    def estimate(self, block: int) -> None:
        """The first estimates of ``block``'s rows from their kept frames."""
        row_start, row_stop = self.block_rows[block]
        frames, index, _ = self._second_pass_frames(block)
        cell = self.cell
        cells = index[row_start // cell : -(-row_stop // cell)]
        per_pixel = cells.repeat(cell, axis=0).repeat(cell, axis=1)
        per_pixel = per_pixel[: row_stop - row_start, : self.width]
        kept = np.take_along_axis(
            frames[:, : row_stop - row_start],
            np.moveaxis(per_pixel, -1, 0)[..., np.newaxis],
            axis=0,
        )
        del per_pixel
        estimate = self.options.first_estimate(np.ascontiguousarray(kept))
        self.first_estimates[row_start:row_stop] = estimate

    def fit_band(self, block: int, band: "tuple[int, int]") -> None:
        """Fit image rows ``band`` of ``block``; after its last band, let the block go."""
        from ..core.threads import in_parts

        frames, _, refine_frames = self._second_pass_frames(block)
        offset = self.block_rows[block][0]
        rows = (band[0] - offset, band[1] - offset)
        if self.options.first_estimate is None:
            in_parts(*rows, partial(self._first_medians, frames, offset))
        in_parts(*rows, partial(self._refine, frames, refine_frames, offset))
        if band == self.block_bands[block][-1]:
            self.source.done_with_block(block)

    def _first_medians(self, frames, offset: int, a: int, b: int) -> None:
        """The median of the kept frames, rows ``a:b`` of a block holding rows from ``offset``."""
        from . import _motion_kernels as kernels

        best = self.kept_index[offset // self.cell :]
        first = self.first_estimates[offset:]
        kernels.kept_medians(frames, best, self.cell, self.network, a, b, first)

    def _refine(self, frames, refine_frames, offset: int, a: int, b: int) -> None:
        """The median of the agreeing frames, rows ``a:b`` (see :meth:`_first_medians`)."""
        from . import _motion_kernels as kernels

        first = self.first_estimates[offset:]
        background = self.background[offset:]
        support = self.support[offset:]
        tolerance = self.tolerance
        joint = self.options.joint_colour
        # Only the kernel a call needs is compiled: counting for integers, sorting otherwise.
        if self.count_width:
            kernels.agreeing_medians_counted(
                refine_frames, first, tolerance, self.count_width, joint, a, b, background, support
            )
        else:
            kernels.agreeing_medians_sorted(
                refine_frames, first, tolerance, joint, a, b, background, support
            )
        if self.options.prefer_recurring:
            best = self.kept_index[offset // self.cell :]
            kernels.prefer_recurring(
                frames, refine_frames, best, self.cell, tolerance, self.decision_tolerance,
                support, 0.5, a, b, background,
            )  # fmt: skip

    def result(self) -> np.ndarray:
        self.first_estimates = self.support = self.kept_index = None
        self.kept = self.refine = None
        return self.background


class _SharePass:
    """The first pass over one decoder's share of frames that go by once (a video decoded).

    Scores the share's frames as they arrive (the frame before and after it
    only for the motion at its ends) and keeps, per cell, the pixels of its
    share's stillest frames in ``kept`` (cells down, cells across, S, cell,
    cell * C), and the refinement's frames in the fit's; the fit merges the
    shares' lists at the end.
    """

    def __init__(self, fit: _StackFit, stream, kept: np.ndarray):
        from ..core.threads import in_one_part

        self.fit, self.stream, self.kept = fit, stream, kept
        grid, n_kept = fit.grid, fit.n_kept
        self.best = np.empty(grid + (n_kept,), dtype=np.uint64)
        self.worst = np.full(grid, np.iinfo(np.uint64).max, dtype=np.uint64)
        self.slots = np.empty(grid + (n_kept,), dtype=np.int32)
        self.n_offered = 0
        # On the core beside its decoder: the other is its neighbour's.
        self.scorer = _Scorer(fit.n_frames, fit.window, fit.cell, in_one_part)
        self.values = _ValueSampler(fit.n_frames) if fit.options.prefer_recurring else None
        self.pushed = stream.frames.start  # the next frame pushed to the scorer
        self.previous: "np.ndarray | None" = None

    def score_until(self, stop: int) -> None:
        """Score the share's frames before ``stop``: each needs the frame after it, if any."""
        frames = self.stream.frames
        while self.pushed < min(stop + 1, frames.stop):
            self._push(self.pushed)
            self.pushed += 1
        if stop == self.fit.n_frames and self.previous is not None:
            for _, scores in self.scorer.finish():  # the last frame of all
                self._offer(stop - 1, scores, self.previous)
            self.previous = None

    def _push(self, t: int) -> None:
        fit, share = self.fit, self.stream.share
        frame = self.stream.frame(t)
        if t in share:
            check_magnitude(frame)
            if self.values is not None:
                self.values.see(t, frame)
            if t % fit.refine_step == 0:
                fit.refine[t // fit.refine_step] = frame
        for scored, scores in self.scorer.push(frame):  # the frame before, scored now
            if scored + self.stream.frames.start in share:
                self._offer(t - 1, scores, self.previous)
        self.previous = frame

    def _offer(self, t: int, scores: np.ndarray, values: np.ndarray) -> None:
        """Offer frame ``t`` (``values``) to the cells, which keep its pixels if they keep it."""
        from . import _motion_kernels

        rows = values.reshape(values.shape[0], -1)  # (H, W * C): each row contiguous
        _motion_kernels.keep_least_moving_kept(
            scores.view(np.uint32), t, self.n_offered, self.best, self.worst, self.slots, rows,
            self.kept, self.fit.cell, 0, self.fit.grid[0],
        )  # fmt: skip
        self.n_offered += 1


def compile_streamed_pass(dtype: "DTypeLike" = np.uint8) -> None:
    """Compile, or load from numba's cache, the kernels only frames that go by once use.

    A video longer than memory needs them at its first frame: keeping each
    cell's stillest frames as they arrive, and merging the decoders'
    lists. An in-memory run never reaches them, so warming up with one
    would leave a first streamed run to wait for the compiler (about 4 s
    here). Called on one cell of two shares, with the array types a
    stream of ``dtype`` colour frames gives them.
    """
    from . import _motion_kernels

    n_keep, n_shares, n_colours = 2, 2, 3
    values = np.zeros((1, n_colours), dtype=dtype)  # a frame's rows
    scores = np.zeros((1, 1), dtype=np.uint32)
    bests = np.zeros((n_shares, 1, 1, n_keep), dtype=np.uint64)
    slots = np.zeros((n_shares, 1, 1, n_keep), dtype=np.int32)
    worst = np.full((1, 1), np.iinfo(np.uint64).max, dtype=np.uint64)
    kept = np.zeros((n_shares, 1, 1, n_keep, 1, n_colours), dtype=dtype)
    for t in range(n_keep):
        _motion_kernels.keep_least_moving_kept(
            scores, t, t, bests[0], worst, slots[0], values, kept[0], 1, 0, 1
        )
    offered = np.array([n_keep, 0], dtype=np.int64)
    planes = np.empty((n_keep, 1, n_colours), dtype=dtype)
    _motion_kernels.merge_kept(bests, slots, offered, kept, 1, planes, 0, 1)
