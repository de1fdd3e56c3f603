"""BioImage Model Zoo packages: `w2s export-bmz`, `bioimageio test`, `w2s restore --weights`."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest
import yaml

from napari_w2s import bmz
from napari_w2s.cli import main
from napari_w2s.models.registry import ARCHITECTURES
from napari_w2s.restore.zoo import ZOO

STD = 44.479390497015224  # a unit narrower than the test images' p1-p99.8 range (the network's)
NEEDS_BIOIMAGEIO = "bioimageio.core is not installed (pip install 'napari-w2s[testing]')"
HAS_ONNX = not bmz._onnx_missing()
NEEDS_ONNX = (
    f"{bmz._onnx_missing()} not installed: no ONNX weights are written "
    "(pip install 'napari-w2s[testing]')"
)


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def user_error(capsys, match, *argv):
    code, out, err = cli(capsys, *argv)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], err
    return lines[0]


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """jdsr as a zip, dncnn and care as folders (exported once per module)."""
    root = tmp_path_factory.mktemp("bmz")
    out = {"jdsr": root / "jdsr.zip", "dncnn": root / "dncnn", "care": root / "care.zip"}
    for method, path in out.items():
        assert main(["export-bmz", method, "--out", str(path), "--json"]) == 0
    return out


def image(shape=(120, 136), seed=3) -> np.ndarray:
    """W2S-like values (the shipped cards' fixed map: mean 155, std 44)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    clean = 150 + 60 * np.sin(yy / 6.0) * np.cos(xx / 9.0)
    return (clean + rng.normal(0, 15, shape)).astype(np.float32)


def test_architecture_sources_are_self_contained():
    for arch in ARCHITECTURES:
        namespace: dict = {"__name__": "bmz_arch"}
        exec(compile(bmz.architecture_source(arch), "architecture.py", "exec"), namespace)
        assert isinstance(namespace[arch], type)


def test_export_writes_a_complete_package(packages):
    with zipfile.ZipFile(packages["jdsr"]) as zf:
        names = set(zf.namelist())
        rdf = yaml.safe_load(zf.read("rdf.yaml"))
        readme = zf.read("README.md").decode()
        x = np.load(zf.open("test_input.npy"))
        y = np.load(zf.open("test_output.npy"))
    assert {
        "rdf.yaml",
        "weights.pt",
        "weights_torchscript.pt",
        "architecture.py",
        "cover.png",
        "README.md",
        "test_input.npy",
        "test_output.npy",
    } <= names
    assert rdf["format_version"].startswith("0.5") and rdf["type"] == "model"
    assert set(rdf["weights"]) == {"pytorch_state_dict", "torchscript"} | (
        {"onnx"} if HAS_ONNX else set()
    )
    assert rdf["weights"]["pytorch_state_dict"]["architecture"]["callable"] == "RRDBNet"
    assert x.shape == (1, 1, 64, 64) and y.shape == (1, 1, 128, 128)
    out_y = rdf["outputs"][0]["axes"][2]
    assert out_y["size"] == {"tensor_id": "input", "axis_id": "y"} and out_y["scale"] == 0.5
    pre = [p["id"] for p in rdf["inputs"][0]["preprocessing"]]
    post = [p["id"] for p in rdf["outputs"][0]["postprocessing"]]
    # the shipped cards' per-image map: scale_range in; BMZ cannot map back (normalised out)
    assert "scale_range" in pre and "scale_linear" not in post
    assert "10.1007/978-3-030-66415-2_31" in rdf["cite"][0]["doi"]
    assert (
        "El Helou" in readme
        and "avg16" in readme
        and "| RMSE |" in readme.replace("| input level | RMSE", "| RMSE")
    )
    assert (packages["dncnn"] / "rdf.yaml").is_file()
    dn = yaml.safe_load((packages["dncnn"] / "rdf.yaml").read_text())
    assert dn["outputs"][0]["axes"][2]["scale"] == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("method", ["jdsr", "dncnn", "care"])
def test_bioimageio_test_passes(packages, method):
    core = pytest.importorskip("bioimageio.core", reason=NEEDS_BIOIMAGEIO)
    summary = core.test_model(str(packages[method]))
    failed = [(d.name, [e.msg for e in d.errors]) for d in summary.details if d.status != "passed"]
    assert summary.status == "passed", failed
    tested = {d.name for d in summary.details}
    assert any("torchscript" in n for n in tested) and any(
        "pytorch_state_dict" in n for n in tested
    )
    assert any("onnx" in n for n in tested) == HAS_ONNX


@pytest.mark.parametrize("method", ["jdsr", "dncnn", "care"])
def test_onnx_weights_match_torchscript(packages, method):
    """ONNX Runtime on the package's test input (in the network's units) gives the TorchScript
    output within 1e-4, and takes other sizes and batches (dynamic axes)."""
    if not HAS_ONNX:
        pytest.skip(NEEDS_ONNX)
    import io

    import torch

    pkg = bmz._Package(packages[method])
    rdf = yaml.safe_load(pkg.read("rdf.yaml"))
    entry = rdf["weights"]["onnx"]
    assert entry["parent"] == "pytorch_state_dict" and entry["opset_version"] == bmz.ONNX_OPSET
    blob = pkg.read(entry["source"])
    import hashlib

    assert hashlib.sha256(blob).hexdigest() == entry["sha256"]
    pre = rdf["inputs"][0]["preprocessing"][1]
    assert pre["id"] == "scale_range"
    raw = np.load(io.BytesIO(pkg.read("test_input.npy"))).astype(np.float64)
    lo, hi = np.percentile(raw, [pre["kwargs"]["min_percentile"], pre["kwargs"]["max_percentile"]])
    x = ((raw - lo) / (hi - lo)).astype(np.float32)
    ts = torch.jit.load(io.BytesIO(pkg.read(rdf["weights"]["torchscript"]["source"])))
    import onnxruntime as ort

    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    scale = 2 if method != "dncnn" else 1
    for inp in (x, np.random.default_rng(0).standard_normal((2, 1, 40, 56)).astype(np.float32)):
        got = session.run(None, {"input": inp})[0]
        assert got.shape == (inp.shape[0], 1, inp.shape[2] * scale, inp.shape[3] * scale)
        diff = float(np.abs(got - bmz._run(ts, inp)).max())
        assert diff <= 1e-4, diff


def test_onnx_left_out_when_it_does_not_export(tmp_path, monkeypatch):
    """Operators that do not export: no onnx entry, and the README says why; the new exporter
    failing alone falls back to the TorchScript-based one; missing packages: a reason only."""
    if not HAS_ONNX:
        pytest.skip(NEEDS_ONNX)
    import torch

    real = torch.onnx.export

    def no_dynamo(*args, **kwargs):
        if kwargs.get("dynamo"):
            raise RuntimeError("aten::fancy_op is not supported\nmore")
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", no_dynamo)
    summary = bmz.export_package("dncnn", tmp_path / "legacy", torchscript=False)
    assert "onnx" in summary["weights"] and summary["onnx"]["exporter"].startswith("TorchScript")
    assert summary["onnx"]["max_diff"] <= 1e-4

    def never(*args, **kwargs):
        raise RuntimeError("aten::fancy_op is not supported")

    monkeypatch.setattr(torch.onnx, "export", never)
    summary = bmz.export_package("dncnn", tmp_path / "none", torchscript=False)
    assert summary["weights"] == ["pytorch_state_dict"] and "weights.onnx" not in summary["files"]
    assert summary["onnx"]["reason"].count("fancy_op") == 2
    readme = (tmp_path / "none" / "README.md").read_text()
    assert "operators do not export to ONNX" in readme
    assert not (tmp_path / "none" / "weights.onnx").exists()
    monkeypatch.setattr(bmz.convert, "onnx_missing", lambda: "onnxscript")
    summary = bmz.export_package("dncnn", tmp_path / "missing", torchscript=False)
    assert "not installed" in summary["onnx"]["reason"] and "onnx" not in summary["weights"]
    readme = (tmp_path / "missing" / "README.md").read_text()
    assert "weights.onnx" not in readme and "do not export" not in readme


@pytest.mark.parametrize("method", ["jdsr", "dncnn", "care"])
def test_restore_through_the_package_matches_the_shipped_model(packages, method, tmp_path, capsys):
    src = tmp_path / "in.npy"
    np.save(src, image())
    a, b = tmp_path / "shipped.npy", tmp_path / "package.npy"
    assert cli(capsys, "restore", src, "--method", method, "--out", a, "--tile", 96)[0] == 0
    code, out, err = cli(
        capsys,
        "restore",
        src,
        "--method",
        method,
        "--weights",
        packages[method],
        "--out",
        b,
        "--tile",
        96,
    )
    assert code == 0, err
    # in a unit below the network's (STD < the image's p1-p99.8 range): the same weights, but
    # the CPU memory layout is chosen by timing each run, so float32 rounding may differ
    diff = float(np.abs(np.load(a) - np.load(b)).max()) / STD
    assert diff <= 1e-4, diff


def test_torchscript_only_package_matches(packages, tmp_path, capsys):
    """A package with TorchScript weights alone (as QuPath's) runs through the engine too."""
    pkg = tmp_path / "ts"
    with zipfile.ZipFile(packages["jdsr"]) as zf:
        zf.extractall(pkg)
    rdf = yaml.safe_load((pkg / "rdf.yaml").read_text())
    del rdf["weights"]["pytorch_state_dict"], rdf["config"]
    rdf["weights"]["torchscript"].pop("parent")
    (pkg / "rdf.yaml").write_text(yaml.safe_dump(rdf))
    (pkg / "weights.pt").unlink()
    src = tmp_path / "in.npy"
    np.save(src, image((100, 90)))
    a, b = tmp_path / "shipped.npy", tmp_path / "ts.npy"
    assert cli(capsys, "restore", src, "--out", a, "--tile", 96)[0] == 0
    code, out, err = cli(
        capsys, "restore", src, "--weights", pkg, "--out", b, "--tile", 96, "--json"
    )
    assert code == 0, err
    assert json.loads(out)["pipeline"]["steps"][0]["config"] == {}
    diff = float(np.abs(np.load(a) - np.load(b)).max()) / STD
    assert diff <= 1e-4, diff


def test_per_image_normalisation_package(tmp_path, capsys):
    """A card with the per-image (percentile) map: scale_range in, normalised units out."""
    mine = tmp_path / "mine.safetensors"
    shutil.copy(ZOO / "dncnn-blind-compact.safetensors", mine)
    card = json.loads((ZOO / "dncnn-blind-compact.json").read_text())
    card["normalisation"] = {"kind": "percentile", "low": 1.0, "high": 99.8}
    mine.with_suffix(".json").write_text(json.dumps(card))
    pkg = tmp_path / "mine.zip"
    code, out, err = cli(capsys, "export-bmz", mine, "--out", pkg, "--json")
    assert code == 0, err
    assert json.loads(out)["output_units"] == "normalised"
    with zipfile.ZipFile(pkg) as zf:
        rdf = yaml.safe_load(zf.read("rdf.yaml"))
        assert "normalised units" in zf.read("README.md").decode()
    scale_range = rdf["inputs"][0]["preprocessing"][1]
    assert scale_range["id"] == "scale_range"
    assert (scale_range["kwargs"]["min_percentile"], scale_range["kwargs"]["max_percentile"]) == (
        1.0,
        99.8,
    )
    assert [p["id"] for p in rdf["outputs"][0]["postprocessing"]] == ["ensure_dtype"]
    src = tmp_path / "in.npy"
    np.save(src, image() * 3 + 500)
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    assert cli(capsys, "restore", src, "--method", "dncnn", "--weights", mine, "--out", a)[0] == 0
    code, out, err = cli(capsys, "restore", src, "--method", "dncnn", "--weights", pkg, "--out", b)
    assert code == 0 and "normalised units" in err  # said once, as a note
    assert float(np.abs(np.load(a) - np.load(b)).max()) <= 1e-3  # eps 1e-6 of scale_range aside
    core = pytest.importorskip("bioimageio.core", reason=NEEDS_BIOIMAGEIO)
    assert core.test_model(str(pkg)).status == "passed"


def test_export_bad_inputs(tmp_path, capsys, monkeypatch):
    user_error(capsys, "unknown model", "export-bmz", "nosuch", "--out", tmp_path / "a.zip")
    with monkeypatch.context() as m:  # every method has shipped weights: an empty zoo has none
        m.setattr("napari_w2s.restore.zoo.ZOO", tmp_path / "no-zoo")
        user_error(capsys, "no trained weights", "export-bmz", "rdn", "--out", tmp_path / "a.zip")
    user_error(
        capsys, "not found", "export-bmz", tmp_path / "x.safetensors", "--out", tmp_path / "a.zip"
    )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    user_error(capsys, "not empty", "export-bmz", "dncnn", "--out", tmp_path / "full")
    user_error(capsys, "does not exist", "export-bmz", "dncnn", "--out", tmp_path / "no" / "a.zip")


def _edited(packages, tmp_path, edit):
    pkg = tmp_path / "edited"
    shutil.copytree(packages["dncnn"], pkg)
    rdf = yaml.safe_load((pkg / "rdf.yaml").read_text())
    edit(rdf)
    (pkg / "rdf.yaml").write_text(yaml.safe_dump(rdf))
    return pkg


def test_incompatible_packages_are_refused_in_one_line(packages, tmp_path, capsys):
    src = tmp_path / "in.npy"
    np.save(src, image((64, 64)))
    out = tmp_path / "o.npy"

    def refused(match, pkg):
        user_error(
            capsys, match, "restore", src, "--method", "dncnn", "--weights", pkg, "--out", out
        )
        assert not out.exists()

    not_zip = tmp_path / "bad.zip"
    not_zip.write_text("no")
    refused("not a zip file", not_zip)
    empty_zip = tmp_path / "empty.zip"
    zipfile.ZipFile(empty_zip, "w").close()
    refused("no rdf.yaml", empty_zip)
    (tmp_path / "folder").mkdir()
    refused("a folder without rdf.yaml", tmp_path / "folder")

    def three_channels(rdf):
        rdf["inputs"][0]["axes"][1]["channel_names"] = ["a", "b", "c"]

    refused("3 channels", _edited(packages, tmp_path / "c", three_channels))

    def z_axis(rdf):
        rdf["inputs"][0]["axes"].append({"type": "space", "id": "z", "size": 8})

    refused("only 2-D", _edited(packages, tmp_path / "z", z_axis))

    def sigmoid(rdf):
        rdf["outputs"][0]["postprocessing"].insert(0, {"id": "sigmoid"})

    refused("postprocessing sigmoid", _edited(packages, tmp_path / "s", sigmoid))

    def onnx_only(rdf):
        rdf["weights"] = {"onnx": {"source": "w.onnx", "opset_version": 17}}

    refused("needs torchscript", _edited(packages, tmp_path / "o", onnx_only))

    def old_format(rdf):
        rdf["format_version"] = "0.4.10"

    refused("format 0.5 is needed", _edited(packages, tmp_path / "f", old_format))
    pkg = _edited(packages, tmp_path / "w", lambda rdf: None)
    with open(pkg / "weights.pt", "r+b") as fh:
        fh.seek(-1, 2)
        last = fh.read(1)
        fh.seek(-1, 2)
        fh.write(bytes([last[0] ^ 0xFF]))
    refused("does not match its sha256", pkg)
    # a jdsr package run as a denoiser: the package's card says what it is
    user_error(
        capsys,
        "use --method jdsr",
        "restore",
        src,
        "--method",
        "dncnn",
        "--weights",
        packages["jdsr"],
        "--out",
        out,
    )


def test_batch_runs_a_package(packages, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        np.save(src / f"v{i}.npy", image((64, 72), seed=i))
    code, out, err = cli(
        capsys,
        "batch",
        src,
        tmp_path / "out",
        "--method",
        "dncnn",
        "--weights",
        packages["dncnn"],
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert len(list((tmp_path / "out").glob("*.ome.tif"))) == 2, report
