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

import csv
import json
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..batch import check_output_dir
from ..errors import W2SInputError

DENOISERS = ("dncnn", "memnet", "ridnet", "pure-let", "vst-nlm", "vst-bm3d", "vst-epll")
SR = ("rcan", "rdn", "san", "srfbn", "epsr", "esrgan", "bicubic")
JDSR = ("jdsr", "jdsr-rcan", "jdsr-esrgan", "care")


@dataclass
class Cell:
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
    title: str
    rows: list[str]
    cols: list[str]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

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


class _Runner:
    """Resolves methods once per noise level, runs them on normalised images.

    A learned method run on a noisy level takes the model trained for that level where one is
    shipped, else the noise-blind one (as the paper benchmarks its per-level models); weights
    given by the user replace both. ``used`` records which weights files served each method.
    """

    def __init__(self, device: str, weights: Mapping[str, str] | None = None) -> None:
        self.mean, self.std = 0.0, 1.0  # the data set's normalisation: set_normalisation
        self.device = device
        self.weights = dict(weights or {})
        self.pipelines: dict[tuple[str, str | None], object] = {}
        self.failed: dict[str, str] = {}  # methods that cannot run at all (no weights)
        self.errors: dict[str, list[str]] = {}  # per-image failures
        self.succeeded: dict[str, int] = {}  # images each method restored
        self.used: dict[str, set[str]] = {}

    def set_normalisation(self, norm: dict) -> None:
        self.mean, self.std = float(norm["mean"]), float(norm["std"])

    def get(self, method: str, level: str | None = None):
        if method in self.failed:
            return None
        if (method, level) not in self.pipelines:
            from ..restore.engine import ModelStep, resolve

            try:
                pipe = resolve(
                    method,
                    device=self.device,
                    tile=0,
                    weights=self.weights.get(method),
                    noise_level=level,
                )
            except W2SInputError as err:
                self.failed[method] = f"{method}: {err}"
                return None
            self.pipelines[(method, level)] = pipe
            files = [step.weights.name for step in pipe.steps if isinstance(step, ModelStep)]
            self.used.setdefault(method, set()).update(files)
        return self.pipelines[(method, level)]

    def run(
        self, method: str, image_z: np.ndarray, level: str | None = None
    ) -> tuple[np.ndarray | None, float]:
        pipe = self.get(method, level)
        if pipe is None:
            return None, 0.0
        t0 = time.perf_counter()
        try:
            out = pipe.run(image_z * self.std + self.mean)
        except W2SInputError as err:  # e.g. too few smooth pixels here
            self.errors.setdefault(method, []).append(str(err))
            return None, 0.0
        self.succeeded[method] = self.succeeded.get(method, 0) + 1
        return (out - self.mean) / self.std, time.perf_counter() - t0


def _task(method: str) -> str:
    """``denoise``, ``sr`` or ``jdsr``; a :class:`W2SInputError` for an unknown name."""
    from ..models import get_spec
    from ..restore import classical

    if method in classical.METHODS:
        return "sr" if method == "bicubic" else "denoise"
    return get_spec(method).task


def check_methods(
    denoisers: Sequence[str],
    sr: Sequence[str],
    jdsr: Sequence[str],
    weights: Mapping[str, str] | None = None,
) -> None:
    """Refuse up front unknown method names, a method in the wrong list and weights for a
    method that is not benchmarked (nothing is read or written before)."""
    for option, names, task in (
        ("--denoisers", denoisers, "denoise"),
        ("--sr", sr, "sr"),
        ("--jdsr", jdsr, "jdsr"),
    ):
        for name in names:
            try:
                found = _task(name)
            except W2SInputError as err:
                raise W2SInputError(f"{option}: {err}") from None
            if found != task:
                raise W2SInputError(
                    f"{option} {name}: {name} is a {found} method, not a {task} one"
                )
    for method, path in (weights or {}).items():
        if method not in (*denoisers, *sr, *jdsr):
            raise W2SInputError(f"--weights {method}={path}: {method!r} is not benchmarked here")
        if not Path(path).is_file():
            raise W2SInputError(f"{path}: weights file not found")


