"""Applying a background: subtract it, or divide by it (flat-field).

What a microscopist does with a background is apply it, to get a clean
stack for segmentation and tracking: subtract it (the light that is not
the sample's), or divide by it, over the camera's dark level, to even out
uneven illumination (flat-field correction).

Numbers only: arrays in, arrays out. Dask arrays stay lazy.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..core.checks import check_number
from ..core.layout import NON_FINITE_MESSAGE, check_time_axis

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["MODES", "apply_background"]

MODES = ("subtract", "divide")


def apply_background(
    data: "ArrayLike",
    background: "ArrayLike",
    *,
    mode: str = "subtract",
    dark: float = 0.0,
    time_axis: int = 0,
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

    Returns
    -------
    numpy.ndarray or dask.array.Array
        float32, ``data``'s shape. For dask ``data`` a lazy dask array of
        the same chunks, whose blocks use ``background`` as given (computed
        once if it is lazy itself).

    Raises
    ------
    ValueError
        For an unknown mode, shapes that do not fit, NaN or infinite
        backgrounds, or (for "divide") a background not above ``dark``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    dark = check_number("dark", dark, minimum=-math.inf)
    if hasattr(background, "compute"):
        background = background.compute()
    background = np.asarray(background)
    shape = tuple(np.shape(data))
    check_time_axis(time_axis, len(shape))
    time_axis %= len(shape)
    image_shape = shape[:time_axis] + shape[time_axis + 1 :]
    if background.shape not in (shape, image_shape):
        raise ValueError(
            f"the background's shape {background.shape} fits neither the data {shape} "
            f"(one per frame) nor one of its frames {image_shape}"
        )
    if background.dtype.kind not in "iuf":
        raise TypeError(f"background must hold numbers, got dtype {background.dtype}")
    background = background.astype(np.float32)
    if not np.isfinite(background).all():
        raise ValueError("background: " + NON_FINITE_MESSAGE)
    if background.shape == image_shape:
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

    def correct(block, where):
        values = np.asarray(block, dtype=np.float32)
        if mode == "subtract":
            return values - where
        return (values - np.float32(dark)) / (where - np.float32(dark)) * np.float32(scale)

    if hasattr(data, "map_blocks") and hasattr(data, "__dask_graph__"):
        return data.map_blocks(
            _correct_block, correct=correct, background=background, dtype=np.float32
        )
    return correct(data, background)


def _correct_block(block, *, correct, background, block_info=None):
    """One dask block, with the part of the background it covers."""
    location = block_info[0]["array-location"]
    where = tuple(
        slice(0, 1) if length == 1 else slice(start, stop)
        for (start, stop), length in zip(location, background.shape, strict=True)
    )
    return correct(block, background[where])
