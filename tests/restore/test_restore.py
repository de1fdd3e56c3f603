"""The inference engine: tiling without seams, pipelines, devices, cancel, CLI restore/models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import torch

from napari_w2s import W2SInputError
from napari_w2s.cli import main
from napari_w2s.models import build_model
from napari_w2s.models.weights import ModelCard, save_model
from napari_w2s.progress import drain
from napari_w2s.restore.device import available_devices, choose_device
from napari_w2s.restore.engine import iter_restore, resolve
from napari_w2s.restore.tiling import TileGrid, iter_tiled


def _save(tmp_path, name, task, scale):
    torch.manual_seed(0)
    model = build_model(name, "compact").eval()
    from napari_w2s.models import get_spec

    spec = get_spec(name)
    card = ModelCard(
        name=name,
        architecture=spec.architecture,
        config=spec.config("compact"),
        task=task,
        scale=scale,
        noise_level="blind",
        normalisation={"kind": "zscore", "mean": 150.0, "std": 40.0},
    )
    return save_model(model, tmp_path / f"{name}-blind-compact.safetensors", card)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    d = tmp_path_factory.mktemp("w")
    return {"dncnn": _save(d, "dncnn", "denoise", 1), "jdsr": _save(d, "jdsr", "jdsr", 2)}


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:100, 0:90]
    return (150 + 40 * np.sin(yy / 6) * np.cos(xx / 9) + rng.normal(0, 5, (100, 90))).astype(
        np.float32
    )


def test_tile_grid_covers_everything():
    starts = TileGrid(100, 32, 8).starts()
    assert starts[0] == 0 and starts[-1] == 68
    covered = np.zeros(100, bool)
    for s in starts:
        covered[s : s + 32] = True
    assert covered.all()
    assert TileGrid(20, 32, 8).starts() == [0]


def test_balanced_tiles():
    from napari_w2s.restore.tiling import balanced_tile

    assert balanced_tile(512, 496, 48) == 280  # two tiles, not two nearly whole images
    assert balanced_tile(512, 1024, 48) == 512
    assert balanced_tile(1000, 256, 32) <= 256
    grid = TileGrid(1000, balanced_tile(1000, 256, 32), 32).starts()
    assert len(grid) == len(TileGrid(1000, 256, 32).starts())


def test_blending_is_exact_for_a_pointwise_map(image):
    """A per-pixel function must come out identical whatever the tiling: no seams at all."""
    gen = iter_tiled(
        image,
        lambda b: np.repeat(np.repeat(b * 2.0, 2, axis=1), 2, axis=2),
        scale=2,
        tile=32,
        overlap=8,
        batch=3,
    )
    progress = []
    out = drain(gen, progress.append)
    np.testing.assert_allclose(out, np.kron(image * 2.0, np.ones((2, 2))), rtol=1e-6)
    assert progress[-1][0] == progress[-1][1] > 1


def _blur_net(batch):
    """A stand-in network with zero padding and a receptive-field radius of exactly 9."""
    from scipy import ndimage

    out = batch.astype(np.float64)
    for _ in range(9):
        out = np.stack([ndimage.uniform_filter(b, 3, mode="constant") for b in out])
    return out


def test_tiles_equal_the_whole_image_when_the_margin_covers_the_receptive_field(image):
    image = np.tile(image, (2, 2))[:170, :150].astype(np.float64)
    whole = _blur_net(image[None])[0]

    def run(tile, overlap):
        return drain(iter_tiled(image, _blur_net, 1, tile, overlap, batch=2))

    inside = (slice(10, -10), slice(10, -10))  # the image border sees padding either way
    exact = np.abs(run(96, 48) - whole)[inside].max()  # margin 48 / 4 = 12 >= 9
    seams = np.abs(run(40, 8) - whole)[inside].max()  # margin 2 < 9
    assert exact < 1e-3 < seams, (exact, seams)  # float32 output vs values near 150


def test_model_tiles_agree_with_the_whole_image(weights, image):
    whole = resolve("jdsr", weights=str(weights["jdsr"]), tile=0).run(image)
    tiled = resolve("jdsr", weights=str(weights["jdsr"]), tile=96, overlap=48).run(image)
    assert whole.shape == tiled.shape == (200, 180)
    assert np.abs(whole - tiled).mean() < 0.05 * np.abs(whole - whole.mean()).mean()


def test_output_in_input_units_and_sizes(weights, image):
    pipe = resolve("dncnn", weights=str(weights["dncnn"]), tile=0)
    pipe.steps[0].preserve_mean = False  # the network's own mean: no shift hides a lost inverse
    out = pipe.run(image)
    assert out.shape == image.shape and out.dtype == np.float32
    # normalised in (z-score 150 / 40), mapped back out: the input's level and spread, not the
    # network's units (mean 0, std 1) nor the raw ADU fed through unnormalised
    assert abs(float(out.mean()) - float(image.mean())) < 0.1 * float(image.std())
    assert 0.7 < float(out.std()) / float(image.std()) < 1.4
    odd = image[:37, :41]
    assert resolve("jdsr", weights=str(weights["jdsr"]), tile=0).run(odd).shape == (74, 82)


def test_pipeline_and_stack(weights, image):
    from napari_w2s.restore import zoo

    pipe = resolve("bicubic")
    assert pipe.scale == 2 and pipe.run(image).shape == (200, 180)
    stack = np.stack([image, image + 10])
    gen = iter_restore(pipe, stack)
    records = []
    out = drain(gen, records.append)
    assert out.shape == (2, 200, 180) and {r["plane"] for r in records} == {0, 1}
    np.testing.assert_allclose(out[1] - out[0], 10, atol=1e-3)
    assert {"jdsr", "dncnn"} <= {c["name"] for c in zoo.shipped()}


def test_cancel_between_tiles_stops_the_work(weights, image):
    pipe = resolve("jdsr", weights=str(weights["jdsr"]), tile=32, overlap=8)
    calls = []
    step = pipe.steps[0]
    original = step._infer
    step._infer = lambda b: calls.append(1) or original(b)
    gen = pipe.iter_run(image)
    next(gen)
    gen.close()  # what a cancelled napari worker does
    assert len(calls) == 1


def test_bad_requests(monkeypatch, tmp_path):
    with pytest.raises(W2SInputError, match="unknown model 'nope'"):
        resolve("nope")
    with monkeypatch.context() as m:  # every method has shipped weights: an empty zoo has none
        m.setattr("napari_w2s.restore.zoo.ZOO", tmp_path / "no-zoo")
        with pytest.raises(W2SInputError, match="no trained weights"):
            resolve("rdn")
    with pytest.raises(W2SInputError, match="x4"):
        resolve("bicubic+bicubic")
    with pytest.raises(W2SInputError, match="unknown device"):
        choose_device("tpu")
    if "cuda" not in available_devices():
        with pytest.raises(W2SInputError, match="not available"):
            choose_device("cuda")
    assert choose_device("auto").type == available_devices()[0]
    with pytest.raises(W2SInputError, match="2-D"):
        resolve("bicubic").run(np.zeros((2, 8, 8)))


def test_cli_restore_and_models(weights, image, tmp_path, capsys):
    src = tmp_path / "in.ome.tif"
    tifffile.imwrite(
        src,
        image,
        ome=True,
        metadata={"axes": "YX", "PhysicalSizeX": 0.064, "PhysicalSizeY": 0.064},
    )
    code = main(
        [
            "restore",
            str(src),
            "--method",
            "jdsr",
            "--weights",
            str(weights["jdsr"]),
            "--out",
            str(tmp_path),
            "--tile",
            "96",
            "--json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["shape"] == [200, 180] and report["scale"] == 2
    from napari_w2s.io import read_provenance, read_stack

    out = read_stack(report["out"])
    assert out.pixel_size == pytest.approx((0.032, 0.032))
    assert read_provenance(report["out"])["method"] == "jdsr"
    code = main(["models", "--json"])
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rows}
    assert {"dncnn", "jdsr", "rcan", "esrgan", "jdsr-rcan", "bicubic"} <= names
    assert all({"name", "task", "params_full", "params_shipped", "weights"} <= set(r) for r in rows)
    jdsr = next(r for r in rows if r["name"] == "jdsr")
    assert jdsr["params_full"] == pytest.approx(11.7e6, rel=0.03)
    code = main(["restore", str(src), "--method", "nope", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "unknown model" in err and err.count("\n") == 1


def test_cli_restore_npy_output_and_bad_level(image, tmp_path, capsys):
    np.save(tmp_path / "in.npy", image)
    code = main(
        [
            "restore",
            str(tmp_path / "in.npy"),
            "--method",
            "bicubic",
            "--out",
            str(tmp_path / "out.npy"),
        ]
    )
    assert code == 0 and np.load(tmp_path / "out.npy").shape == (200, 180)
    capsys.readouterr()
    code = main(
        [
            "restore",
            str(tmp_path / "in.npy"),
            "--method",
            "bicubic",
            "--noise-level",
            "3",
            "--out",
            str(tmp_path / "o.npy"),
        ]
    )
    assert code == 2 and "use auto, blind or one of 1, 2, 4, 8, 16" in capsys.readouterr().err


def test_tiles_accumulate_into_the_output_with_1d_weight_sums(image):
    """``out=`` receives the blend (no second full-size buffer), equal to the blend with a
    full 2-D weight sum, for x1 and x2 and for a batch of tiles."""
    from napari_w2s.restore.tiling import TileGrid, _ramp, balanced_tile

    def net(batch):  # a non-linear, position-dependent map: tiles differ in their overlaps
        up = np.repeat(np.repeat(batch, 2, axis=1), 2, axis=2)
        return np.sin(up / 7.0) * up.mean(axis=(1, 2), keepdims=True)

    h, w = image.shape
    tile, overlap = 48, 16
    th, tw = balanced_tile(h, tile, overlap), balanced_tile(w, tile, overlap)
    acc, wsum = np.zeros((2 * h, 2 * w)), np.zeros((2 * h, 2 * w))
    for y in TileGrid(h, th, overlap).starts():
        for x in TileGrid(w, tw, overlap).starts():
            out = net(image[None, y : y + th, x : x + tw].astype(np.float64))[0]
            wgt = np.outer(
                _ramp(2 * th, 2 * overlap, y > 0, y + th < h),
                _ramp(2 * tw, 2 * overlap, x > 0, x + tw < w),
            )
            acc[2 * y : 2 * (y + th), 2 * x : 2 * (x + tw)] += out * wgt
            wsum[2 * y : 2 * (y + th), 2 * x : 2 * (x + tw)] += wgt
    expected = acc / wsum
    target = np.full((2 * h, 2 * w), np.nan, np.float32)  # stale content is overwritten
    result = drain(iter_tiled(image, net, 2, tile, overlap, batch=3, out=target))
    assert result is target
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-4 * np.abs(expected).max())
    with pytest.raises(ValueError, match="out must be"):
        drain(iter_tiled(image, net, 2, tile, overlap, out=np.zeros((h, w), np.float32)))


def test_restore_writes_each_plane_in_place(weights, image):
    pipe = resolve("dncnn", weights=str(weights["dncnn"]), tile=96, device="cpu")
    stack = np.stack([image, image[::-1].copy()])
    out = drain(iter_restore(pipe, stack))
    for k in range(2):
        np.testing.assert_allclose(
            out[k],
            pipe.run(stack[k], pipe.fit_normalisation(stack)),
            atol=1e-5 * float(np.ptp(out[k])),
        )


def test_chunked_normalisation_gives_the_same_numbers():
    from napari_w2s import normalisation

    a = normalisation.Affine(offset=101.5, scale=37.25)
    x = np.random.default_rng(3).normal(150, 40, (2, 700, 900)).astype(np.float32)[:, ::-1, :800]
    assert a.forward(x).dtype == np.float32
    x64 = x.astype(np.float64)
    np.testing.assert_array_equal(a.forward(x), ((x64 - 101.5) / 37.25).astype(np.float32))
    np.testing.assert_array_equal(a.inverse(x), (x64 * 37.25 + 101.5).astype(np.float32))
    small = x[0, :3, :4]
    np.testing.assert_array_equal(
        a.inverse(small), (x64[0, :3, :4] * 37.25 + 101.5).astype(np.float32)
    )


def test_a_very_noisy_input_to_the_shipped_jdsr_gets_a_note(tmp_path):
    """Below SNR 10 the shipped JDSR had no measurable edge over RIDNet + RCAN (session 21): the
    run says so; not for a brighter input, another method, or other JDSR weights."""
    import shutil

    from napari_w2s.benchmark.generalisation import views_of
    from napari_w2s.restore.engine import resolve
    from napari_w2s.restore.steps import LOW_SNR_JDSR
    from napari_w2s.restore.zoo import find_weights

    (view,) = views_of("low-light", 1, 64, 778)
    dim, bright = view["inputs"]["avg1"], view["inputs"]["avg16"]
    jdsr = resolve("jdsr", device="cpu", tile=0)
    jdsr.run(dim)
    assert len(jdsr.notes) == 1 and jdsr.notes[0].startswith(f"input SNR below {LOW_SNR_JDSR:g}")
    jdsr.run(bright)
    assert jdsr.notes == []
    care = resolve("care", device="cpu", tile=0)
    care.run(dim)
    assert care.notes == []
    shipped = find_weights("jdsr")
    mine = tmp_path / shipped.name
    shutil.copy(shipped, mine)
    shutil.copy(shipped.with_suffix(".json"), mine.with_suffix(".json"))
    other = resolve("jdsr", device="cpu", tile=0, weights=str(mine))
    other.run(dim)
    assert other.notes == []
