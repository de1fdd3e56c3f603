"""Forward consistency (`w2s check`): the true SIM passes, an invented or erased structure fails."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from napari_w2s.analysis.consistency import check, kernel_for
from napari_w2s.cli import main


@pytest.fixture(scope="module", params=[(2, 1), (4, 0)], ids=["network", "filaments"])
def view(request):
    """A simulated W2S-like view: noise levels, the SIM image, a fake filament, an erased blob."""
    from napari_w2s.averaging import noise_levels
    from napari_w2s.simulate.structures import _splat, worm_like_paths
    from napari_w2s.simulate.view import ViewParams, simulate_view

    seed, channel = request.param
    v = simulate_view(ViewParams(size=128, frames=400), channel=channel, seed=seed)
    lv = noise_levels(v.frames(0, 400))
    sim = v.sim.astype(np.float64)
    bg, top = np.percentile(sim, [10, 99.5])
    fake = np.zeros_like(sim)
    ys, xs = worm_like_paths(np.random.default_rng(seed), 1, sim.shape, 0.032, length_um=(3, 4))[0]
    _splat(fake, ys - ys.mean() + 128, xs - xs.mean() + 128, np.ones(ys.size))
    fake = ndimage.gaussian_filter(fake, 1.0)
    fake *= 0.5 * (top - bg) / fake.max()  # half the brightness of the view's structures
    inner = np.zeros(sim.shape, bool)
    inner[60:-60, 60:-60] = True
    labels, _ = ndimage.label((sim > np.percentile(sim[inner], 99)) & inner)
    brightest = labels[np.unravel_index(np.argmax(np.where(inner, sim, -1)), sim.shape)]
    region = ndimage.binary_dilation(labels == brightest, iterations=3)
    erased = sim.copy()
    erased[region] = bg
    return {"levels": lv, "sim": sim, "fake": fake, "erased": erased, "region": region}


def _lr(mask: np.ndarray) -> np.ndarray:
    h, w = mask.shape[0] // 2, mask.shape[1] // 2
    return mask.reshape(h, 2, w, 2).max((1, 3))


@pytest.mark.parametrize("level, limit", [("avg1", 0.02), ("avg16", 0.05)])
def test_the_true_sim_is_consistent_with_its_widefield(view, level, limit):
    x = view["levels"][level]
    k, source = kernel_for(view["sim"], x)
    r = check(view["sim"], x, k, kernel_source=source)
    assert r.verdict == "consistent" and r.outside_3sigma <= limit, r.to_dict()
    assert "fitted" in source and np.isnan(r.z[0, 0]) and np.isfinite(r.z[64, 64])


def test_an_invented_filament_is_flagged(view):
    x = view["levels"]["avg1"]
    restored = view["sim"] + view["fake"]
    k, _ = kernel_for(restored, x)
    r = check(restored, x, k)
    on_fake = _lr(view["fake"] > 0.25 * view["fake"].max())
    assert r.verdict == "inconsistent", r.to_dict()
    assert np.nanmean(np.abs(r.z[on_fake])) >= 2.5
    assert np.nanmean(np.abs(r.z[on_fake])) > 3 * np.nanmean(np.abs(r.z[~on_fake]))


def test_an_erased_structure_is_flagged(view):
    x = view["levels"]["avg1"]
    k, _ = kernel_for(view["erased"], x)
    r = check(view["erased"], x, k)
    assert r.verdict == "inconsistent", r.to_dict()
    assert np.nanmean(np.abs(r.z[_lr(view["region"])])) >= 5


def test_pure_noise_gives_a_standard_normal_map():
    """A same-size 'restoration' equal to the clean image: z is noise only, std about 1."""
    rng = np.random.default_rng(0)
    clean = ndimage.gaussian_filter(rng.uniform(100, 900, (160, 160)), 3)
    noisy = clean + rng.normal(0, np.sqrt(2.0 * clean + 25.0))
    r = check(clean, noisy, noise=(2.0, 25.0), fit_affine=False)
    z = r.z[np.isfinite(r.z)]
    assert 0.85 < float(z.std()) < 1.15 and abs(float(z.mean())) < 0.1
    assert r.verdict == "consistent" and r.outside_3sigma < 0.01


def test_cli_check_writes_the_map_and_json(view, tmp_path, capsys):
    np.save(tmp_path / "in.npy", view["levels"]["avg1"].astype(np.float32))
    np.save(tmp_path / "fake.npy", (view["sim"] + view["fake"]).astype(np.float32))
    code = main(
        [
            "check",
            str(tmp_path / "fake.npy"),
            str(tmp_path / "in.npy"),
            "--map",
            str(tmp_path / "z.npy"),
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["verdict"] == "inconsistent" and out["outside_3sigma"] > 0.005
    assert {"max_abs_z", "a", "b", "kernel_source", "rule"} <= set(out)
    z = np.load(tmp_path / "z.npy")
    assert z.shape == (128, 128) and z.dtype == np.float32


def test_cli_check_refuses_bad_input(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.ones((64, 64), np.float32))
    np.save(tmp_path / "b.npy", np.ones((100, 90), np.float32))
    for extra in (
        [],
        ["--na", "1.4"],
        ["--noise", "x,y"],
        ["--window", "4"],
        ["--map", str(tmp_path / "a.npy")],
    ):
        code = main(["check", str(tmp_path / "b.npy"), str(tmp_path / "a.npy"), *extra])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1, (extra, err)


def test_the_threaded_filters_give_scipy_s_results_exactly():
    """The check's filters split a large image's lines across threads and keep the image's
    transform for repeated convolutions: the same numbers as one scipy call, to the bit."""
    from scipy.signal import fftconvolve

    from napari_w2s.analysis import _filters

    rng = np.random.default_rng(7)
    image = rng.normal(100.0, 20.0, (700, 530))
    assert image.size >= _filters.MIN_THREADED
    for sigma in (1.5, 8.0):
        expected = ndimage.gaussian_filter(image, sigma, mode="reflect")
        assert np.array_equal(_filters.gaussian(image, sigma), expected)
    assert np.array_equal(_filters.box(image, 5), ndimage.uniform_filter(image, 5, mode="reflect"))
    kernel = rng.random((36, 36))
    padded = np.pad(image, ((18, 17), (18, 17)), mode="reflect")
    expected = fftconvolve(padded, kernel[::-1, ::-1], mode="valid")
    got = _filters.Convolver(image, kernel.shape)(kernel)
    assert got.shape == image.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9 * np.abs(expected).max())
