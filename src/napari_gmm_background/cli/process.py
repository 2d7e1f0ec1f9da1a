"""One input of the command line: its outputs checked, its plan made and run, its summary.

An input's plan is the engine's plan of its background (the one
``extract_background`` runs), then the writing of its outputs: the
background, the foreground masks frame by frame, the corrected frames,
the brightness plot. Every output goes to a temporary and is moved into
place only when all are complete
(:class:`napari_gmm_background.io.outputs.PendingOutputs`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from ..core.plan import Plan, Step
from ..io.images import InputError
from .arguments import engine_settings
from .bars import ProgressBars

__all__ = ["process"]

PLOT_EXTENSIONS = (".png", ".svg", ".pdf")


def process(source: "Path | None", targets, args, budget: int, inputs: list, stop) -> str:
    """Run one input; return its summary line. Raises on failure, leaving no output.

    ``source`` None is the built-in sample. From the moment the outputs are
    moved in, ``stop`` holds back a stop request, so an input is either
    wholly written or reported as nothing.
    """
    from ..io.outputs import PendingOutputs

    label = "sample" if source is None else source.name
    bars = ProgressBars(label, args.quiet)
    start = time.perf_counter()
    with PendingOutputs(overwrite=args.overwrite, inputs=inputs) as outputs:
        run = _Run(label, args, _Files.of(outputs, source, targets, args))
        try:
            plan = run.plan(source, budget)
            _prepare_engine(run.dtype, args.method, bars, colour=run.axes.endswith("S"))
            bars.follow(plan.run())
        finally:
            bars.close()
            run.close()
        stop.hold()
        outputs.commit()
    return run.summary(targets, time.perf_counter() - start)


@dataclass
class _Files:
    """The temporaries an input's outputs are written to (None: not asked for)."""

    outputs: Any
    background: "Path | None"
    target: "Path | None"
    masks: "Path | None" = None
    corrected: "Path | None" = None
    plot: "Path | None" = None

    @classmethod
    def of(cls, outputs, source, targets, args) -> "_Files":
        """Every output checked and given its temporary, before anything is decoded.

        A frame folder's or TIFF stack's background waits for its dtype (16 bit
        goes to PNG, floats to TIFF) until the frames are read.
        """
        from ..io.images import (
            background_path,
            input_kind,
            is_mask_folder,
            mask_output_kind,
            stack_path,
        )

        target, background = targets.background, None
        if target is None:  # --background: one is given, none estimated
            pass
        elif args.per_frame:
            target = stack_path(target, "--per-frame backgrounds")
            background = outputs.add_file(target)
        elif source is None or input_kind(source) == "video":
            target = background_path(target, np.uint8)
            background = outputs.add_file(target)
        files = cls(outputs, background, target)
        if targets.masks is not None:
            if mask_output_kind(targets.masks) == "video":
                files.masks = outputs.add_file(targets.masks)
            else:
                files.masks = outputs.add_folder(targets.masks, replaceable=is_mask_folder)
        if targets.corrected is not None:
            files.corrected = outputs.add_file(stack_path(targets.corrected, "--corrected-out"))
        if targets.gain_plot is not None:
            files.plot = outputs.add_file(_plot_path(targets.gain_plot))
        return files

    def background_for(self, dtype, plain: bool = True) -> "Path | None":
        """The background's temporary, now that its dtype and axes are known.

        A background that is not one image (a channel or Z axis) goes to TIFF.
        """
        from ..io.images import background_path

        if self.background is None and self.target is not None:
            target = background_path(self.target, dtype)
            if not plain and target.suffix.lower() == ".png":
                target = target.with_suffix(".tif")
            self.target = target
            self.background = self.outputs.add_file(self.target)
        return self.background


def _plot_path(path: Path) -> Path:
    if path.suffix.lower() not in PLOT_EXTENSIONS:
        raise InputError(f"{path}: --gain-plot draws {', '.join(PLOT_EXTENSIONS)} files")
    return path


