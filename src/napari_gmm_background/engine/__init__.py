"""The front door: every background method, for every caller.

- :mod:`.table`: the methods, one row each, and the settings they use;
- :mod:`.choice`: what the default (``"auto"``) decides from the frames;
- :mod:`.run`: a run planned once (:func:`plan_background`), then run
  (:func:`iter_background`), its length :func:`count_steps`;
- :mod:`.extract`: :func:`extract_background`, for numpy, lazy and dask data
  (:mod:`.dask_arrays`);
- :mod:`.drift`, :mod:`.correction`, :mod:`.masks`: per-frame backgrounds,
  applying a background, foreground masks;
- :mod:`.compiling`: compiling the kernels before a run needs them.

Numbers only: arrays in, arrays out.
"""

from ..core.progress import Progress
from ..methods.gmm import BackgroundModel, fit_background_model, iter_fit_background_model
from .choice import Choice, choose_method
from .compiling import is_warm, start_warm_up, warm_up
from .drift import DriftWarning
from .extract import SceneChangeWarning, extract_background
from .run import count_steps, iter_background, plan_background
from .table import DEFAULT_METHOD, ENGINES, METHODS, Method, Settings, get_method

__all__ = [
    "DEFAULT_METHOD",
    "ENGINES",
    "METHODS",
    "BackgroundModel",
    "Choice",
    "DriftWarning",
    "Method",
    "Progress",
    "SceneChangeWarning",
    "Settings",
    "choose_method",
    "count_steps",
    "extract_background",
    "fit_background_model",
    "get_method",
    "is_warm",
    "iter_background",
    "iter_fit_background_model",
    "plan_background",
    "start_warm_up",
    "warm_up",
]
