"""``--precision``: bfloat16 on a CPU with native support, float32 everywhere, clear refusals."""

from __future__ import annotations

import numpy as np
import pytest

from napari_w2s import W2SInputError
from napari_w2s.cli import main
from napari_w2s.restore import device as device_mod
from napari_w2s.restore.device import cpu_has_native_bf16, parse_precision
from napari_w2s.restore.resolver import resolve
from napari_w2s.simulate.randomised import make_view, shifted_settings

native = pytest.mark.skipif(not cpu_has_native_bf16(), reason="no native bfloat16 on this CPU")


@pytest.fixture(scope="module")
def view():
    return make_view(shifted_settings("camera", np.random.default_rng(8)), 96, 3)


@native
@pytest.mark.parametrize("method", ["dncnn", "care"])
def test_bfloat16_restores_within_two_percent_of_float32(method, view):
    image = view.levels["avg1"]
    exact = resolve(method, device="cpu", threads=1, precision="float32")
    fast = resolve(method, device="cpu", threads=1, precision="bfloat16")
    a, b = exact.run(image), fast.run(image)
    assert a.shape == b.shape and b.dtype == np.float32
    rms = float(np.sqrt(np.mean((b - a) ** 2)))
    # measured 0.8-1.1 % of the output's std for these two (benchmarks/bench_precision.py)
    assert 1e-4 * a.std() < rms < 0.02 * a.std()  # it did run in bfloat16, and stays close
    truth = view.clean if method == "dncnn" else view.sim
    err = [float(np.sqrt(np.mean((y - truth) ** 2))) for y in (a, b)]
    assert err[1] == pytest.approx(err[0], rel=0.01)
    step = fast.steps[0].describe()
    assert step["precision"] == "bfloat16" and "bfloat16" in step["device"]
    assert exact.steps[0].describe()["precision"] == "float32"


def test_precision_names_and_refusals(monkeypatch):
    assert parse_precision(None) == "auto" and parse_precision("BF16") == "bfloat16"
    assert parse_precision("fp32") == "float32"
    with pytest.raises(W2SInputError, match="unknown precision 'half'"):
        parse_precision("half")
    with pytest.raises(W2SInputError, match="torch backend"):
        resolve("dncnn", device="cpu", backend="onnx", precision="bfloat16")
    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(W2SInputError, match="no native bfloat16"):
        resolve("dncnn", device="cpu", precision="bfloat16")
    # classical methods have no precision to refuse
    assert resolve("bicubic", precision="bfloat16").steps


def test_cli_refuses_bfloat16_where_it_would_crawl(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: False)
    img = tmp_path / "x.npy"
    np.save(img, np.random.default_rng(0).normal(100, 5, (32, 32)).astype(np.float32))
    code = main(
        [
            "restore",
            str(img),
            "--method",
            "dncnn",
            "--device",
            "cpu",
            "--precision",
            "bfloat16",
            "--out",
            str(tmp_path / "y.npy"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no native bfloat16" in err[0]
    assert not (tmp_path / "y.npy").exists()


@native
def test_batch_restores_in_bfloat16_and_records_it(tmp_path):
    from napari_w2s.batch import iter_batch
    from napari_w2s.io import read_provenance
    from napari_w2s.progress import drain

    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        np.save(src / f"cell{i}.npy", rng.normal(300, 20, (40, 48)).astype(np.float32))
    report = drain(
        iter_batch(src, "*.npy", tmp_path / "out", "dncnn", device="cpu", precision="bfloat16")
    )
    assert report.counts()["done"] == 2
    out = next((tmp_path / "out").glob("cell0*"))
    steps = read_provenance(out)["pipeline"]["steps"]
    assert steps[0]["precision"] == "bfloat16"
