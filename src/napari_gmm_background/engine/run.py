"""The front door: every background method, for every caller.

``METHODS`` is the table of methods, one row each: its name, what it does
(the help texts of the widget and the command line come from here), how it
makes its estimate, and whether it works pixel by pixel or needs whole
images in memory. :func:`iter_background` is the one generator every caller
runs: :func:`extract_background` runs it to the end, the napari widget in
its worker thread, the command line under its progress bar. It decides the
layout once (:mod:`napari_gmm_background.layout`), checks the parameters
once, and hands each method its stacks.

Numbers only: arrays in, arrays out; no napari, no Qt, no file I/O.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ..core.layout import (
    NON_FINITE_MESSAGE,
    Layout,
    as_frames,
    cast_like,
    check_time_axis,
    iter_by_stack,
)
from ..core.progress import Progress, renumber, run_to_end
from ..core.reading import LazyFrames, Reading, count_whole_read_steps, is_lazy, iter_read_whole
from ..methods import levels, motion
from ..methods.gmm import (
    BackgroundModel,
    EMSettings,
    HistogramFit,
    count_chunks,
    fit_background_model,
    heaviest_means,
    iter_fit_background_model,
    iter_heaviest_means,
)
from ..methods.reference import heaviest_means_sklearn
from . import drift

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, DTypeLike

__all__ = [
    "DEFAULT_METHOD",
    "ENGINES",
    "METHODS",
    "NON_FINITE_MESSAGE",
    "BackgroundModel",
    "Method",
    "Progress",
    "SceneChangeWarning",
    "Settings",
    "count_chunks",
    "count_steps",
    "extract_background",
    "fit_background_model",
    "get_method",
    "iter_background",
    "iter_fit_background_model",
    "is_warm",
    "start_warm_up",
    "warm_up",
]

ENGINES = ("numba", "sklearn")


@dataclass(frozen=True)
class Settings:
    """Everything a method is run with besides the frames, checked when made."""

    em: EMSettings = EMSettings()
    engine: str = "numba"
    random_state: "int | None" = None

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")


@dataclass(frozen=True)
class Method:
    """A row of the method table.

    Attributes
    ----------
    name : str
        What users type and pick.
    summary : str
        One sentence for help texts and tooltips.
    estimate : str
        How its estimate is made, for the documentation.
    per_pixel : bool
        Each pixel-channel's background depends on its own samples only:
        any layout, any tiling (dask chunks). Otherwise the method looks at
        neighbouring pixels, so each (T, Y, X, colours) stack must be whole
        in memory.
    iterate : callable
        ``iterate(frames, settings)``: a generator that yields one
        :class:`Progress` per step and returns the background as floats.
        Per-pixel methods get time-first frames of any shape, the others a
        (T, Y, X, colours) stack at a time.
    count_steps : callable
        ``count_steps(frames_shape, settings, reading=None)``: how many steps
        ``iterate`` yields for frames of that shape (read on demand as
        ``reading`` says, for a method that reads in blocks).
    model_background : bool
        Its background is the heaviest mean of the per-pixel mixture model
        (:func:`fit_background_model`), so one fit gives both.
    histogram_fit : type, optional
        For 8-bit video longer than memory: a fitter from per-pixel
        histograms (:class:`napari_gmm_background.gmm.HistogramFit`).
        None where the method needs the frames themselves.
    engines : tuple of str
        The engines (:data:`ENGINES`) it can fit its mixtures with.
    reads_in_blocks : bool
        Its ``iterate`` also takes a stack read on demand
        (:class:`napari_gmm_background.reading.LazyStack`): it scores whole
        frames as they are read, then fits a block of rows at a time, so
        data larger than memory (dask, zarr) is never held whole.
    """

    name: str
    summary: str
    estimate: str
    per_pixel: bool
    iterate: "Callable[[np.ndarray, Settings], Generator[Progress, None, np.ndarray]]"
    count_steps: "Callable[[tuple, Settings], int]"
    model_background: bool = False
    histogram_fit: "type[HistogramFit] | None" = None
    engines: tuple = ("numba",)
    reads_in_blocks: bool = False

    def reads_lazy_data_in_blocks(
        self, *, per_frame: bool = False, keep_model: bool = False, n_image_axes: int = 2
    ) -> bool:
        """Whether a run reads lazy data in blocks of rows, rather than whole first.

        Per-frame backgrounds and the mixture model need every frame at
        once, and blocks of rows need two image axes.
        """
        return self.reads_in_blocks and n_image_axes == 2 and not per_frame and not keep_model

    @property
    def fits_mixtures(self) -> bool:
        """Whether it fits Gaussian mixtures by EM, so the EM parameters apply."""
        return "sklearn" in self.engines

    @property
    def needs_frames_in_memory(self) -> bool:
        """Whether a video must be decoded whole (it cannot be fitted as it streams)."""
        return self.histogram_fit is None


def _heaviest_gaussian(frames: np.ndarray, settings: Settings) -> np.ndarray:
    """The seed rule on time-first frames: each pixel's heaviest mean, floats."""
    if settings.engine == "sklearn":
        return heaviest_means_sklearn(
            frames,
            n_components=settings.em.n_components,
            max_iter=settings.em.max_iter,
            tol=settings.em.tol,
            reg_covar=settings.em.reg_covar,
            random_state=settings.random_state,
        )
    return heaviest_means(frames, settings.em)


