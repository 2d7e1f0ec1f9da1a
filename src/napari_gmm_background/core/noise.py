"""How noisy a stack is, at each brightness: the noise model.

Camera noise is rarely one number. Photon (shot) noise is Poisson: its
variance grows in proportion to the light, on top of a constant read noise.
So the model is ``variance = read_variance + gain * level``, a straight line
fitted to the temporal noise measured at many pixels of many brightnesses;
for a video camera whose noise does not depend on brightness the fitted
gain is about 0. Thresholds and tolerances in noise standard deviations then
mean the same thing in the dim and in the bright parts of an image.

Numbers only: arrays in, arrays out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "NoiseModel",
    "NoiseSampler",
    "column_medians",
    "estimate_noise_model",
    "fit_noise_model",
    "sorted_medians",
    "temporal_variance",
    "variance_of_changes",
]

# Pixels sampled to fit the model: enough for ten bins of a thousand each.
_SAMPLE_PIXELS = 20_000
_N_BINS = 10
# median |x - y| of two independent normal samples = 0.6745 * sqrt(2) * sigma
_MAD_OF_DIFFERENCES = 0.6745 * math.sqrt(2)


@dataclass(frozen=True)
class NoiseModel:
    """Noise variance as a straight line of the level: ``read_variance + gain * level``.

    Attributes
    ----------
    read_variance : float
        The variance at level 0 (read noise; negative when the camera adds
        an offset below which there is no light).
    gain : float
        Variance per unit of level (the camera's units per photon for
        Poisson noise; 0 for noise that does not depend on brightness).
    floor : float
        The smallest variance the model gives: a quarter of the smallest
        variance measured, and at least the rounding of integer data.
    """

    read_variance: float
    gain: float
    floor: float

    def std(self, level: "np.ndarray | float") -> "np.ndarray | float":
        """The noise standard deviation at ``level``."""
        return np.sqrt(np.maximum(self.read_variance + self.gain * np.asarray(level), self.floor))


def estimate_noise_model(frames: np.ndarray, *, max_pixels: int = _SAMPLE_PIXELS) -> NoiseModel:
    """The noise model of time-first ``frames``, from changes between consecutive frames.

    At evenly spread pixels, the temporal noise is the median absolute
    change between consecutive frames (things that move change few of them)
    and the level is the pixel's median; the medians of the variances in
    ten bins of level are fitted by a straight line.

    Parameters
    ----------
    frames : numpy.ndarray
        (T, ...) frames, any dtype; with fewer than two frames the noise is
        unmeasurable and the model gives the floor everywhere.
    max_pixels : int
        Pixel-channels sampled at most.

    Returns
    -------
    NoiseModel
    """
    sampler = NoiseSampler(frames.shape, frames.dtype, max_pixels=max_pixels)
    for t, frame in enumerate(frames):
        sampler.add(t, frame)
    return sampler.model()


class NoiseSampler:
    """:func:`estimate_noise_model` fed one frame at a time (frames streamed from disk).

    Keeps the same evenly spread pixels of every frame, in the frames'
    dtype; :meth:`model` is then the model of the whole stack, exactly.
    """

    def __init__(self, shape: tuple, dtype, *, max_pixels: int = _SAMPLE_PIXELS):
        n_frames, n_values = shape[0], math.prod(shape[1:])
        self.step = max(1, n_values // max_pixels)
        self.quantum = 1.0 / 12 if np.issubdtype(dtype, np.integer) else 0.0
        self.samples = np.empty((n_frames, len(range(0, n_values, self.step))), dtype=dtype)

    def add(self, t: int, frame: np.ndarray) -> None:
        """Take frame ``t`` (any order)."""
        self.samples[t] = frame.reshape(-1)[:: self.step]

    def model(self) -> NoiseModel:
        samples, quantum = self.samples, self.quantum
        if len(samples) < 2 or samples.shape[1] == 0:
            return NoiseModel(0.0, 0.0, max(quantum, 1e-12))
        samples = samples.astype(np.float64)
        return fit_noise_model(column_medians(samples), temporal_variance(samples), quantum)


def temporal_variance(samples: np.ndarray) -> np.ndarray:
    """Each column's noise variance, from the median absolute change between consecutive rows.

    ``samples`` (T, N), T at least 2: things that move change few of the rows.
    """
    return variance_of_changes(np.diff(samples, axis=0))


def variance_of_changes(changes: np.ndarray) -> np.ndarray:
    """Each column's noise variance, from its changes between two frames (K, N) each."""
    return (column_medians(np.abs(changes)) / _MAD_OF_DIFFERENCES) ** 2


# Up to this many rows a sort along the first axis beats np.median's partition.
_SORT_ROWS = 512


def column_medians(values: np.ndarray) -> np.ndarray:
    """``np.median(values, axis=0)`` of finite values, the same numbers, faster for few rows.

    ``np.median`` partitions along the last axis, so it first moves the
    first axis there: for the tens of frames of a sample, a sort along the
    first axis and a pick costs a third of it (a quarter more for 1,500).
    """
    if len(values) > _SORT_ROWS or len(values) == 0:
        return np.median(values, axis=0)
    return sorted_medians(np.sort(values, axis=0))


def sorted_medians(ordered: np.ndarray) -> np.ndarray:
    """``np.median(values, axis=0)`` of finite values, from ``ordered``, their sort along axis 0."""
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def fit_noise_model(level: np.ndarray, variance: np.ndarray, quantum: float) -> NoiseModel:
    """The straight line through the median variances of ten bins of level.

    ``level`` and ``variance`` (N,): pixels' levels and noise variances;
    ``quantum`` the smallest variance there can be (rounding of integers).
    """
    if level.size == 0:
        return NoiseModel(0.0, 0.0, max(quantum, 1e-12))
    edges = np.unique(np.quantile(level, np.linspace(0, 1, _N_BINS + 1)))
    bins = np.clip(np.searchsorted(edges, level, side="right") - 1, 0, max(len(edges) - 2, 0))
    centres, variances = [], []
    for index in np.unique(bins):
        inside = bins == index
        centres.append(np.median(level[inside]))
        variances.append(np.median(variance[inside]))
    centres, variances = np.array(centres), np.array(variances)
    floor = max(0.25 * float(variances.min()), quantum, 1e-12)
    # A slope shows only over levels several noise deviations apart.
    if len(centres) < 2 or np.ptp(centres) < 10 * math.sqrt(float(np.median(variances))):
        return NoiseModel(float(np.median(variances)), 0.0, floor)
    gain, read_variance = np.polyfit(centres, variances, 1)
    if gain < 0:  # noise does not fall with brightness: a constant is the better model
        return NoiseModel(float(np.median(variances)), 0.0, floor)
    return NoiseModel(float(read_variance), float(gain), floor)
