"""Synthetic time series with a known background, made on the fly.

For the napari sample, the tests, the benchmarks and the demo: nothing is
downloaded. Each generator returns ``(frames, background)``, where
``background`` is the exact static scene the frames were drawn over.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "DRIFTS",
    "CONTRASTS",
    "MicroscopyMovie",
    "fields_of_view",
    "fluorescence_movie",
    "synthetic_fluorescence",
    "synthetic_foliage",
    "synthetic_lingering",
    "synthetic_timelapse",
    "synthetic_traffic",
    "transmitted_light_movie",
]


# What each parameter of the generators is, for their checks.
_SIZES = ("n_frames", "height", "width", "n_fields")
_COUNTS = ("n_cells", "n_lanes", "vehicles_per_lane", "n_leaves")
_AMOUNTS = (
    "noise", "photons", "offset", "adu_per_photon", "read_noise", "linger", "cover",
    "bleaching", "lamp_change",
)  # fmt: skip
_OPTIONAL_AMOUNTS = ("absorption", "halo")  # None: the contrast's own


def _checked(generator):
    """``generator`` with its parameters checked first, each refusal naming the parameter."""
    import functools
    import inspect

    from .core.checks import check_count, check_flag, check_number, check_seed

    signature = inspect.signature(generator)

    @functools.wraps(generator)
    def checked(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        for name, value in bound.arguments.items():
            if name in _SIZES:
                check_count(name, value)
            elif name in _COUNTS:
                check_count(name, value, minimum=0)
            elif name in _AMOUNTS or (name in _OPTIONAL_AMOUNTS and value is not None):
                check_number(name, value)
            elif name == "seed":
                check_seed(name, value)
            elif name == "with_cell_mask":
                check_flag(name, value)
        return generator(*args, **kwargs)

    return checked


def _smooth_texture(rng: np.random.Generator, height: int, width: int, scale: int) -> np.ndarray:
    """Random smooth field in [0, 1]: coarse noise, upsampled bilinearly."""
    coarse = rng.random((height // scale + 2, width // scale + 2))
    y = np.linspace(0, coarse.shape[0] - 1.001, height)
    x = np.linspace(0, coarse.shape[1] - 1.001, width)
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x0 + 1] * fx
    bottom = coarse[y0 + 1][:, x0] * (1 - fx) + coarse[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


@_checked
def synthetic_traffic(
    n_frames: int = 120,
    height: int = 240,
    width: int = 320,
    *,
    n_lanes: int = 4,
    vehicles_per_lane: int = 2,
    noise: float = 3.0,
    seed: int = 0,
) -> tuple:
    """A road seen from above: textured static scene, passing vehicles, noise.

    Parameters
    ----------
    n_frames, height, width : int
        Size of the video.
    n_lanes : int
        Horizontal lanes across the middle of the frame.
    vehicles_per_lane : int
        Vehicles driving along each lane, wrapping around.
    noise : float
        Standard deviation of the sensor noise, in grey levels.
    seed : int
        Random seed; the same seed gives the same video.

    Returns
    -------
    frames : numpy.ndarray
        (n_frames, height, width, 3) uint8, RGB.
    background : numpy.ndarray
        (height, width, 3) uint8, the scene without vehicles or noise.
    """
    rng = np.random.default_rng(seed)
    texture = _smooth_texture(rng, height, width, 16)
    fine = _smooth_texture(rng, height, width, 3)
    grey = 70 + 60 * texture + 25 * fine
    background = np.stack([grey * 0.9 + 20, grey, grey * 0.8 + 10], axis=-1)

    lane_height = max(height // (2 * n_lanes + 2), 4)
    road_top = (height - n_lanes * 2 * lane_height) // 2
    road = slice(road_top, road_top + n_lanes * 2 * lane_height)
    background[road] = background[road] * 0.5 + 30
    for lane in range(1, n_lanes):
        y = road_top + lane * 2 * lane_height
        background[y - 1 : y + 1, (np.arange(width) // 12) % 2 == 0] = (230, 230, 210)
    background = np.clip(np.rint(background), 0, 255).astype(np.uint8)

    vehicles = []
    for lane in range(n_lanes):
        y0 = road_top + lane * 2 * lane_height + lane_height // 2
        speed = rng.uniform(2.0, 6.0) * (1 if lane % 2 else -1)
        for v in range(vehicles_per_lane):
            length = int(rng.integers(max(width // 12, 1), max(width // 6, 2))) + 1
            start = rng.uniform(0, width + length) + v * (width + length) / vehicles_per_lane
            colour = rng.integers(0, 256, 3)
            vehicles.append((y0, lane_height, length, start, speed, colour))

    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    noise_scale = np.float32(noise)
    for t in range(n_frames):
        frame = background.astype(np.int16)
        for y0, h, length, start, speed, colour in vehicles:
            span = width + length
            x = int((start + speed * t) % span) - length
            x_lo, x_hi = max(x, 0), min(x + length, width)
            if x_lo < x_hi:
                frame[y0 : y0 + h, x_lo:x_hi] = colour
                # A darker roof, so vehicles are not flat patches.
                frame[y0 + h // 3 : y0 + h - h // 3, x_lo:x_hi] = colour // 2
        if noise:
            frame += np.rint(
                rng.standard_normal(frame.shape, dtype=np.float32) * noise_scale
            ).astype(np.int16)
        np.clip(frame, 0, 255, out=frame)
        frames[t] = frame
    return frames, background


@_checked
def synthetic_timelapse(
    n_frames: int = 60,
    height: int = 128,
    width: int = 128,
    *,
    n_cells: int = 6,
    dtype: "np.dtype | type" = np.uint16,
    noise: float = 40.0,
    seed: int = 0,
) -> tuple:
    """A fluorescence time-lapse: uneven static background, drifting bright cells.

    Parameters
    ----------
    n_frames, height, width : int
        Size of the stack.
    n_cells : int
        Bright blobs wandering over the field.
    dtype : numpy dtype
        Output dtype, uint16 by default (like most camera stacks).
    noise : float
        Standard deviation of the sensor noise, in grey levels.
    seed : int
        Random seed.

    Returns
    -------
    frames : numpy.ndarray
        (n_frames, height, width) of ``dtype``.
    background : numpy.ndarray
        (height, width) of ``dtype``: the static part.
    """
    rng = np.random.default_rng(seed)
    background = 800 + 1200 * _smooth_texture(rng, height, width, 24)
    yy, xx = np.mgrid[0:height, 0:width]
    position = rng.uniform([0, 0], [height, width], size=(n_cells, 2))
    velocity = rng.normal(0, 1.5, size=(n_cells, 2))
    radius = rng.uniform(4, 9, size=n_cells)
    brightness = rng.uniform(1500, 4000, size=n_cells)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    frames = np.empty((n_frames, height, width), dtype=dtype)
    for t in range(n_frames):
        frame = background.copy()
        for c in range(n_cells):
            cy, cx = (position[c] + velocity[c] * t) % (height, width)
            # Beyond 6 radii a cell adds less than 1e-7 of its brightness.
            reach = 6 * radius[c]
            rows = slice(max(0, int(cy - reach)), min(height, int(cy + reach) + 1))
            cols = slice(max(0, int(cx - reach)), min(width, int(cx + reach) + 1))
            frame[rows, cols] += brightness[c] * np.exp(
                -((yy[rows, cols] - cy) ** 2 + (xx[rows, cols] - cx) ** 2) / (2 * radius[c] ** 2)
            )
        frame += rng.normal(0, noise, frame.shape)
        if info is not None:
            frame = np.clip(np.rint(frame), info.min, info.max)
        frames[t] = frame
    if info is not None:
        background = np.clip(np.rint(background), info.min, info.max)
    return frames, background.astype(dtype)


@_checked
def synthetic_lingering(
    n_frames: int = 150,
    height: int = 120,
    width: int = 160,
    *,
    linger: float = 0.6,
    noise: float = 3.0,
    seed: int = 0,
) -> tuple:
    """A textured object that stays, fidgeting, for most of the video.

    Like a person standing still: a textured blob walks in, stays for
    ``linger`` of the frames moving by a pixel or two, and walks out. Where
    it lingers, the seed rule's heaviest component is the object.

    Returns
    -------
    frames : numpy.ndarray
        (n_frames, height, width, 3) uint8.
    background : numpy.ndarray
        (height, width, 3) uint8.
    """
    rng = np.random.default_rng(seed)
    grey = 60 + 120 * _smooth_texture(rng, height, width, 12)
    background = np.clip(np.rint(np.stack([grey, grey * 0.9 + 10, grey * 0.8 + 20], -1)), 0, 255)
    background = background.astype(np.uint8)
    size_y, size_x = height // 2, width // 4
    pattern = (40 + 180 * _smooth_texture(rng, size_y, size_x, 4))[..., None] * [1.0, 0.5, 0.3]
    rest_y, rest_x = height // 4, width // 2 - size_x // 2
    arrive = int(n_frames * (1 - linger) / 2)
    leave = arrive + int(n_frames * linger)
    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    for t in range(n_frames):
        frame = background.astype(np.float32)
        if t < arrive:  # walking in from the left
            x = int(-size_x + (rest_x + size_x) * t / max(arrive, 1))
        elif t >= leave:  # walking out to the right
            x = int(rest_x + (width - rest_x) * (t - leave) / max(n_frames - leave, 1))
        else:  # fidgeting
            x = rest_x + int(rng.integers(-2, 3))
        y = rest_y + (int(rng.integers(-1, 2)) if arrive <= t < leave else 0)
        x_lo, x_hi = max(x, 0), min(x + size_x, width)
        if x_lo < x_hi:
            frame[y : y + size_y, x_lo:x_hi] = pattern[:, x_lo - x : x_hi - x]
        frame += rng.normal(0, noise, frame.shape).astype(np.float32)
        frames[t] = np.clip(np.rint(frame), 0, 255)
    return frames, background


class MicroscopyMovie(NamedTuple):
    """A synthetic microscopy stack and everything true about it."""

    frames: np.ndarray
    """(T, Y, X) uint16, as the camera recorded it."""
    background: np.ndarray
    """(T, Y, X) float32: each frame's expected value without cells, in ADU."""
    cells: np.ndarray
    """(T, Y, X) bool: where cells change the light by at least the noise's standard deviation."""
    touched: np.ndarray
    """(Y, X) bool: where a cell ever changed the light by a photon; elsewhere only noise."""
    gain: np.ndarray
    """(T,) the illumination of each frame relative to the first (bleaching, lamp)."""
    change_frames: tuple
    """The frames where the scene changes suddenly (lamp and focus)."""