def _iterate_notebook(frames: np.ndarray, settings: Settings):
    if settings.engine == "numba":
        return (yield from iter_heaviest_means(frames, settings.em))
    background = _heaviest_gaussian(frames, settings)
    yield Progress(1, 1)
    return background


def _count_notebook_steps(frames_shape: tuple, settings: Settings, reading=None) -> int:
    return count_chunks(frames_shape) if settings.engine == "numba" else 1


def _iterate_motionless(frames: np.ndarray, settings: Settings, *, gmm_first: bool):
    first_estimate = None
    if gmm_first:
        n_kept = min(frames.shape[0], motion.DEFAULT_N_SAMPLES)
        settings.em.check_frames(n_kept, "stillest frames of each pixel, which it is fitted to")
        first_estimate = partial(_heaviest_gaussian, settings=settings)
    return motion.iter_stack_background(frames, first_estimate=first_estimate)


def _iterate_still_gaussian(frames: np.ndarray, settings: Settings):
    n_frames, height, width = frames.shape[:3]
    return motion.iter_stack_background(
        frames,
        cell_size=None,
        joint_colour=True,
        max_refine_frames=motion.refine_frames_for(n_frames, height * width),
        prefer_recurring=True,
    )


def _count_motionless_steps(
    frames_shape: tuple, settings: Settings, reading=None, *, gmm_first: bool, cell_size=1
) -> int:
    return motion.count_stack_steps(
        frames_shape, refines_a_first_estimate=gmm_first, cell_size=cell_size, reading=reading
    )


def _iterate_fluorescence(frames: np.ndarray, settings: Settings):
    return levels.iter_dimmest_levels(frames)


def _count_fluorescence_steps(frames_shape: tuple, settings: Settings, reading=None) -> int:
    return levels.count_level_steps(frames_shape)


_MOTIONLESS_REFINEMENT = (
    "each pixel's 19 least-moving frames (motion averaged around the pixel), then the "
    "median of every frame within 5 noise standard deviations of"
)

