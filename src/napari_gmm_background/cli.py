"""Command line: backgrounds of many videos, frame folders and TIFF stacks.

    napari-gmm-background INPUT... [-o OUTPUT | --output-dir DIR] [options]
    napari-gmm-background --sample [-o OUTPUT]

Runs the same engine as the napari widget and ``extract_background``. Videos
stream through bounded memory (see :mod:`napari_gmm_background.streaming`);
frame folders and TIFF stacks are read into memory.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .engine.correction import MODES as CORRECTIONS
from .engine.run import DEFAULT_METHOD, METHODS
from .io.images import InputError
from .io.video import DamagedVideoWarning

__all__ = ["main"]

DEFAULT_BUDGET = 3 * 2**29  # 1.5 GiB


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Says "(default: X)" only where there is a default to say: not for None or a flag."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-gmm-background",
        description=(
            "Static background of videos and image stacks by per-pixel Gaussian mixtures "
            "(--method below; the default is the most accurate measured)."
        ),
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="video files (.avi .mp4 .mov ...), folders of videos (each file is an "
        "input), folders of frames (sorted by name), or multi-page TIFF stacks",
    )
    parser.add_argument(
        "--sample",
        action="store_true",
        help="also run on the built-in synthetic traffic video (no file needed)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "-o",
        "--output",
        type=Path,
        help="output image for a single input: .png (8 or 16 bit) or .tif; default: "
        "INPUT_background.png beside the input (.tif for float inputs)",
    )
    where.add_argument("--output-dir", type=Path, help="folder for the outputs of many inputs")
    mixtures = ", ".join(name for name, row in METHODS.items() if row.fits_mixtures)
    parser.add_argument(
        "--components",
        type=int,
        default=2,
        help=f"Gaussians per pixel, for the methods that fit mixtures ({mixtures}) and the "
        "foreground masks",
    )
    parser.add_argument(
        "--method",
        choices=list(METHODS),
        default=DEFAULT_METHOD,
        help="; ".join(
            f"{row.name}: {row.summary}"
            + (" (needs the selected frames in memory)" if row.needs_frames_in_memory else "")
            for row in METHODS.values()
        ),
    )
    parser.add_argument(
        "--frames",
        type=_frame_slice,
        default=None,
        metavar="START:STOP:STEP",
        help="frames to use, Python slice style (e.g. 100:, :500, ::2); a single number N "
        "means the first N frames; default: all",
    )
    parser.add_argument(
        "--max-iter", type=int, default=100, help=f"EM iterations at most ({mixtures}, masks)"
    )
    parser.add_argument(
        "--tol", type=float, default=1e-3, help=f"EM convergence threshold ({mixtures}, masks)"
    )
    parser.add_argument(
        "--foreground-out",
        type=Path,
        metavar="PATH",
        help="also write foreground masks (255 where a pixel is farther than "
        "--threshold standard deviations from its background): a folder of PNG "
        "frames, or a lossless .avi/.mkv video; with several inputs, a folder per input "
        "inside PATH",
    )
    parser.add_argument(
        "--threshold",
        type=_threshold,
        default=4.0,
        help="foreground mask threshold, in standard deviations",
    )
    drifting = parser.add_argument_group(
        "drifting backgrounds and correction (microscopy: bleaching, lamp drift, focus jumps)"
    )
    drifting.add_argument(
        "--per-frame",
        action="store_true",
        help="a background for every frame: a static one times a gain per frame over the "
        "dark level, cut into segments where the scene changes suddenly; the output is then "
        "a multi-page .tif (default INPUT_backgrounds.tif), the masks compare each frame "
        "with its own background, and the selected frames are read into memory",
    )
    drifting.add_argument(
        "--corrected-out",
        type=Path,
        metavar="PATH",
        help="also write the frames with the background applied (--correction), as a "
        "float32 multi-page .tif; with several inputs, PATH is a folder and each input "
        "writes INPUT_corrected.tif in it",
    )
    drifting.add_argument(
        "--correction",
        choices=CORRECTIONS,
        default="subtract",
        help="how --corrected-out applies the background: subtract it, or divide by it "
        "(flat-field: (frame - dark) / (background - dark), times the mean of "
        "background - dark)",
    )
    drifting.add_argument(
        "--dark",
        type=float,
        default=0.0,
        help="the camera's dark level (its offset, the value with no light), for "
        "--correction divide",
    )
    drifting.add_argument(
        "--gain-plot",
        type=Path,
        metavar="PATH",
        help="also draw each frame's background brightness and the scene changes "
        "(.png, .svg or .pdf); implies --per-frame; with several inputs, PATH is a folder "
        "and each input writes INPUT_gain.png in it",
    )
    parser.add_argument(
        "--memory-budget",
        type=_size,
        default=None,
        metavar="SIZE",
        help="memory for decoded frames and histograms (e.g. 800M, 2G); videos over it "
        "stream in bounded memory; default: 1.5G or a quarter of the available memory, "
        "whichever is less",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars or summaries; errors only"
    )
    return parser


def _frame_slice(text: str) -> slice:
    parts = text.split(":")
    if len(parts) > 3:
        raise argparse.ArgumentTypeError(f"{text!r} is not START:STOP:STEP")
    try:
        values = [int(p) if p.strip() else None for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not START:STOP:STEP") from None
    if len(values) == 1:  # a single number: that many frames from the start
        return slice(None, values[0])
    if len(values) == 3 and values[2] is not None and values[2] <= 0:
        raise argparse.ArgumentTypeError("STEP must be a positive integer")
    return slice(*values)


def _threshold(text: str) -> float:
    from .core.checks import check_number

    try:
        return check_number("--threshold", float(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _size(text: str) -> int:
    from .io.video import parse_size

    try:
        size = parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 800M or 2G") from None
    if size <= 0:
        raise argparse.ArgumentTypeError("the memory budget must be positive")
    return size


# -- inputs --------------------------------------------------------------------


def _expand(path: Path) -> "list[Path]":
    """A folder holding videos stands for its files (each its own input);
    any other folder is one input, a sequence of frames."""
    from .io.video import VIDEO_EXTENSIONS

    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if any(p.suffix.lower() in VIDEO_EXTENSIONS for p in files):
        return files
    return [path]


def _frames_in_memory(
    source: "Path | None", args, label: str, budget: int
) -> "tuple[np.ndarray, Any]":
    """The selected frames of an input, decoded into memory, and the true background if known.

    ``source`` None is the built-in sample, whose true background is known.
    A video decodes only its selected frames, and only if they (with the
    per-frame outputs asked for) fit in ``budget``.
    """
    from .io.images import input_kind

    truth = None
    if source is None:
        from .datasets import synthetic_traffic

        frames, truth = synthetic_traffic()
        frames = frames if args.frames is None else frames[args.frames]
    elif input_kind(source) == "video":
        frames = _decode_selected(source, args, label, budget)
    else:
        from .io.images import read_frames

        frames = read_frames(source)
        frames = frames if args.frames is None else frames[args.frames]
    if len(frames) == 0:
        raise InputError(f"{label}: no frames selected")
    return frames, truth


def _decode_selected(source: Path, args, label: str, budget: int) -> np.ndarray:
    from .io.video import format_bytes, iter_video_frames, video_info

    info = video_info(source)
    selected = range(info.n_frames)[args.frames or slice(None)]
    frame_bytes = info.height * info.width * 3
    # Frames as uint8, plus float32 per-frame backgrounds and corrected frames.
    per_frame_outputs = 4 * (int(args.per_frame) + int(args.corrected_out is not None))
    need = len(selected) * frame_bytes * (1 + per_frame_outputs)
    if need > budget:
        raise InputError(
            f"{label}: --per-frame and --corrected-out hold the selected frames in memory: "
            f"{len(selected)} frames need about {format_bytes(need)}, over the memory budget "
            f"of {format_bytes(budget)}; select fewer frames (--frames START:STOP:STEP) or "
            "raise --memory-budget"
        )
    frames = np.empty((len(selected), info.height, info.width, 3), dtype=np.uint8)
    count = 0
    for frame in iter_video_frames(source, indices=selected):
        frames[count] = frame
        count += 1
    return frames[:count]


# -- outputs -------------------------------------------------------------------


class _Targets(NamedTuple):
    """Where one input's outputs go; None for those not asked for."""

    background: Path
    masks: "Path | None"
    corrected: "Path | None"
    gain_plot: "Path | None"


