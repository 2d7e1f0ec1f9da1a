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
from collections.abc import Callable, Generator
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ..core.checks import check_count, check_flag, check_number
from ..core.layout import NON_FINITE_MESSAGE, Layout, as_frames, time_first
from ..core.noise import NoiseModel, estimate_noise_model
from ..core.plan import Plan, Step
from ..core.progress import run_to_end
from ..core.reading import InMemory

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..core.progress import Progress

__all__ = [
    "Labeller",
    "check_background",
    "foreground_labels",
    "iter_foreground_labels",
    "plan_foreground_labels",
]

SMOOTHING = 1.0


def smoothed_noise_std(sigma: float, n_axes: int) -> float:
    """The standard deviation of unit white noise after a Gaussian of ``sigma`` on ``n_axes``."""
    radius = int(4 * sigma + 0.5)  # scipy.ndimage's truncation
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-(x**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    return math.sqrt(float((kernel**2).sum()) ** n_axes)


def plan_foreground_labels(
    data: "ArrayLike | InMemory",
    background: "Callable[[], ArrayLike]",
    *,
    threshold: float = 4.0,
    min_size: int = 0,
    time_axis: int = 0,
    rgb: "bool | None" = None,
    noise: "NoiseModel | None" = None,
) -> Plan:
    """:func:`foreground_labels` as a plan: a step per frame.

    ``data`` may be an :class:`~napari_gmm_background.core.reading.InMemory`
    (frames an earlier step makes), and ``background()`` gives the
    background when the first step runs (an earlier step may make it too).
    """
    rgb = check_flag("rgb", rgb, optional=True)
    if isinstance(data, InMemory):
        shape, frames = data.shape, data.array
    else:
        shape, frames = np.shape(data), lambda: np.asarray(data)
    layout = Layout.of(time_first(shape, time_axis), rgb)
    labelling = _Labelling(frames, background, layout, time_axis, threshold, min_size, noise)
    steps = [Step(partial(labelling.label, t), "masks") for t in range(layout.n_frames)]
    return Plan(steps, labelling.result)


class Labeller:
    """Labels one frame at a time: where it differs from its background by more than the noise.

    Parameters
    ----------
    layout : Layout
        Of the frames (time first).
    noise : NoiseModel
        The frames' noise.
    threshold, min_size
        As :func:`foreground_labels`.
    """

    def __init__(self, layout: Layout, noise: NoiseModel, threshold: float, min_size: int):
        self.layout, self.noise = layout, noise
        self.threshold = check_number("threshold", threshold)
        self.min_size = check_count("min_size", min_size, minimum=0)
        self.limit = self.threshold * smoothed_noise_std(SMOOTHING, layout.n_image_axes)

    def labels_of(self, frame: np.ndarray, background: np.ndarray) -> np.ndarray:
        """int32 labels, (stacks..., Y, X), of one frame against its background (same shape)."""
        from scipy import ndimage

        layout = self.layout
        frame = frame.reshape(layout.stacks_shape + layout.stack_shape[1:])
        reference = np.asarray(background).reshape(frame.shape)
        if frame.dtype.kind == "f" and not np.isfinite(frame).all():
            raise ValueError(NON_FINITE_MESSAGE)
        sigma = (SMOOTHING, SMOOTHING) if layout.n_image_axes == 2 else (0, SMOOTHING)
        labels = np.zeros((*layout.stacks_shape, *layout.image_shape), dtype=np.int32)
        for index in np.ndindex(*layout.stacks_shape):
            level = reference[index].astype(np.float64)
            distance = (frame[index] - level) / self.noise.std(level)
            found = np.zeros(layout.image_shape, dtype=bool)
            for channel in range(layout.n_colours):
                smooth = ndimage.gaussian_filter(distance[..., channel], sigma, mode="nearest")
                found |= np.abs(smooth) > self.limit
            numbered, count = ndimage.label(found)
            if self.min_size > 1 and count:
                sizes = np.bincount(numbered.ravel())
                small = sizes < self.min_size
                small[0] = False
                found[small[numbered]] = False
                numbered, count = ndimage.label(found)
            labels[index] = numbered
        return labels


def check_background(background: np.ndarray, frames_shape: tuple, data_shape: tuple) -> bool:
    """Whether ``background`` is one per frame (else one image); ValueError if it fits neither."""
    if background.shape == tuple(data_shape):
        per_frame = True
    elif background.shape == tuple(frames_shape[1:]):
        per_frame = False
    else:
        raise ValueError(
            f"the background's shape {background.shape} fits neither the frames "
            f"{tuple(frames_shape[1:])} nor the data {tuple(data_shape)}"
        )
    if background.dtype.kind == "f" and not np.isfinite(background).all():
        raise ValueError("background: " + NON_FINITE_MESSAGE)
    return per_frame


class _Labelling:
    """What the steps of :func:`plan_foreground_labels` share."""

    def __init__(self, data, background, layout: Layout, time_axis, threshold, min_size, noise):
        self.data, self.background = data, background
        self.layout, self.time_axis = layout, time_axis
        Labeller(layout, noise or NoiseModel(0.0, 0.0, 1.0), threshold, min_size)  # checked now
        self.threshold, self.min_size, self.noise = threshold, min_size, noise
        self.labels = None

    def _start(self) -> None:
        data = self.data()
        frames = as_frames(data, self.time_axis)
        background = np.asarray(self.background())
        self.per_frame = check_background(background, frames.shape, np.shape(data))
        if self.per_frame:
            background = np.moveaxis(background, self.time_axis, 0)
        noise = self.noise if self.noise is not None else estimate_noise_model(frames)
        self.labeller = Labeller(self.layout, noise, self.threshold, self.min_size)
        self.frames, self.reference = frames, background
        layout = self.layout
        shape = (layout.n_frames, *layout.stacks_shape, *layout.image_shape)
        self.labels = np.zeros(shape, dtype=np.int32)

    def label(self, t: int) -> None:
        """Frame ``t``'s objects."""
        if self.labels is None:
            self._start()
        reference = self.reference[t] if self.per_frame else self.reference
        self.labels[t] = self.labeller.labels_of(self.frames[t], reference)

    def result(self) -> np.ndarray:
        layout = self.layout
        shape = (layout.n_frames, *layout.spatial_shape[: len(layout.spatial_shape) - layout.rgb])
        labels, self.labels, self.frames = self.labels, None, None
        return np.moveaxis(labels.reshape(shape), 0, self.time_axis)


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
    plan = plan_foreground_labels(
        data,
        lambda: background,
        threshold=threshold,
        min_size=min_size,
        time_axis=time_axis,
        rgb=rgb,
        noise=noise,
    )
    return plan.run()


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
