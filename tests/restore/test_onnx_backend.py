"""The ONNX Runtime backend (restore/onnx_backend.py): every shipped model gives the torch
output, exports are cached by the weights' sha256, ``auto`` picks the faster, fallbacks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_w2s.errors import W2SInputError
from napari_w2s.restore import onnx_backend
from napari_w2s.restore.engine import resolve
from napari_w2s.restore.zoo import shipped

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

SHIPPED = [Path(c["file"]) for c in shipped()]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "onnx-cache"
    monkeypatch.setenv(onnx_backend.CACHE_ENV, str(folder))
    return folder


def _image(shape=(40, 48), seed=0) -> np.ndarray:
    """A small image in camera units with structure (blobs) and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    clean = 120 + 80 * np.sin(yy / 4.0) * np.cos(xx / 5.0) ** 2
    return (clean + rng.normal(0, 8, shape)).astype(np.float32)


@pytest.mark.parametrize("weights", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_model_gives_the_torch_output(weights, cache):
    image = _image()
    opts = {"weights": str(weights), "device": "cpu", "threads": 1, "tile": 0}
    card = json.loads(weights.with_suffix(".json").read_text())
    if card["architecture"] == "SAN":  # size-dependent regions: torch runs it, with a reason
        pipe = resolve(card["name"], backend="auto", **opts)
        assert pipe.steps[0].onnx is None
        assert any("non-local regions" in n for n in pipe.notes)
        with pytest.raises(W2SInputError, match="non-local regions"):
            resolve(card["name"], backend="onnx", **opts)
        return
    torch_pipe = resolve(card["name"], backend="torch", **opts)
    onnx_pipe = resolve(card["name"], backend="onnx", **opts)
    step = onnx_pipe.steps[0].describe()
    assert step["backend"] == "onnx" and torch_pipe.steps[0].describe()["backend"] == "torch"
    expected, got = torch_pipe.run(image), onnx_pipe.run(image)
    assert got.shape == expected.shape == (card["scale"] * 40, card["scale"] * 48)
    span = float(expected.max() - expected.min())
    assert span > 0
    assert float(np.abs(got - expected).max()) <= 1e-4 * span
    # tiled (overlapping tiles): the same tiles through either backend
    for pipe in (torch_pipe, onnx_pipe):
        pipe.steps[0].tile, pipe.steps[0].overlap = 32, 8
    a, b = torch_pipe.run(image), onnx_pipe.run(image)
    assert float(np.abs(a - b).max()) <= 1e-4 * span
    files = sorted(p.name for p in cache.iterdir())
    assert len(files) == 2 and files[0].startswith(weights.stem) and files[0].endswith(".json")


def _jdsr() -> Path:
    return next(p for p in SHIPPED if p.stem.startswith("jdsr-blind"))


def test_the_export_is_cached_and_keyed_by_the_weights(cache, monkeypatch, tmp_path):
    weights = _jdsr()
    resolve("jdsr", weights=str(weights), device="cpu", threads=1, backend="onnx")
    meta_file = next(cache.glob("*.json"))
    meta = json.loads(meta_file.read_text())
    assert meta["weights_sha256"] == json.loads(weights.with_suffix(".json").read_text())["sha256"]
    assert meta["max_diff"] <= 1e-4 and meta["opset"] == onnx_backend.OPSET

    def no_export(model):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_backend, "export", no_export)
    pipe = resolve("jdsr", weights=str(weights), device="cpu", threads=1, backend="onnx")
    assert pipe.steps[0].describe()["onnx"]["file"] == str(meta_file.with_suffix(".onnx"))
    # other weights (one value changed): another key, exported again
    from safetensors.torch import load_file, save_file

    from napari_w2s.models.weights import ModelCard, sha256_file

    state = load_file(str(weights))
    first = min(state)
    state[first] = state[first] + 0.01
    other = tmp_path / "jdsr-other.safetensors"
    save_file(state, str(other))
    card = ModelCard.from_dict(json.loads(weights.with_suffix(".json").read_text()))
    card.sha256 = sha256_file(other)
    other.with_suffix(".json").write_text(card.to_json())
    with pytest.raises(AssertionError, match="exported again"):
        resolve("jdsr", weights=str(other), device="cpu", threads=1, backend="onnx")


@pytest.mark.parametrize("faster", ["onnx", "torch"])
def test_auto_runs_the_faster_backend_and_measures_once(cache, monkeypatch, faster):
    weights = next(p for p in SHIPPED if p.stem.startswith("dncnn"))
    calls = []
    real = onnx_backend.timing

    def timing(model, net, threads, repeats=3):
        calls.append(threads)
        seconds = real(model, net, threads, repeats=1)
        assert set(seconds) == {"torch", "onnx"} and min(seconds.values()) > 0
        slow = 10 * max(seconds.values())
        seconds = {"torch": slow, "onnx": slow}
        seconds["torch" if faster == "onnx" else "onnx"] *= 2
        net.meta["timings"][f"threads={threads}"]["seconds"] = seconds
        onnx_backend._write_meta(net.path.with_suffix(".json"), net.meta)
        return seconds

    monkeypatch.setattr(onnx_backend, "timing", timing)
    pipe = resolve("dncnn", weights=str(weights), device="cpu", threads=1, backend="auto")
    assert pipe.steps[0].describe()["backend"] == faster and pipe.notes == []
    assert calls == [1]
    monkeypatch.setattr(onnx_backend, "timing", real)  # the cached figures, not measured again
    monkeypatch.setattr(onnx_backend, "_torch_forward", None)  # would fail if called
    if faster == "torch":  # no ONNX Runtime session is even opened
        monkeypatch.setattr(onnx_backend, "OnnxNetwork", None)
    again = resolve("dncnn", weights=str(weights), device="cpu", threads=1, backend="auto")
    assert again.steps[0].describe()["backend"] == faster


