"""A background run, planned once: the method's entry, the layout, how the data is read, the steps.

:func:`plan_background` makes the :class:`~napari_gmm_background.core.plan.Plan`
of a run from its arguments; :func:`iter_background` runs it (the widget
in its worker thread, the command line under its progress bar,
:func:`~napari_gmm_background.extract_background` to the end) and
:func:`count_steps` is its length. The layout is decided once
(:mod:`napari_gmm_background.core.layout`), the settings are checked once
against what the method uses, and each stack goes to the method's plan:
in memory, or, for data read on demand, a part along time and a block of
rows at a time where the method can, else read whole first.

Numbers only: arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Generator
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.checks import check_flag
from ..core.layout import Layout, as_frames, cast_like, exact_scale, time_first
from ..core.plan import Plan, sequence
from ..core.reading import InMemory, LazyFrames, Reading, computed_dtype, is_lazy, plan_read_whole
from ..methods.gmm import plan_fit
from .drift import plan_drift
from .table import DEFAULT_METHOD, Method, Settings, get_method, settings_for

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..core.progress import Progress

__all__ = ["count_steps", "iter_background", "plan_background", "reads_in_blocks"]


def plan_background(
    data: "ArrayLike | InMemory",
    *,
    method: str = DEFAULT_METHOD,
    time_axis: int = 0,
    rgb: "bool | None" = None,
    keep_model: bool = False,
    per_frame: bool = False,
    reading: "Reading | None" = None,
    choices: "list | None" = None,
    **settings,
) -> Plan:
    """The :class:`~napari_gmm_background.core.plan.Plan` of :func:`iter_background`.

    Arguments as :func:`iter_background`; ``data`` may also be an
    :class:`~napari_gmm_background.core.reading.InMemory`, the frames an
    earlier step of a caller's plan makes. Everything is checked here,
    before any step runs. ``reading`` makes ``data`` count as read on demand.
    """
    if choices is not None and not isinstance(choices, list):
        raise TypeError(f"choices must be a list to add the choices to, got {choices!r}")
    entry = get_method(method)
    checked = settings_for(entry, **settings)
    rgb = check_flag("rgb", rgb, optional=True)
    per_frame, keep_model = check_flag("per_frame", per_frame), check_flag("keep_model", keep_model)
    if reading is not None and not isinstance(reading, Reading):
        raise TypeError(
            f"reading must be a Reading (core.reading.Reading.of(data)), got {reading!r}"
        )
    if per_frame and keep_model:
        raise ValueError("per_frame and keep_model cannot be combined")
    source = _Source.of(data, time_axis, rgb, reading)
    layout = Layout.of(source.shape, rgb)
    plan_stack = _planner(entry, checked, choices, static=not per_frame)
    if source.reading is not None:
        if reads_in_blocks(entry, layout, per_frame=per_frame, keep_model=keep_model):
            return _plan_in_blocks(plan_stack, layout, source)
        read = plan_read_whole(data, time_axis, source.reading)
        source = source.read_by(read)
        in_memory = _plan_in_memory(
            entry, plan_stack, layout, source, checked, keep_model, per_frame
        )
        return read.then(in_memory)
    return _plan_in_memory(entry, plan_stack, layout, source, checked, keep_model, per_frame)


def _planner(entry: Method, settings: Settings, choices: "list | None", *, static: bool):
    """``plan(stack)``: the method's plan of one stack, with these settings.

    A static run's plan of a stack first warns where its brightness drifts
    (:class:`~napari_gmm_background.engine.drift.DriftWarning`): the default
    does so from the frames it samples to choose (and adds its choice to
    ``choices``), the other methods in a step of their own.
    """
    if entry.chooses:
        return partial(entry.plan, settings=settings, choices=choices, check_drift=static)
    plan = partial(entry.plan, settings=settings)
    return partial(_checking_drift, plan) if static else plan


def _checking_drift(plan_stack, stack) -> Plan:
    """``plan_stack(stack)``, after the steps that warn where the stack's brightness drifts."""
    from .drift import plan_drift_check

    return plan_drift_check(stack).then(plan_stack(stack))


def _check_reading(reading) -> None:
    if reading is not None and not isinstance(reading, Reading):
        raise TypeError(f"reading must be a Reading (Reading.of(data)), got {reading!r}")


def reads_in_blocks(entry: Method, layout: Layout, *, per_frame: bool, keep_model: bool) -> bool:
    """Whether a run reads lazy data in blocks of rows, rather than whole first.

    Per-frame backgrounds and the mixture model need every frame at once,
    and blocks of rows need two image axes.
    """
    return entry.reads_in_blocks and layout.n_image_axes == 2 and not (per_frame or keep_model)