def _outputs_for(source: Path, args, several: bool) -> _Targets:
    if args.output is not None:
        background = args.output
    else:
        folder = args.output_dir if args.output_dir is not None else source.parent
        name = "_backgrounds.tif" if args.per_frame else "_background.png"
        background = folder / f"{source.stem}{name}"

    def each(path: "Path | None", name: str) -> "Path | None":
        # With several inputs the path is a folder holding one output per input.
        return path / f"{source.stem}{name}" if path is not None and several else path

    return _Targets(
        background,
        each(args.foreground_out, "_foreground"),
        each(args.corrected_out, "_corrected.tif"),
        each(args.gain_plot, "_gain.png"),
    )


# -- running -------------------------------------------------------------------


# Stages counted in frames; the others (fitting) in percent of the work.
_FRAME_STAGES = ("decode", "masks")


class _Progress:
    """A tqdm bar per stage of an input, or nothing with --quiet.

    Decoding and masks count frames (with a rate in frames per second);
    fitting counts percent of the work, whose steps are chunks of pixels of
    different sizes, so a rate in steps would mean nothing.
    """

    def __init__(self, label: str, quiet: bool):
        self.label = label
        self.quiet = quiet
        self.bar = None
        self.stage = None

    def _enter(self, stage: str, **bar_format) -> None:
        """A new bar for ``stage``, unless it is the current one already."""
        if stage == self.stage:
            return
        from tqdm import tqdm

        self.close()
        self.stage = stage
        self.bar = tqdm(desc=f"{self.label} [{stage}]", leave=False, file=sys.stderr, **bar_format)

    def update(self, stage: str, done: int, total: int) -> None:
        if self.quiet:
            return
        if stage in _FRAME_STAGES:
            self._enter(stage, total=total, unit=" frames")
        else:
            self._enter(
                stage,
                total=total,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]",
            )
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def waiting(self, stage: str) -> None:
        """A stage with no count, showing the time it has taken so far."""
        if self.quiet:
            return
        self._enter(stage, bar_format="{desc}: {elapsed}")
        self.bar.refresh()

    def follow(self, generator, stage: str):
        """Run a progress generator to its end, showing its steps; its return value."""
        while True:
            try:
                step = next(generator)
            except StopIteration as stop:
                return stop.value
            self.update(step.stage or stage, step.done, step.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _process(
    source: "Path | None", targets: _Targets, args, budget: int, inputs: list, stop: "_Stop"
) -> str:
    """Run one input; return its summary line. Raises on failure, leaving no output.

    From the moment its outputs are moved in, ``stop`` holds back a stop
    request, so an input is either wholly written or reported as nothing.
    """
    from .engine.run import iter_background
    from .io.images import (
        background_path,
        encode_image,
        encode_stack,
        input_kind,
        is_mask_folder,
        mask_output_kind,
        stack_path,
    )
    from .io.outputs import PendingOutputs

    masks = targets.masks
    # Per-frame backgrounds and corrected frames need every selected frame at hand.
    in_memory = args.per_frame or targets.corrected is not None
    settings = dict(
        method=args.method,
        n_components=args.components,
        max_iter=args.max_iter,
        tol=args.tol,
        keep_model=masks is not None and not args.per_frame,
        per_frame=args.per_frame,
    )
    label = "sample" if source is None else source.name
    progress = _Progress(label, args.quiet)
    start = time.perf_counter()
    target = targets.background
    drifts = None
    with PendingOutputs(overwrite=args.overwrite, inputs=inputs) as outputs:
        # Outputs are checked before anything is decoded.
        is_video = source is not None and input_kind(source) == "video"
        background_file = None
        if args.per_frame:
            target = stack_path(target, "--per-frame backgrounds")
            background_file = outputs.add_file(target)
        elif is_video or source is None:
            target = background_path(target, np.uint8)
            background_file = outputs.add_file(target)
        mask_file = None
        if masks is not None:
            if mask_output_kind(masks) == "video":
                mask_file = outputs.add_file(masks)
            else:
                mask_file = outputs.add_folder(masks, replaceable=is_mask_folder)
        corrected_file = plot_file = None
        if targets.corrected is not None:
            corrected_file = outputs.add_file(stack_path(targets.corrected, "--corrected-out"))
        if targets.gain_plot is not None:
            plot_file = outputs.add_file(_plot_path(targets.gain_plot))
        try:
            if is_video and not in_memory:
                from .io.streaming import iter_video_background
                from .io.video import video_info

                info = video_info(source)
                selected = range(info.n_frames)[args.frames or slice(None)]
                shape = (len(selected), info.height, info.width)
                settings.pop("per_frame")
                generator = iter_video_background(
                    source, frames=args.frames, memory_budget=budget, info=info, **settings
                )
                frames = truth = None
            else:
                frames, truth = _frames_in_memory(source, args, label, budget)
                if background_file is None:
                    target = background_path(target, frames.dtype)
                    background_file = outputs.add_file(target)
                selected = None
                shape = frames.shape[:3]
                generator = iter_background(frames, **settings)
            _prepare_engine(np.uint8 if frames is None else frames.dtype, args.method, progress)
            result = progress.follow(generator, "fit")
            model = None
            if args.per_frame:
                background, drifts = result
                encode_stack(background_file, background)
            else:
                background, model = result if masks is not None else (result, None)
                encode_image(background_file, background)
            if masks is not None:
                n_masks = _write_masks(
                    source,
                    frames,
                    selected,
                    model,
                    background,
                    shape[1:3],
                    mask_file,
                    args,
                    progress,
                )
            if corrected_file is not None:
                from .engine.correction import apply_background

                corrected = apply_background(
                    frames, background, mode=args.correction, dark=args.dark
                )
                encode_stack(corrected_file, corrected)
            if plot_file is not None:
                from .io.outputs import write_file
                from .plots import drift_figure

                figure = drift_figure(drifts, _colour_names(frames), title=label)
                kind = plot_file.suffix.lower().lstrip(".")
                write_file(plot_file, lambda file: figure.savefig(file, format=kind))
        finally:
            progress.close()
        stop.hold()
        outputs.commit()
    summary = (
        f"{label}: {shape[0]} frames of {shape[2]}x{shape[1]} -> {target} "
        f"({args.method}{', per frame' if args.per_frame else ''}) in "
        f"{time.perf_counter() - start:.1f} s"
    )
    if truth is not None and not args.per_frame:
        error = np.abs(background.astype(np.float64) - truth).mean()
        summary += f"; mean error against the true background {error:.2f} grey levels"
    if drifts is not None:
        summary += "; " + _drift_summary(drifts)
    if masks is not None:
        summary += f"; {n_masks} foreground masks -> {masks}"
    if corrected_file is not None:
        summary += f"; corrected frames ({args.correction}) -> {targets.corrected}"
    if plot_file is not None:
        summary += f"; brightness plot -> {targets.gain_plot}"
    return summary


# A warm-up longer than this is compiling, not loading the kernels from the cache.
_COMPILING_AFTER_S = 1.5


def _prepare_engine(dtype, method: str, progress: _Progress) -> None:
    """Compile or load the kernels before the run; named as a stage when it is compiling.

    The first run after installing compiles them (seconds); later runs load
    them from the cache within about a second, and then nothing is shown.
    """
    from .engine.run import start_warm_up

    thread = start_warm_up(dtype, method)
    if thread is None:
        return
    thread.join(_COMPILING_AFTER_S)
    while thread.is_alive():
        progress.waiting("compiling the engine: first run after installing, cached afterwards")
        thread.join(0.25)


PLOT_EXTENSIONS = (".png", ".svg", ".pdf")


def _plot_path(path: Path) -> Path:
    if path.suffix.lower() not in PLOT_EXTENSIONS:
        raise InputError(f"{path}: --gain-plot draws {', '.join(PLOT_EXTENSIONS)} files")
    return path


def _colour_names(frames: np.ndarray) -> "list[str] | None":
    """Legend entries for the stacks of a frames array: its colours, if it has them."""
    if frames.ndim == 4 and frames.shape[-1] == 3:
        return ["red", "green", "blue"]
    return None


def _drift_summary(drifts: list) -> str:
    from .engine.drift import change_message

    low = min(float(d.brightness.min()) for d in drifts)
    high = max(float(d.brightness.max()) for d in drifts)
    text = f"background brightness {low:.2f} to {high:.2f} of the first frame's"
    changes = change_message(drifts)
    return text + (f"; {changes}" if changes else "")


def _write_masks(
    source, frames, selected, model, background, size, target: Path, args, progress: _Progress
) -> int:
    """Foreground masks of every selected frame.

    From the mixture ``model`` (a pixel farther than the threshold in its
    background Gaussian's deviations), or without one (per-frame
    backgrounds) from :func:`foreground_labels` against each frame's own
    background. ``frames`` in memory, or None for a video streamed again (a
    second decoding pass) over its ``selected`` frame indices.
    """
    from .io.images import MaskWriter

    if model is None:
        from .engine.masks import iter_foreground_labels

        labels = progress.follow(
            iter_foreground_labels(frames, background, threshold=args.threshold), "masks"
        )
        n, frames_iter = len(frames), iter(labels > 0)
    else:
        mean = model.background_mean
        limit = args.threshold * model.background_std

        def outside(frame: np.ndarray) -> np.ndarray:
            mask = np.abs(frame - mean) > limit
            return mask.any(axis=-1) if mask.ndim == 3 else mask

        if frames is None:
            from .io.video import iter_video_frames

            n = len(selected)
            frames_iter = map(outside, iter_video_frames(source, indices=selected))
        else:
            n, frames_iter = len(frames), map(outside, frames)
    writer = MaskWriter(target, size)
    try:
        for t, mask in enumerate(frames_iter):
            writer.write(mask)
            if model is not None:
                progress.update("masks", t + 1, n)
    finally:
        writer.close()
    if writer.count != n:
        raise OSError(f"only {writer.count} of {n} frames could be read again for the masks")
    return writer.count


def _planned_outputs(jobs: list, args, parser) -> list:
    """Each job's (source, name, targets); usage error if two would collide."""
    several = len(jobs) > 1
    planned = []
    owners: "dict[str, Path]" = {}
    for source in jobs:
        named = Path("sample") if source is None else source  # the built-in sample
        targets = _outputs_for(named, args, several)
        for path in targets:
            if path is None:
                continue
            key = os.path.normcase(os.path.realpath(path.with_suffix("")))
            if key in owners:
                parser.error(
                    f"{owners[key]} and {named} would both write {path}: give them different "
                    "names or output folders, or run them separately"
                )
            owners[key] = named
        planned.append((source, named, targets))
    return planned


def main(argv: "list[str] | None" = None) -> int:
    """Run the command line; return the exit code (0: every input succeeded)."""
    parser = _parser()
    args = parser.parse_args(argv)
    args.per_frame = args.per_frame or args.gain_plot is not None
    if not args.inputs and not args.sample:
        parser.error("give one or more inputs, or --sample")
    from .io.video import memory_budget
    from .methods.gmm import EMSettings

    try:  # the same check every path makes, before any input is read
        EMSettings(args.components, args.max_iter, args.tol)
    except (TypeError, ValueError) as error:
        flags = {"n_components": "--components", "max_iter": "--max-iter", "tol": "--tol"}
        parser.error(f"{flags[str(error).split()[0]]}: {error}")
    budget = args.memory_budget or min(DEFAULT_BUDGET, memory_budget())
    jobs = [path for p in args.inputs for path in _expand(Path(p))]
    jobs += [None] if args.sample else []
    n_inputs = len(jobs)
    if args.output is not None and n_inputs > 1:
        parser.error(
            f"-o/--output takes a single input, and {n_inputs} were given "
            "(a folder of videos counts each); use --output-dir"
        )
    inputs = [source for source in jobs if source is not None]
    planned = _planned_outputs(jobs, args, parser)
    failures = 0
    # SIGTERM stops a run as Ctrl-C does, cleaning up (Python can set it from the main thread).
    in_main_thread = threading.current_thread() is threading.main_thread()
    stop = _Stop()
    previous_handlers = (
        {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGINT)}
        if in_main_thread
        else {}
    )
    try:
        for source, named, targets in planned:
            stop.release()
            try:
                if source is not None and not source.exists():
                    raise FileNotFoundError(f"no such file or folder: {source}")
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", DamagedVideoWarning)
                    try:
                        summary = _process(source, targets, args, budget, inputs, stop)
                    finally:
                        for warning in caught:
                            text = str(warning.message).removeprefix(f"{source}: ")
                            print(f"{named}: warning: {text}", file=sys.stderr)
            except (OSError, ValueError) as error:
                failures += 1
                print(f"{named}: error: {error}", file=sys.stderr)
                continue
            if not args.quiet:
                print(summary)
    except KeyboardInterrupt:
        print("interrupted: the input in progress wrote nothing", file=sys.stderr)
        return 130
    finally:
        for number, handler in previous_handlers.items():
            signal.signal(number, handler)
    if failures and not args.quiet:
        print(f"{failures} of {n_inputs} inputs failed", file=sys.stderr)
    return 1 if failures else 0


class _Stop:
    """SIGTERM and Ctrl-C as KeyboardInterrupt, so a stopped run cleans up after itself.

    Held back once an input's outputs are being moved in: that input
    finishes, and the stop takes effect before the next one starts (a stop
    after the last input changes nothing: every output is complete).
    """

    def __init__(self):
        self._held = False
        self._requested = False

    def __call__(self, signum, frame):
        if self._held:
            self._requested = True
            return
        raise KeyboardInterrupt

    def hold(self) -> None:
        self._held = True

    def release(self) -> None:
        """Before an input starts: a stop asked for meanwhile happens now."""
        self._held = False
        if self._requested:
            raise KeyboardInterrupt


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
