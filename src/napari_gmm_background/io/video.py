"""Files to arrays: video decoding with OpenCV.

Frames are read sequentially, one ``read()`` per frame, and counted as they
come: seeking and ``CAP_PROP_FRAME_COUNT`` are estimates for many codecs and
containers, so neither is trusted for which frame is which.
"""

from __future__ import annotations

import itertools
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..core.checks import check_count, check_flag

if TYPE_CHECKING:
    import cv2

__all__ = [
    "VIDEO_EXTENSIONS",
    "LazyVideo",
    "VideoInfo",
    "VideoReadError",
    "DamagedVideoWarning",
    "DecodeReport",
    "as_colour",
    "decode_positions",
    "frame_ranges",
    "iter_video_frames",
    "open_capture",
    "open_video",
    "read_video",
    "read_video_dask",
    "video_info",
]

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm")


# Grey levels by which a grey video's decoded channels may differ: colour
# codecs round the chroma of grey pixels to +-2 (MJPEG, MPEG-4 measured).
GREY_TOLERANCE = 2


class VideoReadError(ValueError):
    """A video file exists but cannot be decoded."""


class DamagedVideoWarning(UserWarning):
    """Some frames of a video could not be decoded; the message says which."""


# A damaged frame fails to decode while the frames after it still can, so
# decoding goes on past failures; this many in a row are taken as the end.
MAX_FAILURES_IN_A_ROW = 64


@dataclass
class DecodeReport:
    """What decoding a video met: how many frames came, which could not.

    Attributes
    ----------
    path : str
        The video.
    declared : int
        Frames the container says it holds (0 when it does not say).
    decoded : int
        Frames decoded.
    lost : list of int
        Positions that failed to decode before the end (damaged frames, or
        frames a truncated file declares but does not hold).
    """

    path: str
    declared: int
    decoded: int = 0
    lost: list = field(default_factory=list)
    end: int = 0

    def missing(self, wanted: "range | None" = None) -> list:
        """Wanted positions that did not decode: the lost ones, and those never reached."""
        wanted = range(self.declared) if wanted is None else wanted
        lost = set(self.lost)
        return [p for p in wanted if p in lost or (p >= self.end and p < self.declared)]

    def message(self, wanted: "range | None" = None) -> "str | None":
        """A warning for people, naming the file and the frames; None if nothing was lost."""
        missing = self.missing(wanted)
        if not missing:
            return None
        n_wanted = len(range(self.declared) if wanted is None else wanted)
        return (
            f"{self.path}: {len(missing)} of {n_wanted} frames could not be decoded "
            f"(frames {frame_ranges(missing)}; the file is damaged or truncated); "
            "the others are used, in order"
        )

    def warn(self, wanted: "range | None" = None) -> None:
        message = self.message(wanted)
        if message:
            warnings.warn(DamagedVideoWarning(message), stacklevel=3)


def frame_ranges(positions: list) -> str:
    """1, 2, 3, 7 -> '1-3, 7' (at most a few runs, then '...')."""
    runs = []
    for position in positions:
        if runs and position == runs[-1][1] + 1:
            runs[-1][1] = position
        else:
            runs.append([position, position])
    text = [f"{a}-{b}" if b > a else f"{a}" for a, b in runs[:6]]
    return ", ".join(text) + (", ..." if len(runs) > 6 else "")


