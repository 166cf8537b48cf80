"""The README's commands and CI agree; the package starts light."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands():
    text = (ROOT / "README.rst").read_text()
    return [line.strip() for line in text.splitlines() if line.startswith("    python -m pip install")]


@pytest.mark.skipif(not (ROOT / ".ci" / "run").exists(), reason="not a source checkout")
def test_ci_runs_the_readme_test_command():
    main_job, tests = _readme_commands()
    assert main_job.endswith("celestialclass classify --example")
    assert tests.endswith("python -m pytest")
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert tests in ci_lines


def test_import_is_light():
    """``import celestialclass`` loads neither astropy nor torch."""
    code = "import sys, celestialclass; print([m for m in ('astropy', 'torch') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_version():
    import celestialclass

    assert re.match(r"\d+\.\d+", celestialclass.__version__)
