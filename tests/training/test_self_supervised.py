"""Self-supervised fine-tuning of JDSR models from a widefield stack alone (issue 20, part 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_w2s.errors import W2SInputError
from napari_w2s.progress import drain


def simulated_stack(frames: int = 12, size: int = 40, seed: int = 3) -> np.ndarray:
    """A small simulated widefield stack (T, Y, X) in ADU (the W2S-like microscope)."""
    from napari_w2s.simulate.view import ViewParams, simulate_view

    return simulate_view(ViewParams(size=size, frames=frames), seed=seed).frames(0, frames)


@pytest.mark.parametrize("t", [2, 3, 16, 401])
def test_the_frame_split_never_shares_a_frame(t):
    from napari_w2s.training.self_supervised import draw_frames, split_frames

    a, b = split_frames(t)
    assert not set(a) & set(b) and sorted({*a, *b}) == list(range(t))
    assert len(a) - len(b) in (0, 1)
    rng = np.random.default_rng(0)
    for side, half in enumerate((a, b)):
        other = (b, a)[side]
        for n in (1, 2, 4, 8, 16):
            if n > len(b):
                continue
            for _ in range(20):
                frames = draw_frames(half, n, rng)
                assert len(frames) == n and set(frames) <= set(half)
                assert not set(frames) & set(other)  # the input never holds a target's frame
                assert np.all(np.diff(frames) == 2)  # consecutive frames of its half
    with pytest.raises(W2SInputError, match="at least 2 frames"):
        split_frames(1)


def test_the_model_kernel_is_odd_symmetric_and_normalised():
    from napari_w2s.analysis.consistency import _optics_kernel
    from napari_w2s.training.self_supervised import model_kernel

    k = model_kernel(_optics_kernel(0.2))
    assert k.shape[0] % 2 == 1 and k.shape[0] < 36
    assert k.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(k, k[::-1], atol=1e-7)  # commutes with flips and transposes
    np.testing.assert_allclose(k, k.T, atol=1e-7)


def test_the_forward_operator_maps_a_known_image():
    import torch

    from napari_w2s.analysis.consistency import _optics_kernel, forward
    from napari_w2s.training.self_supervised import forward_operator, model_kernel

    k = model_kernel(_optics_kernel(0.25))
    kt = torch.from_numpy(k[None, None])
    # a cosine along x, f cycles per HR pixel: blurred by the kernel's transfer at f, then the
    # 2 x 2 mean samples it at the LR pixel centres (2X + 0.5) with the factor cos(pi f)
    f, n = 0.1, 64
    x = np.arange(n)
    hr = np.broadcast_to(np.cos(2 * np.pi * f * x), (n, n)).astype(np.float32)
    c = k.shape[0] // 2
    transfer = float(np.sum(k.sum(0) * np.cos(2 * np.pi * f * (np.arange(k.shape[0]) - c))))
    lr_x = 2 * np.arange(n // 2) + 0.5
    expected = transfer * np.cos(np.pi * f) * np.cos(2 * np.pi * f * lr_x)
    _, lr = forward_operator(torch.from_numpy(hr.copy())[None, None], kt)
    m = (c + 1) // 2 + 1  # away from the reflected borders
    got = lr[0, 0].numpy()
    assert got.shape == (32, 32)
    np.testing.assert_allclose(
        got[m:-m, m:-m], np.broadcast_to(expected, (32, 32))[m:-m, m:-m], atol=2e-5
    )
    assert 0.3 < transfer < 1.0  # the kernel blurs this frequency, it does not erase it
    # the same numbers as the consistency check's forward model, borders included
    rng = np.random.default_rng(1)
    img = rng.normal(size=(48, 56)).astype(np.float32)
    _, lr = forward_operator(torch.from_numpy(img)[None, None], kt)
    np.testing.assert_allclose(lr[0, 0].numpy(), forward(img, 2, k), atol=1e-5)
    # a constant stays the constant; a delta kernel leaves the 2 x 2 mean
    _, lr = forward_operator(torch.full((1, 1, 32, 32), 7.0), kt)
    np.testing.assert_allclose(lr.numpy(), 7.0, rtol=1e-5)
    _, lr = forward_operator(torch.from_numpy(img)[None, None], torch.ones(1, 1, 1, 1))
    np.testing.assert_allclose(lr[0, 0].numpy(), img.reshape(24, 2, 28, 2).mean((1, 3)), atol=1e-6)


def test_the_loss_vanishes_on_a_consistent_output_and_sees_a_wrong_one():
    import torch

    from napari_w2s.analysis.consistency import _optics_kernel, forward
    from napari_w2s.training.self_supervised import loss_terms, model_kernel

    k = model_kernel(_optics_kernel(0.25))
    rng = np.random.default_rng(2)
    hr = rng.normal(size=(64, 64)).astype(np.float32)
    target = forward(hr, 2, k).astype(np.float32)
    t = [torch.from_numpy(np.ascontiguousarray(a))[None, None] for a in (hr, target)]
    kt = torch.from_numpy(k[None, None])
    terms = loss_terms(t[0], t[1], t[0], kt, margin=6)
    assert float(terms["forward"]) < 1e-10 and float(terms["anchor"]) < 1e-10
    terms = loss_terms(t[0] + 0.5, t[1], t[0], kt, margin=6)  # an offset: both terms see it
    assert float(terms["forward"]) == pytest.approx(0.25, rel=1e-4)
    assert float(terms["anchor"]) == pytest.approx(0.25, rel=1e-4)
    detail = torch.zeros_like(t[0])
    detail[..., 30, 31] = 1.0  # one HR pixel: the kernel spreads it (forward), the anchor not
    terms = loss_terms(t[0] + detail, t[1], t[0], kt, margin=6)
    assert float(terms["anchor"]) == pytest.approx(1 / (40 * 40), rel=1e-4)  # 64 - 2 x 12 HR pixels
    assert 0 < float(terms["forward"]) < float(terms["anchor"]) / 4


def test_self_supervised_finetune_saves_resumes_and_restores(tmp_path, monkeypatch):
    import torch

    from napari_w2s.models.weights import load_model, read_card
    from napari_w2s.restore.engine import resolve
    from napari_w2s.restore.zoo import find_weights
    from napari_w2s.training.finetune import FinetuneConfig, iter_finetune
    from napari_w2s.training.self_supervised import SUPERVISION

    monkeypatch.setenv("NAPARI_W2S_MODELS", str(tmp_path / "models"))
    stack = simulated_stack()
    cfg = FinetuneConfig(
        base="jdsr",
        minutes=1,
        iterations=4,
        name="jdsr-ssl",
        patch=16,
        batch=2,
        log_every=1,
        threads=1,
    )
    seen = []
    assert drain(iter_finetune(cfg, stack=stack, stop=lambda: len(seen) >= 3), seen.append) is None
    meta = json.loads((tmp_path / "models" / "runs" / "jdsr-ssl" / "checkpoint.json").read_text())
    assert meta["iteration"] == 2 and meta["config"]["supervision"] == SUPERVISION
    assert meta["config"]["model"] == "jdsr" and meta["config"]["name"] == "jdsr-ssl"
    sim = np.kron(stack.mean(0), np.ones((2, 2)))  # a SIM: a supervised run, another kind
    with pytest.raises(W2SInputError, match="another kind of run"):
        drain(iter_finetune(cfg, stack=stack, sim=sim, resume=True))
    recs = []
    path = drain(iter_finetune(cfg, stack=stack, resume=True, data_name="view 1"), recs.append)
    trained = [r for r in recs if "loss" in r]
    assert [r["iteration"] for r in trained] == [3, 4]
    assert all(r["supervision"] == SUPERVISION and np.isfinite(r["val"]) for r in trained)
    assert set(trained[0]["parts"]) == {"forward", "anchor"}
    card = read_card(path)
    assert path == tmp_path / "models" / "jdsr-ssl.safetensors"
    assert card.training["supervision"] == SUPERVISION and card.training["iterations"] == 4
    params = card.training["self_supervised"]
    assert params["forward_weight"] > 0 and params["anchor_weight"] > 0
    recipe = card.training["recipe"]
    assert recipe["frames"] == 12 and recipe["levels"] == ["avg1", "avg2", "avg4"]
    assert 0.05 < recipe["kernel"]["cutoff_cycles_per_hr_px"] < 0.6
    assert card.training["initialised_from"]["file"] == "jdsr-blind-compact.safetensors"
    assert card.metrics["split"] == "held-back rows"
    assert all(
        card.metrics[lv]["rmse"] > 0 and card.metrics[lv]["rmse_base"] > 0
        for lv in ("avg1", "avg2", "avg4")
    )
    # the stop and resume changed nothing: the same batches and optimiser state as one run
    cfg.name = "jdsr-ssl-once"
    once = drain(iter_finetune(cfg, stack=stack))
    tuned, _ = load_model(path)
    whole, _ = load_model(once)
    for (name, a), b in zip(tuned.state_dict().items(), whole.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)
    base, _ = load_model(find_weights("jdsr"))
    moved = [
        float((a - b).abs().max())
        for a, b in zip(tuned.state_dict().values(), base.state_dict().values())
    ]
    assert max(moved) > 1e-5  # and it trained: the weights moved from the base model's
    out = resolve("jdsr-ssl", device="cpu").run(stack[5].astype(np.float32))
    assert out.shape == (80, 80) and np.isfinite(out).all()
    # restored in the input's units: about the input's range, not the network's
    assert abs(float(out.mean()) - float(stack[5].mean())) < 0.5 * float(stack[5].std()) + 5


@pytest.mark.parametrize(
    "base, extra, match",
    [
        ("rcan", [], "give the SIM"),
        ("jdsr", ["--scratch"], "cannot train from scratch"),
        ("jdsr", ["--level", "avg16"], "no level avg16"),
    ],
)
def test_cli_without_sim_refuses_what_it_cannot_do(tmp_path, capsys, base, extra, match):
    from napari_w2s.cli import main

    np.save(tmp_path / "stack.npy", simulated_stack())
    code = main(
        [
            "finetune",
            str(tmp_path / "stack.npy"),
            "--base",
            base,
            *extra,
            "--out",
            str(tmp_path / "m"),
            "--patch",
            "16",
            "--threads",
            "1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and match in err and err.count("\n") == 1


def test_cli_finetune_without_sim(tmp_path, capsys):
    from napari_w2s.cli import main
    from napari_w2s.training.self_supervised import SUPERVISION

    np.save(tmp_path / "stack.npy", simulated_stack())
    models = tmp_path / "mine"
    code = main(
        [
            "finetune",
            str(tmp_path / "stack.npy"),
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
            "jdsr-ssl-cli",
            "--out",
            str(models),
            "--threads",
            "1",
        ]
    )
    cap = capsys.readouterr()
    assert code == 0 and "jdsr-ssl-cli" in cap.out
    notes = [line for line in cap.err.splitlines() if "supervision" in line]
    assert notes == [f"w2s finetune: supervision: {SUPERVISION}"]
    card = json.loads((models / "jdsr-ssl-cli.json").read_text())
    assert card["training"]["supervision"] == SUPERVISION
    np.save(tmp_path / "image.npy", simulated_stack()[0])  # one image, not a stack
    code = main(["finetune", str(tmp_path / "image.npy"), "--base", "jdsr", "--out", str(models)])
    err = capsys.readouterr().err
    assert code == 2 and "stack of frames" in err and err.count("\n") == 1
