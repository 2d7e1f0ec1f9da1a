"""Static background of videos and time-lapses by per-pixel Gaussian mixtures."""

from .engine import (
    METHODS,
    BackgroundModel,
    Progress,
    extract_background,
    fit_background_model,
    iter_background,
    iter_fit_background_model,
)

try:
    from ._version import version as __version__
except ImportError:  # pragma: no cover - running from a source tree
    __version__ = "unknown"

__all__ = [
    "METHODS",
    "BackgroundModel",
    "Progress",
    "extract_background",
    "fit_background_model",
    "iter_background",
    "iter_fit_background_model",
]
