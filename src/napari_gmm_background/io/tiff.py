"""TIFF stacks as microscopists keep them: axes, pixel size and frame interval, read and written.

Read with tifffile, so that an ImageJ hyperstack or an OME-TIFF keeps its
axes (T, C, Y, X ...): a T,C,Y,X stack is two channels over time, not
twice as many frames. Files tifffile cannot decode without an optional
codec (OpenCV writes LZW) are read by OpenCV, as plain stacks of frames.
Written uncompressed, as ImageJ hyperstacks where ImageJ can hold the data
(uint8, uint16, float32 in T, Z, C, Y, X order), so that Fiji, tifffile
alone and napari's own reader open them, with the input's axes, pixel size
and units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Calibration", "TiffStack", "frame_axes", "is_plain", "read_tiff", "write_tiff"]

# The axes of an image, as tifffile names them: rows, columns, samples (RGB).
_IMAGE_AXES = "YXS"
# ImageJ's hyperstack order, and the types it holds.
_IMAGEJ_ORDER = "TZCYXS"
_IMAGEJ_TYPES = (np.uint8, np.uint16, np.float32)


@dataclass(frozen=True)
class Calibration:
    """What a stack's numbers measure: pixel size (y, x) in ``unit``, Z spacing, interval (s)."""

    pixel_size: "tuple[float, float] | None" = None
    unit: "str | None" = None
    z_spacing: "float | None" = None
    frame_interval: "float | None" = None


@dataclass(frozen=True)
class TiffStack:
    """A TIFF's first series: its data, tifffile's axes letters and its calibration."""

    data: np.ndarray
    axes: str
    calibration: Calibration = field(default_factory=Calibration)

    @property
    def time_axis(self) -> int:
        """The axis of frames: T, else the first that is not C or an image axis (Z, I, Q).

        ValueError where every axis is an image or a channel (no frames).
        """
        if "T" in self.axes:
            return self.axes.index("T")
        for i, letter in enumerate(self.axes):
            if letter not in _IMAGE_AXES + "C":
                return i
        raise ValueError(f"its axes are {self.axes}: one image (per channel), no frames")

    @property
    def frame_axes(self) -> str:
        """The axes of one frame: the stack's without its time axis."""
        return frame_axes(self.axes, self.time_axis)

    @property
    def is_plain(self) -> bool:
        """One image (grey or colour) per frame: no channel or Z axis besides time."""
        return is_plain(self.frame_axes)


def frame_axes(axes: str, time_axis: int) -> str:
    """The axes of one frame of a stack of ``axes``: all but its time axis."""
    return axes[:time_axis] + axes[time_axis + 1 :]


def is_plain(frame_axes: str) -> bool:
    """Whether frames of these axes are one image each, grey or colour (no C or Z)."""
    return frame_axes in ("YX", "YXS")


def read_tiff(path: "str | Path") -> TiffStack:
    """A TIFF stack's first series, with its axes and calibration.

    Raises
    ------
    InputError
        If it cannot be read as a TIFF.
    """
    import tifffile

    from .images import InputError

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            calibration = _calibration(tif)
            try:
                data = series.asarray()
            except ValueError as error:  # a compression that needs a codec tifffile lacks
                if "imagecodecs" not in str(error):
                    raise
                return TiffStack(_read_with_opencv(Path(path)), _plain_axes(series.axes))
            return TiffStack(data, series.axes, calibration)
    except (tifffile.TiffFileError, OSError, ValueError, IndexError) as error:
        raise InputError(f"cannot read {path} as a TIFF stack ({error})") from None


def _plain_axes(axes: str) -> str:
    return "IYXS" if axes.endswith("S") else "IYX"


def _read_with_opencv(path: Path) -> np.ndarray:
    import cv2

    from .images import InputError

    ok, pages = cv2.imreadmulti(str(path), flags=cv2.IMREAD_UNCHANGED)
    if not ok or not pages:
        raise InputError(f"cannot read {path} as a TIFF stack")
    if any(page.shape != pages[0].shape for page in pages):
        raise InputError(f"{path}: pages differ in size")
    from .images import _bgr_to_rgb

    return _bgr_to_rgb(np.stack(pages))


def _calibration(tif) -> Calibration:
    """Pixel size, unit, Z spacing and frame interval from ImageJ or OME metadata."""
    if tif.is_ome and tif.ome_metadata:
        return _ome_calibration(tif.ome_metadata)
    imagej = tif.imagej_metadata or {}
    pixel_size = _pixel_size(tif.pages[0])
    if not imagej and pixel_size is not None:
        pixel_size, unit = _in_microns(tif.pages[0], pixel_size)
    else:
        unit = imagej.get("unit")
    return Calibration(
        pixel_size=pixel_size,
        unit=_unit(unit) if unit else None,
        z_spacing=_number(imagej.get("spacing")),
        frame_interval=_number(imagej.get("finterval")),
    )


