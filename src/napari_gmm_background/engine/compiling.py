"""Compiling the kernels before a run needs them: in a background thread, or behind a message.

Numbers only: no napari, no Qt, no files (numba's cache aside).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from ..methods.motion import compile_streamed_pass
from .extract import extract_background
from .table import AUTO_CANDIDATES, DEFAULT_METHOD, get_method

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

__all__ = ["WARM_UP_THREAD", "is_warm", "start_warm_up", "warm_up"]

# The name of the thread :func:`start_warm_up` starts.
WARM_UP_THREAD = "napari-gmm-background warm-up"

# (dtype, method, colour only) keys whose kernels this process has compiled or loaded.
_warm: "set[tuple[str, str, bool]]" = set()
_warm_lock = threading.Lock()
# The thread start_warm_up started for each key, and the lock it starts them under.
_running: "dict[tuple[str, str, bool], threading.Thread]" = {}
_starting_lock = threading.Lock()


def is_warm(dtype: "DTypeLike", method: str = DEFAULT_METHOD, *, colour: bool = False) -> bool:
    """Whether :func:`warm_up` has run for this dtype, method and colour in this process."""
    # Warmed for any frames (every method the default may choose) covers colour too.
    return _key(dtype, method, colour) in _warm or _key(dtype, method, False) in _warm


def _key(dtype: "DTypeLike", method: str, colour: bool) -> "tuple[str, str, bool]":
    entry = get_method(method)
    # Colour frames always get the same method from the default: only it is warmed.
    return np.dtype(dtype).name, entry.name, bool(colour and entry.chooses)


def _methods_run(method: str, colour: bool) -> "tuple[str, ...]":
    """The methods a run of ``method`` may run: for the default, what it may choose."""
    from .choice import colour_choice

    entry = get_method(method)
    if not entry.chooses:
        return (entry.name,)
    return (colour_choice().method,) if colour else AUTO_CANDIDATES


def warm_up(dtype: "DTypeLike", method: str = DEFAULT_METHOD, *, colour: bool = False) -> None:
    """Compile, or load from numba's disk cache, the kernels a run needs for this dtype and method.

    The first run after installing compiles the kernels it needs (several
    seconds); later processes load them from the cache (about a second).
    Running a small stack of this dtype through the method now, in the
    background or behind a message, spares the real run that wait. Thread
    safe: numba compiles each kernel once, and a run that needs a kernel
    being compiled waits for it. ``colour`` says the frames are colour
    (a video), for which the default only ever runs one method.
    """
    key = _key(dtype, method, colour)
    if is_warm(dtype, method, colour=colour):
        return
    with _warm_lock:
        if is_warm(dtype, method, colour=colour):
            return
        rng = np.random.default_rng(0)
        # A scene as a camera sees it (a level plus a little noise, which
        # takes the counting path for integers), in images big enough to be
        # scored on cells of 2 pixels: the kernels of a real run, not the
        # small-image shortcuts.
        frames = np.clip(100 + rng.normal(0, 2, (20, 256, 256)), 0, 255).astype(key[0])
        for name in _methods_run(method, colour):
            extract_background(frames, method=name)
            if colour and get_method(name).streams:  # a video longer than memory streams
                compile_streamed_pass(key[0])
        if get_method(method).chooses:
            from .choice import compile_kernels

            compile_kernels()
        _warm.add(key)


def start_warm_up(
    dtype: "DTypeLike", method: str = DEFAULT_METHOD, *, colour: bool = False
) -> "threading.Thread | None":
    """:func:`warm_up` in a background thread; None when there is nothing to prepare.

    A failure there is left for the real run to report, where the user
    sees it (the widget's status line, the command line's error). A warm-up
    of the same kernels still running is returned rather than started again
    (the command line starts one while it probes a video, then waits for it).
    """
    if is_warm(dtype, method, colour=colour):
        return None
    key = _key(dtype, method, colour)

    def prepare() -> None:
        try:
            warm_up(dtype, method, colour=colour)
        except Exception:  # said by the run that needs these kernels
            pass

    with _starting_lock:
        running = _running.get(key)
        if running is not None and running.is_alive():
            return running
        thread = threading.Thread(target=prepare, name=WARM_UP_THREAD, daemon=True)
        thread.start()
        _running[key] = thread
    return thread
