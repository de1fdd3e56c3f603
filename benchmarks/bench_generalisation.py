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

``--train-specialists M`` first trains, for each set, a CARE with the shipped CARE's recipe for
``M`` minutes on that set's own settings (``w2s train --model care --data random:NAME``).
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

from napari_w2s.benchmark.generalisation import SETS, iter_generalisation, markdown, real_image_check


def pairs(values: list[str]) -> dict[str, str]:
    return dict(v.split("=", 1) for v in values)


def train_specialists(minutes: float, out: Path, threads: int) -> dict[str, str]:
    """CARE on each held-out set's own settings, the shipped CARE's recipe and start."""
    made = {}
    for name in SETS:
        if name == "w2s-like":
            continue
        folder = out / f"specialist-care-{name}"
        subprocess.run([sys.executable, "-m", "napari_w2s.cli", "train", "--model", "care",
                        "--data", f"random:{name}", "--init", "care", "--out", str(folder),
                        "--level", "blind", "--iterations", "100000", "--max-minutes",
                        str(minutes), "--batch", "8", "--patch", "48", "--lr", "5e-4",
                        "--threads", str(threads), "--seed", "31", "--resume"], check=True)  # fmt: skip
        made[name] = str(folder / "care-blind-compact.safetensors")
    return made


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="generalisation")
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--specialist", action="append", default=[], help="SET=weights file")
    ap.add_argument("--weights", action="append", default=[], help="METHOD=weights file")
    ap.add_argument("--train-specialists", type=float, default=None, metavar="MINUTES")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--real", default=None, help="a real 2-D widefield image (TIFF or .npy)")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(a.threads)
    specialists = pairs(a.specialist)
    if a.train_specialists:
        specialists.update(train_specialists(a.train_specialists, out, a.threads))
    t0 = time.perf_counter()
    gen = iter_generalisation(out, views=a.views, size=a.size, seed=a.seed,
                              sets=a.sets.split(","), specialists=specialists,
                              weights=pairs(a.weights), log=print)  # fmt: skip
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            report = stop.value
            break
    if a.real:
        from napari_w2s.io import read_stack

        image = read_stack(a.real).data
        import numpy as np

        image = np.asarray(image, dtype=np.float32).squeeze()
        report["real"] = real_image_check(image, ("jdsr", "care", "bicubic"),
                                          png=out / "real_nuclei.png",
                                          weights=pairs(a.weights))  # fmt: skip
        report["real_image"] = Path(a.real).name
        (out / "generalisation.json").write_text(json.dumps(report, indent=1))
        (out / "generalisation.md").write_text(markdown(report))
    print(markdown(report))
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
