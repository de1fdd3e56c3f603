"""The bad-input catalogue of docs/batch.md, one test per row.

Each bad input gets one clear message (the CLI: exit 2 and one line on stderr, no traceback; a
batch: a ``failed`` entry in the report, the other files still done) and nothing is written
that should not be (no output, no partial file). Unusual but valid inputs (uint8, uint32,
float, negative values, odd sizes, images smaller than a tile) must work.
"""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest
import tifffile

from napari_w2s.cli import main
from napari_w2s.restore.classical import bicubic_x2

GOOD = "good.npy"


def noisy(shape=(96, 88), seed=0, gain=2.0, offset=100.0) -> np.ndarray:
    """Smooth structure, Poisson noise with gain ``gain``, plus ``offset`` (float64)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[-2], 0 : shape[-1]]
    clean = 60 + 30 * np.sin(yy / 15 + seed) * np.cos(xx / 17)
    return gain * rng.poisson(np.broadcast_to(clean, shape)) + offset


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def user_error(capsys, match, *argv):
    """Exit 2 with one line on stderr containing ``match``."""
    code, _, err = cli(capsys, *argv)
    assert code == 2, err
    assert err.count("\n") == 1 and match in err and "Traceback" not in err, err
    return err


def nothing_partial(folder):
    return [p.name for p in folder.rglob("*") if ".partial-" in p.name or p.name.startswith(".w2s")]


def batch_one(tmp_path, capsys, make, method="bicubic", extra=()):
    """A folder with one good file and the bad one (``make(folder) -> name``); run `w2s batch`.

    Returns ``(exit code, {rel: entry}, out folder)``.
    """
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir(exist_ok=True)
    np.save(src / GOOD, noisy().astype(np.uint16))
    name = make(src)
    code, out, err = cli(capsys, "batch", src, dst, "--method", method, "--json", *extra)
    entries = {f["rel"]: f for f in json.loads(out)["files"]}
    assert entries[GOOD]["status"] == "done"  # the others still processed
    assert "Traceback" not in err and nothing_partial(dst) == []
    return code, entries, dst, name


def assert_failed(tmp_path, capsys, make, match, method="bicubic"):
    code, entries, dst, name = batch_one(tmp_path, capsys, make, method)
    assert code == 3
    entry = entries[name]
    assert entry["status"] == "failed" and match in entry["message"], entry
    assert not os.path.exists(entry["out"])
    return entry


def assert_done(tmp_path, capsys, make, method="bicubic", extra=()):
    code, entries, dst, name = batch_one(tmp_path, capsys, make, method, extra)
    assert code == 0 and entries[name]["status"] == "done", entries[name]
    return tifffile.imread(entries[name]["out"]), entries[name]


# ------------------------------------------------------------------------------ broken files
def test_empty_file(tmp_path, capsys):
    def make(d):
        (d / "empty.tif").touch()
        return "empty.tif"

    assert_failed(tmp_path, capsys, make, "the file is empty")
    user_error(
        capsys,
        "the file is empty",
        "restore",
        tmp_path / "in" / "empty.tif",
        "--method",
        "bicubic",
        "--out",
        tmp_path,
    )


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_truncated_tiff(tmp_path, capsys, compression):
    def make(d):
        tifffile.imwrite(
            d / "full.tif",
            noisy((4, 64, 64)).astype(np.uint16),
            photometric="minisblack",
            compression=compression,
        )
        data = (d / "full.tif").read_bytes()
        (d / "full.tif").unlink()
        (d / "cut.tif").write_bytes(data[: len(data) - 3000])
        return "cut.tif"

    assert_failed(tmp_path, capsys, make, "truncated or damaged")


def test_corrupt_tiff_data(tmp_path, capsys):
    def make(d):
        tifffile.imwrite(
            d / "z.tif",
            noisy((4, 64, 64)).astype(np.uint16),
            photometric="minisblack",
            compression="zlib",
        )
        data = bytearray((d / "z.tif").read_bytes())
        data[-3000:-2000] = b"\x00" * 1000  # the last page's compressed data
        (d / "z.tif").write_bytes(bytes(data))
        return "z.tif"

    assert_failed(tmp_path, capsys, make, "the TIFF is damaged")


def test_corrupt_tiff_header(tmp_path, capsys):
    def make(d):
        (d / "header.tif").write_bytes(b"II*\x00" + b"\x00" * 40)
        return "header.tif"

    assert_failed(tmp_path, capsys, make, "not a readable TIFF")


@pytest.mark.parametrize("name", ["notes.tif", "notes.npy"])
def test_non_image_file_with_an_image_extension(tmp_path, capsys, name):
    def make(d):
        (d / name).write_text("exposure 100 ms, 400 frames\n" * 20)
        return name

    assert_failed(tmp_path, capsys, make, "not a readable")


def test_rgb(tmp_path, capsys):
    def make(d):
        rgb = np.random.default_rng(0).integers(0, 255, (64, 64, 3)).astype(np.uint8)
        tifffile.imwrite(d / "photo.tif", rgb, photometric="rgb")
        return "photo.tif"

    assert_failed(tmp_path, capsys, make, "RGB image")


# ------------------------------------------------------------------------------ valid pixel types
@pytest.mark.parametrize("dtype", ["uint8", "uint32", "float32", "float64"])
def test_pixel_types_work_and_keep_their_units(tmp_path, capsys, dtype):
    image = noisy(gain=1.0, offset=40.0 if dtype == "uint8" else 1000.0)
    assert image.max() < 256 or dtype != "uint8"

    def make(d):
        tifffile.imwrite(d / f"{dtype}.tif", image.astype(dtype), photometric="minisblack")
        return f"{dtype}.tif"

    out, _ = assert_done(tmp_path, capsys, make)
    assert out.dtype == np.float32 and out.shape == (192, 176)
    np.testing.assert_allclose(out, bicubic_x2(image.astype(np.float32)), rtol=1e-5, atol=1e-3)


def test_negative_values_work_with_a_denoiser(tmp_path, capsys):
    """Background-subtracted data (negative values): PURE-LET denoises in the same units."""
    image = noisy(offset=-160.0)
    assert image.min() < 0
    clean = noisy(offset=-160.0, gain=0.0) + 2 * (
        60 + 30 * np.sin(np.mgrid[0:96, 0:88][0] / 15) * np.cos(np.mgrid[0:96, 0:88][1] / 17)
    )

    def make(d):
        np.save(d / "negative.npy", image.astype(np.float32))
        return "negative.npy"

    out, _ = assert_done(tmp_path, capsys, make, method="pure-let")
    assert abs(out.mean() - image.mean()) < 1.0  # same units, no shift
    assert np.sqrt(np.mean((out - clean) ** 2)) < 0.6 * np.sqrt(np.mean((image - clean) ** 2))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf(tmp_path, capsys, bad):
    def make(d):
        stack = noisy((3, 64, 64))
        stack[2, 5, 5] = bad  # in the last plane: the first two are restored, then refused
        np.save(d / "holes.npy", stack)
        return "holes.npy"

    assert_failed(tmp_path, capsys, make, "NaN or infinite")
    np.save(tmp_path / "h.npy", np.where(np.eye(20) > 0, bad, 1.0) + np.zeros((30, 20, 20)))
    user_error(capsys, "NaN or infinite", "average", tmp_path / "h.npy", "--out", tmp_path / "lv")
    assert not (tmp_path / "lv").exists() or not any((tmp_path / "lv").iterdir())


# ------------------------------------------------------------------------------ shapes
def test_single_frame_where_a_stack_is_needed(tmp_path, capsys):
    np.save(tmp_path / "frame.npy", noisy())
    user_error(
        capsys, "no frames to average", "average", tmp_path / "frame.npy", "--out", tmp_path / "lv"
    )
    assert not (tmp_path / "lv").exists()


def test_fewer_frames_than_a_level_needs(tmp_path, capsys):
    np.save(tmp_path / "short.npy", noisy((20, 16, 16)))
    user_error(
        capsys,
        "needs 64",
        "average",
        tmp_path / "short.npy",
        "--levels",
        "1,64",
        "--out",
        tmp_path / "lv",
    )
    assert not (tmp_path / "lv").exists() or not any((tmp_path / "lv").iterdir())


def test_stack_of_1_by_1_pixels(tmp_path, capsys):
    def make(d):
        np.save(d / "pixel.npy", np.arange(30, dtype=np.uint16).reshape(30, 1, 1))
        return "pixel.npy"

    assert_failed(tmp_path, capsys, make, "too small to restore")
    # averaging a 1 x 1 stack is well defined: it works
    code, _, _ = cli(
        capsys,
        "average",
        tmp_path / "in" / "pixel.npy",
        "--levels",
        "1,2",
        "--out",
        tmp_path / "lv",
    )
    assert code == 0 and tifffile.imread(tmp_path / "lv" / "avg2.tif").shape == (1, 1)


def test_image_smaller_than_a_tile(tmp_path, capsys):
    image = noisy((40, 36))

    def make(d):
        np.save(d / "small.npy", image)
        return "small.npy"

    out, _ = assert_done(tmp_path, capsys, make, extra=("--tile", "256"))
    np.testing.assert_allclose(out, bicubic_x2(image.astype(np.float32)), rtol=1e-6)


def test_odd_sizes(tmp_path, capsys):
    image = noisy((2, 33, 47))

    def make(d):
        tifffile.imwrite(
            d / "odd.ome.tif", image.astype(np.uint16), ome=True, metadata={"axes": "TYX"}
        )
        return "odd.ome.tif"

    out, _ = assert_done(tmp_path, capsys, make)
    assert out.shape == (2, 66, 94)


def test_sim_reference_of_the_wrong_size_for_metrics(tmp_path, capsys):
    clean = noisy((32, 32))
    np.save(tmp_path / "clean.npy", clean)
    np.save(tmp_path / "pred.npy", clean)
    np.save(tmp_path / "sim.npy", noisy((50, 50)))  # neither 32 x 32 nor 64 x 64
    user_error(
        capsys,
        "neither the clean image's size",
        "metrics",
        tmp_path / "pred.npy",
        tmp_path / "sim.npy",
        "--clean",
        tmp_path / "clean.npy",
    )
    user_error(capsys, "different shapes", "metrics", tmp_path / "pred.npy", tmp_path / "sim.npy")


# ------------------------------------------------------------------------------ output folder
def test_read_only_output_folder(tmp_path, capsys, monkeypatch):
    src = tmp_path / "in"
    src.mkdir()
    np.save(src / GOOD, noisy())
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):  # root ignores the mode bits: simulate the refusal

            def refuse(folder):
                raise PermissionError(errno.EACCES, "Permission denied")

            monkeypatch.setattr("napari_w2s.io.folders._probe_write", refuse)
        user_error(
            capsys, "cannot write in the output folder", "batch", src, ro, "--method", "bicubic"
        )
        user_error(
            capsys,
            "cannot write in the output folder",
            "batch",
            src,
            ro / "sub",
            "--method",
            "bicubic",
        )
        assert list(ro.iterdir()) in ([], [ro / "sub"])
    finally:
        ro.chmod(0o755)


def test_missing_output_folder(tmp_path, capsys):
    np.save(tmp_path / "img.npy", noisy())
    # w2s restore does not create folders: a typo in --out is reported
    user_error(
        capsys,
        "does not exist",
        "restore",
        tmp_path / "img.npy",
        "--method",
        "bicubic",
        "--out",
        tmp_path / "nope" / "x.ome.tif",
    )
    # w2s batch creates OUT_DIR (and its parents) ...
    src = tmp_path / "in"
    src.mkdir()
    np.save(src / GOOD, noisy())
    code, _, _ = cli(capsys, "batch", src, tmp_path / "new" / "deep", "--method", "bicubic")
    assert code == 0 and (tmp_path / "new" / "deep" / "good_bicubic.ome.tif").is_file()
    # ... unless a file stands in the way
    (tmp_path / "afile").write_text("x")
    user_error(
        capsys,
        "cannot create the output folder",
        "batch",
        src,
        tmp_path / "afile" / "o",
        "--method",
        "bicubic",
    )
    user_error(
        capsys, "is a file, not a folder", "batch", src, tmp_path / "afile", "--method", "bicubic"
    )


def test_full_disk(tmp_path, capsys, monkeypatch):
    """The writer fails with ENOSPC after writing part of the file: that file fails, the rest are
    not attempted, and no partial file is left."""
    import tifffile as tf

    calls = []

    def full(path, *args, **kwargs):
        calls.append(path)
        with open(path, "wb") as fh:
            fh.write(b"II*\x00partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tf, "imwrite", full)
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(4):
        np.save(src / f"f{i}.npy", noisy(seed=i))
    code, out, err = cli(capsys, "batch", src, dst, "--method", "bicubic", "--json")
    assert code == 3
    files = json.loads(out)["files"]
    assert all(f["status"] == "failed" for f in files)
    assert "No space left on device" in files[0]["message"]
    assert all("disk is full" in f["message"] for f in files[1:])
    assert len(calls) == 1
    assert sorted(p.name for p in dst.iterdir()) == ["batch_report.json"]
    monkeypatch.undo()
    np.save(tmp_path / "one.npy", noisy())
    monkeypatch.setattr(tf, "imwrite", full)
    user_error(
        capsys,
        "No space left on device",
        "restore",
        tmp_path / "one.npy",
        "--method",
        "bicubic",
        "--out",
        dst / "one.ome.tif",
    )
    assert sorted(p.name for p in dst.iterdir()) == ["batch_report.json"]


# ------------------------------------------------------------------------------ methods, weights
@pytest.fixture(scope="module")
def card_and_weights(tmp_path_factory):
    import torch

    from napari_w2s.models import build_model, get_spec
    from napari_w2s.models.weights import ModelCard, save_model

    torch.manual_seed(0)
    spec = get_spec("dncnn")
    card = ModelCard(
        name="dncnn",
        architecture=spec.architecture,
        config=spec.config("compact"),
        task="denoise",
        scale=1,
        noise_level="blind",
        normalisation={"kind": "zscore", "mean": 150.0, "std": 40.0},
    )
    path = save_model(
        build_model("dncnn", "compact").eval(),
        tmp_path_factory.mktemp("w") / "dncnn.safetensors",
        card,
    )
    return path.read_bytes(), path.with_suffix(".json").read_text()


@pytest.mark.parametrize(
    "case, match",
    [
        ("missing", "weights file not found"),
        ("no card", "no model card"),
        ("corrupted", "do not match their model card"),
        ("corrupted, no checksum", "cannot read the weights"),
        ("bad card", "not a valid model card"),
    ],
)
def test_missing_or_corrupted_weights(tmp_path, capsys, card_and_weights, case, match):
    weights, card = card_and_weights
    w = tmp_path / "w.safetensors"
    if case != "missing":
        w.write_bytes(weights[:100] + b"\x00" * 64 if "corrupted" in case else weights)
    if case != "no card":
        c = json.loads(card)
        if case == "corrupted, no checksum":
            c["sha256"] = ""
        w.with_suffix(".json").write_text("{not json" if case == "bad card" else json.dumps(c))
    np.save(tmp_path / "img.npy", noisy())
    out = tmp_path / "out"
    out.mkdir()
    user_error(
        capsys,
        match,
        "restore",
        tmp_path / "img.npy",
        "--method",
        "dncnn",
        "--weights",
        w,
        "--out",
        out,
    )
    src = tmp_path / "in"
    src.mkdir()
    np.save(src / "img.npy", noisy())
    user_error(capsys, match, "batch", src, out / "b", "--method", "dncnn", "--weights", w)
    assert list(out.iterdir()) == []


def test_unknown_method(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    np.save(src / GOOD, noisy())
    user_error(capsys, "unknown model 'bm4d'", "batch", src, tmp_path / "out", "--method", "bm4d")
    assert not (tmp_path / "out").exists()  # checked before any work
    user_error(
        capsys, "unknown model 'bm4d'", "restore", src / GOOD, "--method", "bm4d", "--out", tmp_path
    )


def test_bad_batch_arguments(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "readme.txt").write_text("x")
    out = tmp_path / "out"
    user_error(
        capsys,
        "the input folder does not exist",
        "batch",
        tmp_path / "nope",
        out,
        "--method",
        "bicubic",
    )
    user_error(capsys, "other file(s) match", "batch", src, out, "--method", "bicubic")
    np.save(src / GOOD, noisy())
    user_error(
        capsys, "matches '*.tif'", "batch", src, out, "--method", "bicubic", "--pattern", "*.tif"
    )
    user_error(
        capsys, "must differ from the input folder", "batch", src, src, "--method", "bicubic"
    )
    user_error(
        capsys,
        "--workers must be at least 1",
        "batch",
        src,
        out,
        "--method",
        "bicubic",
        "--workers",
        "0",
    )
    assert not out.exists()
    with pytest.raises(SystemExit) as exc:
        main(["batch", str(src), str(out)])  # --method is required
    assert exc.value.code == 2 and "--method" in capsys.readouterr().err


def test_scheduler_without_the_distributed_package(tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_distributed(name, *args, **kwargs):
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError("No module named 'distributed'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    src = tmp_path / "in"
    src.mkdir()
    np.save(src / GOOD, noisy())
    user_error(
        capsys,
        "pip install 'napari-w2s[distributed]'",
        "batch",
        src,
        tmp_path / "out",
        "--method",
        "bicubic",
        "--scheduler",
        "tcp://127.0.0.1:8786",
    )
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------ second pass
# The defects of the hostile-user pass (bad-inputs-found.md, D1-D27), one test each.
def unchanged(*paths):
    """A snapshot of files' bytes; call it again to check that none changed."""
    before = {p: p.read_bytes() for p in paths}
    return lambda: all(p.read_bytes() == b for p, b in before.items())


