"""The table of methods: one entry each, everything the callers need to know of a method.

A entry says what a method does (the help of the widget and the command
line comes from here), which settings it uses, and how it plans the
background of one stack (:mod:`napari_gmm_background.core.plan`). Adding a
method is adding a entry.

Numbers only: arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ..core.checks import check_count, check_number, check_seed
from ..core.plan import Plan, Step
from ..methods import levels, motion
from ..methods.gmm import EMSettings, HistogramFit, heaviest_means, plan_fit
from ..methods.reference import heaviest_means_sklearn
from ..methods.smoothing import smooth_where_flat

if TYPE_CHECKING:
    from ..core.reading import InMemory, LazyStack

__all__ = [
    "DEFAULT_METHOD",
    "ENGINES",
    "METHODS",
    "Method",
    "Settings",
    "get_method",
    "settings_for",
]

ENGINES = ("numba", "sklearn")


@dataclass(frozen=True)
class Settings:
    """Everything a method is run with besides the frames, checked when made.

    The defaults here are those of every path: the front door, the widget
    and the command line.

    Attributes
    ----------
    n_components, max_iter, tol, reg_covar
        The mixtures' EM, for the methods that fit mixtures (see
        :class:`~napari_gmm_background.methods.gmm.EMSettings`).
    engine : {"numba", "sklearn"}
        What fits the mixtures: the compiled engine, or scikit-learn's
        ``GaussianMixture`` once per pixel-channel (the notebook's loop).
    random_state : int or None
        Seed of the "sklearn" engine's k-means.
    n_stillest : int
        Frames each pixel (or cell) keeps, those with the least motion
        around it, for the methods that look for still moments.
    agreement : float
        Frames within this many times the stillest frames' spread (the
        median distance of a pixel's stillest frames from their median) of
        the first estimate agree with it, and make the background (same
        methods).
    """

    n_components: int = EMSettings.n_components
    max_iter: int = EMSettings.max_iter
    tol: float = EMSettings.tol
    reg_covar: float = EMSettings.reg_covar
    engine: str = "numba"
    random_state: "int | None" = None
    n_stillest: int = motion.DEFAULT_N_SAMPLES
    agreement: float = motion.DEFAULT_TOLERANCE

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        # Made here so that they are checked here, naming what is wrong.
        EMSettings(self.n_components, self.max_iter, self.tol, self.reg_covar)
        check_count("n_stillest", self.n_stillest)
        check_seed("random_state", self.random_state)
        check_number("agreement", self.agreement)

    @property
    def em(self) -> EMSettings:
        return EMSettings(self.n_components, self.max_iter, self.tol, self.reg_covar)

    def motion(self, **options) -> motion.MotionOptions:
        """The motion methods' options with these settings, and ``options``."""
        return motion.MotionOptions(n_samples=self.n_stillest, tolerance=self.agreement, **options)

    def changed(self) -> "list[str]":
        """The names of the settings that differ from their defaults."""
        default = Settings()
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)]