DRIFTS = ("static", "bleaching", "jump")


@_checked
def fluorescence_movie(
    n_frames: int = 200,
    height: int = 512,
    width: int = 512,
    *,
    drift: str = "static",
    n_cells: int = 40,
    photons: float = 300.0,
    offset: float = 100.0,
    adu_per_photon: float = 2.0,
    read_noise: float = 3.0,
    bleaching: float = 0.3,
    lamp_change: float = 1.3,
    seed: int = 0,
) -> MicroscopyMovie:
    """A fluorescence time-lapse as a camera records it, static or drifting.

    The scene: background fluorescence of ``photons`` per pixel and frame,
    dimmed towards the corners (vignetting) and under out-of-focus dust
    (soft dark disks), plus fixed bright debris. Over it, textured cells
    crawl slowly (some barely move for most of the movie) and some divide
    into two daughters that move apart. Each frame is photon counts
    (Poisson) times ``adu_per_photon``, plus the camera ``offset`` and
    Gaussian read noise, as uint16.

    ``drift`` says how the illumination changes: "static" not at all;
    "bleaching" fades everything exponentially, by ``bleaching`` (30 %) over
    the movie; "jump" changes the lamp by ``lamp_change`` and the focus
    (dust and debris blur) at the middle frame.

    Returns
    -------
    MicroscopyMovie
        The frames, each frame's true background, the cells, the gain
        per frame and the change frames.
    """
    if drift not in DRIFTS:
        raise ValueError(f"drift must be one of {DRIFTS}, got {drift!r}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    scene = _slide(rng, yy, xx, photons)
    change = n_frames // 2 if drift == "jump" and n_frames > 1 else n_frames
    scenes = [scene(1.0)] + ([scene(1.8)] if change < n_frames else [])
    gain = _illumination(drift, n_frames, change, bleaching, lamp_change)
    cells = _cells(rng, n_cells, n_frames, height, width)
    frames = np.empty((n_frames, height, width), dtype=np.uint16)
    backgrounds = np.empty((n_frames, height, width), dtype=np.float32)
    cell_masks = np.zeros((n_frames, height, width), dtype=bool)
    touched = np.zeros((height, width), dtype=bool)
    for t in range(n_frames):
        light = scenes[t >= change] * gain[t]
        expected = light.copy()  # the cells' light is added to it in their order
        added_light = _cells_light(cells, t, gain[t], rng, yy, xx, touched, expected)
        # Visible in one frame: the light cells add (ADU) reaches the noise's deviation.
        noise_std = np.sqrt(adu_per_photon**2 * light + read_noise**2)
        cell_masks[t] = adu_per_photon * added_light >= noise_std
        frames[t] = _expose(rng, expected, offset, adu_per_photon, read_noise)
        backgrounds[t] = offset + adu_per_photon * light
    return MicroscopyMovie(
        frames,
        backgrounds,
        cell_masks,
        touched,
        gain / gain[0],
        (change,) if change < n_frames else (),
    )


def _expose(rng, expected: np.ndarray, offset, adu_per_photon, read_noise) -> np.ndarray:
    """A camera's uint16 frame of ``expected`` photons: Poisson counts, gain, offset, read noise."""
    counts = rng.poisson(expected)
    image = offset + adu_per_photon * counts + rng.normal(0, read_noise, expected.shape)
    return np.clip(np.rint(image), 0, 65535)


def _static_movie(frames, background, cells, touched) -> MicroscopyMovie:
    """A movie whose every frame has ``background``, in ADU."""
    background = np.broadcast_to(background.astype(np.float32), frames.shape)
    return MicroscopyMovie(frames, background, cells, touched, np.ones(len(frames)), ())


def _slide(rng, yy: np.ndarray, xx: np.ndarray, photons: float, *, debris_absorbs: bool = False):
    """The slide's light at a focus: vignetted, textured, under dust, with debris.

    Debris glows (fluorescence), or, lit from behind, is dark.
    """
    height, width = yy.shape
    radius2 = ((yy - height / 2) / height) ** 2 + ((xx - width / 2) / width) ** 2
    base = photons * (1.0 - 0.8 * radius2) * (0.85 + 0.3 * _smooth_texture(rng, height, width, 32))
    dust = [
        (rng.uniform(0, height), rng.uniform(0, width), rng.uniform(8, 25))
        for _ in range(max(1, height * width // 40000))
    ]
    debris = [
        (rng.uniform(0, height), rng.uniform(0, width), rng.uniform(1.5, 4), rng.uniform(100, 600))
        for _ in range(max(1, height * width // 25000))
    ]

    def scene(defocus: float) -> np.ndarray:
        # Out of focus, dust shadows spread and fade, debris blurs (same light).
        out = base.copy()
        for cy, cx, r in dust:
            r2 = (r * defocus) ** 2
            out *= 1.0 - 0.35 / defocus * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r2))
        for cy, cx, r, bright in debris:
            r2 = (r * defocus) ** 2
            spot = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r2)) / defocus**2
            if debris_absorbs:  # as dark as the debris of fluorescence is bright
                out *= 1 - 0.6 * bright / 600 * spot
            else:
                out += bright * spot
        return out

    return scene


def _illumination(drift: str, n_frames: int, change: int, bleaching, lamp_change) -> np.ndarray:
    """Each frame's light over the first's: bleaching fades it, a lamp change jumps."""
    gain = np.ones(n_frames)
    if drift == "bleaching":
        gain = (1.0 - bleaching) ** (np.arange(n_frames) / max(n_frames - 1, 1))
    elif drift == "jump":
        gain[change:] = lamp_change
    return gain


def _cells(rng: np.random.Generator, n_cells: int, n_frames: int, height: int, width: int):
    """Cells: position, velocity, radius, brightness; a quarter barely move, a third divide."""
    cells = []
    for index in range(n_cells):
        speed = 0.05 if index % 4 == 0 else rng.uniform(0.2, 1.0)
        angle = rng.uniform(0, 2 * np.pi)
        cells.append(
            {
                "position": rng.uniform([0, 0], [height, width]),
                "velocity": speed * np.array([np.sin(angle), np.cos(angle)]),
                "radius": rng.uniform(7, 13),
                "brightness": rng.uniform(300, 1500),
                "divides": int(rng.integers(n_frames // 4, n_frames)) if index % 3 == 0 else -1,
                "phase": rng.uniform(0, 2 * np.pi),
            }
        )
    return cells


def _move_cells(cells: list, t: int, rng, shape: tuple) -> list:
    """Each cell one frame on (dividing into two daughters that move apart at its time).

    Returns the cells seen in frame ``t``: a daughter born in it shows from the next.
    """
    seen = list(cells)
    for cell in seen:
        if t == cell["divides"]:
            cell["divides"] = -1
            cell["radius"] *= 0.8
            twin = dict(cell, velocity=-cell["velocity"] + rng.normal(0, 0.3, 2))
            cell["velocity"] = cell["velocity"] + rng.normal(0, 0.3, 2)
            cells.append(twin)
        cell["position"] = (cell["position"] + cell["velocity"]) % shape
    return seen


def _cell_patches(cells: list, yy: np.ndarray, xx: np.ndarray, reach: float = 3.0):
    """Each cell's patch of the image: (cell, rows, cols, dy, dx) from its centre."""
    height, width = yy.shape
    for cell in cells:
        cy, cx = cell["position"]
        r = int(reach * cell["radius"]) + 1
        rows = slice(max(0, int(cy) - r), min(height, int(cy) + r + 1))
        cols = slice(max(0, int(cx) - r), min(width, int(cx) + r + 1))
        yield cell, rows, cols, yy[rows, cols] - cy, xx[rows, cols] - cx


def _texture(cell: dict, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    return 0.8 + 0.2 * np.sin(dx / 2.0 + cell["phase"]) * np.cos(dy / 2.5)


def _cells_light(cells: list, t: int, gain: float, rng, yy, xx, touched, expected) -> np.ndarray:
    """The light the cells add in frame ``t``, once moved (and divided), also into ``expected``.

    Marks ``touched`` where a cell adds a photon or more.
    """
    seen = _move_cells(cells, t, rng, yy.shape)
    added_light = np.zeros(yy.shape)
    for cell, rows, cols, dy, dx in _cell_patches(seen, yy, xx):
        body = np.exp(-(dy**2 + dx**2) / (2 * cell["radius"] ** 2))
        added = cell["brightness"] * gain * body * _texture(cell, dy, dx)
        expected[rows, cols] += added
        added_light[rows, cols] += added
        touched[rows, cols] |= added >= 1.0
    return added_light


def _cells_transmission(cells: list, t: int, rng, yy, xx, absorption: float, halo: float):
    """The share of the light that passes the cells in frame ``t``, once moved.

    A cell's body takes away up to ``absorption`` of the light (its texture
    more or less); just outside its edge, light it scatters brightens a
    ring by up to ``halo`` (the halo of phase contrast, faint in bright field).
    """
    seen = _move_cells(cells, t, rng, yy.shape)
    passed = np.ones(yy.shape)
    for cell, rows, cols, dy, dx in _cell_patches(seen, yy, xx, reach=2.0):
        r = cell["radius"]
        distance = np.sqrt(dy**2 + dx**2)
        body = 1.0 / (1.0 + np.exp((distance - r) / 1.2))  # a soft-edged disk
        ring = np.exp(-0.5 * ((distance - r - 2.5) / 1.5) ** 2)
        strength = cell["brightness"] / 1500  # cells differ in density as in brightness
        factor = (1 - absorption * strength * body * _texture(cell, dy, dx)) * (
            1 + halo * strength * ring
        )
        passed[rows, cols] *= factor
    return passed


CONTRASTS = {"brightfield": (0.45, 0.08), "phase": (0.45, 0.6)}


@_checked
def transmitted_light_movie(
    n_frames: int = 200,
    height: int = 512,
    width: int = 512,
    *,
    contrast: str = "brightfield",
    n_cells: int = 40,
    photons: float = 3000.0,
    absorption: "float | None" = None,
    halo: "float | None" = None,
    offset: float = 100.0,
    adu_per_photon: float = 1.0,
    read_noise: float = 3.0,
    seed: int = 0,
) -> MicroscopyMovie:
    """A transmitted-light time-lapse (bright field, phase contrast): cells take light away.

    The slide of :func:`fluorescence_movie` (vignetting, dust), lit from
    behind by ``photons`` per pixel and frame, its debris dark; the same
    crawling, dividing cells, each absorbing up to ``absorption`` of the
    light in its body and scattering a bright ``halo`` around its edge.
    ``contrast`` sets both: "brightfield" (0.45 absorbed, a faint 8 %
    halo) or "phase" (0.45 and a 60 % halo: foreground both darker and
    brighter than the background). Photon (Poisson) and read noise as
    there; uint16.

    Returns
    -------
    MicroscopyMovie
        Static: every frame's background is the same.
    """
    if contrast not in CONTRASTS:
        raise ValueError(f"contrast must be one of {tuple(CONTRASTS)}, got {contrast!r}")
    default_absorption, default_halo = CONTRASTS[contrast]
    absorption = default_absorption if absorption is None else absorption
    halo = default_halo if halo is None else halo
    if absorption > 1:
        raise ValueError(f"absorption must be at most 1 (all the light), got {absorption!r}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    light = _slide(rng, yy, xx, photons, debris_absorbs=True)(1.0)
    cells = _cells(rng, n_cells, n_frames, height, width)
    frames = np.empty((n_frames, height, width), dtype=np.uint16)
    cell_masks = np.zeros((n_frames, height, width), dtype=bool)
    touched = np.zeros((height, width), dtype=bool)
    noise_std = np.sqrt(adu_per_photon**2 * light + read_noise**2)
    for t in range(n_frames):
        expected = light * _cells_transmission(cells, t, rng, yy, xx, absorption, halo)
        change = adu_per_photon * np.abs(expected - light)
        cell_masks[t] = change >= noise_std
        touched |= change >= adu_per_photon
        frames[t] = _expose(rng, expected, offset, adu_per_photon, read_noise)
    return _static_movie(frames, offset + adu_per_photon * light, cell_masks, touched)


@_checked
def fields_of_view(
    n_fields: int = 60,
    height: int = 512,
    width: int = 512,
    *,
    n_cells: int = 40,
    photons: float = 300.0,
    offset: float = 100.0,
    adu_per_photon: float = 2.0,
    read_noise: float = 3.0,
    seed: int = 0,
) -> MicroscopyMovie:
    """Fields of view of one fluorescence slide: the same flat-field, other cells in every frame.

    A tiled acquisition (the flat-field case): the slide's light of
    :func:`fluorescence_movie` (vignetting, dust, debris) is the same in
    every field, while each field shows ``n_cells`` cells of its own at
    random places. No frame follows from the one before, so nothing moves
    between them: a pixel is covered in some fields and clear in the others.

    Returns
    -------
    MicroscopyMovie
        One frame per field; every frame's background is the same.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    light = _slide(rng, yy, xx, photons)(1.0)
    frames = np.empty((n_fields, height, width), dtype=np.uint16)
    cell_masks = np.zeros((n_fields, height, width), dtype=bool)
    touched = np.zeros((height, width), dtype=bool)
    noise_std = np.sqrt(adu_per_photon**2 * light + read_noise**2)
    for t in range(n_fields):
        cells = _cells(rng, n_cells, 1, height, width)
        expected = light.copy()
        added = _cells_light(cells, 0, 1.0, rng, yy, xx, touched, expected)
        cell_masks[t] = adu_per_photon * added >= noise_std
        frames[t] = _expose(rng, expected, offset, adu_per_photon, read_noise)
    return _static_movie(frames, offset + adu_per_photon * light, cell_masks, touched)


@_checked
def synthetic_fluorescence(
    n_frames: int = 200,
    height: int = 512,
    width: int = 512,
    *,
    n_cells: int = 40,
    photons: float = 300.0,
    offset: float = 100.0,
    adu_per_photon: float = 2.0,
    read_noise: float = 3.0,
    seed: int = 0,
    with_cell_mask: bool = False,
) -> tuple:
    """A static fluorescence time-lapse as a camera records it, with its true background.

    :func:`fluorescence_movie` without drift (see there for the scene).

    Returns
    -------
    frames : numpy.ndarray
        (n_frames, height, width) uint16.
    background : numpy.ndarray
        (height, width) float64: the expected value of a frame without
        cells, ``offset + adu_per_photon * scene``, in ADU.
    touched : numpy.ndarray
        With ``with_cell_mask``: (height, width) bool, where a cell ever
        added at least one photon; elsewhere the pixel is only noise.
    """
    movie = fluorescence_movie(
        n_frames,
        height,
        width,
        n_cells=n_cells,
        photons=photons,
        offset=offset,
        adu_per_photon=adu_per_photon,
        read_noise=read_noise,
        seed=seed,
    )
    background = movie.background[0].astype(np.float64)
    if with_cell_mask:
        return movie.frames, background, movie.touched
    return movie.frames, background


@_checked
def synthetic_foliage(
    n_frames: int = 200,
    height: int = 180,
    width: int = 240,
    *,
    n_leaves: int = 120,
    cover: float = 0.5,
    noise: float = 3.0,
    seed: int = 0,
) -> tuple:
    """Leaves waving in the wind in front of a static scene, and a passer-by.

    The hard case for motion-based methods: over the part of the view the
    foliage hangs in (the left ``cover`` of the frame), leaves sway all the
    time and hide any pixel for much of the movie, so no moment there is
    both still and clear. Each leaf is a textured green ellipse swinging
    around its own anchor with its own period; a person crosses the clear
    part once.

    Returns
    -------
    frames : numpy.ndarray
        (n_frames, height, width, 3) uint8, RGB.
    background : numpy.ndarray
        (height, width, 3) uint8: the scene without leaves or person.
    """
    rng = np.random.default_rng(seed)
    texture = _smooth_texture(rng, height, width, 10)
    bricks = ((np.arange(height)[:, None] // 8 + np.arange(width)[None, :] // 16) % 2) * 25
    grey = 80 + 90 * texture + bricks
    background = np.stack([grey * 1.05, grey * 0.9, grey * 0.75], axis=-1)
    background = np.clip(np.rint(background), 0, 255).astype(np.uint8)

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    reach = cover * width
    leaves = []
    for _ in range(n_leaves):
        leaves.append(
            {
                "anchor": rng.uniform([0, 0], [height, reach]),
                "amplitude": rng.uniform(4, 14, 2),
                "period": rng.uniform(12, 40, 2),
                "phase": rng.uniform(0, 2 * np.pi, 2),
                "size": rng.uniform([5, 9], [9, 16]),
                "angle": rng.uniform(0, np.pi),
                "colour": np.array([40, 110, 30]) * rng.uniform(0.6, 1.4),
            }
        )
    person = (height // 3, int(0.55 * width), int(0.35 * width))  # top, width span
    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    for t in range(n_frames):
        frame = background.astype(np.float32)
        crossing = (t - n_frames // 3) / max(n_frames // 4, 1)
        if 0 <= crossing < 1:  # a person crosses the clear part once
            x = int(person[1] + crossing * person[2])
            frame[person[0] : person[0] + height // 2, x : x + 14] = (150, 60, 70)
        for leaf in leaves:
            cy, cx = leaf["anchor"] + leaf["amplitude"] * np.sin(
                2 * np.pi * t / leaf["period"] + leaf["phase"]
            )
            a, b = leaf["size"]
            r = int(b) + 1
            rows = slice(max(0, int(cy) - r), min(height, int(cy) + r + 1))
            cols = slice(max(0, int(cx) - r), min(width, int(cx) + r + 1))
            dy, dx = yy[rows, cols] - cy, xx[rows, cols] - cx
            c, s = np.cos(leaf["angle"]), np.sin(leaf["angle"])
            u, v = (dx * c + dy * s) / b, (-dx * s + dy * c) / a
            inside = u**2 + v**2 <= 1
            shade = 0.75 + 0.25 * np.cos(6 * u)[..., None]  # veins
            frame[rows, cols][inside] = (leaf["colour"] * shade)[inside]
        frame += rng.normal(0, noise, frame.shape).astype(np.float32)
        frames[t] = np.clip(np.rint(frame), 0, 255)
    return frames, background