def test_d1_an_output_never_replaces_an_input(tmp_path, capsys):
    img, stack = tmp_path / "a.npy", tmp_path / "lv" / "avg2.tif"
    np.save(img, noisy((32, 32)).astype(np.float32))
    stack.parent.mkdir()
    tifffile.imwrite(stack, noisy((4, 16, 16)).astype(np.uint16), photometric="minisblack")
    np.save(tmp_path / "hr.npy", noisy((64, 64)))
    same = unchanged(img, stack, tmp_path / "hr.npy")
    user_error(
        capsys, "this output is the input file", "restore", img, "--method", "bicubic", "--out", img
    )
    user_error(
        capsys,
        "this output is the input file",
        "restore",
        img,
        "--method",
        "bicubic",
        "--out",
        tmp_path / "lv" / ".." / "a.npy",
    )  # the same file by another name
    user_error(
        capsys,
        "this output is the input file",
        "average",
        stack,
        "--levels",
        "1,2",
        "--out",
        stack.parent,
    )
    user_error(
        capsys,
        "this output is the input file",
        "estimate-kernel",
        img,
        tmp_path / "hr.npy",
        "--size",
        "8",
        "--out",
        img,
    )
    assert same() and nothing_partial(tmp_path) == []
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.npy", "avg2.tif", "hr.npy", "lv"]


