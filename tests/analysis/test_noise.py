"""Noise estimation against synthetic images whose Poisson-Gaussian parameters are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_w2s import W2SInputError
from napari_w2s.analysis import _synthetic as S
from napari_w2s.analysis.noise import (
    clipped_normal_moments,
    detect_clipping,
    estimate_noise,
    estimate_noise_paired,
    rescale_params,
)


def _cases(seed: int, size: int = 256):
    """(name, noisy, clean, a, b): different structures, an offset, saturation, zero clipping."""
    rng = np.random.default_rng(seed)
    sh = (size, size)
    specs = [
        ("poisson", 2 + 98 * S.blobs(sh, rng), 1.0, 0.0, 0.0, (None, None)),
        ("adu-offset", 110 + 400 * S.blobs(sh, rng), 2.0, -191.0, 100.0, (None, None)),
        ("filaments", 0.05 + 0.75 * S.filaments(sh, rng, n=15), 0.02, 1e-4, 0.0, (None, None)),
        ("saturated", 0.05 + 1.3 * S.blobs(sh, rng), 0.01, 2e-4, 0.0, (None, 1.0)),
        ("zero-clipped", 0.8 * S.blobs(sh, rng) ** 1.5, 0.01, 4e-4, 0.0, (0.0, None)),
    ]
    for name, y, a, b, off, clip in specs:
        yield name, S.poisson_gaussian(y, a, b, rng, offset=off, clip=clip), y, a, b


@pytest.fixture(scope="module")
def results():
    rows = []
    for seed in (0, 1):
        for name, z, y, a, b in _cases(seed):
            rows.append((name, a, b, estimate_noise(z), estimate_noise_paired(z, y)))
    return rows


def test_single_image_a_within_10_percent_median(results):
    errors = [abs(est.a / a - 1) for _, a, _, est, _ in results]
    assert np.median(errors) < 0.10, errors
    assert max(errors) < 0.35, errors  # a thin-structure image has little smooth range


def test_paired_a_within_3_percent(results):
    errors = [abs(p.a / a - 1) for _, a, _, _, p in results]
    assert np.median(errors) < 0.03 and max(errors) < 0.05, errors


def test_b_with_offset_is_in_image_units(results):
    for name, a, b, est, paired in results:
        if name == "adu-offset":  # b = read variance 9 - gain 2 * offset 100
            assert paired.b == pytest.approx(b, abs=0.05 * abs(b))
            assert est.b == pytest.approx(b, abs=0.2 * abs(b))
            # the variance law itself at a bright level is right within 10 %
            assert est.variance(400.0) == pytest.approx(a * 400 + b, rel=0.10)


def test_saturation_is_detected_and_does_not_bias(results):
    rows = [r for r in results if r[0] == "saturated"]
    for _, a, _, est, paired in rows:
        assert est.clip[1] == 1.0 and est.clip[0] == -math.inf
        assert abs(est.a / a - 1) < 0.10 and abs(paired.a / a - 1) < 0.03


def test_unclipped_model_is_biased_on_saturated_data():
    rng = np.random.default_rng(5)
    y = 0.05 + 1.6 * S.blobs((256, 256), rng)
    z = S.poisson_gaussian(y, 0.01, 2e-4, rng, clip=(None, 1.0))
    clipped = estimate_noise(z)
    plain = estimate_noise(z, clip=None)
    assert abs(clipped.a / 0.01 - 1) < 0.10
    assert abs(plain.a / 0.01 - 1) > abs(clipped.a / 0.01 - 1)


def test_level_sets_and_curve_for_plotting(results):
    est = results[1][3]
    assert est.means.shape == est.stds.shape == est.counts.shape == est.used.shape
    assert est.used.sum() >= 10 and (est.counts >= 32).all()
    assert est.curve_mean.shape == est.curve_std.shape == (200,)
    # the curve follows the level-set points: median relative deviation a few percent
    fit = np.interp(est.means, est.curve_mean, est.curve_std)
    assert np.median(np.abs(est.stds / fit - 1)) < 0.06
    d = est.to_dict()
    assert set(d) >= {"a", "b", "method", "n_level_sets", "level_sets"}


def test_scale_invariance_and_rescaling():
    rng = np.random.default_rng(3)
    y = 110 + 400 * S.blobs((256, 256), rng)
    z = S.poisson_gaussian(y, 2.0, -191.0, rng, offset=100.0)
    e1, e2 = estimate_noise(z), estimate_noise(10 * z + 5)
    # var(10 z + 5) = 100 (a z + b) = 10 a (10 z + 5) + 100 b - 50 a
    assert e2.a == pytest.approx(10 * e1.a, rel=0.02)
    a01, b01 = rescale_params(e1.a, e1.b, z.min(), z.max())
    assert a01 == pytest.approx(e1.a / (z.max() - z.min()))
    assert b01 == pytest.approx((e1.b + e1.a * z.min()) / (z.max() - z.min()) ** 2)


def test_gat_params_turn_a_negative_b_into_an_offset():
    rng = np.random.default_rng(4)
    y = 110 + 400 * S.blobs((128, 128), rng)
    est = estimate_noise_paired(S.poisson_gaussian(y, 2.0, -191.0, rng, offset=100.0), y)
    a, sigma2, offset = est.gat_params()
    assert sigma2 == 0 and a * (150 - offset) == pytest.approx(a * 150 + est.b)


def test_clipped_normal_moments_against_sampling():
    rng = np.random.default_rng(0)
    for mu, sd, lo, hi in [(0.1, 0.3, 0.0, 1.0), (0.95, 0.1, -math.inf, 1.0), (5, 2, 0, math.inf)]:
        x = np.clip(rng.normal(mu, sd, 400_000), lo, hi)
        m, s = clipped_normal_moments(mu, sd, lo, hi)
        assert m == pytest.approx(x.mean(), abs=2e-3 * sd)
        assert s == pytest.approx(x.std(), rel=5e-3)
    m, s = clipped_normal_moments(3.0, 2.0)
    assert (m, s) == pytest.approx((3.0, 2.0))


def test_detect_clipping():
    rng = np.random.default_rng(1)
    assert detect_clipping(rng.poisson(1.0, (64, 64))) == (-math.inf, math.inf)
    z = np.clip(rng.normal(0.9, 0.1, (64, 64)), 0, 1.0)
    assert detect_clipping(z) == (-math.inf, 1.0)
    z = np.clip(rng.normal(0.05, 0.1, (64, 64)), 0, None)
    assert detect_clipping(z) == (0.0, math.inf)


@pytest.mark.parametrize(
    "image, match",
    [
        (np.ones((64, 64)), "constant"),
        (np.random.default_rng(0).random((16, 64)), "too small"),
        (np.random.default_rng(0).random((4, 64, 64)), "2-D"),
        (np.where(np.eye(64) > 0, np.nan, 1.0) + np.random.default_rng(0).random((64, 64)), "NaN"),
        (np.array([["a"] * 64] * 64), "not a number"),
    ],
)
def test_bad_images_raise(image, match):
    with pytest.raises(W2SInputError, match=match):
        estimate_noise(image)


def test_paired_bad_inputs_raise():
    rng = np.random.default_rng(0)
    z = rng.random((64, 64))
    with pytest.raises(W2SInputError, match="different shapes"):
        estimate_noise_paired(z, z[:, :40].copy())
    with pytest.raises(W2SInputError, match="constant"):
        estimate_noise_paired(z, np.ones_like(z))
    with pytest.raises(W2SInputError, match="frames"):
        estimate_noise_paired(z, z, frames=(4, 2))


def test_paired_nested_frames_correction():
    # avg4 from 4 of 16 frames, clean = avg16 of the same frames: residual variance (1 - 4/16)
    rng = np.random.default_rng(2)
    y = 0.1 + 0.8 * S.blobs((192, 192), rng)
    frames = np.stack([S.poisson_gaussian(y, 0.02, 1e-4, rng) for _ in range(16)])
    noisy, clean = frames[:4].mean(0), frames.mean(0)
    est = estimate_noise_paired(noisy, clean, frames=(4, 16))
    assert est.a == pytest.approx(0.02 / 4, rel=0.04)
    raw = estimate_noise_paired(noisy, clean)
    assert raw.a == pytest.approx(0.75 * 0.02 / 4, rel=0.04)


# ---------------------------------------------------------------------------------- issue 17
def _sim_frames(params, channel=0, seed=0, n=40):
    from napari_w2s.simulate import simulate_view

    view = simulate_view(params, channel=channel, seed=seed)
    return view, view.frames(0, n)


def _dense_clipped_frame(size=128):
    from dataclasses import replace

    from napari_w2s.simulate import ViewParams, simulate_view

    p = replace(ViewParams(size=size, frames=400), peak_photons=25000.0, mix=(("network", 1.0),))
    view = simulate_view(p, channel=0, seed=21)
    return view.frames(249, 250)[0], view.noise_params()["a_adu"]


def test_single_image_spectral_estimate_on_dense_clipped_image():
    # a dense network clipped at the top has few smooth positions; beyond the optical cut-off
    # every pixel holds noise only: the spectral estimator answers within a few percent
    frame, a = _dense_clipped_frame(192)
    est = estimate_noise(frame)
    assert est.method == "single-image" and est.extra["estimator"] == "spectral"
    assert 0.33 <= est.extra["cutoff"] <= 0.5 and math.isfinite(est.clip[1])
    assert abs(est.a / a - 1) < 0.05
    assert est.a_ci[0] <= a <= est.a_ci[1]


def test_single_image_wavelet_fallbacks_answer_with_a_wide_interval():
    # the wavelet estimator (Foi et al.) on the same image: the old one refused it (too few
    # smooth positions); now an answer, a note and an interval that holds the truth
    frame, a = _dense_clipped_frame()
    est = estimate_noise(frame, estimator="wavelet")
    assert est.extra["estimator"] == "wavelet" and est.extra["fallback"] >= 1 and est.notes
    assert est.a_ci[0] <= a <= est.a_ci[1]
    assert est.a_ci[1] - est.a_ci[0] > 0.2 * est.a  # widened
    assert abs(est.a / a - 1) < 0.5


def test_spectral_estimator_refuses_an_undersampled_image():
    # structure finer than the pixels (its spectrum still falls in the corners): no band
    from scipy import ndimage as ndi

    rng = np.random.default_rng(8)
    x = ndi.gaussian_filter(rng.random((128, 128)), 0.5)
    z = S.poisson_gaussian(100 + 2000 * (x - x.min()) / np.ptp(x), 1.0, 0.0, rng)
    with pytest.raises(W2SInputError, match="noise-only band"):
        estimate_noise(z, estimator="spectral")
    assert estimate_noise(z).extra["estimator"] == "wavelet"
    with pytest.raises(W2SInputError, match="estimator"):
        estimate_noise(z, estimator="fourier")


def test_single_image_interval_on_an_easy_image(results):
    for name, a, b, est, _ in results:
        assert est.a_ci[0] < est.a < est.a_ci[1]
        assert est.extra["fallback"] == 0
    d = results[0][3].to_dict()
    assert "a_ci" in d and "b_ci" in d


def test_stack_estimate_within_2_percent():
    from napari_w2s.analysis.noise import estimate_noise_stack
    from napari_w2s.simulate import ViewParams

    view, frames = _sim_frames(ViewParams(size=96, frames=400, bleach_loss=0.0), n=60)
    a, b = view.noise_params()["a_adu"], view.noise_params()["b_adu"]
    est = estimate_noise_stack(frames)
    assert est.method == "frames"
    assert est.a == pytest.approx(a, rel=0.03) and est.b == pytest.approx(b, rel=0.05)
    assert est.a_ci[0] < est.a < est.a_ci[1] and est.extra["pairs_rejected"] == 0


def test_stack_estimate_with_1_percent_bleaching_and_scmos():
    from napari_w2s.analysis.noise import estimate_noise_stack
    from napari_w2s.simulate import Camera, ViewParams

    n = 60
    cam = Camera(kind="poisson-gaussian", adu_per_electron=0.5, offset=400.0, read_noise=0.8)
    p = ViewParams(size=96, frames=n, bleach_loss=1 - 0.99**n, peak_photons=400.0, camera=cam)
    view, frames = _sim_frames(p, seed=3, n=n)
    a, b = view.noise_params()["a_adu"], view.noise_params()["b_adu"]
    est = estimate_noise_stack(frames)
    assert est.a == pytest.approx(a, rel=0.03) and est.b == pytest.approx(b, rel=0.05)
    assert est.extra["drift_per_frame"] == pytest.approx(-0.01, abs=0.003)


def test_stack_estimate_rejects_moving_pairs():
    from napari_w2s.analysis.noise import estimate_noise_stack
    from napari_w2s.simulate import ViewParams

    view, frames = _sim_frames(ViewParams(size=96, frames=400, bleach_loss=0.0), seed=5, n=40)
    moved = frames.copy()
    moved[20:] = np.roll(frames[20:], (2, 1), axis=(1, 2))  # the sample jumps once
    est = estimate_noise_stack(moved)
    assert est.extra["pairs_rejected"] == 1 and any("left out" in n for n in est.notes)
    assert est.a == pytest.approx(view.noise_params()["a_adu"], rel=0.04)


@pytest.mark.parametrize(
    "frames, match",
    [
        (np.ones((4, 64, 64)), "constant"),
        (np.random.default_rng(0).random((1, 64, 64)), "at least 2"),
        (np.random.default_rng(0).random((4, 16, 64)), "too small"),
        (np.random.default_rng(0).random((64, 64)), "3-D"),
    ],
)
def test_stack_bad_inputs(frames, match):
    from napari_w2s.analysis.noise import estimate_noise_stack

    with pytest.raises(W2SInputError, match=match):
        estimate_noise_stack(frames)


def test_advisor_psnr_is_analytic_and_matches_simulation():
    from napari_w2s.analysis.advisor import advise, frames_for_psnr, predicted_psnr

    # analytic: PSNR grows by 10 log10(2) per doubling
    p1 = predicted_psnr(2.0, 5.0, 100.0, 1000.0, 1)
    assert predicted_psnr(2.0, 5.0, 100.0, 1000.0, 2) == pytest.approx(p1 + 3.0103, abs=1e-3)
    assert p1 == pytest.approx(10 * math.log10(1000.0**2 / 205.0))
    n = frames_for_psnr(2.0, 5.0, 100.0, 1000.0, 45.0)
    assert predicted_psnr(2.0, 5.0, 100.0, 1000.0, n) >= 45.0
    assert predicted_psnr(2.0, 5.0, 100.0, 1000.0, n - 1) < 45.0
    # against the simulator: 16 frames predict held-out averages within 0.5 dB
    rng = np.random.default_rng(0)
    y = 200.0 + 800.0 * S.blobs((96, 96), rng)
    frames = np.stack([S.poisson_gaussian(y, 2.0, -150.0, rng, offset=100.0) for _ in range(48)])
    adv = advise(frames[:16], target_psnr=40.0, levels=(1, 4, 16))
    assert adv.method == "frames" and adv.frames_needed is not None
    dr = float(y.max() - y.min())
    for row in adv.rows:
        avg = frames[16 : 16 + row.frames].mean(0)
        measured = 10 * math.log10(dr**2 / float(np.mean((avg - y) ** 2)))
        assert row.psnr == pytest.approx(measured, abs=0.5)
    with pytest.raises(W2SInputError, match="at least 1"):
        advise(frames[:4], levels=(0,))


def test_nelder_mead_finds_the_minimum_of_a_curved_valley():
    from napari_w2s.analysis._simplex import nelder_mead

    def rosenbrock(p):
        return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2

    x = nelder_mead(rosenbrock, [-1.2, 1.0], xatol=1e-6, fatol=1e-9, maxiter=800)
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-4)
    # a budget too short to converge returns the best point seen, not the start
    early = nelder_mead(rosenbrock, [-1.2, 1.0], maxiter=5)
    assert rosenbrock(early) < rosenbrock(np.array([-1.2, 1.0]))
