"""napari sample data: a synthetic traffic video, made on the fly."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from napari.types import LayerDataTuple


def make_traffic_sample() -> "list[LayerDataTuple]":
    """Synthetic traffic: textured static road, passing vehicles, sensor noise."""
    from ..datasets import synthetic_traffic

    frames, background = synthetic_traffic()
    return [
        (
            frames,
            {
                "name": "synthetic traffic",
                "rgb": True,
                "metadata": {"true_background": background, "fps": 25.0},
            },
            "image",
        )
    ]


def make_timelapse_sample() -> "list[LayerDataTuple]":
    """Synthetic uint16 fluorescence time-lapse: static background, drifting cells."""
    from ..datasets import synthetic_timelapse

    frames, background = synthetic_timelapse(n_frames=100, height=256, width=256, n_cells=10)
    return [
        (
            frames,
            {
                "name": "synthetic time-lapse",
                "colormap": "gray",
                "metadata": {"true_background": background},
            },
            "image",
        )
    ]