def _score(pred: np.ndarray | None, target: np.ndarray) -> tuple[float | None, float | None]:
    from ..analysis.metrics import compare

    if pred is None:
        return None, None
    m = compare(pred, target, data_range=float(target.max() - target.min()))
    return m["rmse"], m["ssim"]


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
) -> Generator[tuple[int, int], None, dict]:
    """Compute the three tables on the first ``views`` test views; yields (done, total) views.

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
    runner = _Runner(device, weights)
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
        r, s = _score(pred, target)
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
        yield i + 1, n

    crops_figure(out / "benchmark_crops.png", crops, dn.target[0], js.target[0], top)
    tables = [t1, t2, t3]
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
                    method = r.split("+")[0] if r in runner.failed or "+" in r else r
                    note = runner.failed.get(method) or runner.failed.get(c, "")
                    t.cells[(r, c)] = Cell(note=note)
    t3.rows = [
        r for r in t3.rows if "+" not in r or any(_get(t3, r, c).rmse is not None for c in t3.cols)
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
    left_out = sorted(set().union(*excluded.values()))
    md = [
        "# Benchmark",
        "",
        f"Data: `{data}`, test split, {n} views; RMSE/SSIM in W2S units.",
        *(
            [
                f"Every number of a column is a mean over the same views: a view on which a method "
                f"failed is left out of its whole column (views left out somewhere: "
                f"{', '.join(str(i + 1) for i in left_out)})."
            ]
            if left_out
            else []
        ),
        *(
            [
                "Weights (a model trained for a noise level serves that level, the noise-blind one "
                "the others): "
                + "; ".join(f"{m}: {', '.join(f)}" for m, f in report["weights"].items())
            ]
            if report["weights"]
            else []
        ),
        "",
        *(t.markdown() + "\n" for t in tables),
        f"![crops of the first test view at {top}](benchmark_crops.png)",
        "",
        "## Claims of the paper",
        "",
    ]
    md += [f"- **{c['status']}**: {c['claim']} ({c['evidence']})" for c in claims]
    (out / "benchmark.md").write_text("\n".join(md) + "\n")
    with open(out / "benchmark.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["table", "row", "col", "rmse", "ssim", "seconds", "note"])
        writer.writeheader()
        for t in tables:
            writer.writerows(t.csv_rows())
    (out / "benchmark.json").write_text(json.dumps(report, indent=2, default=str))
    return report


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
    fig.savefig(path)


def _get(t: Table, r: str, c: str) -> Cell:
    return t.cells.get((r, c), Cell())


def check_claims(t1, t2, t3, denoisers, sr, jdsr, top) -> list[dict]:
    """The paper's claims (method facts section 8), each reproduced, not reproduced or n/a."""
    claims = []

    def claim(text: str, ok: bool | None, evidence: str) -> None:
        status = "n/a" if ok is None else ("reproduced" if ok else "not reproduced")
        claims.append({"claim": text, "status": status, "evidence": evidence})

    nets = [s for s in sr if s != "bicubic" and _get(t2, "noise-free LR", s).rmse is not None]
    drops = []
    for s in nets:
        clean = _get(t2, "noise-free LR", s)
        worse = [_get(t2, d, s) for d in denoisers if _get(t2, d, s).rmse is not None]
        if worse:
            drops.append((s, clean.ssim, max(w.ssim for w in worse)))
    claim(
        "SR networks lose quality on noisy or denoised input compared with noise-free input",
        all(b < a for _, a, b in drops) if drops else None,
        "; ".join(f"{s}: SSIM {a:.3f} clean vs {b:.3f} best denoised" for s, a, b in drops)
        or "no SR weights",
    )
    best_dn = [(d, _get(t1, d, top).rmse) for d in denoisers if _get(t1, d, top).rmse is not None]
    best_dn_name = min(best_dn, key=lambda x: x[1])[0] if best_dn else None
    if best_dn and nets:
        best_rmse = min(best_dn, key=lambda x: x[1])[0]
        s0 = nets[0]
        after = [(d, _get(t2, d, s0).rmse) for d, _ in best_dn if _get(t2, d, s0).rmse is not None]
        best_after = min(after, key=lambda x: x[1])[0] if after else None
        claim(
            "The denoiser with the best RMSE is not necessarily the best first stage for SR",
            best_after is not None and best_after != best_rmse,
            f"best denoiser {best_rmse}, best first stage before {s0}: {best_after}",
        )
    else:
        claim(
            "The denoiser with the best RMSE is not necessarily the best first stage for SR",
            None,
            "needs trained denoisers and SR networks",
        )
    nets_j = [j for j in jdsr if j != "care"]  # CARE is the baseline, not one of the paper's
    seq_rows = [r for r in t3.rows if "+" in r]
    ok, evidence = _beats_at_every_level(t3, nets_j, seq_rows)
    claim(
        "An end-to-end JDSR network beats every sequential denoiser + SR, at every noise level, "
        "in RMSE and SSIM",
        ok,
        evidence,
    )
    robust = [
        (s, _get(t2, best_dn_name, s).rmse)
        for s in nets
        if s not in ("epsr", "esrgan")
        and best_dn_name
        and _get(t2, best_dn_name, s).rmse is not None
    ]
    claim(
        "RCAN is the most robust SR network on denoised input",
        (min(robust, key=lambda x: x[1])[0] == "rcan") if len(robust) > 1 else None,
        ", ".join(f"{s} {v:.3f}" for s, v in robust) or "needs several trained SR networks",
    )
    gan = [s for s in ("epsr", "esrgan") if s in nets]
    dist = [s for s in nets if s not in ("epsr", "esrgan")]
    claim(
        "GAN-trained SR (EPSR, ESRGAN) loses SSIM",
        (
            max(_get(t2, "noise-free LR", g).ssim for g in gan)
            < min(_get(t2, "noise-free LR", d).ssim for d in dist)
        )
        if gan and dist
        else None,
        "needs both GAN-trained and distortion-based SR weights"
        if not (gan and dist)
        else ", ".join(f"{s} {_get(t2, 'noise-free LR', s).ssim:.3f}" for s in nets),
    )
    ok, evidence = _beats_at_every_level(t3, ["jdsr"], ["care"])
    claim(
        "(this project) The JDSR model beats the CARE baseline trained with the same command "
        "and budget, at every noise level, in RMSE and SSIM",
        ok,
        evidence,
    )
    from ..models import list_models

    deep = [d for d in denoisers if d in list_models("denoise")]
    classical = [d for d in ("vst-nlm", "vst-bm3d") if d in denoisers]
    ok, evidence = _beats_at_every_level(t1, deep, classical)
    claim(
        "(this project) A deep denoiser beats VST+NLM and VST+BM3D (where installed) at every "
        "noise level, in RMSE and SSIM",
        ok,
        evidence,
    )
    ok, evidence = _wide_margins(t1, t2, t3, deep, nets, jdsr, top)
    claim(
        f"(this project) Every trained model beats its input by a wide margin: RMSE at most "
        f"{WIDE_MARGIN:g} x that of its input (the noisy image for a denoiser, bicubic "
        f"upsampling for SR and JDSR, at {top}) and a higher SSIM",
        ok,
        evidence,
    )
    return claims


