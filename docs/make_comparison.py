"""Picture for the README: the default method against the notebook rule.

Rows: the built-in synthetic traffic sample, and, when ../shared/data is
beside the checkout, CDnet's highway1.avi and SBI's CaVignal; columns: one
frame, the notebook rule (``method="notebook"``), the default. Each panel is
labelled in the picture.

    python docs/make_comparison.py        # writes docs/comparison.jpg
"""

from pathlib import Path

import cv2
import numpy as np

from napari_gmm_background import extract_background
from napari_gmm_background.datasets import synthetic_traffic
from napari_gmm_background.io import read_video

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
HEIGHT = 200


def rows():
    frames, _ = synthetic_traffic()
    yield "built-in sample", frames
    highway = SHARED / "cdnet" / "highway1.avi"
    if highway.exists():
        yield "CDnet highway1", read_video(highway)
    cavignal = sorted((SHARED / "sbi" / "CaVignal" / "frames").glob("*.png"))
    if cavignal:
        yield "SBI CaVignal", np.stack([cv2.imread(str(p))[..., ::-1] for p in cavignal])


def panel(image: np.ndarray, label: str) -> np.ndarray:
    scale = HEIGHT / image.shape[0]
    image = cv2.resize(image, (round(image.shape[1] * scale), HEIGHT), interpolation=cv2.INTER_AREA)
    image = np.ascontiguousarray(image)
    cv2.rectangle(image, (0, 0), (image.shape[1], 22), (0, 0, 0), thickness=-1)
    cv2.putText(image, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    return image


def main():
    lines = []
    for name, frames in rows():
        middle = frames[len(frames) // 2]
        notebook = extract_background(frames, method="notebook")
        default = extract_background(frames)
        lines.append(
            np.concatenate(
                [
                    panel(middle, f"{name}: a frame"),
                    panel(notebook, 'notebook rule (method="notebook")'),
                    panel(default, "default (gmm)"),
                ],
                axis=1,
            )
        )
    width = max(line.shape[1] for line in lines)
    picture = np.concatenate(
        [np.pad(line, ((0, 4), (0, width - line.shape[1]), (0, 0))) for line in lines]
    )
    out = HERE / "comparison.jpg"
    cv2.imwrite(str(out), picture[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