METHODS: "dict[str, Method]" = {
    row.name: row
    for row in (
        Method(
            name="gmm",
            summary=(
                "each pixel's background Gaussian is the one its stillest moments belong "
                "to, fitted to every frame it explains, all colour channels together; the "
                "most accurate measured, and fast"
            ),
            estimate=(
                "per pixel, a mixture of a background Gaussian as wide as the measured noise "
                "and a foreground covering everything else. Frames are scored by the motion "
                "around each pixel, on a grid of cells about 160 across the smaller image "
                "side; the background component starts at the median of the cell's 19 "
                "stillest frames, takes every frame whose colour channels all lie within 5 "
                "noise standard deviations of it (evenly spread frames where a stack is "
                "larger than 2**28 samples a channel), and its centre is their per-channel "
                "median"
            ),
            per_pixel=False,
            iterate=_iterate_still_gaussian,
            count_steps=partial(_count_motionless_steps, gmm_first=False, cell_size=None),
            reads_in_blocks=True,
        ),
        Method(
            name="notebook",
            summary=(
                "the original notebook's rule: the heaviest of n_components Gaussians fitted "
                "to each pixel-channel over all frames, agreeing with scikit-learn"
            ),
            estimate=(
                "the mean of the most weighted of n_components Gaussians fitted by EM with "
                "scikit-learn's GaussianMixture rules: k-means initialisation, reg_covar added "
                "to the variances, stop when the mean log-likelihood per sample changes by "
                "less than tol or after max_iter iterations; sparse, changing foreground gets "
                "the smaller weight"
            ),
            per_pixel=True,
            iterate=_iterate_notebook,
            count_steps=_count_notebook_steps,
            model_background=True,
            histogram_fit=HistogramFit,
            engines=ENGINES,
        ),
        Method(
            name="motionless",
            summary=(
                "from each pixel's least-moving frames, refined with every frame that "
                "agrees with them; best where foreground lingers or covers much of the view"
            ),
            estimate=f"{_MOTIONLESS_REFINEMENT} their median",
            per_pixel=False,
            iterate=partial(_iterate_motionless, gmm_first=False),
            count_steps=partial(_count_motionless_steps, gmm_first=False),
            reads_in_blocks=True,
        ),
        Method(
            name="fluorescence",
            summary=(
                "for fluorescence, where foreground only adds light: each pixel's dimmest "
                "level its samples keep returning to, filled in smoothly where a cell never "
                "left; the most accurate measured on fluorescence time-lapses"
            ),
            estimate=(
                "per pixel, a one-sided mean shift from the 5th percentile: the mean of the "
                "samples from 3 noise standard deviations below to 1 above, corrected to the "
                "centre for pure noise, with the noise measured at every brightness "
                "(shot noise grows with the light); where that level stands more than 3 "
                "deviations above the image's smooth lower envelope with under 60 % of the "
                "samples at it (a cell that never left), it is filled in from around"
            ),
            per_pixel=False,
            iterate=_iterate_fluorescence,
            count_steps=_count_fluorescence_steps,
        ),
        Method(
            name="motionless-gmm",
            summary="as motionless, starting from the notebook rule on the least-moving frames",
            estimate=f"{_MOTIONLESS_REFINEMENT} the heaviest Gaussian of a mixture fitted to them",
            per_pixel=False,
            iterate=partial(_iterate_motionless, gmm_first=True),
            count_steps=partial(_count_motionless_steps, gmm_first=True),
            engines=ENGINES,
            reads_in_blocks=True,
        ),
    )
}
DEFAULT_METHOD = "gmm"


def get_method(name: str) -> Method:
    """The row of :data:`METHODS` called ``name``; ValueError for an unknown name."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"method must be one of {tuple(METHODS)}, got {name!r}") from None


def _prepare(data_shape: tuple, method: str, time_axis: int, rgb: "bool | None", engine: str):
    """The method's row and the layout of frames of ``data_shape``; ValueError if unfit."""
    row = get_method(method)
    if engine not in row.engines:
        able = [name for name, other in METHODS.items() if engine in other.engines]
        raise ValueError(
            f"method {method!r} does not run on engine {engine!r}; that engine serves "
            f"{', '.join(repr(name) for name in able)}"
        )
    check_time_axis(time_axis, len(data_shape))
    shape = list(data_shape)
    shape.insert(0, shape.pop(time_axis % len(shape)))
    return row, Layout.of(tuple(shape), rgb)


def _count(row: Method, layout: Layout, frames_shape: tuple, settings: Settings, reading) -> int:
    if row.per_pixel:
        return row.count_steps(frames_shape, settings)
    return row.count_steps(layout.stack_frames_shape, settings, reading) * layout.n_stacks


def _reads_in_blocks(row: Method, layout: Layout, *, per_frame: bool, keep_model: bool) -> bool:
    """Whether lazy data is read in blocks of rows for this run (else it is read whole first)."""
    return row.reads_lazy_data_in_blocks(
        per_frame=per_frame, keep_model=keep_model, n_image_axes=layout.n_image_axes
    )