class _Source:
    """A run's frames: their time-first shape, dtypes, and how to get them.

    ``dtype`` is the input's (results are cast back to it), ``computed`` the
    one the methods compute with (half floats as float32); ``frames()``
    gives the time-first array, and ``reading`` says how lazy data is read
    (None for data in memory).
    """

    def __init__(self, shape, dtype, frames, time_axis: int, reading=None, data=None):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.computed = computed_dtype(dtype)
        self._frames = frames
        self.time_axis = time_axis  # the input's, which per-frame results keep
        self.reading = reading
        self.data = data
        self.scale = None
        self._scaled = None

    def frames(self) -> np.ndarray:
        """The time-first frames, float ones scaled into the safe range (see :meth:`unscale`).

        Float data far from 1 (beyond 2**60, below 2**-60) is computed scaled
        by a power of two, exactly, so that no square or sum overflows; NaN
        or infinite input is refused here, once.
        """
        if self.scale is None:
            values = self._frames()
            self.scale = exact_scale(values)
            self._scaled = values * values.dtype.type(self.scale) if self.scale != 1 else values
        return self._scaled

    def unscale(self, values: np.ndarray) -> np.ndarray:
        """A background (or offsets) of the scaled frames, in the frames' own units."""
        if not self.scale or self.scale == 1:
            return values
        return values / np.asarray(self.scale, dtype=values.dtype)

    @classmethod
    def of(cls, data, time_axis: int, rgb, reading: "Reading | None") -> "_Source":
        if isinstance(data, InMemory):
            shape = time_first(data.shape, time_axis)
            return cls(shape, data.dtype, lambda: as_frames(data.array(), time_axis), time_axis)
        # An InMemory's values come from earlier steps; an array is checked now.
        if is_lazy(data) or reading is not None:
            lazy = LazyFrames(data, time_axis, reading or Reading.of(data, time_axis, rgb))
            return cls(lazy.shape, data.dtype, None, time_axis, lazy.reading, lazy)
        frames = as_frames(data, time_axis)  # checked now: dtype, axes, frames
        return cls(frames.shape, np.asarray(data).dtype, lambda: frames, time_axis)

    def read_by(self, read: Plan) -> "_Source":
        """The same frames in memory, once ``read`` has read them whole."""
        whole = []

        def frames() -> np.ndarray:
            if not whole:
                whole.append(as_frames(read.result(), self.time_axis))
            return whole[0]

        return _Source(self.shape, self.dtype, frames, self.time_axis)

    def stack(self, layout: Layout, index: tuple) -> InMemory:
        """One (T, Y, X, colours) stack of the frames, in memory."""

        def values() -> np.ndarray:
            return self.frames()[(slice(None), *index)].reshape(layout.stack_shape)

        return InMemory(layout.stack_shape, self.computed, values)


def _plan_in_blocks(plan_stack, layout: Layout, source: _Source) -> Plan:
    """Each stack read on demand by the method: parts along time, then blocks of rows."""
    plans = [plan_stack(stack) for _, stack in source.data.stacks(layout)]
    # The assembled floats are this run's own: rounded in place, not copied.
    return sequence(plans, partial(_assemble, layout=layout)).map(
        partial(cast_like, dtype=source.dtype, overwrite=True)
    )


def _plan_in_memory(entry, plan_stack, layout, source: _Source, settings, keep_model, per_frame):
    if per_frame:
        return _plan_per_frame(plan_stack, layout, source)
    static = _plan_static(entry, plan_stack, layout, source).map(source.unscale)
    if not keep_model:
        # The floats are the run's own (no model shares them): rounded in
        # place, which spares a frame-sized temporary and its page faults.
        return static.map(partial(cast_like, dtype=source.dtype, overwrite=True))
    return _plan_with_model(entry, layout, source, settings, static)


def _plan_static(entry: Method, plan_stack, layout: Layout, source: _Source) -> Plan:
    """The method's background of every stack, as floats of the layout's spatial shape."""
    if entry.per_pixel:  # the layout is nothing to it: all the frames at once, as they are
        return plan_stack(InMemory(source.shape, source.computed, source.frames))
    stacks = [source.stack(layout, index) for index in np.ndindex(*layout.stacks_shape)]
    plans = [plan_stack(stack) for stack in stacks]
    return sequence(plans, partial(_assemble, layout=layout))


def _assemble(backgrounds: "list[np.ndarray]", layout: Layout) -> np.ndarray:
    """The backgrounds of the stacks, in order, as one of the layout's spatial shape."""
    if len(backgrounds) == 1 and not layout.stacks_shape:
        return backgrounds[0].reshape(layout.spatial_shape)
    whole = np.empty(layout.stacks_shape + layout.stack_shape[1:])
    for index, background in zip(np.ndindex(*layout.stacks_shape), backgrounds, strict=True):
        whole[index] = background
    return whole.reshape(layout.spatial_shape)


def _plan_with_model(entry, layout, source: _Source, settings: Settings, static: Plan) -> Plan:
    """The background and the notebook rule's mixture model: ``(background, model)``."""
    model = plan_fit(source.shape, settings.em, source.frames, store_model=True)
    model = model.map(partial(_unscaled_model, source=source))
    if entry.model_background and settings.engine == "numba":  # one fit gives both
        return model.map(lambda fitted: (cast_like(fitted.background_mean, source.dtype), fitted))
    return sequence([static, model], lambda both: (cast_like(both[0], source.dtype), both[1]))


