"""Backgrounds from each pixel's most motionless frames.

The seed rule (the heaviest Gaussian of all frames) fails where foreground
lingers or covers much of the frame: the foreground then wins the weight.
LaBGen (Laugraud et al., winner of the 2016 Scene Background Modeling
Contest) scores every sample by the motion around it and estimates the
background from the most motionless samples only. Here:

1. motion of frame t at a pixel = the larger absolute grey-level change to
   the previous and the next frame, averaged over a square window (a person
   standing still still moves a little somewhere in the window; the empty
   scene does not);
2. per pixel, the ``fraction`` of frames with the least motion are kept;
3. the background is their median ("motionless") or the seed rule's GMM on
   them ("motionless-gmm").

Numbers only: arrays in, arrays out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["motion_scores", "motionless_background"]

# Measured on the SBI sequences and the synthetic sets of benchmarks/quality.py.
DEFAULT_FRACTION = 0.3
DEFAULT_WINDOW_FRACTION = 0.1


def motion_scores(frames: np.ndarray, *, window: int) -> np.ndarray:
    """Motion of every sample: (T, H, W) float32 from (T, H, W[, C]) frames.

    The larger absolute change (summed over channels) to the previous and to
    the next frame, averaged over a ``window`` x ``window`` neighbourhood.
    """
    import cv2

    if frames.ndim == 4:
        grey = frames[..., 0].astype(np.float32)
        for channel in range(1, frames.shape[-1]):
            grey += frames[..., channel]
    else:
        grey = frames.astype(np.float32)
    scores = grey  # computed in place, frame by frame: no full-size temporaries
    if len(grey) == 1:
        scores[:] = 0
        return scores
    size = (window, window)
    previous = np.abs(grey[1] - grey[0])
    current = np.empty_like(previous)
    scores[0] = previous
    cv2.blur(scores[0], size, dst=scores[0], borderType=cv2.BORDER_REPLICATE)
    for t in range(1, len(grey) - 1):
        np.subtract(grey[t + 1], grey[t], out=current)
        np.abs(current, out=current)
        np.maximum(previous, current, out=scores[t])  # grey[t] is not needed again
        cv2.blur(scores[t], size, dst=scores[t], borderType=cv2.BORDER_REPLICATE)
        previous, current = current, previous
    scores[-1] = previous
    cv2.blur(scores[-1], size, dst=scores[-1], borderType=cv2.BORDER_REPLICATE)
    return scores


def motionless_background(
    data: "ArrayLike",
    *,
    time_axis: int = 0,
    fraction: float = DEFAULT_FRACTION,
    window: "int | None" = None,
    statistic: str = "median",
    **gmm_settings,
) -> np.ndarray:
    """Background from each pixel's least-moving frames.

    Parameters
    ----------
    data : array_like
        (T, H, W) or (T, H, W, C) after moving ``time_axis`` first; other
        layouts: use :func:`napari_gmm_background.extract_background`.
    time_axis : int
        The time axis.
    fraction : float
        Share of frames kept per pixel (at least two frames).
    window : int, optional
        Side of the square window motion is averaged over; default a tenth of
        the smaller image side.
    statistic : {"median", "gmm"}
        Median of the kept samples, or the seed rule's GMM on them
        (``gmm_settings`` as :func:`~napari_gmm_background.extract_background`).

    Returns
    -------
    numpy.ndarray
        The background, in ``data``'s dtype.
    """
    from .engine import _as_frames, _cast_like, extract_background

    frames = _as_frames(data, time_axis)
    if frames.ndim not in (3, 4):
        raise ValueError(
            "the motionless methods need (T, H, W) or (T, H, W, C) frames, got "
            f"{frames.ndim} axes; use the default method for other layouts"
        )
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if statistic not in ("median", "gmm"):
        raise ValueError(f"statistic must be 'median' or 'gmm', got {statistic!r}")
    n_frames, height, width = frames.shape[:3]
    if window is None:
        window = max(3, int(round(DEFAULT_WINDOW_FRACTION * min(height, width))) | 1)
    keep = min(n_frames, max(2, int(round(fraction * n_frames))))

    scores = motion_scores(frames, window=window)
    # The least-moving frames of each pixel (ties: whichever numpy puts first).
    chosen = np.argpartition(scores, keep - 1, axis=0)[:keep] if keep < n_frames else None
    del scores
    if chosen is None:
        kept = frames
    else:
        index = chosen[..., np.newaxis] if frames.ndim == 4 else chosen
        kept = np.take_along_axis(frames, index, axis=0)
    if statistic == "gmm":
        return extract_background(kept, **gmm_settings)
    return _cast_like(np.median(kept, axis=0), frames.dtype)
