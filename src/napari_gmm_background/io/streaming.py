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
from collections.abc import Generator
from typing import TYPE_CHECKING

import numpy as np

from ..core.layout import cast_like
from ..core.progress import Progress, relay, run_to_end
from ..engine.run import DEFAULT_METHOD, METHODS, BackgroundModel, get_method, iter_background
from ..methods.gmm import EMSettings

if TYPE_CHECKING:
    from .video import VideoInfo

__all__ = ["StreamProgress", "iter_video_background", "video_background"]

# The name this module's progress had before every long run shared one type.
StreamProgress = Progress


def _frame_indices(n_frames: int, frames: "slice | None") -> range:
    return range(n_frames)[frames] if frames is not None else range(n_frames)


def iter_video_background(
    path: "str | os.PathLike",
    *,
    frames: "slice | None" = None,
    memory_budget: "int | None" = None,
    keep_model: bool = False,
    info: "VideoInfo | None" = None,
    method: str = DEFAULT_METHOD,
    n_components: int = 2,
    max_iter: int = 100,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
) -> "Generator[Progress, None, np.ndarray | tuple[np.ndarray, BackgroundModel]]":
    """Background of a video file with bounded memory; a progress generator.

    Parameters
    ----------
    path : str or os.PathLike
        The video.
    frames : slice, optional
        Frames to use (``slice(start, stop, step)``); all by default.
    memory_budget : int, optional
        Bytes for frames, histograms and decoding buffers. A video whose
        selected frames fit is decoded into memory and run through
        :func:`napari_gmm_background.engine.iter_background`; a larger one
        is fitted from histograms, with as many decoding passes as the
        histograms need to fit, if the method can be (see
        :data:`napari_gmm_background.engine.METHODS`). Default:
        :func:`napari_gmm_background.io.memory_budget`.
    keep_model : bool
        Also return the fitted :class:`~napari_gmm_background.BackgroundModel`
        (for foreground masks): ``(background, model)``.
    info : VideoInfo, optional
        From :func:`napari_gmm_background.io.video_info`, if already known.
    method, n_components, max_iter, tol, reg_covar
        As :func:`napari_gmm_background.extract_background`.

    Yields
    ------
    Progress
        As frames are decoded (stage "decode", over all passes) and pixels
        fitted (stage "fit").

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, BackgroundModel)
        (H, W, 3) uint8 RGB background, and the model if asked for.

    Raises
    ------
    ValueError
        For bad parameters (before anything is decoded), no frames selected,
        or a method that needs the frames in memory when they exceed the
        budget.
    """
    from .video import (
        DamagedVideoWarning,
        DecodeReport,
        VideoReadError,
        iter_video_frames,
        video_info,
    )
    from .video import memory_budget as default_budget

    row = get_method(method)
    settings = EMSettings(n_components, max_iter, tol, reg_covar)
    if frames is not None and (frames.step or 1) < 1:
        raise ValueError(f"frames {frames}: the step must be positive (frames decode in order)")
    info = info or video_info(path)
    indices = _frame_indices(info.n_frames, frames)
    if len(indices) == 0:
        raise ValueError(f"{os.fspath(path)}: no frames selected out of {info.n_frames}")
    if row.fits_mixtures:
        settings.check_frames(len(indices), "selected frames")
    budget = default_budget() if memory_budget is None else int(memory_budget)
    frame_bytes = info.height * info.width * 3
    n_selected = len(indices)

    truncated = info.truncation_message()
    if truncated:
        warnings.warn(DamagedVideoWarning(truncated), stacklevel=2)
    if n_selected * frame_bytes <= budget:
        video = np.empty((n_selected, info.height, info.width, 3), dtype=np.uint8)
        report = DecodeReport(info.path, info.n_frames)
        count = 0
        for frame in iter_video_frames(path, indices=indices, report=report):
            video[count] = frame
            count += 1
            if count % 64 == 0:
                yield Progress(count, n_selected, "decode")
        if count == 0:
            raise VideoReadError(f"{os.fspath(path)}: none of the selected frames decoded")
        report.warn(indices)
        yield Progress(n_selected, n_selected, "decode")
        fit = iter_background(video[:count], method=method, keep_model=keep_model, **vars(settings))
        return (yield from relay(fit, "fit"))

    if row.histogram_fit is None:
        from .video import format_bytes

        streamable = [name for name, other in METHODS.items() if other.histogram_fit is not None]
        raise ValueError(
            f"{os.fspath(path)}: method {method!r} needs the selected frames in memory, "
            f"{format_bytes(n_selected * frame_bytes)}, over the {format_bytes(budget)} "
            "memory budget: select fewer frames, raise the budget, or use a method that "
            f"streams ({', '.join(repr(name) for name in streamable)})"
        )
    return (yield from _histogram_passes(path, info, indices, budget, row, settings, keep_model))


