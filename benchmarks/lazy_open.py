"""Memory of napari while it shows a video three times larger than the budget.

Writes a synthetic 1080p MJPG video whose decoded frames take ``--factor``
times the memory budget, opens it with this plugin's reader in a real napari
viewer (a fresh process, under ``NAPARI_GMM_BACKGROUND_MEMORY_BUDGET``),
steps through frames across the whole video, and reports the viewer
process's peak RSS against the budget.

    xvfb-run -a python benchmarks/lazy_open.py                # 512 MiB budget, 3x
    xvfb-run -a python benchmarks/lazy_open.py --budget-mib 1024
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

VIEWER = r"""
import resource, sys, time
import numpy as np
import napari
from qtpy.QtWidgets import QApplication

path, n_steps = sys.argv[1], int(sys.argv[2])
viewer = napari.Viewer(show=True)
QApplication.processEvents()
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
[layer] = viewer.open(path, plugin="napari-gmm-background")
opened = time.perf_counter() - start
n_frames = layer.data.shape[0]
start = time.perf_counter()
for t in np.linspace(0, n_frames - 1, n_steps).astype(int):
    viewer.dims.set_point(0, int(t))
    QApplication.processEvents()
stepped = time.perf_counter() - start
print(layer.metadata["lazy"], n_frames, opened, stepped / n_steps, baseline,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
viewer.close()
"""


def write_video(path: Path, n_frames: int, height: int, width: int) -> None:
    import cv2

    from napari_gmm_background.datasets import synthetic_traffic

    clip, _ = synthetic_traffic(n_frames=40, height=height, width=width, seed=0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (width, height))
    for t in range(n_frames):
        writer.write(clip[t % len(clip)][..., ::-1].copy())
    writer.release()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-mib", type=int, default=512)
    parser.add_argument("--factor", type=float, default=3.0)
    parser.add_argument("--steps", type=int, default=40, help="frames visited")
    args = parser.parse_args()

    budget = args.budget_mib * 2**20
    height, width = 1080, 1920
    n_frames = int(args.factor * budget / (height * width * 3)) + 1
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "long.avi"
        write_video(path, n_frames, height, width)
        env = dict(os.environ, NAPARI_GMM_BACKGROUND_MEMORY_BUDGET=str(budget))
        out = subprocess.run(
            [sys.executable, "-c", VIEWER, str(path), str(args.steps)],
            env=env,
            capture_output=True,
            text=True,
        )
        if out.returncode:
            sys.exit(out.stderr)
        lazy, frames, opened, per_step, baseline, peak = out.stdout.split()[-6:]
    decoded = int(frames) * height * width * 3
    print(
        f"video: {frames} frames of {width}x{height}, {decoded / 2**20:.0f} MiB decoded "
        f"({decoded / budget:.1f}x the {args.budget_mib} MiB budget); lazy: {lazy}"
    )
    print(f"opened in {float(opened):.2f} s; {float(per_step) * 1000:.0f} ms per frame visited")
    print(
        f"viewer process peak RSS: {int(peak) / 2**20:.0f} MiB "
        f"({int(peak) / budget:.2f}x the budget); an empty viewer: "
        f"{int(baseline) / 2**20:.0f} MiB, so the video added "
        f"{(int(peak) - int(baseline)) / 2**20:.0f} MiB"
    )


if __name__ == "__main__":
    main()
