"""Backgrounds of videos longer than memory, in bounded memory.

The engine needs all of a pixel's frames at once, but for 8-bit video all it
uses of them is each pixel's histogram: the distinct values and how often
each occurs. So a video too large to decode into memory is decoded in order
and its frames are added, batch by batch, to per-pixel 256-bin histograms;
the mixtures are then fitted from the histograms. The result is
bit-identical to ``extract_background(read_video(path))``.

Histograms take 512 bytes per pixel-channel (1 GiB for a third of a 1080p
RGB frame). When the whole frame's do not fit in the budget, the frame is
split into row bands and the video is decoded once per band. Decoding runs
in a thread of its own, overlapping the histogram updates.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import warnings
from collections.abc import Callable, Generator
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.checks import check_count, check_flag, check_frames
from ..core.layout import cast_like
from ..core.plan import Plan, Step
from ..core.progress import run_to_end
from ..engine.run import plan_background
from ..engine.table import DEFAULT_METHOD, METHODS, get_method, settings_for
from ..methods.gmm import BackgroundModel

if TYPE_CHECKING:
    from .video import VideoInfo

__all__ = [
    "FramesAgain",
    "iter_video_background",
    "plan_on_decoded",
    "plan_video_background",
    "video_background",
]


def _frame_indices(n_frames: int, frames: "slice | None") -> range:
    return range(n_frames)[frames] if frames is not None else range(n_frames)


def plan_video_background(
    path: "str | os.PathLike",
    *,
    frames: "slice | None" = None,
    memory_budget: "int | None" = None,
    keep_model: bool = False,
    info: "VideoInfo | None" = None,
    method: str = DEFAULT_METHOD,
    each_frame: "Callable[[int, np.ndarray], object] | None" = None,
    **settings,
) -> Plan:
    """The :class:`~napari_gmm_background.core.plan.Plan` of a video's background in bounded memory.

    Parameters
    ----------
    path : str or os.PathLike
        The video.
    frames : slice, optional
        Frames to use (``slice(start, stop, step)``); all by default.
    memory_budget : int, optional
        Bytes for frames, histograms and decoding buffers. A video whose
        selected frames fit is decoded into memory and run through the
        engine's plan (:func:`napari_gmm_background.engine.plan_background`);
        a larger one is fitted from histograms, with as many decoding
        passes as the histograms need to fit, if the method can be (see
        :data:`napari_gmm_background.engine.METHODS`). Default:
        :func:`napari_gmm_background.core.memory.memory_budget`.
    keep_model : bool
        Also return the notebook rule's fitted
        :class:`~napari_gmm_background.BackgroundModel`: ``(background, model)``.
    info : VideoInfo, optional
        From :func:`napari_gmm_background.io.video_info`, if already known.
    method, settings
        As :func:`napari_gmm_background.extract_background`.
    each_frame : callable, optional
        ``each_frame(t, frame)`` with every selected frame that decodes, in
        order, where the plan decodes whole frames once (a method that reads
        in blocks, streamed): for outputs made from the same pass (the noise
        of foreground masks). The plan's ``feeds_each_frame`` says whether.

    Returns
    -------
    Plan
        Decoding steps (stage "decode", sized in frames) and fitting steps;
        its result is the (H, W, 3) uint8 RGB background, and the model if
        asked for. Frames that do not decode are left out: the fit is then
        planned again for those that did.

    Raises
    ------
    ValueError
        For bad parameters (before anything is decoded), no frames selected,
        or a method that needs the frames in memory when they exceed the
        budget.
    """
    from ..core.memory import memory_budget as default_budget
    from .video import video_info

    entry = get_method(method)
    checked = settings_for(entry, **settings)
    frames = check_frames("frames", frames)
    keep_model = check_flag("keep_model", keep_model)
    if memory_budget is not None:
        memory_budget = check_count("memory_budget", memory_budget)
    info = info or video_info(path)
    indices = _frame_indices(info.n_frames, frames)
    if len(indices) == 0:
        raise ValueError(f"{os.fspath(path)}: no frames selected out of {info.n_frames}")
    if entry.fits_mixtures:
        checked.em.check_frames(len(indices), "selected frames")
    budget = default_budget() if memory_budget is None else int(memory_budget)
    frame_bytes = info.height * info.width * 3
    fit = dict(method=method, keep_model=keep_model, **settings)
    if len(indices) * frame_bytes <= budget:
        return _plan_in_memory(path, info, indices, fit)
    if entry.streams and not keep_model:
        streamed = dict(settings=settings, budget=budget, each_frame=each_frame)
        return _plan_video_in_blocks(path, info, indices, entry, streamed)
    if entry.histogram_fit is None:
        from dask.utils import format_bytes

        streamable = [
            name
            for name, other in METHODS.items()
            if other.histogram_fit is not None or other.streams
        ]
        raise ValueError(
            f"{os.fspath(path)}: method {method!r} needs the selected frames in memory, "
            f"{format_bytes(len(indices) * frame_bytes)}, over the {format_bytes(budget)} "
            "memory budget: select fewer frames, raise the budget, or use a method that "
            f"streams ({', '.join(repr(name) for name in streamable)})"
        )
    return _plan_histograms(path, info, indices, budget, entry, checked.em, keep_model)


def iter_video_background(path: "str | os.PathLike", **kwargs) -> Generator:
    """:func:`plan_video_background` run: yields its progress, returns its result."""
    return plan_video_background(path, **kwargs).run()


def video_background(path: "str | os.PathLike", **kwargs) -> "np.ndarray | tuple":
    """:func:`plan_video_background` run to the end."""
    return run_to_end(iter_video_background(path, **kwargs))


# Frames a decoding step decodes.
_DECODE_STEP_FRAMES = 64


def _plan_in_memory(path, info: "VideoInfo", indices: range, fit: dict) -> Plan:
    """Decode the selected frames into memory, then the engine's plan on them."""
    return plan_on_decoded(path, info, indices, lambda frames: plan_background(frames, **fit))