def video_background(path: "str | os.PathLike", **kwargs) -> "np.ndarray | tuple":
    """:func:`iter_video_background` run to the end."""
    return run_to_end(iter_video_background(path, **kwargs))


# Frames per histogram update: enough that a block of pixels' histogram rows
# are reused from cache many times before moving on.
_BATCH_FRAMES = 48
# Decoding threads: with two cores, two decoders and the histogram updates
# keep both busy.
_DECODERS = 2


def _histogram_passes(path, info, indices, budget, row, settings, keep_model):
    """Fit from per-pixel histograms, one decoding pass per band of rows."""
    from .video import DecodeReport, VideoReadError

    n_selected = len(indices)
    row_pixels = info.width * 3
    # Per row of the band: its histograms and the decoders' batch buffers.
    row_bytes = row_pixels * (
        row.histogram_fit.bytes_per_pixel(n_selected) + (_DECODERS + 1) * _BATCH_FRAMES
    )
    n_passes = math.ceil(info.height / max(1, min(info.height, budget // row_bytes)))
    rows_per_pass = math.ceil(info.height / n_passes)  # balanced bands
    total_steps = n_passes * n_selected
    backgrounds, models = [], []
    for index in range(n_passes):
        top = index * rows_per_pass
        bottom = min(top + rows_per_pass, info.height)
        histograms = row.histogram_fit((bottom - top) * row_pixels, n_selected, settings)
        done = 0
        report = DecodeReport(info.path, info.n_frames)
        for batch in _decoded_batches(path, indices, top, bottom, report):
            histograms.add(batch.reshape(len(batch), -1))
            done += len(batch)
            yield Progress(index * n_selected + done, total_steps, "decode")
        if done == 0:
            raise VideoReadError(f"{os.fspath(path)}: none of the selected frames decoded")
        if index == 0:
            report.warn(indices)
        background, model = histograms.fit(keep_model=keep_model)
        del histograms
        backgrounds.append(background)
        models.append(model)
        yield Progress(bottom, info.height, "fit")

    # Decoded as OpenCV's BGR: turn the channel axis around.
    spatial = (info.height, info.width, 3)
    background = cast_like(np.concatenate(backgrounds).reshape(spatial)[..., ::-1], np.uint8)
    if not keep_model:
        return background

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

    n_decoders = min(_DECODERS, len(indices))
    shares = [
        indices[i * len(indices) // n_decoders : (i + 1) * len(indices) // n_decoders]
        for i in range(n_decoders)
    ]
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
        try:
            if share.start:
                capture.set(cv2.CAP_PROP_POS_FRAMES, share.start)
            slot, filled = free.get(), 0
            for _, frame in decode_positions(capture, iter(share), share_report, rgb=False):
                if stop.is_set():
                    break
                buffers[slot][filled] = frame[top:bottom]
                filled += 1
                if filled == _BATCH_FRAMES:
                    full.put((slot, filled))
                    slot, filled = free.get(), 0
            if filled:
                full.put((slot, filled))
            else:
                free.put(slot)
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
