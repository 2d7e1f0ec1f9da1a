"""Command line: backgrounds of video files, or of the built-in sample.

    napari-gmm-background VIDEO... [-o OUTPUT | --output-dir DIR] [options]
    napari-gmm-background --sample [-o OUTPUT]

Runs the same engine as the napari widget and ``extract_background``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-gmm-background",
        description=(
            "Static background of videos by a per-pixel Gaussian mixture: the mean "
            "of each pixel's most weighted component over all frames."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="video files")
    parser.add_argument(
        "--sample", action="store_true",
        help="run on the built-in synthetic traffic video instead (no file needed)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "-o", "--output", type=Path,
        help="output image (.png or .tif) for a single input; "
        "default: INPUT_background.png beside the input, sample_background.png for --sample",
    )
    where.add_argument("--output-dir", type=Path, help="folder for the outputs of many inputs")
    parser.add_argument("--components", type=int, default=2, help="Gaussians per pixel")
    parser.add_argument("--max-iter", type=int, default=100, help="EM iterations at most")
    parser.add_argument("--tol", type=float, default=1e-3, help="EM convergence threshold")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    return parser


def _output_for(source: Path, args: argparse.Namespace) -> Path:
    if args.output is not None:
        return args.output
    name = f"{source.stem}_background.png"
    return (args.output_dir / name) if args.output_dir is not None else source.with_name(name)


def _write_image(path: Path, image) -> None:
    import cv2
    import numpy as np

    if image.ndim == 3 and image.shape[-1] == 3:
        image = image[..., ::-1]  # OpenCV writes BGR
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(image)):
        raise OSError(f"could not write {path} (use a .png or .tif name)")


def main(argv: "list[str] | None" = None) -> int:
    """Run the command line; return the exit code (0: every input succeeded)."""
    args = _parser().parse_args(argv)
    if not args.inputs and not args.sample:
        _parser().error("give one or more video files, or --sample")
    if args.output is not None and len(args.inputs) + args.sample > 1:
        _parser().error("-o/--output takes a single input; use --output-dir for several")

    from .engine import extract_background

    jobs = [(Path(p), Path(p)) for p in args.inputs]
    if args.sample:
        jobs.append((None, Path("sample.avi")))
    failures = 0
    for source, named_as in jobs:
        label = "sample" if source is None else str(source)
        target = _output_for(named_as, args)
        try:
            if target.exists() and not args.overwrite:
                raise FileExistsError(f"{target} exists (use --overwrite to replace it)")
            start = time.perf_counter()
            if source is None:
                from .datasets import synthetic_traffic

                frames, truth = synthetic_traffic()
            else:
                from .io import read_video

                frames, truth = read_video(source), None
            decoded = time.perf_counter()
            background = extract_background(
                frames, n_components=args.components, max_iter=args.max_iter, tol=args.tol
            )
            fitted = time.perf_counter()
            _write_image(target, background)
        except (OSError, ValueError) as error:
            failures += 1
            print(f"{label}: error: {error}", file=sys.stderr)
            continue
        if not args.quiet:
            t, h, w = frames.shape[:3]
            line = (
                f"{label}: {t} frames of {w}x{h} -> {target} "
                f"(read {decoded - start:.2f} s, background {fitted - decoded:.2f} s)"
            )
            if truth is not None:
                error = abs(background.astype(float) - truth).mean()
                line += f"; mean error against the true background {error:.2f} grey levels"
            print(line)
    return 1 if failures else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
