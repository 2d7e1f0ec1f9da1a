"""Picture for the README: SBI Foliage, where leaves hide the background most of the time.

Columns: one frame, the temporal median, the default (``extract_background``)
and the ground truth (derived from the per-frame masks, see
``shared/data/sbi/README.md``); each estimate labelled with its AGE (the mean
absolute grey-level error, as ``benchmarks/quality.py`` measures it).
Needs ``../shared/data/sbi/Foliage`` beside the checkout.

    python docs/make_foliage.py        # writes docs/foliage.jpg
"""

import glob
import sys
from pathlib import Path

import cv2
import numpy as np

from napari_gmm_background import extract_background

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "benchmarks"))
from quality import SHARED, metrics  # noqa: E402  (the benchmark's own AGE)

FOLIAGE = SHARED / "sbi" / "Foliage"
SCALE = 2


def panel(image: np.ndarray, label: str) -> np.ndarray:
    bgr = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    height, width = bgr.shape[:2]
    bgr = cv2.resize(bgr, (width * SCALE, height * SCALE), interpolation=cv2.INTER_NEAREST)
    cv2.rectangle(bgr, (0, 0), (width * SCALE, 22), (0, 0, 0), thickness=-1)
    cv2.putText(bgr, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    return bgr


def main():
    files = sorted(glob.glob(str(FOLIAGE / "frames" / "*.jpg")))
    frames = np.stack([cv2.imread(f) for f in files])  # B, G, R: the methods treat channels alike
    truth = cv2.imread(str(FOLIAGE / "gt.png"))
    median = np.median(frames, axis=0)
    default = extract_background(frames)

    def age(image):
        return metrics(image, truth)["AGE"]

    panels = [
        panel(frames[len(frames) // 2], "SBI Foliage: a frame"),
        panel(median, f"temporal median: AGE {age(median):.2f}"),
        panel(default, f"default: AGE {age(default):.2f}"),
        panel(truth, "ground truth"),
    ]
    out = HERE / "foliage.jpg"
    cv2.imwrite(str(out), np.concatenate(panels, axis=1), [cv2.IMWRITE_JPEG_QUALITY, 92])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
