"""Microscopy: fluorescence and transmitted light, static and drifting; masks, correction.

Movies from ``datasets.fluorescence_movie`` (uint16, Poisson and read noise,
camera offset 100, vignetting, dust, debris, moving and dividing cells of
which a quarter barely move), each with its true background per frame:

* "static": nothing drifts;
* "bleaching": everything fades by 30 % over the movie;
* "jump": the lamp brightens by 1.3 and the focus changes at the middle frame;
* "T,C,Y,X": two channels (two static movies) of half the frames;
* "T,Z,Y,X": nine slices (nine static movies) of a quarter of the frames;

and from ``datasets.transmitted_light_movie`` (3,000 photons, cells that
absorb 45 %) and ``datasets.fields_of_view`` (other cells in every frame):

* "brightfield": a faint bright halo around the cells;
* "phase": a strong one (foreground both darker and brighter);
* "fields of view": 60 fields of one fluorescence slide, 10 cells each.

For each static run of the default (``auto``) the choice it made is
printed, and whether it warned that the brightness drifts.

Each method's background is compared with every frame's true background:
the mean absolute error over all frames and pixels, in ADU. Static methods
give one image for the whole movie; per-frame methods one per frame.

* ``extract_background(frames, method=...)`` for "auto" (the default),
  "fluorescence", "transmitted", "motionless" and "gmm", and with
  ``per_frame=True``;
* ``np.median`` and ``np.percentile(..., 10)`` over time;
* OpenCV MOG2 (float32 frames scaled to 0-255, then scaled back);
* BaSiCPy (``BaSiC().fit(frames)``: flatfield x baseline + darkfield per
  frame, with and without the darkfield; the better one is kept), when it
  can be imported here or with ``--basicpy-python`` naming the interpreter
  of an environment that has it (it pulls in JAX or torch, so it is kept out
  of this package's dependencies: ``python -m venv bvenv && bvenv/bin/pip
  install basicpy``).

Also: the foreground labels (``foreground_labels``, threshold 4, min size
30) against the movie's true cells, pixel precision and recall; and
``apply_background`` on a dask stack: lazy, equal to numpy, seconds for one
frame.

    python benchmarks/microscopy.py                                 # ~3 min
    python benchmarks/microscopy.py --basicpy-python bvenv/bin/python

Prints a markdown table, writes results/microscopy.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def basicpy_backgrounds(frames: np.ndarray) -> np.ndarray:
    """Each frame's background by BaSiCPy, the better of with or without darkfield.

    "Better" needs the truth, which BaSiCPy does not see: both are returned
    by the worker and the caller picks; this function just runs one fit.
    """
    from basicpy import BaSiC

    out = []
    for darkfield in (False, True):
        model = BaSiC(get_darkfield=darkfield)
        model.fit(frames.astype(np.float32))
        background = (
            model.flatfield[None] * model.baseline[:, None, None] + model.darkfield[None]
        ).astype(np.float32)
        out.append(background)
    return np.stack(out)


def basicpy_worker(movie_path: str, out_path: str) -> None:
    """Run in BaSiCPy's environment: only numpy and basicpy are imported."""
    frames = np.load(movie_path)
    start = time.perf_counter()
    backgrounds = basicpy_backgrounds(frames)
    np.savez(out_path, backgrounds=backgrounds, seconds=(time.perf_counter() - start) / 2)


def run_basicpy(frames: np.ndarray, python: "str | None"):
    """(backgrounds with and without darkfield, seconds per fit), or None without BaSiCPy."""
    try:
        import basicpy  # noqa: F401

        python = python or sys.executable
    except ImportError:
        if python is None:
            return None
    with tempfile.TemporaryDirectory() as folder:
        movie, out = Path(folder, "movie.npy"), Path(folder, "out.npz")
        np.save(movie, frames)
        done = subprocess.run(
            [python, __file__, "--basicpy-worker", str(movie), str(out)],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"BaSiCPy failed:\n{done.stderr[-2000:]}")
        result = np.load(out)
        return result["backgrounds"], float(result["seconds"])


def mog2_background(frames: np.ndarray) -> np.ndarray:
    import cv2

    scale = 255.0 / float(frames.max())
    subtractor = cv2.createBackgroundSubtractorMOG2()
    for frame in frames:
        subtractor.apply(frame.astype(np.float32) * scale)
    return subtractor.getBackgroundImage().astype(np.float32) / scale