@dataclass(frozen=True)
class Method:
    """An entry of the method table.

    Attributes
    ----------
    name : str
        What users type and pick.
    summary : str
        One sentence for help texts and tooltips.
    estimate : str
        How its estimate is made, for the documentation.
    per_pixel : bool
        Each pixel-channel's background depends on its own samples only:
        any layout, any tiling (dask chunks). Otherwise the method looks at
        neighbouring pixels, so each (T, Y, X, colours) stack is done whole.
    plan : callable
        ``plan(source, settings)``: the :class:`~napari_gmm_background.core.plan.Plan`
        of the background of ``source``, whose result is the background as
        floats. Per-pixel methods get time-first frames of any shape, the
        others a (T, Y, X, colours) stack at a time
        (:class:`~napari_gmm_background.core.reading.InMemory`, or
        :class:`~napari_gmm_background.core.reading.LazyStack` for a method
        that ``reads_in_blocks``).
    uses : tuple of str
        The :class:`Settings` it uses; the others are refused when they
        differ from their defaults.
    model_background : bool
        Its background is the heaviest mean of the per-pixel mixture model
        (:func:`~napari_gmm_background.fit_background_model`), so one fit gives both.
    histogram_fit : type, optional
        For 8-bit video longer than memory: a fitter from per-pixel
        histograms (:class:`napari_gmm_background.methods.gmm.HistogramFit`).
    reads_in_blocks : bool
        Its plan also takes a stack read on demand: it scores whole frames
        as they are read, then fits a block of rows at a time, so data
        larger than memory (dask, zarr, long videos) is never held whole.
    streams : bool
        Its plan also takes frames that go by once (a video longer than
        memory, decoded once): its first pass keeps what its second needs.
    chooses : bool
        It decides from the data which method to run (the default): its
        plan also takes ``choices``, a list each stack's
        :class:`~napari_gmm_background.engine.choice.Choice` is added to.
    """

    name: str
    summary: str
    estimate: str
    per_pixel: bool
    plan: "Callable[[InMemory | LazyStack, Settings], Plan]"
    uses: tuple = ()
    model_background: bool = False
    histogram_fit: "type[HistogramFit] | None" = None
    reads_in_blocks: bool = False
    streams: bool = False
    chooses: bool = False

    @property
    def engines(self) -> tuple:
        """The engines (:data:`ENGINES`) it can fit its mixtures with."""
        return ENGINES if "engine" in self.uses else ("numba",)

    @property
    def fits_mixtures(self) -> bool:
        """Whether it fits Gaussian mixtures by EM, so the EM settings apply."""
        return "n_components" in self.uses

    def check(self, settings: Settings) -> None:
        """ValueError for a setting this method has no use for, set to other than its default.

        The message names the setting and the methods that use it.
        """
        for name in settings.changed():
            if name in self.uses:
                continue
            users = [entry.name for entry in METHODS.values() if name in entry.uses]
            raise ValueError(
                f"method {self.name!r} has no use for {name}={getattr(settings, name)!r}; "
                f"{name} is for {' and '.join(repr(user) for user in users)}"
            )


def _heaviest_gaussian(frames: np.ndarray, settings: Settings) -> np.ndarray:
    """The seed rule on time-first frames: each pixel's heaviest mean, floats."""
    if settings.engine == "sklearn":
        return heaviest_means_sklearn(
            frames, **vars(settings.em), random_state=settings.random_state
        )
    return heaviest_means(frames, settings.em)


def _plan_notebook(source: "InMemory", settings: Settings) -> Plan:
    if settings.engine == "numba":
        return plan_fit(source.shape, settings.em, source.array, store_model=False)
    settings.em.check_frames(source.shape[0])
    done = []
    compute = lambda: done.append(_heaviest_gaussian(source.array(), settings))  # noqa: E731
    return Plan([Step(compute)], lambda: done.pop())


def _plan_still_gaussian(source, settings: Settings) -> Plan:
    options = settings.motion(
        cell_size=None, joint_colour=True, limit_refine=True, prefer_recurring=True
    )
    return motion.plan_stack(source, options)


def _plan_motionless(source, settings: Settings, *, gmm_first: bool) -> Plan:
    first_estimate = None
    if gmm_first:
        n_kept = min(source.shape[0], settings.n_stillest)
        settings.em.check_frames(n_kept, "stillest frames of each pixel, which it is fitted to")
        first_estimate = partial(_heaviest_gaussian, settings=settings)
    return motion.plan_stack(source, settings.motion(first_estimate=first_estimate))


def _plan_levels(source, settings: Settings, *, window: levels.Window) -> Plan:
    return levels.plan_steady_levels(source, window)


