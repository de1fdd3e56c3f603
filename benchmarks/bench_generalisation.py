"""Benchmark: restoration on settings the training never used (the restoration issue's goals).

Scores JDSR, CARE (same recipe), the sequential pipelines RIDNet+RCAN and DnCNN+RCAN, and bicubic
of the noisy input on five test sets (another camera, other optics, nuclei-only scenes, low
light, and the original W2S-like settings), at every noise level, in the input's units (never
re-normalising a prediction); optionally against a specialist CARE per set; and checks the real
nuclei image (mean shift, correlation after x2 binning, grid phase offset) with a side-by-side
picture. Writes ``generalisation.md`` / ``.json`` (and ``real_nuclei.png``) into ``--out``.

    python benchmarks/bench_generalisation.py --out docs/benchmark/generalisation \
        [--views 8] [--size 128] [--specialist camera=care-camera/care-blind-compact.safetensors ...] \
        [--real img2d.tif] [--weights jdsr=FILE ...] [--train-specialists MINUTES]
        [--specialists-from EARLIER/generalisation.json]
        [--seed 777] [--methods jdsr,ridnet+rcan,bicubic] [--quick]

Choosing between trained weights: score them on a *validation draw*, another seed than the
benchmark's 777, and only then run the benchmark with the chosen ones, e.g.
``--seed 778 --quick --methods jdsr,ridnet+rcan,dncnn+rcan,bicubic --weights jdsr=RUN/FILE``
(choosing on the benchmark's own views would be choosing on the test set).

``--train-specialists M`` first trains, for each set, a CARE with the shipped CARE's recipe for
``M`` minutes on that set's own settings (``w2s train --model care --data random:NAME``).
``--specialists-from REPORT`` takes their rows from an earlier report of the same draw instead
(the specialists' weights and views unchanged, their scores are the same): re-running the
benchmark after shipping new JDSR weights then needs no specialist weights at hand.
The real image: any 2-D widefield image, e.g. ``stardist/data/images/img2d.tif`` from the
``stardist`` 0.9.2 wheel (a DSB 2018 nuclei image).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from napari_w2s.benchmark.generalisation import (
    DENOISERS,
    METHODS,
    SETS,
    SR,
    iter_generalisation,
    real_image_check,
)
from napari_w2s.benchmark.generalisation_report import markdown


def pairs(values: list[str]) -> dict[str, str]:
    return dict(v.split("=", 1) for v in values)


def train_specialists(minutes: float, out: Path, threads: int) -> dict[str, str]:
    """CARE on each held-out set's own settings, the shipped CARE's recipe and start."""
    made = {}
    for name in SETS:
        if name == "w2s-like":
            continue
        folder = out / f"specialist-care-{name}"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "napari_w2s.cli",
                "train",
                "--model",
                "care",
                "--data",
                f"random:{name}",
                "--init",
                "care",
                "--out",
                str(folder),
                "--level",
                "blind",
                "--iterations",
                "100000",
                "--max-minutes",
                str(minutes),
                "--batch",
                "8",
                "--patch",
                "48",
                "--lr",
                "5e-4",
                "--threads",
                str(threads),
                "--seed",
                "31",
                "--resume",
            ],
            check=True,
        )
        made[name] = str(folder / "care-blind-compact.safetensors")
    return made


def reuse_specialists(report: dict, earlier_path: Path, out: Path) -> None:
    """Put the specialist CARE rows of an earlier report of the same draw into ``report``
    (:func:`~napari_w2s.benchmark.generalisation_report.with_specialists_from`) and write it
    again."""
    from napari_w2s.benchmark.generalisation_report import markdown, with_specialists_from

    try:
        with_specialists_from(report, json.loads(earlier_path.read_text()), earlier_path.name)
    except ValueError as err:
        raise SystemExit(f"--specialists-from {earlier_path}: {err}") from None
    (out / "generalisation.json").write_text(json.dumps(report, indent=1))
    (out / "generalisation.md").write_text(markdown(report))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="generalisation")
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument(
        "--methods",
        default=",".join(METHODS),
        help="the rows scored against SIM (JDSR-task models, pipelines, bicubic)",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="leave out the denoiser and SR tables (for a validation draw that chooses between "
        "trained weights: --seed 778 --quick --weights jdsr=FILE)",
    )
    ap.add_argument("--specialist", action="append", default=[], help="SET=weights file")
    ap.add_argument("--weights", action="append", default=[], help="METHOD=weights file")
    ap.add_argument("--train-specialists", type=float, default=None, metavar="MINUTES")
    ap.add_argument(
        "--specialists-from",
        default=None,
        metavar="REPORT",
        help="take the specialist CARE rows from an earlier generalisation.json of the same "
        "draw (views, size, seed) instead of running specialists again",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--orientations",
        type=int,
        default=1,
        choices=(1, 2, 4, 8),
        help="every network averaged over this many flips and quarter turns (w2s restore "
        "--orientations); compare with a run without it on the same draw (compare_reports.py)",
    )
    ap.add_argument("--real", default=None, help="a real 2-D widefield image (TIFF or .npy)")
    ap.add_argument(
        "--compare",
        default=None,
        metavar="DIR",
        help="a folder of earlier weights (e.g. the 0.1.0 zoo): every model is also "
        "scored with them on the w2s-like set, and the ratios are printed",
    )
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(a.threads)
    specialists = pairs(a.specialist)
    if a.train_specialists:
        specialists.update(train_specialists(a.train_specialists, out, a.threads))
    t0 = time.perf_counter()
    gen = iter_generalisation(
        out,
        views=a.views,
        size=a.size,
        seed=a.seed,
        sets=a.sets.split(","),
        methods=a.methods.split(","),
        denoisers=() if a.quick else DENOISERS,
        sr=() if a.quick else SR,
        specialists=specialists,
        weights=pairs(a.weights),
        log=print,
        orientations=a.orientations,
    )
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            report = stop.value
            break
    if a.specialists_from:
        reuse_specialists(report, Path(a.specialists_from), out)
    if a.real:
        from napari_w2s.io import read_stack

        image = read_stack(a.real).data
        import numpy as np

        image = np.asarray(image, dtype=np.float32).squeeze()
        report["real"] = real_image_check(
            image,
            ("jdsr", "care", "bicubic"),
            png=out / "real_nuclei.png",
            weights=pairs(a.weights),
            orientations=a.orientations,
        )
        report["real_image"] = Path(a.real).name
        (out / "generalisation.json").write_text(json.dumps(report, indent=1))
        (out / "generalisation.md").write_text(markdown(report))
    if a.compare:
        report["compare"] = compare_with(Path(a.compare), report, a, out)
        (out / "generalisation.json").write_text(json.dumps(report, indent=1))
        (out / "generalisation.md").write_text(
            markdown(report) + compare_markdown(report["compare"])
        )
    print((out / "generalisation.md").read_text())
    print(f"{time.perf_counter() - t0:.0f} s")


def compare_with(folder: Path, report: dict, a: argparse.Namespace, out: Path) -> dict:
    """Score the earlier weights of every method on the w2s-like set (same views, same seed)."""
    from napari_w2s.restore.zoo import shipped

    old = {}
    for c in shipped():
        f = folder / Path(c["file"]).name
        if f.is_file() and c["noise_level"] in ("blind", "clean"):
            old[c["name"]] = str(f)
    gen = iter_generalisation(
        out / "earlier",
        views=a.views,
        size=a.size,
        seed=a.seed,
        sets=("w2s-like",),
        weights=old,
        orientations=a.orientations,
    )
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            before = stop.value
            break
    now = report
    rows = []
    for kind, key in (("jdsr", "tables"), ("denoise", "denoise")):
        for m, cells in before[key]["w2s-like"].items():
            # sequences take the shipped weights in both runs (--weights names single models)
            # models the earlier folder has no weights of ran with today's: nothing to compare
            if (
                m in ("bicubic", "noisy input")
                or "+" in m
                or m not in old
                or m not in now[key].get("w2s-like", {})
            ):
                continue
            for lv, c in cells.items():
                n = now[key]["w2s-like"][m][lv]
                rows.append(
                    {
                        "model": m,
                        "level": lv,
                        "before": c["rmse"],
                        "now": n["rmse"],
                        "ratio": n["rmse"] / c["rmse"],
                    }
                )
    for m, c in before["sr"]["w2s-like"].items():
        if m != "bicubic" and m in old:
            n = now["sr"]["w2s-like"][m]
            rows.append(
                {
                    "model": m,
                    "level": "clean",
                    "before": c["rmse"],
                    "now": n["rmse"],
                    "ratio": n["rmse"] / c["rmse"],
                }
            )
    return {
        "folder": str(folder),
        "weights": {m: Path(f).name for m, f in old.items()},
        "rows": rows,
    }


def compare_markdown(cmp: dict) -> str:
    md = [
        "",
        "## Against the earlier weights on the W2S-like settings (their own training distribution)",
        "",
        f"Earlier weights: `{cmp['folder']}`. RMSE (same views); ratio "
        "= now / before (the issue's goal: at most 1.03).",
        "",
        "| model | level | before | now | ratio |",
        "|---|---|---|---|---|",
    ]
    md += [
        f"| {r['model']} | {r['level']} | {r['before']:.3f} | {r['now']:.3f} | "
        f"{r['ratio']:.2f}{'' if r['ratio'] <= 1.03 else ' **worse**'} |"
        for r in cmp["rows"]
    ]
    return "\n".join(md) + "\n"


if __name__ == "__main__":
    main()