def decode_positions(
    capture,
    wanted: "Iterator[int]",
    report: DecodeReport,
    *,
    rgb: bool,
    into: "Callable[[int], np.ndarray] | None" = None,
):
    """Yield ``(position, frame)`` for the wanted positions (ascending) that decode.

    With ``into``, each frame is decoded into the (H, W, 3) uint8 array
    ``into(position)`` and that array is yielded: a few buffers used again
    stay in the processor's cache for the work that reads them next.

    The one decode loop every reader uses. Unwanted frames are skipped with
    ``grab``; a frame that fails to decode is recorded in ``report.lost`` and
    skipped, so a damaged frame costs only itself; after
    :data:`MAX_FAILURES_IN_A_ROW` failures in a row, or a failure at or beyond
    the declared length, the video has ended. ``capture`` must stand at
    position ``report.end`` (0 for a new capture).
    """
    position = report.end
    failures = 0
    target = next(wanted, None)
    while target is not None:
        if position != target:
            if not capture.grab():
                failures += 1
                if position >= report.declared or failures >= MAX_FAILURES_IN_A_ROW:
                    break
            position += 1
            continue
        target = None if into is None else into(position)
        ok, frame = capture.read(target) if target is not None else capture.read()
        if ok and frame is not None:
            failures = 0
            report.decoded += 1
            yield position, _as_colour_into(frame, target, rgb)
        else:
            failures += 1
            if position >= report.declared or failures >= MAX_FAILURES_IN_A_ROW:
                break
            report.lost.append(position)
        position += 1
        target = next(wanted, None)
    report.end = position


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds, with the frame count checked by decoding."""

    path: str
    n_frames: int
    height: int
    width: int
    fps: float
    fourcc: str
    declared_frames: int = -1  # what the container claims; -1: as n_frames

    @property
    def decoded_bytes(self) -> int:
        """Size of all frames decoded as RGB uint8."""
        return self.n_frames * self.height * self.width * 3

    def truncation_message(self) -> "str | None":
        """A warning when the container declares frames the file does not hold."""
        declared = self.declared_frames
        if declared <= self.n_frames or declared - self.n_frames <= max(1, declared // 100):
            return None  # estimated counts are often off by a frame or two
        return (
            f"{self.path}: the file declares {declared} frames but holds {self.n_frames} "
            "(truncated or damaged); the frames it holds are used"
        )

    def as_metadata(self) -> dict:
        return {
            "declared_frames": self.declared_frames,
            "source_path": self.path,
            "fps": self.fps,
            "frame_count": self.n_frames,
            "height": self.height,
            "width": self.width,
            "fourcc": self.fourcc,
        }


def open_capture(path: "str | os.PathLike", at: int = 0) -> "cv2.VideoCapture":
    """An open ``cv2.VideoCapture`` at frame ``at``; FileNotFoundError or VideoReadError if not."""
    import cv2

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such video file: {path}")
    if not os.access(path, os.R_OK):
        raise PermissionError(f"cannot read {path}: permission denied")
    _probe_out_of_process(path)
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        capture.release()
        raise VideoReadError(f"cannot open {path} as a video (unknown format or corrupt file)")
    if at:
        capture.set(cv2.CAP_PROP_POS_FRAMES, at)
    return capture


# Decodes a video's first and last frames; run in a child process first, so
# that a file which crashes OpenCV's decoder (some uncompressed bottom-up
# AVIs abort OpenCV 5.0) takes down the child, not napari or the batch.
_PROBE = """
import sys, cv2
capture = cv2.VideoCapture(sys.argv[1])
if capture.isOpened():
    capture.read()
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if count > 1:
        capture.set(cv2.CAP_PROP_POS_FRAMES, count - 1)
        capture.read()