def _pixel_size(page) -> "tuple[float, float] | None":
    sizes = []
    for name in ("YResolution", "XResolution"):
        tag = page.tags.get(name)
        if tag is None:
            return None
        numerator, denominator = tag.value
        if not numerator:
            return None
        sizes.append(denominator / numerator)
    return sizes[0], sizes[1]


def _in_microns(page, pixel_size) -> "tuple[tuple[float, float] | None, str | None]":
    """A plain TIFF's resolution as microns where its unit is a length, else nothing."""
    unit = page.tags.get("ResolutionUnit")
    microns = {2: 25400.0, 3: 10000.0}.get(int(unit.value) if unit is not None else 0)
    if microns is None:
        return None, None
    return (pixel_size[0] * microns, pixel_size[1] * microns), "µm"


def _ome_calibration(xml: str) -> Calibration:
    import xml.etree.ElementTree as ElementTree

    pixels = next((e for e in ElementTree.fromstring(xml).iter() if e.tag.endswith("Pixels")), None)
    if pixels is None:
        return Calibration()
    x, y = _number(pixels.get("PhysicalSizeX")), _number(pixels.get("PhysicalSizeY"))
    return Calibration(
        pixel_size=(y, x) if x and y else None,
        unit=_unit(pixels.get("PhysicalSizeXUnit", "µm")) if x and y else None,
        z_spacing=_number(pixels.get("PhysicalSizeZ")),
        frame_interval=_number(pixels.get("TimeIncrement")),
    )


def _number(value) -> "float | None":
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) and number > 0 else None


def _unit(unit: str) -> str:
    """ImageJ's spellings of a micron as one."""
    unit = str(unit).strip()
    return "µm" if unit in ("micron", "microns", "um", "\\u00B5m", "μm") else unit


def write_tiff(file, data: np.ndarray, axes: str, calibration: Calibration = Calibration()) -> None:
    """Write ``data`` of tifffile ``axes`` to ``file`` (a path or open binary file), uncompressed.

    An ImageJ hyperstack where ImageJ can hold it (uint8, uint16, float32;
    other floats as float32), with the pixel size, unit, Z spacing and
    frame interval given; other data (int16, uint32 ...) as a plain
    tifffile stack with its axes in its description. Frames without a
    named axis (I, Q) are written as time.
    """
    import tifffile

    if data.ndim != len(axes):
        raise ValueError(f"axes {axes!r} do not fit data of shape {data.shape}")
    if np.issubdtype(data.dtype, np.floating) and data.dtype != np.float32:
        data = data.astype(np.float32)
    axes = "".join("T" if letter in "IQ" else letter for letter in axes)
    photometric = "rgb" if axes.endswith("S") else "minisblack"
    metadata: dict = {}
    if calibration.unit:
        metadata["unit"] = "micron" if calibration.unit == "µm" else calibration.unit
    if calibration.z_spacing:
        metadata["spacing"] = calibration.z_spacing
    if calibration.frame_interval:
        metadata["finterval"] = calibration.frame_interval
    imagej = set(axes) <= set(_IMAGEJ_ORDER) and len(set(axes)) == len(axes)
    imagej &= not axes.endswith("S") or data.dtype == np.uint8  # ImageJ's colour is 8-bit
    if data.dtype in _IMAGEJ_TYPES and imagej:
        order = sorted(range(len(axes)), key=lambda i: _IMAGEJ_ORDER.index(axes[i]))
        data = np.transpose(data, order)
        axes = "".join(axes[i] for i in order)
        resolution = _resolution(calibration, 1.0)  # per unit, the unit in ImageJ's description
        tifffile.imwrite(
            file, data, imagej=True, photometric=photometric, resolution=resolution,
            metadata={"axes": axes, **metadata},
        )  # fmt: skip
        return
    # Plain TIFF readers know lengths only as inches or centimetres.
    microns = calibration.unit == "µm"
    tifffile.imwrite(
        file, data, photometric=photometric, metadata={"axes": axes, **metadata},
        resolution=_resolution(calibration, 1e4 if microns else 1.0),
        resolutionunit="CENTIMETER" if microns else "NONE",
    )  # fmt: skip


def _resolution(calibration: Calibration, per: float) -> "tuple[float, float] | None":
    """Pixels per ``per`` units across and down, as TIFF's X and Y resolution."""
    if calibration.pixel_size is None:
        return None
    y, x = calibration.pixel_size
    return per / x, per / y
