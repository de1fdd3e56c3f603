"""The Metrics dock's rows without Qt: RMSE / PSNR / SSIM (and the trust check's
``outside_3sigma``) of result images against a reference, the summary and units lines, and the
CSV export."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np

MODE_NAMES = {"w2s": "W2S units", "affine": "reference matched affinely", "plain": "plain values"}
CSV_COLUMNS = (
    "layer",
    "reference",
    "rmse",
    "psnr_db",
    "ssim",
    "outside_3sigma",
    "mode",
    "clean",
)


def metrics_job(
    preds: list[tuple[str, np.ndarray]],
    ref: np.ndarray,
    clean: np.ndarray | None,
    mode: str,
    inputs: dict[str, np.ndarray] | None = None,
):
    """Worker body: one row per prediction, yielded as it is measured (with a units check).

    ``inputs`` maps a result's name to the image it was restored from: its row then also has
    ``outside_3sigma``, the fraction of the input's pixels the result contradicts
    (:func:`~napari_w2s.analysis.consistency.check_restoration`); else ``None``.
    """
    from ..analysis.metrics import measure, units_mismatch
    from ..errors import W2SInputError

    rows = []
    for name, pred in preds:
        values, used = measure(pred, ref, clean, mode)
        outside = None
        source = (inputs or {}).get(name)
        if source is not None:
            from ..analysis.consistency import check_restoration

            try:
                outside = check_restoration(pred, source).outside_3sigma
            except W2SInputError:  # too small, or not its input after all: no figure
                outside = None
        row = {
            "layer": name,
            "rmse": values["rmse"],
            "psnr": values["psnr"],
            "ssim": values["ssim"],
            "outside_3sigma": outside,
            "mode": used,
            "units": units_mismatch(pred, ref),
        }
        rows.append(row)
        yield row
    return rows


def source_image(layer: Any, layers: dict) -> np.ndarray | None:
    """The 2-D image a result layer was restored from (its ``source_layer``, at the result's
    frame), or ``None`` when that layer is gone or does not fit."""
    meta = layer.metadata or {}
    name = meta.get("source_layer") or (meta.get("provenance") or {}).get("source_layer")
    src = layers.get(name or "")
    if src is None:
        return None
    data = src.data
    frame = (meta.get("parameters") or {}).get("frame")
    if data.ndim > 2:
        if not isinstance(frame, list) or len(frame) != data.ndim - 2:
            return None
        data = data[tuple(frame)]
    return np.asarray(data) if data.ndim == 2 else None


def summary_html(rows: list[dict], ref_name: str, clean_name: str | None) -> str:
    """One status line: how many results, against what, in which units; the best one."""
    used = {r["mode"] for r in rows}
    how = ", ".join(MODE_NAMES.get(m, m) for m in sorted(used))
    if "w2s" in used and clean_name:
        how += f" (z-score by {clean_name})"
    best = ""
    if len(rows) > 1:
        top = min(rows, key=lambda r: r["rmse"])
        best = f"<br>best: <b>{top['layer']}</b> (lowest RMSE, {top['rmse']:.4g})"
    return f"{len(rows)} layer(s) against {ref_name}, {how}; click a header to sort{best}"


def units_html(rows: list[dict], ref_name: str) -> str:
    """Why the numbers may mislead ('' when the results and the reference share units); a
    warning (starting with ⚠) when plain values of different units were compared."""
    odd = [r for r in rows if r.get("units")]
    if not odd:
        return ""
    u = odd[0]["units"]
    (p0, p1), (r0, r1) = u["pred_range"], u["ref_range"]
    what = (
        f"{odd[0]['layer']!r} (values {p0:.3g}..{p1:.3g}) and the reference "
        f"{ref_name!r} ({r0:.3g}..{r1:.3g}) are in different units "
        f"(ranges differ x{max(u['ratio'], 1 / u['ratio']):.3g})"
    )
    if any(r["mode"] == "plain" for r in odd):
        return (
            f"⚠ {what}: plain RMSE / PSNR / SSIM are meaningless here. Use the mode "
            "<i>auto</i> (W2S units with a clean layer, else the reference matched "
            "affinely)."
        )
    return f"{what}; the reference was put in the results' units before measuring."


def rows_csv(rows: list[dict], ref_name: str, clean_name: str | None) -> str:
    """The rows as CSV text (full precision; the clean layer named where W2S units were used)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        outside = row.get("outside_3sigma")
        writer.writerow(
            [
                row["layer"],
                ref_name,
                repr(row["rmse"]),
                repr(row["psnr"]),
                repr(row["ssim"]),
                "" if outside is None else repr(outside),
                row["mode"],
                (clean_name or "") if row["mode"] == "w2s" else "",
            ]
        )
    return out.getvalue()