@pytest.mark.parametrize("tile", ["1", "47", "95", "-5"])
def test_d2_a_tile_below_twice_the_overlap_is_refused(tmp_path, capsys, tile):
    img = tmp_path / "a.npy"
    np.save(img, noisy((32, 32)))
    user_error(
        capsys,
        "use 0 (the whole image) or at least 96",
        "restore",
        img,
        "--method",
        "bicubic",
        "--tile",
        tile,
        "--out",
        tmp_path / "o.ome.tif",
    )
    user_error(
        capsys,
        "use 0 (the whole image) or at least 96",
        "batch",
        tmp_path,
        tmp_path / "out",
        "--method",
        "bicubic",
        "--tile",
        tile,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


def card_case(tmp_path, card_and_weights, change):
    """Weights with a card edited by ``change(card dict)`` (the sha256 still matches)."""
    weights, card = card_and_weights
    w = tmp_path / "w.safetensors"
    w.write_bytes(weights)
    c = json.loads(card)
    c = change(c) or c
    w.with_suffix(".json").write_text(json.dumps(c))
    return w


@pytest.mark.parametrize(
    "norm, match",
    [
        ({"kind": "zscore", "mean": 0, "std": 0}, "std must be positive"),
        ({"kind": "zscore", "mean": 0, "std": -3}, "std must be positive"),
        ({"kind": "zscore", "mean": "NaN", "std": 1}, "mean must be a finite number"),
        ({"kind": "zscore", "std": 1}, "mean must be a finite number"),
        ({"kind": "percentile", "low": 50, "high": 5}, "0 <= low < high <= 100"),
        ({"kind": "percentile", "low": 1, "high": 120}, "0 <= low < high <= 100"),
        ({"kind": "percentile", "low": 1}, "high must be a finite number"),
        ({"kind": "minmax"}, "unknown normalisation kind"),
        ("zscore", "normalisation must be a JSON object"),
    ],
)
def test_d3_card_normalisation_is_checked(tmp_path, capsys, card_and_weights, norm, match):
    w = card_case(tmp_path, card_and_weights, lambda c: c.update(normalisation=norm))
    img = tmp_path / "img.npy"
    np.save(img, noisy((32, 32)))
    user_error(
        capsys,
        match,
        "restore",
        img,
        "--method",
        "dncnn",
        "--weights",
        w,
        "--out",
        tmp_path / "o.ome.tif",
    )
    assert not (tmp_path / "o.ome.tif").exists() and nothing_partial(tmp_path) == []


def test_d3_a_percentile_card_works_and_nan_output_is_refused(
    tmp_path, capsys, card_and_weights, monkeypatch
):
    percentile = {"kind": "percentile", "low": 1.0, "high": 99.8}
    w = card_case(tmp_path, card_and_weights, lambda c: c.update(normalisation=percentile))
    img = tmp_path / "img.npy"
    np.save(img, noisy((32, 32)))
    code, _, err = cli(
        capsys, "restore", img, "--method", "dncnn", "--weights", w, "--out", tmp_path / "o.npy"
    )
    assert code == 0 and np.isfinite(np.load(tmp_path / "o.npy")).all(), err
    # whatever slips through (here: weights that compute NaN), NaN is never written
    from napari_w2s.restore.engine import ModelStep

    monkeypatch.setattr(ModelStep, "_infer", lambda self, b: np.full(b.shape, np.nan, np.float32))
    user_error(
        capsys,
        "returned NaN or infinite values",
        "restore",
        img,
        "--method",
        "dncnn",
        "--weights",
        w,
        "--out",
        tmp_path / "p.npy",
    )
    assert not (tmp_path / "p.npy").exists()


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda c: [1, 2, 3], "a card is a JSON object, not list"),
        (lambda c: c.clear() or c.update(x=1), "missing name"),
        (lambda c: c.update(config=[1, 2]), "config must be a JSON object"),
        (lambda c: c.update(scale="x2"), "scale must be 1, 2 or 4"),
        (lambda c: c.update(scale=True), "scale must be 1, 2 or 4"),
        (lambda c: c.update(scale=2), "the card says scale 2, but the network enlarges x1"),
        (lambda c: c["config"].update(num_layers=200, num_feat=20000), "do not fit a DnCNN"),
        (lambda c: c["config"].update(num_feat=16), "do not fit a DnCNN"),
    ],
)
def test_d6_malformed_cards(tmp_path, capsys, card_and_weights, change, match):
    w = card_case(tmp_path, card_and_weights, change)
    (tmp_path / "in").mkdir()
    np.save(tmp_path / "in" / "img.npy", noisy((32, 32)))
    user_error(
        capsys,
        match,
        "restore",
        tmp_path / "in" / "img.npy",
        "--method",
        "dncnn",
        "--weights",
        w,
        "--out",
        tmp_path,
    )
    user_error(
        capsys,
        match,
        "batch",
        tmp_path / "in",
        tmp_path / "out",
        "--method",
        "dncnn",
        "--weights",
        w,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "w.json", "w.safetensors"]


