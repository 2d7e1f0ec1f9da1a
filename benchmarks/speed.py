"""Speed and memory of the background engine against the usual alternatives.

On the same decoded frames, in one run: our ``extract_background`` (the
default method) and its notebook rule (``method="notebook"``), OpenCV's MOG2
(``apply`` on every frame, then ``getBackgroundImage``), ``np.median`` over
time, and the notebook's scikit-learn loop (timed on a random sample of
pixel-channels and scaled to the whole video). Memory is the most the
resident set size grew while each method ran (sampled every 2 ms), and the
process's peak RSS (interpreter, libraries and frames included) against the
size of the decoded frames.

    python benchmarks/speed.py                       # shared clips + 1080p synthetic
    python benchmarks/speed.py --no-1080p             # clips only
    python benchmarks/speed.py --compile-only         # numba compile / cache-load times

Writes a Markdown table to stdout and JSON to benchmarks/results/speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"


class PeakMemory:
    """Highest RSS of this process while the block runs, by polling /proc."""

    def __init__(self, interval: float = 0.002):
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self.peak = 0

    def _poll(self):
        while not self._done.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._done.wait(self._interval)

    def __enter__(self):
        self.baseline = self._process.memory_info().rss
        self.peak = self.baseline
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def timed(function, *args, repeat: int = 1):
    """(best seconds over ``repeat`` runs, most memory added while running, result)."""
    best = np.inf
    added = 0
    for _ in range(repeat):
        with PeakMemory() as memory:
            start = time.perf_counter()
            result = function(*args)
            best = min(best, time.perf_counter() - start)
        added = max(added, memory.peak - memory.baseline)
    return best, added, result


def ours(frames):
    from napari_gmm_background import extract_background

    return extract_background(frames)


def notebook(frames):
    from napari_gmm_background import extract_background

    return extract_background(frames, method="notebook")


def mog2(frames):
    import cv2

    subtractor = cv2.createBackgroundSubtractorMOG2()
    for frame in frames:
        subtractor.apply(frame)
    return subtractor.getBackgroundImage()


def median(frames):
    return np.median(frames, axis=0)


def seed_loop_estimate(frames, n_samples: int, seed: int = 0):
    """Seconds the notebook loop would take, from a random sample of pixel-channels."""
    import warnings

    from sklearn.mixture import GaussianMixture

    flat = frames.reshape(frames.shape[0], -1)
    columns = np.random.default_rng(seed).choice(flat.shape[1], n_samples, replace=False)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for column in columns:
            gmm = GaussianMixture(n_components=2)
            gmm.fit(flat[:, column].reshape(-1, 1))
            int(gmm.means_[np.argmax(gmm.weights_), 0])
    return (time.perf_counter() - start) / n_samples * flat.shape[1]


def load_datasets(args):
    from napari_gmm_background.datasets import synthetic_traffic
    from napari_gmm_background.io import read_video

    for clip in args.clips:
        path = Path(clip)
        if path.exists():
            yield path.name, (lambda p=path: read_video(p))
        else:
            print(f"skipping {path}: not found", file=sys.stderr)
    if args.synthetic_1080p:
        yield (
            "synthetic 1080p x 300",
            (lambda: synthetic_traffic(n_frames=300, height=1080, width=1920, seed=0)[0]),
        )


def compile_times():
    """Fresh numba compile and cached first call, each in a new interpreter."""
    code = (
        "import time, numpy as np; t = time.perf_counter();"
        "from napari_gmm_background import extract_background;"
        "extract_background(np.zeros((4, 8, 8), np.uint8));"
        "u8 = time.perf_counter() - t; t = time.perf_counter();"
        "extract_background(np.zeros((4, 8, 8), np.float32));"
        "print(u8, time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = []
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            )
            runs.append([float(v) for v in out.stdout.split()])
    return {
        "compile_uint8_s": runs[0][0],
        "compile_float_s": runs[0][1],
        "cached_uint8_s": runs[1][0],
        "cached_float_s": runs[1][1],
    }


def machine():
    import numba

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clips",
        nargs="*",
        default=[str(SHARED / "cdnet" / "traffic.avi"), str(SHARED / "cdnet" / "highway1.avi")],
    )
    parser.add_argument("--no-1080p", dest="synthetic_1080p", action="store_false")
    parser.add_argument(
        "--seed-samples",
        type=int,
        default=300,
        help="pixel-channels the scikit-learn loop is timed on",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="best of this many runs (small clips)"
    )
    parser.add_argument("--compile-only", action="store_true")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "speed.json")
    args = parser.parse_args()

    report = {"machine": machine(), "compile": compile_times(), "datasets": []}
    c = report["compile"]
    print(
        f"numba first call, fresh compile: uint8 {c['compile_uint8_s']:.1f} s, "
        f"float {c['compile_float_s']:.1f} s; from cache: uint8 {c['cached_uint8_s']:.2f} s, "
        f"float {c['cached_float_s']:.2f} s"
    )
    if args.compile_only:
        return

    # Load the compiled kernels: not part of the timing.
    ours(np.zeros((4, 8, 8, 3), np.uint8))
    notebook(np.zeros((4, 8, 8, 3), np.uint8))
    rows = []
    for name, load in load_datasets(args):
        frames = load()
        input_bytes = frames.nbytes
        big = input_bytes > 2**30
        # Big inputs twice: the first call may compile a kernel variant (strided frames)
        # that the small warm-up above does not reach.
        repeat = 2 if big else args.repeat
        entry = {"dataset": name, "shape": list(frames.shape), "input_mib": input_bytes / 2**20}
        entry["ours_s"], added, _ = timed(ours, frames, repeat=repeat)
        entry["ours_added_mib"] = added / 2**20
        # Everything this process has held at once so far: interpreter,
        # libraries, the frames and the extraction.
        entry["process_max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        entry["mog2_s"], added, _ = timed(mog2, frames, repeat=repeat)
        entry["mog2_added_mib"] = added / 2**20
        entry["notebook_s"], _, _ = timed(notebook, frames, repeat=repeat)
        entry["median_s"], added, _ = timed(median, frames, repeat=1 if big else repeat)
        entry["median_added_mib"] = added / 2**20
        entry["seed_loop_estimate_s"] = seed_loop_estimate(frames, args.seed_samples)
        report["datasets"].append(entry)
        rows.append(entry)
        print(
            f"{name}: ours {entry['ours_s']:.3f} s, notebook {entry['notebook_s']:.3f} s, "
            f"MOG2 {entry['mog2_s']:.3f} s, "
            f"median {entry['median_s']:.3f} s, seed loop ~{entry['seed_loop_estimate_s']:.0f} s",
            file=sys.stderr,
        )
        del frames

    print()
    print(
        "| frames | ours (default) | notebook rule | OpenCV MOG2 | np.median | seed loop (est.) "
        "| MOG2 time / ours | seed loop / notebook rule "
        "| memory added: ours / MOG2 / median | process peak RSS / input |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for e in rows:
        t, h, w = e["shape"][:3]
        print(
            f"| {e['dataset']} ({t}x{h}x{w}x{e['shape'][3] if len(e['shape']) > 3 else 1}) "
            f"| {e['ours_s']:.3f} s | {e['notebook_s']:.3f} s | {e['mog2_s']:.3f} s "
            f"| {e['median_s']:.3f} s "
            f"| {e['seed_loop_estimate_s']:.0f} s | {e['mog2_s'] / e['ours_s']:.2f}x "
            f"| {e['seed_loop_estimate_s'] / e['notebook_s']:.0f}x "
            f"| {e['ours_added_mib']:.0f} / {e['mog2_added_mib']:.0f} "
            f"/ {e['median_added_mib']:.0f} MiB "
            f"| {e['process_max_rss_mib']:.0f} / {e['input_mib']:.0f} MiB "
            f"({e['process_max_rss_mib'] / e['input_mib']:.2f}x) |"
        )
    m = report["machine"]
    print(
        f"\nMachine: {m['cpu']}, {m['cores']} cores ({m['numba_threads']} numba threads), "
        f"{m['memory_gib']} GiB; Python {m['python']}, numpy {m['numpy']}, numba {m['numba']}."
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
