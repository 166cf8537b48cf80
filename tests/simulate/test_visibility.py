"""Chip visibility: the object's own signal-to-noise ratio, from the plan alone."""

from dataclasses import replace

import numpy as np
import pytest

from celestialclass.datasets import load_manifest
from celestialclass.io.instruments import LAYOUTS
from celestialclass.simulate import chip_visibility, plan_exposure, simulate_exposure
from celestialclass.simulate.detector import DETECTORS
from celestialclass.simulate.photometry import sky_rate
from celestialclass.simulate.render import ChipGrid, render_rate
from celestialclass.simulate.scenes import make_body, object_layers
from celestialclass.simulate.visibility import BLOCK


def _rendered_visibility(plan, chip):
    """The same measure from the rendered object (PSF included), block by block from its pixels."""
    layout = LAYOUTS[plan.instrument]
    grid = ChipGrid(layout, chip, plan.pointing_u, plan.pointing_v, plan.roll)
    rate = render_rate(object_layers(make_body(plan.kind, plan.body_seed, plan.subtype), grid), grid,
                       plan.filter, plan.blur)
    rows, cols = rate.shape[0] // BLOCK, rate.shape[1] // BLOCK
    signal = rate[:rows * BLOCK, :cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK).sum(axis=(1, 3)) * plan.exptime
    pixels = BLOCK * BLOCK
    background = (sky_rate(layout.name, plan.filter, layout.pixel_scale, plan.sky_v)
                  + DETECTORS[layout.name].dark) * plan.exptime * pixels
    read_noise = np.mean([amp.read_noise for amp in chip.amplifiers])
    return np.percentile(signal / np.sqrt(signal + background + pixels * read_noise ** 2), 99)


@pytest.mark.parametrize("kind, subtype, filter_name",
                         [("nsc", "hii_region", "F658N"), ("galaxy", "spiral", "F435W")])
def test_agrees_with_the_rendered_object(kind, subtype, filter_name):
    plan = plan_exposure(kind, "ACS/WFC", seed=8, subtype=subtype, filter=filter_name, exptime=120.0)
    for chip in LAYOUTS["ACS/WFC"].chips:
        fast, rendered = chip_visibility(plan, chip), _rendered_visibility(plan, chip)
        # Smooth light: the PSF only moves light between neighbouring blocks.
        assert fast == pytest.approx(rendered, rel=0.15, abs=0.05), (chip.name, fast, rendered)


def test_errs_low_on_bright_stars():
    """Star wings carry light into neighbouring blocks: without the PSF the measure is conservative."""
    plan = plan_exposure("nsc", "ACS/WFC", seed=8, subtype="open_cluster", filter="F814W", exptime=120.0)
    for chip in LAYOUTS["ACS/WFC"].chips:
        fast, rendered = chip_visibility(plan, chip), _rendered_visibility(plan, chip)
        assert 0.5 * rendered <= fast <= 1.05 * rendered, (chip.name, fast, rendered)


def test_grows_with_exposure_and_vanishes_off_the_object():
    plan = plan_exposure("nsc", "WFC3/UVIS", seed=5, subtype="planetary_nebula", filter="F656N", exptime=30.0)
    chip = LAYOUTS["WFC3/UVIS"].chips[0]
    plan = replace(plan, pointing_u=0.0, pointing_v=-20.0)  # the nebula on this chip
    short, long = chip_visibility(plan, chip), chip_visibility(replace(plan, exptime=1200.0), chip)
    assert 0 < short < long
    assert chip_visibility(replace(plan, pointing_u=5000.0), chip) < 1e-6


def test_measured_while_simulating_matches_the_plan(tmp_path):
    truth = simulate_exposure(tmp_path / "jvis0001q_raw.fits", "nsc", "ACS/WFC", seed=4, subtype="reflection_nebula",
                              filter="F658N", exptime=60.0)
    plan = plan_exposure("nsc", "ACS/WFC", seed=4, subtype="reflection_nebula", filter="F658N", exptime=60.0)
    assert truth["visibility"] == {chip.hdu: chip_visibility(plan, chip) for chip in LAYOUTS["ACS/WFC"].chips}


def test_manifest_has_visibility(mock_lcid):
    table = load_manifest(mock_lcid / "manifest.csv")
    assert np.all(table["Visibility"] >= 0)
    assert np.any(table["Visibility"] > 5)
