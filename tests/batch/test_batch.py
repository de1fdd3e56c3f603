"""Folder processing (`w2s batch`, :mod:`napari_w2s.batch`): outputs, report, skip/resume, cancel,
threads, laziness, and the widget's calling convention."""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc

import numpy as np
import pytest
import tifffile

from napari_w2s import W2SInputError
from napari_w2s.batch import (
    REPORT_NAME,
    cleanup_stale,
    iter_batch,
    plan,
    process_file,
    restore_lazy,
    run_batch,
)
from napari_w2s.cli import main
from napari_w2s.io import read_provenance, read_stack
from napari_w2s.restore.classical import bicubic_x2
from napari_w2s.restore.engine import resolve


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def image(seed: int, shape=(96, 88)) -> np.ndarray:
    """A smooth structure with Poisson-Gaussian noise (gain 2, offset 100), uint16."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    clean = 60 + 30 * np.sin(yy / 15 + seed) * np.cos(xx / 17)
    return (2 * rng.poisson(clean) + 100 + rng.normal(0, 2, shape)).astype(np.uint16)


def good_folder(root, n=3):
    """n good inputs of different kinds: a 2-D TIFF with a pixel size, a T,Y,X OME stack, .npy."""
    root.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(
        root / "cell00.tif",
        image(0),
        resolution=(1e4 / 0.1, 1e4 / 0.1),
        resolutionunit="CENTIMETER",
    )
    tifffile.imwrite(
        root / "cell01.ome.tif", np.stack([image(1), image(2)]), ome=True, metadata={"axes": "TYX"}
    )
    for i in range(2, n):
        np.save(root / f"cell{i:02d}.npy", image(i))
    return root


def partials(folder):
    return [p for p in folder.rglob(".*") if p.is_file()]


def digest(folder):
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_mixed_folder_cli_outputs_report_and_exit_3(tmp_path, capsys):
    src = good_folder(tmp_path / "in")
    (src / "broken.tif").write_bytes(b"II*\x00" + b"\x00" * 40)
    (src / "notes.txt").write_text("not matched: not an image suffix")
    before = digest(src)
    dst = tmp_path / "out"
    code, out, err = run(capsys, "batch", src, dst, "--method", "bicubic", "--json")
    assert code == 3
    rep = json.loads(out)
    status = {f["rel"]: f["status"] for f in rep["files"]}
    assert status == {
        "broken.tif": "failed",
        "cell00.tif": "done",
        "cell01.ome.tif": "done",
        "cell02.npy": "done",
    }
    assert rep["counts"] == {"done": 3, "skipped": 0, "failed": 1, "pending": 0}
    assert rep["state"] == "complete" and rep["method"] == "bicubic"
    failed = next(f for f in rep["files"] if f["status"] == "failed")
    assert "not a readable TIFF" in failed["message"]
    assert err.count("\n") == 1 and "broken.tif" in err and "Traceback" not in err
    assert json.loads((dst / REPORT_NAME).read_text())["files"] == rep["files"]
    # outputs: named after input and method, float32, x2, equal to the method applied per plane
    assert sorted(p.name for p in dst.iterdir()) == sorted(
        [REPORT_NAME, "cell00_bicubic.ome.tif", "cell01_bicubic.ome.tif", "cell02_bicubic.ome.tif"]
    )
    stack = read_stack(dst / "cell01_bicubic.ome.tif")
    assert stack.axes == "TYX" and stack.shape == (2, 192, 176) and stack.dtype == np.float32
    np.testing.assert_allclose(np.asarray(stack.data)[1], bicubic_x2(image(2).astype(np.float32)))
    assert read_stack(dst / "cell00_bicubic.ome.tif").pixel_size == pytest.approx((0.05, 0.05))
    prov = read_provenance(dst / "cell02_bicubic.ome.tif")
    assert prov["method"] == "bicubic" and prov["source"].endswith("cell02.npy")
    assert digest(src) == before  # inputs never written
    assert partials(dst) == []


def test_second_run_skips_done_files_and_overwrite_redoes_them(tmp_path, capsys):
    src, dst = good_folder(tmp_path / "in"), tmp_path / "out"
    assert run(capsys, "batch", src, dst, "--method", "bicubic")[0] == 0
    mtimes = {p.name: p.stat().st_mtime_ns for p in dst.glob("*.ome.tif")}
    code, out, _ = run(capsys, "batch", src, dst, "--method", "bicubic")
    assert code == 0
    assert "3 skipped (already done" in out and "0 restored, 3 skipped" in out
    assert {p.name: p.stat().st_mtime_ns for p in dst.glob("*.ome.tif")} == mtimes
    rep = json.loads((dst / REPORT_NAME).read_text())
    assert {f["status"] for f in rep["files"]} == {"skipped"}
    code, out, _ = run(capsys, "batch", src, dst, "--method", "bicubic", "--overwrite")
    assert code == 0 and "3 restored, 0 skipped" in out
    assert all(p.stat().st_mtime_ns != mtimes[p.name] for p in dst.glob("*.ome.tif"))


def test_recursive_pattern_keeps_subfolders(tmp_path, capsys):
    src = good_folder(tmp_path / "in")
    good_folder(src / "day2" / "fov1", n=2)
    (src / ".hidden").mkdir()
    np.save(src / ".hidden" / "x.npy", image(9))
    dst = tmp_path / "out"
    code, out, _ = run(
        capsys,
        "batch",
        src,
        dst,
        "--method",
        "bicubic",
        "--pattern",
        "*.tif",
        "--recursive",
        "--json",
    )
    assert code == 0
    rels = sorted(f["rel"] for f in json.loads(out)["files"])
    assert rels == [
        "cell00.tif",
        "cell01.ome.tif",
        "day2/fov1/cell00.tif",
        "day2/fov1/cell01.ome.tif",
    ]
    assert (dst / "day2" / "fov1" / "cell01_bicubic.ome.tif").is_file()
    # without --recursive only the top folder
    assert [f.rel for f in plan(src, "*.tif", dst, "bicubic")] == ["cell00.tif", "cell01.ome.tif"]


def test_output_folder_inside_input_folder_is_not_read_back(tmp_path, capsys):
    src = good_folder(tmp_path / "in")
    dst = src / "restored"
    assert run(capsys, "batch", src, dst, "--method", "bicubic", "--recursive")[0] == 0
    code, out, _ = run(capsys, "batch", src, dst, "--method", "bicubic", "--recursive", "--json")
    assert code == 0 and json.loads(out)["counts"]["skipped"] == 3
    assert len(json.loads(out)["files"]) == 3


def test_events_report_and_widget_calling_convention(tmp_path, monkeypatch):
    monkeypatch.setattr("napari_w2s.batch.run.REPORT_INTERVAL_S", 0)  # rewrite after every file
    src, dst = good_folder(tmp_path / "in"), tmp_path / "out"
    # the widget calls iter_batch(input_dir, pattern, output_dir, method, device=...)
    gen = iter_batch(str(src), "*", str(dst), "bicubic", device="cpu")
    events = []
    while True:
        try:
            ev = next(gen)
        except StopIteration as stop:
            report = stop.value
            break
        events.append(ev)
        if ev["event"] == "result":  # the report on disk is valid and current after each file
            on_disk = json.loads((dst / REPORT_NAME).read_text())
            assert on_disk["files"][ev["index"]]["status"] == ev["status"] == "done"
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds.count("result") == 3 and kinds.count("file") == 3
    assert "tile" in kinds
    tile = next(e for e in events if e["event"] == "tile" and e["index"] == 1)
    assert {"plane", "planes", "done", "total"} <= set(tile) and tile["planes"] == 2
    res = [e for e in events if e["event"] == "result"]
    assert [e["completed"] for e in res] == [1, 2, 3]
    assert all(set(e) >= {"index", "status", "message", "out", "seconds"} for e in res)
    assert report.counts() == {"done": 3, "skipped": 0, "failed": 0, "pending": 0}
    assert "3 restored, 0 skipped" in report.summary() and report.report == str(dst / REPORT_NAME)


def test_two_worker_threads_give_the_same_files(tmp_path):
    src = good_folder(tmp_path / "in", n=6)
    one = run_batch(src, "*", tmp_path / "one", "pure-let")
    two = run_batch(src, "*", tmp_path / "two", "pure-let", workers=2)
    assert one.ok and two.ok and len(two.files) == 6
    for f in (tmp_path / "one").glob("*.ome.tif"):
        np.testing.assert_array_equal(
            tifffile.imread(f), tifffile.imread(tmp_path / "two" / f.name)
        )


def test_cancel_keeps_finished_files_and_a_rerun_completes(tmp_path):
    src, dst = good_folder(tmp_path / "in", n=5), tmp_path / "out"
    gen = iter_batch(src, "*", dst, "bicubic")
    for ev in gen:
        if ev["event"] == "result":
            break
    gen.close()  # what a cancel does
    rep = json.loads((dst / REPORT_NAME).read_text())
    assert rep["state"] == "cancelled"
    assert rep["counts"]["done"] >= 1 and rep["counts"]["pending"] >= 1
    assert partials(dst) == []
    for f in rep["files"]:
        assert os.path.exists(f["out"]) == (f["status"] == "done")
    again = run_batch(src, "*", dst, "bicubic")
    assert again.ok and again.counts()["skipped"] == rep["counts"]["done"]


def test_stale_temporaries_of_a_dead_run_are_removed(tmp_path, capsys):
    src, dst = good_folder(tmp_path / "in"), tmp_path / "out"
    dst.mkdir()
    dead = dst / ".cell00_bicubic.ome.tif.partial-999999999"
    live = dst / f".other.ome.tif.partial-{os.getppid()}"  # a live process: kept
    dead.write_bytes(b"half")
    live.write_bytes(b"being written")
    code, out, _ = run(capsys, "batch", src, dst, "--method", "bicubic")
    assert code == 0 and "1 stale temporary file(s)" in out
    assert not dead.exists() and live.exists()
    assert cleanup_stale(dst) == []


def test_a_second_batch_into_the_same_folder_is_refused_while_one_runs(tmp_path):
    src, dst = good_folder(tmp_path / "in"), tmp_path / "out"
    dst.mkdir()
    (dst / ".w2s-batch.lock").write_text(f"{os.getppid()} ")  # another live process holds it
    with pytest.raises(W2SInputError, match="another w2s batch"):
        run_batch(src, "*", dst, "bicubic")
    (dst / ".w2s-batch.lock").write_text("999999999 ")  # a dead one: taken over
    assert run_batch(src, "*", dst, "bicubic").ok
    assert not (dst / ".w2s-batch.lock").exists()


def test_stacks_are_restored_and_written_plane_by_plane(tmp_path):
    """Peak memory stays a few planes although the output is 40 MiB: lazily, plane by plane."""
    planes, h, w = 40, 256, 256
    path = tmp_path / "big.npy"
    stack = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16, shape=(planes, h, w))
    stack[:] = np.arange(planes, dtype=np.uint16)[:, None, None] + 100
    stack.flush()
    del stack
    out = tmp_path / "big_bicubic.ome.tif"
    np.save(tmp_path / "warm.npy", image(0))  # imports and caches outside the measurement
    assert (
        process_file(str(tmp_path / "warm.npy"), str(tmp_path / "w.ome.tif"), "bicubic")["status"]
        == "done"
    )
    tracemalloc.start()
    try:
        rec = process_file(str(path), str(out), "bicubic")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rec["status"] == "done", rec
    out_bytes = planes * 4 * h * w * 4
    assert peak < out_bytes / 8, (peak, out_bytes)  # measured: 4 MiB of 40 MiB
    with tifffile.TiffFile(out) as tif:
        assert tif.series[0].shape == (planes, 2 * h, 2 * w)
        np.testing.assert_allclose(tif.asarray(key=7), 107, rtol=1e-6)


def test_restore_lazy_is_a_dask_array_equal_to_the_engine(tmp_path):
    import dask.array as da

    from napari_w2s.restore.engine import iter_restore

    data = da.from_array(
        np.stack([image(3), image(4), image(5)]).astype(np.float32), chunks=(2, 50, 88)
    )
    pipe = resolve("bicubic")
    lazy = restore_lazy(pipe, data)
    assert isinstance(lazy, da.Array) and lazy.shape == (3, 192, 176)
    gen = iter_restore(pipe, np.asarray(data))
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            expected = stop.value
            break
    np.testing.assert_array_equal(lazy.compute(scheduler="sync"), expected)


def test_noise_level_auto_is_chosen_per_file_as_w2s_restore_does(tmp_path, capsys, monkeypatch):
    """``--noise-level auto``: for each file, the per-level model whose training inputs are as
    noisy as its first plane (else the noise-blind one), the same choice and the same pixels as
    ``w2s restore --noise-level auto``; a level that does not exist is refused."""
    import shutil
    from pathlib import Path

    from napari_w2s.analysis.snr import estimate_snr
    from napari_w2s.restore import zoo

    def varied(seed: int, peak: float) -> np.ndarray:
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:64, 0:64]
        clean = peak + peak / 2 * np.sin(yy / 15 + seed) * np.cos(xx / 17)
        return (2 * rng.poisson(clean) + 100 + rng.normal(0, 2, clean.shape)).astype(np.uint16)

    noisy, clean = varied(0, 60.0), varied(1, 6000.0)
    low, high = estimate_snr(noisy.astype(np.float64)), estimate_snr(clean.astype(np.float64))
    assert low < 25.0 < high, (low, high)
    # a per-level dncnn "trained" on inputs of SNR about 25: the shipped weights, its own card
    blind = next(c for c in zoo.shipped() if c["name"] == "dncnn" and c["noise_level"] == "blind")
    weights = tmp_path / "zoo" / "dncnn-avg1-test.safetensors"
    weights.parent.mkdir()
    shutil.copy(blind["file"], weights)
    card = json.loads(Path(blind["file"]).with_suffix(".json").read_text())
    snr = {"p10": 10.0, "p50": 25.0, "p90": 60.0}
    card.update(noise_level="avg1", training={**card["training"], "input_snr": snr})
    weights.with_suffix(".json").write_text(json.dumps(card))
    monkeypatch.setattr(zoo, "shipped", lambda: [blind, {**card, "file": str(weights)}])

    src, dst, one = tmp_path / "in", tmp_path / "out", tmp_path / "one"
    src.mkdir()
    one.mkdir()
    np.save(src / "first_noisy.npy", np.stack([noisy, clean]))  # the first plane decides
    np.save(src / "clean.npy", clean)
    options = ("--method", "dncnn", "--noise-level", "auto", "--device", "cpu", "--tile", "0")
    code, _, err = run(capsys, "batch", src, dst, *options)
    assert code == 0, err
    for name, level in (("first_noisy", "avg1"), ("clean", "blind")):
        batch_out = dst / f"{name}_dncnn.ome.tif"
        assert read_provenance(batch_out)["pipeline"]["steps"][0]["noise_level"] == level
        code, _, err = run(capsys, "restore", src / f"{name}.npy", "--out", one, *options)
        assert code == 0, err
        alone = one / f"{name}_dncnn.ome.tif"
        assert read_provenance(alone)["pipeline"]["steps"][0]["noise_level"] == level
        np.testing.assert_allclose(
            np.asarray(read_stack(batch_out).data),
            np.asarray(read_stack(alone).data),
            rtol=1e-5,
            atol=1e-3,
        )
    # the Python API takes the same values as the command line, and refuses the others
    assert run_batch(src, "*", tmp_path / "api", "dncnn", "cpu", noise_level="auto").ok
    with pytest.raises(W2SInputError, match="use auto, blind or one of"):
        run_batch(src, "*", tmp_path / "bad", "dncnn", "cpu", noise_level="avg3")
    assert not (tmp_path / "bad").exists()