WIDE_MARGIN = 0.75  # largest RMSE ratio, model against its input, that counts as a wide margin


def _wide_margins(
    t1: Table,
    t2: Table,
    t3: Table,
    deep: Sequence[str],
    nets: Sequence[str],
    jdsr: Sequence[str],
    top: str,
) -> tuple[bool | None, str]:
    """Each trained model against its input: denoisers at every level (Table 1), SR networks
    on the noise-free LR and JDSR models at ``top`` against bicubic upsampling (Table 2)."""
    pairs: dict[str, list[tuple[Cell, Cell]]] = {}
    for d in deep:
        pairs[d] = [(_get(t1, d, lv), _get(t1, "noisy input", lv)) for lv in t1.cols]
    for s in nets:
        pairs[s] = [(_get(t2, "noise-free LR", s), _get(t2, "noise-free LR", "bicubic"))]
    for j in jdsr:
        pairs[j] = [(_get(t3, j, top), _get(t2, "noisy LR", "bicubic"))]
    verdicts, parts = [], []
    for name, cells in pairs.items():
        cells = [(a, b) for a, b in cells if a.rmse is not None and b.rmse]
        if not cells:
            continue
        worst = max(a.rmse / b.rmse for a, b in cells)
        ok = worst <= WIDE_MARGIN and all(a.ssim > b.ssim for a, b in cells)
        verdicts.append(ok)
        parts.append(
            f"{name}: RMSE ratio {worst:.2f} at worst" + ("" if ok else " (not a wide margin)")
        )
    if not verdicts:
        return None, "needs trained models and their inputs' scores"
    return all(verdicts), "; ".join(parts)


def _beats_at_every_level(
    t3: Table, ours: Sequence[str], theirs: Sequence[str]
) -> tuple[bool | None, str]:
    """Whether the best of ``ours`` beats the best of ``theirs`` in RMSE and SSIM at each level."""
    verdicts, parts = [], []
    for level in t3.cols:
        a = [(r, _get(t3, r, level)) for r in ours if _get(t3, r, level).rmse is not None]
        b = [(r, _get(t3, r, level)) for r in theirs if _get(t3, r, level).rmse is not None]
        if not a or not b:
            continue
        best_a = min(a, key=lambda x: x[1].rmse)
        best_b_rmse = min(b, key=lambda x: x[1].rmse)
        best_b_ssim = max(b, key=lambda x: x[1].ssim)
        win = (
            best_a[1].rmse < best_b_rmse[1].rmse and max(c.ssim for _, c in a) > best_b_ssim[1].ssim
        )
        verdicts.append(win)
        parts.append(
            f"{level}: {best_a[0]} {best_a[1].text()} vs {best_b_rmse[0]} "
            f"{best_b_rmse[1].text()}"
            + (
                f" (best SSIM {best_b_ssim[0]} {best_b_ssim[1].ssim:.3f})"
                if best_b_ssim[0] != best_b_rmse[0]
                else ""
            )
        )
    if not verdicts:
        return None, "needs both kinds of results"
    return all(verdicts), "; ".join(parts)
