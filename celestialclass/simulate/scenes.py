"""Scenes: galaxies and nebulae/star clusters as smooth layers, dust and point sources.

A *body* is one object (a galaxy, a cluster, a nebula) with parameters drawn
once from its seed; every exposure of it draws the same object. Point sources
are drawn tile by tile in the body's frame (each tile from its own seed), so
two exposures that overlap see the same stars, and a chip only pays for the
tiles it covers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..exceptions import CelestialClassError
from .render import ChipGrid, Layers

__all__ = ["Body", "SUBTYPES", "make_body", "scene_layers", "chip_coverage"]

#: Sub-types of each class. ``nsc`` is nebula/star cluster.
SUBTYPES = {
    "galaxy": ("spiral", "barred_spiral", "elliptical", "edge_on", "irregular", "merger"),
    "nsc": ("globular_cluster", "open_cluster", "hii_region", "planetary_nebula", "reflection_nebula"),
}

_TILE = 24.0  # arcsec, for point-source tiles

_LINE_RATIOS = {
    "hii": {"Ha": 1.0, "NII6583": 0.30, "NII6548": 0.10, "Hb": 0.35, "OIII5007": 0.6,
            "OIII4959": 0.2, "SII6716": 0.12, "SII6731": 0.09, "OII": 0.9},
    "pn": {"Ha": 1.0, "NII6583": 0.8, "NII6548": 0.27, "Hb": 0.35, "OIII5007": 4.0,
           "OIII4959": 1.33, "SII6716": 0.05, "SII6731": 0.05, "OII": 0.6},
    "galactic": {"Ha": 1.0, "NII6583": 0.40, "NII6548": 0.13, "Hb": 0.35, "OIII5007": 0.3,
                 "OIII4959": 0.1, "SII6716": 0.2, "SII6731": 0.15, "OII": 1.0},
}


@dataclass(frozen=True)
class Body:
    """One simulated object: its class, sub-type, seed and drawn parameters."""

    kind: str
    subtype: str
    seed: int
    params: dict

    @property
    def extent(self) -> float:
        """Radius (arcsec) within which exposures of this body point."""
        return float(self.params["extent"])

    @property
    def visible_radius(self) -> float:
        """Radius (arcsec) beyond which the object itself adds little to a chip.

        Three disk scale lengths or effective radii (galaxies), ten core
        radii (globular clusters), twice the half-density radius or size (open
        clusters, H II regions, reflection nebulae), the shell's outer edge
        (planetary nebulae); for a body drawn from a bank image, the radius
        that holds 90 % of its light (`celestialclass.simulate.hybrid`).
        """
        p = self.params
        if self.subtype == "bank":
            return float(p["radius"])
        if self.kind == "galaxy":
            radius = 3 * max(p["scale_length"] if p["mu0"] < 30 else 0.0, p["bulge_re"])
            if p.get("second"):
                radius += math.hypot(p["second"]["du"], p["second"]["dv"])
            return float(radius)
        if self.subtype == "globular_cluster":
            return float(min(10 * p["core_radius"], p["tidal_radius"]))
        if self.subtype == "open_cluster":
            return float(2 * p["radius"])
        if self.subtype == "planetary_nebula":
            return float(p["radius"] * (1 + 2 * p["shell_width"]))
        return float(2 * p["size"])


def uniform(rng, low, high):
    return float(rng.uniform(low, high))


def log_uniform(rng, low, high):
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def make_body(kind: str, seed: int, subtype: str | None = None) -> Body:
    """Draw a body of class ``kind`` (``'galaxy'`` or ``'nsc'``) from ``seed``.

    Parameters
    ----------
    kind : {'galaxy', 'nsc'}
    seed : int
    subtype : str, optional
        One of ``SUBTYPES[kind]``; drawn from the seed when not given.
    """
    if kind not in SUBTYPES:
        raise CelestialClassError(f"unknown kind {kind!r}; supported: {', '.join(SUBTYPES)}")
    rng = np.random.default_rng([seed, 7])
    if subtype is None:
        weights = {"galaxy": [0.32, 0.2, 0.14, 0.12, 0.12, 0.1],
                   "nsc": [0.26, 0.2, 0.28, 0.12, 0.14]}[kind]
        subtype = str(rng.choice(SUBTYPES[kind], p=weights))
    if subtype not in SUBTYPES[kind]:
        raise CelestialClassError(
            f"unknown {kind} sub-type {subtype!r}; supported: {', '.join(SUBTYPES[kind])}")
    p = {"field_density": log_uniform(rng, 0.002, 0.06), "background_density": log_uniform(rng, 0.004, 0.012),
         "pa": uniform(rng, 0, 180)}
    if kind == "galaxy":
        p.update(_galaxy_params(subtype, rng))
    else:
        p.update(_nsc_params(subtype, rng))
    return Body(kind, subtype, int(seed), p)


def _galaxy_params(subtype, rng):
    h = log_uniform(rng, 30, 150)  # disk scale length, arcsec (nearby galaxies)
    p = {
        "scale_length": h, "mu0": uniform(rng, 20.3, 21.8), "q": uniform(rng, 0.45, 1.0),
        "bulge_re": h * uniform(rng, 0.08, 0.3), "bulge_mu_e": uniform(rng, 18.5, 21.0),
        "bulge_n": uniform(rng, 1.5, 4.0),
        "bulge_q": uniform(rng, 0.65, 0.95), "arms": int(rng.integers(2, 5)), "pitch": uniform(rng, 10, 30),
        "arm_strength": uniform(rng, 0.6, 2.5), "arm_width": uniform(rng, 0.25, 0.6),
        "young_fraction": uniform(rng, 0.2, 0.6),
        "flocculence": uniform(rng, 0.2, 0.9), "tau0": uniform(rng, 0.3, 1.8),
        "resolved_density": log_uniform(rng, 0.05, 2.5),  # bright stars / arcsec^2 at the centre of the young disk
        "knot_density": log_uniform(rng, 0.002, 0.03), "bar": 0.0, "extent": 1.6 * h,
        "second": None,
    }
    if subtype == "barred_spiral":
        p.update(bar=uniform(rng, 1.0, 3.0), bar_length=h * uniform(rng, 0.6, 1.4), bar_q=uniform(rng, 0.2, 0.35))
    elif subtype == "elliptical":
        p.update(bulge_re=log_uniform(rng, 20, 80), bulge_mu_e=uniform(rng, 19.5, 21.5), bulge_n=uniform(rng, 3.0, 5.5),
                 bulge_q=uniform(rng, 0.55, 1.0), mu0=40.0, arm_strength=0.0, young_fraction=0.0, tau0=0.0,
                 resolved_density=0.0, knot_density=0.0, gc_count=int(rng.integers(150, 900)),
                 dust_lane=bool(rng.random() < 0.25))
        p["extent"] = 2.5 * p["bulge_re"]
    elif subtype == "edge_on":
        p.update(q=uniform(rng, 0.05, 0.15), tau0=uniform(rng, 2.0, 5.0), arm_strength=0.3)
    elif subtype == "irregular":
        p.update(q=uniform(rng, 0.5, 0.9), bulge_mu_e=30.0, arm_strength=0.0, flocculence=uniform(rng, 0.9, 1.6),
                 clumps=int(rng.integers(4, 14)), resolved_density=log_uniform(rng, 0.2, 2.5),
                 knot_density=log_uniform(rng, 0.01, 0.05), young_fraction=uniform(rng, 0.5, 0.9))
    elif subtype == "merger":
        p.update(second={"du": uniform(rng, -1.5, 1.5) * h, "dv": uniform(rng, -1.5, 1.5) * h,
                         "scale": uniform(rng, 0.4, 1.0), "pa": uniform(rng, 0, 180), "q": uniform(rng, 0.3, 1.0)},
                 tails=int(rng.integers(1, 3)), tail_length=h * uniform(rng, 2, 4))
    p["arm_phase"] = uniform(rng, 0, 2 * np.pi)
    return p


def _nsc_params(subtype, rng):
    if subtype == "globular_cluster":
        rc = log_uniform(rng, 5, 30)
        return {"core_radius": rc, "tidal_radius": rc * log_uniform(rng, 20, 60), "n_stars": log_uniform(rng, 4e4, 4e5),
                "distance_modulus": uniform(rng, 13.0, 19.0), "mu0": uniform(rng, 15.5, 19.0),
                "hb_fraction": uniform(rng, 0.0, 0.1),
                "extent": rc * 8}
    if subtype == "open_cluster":
        return {"radius": log_uniform(rng, 20, 90), "n_stars": log_uniform(rng, 300, 5000),
                "distance_modulus": uniform(rng, 8, 13),
                "nebulosity": uniform(rng, 0.0, 1.0), "mu_gas": uniform(rng, 0.5, 8.0), "extent": 120.0}
    if subtype == "hii_region":
        return {"size": log_uniform(rng, 60, 250), "gas_sb": log_uniform(rng, 10.0, 1000.0),
                "contrast": uniform(rng, 0.3, 1.2),
                "filament_strength": uniform(rng, 0.3, 1.5), "pillars": int(rng.integers(0, 5)),
                "tau0": uniform(rng, 0.5, 3.0), "cluster_stars": log_uniform(rng, 100, 6000),
                "cluster_radius": log_uniform(rng, 8, 40), "distance_modulus": uniform(rng, 11, 19), "extent": 150.0}
    if subtype == "planetary_nebula":
        return {"radius": log_uniform(rng, 8, 60), "shell_width": uniform(rng, 0.1, 0.35), "q": uniform(rng, 0.5, 1.0),
                "gas_sb": log_uniform(rng, 30, 3000), "halo": uniform(rng, 0.0, 0.1),
                "central_mag": uniform(rng, 13, 18),
                "extent": 60.0}
    return {"size": log_uniform(rng, 60, 250), "mu_v": uniform(rng, 19.5, 23.0), "contrast": uniform(rng, 0.4, 1.2),
            "tau0": uniform(rng, 0.5, 2.5), "n_bright": int(rng.integers(1, 6)), "extent": 150.0}


# ----------------------------------------------------------------------------- textures

def fractal_texture(seed, n=256, beta=3.2, finer_than=None) -> np.ndarray:
    """Periodic fractal noise (power spectrum ~ k**-beta), zero mean, unit standard deviation.

    With ``finer_than`` (in cells of the ``n`` x ``n`` tile), structure larger
    than that is suppressed (a Gaussian high-pass filter), so the noise holds
    only the fine scales.
    """
    rng = np.random.default_rng(seed)
    white = rng.standard_normal((n, n))
    k = np.fft.fftfreq(n)
    kk = np.hypot(k[:, None], k[None, :])
    kk[0, 0] = 1.0
    spectrum = kk ** (-beta / 2)
    if finer_than is not None:
        spectrum *= 1 - np.exp(-(kk * finer_than) ** 2)
    field = np.fft.ifft2(np.fft.fft2(white) * spectrum).real
    field -= field.mean()
    return (field / field.std()).astype(np.float32)


def sample_texture(texture, u, v, period):
    """Bilinear, periodic sample of ``texture`` (covering ``period`` arcsec) at (u, v)."""
    n = texture.shape[0]
    x = (u / period) % 1.0 * n
    y = (v / period) % 1.0 * n
    x0 = np.floor(x).astype(np.int32)
    y0 = np.floor(y).astype(np.int32)
    fx, fy = (x - x0).astype(np.float32), (y - y0).astype(np.float32)
    x0 %= n
    y0 %= n
    x1, y1 = (x0 + 1) % n, (y0 + 1) % n
    top = texture[y0, x0] * (1 - fx) + texture[y0, x1] * fx
    bottom = texture[y1, x0] * (1 - fx) + texture[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _sb(mu):
    """Linear surface brightness of ``mu`` AB mag/arcsec^2."""
    return np.float32(10 ** (-0.4 * mu))


def _sersic(r, re, n):
    b = 2 * n - 1 / 3 + 0.009876 / n
    return np.exp(-b * (np.power(np.maximum(r, 1e-3) / re, 1 / n) - 1)).astype(np.float32)


# ----------------------------------------------------------------------------- point sources

def luminosity_function(rng, n, bright, faint, slope):
    """Magnitudes with dN/dm ~ 10**(slope * m) between ``bright`` and ``faint``."""
    a = 10 ** (slope * (bright - faint))
    return faint + np.log10(a + rng.random(n) * (1 - a)) / slope


def tile_points(body, stream, grid, density, peak_density, draw):
    """Point sources from a density (per arcsec^2) drawn tile by tile over the chip's area.

    ``draw(rng, n)`` returns a dict of per-source arrays (besides u, v).
    """
    radius = grid.radius
    i0, i1 = int(np.floor((grid.u0 - radius) / _TILE)), int(np.floor((grid.u0 + radius) / _TILE))
    j0, j1 = int(np.floor((grid.v0 - radius) / _TILE)), int(np.floor((grid.v0 + radius) / _TILE))
    parts = []
    for i in range(i0, i1 + 1):
        for j in range(j0, j1 + 1):
            cu, cv = (i + 0.5) * _TILE, (j + 0.5) * _TILE
            if math.hypot(cu - grid.u0, cv - grid.v0) > radius + _TILE:
                continue
            rng = np.random.default_rng([body.seed, stream, i + 100000, j + 100000])
            local_max = peak_density(cu, cv)
            if local_max <= 0:
                continue
            n = rng.poisson(local_max * _TILE ** 2)
            if n == 0:
                continue
            u = (i + rng.random(n)) * _TILE
            v = (j + rng.random(n)) * _TILE
            keep = rng.random(n) * local_max < density(u, v)
            extra = draw(rng, n)
            parts.append({"u": u[keep], "v": v[keep], **{k: val[keep] for k, val in extra.items()}})
    if not parts:
        return {}
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def merge_points(*groups):
    groups = [g for g in groups if g and len(g["u"])]
    if not groups:
        return {}
    keys = set.intersection(*(set(g) for g in groups))
    return {k: np.concatenate([g[k] for g in groups]) for k in keys}


def _field_stars(body, grid):
    density = body.params["field_density"]

    def draw(rng, n):
        mag = luminosity_function(rng, n, 14.0, 27.5, 0.22)
        return {"mag": mag, "temperature": np.exp(rng.uniform(np.log(3300), np.log(9000), n)),
                "embedded": np.zeros(n, bool)}

    return tile_points(body, 1, grid, lambda u, v: np.full(np.shape(u), density), lambda u, v: density, draw)


def _background_galaxies(body, grid):
    density = body.params["background_density"]

    def draw(rng, n):
        return {"mag": luminosity_function(rng, n, 20.5, 27.0, 0.3), "temperature": rng.uniform(3800, 9000, n),
                "sigma": np.exp(rng.uniform(np.log(0.06), np.log(0.5), n))}

    return tile_points(body, 2, grid, lambda u, v: np.full(np.shape(u), density), lambda u, v: density, draw)


# ----------------------------------------------------------------------------- galaxies

def _disk_frame(u, v, pa, q, du=0.0, dv=0.0):
    c, s = np.cos(np.deg2rad(pa)), np.sin(np.deg2rad(pa))
    x = (u - du) * c + (v - dv) * s
    y = (-(u - du) * s + (v - dv) * c) / q
    return x, y


def _arm_modulation(x, y, p, scale):
    r = np.hypot(x, y) + 1e-3
    phi = np.arctan2(y, x)
    m = p["arms"]
    wind = np.log(r / scale) / np.tan(np.deg2rad(p["pitch"]))
    phase = (phi - wind - p["arm_phase"]) * m
    return (np.cos(phase) * 0.5 + 0.5) ** (1.0 / max(p["arm_width"], 0.05) ** 2 * 0.25)


def _galaxy_disk_layers(body, u, v, tex, pa, q, scale, weight=1.0, du=0.0, dv=0.0):
    p = body.params
    x, y = _disk_frame(u, v, pa, q, du, dv)
    r = np.hypot(x, y)
    disk = _sb(p["mu0"]) * np.exp(-r / scale) * np.float32(weight)
    disk[r > 5 * scale] = 0
    arms = _arm_modulation(x, y, p, scale) if p["arm_strength"] > 0 else np.zeros_like(disk)
    flocc = np.clip(1 + p["flocculence"] * tex, 0, None)
    young = disk * p["young_fraction"] * (0.3 + p["arm_strength"] * arms) * flocc
    old = disk * (1 - p["young_fraction"])
    if p.get("bar"):
        bx, by = _disk_frame(x, y, 0.0, p["bar_q"])
        old += _sb(p["mu0"] - p["bar"]) * np.exp(-np.hypot(bx, by) / (0.35 * p["bar_length"])) * weight
    # Dust lanes run along the inner (leading) edge of the arms, patchy.
    lanes = _arm_modulation(x, y, {**p, "arm_phase": p["arm_phase"] - 0.35}, scale) * (p["arm_strength"] > 0)
    tau = p["tau0"] * np.exp(-r / (1.6 * scale)) * np.clip(0.4 + 1.2 * lanes + 0.6 * tex, 0, None)
    return old, young, young * 0.04 * p["arm_strength"], tau.astype(np.float32), arms


def _bulge(p, u, v, pa, du=0.0, dv=0.0, weight=1.0):
    """The bulge (or elliptical) light, on the half-resolution grid: its core is sharp."""
    if p["bulge_mu_e"] >= 29:
        return None
    bx, by = _disk_frame(u, v, pa, p["bulge_q"], du, dv)
    r = np.hypot(bx, by)
    re = p["bulge_re"] * weight ** 0.5
    out = np.zeros(u.shape, dtype=np.float32)
    near = r < 8 * re
    if near.any():
        out[near] = _sb(p["bulge_mu_e"]) * _sersic(r[near], re, p["bulge_n"])
    return out


def _galaxy_layers(body, grid):
    p = body.params
    u, v = grid.coarse_grid
    tex = sample_texture(fractal_texture([body.seed, 11]), u, v, 6 * p["scale_length"])
    h = p["scale_length"]
    old, young, gas, tau, arms = _galaxy_disk_layers(body, u, v, tex, p["pa"], p["q"], h)
    if body.subtype == "edge_on":
        x, y = _disk_frame(u, v, p["pa"], 1.0)
        lane = np.exp(-0.5 * (y / (0.04 * h)) ** 2) * np.exp(-np.abs(x) / (2 * h))
        tau = tau * 0.3 + p["tau0"] * lane * np.clip(1 + 0.5 * tex, 0, None)
    if body.subtype == "elliptical":
        tau = np.zeros_like(old)
        if p.get("dust_lane"):
            x, y = _disk_frame(u, v, p["pa"] + 70, 1.0)
            tau = 1.2 * np.exp(-0.5 * (y / (0.05 * p["bulge_re"])) ** 2) * np.exp(-np.abs(x) / p["bulge_re"]) \
                * np.clip(1 + tex, 0, None)
    if body.subtype == "irregular":
        rng = np.random.default_rng([body.seed, 12])
        for _ in range(p["clumps"]):
            cu, cv = rng.normal(0, h, 2)
            size = h * uniform(rng, 0.1, 0.4)
            clump = np.exp(-((u - cu) ** 2 + (v - cv) ** 2) / (2 * size ** 2))
            young += _sb(p["mu0"] - uniform(rng, 0.5, 2.0)) * clump * np.clip(1 + p["flocculence"] * tex, 0, None)
    if p.get("second"):
        s = p["second"]
        o2, y2, g2, t2, _ = _galaxy_disk_layers(body, u, v, tex, s["pa"], s["q"], h * s["scale"], s["scale"],
                                                s["du"], s["dv"])
        old, young, gas, tau = old + o2, young + y2, gas + g2, tau + t2
        for k in range(p["tails"]):
            angle = np.deg2rad(s["pa"] + 180 * k)
            # A curved stream from the pair's midpoint.
            t = np.linspace(0, 1, 40)
            cu = s["du"] / 2 + p["tail_length"] * t * np.cos(angle + 1.2 * t)
            cv = s["dv"] / 2 + p["tail_length"] * t * np.sin(angle + 1.2 * t)
            for a, b, w in zip(cu, cv, 1 - t):
                young += _sb(p["mu0"] + 2.5) * w * np.exp(-((u - a) ** 2 + (v - b) ** 2) / (2 * (0.15 * h) ** 2))
    layers = Layers(continuum={"old": old, "young": young}, gas={"galactic": gas},
                    line_ratios={"galactic": _LINE_RATIOS["galactic"]}, tau_v=tau)
    uh, vh = grid.half_grid
    bulges = [_bulge(p, uh, vh, p["pa"])]
    if p.get("second"):
        s = p["second"]
        bulges.append(_bulge(p, uh, vh, s["pa"], s["du"], s["dv"], s["scale"]))
    bulges = [b for b in bulges if b is not None]
    if bulges:
        layers.sharp = {"old": sum(bulges)}

    # Resolved bright stars and star-forming knots follow the young disk.
    def young_density(uu, vv, base):
        x, y = _disk_frame(uu, vv, p["pa"], p["q"])
        r = np.hypot(x, y)
        arm = _arm_modulation(x, y, p, h) if p["arm_strength"] > 0 else 0.5
        d = base * np.exp(-r / (1.3 * h)) * (0.25 + p["arm_strength"] * arm) / (0.25 + p["arm_strength"])
        if p.get("second"):
            s = p["second"]
            x2, y2 = _disk_frame(uu, vv, s["pa"], s["q"], s["du"], s["dv"])
            d = d + base * s["scale"] * np.exp(-np.hypot(x2, y2) / (1.3 * h * s["scale"]))
        return d

    def draw_stars(rng, n):
        blue = rng.random(n) < 0.7
        return {"mag": luminosity_function(rng, n, 19.0, 27.0, 0.35),
                "temperature": np.where(blue, rng.uniform(9000, 30000, n), rng.uniform(3400, 4600, n)),
                "embedded": np.ones(n, bool)}

    stars = {}
    if p["resolved_density"] > 0:
        stars = tile_points(body, 3, grid, lambda a, b: young_density(a, b, p["resolved_density"]),
                            lambda a, b: p["resolved_density"] * (1.0 + (p.get("second") is not None)), draw_stars)

    def draw_knots(rng, n):
        return {"mag": luminosity_function(rng, n, 18.0, 24.0, 0.4), "temperature": rng.uniform(12000, 30000, n),
                "sigma": np.exp(rng.uniform(np.log(0.05), np.log(0.4), n))}

    knots = {}
    if p["knot_density"] > 0:
        knots = tile_points(body, 4, grid, lambda a, b: young_density(a, b, p["knot_density"]),
                            lambda a, b: p["knot_density"] * 2, draw_knots)
    if p.get("gc_count"):
        re = p["bulge_re"]

        def gc_density(a, b):
            r = np.hypot(a, b)
            return p["gc_count"] / (2 * np.pi * (1.5 * re) ** 2) * np.exp(-r / (1.5 * re))

        def draw_gc(rng, n):
            return {"mag": rng.normal(23.5, 1.2, n), "temperature": rng.uniform(4500, 6500, n),
                    "embedded": np.zeros(n, bool)}

        stars = merge_points(stars, tile_points(body, 5, grid, gc_density, gc_density, draw_gc))
    layers.stars, layers.compact = stars, knots
    return layers


# ----------------------------------------------------------------------------- nebulae and clusters

def _king_density(r, rc, rt):
    a = 1 / np.sqrt(1 + (r / rc) ** 2) - 1 / np.sqrt(1 + (rt / rc) ** 2)
    return np.where(r < rt, np.maximum(a, 0) ** 2, 0.0)


def _cluster_layers(body, grid):
    p = body.params
    u, v = grid.coarse_grid
    rc, rt = p["core_radius"], p["tidal_radius"]
    r = np.hypot(u, v)
    norm = _king_density(0.0, rc, rt)
    smooth = _sb(p["mu0"]) * (_king_density(r, rc, rt) / norm).astype(np.float32)
    layers = Layers(continuum={"old": smooth})
    # Stars: King density normalised to n_stars over the cluster (numerical integral).
    radii = np.linspace(0, rt, 2000)
    total = np.trapezoid(_king_density(radii, rc, rt) * 2 * np.pi * radii, radii)
    scale = p["n_stars"] / total
    dm = p["distance_modulus"]

    def draw(rng, n):
        mag = luminosity_function(rng, n, dm - 3.5, dm + 9.0, 0.28)
        rel = np.clip((mag - (dm - 3.5)) / 12.5, 0, 1)
        temperature = np.where(rel < 0.35, 4000 + 3000 * rel, 6200 - 1800 * (rel - 0.35))
        hb = rng.random(n) < p["hb_fraction"]
        mag = np.where(hb, dm + 0.5 + rng.normal(0, 0.3, n), mag)
        temperature = np.where(hb, rng.uniform(7500, 14000, n), temperature * rng.normal(1, 0.04, n))
        return {"mag": mag, "temperature": temperature, "embedded": np.zeros(n, bool)}

    stars = tile_points(body, 6, grid, lambda a, b: scale * _king_density(np.hypot(a, b), rc, rt),
                        lambda a, b: scale * _king_density(max(np.hypot(a, b) - _TILE, 0), rc, rt) * 1.05,
                        draw)
    layers.stars = stars
    return layers


def _open_cluster_layers(body, grid):
    p = body.params
    u, v = grid.coarse_grid
    layers = Layers()
    if p["nebulosity"] > 0.4:
        tex = sample_texture(fractal_texture([body.seed, 21]), u, v, 400.0)
        gas = np.float32(p["mu_gas"]) * np.clip(1 + tex, 0, None) ** 2 * np.exp(-np.hypot(u, v) / 200.0)
        layers.gas = {"hii": gas.astype(np.float32)}
        layers.line_ratios = {"hii": _LINE_RATIOS["hii"]}
    a = p["radius"]
    density0 = p["n_stars"] / (np.pi * a ** 2)
    dm = p["distance_modulus"]

    def density(uu, vv):
        return density0 * (1 + (uu ** 2 + vv ** 2) / a ** 2) ** -2

    def draw(rng, n):
        mag = luminosity_function(rng, n, dm - 4.0, dm + 12.0, 0.2)
        rel = np.clip((mag - (dm - 4)) / 16, 0, 1)
        return {"mag": mag, "temperature": 28000 * (1 - rel) ** 2 + 3600, "embedded": np.zeros(n, bool)}

    def peak(uu, vv):  # the density's maximum over a tile centred at (uu, vv)
        return density(max(abs(uu) - _TILE, 0), max(abs(vv) - _TILE, 0))

    stars = tile_points(body, 7, grid, density, peak, draw)
    layers.stars = stars
    return layers


def _hii_layers(body, grid):
    p = body.params
    u, v = grid.coarse_grid
    size = p["size"]
    t1 = sample_texture(fractal_texture([body.seed, 31], beta=3.0), u, v, 3 * size)
    t2 = sample_texture(fractal_texture([body.seed, 32], beta=2.6), u, v, 2 * size)
    envelope = np.exp(-np.hypot(u, v) / size)
    filaments = np.clip(1 - np.abs(t2), 0, 1) ** 6
    gas = np.float32(p["gas_sb"]) * envelope * (np.clip(1 + p["contrast"] * t1, 0.05, None)
                                                + p["filament_strength"] * filaments * 3)
    tau = np.float32(p["tau0"]) * np.clip(0.3 - t1, 0, None) * envelope
    rng = np.random.default_rng([body.seed, 33])
    for _ in range(p["pillars"]):
        base_u, base_v = rng.normal(0, 0.6 * size, 2)
        angle = rng.uniform(0, 2 * np.pi)
        length, width = uniform(rng, 0.2, 0.6) * size, uniform(rng, 0.03, 0.08) * size
        du, dv = u - base_u, v - base_v
        along = du * np.cos(angle) + dv * np.sin(angle)
        across = -du * np.sin(angle) + dv * np.cos(angle)
        t = np.clip(along / length, 0, 1)
        shape = np.exp(-0.5 * (across / (width * (1.2 - 0.7 * t))) ** 2) * (along > -width) * (along < length)
        tau = tau + 4.0 * shape
        rim = np.exp(-0.5 * ((np.abs(across) - width) / (0.25 * width)) ** 2) * (along > 0) * (along < length * 1.05)
        gas = gas + np.float32(p["gas_sb"]) * 2.0 * rim
    layers = Layers(gas={"hii": gas.astype(np.float32)}, line_ratios={"hii": _LINE_RATIOS["hii"]},
                    tau_v=tau.astype(np.float32),
                    continuum={"young": (_sb(23.5) * envelope * np.clip(1 + t1, 0, None)).astype(np.float32)})
    rc = p["cluster_radius"]
    dm = p["distance_modulus"]
    centre = rng.normal(0, 0.3 * size, 2)
    density0 = p["cluster_stars"] / (np.pi * rc ** 2)

    def density(a, b):
        return density0 * (1 + ((a - centre[0]) ** 2 + (b - centre[1]) ** 2) / rc ** 2) ** -2

    def draw(rng_, n):
        mag = luminosity_function(rng_, n, dm - 5.0, dm + 8.0, 0.25)
        rel = np.clip((mag - (dm - 5)) / 13, 0, 1)
        return {"mag": mag, "temperature": 35000 * (1 - rel) ** 1.5 + 3800, "embedded": np.ones(n, bool)}

    stars = tile_points(body, 8, grid, density, lambda a, b: density0, draw)
    layers.stars = stars
    return layers


def _pn_layers(body, grid):
    p = body.params
    u, v = grid.coarse_grid
    x, y = _disk_frame(u, v, p["pa"], p["q"])
    r = np.hypot(x, y) / p["radius"]
    tex = sample_texture(fractal_texture([body.seed, 41], beta=2.8), u, v, 4 * p["radius"])
    shell = np.exp(-0.5 * ((r - 1) / p["shell_width"]) ** 2) * np.clip(1 + 0.4 * tex, 0, None)
    inner = 0.4 * np.exp(-0.5 * (r / 0.8) ** 4)
    halo = p["halo"] * np.exp(-r / 2.5)
    gas = np.float32(p["gas_sb"]) * (shell + inner + halo)
    layers = Layers(gas={"pn": gas.astype(np.float32)}, line_ratios={"pn": _LINE_RATIOS["pn"]})
    central = {"u": np.array([0.0]), "v": np.array([0.0]), "mag": np.array([p["central_mag"]]),
               "temperature": np.array([45000.0]), "embedded": np.zeros(1, bool)}
    layers.stars = central
    return layers


def _reflection_layers(body, grid):
    p = body.params
    u, v = grid.coarse_grid
    size = p["size"]
    t1 = sample_texture(fractal_texture([body.seed, 51], beta=3.4), u, v, 3 * size)
    t2 = sample_texture(fractal_texture([body.seed, 52], beta=2.4), u, v, 1.5 * size)
    envelope = np.exp(-np.hypot(u, v) / size)
    light = _sb(p["mu_v"]) * envelope * np.clip(1 + p["contrast"] * t1, 0.02, None) ** 2
    light *= 1 + 0.8 * np.clip(1 - np.abs(t2), 0, 1) ** 8
    tau = np.float32(p["tau0"]) * np.clip(-t2, 0, None) * envelope
    layers = Layers(continuum={"hot": light.astype(np.float32)}, tau_v=tau.astype(np.float32))
    rng = np.random.default_rng([body.seed, 53])
    n = p["n_bright"]
    bright = {"u": rng.normal(0, 0.3 * size, n), "v": rng.normal(0, 0.3 * size, n),
              "mag": rng.uniform(10.0, 13.0, n), "temperature": rng.uniform(10000, 25000, n),
              "embedded": np.zeros(n, bool)}
    layers.stars = bright
    return layers


_SCENES = {
    "spiral": _galaxy_layers, "barred_spiral": _galaxy_layers, "elliptical": _galaxy_layers,
    "edge_on": _galaxy_layers, "irregular": _galaxy_layers, "merger": _galaxy_layers,
    "globular_cluster": _cluster_layers, "open_cluster": _open_cluster_layers, "hii_region": _hii_layers,
    "planetary_nebula": _pn_layers, "reflection_nebula": _reflection_layers,
}


def chip_coverage(body: Body, grid: ChipGrid) -> float:
    """Fraction of the chip's area within the body's `Body.visible_radius` of its centre (0 to 1).

    A chip with coverage 0 shows nothing of its object (only foreground stars,
    background galaxies and sky): an exposure of a compact object often puts
    it on one chip only. Computed from geometry alone (no pixels).

    Examples
    --------
    >>> from celestialclass.io.instruments import LAYOUTS
    >>> from celestialclass.simulate import chip_coverage
    >>> from celestialclass.simulate.render import ChipGrid
    >>> from celestialclass.simulate.scenes import make_body
    >>> nebula = make_body("nsc", 3, "planetary_nebula")
    >>> layout = LAYOUTS["ACS/WFC"]
    >>> [chip_coverage(nebula, ChipGrid(layout, chip, 1000.0, 0.0, 0.0)) for chip in layout.chips]  # far away
    [0.0, 0.0]
    """
    rows = (np.arange(32) + 0.5) * grid.rows / 32
    cols = (np.arange(64) + 0.5) * grid.cols / 64
    u, v = grid.to_body(rows[:, None], cols[None, :])
    return float(np.mean(np.hypot(u, v) <= body.visible_radius))


def object_layers(body: Body, grid: ChipGrid) -> Layers:
    """What ``body`` itself puts on the chip of ``grid`` (no foreground stars or background galaxies)."""
    if body.subtype == "bank":
        from .hybrid import bank_layers

        return bank_layers(body, grid)
    return _SCENES[body.subtype](body, grid)


def scene_layers(body: Body, grid: ChipGrid, layers: Layers | None = None) -> Layers:
    """What ``body`` puts on the chip of ``grid``, with foreground stars and background galaxies.

    ``layers``, the body's own (`object_layers`), are extended in place when given.
    """
    layers = object_layers(body, grid) if layers is None else layers
    layers.stars = merge_points(layers.stars, _field_stars(body, grid))
    layers.compact = merge_points(layers.compact, _background_galaxies(body, grid))
    return layers
