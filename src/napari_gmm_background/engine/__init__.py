"""The front door: every background method, for every caller.

:func:`extract_background` and :func:`iter_background` (in :mod:`.run`)
are what the napari widget, the command line and Python code all run.
Numbers only: arrays in, arrays out.
"""

from .run import *  # noqa: F403 - the front door's names
from .run import __all__ as __all__
