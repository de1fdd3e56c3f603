"""Fine-tuning on images in memory (a stack and its SIM) and in the user's model folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_w2s.errors import W2SInputError
from napari_w2s.progress import drain


def tiny_view(frames=12, size=40, seed=0):
    """A simulated stack (T, Y, X) and its SIM (2Y, 2X) in other units (gain and offset)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : 2 * size, 0 : 2 * size]
    sim = 50 + 40 * (np.sin(yy / 3.0) * np.cos(xx / 4.0)) ** 2
    clean = sim.reshape(size, 2, size, 2).mean((1, 3))
    stack = rng.poisson(np.broadcast_to(clean, (frames, size, size))).astype(np.uint16)
    return stack, 3.0 * sim + 7.0


def test_layer_data_follows_the_w2s_protocol():
    from napari_w2s.training.layers import from_stack

    stack, sim = tiny_view()
    data = from_stack(stack, sim, seed=1)
    assert list(data.inputs) == ["avg1", "avg2", "avg4", "avg8"]  # avg16 needs more than 12
    assert 0 <= data.avg1_frame < 12 and data.notes  # too few frames: a random one, said
    np.testing.assert_allclose(data.inputs["avg1"], stack[data.avg1_frame])
    np.testing.assert_allclose(data.inputs["avg4"], stack[:4].mean(0), rtol=1e-6)
    np.testing.assert_allclose(data.clean, stack.mean(0), rtol=1e-6)
    a, b = data.sim_affine
    assert a == pytest.approx(1 / 3, rel=0.05)  # the SIM is brought back to the stack's units
    src = data.sampler("jdsr", None, patch=16, seed=0)
    x, y = src.batch(3)
    assert x.shape == (3, 1, 16, 16) and y.shape == (3, 1, 32, 32)
    xv, yv = src.validation_batch()
    assert xv.shape[1:] == (1, 16, 16) and len(xv) >= 2
    assert src.train_rows == 40 - 16  # no training patch touches the held-back rows


@pytest.mark.parametrize(
    "stack, sim, match",
    [
        (np.zeros((16, 16)), None, "stack of frames"),
        (np.ones((4, 16, 16)), np.ones((30, 32)), "exactly 32 x 32"),
    ],
)
def test_layer_data_refuses_bad_input(stack, sim, match):
    from napari_w2s.training.layers import from_stack

    with pytest.raises(W2SInputError, match=match):
        from_stack(stack, sim)


def test_finetune_from_layers_installs_a_user_model(tmp_path, monkeypatch):
    from napari_w2s.models.weights import read_card
    from napari_w2s.restore import zoo
    from napari_w2s.training.finetune import FinetuneConfig, iter_finetune

    monkeypatch.setenv("NAPARI_W2S_MODELS", str(tmp_path / "models"))
    stack, sim = tiny_view()
    cfg = FinetuneConfig(
        base="jdsr",
        minutes=1,
        iterations=3,
        name="jdsr-test",
        patch=16,
        batch=2,
        log_every=1,
        threads=1,
    )
    recs = []
    path = drain(iter_finetune(cfg, stack=stack, sim=sim, data_name="view 1"), recs.append)
    assert path == tmp_path / "models" / "jdsr-test.safetensors"
    trained = [r for r in recs if "loss" in r]
    assert [r["iteration"] for r in trained] == [1, 2, 3]
    assert all(r["val"] > 0 and r["val_start"] > 0 for r in trained)
    card = read_card(path)
    assert card.training["initialised_from"]["file"] == "jdsr-blind-compact.safetensors"
    assert card.training["data"] == "view 1" and card.metrics["split"] == "held-back rows"
    assert card.training["recipe"]["sim"] is True
    assert [c["stem"] for c in zoo.user_models()] == ["jdsr-test"]
    with pytest.raises(W2SInputError, match="exists already"):
        drain(iter_finetune(cfg, stack=stack, sim=sim))


def test_finetune_stop_and_resume(tmp_path, monkeypatch):
    from napari_w2s.training.finetune import FinetuneConfig, iter_finetune

    monkeypatch.setenv("NAPARI_W2S_MODELS", str(tmp_path / "models"))
    stack, _ = tiny_view()
    cfg = FinetuneConfig(
        base="dncnn", minutes=1, iterations=4, name="dn", patch=16, batch=2, log_every=1, threads=1
    )
    seen = []
    out = drain(iter_finetune(cfg, stack=stack, stop=lambda: len(seen) >= 2), seen.append)
    assert out is None  # stopped: nothing installed, the checkpoint kept
    meta = json.loads((tmp_path / "models" / "runs" / "dn" / "checkpoint.json").read_text())
    assert meta["iteration"] == 1
    recs = []
    out = drain(iter_finetune(cfg, stack=stack, resume=True), recs.append)
    assert out.name == "dn.safetensors"
    assert [r["iteration"] for r in recs if "loss" in r] == [2, 3, 4]


def test_finetune_refuses_sr_without_sim(tmp_path, monkeypatch):
    """SR models learn SIM from the clean image: no SIM, nothing to learn (JDSR models learn
    self-supervised instead: tests/test_self_supervised.py)."""
    from napari_w2s.training.finetune import FinetuneConfig, iter_finetune

    monkeypatch.setenv("NAPARI_W2S_MODELS", str(tmp_path / "models"))
    stack, _ = tiny_view()
    with pytest.raises(W2SInputError, match="give the SIM"):
        drain(iter_finetune(FinetuneConfig(base="rcan", patch=16), stack=stack))
    assert not (tmp_path / "models" / "runs").exists()  # refused before any work


def test_cli_finetune_a_denoiser_on_a_stack(tmp_path, capsys):
    from napari_w2s.cli import main

    stack, sim = tiny_view()
    np.save(tmp_path / "stack.npy", stack)
    np.save(tmp_path / "sim.npy", sim)
    models = tmp_path / "mine"
    code = main(
        [
            "finetune",
            str(tmp_path / "stack.npy"),
            "--sim",
            str(tmp_path / "sim.npy"),
            "--base",
            "jdsr",
            "--minutes",
            "1",
            "--iterations",
            "2",
            "--patch",
            "16",
            "--batch",
            "2",
            "--name",
            "jdsr-cli",
            "--out",
            str(models),
            "--threads",
            "1",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["name"] == "jdsr-cli" and out["iterations"] == 2
    assert (models / "jdsr-cli.json").exists()
    code = main(
        ["finetune", str(tmp_path / "stack.npy"), "--base", "nothing", "--out", str(models)]
    )
    err = capsys.readouterr().err
    assert code == 2 and "nothing" in err and err.count("\n") == 1
