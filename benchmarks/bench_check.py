"""Benchmark: `w2s check` on a 1024 x 1024 input (a 2048 x 2048 x2 restoration), against a
baseline timed in the same run, so that a loaded machine can be read.

The pair is synthetic and fixed (seed 0): filaments and blobs on the HR grid, brought to the
input's grid through the simulator's widefield-from-SIM kernel and the x2 binning, with
Poisson-Gaussian noise (``a`` = 8, ``b`` = 25, about 1000 ADU). Interleaved, ``--repeats``
times:

* ``baseline``: ``scipy.ndimage.gaussian_filter`` of the 1024 x 1024 float64 input, sigma 2;
* ``check (fit)``: :func:`~napari_w2s.analysis.consistency.check_restoration` as ``w2s check``
  runs it without ``--kernel`` (the kernel fitted to the pair, the noise estimated; the kernel
  cache cleared first, as in a fresh process);
* ``check (kernel, noise)``: with a given kernel and ``--noise`` (nothing estimated);
* ``cli``: the whole command in a new process (``python -m napari_w2s.cli check R I --json``,
  imports included), wall clock; ``python -c "import numpy"`` is its baseline (the
  interpreter's start).

Medians of the wall-clock time, each over the baseline's, and the CPU time (all threads, or
the child process's user + system time): on a machine shared with other jobs the wall clock
stretches with the load, the CPU time much less; on an idle machine the wall clock is at most
the CPU time. With ``--size`` other input sizes.

    python benchmarks/bench_check.py [--repeats 5] [--size 1024] [--no-cli]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_pair(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(restoration 2 size x 2 size, input size x size, kernel): the true HR image and its
    noisy widefield image."""
    from napari_w2s.analysis import _synthetic as syn
    from napari_w2s.analysis.consistency import _optics_kernel, forward

    rng = np.random.default_rng(seed)
    hr_shape = (2 * size, 2 * size)
    hr = 0.7 * syn.filaments(hr_shape, rng, n=12 * (size // 128) ** 2, blur=1.0)
    hr += 0.3 * syn.blobs(hr_shape, rng, n=4 * (size // 128) ** 2)
    hr = 100.0 + 1500.0 * hr
    kernel = _optics_kernel(0.18).copy()
    clean = forward(hr, 2, kernel)
    noisy = syn.poisson_gaussian(clean, 8.0, 25.0, rng)
    return hr.astype(np.float32), noisy.astype(np.float32), kernel


def timed(fn) -> tuple[float, float]:
    """Wall-clock and CPU seconds of ``fn()`` (this process's threads and its children's)."""
    import resource

    def cpu() -> float:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + kids.ru_utime + kids.ru_stime

    t0, c0 = time.perf_counter(), cpu()
    fn()
    return time.perf_counter() - t0, cpu() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-cli", action="store_true")
    a = ap.parse_args()
    from scipy.ndimage import gaussian_filter

    from napari_w2s.analysis import consistency as C

    restored, image, kernel = make_pair(a.size)
    x, r = image.astype(np.float64), restored.astype(np.float64)
    tmp = Path(tempfile.mkdtemp(prefix="bench_check_"))
    np.save(tmp / "r.npy", restored)
    np.save(tmp / "x.npy", image)
    env = dict(os.environ)  # the CLI runs the napari_w2s this process imports
    cli = [sys.executable, "-m", "napari_w2s.cli", "check", str(tmp / "r.npy"), str(tmp / "x.npy")]

    def fit() -> None:
        getattr(C._optics_kernel, "cache_clear", lambda: None)()  # a fresh process's cache
        C.check_restoration(r, x)

    rows: dict[str, list[tuple[float, float]]] = {}
    cases = {
        "baseline": lambda: gaussian_filter(x, 2.0),
        "check (fit)": fit,
        "check (kernel, noise)": lambda: C.check(r, x, kernel, noise=(8.0, 25.0)),
    }
    if not a.no_cli:
        cases["python start (import numpy)"] = lambda: subprocess.run(
            [sys.executable, "-c", "import numpy"], check=True, env=env
        )
        cases["cli"] = lambda: subprocess.run(
            [*cli, "--json"], check=True, env=env, stdout=subprocess.DEVNULL
        )
    fit()  # warm: imports, first-call costs
    for _ in range(a.repeats):
        for name, fn in cases.items():
            rows.setdefault(name, []).append(timed(fn))
    base = float(np.median([w for w, _ in rows["baseline"]]))
    print(f"w2s check, {a.size} x {a.size} input, x2 restoration; {a.repeats} repeats")
    print(
        f"load average: {', '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} cores"
    )
    print("| what | median s | min s | median / baseline | CPU s (median) |")
    print("|---|---|---|---|---|")
    for name, ts in rows.items():
        wall, cpu = np.asarray(ts).T
        med = float(np.median(wall))
        print(
            f"| {name} | {med:.3f} | {wall.min():.3f} | {med / base:.1f} | "
            f"{float(np.median(cpu)):.3f} |"
        )


if __name__ == "__main__":
    main()
