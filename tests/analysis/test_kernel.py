"""Kernel estimation (W2S Eq. 2) recovers known kernels from synthetic HR / LR pairs."""

from __future__ import annotations

import numpy as np
import pytest

from napari_w2s import W2SInputError
from napari_w2s.analysis import _synthetic as S
from napari_w2s.analysis.kernel import (
    bicubic_kernel,
    estimate_kernel,
    gaussian_kernel,
    kernel_stats,
    reg_from_lambda,
    upsample2,
)


@pytest.fixture(scope="module")
def hr():
    rng = np.random.default_rng(0)
    return 0.5 * S.filaments((256, 256), rng, n=30, blur=0.7) + 0.5 * S.blobs(
        (256, 256), rng, n=40, sigma=(2, 10)
    )


def _crop(k, size=36):
    c = k.shape[0] // 2
    return k[c - size // 2 : c - size // 2 + size, c - size // 2 : c - size // 2 + size]


@pytest.mark.parametrize(
    "true",
    [
        S.gaussian_kernel(61, 2.5),
        S.gaussian_kernel(61, 3.5),
        S.long_tail_kernel(61, 2.5, 7.0, 0.4),  # a long tail, like W2S's
    ],
)
@pytest.mark.parametrize("upsample", ["bicubic", "bilinear"])
def test_recovers_known_kernel(hr, true, upsample):
    lr = 3.0 * S.blur_and_downsample(hr, true) + 50.0  # other units and an offset
    est = estimate_kernel(lr, hr, upsample=upsample)
    ref = _crop(true)
    ref_stats = kernel_stats(ref)
    assert est.kernel.shape == (36, 36) and est.kernel.sum() == pytest.approx(1.0)
    assert np.corrcoef(est.kernel.ravel(), ref.ravel())[0, 1] > 0.99
    assert est.fwhm_px == pytest.approx(ref_stats["fwhm_px"], rel=0.10)
    assert est.energy_r6 == pytest.approx(ref_stats["energy_r6"], abs=0.03)
    assert est.energy_r12 == pytest.approx(ref_stats["energy_r12"], abs=0.03)
    assert est.centre == pytest.approx((18, 18), abs=0.3)


def test_independent_of_intensity_scale_and_lambda_conversion(hr):
    true = S.gaussian_kernel(41, 3.0)
    lr = S.blur_and_downsample(hr, true)
    k1 = estimate_kernel(lr, hr).kernel
    k2 = estimate_kernel(1000 * lr, 255 * hr).kernel
    np.testing.assert_allclose(k1, k2, atol=1e-10)
    # the authors' absolute lambda and this project's relative reg give the same kernel
    by_lam = estimate_kernel(lr, hr, lam=2500.0)
    by_reg = estimate_kernel(lr, hr, reg=reg_from_lambda(2500.0, hr))
    np.testing.assert_allclose(by_lam.kernel, by_reg.kernel, atol=1e-12)
    assert by_lam.lam == pytest.approx(2500.0)
    assert not np.allclose(by_lam.kernel, estimate_kernel(lr, hr, lam=25.0).kernel, atol=1e-4)


def test_plain_paper_formula_is_worse_on_bordered_images(hr):
    true = S.gaussian_kernel(41, 3.0)
    lr = S.blur_and_downsample(hr, true)
    ref = _crop(true)
    plain = estimate_kernel(lr, hr, taper=0, band_limit=False).kernel
    ours = estimate_kernel(lr, hr).kernel
    corr = [np.corrcoef(k.ravel(), ref.ravel())[0, 1] for k in (plain, ours)]
    assert corr[1] > 0.99 and corr[1] > corr[0]


def test_reference_kernels_and_stats():
    g = gaussian_kernel(36, 2.0)
    st = kernel_stats(g)
    assert st["fwhm_px"] == pytest.approx(2.3548 * 2.0, rel=0.03)
    assert st["sigma_px"] == pytest.approx(2.0, rel=0.02)
    assert st["energy_r6"] == pytest.approx(1 - np.exp(-36 / 8), abs=0.01)
    b = bicubic_kernel(36)
    assert b.sum() == pytest.approx(1.0) and b.min() < 0  # the cubic's negative lobes
    assert kernel_stats(b)["fwhm_px"] < st["fwhm_px"]
    # the cubic stretched x2 is 0 at lags +-2 and +-4: non-zero at lags 0, +-1, +-3 per axis
    assert np.count_nonzero(np.abs(b) > 1e-12) == 5 * 5


def test_upsample2_keeps_constants_and_linear_ramps_aligned():
    ramp = np.add.outer(np.arange(16.0), np.zeros(12))
    up = upsample2(ramp, "bilinear")
    # LR pixel j covers HR pixels 2j, 2j+1: HR pixel i sits at LR coordinate i/2 - 1/4
    np.testing.assert_allclose(up[2:-2, 0], np.arange(2, 30) / 2 - 0.25)
    np.testing.assert_allclose(upsample2(np.full((8, 8), 3.0)), 3.0)
    np.testing.assert_allclose(upsample2(ramp, "bicubic")[3:-3, 0], np.arange(3, 29) / 2 - 0.25)


@pytest.mark.parametrize(
    "lr, hr_, kw, match",
    [
        (np.ones((32, 32)), np.random.default_rng(0).random((64, 64)), {}, "constant"),
        (
            np.random.default_rng(0).random((32, 32)),
            np.random.default_rng(0).random((60, 64)),
            {},
            "twice",
        ),
        (
            np.random.default_rng(0).random((32, 32)),
            np.random.default_rng(0).random((64, 64)),
            {"size": 100},
            "size",
        ),
        (
            np.random.default_rng(0).random((32, 32)),
            np.random.default_rng(0).random((64, 64)),
            {"upsample": "nearest"},
            "upsampling",
        ),
        (np.full((32, 32), np.nan), np.random.default_rng(0).random((64, 64)), {}, "NaN"),
    ],
)
def test_bad_inputs_raise(lr, hr_, kw, match):
    with pytest.raises(W2SInputError, match=match):
        estimate_kernel(lr, hr_, **kw)
