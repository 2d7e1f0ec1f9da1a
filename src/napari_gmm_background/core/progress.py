"""Progress of long runs: one type, and the two ways generators are driven.

Every long computation in this package is a generator that yields
:class:`Progress` and returns its result (``StopIteration.value``), so that
napari's ``thread_worker``, the command line's progress bar and a plain call
all drive the same code.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Progress", "relay", "renumber", "run_to_end", "share"]

Result = TypeVar("Result")


@dataclass(frozen=True)
class Progress:
    """How far a run has got: ``done`` of ``total``, in an optional ``stage``.

    ``stage`` names the part of the work being counted ("decode", "fit",
    ...) when a run has several; it is empty otherwise.
    """

    done: int
    total: int
    stage: str = ""

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


def relay(generator: "Generator[Progress, None, Result]", stage: str):
    """Yield ``generator``'s steps as steps of ``stage``; return its value."""
    while True:
        try:
            step = next(generator)
        except StopIteration as stop:
            return stop.value
        yield Progress(step.done, step.total, stage)


def renumber(generator: "Generator[Any, None, Result]", total: int, start: int = 0):
    """Yield the i-th step of ``generator`` as ``Progress(start + i, total)``; return its value.

    For a run made of several generators whose steps count different
    things (pixels, frames, parts read): the caller sees one count of steps.
    """
    done = start
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return stop.value
        done += 1
        yield Progress(done, total)


def share(generator: "Generator[Progress, None, Result]", start: int, steps: int, total: int):
    """Yield ``generator``'s progress as steps ``start`` to ``start + steps`` of ``total``.

    For a run that hands a share of its steps to a generator whose own
    count is different (a method run on part of the data): its fraction
    done is scaled into the share. Returns the generator's value.
    """
    while True:
        try:
            step = next(generator)
        except StopIteration as stop:
            return stop.value
        yield Progress(start + min(steps, int(steps * step.fraction)), total)
