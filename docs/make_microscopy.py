"""Picture for the README: the default on a fluorescence and a transmitted-light movie.

Rows: ``datasets.fluorescence_movie`` and ``datasets.transmitted_light_movie``
(200 x 512 x 512 uint16, seed 0); columns: one frame, the temporal median,
the default (``extract_background(frames)``, which chooses the method), and
the true background. Each row is shown with one display range (that of the
true background), and each estimate is labelled with its mean absolute
error against the truth, in ADU.

    python docs/make_microscopy.py        # writes docs/microscopy.jpg
"""

from pathlib import Path

import cv2
import numpy as np

from napari_gmm_background import choose_method, extract_background
from napari_gmm_background.datasets import fluorescence_movie, transmitted_light_movie

HERE = Path(__file__).resolve().parent
SIDE = 256


def panel(image: np.ndarray, low: float, high: float, label: str) -> np.ndarray:
    grey = np.clip((image.astype(np.float64) - low) / (high - low) * 255, 0, 255)
    grey = cv2.resize(grey.astype(np.uint8), (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    rgb = np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=-1))
    cv2.rectangle(rgb, (0, 0), (SIDE, 22), (0, 0, 0), thickness=-1)
    cv2.putText(rgb, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    return rgb


def row(name: str, movie) -> np.ndarray:
    frames, truth = movie.frames, movie.background[0]
    low, high = np.percentile(truth, [0.5, 99.5])
    low, high = low - 0.1 * (high - low), high + 0.3 * (high - low)  # room for the cells
    median = np.median(frames, axis=0)
    default = extract_background(frames)
    method = choose_method(frames)[0].method

    def error(image):
        return np.abs(image.astype(np.float64) - truth).mean()

    panels = [
        panel(frames[len(frames) // 2], low, high, f"{name}: a frame"),
        panel(median, low, high, f"temporal median: {error(median):.1f} ADU"),
        panel(default, low, high, f"default ({method}): {error(default):.1f} ADU"),
        panel(truth, low, high, "true background"),
    ]
    return np.concatenate(panels, axis=1)


def main():
    rows = [
        row("fluorescence", fluorescence_movie()),
        row("bright field", transmitted_light_movie()),
    ]
    picture = np.concatenate([np.pad(r, ((0, 4), (0, 0), (0, 0))) for r in rows])
    out = HERE / "microscopy.jpg"
    cv2.imwrite(str(out), picture[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
