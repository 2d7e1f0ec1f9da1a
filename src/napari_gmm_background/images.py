"""Image files to arrays and back: frame folders, TIFF stacks, outputs, masks.

Beside :mod:`napari_gmm_background.io`, which decodes videos. Arrays are in
RGB order; OpenCV's BGR stays inside this module.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = [
    "IMAGE_EXTENSIONS",
    "TIFF_EXTENSIONS",
    "InputError",
    "MaskWriter",
    "input_kind",
    "read_frame_folder",
    "read_frames",
    "read_tiff_stack",
    "write_background",
    "write_image",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
TIFF_EXTENSIONS = (".tif", ".tiff")


class InputError(ValueError):
    """An input that cannot be processed, with the reason."""


def input_kind(path: Path) -> str:
    """ "folder", "tiff" or "video"; InputError for anything else."""
    from .io import VIDEO_EXTENSIONS

    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in TIFF_EXTENSIONS:
        return "tiff"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    raise InputError(f"not a video, frame folder or TIFF stack: {path}")


def _bgr_to_rgb(stack: np.ndarray) -> np.ndarray:
    return stack[..., ::-1] if stack.ndim == 4 and stack.shape[-1] == 3 else stack


def read_frame_folder(folder: Path) -> np.ndarray:
    """The images of a folder, sorted by name, as (T, H, W[, 3]) frames.

    Raises
    ------
    InputError
        If it holds no images, or one is unreadable or differs in size or type.
    """
    import cv2

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise InputError(f"{folder} holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
    first = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
    if first is None:
        raise InputError(f"cannot read {files[0]} as an image")
    stack = np.empty((len(files),) + first.shape, dtype=first.dtype)
    for t, file in enumerate(files):
        image = first if t == 0 else cv2.imread(str(file), cv2.IMREAD_UNCHANGED)
        if image is None or image.shape != first.shape or image.dtype != first.dtype:
            raise InputError(f"{file} is unreadable or differs in size or type from {files[0]}")
        stack[t] = image
    return _bgr_to_rgb(stack)


def read_tiff_stack(path: Path) -> np.ndarray:
    """The pages of a multi-page TIFF as (T, H, W[, 3]) frames, in their dtype."""
    import cv2

    ok, pages = cv2.imreadmulti(str(path), flags=cv2.IMREAD_UNCHANGED)
    if not ok or not pages:
        raise InputError(f"cannot read {path} as a TIFF stack")
    if any(page.shape != pages[0].shape for page in pages):
        raise InputError(f"{path}: pages differ in size")
    return _bgr_to_rgb(np.stack(pages))


def read_frames(path: Path) -> np.ndarray:
    """A video, frame folder or TIFF stack decoded into memory (RGB)."""
    kind = input_kind(path)
    if kind == "video":
        from .io import read_video

        return read_video(path)
    return read_frame_folder(path) if kind == "folder" else read_tiff_stack(path)


def write_background(target: Path, background: np.ndarray) -> Path:
    """Write a background; a float one asked for as PNG goes to TIFF. Returns the path."""
    if target.suffix.lower() == ".png" and background.dtype not in (np.uint8, np.uint16):
        target = target.with_suffix(".tif")
    write_image(target, background)
    return target


def write_image(path: Path, image: np.ndarray) -> None:
    """Write through a temporary file, so a failure leaves nothing half-written."""
    import cv2

    if image.ndim == 3 and image.shape[-1] == 3:
        image = image[..., ::-1]  # OpenCV writes BGR
    if path.suffix.lower() not in (".png", ".tif", ".tiff"):
        raise InputError(f"{path}: outputs are .png or .tif")
    if image.dtype not in (np.uint8, np.uint16):
        if path.suffix.lower() == ".png":
            raise InputError(f"{path}: {image.dtype} data needs a .tif output")
        image = image.astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        if not cv2.imwrite(str(partial), np.ascontiguousarray(image)):
            raise OSError(f"could not write {path}")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


class MaskWriter:
    """Foreground masks, frame by frame, to a PNG folder or a lossless video.

    Parameters
    ----------
    target : Path
        A folder (created), or a ``.avi``/``.mkv`` file (FFV1, lossless).
    size : (int, int)
        Height and width of the masks.
    """

    def __init__(self, target: Path, size: "tuple[int, int]"):
        import cv2

        self.target = target
        self.video = None
        self.count = 0
        if target.suffix.lower() in (".avi", ".mkv"):
            height, width = size
            self.video = cv2.VideoWriter(
                str(target), cv2.VideoWriter_fourcc(*"FFV1"), 25.0, (width, height), False
            )
            if not self.video.isOpened():
                raise OSError(f"cannot write a lossless video to {target}")
        else:
            target.mkdir(parents=True, exist_ok=True)

    def write(self, mask: np.ndarray) -> None:
        """Append one (H, W) bool mask: 255 where True."""
        import cv2

        image = np.where(mask, 255, 0).astype(np.uint8)
        if self.video is not None:
            self.video.write(image)
        elif not cv2.imwrite(str(self.target / f"mask_{self.count:06d}.png"), image):
            raise OSError(f"could not write into {self.target}")
        self.count += 1

    def close(self) -> None:
        if self.video is not None:
            self.video.release()
