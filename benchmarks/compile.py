"""First-use compile time: each method and dtype with an empty numba cache, then cached.

The kernels are compiled by numba on first use and cached on disk. Each
row runs in fresh interpreters with ``NUMBA_CACHE_DIR`` pointing at an
empty folder of its own, so it measures what that one call compiles:

* cold: the first ``extract_background`` call (import excluded);
* warm: the same call in a new interpreter, the cache now filled.

Plus the README's first command, ``napari-gmm-background --sample -o
out.png``, timed whole (interpreter start, import, compile, run, write).

    python benchmarks/compile.py          # ~3 min; prints a table, writes results/compile.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DTYPES = ("uint8", "uint16", "float32")

CALL = """
import time, sys, numpy as np
from napari_gmm_background import extract_background
rng = np.random.default_rng(0)
frames = (rng.random((30, 256, 256)) * 200).astype(sys.argv[1])  # cells of 2 pixels
start = time.perf_counter()
extract_background(frames, method=sys.argv[2])
print(time.perf_counter() - start)
"""


def timed_call(dtype: str, method: str, cache: str) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    done = subprocess.run(
        [sys.executable, "-c", CALL, dtype, method],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.split()[-1])


def timed_sample(cache: str, folder: str, name: str) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    command = [sys.executable, "-m", "napari_gmm_background", "--sample", "-q"]
    start = time.perf_counter()
    subprocess.run(command + ["-o", str(Path(folder, name))], env=env, check=True)
    return time.perf_counter() - start


def main():
    from napari_gmm_background import METHODS

    results = []
    for method in METHODS:
        for dtype in DTYPES:
            with tempfile.TemporaryDirectory() as cache:
                cold = timed_call(dtype, method, cache)
                warm = timed_call(dtype, method, cache)
            results.append({"method": method, "dtype": dtype, "cold_s": cold, "warm_s": warm})
            print(f"{method} {dtype}: cold {cold:.1f} s, warm {warm:.2f} s", file=sys.stderr)
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as folder:
        sample = {
            "cold_s": timed_sample(cache, folder, "cold.png"),
            "warm_s": timed_sample(cache, folder, "warm.png"),
        }
    (HERE / "results").mkdir(exist_ok=True)
    report = {"calls": results, "sample_command": sample}
    (HERE / "results" / "compile.json").write_text(json.dumps(report, indent=1))

    print("\nFirst call with an empty numba cache (cold) and from the cache (warm), seconds:\n")
    print("| method | " + " | ".join(f"{d} cold / warm" for d in DTYPES) + " |")
    print("|---|" + "---|" * len(DTYPES))
    for method in METHODS:
        cells = []
        for dtype in DTYPES:
            row = next(r for r in results if r["method"] == method and r["dtype"] == dtype)
            cells.append(f"{row['cold_s']:.1f} / {row['warm_s']:.2f}")
        print(f"| {method} | " + " | ".join(cells) + " |")
    print(
        f"\n`napari-gmm-background --sample -o out.png`, whole command: cold "
        f"{sample['cold_s']:.1f} s, warm {sample['warm_s']:.1f} s"
    )


if __name__ == "__main__":
    main()
