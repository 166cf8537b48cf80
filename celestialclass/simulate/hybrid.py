"""Hybrid exposures: a real object's morphology, from a bank image, through the simulator's own physics.

A bank image (`celestialclass.datasets.bank`) is a processed 8-bit picture at
0.4-13 arcsec per pixel, while a raw ACS/WFC chip has 0.05 arcsec pixels. The
simulator takes from the image only what it can: where the object's light is
and how it is shaped. Everything the image lacks at HST resolution comes from
the simulator, the same way for both classes:

1. **Light.** The image is read as linear light: the 8-bit values are taken
   as sRGB-encoded (inverse sRGB transfer), then an unknown display stretch is
   undone by a further power ``stretch`` drawn per body from 1 to 2.2 (these
   are processed pictures whose curves are not published: a power law is the
   assumption, and drawing it is honest about not knowing it). The sky level
   (the border's median, or, for the many pictures that sit in a frame of
   constant padding darker than their sky, the 10th percentile of the
   median-filtered picture inside it) is subtracted, the edges are tapered to
   zero, and the result is scaled so that its 99.5th percentile has a surface
   brightness ``mu_peak`` drawn from 18.5 to 22.5 AB mag/arcsec^2.
   The blue, green and red channels become continuum layers with 16,000 K,
   5,800 K and 4,200 K blackbody spectra, so a filter sees the colour of the
   picture roughly where it should.
2. **The picture's light is kept whole**, at its own resolution (bilinear
   on the chip's coarse grid): its arms, filaments, knots and the stars it
   draws as disks are what a chip shows of the object. Smoothing it (a
   median over a few per cent of its width) and redrawing what stood above
   the median as point sources took away much of what tells the classes
   apart: a small network trained on the chips' light alone told held-out
   objects apart 71 % of the time that way, 78 % with the whole picture
   (``benchmarks/probe_hybrid.py --light``).
3. **Resolved point sources where the picture has light**: stars drawn tile
   by tile with a density proportional to the light (``star_density`` per
   arcsec^2 at the 99.5th-percentile level, and no more above it) and a
   power-law luminosity function, the same recipe for galaxies and
   clusters; and fractal texture below the picture's resolution
   (log-normal, so clumps rather than holes; structure finer than 8 of its
   pixels on the sky, from a tile 400 arcsec wide, so it never repeats on a
   chip).
4. **Scale, orientation, partial views.** The picture's width on the sky is
   drawn log-uniformly from 100 to 600 arcsec whatever its true size
   (neither class can be told by size; a chip is 205 x 102 arcsec): half the
   bodies are narrower than 250 arcsec, so a chip shows the whole picture or
   most of it, as chips show a distant galaxy or a compact nebula whole; on
   the rest a chip shows a third of the picture's width or more, as it shows
   part of a nearby object. Wider placements (up to 1,500 arcsec before)
   put featureless pieces of smooth light on most chips, from which no
   class can be read. The picture is mirrored at random, and exposures
   point anywhere within it (the simulator's usual pointing rule).
5. **The rest** is the simulator's: foreground stars, background galaxies,
   sky, PSF, photon and read noise, cosmic rays, bias, saturation
   (`celestialclass.simulate.scenes.scene_layers` and
   `celestialclass.simulate.detector`).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..exceptions import CelestialClassError
from .render import ChipGrid, Layers
from .scenes import Body, fractal_texture, log_uniform, luminosity_function, sample_texture, tile_points, uniform

__all__ = ["bank_body", "bank_layers", "BANK_SUBTYPE", "WIDTH_RANGE"]

#: Sub-type of a body drawn from a bank image.
BANK_SUBTYPE = "bank"
#: Continuum spectrum of each colour channel (OpenCV order: blue, green, red).
_CHANNEL_SEDS = ("young", "sun", "old")
_PEAK_PERCENTILE = 99.5
_SKY_PERCENTILE = 10  # in a padded picture, the sky is this percentile of its median-filtered inside ...
_PADDING_STEP = 3  # ... where that is brighter than the padding by more than this (8-bit steps)
_MIN_INSIDE = 0.05  # ... and the inside is at least this fraction of the picture
_TAPER = 0.06  # fraction of the image's width over which its edges fade to zero
_MEDIAN_FRACTION = 40  # the padded pictures' sky is measured on a median over 1/40 of the width (7 to 31 px)
_MEDIAN_RANGE = (7, 31)
_TEXTURE_PERIOD = 400.0  # arcsec: the texture tile is wider than a chip's diagonal, so it never repeats on one
_TEXTURE_CELLS = 1024  # cells of the texture tile (0.39 arcsec each)
_TEXTURE_FINER_THAN = 8  # picture pixels: the texture holds only structure finer than this
#: Range (arcsec) of a bank picture's width on the sky, drawn log-uniformly (a chip is 205 x 102 arcsec).
WIDTH_RANGE = (100.0, 600.0)


def _median_window(cols: int) -> int:
    """Side (odd, pixels) of the median that a padded picture's sky is measured on: 1/40 of its width, 7 to 31."""
    return int(np.clip(cols // _MEDIAN_FRACTION, *_MEDIAN_RANGE)) | 1


@functools.lru_cache(maxsize=2)
def _texture(seed: int, scale: float) -> np.ndarray:
    """The body's texture tile (`_TEXTURE_PERIOD` arcsec wide): fractal noise finer than its picture resolves."""
    finer_than = _TEXTURE_FINER_THAN * scale * _TEXTURE_CELLS / _TEXTURE_PERIOD
    return fractal_texture([seed, 61], n=_TEXTURE_CELLS, beta=2.6, finer_than=finer_than)


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


@functools.lru_cache(maxsize=8)
def _read_image(path: str):
    """The picture's display values as uint8 (rows, cols, 3; OpenCV's BGR order)."""
    import cv2

    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise CelestialClassError("cannot read the bank image", path=path)
    if image.dtype == np.uint16:
        image = (image // 257).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.shape[2] == 4:  # alpha: Stellarium blends the picture with the sky; keep its colours only
        image = image[:, :, :3]
    return np.ascontiguousarray(image, dtype=np.uint8)


@functools.lru_cache(maxsize=8)
def _linear_light(path: str, stretch: float):
    """The picture's linear light per channel, and the radius that holds 90 % of it (image pixels).

    Returns
    -------
    light : ndarray (rows, cols, 3)
        Display stretch undone, sky subtracted, edges tapered; in units
        where the picture's luminance has its 99.5th percentile at 1.
    radius : float
        Radius about the centre that holds 90 % of the luminance.
    """
    import cv2

    display = _read_image(path)
    # Display value -> linear light is one table of 256 entries (sRGB decoding, then the stretch undone).
    table = (_srgb_to_linear(np.arange(256) / 255.0) ** stretch).astype(np.float32)
    rows, cols = display.shape[:2]
    # The sky is the border's median, unless the picture sits in a frame of constant padding (black,
    # mostly) darker than its sky: then it is a low percentile of the median-filtered picture inside the
    # frame (taken from the padding, the sky would stay on the chip as a bright rectangle). The median
    # (on the 8-bit values: it commutes with the increasing table) keeps stars from setting that level.
    border = np.concatenate([display[:4].reshape(-1, 3), display[-4:].reshape(-1, 3),
                             display[:, :4].reshape(-1, 3), display[:, -4:].reshape(-1, 3)])
    frame = np.median(border, axis=0).astype(np.uint8)
    inside = (display != frame).any(axis=2)
    level = frame.astype(float)
    if inside.mean() > _MIN_INSIDE:
        window = _median_window(cols)
        blurred = cv2.merge([cv2.medianBlur(c, window) for c in cv2.split(display)])
        low = np.percentile(blurred[inside], _SKY_PERCENTILE, axis=0)
        if low.mean() > level.mean() + _PADDING_STEP:
            level = low
    sky = table[level.astype(int)]
    ramp_r = np.clip(np.minimum(np.arange(rows), rows - 1 - np.arange(rows)) / (_TAPER * rows), 0, 1)
    ramp_c = np.clip(np.minimum(np.arange(cols), cols - 1 - np.arange(cols)) / (_TAPER * cols), 0, 1)
    taper = ((np.sin(0.5 * np.pi * ramp_r)[:, None] * np.sin(0.5 * np.pi * ramp_c)[None, :]) ** 2)[:, :, None]
    light = (np.clip(table[display] - sky, 0, None) * taper).astype(np.float32)
    scale = np.percentile(light.mean(axis=2), _PEAK_PERCENTILE)
    if not scale > 0:
        raise CelestialClassError("the bank image holds no light above its sky", path=path)
    light /= np.float32(scale)
    yy, xx = np.mgrid[:rows, :cols]
    r = np.hypot(yy - (rows - 1) / 2, xx - (cols - 1) / 2).ravel()
    order = np.argsort(r)
    cumulative = np.cumsum(light.mean(axis=2).ravel()[order])
    radius = float(r[order][np.searchsorted(cumulative, 0.9 * cumulative[-1])])
    return light, radius


def bank_body(kind: str, seed: int, image: str) -> Body:
    """A body whose morphology comes from the bank image ``image``; parameters drawn from ``seed``.

    Parameters
    ----------
    kind : {'galaxy', 'nsc'}
        The bank row's class.
    seed : int
        Seed of the body: same seed, same scale, orientation, stretch and stars.
    image : str
        The bank image's file.

    Exposures point within ``extent``, 0.8 times the radius that holds 90 %
    of the picture's light, as they point within a parametric body's.
    """
    rng = np.random.default_rng([seed, 17])
    width = log_uniform(rng, *WIDTH_RANGE)  # arcsec on the sky
    stretch = round(uniform(rng, 1.0, 2.2), 1)  # rounded: bodies share the cached linear light
    light, radius = _linear_light(str(image), stretch)
    scale = width / light.shape[1]
    p = {"image": str(image), "scale": scale, "width": width, "stretch": stretch,
         "flip": bool(rng.random() < 0.5), "pa": uniform(rng, 0, 360), "mu_peak": uniform(rng, 18.5, 22.5),
         "star_density": log_uniform(rng, 0.02, 3.0), "star_bright": uniform(rng, 18.0, 22.0),
         "texture": uniform(rng, 0.1, 0.5), "field_density": log_uniform(rng, 0.002, 0.06),
         "background_density": log_uniform(rng, 0.004, 0.012), "radius": radius * scale,
         "extent": 0.8 * radius * scale}
    return Body(kind, BANK_SUBTYPE, int(seed), p)


def _to_image(body: Body, u, v, shape):
    """Image (row, col) of body-frame positions (arcsec)."""
    p = body.params
    c, s = math.cos(math.radians(p["pa"])), math.sin(math.radians(p["pa"]))
    x = (c * u + s * v) / p["scale"]
    y = (-s * u + c * v) / p["scale"]
    if p["flip"]:
        x = -x
    return y + (shape[0] - 1) / 2, x + (shape[1] - 1) / 2


def bank_layers(body: Body, grid: ChipGrid) -> Layers:
    """What a bank body puts on the chip of ``grid`` (see the module docstring)."""
    import cv2
    from scipy import ndimage

    p = body.params
    light, _ = _linear_light(p["image"], p["stretch"])
    u, v = grid.coarse_grid
    row, col = _to_image(body, u, v, light.shape)
    sampled = cv2.remap(light, col.astype(np.float32), row.astype(np.float32), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    # Log-normal, mean 1: bright clumps (unresolved knots and stars), never holes.
    amplitude = p["texture"]
    tex = np.exp(amplitude * sample_texture(_texture(body.seed, p["scale"]), u, v, _TEXTURE_PERIOD)
                 - 0.5 * amplitude ** 2)
    sb = np.float32(10 ** (-0.4 * p["mu_peak"])) * tex
    layers = Layers(continuum={sed: (sampled[:, :, c] * sb).astype(np.float32)
                               for c, sed in enumerate(_CHANNEL_SEDS)})

    # Resolved stars where the picture has light, their density saturating at its 99.5th percentile
    # (a bright star drawn as a disk is not a denser crowd).
    luminance = np.minimum(light.mean(axis=2), 1.0)
    peak = float(luminance.max())
    density0 = p["star_density"]

    def density(uu, vv):
        r, c = _to_image(body, np.asarray(uu), np.asarray(vv), luminance.shape)
        return density0 * ndimage.map_coordinates(luminance, [np.ravel(r), np.ravel(c)], order=1,
                                                  mode="constant", cval=0.0).reshape(np.shape(uu))

    def draw(rng, n):
        return {"mag": luminosity_function(rng, n, p["star_bright"], p["star_bright"] + 8.0, 0.3),
                "temperature": np.exp(rng.uniform(np.log(3500), np.log(25000), n)),
                "embedded": np.ones(n, bool)}

    resolved = tile_points(body, 9, grid, density, lambda a, b: density0 * peak, draw)
    layers.stars = resolved
    return layers
