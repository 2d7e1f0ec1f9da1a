"""Videos longer than memory: :mod:`napari_gmm_background.io.streaming`, by its public name."""

from .io.streaming import *  # noqa: F403
