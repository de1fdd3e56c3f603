"""The `w2s` command: outputs, JSON, exit codes and one-line errors for user mistakes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_w2s.cli import main
from napari_w2s.io import read_provenance, read_stack
from tests.conftest import ramp_stack


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_average_writes_every_level(tmp_path, capsys):
    stack = ramp_stack(frames=300, h=8, w=6)
    src = tmp_path / "s.ome.tif"
    tifffile.imwrite(
        src, stack, ome=True, metadata={"axes": "TYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1}
    )
    code, out, err = run(
        capsys,
        "average",
        str(src),
        "--levels",
        "1,2,4,8,16",
        "--out",
        str(tmp_path / "lv"),
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert sorted(p.name for p in (tmp_path / "lv").iterdir()) == sorted(
        f"avg{n}.tif" for n in (1, 2, 4, 8, 16, 300)
    )
    assert report["clean"] == "avg300" and report["levels"]["avg1"]["frames"] == "249"
    avg4 = tifffile.imread(tmp_path / "lv" / "avg4.tif")
    assert avg4.dtype == np.float32
    np.testing.assert_allclose(avg4, stack[:4].mean(axis=0))
    assert read_stack(tmp_path / "lv" / "avg4.tif").pixel_size == pytest.approx((0.1, 0.1))
    prov = read_provenance(tmp_path / "lv" / "avg16.tif")
    assert prov["frames"] == "0-15" and prov["source"].endswith("s.ome.tif")


def test_average_w2s_folder_channel(w2s_raw, tmp_path, capsys):
    code, out, _ = run(
        capsys,
        "average",
        str(w2s_raw / "Image001"),
        "--channel",
        "1",
        "--levels",
        "1,2",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 0
    wf = np.load(w2s_raw / "Image001" / "wf_channel1.npy")
    np.testing.assert_allclose(tifffile.imread(tmp_path / "o" / "avg1.tif"), wf[249])
    assert "3 levels from 260 frames" in out


def test_metrics_json_and_affine(tmp_path, capsys, noisy_pair):
    pred, ref = noisy_pair
    np.save(tmp_path / "p.npy", pred)
    tifffile.imwrite(tmp_path / "r.tif", ref.astype(np.float32))
    code, out, _ = run(
        capsys, "metrics", str(tmp_path / "p.npy"), str(tmp_path / "r.tif"), "--json"
    )
    assert code == 0
    m = json.loads(out)
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((pred - ref.astype(np.float32)) ** 2)))
    assert set(m) >= {"rmse", "psnr", "ssim"}
    np.save(tmp_path / "r2.npy", 10 * ref + 3)  # another intensity scale
    code, out, _ = run(
        capsys,
        "metrics",
        str(tmp_path / "p.npy"),
        str(tmp_path / "r2.npy"),
        "--match-affine",
        "--json",
    )
    affine = json.loads(out)
    assert affine["mode"] == "affine" and affine["rmse"] < 5.5  # noise sigma is 5


def test_metrics_identical_images_psnr_is_null_in_json(tmp_path, capsys, noisy_pair):
    np.save(tmp_path / "a.npy", noisy_pair[1])
    code, out, _ = run(
        capsys, "metrics", str(tmp_path / "a.npy"), str(tmp_path / "a.npy"), "--json"
    )
    assert code == 0 and json.loads(out)["psnr"] is None and json.loads(out)["rmse"] == 0


def _bad_inputs(tmp_path):
    ok = tmp_path / "ok.npy"
    np.save(ok, ramp_stack(20))
    (tmp_path / "corrupt.tif").write_bytes(b"II*\x00" + b"\x00" * 40)
    np.save(tmp_path / "flat.npy", np.ones((8, 6)))
    np.save(tmp_path / "small.npy", np.ones((9, 9)))
    nan = np.ones((9, 9))
    nan[2, 2] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    return [
        (["average", str(tmp_path / "missing.tif"), "--out", str(tmp_path / "o")], "no such file"),
        (
            ["average", str(tmp_path / "corrupt.tif"), "--out", str(tmp_path / "o")],
            "not a readable TIFF",
        ),
        (["average", str(tmp_path / "flat.npy"), "--out", str(tmp_path / "o")], "no frames"),
        (["average", str(ok), "--levels", "1,64", "--out", str(tmp_path / "o")], "needs 64"),
        (["average", str(ok), "--levels", "a", "--out", str(tmp_path / "o")], "whole numbers"),
        (["average", str(ok), "--out", str(ok)], "not a folder"),
        (["metrics", str(tmp_path / "small.npy"), str(tmp_path / "flat.npy")], "different shapes"),
        (["metrics", str(tmp_path / "nan.npy"), str(tmp_path / "small.npy")], "NaN"),
        (
            [
                "train",
                "--model",
                "dncnn",
                "--data",
                str(tmp_path),
                "--out",
                str(tmp_path / "o"),
                "--max-minutes",
                "0",
            ],
            "--max-minutes must be positive",
        ),
    ]


def test_user_errors_exit_2_with_one_line(tmp_path, capsys):
    for argv, match in _bad_inputs(tmp_path):
        code, _, err = run(capsys, *argv)
        assert code == 2, argv
        assert match in err and err.count("\n") == 1, (argv, err)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.parametrize(
    "argv, match",
    [
        (["average"], "required"),
        (["average", "x.tif", "--out", "o", "--mode", "median"], "invalid choice"),
        (["metrics", "a.npy", "b.npy", "--data-range", "wide"], "'wide' is not a number"),
    ],
)
def test_argument_errors_exit_2_with_one_line(argv, match, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and match in err and err.count("\n") == 1


def test_subprocess_error_has_no_traceback_and_torch_stays_unloaded(tmp_path):
    (tmp_path / "corrupt.tif").write_bytes(b"II*\x00" + b"\x00" * 40)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_w2s.cli",
            "average",
            str(tmp_path / "corrupt.tif"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("w2s average: error:")
    proc = subprocess.run(
        [sys.executable, "-m", "napari_w2s.cli", "average", "--levels", "x"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    code = (
        "import sys, napari_w2s, napari_w2s.cli, napari_w2s._reader, napari_w2s._writer; "
        "print(sorted(m for m in ('torch', 'napari', 'PyQt5', 'PyQt6', 'qtpy') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("sub", ["", "demo", "average", "metrics"])
def test_help(sub, capsys):
    with pytest.raises(SystemExit) as exc:
        main([sub, "--help"] if sub else ["--help"])
    assert exc.value.code == 0
    assert "usage: w2s" in capsys.readouterr().out


def test_demo_end_to_end(tmp_path, capsys):
    code, out, _ = run(
        capsys, "demo", "--out", str(tmp_path / "demo"), "--size", "96", "--frames", "300", "--json"
    )
    assert code == 0
    report = json.loads(out)
    rows = {r["level"]: r for r in report["levels_vs_clean"]}
    assert list(rows) == ["avg1", "avg2", "avg4", "avg8", "avg16"]
    psnrs = [rows[k]["psnr"] for k in rows]
    # each doubling of averaged frames gains about 3 dB (variance halves)
    assert all(2.0 < b - a < 4.0 for a, b in zip(psnrs, psnrs[1:])), psnrs
    assert (tmp_path / "demo" / "avg300.tif").exists()
    noise = report["noise_estimates"]
    assert noise["paired"]["a"] == pytest.approx(noise["true"]["a"], rel=0.1)
    assert report["kernel"]["correlation_with_truth"] > 0.95
    bicubic = next(r for r in report["restoration_avg1_vs_sim"] if r["method"] == "bicubic")
    assert 0 < bicubic["ssim"] < 1 and (tmp_path / "demo" / bicubic["file"]).exists()
    pure = next(r for r in report["restoration_avg1_vs_sim"] if r["method"] == "pure-let+bicubic")
    assert pure["rmse"] < bicubic["rmse"]  # denoising first helps
    methods = [r["method"] for r in report["restoration_avg1_vs_sim"]]
    assert methods[2:] == [
        "dncnn+bicubic",
        "dncnn+rcan",
        "ridnet+rcan",
        "care",
        "jdsr-rcan",
        "jdsr",
    ]  # every shipped sequence and joint model
    assert (tmp_path / "demo" / "demo_figure.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "demo" / "demo_report.json").read_text()) == report


def test_simulate_writes_the_w2s_layout(tmp_path, capsys):
    out = tmp_path / "ds"
    code, stdout, err = run(
        capsys,
        "simulate",
        str(out),
        "--fovs",
        "2",
        "--size",
        "32",
        "--frames",
        "20",
        "--channels",
        "1",
        "--seed",
        "4",
        "--json",
    )
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["split"] == {"train": [1], "test": [2]}
    assert np.load(out / "Image002" / "wf_channel0.npy").shape == (20, 32, 32)
    truth = json.loads((out / "Image001" / "truth_channel0.json").read_text())
    assert truth["noise"]["a_adu"] > 0 and "psf_fwhm_nm" in truth
    code, _, err = run(capsys, "simulate", str(out), "--size", "32", "--frames", "20")
    assert code == 2 and "already holds" in err and err.count("\n") == 1
    code, _, err = run(capsys, "simulate", str(tmp_path / "x"), "--size", "33")
    assert code == 2 and "even size" in err
