"""napari widget: the per-pixel GMM background of any image layer.

Thin glue: it picks the frames, runs the engine's progress generator
(:func:`napari_gmm_background.iter_background`, the one
``extract_background`` runs) in napari's ``thread_worker``, and turns the
result into layers. Nothing is added until a run has finished.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    PushButton,
    SpinBox,
)

from ..engine.run import DEFAULT_METHOD, METHODS

if TYPE_CHECKING:
    import napari
    import numpy as np

# Axis labels that name the time axis, compared in lower case.
TIME_AXIS_LABELS = ("t", "time", "frame", "frames")

# What a run adds: the background, the stack with the background applied, or both.
OUTPUTS = ("background", "corrected stack", "background and corrected stack")


@dataclass(frozen=True)
class RunSettings:
    """What one run was asked to do, fixed when it starts."""

    layer_name: str
    rgb: bool
    time_axis: int
    frames: slice
    n_components: int
    method: str
    max_iter: int
    tol: float
    reg_covar: float
    mask_threshold: "float | None"
    scale: tuple
    translate: tuple
    per_frame: bool = False
    output: str = OUTPUTS[0]
    correction: str = "subtract"
    dark: float = 0.0
    min_size: int = 0
    # The input layer's look, which its results keep (channels stay told apart).
    units: tuple = ()
    axis_labels: tuple = ()
    colormap: Any = None
    blending: "str | None" = None
    # How a lazy layer is read (napari_gmm_background.reading.Reading); None in memory.
    reading: Any = None


@dataclass(frozen=True)
class JobResult:
    """What a run made: the layers' data and what to tell the user."""

    background: "np.ndarray | None"
    corrected: "np.ndarray | None"
    mask: "np.ndarray | None"
    message: str = ""
    drifts: "list | None" = None
    """Per-frame runs: each stack's :class:`napari_gmm_background.drift.Drift`."""


@dataclass(frozen=True)
class JobFailed:
    """A run that stopped on bad input, with the message for the user."""

    message: str


def background_job(frames: Any, settings: RunSettings):
    """Generator run by the worker: yields progress, returns the layers' data.

    Runs :func:`napari_gmm_background.engine.iter_background`, the generator
    ``extract_background`` runs, then :func:`napari_gmm_background.apply_background`
    and :func:`napari_gmm_background.foreground_labels` where asked for, and
    returns a :class:`JobResult`, or a :class:`JobFailed` for input the
    engine refuses.
    """

    from ..core.reading import iter_read_whole
    from ..engine.correction import apply_background
    from ..engine.drift import change_message
    from ..engine.masks import iter_foreground_labels
    from ..engine.run import iter_background

    try:
        # A lazy layer (dask, zarr, a video decoded on demand) is read here, off
        # the GUI thread: by gmm and motionless a block of rows at a time.
        reading = settings.reading
        if _reads_whole_first(settings):
            frames = yield from iter_read_whole(frames, settings.time_axis, reading)
            reading = None
        result = yield from iter_background(
            frames,
            method=settings.method,
            time_axis=settings.time_axis,
            rgb=settings.rgb,
            n_components=settings.n_components,
            max_iter=settings.max_iter,
            tol=settings.tol,
            reg_covar=settings.reg_covar,
            per_frame=settings.per_frame,
            reading=reading,
        )
        message = ""
        background, drifts = result, None
        if settings.per_frame:
            background, drifts = result
            message = _drift_message(drifts, change_message(drifts))
        corrected = None
        if settings.output != OUTPUTS[0]:
            corrected = apply_background(
                frames,
                background,
                mode=settings.correction,
                dark=settings.dark,
                time_axis=settings.time_axis,
            )
            yield
        mask = None
        if settings.mask_threshold is not None:
            mask = yield from iter_foreground_labels(
                frames,
                background,
                threshold=settings.mask_threshold,
                min_size=settings.min_size,
                time_axis=settings.time_axis,
                rgb=settings.rgb,
            )
    except (ValueError, TypeError, MemoryError) as error:
        return JobFailed(str(error) or type(error).__name__)
    except Exception as error:  # a decoder's or a kernel's: said, and the viewer keeps working
        return JobFailed(f"{type(error).__name__}: {error}")
    wants_background = settings.output != OUTPUTS[1]
    return JobResult(background if wants_background else None, corrected, mask, message, drifts)


