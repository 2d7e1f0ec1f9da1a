"""Files: videos, images and outputs to arrays and back; videos longer than memory.

``napari_gmm_background.io.read_video`` and the other names here come from
:mod:`.video`; :mod:`.images` reads frame folders and TIFF stacks and writes
images, :mod:`.outputs` writes outputs whole or not at all, :mod:`.streaming`
runs the engine on videos longer than memory.
"""

from .video import *  # noqa: F403 - the public names of napari_gmm_background.io
from .video import __all__ as __all__