def mean_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute error over frames; ``estimate`` one image or one per frame."""
    estimate = np.asarray(estimate, dtype=np.float32)
    if estimate.ndim == truth.ndim - 1:
        return float(np.mean([np.abs(estimate - frame).mean() for frame in truth]))
    return float(np.abs(estimate - truth).mean())


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def static_methods() -> dict:
    from napari_gmm_background import extract_background

    def method(name):
        def run(frames):
            import warnings

            from napari_gmm_background import DriftWarning

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DriftWarning)
                return extract_background(frames, method=name)

        return run

    return {
        "auto (default)": method("auto"),
        "fluorescence": method("fluorescence"),
        "transmitted": method("transmitted"),
        "motionless": method("motionless"),
        "gmm": method("gmm"),
        "np.median": lambda f: np.median(f, axis=0),
        "np.percentile 10": lambda f: np.percentile(f, 10, axis=0),
        "OpenCV MOG2": mog2_background,
    }


def per_frame_methods() -> dict:
    import warnings

    from napari_gmm_background import SceneChangeWarning, extract_background

    def per_frame(method):
        def run(frames):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SceneChangeWarning)
                return extract_background(frames, method=method, per_frame=True)

        return run

    return {
        "auto, per frame": per_frame("auto"),
        "fluorescence, per frame": per_frame("fluorescence"),
        "motionless, per frame": per_frame("motionless"),
    }


def what_auto_says(frames: np.ndarray) -> dict:
    """The default's choices on ``frames`` (static), and any DriftWarning it gives."""
    import warnings

    from napari_gmm_background import DriftWarning
    from napari_gmm_background.core.progress import run_to_end
    from napari_gmm_background.engine.choice import describe_choices
    from napari_gmm_background.engine.run import iter_background

    choices = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DriftWarning)
        run_to_end(iter_background(frames, choices=choices))
    drift = [str(w.message) for w in caught if issubclass(w.category, DriftWarning)]
    return {"choice": describe_choices(choices), "drift warning": drift[0] if drift else ""}


