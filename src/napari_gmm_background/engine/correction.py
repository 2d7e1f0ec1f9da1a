"""Applying a background: subtract it, or divide by it (flat-field).

What a microscopist does with a background is apply it, to get a clean
stack for segmentation and tracking: subtract it (the light that is not
the sample's), or divide by it, over the camera's dark level, to even out
uneven illumination (flat-field correction).

Numbers only: arrays in, arrays out. Dask arrays stay lazy.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.checks import check_number
from ..core.layout import NON_FINITE_MESSAGE, check_time_axis

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "DTYPES",
    "MODES",
    "ClippedValuesWarning",
    "apply_background",
    "apply_background_saying_clips",
    "check_background_fits",
    "correction_offset",
]

MODES = ("subtract", "divide")
# The types a correction is returned in: float32, or the data's own.
DTYPES = ("float32", "input")


class ClippedValuesWarning(UserWarning):
    """Corrected values fell outside the range of the data's integer type and were clipped."""


def check_background_fits(
    background_shape: tuple, data_shape: tuple, *, time_axis: int = 0, name: str = "the background"
) -> bool:
    """Whether a background of ``background_shape`` is one per frame of the data (else one image).

    ValueError naming both shapes where it fits neither one frame of data of
    ``data_shape`` (time on ``time_axis``) nor all of them: the one check of
    :func:`apply_background`, and of callers that check before the frames are
    read (the command line's ``--background``, the widget's background layer).
    """
    shape = tuple(data_shape)
    frame_shape = shape[:time_axis] + shape[time_axis + 1 :]
    if tuple(background_shape) == shape:
        return True
    if tuple(background_shape) == frame_shape:
        return False
    raise ValueError(
        f"{name} is {_shape(background_shape)}, which fits neither a frame "
        f"({_shape(frame_shape)}) nor all {shape[time_axis]} frames ({_shape(shape)})"
    )


def _shape(shape: tuple) -> str:
    return " x ".join(str(n) for n in shape)


