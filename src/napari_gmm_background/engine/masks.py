"""Foreground masks from a background and the noise: what is not background.

A pixel of a frame is foreground where it differs from the background by
more than the noise explains. The noise is measured at every brightness
(:mod:`.noise`): in fluorescence, shot noise grows with the light, so one
threshold in grey levels would call bright background noisy foreground and
miss dim cells. Differences are first smoothed a little (a Gaussian of one
pixel), which averages the noise of neighbouring pixels down to about a
third while objects of a few pixels keep their contrast; the threshold is
in standard deviations of that smoothed noise. Small specks left over are
dropped (``min_size``), and each frame's objects are numbered: a labels
layer over time.

Numbers only: arrays in, arrays out.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING

import numpy as np

from ..core.checks import check_count, check_number
from ..core.layout import NON_FINITE_MESSAGE, Layout, as_frames
from ..core.noise import NoiseModel, estimate_noise_model
from ..core.progress import Progress, run_to_end

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["foreground_labels", "iter_foreground_labels"]

SMOOTHING = 1.0


def smoothed_noise_std(sigma: float, n_axes: int) -> float:
    """The standard deviation of unit white noise after a Gaussian of ``sigma`` on ``n_axes``."""
    radius = int(4 * sigma + 0.5)  # scipy.ndimage's truncation
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-(x**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    return math.sqrt(float((kernel**2).sum()) ** n_axes)


def iter_foreground_labels(
    data: "ArrayLike",
    background: "ArrayLike",
    *,
    threshold: float = 4.0,
    min_size: int = 0,
    time_axis: int = 0,
    rgb: "bool | None" = None,
    noise: "NoiseModel | None" = None,
) -> "Generator[Progress, None, np.ndarray]":
    """:func:`foreground_labels` as a generator that yields a step per frame."""
    from scipy import ndimage

    threshold = check_number("threshold", threshold)
    min_size = check_count("min_size", min_size, minimum=0)
    frames = as_frames(data, time_axis)
    layout = Layout.of(frames.shape, rgb)
    background = np.asarray(background)
    per_frame = background.shape == np.shape(data)
    if per_frame:
        background = np.moveaxis(background, time_axis, 0)
    elif background.shape != frames.shape[1:]:
        raise ValueError(
            f"the background's shape {background.shape} fits neither the frames "
            f"{frames.shape[1:]} nor the data {np.shape(data)}"
        )
    if background.dtype.kind == "f" and not np.isfinite(background).all():
        raise ValueError("background: " + NON_FINITE_MESSAGE)
    if noise is None:
        noise = estimate_noise_model(frames)
    limit = threshold * smoothed_noise_std(SMOOTHING, layout.n_image_axes)
    n_frames = layout.n_frames
    labels = np.zeros((n_frames, *layout.stack_shape, *layout.image_shape), dtype=np.int32)
    stack_shape = layout.stack_frames_shape[1:]
    sigma = (SMOOTHING, SMOOTHING) if layout.n_image_axes == 2 else (0, SMOOTHING)
    for t in range(n_frames):
        frame = frames[t].reshape(layout.stack_shape + stack_shape)
        reference = (background[t] if per_frame else background).reshape(frame.shape)
        if frame.dtype.kind == "f" and not np.isfinite(frame).all():
            raise ValueError(NON_FINITE_MESSAGE)
        for index in np.ndindex(*layout.stack_shape):
            level = reference[index].astype(np.float64)
            distance = (frame[index] - level) / noise.std(level)
            found = np.zeros(layout.image_shape, dtype=bool)
            for channel in range(layout.n_colours):
                smooth = ndimage.gaussian_filter(distance[..., channel], sigma, mode="nearest")
                found |= np.abs(smooth) > limit
            numbered, count = ndimage.label(found)
            if min_size > 1 and count:
                sizes = np.bincount(numbered.ravel())
                small = sizes < min_size
                small[0] = False
                found[small[numbered]] = False
                numbered, count = ndimage.label(found)
            labels[(t, *index)] = numbered
        yield Progress(t + 1, n_frames)
    shape = (n_frames, *layout.spatial_shape[: len(layout.spatial_shape) - layout.rgb])
    return np.moveaxis(labels.reshape(shape), 0, time_axis)


def foreground_labels(
    data: "ArrayLike",
    background: "ArrayLike",
    *,
    threshold: float = 4.0,
    min_size: int = 0,
    time_axis: int = 0,
    rgb: "bool | None" = None,
) -> np.ndarray:
    """Where each frame differs from its background by more than its noise, as labels.

    Parameters
    ----------
    data : array_like
        Frames over time.
    background : array_like
        The background: one image (``data``'s shape without time) or one per
        frame (``data``'s shape), from any method.
    threshold : float
        How far from the background a pixel is foreground, in standard
        deviations of the noise (measured at every brightness, after a
        smoothing of one pixel).
    min_size : int
        Objects of fewer pixels are dropped (0 keeps all).
    time_axis : int
        The axis of ``data`` that is time.
    rgb : bool, optional
        Whether the last axis is colour (a pixel is foreground where any
        channel is); guessed as napari does.

    Returns
    -------
    numpy.ndarray
        int32 labels, ``data``'s shape without a colour axis: 0 background,
        1, 2, ... each frame's objects (numbered frame by frame).
    """
    return run_to_end(
        iter_foreground_labels(
            data,
            background,
            threshold=threshold,
            min_size=min_size,
            time_axis=time_axis,
            rgb=rgb,
        )
    )