def _plan_auto(
    source, settings: Settings, choices: "list | None" = None, check_drift: bool = False
) -> Plan:
    """The method the stack's frames call for (:mod:`.choice`), planned before it is known.

    Colour frames (and frames that go by once, a video's) are the ``gmm``'s,
    decided from the shape. Otherwise each candidate is planned on its own
    copy of the source, so the steps are known before the run: the first
    read a sample of the frames, the next decides (and, with ``check_drift``,
    warns where their brightness drifts), then the chosen plan's steps run,
    spread over as many steps as the shortest candidate has, and the last
    smooths where the data say so.
    """
    from .choice import choose_for_sample, colour_choice, plan_sample
    from .drift import plan_drift_check, warn_of_drift

    if source.shape[-1] > 1 or not getattr(source, "keeps_every_frame", True):
        plan = _plan_still_gaussian(source, settings).map(partial(_noted, colour_choice(), choices))
        if check_drift and getattr(source, "keeps_every_frame", True):
            plan = plan_drift_check(source).then(plan)
        return plan
    candidates = {
        name: METHODS[name].plan(source.again(), settings if name == "gmm" else Settings())
        for name in AUTO_CANDIDATES
    }
    n_steps = min(plan.n_steps for plan in candidates.values())
    sampled = plan_sample(source)
    chosen: dict = {}

    def choose() -> None:
        sample = sampled.result()
        if check_drift:
            warn_of_drift(sample, source.shape[0])
        choice = choose_for_sample(sample, source.shape[1:3])
        chosen["choice"], chosen["plan"] = choice, candidates[choice.method]
        chosen["steps"] = chosen["plan"].spread_over(n_steps)
        candidates.clear()  # the others' copies of the source go

    def smooth() -> None:
        background, choice = chosen["plan"].result(), chosen["choice"]
        if choice.smoothed:
            background = smooth_where_flat(background, choice.noise, source.shape[0])
        chosen["background"] = _noted(choice, choices, background)

    steps = sampled.steps + [Step(choose)]
    steps += [Step(partial(lambda k: chosen["steps"][k].action(), k)) for k in range(n_steps)]
    steps.append(Step(smooth))
    return Plan(steps, lambda: chosen.pop("background"))


def _noted(choice, choices: "list | None", background: np.ndarray) -> np.ndarray:
    """``background``, once ``choice`` is added to ``choices`` (when given)."""
    if choices is not None:
        choices.append(choice)
    return background


_MIXTURE = ("n_components", "max_iter", "tol", "reg_covar", "engine", "random_state")
_STILLEST = ("n_stillest", "agreement")
_MOTIONLESS_REFINEMENT = (
    "each pixel's 19 least-moving frames (motion averaged around the pixel), then the "
    "median of every frame within 5 times the stillest frames' spread (the median "
    "distance of a pixel's stillest frames from their median) of"
)

