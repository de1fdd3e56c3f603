"""A model card's normalisation as BMZ pre- and postprocessing, and back.

Export: :func:`processing` writes a card's map as BMZ steps (a fixed ``zscore`` map exactly, a
per-image ``percentile`` map as ``scale_range`` with no inverse) and :func:`normalise` computes
the test input as BMZ does. Import: :func:`card_normalisation` reads a package's steps back as a
card's map, refusing what the engine cannot reproduce.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def processing(norm: dict) -> tuple[list[dict], list[dict], bool]:
    """BMZ pre- and postprocessing of a card's normalisation, and whether the output is in the
    input's units (exact inverse) or in normalised units."""
    from ..normalisation import spec_of

    norm = spec_of(norm)
    pre: list[dict] = [{"id": "ensure_dtype", "kwargs": {"dtype": "float32"}}]
    post: list[dict] = []
    if norm["kind"] == "zscore":
        mean, std = float(norm["mean"]), float(norm["std"])
        pre.append({"id": "fixed_zero_mean_unit_variance", "kwargs": {"mean": mean, "std": std}})
        post.append({"id": "scale_linear", "kwargs": {"gain": std, "offset": mean}})
        exact = True
    else:
        pre.append(
            {
                "id": "scale_range",
                "kwargs": {
                    "axes": ["y", "x"],
                    "min_percentile": float(norm["low"]),
                    "max_percentile": float(norm["high"]),
                    "eps": 1e-6,
                },
            }
        )
        exact = False
    post.append({"id": "ensure_dtype", "kwargs": {"dtype": "float32"}})
    return pre, post, exact


def normalise(x: np.ndarray, norm: dict) -> tuple[np.ndarray, Any]:
    """``x`` in the network's units as BMZ computes it, and the inverse (or None)."""
    from ..normalisation import spec_of

    norm = spec_of(norm)
    x = x.astype(np.float32)
    if norm["kind"] == "zscore":
        mean, std = np.float32(norm["mean"]), np.float32(norm["std"])
        return (x - mean) / std, lambda y: (y * std + mean).astype(np.float32)
    lo, hi = np.percentile(x, [float(norm["low"]), float(norm["high"])])
    return ((x - np.float32(lo)) / np.float32(hi - lo + 1e-6)).astype(np.float32), None


def card_normalisation(pre: list, post: list) -> tuple[dict, str]:
    """The card normalisation of a package's processing, and a note on the output's units.
    Steps the engine cannot reproduce raise :class:`ValueError` (the reason)."""
    norm: dict | None = None
    for step in pre or []:
        sid, kw = step.get("id"), step.get("kwargs") or {}
        if sid == "ensure_dtype":
            continue
        if norm is not None:
            raise ValueError(f"more than one normalising preprocessing step ({sid})")
        if sid == "fixed_zero_mean_unit_variance" and np.ndim(kw.get("mean")) == 0:
            norm = {"kind": "zscore", "mean": float(kw["mean"]), "std": float(kw["std"])}
        elif (
            sid == "scale_linear"
            and np.ndim(kw.get("gain", 1.0)) == 0
            and float(kw.get("gain", 1.0)) > 0
        ):
            gain, offset = float(kw.get("gain", 1.0)), float(kw.get("offset", 0.0))
            norm = {"kind": "zscore", "mean": -offset / gain, "std": 1.0 / gain}
        elif (
            sid == "scale_range"
            and kw.get("reference_tensor") in (None, "input")
            and set(kw.get("axes") or ["y", "x"]) <= {"y", "x", "batch"}
        ):
            norm = {
                "kind": "percentile",
                "low": float(kw.get("min_percentile", 0.0)),
                "high": float(kw.get("max_percentile", 100.0)),
            }
        else:
            raise ValueError(
                f"preprocessing {sid} {kw or ''} is not supported here (fixed "
                "zero-mean-unit-variance, scale_linear or scale_range)"
            )
    norm = norm or {"kind": "zscore", "mean": 0.0, "std": 1.0}
    note = ""
    for step in post or []:
        sid, kw = step.get("id"), step.get("kwargs") or {}
        if sid == "ensure_dtype":
            continue
        if sid == "scale_linear" and norm["kind"] == "zscore" and np.ndim(kw.get("gain", 1)) == 0:
            gain, offset = float(kw.get("gain", 1.0)), float(kw.get("offset", 0.0))
            if np.isclose(gain, norm["std"], rtol=1e-6) and np.isclose(
                offset, norm["mean"], rtol=1e-6, atol=1e-9
            ):
                continue
        raise ValueError(
            f"postprocessing {sid} {kw or ''} is not supported here (only the "
            "inverse of the preprocessing)"
        )
    if not any(s.get("id") == "scale_linear" for s in post or []) and not (
        norm == {"kind": "zscore", "mean": 0.0, "std": 1.0}
    ):
        note = (
            "the package's own output is in normalised units; napari-w2s maps the result "
            "back to the input's units"
        )
    return norm, note
