"""Compiled kernels on every core: serial ``nogil`` kernels run in a pool of threads.

Why not numba's ``parallel=True``: its parallel loops take several times
longer to compile (the first use after installing waited 25 s for the
default method), and a kernel that releases the GIL gives the same speed
from plain Python threads. Each kernel takes the range of rows, pixels or
workers it handles; these helpers cut the work into one part per thread
and wait for all of them. The calling thread works on a part too, so a
call from a thread of the pool itself (a dask worker, napari's) cannot
deadlock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

__all__ = ["in_one_part", "in_parts", "n_threads", "on_workers"]

Result = TypeVar("Result")

_pool: "ThreadPoolExecutor | None" = None
_pool_lock = threading.Lock()


def n_threads() -> int:
    """Threads a kernel runs on: numba's setting (``NUMBA_NUM_THREADS``, all cores by default)."""
    from numba import config

    return max(1, int(config.NUMBA_NUM_THREADS))


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(1, n_threads() - 1), thread_name_prefix="gmm-background"
            )
        return _pool


def _run_all(tasks: "list[Callable[[], Result]]") -> "list[Result]":
    """Run ``tasks`` (the first in this thread, the rest in the pool); their results in order.

    Every task has finished when this returns or raises: none is left
    writing into arrays the caller goes on to use.
    """
    if len(tasks) == 1:
        return [tasks[0]()]
    futures = [_executor().submit(task) for task in tasks[1:]]
    try:
        first = tasks[0]()
    finally:
        wait(futures)
    return [first] + [future.result() for future in futures]


def in_parts(start: int, stop: int, task: "Callable[[int, int], Result]") -> "list[Result]":
    """Call ``task(a, b)`` for contiguous parts ``[a, b)`` of ``[start, stop)``, one per thread.

    Returns the parts' results in order; an empty range calls nothing.
    """
    n = min(n_threads(), stop - start)
    if n <= 0:
        return []
    bounds = [start + (stop - start) * i // n for i in range(n + 1)]
    return _run_all(
        [lambda a=a, b=b: task(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    )


def in_one_part(start: int, stop: int, task: "Callable[[int, int], Result]") -> "list[Result]":
    """:func:`in_parts` on this thread alone, for work beside a thread that needs a core."""
    return [task(start, stop)] if stop > start else []


def on_workers(task: "Callable[[int, int], Result]", n_items: int) -> "list[Result]":
    """Call ``task(worker, n_workers)`` once per worker, as many as threads (at most ``n_items``).

    For kernels that deal work out themselves (worker ``w`` takes items
    ``w, w + n_workers, ...``), which balances uneven items better than
    contiguous parts.
    """
    n_workers = max(1, min(n_threads(), n_items))
    return _run_all([lambda w=w: task(w, n_workers) for w in range(n_workers)])
