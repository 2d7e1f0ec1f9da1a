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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generator

import numpy as np

if TYPE_CHECKING:
    from .engine import BackgroundModel
    from .io import VideoInfo

__all__ = ["StreamProgress", "iter_video_background", "video_background"]


@dataclass(frozen=True)
class StreamProgress:
    """Where a streamed run is: ``stage`` ("decode" or "fit"), ``done`` of ``total``."""

    stage: str
    done: int
    total: int


def _frame_indices(n_frames: int, frames: "slice | None") -> range:
    return range(n_frames)[frames] if frames is not None else range(n_frames)


def iter_video_background(
    path: "str | os.PathLike",
    *,
    frames: "slice | None" = None,
    memory_budget: "int | None" = None,
    keep_model: bool = False,
    info: "VideoInfo | None" = None,
    n_components: int = 2,
    max_iter: int = 100,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
) -> Generator[StreamProgress, None, "np.ndarray | BackgroundModel"]:
    """Background of a video file with bounded memory; a progress generator.

    Parameters
    ----------
    path : str or os.PathLike
        The video.
    frames : slice, optional
        Frames to use (``slice(start, stop, step)``); all by default.
    memory_budget : int, optional
        Bytes for frames, histograms and decoding buffers. A video whose
        selected frames fit is decoded into memory and fitted directly;
        a larger one is fitted from histograms, with as many decoding passes
        as the histograms need to fit. Default:
        :func:`napari_gmm_background.io.memory_budget`.
    keep_model : bool
        Return the fitted :class:`~napari_gmm_background.BackgroundModel`
        instead of the background image.
    info : VideoInfo, optional
        From :func:`napari_gmm_background.io.video_info`, if already known.
    n_components, max_iter, tol, reg_covar
        As :func:`napari_gmm_background.extract_background`.

    Yields
    ------
    StreamProgress
        As frames are decoded (stage "decode", over all passes) and pixels
        fitted (stage "fit").

    Returns
    -------
    numpy.ndarray or BackgroundModel
        (H, W, 3) uint8 RGB background, or the model.
    """
    from .io import VideoReadError, iter_video_frames, memory_budget as default_budget, video_info

    info = info or video_info(path)
    indices = _frame_indices(info.n_frames, frames)
    if len(indices) == 0:
        raise ValueError(f"{os.fspath(path)}: no frames selected out of {info.n_frames}")
    budget = default_budget() if memory_budget is None else int(memory_budget)
    frame_bytes = info.height * info.width * 3
    n_selected = len(indices)
    settings = dict(n_components=n_components, max_iter=max_iter, tol=tol, reg_covar=reg_covar)

    if n_selected * frame_bytes <= budget:
        video = np.empty((n_selected, info.height, info.width, 3), dtype=np.uint8)
        count = 0
        for frame in iter_video_frames(path, indices=indices):
            video[count] = frame
            count += 1
            if count % 64 == 0:
                yield StreamProgress("decode", count, n_selected)
        if count != n_selected:
            raise VideoReadError(f"{os.fspath(path)}: only {count} of {n_selected} frames decoded")
        yield StreamProgress("decode", n_selected, n_selected)
        result = yield from _fit_with_progress(video, settings, keep_model)
        return result

    result = yield from _histogram_passes(path, info, indices, budget, settings, keep_model)
    return result


def video_background(path: "str | os.PathLike", **kwargs) -> "np.ndarray | BackgroundModel":
    """:func:`iter_video_background` run to the end."""
    generator = iter_video_background(path, **kwargs)
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return stop.value


def _fit_with_progress(frames, settings, keep_model):
    """Fit in memory, relaying the engine's progress; the background or the model."""
    from .engine import iter_fit_background_model

    generator = iter_fit_background_model(frames, **settings)
    while True:
        try:
            step = next(generator)
        except StopIteration as stop:
            return stop.value if keep_model else stop.value.background()
        yield StreamProgress("fit", step.done, step.total)


# Frames per histogram update: enough that a block of pixels' histogram rows
# are reused from cache many times before moving on.
_BATCH_FRAMES = 48
# Decoding threads: with two cores, two decoders and the histogram updates
# keep both busy.
_DECODERS = 2


