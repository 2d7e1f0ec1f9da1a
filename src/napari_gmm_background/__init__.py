"""Static background of videos and time-lapses by per-pixel Gaussian mixtures."""

from .engine import (
    METHODS,
    BackgroundModel,
    Choice,
    DriftWarning,
    Progress,
    SceneChangeWarning,
    choose_method,
    extract_background,
    fit_background_model,
    iter_background,
    iter_fit_background_model,
)
from .engine.correction import ClippedValuesWarning, apply_background, correction_offset
from .engine.masks import foreground_labels

try:
    from ._version import version as __version__
except ImportError:  # pragma: no cover - running from a source tree
    __version__ = "unknown"

__all__ = [
    "METHODS",
    "BackgroundModel",
    "Choice",
    "ClippedValuesWarning",
    "DriftWarning",
    "Progress",
    "SceneChangeWarning",
    "apply_background",
    "choose_method",
    "correction_offset",
    "extract_background",
    "foreground_labels",
    "fit_background_model",
    "iter_background",
    "iter_fit_background_model",
]
