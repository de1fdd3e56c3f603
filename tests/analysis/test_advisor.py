"""The photon-budget advisor: the clean range, the JDSR curves and their use per frame count."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from napari_w2s.analysis import _synthetic as S
from napari_w2s.analysis.advisor import advise
from napari_w2s.analysis.advisor_curves import (
    FORM,
    KEY,
    SNR_KIND,
    average_snr,
    curve_value,
    fit_curve,
    load_curves,
    predict,
    write_curves,
)
from napari_w2s.analysis.signal_range import clean_range


def test_clean_range_from_16_frames_within_5_percent(blob_stack):
    y, stack = blob_stack(16)
    r = clean_range(stack, 2.0, -150.0)
    true = float(y.max() - y.min())
    assert r.value == pytest.approx(true, rel=0.05)
    assert r.low <= r.value <= r.high and not r.notes
    # one dim frame: a note and a wide interval instead of a confident number
    dim = S.poisson_gaussian(
        100.0 + 10.0 * S.blobs((96, 96), np.random.default_rng(1)),
        2.0,
        -150.0,
        np.random.default_rng(2),
        offset=100.0,
    )
    r1 = clean_range(dim, 2.0, -150.0)
    assert r1.notes and r1.high - r1.low > 0.2 * r1.value


def test_fit_curve_is_monotone_and_recovers_a_known_law():
    snr = np.geomspace(5, 400, 40)
    rng = np.random.default_rng(0)
    rmse = (0.3 + 1.5 * snr**-0.7) * rng.uniform(0.95, 1.05, snr.size)
    c = fit_curve(snr, rmse, decreasing=True)
    assert c["c1"] > 0 and c["p"] > 0 and c["k"] == 0.0 and c["form"] == FORM
    v = curve_value(c, snr)
    assert np.all(np.diff(v) <= 0)
    assert np.median(np.abs(v / (0.3 + 1.5 * snr**-0.7) - 1)) < 0.03
    ssim = 0.85 - 2.0 * snr**-0.6
    s = fit_curve(snr, ssim, decreasing=False)
    assert s["c1"] < 0 and np.all(np.diff(curve_value(s, snr)) >= 0)
    # outside the measured SNRs the curve's end value is used
    assert curve_value(c, 1e6) == pytest.approx(curve_value(c, snr.max()))
    with pytest.raises(ValueError, match="at least 4"):
        fit_curve([1, 2], [1, 2], decreasing=True)
    # with the view's detail as a second factor
    detail = rng.uniform(0.01, 0.3, snr.size)
    rmse = (0.3 + 1.5 * snr**-0.7) * (detail / 0.1) ** 0.3
    c = fit_curve(snr, rmse, decreasing=True, detail=detail)
    assert c["k"] == pytest.approx(0.3, abs=0.02)
    np.testing.assert_allclose(curve_value(c, snr, detail), rmse, rtol=0.02)


def test_predict_and_average_snr(jdsr_curves, blob_stack):
    p = predict(jdsr_curves, 50.0)
    assert p["rmse"] == pytest.approx(0.25 + 2.0 * 50**-0.8)
    assert p["rmse_range"][0] < p["rmse"] < p["rmse_range"][1] and not p["extrapolated"]
    assert predict(jdsr_curves, 1.0)["extrapolated"]
    # the clean range over the noise of the N-frame average: sqrt(N) by construction
    assert average_snr(120.0, 36.0, 1) == pytest.approx(20.0)
    assert average_snr(120.0, 36.0, 16) == pytest.approx(80.0)
    assert average_snr(0.0, 36.0, 4) == 0.0 and average_snr(5.0, 0.0, 4) == math.inf
    # camera-independent: gain g scales the range by g and the noise variance by g^2
    assert average_snr(4 * 120.0, 16 * 36.0, 4) == pytest.approx(average_snr(120.0, 36.0, 4))
    # on a stack the advisor's SNR is its clean range over its noise: near the true one
    clean, stack = blob_stack(16)
    adv = advise(stack, levels=(1, 4), jdsr=False)
    true = float(clean.max() - clean.min()) / math.sqrt(2.0 * clean.mean() - 150.0)
    assert average_snr(adv.data_range, adv.noise_var_1, 1) == pytest.approx(true, rel=0.1)


def test_average_snr_grows_with_frames_where_the_image_snr_does_not():
    """A dim view (signal range about one noise std): the noisy image's own percentile SNR
    stays near that of pure noise at every N; the advisor's SNR doubles from N to 4 N."""
    from napari_w2s.analysis.snr import estimate_snr

    rng = np.random.default_rng(3)
    clean = 100.0 + 6.0 * S.blobs((96, 96), np.random.default_rng(4))
    stack = np.stack([S.poisson_gaussian(clean, 2.0, -150.0, rng, offset=100.0) for _ in range(16)])
    own = [estimate_snr(stack[:n].mean(0)) for n in (1, 4, 16)]
    assert max(own) / min(own) < 1.6  # the percentile range follows the noise down
    adv = advise(stack, levels=(1, 4, 16), jdsr=False)
    # the estimates the curve is built from, on this dim view: the noise, and the clean range
    # (over by the 16-frame average's own noise, 1.8 ADU here: 8.3 for 6.0, docs/noise.md)
    assert adv.data_range == pytest.approx(float(clean.max() - clean.min()), rel=0.5)
    assert adv.noise_var_1 == pytest.approx(2.0 * float(clean.mean()) - 150.0, rel=0.15)
    s = [average_snr(adv.data_range, adv.noise_var_1, n) for n in (1, 4, 16)]
    assert s[1] / s[0] == pytest.approx(2.0) and s[2] / s[1] == pytest.approx(2.0)


