"""The restore job (restore/files.py): the numbers of the engine, streamed, atomic, lazy."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest
import tifffile

from napari_w2s.cli import main
from napari_w2s.errors import W2SInputError
from napari_w2s.io import read_provenance
from napari_w2s.progress import drain
from napari_w2s.restore.engine import iter_restore, resolve
from napari_w2s.restore.files import (
    RestoreCancelled,
    RestoreOptions,
    restore_array,
    restore_file,
)
from tests.conftest import Reads


def stack(planes=4, h=40, w=36, seed=0) -> np.ndarray:
    """Noisy uint16 planes with structure (varying from plane to plane)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    out = [
        rng.poisson(60 + 30 * np.sin(yy / 5 + p) * np.cos(xx / 7)) * 2 + 100 for p in range(planes)
    ]
    return np.asarray(out, dtype=np.uint16)


def partials(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


@pytest.mark.parametrize("method", ["bicubic", "pure-let", "dncnn", "dncnn+bicubic"])
def test_restore_file_has_the_numbers_of_the_engine(tmp_path, method):
    data = stack()
    np.save(tmp_path / "in.npy", data)
    opts = RestoreOptions(method=method, device="cpu", threads=1)
    before = drain(iter_restore(resolve(method, device="cpu", threads=1), data))
    done = restore_file(tmp_path / "in.npy", tmp_path / "out.ome.tif", opts)
    got = tifffile.imread(done.path)
    assert got.dtype == np.float32 and got.shape == before.shape == done.shape_out
    # bit for bit, but for the few ulps a network's CPU kernels may vary by from run to run
    np.testing.assert_allclose(got, before, rtol=0, atol=1e-4 * float(np.ptp(before)))
    if "dncnn" not in method:
        assert np.array_equal(got, before)
    record = read_provenance(done.path)
    assert record["method"] == method and record["source"] == str((tmp_path / "in.npy").resolve())
    assert record["pipeline"] == json.loads(json.dumps(done.pipeline)) and record[
        "seconds"
    ] == round(done.seconds, 3)
    assert done.shape_in == data.shape and done.scale == (2 if "bicubic" in method else 1)
    # .npy: the bytes numpy.save writes for the whole array
    npy = restore_file(tmp_path / "in.npy", tmp_path / "out.npy", opts).path
    assert np.load(npy).shape == before.shape
    np.save(tmp_path / "whole.npy", np.load(npy))
    assert npy.read_bytes() == (tmp_path / "whole.npy").read_bytes()


def test_pixel_size_axes_and_output_folder(tmp_path):
    tifffile.imwrite(
        tmp_path / "cell.ome.tif",
        stack(3),
        ome=True,
        metadata={"axes": "TYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1},
    )
    done = restore_file(tmp_path / "cell.ome.tif", tmp_path, RestoreOptions(method="bicubic"))
    assert done.path == tmp_path / "cell_bicubic.ome.tif"
    with tifffile.TiffFile(done.path) as tif:
        assert tif.series[0].axes == "TYX" and tif.series[0].shape == (3, 80, 72)
        pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
    assert pixels["PhysicalSizeX"] == pytest.approx(0.05)


def test_restore_array_is_lazy_on_a_generator():
    data = stack(5)
    taken = []

    def planes():
        for i, plane in enumerate(data):
            taken.append(i)
            yield plane

    out = restore_array(planes(), RestoreOptions(method="bicubic"))
    first = next(out)
    assert taken == [0]  # one plane read for one plane restored
    assert first.shape == (80, 72) and first.dtype == np.float32
    rest = list(out)
    assert taken == [0, 1, 2, 3, 4] and len(rest) == 4
    pipe = resolve("bicubic")
    for got, plane in zip([first, *rest], data, strict=True):
        assert np.array_equal(got, pipe.run(plane))


def test_restore_array_reads_one_plane_per_plane_of_an_array():
    data = Reads(stack(6))
    out = restore_array(data, RestoreOptions(method="bicubic"))
    next(out)
    assert data.reads == [(0,)]
    next(out)
    assert data.reads == [(0,), (1,)]
    # a network's stack normalisation reads a sample first (here the whole small stack, once),
    # then one plane at a time
    data = Reads(stack(6))
    gen = restore_array(data, RestoreOptions(method="dncnn", device="cpu", threads=1))
    next(gen)
    assert data.reads == ["all", (0,)]
    next(gen)
    assert data.reads == ["all", (0,), (1,)]


@pytest.mark.parametrize("suffix", [".ome.tif", ".npy"])
def test_a_cancelled_run_leaves_nothing_and_clobbers_nothing(tmp_path, suffix):
    np.save(tmp_path / "in.npy", stack(4))
    old = tmp_path / f"old{suffix}"
    old.write_bytes(b"an earlier result")
    seen = []

    def progress(rec):
        seen.append(rec["plane"])

    def cancel():  # after the second plane has begun: the first is written already
        return len(seen) >= 2

    opts = RestoreOptions(method="bicubic")
    for out in (old, tmp_path / f"new{suffix}"):
        seen.clear()
        with pytest.raises(RestoreCancelled):
            restore_file(tmp_path / "in.npy", out, opts, progress=progress, cancel=cancel)
        assert seen == [0, 1]
    assert old.read_bytes() == b"an earlier result"
    assert not (tmp_path / f"new{suffix}").exists() and partials(tmp_path) == []
    event = threading.Event()
    event.set()
    with pytest.raises(RestoreCancelled):
        restore_file(tmp_path / "in.npy", old, opts, cancel=event)
    assert old.read_bytes() == b"an earlier result" and partials(tmp_path) == []
    done = restore_file(tmp_path / "in.npy", old, opts)  # not cancelled: replaced, complete
    assert done.path == old and done.shape_out == (4, 80, 72)


def test_a_bad_plane_fails_named_and_leaves_nothing(tmp_path):
    data = stack(3).astype(np.float32)
    data[2, 3, 3] = np.nan
    np.save(tmp_path / "in.npy", data)
    with pytest.raises(W2SInputError, match="plane 2 of 3: .*NaN or infinite"):
        restore_file(tmp_path / "in.npy", tmp_path / "o.ome.tif", RestoreOptions(method="bicubic"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]


def test_options_are_one_checked_value():
    opts = RestoreOptions(method="dncnn", noise_level="4", tile="128")
    assert opts.noise_level == "avg4" and opts.tile == 128
    assert RestoreOptions(noise_level="blind").noise_level is None
    assert RestoreOptions(noise_level="auto").noise_level == "auto"
    with pytest.raises(W2SInputError, match="use auto, blind or one of"):
        RestoreOptions(noise_level="3")
    with pytest.raises(AttributeError):
        opts.method = "jdsr"


def test_the_public_import_loads_no_torch():
    code = (
        "import sys; from napari_w2s.restore import RestoreOptions, restore_array, "
        "restore_file; assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_w2s_restore_streams_a_stack_larger_than_memory(tmp_path, capsys, monkeypatch):
    """The whole output does not fit in the memory said to be available, one plane does: the
    in-memory engine would refuse it; `w2s restore` streams it."""
    data = stack(8)
    np.save(tmp_path / "in.npy", data)
    plane_out = 4 * 80 * 72
    monkeypatch.setattr("napari_w2s.restore.memory._available_ram", lambda: 6.0 * plane_out)
    with pytest.raises(W2SInputError, match="GiB of memory"):
        drain(iter_restore(resolve("bicubic"), data))
    argv = ["restore", str(tmp_path / "in.npy"), "--method", "bicubic", "--out"]
    code = main([*argv, str(tmp_path / "o.ome.tif"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and err == "", err
    report = json.loads(out)
    assert report["shape"] == [8, 80, 72] and report["scale"] == 2
    assert np.array_equal(
        tifffile.imread(tmp_path / "o.ome.tif"),
        np.asarray([resolve("bicubic").run(p) for p in data]),
    )
    code = main([*argv, str(tmp_path / "o.npy")])
    out, _ = capsys.readouterr()
    assert code == 0 and out.startswith("bicubic: (8, 40, 36) -> (8, 80, 72) in ")
    assert out.rstrip().endswith(f"s -> {tmp_path / 'o.npy'}")


def test_streamed_provenance_is_made_after_the_last_plane(tmp_path):
    from napari_w2s.io import write_ome_tiff
    from napari_w2s.restore.files import PlaneStream

    made = []

    def planes():
        for i in range(3):
            made.append(i)
            yield np.full((4, 5), i, np.float32)

    def record():
        return {"planes_made": len(made)}

    path = write_ome_tiff(
        tmp_path / "s.ome.tif",
        PlaneStream(planes(), (3, 4, 5)),
        "TYX",
        (0.1, 0.1),
        record,
        name="s",
    )
    assert read_provenance(path)["planes_made"] == 3
    assert tifffile.imread(path)[:, 0, 0].tolist() == [0, 1, 2]
    # an array's record is made up front, as a dict's
    path = write_ome_tiff(
        tmp_path / "a.ome.tif", np.zeros((4, 5), np.float32), "YX", None, lambda: {"k": 1}
    )
    assert read_provenance(path)["k"] == 1
