"""Time and peak memory against video length and resolution, for each path.

For synthetic MJPG videos (a 40-frame traffic clip repeated to length), each
run in a fresh process so its peak RSS is its own, with the notebook rule
(``method="notebook"``, the method that streams):

* memory: ``extract_background(read_video(path), method="notebook")``;
* streaming: ``video_background(path, memory_budget=256 MiB, method="notebook")``,
  histograms accumulated while decoding (see ``streaming.py``);
* dask: ``extract_background(read_video_dask(path), method="notebook").compute()``
  on dask's threaded scheduler.

    python benchmarks/scale.py            # writes benchmarks/results/scale.{json,png}

Times include decoding. Runs whose decoded frames would not fit comfortably
in memory are skipped for the memory and dask paths.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

FRAME_COUNTS = [100, 500, 1500, 5000]  # at 240p
RESOLUTIONS = {"240p": (240, 320), "480p": (480, 640), "720p": (720, 1280), "1080p": (1080, 1920)}
FRAMES_FOR_RESOLUTIONS = 300
IN_MEMORY_LIMIT = 6 * 2**30

RUN = r"""
import resource, sys, time
path, method = sys.argv[1], sys.argv[2]
from functools import partial
from napari_gmm_background import extract_background
extract_background = partial(extract_background, method="notebook")
extract_background(__import__("numpy").zeros((4, 8, 8), "uint8"))  # load the engine first
start = time.perf_counter()
if method == "memory":
    from napari_gmm_background.io import read_video
    extract_background(read_video(path))
elif method == "streaming":
    from napari_gmm_background.io.streaming import video_background
    video_background(path, memory_budget=256 * 2**20, method="notebook")
else:
    from napari_gmm_background.io import read_video_dask
    extract_background(read_video_dask(path, frames_per_chunk=16)).compute()
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def run(path: Path, method: str) -> "tuple[float, int]":
    out = subprocess.run(
        [sys.executable, "-c", RUN, str(path), method], capture_output=True, text=True, check=True
    )
    seconds, peak = out.stdout.split()[-2:]
    return float(seconds), int(peak)


def measure(folder: Path, label: str, n_frames: int, height: int, width: int) -> dict:
    from lazy_open import write_video

    path = folder / f"{label}.avi"
    write_video(path, n_frames, height, width)
    decoded = n_frames * height * width * 3
    row = {
        "label": label,
        "frames": n_frames,
        "height": height,
        "width": width,
        "decoded_mib": decoded / 2**20,
    }
    for method in ("memory", "streaming", "dask"):
        if method != "streaming" and decoded > IN_MEMORY_LIMIT:
            continue
        seconds, peak = run(path, method)
        row[f"{method}_s"] = seconds
        row[f"{method}_peak_mib"] = peak / 2**20
        print(f"{label}: {method} {seconds:.1f} s, peak {peak / 2**20:.0f} MiB", file=sys.stderr)
    path.unlink()
    return row


def plot(rows: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_frames = [r for r in rows if r["label"].startswith("frames")]
    by_size = [r for r in rows if r["label"].startswith("size")]
    figure, axes = plt.subplots(2, 2, figsize=(10, 7))
    for column, (subset, x_key, x_label) in enumerate(
        [
            (by_frames, "frames", "frames (240p RGB)"),
            (
                by_size,
                "decoded_mib",
                f"decoded size, MiB ({FRAMES_FOR_RESOLUTIONS} frames, 240p-1080p)",
            ),
        ]
    ):
        for method, style in (("memory", "o-"), ("streaming", "s-"), ("dask", "^-")):
            points = [
                (r[x_key], r[f"{method}_s"], r[f"{method}_peak_mib"])
                for r in subset
                if f"{method}_s" in r
            ]
            if not points:
                continue
            x, seconds, peak = zip(*points, strict=True)
            axes[0, column].plot(x, seconds, style, label=method)
            axes[1, column].plot(x, peak, style, label=method)
        axes[0, column].set_ylabel("time, s (decoding included)")
        axes[1, column].set_ylabel("peak RSS, MiB")
        for row in axes[:, column]:
            row.set_xlabel(x_label)
            row.set_xscale("log")
            row.grid(alpha=0.3)
            row.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main():
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as folder:
        for n in FRAME_COUNTS:
            rows.append(measure(Path(folder), f"frames {n}", n, 240, 320))
        for name, (height, width) in RESOLUTIONS.items():
            rows.append(
                measure(Path(folder), f"size {name}", FRAMES_FOR_RESOLUTIONS, height, width)
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(rows, indent=1))
    plot(rows, RESULTS / "scale.png")

    def cell(row, method):
        if f"{method}_s" not in row:
            return "-"
        return f"{row[f'{method}_s']:.1f} s / {row[f'{method}_peak_mib']:.0f} MiB"

    print("| video | decoded | in memory | streaming (256 MiB budget) | dask (threads) |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['frames']} x {row['width']}x{row['height']} | {row['decoded_mib']:.0f} MiB "
            f"| {cell(row, 'memory')} | {cell(row, 'streaming')} | {cell(row, 'dask')} |"
        )


if __name__ == "__main__":
    main()
