"""Progress of long runs: one type, and running a progress generator to its end.

Every long computation in this package is a plan
(:mod:`napari_gmm_background.core.plan`) whose run is a generator that
yields :class:`Progress` and returns its result (``StopIteration.value``),
so that napari's ``thread_worker``, the command line's progress bar and a
plain call all drive the same code.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Progress", "run_to_end"]

Result = TypeVar("Result")


@dataclass(frozen=True)
class Progress:
    """How far a run has got: ``done`` of ``total`` steps, in an optional ``stage``.

    ``stage`` names the part of the work being done ("decode", "fit",
    "masks"...); ``stage_done`` of ``stage_total`` count that stage's own
    steps (its frames, for decoding and masks).
    """

    done: int
    total: int
    stage: str = ""
    stage_done: int = 0
    stage_total: int = 0

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


def run_to_end(generator: "Generator[Progress, None, Result]") -> Result:
    """Drive a progress generator to its end; its return value."""
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return stop.value
