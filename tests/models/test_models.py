"""The model zoo against the paper's Tables 2 and 3 (figures re-derived in the models spec)."""

import resource

import numpy as np
import pytest
import torch
from torch import nn

from celestialclass.evaluation.paper import (
    DATA_SET_INPUT,
    HR_CELESTIALNET_GMACS,
    HR_CELESTIALNET_PARAMS,
    TABLE2_TRAINABLE_PARAMS,
    TABLE3,
)
from celestialclass.evaluation.tables import reproduce_table3
from celestialclass.exceptions import CelestialClassError, ShapeError
from celestialclass.models import (
    CLASS_NAMES,
    CelestialNetLite,
    HRCelestialNet,
    UnknownModelError,
    get_model,
    get_model_info,
    list_models,
    summary,
)

PAPER_MODELS = ["alexnet", "hr-celestialnet", "resnet18", "vgg16-bn"]


def test_registry_names():
    assert set(PAPER_MODELS) <= set(list_models())
    for name in PAPER_MODELS:
        info = get_model_info(name)
        assert info.class_names == CLASS_NAMES == ("galaxy", "nsc")
        assert info.input_sizes["LCID"] == (1, 2048, 4096)
    assert get_model_info("hr-celestialnet").input_sizes == {"LCID": (1, 2048, 4096)}
    assert get_model_info("resnet18").input_size == (1, 224, 448)


def test_unknown_model_lists_known_ones():
    known = "known models: alexnet, celestialnet-lite, celestialnet-lite-x2, hr-celestialnet"
    with pytest.raises(UnknownModelError, match=known) as info:
        get_model("hr-celestialnet-v2")
    assert isinstance(info.value, CelestialClassError)