def count_steps(
    data_shape: tuple,
    *,
    method: str = DEFAULT_METHOD,
    time_axis: int = 0,
    rgb: "bool | None" = None,
    engine: str = "numba",
    keep_model: bool = False,
    per_frame: bool = False,
    reading: "Reading | None" = None,
) -> int:
    """How many :class:`Progress` steps :func:`iter_background` yields for this shape.

    ``reading`` for data read on demand (not a numpy array), as
    :func:`iter_background` is given it: its reading is counted too.
    """
    settings = Settings(engine=engine)
    row, layout = _prepare(data_shape, method, time_axis, rgb, engine)
    frames_shape = (layout.n_frames, *layout.spatial_shape)
    read_steps = 0
    if reading is not None and not _reads_in_blocks(
        row, layout, per_frame=per_frame, keep_model=keep_model
    ):
        read_steps = count_whole_read_steps(data_shape, time_axis, reading)
        reading = None
    if per_frame:
        count_static = partial(row.count_steps, settings=settings)
        return read_steps + (
            drift.count_drift_steps(layout.stack_frames_shape, count_static) * layout.n_stacks
        )
    if keep_model and row.model_background and engine == "numba":
        return read_steps + count_chunks(frames_shape)
    steps = _count(row, layout, frames_shape, settings, reading)
    return read_steps + steps + (count_chunks(frames_shape) if keep_model else 0)


def iter_background(
    data: "ArrayLike",
    *,
    method: str = DEFAULT_METHOD,
    time_axis: int = 0,
    rgb: "bool | None" = None,
    n_components: int = 2,
    max_iter: int = 100,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
    engine: str = "numba",
    random_state: "int | None" = None,
    keep_model: bool = False,
    per_frame: bool = False,
    reading: "Reading | None" = None,
) -> "Generator[Progress, None, np.ndarray | tuple]":
    """:func:`extract_background` as a generator that reports progress.

    Parameters are those of :func:`extract_background`, plus:

    keep_model : bool
        Also fit the per-pixel mixture model (:func:`fit_background_model`,
        for foreground masks) and return ``(background, model)``. Where the
        method's background is that model's, one fit gives both.
    per_frame : bool
        Each frame's background, and return ``(backgrounds, drifts)``:
        ``drifts`` lists a :class:`napari_gmm_background.drift.Drift` per
        stack (channel, Z slice), with each frame's gain and the change
        frames. Not with ``keep_model``.
    reading : Reading, optional
        For ``data`` that reads its values on demand (dask, zarr: anything
        sliceable but a numpy array): how it is read
        (:class:`napari_gmm_background.reading.Reading`; by default parts
        of 16 MiB along time and blocks of rows of 256 MiB). The methods
        that read in blocks (:attr:`Method.reads_in_blocks`) never hold it
        whole; the others, and ``per_frame`` or ``keep_model`` runs, read
        it whole first, a part at a time. Either way the reading is
        counted in the steps and a close between parts stops it.

    Yields
    ------
    Progress
        :func:`count_steps` steps; closing the generator between steps
        abandons the run.

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, BackgroundModel)
        As ``StopIteration.value``.
    """
    if per_frame and keep_model:
        raise ValueError("per_frame and keep_model cannot be combined")
    settings = Settings(EMSettings(n_components, max_iter, tol, reg_covar), engine, random_state)
    if is_lazy(data):
        reading = Reading.of(data, time_axis, rgb) if reading is None else reading
        frames = LazyFrames(data, time_axis, reading)
        dtype = np.dtype(data.dtype)
    else:
        reading = None
        frames = as_frames(data, time_axis)
        dtype = np.asarray(data).dtype  # half floats are computed as float32
    row, layout = _prepare(frames.shape, method, 0, rgb, engine)
    total = count_steps(
        frames.shape,
        method=method,
        rgb=layout.rgb,
        engine=engine,
        keep_model=keep_model,
        per_frame=per_frame,
        reading=reading,
    )
    done = 0
    if reading is not None and not _reads_in_blocks(
        row, layout, per_frame=per_frame, keep_model=keep_model
    ):
        whole = yield from renumber(iter_read_whole(data, time_axis, reading), total)
        done = count_whole_read_steps(data.shape, time_axis, reading)
        frames = as_frames(whole, time_axis)
        del whole
        reading = None
    if per_frame:
        backgrounds, drifts = yield from renumber(
            _run_per_frame(frames, row, layout, settings, dtype), total, done
        )
        return np.moveaxis(backgrounds, 0, time_axis), drifts
    run = _run(frames, dtype, row, layout, settings, keep_model, reading)
    return (yield from renumber(run, total, done))


