"""BatchNorm folded into convolutions for inference (restore/fold.py)."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from napari_w2s.models import build_model, get_spec
from napari_w2s.models.weights import ModelCard, save_model
from napari_w2s.restore.engine import resolve
from napari_w2s.restore.fold import fold_batchnorm


def _dncnn_with_statistics(seed: int = 0) -> nn.Module:
    """A compact DnCNN whose BatchNorms have non-trivial learned statistics and affine terms."""
    torch.manual_seed(seed)
    model = build_model("dncnn", "compact")
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.2, 3.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    return model.eval()


def test_folded_dncnn_gives_the_same_output():
    model = _dncnn_with_statistics()
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert n_bn > 0
    folded = copy.deepcopy(model)
    assert fold_batchnorm(folded) == n_bn
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(2, 1, 64, 72)
    with torch.inference_mode():
        a, b = model(x), folded(x)
    assert torch.max(torch.abs(a - b)).item() < 1e-5
    assert torch.max(torch.abs(a - x)).item() > 1e-2  # the network does something


def test_training_mode_is_left_alone():
    model = _dncnn_with_statistics().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert fold_batchnorm(model) == 0
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_only_conv_then_bn_is_folded():
    pre = nn.Sequential(nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1)).eval()
    assert fold_batchnorm(pre) == 0  # pre-activation (MemNet): nothing to fold into


def test_engine_runs_the_folded_dncnn(tmp_path):
    model = _dncnn_with_statistics(1)
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
    path = save_model(model, tmp_path / "dncnn-blind-compact.safetensors", card)
    pipe = resolve("dncnn", weights=str(path), device="cpu", tile=0)
    step = pipe.steps[0]
    assert step.model.w2s_folded_bn == sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in step.model.modules())
    image = np.random.default_rng(0).normal(150, 30, (64, 80)).astype(np.float32)
    step.preserve_mean = False  # the bare network here; the mean matching is tested below
    out = pipe.run(image)
    with torch.inference_mode():  # the unfolded network, by hand, in the same units
        ref = model(torch.from_numpy((image - 150.0) / 40.0)[None, None])[0, 0].numpy() * 40 + 150
    assert out.shape == ref.shape
    assert np.max(np.abs(out - ref)) / 40 < 1e-5  # within 1e-5 in the model's units
    step.preserve_mean = True  # the engine's default: the bare output shifted to the input's mean
    matched = pipe.run(image)
    assert abs(float(matched.mean()) - float(image.mean())) < 1e-3
    np.testing.assert_allclose(matched - ref, float(image.mean() - ref.mean()), atol=1e-3)
    assert pipe.describe()["steps"][0]["mean"] == "matched to the input's"
