"""Calibrate the disjoint-frame reliability map of a shipped model and test it on held-out data.

    python scripts/calibrate_reliability.py [--method jdsr] [--views 24] [--size 128] \
        [--test DATA] [--test-views 12] [--threads 2] [--write]

Calibration: ``--views`` randomised views (the training ranges, a seed no training run uses),
each a 400-frame stack; per level, ``factor`` and ``floor`` are the non-negative least-squares
fit of the true RMSE² (against SIM, or the clean image for a denoiser) on the mean of the
uncalibrated map squared and the input's range squared, relative to the RMSE² (so that every
view weighs the same) (:mod:`napari_w2s.analysis.reliability`). The factor is at least the
median ratio rms(d) / mean(d) of the views: ``factor * mean(d)`` is then at least the
noise-driven RMSE that the two restorations measure, so the map never drops its noise part
(an unconstrained fit did, at avg1, while the engine returned the network's own mean: a
per-view offset shared by both restorations, hence not in ``d``, made ``d`` look
uninformative). Test: the test split of a W2S-layout raw data set
(``w2s simulate DATA --processed``: ``ImageNNN/wf_channelC.npy`` with ``sim_channelC.npy``; the
SIM matched to the clean mean the W2S way) and the four held-out randomised sets: per level, the
calibrated map's mean against the true RMSE (ratio; the goal is within +-30 %) and the pixelwise
Spearman rank correlation of the map with the absolute error. ``--write`` stores the factors and
the test figures in the shipped card's ``reliability`` field.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from napari_w2s.analysis.metrics import affine_fit, downsample_mean
from napari_w2s.analysis.reliability import SIGMA, fit_calibration, stack_reliability
from napari_w2s.averaging import W2S_LEVELS
from napari_w2s.io.tiff import atomic_file

SEED = 4242


def random_stacks(n: int, size: int, shift: str | None = None, seed: int = SEED):
    """(stack, truth_hr, clean) of randomised views, raw exports (the frames as acquired)."""
    from napari_w2s.simulate.randomised import (
        EVALUATION_RANGES,
        draw_settings,
        params_of,
        shifted_settings,
    )
    from napari_w2s.simulate.view import simulate_view

    rng = np.random.default_rng(seed)
    for i in range(n):
        s = shifted_settings(shift, rng) if shift else draw_settings(rng, EVALUATION_RANGES)
        s["export"] = "raw"
        ss = np.random.SeedSequence([seed, i])
        prng = np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(9,)))
        view = simulate_view(params_of(s, size, prng), channel=0, seed=ss)
        stack = view.frames(0, 400).astype(np.float32)
        clean = stack.mean(0)
        ga, gb = affine_fit(downsample_mean(view.sim.astype(np.float64)), clean)
        yield stack, (ga * view.sim + gb).astype(np.float32), clean


def data_stacks(root: Path, n: int):
    """(stack, SIM matched to the clean mean, clean) of a raw W2S-layout data set's test split."""
    summary = json.loads((root / "w2s_sim.json").read_text())
    done = 0
    for fov in summary["split"]["test"]:
        for c in range(summary["channels"]):
            if done == n:
                return
            folder = root / f"Image{fov:03d}"
            stack = np.load(folder / f"wf_channel{c}.npy").astype(np.float32)
            clean = stack.mean(0)
            sim = np.load(folder / f"sim_channel{c}.npy").astype(np.float64)
            ga, gb = affine_fit(downsample_mean(sim), clean)
            done += 1
            yield stack, (ga * sim + gb).astype(np.float32), clean


def measure(pipe, views, scale: int, factors: dict | None, floors: dict | None = None) -> dict:
    """Per level: mean (over views) of true RMSE, map mean, their ratio, and rank correlation."""
    from scipy.stats import spearmanr

    rows: dict[str, list] = {f"avg{n}": [] for n in W2S_LEVELS}
    for stack, sim, clean in views:
        truth = sim if scale == 2 else clean
        for n in W2S_LEVELS:
            card = {"factor": factors, "floor": floors} if factors else None
            out, rel = stack_reliability(stack, n, pipe.run, card)
            err = np.abs(out.astype(np.float64) - truth)
            true = float(np.sqrt((err**2).mean()))
            flat = float(rel.map.std()) == 0.0  # a map without its noise part has no ranks
            rho = float("nan") if flat else float(spearmanr(rel.map.ravel(), err.ravel())[0])
            rows[f"avg{n}"].append(
                (true, rel.predicted_rmse, rho, rel.noise_part, rel.image_range, rel.noise_rms)
            )
    res = {}
    for lv, r in rows.items():
        a = np.asarray(r)
        res[lv] = {
            "true_rmse": float(a[:, 0].mean()),
            "map_mean": float(a[:, 1].mean()),
            "ratio_median": float(np.median(a[:, 1] / a[:, 0])),
            "ratio_worst": float((a[:, 1] / a[:, 0])[np.argmax(np.abs(np.log(a[:, 1] / a[:, 0])))]),
            "spearman": float(a[:, 2].mean()),
            "views": len(r),
            "fit": a[:, [0, 3, 4, 5]].tolist(),
        }
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="jdsr")
    ap.add_argument("--views", type=int, default=24)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--test", type=Path, default=None, help="raw W2S-layout data set")
    ap.add_argument("--test-views", type=int, default=12)
    ap.add_argument("--sets", default="camera,optics,nuclei,low-light")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    from napari_w2s.restore.engine import resolve
    from napari_w2s.restore.zoo import find_weights

    pipe = resolve(a.method, device="cpu", tile=0, threads=a.threads)
    weights = find_weights(a.method)
    card_file = weights.with_suffix(".json")
    scale = int(json.loads(card_file.read_text())["scale"])
    cal = measure(pipe, random_stacks(a.views, a.size), scale, None)
    fits = {lv: fit_calibration(r.pop("fit")) for lv, r in cal.items()}
    factors = {lv: f[0] for lv, f in fits.items()}
    floors = {lv: f[1] for lv, f in fits.items()}
    tests = {}
    if a.test:
        tests["w2s-like test split"] = measure(
            pipe, data_stacks(a.test, a.test_views), scale, factors, floors
        )
    for name in filter(None, a.sets.split(",")):
        tests[name] = measure(
            pipe, random_stacks(a.test_views // 2, a.size, name, SEED + 1), scale, factors, floors
        )
    print(f"## {a.method}: reliability map (factor from {a.views} randomised views)\n")
    print("| test set | level | true RMSE | map mean | ratio (median, worst) | Spearman |")
    print("|---|---|---|---|---|---|")
    for name, res in tests.items():
        for lv, r in res.items():
            print(
                f"| {name} | {lv} | {r['true_rmse']:.3f} | {r['map_mean']:.3f} | "
                f"{r['ratio_median']:.2f}, {r['ratio_worst']:.2f} | {r['spearman']:.2f} |"
            )
    for res in tests.values():
        for r in res.values():
            r.pop("fit", None)
    record = {
        "factor": factors,
        "floor": floors,
        "sigma": SIGMA,
        "calibration": {"views": a.views, "size": a.size, "seed": SEED, "source": "randomised"},
        "test": tests,
        "command": "python scripts/calibrate_reliability.py " + " ".join(sys.argv[1:]),
    }
    if a.write:
        card = json.loads(card_file.read_text())
        card["reliability"] = record
        with atomic_file(card_file) as fh:
            fh.write((json.dumps(card, indent=2) + "\n").encode())
        print(f"\nwritten into {card_file}", file=sys.stderr)
    else:
        print(json.dumps({"factor": factors, "floor": floors}, indent=1))


if __name__ == "__main__":
    main()
