"""The JDSR restoration's expected RMSE / SSIM against SIM, from curves stored with its card.

``scripts/measure_jdsr_curves.py`` runs the shipped model on randomised simulated views
(:mod:`napari_w2s.simulate.randomised`) at every W2S level, records the RMSE and SSIM of each
restoration against SIM (W2S units: the clean image's z-score, as the card's ``metrics``), the
input's SNR (:func:`average_snr`: the clean range over the noise of the ``N``-frame average, both
estimated from the view's first 16 frames as the advisor estimates them) and how much fine
structure the view has (:func:`detail_fraction`), and fits one curve per metric, monotone in the
SNR::

    value = (c0 + c1 * snr ** -p) * (detail / 0.1) ** k      (p > 0; c1 > 0 for RMSE, < 0 for SSIM)

It writes them into the card's ``advisor`` field, with the sha256 of the weights they were
measured on. :func:`load_curves` refuses curves measured on other weights (a retrained model
needs the script run again; so are curves measured with another SNR, :data:`SNR_KIND`), and the
advisor predicts the restoration of an average of ``N`` frames from the SNR that average will
have (:func:`average_snr`) and the detail of the view.

Why this SNR and not the noisy image's own (:func:`napari_w2s.analysis.snr.estimate_snr`, its
percentile range over its noise): the percentile range of a dim image is mostly noise (pure
noise alone gives about 5), so that SNR stays near 5 however many frames are averaged, and the
curve predicted no gain from averaging where JDSR's error halved (session 19: one held-out stack
predicted 0.69 at N = 16 against 0.34 measured). The clean range is estimated once from all the
frames given, and the noise of an ``N``-frame average is the noise law's at the mean signal over
``N``, so the SNR grows as ``sqrt(N)`` by construction.

Why the detail: against SIM, the restoration's error depends on the sample at least as much as
on the light (the structure finer than the widefield resolution is what SR has to guess); at
the same SNR, views differ by a factor 3-5. The share of the widefield image's signal variance
at 0.1-0.2 cycles per pixel, the finest structure it still shows clearly, explains part of it
(on held-out views the median error of the predicted RMSE drops from about 30 % to about 13 %).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

FORM = "(c0 + c1 * snr ** -p) * (detail / 0.1) ** k"
DETAIL_BAND = (0.1, 0.2)  # cycles per pixel
DETAIL_REF = 0.1
KEY = "jdsr_vs_sim"  # the card's advisor[...] entry
SNR_KIND = "clean range / noise std of the N-frame average"  # the curves' x axis (average_snr)


def detail_fraction(image: Any) -> float:
    """Share of the image's signal variance at 0.1-0.2 cycles per pixel: its fine structure.

    From the radially averaged periodogram less its noise floor (the corners of the spectrum,
    :mod:`napari_w2s.analysis.noise_spectral`), so that noise does not count as structure;
    clamped to ``[1e-4, 1]``.
    """
    from .noise_spectral import CORNER, _ring_profile

    f, p, n = _ring_profile(np.asarray(image, dtype=np.float64))
    corner = f >= CORNER
    floor = float((p[corner] * n[corner]).sum() / max(n[corner].sum(), 1))
    power = np.maximum(p - floor, 0.0) * n
    band = (f >= DETAIL_BAND[0]) & (f < DETAIL_BAND[1])
    total = float(power[(f > 0.01) & ~corner].sum())
    return float(np.clip(power[band].sum() / total, 1e-4, 1.0)) if total > 0 else 1e-4


def curve_value(params: dict, snr: Any, detail: Any = None) -> np.ndarray:
    """The curve at ``snr`` (clamped to the measured SNR range) and ``detail`` (the reference
    0.1 when not given; clamped to the measured range)."""
    lo, hi = params.get("snr_range", (0.0, math.inf))
    s = np.clip(np.asarray(snr, dtype=np.float64), max(lo, 1e-6), hi)
    value = params["c0"] + params["c1"] * s ** -params["p"]
    k = params.get("k", 0.0)
    if k and detail is not None:
        d_lo, d_hi = params.get("detail_range", (1e-4, 1.0))
        d = np.clip(np.asarray(detail, dtype=np.float64), d_lo, d_hi)
        value = value * (d / DETAIL_REF) ** k
    return value


def fit_curve(snr: Any, values: Any, decreasing: bool, detail: Any = None) -> dict:
    """Least-squares curve of the module docstring (monotone in the SNR: the sign of ``c1``
    fixed by ``decreasing``; ``k = 0`` without ``detail``), with the measured ranges and the
    spread of ``value / curve``.

    A decreasing curve (RMSE) is fitted to the logarithms (relative errors count, as the
    advisor's accuracy is judged relatively); an increasing one (SSIM) to the values.
    """
    from scipy.optimize import least_squares

    s = np.asarray(snr, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    d = np.full(s.shape, DETAIL_REF) if detail is None else np.asarray(detail, dtype=np.float64)
    ok = np.isfinite(s) & np.isfinite(v) & np.isfinite(d) & (s > 0) & (d > 0)
    ok &= (v > 0) | (not decreasing)
    s, v, d = s[ok], v[ok], d[ok]
    if s.size < 4:
        raise ValueError("at least 4 measurements are needed to fit a curve")
    sign = 1.0 if decreasing else -1.0
    ratio_d = d / DETAIL_REF

    def residual(q: np.ndarray) -> np.ndarray:
        c0, c, p, k = q
        model = (c0 + sign * c * s**-p) * ratio_d ** (k if detail is not None else 0.0)
        return np.log(np.maximum(model, 1e-9) / v) if decreasing else model - v

    span = float(np.ptp(v)) or 1.0
    c0 = float(v.min() if decreasing else v.max())
    q0 = [c0, span * float(np.median(s)) ** 0.5, 0.5, 0.0]
    lower = [0.0 if decreasing else -np.inf, 0.0, 0.02, -2.0]
    res = least_squares(residual, q0, bounds=(lower, [np.inf, np.inf, 4.0, 2.0]))
    c0, c, p, k = (float(x) for x in res.x)
    params = {
        "form": FORM,
        "c0": c0,
        "c1": sign * c,
        "p": p,
        "k": k if detail is not None else 0.0,
        "snr_range": [float(s.min()), float(s.max())],
        "detail_range": [float(d.min()), float(d.max())],
    }
    ratio = v / np.maximum(np.abs(curve_value(params, s, d)), 1e-12)
    params["ratio_quantiles"] = {
        "q05": float(np.quantile(ratio, 0.05)),
        "q50": float(np.median(ratio)),
        "q95": float(np.quantile(ratio, 0.95)),
    }
    return params


def load_curves(method: str = "jdsr", card: dict | None = None) -> tuple[dict | None, str]:
    """The curves of ``method``'s shipped noise-blind model, or ``None`` and why there are none.

    Curves measured on other weights (their ``weights_sha256`` is not the card's) are refused.
    """
    if card is None:
        from ..restore.zoo import shipped

        cards = [c for c in shipped() if c["name"] == method and c["noise_level"] == "blind"]
        if not cards:
            return None, f"no shipped noise-blind {method} model"
        card = cards[0]
    entry = (card.get("advisor") or {}).get(KEY)
    if not entry:
        return None, (
            f"the {method} model card has no advisor curves (run scripts/measure_jdsr_curves.py)"
        )
    if entry.get("weights_sha256") != card.get("sha256"):
        return None, (
            f"the {method} model's advisor curves were measured on other weights; run "
            "scripts/measure_jdsr_curves.py again"
        )
    if entry.get("snr_kind") != SNR_KIND:
        return None, (
            f"the {method} model's advisor curves were measured against another SNR; run "
            "scripts/measure_jdsr_curves.py again"
        )
    return entry, ""


def predict(curves: dict, snr: float, detail: float | None = None) -> dict[str, Any]:
    """Expected RMSE and SSIM of the restoration against SIM for an input of this SNR (and
    view detail, :func:`detail_fraction`), with the 5-95 % range of the measured views around
    the curve."""
    out: dict[str, Any] = {"snr": float(snr), "detail": detail}
    for metric in ("rmse", "ssim"):
        params = curves[metric]
        value = float(curve_value(params, snr, detail))
        q = params.get("ratio_quantiles", {})
        out[metric] = value
        out[f"{metric}_range"] = [value * q.get("q05", 1.0), value * q.get("q95", 1.0)]
    lo, hi = curves["rmse"].get("snr_range", (0.0, math.inf))
    out["extrapolated"] = not lo <= snr <= hi
    return out


def average_snr(data_range: float, noise_var_1: float, n: int) -> float:
    """The SNR of the average of ``n`` frames: the clean image's range over the standard
    deviation of the average's noise at the mean signal, ``R / sqrt(var_1 / n)``.

    ``data_range`` and ``noise_var_1`` (one frame's noise variance at the mean signal,
    ``a * mean + b``) are what :func:`napari_w2s.analysis.advisor.advise` estimates from the
    frames (:func:`napari_w2s.analysis.signal_range.clean_range`, the noise estimators). A
    camera gain ``g`` scales the range by ``g`` and the variance by ``g**2``, and an offset
    changes neither (``b`` absorbs it), so the ratio is camera-independent.
    """
    if not data_range > 0:
        return 0.0
    if not noise_var_1 > 0:
        return math.inf
    return float(data_range / math.sqrt(noise_var_1 / max(n, 1)))


def write_curves(card_file: str | Path, entry: dict) -> None:
    """Store ``entry`` as the card's ``advisor[KEY]`` (other card fields untouched)."""
    from ..io.atomic import atomic_file

    path = Path(card_file)
    card = json.loads(path.read_text())
    card.setdefault("advisor", {})[KEY] = entry
    with atomic_file(path) as fh:
        fh.write(json.dumps(card, indent=2).encode())  # as ModelCard.to_json writes cards
        os.chmod(fh.name, 0o644)
