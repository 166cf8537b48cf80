"""Training: a few steps on a mock LCID, killed and resumed to identical weights; DDP; bad input."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from celestialclass.datasets import load_manifest
from celestialclass.exceptions import CelestialClassError
from celestialclass.training import get_recipe, read_card, train
from celestialclass.training.checkpoint import load_checkpoint
from celestialclass.weights import WeightsIntegrityError, file_sha256, load_trained, load_weights

ARGS = dict(recipe="paper-resize", epochs=2, batch_size=2, seed=5, device="cpu")


def _train_code(out, data, resume=False):
    return ("from celestialclass.training import train\n"
            f"train('resnet18', {str(data / 'manifest.csv')!r}, {str(data)!r}, {str(out)!r}, "
            f"recipe='paper-resize', epochs=2, batch_size=2, seed=5, device='cpu', checkpoint_every=1, "
            f"resume={resume})\n")


@pytest.fixture(scope="module")
def uninterrupted(mock_lcid, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = train("resnet18", mock_lcid / "manifest.csv", mock_lcid, out, checkpoint_every=3, **ARGS)
    return out, result


def test_outputs_and_model_card(uninterrupted, mock_lcid):
    out, result = uninterrupted
    assert result["complete"] and result["steps"] == 8  # 8 chips, batch 2, 2 epochs
    card = read_card(out / "model_card.json")
    assert card["architecture"] == "resnet18" and card["class_names"] == ["galaxy", "nsc"]
    assert card["input_size"] == [1, 224, 448] and card["preprocess"]["resize"] == [224, 448]
    assert card["training"]["recipe"]["lr"] == 1e-4 and card["training"]["recipe"]["optimizer"] == "sgd"
    assert card["training"]["manifest"]["sha256"] == load_manifest(mock_lcid / "manifest.csv").meta["sha256"]
    assert card["training"]["manifest"]["bodies"] == 4
    assert "simulated" in card["training"]["data"] and "simulated" in card["note"]
    assert set(card["software"]) >= {"celestialclass", "torch", "numpy", "astropy", "python"}
    assert card["software"]["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    state, meta = load_weights(out / "model.safetensors", sha256=card["weights"]["sha256"])
    assert meta["architecture"] == "resnet18" and "fc.weight" in state
    with open(out / "log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == list(range(1, 9))
    model, preprocess, _ = load_trained(out)
    assert preprocess.resize == (224, 448)
    assert torch.equal(model.fc.weight, state["fc.weight"])


def test_killed_run_resumes_to_identical_weights(uninterrupted, mock_lcid, tmp_path):
    reference, _ = uninterrupted
    out = tmp_path / "killed"
    # Same torch thread count as this process: float sums depend on it (and an earlier Dask
    # cluster in this session may have left OMP_NUM_THREADS=1 in the environment).
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.Popen([sys.executable, "-c", _train_code(out, mock_lcid)], env=env)
    checkpoint = out / "checkpoint.safetensors"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if checkpoint.exists() and load_checkpoint(checkpoint)["progress"]["step"] >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "model.safetensors").exists()
    killed_at = load_checkpoint(checkpoint)["progress"]["step"]
    assert 3 <= killed_at < 8
    result = train("resnet18", mock_lcid / "manifest.csv", mock_lcid, out, checkpoint_every=1, resume=True,
                   **ARGS)
    assert result["steps"] == 8
    ours, _ = load_weights(out / "model.safetensors", file_sha256(out / "model.safetensors"))
    theirs, _ = load_weights(reference / "model.safetensors", file_sha256(reference / "model.safetensors"))
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    with open(out / "log.csv") as a, open(reference / "log.csv") as b:
        ours_log = [(r["step"], r["loss"]) for r in csv.DictReader(a)]
        theirs_log = [(r["step"], r["loss"]) for r in csv.DictReader(b)]
    assert ours_log == theirs_log


def test_stop_and_resume_in_process(uninterrupted, mock_lcid, tmp_path):
    reference, _ = uninterrupted
    out = tmp_path / "steps"
    first = train("resnet18", mock_lcid / "manifest.csv", mock_lcid, out, max_steps=3, **ARGS)
    assert first["steps"] == 3 and not first["complete"]
    with pytest.raises(CelestialClassError, match="pass resume=True"):
        train("resnet18", mock_lcid / "manifest.csv", mock_lcid, out, **ARGS)
    with pytest.raises(CelestialClassError, match=r"another configuration \(recipe: checkpoint"):
        train("resnet18", mock_lcid / "manifest.csv", mock_lcid, out, resume=True,
              **{**ARGS, "batch_size": 4})
    with pytest.raises(CelestialClassError, match=r"seed: checkpoint 5, now 6"):
        train("resnet18", mock_lcid / "manifest.csv", mock_lcid, out, resume=True, **{**ARGS, "seed": 6})
    train("resnet18", mock_lcid / "manifest.csv", mock_lcid, out, resume=True, **ARGS)
    ours, _ = load_weights(out / "model.safetensors", file_sha256(out / "model.safetensors"))
    theirs, _ = load_weights(reference / "model.safetensors", file_sha256(reference / "model.safetensors"))
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_bad_input(mock_lcid, tmp_path):
    with pytest.raises(CelestialClassError, match="hr-celestialnet cannot train on 224 x 448"):
        train("hr-celestialnet", mock_lcid / "manifest.csv", mock_lcid, tmp_path / "a", **ARGS)
    with pytest.raises(CelestialClassError, match="unknown recipe 'fastest'"):
        train("resnet18", mock_lcid / "manifest.csv", mock_lcid, tmp_path / "b", recipe="fastest")
    with pytest.raises(CelestialClassError, match="nothing to resume"):
        train("resnet18", mock_lcid / "manifest.csv", mock_lcid, tmp_path / "c", resume=True, **ARGS)
    with pytest.raises(CelestialClassError, match="unknown model"):
        train("resnet-1000", mock_lcid / "manifest.csv", mock_lcid, tmp_path / "d", **ARGS)
    assert get_recipe("paper").batch_size == 4 and get_recipe("paper").epochs == 20
    assert get_recipe("fast-resize").preprocess().resize == (224, 448)


def test_tampered_weights_refused(uninterrupted, tmp_path):
    out, _ = uninterrupted
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("model.safetensors", "model_card.json"):
        (copy / name).write_bytes((out / name).read_bytes())
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-10] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError, match="sha256 mismatch"):
        load_trained(copy)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_gloo(mock_lcid, tmp_path):
    """``torchrun --nproc_per_node 2`` on the CPU (gloo): both ranks train, rank 0 writes."""
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
               "-m", "celestialclass.cli", "train", "--model", "resnet18", "--manifest",
               str(mock_lcid / "manifest.csv"), "--data-dir", str(mock_lcid), "--out", str(out),
               "--recipe", "paper-resize", "--epochs", "1", "--batch-size", "2", "--device", "cpu"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    card = json.loads((out / "model_card.json").read_text())
    assert card["training"]["world_size"] == 2
    assert card["training"]["steps"] == 2  # 8 chips / (2 ranks x batch 2)
    assert "torch.distributed.run" in " ".join(command) and card["training"]["command"].startswith("celestialclass")


def test_gradient_accumulation_steps(mock_lcid, tmp_path):
    """Two batches of 2 per optimizer step: half the steps of batch 2 alone, and a log row per step."""
    result = train("resnet18", mock_lcid / "manifest.csv", mock_lcid, tmp_path / "acc", accumulation=2,
                   **{**ARGS, "epochs": 1})
    assert result["steps"] == 2 and result["complete"]
    card = read_card(tmp_path / "acc" / "model_card.json")
    assert card["training"]["recipe"]["accumulation"] == 2


def test_committee_members_learn_each_on_its_own_loss():
    """A committee's training loss is the mean of its members' losses: no member's gradient sees another."""
    from celestialclass.models import get_model, training_parts
    from celestialclass.training.loop import _loss

    torch.manual_seed(1)
    model = get_model("celestialnet-lite-x2").eval()  # no dropout: the same loss on every call
    body, step_module = model.body, training_parts(model).module
    x, y = torch.randn(4, 4, 32, 64), torch.tensor([0, 1, 1, 0])
    loss_fn = torch.nn.CrossEntropyLoss()

    def first_member_gradient():
        body.zero_grad()
        loss, scores = _loss(loss_fn, step_module(x), y)
        loss.backward()
        assert scores.shape == (4, 2) and torch.allclose(scores.sum(1), torch.ones(4))
        return body.members[0].fc.weight.grad.clone(), float(loss.detach())

    before, loss = first_member_gradient()
    with torch.no_grad():
        own = [float(loss_fn(member(x), y)) for member in body.members]
        body.members[1].fc.weight.mul_(-3.0)  # another second member: the first's gradient is the same
    assert loss == pytest.approx(sum(own) / 2)
    after, _ = first_member_gradient()
    assert torch.allclose(before, after) and before.abs().sum() > 0