def _run_per_frame(frames, row: Method, layout: Layout, settings: Settings, dtype):
    """Each frame's background of time-first frames, in ``dtype``, and each stack's drift."""
    if frames.dtype.kind == "f" and not np.isfinite(frames).all():
        raise ValueError(NON_FINITE_MESSAGE)
    iterate = partial(row.iterate, settings=settings)
    count_static = partial(row.count_steps, settings=settings)
    shape = (layout.n_frames, *layout.stack_shape, *layout.stack_frames_shape[1:])
    dtype = np.dtype(dtype) if np.dtype(dtype).kind in "iu" else np.dtype(np.float32)
    backgrounds = None  # a whole movie: one stack's result is used as it is
    drifts = []
    for index, stack in layout.stacks(frames):
        stack_backgrounds, stack_drift = yield from drift.iter_drift(
            stack, iterate, count_static, dtype=dtype
        )
        if not layout.stack_shape:
            backgrounds = stack_backgrounds.reshape(shape)
        else:
            if backgrounds is None:
                backgrounds = np.empty(shape, dtype=dtype)
            backgrounds[(slice(None), *index)] = stack_backgrounds
        drifts.append(stack_drift)
    return backgrounds.reshape(frames.shape), drifts


def _run(frames, dtype, row: Method, layout: Layout, settings: Settings, keep_model: bool, reading):
    """:func:`iter_background` on time-first frames, its steps not yet counted as one.

    ``frames`` are :class:`LazyFrames` read as ``reading`` says, or an array.
    """
    fit_model = partial(iter_fit_background_model, **vars(settings.em))
    if keep_model and row.model_background and settings.engine == "numba":
        model = yield from fit_model(frames)
        return cast_like(model.background_mean, dtype), model
    background = yield from iter_by_stack(
        frames,
        layout,
        iterate_stack=partial(row.iterate, settings=settings),
        count_stack_steps=partial(row.count_steps, settings=settings, reading=reading),
        per_pixel=row.per_pixel,
    )
    background = cast_like(background, dtype)
    if not keep_model:
        return background
    model = yield from fit_model(frames)
    return background, model


