"""Big lazy stacks: peak memory and time of zarr-backed data, in the widget and through dask.

Two measurements, each method in a fresh interpreter (RSS from psutil,
sampled every 10-50 ms):

* widget: a 500 x 1024 x 1024 uint16 zarr array (1 GiB; a fluorescence-like
  movie: a smooth background, shot noise, moving cells) as a napari image
  layer, through the widget with ``gmm`` and ``motionless``: the viewer's RSS
  before any run, three runs cancelled after 2.5 s (time to stop), then a
  full run: its peak and the RSS after it, its background layer in place
  (compared with ``extract_background`` on the same frames in memory);
* dask: ``extract_background(dask.array.from_zarr(...)).compute()`` on a
  synthetic road, 300 frames of 1080 x 1920 RGB (1.74 GiB), chunks of
  30 x 540 x 960 x 3: peak RSS over the input's size.

    xvfb-run -a python benchmarks/big_stacks.py      # ~6 min; writes results/big_stacks.json

The data are written once to ``--data-dir`` (default: a folder under the
system's temporary directory, kept for the next run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MOVIE_SHAPE = (500, 1024, 1024)
ROAD_SHAPE = (300, 1080, 1920, 3)


def make_movie(path: Path, chunks: tuple) -> None:
    """A fluorescence-like uint16 movie: smooth background, shot noise, drifting cells."""
    import zarr

    n_frames, height, width = MOVIE_SHAPE
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    background = 400 + 300 * np.exp(-(((y - 500) / 700) ** 2 + ((x - 560) / 800) ** 2))
    cells = rng.uniform(0, [height, width], size=(60, 2))
    velocity = rng.normal(0, 1.5, size=(60, 2))
    store = zarr.open(str(path), mode="w", shape=MOVIE_SHAPE, chunks=chunks, dtype=np.uint16)
    for start in range(0, n_frames, 20):
        block = np.empty((min(20, n_frames - start), height, width), dtype=np.uint16)
        for i in range(len(block)):
            t = start + i
            light = background.copy()
            for (cy, cx), (vy, vx) in zip(cells, velocity, strict=True):
                py, px = int(cy + vy * t) % height, int(cx + vx * t) % width
                light[max(py - 9, 0) : py + 9, max(px - 9, 0) : px + 9] += 900
            block[i] = np.clip(rng.poisson(light), 0, 65535)
        store[start : start + len(block)] = block


def make_road(path: Path) -> None:
    import zarr

    from napari_gmm_background.datasets import synthetic_traffic

    frames, _ = synthetic_traffic(*ROAD_SHAPE[:3], seed=0)
    store = zarr.open(
        str(path), mode="w", shape=frames.shape, chunks=(30, 540, 960, 3), dtype=frames.dtype
    )
    store[:] = frames


class PeakWatcher:
    """The largest RSS of this process seen while watching."""

    def __init__(self):
        import psutil

        self.process = psutil.Process()
        self.peak = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def rss(self) -> int:
        return self.process.memory_info().rss

    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.01)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def one_widget(path: Path, method: str) -> dict:
    import gc

    import dask.array as da
    import napari
    import zarr
    from qtpy.QtWidgets import QApplication

    from napari_gmm_background import extract_background
    from napari_gmm_background._napari.widget import BackgroundWidget

    def spin(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            QApplication.processEvents()
            time.sleep(0.01)

    viewer = napari.Viewer(show=False)
    layer = viewer.add_image(zarr.open(str(path), mode="r"), name="movie", multiscale=False)
    widget = BackgroundWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.image.value = layer
    widget.method.value = method
    if widget.warm_up_thread is not None:
        widget.warm_up_thread.join()
    spin(1)
    gc.collect()
    before = PeakWatcher().stop()
    cancels = []
    for _ in range(3):
        widget.run()
        spin(2.5)
        asked = time.perf_counter()
        widget.cancel()
        while widget.running:
            spin(0.01)
        cancels.append(round(time.perf_counter() - asked, 2))
    spin(0.5)
    gc.collect()
    after_cancels = PeakWatcher().stop()
    watcher = PeakWatcher()
    start = time.perf_counter()
    widget.run()
    while widget.running:
        spin(0.05)
    seconds = time.perf_counter() - start
    spin(0.5)
    gc.collect()
    peak, after = watcher.stop(), watcher.rss()
    result = viewer.layers[f"movie background ({method})"].data
    frames = np.asarray(da.from_zarr(str(path)))
    equal = bool(np.array_equal(result, extract_background(frames, method=method)))
    viewer.close()
    return {
        "method": method,
        "input_gib": round(frames.nbytes / 2**30, 2),
        "rss_before_mib": round(before / 2**20),
        "cancel_seconds": cancels,
        "rss_after_3_cancels_mib": round(after_cancels / 2**20),
        "peak_mib": round(peak / 2**20),
        "peak_over_before_mib": round((peak - before) / 2**20),
        "seconds": round(seconds, 1),
        "rss_after_run_mib": round(after / 2**20),
        "after_over_before": round(after / before, 3),
        "equal_to_numpy": equal,
    }


def one_dask(path: Path, method: str) -> dict:
    import gc

    import dask.array as da

    from napari_gmm_background import extract_background
    from napari_gmm_background.engine import warm_up

    warm_up(np.uint8, method)
    data = da.from_zarr(str(path))
    gc.collect()
    watcher = PeakWatcher()
    before = watcher.rss()
    start = time.perf_counter()
    extract_background(data, method=method).compute()
    seconds = time.perf_counter() - start
    peak = watcher.stop()
    return {
        "method": method,
        "input_gib": round(data.nbytes / 2**30, 2),
        "rss_before_mib": round(before / 2**20),
        "peak_mib": round(peak / 2**20),
        "peak_over_input": round(peak / data.nbytes, 2),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "gmm-big")
    parser.add_argument("--methods", nargs="+", default=["gmm", "motionless"])
    parser.add_argument("--chunks", default="1,1024,1024", help="the movie's zarr chunks")
    parser.add_argument("--one", nargs=2, metavar=("KIND", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    chunks = tuple(int(n) for n in args.chunks.split(","))
    movie = args.data_dir / f"movie-{'x'.join(map(str, chunks))}.zarr"
    road = args.data_dir / "road.zarr"
    if args.one:
        kind, method = args.one
        row = one_widget(movie, method) if kind == "widget" else one_dask(road, method)
        print(json.dumps(row))
        return
    args.data_dir.mkdir(parents=True, exist_ok=True)
    if not movie.exists():
        print(f"writing {movie} ...", flush=True)
        make_movie(movie, chunks)
    if not road.exists() and not args.skip_dask:
        print(f"writing {road} ...", flush=True)
        make_road(road)
    rows = {"widget": [], "dask": []}
    kinds = ["widget"] + ([] if args.skip_dask else ["dask"])
    for kind in kinds:
        for method in args.methods:
            command = [sys.executable, __file__, "--data-dir", str(args.data_dir)]
            command += ["--chunks", args.chunks, "--one", kind, method]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            row = json.loads(output.strip().splitlines()[-1])
            rows[kind].append(row)
            print(kind, json.dumps(row), flush=True)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    results = {"machine": machine, "movie_chunks": chunks, **rows}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "big_stacks.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