def test_hr_celestialnet_table2_layer_by_layer():
    with torch.device("meta"):
        model = get_model("hr-celestialnet")
    weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    counts = [sum(p.numel() for p in m.parameters()) for m in weighted]
    assert counts == list(TABLE2_TRAINABLE_PARAMS)
    bn = sum(p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    # 2 x (32 + 64 + 2*128 + 4*256 + 4*512) = 6,848: with Table 2's 97,041,282 that makes the
    # published 97,048,130. (The models spec says 7,680 BatchNorm parameters; that cannot add up.)
    assert bn == 6_848
    assert sum(p.numel() for p in model.parameters()) == HR_CELESTIALNET_PARAMS == 97_048_130
    assert all(m.padding == (0, 0) for m in weighted if isinstance(m, nn.Conv2d))


def test_hr_celestialnet_output_shapes_and_macs():
    s = summary("hr-celestialnet")
    shapes = {row["name"]: row["output_shape"] for row in s.layers}
    # Table 2 / models spec: the block outputs (batch 4 first).
    expected = {
        "features.0": "4x32x2042x4090", "features.3": "4x32x509x1021",
        "features.4": "4x64x503x1015", "features.7": "4x64x250x506",
        "features.8": "4x128x246x502", "features.11": "4x128x242x498", "features.14": "4x128x121x249",
        "features.15": "4x256x119x247", "features.18": "4x256x117x245", "features.21": "4x256x58x122",
        "features.22": "4x256x56x120", "features.25": "4x256x54x118", "features.28": "4x256x27x59",
        "features.29": "4x512x25x57", "features.32": "4x512x23x55", "features.35": "4x512x11x27",
        "features.36": "4x512x9x25", "features.39": "4x512x7x23", "features.42": "4x512x3x11",
        "flatten": "4x16896", "classifier.0": "4x4096", "classifier.2": "4x4096", "classifier.4": "4x2",
    }
    assert {k: shapes[k] for k in expected} == expected
    assert round(s.macs / 1e9, 2) == HR_CELESTIALNET_GMACS
    conv = sum(r["macs"] for r in s.layers if r["type"] == "Conv2d")
    assert round(conv / 1e9, 2) == 177.86


@pytest.mark.parametrize("row", TABLE3, ids=lambda r: f"{r.model}-{r.data_set}")
def test_table3_rows(row):
    s = summary(row.model, DATA_SET_INPUT[row.data_set], batch_size=4)
    assert round(s.input_mb, 2) == row.input_mb
    assert round(s.params_mb, 2) == row.model_mb
    assert round(s.total_gb, 2) == row.total_gb
    assert s.total_gb == pytest.approx(s.total_mb / 1024)


def test_baseline_parameter_counts():
    expected = {"alexnet": 101_036_738, "vgg16-bn": 237_036_482, "resnet18": 11_171_330}
    assert {name: summary(name).total_params for name in expected} == expected


def test_reproduce_table3_agrees():
    table = reproduce_table3()
    assert len(table) == 7 and table["agree"].all()
    assert not reproduce_table3(batch_size=8)["agree"].any()  # the comparison can fail


def test_summary_allocates_no_activations():
    """VGG16-BN at 2048 x 4096 (over 200 GB if run for real) in little memory."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    s = summary("vgg16-bn", (1, 2048, 4096))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert s.total_gb > 200
    assert grown_mb < 200


def test_summary_of_a_built_model_matches_the_name():
    model = get_model("resnet18")
    by_model, by_name = summary(model), summary("resnet18")
    assert by_model.total_params == by_name.total_params
    assert by_model.forward_backward_mb == by_name.forward_backward_mb
    assert model.conv1.weight.device.type == "cpu"  # the real model was not moved


def test_hr_celestialnet_rejects_untrimmed_chips():
    for size in [(1, 2068, 4144), (1, 2070, 4206), (1, 224, 448)]:
        with pytest.raises(ShapeError, match=r"H in 1834\.\.2089 and W in 3882\.\.4137"):
            summary("hr-celestialnet", size)
    assert HRCelestialNet.accepted_rows == (1834, 2089)
    assert HRCelestialNet.accepted_cols == (3882, 4137)
    with pytest.raises(ShapeError, match="takes \\(N, 1, H, W\\)"):
        summary("hr-celestialnet", (3, 2048, 4096))


def test_baseline_too_small_input():
    with pytest.raises(ShapeError, match="alexnet cannot take input of size \\(1, 16, 16\\)"):
        summary("alexnet", (1, 16, 16))


def test_summary_bad_arguments():
    with pytest.raises(CelestialClassError, match="input_size must be"):
        summary("resnet18", (224, 448))
    with pytest.raises(CelestialClassError, match="registry name or a torch.nn.Module"):
        summary(42)


@pytest.mark.parametrize("name", ["alexnet", "vgg16-bn", "resnet18"])
def test_baseline_forward(name):
    torch.manual_seed(0)
    model = get_model(name).eval()
    with torch.inference_mode():
        out = model(torch.randn(2, 1, 224, 448))
    assert out.shape == (2, 2) and torch.isfinite(out).all()


def test_hr_celestialnet_forward_full_size():
    """One real forward pass at 1 x 2048 x 4096 (about 3-5 s and a few GB here)."""
    torch.manual_seed(0)
    model = get_model("hr-celestialnet").eval()
    with torch.inference_mode():
        out = model(torch.randn(1, 1, 2048, 4096))
        with pytest.raises(ShapeError):
            model(torch.randn(1, 1, 2068, 4144))
    assert out.shape == (1, 2) and torch.isfinite(out).all()


def test_optimized_inference_matches_the_plain_model():
    """BatchNorm folding, ReLU after pooling and channels-last change nothing but speed."""
    from celestialclass.models import optimize_for_inference

    torch.manual_seed(1)
    model = get_model("hr-celestialnet").eval()
    for module in model.modules():  # non-trivial statistics, so folding is really tested
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    fast = optimize_for_inference(model)
    x = torch.randn(1, 1, 2048, 4096)
    with torch.inference_mode():
        expected, got = model(x), fast(x)
        with pytest.raises(ShapeError):
            fast(torch.randn(1, 1, 2068, 4144))
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5), (got, expected)
    assert fast.class_names == ("galaxy", "nsc")


@pytest.mark.parametrize("name", ["celestialnet-lite", "celestialnet-lite-x2"])
def test_celestialnet_lite_budget(name):
    """Whole 2048 x 4096 chips, at most 2 % of HR-CelestialNet's MACs, weights under 5 MB."""
    s = summary(name, (1, 2048, 4096), batch_size=1)
    assert s.macs <= 0.02 * HR_CELESTIALNET_GMACS * 1e9
    assert s.params_mb < 5.0
    torch.manual_seed(0)
    model = get_model(name).eval()
    with torch.inference_mode():
        out = model(torch.randn(1, 1, 2048, 4096))
    assert out.shape == (1, 2) and torch.isfinite(out).all()
    # The stem sees every pixel: a single bright pixel anywhere changes the output.
    x = torch.zeros(1, 1, 2048, 4096)
    with torch.inference_mode():
        base = model(x)
        x[0, 0, 1001, 2003] = 1000.0
        assert not torch.allclose(model(x), base)


def test_committee_averages_its_members_probabilities():
    """celestialnet-lite-x2: two bodies on one fixed stem, started apart; softmax(output) is their mean."""
    torch.manual_seed(5)
    model = get_model("celestialnet-lite-x2").eval()
    first, second = model.body.members
    assert not torch.equal(first.fc.weight, second.fc.weight)
    single = get_model("celestialnet-lite")
    assert sum(p.numel() for p in model.parameters()) == 2 * sum(p.numel() for p in single.parameters())
    x = torch.randn(3, 4, 64, 128)
    with torch.inference_mode():
        out = model.body(x)
        expected = (first(x).softmax(-1) + second(x).softmax(-1)) / 2
        assert torch.allclose(out.softmax(-1), expected, atol=1e-6)
        assert torch.allclose(out.exp().sum(-1), torch.ones(3), atol=1e-6)  # log-probabilities
        assert model.body.member_logits(x).shape == (2, 3, 2)
        # The map is standardised once for both members: exactly what each computes on its own.
        assert torch.equal(model.body.member_logits(x), torch.stack([first(x), second(x)]))
    with pytest.raises(ValueError, match="members"):
        CelestialNetLite(members=0)


def test_patch_statistics_summarise_every_block():
    """Mean, standard deviation, maximum and minimum of each block, as numpy computes them."""
    from celestialclass.models import PatchStatistics

    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 1, 16, 24)).astype(np.float32)
    got = PatchStatistics(4)(torch.from_numpy(x)).numpy()
    assert got.shape == (2, 4, 4, 6)
    blocks = x.reshape(2, 1, 4, 4, 6, 4).transpose(0, 1, 2, 4, 3, 5).reshape(2, 1, 4, 6, 16)
    for channel, statistic in enumerate((np.mean, np.std, np.max, np.min)):
        assert np.allclose(got[:, channel], statistic(blocks, axis=-1)[:, 0], atol=1e-6)
    # Blocks tile the image: flipping the image flips the map (to rounding: sums run in another
    # order), so training may flip the map instead.
    for dims in ([-1], [-2], [-2, -1]):
        flipped = PatchStatistics(4)(torch.from_numpy(x).flip(dims))
        assert torch.allclose(flipped, torch.from_numpy(got).flip(dims), atol=1e-6)
        assert not torch.allclose(flipped, torch.from_numpy(got), atol=1e-2)