def test_load_curves_refuses_curves_of_other_weights(jdsr_curves, tmp_path):
    card = {
        "name": "jdsr",
        "sha256": "abc",
        "advisor": {KEY: {**jdsr_curves, "weights_sha256": "abc"}},
    }
    entry, note = load_curves(card=card)
    assert entry is not None and note == ""
    card["sha256"] = "def"  # the weights were replaced: the curves are stale
    entry, note = load_curves(card=card)
    assert entry is None and "other weights" in note
    entry, note = load_curves(card={"name": "jdsr", "sha256": "x"})
    assert entry is None and "measure_jdsr_curves" in note
    # curves measured against the noisy image's own SNR (before session 19) are refused too
    old = {k: v for k, v in jdsr_curves.items() if k != "snr_kind"}
    entry, note = load_curves(
        card={"name": "jdsr", "sha256": "abc", "advisor": {KEY: {**old, "weights_sha256": "abc"}}}
    )
    assert entry is None and "another SNR" in note and SNR_KIND not in str(old)
    # write_curves keeps the other fields and writes JSON that reads back
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"name": "jdsr", "sha256": "abc", "metrics": {"a": 1}}))
    write_curves(path, {**jdsr_curves, "weights_sha256": "abc"})
    back = json.loads(path.read_text())
    assert back["metrics"] == {"a": 1} and back["advisor"][KEY]["rmse"]["c0"] == 0.25
    assert load_curves(card=back)[0] is not None


def test_advise_predicts_jdsr_per_frames_and_frames_for_a_target_rmse(jdsr_curves, blob_stack):
    _, stack = blob_stack(16)
    adv = advise(stack, levels=(1, 2, 4, 8, 16, 64), jdsr=jdsr_curves, target_rmse=0.3)
    rmse = [r.jdsr["rmse"] for r in adv.rows]
    assert all(np.diff(rmse) < 0)  # more frames, higher SNR, lower RMSE
    assert adv.jdsr_frames_needed in {r.frames for r in adv.rows}
    first = next(r for r in adv.rows if r.frames == adv.jdsr_frames_needed)
    assert first.jdsr["rmse"] <= 0.3
    d = adv.to_dict()
    assert d["jdsr"]["available"] and d["predictions"][0]["jdsr"]["rmse"] == rmse[0]
    line = next(line for line in adv.summary_lines() if "JDSR" in line)
    lo, hi = adv.rows[0].jdsr["rmse_range"]
    assert f"{rmse[0]:.3f} ({lo:.2f}-{hi:.2f}) from 1 frame," in line
    none = advise(stack, levels=(1, 2), jdsr=False)
    assert all(r.jdsr is None for r in none.rows) and not none.to_dict()["jdsr"]["available"]
    # the PSNR interval holds the prediction and includes the range's uncertainty
    for r in adv.rows:
        assert r.psnr_low <= r.psnr <= r.psnr_high and math.isfinite(r.psnr)
    lo, hi = d["data_range_interval"]
    assert lo <= adv.data_range <= hi


def test_shipped_jdsr_curves_match_the_shipped_weights():
    # the card's curves, when present, were measured on the weights it ships with
    from napari_w2s.restore.zoo import shipped

    card = next(c for c in shipped() if c["name"] == "jdsr" and c["noise_level"] == "blind")
    entry = (card.get("advisor") or {}).get(KEY)
    if entry is None:
        pytest.skip("the shipped jdsr card has no advisor curves yet")
    curves, note = load_curves("jdsr")
    assert curves is not None, f"{note} (python scripts/measure_jdsr_curves.py --write)"
    assert curves["rmse"]["c1"] > 0 and curves["ssim"]["c1"] < 0
    assert "held_out_check" in curves


def test_advise_predicts_the_ssim_of_each_average_against_the_clean_image():
    from napari_w2s.analysis.metrics import ssim
    from napari_w2s.simulate.view import ViewParams, simulate_view

    params = ViewParams(size=96, bleach_loss=0.0)
    view = simulate_view(params, channel=0, seed=100)
    clean = params.camera.expected_adu(view.photons)
    dr = float(clean.max() - clean.min())
    held = view.frames(100, 116).astype(np.float64)
    measured = [ssim(held[:n].mean(0), clean, dr) for n in (1, 4, 16)]
    stack = advise(view.frames(0, 16), levels=(1, 4, 16), jdsr=False, data_range=dr)
    got = [r.ssim for r in stack.rows]
    # measured on the benchmark's stacks: worst 0.005 (benchmarks/bench_noise_estimation.py)
    assert got == pytest.approx(measured, abs=0.012), (got, measured)
    assert got[0] < got[1] < got[2] < 1
    one = advise(view.frames(200, 201)[0], levels=(1, 4, 16), jdsr=False, data_range=dr)
    assert [r.ssim for r in one.rows] == pytest.approx(measured, abs=0.08)
    assert stack.to_dict()["predictions"][1]["ssim"] == got[1]
    # a reference that is the mean of T frames shares their noise: a higher SSIM
    ref = advise(view.frames(0, 16), levels=(1, 4), jdsr=False, data_range=dr, reference_frames=8)
    assert ref.rows[1].ssim > got[1]
