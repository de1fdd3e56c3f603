"""Progress (:mod:`napari_w2s.progress`): the event, every shape the generators yield read by
``as_progress``, ``relay`` / ``drain`` (cancel, closing), and the CLI's one progress bar."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
import threading

import numpy as np
import pytest

from napari_w2s.progress import (
    Cancelled,
    Progress,
    as_progress,
    drain,
    is_cancelled,
    relay,
)


# ------------------------------------------------------------------------------ the event
def test_progress_is_a_frozen_value_with_a_fraction():
    p = Progress(3, 4, "tile", "running", "", {"loss": 0.5})
    assert (p.done, p.total, p.fraction) == (3.0, 4.0, 0.75)
    assert isinstance(p.done, float) and isinstance(p.total, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.done = 4
    with pytest.raises(TypeError):
        p.info["loss"] = 1.0  # read-only extras
    assert Progress(2).fraction is None  # total unknown
    assert Progress(0, 0).fraction == 1.0  # nothing to do: done
    assert Progress(7, 4).fraction == 1.0 and Progress(-1, 4).fraction == 0.0  # clipped
    assert Progress(1, 2) == Progress(1.0, 2.0) and hash(Progress(1, 2)) == hash(Progress(1, 2))


def test_the_module_is_standard_library_only():
    code = (
        "import sys, napari_w2s.progress, napari_w2s.cli._common\n"
        "print(sorted(m for m in ('numpy', 'torch', 'qtpy', 'napari', 'tqdm') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------ the shapes
def test_a_restoration_record_counts_the_tiles_of_all_planes():
    p = as_progress({"plane": 1, "planes": 3, "done": 1, "total": 2})
    assert (p.done, p.total, p.unit, p.stage) == (3.0, 6.0, "tile", "running")
    assert p.fraction == pytest.approx(0.5)
    assert dict(p.info) == {"plane": 1, "planes": 3}
    unknown = as_progress({"plane": 4, "planes": None, "done": 1, "total": 4})  # an iterable
    assert (unknown.done, unknown.total, unknown.fraction) == (17.0, None, None)


def test_restore_array_records_end_at_one():
    from napari_w2s.restore.files import RestoreOptions, restore_array

    recs: list[dict] = []
    stack = np.random.default_rng(0).random((3, 24, 20)).astype(np.float32)
    planes = list(restore_array(stack, RestoreOptions(method="bicubic"), progress=recs.append))
    assert len(planes) == 3 and planes[0].shape == (48, 40)
    fractions = [as_progress(r).fraction for r in recs]
    assert fractions == sorted(fractions)  # never goes back
    assert fractions[-1] == pytest.approx(1.0)
    assert [as_progress(r).info["plane"] for r in recs][-1] == 2


def test_a_pair_is_done_of_total_in_the_unit_given():
    from napari_w2s.restore.engine import resolve

    gen = resolve("bicubic", device="cpu").iter_run(np.ones((16, 16), np.float32))
    items = []
    result = drain(gen, items.append)
    assert result.shape == (32, 32)
    p = as_progress(items[-1], "tile")  # Pipeline.iter_run yields (done, total)
    assert p.unit == "tile" and p.done == p.total > 0 and p.fraction == 1.0
    assert as_progress((3, 4)).fraction == 0.75 and as_progress((3, 4)).unit == ""
    assert as_progress(np.int64(5), "frame") == Progress(5, None, "frame")


def test_training_records_count_iterations_with_extras():
    rec = {
        "iteration": 20,
        "iterations": 80,
        "loss": 0.0123,
        "parts": {"l1": 0.01},
        "lr": 1e-4,
        "it_per_s": 3.5,
        "elapsed_s": 6.0,
        "budget_s": None,
        "name": "jdsr-ft",  # iter_finetune adds the run's name and supervision
        "supervision": "supervised (the SIM image)",
    }
    p = as_progress(rec)
    assert (p.done, p.total, p.unit, p.stage, p.fraction) == (20, 80, "it", "training", 0.25)
    assert p.info["loss"] == 0.0123 and p.info["lr"] == 1e-4 and p.info["it_per_s"] == 3.5
    assert p.info["supervision"].startswith("supervised") and "iteration" not in p.info
    assert p.message == "loss 0.01230"


def test_stages_have_no_count():
    prep = as_progress({"stage": "preparing", "name": "jdsr-ft-1"})  # iter_finetune
    assert (prep.stage, prep.message, prep.total, prep.fraction) == (
        "preparing",
        "jdsr-ft-1",
        None,
        None,
    )
    for stage in ("loading", "checking"):  # restore.layers.restore_job
        assert as_progress({"stage": stage}).stage == stage
    running = as_progress({"stage": "running", "scale": 2})
    assert running.stage == "running" and running.info["scale"] == 2
    said = as_progress("estimating")  # the analysis widgets' workers
    assert (said.stage, said.fraction) == ("estimating", None)


def test_simulate_yields_frames_written(tmp_path):
    from napari_w2s.simulate.dataset import iter_write_dataset

    items: list = []
    gen = iter_write_dataset(tmp_path / "d", fovs=1, size=16, frames=6, channels=2)
    summary = drain(gen, items.append)
    assert summary["split"]
    assert all(isinstance(p, Progress) and p.unit == "frame" for p in items)
    assert [p.total for p in items] == [12.0] * len(items)
    assert items[-1].done == 12.0 and items[-1].fraction == 1.0
    assert as_progress(items[0]) is items[0]


def test_averaging_yields_frames_done():
    from napari_w2s.averaging import iter_noise_levels

    stack = np.arange(20 * 4, dtype=np.uint16).reshape(20, 2, 2)
    items: list = []
    levels = drain(iter_noise_levels(stack, (1, 2), mode="first", block_frames=8), items.append)
    assert [(p.done, p.total, p.unit) for p in items] == [
        (8, 20, "frame"),
        (16, 20, "frame"),
        (20, 20, "frame"),
    ]
    np.testing.assert_allclose(levels["avg2"], stack[:2].mean(axis=0))


def test_batch_events_count_files(tmp_path):
    from napari_w2s.batch import iter_batch

    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        np.save(src / f"cell{i}.npy", rng.random((2, 20, 24)).astype(np.float32))
    events: list[dict] = []
    report = drain(iter_batch(src, "*", tmp_path / "out", "bicubic"), events.append)
    assert report.ok
    start = as_progress(events[0])
    assert (start.stage, start.done, start.total, start.unit) == ("start", 0, 2, "file")
    results = [as_progress(e) for e in events if e["event"] == "result"]
    assert [(p.done, p.total) for p in results] == [(1, 2), (2, 2)]
    assert results[-1].fraction == 1.0 and results[-1].message.endswith(": done")
    tiles = [as_progress(e) for e in events if e["event"] == "tile"]
    assert tiles and all(p.unit == "tile" and p.stage == "tile" for p in tiles)
    assert tiles[-1].fraction == 1.0 and tiles[-1].info["index"] in (0, 1)
    started = [as_progress(e) for e in events if e["event"] == "file"]
    assert len(started) == 2 and started[0].stage == "file"
    assert (started[0].unit, started[0].total) == ("", None)  # no count: a bar keeps its own


def test_benchmark_views_and_unknown_items():
    assert as_progress(Progress(2, 6, "view")).fraction == pytest.approx(1 / 3)
    assert as_progress(None) is None
    assert as_progress(object()) is None
    assert as_progress({"unrelated": 1}) is None
    assert as_progress(True) is None  # a flag is not a count
    assert as_progress({"done": 2, "total": 8, "unit": "file"}) == Progress(2, 8, "file")


# ------------------------------------------------------------------------------ drain, relay
def counting(n: int, log: list):
    """Yields (i, n) for i = 1..n; notes each step taken and its finally-block."""
    try:
        for i in range(1, n + 1):
            log.append(f"step {i}")
            yield i, n
        return "result"
    finally:
        log.append("finally")


def test_relay_passes_progress_and_returns_the_value():
    log: list = []
    seen: list[Progress] = []
    assert relay(counting(3, log), seen.append, unit="view") == "result"
    assert [(p.done, p.total, p.unit) for p in seen] == [(i, 3, "view") for i in (1, 2, 3)]
    assert log[-1] == "finally"


def test_relay_skips_items_that_say_nothing():
    def gen():
        yield object()
        yield 1, 2
        return 7

    seen: list = []
    assert relay(gen(), seen.append) == 7
    assert seen == [Progress(1, 2)]


@pytest.mark.parametrize("kind", ["event", "callable"])
def test_relay_stops_a_cancelled_generator_and_runs_its_finally(kind):
    log: list = []
    event = threading.Event()
    cancel = event if kind == "event" else event.is_set
    seen: list = []

    def on_progress(p: Progress) -> None:
        seen.append(p)
        if p.done == 2:
            event.set()

    with pytest.raises(Cancelled):
        relay(counting(10, log), on_progress, cancel)
    assert [p.done for p in seen] == [1.0, 2.0]
    assert log == ["step 1", "step 2", "finally"]  # step 3 was never taken


def test_relay_with_cancel_already_set_takes_no_step():
    log: list = []
    event = threading.Event()
    event.set()
    gen = counting(5, log)
    next(gen)  # started: its finally-block must run
    with pytest.raises(Cancelled):
        relay(gen, None, event)
    assert log == ["step 1", "finally"]


def test_drain_closes_on_error():
    log: list = []

    def boom(item) -> None:
        if item[0] == 2:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        drain(counting(5, log), boom)
    assert log == ["step 1", "step 2", "finally"]


def test_is_cancelled_and_the_restore_cancel():
    from napari_w2s import progress
    from napari_w2s.restore.files import Cancel, RestoreCancelled

    assert Cancel is progress.Cancel  # the file API takes the one cancel type of the package
    assert is_cancelled(None)() is False
    event = threading.Event()
    check = is_cancelled(event)
    assert check() is False
    event.set()
    assert check() is True
    assert is_cancelled(lambda: True)() is True
    assert issubclass(RestoreCancelled, Cancelled)


# ------------------------------------------------------------------------------ the CLI's bar
class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cli_bar_counts_its_unit_and_the_percent_bar_any(monkeypatch):
    from napari_w2s.cli._common import progress_bar

    monkeypatch.setattr(sys, "stderr", _Terminal())
    with progress_bar("batch", "file", False) as bar:
        bar({"event": "start", "n_files": 4, "todo": 4, "notes": []})
        bar({"event": "tile", "index": 0, "plane": 0, "planes": 1, "done": 3, "total": 4})
        assert (bar.bar.n, bar.bar.total) == (0, 4)  # tiles are not files
        bar({"event": "result", "completed": 3, "n_files": 4, "status": "done", "rel": "a"})
        assert (bar.bar.n, bar.bar.total) == (3, 4)
        bar({"event": "file", "index": 3, "path": "d.tif"})  # a file begins: no count
        assert (bar.bar.n, bar.bar.total) == (3, 4)
    with progress_bar("jdsr", "%", False) as bar:
        bar({"plane": 1, "planes": 4, "done": 2, "total": 4})  # 1.5 of 4 planes
        assert bar.bar.n == pytest.approx(37.5) and bar.bar.total == 100
    assert "batch" in sys.stderr.getvalue()


def test_cli_bar_prints_the_plain_line_only_without_a_terminal(capsys):
    from napari_w2s.cli._common import progress_bar

    rec = {"iteration": 5, "iterations": 10, "loss": 0.25, "lr": 1e-3, "it_per_s": 2.0}

    def line(p: Progress) -> str:
        return f"iteration {int(p.done)}/{int(p.total)} loss {p.info['loss']:.5f}"

    with progress_bar("training", "it", False, total=10, plain=line) as bar:  # stderr: captured
        bar(rec)
        bar.write("a result line")
    with progress_bar("training", "it", True, total=10, plain=line) as bar:  # --json
        bar(rec)
    out, err = capsys.readouterr()
    assert out == "iteration 5/10 loss 0.25000\na result line\n"
    assert err == ""