def plan_on_decoded(
    path: "str | os.PathLike",
    info: "VideoInfo",
    indices: range,
    then: "Callable[[np.ndarray], Plan]",
) -> Plan:
    """Decode frames ``indices`` of a video into memory, a few a step, then ``then(frames)``.

    ``then`` is planned at once on the (T, H, W, 3) uint8 RGB frames as
    they will be; where some do not decode (a damaged video), it is planned
    again on those that did, and the damage is warned of
    (:class:`~napari_gmm_background.io.DamagedVideoWarning`).
    """
    from .video import DecodeReport, VideoReadError, decode_positions, open_capture

    _warn_if_truncated(info)
    video = np.empty((len(indices), info.height, info.width, 3), dtype=np.uint8)
    report = DecodeReport(info.path, info.n_frames)
    state: dict = {"count": 0}

    def decode(stop: int) -> None:
        if "positions" not in state:
            capture = state["capture"] = open_capture(path)
            state["positions"] = decode_positions(capture, iter(indices), report, rgb=True)
        for position, frame in state["positions"]:
            video[state["count"]] = frame
            state["count"] += 1
            if position >= indices[stop - 1]:
                return

    def end_of_decoding() -> None:
        for _ in state["positions"]:  # nothing more is wanted: this ends the report
            pass
        state["capture"].release()
        count = state["count"]
        if count == 0:
            raise VideoReadError(f"{os.fspath(path)}: none of the selected frames decoded")
        report.warn(indices)
        if count < len(indices):  # lost frames: the rest is of those that decoded
            plan.replan(n_decoding, then(video[:count]))

    bounds = list(range(0, len(indices), _DECODE_STEP_FRAMES)) + [len(indices)]
    steps = [
        Step(partial(decode, stop), "decode", stop - start)
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    last = steps[-1]
    steps[-1] = Step(partial(_both, last.action, end_of_decoding), "decode", last.size)
    n_decoding = len(steps)
    plan = Plan(steps).then(then(video))
    return plan


# Frames of a video scored per step and decoder, in order (a cancel waits for one step).
_VIDEO_PART_FRAMES = 16
# Frames decoded ahead of the scoring, into a ring used again and again: few
# enough that a frame is scored while it is still in the processor's cache
# (with a ring of 80 frames, the same decoding and scoring took a third longer).
_RING_FRAMES = 8


class _Stopped(Exception):
    """The run no longer wants frames: the decoding thread ends."""


class VideoStack:
    """A video's selected frames as a stack that goes by once, decoded by several decoders.

    The source the block methods' plans read
    (:func:`napari_gmm_background.methods.motion.plan_stack`): its frames
    are (T, H, W, 3) uint8 in OpenCV's B, G, R order (the methods treat the
    channels alike; the caller turns the result around). They come in
    :attr:`streams`, one per decoder: each a contiguous share of the frames
    that a thread decodes (cv2 releases the GIL) a few frames ahead of its
    scoring, so that decoding, which one decoder does on one core at most,
    runs on every core and overlaps the scoring. It cannot be read again
    (``keeps_every_frame`` is False): the method's first pass keeps what its
    second needs. Frames that do not decode are counted in ``lost`` and read
    as black, and ``on_loss()`` is called once when the first is met.
    ``each_frame(t, frame)`` sees every frame that decodes (RGB), in no set
    order, until one is lost.
    """

    keeps_every_frame = False
    reading = None

    def __init__(
        self,
        path,
        info: "VideoInfo",
        indices: "range | list[int]",
        *,
        budget: "int | None" = None,
        each_frame: "Callable[[int, np.ndarray], object] | None" = None,
        n_decoders: "int | None" = None,
    ):
        self.path, self.info, self.indices = path, info, indices
        self.shape = (len(indices), info.height, info.width, 3)
        self.dtype = np.dtype(np.uint8)
        self.budget = budget  # bytes the method may keep of frames going by
        self.each_frame = each_frame
        self.lost: "list[int]" = []
        self.on_loss: "Callable[[], object] | None" = None
        self._black = np.zeros(self.shape[1:], dtype=np.uint8)  # lost frames read as this
        self._stop = threading.Event()
        self._lock = threading.Lock()
        shares = _shares(range(len(indices)), n_decoders or _DECODERS)
        self.streams = [_Decoder(self, share) for share in shares]

    def keep_rows(self, blocks) -> None:
        pass  # nothing is read again

    def block_reads(self, block: int) -> list:
        return []

    def done_with_block(self, block: int) -> None:
        pass

    def close(self) -> None:
        """Stop the decoders (a finished or abandoned run)."""
        self._stop.set()

    def _lose(self, t: int) -> None:
        """Frame ``t`` did not decode; the first loss calls ``on_loss`` (once, of all decoders)."""
        with self._lock:
            self.lost.append(self.indices[t])
            first = len(self.lost) == 1
        if first and self.on_loss is not None:
            self.on_loss()


class _Decoder:
    """One decoder's share of a :class:`VideoStack`, taken frame by frame, in order.

    It decodes the share and, for the motion of its first and last frames,
    the frame before and the frame after it (``frames``); ``frame(t)``
    waits for the decoder if it is behind. The frame before stays valid
    until the next is taken (the scoring of a frame needs the one after it).
    """

    def __init__(self, stack: VideoStack, share: range):
        self.stack, self.share = stack, share
        self.frames = range(max(share.start - 1, 0), min(share.stop + 1, stack.shape[0]))
        self._ring: "np.ndarray | None" = None
        self._free: "queue.Queue | None" = None
        self._decoded: "queue.Queue | None" = None
        self._held: "list[int]" = []  # ring slots of the frames the scoring may still read
        self._next = self.frames.start  # the next frame the scoring takes
        self._thread: "threading.Thread | None" = None

    def frame(self, t: int) -> np.ndarray:
        """Frame ``t`` of :attr:`frames`; frames are taken in order."""
        stack = self.stack
        if stack._stop.is_set():  # replanned after a loss: this run's frames no longer matter
            return stack._black
        if t != self._next:
            raise RuntimeError(f"frame {t} taken out of order (expected {self._next})")
        self._start()
        item = self._decoded.get()
        if isinstance(item, BaseException):
            raise item
        decoded, slot = item
        assert decoded == t, (decoded, t)
        self._next += 1
        if len(self._held) == 2:
            self._free.put(self._held.pop(0))
        if slot is None:
            if t in self.share:  # the frame next door is the other decoder's to report
                stack._lose(t)
            return stack._black
        self._held.append(slot)
        frame = self._ring[slot]
        if stack.each_frame is not None and not stack.lost and t in self.share:
            stack.each_frame(t, frame[..., ::-1])
        if t + 1 == self.frames.stop:  # the decoder has only its capture to release
            self._thread.join()
        return frame

    def _start(self) -> None:
        if self._thread is not None:
            return
        n_slots = min(_RING_FRAMES, len(self.frames)) + 2  # and the two the scoring holds
        self._ring = np.empty((n_slots, *self.stack.shape[1:]), dtype=np.uint8)
        self._free, self._decoded = queue.Queue(), queue.Queue()
        for slot in range(n_slots):
            self._free.put(slot)
        self._thread = threading.Thread(target=self._decode, daemon=True)
        self._thread.start()

    def _decode(self) -> None:
        """The decoding thread: every frame in order, as (t, ring slot or None if lost)."""

        from .video import DecodeReport, decode_positions, open_capture

        stack, frames = self.stack, self.frames
        positions = stack.indices[frames.start : frames.stop]
        capture = None
        try:
            capture = open_capture(stack.path, at=positions[0])
            report = DecodeReport(stack.info.path, stack.info.n_frames, end=positions[0])
            in_hand: "list[int]" = []  # the slot the next frame decodes into

            def into(position: int) -> np.ndarray:
                if not in_hand:
                    in_hand.append(self._next_slot())
                return self._ring[in_hand[0]]

            t = frames.start
            decoded = decode_positions(capture, iter(positions), report, rgb=False, into=into)
            for position, _ in decoded:
                while stack.indices[t] != position:  # frames that did not decode
                    self._decoded.put((t, None))
                    t += 1
                self._decoded.put((t, in_hand.pop()))
                t += 1
            for lost in range(t, frames.stop):
                self._decoded.put((lost, None))
        except _Stopped:
            return
        except BaseException as error:  # handed to the run
            self._decoded.put(error)
        finally:
            if capture is not None:
                capture.release()

    def _next_slot(self) -> int:
        """A ring slot the scoring is done with; _Stopped once the run is stopped."""
        while not self.stack._stop.is_set():
            try:
                return self._free.get(timeout=0.1)
            except queue.Empty:
                continue
        raise _Stopped


def _plan_video_in_blocks(path, info, indices: "range | list[int]", entry, fit: dict) -> Plan:
    """A block method's background of a video longer than memory: decoded once, as it streams.

    The default keeps what its second pass needs as the frames go by (each
    cell's stillest frames and its refinement's frames, under the budget);
    the result equals the method's on the same frames in memory. Where
    frames turn out not to decode, what remains is planned again: the rest
    of the video decoded (to learn which frames it loses), then the run on
    the frames that decoded.
    """
    from ..core.layout import cast_like
    from ..core.reading import OverBudget
    from ..engine.table import settings_for

    settings = settings_for(entry, **fit["settings"])
    stack = VideoStack(
        path, info, indices, budget=fit["budget"], each_frame=fit.get("each_frame"),
        n_decoders=fit.get("n_decoders"),
    )  # fmt: skip
    try:
        background = entry.plan(stack, settings)
    except OverBudget:  # too much to keep as it goes by: read through the scratch file
        return _plan_video_through_scratch(path, info, indices, entry, fit)

    def rgb() -> np.ndarray:  # the stack's frames were B, G, R
        return np.ascontiguousarray(cast_like(background.result(), np.uint8)[..., ::-1])

    plan = Plan(list(background.steps), rgb)
    plan.feeds_each_frame = stack.each_frame is not None
    stack.on_loss = partial(_replan_without_losses, plan, stack, path, info, indices, entry, fit)
    return plan


def _plan_video_through_scratch(path, info, indices, entry, fit: dict) -> Plan:
    """A video read as the widget reads a lazy layer: a part along time, blocks of rows.

    Decoded once: the first pass keeps each block of rows in a scratch file
    (see :class:`napari_gmm_background.core.reading.LazyStack`). Frames that
    do not decode are black (a lazy video keeps its numbering).
    """
    from ..core.reading import READ_BLOCK_BYTES, Reading
    from ..engine.run import plan_background
    from .video import LazyVideo

    video = LazyVideo(path, info=info, frames_per_chunk=_VIDEO_PART_FRAMES, cache_bytes=0)
    frames = video.to_dask()[np.asarray(indices)]
    block_bytes = min(READ_BLOCK_BYTES, fit["budget"] // 2)
    reading = Reading.of(frames, 0, True, block_bytes=block_bytes)
    return plan_background(frames, method=entry.name, rgb=True, reading=reading, **fit["settings"])


def _replan_without_losses(plan: Plan, stack: VideoStack, path, info, indices, entry, fit):
    """Frames were lost: decode the video to learn them all, then plan the run without them.

    As in memory, the run is of the frames that decoded, in order.
    """
    stack.close()
    rest = FramesAgain(path, indices, "decode", lambda t, frame: None, strict=False)
    steps = rest.steps()

    def then() -> None:
        lost = set(rest.lost)
        good = [position for position in indices if position not in lost]
        if not good:
            from .video import VideoReadError

            raise VideoReadError(f"{os.fspath(path)}: none of the selected frames decoded")
        _report_lost(path, info, indices, lost)
        # One decoder, in order, as the frames were just read: a decoder that
        # seeks into a damaged file can lose other frames than one that does not.
        again = dict(fit, n_decoders=1)
        plan.replan(plan.current + 1, _plan_video_in_blocks(path, info, good, entry, again))

    steps[-1] = Step(partial(_both, steps[-1].action, then), "decode", steps[-1].size)
    plan.replan(plan.current + 1, Plan(steps))


def _report_lost(path, info, indices, lost: "set[int]") -> None:
    """Warn of the frames that did not decode, as the reader does."""
    from .video import DecodeReport

    report = DecodeReport(info.path, info.n_frames, lost=sorted(lost), end=info.n_frames)
    report.warn(indices if isinstance(indices, range) else None)


class FramesAgain:
    """A video decoded again, a few frames a step, each frame handed to ``each(t, frame)``.

    ``t`` is the frame's place among ``indices``. For outputs made frame by
    frame from a video too long for memory (foreground masks); every frame
    must decode again, or the last step raises OSError.
    """

    def __init__(
        self,
        path,
        indices: "range | list[int]",
        stage: str,
        each: "Callable[[int, np.ndarray], Any]",
        *,
        strict: bool = True,
    ):
        self.path, self.indices, self.stage, self.each = path, indices, stage, each
        self.strict = strict
        self.positions = None
        self.decoded: "set[int]" = set()
        self.lost: "list[int]" = []

    def steps(self) -> "list[Step]":
        bounds = list(range(0, len(self.indices), _DECODE_STEP_FRAMES)) + [len(self.indices)]
        return [
            Step(partial(self._decode, stop), self.stage, stop - start)
            for start, stop in zip(bounds[:-1], bounds[1:], strict=True)
        ]

    def _decode(self, stop: int) -> None:
        from .video import DecodeReport, decode_positions, open_capture

        if self.positions is None:
            self.capture = open_capture(self.path)
            report = DecodeReport(os.fspath(self.path), self.indices[-1] + 1)
            self.positions = decode_positions(self.capture, iter(self.indices), report, rgb=True)
        for position, frame in self.positions:
            self.each(self.indices.index(position), frame)
            self.decoded.add(position)
            if position >= self.indices[stop - 1]:
                break
        if stop == len(self.indices):
            self.capture.release()
            self.lost = [p for p in self.indices if p not in self.decoded]
            if self.strict and self.lost:
                raise OSError(
                    f"only {len(self.decoded)} of {len(self.indices)} frames could be read again "
                    f"for the {self.stage}"
                )


def _warn_if_truncated(info: "VideoInfo") -> None:
    """Say so when the file declares more frames than it holds (before they are decoded)."""
    from .video import DamagedVideoWarning

    truncated = info.truncation_message()
    if truncated:
        warnings.warn(DamagedVideoWarning(truncated), stacklevel=4)


def _both(first: "Callable[[], object]", second: "Callable[[], object]") -> None:
    first()
    second()


# Frames per histogram update: enough that a block of pixels' histogram rows
# are reused from cache many times before moving on.
_BATCH_FRAMES = 48
# Decoding threads: with two cores, two decoders and the histogram updates
# keep both busy.
_DECODERS = 2


def _plan_histograms(path, info, indices: range, budget: int, entry, settings, keep_model) -> Plan:
    """Fit from per-pixel histograms, one decoding pass per band of rows; a batch a step."""
    _warn_if_truncated(info)
    n_selected = len(indices)
    row_pixels = info.width * 3
    # Per row of the band: its histograms and the decoders' batch buffers.
    row_bytes = row_pixels * (
        entry.histogram_fit.bytes_per_pixel(n_selected) + (_DECODERS + 1) * _BATCH_FRAMES
    )
    n_passes = math.ceil(info.height / max(1, min(info.height, budget // row_bytes)))
    rows_per_pass = math.ceil(info.height / n_passes)  # balanced bands
    passes = []
    steps = []
    for index in range(n_passes):
        top = index * rows_per_pass
        band = _Band(path, info, indices, top, min(top + rows_per_pass, info.height))
        band.fitter = partial(entry.histogram_fit, settings=settings)
        band.keep_model, band.warns = keep_model, index == 0
        steps += [Step(band.add_batch, "decode", len(window)) for window in band.windows()]
        steps.append(Step(band.fit))
        passes.append(band)
    return Plan(steps, partial(_whole_background, passes, info, keep_model))


class _Band:
    """One decoding pass: the histograms of a band of rows, a batch of frames a step."""

    def __init__(self, path, info, indices: range, top: int, bottom: int):
        self.path, self.info, self.indices = path, info, indices
        self.top, self.bottom = top, bottom
        self.batches = None

    def windows(self) -> "list[range]":
        """The batches the decoders deliver, one per window of positions (see _decoded_batches)."""
        return [window for share in _shares(self.indices) for window in _windows(share)]

    def add_batch(self) -> None:
        from .video import DecodeReport

        if self.batches is None:
            self.report = DecodeReport(self.info.path, self.info.n_frames)
            band_pixels = (self.bottom - self.top) * self.info.width * 3
            self.histograms = self.fitter(band_pixels, len(self.indices))
            self.batches = _decoded_batches(
                self.path, self.indices, self.top, self.bottom, self.report
            )
        batch = next(self.batches)
        if len(batch):
            self.histograms.add(batch.reshape(len(batch), -1))

    def fit(self) -> None:
        from .video import VideoReadError

        self.batches.close()  # every decoder is done: this releases them
        if self.histograms.n_frames == 0:
            raise VideoReadError(f"{os.fspath(self.path)}: none of the selected frames decoded")
        if self.warns:
            self.report.warn(self.indices)
        self.background, self.model = self.histograms.fit(keep_model=self.keep_model)
        del self.histograms


def _whole_background(passes: "list[_Band]", info, keep_model: bool):
    """The bands' backgrounds (and models) as one RGB image."""
    # Decoded as OpenCV's BGR: turn the channel axis around.
    spatial = (info.height, info.width, 3)
    backgrounds = [band.background for band in passes]
    background = cast_like(np.concatenate(backgrounds).reshape(spatial)[..., ::-1], np.uint8)
    if not keep_model:
        return background
    models = [band.model for band in passes]

    def whole(name):
        values = np.concatenate([getattr(model, name) for model in models])
        return np.ascontiguousarray(values.reshape(spatial + values.shape[1:])[:, :, ::-1])

    model = BackgroundModel(
        weights=whole("weights"),
        means=whole("means"),
        variances=whole("variances"),
        n_iter=whole("n_iter"),
        converged=whole("converged"),
        dtype=np.dtype(np.uint8),
    )
    return background, model


def _shares(indices: range, n_decoders: int = _DECODERS) -> "list[range]":
    """The contiguous share of the selected frames each of ``n_decoders`` decoders decodes."""
    n_decoders = min(n_decoders, len(indices))
    return [
        indices[i * len(indices) // n_decoders : (i + 1) * len(indices) // n_decoders]
        for i in range(n_decoders)
    ]


def _windows(share: range) -> "list[range]":
    """A share's windows of :data:`_BATCH_FRAMES` positions: one batch each."""
    return [share[start : start + _BATCH_FRAMES] for start in range(0, len(share), _BATCH_FRAMES)]


def _decoded_batches(path, indices: range, top: int, bottom: int, report):
    """Rows ``top:bottom`` of the selected frames, in batches, BGR, in no set order.

    ``_DECODERS`` threads each decode a contiguous share of the frames (each
    with its own capture, seeked once to its first frame) into buffers from
    a shared pool; the caller gets each filled buffer, and it returns to the
    pool when the caller asks for the next. cv2 and the numba kernels both
    release the GIL, so decoding and histogram updates overlap. Frames that
    cannot be decoded are left out and recorded in ``report.lost``.
    """
    import cv2

    from .video import DecodeReport, decode_positions, open_capture

    shares = _shares(indices)
    n_decoders = len(shares)
    captures = [open_capture(path) for _ in shares]
    width = int(captures[0].get(cv2.CAP_PROP_FRAME_WIDTH))
    buffers = [
        np.empty((_BATCH_FRAMES, bottom - top, width, 3), dtype=np.uint8)
        for _ in range(n_decoders + 1)
    ]
    free: "queue.Queue" = queue.Queue()
    for slot in range(len(buffers)):
        free.put(slot)
    full: "queue.Queue" = queue.Queue()
    stop = threading.Event()

    def decode(capture, share, share_report):
        # One batch per window of the share, however many of its frames decode:
        # the steps that take them are planned before any frame is decoded.
        try:
            if share.start:
                capture.set(cv2.CAP_PROP_POS_FRAMES, share.start)
            n_windows = len(_windows(share))
            window, slot, filled = 0, free.get(), 0
            for position, frame in decode_positions(capture, iter(share), share_report, rgb=False):
                if stop.is_set():
                    break
                while share.index(position) // _BATCH_FRAMES > window:
                    full.put((slot, filled))
                    window, slot, filled = window + 1, free.get(), 0
                buffers[slot][filled] = frame[top:bottom]
                filled += 1
            while window < n_windows and not stop.is_set():
                full.put((slot, filled))
                window += 1
                if window < n_windows:
                    slot, filled = free.get(), 0
            full.put(None)
        except BaseException as error:  # handed to the consumer
            full.put(error)

    share_reports = [
        DecodeReport(report.path, report.declared, end=share.start if len(share) else 0)
        for share in shares
    ]
    threads = [
        threading.Thread(target=decode, args=(capture, share, share_report), daemon=True)
        for capture, share, share_report in zip(captures, shares, share_reports, strict=True)
    ]
    for thread in threads:
        thread.start()
    try:
        running = len(threads)
        while running:
            item = full.get()
            if item is None:
                running -= 1
                continue
            if isinstance(item, BaseException):
                raise item
            slot, filled = item
            yield buffers[slot][:filled]
            free.put(slot)
    finally:
        stop.set()
        for _ in buffers:
            free.put(0)  # unblock decoders waiting for a buffer
        for thread in threads:
            thread.join()
        for capture in captures:
            capture.release()
        for share, share_report in zip(shares, share_reports, strict=True):
            report.lost.extend(share_report.missing(share))
        report.end = report.declared  # every missing position is in ``lost``