def _unscaled_model(model, source: _Source):
    """The mixture model of scaled frames in the frames' units: means and deviations scale."""
    if not source.scale or source.scale == 1:
        return model
    from dataclasses import replace

    return replace(
        model, means=model.means / source.scale, variances=model.variances / source.scale**2
    )


def _plan_per_frame(plan_static, layout: Layout, source: _Source) -> Plan:
    """Each frame's background and each stack's drift: ``(backgrounds, drifts)``."""
    # In the input's dtype (floats as computed: half floats as float32).
    out_dtype = source.dtype if source.dtype.kind in "iu" else source.computed
    shape = (layout.n_frames, *layout.stacks_shape, *layout.stack_shape[1:])
    backgrounds: "list[np.ndarray]" = []

    def store(index: tuple, made: "tuple[np.ndarray, Any]"):
        """A stack's backgrounds into the movie's, as soon as they are made; its drift."""
        stack_backgrounds, drift = made
        if source.scale != 1:  # float frames computed scaled: offsets scale too, gains not
            from dataclasses import replace

            stack_backgrounds = source.unscale(stack_backgrounds)
            drift = replace(drift, offset=source.unscale(drift.offset))
        if not layout.stacks_shape:
            backgrounds.append(stack_backgrounds.reshape(shape))
            return drift
        if not backgrounds:
            backgrounds.append(np.empty(shape, dtype=out_dtype))
        backgrounds[0][(slice(None), *index)] = stack_backgrounds
        return drift

    plans = [
        plan_drift(source.stack(layout, index), plan_static, dtype=out_dtype).map(
            partial(store, index)
        )
        for index in np.ndindex(*layout.stacks_shape)
    ]

    def combine(drifts: list):
        movie = backgrounds.pop().reshape(source.shape)
        return np.moveaxis(movie, 0, source.time_axis), drifts

    return sequence(plans, combine)


def iter_background(
    data: "ArrayLike",
    *,
    method: str = DEFAULT_METHOD,
    time_axis: int = 0,
    rgb: "bool | None" = None,
    keep_model: bool = False,
    per_frame: bool = False,
    reading: "Reading | None" = None,
    choices: "list | None" = None,
    **settings,
) -> "Generator[Progress, None, np.ndarray | tuple]":
    """:func:`~napari_gmm_background.extract_background` as a generator that reports progress.

    Parameters are those of :func:`~napari_gmm_background.extract_background`
    (``settings`` its settings, from ``n_components`` to ``agreement``), plus:

    keep_model : bool
        Also fit the notebook rule's per-pixel mixture model
        (:func:`~napari_gmm_background.fit_background_model`) and return
        ``(background, model)``. Where the method's background is that
        model's, one fit gives both.
    per_frame : bool
        Each frame's background, and return ``(backgrounds, drifts)``:
        ``drifts`` lists a :class:`napari_gmm_background.engine.drift.Drift`
        per stack (channel, Z slice), with each frame's gain and the change
        frames. Not with ``keep_model``.
    reading : Reading, optional
        For ``data`` that reads its values on demand (dask, zarr: anything
        sliceable but a numpy array): how it is read
        (:class:`napari_gmm_background.core.reading.Reading`; by default
        parts of 16 MiB along time and blocks of rows of 256 MiB). The
        methods that read in blocks never hold it whole; the others, and
        ``per_frame`` or ``keep_model`` runs, read it whole first, a part
        at a time. Either way the reading is counted in the steps.
    choices : list, optional
        For the default method (``"auto"``), which decides from the frames
        which method to run: each stack's
        :class:`~napari_gmm_background.engine.choice.Choice` is added to it
        as the run makes it (per-frame runs: one for each background fitted).
        :func:`~napari_gmm_background.choose_method` makes the same choices
        without a run.

    Yields
    ------
    Progress
        :func:`count_steps` steps; closing the generator between steps
        abandons the run.

    Returns
    -------
    numpy.ndarray or tuple
        As ``StopIteration.value``: the background, or ``(background,
        model)`` or ``(backgrounds, drifts)``.
    """
    _check_reading(reading)
    if not is_lazy(data):
        reading = None  # data in memory is read as it is
    plan = plan_background(
        data,
        method=method,
        time_axis=time_axis,
        rgb=rgb,
        keep_model=keep_model,
        per_frame=per_frame,
        reading=reading,
        choices=choices,
        **settings,
    )
    return plan.run()


def count_steps(
    data_shape: tuple,
    *,
    method: str = DEFAULT_METHOD,
    time_axis: int = 0,
    rgb: "bool | None" = None,
    keep_model: bool = False,
    per_frame: bool = False,
    reading: "Reading | None" = None,
    dtype="uint8",
    **settings,
) -> int:
    """How many steps :func:`iter_background` yields for data of this shape: its plan's length.

    ``reading`` for data read on demand, as :func:`iter_background` is given it.
    """
    # A stand-in of that shape that holds nothing: a broadcast zero.
    stand_in = np.broadcast_to(np.zeros((), dtype=dtype), data_shape)
    plan = plan_background(
        stand_in,
        method=method,
        time_axis=time_axis,
        rgb=rgb,
        keep_model=keep_model,
        per_frame=per_frame,
        reading=reading,
        **settings,
    )
    return plan.n_steps
