"""Measure the photon-budget advisor's JDSR curves and write them into the model card.

    nice -n 19 python scripts/measure_jdsr_curves.py [--views 72] [--check 24] [--size 96] \
        [--threads 1] [--weights PATH] [--write]

For the shipped noise-blind ``jdsr`` (or ``--weights``):

1. **Curves**: ``--views`` randomised simulated views (``EVALUATION_RANGES``, seed 4242; the
   users' file exports included), at every W2S level: the SNR of the input as the advisor
   estimates it from the view's first 16 frames
   (:func:`~napari_w2s.analysis.advisor_curves.average_snr`) and the view's fine structure (the
   detail of its avg16, :func:`~napari_w2s.analysis.advisor_curves.detail_fraction`), the model
   run as at
   inference (per-image normalisation), RMSE and SSIM of the restoration against SIM in W2S
   units (the clean image's z-score, as the card's ``metrics``). One curve
   ``(c0 + c1 * snr ** -p) * (detail / 0.1) ** k`` per metric
   (:func:`napari_w2s.analysis.advisor_curves.fit_curve`).
2. **Held-out check**: ``--check`` views of another seed (4343; raw frames), the advisor run on
   their first 16 frames (noise from frame differences, the SNR of each average from
   :func:`~napari_w2s.analysis.advisor_curves.average_snr`) against the measured RMSE of
   JDSR(avgN) vs SIM: median and worst relative error per view, and the error of the mean over
   the views per N.
3. ``--write``: both go into the card next to the weights (``advisor.jdsr_vs_sim``, with the
   weights' sha256: curves of other weights are refused by the advisor).

About 1.5 CPU minutes with ``--threads 1`` (480 restorations of 96 x 96 views; 3 minutes of
wall time beside two trainings). Run it again whenever the shipped weights change.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

FIT_SEED, CHECK_SEED = 4242, 4343


def _restore(model, image: np.ndarray) -> np.ndarray:
    """The model on one image exactly as at inference (per-image normalisation, ADU back)."""
    import torch

    from napari_w2s.normalisation import fit

    affine = fit(image)
    x = torch.from_numpy(np.ascontiguousarray(affine.forward(image), dtype=np.float32)[None, None])
    with torch.inference_mode():
        y = model(x)
        y = y[-1] if isinstance(y, (list, tuple)) else y
    return affine.inverse(y[0, 0].float().numpy())


def _score(pred: np.ndarray, view) -> tuple[float, float]:
    """RMSE and SSIM against SIM in W2S units (as ``training.evaluation.evaluate``)."""
    from napari_w2s.analysis.metrics import compare

    mean, std = float(view.clean.mean()), float(view.clean.std()) or 1.0
    tz = (view.sim - mean) / std
    m = compare((pred - mean) / std, tz, data_range=float(tz.max() - tz.min()))
    return float(m["rmse"]), float(m["ssim"])


def _frames(settings: dict, size: int, seed, n: int) -> np.ndarray:
    """The first ``n`` raw frames of the view :func:`make_view` builds from the same seed."""
    from napari_w2s.simulate import simulate_view
    from napari_w2s.simulate.randomised import params_of

    ss = np.random.SeedSequence(seed) if not isinstance(seed, np.random.SeedSequence) else seed
    rng = np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, 9)))
    view = simulate_view(params_of(settings, size, rng), channel=0, seed=ss)
    return view.frames(0, n)


def measure(model, n_views: int, size: int) -> list[dict]:
    from napari_w2s.analysis.advisor import advise
    from napari_w2s.analysis.advisor_curves import average_snr, detail_fraction
    from napari_w2s.simulate.randomised import (
        EVALUATION_RANGES,
        LEVELS,
        draw_settings,
        make_view,
    )

    rng = np.random.default_rng(FIT_SEED)
    rows = []
    for i in range(n_views):
        settings = draw_settings(rng, EVALUATION_RANGES)
        view = make_view(settings, size, (FIT_SEED, i))
        detail = detail_fraction(view.levels["avg16"])
        # the range and the noise as the advisor estimates them from the first 16 raw frames
        # (the SNR is a ratio: the same in the exported units of the levels)
        given = advise(_frames(settings, size, (FIT_SEED, i), max(LEVELS)), levels=(1,), jdsr=False)
        for level, image in view.levels.items():
            rmse, ssim = _score(_restore(model, image), view)
            n = int(level.removeprefix("avg"))
            rows.append(
                {
                    "view": i,
                    "level": level,
                    "snr": average_snr(given.data_range, given.noise_var_1, n),
                    "detail": detail,
                    "rmse": rmse,
                    "ssim": ssim,
                }
            )
        print(
            f"  view {i + 1}/{n_views}: "
            + ", ".join(f"{r['level']} snr {r['snr']:.0f} rmse {r['rmse']:.3f}" for r in rows[-5:]),
            flush=True,
        )
    return rows


def check(model, curves: dict, n_views: int, size: int) -> dict:
    """The advisor's JDSR RMSE from 16 frames against the measured one, on held-out views."""
    from napari_w2s.analysis.advisor import advise
    from napari_w2s.simulate.randomised import EVALUATION_RANGES, LEVELS, draw_settings, make_view

    rng = np.random.default_rng(CHECK_SEED)
    predicted, measured, inside = [], [], []
    for i in range(n_views):
        settings = {**draw_settings(rng, EVALUATION_RANGES), "export": "raw"}
        view = make_view(settings, size, (CHECK_SEED, i))
        frames = _frames(settings, size, (CHECK_SEED, i), max(LEVELS))
        adv = advise(frames, levels=LEVELS, jdsr=curves)
        cells = []
        for row in adv.rows:
            image = frames[: row.frames].mean(0) if row.frames > 1 else frames[0]
            rmse, _ = _score(_restore(model, image.astype(np.float32)), view)
            predicted.append(row.jdsr["rmse"])
            measured.append(rmse)
            lo, hi = row.jdsr["rmse_range"]
            inside.append(lo <= rmse <= hi)
            cells.append(f"N={row.frames} {row.jdsr['rmse']:.3f}/{rmse:.3f}")
        print(f"  check {i + 1}/{n_views} ({settings['camera']}): " + ", ".join(cells), flush=True)
    pred = np.asarray(predicted).reshape(n_views, -1)
    meas = np.asarray(measured).reshape(n_views, -1)
    e = np.abs(pred / meas - 1)
    mean_error = np.abs(pred.mean(0) / meas.mean(0) - 1)
    return {
        "views": n_views,
        "seed": CHECK_SEED,
        "frames_given": max(LEVELS),
        "levels": list(LEVELS),
        "median_abs_rel_error_rmse": float(np.median(e)),
        "worst_abs_rel_error_rmse": float(e.max()),
        "share_within_15_percent": float(np.mean(e <= 0.15)),
        "mean_over_views_abs_rel_error_rmse": [float(v) for v in mean_error],
        "share_inside_rmse_range": float(np.mean(inside)),
    }


