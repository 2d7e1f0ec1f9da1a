"""napari reader: video files open as a time-stack image layer."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..io.video import VIDEO_EXTENSIONS

if TYPE_CHECKING:
    from napari.types import LayerDataTuple


def napari_get_reader(path: "str | list[str]") -> "Callable[..., list[LayerDataTuple]] | None":
    """The reader for a video path, or None for anything this plugin cannot read.

    Takes a path or a list of paths, all of them video files; directories
    and other extensions are left to other readers.
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths:
        return None
    for candidate in paths:
        if os.path.isdir(candidate) or Path(candidate).suffix.lower() not in VIDEO_EXTENSIONS:
            return None
    return read_videos


def read_videos(path: "str | list[str]") -> "list[LayerDataTuple]":
    """One image layer per video: (T, H, W, 3) RGB, or (T, H, W) if grey.

    Videos too large for the memory budget open lazily (see
    :func:`napari_gmm_background.io.open_video`).
    """
    from ..io.video import open_video

    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    layers = []
    for video_path in paths:
        data, metadata = open_video(video_path)
        if hasattr(data, "on_loss"):  # a lazy video: frames it cannot decode, said when met
            data.on_loss = _notify_when_viewing
        rgb = data.ndim == 4
        attributes = {
            "name": Path(video_path).stem,
            "rgb": rgb,
            "metadata": metadata,
        }
        if not rgb:
            attributes["colormap"] = "gray"
        layers.append((data, attributes, "image"))
    return layers


def _notify_when_viewing(message: str) -> None:
    """A damaged frame met while viewing: a notification; a run reports its own losses."""
    import threading

    if threading.current_thread() is threading.main_thread():
        from napari.utils.notifications import show_warning

        show_warning(message)