def disk_full_after(monkeypatch, limit):
    """Files written through ``io.atomic.atomic_file`` hit ENOSPC after ``limit`` bytes."""
    import builtins

    real_open = builtins.open

    class Full:
        def __init__(self, path, mode="r", *args, **kwargs):
            self.fh, self.left = real_open(path, mode, *args, **kwargs), limit

        def write(self, data):
            n = memoryview(data).nbytes
            if n > self.left:
                self.fh.write(bytes(memoryview(data).cast("B")[: self.left]))
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.left -= n
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr("napari_w2s.io.atomic.open", Full, raising=False)


def test_d4_d5_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    img = tmp_path / "img.npy"
    np.save(img, noisy((32, 32)))
    np.save(tmp_path / "hr.npy", bicubic_x2(noisy((32, 32))))
    same = unchanged(img, tmp_path / "hr.npy")
    disk_full_after(monkeypatch, 3000)
    user_error(
        capsys,
        "No space left on device",
        "simulate",
        tmp_path / "sim",
        "--fovs",
        "1",
        "--size",
        "32",
        "--frames",
        "4",
        "--channels",
        "1",
    )
    user_error(
        capsys,
        "o.npy: could not write (No space left on device)",
        "restore",
        img,
        "--method",
        "bicubic",
        "--out",
        tmp_path / "o.npy",
    )
    disk_full_after(monkeypatch, 100)
    user_error(
        capsys,
        "k.npy: could not write (No space left on device)",
        "estimate-kernel",
        img,
        tmp_path / "hr.npy",
        "--size",
        "8",
        "--out",
        tmp_path / "k.npy",
    )
    assert same() and nothing_partial(tmp_path) == []
    assert not list(tmp_path.rglob("*.npy.*")) and not (tmp_path / "o.npy").exists()
    assert not list((tmp_path / "sim").rglob("wf_channel*"))  # a rerun is not refused


