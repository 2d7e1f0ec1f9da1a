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


def _mounted_tmpfs(folder: Path, options: str):
    """A tmpfs mounted at ``folder`` (made), or a skip where none can be (not Linux, not root)."""
    import subprocess
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("a small file system is mounted only on Linux")
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a file system here (needs root)")
    return folder


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A real file system of 200 KiB (a tmpfs), for full-disk tests; skipped where none can be made.

    Mounting needs root (or CAP_SYS_ADMIN) on Linux, as CI has.
    """
    import subprocess

    folder = _mounted_tmpfs(tmp_path / "small_disk", "size=200k")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def read_only_folder(tmp_path) -> Path:
    """A folder on a read-only file system (root cannot write it either); skipped where none."""
    import subprocess

    folder = _mounted_tmpfs(tmp_path / "read_only", "ro,size=64k")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture(autouse=True)
def _warm_up_finished():
    """Each test ends with the engine's warm-up threads done.

    Numba compiles inside ``warnings.catch_warnings``, which is global to the
    process: a warm-up a widget started, still compiling in the next test,
    would swap that test's warning filters and records for its own.
    """
    yield
    import threading

    from napari_gmm_background.engine.compiling import WARM_UP_THREAD

    for thread in threading.enumerate():
        if thread.name == WARM_UP_THREAD:
            thread.join(timeout=300)
