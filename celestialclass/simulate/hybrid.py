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
2. **What the picture cannot resolve becomes point sources.** The smooth
   light is the picture's median over a window of 1/40 of its width (7 to
   31 pixels, odd: processed pictures draw bright stars as disks many
   pixels wide); where the picture stands above it by more than its noise
   and by a quarter of the median itself (foreground stars, cluster
   members, knots; not a smooth ridge such as a thin disk), the excess is
   drawn as point sources of the same flux through the instrument's PSF,
   instead of as blurred blobs: one source per compact patch (up to the
   window's area), at its centroid, and one per pixel, placed at random
   within it, in larger patches (a crowded cluster, a knotty arm).
3. **Resolved point sources where the picture has light**: stars drawn tile
   by tile with a density proportional to the smooth light (``star_density``
   per arcsec^2 at the 99.5th-percentile level) and a power-law luminosity
   function, the same recipe for galaxies and clusters; and fractal texture
   below the picture's resolution (log-normal, so clumps rather than holes;
   structure finer than 8 of its pixels on the sky, from a tile 400 arcsec
   wide, so it never repeats on a chip).
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
from .scenes import (Body, fractal_texture, log_uniform, luminosity_function, merge_points, sample_texture,
                     tile_points, uniform)

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
_MEDIAN_FRACTION = 40  # the smooth light is the picture's median over 1/40 of its width (7 to 31 pixels) ...
_MEDIAN_RANGE = (7, 31)
_CONTRAST = 0.25  # ... and a pixel must stand above it by this fraction of it to hold point sources
_TEXTURE_PERIOD = 400.0  # arcsec: the texture tile is wider than a chip's diagonal, so it never repeats on one
_TEXTURE_CELLS = 1024  # cells of the texture tile (0.39 arcsec each)
_TEXTURE_FINER_THAN = 8  # picture pixels: the texture holds only structure finer than this
#: Range (arcsec) of a bank picture's width on the sky, drawn log-uniformly (a chip is 205 x 102 arcsec).
WIDTH_RANGE = (100.0, 600.0)


def _median_window(cols: int) -> int:
    """Side (odd, pixels) of the median that gives a picture's smooth light: 1/40 of its width, 7 to 31."""
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
    """Smooth linear light per channel, its point sources, and the light's radius (image pixels).

    Returns
    -------
    smooth : ndarray (rows, cols, 3)
        Sky-subtracted, tapered, point sources removed; in units where the
        picture's light (point sources included) has its 99.5th percentile
        at 1.
    points : tuple of ndarrays
        Row, column and per-channel flux (same units times pixels) of the point sources found.
    radius : float
        Radius about the centre that holds 90 % of the smooth luminance.
    """
    import cv2
    from scipy import ndimage

    display = _read_image(path)
    # Display value -> linear light is one table of 256 entries (sRGB decoding, then the stretch undone),
    # so a median can be taken on the 8-bit values (medians commute with an increasing map).
    table = (_srgb_to_linear(np.arange(256) / 255.0) ** stretch).astype(np.float32)
    rows, cols = display.shape[:2]
    window = _median_window(cols)
    blurred = cv2.merge([cv2.medianBlur(c, window) for c in cv2.split(display)])
    # The sky is the border's median, unless the picture sits in a frame of constant padding (black,
    # mostly) darker than its sky: then it is a low percentile of the median-filtered picture inside the
    # frame (taken from the padding, the sky would stay on the chip as a bright rectangle).
    border = np.concatenate([display[:4].reshape(-1, 3), display[-4:].reshape(-1, 3),
                             display[:, :4].reshape(-1, 3), display[:, -4:].reshape(-1, 3)])
    frame = np.median(border, axis=0).astype(np.uint8)
    inside = (display != frame).any(axis=2)
    level = frame.astype(float)
    if inside.mean() > _MIN_INSIDE:
        low = np.percentile(blurred[inside], _SKY_PERCENTILE, axis=0)
        if low.mean() > level.mean() + _PADDING_STEP:
            level = low
    sky = table[level.astype(int)]
    ramp_r = np.clip(np.minimum(np.arange(rows), rows - 1 - np.arange(rows)) / (_TAPER * rows), 0, 1)
    ramp_c = np.clip(np.minimum(np.arange(cols), cols - 1 - np.arange(cols)) / (_TAPER * cols), 0, 1)
    taper = ((np.sin(0.5 * np.pi * ramp_r)[:, None] * np.sin(0.5 * np.pi * ramp_c)[None, :]) ** 2)[:, :, None]

    def linear(values):
        return (np.clip(table[values] - sky, 0, None) * taper).astype(np.float32)

    image = linear(display)
    # The picture's smooth light is its median over `window` pixels: structure finer than that (stars,
    # knots, a crowded cluster's members) is what the picture cannot resolve, and becomes point sources.
    # Excess over the median counts where it stands out of the noise on the display values (whose 8-bit
    # steps are even, unlike the linear ones).
    smooth = linear(blurred)
    shown = cv2.cvtColor(display, cv2.COLOR_BGR2GRAY)
    residual = (shown.astype(np.float32) - cv2.medianBlur(shown, window)) / 255.0
    noise = max(1.4826 * float(np.median(np.abs(residual - np.median(residual)))), 1.0 / 255)
    excess = np.clip(image - smooth, 0, None)
    # ... and by a quarter of the median itself: a smooth ridge (a thin disk) exceeds its median by less.
    excess *= ((residual > max(3 * noise, 3.0 / 255))
               & (excess.mean(axis=2) > _CONTRAST * smooth.mean(axis=2)))[:, :, None]
    labels, count = ndimage.label(excess.sum(axis=2) > 0)
    points = (np.zeros(0), np.zeros(0), np.zeros((0, 3)))
    if count:
        # A compact patch is one source, at its centroid; a larger one (a crowded field, a knotty arm)
        # gives a source per pixel, placed at random within it.
        index = np.arange(1, count + 1)
        area = np.bincount(labels.ravel(), minlength=count + 1)[1:]
        single = index[area <= window * window]
        flux = np.stack([ndimage.sum(excess[:, :, c], labels, single) for c in range(3)], axis=1).reshape(-1, 3)
        centres = np.array(ndimage.center_of_mass(excess.sum(axis=2), labels, single)).reshape(-1, 2)
        spread = np.isin(labels, index[area > window * window])
        rows_, cols_ = np.nonzero(spread)
        jitter = np.random.default_rng(0).uniform(-0.5, 0.5, (2, len(rows_)))
        points = (np.concatenate([centres[:, 0], rows_ + jitter[0]]),
                  np.concatenate([centres[:, 1], cols_ + jitter[1]]),
                  np.concatenate([flux, excess[rows_, cols_]]))
    # The brightest light of the picture, point sources included (a cluster's smooth light is faint).
    scale = np.percentile(image.mean(axis=2), _PEAK_PERCENTILE)
    if not scale > 0:
        raise CelestialClassError("the bank image holds no light above its sky", path=path)
    smooth /= np.float32(scale)
    points = (points[0], points[1], points[2] / scale)
    yy, xx = np.mgrid[:rows, :cols]
    r = np.hypot(yy - (rows - 1) / 2, xx - (cols - 1) / 2).ravel()
    order = np.argsort(r)
    cumulative = np.cumsum(smooth.mean(axis=2).ravel()[order])
    radius = float(r[order][np.searchsorted(cumulative, 0.9 * cumulative[-1])])
    return smooth.astype(np.float32), points, radius


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
    smooth, _, radius = _linear_light(str(image), stretch)
    scale = width / smooth.shape[1]
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


