"""The command line's progress: a tqdm bar per stage of an input, on stderr."""

from __future__ import annotations

import sys

__all__ = ["FRAME_STAGES", "ProgressBars"]

# Stages counted in frames (with a rate in frames per second); the others in
# percent of their steps, which are of different sizes, so a rate would mean nothing.
FRAME_STAGES = ("decode", "noise", "masks")


class ProgressBars:
    """A bar per stage of an input, or nothing with ``quiet``."""

    def __init__(self, label: str, quiet: bool):
        self.label = label
        self.quiet = quiet
        self.bar = None
        self.stage = None

    def _enter(self, stage: str, **bar_format) -> None:
        """A new bar for ``stage``, unless it is the current one already."""
        if stage == self.stage:
            return
        from tqdm import tqdm

        self.close()
        self.stage = stage
        self.bar = tqdm(desc=f"{self.label} [{stage}]", leave=False, file=sys.stderr, **bar_format)

    def update(self, stage: str, done: int, total: int) -> None:
        if self.quiet:
            return
        if stage in FRAME_STAGES:
            self._enter(stage, total=total, unit=" frames")
        else:
            self._enter(
                stage,
                total=total,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]",
            )
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def waiting(self, stage: str) -> None:
        """A stage with no count, showing the time it has taken so far."""
        if self.quiet:
            return
        self._enter(stage, bar_format="{desc}: {elapsed}")
        self.bar.refresh()

    def follow(self, generator):
        """Run a plan's progress generator to its end, showing each stage; its return value."""
        while True:
            try:
                step = next(generator)
            except StopIteration as stop:
                return stop.value
            self.update(step.stage, step.stage_done, step.stage_total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.stage = None
