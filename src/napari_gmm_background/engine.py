"""Per-pixel Gaussian-mixture background: arrays in, arrays out.

Every pixel and channel is modelled, independently, as a 1-D mixture of
``n_components`` Gaussians over time, fitted by EM with scikit-learn's rules;
its background value is the mean of the most weighted component. No napari,
no Qt, no file I/O here: the reader, the widget, the console and the command
line all call these functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generator

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, DTypeLike

__all__ = [
    "BackgroundModel",
    "Progress",
    "extract_background",
    "fit_background_model",
    "iter_fit_background_model",
]

ENGINES = ("numba", "sklearn")
NON_FINITE_MESSAGE = (
    "data contains NaN or infinite values; the background of such pixels is "
    "undefined. Replace them first (for example with numpy.nan_to_num) or crop "
    "them away."
)
METHODS = ("gmm", "motionless", "motionless-gmm")

# Work is handed to the compiled kernel in column chunks of the
# frames x pixels view: small enough to report progress and honour a cancel
# within a fraction of a second, large enough that each call keeps every
# thread busy. The float path copies a chunk to float64, so its size is
# bounded in bytes too.
_TARGET_CHUNKS = 100
_MIN_CHUNK_PIXELS = 65536
_MAX_CHUNK_BYTES = 64 * 2**20
_MAX_VIEWS = 256


@dataclass(frozen=True)
class Progress:
    """How far a fit has got: ``done`` of ``total`` pixel-channels."""

    done: int
    total: int

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass
class BackgroundModel:
    """The per-pixel mixtures fitted to a time series of images.

    Arrays have the input's shape without the time axis (the "spatial"
    shape, channels included), plus a trailing component axis where noted.

    Attributes
    ----------
    weights, means, variances : numpy.ndarray of float64
        Shape ``spatial + (n_components,)``: each component's mixing weight,
        mean and variance (``reg_covar`` included), in scikit-learn's order
        conventions but with components of a pixel in no particular order.
    n_iter : numpy.ndarray of int32
        EM iterations each pixel ran (0 where the answer was exact without
        EM: no more distinct values than components).
    converged : numpy.ndarray of bool
        False where EM stopped at ``max_iter`` before reaching ``tol``.
    dtype : numpy.dtype
        The input's dtype; :meth:`background` is returned in it.
    """

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    dtype: np.dtype

    @property
    def n_components(self) -> int:
        return self.weights.shape[-1]

    @property
    def background_index(self) -> np.ndarray:
        """Index of each pixel's most weighted component (first on ties)."""
        return np.argmax(self.weights, axis=-1)

    def _pick(self, per_component: np.ndarray) -> np.ndarray:
        index = self.background_index[..., np.newaxis]
        return np.take_along_axis(per_component, index, axis=-1)[..., 0]

    @property
    def background_mean(self) -> np.ndarray:
        """Mean of the background component, float64."""
        return self._pick(self.means)

    @property
    def background_std(self) -> np.ndarray:
        """Standard deviation of the background component, float64."""
        return np.sqrt(self._pick(self.variances))

    @property
    def background_weight(self) -> np.ndarray:
        """Weight of the background component: the share of frames it explains."""
        return self._pick(self.weights)

    def background(self) -> np.ndarray:
        """The background image in the input's dtype (integers rounded, clipped)."""
        return _cast_like(self.background_mean, self.dtype)

    def foreground_mask(
        self, data: "ArrayLike", *, time_axis: int = 0, threshold: float = 4.0
    ) -> np.ndarray:
        """Where frames differ from the background, per pixel and channel.

        A sample is foreground when it lies more than ``threshold`` standard
        deviations of the background component away from its mean.

        Parameters
        ----------
        data : array_like
            Frames with the shape the model was fitted on (any frame count).
        time_axis : int
            The time axis of ``data``.
        threshold : float
            Distance from the background mean, in standard deviations. The
            default, 4, is OpenCV MOG2's (``varThreshold=16`` on squared
            distances). Two components split a pixel's noise between them,
            so the background component's deviation is often an
            underestimate: raise the threshold if noise shows as foreground.

        Returns
        -------
        numpy.ndarray of bool
            Same shape as ``data``.
        """
        if threshold < 0:
            raise ValueError(f"threshold must be >= 0, got {threshold}")
        frames = np.moveaxis(np.asarray(data), time_axis, 0)
        if frames.shape[1:] != self.weights.shape[:-1]:
            raise ValueError(
                f"frames of shape {frames.shape[1:]} do not match the model's "
                f"{self.weights.shape[:-1]}"
            )
        mean = self.background_mean
        limit = threshold * self.background_std
        mask = np.empty(frames.shape, dtype=bool)
        # Frame by frame, so no float copy of the whole stack is made.
        for t in range(frames.shape[0]):
            np.greater(np.abs(frames[t] - mean), limit, out=mask[t])
        return np.moveaxis(mask, 0, time_axis)


