"""Background quality against ground truth: SBI metrics for every method.

Sequences: those of ../shared/data/sbi (BGR frames and gt.png), and synthetic
ones with a known background made on the fly (sparse and dense traffic, an
object that lingers fidgeting, heavy noise, a uint16 fluorescence
time-lapse, one on a 1024 x 1024 field with 200 cells, and a camera-like
fluorescence movie: Poisson noise, offset, vignetting, dust, debris, slow and
dividing cells), and leaves waving in front of a wall over part of the view.
Methods, each the call shown in the README:

* ``extract_background(frames)``: the default ("auto": ``gmm`` for colour
  video, a method chosen from the frames for a single channel), and
  ``method="gmm"``;
* ``extract_background(frames, method="notebook")``: the seed notebook's rule;
* ``extract_background(frames, method="motionless")`` and ``"motionless-gmm"``;
* ``np.median(frames, axis=0)``;
* OpenCV MOG2 and KNN: ``apply`` on every frame, then ``getBackgroundImage()``;
* with ``--seed-loop``, the notebook's scikit-learn loop
  (``extract_background(frames, engine="sklearn", random_state=0)``) on the
  sequences small enough for it (minutes each).

Metrics as in ../shared/data/sbi/README.md: AGE, pEPs, pCEPs on luminance (Y of
YCrCb; the single channel itself for grey data, 16-bit data scaled to 8 bits
for pEPs/pCEPs/PSNR), PSNR over all channels; plus the share of false-colour
pixels (chroma, CrCb, off by more than 20 levels) for colour data, and for
16-bit data the AGE in the data's own units (ADU), over all pixels and over
the pixels only noise ever touched, with its mean (the bias) there.

    python benchmarks/quality.py               # prints tables, writes results/quality.json
    python benchmarks/quality.py --seed-loop   # adds the scikit-learn loop where it fits (~10 min)

Times are the fastest of ``--repeat`` runs (default 3) after a warm-up.
"""

from __future__ import annotations

import glob
import json
import time
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
SEED_LOOP_PIXELS = 30_000
SHARED = HERE.parent.parent / "shared" / "data"


