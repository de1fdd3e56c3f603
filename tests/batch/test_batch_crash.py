"""Crash safety: `w2s batch` killed with SIGKILL mid-run leaves no truncated output and a valid
report, and the same command run again completes the rest and skips what was done."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile

from napari_w2s.restore.classical import bicubic_x2

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

N_FILES, PLANES, SIZE = 6, 16, 192


def _inputs(folder):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(N_FILES):
        stack = rng.integers(100, 4000, (PLANES, SIZE, SIZE)).astype(np.uint16)
        tifffile.imwrite(folder / f"fov{i}.ome.tif", stack, ome=True, metadata={"axes": "TYX"})


def _counts(report_path):
    try:
        return json.loads(report_path.read_text())["counts"]
    except (OSError, ValueError):
        return None


def test_sigkill_mid_run_then_rerun_completes(tmp_path):
    src, dst = tmp_path / "in", tmp_path / "out"
    _inputs(src)
    cmd = [
        sys.executable,
        "-m",
        "napari_w2s.cli",
        "batch",
        str(src),
        str(dst),
        "--method",
        "bicubic",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    report = dst / "batch_report.json"
    deadline = time.monotonic() + 40
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            c = _counts(report)
            if c and c["done"] >= 2:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the batch ended before it could be killed"
        time.sleep(0.05)  # land somewhere inside the next file
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    # the report is valid JSON and says what was done; every output present is complete
    rep = json.loads(report.read_text())
    assert rep["state"] == "running"
    done_before = rep["counts"]["done"]
    assert 2 <= done_before < N_FILES
    outputs = sorted(dst.glob("*.ome.tif"))
    assert len(outputs) >= done_before
    for out in outputs:
        data = tifffile.imread(out)
        assert data.shape == (PLANES, 2 * SIZE, 2 * SIZE)
        stem = out.name.replace("_bicubic.ome.tif", "")
        last = tifffile.imread(src / f"{stem}.ome.tif", key=PLANES - 1).astype(np.float32)
        np.testing.assert_allclose(data[-1], bicubic_x2(last), rtol=1e-6)
    n_done = len(outputs)
    left = [p for p in dst.iterdir() if ".partial-" in p.name]  # killed while writing (usually)
    # the same command again: skips the finished files, completes the rest, removes temporaries
    rerun = subprocess.run(cmd + ["--json"], capture_output=True, text=True, env=env, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    final = json.loads(rerun.stdout)
    assert final["counts"] == {
        "done": N_FILES - n_done,
        "skipped": n_done,
        "failed": 0,
        "pending": 0,
    }
    assert final["cleaned"] == len(left)
    assert len(list(dst.glob("*.ome.tif"))) == N_FILES
    assert [p.name for p in dst.iterdir() if p.name.startswith(".")] == []
    assert json.loads(report.read_text())["state"] == "complete"