def test_init_weights_start_the_run_and_are_recorded(uninterrupted, mock_lcid, tmp_path):
    """Fine-tuning: a run started from trained weights begins at those weights, and its card says so."""
    reference, _ = uninterrupted
    start, _ = load_weights(reference / "model.safetensors", sha256=read_card(reference / "model_card.json")[
        "weights"]["sha256"])
    untouched = train("resnet18", mock_lcid / "manifest.csv", mock_lcid, tmp_path / "zero", max_steps=0,
                      init_weights=reference, **ARGS)
    state, _ = load_weights(untouched["weights"], sha256=untouched["sha256"])
    assert all(torch.equal(state[k], start[k]) for k in start)
    tuned = train("resnet18", mock_lcid / "manifest.csv", mock_lcid, tmp_path / "tuned", init_weights=reference,
                  **ARGS)
    card = read_card(tuned["card"])
    assert card["training"]["init_weights"]["sha256"] == read_card(reference / "model_card.json")["weights"][
        "sha256"]
    assert load_checkpoint(tmp_path / "tuned" / "checkpoint.safetensors")["config"]["init_weights"] == card[
        "training"]["init_weights"]
    state, _ = load_weights(tuned["weights"], sha256=tuned["sha256"])
    assert not torch.equal(state["fc.weight"], start["fc.weight"])  # it trained from there
    scratch = read_card(reference / "model_card.json")
    assert scratch["training"]["init_weights"] is None