def correction_offset(background: "ArrayLike", *, mode: str = "subtract", dtype="uint16") -> int:
    """What ``apply_background(..., dtype="input")`` adds to data of integer ``dtype``.

    For "subtract", the smallest whole number at or above the background's
    maximum: ``data - background + offset`` then never falls below zero
    for data at or above zero (the corrected frames keep the data's type,
    and the same background gives every stack the same offset). 0 for
    "divide" (already in the data's units: scaled by the mean of
    ``background - dark``) and for float data.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    background = np.asarray(background)
    if mode != "subtract" or not np.issubdtype(np.dtype(dtype), np.integer) or not background.size:
        return 0
    return max(0, math.ceil(float(background.max())))


def apply_background(
    data: "ArrayLike",
    background: "ArrayLike",
    *,
    mode: str = "subtract",
    dark: float = 0.0,
    time_axis: int = 0,
    dtype: str = "float32",
):
    """Subtract a background from every frame, or divide by it (flat-field).

    Parameters
    ----------
    data : array_like or dask.array.Array
        Frames over time, as given to ``extract_background``.
    background : array_like
        One image (``data``'s shape without the time axis), as
        ``extract_background`` returns it, or one per frame (``data``'s
        shape, from ``extract_background(..., per_frame=True)``).
    mode : {"subtract", "divide"}
        "subtract": ``data - background``. "divide", flat-field:
        ``(data - dark) / (background - dark)``, times the mean of
        ``background - dark`` so the result stays in the data's units.
    dark : float
        The camera's dark level (the value with no light: its offset), for
        "divide"; it must lie below the background everywhere.
    time_axis : int
        The axis of ``data`` that is time.
    dtype : {"float32", "input"}
        The result's type: float32 (default), or ``data``'s own ("input":
        a camera's uint16 stays uint16, half the size, as Fiji and
        tracking tools expect). For integer data the values are rounded to
        the nearest whole number, and "subtract" adds
        :func:`correction_offset` (the background's maximum, rounded up)
        so that nothing falls below zero; values that still fall outside
        the type's range are clipped to it, and a
        :class:`ClippedValuesWarning` says how many (per block, for dask).

    Returns
    -------
    numpy.ndarray or dask.array.Array
        ``data``'s shape, of ``dtype``. For dask ``data`` a lazy dask array
        of the same chunks, whose blocks use ``background`` as given
        (computed once if it is lazy itself).

    Raises
    ------
    ValueError
        For an unknown mode, shapes that do not fit, NaN or infinite
        backgrounds, or (for "divide") a background not above ``dark``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    dark = check_number("dark", dark, minimum=-math.inf)
    if hasattr(background, "compute"):
        background = background.compute()
    background = np.asarray(background)
    lazy = hasattr(data, "map_blocks") and hasattr(data, "__dask_graph__")
    data = data if lazy else np.asarray(data)
    shape = tuple(np.shape(data))
    check_time_axis(time_axis, len(shape))
    time_axis %= len(shape)
    per_frame = check_background_fits(background.shape, shape, time_axis=time_axis)
    if background.dtype.kind not in "iuf":
        raise TypeError(f"background must hold numbers, got dtype {background.dtype}")
    background = background.astype(np.float32)
    if not np.isfinite(background).all():
        raise ValueError("background: " + NON_FINITE_MESSAGE)
    if not per_frame:
        background = np.expand_dims(background, time_axis)
    scale = 1.0
    if mode == "divide":
        light = background - np.float32(dark)
        if background.size and light.min() <= 0:
            raise ValueError(
                f"the background is not above the dark level {dark:g} at "
                f"{int((light <= 0).sum())} pixels, where flat-field division is undefined: "
                "use a dark level below the background (the camera's offset)"
            )
        scale = float(light.mean(dtype=np.float64)) if light.size else 1.0

    out_type = np.dtype(np.float32 if dtype == "float32" else data.dtype)
    if out_type.kind not in "iuf":
        raise TypeError(f'dtype="input" keeps integer or float data, got dtype {data.dtype}')
    offset = correction_offset(background, mode=mode, dtype=out_type)

    def correct(block, where):
        values = np.asarray(block, dtype=np.float32)
        if mode == "subtract":
            values = values - where
        else:
            values = (values - np.float32(dark)) / (where - np.float32(dark)) * np.float32(scale)
        return _as_type(values, out_type, offset)

    if lazy:
        return data.map_blocks(
            _correct_block, correct=correct, background=background, dtype=out_type
        )
    return correct(data, background)


def _as_type(values: np.ndarray, dtype: np.dtype, offset: int) -> np.ndarray:
    """Float32 corrected values in ``dtype``: shifted by ``offset``, rounded, clipped (and said)."""
    if dtype == np.float32:
        return values
    if not np.issubdtype(dtype, np.integer):
        return values.astype(dtype)
    rounded = np.rint(values + np.float32(offset))
    low, high = np.iinfo(dtype).min, np.iinfo(dtype).max
    below, above = int((rounded < low).sum()), int((rounded > high).sum())
    if below or above:
        warnings.warn(
            ClippedValuesWarning(
                f"{below + above} of {rounded.size} corrected values fell outside {dtype}'s "
                f"range {low}..{high} and were clipped to it ({below} below, {above} above; "
                f"offset {offset})"
            ),
            stacklevel=3,
        )
    return np.clip(rounded, low, high).astype(dtype)


def apply_background_saying_clips(data, background, **options) -> "tuple[Any, str | None]":
    """:func:`apply_background`, and what clipped as a sentence (None if nothing did).

    For callers that report it (the command line's summary, the widget's
    status line) instead of showing a warning; other warnings go on.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ClippedValuesWarning)
        corrected = apply_background(data, background, **options)
    clipped = None
    for warning in caught:
        if issubclass(warning.category, ClippedValuesWarning):
            clipped = str(warning.message)
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return corrected, clipped


def _correct_block(block, *, correct, background, block_info=None):
    """One dask block, with the part of the background it covers."""
    location = block_info[0]["array-location"]
    where = tuple(
        slice(0, 1) if length == 1 else slice(start, stop)
        for (start, stop), length in zip(location, background.shape, strict=True)
    )
    return correct(block, background[where])
