"""Classical denoisers (PURE-LET, VST+NLM, VST+BM3D, VST+EPLL) on simulated avg1 frames."""

from __future__ import annotations

import numpy as np
import pytest

from napari_w2s import W2SInputError
from napari_w2s.analysis.metrics import psnr
from napari_w2s.restore import classical
from napari_w2s.restore.classical import BM3D_MISSING, METHODS, ClassicalStep
from napari_w2s.restore.pure_let import pure_let_single, to_photons


def _run(gen):
    steps = []
    try:
        while True:
            steps.append(next(gen))
    except StopIteration as stop:
        return stop.value, steps


@pytest.fixture(scope="module")
def frame():
    """One raw (avg1) 128 x 128 frame of channel 1, its expectation and the true (a, b)."""
    from napari_w2s.simulate.sample import sample

    s = sample(size=128, frames=1, channel=1, seed=11)
    npar = s.view.noise_params()
    return s.stack[0], s.view.expected_clean(), (npar["a_adu"], npar["b_adu"])


# PSNR gain (dB) over the noisy frame measured with the true noise parameters on this frame
# (pure-let 8.70, vst-nlm 7.55, vst-epll 10.59), asserted with a 1.2 dB safety margin
MIN_GAIN = {"pure-let": 7.5, "vst-nlm": 6.3, "vst-epll": 9.3}


@pytest.mark.parametrize("method", sorted(MIN_GAIN))
def test_denoiser_improves_psnr(frame, method):
    noisy, clean, noise = frame
    step = ClassicalStep(method, noise=noise)
    out, steps = _run(step.iter_run(noisy))
    assert out.shape == noisy.shape and out.dtype == np.float32
    gain = psnr(out, clean) - psnr(noisy, clean)
    assert gain > MIN_GAIN[method], f"{method}: {gain:.2f} dB"
    assert steps[-1][0] == steps[-1][1] and len(steps) >= 3  # progress for a GUI
    assert step.describe()["noise_source"] == "given"


def test_estimated_noise_path(frame):
    noisy, clean, (a, b) = frame
    step = ClassicalStep("pure-let")
    out, _ = _run(step.iter_run(noisy))
    est_a, est_b = step.used_noise
    assert est_a == pytest.approx(a, rel=0.25)
    assert psnr(out, clean) - psnr(noisy, clean) > MIN_GAIN["pure-let"] - 1.0
    assert step.describe()["noise_source"] == "estimated"


def test_pure_tracks_true_mse():
    """On a Poisson + Gaussian image with known expectation, PURE is the MSE within a few %."""
    from napari_w2s.simulate.sample import sample

    clean = sample(size=256, frames=1, channel=0, seed=3).view.expected_clean()
    x = np.maximum((clean - 100.0) / 8.0, 0.0)  # photons
    rel = []
    for s2 in (0.0, 1.0):
        rng = np.random.default_rng(5)
        y = rng.poisson(x) + rng.normal(0.0, np.sqrt(s2), x.shape)
        res = pure_let_single(y, s2, levels=4)
        mse = float(np.mean((res.estimate - x) ** 2))
        noisy_mse = float(np.mean((y - x) ** 2))
        assert mse < 0.25 * noisy_mse
        rel.append(res.pure / mse - 1.0)
    assert max(abs(r) for r in rel) < 0.06, rel


def test_pure_let_is_linear_in_units(frame):
    """ADU <-> photons: the same image in other units (gain x2) gives the same result x2."""
    noisy, _, (a, b) = frame
    out1, _ = _run(ClassicalStep("pure-let", noise=(a, b), cycle_spins=2).iter_run(noisy))
    out2, _ = _run(
        ClassicalStep("pure-let", noise=(2 * a, 4 * b), cycle_spins=2).iter_run(
            2.0 * noisy.astype(np.float32)
        )
    )
    np.testing.assert_allclose(out2, 2 * out1, rtol=1e-4, atol=1e-3)


def test_to_photons_split():
    y, s2, off = to_photons(np.array([108.0]), 8.0, -791.0)
    assert s2 == 0.0 and off == pytest.approx(98.875) and y[0] == pytest.approx(9.125 / 8)
    y, s2, off = to_photons(np.array([8.0]), 2.0, 4.0)
    assert off == 0.0 and s2 == pytest.approx(1.0) and y[0] == pytest.approx(4.0)


def test_odd_sizes(frame):
    noisy, _, noise = frame
    img = noisy[:77, :101]
    for method in ("pure-let", "vst-epll"):
        out, _ = _run(ClassicalStep(method, noise=noise).iter_run(img))
        assert out.shape == img.shape and np.isfinite(out).all()


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4, 3)), np.full((32, 32), np.nan), np.zeros((4, 4)), np.array([["a"] * 16] * 16)],
)
def test_bad_input(bad):
    with pytest.raises(W2SInputError):
        _run(ClassicalStep("pure-let", noise=(1.0, 0.0)).iter_run(bad))


@pytest.mark.parametrize("noise", [(0.0, 1.0), (-1.0, 0.0), (float("nan"), 0.0), (1.0,)])
def test_bad_noise(noise):
    with pytest.raises(W2SInputError):
        ClassicalStep("vst-nlm", noise=noise)


def test_unknown_method():
    with pytest.raises(W2SInputError, match="unknown classical method"):
        ClassicalStep("vst-foo")


def test_constant_image_passes_through_unchanged_with_a_note():
    step = ClassicalStep("vst-nlm")
    out, _ = _run(step.iter_run(np.full((64, 64), 100.0)))
    assert np.all(out == 100.0) and "1 constant plane(s)" in step.note


def test_methods_listed():
    assert set(METHODS) == {"bicubic", "pure-let", "vst-nlm", "vst-bm3d", "vst-epll"}
    assert set(classical.DESCRIPTIONS) == set(METHODS)


def test_bm3d_missing_message(frame, monkeypatch):
    monkeypatch.setattr(classical, "bm3d_available", lambda: False)
    noisy, _, noise = frame
    with pytest.raises(W2SInputError) as info:
        _run(ClassicalStep("vst-bm3d", noise=noise).iter_run(noisy))
    assert str(info.value) == (
        "vst-bm3d needs the optional bm3d package (non-commercial licence): "
        "pip install 'napari-w2s[bm3d]'"
    )
    assert str(info.value) == BM3D_MISSING


def test_vst_bm3d_real(frame):
    pytest.importorskip("bm3d")
    noisy, clean, noise = frame
    out, _ = _run(ClassicalStep("vst-bm3d", noise=noise).iter_run(noisy[:64, :64]))
    gain = psnr(out, clean[:64, :64]) - psnr(noisy[:64, :64], clean[:64, :64])
    assert gain > 9.0  # measured 10.8


def test_epll_prior_file():
    from napari_w2s.restore.epll import PRIOR_PATH, load_prior

    assert PRIOR_PATH.stat().st_size < 2_000_000
    with np.load(PRIOR_PATH, allow_pickle=False) as f:
        assert f["covs"].dtype == np.float32 and f["weights"].dtype == np.float32
    prior = load_prior()
    assert prior.patch == 8 and np.isclose(prior.weights.sum(), 1.0)
    assert (prior.eigvals >= 0).all()


def test_epll_bad_prior(tmp_path):
    from napari_w2s.restore.epll import load_prior

    bad = tmp_path / "bad.npz"
    np.savez(
        bad,
        weights=np.ones(2, np.float32),
        covs=np.zeros((2, 3, 3), np.float32),
        patch_size=np.int32(8),
    )
    with pytest.raises(W2SInputError):
        load_prior(bad)
