"""Helpers the test modules share: shared data, progress generators, videos."""

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(*parts: str) -> Path:
    """A file of ../shared/data, or skip the test when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


def drain(generator) -> "tuple[list, object]":
    """Run a progress generator to its end: (the steps it yielded, its return value)."""
    steps = []
    while True:
        try:
            steps.append(next(generator))
        except StopIteration as stop:
            return steps, stop.value


def write_video(
    path: Path, frames_rgb: np.ndarray, fourcc: str = "MJPG", fps: float = 25.0
) -> Path:
    """Write (T, H, W, 3) RGB uint8 frames with OpenCV; return the path."""
    import cv2

    height, width = frames_rgb.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} to {path}"
    for frame in frames_rgb:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()
    return path


def decode_with_opencv(path: Path, rgb: bool = True) -> np.ndarray:
    """Every frame OpenCV's VideoCapture.read gives, stacked (RGB by default)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame[..., ::-1] if rgb else frame)
    capture.release()
    return np.stack(frames)