def extract_background(
    data: "ArrayLike",
    *,
    time_axis: int = 0,
    n_components: int = 2,
    max_iter: int = 100,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
    engine: str = "numba",
    random_state: "int | None" = None,
    method: str = DEFAULT_METHOD,
    rgb: "bool | None" = None,
    per_frame: bool = False,
) -> np.ndarray:
    """Static background of a time series of images, or each frame's background.

    ``method`` picks how, from the table :data:`METHODS` (the README
    measures the quality of each):

    {methods}

    Parameters
    ----------
    data : array_like
        Images over time, of any numeric dtype: (T, Y, X), (T, Y, X, C)
        with C colour channels, (T, Z, Y, X), (T, C, Y, X)... Besides time,
        the last two axes are the image (the last three with a colour axis);
        every other axis (channels, Z slices) is an independent stack, so a
        T, C, Y, X stack gives exactly the backgrounds of its channels run
        one by one.
    time_axis : int
        The axis that is time (default the first); it is removed from the
        result. Say it for stacks like C,T,Y,X: nothing here guesses. (The
        napari widget proposes the axis labelled "t" or "time", else the
        longest axis before the image axes, and questions a time axis much
        shorter than another.)
    n_components : int
        Gaussians per pixel (the GMM rules).
    max_iter : int
        EM iterations at most, per pixel.
    tol : float
        Convergence threshold on the change of mean log-likelihood.
    reg_covar : float
        Added to every variance; keeps constant pixels finite.
    engine : {"numba", "sklearn"}
        For the Gaussian mixtures: "numba" (default) is the compiled,
        deterministic engine. "sklearn" fits scikit-learn's
        ``GaussianMixture`` once per pixel-channel, the original notebook
        loop: very slow, kept for validation.
    random_state : int or None
        Seed for the "sklearn" engine's k-means; the "numba" engine uses
        none, its initialisation is deterministic.
    method : str
        A name of :data:`METHODS`; :data:`DEFAULT_METHOD` by default.
    rgb : bool, optional
        Whether the last axis is colour (length 3 or 4), whose channels
        move together; by default guessed as napari does: a last axis of
        length 3 or 4 after at least two others.
    per_frame : bool
        Return each frame's background, for backgrounds that drift: the
        method's static background times a gain per frame over the dark
        level (bleaching, lamp drift), refitted where the scene changes
        suddenly: the movie is cut at change points found automatically
        and each segment gets its own background; a
        :class:`SceneChangeWarning` names the change frames. The result
        has ``data``'s shape, time axis kept.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        ``data``'s shape without the time axis (with it, for ``per_frame``),
        in ``data``'s dtype (integers rounded and clipped to the dtype's
        range). For a dask array (``per_frame`` reads it whole), a lazy
        dask array whose values equal those for the same data in numpy,
        computed wherever dask runs it (threads, processes, a distributed
        cluster): for the methods that read in blocks (``gmm``,
        ``motionless``, ``motionless-gmm``) one task per stack reads the
        data a part along time and a block of rows at a time (see
        :mod:`napari_gmm_background.reading`), so memory stays far below
        the data's size; for the others, blocks are rechunked to hold the
        whole time axis (and, for ``fluorescence``, whole images) and each
        is done on its own.

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
    kwargs = dict(
        method=method,
        n_components=n_components,
        max_iter=max_iter,
        tol=tol,
        reg_covar=reg_covar,
        engine=engine,
        random_state=random_state,
    )
    if per_frame:
        if _is_dask(data):
            data = data.compute()
        backgrounds, drifts = run_to_end(
            iter_background(data, time_axis=time_axis, rgb=rgb, per_frame=True, **kwargs)
        )
        message = drift.change_message(drifts)
        if message:
            import warnings

            warnings.warn(message, SceneChangeWarning, stacklevel=2)
        return backgrounds
    if _is_dask(data):
        return _extract_background_dask(data, time_axis=time_axis, rgb=rgb, **kwargs)
    return run_to_end(iter_background(data, time_axis=time_axis, rgb=rgb, **kwargs))


class SceneChangeWarning(UserWarning):
    """The scene changed suddenly: per-frame backgrounds were cut into segments there."""


# (dtype, method) pairs whose kernels this process has compiled or loaded.
_warm: "set[tuple[str, str]]" = set()
_warm_lock = threading.Lock()


def is_warm(dtype: "DTypeLike", method: str = DEFAULT_METHOD) -> bool:
    """Whether :func:`warm_up` has run for this dtype and method in this process."""
    return (np.dtype(dtype).name, method) in _warm


def warm_up(dtype: "DTypeLike", method: str = DEFAULT_METHOD) -> None:
    """Compile, or load from numba's disk cache, the kernels a run needs for this dtype and method.

    The first run after installing compiles the kernels it needs (several
    seconds); later processes load them from the cache (about a second).
    Running a small stack of this dtype through the method now, in the
    background or behind a message, spares the real run that wait. Thread
    safe: numba compiles each kernel once, and a run that needs a kernel
    being compiled waits for it.
    """
    key = (np.dtype(dtype).name, get_method(method).name)
    if key in _warm:
        return
    with _warm_lock:
        if key in _warm:
            return
        rng = np.random.default_rng(0)
        # A scene as a camera sees it (a level plus a little noise, which
        # takes the counting path for integers), in images big enough to be
        # scored on cells of 2 pixels: the kernels of a real run, not the
        # small-image shortcuts.
        frames = np.clip(100 + rng.normal(0, 2, (20, 256, 256)), 0, 255)
        extract_background(frames.astype(key[0]), method=method)
        _warm.add(key)


def start_warm_up(dtype: "DTypeLike", method: str = DEFAULT_METHOD) -> "threading.Thread | None":
    """:func:`warm_up` in a background thread; None when there is nothing to prepare.

    A failure there is left for the real run to report, where the user
    sees it (the widget's status line, the command line's error).
    """
    if is_warm(dtype, method):
        return None

    def prepare() -> None:
        try:
            warm_up(dtype, method)
        except Exception:  # said by the run that needs these kernels
            pass

    thread = threading.Thread(target=prepare, name="napari-gmm-background warm-up", daemon=True)
    thread.start()
    return thread


def _describe_methods() -> str:
    """The method list of :func:`extract_background`'s docstring, from the table."""
    import textwrap

    items = []
    for row in METHODS.values():
        default = " (default)" if row.name == DEFAULT_METHOD else ""
        item = f"- ``{row.name!r}``{default}: {row.summary}. How: {row.estimate}."
        items.append(textwrap.fill(item, 76, subsequent_indent="  "))
    return textwrap.indent("\n".join(items), "    ").lstrip()


extract_background.__doc__ = extract_background.__doc__.replace("{methods}", _describe_methods())


