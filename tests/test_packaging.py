"""The wheel: manifest inside, entry points, classifier, no Qt binding in the base requirements."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{proc.stdout}\n{proc.stderr}")
    (path,) = out.glob("napari_w2s-*.whl")
    return path


def test_wheel_contains_the_manifest(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "napari_w2s/napari.yaml" in names
        shipped = zf.read("napari_w2s/napari.yaml").decode()
    assert shipped == (ROOT / "napari.yaml").read_text()
    assert "napari_w2s/_reader.py" in names and "napari_w2s/io/tiff.py" in names
    assert not any(n.startswith("tests/") for n in names)
    # package data: the EPLL prior and the shipped weights with their cards
    assert "napari_w2s/restore/gmm_prior.npz" in names
    weights = [
        n for n in names if n.startswith("napari_w2s/models/zoo/") and n.endswith(".safetensors")
    ]
    assert "napari_w2s/models/zoo/jdsr-blind-compact.safetensors" in weights
    assert all(w.replace(".safetensors", ".json") in names for w in weights)


def test_wheel_metadata(wheel):
    with zipfile.ZipFile(wheel) as zf:
        dist = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = zf.read(dist).decode()
        entry = zf.read(dist.replace("METADATA", "entry_points.txt")).decode()
    assert "Classifier: Framework :: napari" in meta
    assert "Requires-Python: >=3.11" in meta
    base = [
        line
        for line in meta.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert any("torch" in line for line in base)
    assert not any(q in line.lower() for line in base for q in ("pyqt", "pyside", "napari["))
    assert not any("bioimageio" in line for line in base)  # the testing extra only
    # no project URLs until pages exist (a public repository or documentation site)
    assert "Project-URL" not in meta
    assert "[napari.manifest]" in entry and "napari-w2s = napari_w2s:napari.yaml" in entry
    assert "w2s = napari_w2s.cli:main" in entry
