"""napari widget: the per-pixel GMM background of any image layer.

Thin glue: it picks the frames, plans the job (:mod:`.job`: the engine's
plan, the one ``extract_background`` runs, and the corrected stack and
masks), runs it in napari's ``thread_worker`` and turns the result into
layers. Nothing is added until a run has finished.
"""

from __future__ import annotations

import math
import threading
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

from ..engine.table import DEFAULT_METHOD, METHODS, Settings
from .job import (
    OUTPUTS,
    JobFailed,
    JobResult,
    RunSettings,
    default_time_axis,
    display_range,
    lazy_view,
    plan_job,
    result_tag,
    run_job,
    time_axis_doubt,
)

if TYPE_CHECKING:
    import napari
    import numpy as np


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
        self._make_controls()
        self._show_what_applies()
        self._connect()
        active = viewer.layers.selection.active
        if active in self.image.choices:
            self.image.value = active
        # The kernels the selected layer and method need are compiled (first use
        # after installing) or loaded while the user sets things up, not after the click.
        self._warm_up()
        self._on_image_changed(self.image.value)

    def _make_controls(self) -> None:
        """Every control, in the order they are shown."""
        self.image = ComboBox(label="image", choices=self._image_layers)
        self.time_axis = SpinBox(
            label="time axis", min=0, max=0, tooltip="layer axis that is time (frames)"
        )
        self.method = ComboBox(
            label="method",
            choices=list(METHODS),
            value=DEFAULT_METHOD,
            tooltip="\n".join(f"{entry.name}: {entry.summary}." for entry in METHODS.values()),
        )
        self.n_components = SpinBox(
            label="components",
            value=Settings.n_components,
            min=1,
            max=12,
            tooltip="Gaussians per pixel; the background is the heaviest",
        )
        self._make_frame_controls()
        self._make_output_controls()
        self._make_em_controls()
        self.run_button = PushButton(text="Extract background")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.status = Label(value="")
        # Long messages wrap onto more lines instead of widening the dock for good.
        self.status.native.setWordWrap(True)
        self.extend(
            [
                self.image, self.time_axis, self.background_from, self.method, self.n_components,
                self.first_frame, self.stop_frame, self.frame_step, self.per_frame,
                self.output, self.correction, self.dark, self.corrected_dtype,
                self.foreground, self.threshold, self.min_size,
                self.advanced, self.max_iter, self.tol, self.reg_covar,
                self.run_button, self.cancel_button, self.status,
            ]
        )  # fmt: skip
        # A dock widget, not a panel: leave the canvas most of the window.
        self.native.setMaximumWidth(420)

    def _make_frame_controls(self) -> None:
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

    def _make_output_controls(self) -> None:
        self.background_from = ComboBox(
            label="background",
            choices=self._background_choices,
            tooltip=(
                "estimate one from the selected frames, or apply an image layer (a flat-field "
                "opened from a file, made from another stack) whose shape fits one frame, or "
                "every frame"
            ),
        )
        self.output = ComboBox(label="add", choices=list(OUTPUTS), value=OUTPUTS[0])
        self.corrected_dtype = ComboBox(
            label="corrected type",
            choices=["float32", "input"],
            value="float32",
            tooltip=(
                "float32, or the layer's own type (uint16 stays uint16: rounded; subtracting "
                "adds the background's maximum, rounded up, so nothing falls below zero; values "
                "that still do not fit are clipped, and the status line says how many)"
            ),
        )
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

    def _make_em_controls(self) -> None:
        self.advanced = CheckBox(text="advanced EM settings")
        self.max_iter = SpinBox(label="max iterations", value=Settings.max_iter, min=1, max=100_000)
        self.tol = FloatSpinBox(
            label="tolerance",
            value=Settings.tol,
            min=1e-9,
            max=10.0,
            step=1e-4,
            tooltip="stop when the mean log-likelihood changes less",
        )
        self.reg_covar = FloatSpinBox(
            label="variance floor",
            value=Settings.reg_covar,
            min=1e-9,
            max=1e6,
            step=1e-7,
            tooltip="added to every variance",
        )

    def _show_what_applies(self, _value=None) -> None:
        """Settings that the current choices do not use stay hidden."""
        estimating = self.background_from.value is None
        for widget in (self.method, self.per_frame, self.output):
            widget.visible = estimating
        self._show_mask_settings(self.foreground.value)
        self._show_correction_settings(self.output.value)
        self._on_method_changed(self.method.value)

    def _connect(self) -> None:
        self.foreground.changed.connect(self._show_mask_settings)
        self.output.changed.connect(self._show_correction_settings)
        self.advanced.changed.connect(self._show_advanced)
        self.method.changed.connect(self._on_method_changed)
        self.image.changed.connect(self._on_image_changed)
        self.time_axis.changed.connect(self._check_time_axis)
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        for event in ("inserted", "removed", "reordered"):
            getattr(self._viewer.layers.events, event).connect(self._refresh_layers)
        self.image.changed.connect(self._warm_up)
        self.method.changed.connect(self._warm_up)
        self.background_from.changed.connect(self._show_what_applies)

    # -- choices -------------------------------------------------------------
    @property
    def _advanced_widgets(self):
        return (self.max_iter, self.tol, self.reg_covar)

    def _show_mask_settings(self, on: bool):
        self.threshold.visible = on
        self.min_size.visible = on

    def _show_correction_settings(self, output: str):
        corrects = output != OUTPUTS[0] or self.background_from.value is not None
        self.correction.visible = corrects
        self.dark.visible = corrects
        self.corrected_dtype.visible = corrects

    def _show_advanced(self, on: bool):
        for widget in self._advanced_widgets:
            widget.visible = on

    def _on_method_changed(self, name: str):
        """Offer the EM settings only to the methods that fit mixtures (when estimating)."""
        fits = METHODS[name].fits_mixtures and self.background_from.value is None
        self.n_components.visible = fits
        self.advanced.visible = fits
        self._show_advanced(fits and self.advanced.value)

    def _image_layers(self, _widget=None) -> list:
        from napari.layers import Image

        return [layer for layer in self._viewer.layers if isinstance(layer, Image)]

    def _background_choices(self, _widget=None) -> list:
        """ "estimate", or an image layer that fits one frame of the selected image, or all."""
        choices = [("estimate", None)]
        image = self.image.value if hasattr(self, "image") else None
        if image is None or image.ndim < 3:
            return choices
        shape, t = tuple(image.data.shape), self.time_axis.value
        if not 0 <= t < len(shape):
            return choices
        fits = (shape[:t] + shape[t + 1 :], shape)
        for layer in self._image_layers():
            if layer is not image and not layer.multiscale and tuple(layer.data.shape) in fits:
                choices.append((layer.name, layer))
        return choices

    def _refresh_layers(self, _event=None):
        self.image.reset_choices()
        self.background_from.reset_choices()

    def _on_image_changed(self, layer):
        if layer is None:
            return
        self.time_axis.max = max(layer.ndim - 1, 0)
        self.time_axis.value = default_time_axis(layer)
        self._check_time_axis()
        self.background_from.reset_choices()

    def _check_time_axis(self, _value=None):
        """Say so, before any run, when the time axis looks like the wrong one."""
        layer = self.image.value
        if layer is None or not self._alive():
            return
        self.background_from.reset_choices()
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
        from ..engine.compiling import start_warm_up

        layer = self.image.value
        dtype = getattr(getattr(layer, "data", None), "dtype", None)
        if dtype is None:
            return None
        thread = start_warm_up(dtype, self.method.value, colour=bool(getattr(layer, "rgb", False)))
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

        from ..core.memory import release_read_buffers_when_freed
        from ..engine.compiling import is_warm

        try:
            plan = plan_job(frames, settings)
        except (ValueError, TypeError) as error:
            self._say(f"{layer.name}: {error}", warn=True)
            return None
        if settings.reading is not None:
            release_read_buffers_when_freed()
        # The job is made here so that a cancelled one can be closed at once:
        # closing it lets go of everything it read (a lazy layer's frames).
        job = run_job(plan)
        self.job = job
        worker = create_worker(
            _run_job,
            job,
            _progress={"total": plan.n_steps, "desc": f"Background of {layer.name}"},
        )
        # What the run warns of (a drifting brightness) is said with its result.
        warned: "list[str]" = []
        worker.warned.connect(lambda shown: warned.append(str(shown[0])))
        worker.returned.connect(lambda result: self._on_returned(result, settings, warned))
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
        from ..core.memory import give_memory_back

        self._worker = None
        give_memory_back()
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
        frames = lazy_view(data)[index]
        reading = None
        if not isinstance(frames, np.ndarray):
            reading = self._reading(layer, frames, time_axis)
        scale = tuple(layer.scale)
        translate = tuple(layer.translate)
        given = self.background_from.value
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
            per_frame=self.per_frame.value and given is None,
            output=self.output.value if given is None else OUTPUTS[1],
            correction=self.correction.value,
            dark=self.dark.value,
            min_size=self.min_size.value,
            units=tuple(getattr(layer, "units", ())),
            axis_labels=tuple(getattr(layer, "axis_labels", ())),
            colormap=None if layer.rgb else layer.colormap,
            blending=layer.blending,
            reading=reading,
            recorded=data if hasattr(data, "lost") else None,
            n_layer_frames=n_frames,
            given_background=None if given is None else np.asarray(given.data),
            given_name="" if given is None else given.name,
            corrected_dtype=self.corrected_dtype.value,
        )
        return frames, settings

    def _reading(self, layer, frames, time_axis: int):
        """How a lazy selection is read; ValueError where the run would not fit the memory budget.

        gmm and motionless read a block of rows at a time, at most half the
        budget; runs that need every frame in memory at once (the other
        methods, per-frame backgrounds, foreground masks) must fit it whole.
        """
        from dask.utils import format_bytes

        from ..core.layout import Layout, time_first
        from ..core.memory import memory_budget
        from ..core.reading import READ_BLOCK_BYTES, Reading
        from ..engine.run import reads_in_blocks

        budget = memory_budget()
        block_bytes = min(READ_BLOCK_BYTES, budget // 2)
        reading = Reading.of(frames, time_axis, layer.rgb, block_bytes=block_bytes)
        method = METHODS[self.method.value]
        layout = Layout.of(time_first(frames.shape, time_axis), layer.rgb)
        in_blocks = reads_in_blocks(
            method, layout, per_frame=self.per_frame.value, keep_model=False
        )
        # Masks are made from every frame at once too (RunSettings.reads_whole_first);
        # a background given is applied lazily.
        estimating = self.background_from.value is None
        whole = (estimating and not in_blocks) or self.foreground.value
        size = math.prod(frames.shape) * reading.itemsize
        if whole and size > budget:
            why = (
                "per-frame backgrounds need"
                if self.per_frame.value
                else "foreground masks need"
                if self.foreground.value
                else f"{method.name} needs"
            )
            block_methods = [name for name, entry in METHODS.items() if entry.reads_in_blocks]
            raise ValueError(
                f"the selected frames of {layer.name} take {format_bytes(size)} in memory, "
                f"over the {format_bytes(budget)} budget, and {why} them all at once. "
                f"{' and '.join(block_methods[:2])} (without per-frame or masks) read a block of "
                "rows at a time; or select fewer frames (a frame step, or first and stop "
                "frames), or crop the layer (for example layer.data[:, 0:512, 0:512] into a "
                "new layer)."
            )
        return reading

    def _on_returned(self, result, settings: RunSettings, warned: "list[str]"):
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
            return
        from napari.utils.notifications import show_warning

        for message in dict.fromkeys(warned):  # each once, as a notification too
            said = f"{settings.layer_name}: {message[0].upper()}{message[1:]}."
            self._say(f"{self.status.value} {said}")
            show_warning(said)

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
        if result.lost_frames:
            self._record_losses(result.lost_frames, added, settings.layer_name)
        self._show_drift(result.drifts, settings.layer_name)
        said = "Added " + " and ".join(repr(n) for n in added) + "."
        self._say(
            f"{said} {result.message[0].upper()}{result.message[1:]}." if result.message else said
        )

    def _record_losses(self, lost: tuple, added: list, layer_name: str) -> None:
        """Frames a run read as black: in the input layer's metadata and its results'."""
        layers = self._viewer.layers
        if layer_name in layers:
            source = layers[layer_name].metadata
            source["lost_frames"] = sorted(set(source.get("lost_frames", ())) | set(lost))
        for name in added:
            layers[name].metadata["lost_frames"] = list(lost)

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


def _run_job(job):
    """The worker's generator: ``job``'s steps and result (``job`` stays closable from outside)."""
    return (yield from job)
