"""The one kernel of the file room: decoded frames turned to RGB where they lie."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def bgr_to_rgb(frames: np.ndarray) -> None:
    """Swap the first and last channel of C-contiguous (..., 3) uint8 frames, in place.

    On one core, in the thread that calls it: while a video streams, the
    other core decodes (OpenCV's ``cvtColor`` would spread over both).
    """
    pixels = frames.reshape(-1, 3)
    for i in range(pixels.shape[0]):
        blue = pixels[i, 0]
        pixels[i, 0] = pixels[i, 2]
        pixels[i, 2] = blue
