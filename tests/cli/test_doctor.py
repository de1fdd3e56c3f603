"""`w2s doctor`: the installation report for bug reports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

from napari_w2s import cli, doctor
from napari_w2s.restore import zoo


def test_doctor_json_has_every_section(capsys):
    assert cli.main(["doctor", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    for key in ("python", "packages", "qt", "devices", "auto", "display", "weights", "problems"):
        assert key in r
    assert r["packages"]["torch"]
    assert r["auto"]["device"] in {"cpu", "cuda", "mps"} and r["auto"]["why"]
    assert r["devices"]["cpu"]["usable_cpus"] >= 1
    from napari_w2s.restore.device import cpu_has_native_bf16

    assert r["devices"]["cpu"]["native_bfloat16"] is cpu_has_native_bf16()
    assert r["weights"] and all(w["sha256_ok"] for w in r["weights"])
    assert {w["method"] for w in r["weights"]} >= {"jdsr", "dncnn", "care"}


def test_doctor_text(capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "auto " in out and "sha256 ok" in out and "display " in out


def test_doctor_fast_and_imports_neither_napari_nor_qt():
    code = (
        "import sys, time; t = time.perf_counter(); from napari_w2s import doctor; "
        "doctor.report(); print(time.perf_counter() - t); "
        "print(sorted(m for m in ('napari', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'qtpy') "
        "if m in sys.modules))"
    )
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    wall = time.perf_counter() - t0
    assert out[-1] == "[]"
    assert float(out[0]) < 6 and wall < 10  # < 3 s on an idle machine; headroom for a busy one


def test_doctor_finds_a_corrupted_weights_file(tmp_path, monkeypatch):
    src = zoo.ZOO / "dncnn-blind-compact.safetensors"
    shutil.copy(src.with_suffix(".json"), tmp_path / "dncnn-blind-compact.json")
    data = bytearray(src.read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "dncnn-blind-compact.safetensors").write_bytes(bytes(data))
    monkeypatch.setattr(zoo, "ZOO", tmp_path)
    r = doctor.report()
    assert [w["state"] for w in r["weights"]] == ["MISMATCH"]
    assert any("do not match" in p for p in r["problems"])


def test_doctor_says_when_no_display_can_be_had(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    monkeypatch.setattr(doctor.sys, "platform", "linux")
    r = doctor.report()
    assert not r["display"]["gui_possible"]
    assert any("apt-get install xvfb" in p for p in r["problems"])
