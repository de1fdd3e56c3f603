"""The paper's benchmark tables on any data set in the W2S layout (real or simulated).

* Table 1: denoisers at each noise level against the clean LR image (``avg{T}``).
* Table 2: every denoiser followed by every SR method at the highest noise level (``avg1``),
  plus the rows "noise-free LR" (SR on the clean image) and "noisy LR" (SR on ``avg1``).
* Table 3: sequential denoiser + SR against end-to-end JDSR models at each noise level.

Values are RMSE / SSIM in the units of the paper: the processed layout's global z-score, the SIM
image affinely matched to its clean LR image (``docs/conventions.md``). Methods run in the
data's raw units (ADU): inputs are mapped back with the data set's normalisation, restored, and
mapped forward again. A method without trained weights gets ``n/a`` and the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import W2SInputError
from ..io.folders import check_output_dir
from ..progress import Progress
from .claims import check_claims
from .report import Cell, Table, crops_figure, write_report
from .runner import Runner, check_methods, score

__all__ = ["DENOISERS", "JDSR", "SR", "Cell", "Table", "check_claims", "iter_benchmark"]

DENOISERS = ("dncnn", "memnet", "ridnet", "pure-let", "vst-nlm", "vst-bm3d", "vst-epll")
SR = ("rcan", "rdn", "san", "srfbn", "epsr", "esrgan", "bicubic")
JDSR = ("jdsr", "jdsr-rcan", "jdsr-esrgan", "care")


def iter_benchmark(
    data: str | Path,
    out: str | Path,
    views: int = 6,
    levels: Sequence[str] | None = None,
    denoisers: Sequence[str] = DENOISERS,
    sr: Sequence[str] = SR,
    jdsr: Sequence[str] = JDSR,
    device: str = "auto",
    log: Callable[[str], None] | None = None,
    weights: Mapping[str, str] | None = None,
    required: Sequence[str] = (),
) -> Generator[Progress, None, dict]:
    """Compute the three tables on the first ``views`` test views; yields a ``Progress`` of views.

    ``weights`` maps method names to weights files (with their cards) that replace the shipped
    ones, e.g. to benchmark models a user trained with ``w2s train``. The methods of
    ``required`` (those a user named) and those given weights must run: one that cannot be
    built (no weights, broken weights) is a :class:`W2SInputError` before any work, and one
    that failed on every image is listed in the report's ``"failed_methods"`` (the others are
    ``n/a`` with the reason, as the methods of the default lists without shipped weights).
    """
    from ..training.data import load_pairs

    say = log or (lambda _m: None)
    out = Path(out)
    check_methods(denoisers, sr, jdsr, weights)
    runner = Runner(device, weights)
    must_run = list(dict.fromkeys([*required, *(weights or {})]))
    for method in must_run:  # built now (and kept): bad weights fail before any work
        if runner.get(method) is None:
            raise W2SInputError(runner.failed[method])
    check_output_dir(out)  # a file in the way or a read-only folder: one clear line
    dn = load_pairs(data, "test", "denoise")
    js = load_pairs(data, "test", "jdsr")
    clean_lr = load_pairs(data, "test", "sr")
    n = min(views, len(dn.views))
    if n == 0:
        raise W2SInputError(f"{data}: the test split has no views")
    lv = list(levels or dn.inputs)
    top = lv[0]
    runner.set_normalisation(dn.normalisation)
    t1 = Table("Table 1: denoising, RMSE/SSIM vs the clean LR", ["noisy input", *denoisers], lv)
    t2 = Table(
        f"Table 2: denoiser + SR at {top}, RMSE/SSIM vs SIM",
        ["noise-free LR", "noisy LR", *denoisers],
        list(sr),
    )
    # every denoiser before the first SR network (rows without results are dropped at the end)
    t3 = Table(
        "Table 3: sequential vs joint, RMSE/SSIM vs SIM",
        [f"{d}+{s}" for d in denoisers for s in sr[:1]] + list(jdsr),
        lv,
    )
    acc: dict[tuple[str, str, str], list] = {}

    crops: dict[str, np.ndarray] = {}  # the first view at the top level, for the figure

    def add(table: Table, row: str, col: str, pred, target, seconds: float) -> None:
        r, s = score(pred, target)
        acc.setdefault((table.title, row, col), []).append((r, s, seconds))
        if len(acc[(table.title, row, col)]) == 1 and col == top and pred is not None:
            crops.setdefault(row, pred)

    for i in range(n):
        target_lr, target_hr = dn.target[i], js.target[i]
        denoised: dict[tuple[str, str], np.ndarray | None] = {}
        for level in lv:
            noisy = dn.inputs[level][i]
            add(t1, "noisy input", level, noisy, target_lr, 0.0)
            for d in denoisers:
                pred, sec = runner.run(d, noisy, level)
                denoised[(d, level)] = pred
                add(t1, d, level, pred, target_lr, sec)
        clean_in = clean_lr.inputs[next(iter(clean_lr.inputs))][i]
        for s in sr:
            pred, sec = runner.run(s, clean_in)
            add(t2, "noise-free LR", s, pred, target_hr, sec)
            pred, sec = runner.run(s, dn.inputs[top][i])
            add(t2, "noisy LR", s, pred, target_hr, sec)
            for d in denoisers:
                first = denoised.get((d, top))
                pred, sec = runner.run(s, first) if first is not None else (None, 0.0)
                add(t2, d, s, pred, target_hr, sec)
        for level in lv:
            for row in t3.rows:
                if "+" in row:
                    d, s = row.split("+")
                    first = denoised.get((d, level))
                    pred, sec = runner.run(s, first) if first is not None else (None, 0.0)
                else:
                    pred, sec = runner.run(row, js.inputs[level][i], level)
                add(t3, row, level, pred, target_hr, sec)
        say(f"view {i + 1}/{n} done")
        yield Progress(i + 1, n, "view")

    crops_figure(out / "benchmark_crops.png", crops, dn.target[0], js.target[0], top)
    tables = [t1, t2, t3]
    excluded = _means_over_common_views(tables, acc, n, runner.failed)
    t3.rows = [
        r for r in t3.rows if "+" not in r or any(t3.cell(r, c).rmse is not None for c in t3.cols)
    ]
    t3.cells = {k: v for k, v in t3.cells.items() if k[0] in t3.rows}
    for method, errs in runner.errors.items():
        for t in tables:
            for (r, c), cell in t.cells.items():
                if method in (r, c) or method in r.split("+"):
                    cell.note = cell.note or (
                        f"{method}: {len(errs)} image(s) failed, e.g. {errs[0]}"
                    )
    claims = check_claims(t1, t2, t3, denoisers, sr, jdsr, top)
    report = {
        "data": str(data),
        "views": n,
        "levels": lv,
        "views_left_out": {k: sorted(v) for k, v in excluded.items() if v},
        "normalisation": dn.normalisation,
        "claims": claims,
        "weights": {m: sorted(f) for m, f in sorted(runner.used.items()) if f},
        "failed_methods": {
            m: runner.errors[m][0]
            for m in must_run
            if not runner.succeeded.get(m) and m in runner.errors
        },
        "tables": {
            t.title: {f"{r} | {c}": vars(cell) for (r, c), cell in t.cells.items()} for t in tables
        },
    }
    write_report(out, tables, report, top)
    return report


def _means_over_common_views(
    tables: Sequence[Table],
    acc: dict[tuple[str, str, str], list],
    n: int,
    failed: Mapping[str, str],
) -> dict[str, set[int]]:
    """Fill the tables' cells with the means of the per-view scores ``acc`` (``n`` views; the
    reasons of the methods that could not run, ``failed``, in the empty cells); returns the
    views left out of each table."""
    excluded: dict[str, set[int]] = {}
    for t in tables:
        for c in t.cols:
            # one set of views per column: a view on which a method failed (e.g. a classical
            # denoiser that could not estimate the noise) is left out of every row of the
            # column, so that all its numbers are means over the same images
            runs = [acc.get((t.title, r, c), []) for r in t.rows]
            runs = [v for v in runs if any(x[0] is not None for x in v)]
            common = [i for i in range(n) if all(v[i][0] is not None for v in runs)]
            excluded.setdefault(t.title, set()).update(set(range(n)) - set(common))
            for r in t.rows:
                vals = acc.get((t.title, r, c), [])
                ok = [vals[i] for i in common if vals and vals[i][0] is not None]
                if ok:
                    t.cells[(r, c)] = Cell(
                        float(np.mean([v[0] for v in ok])),
                        float(np.mean([v[1] for v in ok])),
                        float(np.mean([v[2] for v in ok])),
                    )
                else:
                    method = r.split("+")[0] if r in failed or "+" in r else r
                    note = failed.get(method) or failed.get(c, "")
                    t.cells[(r, c)] = Cell(note=note)
    return excluded
