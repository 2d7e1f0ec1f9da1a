"""The original notebook's algorithm, literally: one scikit-learn fit per pixel.

Kept as the reference the compiled engine is validated against. It is slow
(about a millisecond per pixel-channel); use it on small inputs or samples.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from ..core.layout import as_frames, cast_like
from .gmm import EMSettings

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


__all__ = ["extract_background_sklearn", "fit_pixel_sklearn", "heaviest_means_sklearn"]


def fit_pixel_sklearn(
    series: "ArrayLike",
    *,
    n_components: int = EMSettings.n_components,
    max_iter: int = EMSettings.max_iter,
    tol: float = EMSettings.tol,
    reg_covar: float = EMSettings.reg_covar,
    random_state: int | None = None,
):
    """Fit scikit-learn's ``GaussianMixture`` to one pixel's values over time.

    Returns
    -------
    sklearn.mixture.GaussianMixture
        The fitted mixture.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    samples = np.asarray(series, dtype=np.float64).reshape(-1, 1)
    gmm = GaussianMixture(
        n_components=n_components,
        max_iter=max_iter,
        tol=tol,
        reg_covar=reg_covar,
        random_state=random_state,
    )
    with warnings.catch_warnings():
        # Constant or few-valued pixels make k-means warn once per pixel.
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(samples)
    return gmm


def heaviest_means_sklearn(
    data: "ArrayLike",
    *,
    time_axis: int = 0,
    n_components: int = EMSettings.n_components,
    max_iter: int = EMSettings.max_iter,
    tol: float = EMSettings.tol,
    reg_covar: float = EMSettings.reg_covar,
    random_state: int | None = None,
) -> np.ndarray:
    """Each pixel-channel's heaviest component mean, one ``GaussianMixture.fit`` each.

    ``data``'s shape without the time axis, float64, not rounded.
    """
    frames = as_frames(data, time_axis)
    if frames.shape[0] < max(n_components, 2):
        raise ValueError(
            f"scikit-learn needs at least {max(n_components, 2)} frames, got {frames.shape[0]}"
        )
    flat = frames.reshape(frames.shape[0], -1)
    background = np.empty(flat.shape[1], dtype=np.float64)
    for pixel in range(flat.shape[1]):
        gmm = fit_pixel_sklearn(
            flat[:, pixel],
            n_components=n_components,
            max_iter=max_iter,
            tol=tol,
            reg_covar=reg_covar,
            random_state=random_state,
        )
        background[pixel] = gmm.means_[np.argmax(gmm.weights_), 0]
    return background.reshape(frames.shape[1:])


def extract_background_sklearn(
    data: "ArrayLike",
    *,
    time_axis: int = 0,
    n_components: int = EMSettings.n_components,
    max_iter: int = EMSettings.max_iter,
    tol: float = EMSettings.tol,
    reg_covar: float = EMSettings.reg_covar,
    random_state: int | None = None,
) -> np.ndarray:
    """Background by one ``GaussianMixture.fit`` per pixel-channel.

    Same parameters and result type as
    :func:`napari_gmm_background.extract_background`. Each pixel's
    background is the mean of its most weighted component. The rows of the
    original loop rounded down (``int(mean)``); this rounds to nearest, like
    the compiled engine.
    """
    frames = as_frames(data, time_axis)
    dtype = np.asarray(data).dtype  # half floats are computed as float32
    means = heaviest_means_sklearn(
        frames,
        n_components=n_components,
        max_iter=max_iter,
        tol=tol,
        reg_covar=reg_covar,
        random_state=random_state,
    )
    return cast_like(means, dtype)
