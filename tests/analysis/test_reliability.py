"""The disjoint-frame reliability map of restored stacks (trust maps issue, part 2)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_w2s.analysis.reliability import (
    disjoint_frames,
    factor_for,
    fit_calibration,
    stack_reliability,
    uncalibrated_map,
)
from napari_w2s.errors import W2SInputError


def test_the_second_frame_set_is_disjoint_and_of_the_same_size():
    assert disjoint_frames(400, 1) == ([249], [250])
    a, b = disjoint_frames(400, 16)
    assert a == list(range(16)) and b == list(range(16, 32))
    a, b = disjoint_frames(20, 1)  # a short stack: avg1 at the same relative position
    assert len(b) == 1 and not set(a) & set(b)
    a, b = disjoint_frames(12, 4)
    assert not set(a) & set(b) and len(b) == 4
    with pytest.raises(W2SInputError, match="needs 32 frames"):
        disjoint_frames(20, 16)


def test_two_independent_errors_give_their_standard_deviation():
    rng = np.random.default_rng(0)
    truth = rng.uniform(100, 200, (256, 256))
    a = truth + rng.normal(0, 3.0, truth.shape)
    b = truth + rng.normal(0, 3.0, truth.shape)
    m = uncalibrated_map(a, b)
    assert m.shape == truth.shape and m.dtype == np.float32
    assert abs(float(m.mean()) - 3.0) < 0.15
    assert float(uncalibrated_map(a, a).max()) == 0.0


def test_an_identity_restoration_of_pure_noise_is_predicted_exactly():
    """Doing nothing leaves only noise, independent between the two frame sets: the map's mean
    (factor 1) is the true RMSE of the avgN image, sigma / sqrt(N)."""
    rng = np.random.default_rng(1)
    stack = 500.0 + rng.normal(0, 8.0, (64, 96, 96)).astype(np.float32)
    for n in (1, 4, 16):
        out, rel = stack_reliability(stack, n, lambda x: x)
        true = float(np.sqrt(((out - 500.0) ** 2).mean()))
        assert abs(rel.predicted_rmse / true - 1) < 0.1, (n, rel.predicted_rmse, true)
        assert not rel.calibrated and rel.factor == 1.0
    # a noise that grows left to right: the map follows it (rank correlation with the truth)
    sd = np.linspace(1, 20, 96, dtype=np.float32)
    noisy = 500.0 + rng.normal(0, 1.0, (8, 96, 96)).astype(np.float32) * sd
    _, rel = stack_reliability(noisy, 1, lambda x: x, avg1_frame=3)
    cols = rel.map.mean(axis=0)
    assert np.corrcoef(cols, sd)[0, 1] > 0.95


def test_the_card_factor_scales_the_map_and_the_nearest_level_serves_the_others():
    assert factor_for({"factor": {"avg1": 2.0, "avg16": 4.0}}, "avg2") == (2.0, True)
    assert factor_for({"factor": {"avg1": 2.0, "avg16": 4.0}}, "avg8") == (4.0, True)
    assert factor_for({}, "avg4") == (1.0, False)
    stack = np.random.default_rng(2).normal(0, 1, (8, 32, 32)).astype(np.float32)
    _, one = stack_reliability(stack, 2, lambda x: x)
    _, two = stack_reliability(stack, 2, lambda x: x, {"factor": {"avg2": 2.5}})
    assert two.calibrated and np.allclose(two.map, 2.5 * one.map, rtol=1e-5)
    with pytest.raises(W2SInputError, match="stack of frames"):
        stack_reliability(stack[0], 1, lambda x: x)


def test_the_calibration_fit_recovers_its_model_and_keeps_the_noise_part():
    """Views made from RMSE² = 1.6² mean(d)² + (0.02 range)² give back (1.6, 0.02); views whose
    error is a bias that d cannot see (an unconstrained fit drops d: factor 0, the map flat)
    keep the factor rms(d) / mean(d), the noise part measured."""
    from scipy.optimize import nnls

    rng = np.random.default_rng(5)
    m, r = rng.uniform(1, 10, 12), rng.uniform(50, 500, 12)
    t = np.sqrt((1.6 * m) ** 2 + (0.02 * r) ** 2)
    factor, floor = fit_calibration(np.stack([t, m, r, 1.2 * m], axis=1))
    assert factor == pytest.approx(1.6, rel=1e-6) and floor == pytest.approx(0.02, rel=1e-6)
    # two views: the noisier one (large d) has the smaller bias per range
    r = np.array([100.0, 100.0])
    t = np.array([0.03, 0.05]) * r
    m = np.array([0.5, 0.1]) * t
    u, w = (m / t) ** 2, (r / t) ** 2
    free, _ = nnls(np.stack([u, w], axis=1), np.ones(2))
    assert free[0] == 0.0  # the unconstrained fit: no noise part
    factor, floor = fit_calibration(np.stack([t, m, r, 1.2 * m], axis=1))
    assert factor == pytest.approx(1.2) and 0.02 < floor < 0.05


def test_cli_restores_a_level_of_a_stack_with_its_reliability_map(tmp_path, capsys):
    """Bicubic of pure noise around a constant: the two results' errors are independent, so the
    uncalibrated map's mean is the true RMSE of the x2 result (against the constant)."""
    from napari_w2s.cli import main

    rng = np.random.default_rng(4)
    stack = (100.0 + rng.normal(0, 5.0, (12, 48, 48))).astype(np.float32)
    np.save(tmp_path / "stack.npy", stack)
    out, rmap = tmp_path / "out.npy", tmp_path / "map.npy"
    code = main(
        [
            "restore",
            str(tmp_path / "stack.npy"),
            "--method",
            "bicubic",
            "--level",
            "2",
            "--reliability",
            str(rmap),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    result, m = np.load(out), np.load(rmap)
    assert result.shape == m.shape == (96, 96)
    np.testing.assert_allclose(result, np.kron(stack[:2].mean(0), np.ones((2, 2))), atol=6)
    true = float(np.sqrt(((result[8:-8, 8:-8] - 100.0) ** 2).mean()))
    assert abs(float(m[8:-8, 8:-8].mean()) / true - 1) < 0.15
    err = capsys.readouterr().err
    assert "no reliability calibration" in err
    code = main(
        [
            "restore",
            str(tmp_path / "stack.npy"),
            "--level",
            "8",
            "--reliability",
            str(rmap),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "needs 16 frames" in err and err.count("\n") == 1
