"""How an array of frames is laid out, decided once for every method.

A stack of images over time has a time axis, two image axes (Y, X), maybe a
trailing colour axis (RGB or RGBA, as napari's ``rgb`` layers), and any
number of other axes (channels, Z slices, positions...). Those other axes are
independent stacks: a T, C, Y, X time-lapse is C separate movies, and a
method that looks at neighbouring pixels must never mix them. So every
method works on one stack at a time, shaped (T, Y, X, colours); a run's
plan (:mod:`napari_gmm_background.engine.run`) hands it each in turn.

Numbers only: arrays in, arrays out.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, DTypeLike

__all__ = [
    "NON_FINITE_MESSAGE",
    "OVERFLOW_MESSAGE",
    "SAFE_MAGNITUDES",
    "check_magnitude",
    "exact_scale",
    "Layout",
    "as_frames",
    "cast_like",
    "guess_rgb",
    "time_first",
]

NON_FINITE_MESSAGE = (
    "data contains NaN or infinite values; the background of such pixels is "
    "undefined. Replace them first (for example with numpy.nan_to_num) or crop "
    "them away."
)

# Float data is computed scaled into this range of magnitudes (by a power of
# two, which is exact): beyond it, squares (variances) and the float32 sums of
# motion scores overflow, and below it the float32 scores underflow to zero.
SAFE_MAGNITUDES = (2.0**-60, 2.0**60)
_SCALED_EXPONENT = 16

OVERFLOW_MESSAGE = (
    "data holds values up to {largest:.3g}, beyond what the computation holds "
    "(squares and sums would overflow); data read on demand is not rescaled: "
    "scale it into about 1e-18 to 1e18 first (for example data / 1e300)"
)

# Integers float64 holds exactly: every method computes in float64.
_EXACT_INTEGERS = 2**53

# napari's own rule for an image whose last axis is colour.
COLOUR_AXIS_LENGTHS = (3, 4)


def as_frames(data: "ArrayLike", time_axis: int) -> np.ndarray:
    """``data`` as an ndarray with time first (a view where possible).

    Half floats are computed as float32 and data of a foreign byte order in
    the machine's (copies); cast results back with :func:`cast_like` and
    ``np.asarray(data).dtype``.

    Raises
    ------
    TypeError
        For data that is not real numbers, or a time axis that is not an integer.
    ValueError
        For a scalar, a time axis out of range, no frames, or 64-bit integers
        beyond what float64 arithmetic holds exactly (2**53).
    """
    array = np.asarray(data)
    if array.ndim < 1:
        raise ValueError("data must have a time axis; got a scalar")
    check_time_axis(time_axis, array.ndim)
    frames = np.moveaxis(native_part(array), time_axis, 0)
    if frames.shape[0] == 0:
        raise ValueError("data has no frames: its time axis has length 0")
    return frames


def native_part(data: "ArrayLike") -> np.ndarray:
    """Data, or a part of it, as every method computes it (see :func:`as_frames`).

    Half floats become float32 and a foreign byte order the machine's;
    TypeError for values that are not real numbers, ValueError for 64-bit
    integers beyond 2**53.
    """
    array = np.asarray(data)
    if array.dtype.kind not in "iuf":  # not bool, complex, times (numpy counts those as ints)
        raise TypeError(f"data must hold integers or floats, got dtype {array.dtype}")
    if array.dtype == np.float16:
        array = array.astype(np.float32)
    elif not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if array.dtype.itemsize == 8 and np.issubdtype(array.dtype, np.integer) and array.size:
        if array.max() > _EXACT_INTEGERS or array.min() < -_EXACT_INTEGERS:
            raise ValueError(
                f"data holds {array.dtype} values beyond +-2**53, which the float64 arithmetic "
                "of every method cannot represent exactly; rescale them, or convert to "
                "float64 if the rounding is acceptable"
            )
    return array


def exact_scale(values: np.ndarray) -> float:
    """The power of two that brings float ``values`` into :data:`SAFE_MAGNITUDES`; 1 if in it.

    ValueError (NaN or infinite values) for values that are not finite:
    only the input's own NaN or infinities are reported as such.
    """
    if values.dtype.kind != "f" or values.size == 0:
        return 1.0
    largest = _largest(values)
    if not np.isfinite(largest):
        raise ValueError(NON_FINITE_MESSAGE)
    low, high = SAFE_MAGNITUDES
    if largest == 0.0 or low <= largest <= high:
        return 1.0
    # The largest becomes about 2**16, the values of a 16-bit camera: a variance
    # floor in the data's units (reg_covar) stays as negligible as it is there.
    return float(2.0 ** (_SCALED_EXPONENT - math.frexp(largest)[1]))


def check_magnitude(frame: np.ndarray) -> None:
    """ValueError, saying which, for a float frame with NaN, infinities or values out of range."""
    if frame.dtype.kind != "f" or frame.size == 0:
        return
    largest = _largest(frame)
    if not np.isfinite(largest):
        raise ValueError(NON_FINITE_MESSAGE)
    if largest > SAFE_MAGNITUDES[1]:
        raise ValueError(OVERFLOW_MESSAGE.format(largest=largest))


def _largest(values: np.ndarray) -> float:
    """The largest magnitude (NaN if any is NaN), without a temporary the size of ``values``."""
    return max(abs(float(np.min(values))), abs(float(np.max(values))))


def time_first(shape: tuple, time_axis: int) -> tuple:
    """``shape`` with its ``time_axis`` first: the shape :func:`as_frames` gives."""
    check_time_axis(time_axis, len(shape))
    shape = list(shape)
    shape.insert(0, shape.pop(time_axis % len(shape)))
    return tuple(shape)


def check_time_axis(time_axis: int, ndim: int) -> None:
    """TypeError or ValueError unless ``time_axis`` is an axis of an ``ndim``-axis array."""
    if isinstance(time_axis, bool) or not isinstance(time_axis, (int, np.integer)):
        raise TypeError(f"time_axis must be an integer, got {time_axis!r}")
    if not -ndim <= time_axis < ndim:
        raise ValueError(f"time_axis {time_axis} is out of range for data with {ndim} axes")


def cast_like(values: np.ndarray, dtype: "DTypeLike", *, overwrite: bool = False) -> np.ndarray:
    """Float results in ``dtype``: integers rounded and clipped to its range.

    ``overwrite`` rounds in ``values`` itself (a whole movie of backgrounds
    need not be copied to be rounded).
    """
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        values = np.asarray(np.rint(values, out=values if overwrite else None))
        np.clip(values, info.min, info.max, out=values)
    return values.astype(dtype)


def guess_rgb(spatial_shape: tuple) -> bool:
    """Whether the last axis of images of this shape is colour, as napari guesses.

    Images of at least two axes plus a last axis of length 3 or 4 are RGB(A).
    """
    return len(spatial_shape) >= 3 and spatial_shape[-1] in COLOUR_AXIS_LENGTHS


@dataclass(frozen=True)
class Layout:
    """The axes of a time-first array of frames.

    Attributes
    ----------
    n_frames : int
        Length of the time axis.
    stacks_shape : tuple of int
        The other axes (channels, Z, ...): the grid of stacks, each index an
        independent (T, Y, X, colours) stack, whose shape is :attr:`stack_shape`.
    image_shape : tuple of int
        (Y, X). Data with fewer than two image axes is one row of pixels,
        (1, X), or a single pixel, (1, 1).
    n_colours : int
        Length of the trailing colour axis, or 1 without one.
    rgb : bool
        Whether the last axis is colour.
    """

    n_frames: int
    stacks_shape: tuple
    image_shape: tuple
    n_colours: int
    rgb: bool
    n_image_axes: int

    @classmethod
    def of(cls, frames_shape: tuple, rgb: "bool | None" = None) -> "Layout":
        """The layout of a (T, ...) array; ``rgb`` None guesses as napari does."""
        spatial = tuple(frames_shape[1:])
        if rgb is None:
            rgb = guess_rgb(spatial)
        elif rgb and (len(spatial) < 3 or spatial[-1] not in COLOUR_AXIS_LENGTHS):
            raise ValueError(
                f"rgb=True needs a last axis of length 3 or 4 after two image axes; "
                f"the frames are {spatial}"
            )
        n_colours = spatial[-1] if rgb else 1
        plane = spatial[:-1] if rgb else spatial
        n_image_axes = min(len(plane), 2)
        image = (1,) * (2 - n_image_axes) + plane[len(plane) - n_image_axes :]
        return cls(
            n_frames=int(frames_shape[0]),
            stacks_shape=plane[: len(plane) - n_image_axes],
            image_shape=image,
            n_colours=n_colours,
            rgb=bool(rgb),
            n_image_axes=n_image_axes,
        )

    @property
    def spatial_shape(self) -> tuple:
        """The shape of a result: the frames' shape without time."""
        plane = self.stacks_shape + self.image_shape[2 - self.n_image_axes :]
        return plane + ((self.n_colours,) if self.rgb else ())

    @property
    def n_stacks(self) -> int:
        return math.prod(self.stacks_shape)

    @property
    def stack_shape(self) -> tuple:
        """(T, Y, X, colours): the shape of one stack, which each method works on."""
        return (self.n_frames, *self.image_shape, self.n_colours)

    def stacks(self, frames: np.ndarray) -> "Iterator[tuple[tuple, np.ndarray]]":
        """Each stack's index and its frames as a (T, Y, X, colours) view."""
        shape = self.stack_shape
        for index in np.ndindex(*self.stacks_shape):
            yield index, frames[(slice(None), *index)].reshape(shape)
