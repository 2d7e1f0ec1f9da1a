"""The command line's arguments: what each means, its default, and their checks."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..engine.correction import DTYPES as CORRECTED_DTYPES
from ..engine.correction import MODES as CORRECTIONS
from ..engine.table import DEFAULT_METHOD, METHODS, Settings

__all__ = ["SETTING_FLAGS", "engine_settings", "parser"]

# The engine's settings and the flags that give them.
SETTING_FLAGS = {"n_components": "--components", "max_iter": "--max-iter", "tol": "--tol"}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Says "(default: X)" only where there is a default to say: not for None or a flag."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def parser() -> argparse.ArgumentParser:
    """The parser of the command line's arguments."""
    parser = argparse.ArgumentParser(
        prog="napari-gmm-background",
        description=(
            "Static background of videos and image stacks by per-pixel Gaussian mixtures "
            "(--method below; the default is the most accurate measured)."
        ),
        formatter_class=_HelpFormatter,
    )
    _add_inputs_and_outputs(parser)
    _add_method(parser)
    _add_masks(parser)
    _add_drifting(parser.add_argument_group(
        "drifting backgrounds and correction (microscopy: bleaching, lamp drift, focus jumps)"
    ))  # fmt: skip
    parser.add_argument(
        "--memory-budget",
        type=_size,
        default=None,
        metavar="SIZE",
        help="memory for decoded frames and histograms (e.g. 800MB, 2GB, 1.5GiB); videos over "
        "it stream in bounded memory; default: 1.5GiB or a quarter of the available memory, "
        "whichever is less",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars or summaries; errors only"
    )
    return parser


def _add_inputs_and_outputs(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument(
        "--frames",
        type=_frame_slice,
        default=None,
        metavar="START:STOP:STEP",
        help="frames to use, Python slice style (e.g. 100:, :500, ::2); a single number N "
        "means the first N frames; default: all",
    )


def _add_method(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method",
        choices=list(METHODS),
        default=DEFAULT_METHOD,
        help="; ".join(
            f"{entry.name}: {entry.summary}"
            + (" (needs the selected frames in memory)" if _in_memory_only(entry) else "")
            for entry in METHODS.values()
        ),
    )
    mixtures = ", ".join(name for name, entry in METHODS.items() if entry.fits_mixtures)
    parser.add_argument(
        "--components",
        type=int,
        default=Settings.n_components,
        help=f"Gaussians per pixel, for the methods that fit mixtures ({mixtures})",
    )
    parser.add_argument(
        "--max-iter",
        type=int,
        default=Settings.max_iter,
        help=f"EM iterations at most ({mixtures})",
    )
    parser.add_argument(
        "--tol", type=float, default=Settings.tol, help=f"EM convergence threshold ({mixtures})"
    )


def _in_memory_only(entry) -> bool:
    """Whether the method needs a video's selected frames in memory (no streaming yet)."""
    return entry.histogram_fit is None and not entry.streams


def _add_masks(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--foreground-out",
        type=Path,
        metavar="PATH",
        help="also write foreground masks (255 where a frame is farther from its background "
        "than --threshold standard deviations of the noise, measured at every brightness, "
        "as the napari widget's masks): a folder of PNG frames, or a lossless .avi/.mkv "
        "video; with several inputs, a folder per input inside PATH",
    )
    parser.add_argument(
        "--threshold",
        type=_threshold,
        default=4.0,
        help="foreground mask threshold, in standard deviations of the noise",
    )
    parser.add_argument(
        "--min-size",
        type=_at_least_zero,
        default=0,
        metavar="PIXELS",
        help="objects of fewer pixels are dropped from the masks",
    )


def _add_drifting(group) -> None:
    group.add_argument(
        "--per-frame",
        action="store_true",
        help="a background for every frame: a static one times a gain per frame over the "
        "dark level, cut into segments where the scene changes suddenly; the output is then "
        "a multi-page .tif (default INPUT_backgrounds.tif), the masks compare each frame "
        "with its own background, and the selected frames are read into memory",
    )
    group.add_argument(
        "--corrected-out",
        type=Path,
        metavar="PATH",
        help="also write the frames with the background applied (--correction), as a "
        "multi-page .tif (float32, or see --corrected-dtype) with the input's axes and pixel "
        "size; with several inputs, PATH is a folder and each input writes "
        "INPUT_corrected.tif in it",
    )
    group.add_argument(
        "--background",
        type=Path,
        metavar="PATH",
        help="apply this background to every input instead of estimating one: an image "
        "(.png, .tif; a flat-field made earlier, say from the fields of view of one slide) or a "
        "multi-page .tif of one per frame; writes the corrected frames only (--corrected-out, "
        "else INPUT_corrected.tif in --output-dir or beside the input); an input whose frames "
        "it does not fit is refused, the others still run",
    )
    group.add_argument(
        "--corrected-dtype",
        choices=CORRECTED_DTYPES,
        default="float32",
        help="the corrected frames' type: float32, or the input's own (a camera's uint16 "
        "stays uint16: values rounded; subtracting adds the background's maximum, rounded "
        "up, so nothing falls below zero; values that still do not fit are clipped and "
        "counted in the summary)",
    )
    group.add_argument(
        "--correction",
        choices=CORRECTIONS,
        default="subtract",
        help="how --corrected-out applies the background: subtract it, or divide by it "
        "(flat-field: (frame - dark) / (background - dark), times the mean of "
        "background - dark)",
    )
    group.add_argument(
        "--dark",
        type=float,
        default=0.0,
        help="the camera's dark level (its offset, the value with no light), for "
        "--correction divide",
    )
    group.add_argument(
        "--gain-plot",
        type=Path,
        metavar="PATH",
        help="also draw each frame's background brightness and the scene changes "
        "(.png, .svg or .pdf); implies --per-frame; with several inputs, PATH is a folder "
        "and each input writes INPUT_gain.png in it",
    )


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
    from ..core.checks import check_number

    try:
        return check_number("--threshold", float(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _at_least_zero(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("it must be 0 or more")
    return value


def _size(text: str) -> int:
    from ..core.memory import parse_size

    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def engine_settings(args: argparse.Namespace) -> dict:
    """The engine's settings from the flags: those the method uses (the others stay default).

    A flag set to other than its default for a method that has no use for
    it is refused: ValueError naming the flag and the methods that use it.
    """
    entry = METHODS[args.method]
    values = {"n_components": args.components, "max_iter": args.max_iter, "tol": args.tol}
    default = Settings()
    for name, value in values.items():
        if name not in entry.uses and value != getattr(default, name):
            users = " and ".join(other.name for other in METHODS.values() if name in other.uses)
            raise ValueError(
                f"{SETTING_FLAGS[name]} {value} is not used by --method {entry.name}; "
                f"it is for {users}"
            )
    return {name: value for name, value in values.items() if name in entry.uses}