@dataclass
class _Run:
    """One input's run: its plan, and what it made for the summary."""

    label: str
    args: Any
    files: _Files
    shape: tuple = ()
    dtype: Any = np.uint8
    truth: "np.ndarray | None" = None
    made: Any = None
    drifts: "list | None" = None
    writer: Any = None
    n_masks: int = 0
    settings: dict = field(default_factory=dict)
    # The frames' axes (tifffile's letters), which of them is time, and their calibration.
    axes: str = "TYXS"
    time_axis: int = 0
    calibration: Any = None
    offset: int = 0  # added to the corrected frames (--corrected-dtype input)
    clipped: "str | None" = None  # what clipping the corrected frames met
    choices: list = field(default_factory=list)  # what the default decided, stack by stack

    @property
    def frame_axes(self) -> str:
        from ..io.tiff import frame_axes

        return frame_axes(self.axes, self.time_axis)

    @property
    def plain(self) -> bool:
        """One image (grey or colour) per frame."""
        from ..io.tiff import is_plain

        return is_plain(self.frame_axes)

    def plan(self, source: "Path | None", budget: int) -> Plan:
        """The plan of the input: its background, then its outputs."""
        from ..io.images import input_kind

        args = self.args
        self.settings = dict(method=args.method, per_frame=args.per_frame, **engine_settings(args))
        if args.given_background is not None:
            return self._plan_given(source, budget)
        if source is not None and input_kind(source) == "video":
            return self._plan_video(source, budget)
        frames = self._frames_in_memory(source)
        self.files.background_for(frames.dtype, self.plain)
        return self._plan_on_frames(frames)

    def _frames_in_memory(self, source: "Path | None") -> np.ndarray:
        """A frame folder or TIFF stack (with its axes), or the built-in sample."""
        from ..io.images import input_kind

        if source is None:  # its true background is known: the summary says the error
            from ..datasets import synthetic_traffic

            frames, self.truth = synthetic_traffic()
        elif input_kind(source) == "tiff":
            from ..io.tiff import read_tiff

            stack = read_tiff(source)
            frames, self.axes, self.calibration = stack.data, stack.axes, stack.calibration
            try:
                self.time_axis = stack.time_axis
            except ValueError as error:
                raise InputError(f"{self.label}: {error}") from None
        else:
            from ..io.images import read_frames

            frames = read_frames(source)
            self.axes = "TYXS" if frames.ndim == 4 else "TYX"
        if self.args.frames is not None:
            chosen = (slice(None),) * self.time_axis + (self.args.frames,)
            frames = frames[chosen]
        self._describe(frames.shape, frames.dtype)
        return frames

    def _describe(self, shape: tuple, dtype) -> None:
        """The summary's frame count and size, and the frames' dtype."""
        n_frames = shape[self.time_axis]
        if n_frames == 0:
            raise InputError(f"{self.label}: no frames selected")
        height, width = shape[self.axes.index("Y")], shape[self.axes.index("X")]
        self.shape, self.dtype = (n_frames, height, width), np.dtype(dtype)

    def _plan_given(self, source: "Path | None", budget: int) -> Plan:
        """A background given (``--background``): each input's frames corrected with it."""
        from ..io.images import input_kind

        if source is not None and input_kind(source) == "video":
            from ..io.streaming import plan_on_decoded
            from ..io.video import video_info

            info = video_info(source)
            indices = range(info.n_frames)[self.args.frames or slice(None)]
            frames_shape = (len(indices), info.height, info.width, 3)
            self._check_given_fits(frames_shape)  # before anything is decoded
            self._check_fits(len(indices), info.height * info.width * 3, budget)
            self._describe(frames_shape, np.uint8)
            return plan_on_decoded(source, info, indices, self._plan_given_on)
        return self._plan_given_on(self._frames_in_memory(source))

    def _plan_given_on(self, frames: np.ndarray) -> Plan:
        self._check_given_fits(frames.shape)
        given = self.args.given_background
        return Plan([Step(partial(self._write_corrected, frames, given))])

    def _check_given_fits(self, shape: tuple) -> None:
        """InputError naming both shapes where the given background fits neither a frame nor all."""
        from ..engine.correction import check_background_fits

        name = f"the background {self.args.background}"
        try:
            check_background_fits(
                self.args.given_background.shape, shape, time_axis=self.time_axis, name=name
            )
        except ValueError as error:
            raise InputError(f"{error}; nothing was written for it") from None

    def _plan_video(self, source: Path, budget: int) -> Plan:
        """Decoded into memory when the frames fit the budget; streamed otherwise."""
        from ..engine.compiling import start_warm_up
        from ..io.streaming import plan_on_decoded, plan_video_background
        from ..io.video import video_info

        # The kernels load while the video is probed and measured: its frames are colour uint8.
        start_warm_up(np.uint8, self.args.method, colour=True)
        info = video_info(source)
        indices = range(info.n_frames)[self.args.frames or slice(None)]
        if len(indices) == 0:
            raise InputError(f"{self.label}: no frames selected out of {info.n_frames}")
        self.shape = (len(indices), info.height, info.width)
        frame_bytes = info.height * info.width * 3
        if self._needs_every_frame() or len(indices) * frame_bytes <= budget:
            self._check_fits(len(indices), frame_bytes, budget)
            return plan_on_decoded(source, info, indices, self._plan_on_frames)
        from ..core.noise import NoiseSampler

        settings = dict(self.settings)
        settings.pop("per_frame")
        # The masks' noise, measured as the frames go by where the fit decodes them whole.
        sampler = None
        if self.files.masks is not None:
            sampler = NoiseSampler((len(indices), *self.shape[1:], 3), np.uint8)
        background = plan_video_background(
            source,
            frames=self.args.frames,
            memory_budget=budget,
            info=info,
            each_frame=None if sampler is None else sampler.add,
            **settings,
        )
        self.made = cache(background.result)
        outputs = Plan([Step(self._write_background)])
        if self.files.masks is not None:
            sampled = getattr(background, "feeds_each_frame", False)
            outputs = outputs.then(self._plan_masks_streamed(source, indices, sampler, sampled))
        return background.then(outputs)

    def _needs_every_frame(self) -> bool:
        """Per-frame backgrounds and corrected frames need every selected frame at hand."""
        return self.args.per_frame or self.files.corrected is not None

    def _check_fits(self, n_frames: int, frame_bytes: int, budget: int) -> None:
        from dask.utils import format_bytes

        # Frames as uint8, plus float32 per-frame backgrounds and corrected frames.
        per_frame_outputs = 4 * (int(self.args.per_frame) + int(self.files.corrected is not None))
        need = n_frames * frame_bytes * (1 + per_frame_outputs)
        if per_frame_outputs and need > budget:
            raise InputError(
                f"{self.label}: --per-frame and --corrected-out hold the selected frames in "
                f"memory: {n_frames} frames need about {format_bytes(need)}, over the memory "
                f"budget of {format_bytes(budget)}; select fewer frames (--frames "
                "START:STOP:STEP) or raise --memory-budget"
            )

    def _plan_on_frames(self, frames: np.ndarray) -> Plan:
        """The background of frames in memory, then every output asked for."""
        from ..engine.run import plan_background

        if not self.plain:
            for asked, flag in (
                (self.files.masks, "--foreground-out"),
                (self.files.plot, "--gain-plot"),
            ):
                if asked is not None:
                    raise InputError(
                        f"{self.label}: {flag} is made for stacks of one image per frame; "
                        f"this one's axes are {self.axes}"
                    )
        rgb = self.axes.endswith("S")
        background = plan_background(
            frames, time_axis=self.time_axis, rgb=rgb, choices=self.choices, **self.settings
        )
        self.made = cache(background.result)
        steps = [Step(self._write_background)]
        if self.files.masks is not None:
            steps += self._plan_masks(frames).steps
        if self.files.corrected is not None:
            steps.append(Step(partial(self._write_corrected, frames)))
        if self.files.plot is not None:
            steps.append(Step(partial(self._draw_plot, frames)))
        return background.then(Plan(steps))

    def background(self) -> np.ndarray:
        made = self.made()
        return made[0] if self.args.per_frame else made

    def _write_background(self) -> None:
        from ..io.images import encode_image, encode_stack

        if self.args.per_frame:
            self.drifts = self.made()[1]
            encode_stack(self.files.background, self.background(), self.axes, self.calibration)
        else:
            encode_image(
                self.files.background, self.background(), self.frame_axes, self.calibration
            )

    def _plan_masks(self, frames: np.ndarray) -> Plan:
        """A mask per frame, written as it is made: against each frame's own background."""
        labelled = _Masks(self, frames.shape)
        steps = [
            Step(partial(labelled.frame, t, lambda t=t: frames[t]), "masks")
            for t in range(len(frames))
        ]
        labelled.noise = cache(partial(_noise_of, frames))
        steps[-1] = Step(partial(_both, steps[-1].action, labelled.close), "masks")
        return Plan(steps)

    def _plan_masks_streamed(self, source: Path, indices: range, sampler, sampled: bool) -> Plan:
        """The masks of a video streamed past the memory budget, made as it is decoded again.

        Their noise is measured as in memory (the same pixels of every
        frame): by the fit's own pass where it decoded whole frames
        (``sampled``), else by a pass of its own first.
        """
        from ..io.streaming import FramesAgain

        shape = (len(indices), *self.shape[1:], 3)
        labelled = _Masks(self, shape)
        labelled.noise = cache(sampler.model)
        masks = FramesAgain(source, indices, "masks", labelled.frame)
        steps = [] if sampled else FramesAgain(source, indices, "noise", sampler.add).steps()
        steps += masks.steps()
        steps[-1] = Step(partial(_both, steps[-1].action, labelled.close), "masks", steps[-1].size)
        return Plan(steps)

    def _write_corrected(self, frames: np.ndarray, background=None) -> None:
        """The frames with the background (estimated, or given) applied, in the asked-for type."""
        from ..engine.correction import apply_background_saying_clips, correction_offset
        from ..io.images import encode_stack

        args = self.args
        background = self.background() if background is None else background
        corrected, self.clipped = apply_background_saying_clips(
            frames, background, mode=args.correction, dark=args.dark,
            time_axis=self.time_axis, dtype=args.corrected_dtype,
        )  # fmt: skip
        self.offset = correction_offset(background, mode=args.correction, dtype=corrected.dtype)
        encode_stack(self.files.corrected, corrected, self.axes, self.calibration)

    def _draw_plot(self, frames: np.ndarray) -> None:
        from ..io.outputs import write_file
        from ..plots import drift_figure

        names = ["red", "green", "blue"] if frames.ndim == 4 and frames.shape[-1] == 3 else None
        figure = drift_figure(self.drifts, names, title=self.label)
        kind = self.files.plot.suffix.lower().lstrip(".")
        write_file(self.files.plot, lambda file: figure.savefig(file, format=kind))

    def close(self) -> None:
        """Let go of an open mask writer (a run that failed part way)."""
        if self.writer is not None:
            self.writer.abandon()
            self.writer = None

    def summary(self, targets, seconds: float) -> str:
        args, shape = self.args, self.shape
        frames = f"{shape[0]} frames of {shape[2]}x{shape[1]}"
        if not self.plain:
            frames += f" ({self.axes})"
        if args.given_background is not None:
            corrected = self._corrected(targets)
            return (
                f"{self.label}: {frames} corrected with {args.background} in {seconds:.1f} s"
                f"{corrected}"
            )
        from ..engine.choice import describe_choices

        method = describe_choices(self.choices) or args.method
        said = (
            f"{self.label}: {frames} -> {self.files.target} "
            f"({method}{', per frame' if args.per_frame else ''}) in {seconds:.1f} s"
        )
        if self.truth is not None and not args.per_frame:
            error = np.abs(self.background().astype(np.float64) - self.truth).mean()
            said += f"; mean error against the true background {error:.2f} grey levels"
        if self.drifts is not None:
            said += "; " + _drift_summary(self.drifts)
        if self.files.masks is not None:
            said += f"; {self.n_masks} foreground masks -> {targets.masks}"
        if self.files.corrected is not None:
            said += self._corrected(targets)
        if self.files.plot is not None:
            said += f"; brightness plot -> {targets.gain_plot}"
        return said

    def _corrected(self, targets) -> str:
        """The summary's words on the corrected frames: how, in what type, where, what clipped."""
        args, how = self.args, [self.args.correction]
        if args.corrected_dtype == "input":
            how.append(
                f"{np.dtype(self.dtype)}" + (f", offset {self.offset}" if self.offset else "")
            )
        said = f"; corrected frames ({', '.join(how)}) -> {targets.corrected}"
        return said + (f"; warning: {self.clipped}" if self.clipped else "")


