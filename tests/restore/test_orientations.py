"""``--orientations N``: a network's result averaged over flips and quarter turns of the image."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_w2s import W2SInputError
from napari_w2s.cli import main
from napari_w2s.restore.orientations import orientations, parse_orientations, turn, turn_back
from napari_w2s.restore.resolver import resolve
from napari_w2s.simulate.randomised import make_view, shifted_settings


def _key(t) -> tuple:
    return tuple(t.shape), tuple(t.flatten().tolist())


def test_the_orientations_are_the_eight_symmetries_and_their_subgroups():
    torch = pytest.importorskip("torch")
    x = torch.arange(12.0).reshape(1, 1, 3, 4)  # not square, not symmetric
    every = orientations(8)
    assert len({_key(turn(x, *o)) for o in every}) == 8
    for mirror, k in every:
        assert torch.equal(turn_back(turn(x, mirror, k), mirror, k), x)
    assert _key(turn(x, *every[2])) == _key(x.transpose(-1, -2))  # the transpose is third
    for n in (1, 2, 4, 8):  # each first n is closed: an average over it commutes with it
        kept = {_key(turn(x, *o)) for o in orientations(n)}
        for a in orientations(n):
            for b in orientations(n):
                assert _key(turn(turn(x, *a), *b)) in kept


def test_counts_other_than_1_2_4_8_are_refused():
    assert [parse_orientations(v) for v in (1, "2", " 4", 8)] == [1, 2, 4, 8]
    for bad in (0, 3, 16, "many"):
        with pytest.raises(W2SInputError, match="use 1, 2, 4 or 8"):
            parse_orientations(bad)
    with pytest.raises(W2SInputError, match="use 1, 2, 4 or 8"):
        resolve("dncnn", device="cpu", orientations=3)
    # nothing to average in a classical method: said, not silently ignored
    assert "not used" in resolve("bicubic", orientations=8).option_notes[0]


@pytest.fixture(scope="module")
def view():
    return make_view(shifted_settings("camera", np.random.default_rng(11)), 64, 5)


def _transforms(n: int):
    """Image-side versions of the orientations an average over ``n`` commutes with."""
    t = [lambda a: a[::-1, ::-1]]  # the half turn
    if n >= 4:
        t.append(lambda a: a.T)
    if n == 8:
        t += [lambda a: a[:, ::-1], lambda a: np.rot90(a)]
    return t


@pytest.mark.parametrize("n", [2, 4, 8])
def test_the_average_commutes_with_its_orientations_and_one_orientation_does_not(view, n):
    # not square, and not a multiple of 8: each orientation is padded to 64 x 56 on its own
    image = np.ascontiguousarray(view.levels["avg1"][:, :54])
    single = resolve("jdsr", device="cpu", tile=0, threads=1)
    pipe = resolve("jdsr", device="cpu", tile=0, threads=1, orientations=n)
    base, one = pipe.run(image), single.run(image)
    assert base.shape == (128, 108) and pipe.steps[0].describe()["orientations"] == n
    for t in _transforms(n):
        turned = np.ascontiguousarray(t(image))
        got = pipe.run(turned)
        assert np.abs(got - t(base)).max() < 1e-3 * base.std()  # measured 3e-5
        # one orientation: the detail it adds depends on the way the image lies
        assert np.abs(single.run(turned) - t(one)).max() > 0.05 * one.std()


def test_an_image_padded_for_the_network_is_turned_back_in_register(view):
    """54 columns are padded to 56 in each orientation and cropped after turning back: the
    average stays in register with one orientation's result (a 2-pixel slip would differ by
    about 0.5 std)."""
    image = np.ascontiguousarray(view.levels["avg1"][:, :54])
    one = resolve("jdsr", device="cpu", tile=0, threads=1).run(image)
    eight = resolve("jdsr", device="cpu", tile=0, threads=1, orientations=8).run(image)
    assert eight.shape == one.shape == (128, 108)
    assert 0.02 * one.std() < np.sqrt(np.mean((eight - one) ** 2)) < 0.15 * one.std()


def test_eight_orientations_lower_the_error_on_held_out_views():
    """Against SIM, in the input's units, on views from a camera the training never saw."""
    rng = np.random.default_rng(12)
    views = [make_view(shifted_settings("camera", rng), 64, 20 + i) for i in range(3)]
    err = {}
    for n in (1, 8):
        pipe = resolve("jdsr", device="cpu", tile=0, threads=1, orientations=n)
        err[n] = [float(np.sqrt(np.mean((pipe.run(v.levels["avg1"]) - v.sim) ** 2))) for v in views]
    ratio = np.array(err[8]) / np.array(err[1])  # measured 0.980, 0.999, 0.990
    assert ratio.mean() < 0.995 and (ratio < 1).sum() >= 2