def movies(args) -> dict:
    """(name, movie, whether the per-frame methods run on it) of every movie measured."""
    from napari_gmm_background.datasets import (
        DRIFTS,
        fields_of_view,
        fluorescence_movie,
        transmitted_light_movie,
    )

    size, n, seed = args.size, args.frames, args.seed
    for drift in DRIFTS:
        yield drift, fluorescence_movie(n, size, size, drift=drift, seed=seed), True
    channels = [fluorescence_movie(n // 2, size, size, seed=seed + c) for c in (1, 2)]
    yield "T,C,Y,X", _stacked(channels, axis=1), False
    slices = [fluorescence_movie(n // 4, size, size, seed=seed + 10 + z) for z in range(9)]
    yield "T,Z,Y,X", _stacked(slices, axis=1), False
    for contrast in ("brightfield", "phase"):
        movie = transmitted_light_movie(n, size, size, contrast=contrast, seed=seed)
        yield contrast, movie, False
    yield "fields of view", fields_of_view(60, size, size, n_cells=10, seed=seed), False


def _stacked(movies: list, axis: int):
    """Movies side by side along a new axis after time, as one movie with its truth."""
    from types import SimpleNamespace

    return SimpleNamespace(
        frames=np.stack([m.frames for m in movies], axis=axis),
        background=np.stack([m.background for m in movies], axis=axis),
    )


def mask_scores(movie, backgrounds, frames: int) -> dict:
    from napari_gmm_background import foreground_labels

    labels, seconds = timed(
        lambda: foreground_labels(
            movie.frames[:frames], backgrounds[:frames], threshold=4, min_size=30
        )
    )
    found, true = labels > 0, movie.cells[:frames]
    hits = np.count_nonzero(found & true)
    return {
        "precision": hits / max(np.count_nonzero(found), 1),
        "recall": hits / max(np.count_nonzero(true), 1),
        "seconds": seconds,
        "frames": frames,
    }


def correction_scores(movie, background) -> dict:
    import dask.array as da

    from napari_gmm_background import apply_background

    lazy = da.from_array(movie.frames, chunks=(10, 256, 256))
    out = {}
    for mode in ("subtract", "divide"):
        corrected = apply_background(lazy, background, mode=mode, dark=100.0)
        frame, seconds = timed(lambda c=corrected: c[len(movie.frames) // 2].compute())
        eager = apply_background(movie.frames, background, mode=mode, dark=100.0)
        out[mode] = {
            "lazy": isinstance(corrected, da.Array),
            "equal_to_numpy": bool(np.allclose(frame, eager[len(movie.frames) // 2])),
            "seconds_one_frame": seconds,
        }
    return out


def main():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image side, pixels")
    parser.add_argument("--frames", type=int, default=200, help="frames per movie")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--mask-frames", type=int, default=50, help="frames the masks are scored on"
    )
    parser.add_argument(
        "--basicpy-python",
        default=None,
        help="the Python of an environment with basicpy (default: this one, if it has it)",
    )
    parser.add_argument("--basicpy-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.basicpy_worker:
        basicpy_worker(*args.basicpy_worker)  # in BaSiCPy's environment: not our package
        return
    from napari_gmm_background.datasets import fluorescence_movie

    results = {"movies": {}, "masks": {}, "correction": None, "auto": {}}
    warm = fluorescence_movie(12, 64, 64, seed=1).frames
    for run in (*static_methods().values(), *per_frame_methods().values()):
        run(warm)  # compile the kernels before timing
    for name, movie, per_frame in movies(args):
        rows = {}
        frames = movie.frames
        many_stacks = frames.ndim > 3
        runs = {**static_methods(), **per_frame_methods()} if per_frame else static_methods()
        if many_stacks:  # the stack-wise methods only: medians and MOG2 see one image per frame
            runs = {k: v for k, v in runs.items() if not k.startswith(("np.", "OpenCV"))}
        for method, run in runs.items():
            estimate, seconds = timed(lambda run=run, frames=frames: run(frames))
            rows[method] = {"error": mean_error(estimate, movie.background), "seconds": seconds}
            if method == "fluorescence, per frame":
                per_frame_background = estimate
            if method == "fluorescence" and name == "static":
                static_background = estimate
        basic = None if many_stacks else run_basicpy(frames, args.basicpy_python)
        if basic is not None:
            backgrounds, seconds = basic
            errors = [mean_error(b, movie.background) for b in backgrounds]
            rows["BaSiCPy"] = {
                "error": min(errors),
                "seconds": seconds,
                "darkfield": bool(np.argmin(errors)),
            }
        results["movies"][name] = rows
        results["auto"][name] = what_auto_says(frames)
        if name in ("static", "bleaching"):
            results["masks"][name] = mask_scores(movie, per_frame_background, args.mask_frames)
        if name == "static":
            results["correction"] = correction_scores(movie, static_background)
        print(f"{name}: done", file=sys.stderr)

    results["machine"] = machine()
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "microscopy.json").write_text(json.dumps(results, indent=1))
    print_tables(results, args)


def machine() -> str:
    import os
    import platform

    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores, Python {platform.python_version()}"


def print_tables(results: dict, args) -> None:
    movies = list(results["movies"])
    methods = list(dict.fromkeys(m for rows in results["movies"].values() for m in rows))
    print(
        f"\nMean absolute error against each frame's true background, ADU "
        f"({args.frames} x {args.size} x {args.size} uint16, seed {args.seed}); time in s\n"
    )
    print("| method | " + " | ".join(movies) + " |")
    print("|---|" + "---|" * len(movies))
    for method in methods:
        cells = []
        for movie in movies:
            row = results["movies"][movie].get(method)
            cells.append(f"{row['error']:.2f} ({row['seconds']:.1f} s)" if row else "-")
        print(f"| {method} | " + " | ".join(cells) + " |")
    for movie, rows in results["movies"].items():
        if "fluorescence, per frame" in rows:
            ratio = rows["fluorescence, per frame"]["seconds"] / rows["fluorescence"]["seconds"]
            print(f"\n{movie}: per-frame time / static time (fluorescence) = {ratio:.2f}", end="")
    print(
        "\n\nWhat the default decided (static runs), and whether it said the brightness drifts:\n"
    )
    for movie, said in results["auto"].items():
        drift = said["drift warning"].split(":")[0] if said["drift warning"] else "no drift warning"
        print(f"- {movie}: {said['choice']}; {drift}")
    print("\n\nMasks (fluorescence per-frame background, threshold 4, min size 30):\n")
    print("| movie | precision | recall | frames | time |")
    print("|---|---|---|---|---|")
    for movie, score in results["masks"].items():
        print(
            f"| {movie} | {score['precision']:.3f} | {score['recall']:.3f} "
            f"| {score['frames']} | {score['seconds']:.1f} s |"
        )
    print("\napply_background on dask (chunks 10 x 256 x 256), one frame:\n")
    for mode, score in results["correction"].items():
        print(
            f"- {mode}: lazy {score['lazy']}, equal to numpy {score['equal_to_numpy']}, "
            f"{score['seconds_one_frame']:.2f} s"
        )
    print(f"\nMachine: {results['machine']}")


if __name__ == "__main__":
    main()
