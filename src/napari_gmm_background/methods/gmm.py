"""Per-pixel Gaussian mixtures: the seed notebook's model, compiled.

Every pixel and channel is modelled, independently, as a 1-D mixture of
``n_components`` Gaussians over time, fitted by EM with scikit-learn's rules;
its background value is the mean of the most weighted component. The EM
itself is in :mod:`napari_gmm_background._em_kernels`; this module hands it
pixels in chunks (for progress and cancelling) and gathers what it returns.

Numbers only: arrays in, arrays out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ..core.checks import check_count, check_number
from ..core.layout import NON_FINITE_MESSAGE, as_frames, cast_like
from ..core.plan import Plan, Step
from ..core.progress import Progress, run_to_end

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "BackgroundModel",
    "EMSettings",
    "HistogramFit",
    "plan_fit",
    "fit_background_model",
    "heaviest_means",
    "iter_fit_background_model",
    "iter_heaviest_means",
]

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
class EMSettings:
    """The EM parameters of a fit, checked once when they are made.

    Attributes
    ----------
    n_components : int
        Gaussians per pixel.
    max_iter : int
        EM iterations at most, per pixel.
    tol : float
        Convergence threshold on the change of mean log-likelihood per sample.
    reg_covar : float
        Added to every variance; keeps constant pixels finite.
    """

    n_components: int = 2
    max_iter: int = 100
    tol: float = 1e-3
    reg_covar: float = 1e-6

    def __post_init__(self):
        check_count("n_components", self.n_components)
        check_count("max_iter", self.max_iter)
        check_number("tol", self.tol)
        check_number("reg_covar", self.reg_covar, inclusive=False)

    def check_frames(self, n_frames: int, what: str = "frames") -> None:
        """ValueError unless there are at least as many samples as components.

        scikit-learn's rule: more Gaussians than samples cannot be fitted, and
        asking for them would only cost time and memory.
        """
        if self.n_components > n_frames:
            raise ValueError(
                f"n_components={self.n_components} needs at least that many {what}; "
                f"there are {n_frames}"
            )


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
        return cast_like(self.background_mean, self.dtype)

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
        threshold = check_number("threshold", threshold)
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
            distance = np.abs(frames[t] - mean)
            if not np.isfinite(distance).all():  # NaN is neither background nor foreground
                raise ValueError(NON_FINITE_MESSAGE)
            np.greater(distance, limit, out=mask[t])
        return np.moveaxis(mask, 0, time_axis)


def fit_background_model(
    data: "ArrayLike",
    *,
    time_axis: int = 0,
    n_components: int = EMSettings.n_components,
    max_iter: int = EMSettings.max_iter,
    tol: float = EMSettings.tol,
    reg_covar: float = EMSettings.reg_covar,
) -> BackgroundModel:
    """Fit the notebook rule's per-pixel mixtures and keep them.

    Same model and parameters as ``extract_background(data, method="notebook")``;
    returns every component's weight, mean and variance, for diagnostics and
    the model's own masks (:meth:`BackgroundModel.foreground_mask`).
    ``fit_background_model(data).background()`` equals that background.

    Returns
    -------
    BackgroundModel
    """
    return run_to_end(
        iter_fit_background_model(
            data,
            time_axis=time_axis,
            n_components=n_components,
            max_iter=max_iter,
            tol=tol,
            reg_covar=reg_covar,
        )
    )


def iter_fit_background_model(
    data: "ArrayLike",
    *,
    time_axis: int = 0,
    n_components: int = EMSettings.n_components,
    max_iter: int = EMSettings.max_iter,
    tol: float = EMSettings.tol,
    reg_covar: float = EMSettings.reg_covar,
) -> Generator[Progress, None, BackgroundModel]:
    """:func:`fit_background_model` as a generator that reports progress.

    Yields a :class:`~napari_gmm_background.core.progress.Progress` after each
    chunk of pixels and returns the :class:`BackgroundModel` (as
    ``StopIteration.value``). Closing the generator between chunks abandons
    the fit. For napari's ``thread_worker`` and other long-running callers.
    """
    settings = EMSettings(n_components, max_iter, tol, reg_covar)
    frames = as_frames(data, time_axis)
    return plan_fit(frames.shape, settings, lambda: frames, store_model=True).run()


def iter_heaviest_means(
    data: "ArrayLike", settings: EMSettings, *, time_axis: int = 0
) -> Generator[Progress, None, np.ndarray]:
    """Each pixel's heaviest component mean, as a progress generator.

    The seed rule's background before it is cast to the input's dtype:
    ``data``'s shape without time, float64. Yields as
    :func:`iter_fit_background_model`; keeps no model, so it needs no
    memory beyond the result.
    """
    frames = as_frames(data, time_axis)
    return plan_fit(frames.shape, settings, lambda: frames, store_model=False).run()


def heaviest_means(data: "ArrayLike", settings: EMSettings, *, time_axis: int = 0) -> np.ndarray:
    """:func:`iter_heaviest_means` run to the end."""
    return run_to_end(iter_heaviest_means(data, settings, time_axis=time_axis))


def plan_fit(
    frames_shape: tuple,
    settings: EMSettings,
    frames: "Callable[[], np.ndarray]",
    *,
    store_model: bool,
) -> Plan:
    """Fitting every pixel of time-first frames of this shape: a chunk of pixels a step.

    ``frames()`` gives the frames when the first step runs. The plan's
    result is the heaviest means (``frames_shape`` without time, float64),
    or the :class:`BackgroundModel` with ``store_model``.
    """
    settings.check_frames(frames_shape[0])
    fit = _Fit(frames_shape, settings, frames, store_model)
    n_pixels = math.prod(frames_shape[1:])
    bounds = _chunk_bounds(n_pixels, frames_shape[0])
    steps = [Step(partial(fit.chunk, a, b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return Plan(steps, fit.result)


def _chunk_bounds(n_pixels: int, n_frames: int) -> "list[int]":
    """Where the chunks of pixels start, and the end: about _TARGET_CHUNKS of them.

    The count grows with the frames (a float chunk is copied, at most
    _MAX_CHUNK_BYTES), so frames cut into segments never need fewer
    chunks in all than the whole: per-frame runs spread segments over the
    whole's steps (see :mod:`napari_gmm_background.engine.drift`).
    """
    by_count = -(-n_pixels // max(-(-n_pixels // _TARGET_CHUNKS), _MIN_CHUNK_PIXELS))
    by_bytes = -(-n_pixels * 8 * n_frames // _MAX_CHUNK_BYTES)
    n_chunks = max(1, min(max(by_count, by_bytes), n_pixels))
    return [n_pixels * k // n_chunks for k in range(n_chunks + 1)]


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
                base,
                shape=(frames.shape[0], n_tail),
                strides=(frames.strides[0], tail_stride),
                writeable=False,
            )
        )
    return views


class _Fit:
    """One fit of every pixel, a chunk at a time: the state :func:`plan_fit`'s steps share."""

    def __init__(self, frames_shape: tuple, settings: EMSettings, frames, store_model: bool):
        self.shape = frames_shape
        self.settings = settings
        self.frames = frames
        self.store_model = store_model
        self.views = None

    def _start(self) -> None:
        """Outputs and pixel views, made when the first chunk runs (a plan holds no data)."""
        from . import _em_kernels

        frames = self.frames()
        self.dtype = frames.dtype
        self.is_uint8 = frames.dtype == np.uint8
        self.kernel = _em_kernels.fit_pixels_kernel(np.uint8 if self.is_uint8 else np.float64)
        n_pixels = math.prod(self.shape[1:])
        k = self.settings.n_components
        rows = n_pixels if self.store_model else 0
        self.background = np.empty(n_pixels, dtype=np.float64)
        self.weights = np.empty((rows, k), dtype=np.float64)
        self.means = np.empty((rows, k), dtype=np.float64)
        self.variances = np.empty((rows, k), dtype=np.float64)
        self.n_iter = np.empty(rows, dtype=np.int32)
        views = _pixel_views(frames)
        if len(views) > _MAX_VIEWS:
            # A layout that flattens into many short views (e.g. from
            # np.take_along_axis) would cost a kernel call each: copy it once.
            views = _pixel_views(np.ascontiguousarray(frames))
        self.views = views
        self.per_view = views[0].shape[1] if views else 0

    def chunk(self, start: int, stop: int) -> None:
        """Fit pixels ``start:stop`` of the flat pixel index over all views."""
        if self.views is None:
            self._start()
        p = start
        while p < stop:
            view_index, offset = divmod(p, self.per_view)
            end = min(stop - p + offset, self.per_view)
            self._fit(self.views[view_index][:, offset:end], slice(p, p + end - offset))
            p += end - offset

    def _fit(self, chunk: np.ndarray, rows: slice) -> None:
        from ..core.threads import on_workers
        from . import _em_kernels

        if not self.is_uint8:
            chunk = np.asarray(chunk, dtype=np.float64)
        settings = self.settings
        model = rows if self.store_model else slice(0, 0)
        fit_share = partial(
            self.kernel, chunk, settings.n_components, settings.max_iter, float(settings.tol),
            float(settings.reg_covar), self.background[rows], self.weights[model],
            self.means[model], self.variances[model], self.n_iter[model], self.store_model,
            self.is_uint8,
        )  # fmt: skip
        n_blocks = -(-chunk.shape[1] // _em_kernels.block_size(self.is_uint8))
        if sum(on_workers(fit_share, n_blocks)):
            raise ValueError(NON_FINITE_MESSAGE)

    def result(self) -> "np.ndarray | BackgroundModel":
        spatial = self.shape[1:]
        self.views = None  # the frames are not needed any more
        if not self.store_model:
            return self.background.reshape(spatial)
        return _model(self.weights, self.means, self.variances, self.n_iter, spatial, self.dtype)


def _model(weights, means, variances, n_iter, spatial, dtype) -> BackgroundModel:
    """A :class:`BackgroundModel` from the kernels' flat outputs."""
    k = weights.shape[-1]
    return BackgroundModel(
        weights=weights.reshape(spatial + (k,)),
        means=means.reshape(spatial + (k,)),
        variances=variances.reshape(spatial + (k,)),
        n_iter=np.abs(n_iter).reshape(spatial),
        converged=(n_iter >= 0).reshape(spatial),
        dtype=np.dtype(dtype),
    )


class HistogramFit:
    """Mixtures of 8-bit pixels fitted from their histograms, not their frames.

    For 8-bit data all the EM uses of a pixel's samples is how often each of
    the 256 levels occurs, so frames can be added as they are decoded and
    then forgotten: 512 bytes per pixel-channel (1,024 beyond 65,535
    frames), whatever the frame count. The fit is bit-identical to
    :func:`fit_background_model` on the same frames.

    Parameters
    ----------
    n_pixels : int
        Pixel-channels per frame.
    n_frames : int
        Frames that will be added (sets the counters' width).
    settings : EMSettings
        The EM parameters.
    """

    def __init__(self, n_pixels: int, n_frames: int, settings: EMSettings):
        self.settings = settings
        count_dtype = np.uint16 if n_frames < 2**16 else np.uint32
        self.counts = np.zeros((n_pixels, 256), dtype=count_dtype)
        self.n_frames = 0

    @staticmethod
    def bytes_per_pixel(n_frames: int) -> int:
        """Memory of one pixel-channel's histogram."""
        return 256 * (2 if n_frames < 2**16 else 4)

    def add(self, frames: np.ndarray) -> None:
        """Count (frames, pixels) uint8 samples."""
        from ..core.threads import in_parts
        from . import _em_kernels

        if frames.dtype != np.uint8:
            raise TypeError(f"histograms count uint8 samples, got {frames.dtype}")
        n_blocks = -(-frames.shape[1] // _em_kernels.HISTOGRAM_BLOCK)
        in_parts(0, n_blocks, partial(_em_kernels.accumulate_histograms, frames, self.counts))
        self.n_frames += len(frames)

    def fit(self, *, keep_model: bool) -> "tuple[np.ndarray, BackgroundModel | None]":
        """Each pixel's heaviest mean (float64), and the flat model if asked for.

        The model's arrays have one row per pixel-channel (``spatial`` =
        ``(n_pixels,)``).
        """
        from ..core.threads import on_workers
        from . import _em_kernels

        n_pixels = len(self.counts)
        self.settings.check_frames(self.n_frames)
        k = self.settings.n_components
        rows = n_pixels if keep_model else 0
        background = np.empty(n_pixels)
        weights, means, variances = (np.empty((rows, k)) for _ in range(3))
        n_iter = np.empty(rows, dtype=np.int32)
        fit_share = partial(
            _em_kernels.fit_histograms, self.counts, self.n_frames, k, self.settings.max_iter,
            float(self.settings.tol), float(self.settings.reg_covar), background, weights,
            means, variances, n_iter, keep_model,
        )  # fmt: skip
        on_workers(fit_share, n_pixels)
        if not keep_model:
            return background, None
        return background, _model(weights, means, variances, n_iter, (n_pixels,), np.uint8)
