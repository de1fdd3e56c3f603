"""What the Restore widget adds, without Qt or napari: the job, names, geometry, metadata, texts.

``napari_w2s.restore.layers`` (the run, the job, the layer-data tuples), ``restore.method_cards``
(the method pickers' data and cards) and ``layer_names`` (the input a user most likely wants):
stand-ins with ``name``, ``scale``, ``translate``, ``metadata`` and ``data`` replace layers.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from napari_w2s.layer_names import noise_level_of, preferred_layer
from napari_w2s.progress import drain
from napari_w2s.restore.engine import Estimate
from napari_w2s.restore.layers import (
    LayerRun,
    Restored,
    Speeds,
    device_note,
    restore_job,
    result_layer,
    summary,
    trust_layer,
)
from napari_w2s.restore.method_cards import (
    card_for,
    card_html,
    metrics_table,
    weights_label,
    weights_refusal,
)
from napari_w2s.restore.methods import (
    CLASSICAL,
    is_classical,
    method_groups,
    missing_weights,
    split_method,
)

PX = 0.064


def layer(name, data, scale=None, translate=None, metadata=None):
    """A stand-in for a napari image layer."""
    data = np.asarray(data)
    return SimpleNamespace(
        name=name,
        data=data,
        scale=scale or (1.0,) * (data.ndim - 2) + (PX, PX),
        translate=translate or (0.0,) * data.ndim,
        metadata=metadata or {},
    )


def smooth_image(shape=(32, 40), seed=0):
    """A smooth positive image with Poisson noise (a widefield plane)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    clean = 200 + 100 * np.sin(y / 5.0) * np.cos(x / 7.0)
    return rng.poisson(clean).astype(np.float32)


# ---------------------------------------------------------------------------- the run
def test_a_frame_of_a_stack_becomes_a_one_frame_stack_at_that_frame_x2():
    stack = layer(
        "stack",
        np.zeros((5, 8, 10), np.float32),
        translate=(10.0, 1.0, 2.0),
        metadata={"axes": "TYX", "source": "/data/cell.tif"},
    )
    run = LayerRun.of_layer(stack, "bicubic", (3,), device="cpu")
    assert run.shape == (8, 10) and run.planes == 1
    assert run.name == "stack bicubic [frame 3]" and run.source == "/data/cell.tif"
    restored = Restored(np.ones((16, 20), np.float32), {"steps": [{}]}, 0.12345, 2)
    data, kwargs, kind = result_layer(run, restored)
    assert kind == "image" and data.shape == (1, 16, 20)
    assert kwargs["name"] == "stack bicubic [frame 3]" and kwargs["colormap"] == "gray"
    assert kwargs["scale"] == pytest.approx((1.0, PX / 2, PX / 2))
    # frame 3 at t = 10 + 3 * 1; HR pixel centres a quarter of an LR pixel up and left
    assert kwargs["translate"] == pytest.approx((13.0, 1.0 - PX / 4, 2.0 - PX / 4))
    meta = kwargs["metadata"]
    assert meta["axes"] == "TYX" and meta["source"] == "/data/cell.tif" and meta["seconds"] == 0.123
    assert meta["model"] is None and meta["method"] == "bicubic"
    assert meta["parameters"] == {
        "device": "cpu",
        "threads": "all",
        "tile": "auto",
        "noise_level": "blind/estimated",
        "weights_noise_level": None,
        "frame": [3],
    }
    assert meta["provenance"]["source_layer"] == "stack"


def test_a_whole_stack_keeps_its_geometry_and_planes():
    stack = layer("frames", np.zeros((2, 3, 8, 8), np.float32), metadata={})
    run = LayerRun.of_layer(stack, "pure-let", noise_level="avg4", tile=128, threads=2)
    assert run.planes == 6 and run.name == "frames pure-let" and run.source == "frames"
    data, kwargs, _ = result_layer(run, Restored(np.ones((2, 3, 8, 8)), {"steps": []}, 3.0, 1))
    assert kwargs["scale"] == (1.0, 1.0, PX, PX) and kwargs["translate"] == (0.0,) * 4
    assert kwargs["metadata"]["axes"] == "TCYX"  # no axes in the metadata: by the dimensions
    params = kwargs["metadata"]["parameters"]
    assert (params["tile"], params["threads"], params["noise_level"], params["frame"]) == (
        128,
        2,
        "avg4",
        "all",
    )


