"""The command line's inputs and where their outputs go, decided before any is read."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

__all__ = ["Targets", "expand", "planned_outputs"]


def expand(path: Path) -> "list[Path]":
    """A folder holding videos stands for its files (each its own input);
    any other folder is one input, a sequence of frames."""
    from ..io.video import VIDEO_EXTENSIONS

    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if any(p.suffix.lower() in VIDEO_EXTENSIONS for p in files):
        return files
    return [path]


class Targets(NamedTuple):
    """Where one input's outputs go; None for those not asked for (no background with
    ``--background``, which applies one given)."""

    background: "Path | None"
    masks: "Path | None"
    corrected: "Path | None"
    gain_plot: "Path | None"


def outputs_for(source: Path, args, several: bool) -> Targets:
    """The outputs of one input (``source``), as the arguments ask for them."""
    folder = args.output_dir if args.output_dir is not None else source.parent
    if args.output is not None:
        background = args.output
    else:
        name = "_backgrounds.tif" if args.per_frame else "_background.png"
        background = folder / f"{source.stem}{name}"

    def each(path: "Path | None", name: str) -> "Path | None":
        # With several inputs the path is a folder holding one output per input.
        return path / f"{source.stem}{name}" if path is not None and several else path

    corrected = each(args.corrected_out, "_corrected.tif")
    if args.background is not None:  # a background given: the corrected frames are the output
        background = None
        corrected = corrected or folder / f"{source.stem}_corrected.tif"
    return Targets(
        background,
        each(args.foreground_out, "_foreground"),
        corrected,
        each(args.gain_plot, "_gain.png"),
    )


def planned_outputs(jobs: list, args, parser) -> list:
    """Each job's (source, name, targets); a usage error if two would write the same output."""
    several = len(jobs) > 1
    planned = []
    owners: "dict[str, Path]" = {}
    for source in jobs:
        named = Path("sample") if source is None else source  # the built-in sample
        targets = outputs_for(named, args, several)
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