@pytest.mark.parametrize(("name", "shape"), [
    ("celestialnet-lite", (1, 1, 2048, 4096)), ("celestialnet-lite-x2", (1, 1, 2048, 4096)),
    ("vgg16-bn", (1, 1, 224, 448))])
def test_optimized_inference_folds_sequential_batchnorm(name, shape):
    from celestialclass.models import optimize_for_inference

    torch.manual_seed(2)
    model = get_model(name).eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    fast = optimize_for_inference(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is left alone
    x = torch.randn(*shape)
    with torch.inference_mode():
        assert torch.allclose(fast(x), model(x), rtol=1e-4, atol=1e-5)


def test_patch_statistics_band_by_band_equal_the_whole_input():
    """The stem reduces a chip a band of rows at a time; the map is the one of the whole input at once."""
    from celestialclass.models import PatchStatistics
    from celestialclass.models.compact import _BAND_ROWS

    rng = np.random.default_rng(7)
    rows = 2 * _BAND_ROWS + 24  # two whole bands and a short last one
    x = torch.from_numpy((rng.normal(size=(2, 1, rows, 64)) * 40 + 500).astype(np.float32))
    got = PatchStatistics(8)(x)
    blocks = x.reshape(2, 1, rows // 8, 8, 8, 8).permute(0, 1, 2, 4, 3, 5).reshape(2, 1, rows // 8, 8, 64)
    expected = torch.cat([blocks.mean(-1), blocks.std(-1, unbiased=False), blocks.amax(-1), blocks.amin(-1)], 1)
    assert got.shape == (2, 4, rows // 8, 8)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-3)
    assert not torch.allclose(got[:, :, -3:], torch.zeros_like(got[:, :, -3:]))  # the short band is filled
