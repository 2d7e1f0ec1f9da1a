"""Files to arrays: video decoding with OpenCV.

Frames are read sequentially, one ``read()`` per frame, and counted as they
come: seeking and ``CAP_PROP_FRAME_COUNT`` are estimates for many codecs and
containers, so neither is trusted for which frame is which.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterator

import numpy as np

if TYPE_CHECKING:
    import cv2

__all__ = ["VIDEO_EXTENSIONS", "VideoReadError", "iter_video_frames", "read_video"]

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm")


class VideoReadError(ValueError):
    """A video file exists but cannot be decoded."""


def _open_capture(path: "str | os.PathLike") -> "cv2.VideoCapture":
    import cv2

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such video file: {path}")
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        capture.release()
        raise VideoReadError(f"cannot open {path} as a video (unknown format or corrupt file)")
    return capture


def iter_video_frames(path: "str | os.PathLike", *, rgb: bool = True) -> Iterator[np.ndarray]:
    """Decode a video frame by frame.

    Parameters
    ----------
    path : str or os.PathLike
        The video file.
    rgb : bool
        Convert OpenCV's BGR to RGB (default); False keeps BGR.

    Yields
    ------
    numpy.ndarray
        (H, W, 3) uint8 frames, in decoding order.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    VideoReadError
        If OpenCV cannot open it.
    """
    import cv2

    capture = _open_capture(path)
    try:
        while True:
            ok, frame = capture.read()
            if not ok or frame is None:
                return
            if frame.ndim == 2:
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if rgb else frame
    finally:
        capture.release()


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
    """
    import cv2

    capture = _open_capture(path)
    # The container's frame count is only a first guess at the size: the
    # buffer grows if more frames come and is cut to the frames decoded.
    expected = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 1)
    capture.release()
    video = None
    n_frames = 0
    for frame in iter_video_frames(path, rgb=rgb):
        if video is None:
            video = np.empty((expected,) + frame.shape, dtype=frame.dtype)
        elif n_frames == len(video):
            video = _grow(video, 2 * len(video))
        video[n_frames] = frame
        n_frames += 1
    if video is None:
        raise VideoReadError(f"{os.fspath(path)} holds no decodable video frame")
    return video if n_frames == len(video) else _grow(video, n_frames)


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
