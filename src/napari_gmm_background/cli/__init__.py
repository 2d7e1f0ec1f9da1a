"""Command line: backgrounds of many videos, frame folders and TIFF stacks.

    napari-gmm-background INPUT... [-o OUTPUT | --output-dir DIR] [options]
    napari-gmm-background --sample [-o OUTPUT]

Runs the same engine as the napari widget and ``extract_background``: each
input is one plan (:mod:`.process`), its progress shown per stage. Videos
stream through bounded memory (see :mod:`napari_gmm_background.io.streaming`);
frame folders and TIFF stacks are read into memory.
"""

from __future__ import annotations

import signal
import sys
import threading
import warnings
from pathlib import Path

from ..core.memory import memory_budget
from ..io.images import InputError  # noqa: F401 - a bad input's error, for callers
from ..io.video import DamagedVideoWarning
from . import arguments
from .inputs import expand, planned_outputs
from .process import process

__all__ = ["main"]

DEFAULT_BUDGET = 3 * 2**29  # 1.5 GiB


def _check_settings(args, parser) -> None:
    """The checks every path makes, before any input is read: a usage error naming the flag."""
    from ..methods.gmm import EMSettings

    try:
        EMSettings(args.components, args.max_iter, args.tol)
        arguments.engine_settings(args)
    except (TypeError, ValueError) as error:
        message = str(error)
        name = message.split()[0]
        flag = arguments.SETTING_FLAGS.get(name)
        parser.error(f"{flag}: {message}" if flag else message)


# What a background given with --background replaces: the outputs of estimating one.
_ESTIMATE_ONLY = {
    "output": "-o/--output",
    "per_frame": "--per-frame",
    "gain_plot": "--gain-plot",
    "foreground_out": "--foreground-out",
}


def _given_background(args, parser):
    """The background ``--background`` names, read once; a usage error if it cannot be used."""
    if args.background is None:
        return None
    for name, flag in _ESTIMATE_ONLY.items():
        if getattr(args, name):
            parser.error(
                f"--background applies a background given, so there is none to estimate: "
                f"{flag} is for estimated backgrounds (the output is the corrected frames: "
                "--corrected-out or --output-dir)"
            )
    from ..io.images import read_image

    try:
        return read_image(args.background)
    except (OSError, ValueError) as error:
        parser.error(f"--background: {error}")


def main(argv: "list[str] | None" = None) -> int:
    """Run the command line; return the exit code (0: every input succeeded)."""
    parser = arguments.parser()
    args = parser.parse_args(argv)
    args.per_frame = args.per_frame or args.gain_plot is not None
    if not args.inputs and not args.sample:
        parser.error("give one or more inputs, or --sample")
    _check_settings(args, parser)
    args.given_background = _given_background(args, parser)
    budget = args.memory_budget or min(DEFAULT_BUDGET, memory_budget())
    jobs = [path for p in args.inputs for path in expand(Path(p))]
    jobs += [None] if args.sample else []
    n_inputs = len(jobs)
    if args.output is not None and n_inputs > 1:
        parser.error(
            f"-o/--output takes a single input, and {n_inputs} were given "
            "(a folder of videos counts each); use --output-dir"
        )
    inputs = [source for source in jobs if source is not None]
    planned = planned_outputs(jobs, args, parser)
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
                        summary = process(source, targets, args, budget, inputs, stop)
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