def test_without_onnxruntime(cache, monkeypatch):
    monkeypatch.setattr(onnx_backend, "missing", lambda: "onnxruntime")
    weights = str(next(p for p in SHIPPED if p.stem.startswith("dncnn")))
    auto = resolve("dncnn", weights=weights, device="cpu", threads=1, backend="auto")
    assert auto.steps[0].onnx is None
    assert len(auto.notes) == 1 and "onnxruntime not installed" in auto.notes[0]
    assert "napari-w2s[onnx]" in auto.notes[0]
    quiet = resolve("dncnn", weights=weights, device="cpu", threads=1, backend=None)
    assert quiet.steps[0].onnx is None and quiet.notes == []
    with pytest.raises(W2SInputError, match="--backend onnx needs onnxruntime"):
        resolve("dncnn", weights=weights, device="cpu", backend="onnx")
    assert not cache.exists()


def test_a_model_that_does_not_export(cache, monkeypatch):
    calls = []

    def failing(model):
        calls.append(1)
        raise onnx_backend.ExportError("Unsupported: an operator")

    monkeypatch.setattr(onnx_backend, "export", failing)
    weights = str(next(p for p in SHIPPED if p.stem.startswith("ridnet")))
    pipe = resolve("ridnet", weights=weights, device="cpu", threads=1, backend="auto")
    assert pipe.steps[0].onnx is None
    assert any("does not export to ONNX" in n and "an operator" in n for n in pipe.notes)
    with pytest.raises(W2SInputError, match="the ONNX backend cannot run it"):
        resolve("ridnet", weights=weights, device="cpu", threads=1, backend="onnx")
    assert calls == [1]  # the failure is cached: not tried on every run


def test_an_unwritable_cache_still_runs(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(onnx_backend.CACHE_ENV, str(blocker / "onnx-cache"))
    weights = str(next(p for p in SHIPPED if p.stem.startswith("dncnn")))
    pipe = resolve("dncnn", weights=weights, device="cpu", threads=1, backend="onnx")
    assert pipe.steps[0].onnx is not None
    assert any("could not be cached" in n for n in pipe.notes)
    assert pipe.run(_image()).shape == (40, 48)


def test_backend_and_device_options():
    assert onnx_backend.parse_backend(None) is None
    assert onnx_backend.parse_backend(" ONNX ") == "onnx"
    with pytest.raises(W2SInputError, match="use auto, torch, onnx"):
        onnx_backend.parse_backend("tensorrt")
    assert onnx_backend.device_for("auto", "onnx") == "cpu"
    assert onnx_backend.device_for("cuda", "auto") == "cuda"
    with pytest.raises(W2SInputError, match="runs on the CPU, not on cuda"):
        onnx_backend.device_for("cuda", "onnx")
    with pytest.raises(W2SInputError, match="backend"):
        resolve("bicubic", backend="gpu")


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.setenv(onnx_backend.CACHE_ENV, str(tmp_path / "c"))
    assert onnx_backend.cache_dir() == tmp_path / "c"
    monkeypatch.delenv(onnx_backend.CACHE_ENV)
    from napari_w2s.restore.zoo import user_data_dir

    assert onnx_backend.cache_dir() == user_data_dir() / "onnx-cache"


def test_cli_backend(cache, tmp_path, capsys):
    from napari_w2s.cli import main
    from napari_w2s.io import read_provenance

    src = tmp_path / "in.npy"
    np.save(src, _image())
    out = tmp_path / "out.ome.tif"
    argv = ["restore", str(src), "--method", "dncnn", "--backend", "onnx", "--threads", "1"]
    code = main([*argv, "--out", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["pipeline"]["steps"][0]["backend"] == "onnx"
    assert read_provenance(out)["pipeline"]["steps"][0]["backend"] == "onnx"
    assert any(cache.glob("dncnn-*.onnx"))


@pytest.mark.slow
def test_the_torch_export_exporter_when_the_torchscript_one_fails(cache, monkeypatch):
    pytest.importorskip("onnxscript")
    real = onnx_backend._export

    def dynamo_only(net, x, dynamo):
        if not dynamo:
            raise RuntimeError("the TorchScript exporter is gone")
        return real(net, x, dynamo)

    monkeypatch.setattr(onnx_backend, "_export", dynamo_only)
    weights = str(next(p for p in SHIPPED if p.stem.startswith("dncnn")))
    opts = {"weights": weights, "device": "cpu", "threads": 1, "tile": 0}
    pipe = resolve("dncnn", backend="onnx", **opts)
    assert pipe.steps[0].describe()["onnx"]["exporter"] == "torch.export"
    image = _image()
    expected = resolve("dncnn", backend="torch", **opts).run(image)
    span = float(expected.max() - expected.min())
    assert float(np.abs(pipe.run(image) - expected).max()) <= 1e-4 * span
