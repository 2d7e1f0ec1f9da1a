"""A run planned once, then run: what is counted is what is done.

Every long computation here is a :class:`Plan`: a list of :class:`Step`
made before the run starts, from the shapes and the settings alone (the
values are read by the steps). A progress bar's total is the plan's
length, and running the plan does those steps, in order, yielding a
:class:`~napari_gmm_background.core.progress.Progress` after each: so a
count can never drift from the work, and a cancel waits for one step at
most. Plans compose by concatenation (:meth:`Plan.then`,
:func:`sequence`); a part of a run whose work is known only as it goes
(per-frame segments found in the data) takes a fixed number of steps and
spreads its work over them (:meth:`Plan.spread_over`); and where the data
refutes the plan (frames that do not decode), the rest is planned again
(:meth:`Plan.replan`).

Numbers only: no napari, no Qt, no files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from .progress import Progress

__all__ = ["FIT", "Plan", "Step", "sequence"]

# The stage of most steps; callers show others ("decode", "masks") as counts of frames.
FIT = "fit"


@dataclass(frozen=True)
class Step:
    """One piece of a run, short enough that a cancel waits for it at most.

    Attributes
    ----------
    action : callable
        Does the step's work; takes nothing, returns nothing that is used.
    stage : str
        The part of the run it belongs to ("fit", "decode", "masks", ...).
    size : int
        How much of its stage it does, in the stage's own units (frames,
        for decoding): 1 by default.
    """

    action: Callable[[], Any]
    stage: str = FIT
    size: int = 1


class Plan:
    """The steps of a run, fixed before it starts, and what it returns.

    Parameters
    ----------
    steps : iterable of Step
        In the order they run.
    result : callable, optional
        Called once every step has run; its value is the run's result.
    """

    def __init__(self, steps: "Iterable[Step]" = (), result: "Callable[[], Any]" = lambda: None):
        self.steps = list(steps)
        self.result = result
        self._stage_totals: "Counter[str] | None" = None
        self.current = -1  # the index of the step running, while a run is under way

    @property
    def n_steps(self) -> int:
        """The steps a run takes: the total of its progress."""
        return len(self.steps)

    def run(self) -> "Generator[Progress, None, Any]":
        """Do every step, yielding after each; return :attr:`result`'s value.

        Each :class:`Progress` counts the run's steps (``done`` of
        ``total``) and its stage's units (``stage_done`` of ``stage_total``,
        the sizes of its steps). Closing the generator between steps
        abandons the run. A step may re-plan what follows it
        (:meth:`replan`); the totals are then those of the new plan.
        """
        done = 0
        in_stage: "Counter[str]" = Counter()
        self._stage_totals = None
        while done < len(self.steps):
            step = self.steps[done]
            self.current = done
            step.action()
            done += 1
            in_stage[step.stage] += step.size
            if self._stage_totals is None:  # at the start, and after a re-plan
                self._stage_totals = Counter()
                for other in self.steps:
                    self._stage_totals[other.stage] += other.size
            stage_total = self._stage_totals[step.stage]
            yield Progress(done, len(self.steps), step.stage, in_stage[step.stage], stage_total)
        return self.result()

    def replan(self, after: int, rest: "Plan") -> None:
        """Replace the steps after the first ``after`` with ``rest``'s, and the result with its.

        For what only the data can tell (frames of a damaged video that do
        not decode): the plan stays the one count of what is done.
        """
        self.steps[after:] = rest.steps
        self.result = rest.result
        self._stage_totals = None

    def then(self, other: "Plan") -> "Plan":
        """This plan's steps, then ``other``'s; ``other``'s result."""
        return Plan(self.steps + other.steps, other.result)

    def map(self, function: "Callable[[Any], Any]") -> "Plan":
        """The same steps; ``function`` of this plan's result is the result."""
        return Plan(self.steps, lambda: function(self.result()))

    def spread_over(self, n_steps: int, stage: str = FIT) -> "list[Step]":
        """This plan's work as exactly ``n_steps`` steps of consecutive steps each.

        For a part of a run whose own steps are known only once it starts:
        its place in the plan is a fixed number of steps, and its steps
        must be at least that many (each given step does one or more).
        """
        if not 0 < n_steps <= len(self.steps):
            raise ValueError(f"cannot spread {len(self.steps)} steps over {n_steps}")
        bounds = [len(self.steps) * k // n_steps for k in range(n_steps + 1)]
        groups = [self.steps[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        sizes = [sum(step.size for step in group) for group in groups]
        return [
            Step(partial(_run_all, group), stage, size)
            for group, size in zip(groups, sizes, strict=True)
        ]


def _run_all(steps: "list[Step]") -> None:
    for step in steps:
        step.action()


def sequence(plans: "Iterable[Plan]", combine: "Callable[[list], Any]") -> Plan:
    """Several plans run one after another; ``combine`` of their results is the result.

    Each plan's result is taken as soon as its last step has run (so what
    it holds meanwhile can go), and handed to ``combine`` in order.
    """
    results: list = []
    steps: "list[Step]" = []
    for plan in plans:
        if not plan.steps:
            raise ValueError("a plan in a sequence has no steps")
        *body, last = plan.steps

        def finish(plan=plan, last=last) -> None:
            last.action()
            results.append(plan.result())

        steps += body + [Step(finish, last.stage, last.size)]
    return Plan(steps, lambda: combine(results))
