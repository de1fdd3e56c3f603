"""Generalised Anscombe transform: variance stabilisation and the exact unbiased inverse."""

from __future__ import annotations

import numpy as np
import pytest

from napari_w2s import W2SInputError
from napari_w2s.analysis.vst import (
    expected_gat,
    gat,
    inverse_gat_algebraic,
    inverse_gat_asymptotic,
    inverse_gat_exact,
)

A, SIGMA2, OFFSET = 2.0, 9.0, 100.0  # gain 2 ADU / photon, read noise 3 ADU, offset 100 ADU


def _sample(lam, n, rng):
    return OFFSET + A * rng.poisson(lam, n) + rng.normal(0, np.sqrt(SIGMA2), n)


@pytest.mark.parametrize("lam", [4.0, 10.0, 40.0, 200.0])
def test_gat_stabilises_variance_to_one(lam):
    f = gat(_sample(lam, 200_000, np.random.default_rng(0)), A, SIGMA2, OFFSET)
    assert f.var() == pytest.approx(1.0, abs=0.06)


@pytest.mark.parametrize("lam", [1.0, 2.0, 3.0, 5.0])
def test_exact_inverse_is_unbiased_where_the_algebraic_one_is_not(lam):
    rng = np.random.default_rng(1)
    d = gat(_sample(lam, 400_000, rng), A, SIGMA2, OFFSET).mean()  # a perfect denoiser
    y = A * lam + OFFSET
    exact = inverse_gat_exact(d, A, SIGMA2, OFFSET)
    algebraic = inverse_gat_algebraic(d, A, SIGMA2, OFFSET)
    assert abs((exact - OFFSET) / (y - OFFSET) - 1) < 0.01
    assert abs((algebraic - OFFSET) / (y - OFFSET) - 1) > 0.04  # 5 % at 5 photons, 28 % at 1


def test_exact_inverse_inverts_the_expectation_table():
    lam = np.array([0.0, 0.3, 1.0, 7.5, 60.0, 150.0, 1000.0])
    for s in (0.0, 1.5):
        d = expected_gat(lam, s)
        back = inverse_gat_exact(d, 1.0, s * s)
        np.testing.assert_allclose(back, lam, rtol=2e-3, atol=2e-3)


def test_asymptotic_inverse_agrees_at_high_counts_and_fallback_is_continuous():
    lam = np.array([150.0, 199.0, 201.0, 400.0])
    d = expected_gat(lam, 1.0)
    np.testing.assert_allclose(inverse_gat_asymptotic(d, 1.0, 1.0), lam, rtol=1e-3)
    np.testing.assert_allclose(inverse_gat_exact(d, 1.0, 1.0), lam, rtol=1e-3)


def test_forward_and_algebraic_inverse_roundtrip_and_clamping():
    z = np.array([120.0, 500.0, 3000.0])
    np.testing.assert_allclose(
        inverse_gat_algebraic(gat(z, A, SIGMA2, OFFSET), A, SIGMA2, OFFSET), z
    )
    assert gat(np.array([0.0]), A, SIGMA2, OFFSET)[0] == 0.0  # below the offset: clamped
    assert gat(5.0, 1.0, -3.0) == pytest.approx(gat(5.0, 1.0, 0.0))  # sigma2 clamped at 0
    assert inverse_gat_exact(0.0, A, SIGMA2, OFFSET) == pytest.approx(OFFSET)


@pytest.mark.parametrize("a", [0.0, -1.0, np.nan])
def test_bad_gain_raises(a):
    with pytest.raises(W2SInputError, match="gain"):
        gat(np.ones(3), a)