def test_restore_job_doubles_a_plane_and_checks_it_against_the_input():
    image = smooth_image()
    run = LayerRun.of_layer(layer("img", image), "bicubic", trust=True)
    stages = []
    restored = drain(restore_job(image, run), stages.append)
    assert [s["stage"] for s in stages if "stage" in s] == ["loading", "running", "checking"]
    assert restored.factor == 2 and restored.data.shape == (64, 80)
    assert restored.data.mean() == pytest.approx(image.mean(), rel=0.01)
    assert restored.weights == [] and restored.devices == set()
    check = restored.check
    assert check is not None and check.z.shape == image.shape
    # the check of the restored plane against this input, as `w2s check` makes it
    from napari_w2s.analysis.consistency import check_restoration

    direct = check_restoration(restored.data, image)
    np.testing.assert_allclose(check.z, direct.z)
    assert (check.verdict, check.outside_3sigma) == (direct.verdict, direct.outside_3sigma)
    # and against another input it is another map
    assert not np.allclose(check.z, check_restoration(restored.data, image[::-1]).z)

    z, kwargs, _ = trust_layer(run, check)
    assert z.shape == (32, 40) and kwargs["name"] == "img bicubic trust z"
    assert kwargs["contrast_limits"] == (-6, 6) and kwargs["colormap"] == "RdBu_r"
    assert kwargs["scale"] == (PX, PX) and kwargs["metadata"]["trust"]["verdict"] == check.verdict
    line = summary(run, restored)
    assert line.startswith("bicubic: (32, 40) -> (64, 80) in ") and " on " not in line
    assert device_note(run, restored) is None  # auto: no warning


def test_a_stack_over_budget_returns_the_estimate_of_its_first_plane():
    stack = np.stack([smooth_image(seed=s)[:16, :16] for s in range(3)])
    run = LayerRun.of_layer(layer("stack", stack), "bicubic")
    restored = drain(restore_job(stack, run, budget_s=0.0))
    assert isinstance(restored.data, Estimate) and restored.data.planes == 3
    assert restored.check is None


def test_summary_names_the_weights_and_devices_that_ran():
    run = LayerRun.of_layer(layer("avg1", np.zeros((256, 256))), "jdsr", device="cuda")
    step = {"weights": "jdsr-blind-compact.safetensors", "noise_level": "blind", "device": "cpu"}
    restored = Restored(np.zeros((512, 512)), {"steps": [step]}, 1.2, 2)
    assert summary(run, restored) == (
        "jdsr with jdsr-blind-compact (noise-blind): (256, 256) -> (512, 512) in 1.20 s on cpu"
    )
    assert device_note(run, restored) is None  # a network ran (on the device it could)
    classical = Restored(np.zeros((512, 512)), {"steps": [{}]}, 1.2, 2)
    assert "runs on the CPU whatever the device" in device_note(run, classical)


def test_speeds_estimate_a_stack_from_a_measured_plane():
    stack = layer("stack", np.zeros((5, 8, 8)))
    run = LayerRun.of_layer(stack, "bicubic")
    speeds = Speeds()
    assert speeds.estimate(run) is None
    assert speeds.note(run, 60) == (
        "whole stack: 5 planes; the first one is timed, and a run longer than 60 s asks before "
        "going on"
    )
    speeds.remember(run, 0.5)
    assert speeds.estimate(run).seconds == pytest.approx(2.5)
    assert speeds.note(run, 60) == "whole stack: 5 planes x 0.5 s = about 2.5 s (measured here)"
    other_device = LayerRun.of_layer(stack, "bicubic", device="cpu")
    assert speeds.estimate(other_device) is None


# ---------------------------------------------------------------------------- method cards
CARDS = [
    {
        "name": "jdsr",
        "noise_level": "blind",
        "file": "zoo/jdsr-blind-compact.safetensors",
        "source": "shipped",
        "metrics": {
            "split": "test",
            "units": "w2s",
            "views": 20,
            "avg1": {"rmse": 0.1234, "ssim": 0.812},
            "avg2": {"rmse": 0.1},
        },
    },
    {"name": "jdsr", "noise_level": "avg1", "file": "zoo/jdsr-avg1-compact.safetensors"},
    {
        "name": "dncnn",
        "stem": "my-dncnn",
        "source": "user",
        "noise_level": "blind",
        "file": "/home/u/models/my-dncnn.safetensors",
        "training": {"iterations": 500, "data": "layers"},
    },
]


