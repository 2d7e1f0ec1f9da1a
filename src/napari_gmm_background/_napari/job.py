"""The widget's run, without Qt: what a run was asked for, its plan, what it made.

:func:`plan_job` is the engine's plan of the background
(:func:`napari_gmm_background.engine.plan_background`, the plan
``extract_background`` runs) followed by the corrected stack and the
foreground masks where asked for; :func:`run_job` runs it in napari's
``thread_worker`` and turns a refusal into a :class:`JobFailed` for the
status line. Nothing here imports napari or Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from ..core.plan import Plan, Step

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "OUTPUTS",
    "TIME_AXIS_LABELS",
    "JobFailed",
    "JobResult",
    "RunSettings",
    "default_time_axis",
    "display_range",
    "lazy_view",
    "plan_job",
    "result_tag",
    "run_job",
    "time_axis_doubt",
]

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
    # How a lazy layer is read (napari_gmm_background.core.reading.Reading); None in memory.
    reading: Any = None
    # The layer's frames where they record what fails to decode (a lazy video), and its length.
    recorded: Any = field(default=None, compare=False)
    n_layer_frames: int = 0
    # A background given (an existing layer's data, named): applied, none estimated.
    given_background: Any = field(default=None, compare=False)
    given_name: str = ""
    # The corrected stack's type: float32, or the layer's own ("input").
    corrected_dtype: str = "float32"

    def method_settings(self) -> dict:
        """The settings the method uses, as the engine takes them (the others stay default)."""
        from ..engine.table import get_method

        values = dict(
            n_components=self.n_components,
            max_iter=self.max_iter,
            tol=self.tol,
            reg_covar=self.reg_covar,
        )
        uses = get_method(self.method).uses
        return {name: value for name, value in values.items() if name in uses}

    @property
    def reads_whole_first(self) -> bool:
        """Whether a lazy layer is read whole before the run: masks need every frame."""
        return self.reading is not None and self.mask_threshold is not None


@dataclass(frozen=True)
class JobResult:
    """What a run made: the layers' data and what to tell the user."""

    background: "np.ndarray | None"
    corrected: "np.ndarray | None"
    mask: "np.ndarray | None"
    message: str = ""
    drifts: "list | None" = None
    """Per-frame runs: each stack's :class:`napari_gmm_background.engine.drift.Drift`."""
    lost_frames: tuple = ()
    """Selected frames that did not decode (a damaged lazy video): black in the run."""


@dataclass(frozen=True)
class JobFailed:
    """A run that stopped on bad input, with the message for the user."""

    message: str


def plan_job(frames: Any, settings: RunSettings) -> Plan:
    """The widget's run as a plan: the background, then the corrected stack and masks.

    ``frames`` are the selected frames (numpy, or lazy with
    ``settings.reading``). Everything the engine checks is checked here,
    before the run: a ValueError says what is wrong. The plan's result is
    a :class:`JobResult`.
    """
    from ..core.reading import InMemory, computed_dtype, plan_read_whole

    given = settings.given_background
    if given is not None:  # applied as it is: checked now, before anything is read
        from ..engine.correction import check_background_fits

        name = f"the background {settings.given_name!r}"
        check_background_fits(given.shape, frames.shape, time_axis=settings.time_axis, name=name)
    reading, data, steps = settings.reading, frames, []
    if settings.reads_whole_first:  # masks are made from every frame at once
        read = plan_read_whole(frames, settings.time_axis, reading)
        data = InMemory(frames.shape, computed_dtype(frames.dtype), cache(read.result))
        reading, steps = None, read.steps
    if given is None:
        choices: list = []
        run = _plan_estimate(data, reading, settings, choices)
        made = _Made(data, settings, cache(run.result), choices)
        steps += run.steps
    else:
        made = _Made(data, settings, lambda: given)
    if settings.output != OUTPUTS[0]:  # always so with a background given
        steps.append(Step(made.correct))
    if settings.mask_threshold is not None:
        steps += made.plan_masks().steps
    return Plan(steps, made.result)


def _plan_estimate(data: Any, reading: Any, settings: RunSettings, choices: list) -> Plan:
    """The engine's plan of the background of the selected frames (as extract_background)."""
    from ..engine.run import plan_background

    return plan_background(
        data,
        method=settings.method,
        time_axis=settings.time_axis,
        rgb=settings.rgb,
        per_frame=settings.per_frame,
        reading=reading,
        choices=choices,
        **settings.method_settings(),
    )


