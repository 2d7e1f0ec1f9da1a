"""Fixtures; the helpers they use are in helpers.py."""

from pathlib import Path

import numpy as np
import pytest

from .helpers import write_video


@pytest.fixture(scope="session")
def traffic_video(tmp_path_factory) -> Path:
    """A small synthetic traffic video, MJPG-compressed on disk."""
    from napari_gmm_background.datasets import synthetic_traffic

    frames, _ = synthetic_traffic(n_frames=60, height=96, width=128, seed=3)
    return write_video(tmp_path_factory.mktemp("video") / "traffic.avi", frames)


@pytest.fixture(scope="session")
def traffic_frames(traffic_video) -> np.ndarray:
    """The decoded frames of ``traffic_video``: real codec noise, not ideal data."""
    from napari_gmm_background.io import read_video

    return read_video(traffic_video)