def test_still_equivariant_to_the_cameras_gain_and_offset(view):
    image = view.levels["avg2"]
    pipe = resolve("jdsr", device="cpu", tile=0, threads=1, orientations=2)
    base = pipe.run(image)
    scaled = pipe.run(4 * image + 1000)
    assert np.abs(scaled - (4 * base + 1000)).max() < 0.01 * (4 * base).std()


def test_tiles_and_a_denoiser(view):
    """Each tile is averaged on its own, then blended: the result differs from the whole image
    no more than tiling alone does, and from one orientation's."""
    image = np.ascontiguousarray(view.levels["avg1"][:, :60])
    tiled = {}

    def rms_tiled_vs_whole(n: int) -> float:
        whole = resolve("dncnn", device="cpu", tile=0, threads=1, orientations=n).run(image)
        pipe = resolve("dncnn", device="cpu", tile=44, overlap=16, threads=1, orientations=n)
        tiled[n] = pipe.run(image)
        assert tiled[n].shape == image.shape
        return float(np.sqrt(np.mean((tiled[n] - whole) ** 2)) / whole.std())

    # measured 0.025 (4 orientations) and 0.032 (one): the short overlap, not the turns
    assert rms_tiled_vs_whole(4) < 1.2 * rms_tiled_vs_whole(1) < 0.05
    assert np.sqrt(np.mean((tiled[4] - tiled[1]) ** 2)) > 0.01 * tiled[1].std()


def test_cli_restore_and_batch_record_the_orientations(tmp_path, capsys):
    from napari_w2s.batch import iter_batch
    from napari_w2s.io import read_provenance
    from napari_w2s.progress import drain

    rng = np.random.default_rng(3)
    np.save(tmp_path / "x.npy", rng.normal(300, 20, (40, 48)).astype(np.float32))
    args = ["restore", str(tmp_path / "x.npy"), "--method", "dncnn", "--device", "cpu"]
    assert main([*args, "--orientations", "4", "--out", str(tmp_path / "y.npy"), "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["pipeline"]["steps"][0]["orientations"] == 4
    with pytest.raises(SystemExit) as exc:
        main([*args, "--orientations", "3", "--out", str(tmp_path / "z.npy")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "invalid choice" in err and err.count("\n") == 1
    assert not (tmp_path / "z.npy").exists()
    src = tmp_path / "in"
    src.mkdir()
    np.save(src / "cell.npy", rng.normal(300, 20, (40, 48)).astype(np.float32))
    report = drain(
        iter_batch(src, "*.npy", tmp_path / "out", "dncnn", device="cpu", orientations=2)
    )
    assert report.counts()["done"] == 1
    steps = read_provenance(next((tmp_path / "out").glob("cell*")))["pipeline"]["steps"]
    assert steps[0]["orientations"] == 2


def test_onnx_runtime_averages_the_same_orientations(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from napari_w2s.restore import onnx_backend

    monkeypatch.setenv(onnx_backend.CACHE_ENV, str(tmp_path / "onnx-cache"))
    image = np.random.default_rng(0).normal(300, 20, (40, 56)).astype(np.float32)
    torch_run = resolve("dncnn", device="cpu", tile=0, threads=1, orientations=2)
    onnx_run = resolve("dncnn", device="cpu", tile=0, threads=1, orientations=2, backend="onnx")
    a, b = torch_run.run(image), onnx_run.run(image)
    assert onnx_run.steps[0].describe()["backend"] == "onnx"
    assert np.abs(a - b).max() < 1e-3 * a.std()  # measured 1e-5
