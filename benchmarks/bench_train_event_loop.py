"""Benchmark: does training in the Train widget block napari? (issue 20: the longest event-loop
gap while it runs must stay under 100 ms).

A napari viewer (shown: its canvas and docks paint as they would) gets a simulated widefield
stack (``--frames`` x ``--size``^2, the W2S-like microscope) and, with ``--sim``, its SIM image.
The Train dock is opened, left alone for ``--idle`` seconds (a user choosing the settings), and
Train is clicked: ``jdsr`` is fine-tuned for ``--seconds`` (self-supervised without ``--sim``).
A 10 ms ``QTimer`` records ``time.perf_counter()`` at every tick from the opening of the dock
until the worker has finished; the gaps between ticks are the time the event loop could not
run. They are reported per phase: *dock* (from opening the dock to the click), *starting*
(from the click to the first progress record: the worker's imports, the data and targets, the
first ``log_every`` iterations) and *training* (the iterations, the records, the plot, saving). The main thread's own work is timed as well
(the widget's progress slot, the plot's repaints), so that a long gap can be told apart: spent in
a slot of the widget, or waiting for the GIL while another thread holds it.

    xvfb-run -a python benchmarks/bench_train_event_loop.py [--seconds 20] [--frames 400]
        [--size 128] [--sim] [--idle 5] [--threads 1] [--stacks FILE] [--json]

It runs in a fresh process: torch is not imported yet, as when napari starts, and the worker
imports it (``--warm``: an image is restored with jdsr first, as after a restore in the same
session). Needs a display
(napari's canvas needs OpenGL): ``xvfb-run -a`` on a machine without one.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TICK_MS = 10
PHASES = ("dock", "starting", "training")


def timed(log: list, name: str, func):
    """``func`` that appends ``(name, start, seconds)`` to ``log`` each time it runs."""

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            log.append((name, t0, time.perf_counter() - t0))

    return wrapper


def run_for(seconds: float) -> None:
    """Run the event loop for ``seconds``."""
    from qtpy.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(1000 * seconds), loop.quit)
    loop.exec_()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="the training's time budget")
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--sim", action="store_true", help="supervised, with the SIM layer")
    ap.add_argument("--idle", type=float, default=5.0, help="seconds between dock and click")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--warm",
        action="store_true",
        help="restore an image with jdsr before the viewer opens, as after a restore in the "
        "same session: torch and the model code are loaded (their first import's pauses left "
        "out)",
    )
    ap.add_argument(
        "--stacks",
        default=None,
        help="file: every thread's stack whenever the event loop has not run for 150 ms "
        "(faulthandler's watchdog, which needs no GIL): what holds it",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # torch's threads, read at its import
    tmp = Path(tempfile.mkdtemp(prefix="w2s-loop-"))
    os.environ["NAPARI_W2S_MODELS"] = str(tmp / "models")
    os.environ["NAPARI_W2S_SETTINGS"] = str(tmp / "widgets.json")

    import napari
    from qtpy.QtCore import QEventLoop, QTimer

    from napari_w2s.simulate.view import ViewParams, simulate_view

    if args.warm:
        from napari_w2s.restore.engine import resolve

        resolve("jdsr", device="cpu").run(np.zeros((32, 32), np.float32))

    view = simulate_view(ViewParams(size=args.size, frames=args.frames), seed=7)
    stack = view.frames(0, args.frames).astype(np.float32)
    cold = "torch" not in sys.modules
    viewer = napari.Viewer(show=True)
    viewer.add_image(stack, name="widefield")
    if args.sim:
        viewer.add_image(view.sim.astype(np.float32), name="SIM")
    run_for(1.0)

    ticks: list[float] = []
    stacks = open(args.stacks, "w") if args.stacks else None  # noqa: SIM115

    def tick() -> None:
        ticks.append(time.perf_counter())
        if stacks is not None:  # re-armed at every tick: it fires only in a long gap
            stacks.write(f"--- tick at {ticks[-1] - marks['dock']:.3f} s\n")
            faulthandler.dump_traceback_later(0.15, file=stacks)

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    marks = {"dock": time.perf_counter()}
    timer.start()
    ticks.append(marks["dock"])
    _, widget = viewer.window.add_plugin_dock_widget("napari-w2s", "Train")
    marks["dock_built"] = time.perf_counter()
    widget.reset_choices()
    if not args.sim:
        from napari_w2s.widgets.train import NO_SIM

        widget.sim_layer.set_value(NO_SIM)
    widget.minutes.setValue(args.seconds / 60.0)
    widget.name.setText("jdsr-loop")
    main_work: list = []  # (what, start, seconds) of the main thread's slots
    widget._record = timed(main_work, "progress slot", widget._record)
    widget.plot.paintEvent = timed(main_work, "plot paint", widget.plot.paintEvent)
    run_for(args.idle)

    records: list = []  # (perf_counter, record) as the worker sent them
    marks["starting"] = time.perf_counter()
    job = widget.run()
    job.worker.yielded.connect(lambda rec: records.append((time.perf_counter(), rec)))
    loop = QEventLoop()
    poll = QTimer()
    poll.setInterval(50)
    poll.timeout.connect(lambda: loop.quit() if job.finished else None)
    poll.start()
    loop.exec_()
    marks["end"] = time.perf_counter()
    timer.stop()
    poll.stop()
    if stacks is not None:
        faulthandler.cancel_dump_traceback_later()
        stacks.close()
    if job.failed:
        raise SystemExit("the training failed: see the messages above")
    marks["training"] = next((t for t, r in records if "loss" in r), marks["end"])

    t = np.asarray(ticks)
    gaps, starts = np.diff(t), t[:-1]
    bounds = [marks["dock"], marks["starting"], marks["training"], marks["end"]]
    phases = {}
    for name, a, b in zip(PHASES, bounds[:-1], bounds[1:]):
        g = gaps[(starts >= a) & (starts < b)]
        phases[name] = {
            "seconds": round(b - a, 1),
            "longest_gap_ms": round(1000 * float(g.max()), 1) if g.size else None,
            "p99_gap_ms": round(1000 * float(np.percentile(g, 99)), 1) if g.size else None,
            "gaps_over_100_ms": int((g > 0.1).sum()),
        }
    worst = []
    for i in np.argsort(gaps)[::-1][:6]:
        a, b = t[i], t[i + 1]
        inside = [
            f"{name} {1000 * dt:.0f} ms"
            for name, t0, dt in main_work
            if t0 < b and t0 + dt > a and dt > 0.005
        ]
        if a < marks["dock_built"]:
            inside.append(f"building the dock {1000 * (marks['dock_built'] - a):.0f} ms")
        phase = PHASES[int(np.searchsorted(bounds[1:-1], a, side="right"))]
        worst.append(
            {
                "gap_ms": round(1000 * float(gaps[i]), 1),
                "at_s": round(a - marks["dock"], 2),
                "phase": phase,
                "main_thread": inside or ["no slot of the widget's: waiting for the GIL"],
            }
        )
    per_kind: dict = {}
    for name, _, dt in main_work:
        k = per_kind.setdefault(name, {"calls": 0, "max_ms": 0.0})
        k["calls"] += 1
        k["max_ms"] = max(k["max_ms"], round(1000 * dt, 2))
    iterations = max((r["iteration"] for _, r in records if "loss" in r), default=0)
    report = {
        "seconds": args.seconds,
        "frames": args.frames,
        "size": args.size,
        "supervision": "sim" if args.sim else "self-supervised",
        "torch_imported_before": not cold,
        "iterations": iterations,
        "phases": phases,
        "worst": worst,
        "main_thread": per_kind,
    }
    if args.json:
        print(json.dumps(report, indent=1))
    print(
        f"{report['supervision']}, {args.frames} x {args.size}^2 frames, {iterations} "
        f"iterations; torch {'not ' if cold else ''}imported before the dock opened"
    )
    for name, ph in phases.items():
        print(
            f"  {name:>9} ({ph['seconds']:5.1f} s): longest event-loop gap "
            f"{ph['longest_gap_ms']} ms, p99 {ph['p99_gap_ms']} ms, "
            f"{ph['gaps_over_100_ms']} over 100 ms"
        )
    for w in worst:
        print(f"  {w['gap_ms']:7.1f} ms at {w['at_s']:6.2f} s ({w['phase']}): {w['main_thread']}")
    for name, k in per_kind.items():
        print(f"  main thread, {name}: {k['calls']} calls, longest {k['max_ms']} ms")
    viewer.close()


if __name__ == "__main__":
    main()