def _is_dask(data) -> bool:
    return hasattr(data, "__dask_graph__") and hasattr(data, "map_blocks")


def _extract_background_dask(data, *, time_axis, rgb, **kwargs):
    """Lazy background of a dask array: one front-door run per block.

    The time axis is whole in every block, and so are the image axes for
    methods that look at neighbouring pixels; pixels and stacks are
    independent, so blocks need no overlap.
    """
    Settings(
        EMSettings(kwargs["n_components"], kwargs["max_iter"], kwargs["tol"], kwargs["reg_covar"]),
        kwargs["engine"],
        kwargs["random_state"],
    )
    row, layout = _prepare(data.shape, kwargs["method"], time_axis, rgb, kwargs["engine"])
    if data.shape[time_axis] == 0:
        raise ValueError("data has no frames: its time axis has length 0")
    time_axis %= data.ndim
    if _reads_in_blocks(row, layout, per_frame=False, keep_model=False):
        return _dask_by_stack(data, time_axis=time_axis, layout=layout, kwargs=kwargs)
    others = [axis for axis in range(data.ndim) if axis != time_axis]
    n_whole = (0 if row.per_pixel else layout.n_image_axes) + layout.rgb
    whole = [time_axis] + others[len(others) - n_whole :]
    return data.rechunk({axis: -1 for axis in whole}).map_blocks(
        _block_background,
        time_axis=time_axis,
        rgb=layout.rgb,
        kwargs=kwargs,
        drop_axis=time_axis,
        dtype=data.dtype,
    )


def _block_background(block, *, time_axis, rgb, kwargs):
    return extract_background(block, time_axis=time_axis, rgb=rgb, **kwargs)


class _Unopened:
    """Holds a dask array inside a task unseen, so the task reads it, not dask beforehand."""

    def __init__(self, array):
        self.array = array


def _dask_by_stack(data, *, time_axis: int, layout: Layout, kwargs: dict):
    """Lazy background of a dask array for a method that reads in blocks: a task per stack.

    Each task reads its stack a part and a block of rows at a time (see
    :mod:`napari_gmm_background.reading`), so no worker ever holds a whole
    stack, and nothing is rechunked (dask's rechunking holds the data
    several times over).
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    name = "gmm-background-" + tokenize(data, time_axis, layout.rgb, sorted(kwargs.items()))
    image_axes = len(layout.spatial_shape) - len(layout.stack_shape)
    tasks = {}
    for index in np.ndindex(*layout.stack_shape):
        key = (name, *index, *(0,) * image_axes)
        tasks[key] = (_stack_task, _Unopened(data), time_axis, index, layout.rgb, kwargs)
    graph = HighLevelGraph.from_collections(name, tasks, dependencies=[])
    chunks = tuple((1,) * n for n in layout.stack_shape) + tuple(
        (n,) for n in layout.spatial_shape[len(layout.stack_shape) :]
    )
    return da.Array(graph, name, chunks, dtype=data.dtype)


def _stack_task(unopened: _Unopened, time_axis: int, index: tuple, rgb: bool, kwargs: dict):
    """One stack's background, as a block of the result (stack axes of length 1)."""
    data = unopened.array
    others = [axis for axis in range(data.ndim) if axis != time_axis]
    selection = [slice(None)] * data.ndim
    for axis, position in zip(others, index, strict=False):
        selection[axis] = position
    stack = data[tuple(selection)]
    stack_time_axis = time_axis - sum(axis < time_axis for axis in others[: len(index)])
    with _reading_here() as compute:
        reading = Reading.of(stack, stack_time_axis, rgb, compute=compute)
        background = run_to_end(
            iter_background(stack, time_axis=stack_time_axis, rgb=rgb, reading=reading, **kwargs)
        )
    return background.reshape((1,) * len(index) + background.shape)


@contextlib.contextmanager
def _reading_here():
    """How a task reads a dask array: on a distributed worker, through its cluster.

    A distributed worker's thread that waits for other tasks must leave the
    worker's pool meanwhile (``worker_client``), or a cluster whose threads
    all wait deadlocks; elsewhere dask computes a slice where it is asked.
    """
    try:
        from distributed import get_worker, worker_client

        get_worker()
    except (ImportError, ValueError):
        yield np.asarray
        return
    with worker_client() as client:
        yield lambda part: np.asarray(client.compute(part).result())
