"""Image files to arrays and back: frame folders, TIFF stacks, outputs, masks.

Beside :mod:`napari_gmm_background.io`, which decodes videos. Arrays are in
RGB order; OpenCV's BGR stays inside this module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .outputs import sync_file, write_bytes, write_file

__all__ = [
    "BACKGROUND_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "MASK_VIDEO_EXTENSIONS",
    "TIFF_EXTENSIONS",
    "InputError",
    "MaskWriter",
    "background_path",
    "encode_image",
    "encode_stack",
    "input_kind",
    "is_mask_folder",
    "mask_output_kind",
    "read_frame_folder",
    "read_frames",
    "read_image",
    "read_tiff_stack",
    "stack_path",
    "write_background",
    "write_image",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
TIFF_EXTENSIONS = (".tif", ".tiff")


class InputError(ValueError):
    """An input that cannot be processed, with the reason."""


def input_kind(path: Path) -> str:
    """ "folder", "tiff" or "video"; InputError for anything else."""
    from .video import VIDEO_EXTENSIONS

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
    """The frames of a TIFF stack of one image per frame, (T, H, W[, 3]), in their dtype.

    Read with their axes (:func:`napari_gmm_background.io.tiff.read_tiff`):
    a stack whose frames hold channels or Z slices (an ImageJ T,C,Y,X
    hyperstack) is refused here, so that its channels are never taken for
    frames; :func:`~napari_gmm_background.io.tiff.read_tiff` gives it whole.
    """
    from .tiff import read_tiff

    stack = read_tiff(path)
    try:
        plain = stack.is_plain
    except ValueError as error:
        raise InputError(f"{path}: {error}") from None
    if not plain:
        raise InputError(
            f"{path} is a {stack.axes} stack, not one image per frame: read it with "
            "napari_gmm_background.io.tiff.read_tiff, which keeps its axes"
        )
    return np.moveaxis(stack.data, stack.time_axis, 0)


def read_image(path: Path) -> np.ndarray:
    """An image (RGB or grey, any dtype) or a TIFF stack as it is stored.

    A PNG or JPEG through OpenCV; a TIFF through
    :func:`napari_gmm_background.io.tiff.read_tiff`, whole (a background per
    frame, or per channel of a hyperstack, keeps its shape).

    Raises
    ------
    InputError
        If it is missing or not an image.
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such image file: {path}")
    if path.suffix.lower() in TIFF_EXTENSIONS:
        from .tiff import read_tiff

        return read_tiff(path).data
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"cannot read {path} as an image")
    return image[..., ::-1] if image.ndim == 3 and image.shape[-1] == 3 else image


def read_frames(path: Path) -> np.ndarray:
    """A video, frame folder or TIFF stack decoded into memory (RGB)."""
    kind = input_kind(path)
    if kind == "video":
        from .video import read_video

        return read_video(path)
    return read_frame_folder(path) if kind == "folder" else read_tiff_stack(path)


MASK_VIDEO_EXTENSIONS = (".avi", ".mkv")
BACKGROUND_EXTENSIONS = (".png", ".tif", ".tiff")


def background_path(target: Path, dtype) -> Path:
    """Where a background of ``dtype`` goes when asked for at ``target``.

    PNG holds 8 and 16 bit integers; other data asked for as PNG goes to TIFF.

    Raises
    ------
    InputError
        For an extension that is not .png or .tif.
    """
    if target.suffix.lower() not in BACKGROUND_EXTENSIONS:
        raise InputError(f"{target}: backgrounds are written as .png or .tif")
    if target.suffix.lower() == ".png" and np.dtype(dtype) not in (np.uint8, np.uint16):
        return target.with_suffix(".tif")
    return target


def encode_image(path: Path, image: np.ndarray, axes=None, calibration=None) -> None:
    """Write an RGB or single-channel image to ``path`` as it is (see :func:`write_image`).

    PNG (8 or 16 bit) is encoded in memory, TIFF (any dtype, floats as
    float32, uncompressed so that any TIFF reader opens it) straight into
    the file; either way the file is written by
    :func:`napari_gmm_background.outputs.write_file`, so a full disk raises.
    ``axes`` (tifffile's letters, such as "CYX" for the background of a
    T,C,Y,X stack) and ``calibration``
    (:class:`napari_gmm_background.io.tiff.Calibration`) are written into a
    TIFF; by default one image, grey or RGB.
    """
    if path.suffix.lower() not in BACKGROUND_EXTENSIONS:
        raise InputError(f"{path}: outputs are .png or .tif")
    if path.suffix.lower() in TIFF_EXTENSIONS:
        _write_tiff(path, image, axes or ("YXS" if image.ndim == 3 else "YX"), calibration)
        return
    if axes not in (None, "YX", "YXS"):
        raise InputError(f"{path}: a {axes} image needs a .tif output")
    if image.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{path}: {image.dtype} data needs a .tif output")
    write_bytes(path, _png_bytes(path, image))