def luminance(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image.astype(np.float64)
    return cv2.cvtColor(image.astype(np.uint8), cv2.COLOR_BGR2YCrCb)[..., 0].astype(np.float64)


def false_colour_percent(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Share of pixels whose chroma (Cr, Cb) is off by more than 20 levels, BGR input."""
    if truth.ndim == 2:
        return 0.0

    def chroma(image):
        return cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb)[..., 1:].astype(np.float64)

    off = np.hypot(*np.moveaxis(chroma(estimate) - chroma(truth), -1, 0))
    return float(100 * (off > 20).mean())


def metrics(estimate: np.ndarray, truth: np.ndarray, noise_only=None) -> dict:
    exact = truth.astype(np.float64)
    if not np.issubdtype(truth.dtype, np.integer):  # an expected value: compare in uint16
        truth = np.clip(np.rint(truth), 0, 65535).astype(np.uint16)
    raw_error = np.asarray(estimate, dtype=np.float64) - exact
    estimate = np.clip(np.rint(estimate), 0, np.iinfo(truth.dtype).max).astype(truth.dtype)
    scale = 255.0 / np.iinfo(truth.dtype).max  # 16-bit errors in 8-bit grey levels
    difference = np.abs(luminance(estimate) - luminance(truth)) * scale
    errors = difference > 20
    # pCEPs: error pixels whose 4-neighbours are all errors (3x3 cross erosion).
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    clustered = cv2.erode(
        errors.astype(np.uint8), cross, borderType=cv2.BORDER_CONSTANT, borderValue=0
    )
    mse = np.mean(((estimate.astype(np.float64) - truth) * scale) ** 2)
    result = {
        "AGE": float(difference.mean()),
        "pEPs": float(100 * errors.mean()),
        "pCEPs": float(100 * clustered.mean()),
        "PSNR": float(10 * np.log10(255**2 / mse)) if mse > 0 else float("inf"),
        "false_colour_percent": false_colour_percent(estimate, truth),
    }
    if truth.dtype != np.uint8:
        result["AGE_native"] = float(np.abs(raw_error).mean())
        if noise_only is not None:
            result["AGE_noise_only"] = float(np.abs(raw_error[noise_only]).mean())
            result["bias_noise_only"] = float(raw_error[noise_only].mean())
    return result


def opencv_background(frames: np.ndarray, kind: str) -> np.ndarray:
    create = (
        cv2.createBackgroundSubtractorMOG2 if kind == "MOG2" else cv2.createBackgroundSubtractorKNN
    )
    subtractor = create()
    for frame in frames:
        subtractor.apply(frame if frame.dtype == np.uint8 else (frame // 257).astype(np.uint8))
    background = subtractor.getBackgroundImage()
    if frames.dtype != np.uint8:
        background = background.astype(np.float64) * 257
    return background


def labgen_p(frames: np.ndarray, s: int = 19, n: int = 3) -> np.ndarray:
    """LaBGen-P as its paper describes it (Laugraud et al., SBMC 2016), for reference.

    Motion of frame t: the absolute grey change from frame t - 1, summed over a
    window min(H, W) / n wide; each pixel's background is the median of its
    ``s`` least-moving frames (later frames first among equals). Written here
    from the description, with its default parameters (S, N) = (19, 3).
    """
    colour = frames.ndim == 4
    grey = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) if colour else f for f in frames]).astype(
        np.float32
    )
    size = (min(frames.shape[1:3]) // n) | 1
    motion = np.stack(
        [
            cv2.boxFilter(
                np.abs(grey[t] - grey[t - 1]),
                -1,
                (size, size),
                normalize=False,
                borderType=cv2.BORDER_CONSTANT,
            )
            for t in range(1, len(frames))
        ]
    )
    later_first = np.arange(len(motion))[::-1].astype(np.float32)[:, None, None]
    order = np.lexsort((np.broadcast_to(later_first, motion.shape), motion), axis=0)
    kept = order[: min(s, len(motion))] + 1  # frame indices (motion t is of frame t + 1)
    values = np.take_along_axis(frames, kept[..., None] if colour else kept, axis=0)
    return np.median(values, axis=0)


def sequences():
    """(name, frames, truth, pixels only noise touched or None) of every sequence."""
    from napari_gmm_background.datasets import (
        synthetic_fluorescence,
        synthetic_foliage,
        synthetic_lingering,
        synthetic_timelapse,
        synthetic_traffic,
    )

    for folder in sorted(glob.glob(str(SHARED / "sbi" / "*"))):
        # PNG, or JPEG as some sequences are distributed (Foliage)
        files = sorted(glob.glob(f"{folder}/frames/*.png") + glob.glob(f"{folder}/frames/*.jpg"))
        if files:
            yield (
                f"SBI {Path(folder).name}",
                np.stack([cv2.imread(f) for f in files]),
                cv2.imread(f"{folder}/gt.png"),
                None,
            )
    yield "sparse traffic", *synthetic_traffic(150, seed=1), None
    yield "dense traffic", *synthetic_traffic(150, vehicles_per_lane=7, seed=2), None
    yield "lingering object", *synthetic_lingering(seed=0), None
    yield "noisy traffic (sd 12)", *synthetic_traffic(150, noise=12.0, seed=3), None
    yield "uint16 time-lapse", *synthetic_timelapse(100, 128, 128, n_cells=8, seed=5), None
    yield (
        "uint16 cells, 1024 px",
        *synthetic_timelapse(100, 1024, 1024, n_cells=200, seed=1),
        None,
    )
    frames, truth, touched = synthetic_fluorescence(seed=0, with_cell_mask=True)
    yield "fluorescence, Poisson", frames, truth, ~touched
    yield "foliage", *synthetic_foliage(n_leaves=40, seed=1), None
    yield "dense foliage", *synthetic_foliage(n_leaves=60, seed=2), None


def methods(seed_loop: bool):
    from napari_gmm_background import extract_background

    table = {
        "auto (default)": lambda f: extract_background(f),
        "gmm": lambda f: extract_background(f, method="gmm"),
        "notebook rule": lambda f: extract_background(f, method="notebook"),
        "motionless": lambda f: extract_background(f, method="motionless"),
        "motionless-gmm": lambda f: extract_background(f, method="motionless-gmm"),
        "LaBGen-P (re-implemented)": lambda f: labgen_p(f),
        "temporal median": lambda f: np.median(f, axis=0),
        "OpenCV MOG2": lambda f: opencv_background(f, "MOG2"),
        "OpenCV KNN": lambda f: opencv_background(f, "KNN"),
    }
    if seed_loop:
        table["seed loop (scikit-learn)"] = lambda f: extract_background(
            f, method="notebook", engine="sklearn", random_state=0
        )
    return table


def main():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seed-loop",
        action="store_true",
        help=f"also run the notebook's scikit-learn loop on sequences of at most "
        f"{SEED_LOOP_PIXELS} pixels (minutes each)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs per method; the fastest counts"
    )
    args = parser.parse_args()
    results = []
    table = methods(args.seed_loop)
    for name, frames, truth, noise_only in sequences():
        for method, run in table.items():
            if method.startswith("seed loop") and np.prod(frames.shape[1:3]) > SEED_LOOP_PIXELS:
                continue
            repeat = 1 if method.startswith("seed loop") else args.repeat
            run(frames[:4])  # warm up
            seconds = float("inf")
            for _ in range(repeat):
                start = time.perf_counter()
                estimate = run(frames)
                seconds = min(seconds, time.perf_counter() - start)
            results.append(
                {
                    "sequence": name,
                    "method": method,
                    "seconds": seconds,
                    **metrics(estimate, truth, noise_only),
                }
            )
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "quality.json").write_text(json.dumps(results, indent=1))

    names = list(dict.fromkeys(r["sequence"] for r in results))
    print("AGE (mean absolute grey-level error; lower is better):\n")
    print("| method | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for method in table:
        found = {r["sequence"]: r["AGE"] for r in results if r["method"] == method}
        print(
            f"| {method} | "
            + " | ".join(f"{found[n]:.2f}" if n in found else "-" for n in names)
            + " |"
        )
    print("\n16-bit sequences in their own units (ADU):\n")
    print("| sequence | method | AGE | AGE where only noise was | bias there |")
    print("|---|---|---|---|---|")
    for r in results:
        if "AGE_native" in r:
            print(
                f"| {r['sequence']} | {r['method']} | {r['AGE_native']:.2f} "
                f"| {r.get('AGE_noise_only', float('nan')):.2f} "
                f"| {r.get('bias_noise_only', float('nan')):+.2f} |"
            )
    print("\nAll metrics, and time relative to the default on the same sequence:\n")
    print("| sequence | method | AGE | pEPs % | pCEPs % | PSNR dB | false colour % | time |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        default = next(
            d for d in results if d["sequence"] == r["sequence"] and d["method"] == "auto (default)"
        )
        print(
            f"| {r['sequence']} | {r['method']} | {r['AGE']:.2f} | {r['pEPs']:.2f} "
            f"| {r['pCEPs']:.2f} "
            f"| {r['PSNR']:.1f} | {r['false_colour_percent']:.2f} "
            f"| {r['seconds'] / default['seconds']:.1f}x |"
        )


if __name__ == "__main__":
    main()
