"""Training: pairs from both layouts, patches, losses, a short resumable run with a model card."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from napari_w2s import W2SInputError
from napari_w2s.models.weights import load_model, read_card
from napari_w2s.progress import drain
from napari_w2s.simulate import write_dataset
from napari_w2s.training.data import PatchSampler, load_pairs
from napari_w2s.training.losses import LossConfig, RestorationLoss, covariance, gan_losses
from napari_w2s.training.trainer import TrainConfig, iter_train


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("train") / "ds"
    write_dataset(root, fovs=3, size=64, frames=20, channels=1, seed=1, processed=True)
    return root


def tiny_run(dataset, out, **settings) -> TrainConfig:
    """A short DnCNN run on the test data set (avg1 inputs, 32-px patches, one evaluation view,
    a checkpoint every 2 iterations); ``settings`` override any of these."""
    base = dict(model="dncnn", data=str(dataset), out=str(out), levels=["avg1"], batch=2)
    base.update(patch=32, checkpoint_every=2, eval_views=1, command="pytest")
    return TrainConfig(**{**base, **settings})


def test_pairs_for_each_task(dataset):
    d = load_pairs(dataset, "train", "denoise", ["avg1"])
    assert list(d.inputs) == ["avg1"] and d.inputs["avg1"].shape == (2, 64, 64)
    assert d.target.shape == (2, 64, 64) and d.scale == 1
    j = load_pairs(dataset, "train", "jdsr")
    assert list(j.inputs) == ["avg1", "avg2", "avg4", "avg8", "avg16"]
    assert j.target.shape == (2, 128, 128) and j.inputs["avg1"].dtype == np.float32
    s = load_pairs(dataset, "test", "sr")
    assert list(s.inputs) == ["avg20"] and s.views == ["003_0"]
    # the processed data is z-scored: the clean images have mean about 0 and std about 1
    assert abs(float(j.inputs["avg16"].mean())) < 0.5
    with pytest.raises(W2SInputError, match="no level avg64"):
        load_pairs(dataset, "train", "jdsr", ["avg64"])


def test_raw_layout_gives_the_same_pairs(dataset, tmp_path):
    import shutil

    raw = tmp_path / "raw"
    shutil.copytree(dataset, raw, ignore=shutil.ignore_patterns("train", "test"))
    a = load_pairs(raw, "test", "denoise", ["avg2"])
    b = load_pairs(dataset, "test", "denoise", ["avg2"])
    # the raw path z-scores with the split's own clean statistics: same up to an affine map
    x, y = a.inputs["avg2"].ravel(), b.inputs["avg2"].ravel()
    assert np.corrcoef(x, y)[0, 1] > 0.9999


def test_patch_sampler_augments_pairs_identically(dataset):
    pairs = load_pairs(dataset, "train", "jdsr", ["avg16"])
    sampler = PatchSampler(pairs, patch=32, stride=16, seed=3)
    x, y = sampler.batch(8)
    assert x.shape == (8, 1, 32, 32) and y.shape == (8, 1, 64, 64)
    # the SIM target downsampled correlates with its input patch (same place, same flips)
    down = y.reshape(8, 1, 32, 2, 32, 2).mean(axis=(3, 5))
    corr = [np.corrcoef(x[i].ravel(), down[i].ravel())[0, 1] for i in range(8)]
    flipped = [np.corrcoef(x[i].ravel(), down[i, :, ::-1].ravel())[0, 1] for i in range(8)]
    assert np.median(corr) > 0.8 and np.median(flipped) < 0.5, (corr, flipped)


def test_losses():
    torch.manual_seed(0)
    t = torch.rand(2, 1, 64, 64)
    loss = RestorationLoss(LossConfig(pixel="l1", perceptual=0.05, texture=0.05))
    same, parts = loss(t, t)
    assert float(same) == pytest.approx(0.0, abs=1e-7)
    worse, parts = loss(t + 0.1 * torch.randn_like(t), t)
    assert parts["pixel"] > 0.05 and parts["perceptual"] > 0 and parts["texture"] > 0
    f = torch.randn(1, 3, 4, 5)
    cov = covariance(f)[0]
    flat = f[0].reshape(3, -1)
    expected = np.cov(flat.numpy(), bias=True)
    np.testing.assert_allclose(cov.numpy(), expected, rtol=1e-5, atol=1e-6)
    g, d = gan_losses(torch.tensor([5.0, 5.0]), torch.tensor([-5.0, -5.0]))
    assert float(d) < 0.01 < float(g)  # the discriminator wins: the generator loss is high


def test_the_ssim_term_is_the_benchmarks_ssim_and_pulls_towards_structure():
    from napari_w2s.analysis.metrics import ssim
    from napari_w2s.training.losses import ssim_index

    rng = np.random.default_rng(3)
    target = rng.random((3, 1, 40, 48)).astype(np.float32)
    target[:, :, 8:30, 10:40] += 2.0
    pred = target + 0.4 * rng.standard_normal(target.shape).astype(np.float32)
    ours = float(ssim_index(torch.from_numpy(pred), torch.from_numpy(target)))
    scored = np.mean([ssim(pred[i, 0], target[i, 0]) for i in range(3)])
    assert ours == pytest.approx(scored, abs=1e-5)
    # through the loss: 0 for a perfect prediction, 1 - SSIM (the benchmark's) for a noisy one
    loss = RestorationLoss(LossConfig.for_model("jdsr", ssim=0.05, perceptual=False, texture=False))
    t = torch.from_numpy(target)
    zero, parts = loss(t, t)
    assert float(zero) == pytest.approx(0.0, abs=1e-6)
    assert parts["ssim"] == pytest.approx(0, abs=1e-6)
    _, noisy = loss(torch.from_numpy(pred), t)
    assert noisy["ssim"] == pytest.approx(1 - scored, abs=1e-5)
    assert LossConfig.for_model("jdsr").ssim == 0.0  # the paper's loss unless asked
    with pytest.raises(W2SInputError, match="SSIM loss weight"):
        LossConfig.for_model("jdsr", ssim=-1)


def test_pixel_weights_scale_each_samples_pixel_error(dataset, tmp_path):
    rng = np.random.default_rng(4)
    target = torch.from_numpy(rng.random((2, 1, 16, 16)).astype(np.float32))
    pred = target + 0.1
    pred[1] += 0.2  # sample 1's L1 error is 0.3, sample 0's 0.1
    loss = RestorationLoss(LossConfig.for_model("jdsr", perceptual=False, texture=False))
    plain, _ = loss(pred, target)
    assert float(plain) == pytest.approx(0.2, abs=1e-5)
    same, _ = loss(pred, target, torch.ones(2))
    assert float(same) == pytest.approx(float(plain), abs=1e-6)
    leaning, _ = loss(pred, target, torch.tensor([0.5, 1.5]))
    assert float(leaning) == pytest.approx((0.5 * 0.1 + 1.5 * 0.3) / 2, abs=1e-5)
    assert LossConfig.for_model("jdsr").pixel_weights == "equal"  # the paper's, unless asked
    # a squared error is weighed by w ** 2 (mean 1): the same view counts as with L1
    mse = RestorationLoss(
        LossConfig.for_model("jdsr", perceptual=False, texture=False, pixel="mse")
    )
    w2 = np.array([0.25, 2.25]) / np.mean([0.25, 2.25])
    squared, _ = mse(pred, target, torch.tensor([0.5, 1.5]))
    assert float(squared) == pytest.approx((w2[0] * 0.1**2 + w2[1] * 0.3**2) / 2, rel=1e-4)
    assert float(mse(pred, target)[0]) == pytest.approx((0.1**2 + 0.3**2) / 2, rel=1e-4)
    assert (
        LossConfig.for_model("jdsr").pixel == "l1" and LossConfig.for_model("dncnn").pixel == "mse"
    )
    with pytest.raises(W2SInputError, match="pixel loss 'l2'"):
        LossConfig.for_model("jdsr", pixel="l2")
    with pytest.raises(W2SInputError, match="pixel weights 'views'"):
        LossConfig.for_model("jdsr", pixel_weights="views")
    # a data set on disk does not know each view's target range: one clear line, no run
    cfg = tiny_run(dataset, tmp_path / "run", iterations=1, batch=2, pixel_weights="target-range")
    with pytest.raises(W2SInputError, match="needs --data random"):
        drain(iter_train(cfg))


def test_short_run_resumes_and_writes_a_card(dataset, tmp_path):
    def run(iterations, resume):
        cfg = tiny_run(dataset, tmp_path / "run", iterations=iterations, batch=4, log_every=2)
        records = []
        return drain(iter_train(cfg, resume=resume), records.append), records

    path, recs = run(4, resume=False)
    assert [r["iteration"] for r in recs] == [2, 4]
    card = read_card(path)
    assert card.name == "dncnn" and card.noise_level == "avg1" and card.training["iterations"] == 4
    assert card.metrics["avg1"]["rmse"] > 0 and len(card.sha256) == 64
    model, _ = load_model(path)
    assert sum(p.numel() for p in model.parameters()) == card.params
    # resume to 6 iterations: continues from the checkpoint of iteration 4
    path2, recs2 = run(6, resume=True)
    assert [r["iteration"] for r in recs2] == [6]
    meta = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    assert meta["iteration"] == 6


def test_the_weight_average_follows_its_formula():
    from napari_w2s.training.loop import WeightAverage

    net = torch.nn.Linear(3, 2)
    start = net.weight.detach().clone()
    avg = WeightAverage(net, decay=0.5)
    expected = start.clone()
    for n in range(4):
        with torch.no_grad():
            net.weight.add_(1.0)
        d = min(0.5, (1 + n) / (10 + n))  # 0.1, 0.18, 0.25, 0.31
        expected = d * expected + (1 - d) * net.weight.detach()
        avg.update(net)
    assert avg.steps == 4
    assert torch.allclose(avg.state["weight"], expected, atol=1e-6)
    # the average lags the weights: 4 steps of +1 leave it between the start and the last
    lag = float((net.weight.detach() - avg.state["weight"]).mean())
    assert 0.3 < lag < 1.0


def test_ema_saves_the_average_and_resumes_it(dataset, tmp_path):
    from safetensors.torch import load_file

    def run(iterations, resume, ema=0.9):
        cfg = tiny_run(dataset, tmp_path / "run", iterations=iterations, batch=4, ema=ema)
        return drain(iter_train(cfg, resume=resume))

    path = run(4, resume=False)
    card = read_card(path)
    assert card.training["weight_average"] == {"decay": 0.9, "steps": 4}
    saved = load_file(str(path))
    ckpt = load_file(str(tmp_path / "run" / "checkpoint.safetensors"))
    key = next(k for k in saved if k.endswith("weight"))
    # the weights file holds the average (kept in the checkpoint), not the last iterate
    assert torch.equal(saved[key], ckpt[f"ema.{key}"])
    assert not torch.allclose(saved[key], ckpt[f"model.{key}"])
    # resumed, the average goes on counting from the checkpoint's
    path2 = run(6, resume=True)
    assert read_card(path2).training["weight_average"]["steps"] == 6
    with pytest.raises(W2SInputError, match="--ema must be"):
        run(6, resume=True, ema=1.0)


def test_an_interrupted_checkpoint_write_keeps_the_previous_checkpoint(
    dataset, tmp_path, monkeypatch
):
    """A full disk while the checkpoint is written leaves the previous one whole (and no
    temporary file); a stop between the tensors and ``checkpoint.json`` resumes from the record
    inside the tensors; a checkpoint without that record resumes from ``checkpoint.json``."""
    import errno
    from contextlib import contextmanager

    from safetensors.torch import load_file, save_file

    from napari_w2s.training import checkpoint

    out = tmp_path / "run"

    def cfg(iterations):
        return tiny_run(dataset, out, iterations=iterations, batch=4, log_every=2)

    def iterations_logged(iterations):
        records = []
        drain(iter_train(cfg(iterations), resume=True), records.append)
        return [r["iteration"] for r in records]

    def failing(name):
        real = checkpoint.atomic_file

        @contextmanager
        def atomic_file(path):
            with real(path) as fh:
                if path.name != name:
                    yield fh
                    return

                class Full:
                    def write(self, data):
                        fh.write(data[: len(data) // 2])
                        raise OSError(errno.ENOSPC, "No space left on device")

                yield Full()

        return atomic_file

    drain(iter_train(cfg(4)))
    files = ("checkpoint.safetensors", "checkpoint.json")
    before = {n: (out / n).read_bytes() for n in files}
    with monkeypatch.context() as m:
        m.setattr(checkpoint, "atomic_file", failing("checkpoint.safetensors"))
        with pytest.raises(W2SInputError, match="could not write"):
            drain(iter_train(cfg(6), resume=True))
    assert {n: (out / n).read_bytes() for n in files} == before
    assert not [p.name for p in out.iterdir() if "partial" in p.name]
    with monkeypatch.context() as m:  # the tensors of iteration 6 written, the record not
        m.setattr(checkpoint, "atomic_file", failing("checkpoint.json"))
        with pytest.raises(W2SInputError, match="could not write"):
            drain(iter_train(cfg(6), resume=True))
    assert json.loads((out / "checkpoint.json").read_text())["iteration"] == 4
    assert iterations_logged(8) == [8]  # from iteration 6 (the stale record would give 6, 8)
    tensors = load_file(str(out / "checkpoint.safetensors"))
    save_file(tensors, str(out / "checkpoint.safetensors"))  # as written before the record
    assert iterations_logged(10) == [10]
    assert json.loads((out / "checkpoint.json").read_text())["iteration"] == 10


def test_corrupted_weights_are_refused(dataset, tmp_path):
    cfg = tiny_run(dataset, tmp_path / "w", iterations=1, checkpoint_every=500)
    path = drain(iter_train(cfg))
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(W2SInputError, match="do not match their model card"):
        load_model(path)


def test_time_budget_stops_the_run_and_drops_the_learning_rate(dataset, tmp_path):
    cfg = tiny_run(
        dataset,
        tmp_path / "t",
        iterations=10**6,
        log_every=1,
        max_minutes=0.03,
        lr=1e-3,
        checkpoint_every=500,
    )
    records = []
    path = drain(iter_train(cfg), records.append)
    card = read_card(path)
    done = card.training["iterations"]
    assert 2 <= done == records[-1]["iteration"] < 10**6
    assert 1.8 <= card.training["wall_time_s"] < 1.8 + 20
    assert card.training["max_minutes"] == 0.03
    # the drop comes at 60 % of the time budget: full rate first, a tenth at the end
    assert records[0]["lr"] == pytest.approx(1e-3) and records[-1]["lr"] == pytest.approx(1e-4)
    meta = json.loads((tmp_path / "t" / "checkpoint.json").read_text())
    assert meta["iteration"] == done
    with pytest.raises(W2SInputError, match="max-minutes"):
        next(
            iter_train(
                TrainConfig(
                    model="dncnn",
                    data=str(dataset),
                    out=str(tmp_path / "z"),
                    max_minutes=0,
                    command="pytest",
                )
            )
        )


def test_project_trained_feature_network():
    """``features="dncnn"``: the shipped denoiser's hidden layer, sensitive to noise and blur."""
    from napari_w2s.training.losses import DenoiserFeatures

    feats = DenoiserFeatures()
    assert not any(p.requires_grad for p in feats.parameters())
    torch.manual_seed(0)
    t = torch.nn.functional.avg_pool2d(torch.rand(2, 1, 96, 96), 5, 1, 2) * 4
    f = feats(t)["dncnn"]
    assert f.shape[-2:] == (96, 96) and f.shape[1] >= 16
    loss = RestorationLoss(
        LossConfig(pixel="l1", perceptual=0.05, texture=0.05, feature_weights="dncnn")
    )
    same, _ = loss(t, t)
    assert float(same) == pytest.approx(0.0, abs=1e-7)
    _, noisy = loss(t + 0.3 * torch.randn_like(t), t)
    _, blurred = loss(torch.nn.functional.avg_pool2d(t, 3, 1, 1), t)
    assert noisy["perceptual"] > 0 and noisy["texture"] > 0 and blurred["perceptual"] > 0