def test_init_weights_must_fit_the_run(uninterrupted, mock_lcid, tmp_path):
    reference, _ = uninterrupted
    with pytest.raises(CelestialClassError, match="are for resnet18, not alexnet"):
        train("alexnet", mock_lcid / "manifest.csv", mock_lcid, tmp_path / "a", init_weights=reference,
              **{**ARGS, "recipe": "paper-resize"})
    with pytest.raises(CelestialClassError, match="other preprocessing"):
        train("resnet18", mock_lcid / "manifest.csv", mock_lcid, tmp_path / "b", init_weights=reference,
              **{**ARGS, "recipe": "paper"})


# Every recipe, with a model that trains on it in seconds: stopped after one step, resumed, it ends on the
# uninterrupted run's weights, bit for bit (the cached recipes round their cache the same way after a resume).
RECIPE_MODELS = {"paper": "celestialnet-lite", "paper-resize": "resnet18", "fast": "celestialnet-lite",
                 "fast-resize": "resnet18", "default": "celestialnet-lite-x2", "default-resize": "resnet18",
                 "finetune": "celestialnet-lite-x2"}


def test_every_recipe_is_listed_here():
    from celestialclass.training import RECIPES

    assert set(RECIPE_MODELS) == set(RECIPES)


@pytest.mark.parametrize("recipe", sorted(RECIPE_MODELS))
def test_resume_is_exact_for_every_recipe(recipe, mock_lcid, tmp_path):
    settings = dict(recipe=recipe, epochs=2, batch_size=2, seed=7, device="cpu")
    model, manifest = RECIPE_MODELS[recipe], load_manifest(mock_lcid / "manifest.csv")[:4]
    whole = train(model, manifest, mock_lcid, tmp_path / "whole", **settings)
    first = train(model, manifest, mock_lcid, tmp_path / "parts", max_steps=1, **settings)
    assert first["steps"] == 1 and not first["complete"]
    resumed = train(model, manifest, mock_lcid, tmp_path / "parts", resume=True, **settings)
    assert resumed["steps"] == whole["steps"] == 4
    ours, _ = load_weights(resumed["weights"], resumed["sha256"])
    theirs, _ = load_weights(whole["weights"], whole["sha256"])
    assert resumed["sha256"] == whole["sha256"] and all(torch.equal(ours[k], theirs[k]) for k in ours)