def _histogram_passes(path, info, indices, budget, settings, keep_model):
    """Fit from per-pixel histograms, one decoding pass per band of rows."""
    from . import _em_kernels
    from .engine import BackgroundModel, _cast_like

    n_selected = len(indices)
    count_dtype = np.uint16 if n_selected < 2**16 else np.uint32
    row_pixels = info.width * 3
    # Per row of the band: its histograms and the decoders' batch buffers.
    row_bytes = row_pixels * (256 * np.dtype(count_dtype).itemsize
                              + (_DECODERS + 1) * _BATCH_FRAMES)
    n_passes = math.ceil(info.height / max(1, min(info.height, budget // row_bytes)))
    rows_per_pass = math.ceil(info.height / n_passes)  # balanced bands
    total_steps = n_passes * n_selected
    k = settings["n_components"]
    background = np.empty((info.height, row_pixels))
    if keep_model:
        model_rows = info.height * row_pixels
        weights, means, variances = (np.empty((model_rows, k)) for _ in range(3))
        n_iter = np.empty(model_rows, dtype=np.int32)
    else:
        weights = means = variances = np.empty((0, k))
        n_iter = np.empty(0, dtype=np.int32)

    import numba

    n_workers = numba.get_num_threads()
    for index in range(n_passes):
        top = index * rows_per_pass
        bottom = min(top + rows_per_pass, info.height)
        hist = np.zeros(((bottom - top) * row_pixels, 256), dtype=count_dtype)
        done = 0
        for batch in _decoded_batches(path, indices, top, bottom):
            _em_kernels.accumulate_histograms(batch.reshape(len(batch), -1), hist)
            done += len(batch)
            yield StreamProgress("decode", index * n_selected + done, total_steps)
        if done != n_selected:
            from .io import VideoReadError

            raise VideoReadError(f"{os.fspath(path)}: only {done} of {n_selected} frames decoded")
        rows = slice(top * row_pixels, bottom * row_pixels)
        model = rows if keep_model else slice(0, 0)
        _em_kernels.fit_histograms(
            hist, n_selected, k, settings["max_iter"], float(settings["tol"]),
            float(settings["reg_covar"]), background[top:bottom].reshape(-1),
            weights[model], means[model], variances[model], n_iter[model], keep_model, n_workers,
        )
        del hist
        yield StreamProgress("fit", bottom, info.height)

    # Decoded as OpenCV's BGR: turn the channel axis around.
    spatial = (info.height, info.width, 3)
    if not keep_model:
        return _cast_like(background.reshape(spatial)[..., ::-1], np.uint8)
    flip = (slice(None), slice(None), slice(None, None, -1))
    return BackgroundModel(
        weights=np.ascontiguousarray(weights.reshape(spatial + (k,))[flip]),
        means=np.ascontiguousarray(means.reshape(spatial + (k,))[flip]),
        variances=np.ascontiguousarray(variances.reshape(spatial + (k,))[flip]),
        n_iter=np.ascontiguousarray(np.abs(n_iter).reshape(spatial)[flip]),
        converged=np.ascontiguousarray((n_iter >= 0).reshape(spatial)[flip]),
        dtype=np.dtype(np.uint8),
    )


def _decoded_batches(path, indices: range, top: int, bottom: int):
    """Rows ``top:bottom`` of the selected frames, in batches, BGR, in no set order.

    ``_DECODERS`` threads each decode a contiguous share of the frames (each
    with its own capture, seeked once to its first frame) into buffers from
    a shared pool; the caller gets each filled buffer, and it returns to the
    pool when the caller asks for the next. cv2 and the numba kernels both
    release the GIL, so decoding and histogram updates overlap.
    """
    import cv2

    from .io import _open_capture, as_colour

    n_decoders = min(_DECODERS, len(indices))
    shares = [indices[i * len(indices) // n_decoders:(i + 1) * len(indices) // n_decoders]
              for i in range(n_decoders)]
    captures = [_open_capture(path) for _ in shares]
    width = int(captures[0].get(cv2.CAP_PROP_FRAME_WIDTH))
    buffers = [np.empty((_BATCH_FRAMES, bottom - top, width, 3), dtype=np.uint8)
               for _ in range(n_decoders + 1)]
    free: "queue.Queue" = queue.Queue()
    for slot in range(len(buffers)):
        free.put(slot)
    full: "queue.Queue" = queue.Queue()
    stop = threading.Event()

    def decode(capture, share):
        try:
            wanted = iter(share)
            target = next(wanted, None)
            position = 0
            if target:
                capture.set(cv2.CAP_PROP_POS_FRAMES, target)
                position = target
            slot, filled = free.get(), 0
            while target is not None and not stop.is_set():
                if position != target:
                    if not capture.grab():
                        break
                    position += 1
                    continue
                ok, frame = capture.read()
                if not ok or frame is None:
                    break
                buffers[slot][filled] = as_colour(frame, rgb=False)[top:bottom]
                filled += 1
                position += 1
                target = next(wanted, None)
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

    threads = [threading.Thread(target=decode, args=(capture, share), daemon=True)
               for capture, share in zip(captures, shares)]
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
