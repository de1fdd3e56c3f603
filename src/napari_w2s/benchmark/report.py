"""The benchmark's results: cells and tables, and how they are written (Markdown, CSV, JSON and
a figure of crops of every result)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io.atomic import save_figure, write_text


@dataclass
class Cell:
    """One cell of a table: the mean RMSE and SSIM and seconds per image, or ``n/a`` and why."""

    rmse: float | None = None
    ssim: float | None = None
    seconds: float = 0.0
    note: str = ""

    def text(self) -> str:
        if self.rmse is None:
            return "n/a"
        return f"{self.rmse:.3f}/{self.ssim:.3f}"


@dataclass
class Table:
    """A table of cells by (row, column), written as Markdown or CSV rows."""

    title: str
    rows: list[str]
    cols: list[str]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    def cell(self, row: str, col: str) -> Cell:
        """The cell at ``row``, ``col``; an empty one (``n/a``) where there is none."""
        return self.cells.get((row, col), Cell())

    def markdown(self) -> str:
        lines = [
            f"### {self.title}",
            "",
            "| | " + " | ".join(self.cols) + " |",
            "|---" * (len(self.cols) + 1) + "|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r} | "
                + " | ".join(self.cells.get((r, c), Cell()).text() for c in self.cols)
                + " |"
            )
        notes = sorted({c.note for c in self.cells.values() if c.note})
        if notes:
            lines += ["", *(f"- {n}" for n in notes)]
        return "\n".join(lines)

    def csv_rows(self) -> list[dict]:
        return [
            {
                "table": self.title,
                "row": r,
                "col": c,
                "rmse": cell.rmse,
                "ssim": cell.ssim,
                "seconds": round(cell.seconds, 3),
                "note": cell.note,
            }
            for (r, c), cell in self.cells.items()
        ]


def write_report(out: Path, tables: Sequence[Table], report: dict, top: str) -> None:
    """``benchmark.md`` (the tables, the crops figure and the claims), ``benchmark.csv`` (one
    row per cell) and ``benchmark.json`` (``report``) in the folder ``out``."""
    data, n, claims = report["data"], report["views"], report["claims"]
    excluded = [set(v) for v in report["views_left_out"].values()]
    left_out = sorted(set().union(*excluded))
    md = ["# Benchmark", "", f"Data: `{data}`, test split, {n} views; RMSE/SSIM in W2S units."]
    if left_out:
        views = ", ".join(str(i + 1) for i in left_out)
        md.append(
            "Every number of a column is a mean over the same views: a view on which a method "
            f"failed is left out of its whole column (views left out somewhere: {views})."
        )
    if report["weights"]:
        used = "; ".join(f"{m}: {', '.join(f)}" for m, f in report["weights"].items())
        md.append(
            "Weights (a model trained for a noise level serves that level, the noise-blind one "
            f"the others): {used}"
        )
    md += [
        "",
        *(t.markdown() + "\n" for t in tables),
        f"![crops of the first test view at {top}](benchmark_crops.png)",
        "",
        "## Claims of the paper",
        "",
    ]
    md += [f"- **{c['status']}**: {c['claim']} ({c['evidence']})" for c in claims]
    write_text(out / "benchmark.md", "\n".join(md) + "\n")
    rows = io.StringIO(newline="")
    writer = csv.DictWriter(rows, ["table", "row", "col", "rmse", "ssim", "seconds", "note"])
    writer.writeheader()
    for t in tables:
        writer.writerows(t.csv_rows())
    write_text(out / "benchmark.csv", rows.getvalue())
    write_text(out / "benchmark.json", json.dumps(report, indent=2, default=str))


def crops_figure(path: Path, crops: dict, clean: np.ndarray, sim: np.ndarray, level: str) -> None:
    """A grid of the same crop of every result on the first view (like the paper's Fig. 3-5)."""
    from matplotlib.figure import Figure

    h = clean.shape[0]
    n = min(64, h // 2)
    y0 = (h - n) // 2
    panels = [
        ("clean LR", clean, 1),
        *((k, v, v.shape[0] // h) for k, v in crops.items()),
        ("SIM", sim, 2),
    ]
    cols = min(6, len(panels))
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(2.0 * cols, 2.2 * rows), dpi=100, layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, (name, img, f) in zip(axes, panels, strict=False):
        crop = img[f * y0 : f * (y0 + n), f * y0 : f * (y0 + n)]
        lo, hi = np.percentile(crop, [0.5, 99.8])
        ax.imshow(crop, cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(name if name in ("clean LR", "SIM") else f"{name} ({level})", fontsize=8)
    save_figure(fig, path)