def _from_image(body: Body, row, col, shape):
    p = body.params
    x = (np.asarray(col) - (shape[1] - 1) / 2) * p["scale"]
    y = (np.asarray(row) - (shape[0] - 1) / 2) * p["scale"]
    if p["flip"]:
        x = -x
    c, s = math.cos(math.radians(p["pa"])), math.sin(math.radians(p["pa"]))
    return c * x - s * y, s * x + c * y


def bank_layers(body: Body, grid: ChipGrid) -> Layers:
    """What a bank body puts on the chip of ``grid`` (see the module docstring)."""
    import cv2
    from scipy import ndimage

    p = body.params
    smooth, (prow, pcol, pflux), _ = _linear_light(p["image"], p["stretch"])
    u, v = grid.coarse_grid
    row, col = _to_image(body, u, v, smooth.shape)
    sampled = cv2.remap(smooth, col.astype(np.float32), row.astype(np.float32), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    # Log-normal, mean 1: bright clumps (unresolved knots and stars), never holes.
    amplitude = p["texture"]
    tex = np.exp(amplitude * sample_texture(_texture(body.seed, p["scale"]), u, v, _TEXTURE_PERIOD)
                 - 0.5 * amplitude ** 2)
    sb = np.float32(10 ** (-0.4 * p["mu_peak"])) * tex
    layers = Layers(continuum={sed: (sampled[:, :, c] * sb).astype(np.float32)
                               for c, sed in enumerate(_CHANNEL_SEDS)})

    # The picture's own point sources, at their flux (AB at 550 nm from their luminance; colour from blue/red).
    pixel_area = p["scale"] ** 2
    points = {}
    if len(pflux):
        pu, pv = _from_image(body, prow, pcol, smooth.shape)
        total = pflux.sum(axis=1)
        keep = total > 0
        blue_red = np.log10(np.clip(pflux[keep, 0], 1e-9, None) / np.clip(pflux[keep, 2], 1e-9, None))
        points = {"u": pu[keep], "v": pv[keep],
                  "mag": p["mu_peak"] - 2.5 * np.log10(total[keep] / 3 * pixel_area),
                  "temperature": np.clip(5800 * 10 ** (0.8 * blue_red), 3000, 30000),
                  "embedded": np.zeros(int(keep.sum()), bool)}

    # Resolved stars where the picture has light.
    luminance = smooth.mean(axis=2)
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
    layers.stars = merge_points(points, resolved)
    return layers