def test_d5_output_folders_of_demo_train_and_benchmark(tmp_path, capsys, monkeypatch):
    afile = tmp_path / "good.npy"
    np.save(afile, noisy((32, 32)))
    same = unchanged(afile)
    runs = [
        ("demo", "--size", "32", "--frames", "4"),
        ("train", "--model", "dncnn", "--data", "random", "--iterations", "1"),
        ("benchmark", "--data", tmp_path / "nodata"),
    ]
    for run in runs:
        user_error(capsys, "is a file, not a folder", *run, "--out", afile)

    def read_only(folder):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("napari_w2s.io.folders._probe_write", read_only)
    for run in runs:
        user_error(
            capsys,
            "cannot write in the output folder (Read-only file system)",
            *run,
            "--out",
            tmp_path / "ro",
        )
    assert same() and sorted(p.name for p in tmp_path.iterdir()) == ["good.npy", "ro"]


def negative_npy(path):
    """A ``.npy`` header that declares shape (-1, 64)."""
    import struct

    d = "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 64), }"
    h = d + " " * (64 - (11 + len(d)) % 64) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + bytes(64))


def test_d7_d18_broken_npy_headers_and_contents(tmp_path, capsys):
    negative_npy(tmp_path / "neg.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None]), allow_pickle=True)
    (tmp_path / "text.npy").write_text("exposure 100 ms\n" * 10)
    np.save(tmp_path / "good.npy", noisy((32, 32)))
    for name, why in [
        ("neg.npy", " ("),
        ("obj.npy", " (it holds Python objects"),
        ("text.npy", " (no NumPy header"),
    ]:
        match = f"{name}: not a readable .npy array{why}"
        user_error(
            capsys,
            match,
            "restore",
            tmp_path / name,
            "--method",
            "bicubic",
            "--out",
            tmp_path / "o.ome.tif",
        )
        user_error(capsys, match, "metrics", tmp_path / name, tmp_path / "good.npy")
        user_error(capsys, match, "estimate-noise", tmp_path / name)
        user_error(capsys, match, "average", tmp_path / name, "--out", tmp_path / "lv")
    assert not (tmp_path / "o.ome.tif").exists() and not (tmp_path / "lv").exists()


def test_d10_d18_a_bad_npy_in_a_w2s_folder(tmp_path, capsys):
    from napari_w2s._reader import read_layers
    from napari_w2s.errors import W2SInputError
    from napari_w2s.simulate.dataset import write_dataset

    write_dataset(tmp_path / "set", fovs=2, size=16, frames=16, channels=1)
    bad = tmp_path / "set" / "Image001" / "sim_channel0.npy"
    np.save(bad, np.array([None, 1]), allow_pickle=True)
    user_error(
        capsys,
        f"{bad}: not a readable .npy array (it holds Python objects",
        "train",
        "--model",
        "dncnn",
        "--data",
        tmp_path / "set",
        "--out",
        tmp_path / "tr",
        "--iterations",
        "1",
    )
    assert not (tmp_path / "tr").exists() or not any((tmp_path / "tr").iterdir())
    for folder in (tmp_path / "set", tmp_path / "set" / "Image001"):
        with pytest.raises(W2SInputError, match="sim_channel0.npy: not a readable .npy array"):
            read_layers(str(folder))


def test_d8_too_large_for_memory_is_refused_up_front(tmp_path, capsys, monkeypatch):
    img = tmp_path / "img.npy"
    np.save(img, noisy((3, 64, 64)).astype(np.float32))
    monkeypatch.setattr("napari_w2s.restore.memory._available_ram", lambda: 100_000.0)
    user_error(
        capsys,
        "GiB of memory and 9.31e-05 GiB are available",
        "restore",
        img,
        "--method",
        "bicubic",
        "--out",
        tmp_path / "o.ome.tif",
    )
    monkeypatch.undo()

    # and a MemoryError anywhere else is one line too, never "the TIFF is damaged"
    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 2.98 GiB")

    tifffile.imwrite(
        tmp_path / "z.tif",
        noisy((2, 32, 32)).astype(np.uint16),
        photometric="minisblack",
        compression="zlib",
    )
    monkeypatch.setattr("tifffile.TiffFile.asarray", no_memory)
    err = user_error(
        capsys,
        "out of memory (Unable to allocate 2.98 GiB)",
        "restore",
        tmp_path / "z.tif",
        "--method",
        "bicubic",
        "--out",
        tmp_path / "o.ome.tif",
    )
    assert "damaged" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.npy", "z.tif"]


def usage_error(capsys, match, *argv):
    """Refused by the argument parser: exit 2, one line on stderr containing ``match``."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and match in err, err
    return err


@pytest.mark.parametrize(
    "argv, match",
    [
        (("average", "S", "--avg1-frame=-5", "--out", "lv"), "--avg1-frame: -5 is too small"),
        (
            ("average", "S", "--seed=-1", "--mode", "random", "--out", "lv"),
            "--seed: -1 is too small",
        ),
        (("simulate", "sim", "--seed=-1"), "--seed: -1 is too small"),
        (("demo", "--seed=-3"), "--seed: -3 is too small"),
        (
            ("train", "--model", "dncnn", "--data", "random", "--out", "tr", "--batch", "0"),
            "--batch: 0 is too small",
        ),
        (
            ("train", "--model", "dncnn", "--data", "random", "--out", "tr", "--patch", "0"),
            "--patch: 0 is too small; use at least 16",
        ),
        (
            ("train", "--model", "dncnn", "--data", "random", "--out", "tr", "--lr=-1"),
            "--lr: -1 must be a finite number above 0",
        ),
        (
            ("train", "--model", "dncnn", "--data", "random", "--out", "tr", "--lr", "nan"),
            "--lr: nan must be a finite number above 0",
        ),
        (
            ("train", "--model", "dncnn", "--data", "random", "--out", "tr", "--iterations", "0"),
            "--iterations: 0 is too small",
        ),
        (
            ("train", "--model", "dncnn", "--data", "random", "--out", "tr", "--iterations=-5"),
            "--iterations: -5 is too small",
        ),
        (
            ("train", "--model", "jdsr", "--data", "random", "--out", "tr", "--config", "tiny"),
            "--config: unknown configuration 'tiny'",
        ),
        (
            (
                "train",
                "--model",
                "jdsr",
                "--data",
                "random",
                "--out",
                "tr",
                "--config",
                "compact:8",
            ),
            "write changed settings as NAME=VALUE",
        ),
        (("metrics", "a.npy", "b.npy", "--data-range", "0"), "--data-range: 0 must be a finite"),
        (
            ("metrics", "a.npy", "b.npy", "--data-range", "nan"),
            "--data-range: nan must be a finite",
        ),
        (("estimate-kernel", "lr.npy", "hr.npy", "--lam", "0"), "--lam: 0 must be a finite number"),
        (("estimate-kernel", "lr.npy", "hr.npy", "--lam", "inf"), "--lam: inf must be a finite"),
        (("estimate-kernel", "lr.npy", "hr.npy", "--lam", "abc"), "--lam: 'abc' is not a number"),
        (("benchmark", "--data", "d", "--out", "bm", "--views", "0"), "--views: 0 is too small"),
    ],
)
def test_d9_d14_d21_d22_numeric_options_are_checked_by_the_parser(
    tmp_path, capsys, monkeypatch, argv, match
):
    monkeypatch.chdir(tmp_path)
    usage_error(capsys, match, *argv)
    assert list(tmp_path.iterdir()) == []  # refused before anything is read or written


def test_d9_benchmark_levels(tmp_path, capsys):
    for levels in ("17", "abc", "1,3"):
        user_error(
            capsys,
            "use some of 1, 2, 4, 8, 16",
            "benchmark",
            "--data",
            tmp_path / "d",
            "--out",
            tmp_path / "bm",
            "--levels",
            levels,
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("device", ["cuda:abc", "cuda:", "cuda:-1", "cpu:0", "cuda:1:2"])
def test_d11_malformed_device_strings_even_with_cuda(tmp_path, capsys, monkeypatch, device):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as on a GPU machine
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    img = tmp_path / "img.npy"
    np.save(img, noisy((32, 32)))
    user_error(
        capsys,
        f"unknown device {device!r}",
        "restore",
        img,
        "--method",
        "dncnn",
        "--device",
        device,
        "--out",
        tmp_path / "o.ome.tif",
    )
    user_error(
        capsys,
        "this machine has 1 CUDA device(s)",
        "restore",
        img,
        "--method",
        "dncnn",
        "--device",
        "cuda:3",
        "--out",
        tmp_path / "o.ome.tif",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.npy"]


@pytest.mark.parametrize("address", ["notaurl", "tcp://host:abc", "tcp://127.0.0.1"])
def test_d12_a_malformed_scheduler_address_is_refused_at_once(tmp_path, capsys, address):
    import time

    pytest.importorskip("distributed")
    src = tmp_path / "in"
    src.mkdir()
    np.save(src / GOOD, noisy((32, 32)))
    t0 = time.perf_counter()
    user_error(
        capsys,
        f"--scheduler {address!r} is not a scheduler address",
        "batch",
        src,
        tmp_path / "out",
        "--method",
        "bicubic",
        "--scheduler",
        address,
    )
    assert time.perf_counter() - t0 < 2 and not (tmp_path / "out").exists()


class Payload:  # a pickled object of a checkpoint: must never be loaded
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_d17_a_pickle_checkpoint_is_refused_in_one_line(tmp_path, capsys, card_and_weights):
    import torch

    weights, card = card_and_weights
    w = tmp_path / "evil.pt"
    torch.save({"model": Payload()}, w)
    w.with_suffix(".json").write_text(json.dumps({**json.loads(card), "sha256": ""}))
    np.save(tmp_path / "img.npy", noisy((32, 32)))
    err = user_error(
        capsys,
        "evil.pt: not a plain tensor checkpoint (it holds Python objects",
        "restore",
        tmp_path / "img.npy",
        "--method",
        "dncnn",
        "--weights",
        w,
        "--out",
        tmp_path / "o.ome.tif",
    )
    assert "weights_only=False" not in err and "unpickled!" not in capsys.readouterr().out
    assert not (tmp_path / "o.ome.tif").exists()


@pytest.mark.parametrize("name", ["x.png", "x.jpg", "result"])
def test_d23_restore_output_names_say_the_format(tmp_path, capsys, name):
    np.save(tmp_path / "img.npy", noisy((32, 32)))
    user_error(
        capsys,
        "give a name ending .ome.tif, .tif or .npy",
        "restore",
        tmp_path / "img.npy",
        "--method",
        "bicubic",
        "--out",
        tmp_path / name,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.npy"]


def test_d19_simulate_processed_checks_the_frames_before_writing(tmp_path, capsys):
    user_error(
        capsys,
        "--processed needs at least 16 frames",
        "simulate",
        tmp_path / "s",
        "--fovs",
        "1",
        "--size",
        "16",
        "--frames",
        "8",
        "--channels",
        "1",
        "--processed",
    )
    assert not (tmp_path / "s").exists()


def no_runtime_warnings(recwarn):
    return [str(w.message) for w in recwarn if issubclass(w.category, RuntimeWarning)] == []


def test_d15_d27_values_beyond_float32_are_refused_in_one_line(tmp_path, capsys, recwarn):
    big = tmp_path / "big.npy"
    np.save(big, np.full((32, 32), 1e300))
    near = tmp_path / "near.npy"  # float32 itself, close to its limit: overflows inside methods
    np.save(near, (noisy((32, 32)) * 1e36).astype(np.float32))
    np.save(tmp_path / "stack.npy", np.full((4, 16, 16), -1e300))
    np.save(tmp_path / "good.npy", noisy((32, 32)))
    same = unchanged(big, near, tmp_path / "stack.npy", tmp_path / "good.npy")
    for name, method in (
        ("big.npy", "bicubic"),
        ("near.npy", "pure-let"),
        ("stack.npy", "bicubic"),
    ):
        user_error(
            capsys,
            "w2s computes in float32 and takes values up to 1e+30",
            "restore",
            tmp_path / name,
            "--method",
            method,
            "--out",
            tmp_path / "o.npy",
        )
    for name in ("big.npy", "near.npy"):
        user_error(
            capsys,
            "the prediction has values as large as",
            "metrics",
            tmp_path / name,
            tmp_path / "good.npy",
            "--json",
        )
    user_error(
        capsys,
        "the stack has values as large as 1e+300",
        "average",
        tmp_path / "stack.npy",
        "--levels",
        "1,2",
        "--out",
        tmp_path / "lv",
    )
    user_error(capsys, "the image has values as large as", "estimate-noise", near)
    assert no_runtime_warnings(recwarn) and same() and nothing_partial(tmp_path) == []
    assert not (tmp_path / "o.npy").exists() and not list((tmp_path / "lv").iterdir())


def test_d13_a_disk_that_fills_during_a_file_stops_the_batch(tmp_path, capsys, monkeypatch):
    """NumPy reports a short write with no errno: it is a full disk all the same."""
    import tifffile as tf

    calls = []

    def short_write(path, *args, **kwargs):
        calls.append(path)
        with open(path, "wb") as fh:
            fh.write(b"II*\x00partial")
        raise OSError("16384 requested and 11208 written")

    monkeypatch.setattr(tf, "imwrite", short_write)
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(3):
        np.save(src / f"f{i}.npy", noisy((16, 16), seed=i))
    same = unchanged(*src.iterdir())
    code, out, err = cli(capsys, "batch", src, dst, "--method", "bicubic", "--json")
    files = json.loads(out)["files"]
    assert code == 3 and len(calls) == 1 and err.count("\n") == 3, err
    assert (
        "could not write (No space left on device (the write stopped short: 16384 "
        "requested and 11208 written))" in files[0]["message"]
    )
    assert all("not processed: the output disk is full" in f["message"] for f in files[1:])
    assert same() and sorted(p.name for p in dst.iterdir()) == ["batch_report.json"]


@pytest.mark.parametrize("room_for_one_copy", [True, False])
def test_d13_a_report_that_cannot_be_written_at_the_end(
    tmp_path, capsys, monkeypatch, room_for_one_copy
):
    from napari_w2s.batch import BatchReport

    real = BatchReport.write
    calls = []

    def full(report):  # the start-of-run report fits; then the disk is full
        calls.append(1)
        if len(calls) > 1 and (not room_for_one_copy or os.path.exists(report.report)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(report)

    monkeypatch.setattr(BatchReport, "write", full)
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    np.save(src / GOOD, noisy((16, 16)))
    same = unchanged(src / GOOD)
    code, out, err = cli(capsys, "batch", src, dst, "--method", "bicubic")
    assert (dst / "good_bicubic.ome.tif").is_file() and same() and nothing_partial(dst) == []
    if room_for_one_copy:  # the stale report removed, then the final one written
        assert code == 0 and err == "" and "complete" in (dst / "batch_report.json").read_text()
    else:  # no stale "running" report is left, and the exit code says so
        assert code == 3 and err.count("\n") == 1, err
        assert "batch_report.json: cannot write the report (No space left on device)" in err
        assert sorted(p.name for p in dst.iterdir()) == ["good_bicubic.ome.tif"]


def test_d25_the_batch_lock_never_exists_without_its_owner(tmp_path, capsys, monkeypatch):
    from napari_w2s.batch import LOCK_NAME, _Lock

    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    dst.mkdir()
    np.save(src / GOOD, noisy((16, 16)))
    lock = dst / LOCK_NAME
    lock.touch()  # a lock being created by a batch that is starting (not written yet)
    user_error(
        capsys,
        "another w2s batch is starting to write into this folder",
        "batch",
        src,
        dst,
        "--method",
        "bicubic",
    )
    assert sorted(p.name for p in dst.iterdir()) == [LOCK_NAME]
    os.utime(lock, (0, 0))  # an empty lock of long ago: a crash at the wrong time, taken over
    code, _, _ = cli(capsys, "batch", src, dst, "--method", "bicubic")
    assert code == 0 and not lock.exists()
    # the lock appears whole: a live process's lock (here: our parent's) holds it at once
    real_link, seen = os.link, []

    def link(a, b):
        real_link(a, b)
        seen.append(lock.read_text())

    monkeypatch.setattr(os, "getpid", os.getppid)
    monkeypatch.setattr(os, "link", link)
    _Lock(dst).acquire()
    monkeypatch.undo()
    assert seen and seen[0].startswith(f"{os.getppid()} ")
    user_error(
        capsys,
        f"another w2s batch (process {os.getppid()}) is writing",
        "batch",
        src,
        dst,
        "--method",
        "bicubic",
        "--overwrite",
    )
    assert sorted(p.name for p in dst.iterdir()) == [
        LOCK_NAME,
        "batch_report.json",
        "good_bicubic.ome.tif",
    ]


def test_d26_a_folder_at_an_output_name_is_not_done(tmp_path, capsys):
    def make(d):
        np.save(d / "other.npy", noisy((16, 16)))
        (tmp_path / "out" / "other_bicubic.ome.tif").mkdir(parents=True)
        return "other.npy"

    code, entries, dst, name = batch_one(tmp_path, capsys, make)
    entry = entries[name]
    assert code == 3 and entry["status"] == "failed", entry
    assert entry["message"] == (
        "a folder (not a file) stands at its output name other_bicubic.ome.tif; move or rename it"
    )
    assert os.path.isdir(entry["out"]) and not os.listdir(entry["out"])


def test_d24_options_that_would_do_nothing(tmp_path, capsys, card_and_weights):
    img = tmp_path / "img.npy"
    np.save(img, noisy((16, 16)))
    w = card_case(tmp_path, card_and_weights, lambda c: c.update(name="rcan", task="sr"))
    src = tmp_path / "in"
    src.mkdir()
    np.save(src / GOOD, noisy((16, 16)))
    same = unchanged(img, w, src / GOOD)
    out = tmp_path / "o.npy"
    user_error(
        capsys,
        "--weights applies to a network; bicubic is a classical method",
        "restore",
        img,
        "--method",
        "bicubic",
        "--weights",
        w,
        "--out",
        out,
    )
    user_error(
        capsys,
        "--weights applies to a network; pure-let is a classical method",
        "batch",
        src,
        tmp_path / "b",
        "--method",
        "pure-let",
        "--weights",
        w,
    )
    user_error(
        capsys,
        "these weights are 'rcan' (task sr, x1), not a denoise model like 'dncnn'; "
        "use --method rcan",
        "restore",
        img,
        "--method",
        "dncnn",
        "--weights",
        w,
        "--out",
        out,
    )
    user_error(
        capsys,
        "--channel 3 chooses a channel of a W2S ImageNNN folder",
        "restore",
        img,
        "--method",
        "bicubic",
        "--channel",
        "3",
        "--out",
        out,
    )
    user_error(
        capsys,
        "--channel 1 chooses a channel of a W2S ImageNNN folder",
        "average",
        img,
        "--channel",
        "1",
        "--out",
        tmp_path / "lv",
    )
    user_error(
        capsys,
        "--frames corrects the paired estimate for shared frames; it needs --clean",
        "estimate-noise",
        img,
        "--frames",
        "1,400",
    )
    assert same() and sorted(p.name for p in tmp_path.iterdir()) == [
        "img.npy",
        "in",
        "w.json",
        "w.safetensors",
    ]
    # a device for a classical method: it runs, with one line that says the option is unused
    for argv in (("restore", img, "--out", out), ("batch", src, tmp_path / "b")):
        code, _, err = cli(capsys, *argv, "--method", "bicubic", "--device", "cuda")
        assert code == 0 and err == (
            "note: --device cuda is not used: bicubic runs on the CPU (classical methods)\n"
        ), err
    assert out.is_file() and (tmp_path / "b" / "good_bicubic.ome.tif").is_file()


def test_d16_a_blank_frame_passes_through_and_small_planes_are_named(tmp_path, capsys):
    stack = noisy((3, 64, 64))
    stack[1] = 0.0  # a blank frame (shutter closed)
    np.save(tmp_path / "blank.npy", stack)
    np.save(tmp_path / "odd.npy", noisy((2, 20, 24)))
    same = unchanged(tmp_path / "blank.npy", tmp_path / "odd.npy")
    code, _, err = cli(
        capsys,
        "restore",
        tmp_path / "blank.npy",
        "--method",
        "pure-let",
        "--out",
        tmp_path / "o.npy",
    )
    assert code == 0 and err == (
        "note: 1 constant plane(s) (e.g. blank frames) passed through "
        "pure-let unchanged: they hold no noise to remove\n"
    ), err
    out = np.load(tmp_path / "o.npy")
    assert np.all(out[1] == 0) and out[0].std() < stack[0].std()  # the others denoised
    user_error(
        capsys,
        "plane 0 of 2: vst-nlm estimates the noise of each plane and cannot on "
        "this 20 x 24 plane (",
        "restore",
        tmp_path / "odd.npy",
        "--method",
        "vst-nlm",
        "--out",
        tmp_path / "odd_out.npy",
    )
    assert same() and not (tmp_path / "odd_out.npy").exists() and nothing_partial(tmp_path) == []


def test_d20_benchmark_methods_that_cannot_run(tmp_path, capsys, card_and_weights, monkeypatch):
    import torch

    from napari_w2s.simulate.dataset import write_dataset

    evil = tmp_path / "evil.pt"
    torch.save({"model": Payload()}, evil)
    evil.with_suffix(".json").write_text(
        json.dumps({**json.loads(card_and_weights[1]), "sha256": ""})
    )
    run = ("benchmark", "--data", tmp_path / "nodata", "--out", tmp_path / "bm")
    # every deep method has shipped weights: an empty zoo stands for one that has none
    monkeypatch.setattr("napari_w2s.restore.zoo.ZOO", tmp_path / "no-zoo")
    for extra, match in [
        (("--denoisers", "bm4d"), "--denoisers: unknown model 'bm4d'"),
        (("--denoisers", "dncnn,rcan"), "--denoisers rcan: rcan is a sr method, not a denoise one"),
        (("--sr", "pure-let"), "--sr pure-let: pure-let is a denoise method, not a sr one"),
        (("--denoisers", "memnet"), "no trained weights for 'memnet' are shipped"),
        (("--weights", f"dncnn={evil}"), "evil.pt: not a plain tensor checkpoint"),
    ]:
        user_error(capsys, match, *run, *extra)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.json", "evil.pt"]
    # a method named that fails on every image: the tables are written, and exit 3 (the JDSR
    # models of the default list have no weights in this empty zoo: n/a rows, as documented)
    monkeypatch.setattr("napari_w2s.restore.zoo.ZOO", tmp_path / "zoo")
    write_dataset(tmp_path / "ds", fovs=2, size=16, frames=16, channels=1, processed=True)
    code, out, err = cli(
        capsys,
        "benchmark",
        "--data",
        tmp_path / "ds",
        "--out",
        tmp_path / "bm",
        "--denoisers",
        "pure-let",
        "--sr",
        "bicubic",
        "--views",
        "1",
        "--levels",
        "1",
        "--json",
    )
    assert code == 3 and err.count("\n") == 1, err
    assert err.startswith(
        "w2s benchmark: failed: pure-let: no result on any image (pure-let "
        "estimates the noise of each plane and cannot on this 16 x 16 plane"
    )
    assert "pure-let" in json.loads(out)["failed_methods"]
    assert (tmp_path / "bm" / "benchmark.md").is_file()
