"""Crash safety and the cases of the adversarial pass, each with a test that fails without its fix."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from astropy.io import fits

from celestialclass import CelestialClassifier, classify_files
from celestialclass.cli import main
from celestialclass.exceptions import CelestialClassError, CorruptFileError, MissingFileError
from celestialclass.io import RawFile, read_raw
from celestialclass.weights import WeightsEntry, WeightsIntegrityError, load_weights, resolve_weights


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory):
    from celestialclass.simulate import write_example_raw

    return write_example_raw(tmp_path_factory.mktemp("reliability") / "jrelia01q_raw.fits")


def test_a_file_truncated_while_it_is_read_is_never_a_signal(raw_file, tmp_path):
    """The reader does not memory-map pixels: a file that shrinks once its pixels are being read gives the
    pixels read (or an error), never the SIGBUS that killed a memory-mapped reader and its whole batch."""
    victim = tmp_path / "jshrink1q_raw.fits"
    shutil.copyfile(raw_file, victim)
    expected = float(read_raw(raw_file, hdu=4).data.sum())
    code = ("import os\nimport celestialclass.io.raw as raw_module\n"
            "from celestialclass.exceptions import CorruptFileError\n"
            "level = raw_module._robust_level\n"
            "def shrink_then_measure(stored):  # the pixels are in hand; the file loses its tail\n"
            f"    os.truncate({str(victim)!r}, 3_000_000)\n"
            "    return level(stored)\n"
            "raw_module._robust_level = shrink_then_measure\n"
            "try:\n"
            f"    print('read', float(raw_module.read_raw({str(victim)!r}, hdu=4).data.sum()))\n"
            "except CorruptFileError as exc:\n"
            "    print('clean:', exc)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.split() == ["read", str(expected)] or result.stdout.startswith(f"clean: {victim}")


def test_a_directory_with_a_malformed_and_a_truncated_file_gives_a_complete_table(
        raw_file, tmp_path, trained_resnet, monkeypatch):
    """One file with a malformed header, one truncated while it is read, one good: three files, four rows."""
    import celestialclass.io.raw as raw_module

    good, malformed, shrinking = (tmp_path / f"j{name}q_raw.fits" for name in ("good0001", "malfor01", "shrink01"))
    for path in (good, malformed, shrinking):
        shutil.copyfile(raw_file, path)
    with open(malformed, "r+b") as handle:  # NAXIS1 = 'abc' in the first SCI header, as bytes
        with fits.open(raw_file) as hdul:
            start = hdul.fileinfo(1)["hdrLoc"]
        handle.seek(start)
        header = handle.read(2880)
        offset = header.index(b"NAXIS1  =")
        handle.seek(start + offset + 10)
        handle.write(b"'abc'".rjust(20))
    check, calls = raw_module._check_sci, []

    def check_then_shrink(hdul, index, layout, name):
        """The file loses its tail once its chips are listed and checked, as the first is being read."""
        check(hdul, index, layout, name)
        calls.append(name)
        if name == str(shrinking) and calls.count(name) == 3:  # HDU 1 and 4 listed, HDU 1 about to be read
            os.truncate(shrinking, 3_000_000)

    monkeypatch.setattr(raw_module, "_check_sci", check_then_shrink)
    table = classify_files([tmp_path], model="resnet18", weights=trained_resnet, local=True)
    assert list(table["source"]) == [str(good), str(good), str(malformed), str(shrinking)]
    assert [bool(e) for e in table["error"]] == [False, False, True, True]
    assert table["error"][2] == f"{malformed}[HDU 1]: NAXIS1='abc' is not an integer"
    assert table["error"][3].startswith(f"{shrinking}[HDU 1]: cannot read the file's data")


def test_errors_keep_their_kind_through_predict(tmp_path, trained_resnet):
    classifier = CelestialClassifier("resnet18", trained_resnet, device="cpu")
    with pytest.raises(MissingFileError):
        classifier.predict(tmp_path / "jnone001q_raw.fits")
    with pytest.raises(FileNotFoundError):  # a MissingFileError is one
        classifier.predict(str(tmp_path / "jnone001q_raw.fits"))


def test_an_empty_directory_is_named(tmp_path, capsys):
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    assert main(["classify", str(empty)]) == 1
    assert f"directory {empty} holds no *_raw.fits" in capsys.readouterr().err
    with pytest.raises(CelestialClassError, match=f"directory {empty} holds no"):
        classify_files([empty], local=True)


def test_one_chip_of_an_incomplete_file_is_refused(raw_file, tmp_path):
    """``hdu=4`` of a file that lost its last extensions: refused as ``read_raw(path)`` refuses it."""
    incomplete = tmp_path / "jshort01q_raw.fits"
    with fits.open(raw_file) as hdul:
        offset = hdul.fileinfo(5)["hdrLoc"]  # the second ERR extension: HDU 4's data are whole
    shutil.copyfile(raw_file, incomplete)
    os.truncate(incomplete, offset)
    for read in (lambda: read_raw(incomplete), lambda: read_raw(incomplete, hdu=4)):
        with pytest.raises(CorruptFileError, match="NEXTEND=6 but only 4"):
            read()


def test_compressed_files_named_raw_fits_are_read(raw_file, tmp_path):
    import gzip

    packed = tmp_path / "jgzip001q_raw.fits"
    packed.write_bytes(gzip.compress(raw_file.read_bytes(), compresslevel=1))
    assert (read_raw(packed, hdu=1).data == read_raw(raw_file, hdu=1).data).all()


def _copy_run(trained_resnet, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(trained_resnet, out)
    return out


@pytest.mark.parametrize("damage", ["null", "absent", "malformed", "no weights record"])
def test_weights_without_a_sha256_are_refused(trained_resnet, tmp_path, damage):
    out = _copy_run(trained_resnet, tmp_path)
    card = json.loads((out / "model_card.json").read_text())
    if damage == "null":
        card["weights"]["sha256"] = None
    elif damage == "absent":
        del card["weights"]["sha256"]
    elif damage == "malformed":
        card["weights"]["sha256"] = "abc"
    else:
        del card["weights"]
    (out / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(CelestialClassError):  # never a KeyError, never loaded unverified
        CelestialClassifier("resnet18", out, device="cpu")
    if damage != "no weights record":
        with pytest.raises(WeightsIntegrityError, match="sha256"):
            resolve_weights(out)


def test_a_weights_entry_needs_its_sha256(trained_resnet):
    entry = resolve_weights(trained_resnet)
    for missing in (None, "", "0" * 63):
        with pytest.raises(WeightsIntegrityError, match="sha256"):
            WeightsEntry(entry.name, entry.architecture, entry.location, missing, entry.preprocess)
    with pytest.raises(WeightsIntegrityError, match="sha256"):
        load_weights(trained_resnet / "model.safetensors", None)
    with pytest.raises(TypeError):
        load_weights(trained_resnet / "model.safetensors")  # no default: there is no "skip"


def test_raw_file_is_closed_after_use(raw_file):
    with RawFile(raw_file) as raw:
        raw.read(hdu=1)
    assert raw._hdul._file.closed


@pytest.mark.parametrize("device, message", [("gpu", "unknown device 'gpu'"), ("cuda:0", "cannot use CUDA"),
                                             ("xla", "not supported")])
def test_devices_that_cannot_be_used_are_clean_errors(device, message, monkeypatch):
    import torch

    from celestialclass.engine import select_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(CelestialClassError, match=message):
        select_device(device)


def test_a_closed_pipe_is_not_a_traceback():
    result = subprocess.run(f"{sys.executable} -m celestialclass.cli weights info default | head -c 10",
                            shell=True, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr


def test_a_failed_train_leaves_no_empty_output_directory(tmp_path, mock_lcid):
    from celestialclass.training import train

    out = tmp_path / "never"
    with pytest.raises(CelestialClassError):
        train("resnet18", mock_lcid / "manifest.csv", tmp_path / "no-data", out, recipe="paper-resize")
    assert not out.exists()


def test_evaluate_says_what_to_install_before_any_work(monkeypatch, tmp_path):
    """No matplotlib: evaluate refuses at once, naming the extra, instead of failing after the work."""
    import celestialclass.utils.optional as optional
    from celestialclass.evaluation.report import evaluate

    monkeypatch.setattr(optional, "has", lambda module: module != "matplotlib")
    with pytest.raises(CelestialClassError, match=r"needs matplotlib: pip install 'celestialclass\[plot\]'"):
        evaluate("default", tmp_path / "no-such-manifest.csv", tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_every_json_written_is_valid_json(tmp_path, trained_resnet, mock_lcid):
    """Bare NaN is not JSON: error rows and undefined metrics are null."""
    bad = tmp_path / "jbad0001q_raw.fits"
    bad.write_bytes(b"not fits")
    out = tmp_path / "results.json"
    assert main(["classify", str(bad), "--model", "resnet18", "--weights", str(trained_resnet),
                 "--output", str(out)]) == 1
    text = out.read_text()
    rows = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    assert rows[0]["prob_nsc"] is None and rows[0]["hdu"] is None and rows[0]["error"]
    from celestialclass.datasets import load_manifest
    from celestialclass.evaluation.report import evaluate

    one_class = load_manifest(mock_lcid / "manifest.csv")
    one_class = one_class[one_class["label"] == "nsc"][:1]  # ROC AUC is undefined on one class
    evaluate(trained_resnet, one_class, mock_lcid, tmp_path / "report", plots=False)
    json.loads((tmp_path / "report" / "metrics.json").read_text(),
               parse_constant=lambda name: pytest.fail(f"{name} in metrics.json"))


def test_train_logs_its_progress_line_by_line_into_a_file(mock_lcid, tmp_path):
    """Under ``> log 2>&1`` there is no bar: a line per epoch, as it happens, with loss and time left."""
    log = tmp_path / "train.log"
    command = (f"{sys.executable} -m celestialclass.cli train --model resnet18 --recipe paper-resize "
               f"--manifest {mock_lcid / 'manifest.csv'} --data-dir {mock_lcid} --out {tmp_path / 'run'} "
               f"--epochs 2 --batch-size 4 --device cpu > {log} 2>&1")
    assert subprocess.run(command, shell=True, timeout=600).returncode == 0
    lines = log.read_text().splitlines()
    epochs = [line for line in lines if "epoch" in line and "done" in line]
    assert len(epochs) == 2 and "epoch 1/2 done" in epochs[0] and "left" in epochs[0] and "loss" in epochs[0]
    assert not any("\r" in line for line in lines)  # no bar drawn into the file


def test_weights_info_is_readable_and_json(capsys):
    assert main(["weights", "info", "default"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("default: celestialnet-lite-x2") and "trained on: simulated" in text
    assert "held-out bodies:" in text and "rebuild: celestialclass default-model" in text
    assert "rebuild: celestialclass default-model BUILD_DIR --seed 21" in text and "{" not in text
    # What real images it saw, how well it does on held-out ones, and what a rebuild costs.
    assert "real images:" in text and "reserved" in text and "held-out bank objects:" in text
    assert "build time:" in text
    assert main(["weights", "info", "default", "--json"]) == 0
    info = json.loads(capsys.readouterr().out, parse_constant=lambda name: pytest.fail(name))
    assert info["preprocess"]["subtract_bias"] is True and info["input_size"] == [1, 2048, 4096]


def test_command_line_messages_name_what_to_type(tmp_path, raw_file, capsys):
    assert main(["classify", str(tmp_path / "nomatch*_raw.fits"), str(raw_file), "--model", "resnet18"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'nomatch*_raw.fits'} matches no file" in err
    assert "no weights are bundled for 'resnet18'" in err and "--weights" in err
    target = tmp_path / "jsim0001q_raw.fits"
    args = ["simulate", "exposure", str(target), "--kind", "galaxy", "--instrument", "ACS/WFC", "--seed", "1"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 1
    assert "--overwrite" in capsys.readouterr().err


def test_defaults_come_from_astropy_configuration(trained_resnet):
    from celestialclass.config import conf

    with conf.set_temp("device", "cpu"), conf.set_temp("weights", str(trained_resnet)):
        classifier = CelestialClassifier()
        assert classifier.device == "cpu" and classifier.entry.architecture == "resnet18"
    assert CelestialClassifier(device="cpu").name == "default"