class _Masks:
    """Each frame's mask, made against its background and written at once."""

    def __init__(self, run: _Run, frames_shape: tuple):
        self.run = run
        self.frames_shape = frames_shape
        self.labeller = None
        self.noise = None

    def frame(self, t: int, frame) -> None:
        """Label frame ``t`` (``frame``, or a callable giving it) and write its mask."""
        from ..core.layout import Layout
        from ..engine.masks import Labeller
        from ..io.images import MaskWriter

        run = self.run
        if self.labeller is None:
            layout = Layout.of(self.frames_shape)
            self.labeller = Labeller(layout, self.noise(), run.args.threshold, run.args.min_size)
            run.writer = MaskWriter(run.files.masks, self.frames_shape[1:3])
        frame = frame() if callable(frame) else frame
        background = run.background()
        reference = background[t] if run.args.per_frame else background
        run.writer.write(self.labeller.labels_of(frame, reference) > 0)

    def close(self) -> None:
        run = self.run
        if run.writer is None:
            return
        writer, run.writer = run.writer, None
        writer.close()
        if writer.count != self.frames_shape[0]:
            raise OSError(
                f"only {writer.count} of {self.frames_shape[0]} frames could be read again "
                "for the masks"
            )
        run.n_masks = writer.count


def _noise_of(frames: np.ndarray):
    from ..core.noise import estimate_noise_model

    return estimate_noise_model(frames)


def _both(first, second) -> None:
    first()
    second()


# A warm-up longer than this is compiling, not loading the kernels from the cache.
_COMPILING_AFTER_S = 1.5


def _prepare_engine(dtype, method: str, bars: ProgressBars, *, colour: bool) -> None:
    """Compile or load the kernels before the run; named as a stage when it is compiling.

    The first run after installing compiles them (seconds); later runs load
    them from the cache within about a second, and then nothing is shown.
    """
    from ..engine.compiling import start_warm_up

    thread = start_warm_up(dtype, method, colour=colour)
    if thread is None:
        return
    thread.join(_COMPILING_AFTER_S)
    while thread.is_alive():
        bars.waiting("compiling the engine: first run after installing, cached afterwards")
        thread.join(0.25)


def _drift_summary(drifts: list) -> str:
    from ..engine.drift import change_message

    low = min(float(d.brightness.min()) for d in drifts)
    high = max(float(d.brightness.max()) for d in drifts)
    text = f"background brightness {low:.2f} to {high:.2f} of the first frame's"
    changes = change_message(drifts)
    return text + (f"; {changes}" if changes else "")