def extract_background(
    data: "ArrayLike",
    *,
    time_axis: int = 0,
    n_components: int = 2,
    max_iter: int = 100,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
    engine: str = "numba",
    random_state: int | None = None,
    method: str = "gmm",
) -> np.ndarray:
    """Static background of a time series of images, by per-pixel GMM.

    For every pixel and channel, a mixture of ``n_components`` Gaussians is
    fitted by EM to its values over time (scikit-learn's ``GaussianMixture``
    rules: k-means initialisation, ``reg_covar`` added to variances, stop
    when the mean log-likelihood per sample changes by less than ``tol`` or
    after ``max_iter`` iterations). The background is the mean of the most
    weighted component: sparse, changing foreground gets the smaller weight.

    Parameters
    ----------
    data : array_like
        Images over time, of any numeric dtype, with any number of other
        axes: (T, Y, X), (T, Y, X, C), (T, Z, Y, X), ...
    time_axis : int
        The axis that is time; it is removed from the result.
    n_components : int
        Gaussians per pixel.
    max_iter : int
        EM iterations at most, per pixel.
    tol : float
        Convergence threshold on the change of mean log-likelihood.
    reg_covar : float
        Added to every variance; keeps constant pixels finite.
    engine : {"numba", "sklearn"}
        "numba" (default) is the compiled, deterministic engine. "sklearn"
        fits scikit-learn's ``GaussianMixture`` once per pixel-channel, the
        original notebook loop: very slow, kept for validation.
    random_state : int or None
        Seed for the "sklearn" engine's k-means; the "numba" engine uses
        none, its initialisation is deterministic.
    method : {"gmm", "motionless", "motionless-gmm"}
        "gmm" (default) is the rule above over all frames. The other two
        first keep, per pixel, the 19 frames with the least motion around
        the pixel (see :mod:`napari_gmm_background.motion`); their median
        ("motionless", the most accurate measured) or the rule above on
        them ("motionless-gmm") is refined with every frame that agrees
        with it within the noise. They need (T, H, W) or (T, H, W, C)
        frames in memory: a dask array is computed first, and the result
        is a numpy array.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        ``data``'s shape without the time axis, in ``data``'s dtype (integers
        rounded and clipped to the dtype's range). For a dask array, a lazy
        dask array: blocks are rechunked to hold the whole time axis (pixels
        are independent, so no overlap is needed) and each is fitted on its
        own, wherever dask runs it (threads, processes, a distributed
        cluster); the values equal those for the same data in numpy.

    Raises
    ------
    ValueError
        For a time axis of length 0, bad parameters, or NaN/infinite values.
    TypeError
        For data that is not real numbers.

    Examples
    --------
    >>> frames = np.random.default_rng(0).integers(0, 255, (50, 32, 32, 3), np.uint8)
    >>> extract_background(frames).shape
    (32, 32, 3)
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if method != "gmm":
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        from .motion import motionless_background

        return motionless_background(
            data, time_axis=time_axis,
            statistic="median" if method == "motionless" else "gmm",
            n_components=n_components, max_iter=max_iter, tol=tol, reg_covar=reg_covar,
            engine=engine, random_state=random_state,
        )
    if engine == "sklearn":
        from .reference import extract_background_sklearn

        return extract_background_sklearn(
            data, time_axis=time_axis, n_components=n_components,
            max_iter=max_iter, tol=tol, reg_covar=reg_covar,
            random_state=random_state,
        )
    if _is_dask(data):
        return _extract_background_dask(
            data, time_axis=time_axis, n_components=n_components, max_iter=max_iter,
            tol=tol, reg_covar=reg_covar,
        )
    generator = _iter_fit(
        data, time_axis=time_axis, n_components=n_components,
        max_iter=max_iter, tol=tol, reg_covar=reg_covar, store_model=False,
    )
    return _run_to_end(generator)


def fit_background_model(
    data: "ArrayLike",
    *,
    time_axis: int = 0,
    n_components: int = 2,
    max_iter: int = 100,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
) -> BackgroundModel:
    """Fit the per-pixel mixtures and keep them.

    Same model and parameters as :func:`extract_background`; returns every
    component's weight, mean and variance, for foreground masks and
    diagnostics. ``fit_background_model(data).background()`` equals
    ``extract_background(data)``.

    Returns
    -------
    BackgroundModel
    """
    return _run_to_end(
        iter_fit_background_model(
            data, time_axis=time_axis, n_components=n_components,
            max_iter=max_iter, tol=tol, reg_covar=reg_covar,
        )
    )


def iter_fit_background_model(
    data: "ArrayLike",
    *,
    time_axis: int = 0,
    n_components: int = 2,
    max_iter: int = 100,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
) -> Generator[Progress, None, BackgroundModel]:
    """:func:`fit_background_model` as a generator that reports progress.

    Yields a :class:`Progress` after each chunk of pixels and returns the
    :class:`BackgroundModel` (as ``StopIteration.value``). Closing the
    generator between chunks abandons the fit. For napari's
    ``thread_worker`` and other long-running callers.
    """
    return _iter_fit(
        data, time_axis=time_axis, n_components=n_components,
        max_iter=max_iter, tol=tol, reg_covar=reg_covar, store_model=True,
    )


def engine_loaded() -> bool:
    """Whether the compiled kernels are loaded in this process already."""
    import sys

    kernels = sys.modules.get(f"{__package__}._em_kernels")
    return bool(kernels is not None and kernels._KERNELS)


def count_chunks(data_shape: tuple, time_axis: int = 0) -> int:
    """How many :class:`Progress` steps a fit of an array of this shape yields."""
    shape = list(data_shape)
    n_frames = shape.pop(time_axis % len(shape))
    n_pixels = math.prod(shape)
    return len(_chunk_starts(n_pixels, n_frames))


def _is_dask(data) -> bool:
    return hasattr(data, "__dask_graph__") and hasattr(data, "map_blocks")


def _extract_background_dask(data, *, time_axis, **settings):
    """Lazy background of a dask array: one engine call per spatial block."""
    if not -data.ndim <= time_axis < data.ndim:
        raise ValueError(
            f"time_axis {time_axis} is out of range for data with {data.ndim} axes"
        )
    if data.shape[time_axis] == 0:
        raise ValueError("data has no frames: its time axis has length 0")
    time_axis %= data.ndim
    _check_parameters(settings["n_components"], settings["max_iter"], settings["tol"],
                      settings["reg_covar"])
    whole_time = data.rechunk({time_axis: -1})
    return whole_time.map_blocks(
        _block_background, time_axis=time_axis, settings=settings,
        drop_axis=time_axis, dtype=data.dtype,
    )


def _block_background(block, *, time_axis, settings):
    return extract_background(block, time_axis=time_axis, **settings)


def _run_to_end(generator):
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return stop.value


def _check_parameters(n_components, max_iter, tol, reg_covar):
    if not (isinstance(n_components, (int, np.integer)) and n_components >= 1):
        raise ValueError(f"n_components must be an integer >= 1, got {n_components!r}")
    if not (isinstance(max_iter, (int, np.integer)) and max_iter >= 1):
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    if not reg_covar > 0:
        raise ValueError(f"reg_covar must be > 0, got {reg_covar!r}")


def _as_frames(data: "ArrayLike", time_axis: int) -> np.ndarray:
    """``data`` as an ndarray with time first (a view where possible)."""
    array = np.asarray(data)
    if array.dtype == bool or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise TypeError(
            f"data must hold integers or floats, got dtype {array.dtype}"
        )
    if array.ndim < 1:
        raise ValueError("data must have a time axis; got a scalar")
    if not -array.ndim <= time_axis < array.ndim:
        raise ValueError(
            f"time_axis {time_axis} is out of range for data with {array.ndim} axes"
        )
    frames = np.moveaxis(array, time_axis, 0)
    if frames.shape[0] == 0:
        raise ValueError("data has no frames: its time axis has length 0")
    return frames


def _pixel_views(frames: np.ndarray) -> list:
    """Split (T, *spatial) into equal 2-D (T, pixels) views, without copying.

    The trailing spatial axes that flatten into one strided axis are
    flattened; the leading ones, if any, are looped over. Concatenating the
    views' columns gives the pixels in C order of the spatial shape. A
    C-contiguous stack gives a single view whatever its time axis.
    """
    # Length-1 axes have no effect on the order and may have any stride.
    kept = [axis for axis in range(1, frames.ndim) if frames.shape[axis] != 1]
    shape = [frames.shape[axis] for axis in kept]
    strides = [frames.strides[axis] for axis in kept]
    merge_from = max(len(kept) - 1, 0)
    while merge_from > 0 and strides[merge_from - 1] == strides[merge_from] * shape[merge_from]:
        merge_from -= 1
    n_tail = math.prod(shape[merge_from:])
    tail_stride = strides[-1] if kept else frames.itemsize
    squeezed = frames.reshape((frames.shape[0],) + tuple(shape)) if kept else frames[:, None]
    views = []
    for index in np.ndindex(*shape[:merge_from]):
        base = squeezed[(slice(None),) + index]
        views.append(
            np.lib.stride_tricks.as_strided(
                base, shape=(frames.shape[0], n_tail),
                strides=(frames.strides[0], tail_stride), writeable=False,
            )
        )
    return views


def _chunk_starts(n_pixels: int, n_frames: int) -> list:
    by_count = -(-n_pixels // _TARGET_CHUNKS)
    by_bytes = max(1, _MAX_CHUNK_BYTES // (8 * n_frames))
    size = max(min(max(by_count, _MIN_CHUNK_PIXELS), by_bytes), 1)
    return list(range(0, n_pixels, size)) or [0]


def _iter_fit(data, *, time_axis, n_components, max_iter, tol, reg_covar, store_model):
    _check_parameters(n_components, max_iter, tol, reg_covar)
    frames = _as_frames(data, time_axis)
    n_frames = frames.shape[0]
    spatial = frames.shape[1:]
    n_pixels = math.prod(spatial)

    from . import _em_kernels
    import numba

    is_uint8 = frames.dtype == np.uint8
    kernel = _em_kernels.fit_pixels_kernel(np.uint8 if is_uint8 else np.float64)
    n_workers = numba.get_num_threads()

    background = np.empty(n_pixels, dtype=np.float64)
    model_rows = n_pixels if store_model else 0
    weights = np.empty((model_rows, n_components), dtype=np.float64)
    means = np.empty((model_rows, n_components), dtype=np.float64)
    variances = np.empty((model_rows, n_components), dtype=np.float64)
    n_iter = np.empty(model_rows, dtype=np.int32)

    # One flat pixel index over all views, chunked for progress.
    views = _pixel_views(frames)
    if len(views) > _MAX_VIEWS:
        # A layout that flattens into many short views (e.g. from
        # np.take_along_axis) would cost a kernel call each: copy it once.
        frames = np.ascontiguousarray(frames)
        views = _pixel_views(frames)
    per_view = views[0].shape[1] if views else 0
    starts = _chunk_starts(n_pixels, n_frames)
    size = starts[1] - starts[0] if len(starts) > 1 else max(n_pixels, 1)
    for start in starts:
        stop = min(start + size, n_pixels)
        p = start
        while p < stop:
            view_index, offset = divmod(p, per_view)
            view = views[view_index]
            end = min(stop - p + offset, per_view)
            chunk = view[:, offset:end]
            if not is_uint8:
                chunk = np.asarray(chunk, dtype=np.float64)
            rows = slice(p, p + end - offset)
            model = rows if store_model else slice(0, 0)
            bad = kernel(
                chunk, n_components, max_iter, float(tol), float(reg_covar),
                background[rows], weights[model], means[model], variances[model],
                n_iter[model], store_model, is_uint8, n_workers,
            )
            if bad:
                raise ValueError(NON_FINITE_MESSAGE)
            p += end - offset
        yield Progress(stop, n_pixels)

    if not store_model:
        return _cast_like(background.reshape(spatial), frames.dtype)
    return BackgroundModel(
        weights=weights.reshape(spatial + (n_components,)),
        means=means.reshape(spatial + (n_components,)),
        variances=variances.reshape(spatial + (n_components,)),
        n_iter=np.abs(n_iter).reshape(spatial),
        converged=(n_iter >= 0).reshape(spatial),
        dtype=frames.dtype,
    )


def _cast_like(values: np.ndarray, dtype: "DTypeLike") -> np.ndarray:
    """Float results in ``dtype``: integers rounded and clipped to its range."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    return values.astype(dtype)