"""
_PROBE_SECONDS = 120
_probed: "dict[tuple, str]" = {}
_probe_lock = threading.Lock()


def _probe_out_of_process(path: str) -> None:
    """VideoReadError if decoding the file crashes or hangs a child process.

    Each file (by path, size and modification time) is probed once per
    process; a crash is remembered too.
    """
    import subprocess
    import sys

    status = os.stat(path)
    key = (os.path.realpath(path), status.st_size, status.st_mtime_ns)
    with _probe_lock:
        verdict = _probed.get(key)
    if verdict is None:
        try:
            done = subprocess.run(
                [sys.executable, "-c", _PROBE, path],
                capture_output=True,
                timeout=_PROBE_SECONDS,
            )
            crashed = done.returncode not in (0, 1)
            verdict = f"crashed (exit status {done.returncode})" if crashed else ""
        except subprocess.TimeoutExpired:
            verdict = f"did not finish within {_PROBE_SECONDS} s"
        with _probe_lock:
            _probed[key] = verdict
    if verdict:
        raise VideoReadError(
            f"{path}: OpenCV's decoder {verdict} reading this file, so it is not opened "
            "here; convert it first (for example: ffmpeg -i IN -c:v ffv1 OUT.mkv)"
        )


def as_colour(frame: np.ndarray, *, rgb: bool) -> np.ndarray:
    """A decoded OpenCV frame as 3-channel RGB (or BGR with ``rgb=False``).

    Some codecs decode to a single channel; those frames are made
    three-channel so every frame of a video has one shape.
    """
    import cv2

    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if rgb else frame


def _as_colour_into(frame: np.ndarray, target: "np.ndarray | None", rgb: bool) -> np.ndarray:
    """:func:`as_colour` of ``frame``, in ``target`` if given (in place where it was decoded)."""
    if target is None:
        return as_colour(frame, rgb=rgb)
    if frame.shape == target.shape and np.shares_memory(frame, target):
        if rgb:
            import cv2

            cv2.cvtColor(target, cv2.COLOR_BGR2RGB, dst=target)
        return target
    target[...] = as_colour(frame, rgb=rgb)  # a codec of another layout decoded it elsewhere
    return target


def iter_video_frames(
    path: "str | os.PathLike",
    *,
    rgb: bool = True,
    indices: "range | None" = None,
    report: "DecodeReport | None" = None,
) -> Iterator[np.ndarray]:
    """Decode a video frame by frame, past damaged frames.

    Parameters
    ----------
    path : str or os.PathLike
        The video file.
    rgb : bool
        Convert OpenCV's BGR to RGB (default); False keeps BGR.
    indices : range, optional
        Only these frame positions (ascending); the others are skipped with
        ``grab``, which does not convert them.
    report : DecodeReport, optional
        Filled with what was lost; without one, a :class:`DamagedVideoWarning`
        names the frames that could not be decoded.

    Yields
    ------
    numpy.ndarray
        (H, W, 3) uint8 frames, in decoding order; damaged frames are left out.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    VideoReadError
        If OpenCV cannot open it.
    """
    import cv2

    rgb = check_flag("rgb", rgb)
    if indices is not None and not isinstance(indices, range):
        raise TypeError(f"indices must be a range of frame positions, got {indices!r}")
    if indices is not None and len(indices) > 1 and indices[1] <= indices[0]:
        raise ValueError(f"indices {indices}: frames are decoded in order, so they must ascend")
    capture = open_capture(path)
    warn = report is None
    if report is None:
        report = DecodeReport(os.fspath(path), max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0))
    wanted = iter(indices) if indices is not None else itertools.count()
    try:
        for _, frame in decode_positions(capture, wanted, report, rgb=rgb):
            yield frame
    finally:
        capture.release()
    if warn:
        report.warn(indices)


def read_video(path: "str | os.PathLike", *, rgb: bool = True) -> np.ndarray:
    """Decode a whole video into memory.

    Parameters
    ----------
    path : str or os.PathLike
        The video file.
    rgb : bool
        Convert OpenCV's BGR to RGB (default); False keeps BGR.

    Returns
    -------
    numpy.ndarray
        (T, H, W, 3) uint8.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    VideoReadError
        If OpenCV cannot open it or it holds no decodable frame.

    Warns
    -----
    DamagedVideoWarning
        Naming the frames that could not be decoded (they are left out).
    """

    video, report = _read_all(path, check_flag("rgb", rgb))
    report.warn()
    return video


def _read_all(path, rgb: bool) -> "tuple[np.ndarray, DecodeReport]":
    """Every frame that decodes, and the report of those that did not."""
    import cv2

    capture = open_capture(path)
    # The container's frame count is only a first guess at the size: the
    # buffer grows if more frames come and is cut to the frames decoded.
    report = DecodeReport(os.fspath(path), max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0))
    capture.release()
    video = None
    n_frames = 0
    for frame in iter_video_frames(path, rgb=rgb, report=report):
        if video is None:
            video = np.empty((max(report.declared, 1),) + frame.shape, dtype=frame.dtype)
        elif n_frames == len(video):
            video = _grow(video, 2 * len(video))
        video[n_frames] = frame
        n_frames += 1
    if video is None:
        raise VideoReadError(f"{os.fspath(path)} holds no decodable video frame")
    return (video if n_frames == len(video) else _grow(video, n_frames)), report


def _grow(video: np.ndarray, n_frames: int) -> np.ndarray:
    """``video`` resized along time to ``n_frames``, in place when numpy can."""
    try:
        video.resize((n_frames,) + video.shape[1:], refcheck=False)
        return video
    except ValueError:  # pragma: no cover - the array does not own its memory
        resized = np.empty((n_frames,) + video.shape[1:], dtype=video.dtype)
        count = min(n_frames, len(video))
        resized[:count] = video[:count]
        return resized


def _grab_at(capture: "cv2.VideoCapture", index: int) -> bool:
    import cv2

    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    return bool(capture.grab())


def video_info(path: "str | os.PathLike") -> VideoInfo:
    """Frame count, size, fps and codec of a video, without decoding it all.

    The container's frame count is checked: its last frame must decode and
    the one after it must not. Where that fails the frames are counted by
    grabbing them all, which is exact but takes a pass over the file.

    Raises
    ------
    FileNotFoundError, VideoReadError
        As :func:`read_video`, and if the video holds no decodable frame.
    """
    import cv2

    capture = open_capture(path)
    try:
        claimed = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        code = int(capture.get(cv2.CAP_PROP_FOURCC))
        fourcc = "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)).strip("\x00 ")
        report = DecodeReport(os.fspath(path), max(claimed, 0))
        decoded = decode_positions(capture, itertools.count(), report, rgb=False)
        _, first = next(decoded, (None, None))
        decoded.close()
        if first is None:
            raise VideoReadError(f"{os.fspath(path)} holds no decodable video frame")
        height, width = first.shape[:2]
        if claimed > 0 and _grab_at(capture, claimed - 1) and not _grab_at(capture, claimed):
            n_frames = claimed
        else:  # count what is there, from a capture that has not been seeked
            counter = open_capture(path)
            n_frames = 0
            while counter.grab():
                n_frames += 1
            counter.release()
    finally:
        capture.release()
    return VideoInfo(os.fspath(path), n_frames, height, width, fps, fourcc, claimed)


def _decode_range(path: str, start: int, stop: int, shape: tuple, rgb: bool) -> np.ndarray:
    """Frames ``start`` to ``stop`` of a video: one seek, then sequential reads.

    A frame that cannot be decoded is left black, keeping the numbering, and
    named in a :class:`DamagedVideoWarning`.
    """
    frames, report = _decode_range_reporting(path, start, stop, shape, rgb)
    message = report.message(range(start, stop))
    if message:
        warnings.warn(
            DamagedVideoWarning(message.replace("used, in order", "left black")), stacklevel=2
        )
    return frames


def _decode_range_reporting(path: str, start: int, stop: int, shape: tuple, rgb: bool):
    """:func:`_decode_range` without the warning: the frames and what decoding met."""

    capture = open_capture(path, at=start)
    try:
        frames = np.zeros((stop - start,) + shape, dtype=np.uint8)
        report = DecodeReport(path, stop, end=start)
        for position, frame in decode_positions(capture, iter(range(start, stop)), report, rgb=rgb):
            frames[position - start] = frame
    finally:
        capture.release()
    return frames, report


def read_video_dask(
    path: "str | os.PathLike",
    *,
    frames_per_chunk: int = 8,
    rgb: bool = True,
    info: "VideoInfo | None" = None,
):
    """A video as a lazy dask array, chunked by frame ranges.

    Each chunk decodes its own range (one seek, then sequential reads), so
    chunks can be computed in parallel, on other processes or machines, and
    nothing is decoded until asked for.

    Parameters
    ----------
    path : str or os.PathLike
        The video file.
    frames_per_chunk : int
        Frames in each chunk along time.
    rgb : bool
        RGB (default) or OpenCV's BGR channel order.
    info : VideoInfo, optional
        From :func:`video_info`, if already known.

    Returns
    -------
    dask.array.Array
        (T, H, W, 3) uint8.
    """
    import dask
    import dask.array as da

    frames_per_chunk = check_count("frames_per_chunk", frames_per_chunk)
    rgb = check_flag("rgb", rgb)
    info = info or video_info(path)
    shape = (info.height, info.width, 3)
    decode = dask.delayed(_decode_range, pure=True)
    blocks = [
        da.from_delayed(
            decode(info.path, start, min(start + frames_per_chunk, info.n_frames), shape, rgb),
            shape=(min(start + frames_per_chunk, info.n_frames) - start,) + shape,
            dtype=np.uint8,
        )
        for start in range(0, info.n_frames, frames_per_chunk)
    ]
    return da.concatenate(blocks, axis=0)


class LazyVideo:
    """A video as a read-only array that decodes frames only when indexed.

    Shape (T, H, W, 3), dtype uint8, RGB. Indexing decodes the frames asked
    for, in chunks of ``frames_per_chunk`` (one seek, then sequential
    reads), and keeps the most recent chunks in a small cache of at most
    ``cache_bytes``. Not a dask collection on purpose: napari keeps dask
    chunks in a cache sized from the machine's memory, which would grow far
    past the budget that made this video lazy.

    ``np.asarray(video)`` decodes everything; use :meth:`to_dask` for lazy
    processing, or index a frame range.

    A frame that fails to decode (a damaged file) is black, keeping the
    numbering; it is recorded in :attr:`lost` and said once, the first time
    it is met (when viewed, or read by :meth:`to_dask`'s chunks): by
    ``on_loss(message)``, or else as a :class:`DamagedVideoWarning`.
    """

    def __init__(
        self,
        path: "str | os.PathLike",
        *,
        info: "VideoInfo | None" = None,
        frames_per_chunk: int = 8,
        cache_bytes: int = 128 * 2**20,
        on_loss: "Callable[[str], object] | None" = None,
    ):
        self.info = info or video_info(path)
        self.lost: "set[int]" = set()
        self.on_loss = on_loss
        self.frames_per_chunk = frames_per_chunk
        self.shape = (self.info.n_frames, self.info.height, self.info.width, 3)
        self.dtype = np.dtype(np.uint8)
        chunk_bytes = frames_per_chunk * self.info.height * self.info.width * 3
        self._max_chunks = max(1, cache_bytes // chunk_bytes)
        self._cache: "OrderedDict[int, np.ndarray]" = OrderedDict()
        self._lock = threading.Lock()

    ndim = 4

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"LazyVideo({self.info.path!r}, shape={self.shape})"

    def _chunk(self, index: int) -> np.ndarray:
        with self._lock:
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index]
        start = index * self.frames_per_chunk
        stop = min(start + self.frames_per_chunk, self.shape[0])
        frames = self._decode(start, stop)
        with self._lock:
            self._cache[index] = frames
            while len(self._cache) > self._max_chunks:
                self._cache.popitem(last=False)
        return frames

    def _decode(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop``, the lost ones black; a loss met for the first time is said."""
        frames, report = _decode_range_reporting(self.info.path, start, stop, self.shape[1:], True)
        missing = report.missing(range(start, stop))
        with self._lock:
            new = sorted(set(missing) - self.lost)
            self.lost.update(new)
        if new:
            frames_named = f"frame{'s' if len(new) > 1 else ''} {frame_ranges(new)}"
            message = (
                f"{self.info.path}: {frames_named} could not be decoded (the file is damaged): "
                "shown black"
            )
            if self.on_loss is not None:
                self.on_loss(message)
            else:
                warnings.warn(DamagedVideoWarning(message), stacklevel=3)
        return frames

    def _frame(self, t: int) -> np.ndarray:
        return self._chunk(t // self.frames_per_chunk)[t % self.frames_per_chunk]

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            at = next(i for i, k in enumerate(key) if k is Ellipsis)
            fill = (slice(None),) * (self.ndim - len(key) + 1)
            key = key[:at] + fill + key[at + 1 :]
        time_key, rest = (key[0], key[1:]) if key else (slice(None), ())
        if isinstance(time_key, (int, np.integer)):
            t = int(time_key)
            if not -self.shape[0] <= t < self.shape[0]:
                raise IndexError(f"frame {t} is out of range for {self.shape[0]} frames")
            return self._frame(t % self.shape[0])[rest]
        times = np.arange(self.shape[0])[time_key]
        out = np.empty((len(times),) + self.shape[1:], dtype=self.dtype)
        for i, t in enumerate(times):
            out[i] = self._frame(int(t))
        return out[(slice(None),) + rest]

    def __array__(self, dtype=None, copy=None):
        frames = self[:]
        return frames if dtype is None else frames.astype(dtype)

    def to_dask(self):
        """The same video as a lazy dask array whose chunks each decode their frames.

        As :func:`read_video_dask`, but its losses are this video's
        (:attr:`lost`), said once. For the threaded scheduler (the video is
        not sent to other processes).
        """
        import dask
        import dask.array as da

        decode = dask.delayed(self._decode, pure=True)
        starts = range(0, self.shape[0], self.frames_per_chunk)
        blocks = [
            da.from_delayed(
                decode(start, min(start + self.frames_per_chunk, self.shape[0])),
                shape=(min(start + self.frames_per_chunk, self.shape[0]) - start,) + self.shape[1:],
                dtype=np.uint8,
            )
            for start in starts
        ]
        return da.concatenate(blocks, axis=0)


def open_video(path: "str | os.PathLike", *, budget: "int | None" = None):
    """A video as the reader hands it to napari: data and metadata.

    Videos whose decoded frames fit in ``budget`` bytes (default: the memory
    budget, :func:`napari_gmm_background.core.memory.memory_budget`) are
    decoded into memory. Larger videos come back as a :class:`LazyVideo`
    that decodes frames when they are looked at, in
    chunks of at most a sixteenth of the budget, with a cache of at most an
    eighth; they stay RGB.

    A grey video stored with a colour codec decodes with channels that differ
    by a grey level or two (chroma rounding); one whose channels differ by at
    most ``GREY_TOLERANCE`` everywhere opens as the mean of its channels.

    Returns
    -------
    data : numpy.ndarray or LazyVideo
        (T, H, W, 3) or (T, H, W) uint8.
    metadata : dict
        ``source_path``, ``fps``, ``frame_count``, ``declared_frames`` (what
        the container claims), ``lost_frames`` (positions that could not be
        decoded; eager only), ``height``, ``width``, ``fourcc``, ``lazy``, and
        ``grey`` where the video became single-channel.

    Warns
    -----
    DamagedVideoWarning
        When frames could not be decoded, or the file declares more than it
        holds; napari shows it as a notification.
    """
    from ..core.memory import memory_budget

    budget = memory_budget() if budget is None else check_count("budget", budget)
    info = video_info(path)
    metadata = info.as_metadata()
    if info.decoded_bytes > budget:
        metadata["lazy"] = True
        truncated = info.truncation_message()
        if truncated:
            warnings.warn(DamagedVideoWarning(truncated), stacklevel=2)
        frame_bytes = info.height * info.width * 3
        # Chunks of at most a sixteenth of the budget, a cache of an eighth.
        frames_per_chunk = int(np.clip(budget // (16 * frame_bytes), 1, 8))
        video = LazyVideo(
            path, info=info, frames_per_chunk=frames_per_chunk, cache_bytes=budget // 8
        )
        return video, metadata
    video, report = _read_all(path, True)
    report.warn()
    metadata.update(lazy=False, frame_count=len(video), lost_frames=report.missing())
    if _is_grey(video):
        video = _to_grey(video)
        metadata["grey"] = True
    return video, metadata


def _is_grey(video: np.ndarray) -> bool:
    """Whether the channels differ by at most ``GREY_TOLERANCE`` everywhere."""
    for frame in video:  # frame by frame: no full-size temporary
        channels = frame.astype(np.int16)
        if (
            np.abs(channels[..., 0] - channels[..., 1]).max() > GREY_TOLERANCE
            or np.abs(channels[..., 0] - channels[..., 2]).max() > GREY_TOLERANCE
        ):
            return False
    return True


def _to_grey(video: np.ndarray) -> np.ndarray:
    grey = np.empty(video.shape[:-1], dtype=np.uint8)
    for t, frame in enumerate(video):
        grey[t] = np.rint(frame.mean(axis=-1))
    return grey