METHODS: "dict[str, Method]" = {
    entry.name: entry
    for entry in (
        Method(
            name="auto",
            summary=(
                "decides from the frames: fluorescence where foreground only adds light "
                "in a time-lapse, transmitted where it only takes light away, gmm for "
                "colour, for both and for frames that do not follow one another (fields "
                "of view); a single channel is then smoothed where its background is smooth"
            ),
            estimate=(
                "the chosen method's (see each); the choice from up to 32 pairs of "
                "consecutive frames: the share of the foreground's departure (samples over "
                "5 noise standard deviations from the pixel's most populated level) that is "
                "brighter, 0.95 or more for light added, 0.05 or less for light taken away; "
                "smoothing takes at each pixel the widest Gaussian average (sigma 1 to 8) "
                "that agrees with every narrower one within 2 of its standard deviations"
            ),
            per_pixel=False,
            plan=_plan_auto,
            uses=_STILLEST,
            reads_in_blocks=True,
            streams=True,
            chooses=True,
        ),
        Method(
            name="gmm",
            summary=(
                "each pixel's background Gaussian is the one its stillest moments belong "
                "to, fitted to every frame it explains, all colour channels together; the "
                "most accurate measured, and fast"
            ),
            estimate=(
                "per pixel, a mixture of a background Gaussian as wide as its stillest moments "
                "spread and a foreground covering everything else. Frames are scored by the "
                "motion around each pixel (its change to the next frame), on a grid of cells "
                "about 160 across the smaller image side; the background component starts at "
                "the median of the cell's 19 stillest frames, takes every frame whose colour "
                "channels all lie within 5 times the stillest frames' spread (the median "
                "distance of a pixel's stillest frames from their median) of it (evenly spread "
                "frames where a stack is larger than 2**28 samples a channel), and its centre "
                "is their per-channel median"
            ),
            per_pixel=False,
            plan=_plan_still_gaussian,
            uses=_STILLEST,
            reads_in_blocks=True,
            streams=True,
        ),
        Method(
            name="notebook",
            summary=(
                "the original notebook's rule: the heaviest of n_components Gaussians fitted "
                "to each pixel-channel over all frames, agreeing with scikit-learn"
            ),
            estimate=(
                "the mean of the most weighted of n_components Gaussians fitted by EM with "
                "scikit-learn's GaussianMixture rules: k-means initialisation, reg_covar added "
                "to the variances, stop when the mean log-likelihood per sample changes by "
                "less than tol or after max_iter iterations; sparse, changing foreground gets "
                "the smaller weight"
            ),
            per_pixel=True,
            plan=_plan_notebook,
            uses=_MIXTURE,
            model_background=True,
            histogram_fit=HistogramFit,
        ),
        Method(
            name="motionless",
            summary=(
                "from each pixel's least-moving frames, refined with every frame that "
                "agrees with them; best where foreground lingers or covers much of the view"
            ),
            estimate=f"{_MOTIONLESS_REFINEMENT} their median",
            per_pixel=False,
            plan=partial(_plan_motionless, gmm_first=False),
            uses=_STILLEST,
            reads_in_blocks=True,
            streams=True,
        ),
        Method(
            name="fluorescence",
            summary=(
                "for fluorescence, where foreground only adds light: each pixel's dimmest "
                "level its samples keep returning to, filled in smoothly where a cell never "
                "left; the most accurate measured on fluorescence time-lapses"
            ),
            estimate=(
                "per pixel, a one-sided mean shift from the 5th percentile: the mean of the "
                "samples from 3 noise standard deviations below to 1 above, corrected to the "
                "centre for pure noise, with the noise measured at every brightness "
                "(shot noise grows with the light); where that level stands more than 3 "
                "deviations above the image's smooth lower envelope with under 60 % of the "
                "samples at it (a cell that never left), it is filled in from around"
            ),
            per_pixel=False,
            plan=partial(_plan_levels, window=levels.DIMMEST),
            reads_in_blocks=True,
        ),
        Method(
            name="transmitted",
            summary=(
                "for transmitted light (bright field), where foreground only takes light "
                "away: each pixel's brightest level its samples keep returning to"
            ),
            estimate=(
                "as fluorescence on the negated samples, with a wider window: from 2 noise "
                "standard deviations brighter to 3 darker, which the faint bright halo "
                "cells scatter around their edges does not hold"
            ),
            per_pixel=False,
            plan=partial(_plan_levels, window=levels.BRIGHTEST),
            reads_in_blocks=True,
        ),
        Method(
            name="motionless-gmm",
            summary="as motionless, starting from the notebook rule on the least-moving frames",
            estimate=f"{_MOTIONLESS_REFINEMENT} the heaviest Gaussian of a mixture fitted to them",
            per_pixel=False,
            plan=partial(_plan_motionless, gmm_first=True),
            uses=_MIXTURE + _STILLEST,
            reads_in_blocks=True,
            streams=True,
        ),
    )
}
DEFAULT_METHOD = "auto"
# What the default chooses between (engine.choice names them).
AUTO_CANDIDATES = ("gmm", "fluorescence", "transmitted")


def get_method(name: str) -> Method:
    """The entry of :data:`METHODS` called ``name``; ValueError for an unknown name."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"method must be one of {tuple(METHODS)}, got {name!r}") from None


def settings_for(entry: Method, **values) -> Settings:
    """:class:`Settings` of ``values``, checked, and checked against what ``entry`` uses."""
    settings = Settings(**values)
    entry.check(settings)
    return settings
