"""The shipped weights: checked against their cards, and better than their baselines on the
simulated sample (a view none of them was trained on: another seed)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_w2s.analysis.metrics import w2s_metrics
from napari_w2s.averaging import noise_levels
from napari_w2s.models.weights import load_model, sha256_file
from napari_w2s.restore.engine import resolve
from napari_w2s.restore.zoo import shipped

CARDS = shipped()


@pytest.fixture(scope="module")
def views():
    from napari_w2s.simulate.sample import sample

    s = sample(size=128, frames=400)
    return s, noise_levels(s.stack)


def test_at_least_the_default_denoiser_is_shipped():
    names = {c["name"] for c in CARDS}
    assert "dncnn" in names
    total = sum(np.float64(c["params"]) * 4 for c in CARDS)
    assert total < 25e6  # the budget for all shipped weights


@pytest.mark.parametrize("card", CARDS, ids=[c["file"].rsplit("/", 1)[-1] for c in CARDS])
def test_shipped_model_beats_its_baseline(card, views):
    s, lv = views
    assert sha256_file(card["file"]) == card["sha256"]
    model, _ = load_model(card["file"])
    assert sum(p.numel() for p in model.parameters()) == card["params"]
    clean, sim = lv[lv.clean], s.sim
    pipe = resolve(card["name"], weights=card["file"], device="cpu")
    level = card["noise_level"] if card["noise_level"] != "blind" else "avg1"
    if card["task"] == "denoise":
        out = pipe.run(lv[level])
        ours = w2s_metrics(out, clean, clean)["rmse"]
        base = w2s_metrics(lv[level], clean, clean)["rmse"]
        # MemNet had 17 CPU minutes from scratch (docs/models.md): 0.53 x its input measured
        assert ours < (0.6 if card["name"] == "memnet" else 0.5) * base, (ours, base)
    else:
        source = lv[lv.clean] if card["task"] == "sr" else lv[level]
        out = pipe.run(source)
        ours = w2s_metrics(out, sim, clean)
        base = w2s_metrics(resolve("bicubic").run(source), sim, clean)
        assert ours["rmse"] < base["rmse"] and ours["ssim"] > base["ssim"], (ours, base)


@pytest.mark.skipif(
    not {"jdsr", "dncnn", "rcan"} <= {c["name"] for c in CARDS},
    reason="needs the shipped JDSR, DnCNN and RCAN weights",
)
@pytest.mark.parametrize("level", ["avg4", "avg16"])
def test_shipped_jdsr_beats_the_sequential_pipeline_in_rmse(views, level):
    """The paper's main claim on the sample (a view none of the models was trained on): the
    joint model's error against SIM is at least 0.02 below DnCNN followed by RCAN. Measured
    with the 0.2 models: 0.312 against 0.353 at avg4, 0.275 against 0.318 at avg16; at avg1
    the claim does not hold on this view (0.414 against 0.412; RIDNet + RCAN 0.391), see the
    generalisation benchmark (docs/benchmark/generalisation)."""
    s, lv = views
    clean = lv[lv.clean]
    joint = w2s_metrics(resolve("jdsr", device="cpu").run(lv[level]), s.sim, clean)["rmse"]
    seq = w2s_metrics(resolve("dncnn+rcan", device="cpu").run(lv[level]), s.sim, clean)["rmse"]
    assert joint < seq - 0.02, (joint, seq)


def test_every_deep_method_of_the_paper_has_shipped_weights():
    """The paper's 6 denoisers' and 6 SR networks' deep ones and its 3 JDSR networks, plus CARE:
    all 13 deep methods run with `w2s restore --method NAME` out of the box."""
    from napari_w2s.models import list_models

    names = {c["name"] for c in CARDS}
    assert set(list_models()) <= names, set(list_models()) - names
    assert len(list_models()) == 13
