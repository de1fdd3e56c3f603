"""Metrics against scikit-image and hand-computed values; the W2S mode."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from napari_w2s import W2SInputError
from napari_w2s.analysis.metrics import (
    affine_fit,
    compare,
    downsample_mean,
    psnr,
    rmse,
    ssim,
    w2s_metrics,
    w2s_reference,
)


def test_hand_computed_values():
    ref = np.array([[0.0, 2.0], [4.0, 6.0]])
    pred = ref + np.array([[1.0, -1.0], [1.0, -1.0]])
    assert rmse(pred, ref) == 1.0
    # data range 6, mse 1 -> 10 log10(36)
    assert psnr(pred, ref) == pytest.approx(10 * math.log10(36.0))
    assert psnr(pred, ref, data_range=255) == pytest.approx(20 * math.log10(255.0))
    assert psnr(ref, ref) == math.inf


def test_against_scikit_image(noisy_pair):
    pred, ref = noisy_pair
    dr = ref.max() - ref.min()
    assert psnr(pred, ref) == pytest.approx(peak_signal_noise_ratio(ref, pred, data_range=dr))
    expected = structural_similarity(ref, pred, data_range=dr, win_size=7)
    assert ssim(pred, ref) == pytest.approx(expected, abs=1e-12)
    assert 0.3 < expected < 0.95  # a real, non-trivial value
    m = compare(pred, ref)
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((pred - ref) ** 2)))
    assert m["data_range"] == pytest.approx(dr)


def test_ssim_of_identical_images_is_one(noisy_pair):
    _, ref = noisy_pair
    assert ssim(ref, ref) == pytest.approx(1.0)


def test_stacks_are_measured_plane_by_plane(noisy_pair):
    pred, ref = noisy_pair
    two = ssim(np.stack([pred, ref]), np.stack([ref, ref]), data_range=ref.max() - ref.min())
    assert two == pytest.approx((ssim(pred, ref) + 1.0) / 2)


@pytest.mark.parametrize(
    "pred, ref, match",
    [
        (np.zeros((8, 8)), np.zeros((8, 9)), "different shapes"),
        (np.full((8, 8), np.nan), np.ones((8, 8)), "NaN"),
        (np.ones((8, 8)), np.ones((8, 8)), "constant"),
        (np.ones((4, 4)), np.arange(16.0).reshape(4, 4), "at least 7 x 7"),
    ],
)
def test_bad_inputs(pred, ref, match):
    with pytest.raises(W2SInputError, match=match):
        compare(pred, ref)


def test_affine_fit_recovers_the_map(noisy_pair):
    _, ref = noisy_pair
    a, b = affine_fit(ref, 3.5 * ref - 20)
    assert a == pytest.approx(3.5) and b == pytest.approx(-20)


def test_w2s_mode_matches_sim_to_clean():
    rng = np.random.default_rng(1)
    sim = rng.random((64, 64)) * 1000
    clean = 0.01 * downsample_mean(sim) + 150  # the clean LR sees the SIM at another scale
    ref = w2s_reference(sim, clean)
    z = (clean - clean.mean()) / clean.std()
    np.testing.assert_allclose(downsample_mean(ref), z, atol=1e-9)
    # a perfect prediction (the SIM in clean-LR units) scores RMSE 0 in W2S units
    perfect = 0.01 * sim + 150
    m = w2s_metrics(perfect, sim, clean)
    assert m["rmse"] == pytest.approx(0.0, abs=1e-9) and m["ssim"] == pytest.approx(1.0)


def test_w2s_mode_denoising_reference_is_z_scored(noisy_pair):
    pred, clean = noisy_pair
    m = w2s_metrics(pred, clean, clean)
    assert m["rmse"] == pytest.approx(rmse(pred, clean) / clean.std())


def test_w2s_reference_of_wrong_size():
    with pytest.raises(W2SInputError, match="neither"):
        w2s_reference(np.ones((30, 30)), np.arange(256.0).reshape(16, 16))


def test_measure_modes_and_units_check(noisy_pair):
    from napari_w2s.analysis.metrics import match_affine, measure, units_mismatch

    noisy, ref = noisy_pair
    sim_units = (ref - 100) / 20.0  # the same image in other units (a SIM-like scale)
    values, mode = measure(noisy, sim_units)  # auto without a clean image: affine
    assert mode == "affine"
    assert values["rmse"] == pytest.approx(compare(noisy, match_affine(sim_units, noisy))["rmse"])
    assert values["rmse"] < 6  # about the noise (5 ADU), not the units' difference
    assert measure(noisy, ref, ref)[1] == "w2s"
    assert measure(noisy, ref, mode="plain")[1] == "plain"
    with pytest.raises(W2SInputError, match="clean LR"):
        measure(noisy, ref, mode="w2s")
    with pytest.raises(W2SInputError, match="unknown metrics mode"):
        measure(noisy, ref, mode="fancy")
    assert units_mismatch(noisy, ref) is None
    odd = units_mismatch(noisy, sim_units)
    assert odd is not None and odd["ratio"] == pytest.approx(20, rel=0.2)
    assert units_mismatch(noisy, ref + 1e5) is not None  # same range, far apart
