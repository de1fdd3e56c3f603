"""The generalisation benchmark: restoration on settings the training never used.

Test sets (:data:`napari_w2s.simulate.randomised.HELD_OUT`, never drawn by ``--data random``):

* ``camera``: an sCMOS at 1 ADU/e- with an offset of 500 ADU;
* ``optics``: NA 1.2, 680 nm emission, 100 nm LR pixels (a PSF of 2.9 LR pixels);
* ``nuclei``: scenes of nuclei only;
* ``low-light``: 20-40 photons at the peak;

plus ``w2s-like``: the settings of the original W2S-like simulator (EMCCD at 4 ADU/e-, 64 nm
pixels), which the 0.1.0 models were trained on. Every other setting of a view is drawn from the
training ranges, with seeds no training run uses.

Every method restores the image **in its camera's units** and is scored as it comes out: no
prediction is re-normalised or matched. Scores are RMSE / SSIM in the clean image's z-score
(``(x - mean(clean)) / std(clean)`` applied alike to the prediction and to SIM, which is matched
to the clean image as in W2S): the units of the paper's tables, comparable across cameras.

The report's tables, checks and comparisons are in :mod:`.generalisation_report`. The checks
are the restoration issue's: JDSR RMSE <= 0.8 x bicubic of the noisy input, JDSR
better than the best sequential pipeline in RMSE and SSIM, and at avg1 within 10 % of a
*specialist* CARE (same recipe and wall time, trained on the set's own settings with
``w2s train --data random:NAME``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..averaging import W2S_LEVEL_NAMES as LEVELS
from ..progress import Progress
from .generalisation_report import _mean, checks, margins, markdown

SETS = ("camera", "optics", "nuclei", "low-light", "w2s-like")
METHODS = ("jdsr", "jdsr-rcan", "jdsr-esrgan", "care", "ridnet+rcan", "dncnn+rcan", "bicubic")
# scored against the clean image, with the noisy input as a row
DENOISERS = ("ridnet", "dncnn", "memnet")
SR = ("rcan", "rdn", "san", "srfbn", "epsr", "esrgan", "bicubic")  # on the clean LR, vs SIM
# a row "METHOD@auto" runs, for each input, the model `--noise-level auto` would choose: the
# per-level model its signal-to-noise ratio asks for (restore.zoo.auto_level), else the
# noise-blind one
AUTO = "@auto"


def available(methods: Sequence[str], weights: Mapping[str, str] | None = None) -> list[str]:
    """The methods that can run: classical ones, and deep ones with weights (shipped, the
    user's, or given in ``weights``); a sequence ``a+b`` when both of its parts can."""
    from ..restore.methods import deep_methods, split_method
    from ..restore.zoo import find_weights

    deep = set(deep_methods())

    def runs(m: str) -> bool:
        if m.endswith(AUTO):
            return runs(m[: -len(AUTO)])
        if "+" in m:
            return all(runs(part) for part in split_method(m))
        if m in (weights or {}) or m not in deep:
            return True
        try:
            find_weights(m)
        except Exception:  # no weights anywhere: left out of the tables
            return False
        return True

    return [m for m in methods if runs(m)]


def views_of(name: str, n: int, size: int, seed: int) -> list[dict]:
    """The ``n`` test views of one set, in ADU (inputs at every level, SIM target, clean)."""
    from ..training.random_source import held_out_views

    if name != "w2s-like":
        return held_out_views("jdsr", None, n=n, size=size, seed=seed, shift=name)
    from ..analysis.metrics import affine_fit, downsample_mean
    from ..averaging import noise_levels
    from ..simulate.view import ViewParams, draw_params, simulate_view

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        params = draw_params(rng, ViewParams(size=size, frames=400), i % 3)
        view = simulate_view(params, channel=i % 3, seed=(seed, i))
        lv = noise_levels(view.frames(0, 400))
        clean = lv[lv.clean].astype(np.float32)
        a, b = affine_fit(downsample_mean(view.sim.astype(np.float64)), clean)
        out.append(
            {
                "inputs": {k: lv[k].astype(np.float32) for k in LEVELS},
                "target": (a * view.sim + b).astype(np.float32),
                "clean": clean,
                "settings": {"w2s-like": True, "channel": i % 3},
            }
        )
    return out


def _score(pred: np.ndarray, view: dict) -> tuple[float, float]:
    from ..analysis.metrics import compare

    mean, std = float(view["clean"].mean()), float(view["clean"].std()) or 1.0
    t = (view["target"] - mean) / std
    m = compare((pred - mean) / std, t, data_range=float(t.max() - t.min()))
    return float(m["rmse"]), float(m["ssim"])


def iter_generalisation(
    out: str | Path,
    views: int = 8,
    size: int = 128,
    seed: int = 777,
    sets: Sequence[str] = SETS,
    methods: Sequence[str] = METHODS,
    levels: Sequence[str] = LEVELS,
    specialists: Mapping[str, str] | None = None,
    weights: Mapping[str, str] | None = None,
    device: str = "cpu",
    log: Callable[[str], None] | None = None,
    denoisers: Sequence[str] = DENOISERS,
    sr: Sequence[str] = SR,
    orientations: int = 1,
) -> Generator[Progress, None, dict]:
    """Score ``methods`` on each set and level; yields a ``Progress`` of views; returns the report.

    ``specialists`` maps a set's name to the weights of a CARE trained on that set's settings;
    ``weights`` maps method names to weights replacing the shipped ones; ``orientations``
    averages every network over that many flips and quarter turns (``w2s restore
    --orientations``).
    """
    from ..analysis.snr import estimate_snr
    from ..restore.engine import resolve

    say = log or (lambda _m: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    specialists = dict(specialists or {})
    weights = dict(weights or {})
    methods, denoisers, sr = (available(m, weights) for m in (methods, denoisers, sr))
    pipes: dict[str, object] = {}

    def pipe(method: str, key: str | None = None, level: str | None = None):
        k = f"{key or method}@{level}"
        if k not in pipes:
            w = specialists[key] if key else None if level else weights.get(method)
            pipes[k] = resolve(
                method,
                device=device,
                tile=0,
                weights=w,
                noise_level=level,
                orientations=orientations,
            )
        return pipes[k]

    def run(row: str, x: np.ndarray, set_name: str) -> np.ndarray:
        if row == "specialist care":
            return pipe("care", set_name).run(x)
        if row.endswith(AUTO):
            from ..restore.zoo import auto_level

            method = row[: -len(AUTO)]
            return pipe(method, level=auto_level(method, x.astype(np.float64))).run(x)
        return pipe(row).run(x)

    scores: dict[str, dict[str, dict[str, list]]] = {}
    dn_scores: dict[str, dict[str, dict[str, list]]] = {}
    sr_scores: dict[str, dict[str, list]] = {}
    snrs: dict[str, dict[str, list]] = {}
    total, done = len(sets) * views, 0
    for name in sets:
        rows = [*methods, *(["specialist care"] if name in specialists else [])]
        table = scores.setdefault(name, {r: {lv: [] for lv in levels} for r in rows})
        dn = dn_scores.setdefault(
            name, {r: {lv: [] for lv in levels} for r in ("noisy input", *denoisers)}
        )
        srt = sr_scores.setdefault(name, {r: [] for r in sr})
        for view in views_of(name, views, size, seed):
            for level in levels:
                x = view["inputs"][level]
                snrs.setdefault(name, {}).setdefault(level, []).append(
                    estimate_snr(x.astype(np.float64))
                )
                for row in rows:
                    t0 = time.perf_counter()
                    pred = run(row, x, name)
                    r, s = _score(pred, view)
                    table[row][level].append((r, s, time.perf_counter() - t0))
                clean_view = {**view, "target": view["clean"]}
                for row in dn:
                    t0 = time.perf_counter()
                    pred = x if row == "noisy input" else pipe(row).run(x)
                    r, s = _score(pred, clean_view)
                    dn[row][level].append((r, s, time.perf_counter() - t0))
            for row in srt:
                t0 = time.perf_counter()
                r, s = _score(pipe(row).run(view["clean"]), view)
                srt[row].append((r, s, time.perf_counter() - t0))
            done += 1
            yield Progress(done, total, "view")
        say(f"{name}: {views} views done")
    report = {
        "views": views,
        "size": size,
        "seed": seed,
        "orientations": orientations,
        "levels": list(levels),
        "units": "z-score of the clean image; predictions scored as they come out",
        "tables": {
            n: {r: {lv: _mean(v) for lv, v in t.items()} for r, t in tab.items()}
            for n, tab in scores.items()
        },
        "denoise": {
            n: {r: {lv: _mean(v) for lv, v in t.items()} for r, t in tab.items()}
            for n, tab in dn_scores.items()
        },
        "sr": {n: {r: _mean(v) for r, v in tab.items()} for n, tab in sr_scores.items()},
        "specialists": {k: Path(v).name for k, v in specialists.items()},
        "weights": {m: Path(w).name for m, w in weights.items()},
        # each view's (rmse, ssim), in the views' order: what paired comparisons of two runs
        # on the same draw need (compare_reports)
        # each input's signal-to-noise ratio as the plugin estimates it (analysis.snr), in the
        # views' order: what the scores are set against in by_snr
        "input_snr": snrs,
        "per_view": {
            n: {r: {lv: [[a, b] for a, b, _ in v] for lv, v in t.items()} for r, t in tab.items()}
            for n, tab in scores.items()
        },
    }
    report["checks"] = checks(report["tables"], levels, per_view=scores)
    report["margins"] = margins(report)
    from ..io.atomic import write_text

    write_text(out / "generalisation.json", json.dumps(report, indent=1))
    write_text(out / "generalisation.md", markdown(report))
    return report


def real_image_check(
    image: np.ndarray,
    methods: Sequence[str] = ("jdsr", "bicubic"),
    device: str = "cpu",
    png: str | Path | None = None,
    weights: Mapping[str, str] | None = None,
    orientations: int = 1,
) -> dict:
    """x2 consistency of each method on a real image (no reference); optional side-by-side PNG."""
    from ..analysis.x2_check import x2_consistency
    from ..restore.engine import resolve

    results, outs = {}, {}
    for m in methods:
        pipe = resolve(
            m, device=device, tile=0, weights=(weights or {}).get(m), orientations=orientations
        )
        out = pipe.run(image)
        results[m] = x2_consistency(image, out)
        outs[m] = out
    if png:
        _side_by_side(png, image, outs)
    return results


def _side_by_side(path: str | Path, image: np.ndarray, outs: dict) -> None:
    from PIL import Image, ImageDraw

    def u8(z: np.ndarray, lo: float, hi: float) -> np.ndarray:
        return (np.clip((z - lo) / (hi - lo + 1e-12), 0, 1) * 255).astype(np.uint8)

    lo, hi = (float(v) for v in np.percentile(image, [0.5, 99.8]))  # one display range for all
    panels = [("input (nearest x2)", np.kron(image, np.ones((2, 2))))] + list(outs.items())
    strip = np.concatenate([u8(p, lo, hi) for _, p in panels], axis=1)
    pic = Image.fromarray(strip)
    draw = ImageDraw.Draw(pic)
    w = strip.shape[1] // len(panels)
    for i, (name, _) in enumerate(panels):
        draw.text((i * w + 6, 6), name, fill=255)
    pic.save(path)