def _png_bytes(path: Path, image: np.ndarray) -> np.ndarray:
    """An (H, W) or RGB (H, W, 3) image encoded as PNG, in memory."""
    import cv2

    if image.ndim == 3 and image.shape[-1] == 3:
        image = image[..., ::-1]  # OpenCV encodes BGR
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image))
    if not ok:
        raise OSError(f"could not encode {path} as PNG")
    return encoded


def _write_tiff(path: Path, data: np.ndarray, axes: str, calibration=None) -> None:
    """``data`` of ``axes`` as an uncompressed TIFF (see :func:`.tiff.write_tiff`)."""
    from .tiff import Calibration, write_tiff

    calibration = calibration or Calibration()
    write_file(path, lambda file: write_tiff(file, data, axes, calibration))


def stack_path(target: Path, what: str) -> Path:
    """``target`` if it can hold a stack of images (a multi-page TIFF).

    Raises
    ------
    InputError
        Naming ``what`` (the option asking for it) for any other extension.
    """
    if target.suffix.lower() not in TIFF_EXTENSIONS:
        raise InputError(f"{target}: {what} are a stack of images, written as a multi-page .tif")
    return target


def encode_stack(path: Path, stack: np.ndarray, axes=None, calibration=None) -> None:
    """Write (T, H, W[, 3]) images as a multi-page TIFF, in their dtype (floats as float32).

    Or a stack of other ``axes`` (tifffile's letters: "TCYX" ...), with its
    ``calibration``. Read back by :func:`read_tiff_stack` (one image per
    frame) or :func:`napari_gmm_background.io.tiff.read_tiff`; written as
    :func:`encode_image` writes.
    """
    _write_tiff(path, stack, axes or ("TYXS" if stack.ndim == 4 else "TYX"), calibration)


def write_image(path: Path, image: np.ndarray, *, overwrite: bool = True) -> None:
    """Write an image through a unique temporary file: whole, or not at all.

    See :class:`napari_gmm_background.outputs.PendingOutputs`.
    """
    from .outputs import PendingOutputs

    with PendingOutputs(overwrite=overwrite) as outputs:
        encode_image(outputs.add_file(path), image)
        outputs.commit()


def write_background(target: Path, background: np.ndarray, *, overwrite: bool = True) -> Path:
    """Write a background; a float one asked for as PNG goes to TIFF. Returns the path."""
    target = background_path(target, background.dtype)
    write_image(target, background, overwrite=overwrite)
    return target


def mask_output_kind(target: Path) -> str:
    """ "video" for a .avi/.mkv target, "folder" for one without an extension."""
    if target.suffix.lower() in MASK_VIDEO_EXTENSIONS:
        return "video"
    if target.suffix and not target.is_dir():
        raise InputError(
            f"{target}: foreground masks go to a folder (a path without an extension) "
            "or a lossless .avi or .mkv video"
        )
    return "folder"


def is_mask_folder(folder: Path) -> bool:
    """Whether a folder holds nothing but masks this package wrote."""
    return all(
        entry.is_file() and entry.name.startswith("mask_") and entry.suffix == ".png"
        for entry in folder.iterdir()
    )


class MaskWriter:
    """Foreground masks, frame by frame, to a PNG folder or a lossless video.

    Parameters
    ----------
    target : Path
        An existing folder, or a ``.avi``/``.mkv`` file (FFV1, lossless);
        write to a temporary from
        :class:`napari_gmm_background.outputs.PendingOutputs`.
    size : (int, int)
        Height and width of the masks.
    """

    def __init__(self, target: Path, size: "tuple[int, int]"):
        import cv2

        self.target = target
        self.video = None
        self.count = 0
        if target.suffix.lower() in MASK_VIDEO_EXTENSIONS:
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
        image = np.where(mask, 255, 0).astype(np.uint8)
        if self.video is not None:
            self.video.write(image)
        else:
            path = self.target / f"mask_{self.count:06d}.png"
            write_bytes(path, _png_bytes(path, image))
        self.count += 1

    def abandon(self) -> None:
        """Let go of the video without finishing it (its temporary is discarded)."""
        if self.video is not None:
            self.video.release()
            self.video = None

    def close(self) -> None:
        """Finish the video, and check every mask is on disk in it (OpenCV does not say)."""
        if self.video is None:
            return
        self.video.release()
        self.video = None
        from .video import VideoReadError, video_info

        sync_file(self.target)

        try:
            written = video_info(self.target).n_frames
        except VideoReadError:
            written = 0
        if written != self.count:
            # With the file named, so that PendingOutputs names the output asked for.
            reason = f"only {written} of {self.count} masks reached it (is the disk full?)"
            raise OSError(None, reason, str(self.target))