def test_the_card_of_the_weights_that_run_for_a_level():
    assert card_for("jdsr", CARDS, "avg1") is CARDS[1]
    assert card_for("jdsr", CARDS, "avg4") is CARDS[0]  # no avg4 model: the noise-blind one
    assert card_for("MY-DNCNN", CARDS, None) is CARDS[2]  # a user model by its file stem
    assert card_for("rcan", CARDS, None) is None
    assert weights_label(CARDS[0]) == "jdsr-blind-compact (noise-blind)"
    assert weights_label(CARDS[1]) == "jdsr-avg1-compact (per-level: avg1)"


def test_metrics_table_and_card_text():
    table = metrics_table(CARDS[0]["metrics"])
    assert table.startswith("held-out (test, w2s, 20 views):")
    assert ">avg1</th>" in table and ">avg2</th>" in table
    assert ">0.123</td>" in table and ">0.81</td>" in table and ">–</td>" in table
    assert metrics_table({"split": "test"}) == ""

    text = card_html("jdsr", CARDS, "auto")
    assert "weights: <b>jdsr-blind-compact (noise-blind)</b>" in text
    assert "also shipped: avg1 (chosen when you run" in text and "<table" in text
    classical = card_html("vst-nlm+bicubic", CARDS)
    assert "<b>vst-nlm</b> (classical, x1)" in classical
    assert "<b>bicubic</b> (classical, x2)" in classical
    mine = card_html("my-dncnn", CARDS)
    assert "your model, 500 iterations, trained from scratch, on layers" in mine


def test_missing_weights_and_the_methods_offered():
    assert missing_weights("dncnn+rcan", CARDS) == ["rcan"]
    assert missing_weights("my-dncnn+bicubic", CARDS) == []
    refusal = weights_refusal("rcan", CARDS)
    assert refusal.startswith("no trained weights for rcan") and "--model rcan" in refusal
    assert weights_refusal("jdsr", CARDS) is None
    assert is_classical("pure-let+bicubic") and not is_classical("dncnn+bicubic")
    assert not is_classical("") and is_classical(" Pure-LET + bicubic ")
    assert split_method(" DnCNN + +RCAN ") == ["dncnn", "rcan"]
    from napari_w2s.restore import classical

    assert classical.METHODS is CLASSICAL  # one owner of the names
    groups = method_groups()
    assert list(groups) == ["jdsr", "denoise", "sr", "classical", "sequences"]
    assert "bicubic" in groups["classical"] and "dncnn+rcan" in groups["sequences"]


# ---------------------------------------------------------------------------- layer names
def test_the_preferred_input_is_the_noisiest_level_then_a_plane_then_a_stack():
    stack = layer("widefield (simulated)", np.zeros((4, 8, 8)))
    sim = layer("SIM (simulated)", np.zeros((16, 16)))
    clean = layer("avg400 (clean)", np.zeros((8, 8)))
    avg4, avg2 = layer("avg4", np.zeros((8, 8))), layer("avg2", np.zeros((8, 8)))
    result = layer("avg1 jdsr", np.zeros((16, 16)), metadata={"method": "jdsr"})
    assert preferred_layer([stack, sim, clean, avg4, avg2, result]) is avg2
    # the maps of a level restored from a stack carry its name, but are not inputs
    maps = [
        layer("stack jdsr reliability [avg1]", np.zeros((16, 16)), metadata={"reliability": {}}),
        layer("stack jdsr trust z [avg1]", np.zeros((8, 8)), metadata={"trust": {}}),
    ]
    assert preferred_layer([*maps, stack, avg4]) is avg4
    assert preferred_layer([*maps, stack]) is stack
    img, other = layer("img", np.zeros((8, 8))), layer("other", np.zeros((8, 8)))
    assert preferred_layer([stack, sim, img, other], active=other) is other
    assert preferred_layer([stack, sim, img]) is img
    assert preferred_layer([sim, clean, stack]) is stack
    assert preferred_layer([sim]) is sim and preferred_layer([]) is None


def test_auto_noise_level_from_the_name_then_the_estimate():
    assert noise_level_of("avg4 (test)") == "avg4"
    assert noise_level_of("avg400 (clean)") == "auto"
    assert noise_level_of("avg2 (clean)", {"noise": {"level": "avg8"}}) == "avg8"
    assert noise_level_of("img", {"noise": {"level": "avg3"}}) == "auto"  # not a W2S level
    assert noise_level_of("img", None) == "auto"
