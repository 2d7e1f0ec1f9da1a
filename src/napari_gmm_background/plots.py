"""Pictures of how a background drifts: brightness per frame and the change frames.

``extract_background(..., per_frame=True)`` follows bleaching and lamp drift
with a gain per frame and cuts the movie where the scene changes; this draws
that, the way a microscopist checks it: each stack's background brightness
over the frames (1.0 = the first frame), with the change frames marked.
Used by the widget (on a canvas in the dock) and the command line
(``--gain-plot``). Matplotlib is imported here only, when a plot is drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .engine.drift import Drift

__all__ = ["draw_drift", "drift_figure"]


def draw_drift(axes, drifts: "list[Drift]", names: "list[str] | None" = None) -> None:
    """Draw each stack's brightness per frame, and its change frames, on ``axes``.

    Parameters
    ----------
    axes : matplotlib.axes.Axes
        Cleared, then drawn on.
    drifts : list of Drift
        One per stack (channel, Z slice), as ``iter_background(...,
        per_frame=True)`` returns them.
    names : list of str, optional
        A legend entry per stack; with several stacks and no names they are
        numbered.
    """
    axes.clear()
    if names is None and len(drifts) > 1:
        names = [f"stack {index}" for index in range(len(drifts))]
    changes = sorted({frame for drift in drifts for frame in drift.change_frames})
    for index, drift in enumerate(drifts):
        label = names[index] if names else None
        axes.plot(drift.brightness, linewidth=1.2, label=label)
    for number, frame in enumerate(changes):
        axes.axvline(
            frame,
            color="tab:red",
            linestyle="--",
            linewidth=1,
            label="scene change" if number == 0 else None,
        )
    axes.set_xlabel("frame")
    axes.set_ylabel("brightness (first frame = 1)")
    axes.grid(alpha=0.3)
    if names or changes:
        axes.legend(fontsize="small", loc="best")


def drift_figure(
    drifts: "list[Drift]", names: "list[str] | None" = None, *, title: str = ""
) -> "Figure":
    """A figure of :func:`draw_drift`, made without pyplot (safe off the main thread).

    Save it with ``figure.savefig(path)`` (.png, .svg, .pdf).
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3), layout="constrained")
    axes = figure.add_subplot()
    draw_drift(axes, drifts, names)
    if title:
        axes.set_title(title, fontsize="medium")
    return figure
