"""Helpers the test modules share: shared data, progress generators, videos."""

import ast
import os
import subprocess
import sys
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


def write_uncompressed_avi(path: Path, frames_rgb: np.ndarray, *, bottom_up: bool = True) -> Path:
    """A classic uncompressed AVI (24-bit DIB frames), written byte by byte.

    Bottom-up DIBs (positive height, the classic layout) crash OpenCV 5.0's
    decoder; the reader must survive them.
    """
    import struct

    def chunk(tag, data):
        return tag + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")

    def listed(kind, data):
        return b"LIST" + struct.pack("<I", len(data) + 4) + kind + data

    n, height, width, _ = frames_rgb.shape
    stride = (width * 3 + 3) & ~3
    size = stride * height
    avih = struct.pack("<14I", 40000, size * 25, 0, 0x10, n, 0, 1, size, width, height, 0, 0, 0, 0)
    strh = b"vidsDIB " + struct.pack(
        "<IHHIIIIIIIIhhhh", 0, 0, 0, 0, 1, 25, 0, n, size, 0xFFFFFFFF, 0, 0, 0, width, height
    )
    strf = struct.pack(
        "<IiiHHIIiiII", 40, width, height if bottom_up else -height, 1, 24, 0, size, 0, 0, 0, 0
    )
    header = listed(
        b"hdrl", chunk(b"avih", avih) + listed(b"strl", chunk(b"strh", strh) + chunk(b"strf", strf))
    )
    movie, index, offset = b"", b"", 4
    for frame in frames_rgb:
        rows = frame[..., ::-1][::-1] if bottom_up else frame[..., ::-1]
        padded = np.zeros((height, stride), np.uint8)
        padded[:, : width * 3] = rows.reshape(height, -1)
        data = chunk(b"00db", padded.tobytes())
        index += b"00db" + struct.pack("<III", 0x10, offset, size)
        offset += len(data)
        movie += data
    body = b"AVI " + header + listed(b"movi", movie) + chunk(b"idx1", index)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def numbered_frames(n_frames=24, height=48, width=80):
    """Frames whose index (< 64) is written in big blocks, robust to compression."""
    frames = np.zeros((n_frames, height, width, 3), dtype=np.uint8)
    for t in range(n_frames):
        for bit in range(6):
            if t >> bit & 1:
                frames[t, :, bit * 12 : bit * 12 + 10] = 255
    frames[..., 0] = np.maximum(frames[..., 0], 200)  # a red cast: tests channel order
    return frames


def frame_number(frame):
    return sum(
        1 << bit for bit in range(6) if frame[:, bit * 12 + 2 : bit * 12 + 8, 1].mean() > 128
    )


def kernels_compiled_by(setup: str, run: str, cache_dir: Path) -> "list[str]":
    """The numba kernels a fresh interpreter compiles running ``run`` after ``setup``.

    Both are Python source, run in one process whose numba cache is
    ``cache_dir`` (a fresh folder: nothing comes from an earlier test).
    """
    listen = """
from numba.core import event
compiled = []
class Listener(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)
    def on_end(self, ev):
        pass
event.register("numba:compile", Listener())
"""
    code = "\n".join([setup, listen, run, "print(sorted(set(compiled)))"])
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])
