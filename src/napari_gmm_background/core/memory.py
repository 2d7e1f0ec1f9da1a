"""How much memory a run may take, and giving memory back to the system.

The budget is what a caller may hold of the frames: a video over it opens
lazily in napari, a lazy layer whose run needs every frame at once must
fit it, and the command line streams videos over it. Sizes are read and
written as dask does (``dask.utils.parse_bytes`` and ``format_bytes``:
800MB, 2GB, 1.5GiB).
"""

from __future__ import annotations

import os
import sys

__all__ = [
    "MEMORY_BUDGET_VARIABLE",
    "MEMORY_FRACTION",
    "give_memory_back",
    "memory_budget",
    "parse_size",
    "release_read_buffers_when_freed",
]

# By default a quarter of the memory available now; or the environment variable's size.
MEMORY_FRACTION = 0.25
MEMORY_BUDGET_VARIABLE = "NAPARI_GMM_BACKGROUND_MEMORY_BUDGET"


def parse_size(text: str, what: str = "the memory budget") -> int:
    """Bytes from a size like ``800MB``, ``2GB`` or ``1.5GiB``; ValueError naming ``what``."""
    from dask.utils import parse_bytes

    try:
        if not text.strip():  # dask reads "" as 1 byte
            raise ValueError
        size = int(parse_bytes(text.strip()))
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"{what}: {text!r} is not a size like 800MB, 2GB or 1.5GiB") from None
    if size <= 0:
        raise ValueError(f"{what} must be a positive size, got {text!r}")
    return size


def memory_budget() -> int:
    """Bytes of frames a caller may hold: :data:`MEMORY_FRACTION` of the memory available now.

    Or the size in the environment variable ``NAPARI_GMM_BACKGROUND_MEMORY_BUDGET``.
    """
    setting = os.environ.get(MEMORY_BUDGET_VARIABLE, "").strip()
    if setting:
        return parse_size(setting, MEMORY_BUDGET_VARIABLE)
    return int(MEMORY_FRACTION * _available_memory())


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 4 * 2**30


def release_read_buffers_when_freed() -> None:
    """Have glibc return every buffer over 128 KiB to the system when it is freed.

    Reading a lazy layer (dask, zarr) decompresses chunks of a few MB, again
    and again, in several threads. glibc's default raises its mmap threshold
    past the largest buffer freed so far, so these come from per-thread
    heaps that keep 60-150 MB for the viewer's lifetime, even after a
    cancel. A fixed threshold (glibc's own default before it adapts) maps
    and unmaps each; speed measured unchanged. Elsewhere nothing.
    """
    libc = _glibc()
    if libc is not None:
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD


def give_memory_back() -> None:
    """Return the heap a finished or cancelled run freed to the system (glibc only).

    Reading a lazy layer leaves many small freed blocks in the C heap, which
    glibc keeps for the process (about 100 MB after a 600 MB dask layer)
    unless asked; distributed's workers ask the same way. Elsewhere nothing.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _glibc():
    """The C library where it is glibc (Linux, not musl), else None."""
    import ctypes

    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - musl has neither
    except (OSError, AttributeError):
        return None
    return libc
