"""Without a display and without Xvfb: GUI tests skipped with one line, or a CI run stopped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SELECT = "get_reader_declines or ome_tiff_with_scale"  # one plain test, one GUI test


def _pytest_without_display(ci: bool) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "CI", "PYTEST_ADDOPTS")
    }
    env["QT_QPA_PLATFORM"] = "offscreen"
    if ci:
        env["CI"] = "true"
    # -p no:xvfb: as if Xvfb were not installed (pytest-xvfb then starts nothing)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-ra",
            "-p",
            "no:xvfb",
            "-p",
            "no:cacheprovider",
            "tests/test_napari_io.py",
            "-k",
            SELECT,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_gui_tests_skipped_with_one_line_without_a_display():
    run = _pytest_without_display(ci=False)
    assert run.returncode == 0, run.stdout + run.stderr
    skipped = [line for line in run.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1 and "apt-get install xvfb" in skipped[0], run.stdout
    assert "1 passed, 1 skipped" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr


def test_ci_without_a_display_fails_at_once_with_that_line():
    run = _pytest_without_display(ci=True)
    assert run.returncode not in (0, 5), run.stdout + run.stderr
    errors = [
        line for line in (run.stdout + run.stderr).splitlines() if "apt-get install xvfb" in line
    ]
    assert len(errors) == 1 and errors[0].startswith("ERROR: GUI tests need a display")
    assert "passed" not in run.stdout
