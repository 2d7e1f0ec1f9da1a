"""The front door: :func:`extract_background`, for numpy arrays, lazy data and dask.

Numbers only: arrays in, arrays out.
"""

from __future__ import annotations

import textwrap
import warnings
from typing import TYPE_CHECKING

from ..core.checks import check_flag
from ..core.progress import run_to_end
from ..methods.gmm import EMSettings
from ..methods.motion import DEFAULT_N_SAMPLES, DEFAULT_TOLERANCE
from .dask_arrays import background_of_dask, is_dask
from .drift import change_message
from .run import iter_background
from .table import DEFAULT_METHOD, METHODS

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike

__all__ = ["SceneChangeWarning", "extract_background"]


class SceneChangeWarning(UserWarning):
    """The scene changed suddenly: per-frame backgrounds were cut into segments there."""


def extract_background(
    data: "ArrayLike",
    *,
    time_axis: int = 0,
    n_components: int = EMSettings.n_components,
    max_iter: int = EMSettings.max_iter,
    tol: float = EMSettings.tol,
    reg_covar: float = EMSettings.reg_covar,
    engine: str = "numba",
    random_state: "int | None" = None,
    method: str = DEFAULT_METHOD,
    rgb: "bool | None" = None,
    per_frame: bool = False,
    n_stillest: int = DEFAULT_N_SAMPLES,
    agreement: float = DEFAULT_TOLERANCE,
) -> "np.ndarray":
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
        Gaussians per pixel, for the methods that fit mixtures
        (``notebook``, ``motionless-gmm``; so are ``max_iter``, ``tol``,
        ``reg_covar``, ``engine`` and ``random_state``). A setting the
        method has no use for is refused unless it is left at its default.
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
        A name of :data:`METHODS`; :data:`DEFAULT_METHOD` (``"auto"``) by
        default, which decides from the frames which method fits each stack:
        :func:`~napari_gmm_background.choose_method` says what it decides,
        and ``iter_background(..., choices=[])`` collects it during a run.
    rgb : bool, optional
        Whether the last axis is colour (length 3 or 4), whose channels
        move together; by default guessed as napari does: a last axis of
        length 3 or 4 after at least two others.
    n_stillest : int
        Frames each pixel (or cell) keeps, those with the least motion
        around it, for the methods that look for still moments (``gmm``,
        ``motionless``, ``motionless-gmm``, and ``auto`` where it runs ``gmm``).
    agreement : float
        For the same methods: frames within this many times the stillest
        frames' spread (the median distance of a pixel's stillest frames
        from their median, over the image) of the first estimate agree with
        it and make the background (0 keeps only the stillest frames' median).
    per_frame : bool
        Return each frame's background, for backgrounds that drift: the
        method's static background times a gain per frame over the dark
        level (bleaching, lamp drift), refitted where the scene changes
        suddenly: the movie is cut at change points found automatically
        and each segment gets its own background; a
        :class:`SceneChangeWarning` names the change frames. The result
        has ``data``'s shape, time axis kept. Without it, a
        :class:`~napari_gmm_background.DriftWarning` says when the stack's
        brightness drifts by more than the noise explains (bleaching, a
        lamp, a scene change), by how much, and that ``per_frame=True``
        follows it.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        ``data``'s shape without the time axis (with it, for ``per_frame``),
        in ``data``'s dtype (integers rounded and clipped to the dtype's
        range). For a dask array (``per_frame`` reads it whole), a lazy
        dask array whose values equal those for the same data in numpy,
        computed wherever dask runs it (threads, processes, a distributed
        cluster): for the methods that read in blocks (all but
        ``notebook``) one task per stack reads the data a part along time
        and a block of rows at a time (see
        :mod:`napari_gmm_background.core.reading`), so memory stays far
        below the data's size; for ``notebook``, blocks are rechunked to
        hold the whole time axis and each is done on its own.

    Raises
    ------
    ValueError
        For a time axis of length 0, bad parameters (each named), a setting
        the method does not use, or NaN/infinite values.
    TypeError
        For data that is not real numbers.

    Examples
    --------
    >>> frames = np.random.default_rng(0).integers(0, 255, (50, 32, 32, 3), np.uint8)
    >>> extract_background(frames).shape
    (32, 32, 3)
    """
    per_frame = check_flag("per_frame", per_frame)
    settings = dict(
        n_components=n_components,
        max_iter=max_iter,
        tol=tol,
        reg_covar=reg_covar,
        engine=engine,
        random_state=random_state,
        n_stillest=n_stillest,
        agreement=agreement,
    )
    if per_frame:
        if is_dask(data):
            data = data.compute()
        run = iter_background(
            data, method=method, time_axis=time_axis, rgb=rgb, per_frame=True, **settings
        )
        backgrounds, drifts = run_to_end(run)
        message = change_message(drifts)
        if message:
            warnings.warn(message, SceneChangeWarning, stacklevel=2)
        return backgrounds
    if is_dask(data):
        return background_of_dask(data, time_axis=time_axis, rgb=rgb, method=method, **settings)
    run = iter_background(data, method=method, time_axis=time_axis, rgb=rgb, **settings)
    return run_to_end(run)


def _describe_methods() -> str:
    """The method list of :func:`extract_background`'s docstring, from the table."""
    items = []
    for entry in METHODS.values():
        default = " (default)" if entry.name == DEFAULT_METHOD else ""
        item = f"- ``{entry.name!r}``{default}: {entry.summary}. How: {entry.estimate}."
        items.append(textwrap.fill(item, 76, subsequent_indent="  "))
    return textwrap.indent("\n".join(items), "    ").lstrip()


extract_background.__doc__ = extract_background.__doc__.replace("{methods}", _describe_methods())