def main(argv: list[str] | None = None) -> int:
    import torch

    from napari_w2s.analysis.advisor_curves import SNR_KIND, fit_curve, write_curves
    from napari_w2s.models.weights import card_path, load_model
    from napari_w2s.restore.zoo import find_weights

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=72, help="views for the curves (x 5 levels)")
    ap.add_argument("--check", type=int, default=24, help="held-out views for the check")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--weights", default=None, help="default: the shipped noise-blind jdsr")
    ap.add_argument("--write", action="store_true", help="write the curves into the card")
    ap.add_argument("--json", default=None, help="also write the measurements to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    weights = Path(args.weights) if args.weights else find_weights("jdsr")
    model, card = load_model(weights)
    t0 = time.perf_counter()
    print(f"{weights.name} (sha256 {card.sha256[:12]}): {args.views} views of {args.size} px")
    rows = measure(model, args.views, args.size)
    snr, detail = [r["snr"] for r in rows], [r["detail"] for r in rows]
    curves = {
        "rmse": fit_curve(snr, [r["rmse"] for r in rows], decreasing=True, detail=detail),
        "ssim": fit_curve(snr, [r["ssim"] for r in rows], decreasing=False, detail=detail),
    }
    for metric, c in curves.items():
        q = c["ratio_quantiles"]
        print(
            f"{metric}: ({c['c0']:.4f} + {c['c1']:.4f} * snr^-{c['p']:.3f}) * (detail / 0.1)^"
            f"{c['k']:.3f} (SNR {c['snr_range'][0]:.1f}-{c['snr_range'][1]:.0f}; measured / "
            f"curve {q['q05']:.2f}-{q['q95']:.2f})"
        )
    entry = {
        **curves,
        "units": "W2S z-score (the clean image's), against SIM",
        "snr": "napari_w2s.analysis.advisor_curves.average_snr, range and noise estimated by "
        "the advisor from the view's first 16 frames",
        "snr_kind": SNR_KIND,
        "detail": "napari_w2s.analysis.advisor_curves.detail_fraction of the view's avg16",
        "views": args.views,
        "size": args.size,
        "seed": FIT_SEED,
        "ranges": "napari_w2s.simulate.randomised.EVALUATION_RANGES",
        "command": "python scripts/measure_jdsr_curves.py " + " ".join(argv or sys.argv[1:]),
        "weights_sha256": card.sha256,
    }
    if args.check:
        entry["held_out_check"] = check(model, entry, args.check, args.size)
        hc = entry["held_out_check"]
        per_n = ", ".join(f"{v:.0%}" for v in hc["mean_over_views_abs_rel_error_rmse"])
        print(
            f"held-out check: |predicted / measured RMSE - 1| per view: median "
            f"{hc['median_abs_rel_error_rmse']:.1%}, worst {hc['worst_abs_rel_error_rmse']:.1%}, "
            f"within 15 %: {hc['share_within_15_percent']:.0%}; of the mean over the views, "
            f"N = {', '.join(map(str, hc['levels']))}: {per_n}; measured inside the predicted "
            f"5-95 % range: {hc['share_inside_rmse_range']:.0%}"
        )
    entry["seconds"] = round(time.perf_counter() - t0, 1)
    print(f"{entry['seconds']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"entry": entry, "rows": rows}, indent=1))
    if args.write:
        write_curves(card_path(weights), entry)
        print(f"written into {card_path(weights)}")
    return 0 if all(math.isfinite(curves[m]["c0"]) for m in curves) else 1


if __name__ == "__main__":
    raise SystemExit(main())
