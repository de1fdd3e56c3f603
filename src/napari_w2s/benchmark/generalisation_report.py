"""The generalisation benchmark's report: means, the restoration issue's checks, every model
against its input, comparisons of runs on one draw, the table by the input's SNR, and the
markdown. Plain data in, plain data out: nothing here runs a model
(:mod:`.generalisation` runs them and calls these).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SEQUENTIAL = ("ridnet+rcan", "dncnn+rcan")  # the pipelines JDSR is checked against


def _mean(values: list) -> dict:
    arr = np.asarray(values, dtype=np.float64)
    return {
        "rmse": float(arr[:, 0].mean()),
        "ssim": float(arr[:, 1].mean()),
        "seconds": float(arr[:, 2].mean()),
    }


def paired_difference(a: list, b: list) -> dict:
    """JDSR minus a pipeline, view by view (the same views): mean and standard error of the RMSE
    and SSIM differences. A difference within about two standard errors of 0 is a tie that
    another draw of views may turn either way."""
    d = np.asarray(a, dtype=np.float64)[:, :2] - np.asarray(b, dtype=np.float64)[:, :2]
    n = d.shape[0]
    se = d.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(2, np.nan)
    return {
        "views": int(n),
        "rmse": float(d[:, 0].mean()),
        "rmse_se": float(se[0]),
        "ssim": float(d[:, 1].mean()),
        "ssim_se": float(se[1]),
    }


def compare_reports(a: dict, b: dict, row: str = "jdsr", row_b: str | None = None) -> dict:
    """Row ``row`` of report ``a`` against row ``row_b`` (default the same) of report ``b``, on
    the same draw of views: per set and level the two means and the paired difference a - b
    (:func:`paired_difference`); overall the mean, lowest and highest RMSE ratio a / b, the
    mean SSIM difference, and in how many cells ``a`` is lower in RMSE and higher in SSIM.
    What chooses between two trained weights on a validation draw. Reports of different draws
    (views, size or seed) or without per-view scores are refused."""
    row_b = row_b or row
    for key in ("views", "size", "seed"):
        if a.get(key) != b.get(key):
            raise ValueError(
                f"the reports are of different draws ({key} {a.get(key)} / {b.get(key)})"
            )
    if "per_view" not in a or "per_view" not in b:
        raise ValueError("a report without per-view scores (written before they were kept)")
    cells, ratios, dssim, rmse_wins, ssim_wins = [], [], [], 0, 0
    for name, rows in a["per_view"].items():
        if row not in rows or row_b not in b["per_view"].get(name, {}):
            continue
        for lv, va in rows[row].items():
            vb = b["per_view"][name][row_b][lv]
            d = paired_difference(va, vb)
            ma, mb = np.mean(va, axis=0), np.mean(vb, axis=0)
            cells.append(
                {"set": name, "level": lv, "a": [*map(float, ma)], "b": [*map(float, mb)], **d}
            )
            ratios.append(ma[0] / mb[0])
            dssim.append(ma[1] - mb[1])
            rmse_wins += bool(ma[0] < mb[0])
            ssim_wins += bool(ma[1] > mb[1])
    if not cells:
        raise ValueError(f"no set holds both rows ({row}, {row_b})")
    return {
        "cells": cells,
        "rmse_ratio": float(np.mean(ratios)),
        "rmse_ratio_range": [float(np.min(ratios)), float(np.max(ratios))],
        "ssim_difference": float(np.mean(dssim)),
        "lower_rmse": rmse_wins,
        "higher_ssim": ssim_wins,
    }


SNR_BINS = (0.0, 6.0, 8.0, 10.0, 12.0, 16.0, 25.0, float("inf"))


def by_snr(
    report: dict, row: str = "jdsr", other: str = "ridnet+rcan", bins: Sequence[float] = SNR_BINS
) -> list[dict]:
    """``row`` minus ``other`` input by input, over every set and level, grouped by the input's
    estimated signal-to-noise ratio (:func:`napari_w2s.analysis.snr.estimate_snr`, what
    ``--noise-level auto`` and the advisor use): per bin the number of inputs, the mean RMSE and
    SSIM differences with their standard errors, and in how many inputs ``row`` has the higher
    RMSE. Where a method's edge holds and where it does not, in the terms a user can measure
    on their own image. Empty without per-view scores and SNRs, or without both rows."""
    pv, snr = report.get("per_view", {}), report.get("input_snr", {})
    s, d = [], []
    for name, levels in snr.items():
        rows = pv.get(name, {})
        if row not in rows or other not in rows:
            continue
        for lv, values in levels.items():
            s += values
            d += [np.subtract(a, b) for a, b in zip(rows[row][lv], rows[other][lv], strict=True)]
    if not s:
        return []
    s_arr, d_arr = np.asarray(s), np.asarray(d, dtype=np.float64)
    out = []
    for lo, hi in zip(bins[:-1], bins[1:], strict=True):
        m = (s_arr >= lo) & (s_arr < hi)
        n = int(m.sum())
        if not n:
            continue
        se = d_arr[m].std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(2, np.nan)
        out.append(
            {
                "snr": [lo, hi],
                "inputs": n,
                "rmse": float(d_arr[m, 0].mean()),
                "rmse_se": float(se[0]),
                "ssim": float(d_arr[m, 1].mean()),
                "ssim_se": float(se[1]),
                "higher_rmse": int((d_arr[m, 0] > 0).sum()),
                "row": row,
                "other": other,
            }
        )
    return out


def with_specialists_from(report: dict, earlier: dict, name: str = "an earlier report") -> dict:
    """``report`` with the specialist CARE rows of ``earlier``, a report of the same draw (views,
    size and seed: the same views, and with the same specialist weights the same scores), and
    its checks and margins made again. Re-running the benchmark after new JDSR weights then
    needs no specialist weights at hand. Another draw is refused (ValueError)."""
    for key in ("views", "size", "seed"):
        if earlier.get(key) != report.get(key):
            raise ValueError(f"another draw ({key} {earlier.get(key)}, this run {report.get(key)})")
    # reports from before --orientations ran with one
    was, now = earlier.get("orientations", 1), report.get("orientations", 1)
    if was != now:
        raise ValueError(f"other orientations averaged ({was}, this run {now})")
    for set_name, table in report["tables"].items():
        row = earlier["tables"].get(set_name, {}).get("specialist care")
        if row:
            table["specialist care"] = row
    report["specialists"] = earlier.get("specialists", {})
    report["specialists_from"] = name
    report["checks"] = checks(report["tables"], report["levels"], per_view=report.get("per_view"))
    report["margins"] = margins(report)
    return report


def checks(tables: dict, levels: Sequence[str], per_view: dict | None = None) -> list[dict]:
    """The issue's done-criteria, one row per set and level, with the numbers.

    With ``per_view`` (each row's per-view ``(rmse, ssim, seconds)``), the JDSR-minus-best-
    sequential differences also get their paired standard errors (:func:`paired_difference`).
    """
    rows = []
    for name, t in tables.items():
        if "jdsr" not in t:
            continue
        for lv in levels:
            j = t["jdsr"][lv]
            row = {"set": name, "level": lv, "jdsr_rmse": j["rmse"]}
            if "bicubic" in t:
                ratio = j["rmse"] / t["bicubic"][lv]["rmse"]
                row.update(vs_bicubic=ratio, vs_bicubic_ok=ratio <= 0.8)
            seq = [s for s in SEQUENTIAL if s in t]
            if seq:
                best = min(seq, key=lambda s: t[s][lv]["rmse"])
                b = t[best][lv]
                row.update(
                    best_sequential=best,
                    beats_sequential=j["rmse"] < b["rmse"] and j["ssim"] > b["ssim"],
                )
                if per_view and name in per_view:
                    pv = per_view[name]
                    row["vs_sequential"] = paired_difference(pv["jdsr"][lv], pv[best][lv])
            if lv == "avg1" and "specialist care" in t:
                ratio = j["rmse"] / t["specialist care"][lv]["rmse"]
                row.update(vs_specialist=ratio, vs_specialist_ok=ratio <= 1.10)
            rows.append(row)
    return rows


def margins(report: dict) -> list[dict]:
    """Every model against its input, per set (and level): RMSE ratio and whether it is below 1.

    Denoisers against the noisy input (vs the clean image), SR networks against bicubic of the
    clean image, JDSR models against bicubic of the noisy input (vs SIM).
    """
    rows = []
    for name, t in report.get("denoise", {}).items():
        for m, cells in t.items():
            if m == "noisy input":
                continue
            worst = max(cells[lv]["rmse"] / t["noisy input"][lv]["rmse"] for lv in cells)
            rows.append({"set": name, "model": m, "against": "noisy input", "worst_ratio": worst})
    for name, t in report.get("sr", {}).items():
        for m, cell in t.items():
            if m != "bicubic" and "bicubic" in t:
                rows.append(
                    {
                        "set": name,
                        "model": m,
                        "against": "bicubic of the clean LR",
                        "worst_ratio": cell["rmse"] / t["bicubic"]["rmse"],
                    }
                )
    for name, t in report["tables"].items():
        for m, cells in t.items():
            if m in ("bicubic",) or "+" in m or "bicubic" not in t:
                continue
            worst = max(cells[lv]["rmse"] / t["bicubic"][lv]["rmse"] for lv in cells)
            rows.append(
                {
                    "set": name,
                    "model": m,
                    "against": "bicubic of the noisy input",
                    "worst_ratio": worst,
                }
            )
    for r in rows:
        r["beats_input"] = r["worst_ratio"] < 1.0
    return rows


def markdown(report: dict) -> str:
    lv = report["levels"]
    md = [
        "# Generalisation benchmark",
        "",
        f"{report['views']} views of {report['size']} x {report['size']} LR pixels per set "
        f"(seed {report['seed']}); RMSE/SSIM in the clean image's z-score, predictions scored "
        "as they come out (never re-normalised). Sets: settings the training never drew "
        "(`docs/simulator.md`, held-out regions).",
        "",
    ]
    if report.get("orientations", 1) > 1:
        md += [
            f"Every network averaged over {report['orientations']} orientations of its input "
            "(`w2s restore --orientations`).",
            "",
        ]
    if report.get("specialists_from"):
        md += [
            "The specialist CARE rows are taken from an earlier run of this benchmark on the same "
            f"views with the same specialist weights ({report['specialists_from']}).",
            "",
        ]
    for name, t in report["tables"].items():
        md += [f"## {name}", "", "| | " + " | ".join(lv) + " |", "|---" * (len(lv) + 1) + "|"]
        for row, cells in t.items():
            md.append(
                f"| {row} | "
                + " | ".join(f"{cells[c]['rmse']:.3f}/{cells[c]['ssim']:.3f}" for c in lv)
                + " |"
            )
        md.append("")
    if any(len(t) > 1 for t in report.get("denoise", {}).values()):  # more than the input
        md += ["## Denoisers (RMSE/SSIM against the clean image)", ""]
        for name, t in report["denoise"].items():
            md += [f"**{name}**", "", "| | " + " | ".join(lv) + " |", "|---" * (len(lv) + 1) + "|"]
            md += [
                f"| {row} | "
                + " | ".join(f"{c[x]['rmse']:.3f}/{c[x]['ssim']:.3f}" for x in lv)
                + " |"
                for row, c in t.items()
            ]
            md.append("")
    if any(report.get("sr", {}).values()):
        names = list(report["sr"])
        rows = list(next(iter(report["sr"].values())))
        md += [
            "## SR networks on the clean image (RMSE/SSIM against SIM)",
            "",
            "| | " + " | ".join(names) + " |",
            "|---" * (len(names) + 1) + "|",
        ]
        md += [
            f"| {r} | "
            + " | ".join(
                f"{report['sr'][n][r]['rmse']:.3f}/{report['sr'][n][r]['ssim']:.3f}" for n in names
            )
            + " |"
            for r in rows
        ]
        md.append("")
    if report.get("margins"):
        md += [
            "## Every model against its input (worst RMSE ratio over the levels)",
            "",
            "| set | model | against | worst ratio |",
            "|---|---|---|---|",
        ]
        md += [
            f"| {m['set']} | {m['model']} | {m['against']} | {m['worst_ratio']:.2f}"
            f"{'' if m['beats_input'] else ' **no**'} |"
            for m in report["margins"]
        ]
        md.append("")
    md += [
        "## Checks",
        "",
        "| set | level | JDSR / bicubic RMSE (<= 0.8) | beats best sequential "
        "(RMSE and SSIM) | JDSR - best sequential: RMSE, SSIM (± s.e., paired over views) "
        "| JDSR / specialist CARE RMSE at avg1 (<= 1.10) |",
        "|---|---|---|---|---|---|",
    ]
    for c in report["checks"]:
        bic = (
            f"{c['vs_bicubic']:.2f} {'ok' if c['vs_bicubic_ok'] else '**no**'}"
            if "vs_bicubic" in c
            else ""
        )
        seq = (
            f"{'yes' if c['beats_sequential'] else '**no**'} ({c['best_sequential']})"
            if "beats_sequential" in c
            else ""
        )
        spec = (
            f"{c['vs_specialist']:.2f} {'ok' if c['vs_specialist_ok'] else '**no**'}"
            if "vs_specialist" in c
            else ""
        )
        d = c.get("vs_sequential")
        diff = (
            f"{d['rmse']:+.4f} ± {d['rmse_se']:.4f}, {d['ssim']:+.4f} ± {d['ssim_se']:.4f}"
            if d
            else ""
        )
        md.append(f"| {c['set']} | {c['level']} | {bic} | {seq} | {diff} | {spec} |")
    bins = by_snr(report)
    if bins:
        md += [
            "",
            f"## {bins[0]['row']} - {bins[0]['other']} by the input's SNR",
            "",
            "Every set and level together, input by input, grouped by the input's signal-to-noise "
            "ratio as the plugin estimates it (`napari_w2s.analysis.snr`, what `--noise-level "
            "auto` and the advisor use).",
            "",
            "| input SNR | inputs | RMSE difference (± s.e.) | SSIM difference (± s.e.) | "
            f"{bins[0]['row']} higher in RMSE |",
            "|---|---|---|---|---|",
        ]
        for b in bins:
            lo, hi = b["snr"]
            label = f"{lo:g}-{hi:g}" if np.isfinite(hi) else f">= {lo:g}"
            md.append(
                f"| {label} | {b['inputs']} | {b['rmse']:+.4f} ± {b['rmse_se']:.4f} | "
                f"{b['ssim']:+.4f} ± {b['ssim_se']:.4f} | {b['higher_rmse']} of {b['inputs']} |"
            )
    if report.get("real"):
        md += [
            "",
            "## The real nuclei image",
            "",
            "| method | mean shift (input std) | "
            "correlation (x2 binned vs input) | grid phase offset (output std) |",
            "|---|---|---|---|",
        ]
        for m, r in report["real"].items():
            md.append(
                f"| {m} | {r['mean_shift_std']:.4f} | {r['corr']:.4f} | {r['grid_phase_std']:.4f} |"
            )
    return "\n".join(md) + "\n"