class _Made:
    """What the steps of :func:`plan_job` make, and the job's result from them."""

    def __init__(self, data, settings: RunSettings, made, choices: "list | None" = None):
        self.data, self.settings, self.made = data, settings, made
        self.choices = [] if choices is None else choices  # the default's, stack by stack
        self.corrected = None
        self.masks = None
        self.clipped = ""  # what clipping the corrected stack met

    def background(self):
        made = self.made()
        return made[0] if self.settings.per_frame else made

    def frames(self):
        from ..core.reading import InMemory

        return self.data.array() if isinstance(self.data, InMemory) else self.data

    def correct(self) -> None:
        from ..engine.correction import apply_background_saying_clips

        settings = self.settings
        self.corrected, clipped = apply_background_saying_clips(
            self.frames(),
            self.background(),
            mode=settings.correction,
            dark=settings.dark,
            time_axis=settings.time_axis,
            dtype=settings.corrected_dtype,
        )
        self.clipped = clipped or ""  # said in the status line

    def plan_masks(self) -> Plan:
        from ..engine.masks import plan_foreground_labels

        settings = self.settings
        self.masks = plan_foreground_labels(
            self.data,
            self.background,
            threshold=settings.mask_threshold,
            min_size=settings.min_size,
            time_axis=settings.time_axis,
            rgb=settings.rgb,
        )
        return self.masks

    def result(self) -> JobResult:
        from ..engine.choice import describe_choices
        from ..engine.drift import change_message
        from ..io.video import frame_ranges

        settings = self.settings
        drifts, message = None, describe_choices(self.choices)
        if settings.per_frame:
            drifts = self.made()[1]
            said = _drift_message(drifts, change_message(drifts))
            message = f"{message}; {said}" if message else said
        given = settings.given_background is not None
        background = self.background() if settings.output != OUTPUTS[1] and not given else None
        mask = self.masks.result() if self.masks is not None else None
        if self.clipped:
            message = f"{message}; {self.clipped}" if message else self.clipped
        lost = self.lost_frames()
        if lost:
            said = (
                f"{len(lost)} of the selected frames could not be decoded (frames "
                f"{frame_ranges(list(lost))}; the file is damaged) and were read as black frames"
            )
            message = f"{message}; {said}" if message else said
        return JobResult(background, self.corrected, mask, message, drifts, lost)

    def lost_frames(self) -> tuple:
        """Positions of the selected frames the layer's video could not decode."""
        settings = self.settings
        recorded = settings.recorded
        if recorded is None or not getattr(recorded, "lost", None):
            return ()
        selected = range(settings.n_layer_frames)[settings.frames]
        return tuple(position for position in sorted(recorded.lost) if position in selected)


def run_job(plan: Plan):
    """The worker's generator: the plan's steps, then its result or a :class:`JobFailed`."""
    try:
        return (yield from plan.run())
    except (ValueError, TypeError, MemoryError) as error:
        return JobFailed(str(error) or type(error).__name__)
    except Exception as error:  # a decoder's or a kernel's: said, and the viewer keeps working
        return JobFailed(f"{type(error).__name__}: {error}")


def _drift_message(drifts: list, changes: str) -> str:
    """How the background drifted, for the status line: brightness and change frames."""
    import numpy as np

    brightness = np.mean([one.brightness for one in drifts], axis=0)
    said = (
        f"background brightness from {brightness.min():.2f} to {brightness.max():.2f} "
        "of the first frame's"
    )
    return f"{said}; {changes}" if changes else said


def lazy_view(data):
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


def result_tag(settings: RunSettings) -> str:
    """What tells a run's results apart, for their layer names: "gmm", "fluorescence, per frame".

    Runs with other methods or settings add layers of their own, to compare
    side by side; a re-run with the same settings replaces its layers.
    """
    from ..engine.table import METHODS

    if settings.given_background is not None:
        return f"with {settings.given_name}"
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
    """Contrast limits that show an image well: its 0.1-99.9 percentiles.

    Of a lazy stack, those of its middle plane along the first axis: one read.
    """
    import numpy as np

    if hasattr(image, "compute") and image.ndim > 2:
        image = np.asarray(image[image.shape[0] // 2])
    low, high = (float(v) for v in np.percentile(image, [0.1, 99.9]))
    if high <= low:
        low, high = float(image.min()), float(image.max())
    if not high > low:  # a constant image: a range napari accepts at any magnitude
        high = low + max(1.0, abs(low) * 2**-20)
        if not high > low:  # beyond float64's range: step down instead
            low = high - max(1.0, abs(high) * 2**-20)
    return low, high
