"""The command line: ``celestialclass info``."""

import json
import subprocess
import sys

from celestialclass.cli import main
from celestialclass.simulate import write_example_raw


def test_info_text(tmp_path, capsys):
    path = write_example_raw(tmp_path / "iexampl0q_raw.fits", "WFC3/UVIS")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "supported:  yes" in out
    assert "WFC3/UVIS" in out and "F606W" in out and "500 s" in out and "EXAMPLE" in out
    assert "HDU 1: UVIS2 (CCDCHIP=2, amps CD)  raw 2070x4206 -> science 2051x4096, lcid 2048x4096" in out
    assert "HDU 4: UVIS1 (CCDCHIP=1, amps AB)" in out


def test_info_json_and_unsupported(tmp_path, capsys):
    good = write_example_raw(tmp_path / "jexampl0q_raw.fits")
    bad = tmp_path / "notes_raw.fits"
    bad.write_text("not fits")
    assert main(["info", "--format", "json", str(good), str(bad)]) == 1
    infos = json.loads(capsys.readouterr().out)
    assert [i["supported"] for i in infos] == [True, False]
    assert infos[0]["instrument"] == "ACS/WFC"
    assert [c["hdu"] for c in infos[0]["chips"]] == [1, 4]
    assert infos[0]["chips"][0]["lcid_shape"] == [2048, 4096]
    assert "not a readable FITS file" in infos[1]["reason"]


def test_info_example(capsys):
    assert main(["info", "--example", "--format", "json"]) == 0
    (info,) = json.loads(capsys.readouterr().out)
    assert info["supported"] and info["target"] == "EXAMPLE"


def test_no_arguments(capsys):
    assert main(["info"]) == 2
    assert main([]) == 2


def test_console_script_help_is_light():
    """``celestialclass --help`` must not import astropy, numpy or torch."""
    code = ("import sys; from celestialclass.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('astropy', 'torch', 'numpy', 'ccdproc') if m in sys.modules]\n"
            "print(heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_summary_paper(capsys):
    assert main(["summary", "--paper"]) == 0
    out = capsys.readouterr().out
    assert out.count("True") == 7 and "False" not in out
    assert "HR-CelestialNet        LCID         128.00        128.00         370.21        370.21" in out


def test_summary_model(capsys):
    assert main(["summary", "--model", "resnet18", "--input-size", "224", "448", "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 11,171,330" in out and "(0.53 GB)" in out
    assert main(["summary", "--model", "hr-celestialnet", "--input-size", "2068", "4144"]) == 1
    assert "H in 1834..2089" in capsys.readouterr().err
    assert main(["summary", "--model", "nope"]) == 1
    assert "known models: alexnet" in capsys.readouterr().err


def test_simulate_exposure_cli(tmp_path, capsys):
    path = tmp_path / "jcli0001q_raw.fits"
    assert main(["simulate", "exposure", str(path), "--kind", "nsc", "--instrument", "ACS/WFC",
                 "--seed", "3", "--subtype", "open_cluster", "--filter", "F555W", "--exptime", "100"]) == 0
    truth = json.loads(capsys.readouterr().out)
    assert truth["subtype"] == "open_cluster" and truth["exptime"] == 100.0
    assert main(["info", str(path)]) == 0
    assert main(["simulate", "exposure", str(path), "--kind", "nsc", "--instrument", "ACS/WFC",
                 "--seed", "3", "--filter", "F275W"]) == 1
    assert "unknown ACS/WFC filter 'F275W'" in capsys.readouterr().err


def test_lcid_split_shown_only(mock_lcid, tmp_path, capsys):
    from celestialclass.datasets import load_manifest, shows_object

    manifest = load_manifest(mock_lcid / "manifest.csv")
    shown = shows_object(manifest)
    # The tiny mock LCID's second nebula shows nothing of itself on either chip.
    assert not shown[manifest["ID"] == "SIM-N0001"].any() and shown[manifest["ID"] != "SIM-N0001"].all()
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    split = ["lcid", "split", str(mock_lcid / "manifest.csv"), "--test-fraction", "0.5", "--train", str(train),
             "--test", str(test)]
    assert main(split) == 0
    assert len(load_manifest(train)) + len(load_manifest(test)) == len(manifest)
    assert main(split + ["--shown-only"]) == 1  # one nebula left: nothing to split it by
    assert "class 'nsc' has 1 body" in capsys.readouterr().err
    assert main(["lcid", "split", "lcid-test", "--shown-only", "--train", str(train), "--test", str(test)]) == 1
    assert "not a simulated manifest: no Coverage or Visibility column" in capsys.readouterr().err