def test_the_paper_jdsr_configuration_trains_through_the_trainer(dataset, tmp_path):
    """``--config full``: the 11.7M-parameter RRDB-16 with the paper's loss, one iteration."""
    cfg = tiny_run(
        dataset,
        tmp_path / "full",
        model="jdsr",
        config="full",
        iterations=1,
        batch=1,
        patch=16,
        checkpoint_every=500,
    )
    card = read_card(drain(iter_train(cfg)))
    assert card.params == 11_696_641 and card.config["num_blocks"] == 16
    assert "residual" not in card.config  # the paper's network, without the compact shortcut
    assert card.training["loss"]["perceptual"] == card.training["loss"]["texture"] == 0.05
    assert np.isfinite(card.metrics["avg1"]["rmse"])


def test_a_deeper_jdsr_starts_from_the_shipped_one(dataset, tmp_path):
    """``--config compact:num_blocks=5 --init jdsr``: the shipped 4-block JDSR grown by one block
    (recorded in the card), its file named after the changed setting; a setting JDSR does not
    have is refused before anything is written."""

    def grown(name: str, config: str):  # one step from the shipped JDSR
        cfg = tiny_run(
            dataset,
            tmp_path / name,
            model="jdsr",
            config=config,
            init="jdsr",
            iterations=1,
            batch=1,
            patch=16,
            checkpoint_every=500,
        )
        return drain(iter_train(cfg))

    path = grown("deep", "compact:num_blocks=5")
    assert path.name == "jdsr-avg1-compact-num_blocks5.safetensors"
    card = read_card(path)
    assert card.config["num_blocks"] == 5 and card.config["num_feat"] == 32
    assert card.training["initialised_from"]["blocks_added"] == 1
    for config, why in (("compact:blocks=3", "no setting 'blocks'"), ("compact:scale=3", "scales")):
        bad = tiny_run(dataset, tmp_path / "bad", model="jdsr", config=config)
        with pytest.raises(W2SInputError, match=why):
            drain(iter_train(bad))
        assert not (tmp_path / "bad").exists()
    # growing keeps everything but depth: a bicubic shortcut the shipped one has is not dropped
    other = tiny_run(
        dataset, tmp_path / "other", model="jdsr", config="compact:num_blocks=5,residual=false"
    )
    with pytest.raises(W2SInputError, match="more than its size.*residual True -> False"):
        drain(iter_train(TrainConfig(**{**other.__dict__, "init": "jdsr"})))
    # wider: the shipped channels in place, new ones read by zeros (recorded in the card)
    card = read_card(grown("wide", "compact:num_feat=36,growth=18"))
    assert card.config["num_feat"] == 36 and card.config["growth"] == 18
    assert card.training["initialised_from"]["widened_from"] == {"num_feat": 32, "growth": 16}
    assert "blocks_added" not in card.training["initialised_from"]


def test_gan_models_can_drop_their_adversarial_and_perceptual_terms_for_pretraining():
    full = LossConfig.for_model("esrgan")
    assert (full.pixel, full.perceptual, full.gan) == ("mse", 1.0, 0.005)
    pre = LossConfig.for_model("esrgan", perceptual=False, gan=False)
    assert (pre.pixel, pre.perceptual, pre.gan) == ("mse", 0.0, 0.0)
    assert LossConfig.for_model("epsr", gan=False).gan == 0.0
    assert LossConfig.for_model("epsr").gan == 0.04
