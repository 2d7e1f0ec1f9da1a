"""Smoothing a background where the data show it smooth, and nowhere else.

A per-pixel background averages a pixel's own samples only, so it keeps
their noise: with 60 fields of view, a pixel's estimate is as noisy as a
sixtieth of its frames. Illumination and vignetting are smooth, and there
the neighbours' estimates are as good as the pixel's own; dust, debris and
hot pixels are not, and there they would blur what is true.

Each pixel takes the widest neighbourhood whose average still agrees with
every narrower one (the intersection of confidence intervals rule of
Goldenshluger and Nemirovski, as in Katkovnik's LPA-ICI): the estimate is
averaged with Gaussian weights of sigma 1, 2, 4 and 8 pixels in turn, each
average with its own noise, and the widening stops where an interval of
two of its standard deviations no longer meets all the narrower ones. A
dust edge or a speck of debris is many times the estimate's noise, so it
stops the widening at once; a flat field lets it go wide.

The estimate's noise is measured from the image itself: differences of
neighbouring pixels, relative to what the noise model gives for the
frames' average (their median over the image, where the background is
smooth almost everywhere), so the rule holds for any estimate, however
efficient.

Numbers only: arrays in, arrays out.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.noise import NoiseModel

__all__ = ["can_smooth", "smooth_where_flat"]

# Intervals of this many standard deviations; the Gaussian sigmas tried, in pixels.
INTERVAL = 2.0
SIGMAS = (1, 2, 4, 8)
_MEDIAN_ABS_NORMAL = 0.6745  # the median of |N(0, 1)|
_ROUNDING = 16 * np.finfo(np.float64).eps
# Images narrower than this have too few neighbours to tell smooth from not.
MIN_SIDE = 16


def can_smooth(image_shape: tuple) -> bool:
    """Whether an image of this (Y, X, ...) shape is wide enough to be smoothed."""
    return min(image_shape[:2]) >= MIN_SIDE


def smooth_where_flat(background: np.ndarray, noise: NoiseModel, n_frames: int) -> np.ndarray:
    """``background`` smoothed where it is smooth, at the widest scale each pixel allows.

    Parameters
    ----------
    background : numpy.ndarray
        (Y, X) or (Y, X, colours) floats: a per-pixel estimate.
    noise : NoiseModel
        The frames' noise, from which the estimate's is scaled.
    n_frames : int
        Frames the estimate was made from.

    Returns
    -------
    numpy.ndarray
        float64, ``background``'s shape.
    """
    image = np.asarray(background, dtype=np.float64)
    if image.ndim == 3:
        return np.stack(
            [smooth_where_flat(image[..., c], noise, n_frames) for c in range(image.shape[2])],
            axis=-1,
        )
    if not can_smooth(image.shape):
        return image.copy()
    error = noise.std(image) / math.sqrt(max(n_frames, 1))
    return _widest_agreeing(image, error * _measured_scale(image, error))


def _measured_scale(image: np.ndarray, error: np.ndarray) -> float:
    """How much noisier the estimate is than ``error`` says, from neighbouring pixels."""
    differences = np.abs(np.diff(image, axis=1)) / np.hypot(error[:, 1:], error[:, :-1])
    scale = float(np.median(differences)) / _MEDIAN_ABS_NORMAL
    return scale if np.isfinite(scale) and scale > 0 else 1.0


def _widest_agreeing(image: np.ndarray, error: np.ndarray) -> np.ndarray:
    """Each pixel's Gaussian average at the widest sigma whose interval meets every narrower one."""
    from scipy import ndimage

    low, high = image - INTERVAL * error, image + INTERVAL * error
    out = image.copy()
    agrees = np.ones(image.shape, dtype=bool)
    variance = error**2
    for sigma in SIGMAS:
        average = ndimage.gaussian_filter(image, sigma, mode="nearest")
        # The variance of a Gaussian-weighted sum of independent pixels:
        # the variances under the squared kernel, a Gaussian of sigma/sqrt(2).
        spread = np.sqrt(
            ndimage.gaussian_filter(variance, sigma / math.sqrt(2), mode="nearest")
            / (4 * math.pi * sigma**2)
        )
        low = np.maximum(low, average - INTERVAL * spread)
        high = np.minimum(high, average + INTERVAL * spread)
        agrees &= low <= high
        # Rounding alone (the filter's weights sum to 1 only nearly) changes nothing:
        # a flat image stays exactly as it is.
        moved = agrees & (np.abs(average - image) > _ROUNDING * np.abs(image))
        out[moved] = average[moved]
    return out