def count_job_steps(frames: Any, settings: RunSettings) -> int:
    """How many steps :func:`background_job` yields for these frames and settings."""
    from ..core.reading import count_whole_read_steps
    from ..engine.run import count_steps

    whole_first = _reads_whole_first(settings)
    wants_mask = settings.mask_threshold is not None
    # The engine's steps (with its reading), the correction and a step per mask.
    steps = count_steps(
        frames.shape,
        method=settings.method,
        time_axis=settings.time_axis,
        rgb=settings.rgb,
        per_frame=settings.per_frame,
        reading=None if whole_first else settings.reading,
    )
    steps += (settings.output != OUTPUTS[0]) + wants_mask * frames.shape[settings.time_axis]
    if whole_first:
        steps += count_whole_read_steps(frames.shape, settings.time_axis, settings.reading)
    return steps


def _drift_message(drifts: list, changes: str) -> str:
    """How the background drifted, for the status line: brightness and change frames."""
    import numpy as np

    brightness = np.mean([one.brightness for one in drifts], axis=0)
    said = (
        f"background brightness from {brightness.min():.2f} to {brightness.max():.2f} "
        "of the first frame's"
    )
    return f"{said}; {changes}" if changes else said


class BackgroundWidget(Container):
    """Extract the static background of an image layer over time.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose image layers are offered, and where results go.
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = viewer
        self._worker = None
        self.job = None  # the last run's generator
        # The brightness plot of per-frame runs, made on the first one (matplotlib loads then).
        self.drift_plot = None
        self.warm_up_thread = None
        self._axis_doubt = ""  # what the status line last said about the time axis

        self.image = ComboBox(label="image", choices=self._image_layers)
        self.time_axis = SpinBox(
            label="time axis", min=0, max=0, tooltip="layer axis that is time (frames)"
        )
        self.n_components = SpinBox(
            label="components",
            value=2,
            min=1,
            max=12,
            tooltip="Gaussians per pixel; the background is the heaviest",
        )
        self.method = ComboBox(
            label="method",
            choices=list(METHODS),
            value=DEFAULT_METHOD,
            tooltip="\n".join(f"{row.name}: {row.summary}." for row in METHODS.values()),
        )
        self.first_frame = SpinBox(label="first frame", min=0, max=2**31 - 1)
        self.stop_frame = SpinBox(
            label="stop frame",
            min=0,
            max=2**31 - 1,
            tooltip="frames before this one are used; 0 = to the end",
        )
        self.frame_step = SpinBox(label="frame step", value=1, min=1, max=2**31 - 1)
        self.per_frame = CheckBox(
            text="background per frame (drift)",
            tooltip=(
                "each frame's background: the static one times a gain per frame over the "
                "dark level (bleaching, lamp drift), cut into segments where the scene "
                "changes suddenly"
            ),
        )
        self.output = ComboBox(label="add", choices=list(OUTPUTS), value=OUTPUTS[0])
        self.correction = ComboBox(
            label="correction",
            choices=["subtract", "divide"],
            value="subtract",
            tooltip=(
                "subtract: frame - background. divide (flat-field): (frame - dark) / "
                "(background - dark), times the mean of background - dark"
            ),
        )
        self.dark = FloatSpinBox(
            label="dark level",
            value=0.0,
            min=-1e9,
            max=1e9,
            step=1.0,
            tooltip="the camera's offset: the value with no light (for divide)",
        )
        self.foreground = CheckBox(text="add foreground mask")
        self.threshold = FloatSpinBox(
            label="mask threshold",
            value=4.0,
            min=0.5,
            max=100.0,
            step=0.5,
            tooltip=(
                "foreground: farther from the background than this many standard deviations "
                "of the noise, measured at every brightness"
            ),
        )
        self.min_size = SpinBox(
            label="min object size",
            value=0,
            min=0,
            max=2**31 - 1,
            tooltip="objects of fewer pixels are dropped from the mask",
        )
        self.advanced = CheckBox(text="advanced EM settings")
        self.max_iter = SpinBox(label="max iterations", value=100, min=1, max=100_000)
        self.tol = FloatSpinBox(
            label="tolerance",
            value=1e-3,
            min=1e-9,
            max=10.0,
            step=1e-4,
            tooltip="stop when the mean log-likelihood changes less",
        )
        self.reg_covar = FloatSpinBox(
            label="variance floor",
            value=1e-6,
            min=1e-9,
            max=1e6,
            step=1e-7,
            tooltip="added to every variance",
        )
        self.run_button = PushButton(text="Extract background")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.status = Label(value="")
        # Long messages wrap onto more lines instead of widening the dock for good.
        self.status.native.setWordWrap(True)
        self.extend(
            [
                self.image,
                self.time_axis,
                self.method,
                self.n_components,
                self.first_frame,
                self.stop_frame,
                self.frame_step,
                self.per_frame,
                self.output,
                self.correction,
                self.dark,
                self.foreground,
                self.threshold,
                self.min_size,
                self.advanced,
                self.max_iter,
                self.tol,
                self.reg_covar,
                self.run_button,
                self.cancel_button,
                self.status,
            ]
        )
        # A dock widget, not a panel: leave the canvas most of the window.
        self.native.setMaximumWidth(420)
        self.threshold.visible = False
        self.min_size.visible = False
        self.correction.visible = False
        self.dark.visible = False
        for widget in self._advanced_widgets:
            widget.visible = False

        self.foreground.changed.connect(self._show_mask_settings)
        self.output.changed.connect(self._show_correction_settings)
        self.advanced.changed.connect(self._show_advanced)
        self.method.changed.connect(self._on_method_changed)
        self._on_method_changed(self.method.value)
        self.image.changed.connect(self._on_image_changed)
        self.time_axis.changed.connect(self._check_time_axis)
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        for event in ("inserted", "removed", "reordered"):
            getattr(viewer.layers.events, event).connect(self._refresh_layers)
        active = viewer.layers.selection.active
        if active in self.image.choices:
            self.image.value = active
        # The kernels the selected layer and method need are compiled (first use
        # after installing) or loaded while the user sets things up, not after the click.
        self.image.changed.connect(self._warm_up)
        self.method.changed.connect(self._warm_up)
        self._warm_up()
        self._on_image_changed(self.image.value)

    # -- choices -------------------------------------------------------------
    @property
    def _advanced_widgets(self):
        return (self.max_iter, self.tol, self.reg_covar)

    def _show_mask_settings(self, on: bool):
        self.threshold.visible = on
        self.min_size.visible = on

    def _show_correction_settings(self, output: str):
        corrects = output != OUTPUTS[0]
        self.correction.visible = corrects
        self.dark.visible = corrects

    def _show_advanced(self, on: bool):
        for widget in self._advanced_widgets:
            widget.visible = on

    def _on_method_changed(self, name: str):
        """Offer the EM settings only to the methods that fit mixtures."""
        fits = METHODS[name].fits_mixtures
        self.n_components.visible = fits
        self.advanced.visible = fits
        self._show_advanced(fits and self.advanced.value)

    def _image_layers(self, _widget=None) -> list:
        from napari.layers import Image

        return [layer for layer in self._viewer.layers if isinstance(layer, Image)]

    def _refresh_layers(self, _event=None):
        self.image.reset_choices()

    def _on_image_changed(self, layer):
        if layer is None:
            return
        self.time_axis.max = max(layer.ndim - 1, 0)
        self.time_axis.value = default_time_axis(layer)
        self._check_time_axis()

    def _check_time_axis(self, _value=None):
        """Say so, before any run, when the time axis looks like the wrong one."""
        layer = self.image.value
        if layer is None or not self._alive():
            return
        doubt = time_axis_doubt(layer, self.time_axis.value)
        if doubt or self.status.value == self._axis_doubt:  # a new doubt, or the old one gone
            self.status.value = doubt
        self._axis_doubt = doubt

    # -- running -------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._worker is not None

    def _alive(self) -> bool:
        """Whether the widget's Qt side still exists (the viewer may close during a run)."""
        try:
            self.native.objectName()
        except RuntimeError:  # "wrapped C/C++ object ... has been deleted"
            return False
        return True

    def _say(self, message: str, *, warn: bool = False):
        if not self._alive():
            return
        self.status.value = message
        if warn:
            from napari.utils.notifications import show_warning

            show_warning(message)

    def _warm_up(self, _value=None) -> "threading.Thread | None":
        """Prepare the engine for the selected layer's dtype and method in a background thread."""
        from ..engine.run import start_warm_up

        layer = self.image.value
        dtype = getattr(getattr(layer, "data", None), "dtype", None)
        if dtype is None:
            return None
        thread = start_warm_up(dtype, self.method.value)
        if thread is not None:
            self.warm_up_thread = thread
        return thread

    def run(self):
        """Start a run on the selected layer (in a worker thread); returns the worker."""
        if self.running:
            return self._worker
        layer = self.image.value
        if layer is None:
            self._say("Add or select an image layer first.", warn=True)
            return None
        try:
            frames, settings = self._prepare(layer)
        except ValueError as error:
            self._say(str(error), warn=True)
            return None

        from napari.qt.threading import create_worker

        from ..engine.run import is_warm

        steps = count_job_steps(frames, settings)
        if settings.reading is not None:
            _release_read_buffers_when_freed()
        # The job is made here so that a cancelled one can be closed at once:
        # closing it lets go of everything it read (a lazy layer's frames).
        job = background_job(frames, settings)
        self.job = job
        worker = create_worker(
            _run_job,
            job,
            _progress={"total": steps, "desc": f"Background of {layer.name}"},
        )
        worker.returned.connect(lambda result: self._on_returned(result, settings))
        worker.aborted.connect(job.close)
        worker.aborted.connect(lambda: self._say("Cancelled: nothing was added."))
        worker.finished.connect(self._on_finished)
        self._worker = worker
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        self._say(
            f"Working on {layer.name}..."
            if is_warm(frames.dtype, settings.method)
            else f"Working on {layer.name} (preparing the engine for {frames.dtype} data: "
            "the first run after installing compiles it, about 10 s)..."
        )
        worker.start()
        return worker

    def cancel(self):
        """Ask a running job to stop; it does within one chunk of pixels."""
        if self._worker is not None:
            self._worker.quit()

    def _on_finished(self):
        self._worker = None
        _give_memory_back()
        if not self._alive():
            return
        self.run_button.enabled = True
        self.cancel_button.enabled = False

    def _prepare(self, layer) -> "tuple[Any, RunSettings]":
        """The selected frames and the run's settings; ValueError says what is wrong."""
        import numpy as np

        if layer.multiscale:
            raise ValueError(f"{layer.name} is multiscale; pick a single-scale layer.")
        if layer.ndim < 3:
            raise ValueError(
                f"{layer.name} has no time axis: it is a single {layer.ndim}-D image. "
                "A background needs a stack of frames (time plus two image axes)."
            )
        time_axis = self.time_axis.value
        if not 0 <= time_axis < layer.ndim:
            raise ValueError(f"time axis {time_axis} is outside {layer.name}'s {layer.ndim} axes.")
        data = layer.data
        n_frames = data.shape[time_axis]
        stop = self.stop_frame.value or None  # 0: to the end
        frames_slice = slice(self.first_frame.value, stop, self.frame_step.value)
        n_selected = len(range(n_frames)[frames_slice])
        if n_selected == 0:
            raise ValueError(
                f"no frames selected: {layer.name} has {n_frames} frames on axis {time_axis}."
            )
        if n_selected == n_frames:
            frames_slice = slice(None)  # every frame: the results' names need not say which
        n_components = self.n_components.value
        if METHODS[self.method.value].fits_mixtures and n_selected < n_components:
            raise ValueError(
                f"{n_selected} frame(s) selected, fewer than the {n_components} components: "
                "select more frames or fewer components."
            )
        index = (slice(None),) * time_axis + (frames_slice,)
        frames = _lazy(data)[index]
        reading = None
        if not isinstance(frames, np.ndarray):
            reading = self._reading(layer, frames, time_axis)
        scale = tuple(layer.scale)
        scale = tuple(layer.scale)
        translate = tuple(layer.translate)
        settings = RunSettings(
            layer_name=layer.name,
            rgb=layer.rgb,
            time_axis=time_axis,
            frames=frames_slice,
            n_components=n_components,
            method=self.method.value,
            max_iter=self.max_iter.value,
            tol=self.tol.value,
            reg_covar=self.reg_covar.value,
            mask_threshold=self.threshold.value if self.foreground.value else None,
            scale=scale,
            translate=translate,
            per_frame=self.per_frame.value,
            output=self.output.value,
            correction=self.correction.value,
            dark=self.dark.value,
            min_size=self.min_size.value,
            units=tuple(getattr(layer, "units", ())),
            axis_labels=tuple(getattr(layer, "axis_labels", ())),
            colormap=None if layer.rgb else layer.colormap,
            blending=layer.blending,
            reading=reading,
        )
        return frames, settings

    def _reading(self, layer, frames, time_axis: int):
        """How a lazy selection is read; ValueError where the run would not fit the memory budget.

        gmm and motionless read a block of rows at a time, at most half the
        budget; runs that need every frame in memory at once (the other
        methods, per-frame backgrounds, foreground masks) must fit it whole.
        """
        from ..core.reading import READ_BLOCK_BYTES, Reading
        from ..engine.run import METHODS
        from ..io.video import format_bytes, memory_budget

        budget = memory_budget()
        block_bytes = min(READ_BLOCK_BYTES, budget // 2)
        reading = Reading.of(frames, time_axis, layer.rgb, block_bytes=block_bytes)
        method = METHODS[self.method.value]
        # Masks are made from every frame at once too (see _reads_whole_first).
        in_blocks = method.reads_lazy_data_in_blocks(per_frame=self.per_frame.value)
        whole = not in_blocks or self.foreground.value
        size = math.prod(frames.shape) * reading.itemsize
        if whole and size > budget:
            why = (
                "per-frame backgrounds need"
                if self.per_frame.value
                else "foreground masks need"
                if self.foreground.value
                else f"{method.name} needs"
            )
            block_methods = [name for name, row in METHODS.items() if row.reads_in_blocks]
            raise ValueError(
                f"the selected frames of {layer.name} take {format_bytes(size)} in memory, "
                f"over the {format_bytes(budget)} budget, and {why} them all at once. "
                f"{' and '.join(block_methods[:2])} (without per-frame or masks) read a block of "
                "rows at a time; or select fewer frames (a frame step, or first and stop "
                "frames), or crop the layer (for example layer.data[:, 0:512, 0:512] into a "
                "new layer)."
            )
        return reading

    def _on_returned(self, result, settings: RunSettings):
        if not self._alive():
            return
        if result is None:
            return
        if isinstance(result, JobFailed):
            self._say(f"{settings.layer_name}: {result.message}", warn=True)
            return
        try:
            self._add_layers(result, settings)
        except Exception as error:  # napari refusing the data: said, never a stuck status
            self._say(f"{settings.layer_name}: could not add the result: {error}", warn=True)

    def _add_layers(self, result: JobResult, settings: RunSettings):
        t = settings.time_axis
        # Layers over the selected frames: where they start, at their step.
        step = settings.frames.step or 1
        over_time = {"scale": list(settings.scale), "translate": list(settings.translate)}
        over_time["translate"][t] += (settings.frames.start or 0) * settings.scale[t]
        over_time["scale"][t] *= step
        one_image = {
            "scale": settings.scale[:t] + settings.scale[t + 1 :],
            "translate": settings.translate[:t] + settings.translate[t + 1 :],
        }
        # Units and axis labels too, so napari keeps using the units (it drops
        # them when layers disagree), and the input's colours and blending.
        for name in ("units", "axis_labels"):
            values = getattr(settings, name)
            if values:
                over_time[name] = values
                one_image[name] = values[:t] + values[t + 1 :]
        look = {"blending": settings.blending} if settings.blending else {}
        if settings.colormap is not None:
            look["colormap"] = settings.colormap
        added = []
        tag = result_tag(settings)
        if result.background is not None:
            name = f"{settings.layer_name} background ({tag})"
            attributes = dict(over_time if settings.per_frame else one_image, **look)
            if not settings.rgb:
                attributes["contrast_limits"] = display_range(result.background)
            self._put_layer(name, result.background, "image", rgb=settings.rgb, **attributes)
            added.append(name)
        if result.corrected is not None:
            name = f"{settings.layer_name} corrected ({tag}, {settings.correction})"
            attributes = dict(over_time, contrast_limits=display_range(result.corrected), **look)
            self._put_layer(name, result.corrected, "image", rgb=settings.rgb, **attributes)
            added.append(name)
        if result.mask is not None:
            name = f"{settings.layer_name} foreground ({tag}, {settings.mask_threshold:g} sd)"
            self._put_layer(name, result.mask, "labels", **over_time)
            added.append(name)
        self._show_drift(result.drifts, settings.layer_name)
        said = "Added " + " and ".join(repr(n) for n in added) + "."
        self._say(
            f"{said} {result.message[0].upper()}{result.message[1:]}." if result.message else said
        )

    def _show_drift(self, drifts: "list | None", layer_name: str):
        """Plot each frame's background brightness and the change frames, or hide the plot."""
        if drifts is None:
            if self.drift_plot is not None:
                self.drift_plot.hide()
            return
        from ..plots import draw_drift

        if self.drift_plot is None:
            from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
            from matplotlib.figure import Figure

            self.drift_plot = FigureCanvasQTAgg(Figure(figsize=(3.2, 1.9), layout="constrained"))
            self.drift_plot.setFixedHeight(190)
            self.drift_plot.figure.add_subplot()
            self.native.layout().addWidget(self.drift_plot)
        axes = self.drift_plot.figure.axes[0]
        draw_drift(axes, drifts)
        axes.set_title(f"{layer_name} background", fontsize="small")
        axes.tick_params(labelsize="x-small")
        axes.xaxis.label.set_fontsize("small")
        axes.yaxis.label.set_fontsize("small")
        self.drift_plot.draw_idle()
        self.drift_plot.show()

    def _put_layer(self, name: str, data: "np.ndarray", kind: str, **attributes):
        """Add a layer, or update the one a previous run added."""
        from napari.layers import Image, Labels

        layers = self._viewer.layers
        if name in layers:
            existing = layers[name]
            compatible = (
                isinstance(existing, Image if kind == "image" else Labels)
                and existing.data.shape == data.shape
                and getattr(existing, "rgb", False) == attributes.get("rgb", False)
            )
            if compatible:
                existing.data = data
                for key, value in attributes.items():
                    if key != "rgb":
                        setattr(existing, key, value)
                return existing
            layers.remove(existing)
        add = self._viewer.add_image if kind == "image" else self._viewer.add_labels
        return add(data, name=name, **attributes)


def _reads_whole_first(settings: RunSettings) -> bool:
    """Whether a run reads its lazy frames whole before the background: masks need them all."""
    return settings.reading is not None and settings.mask_threshold is not None


def _lazy(data):
    """Layer data to select frames from without reading any: in memory, or dask.

    A lazily decoded video and arrays that read on demand (zarr, h5py) are
    seen as dask arrays along their own chunks, so selecting frames in the
    GUI thread reads nothing; the run reads them in its worker.
    """
    import numpy as np

    if isinstance(data, np.ndarray) or hasattr(data, "__dask_graph__"):
        return data
    if hasattr(data, "to_dask"):
        return data.to_dask()
    import dask.array as da

    return da.from_array(data, chunks=getattr(data, "chunks", None) or "auto")


def _release_read_buffers_when_freed() -> None:
    """Have glibc return every buffer over 128 KiB to the system when it is freed.

    Reading a lazy layer (dask, zarr) decompresses chunks of a few MB, again
    and again, in several threads. glibc's default raises its mmap threshold
    past the largest buffer freed so far, so these come from per-thread
    heaps that keep 60-150 MB for the viewer's lifetime, even after a
    cancel. A fixed threshold (glibc's own default before it adapts) maps
    and unmaps each; speed measured unchanged. Elsewhere nothing.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc (musl)
        pass


def _give_memory_back() -> None:
    """Return the heap a finished or cancelled run freed to the system (glibc only).

    Reading a lazy layer leaves many small freed blocks in the C heap, which
    glibc keeps for the process (about 100 MB after a 600 MB dask layer)
    unless asked; distributed's workers ask the same way. Elsewhere nothing.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl)
        pass


def _run_job(job):
    """The worker's generator: ``job``'s steps and result (``job`` stays closable from outside)."""
    return (yield from job)


def result_tag(settings: RunSettings) -> str:
    """What tells a run's results apart, for their layer names: "gmm", "fluorescence, per frame".

    Runs with other methods or settings add layers of their own, to compare
    side by side; a re-run with the same settings replaces its layers.
    """
    from ..engine.run import METHODS

    parts = [settings.method]
    if settings.per_frame:
        parts.append("per frame")
    frames = settings.frames
    if frames != slice(None):
        start, stop, step = frames.start or 0, frames.stop, frames.step or 1
        parts.append(f"frames {start}:{'' if stop is None else stop}" + (f":{step}" * (step != 1)))
    if METHODS[settings.method].fits_mixtures and settings.n_components != 2:
        parts.append(f"{settings.n_components} components")
    return ", ".join(parts)


def default_time_axis(layer) -> int:
    """A layer's time axis: the one labelled as time, else its longest stack axis.

    Stack axes are those before the image: all but the last two (three for
    RGB). A C,T,Y,X stack without labels then runs over its frames, not its
    two channels; equal lengths go to the first.
    """
    labels = [str(label).lower() for label in getattr(layer, "axis_labels", ())]
    for index, label in enumerate(labels):
        if label in TIME_AXIS_LABELS:
            return index
    shape = layer.data.shape
    candidates = range(max(len(shape) - (3 if layer.rgb else 2), 0))
    return max(candidates, key=lambda axis: (shape[axis], -axis), default=0)


def time_axis_doubt(layer, time_axis: int) -> str:
    """A warning when ``time_axis`` is much shorter than another stack axis of ``layer``."""
    shape = layer.data.shape
    stack_axes = range(max(len(shape) - (3 if layer.rgb else 2), 0))
    if time_axis not in stack_axes:
        return ""
    longest = max(stack_axes, key=lambda axis: (shape[axis], -axis))
    if shape[longest] >= 2 * shape[time_axis]:
        return (
            f"Axis {time_axis} of {layer.name} has {shape[time_axis]} steps and axis "
            f"{longest} has {shape[longest]}: is axis {longest} time? The time axis is "
            "the one the background is taken over."
        )
    return ""


def display_range(image: "np.ndarray") -> tuple:
    """Contrast limits that show an image well: its 0.1-99.9 percentiles."""
    import numpy as np

    low, high = (float(v) for v in np.percentile(image, [0.1, 99.9]))
    if high <= low:
        low, high = float(image.min()), float(image.max())
        if high <= low:
            high = low + 1.0
    return low, high
