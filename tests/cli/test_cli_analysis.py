"""`w2s estimate-noise` and `w2s estimate-kernel`: JSON, numbers, exit codes, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_w2s.analysis import _synthetic as S
from napari_w2s.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def noisy_clean(tmp_path_factory):
    d = tmp_path_factory.mktemp("noise")
    rng = np.random.default_rng(0)
    y = 110 + 400 * S.blobs((192, 192), rng)
    z = S.poisson_gaussian(y, 2.0, -191.0, rng, offset=100.0)
    tifffile.imwrite(d / "avg1.tif", z.astype(np.float32))
    np.save(d / "avg400.npy", y.astype(np.float32))
    return d


def test_estimate_noise_json(noisy_clean, capsys):
    code, out, err = run(capsys, "estimate-noise", str(noisy_clean / "avg1.tif"), "--json")
    assert code == 0, err
    r = json.loads(out)
    assert set(r) >= {"a", "b", "method", "n_level_sets", "a_01", "b_01", "clip"}
    assert r["method"] == "single-image" and r["n_level_sets"] >= 10
    assert r["a"] == pytest.approx(2.0, rel=0.15)
    assert r["a_01"] == pytest.approx(r["a"] / (r["image_max"] - r["image_min"]))


def test_estimate_noise_paired_and_text(noisy_clean, capsys):
    code, out, _ = run(
        capsys,
        "estimate-noise",
        str(noisy_clean / "avg1.tif"),
        "--clean",
        str(noisy_clean / "avg400.npy"),
        "--json",
    )
    assert code == 0
    r = json.loads(out)
    assert r["method"] == "paired" and r["a"] == pytest.approx(2.0, rel=0.03)
    assert r["b"] == pytest.approx(-191.0, rel=0.1)
    code, out, _ = run(capsys, "estimate-noise", str(noisy_clean / "avg1.tif"))
    assert code == 0 and out.startswith("a = ") and "[0, 1] scale" in out


def test_estimate_kernel_writes_npy(tmp_path, capsys):
    rng = np.random.default_rng(1)
    hr = 0.5 * S.filaments((192, 192), rng, n=20, blur=0.7) + 0.5 * S.blobs((192, 192), rng)
    true = S.gaussian_kernel(41, 3.0)
    np.save(tmp_path / "hr.npy", hr)
    np.save(tmp_path / "lr.npy", S.blur_and_downsample(hr, true))
    code, out, err = run(
        capsys,
        "estimate-kernel",
        str(tmp_path / "lr.npy"),
        str(tmp_path / "hr.npy"),
        "--size",
        "24",
        "--out",
        str(tmp_path / "k.npy"),
        "--json",
    )
    assert code == 0, err
    r = json.loads(out)
    assert r["fwhm_px"] == pytest.approx(2.3548 * 3.0, rel=0.10)
    assert r["size"] == 24 and r["upsample"] == "bicubic"
    k = np.load(tmp_path / "k.npy")
    assert k.shape == (24, 24) and k.sum() == pytest.approx(1.0)
    code, out, _ = run(
        capsys,
        "estimate-kernel",
        str(tmp_path / "lr.npy"),
        str(tmp_path / "hr.npy"),
        "--upsample",
        "bilinear",
    )
    assert code == 0 and out.startswith("FWHM")


def test_user_errors_exit_2_with_one_line(tmp_path, capsys):
    rng = np.random.default_rng(2)
    np.save(tmp_path / "flat.npy", np.ones((64, 64)))
    np.save(tmp_path / "stack.npy", rng.random((3, 64, 64)))
    np.save(tmp_path / "img.npy", rng.random((64, 64)))
    np.save(tmp_path / "small.npy", rng.random((16, 16)))
    np.save(tmp_path / "other.npy", rng.random((64, 48)))
    cases = [
        (["estimate-noise", str(tmp_path / "missing.tif")], "no such file"),
        (["estimate-noise", str(tmp_path / "flat.npy")], "constant"),
        (
            ["estimate-noise", str(tmp_path / "img.npy"), "--clean", str(tmp_path / "stack.npy")],
            "not a stack",
        ),
        (["advise", str(tmp_path / "flat.npy")], "constant"),
        (["advise", str(tmp_path / "img.npy"), "--frames", "1,x"], "--frames"),
        (["estimate-noise", str(tmp_path / "small.npy")], "too small"),
        (
            ["estimate-noise", str(tmp_path / "img.npy"), "--clean", str(tmp_path / "other.npy")],
            "different shapes",
        ),
        (["estimate-noise", str(tmp_path / "img.npy"), "--clip", "x"], "--clip"),
        (["estimate-kernel", str(tmp_path / "img.npy"), str(tmp_path / "img.npy")], "twice"),
        (
            [
                "estimate-kernel",
                str(tmp_path / "small.npy"),
                str(tmp_path / "img.npy"),
                "--out",
                str(tmp_path / "k.txt"),
            ],
            ".npy",
        ),
    ]
    for argv, match in cases:
        code, _, err = run(capsys, *argv)
        assert code == 2, argv
        assert match in err and err.count("\n") == 1, (argv, err)


def test_estimate_noise_stack_and_advise(tmp_path, capsys):
    rng = np.random.default_rng(3)
    y = 200.0 + 800.0 * S.blobs((96, 96), rng)
    frames = np.stack([S.poisson_gaussian(y, 2.0, -150.0, rng, offset=100.0) for _ in range(24)])
    tifffile.imwrite(tmp_path / "stack.tif", frames.astype(np.float32), metadata={"axes": "TYX"})
    code, out, err = run(capsys, "estimate-noise", str(tmp_path / "stack.tif"), "--json")
    assert code == 0, err
    r = json.loads(out)
    assert r["method"] == "frames" and r["answered_by"] == "frames"
    assert r["a"] == pytest.approx(2.0, rel=0.03) and r["a_ci"][0] < r["a"] < r["a_ci"][1]
    assert r["details"]["pairs_used"] == 23
    code, out, err = run(
        capsys, "estimate-noise", str(tmp_path / "stack.tif"), "--single", "--frame", "3", "--json"
    )
    assert code == 0, err
    r = json.loads(out)
    # one small frame: a rough answer, but an interval that says so
    assert r["answered_by"] == "single image" and r["a_ci"][0] < 2.0 < r["a_ci"][1]
    code, out, err = run(
        capsys,
        "advise",
        str(tmp_path / "stack.tif"),
        "--json",
        "--target-psnr",
        "40",
        "--frames",
        "1,2,4",
    )
    assert code == 0, err
    r = json.loads(out)
    assert r["answered_by"] == "frames" and [p["frames"] for p in r["predictions"]] == [1, 2, 4]
    p = [row["psnr"] for row in r["predictions"]]
    assert p[1] - p[0] == pytest.approx(3.0103, abs=1e-3) and r["frames_needed"] >= 1
    code, out, err = run(capsys, "advise", str(tmp_path / "stack.tif"), "--target-psnr", "40")
    assert code == 0 and "average at least" in out
    code, out, err = run(
        capsys, "estimate-noise", str(tmp_path / "stack.tif"), "--single", "--frame", "99"
    )
    assert code == 2 and "--frame 99" in err and err.count("\n") == 1


@pytest.mark.parametrize("sub", ["estimate-noise", "estimate-kernel", "advise"])
def test_help(sub, capsys):
    with pytest.raises(SystemExit) as exc:
        main([sub, "--help"])
    assert exc.value.code == 0 and "usage: w2s" in capsys.readouterr().out


def test_argument_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["estimate-kernel", "a.npy", "b.npy", "--upsample", "nearest"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "invalid choice" in err and err.count("\n") == 1
