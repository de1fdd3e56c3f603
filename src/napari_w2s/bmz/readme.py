"""The package's ``README.md``: what the model does, its input and output, how the
normalisation is expressed, the model card's validation figures, how to run it, the citation."""

from __future__ import annotations

import json
from typing import Any

from .constants import CITATION, CITATION_URL, DESCRIPTION, SIZE_MIN, SIZE_STEP
from .convert import ONNX_OPSET, ONNX_TOL


def weights_note(ts_ok: bool, onnx_info: dict, onnx_tried: bool) -> str:
    """The README's words on the weights besides ``pytorch_state_dict``: TorchScript and ONNX
    when written, or why the ONNX export was left out (``onnx_tried``: asked for, and its
    packages installed)."""
    ts_note = " and `torchscript` (`weights_torchscript.pt`)" if ts_ok else ""
    if onnx_info["ok"]:
        onnx_note = f", `onnx` (`weights.onnx`, opset {ONNX_OPSET})"
    elif onnx_tried:  # the operators do not export (or do not match)
        onnx_note = (
            "; no `onnx` weights: this network's operators do not export to ONNX "
            f"(opset {ONNX_OPSET}) or ONNX Runtime does not reproduce it within "
            f"{ONNX_TOL:g} ({onnx_info['reason']})"
        )
    else:
        onnx_note = ""
    return ts_note + onnx_note


def readme(card: Any, exact: bool, weights_name: str, more_weights: str, seed: int) -> str:
    """The README of ``card``'s package: ``exact`` whether its output is in the input's units,
    ``more_weights`` the :func:`weights_note`, ``seed`` the test view's."""
    from .. import __version__
    from ..normalisation import describe, spec_of

    norm = spec_of(card.normalisation)
    m = card.metrics or {}
    levels_m = [(lv, v) for lv, v in m.items() if isinstance(v, dict) and "rmse" in v]
    with_input = any("rmse_input" in v for _, v in levels_m)
    rows = [
        f"| {lv} | {v['rmse']:.4f} | {v.get('ssim', float('nan')):.4f} |"
        + (f" {v.get('rmse_input', float('nan')):.4f} |" if with_input else "")
        for lv, v in levels_m
    ]
    head = "| input level | RMSE | SSIM |" + (" RMSE of the input |" if with_input else "")
    rule = "|---|---|---|" + ("---|" if with_input else "")
    table = "\n".join([head, rule, *rows]) if rows else "No validation figures in the card."
    t = card.training or {}
    units = (
        "in the input's units (the postprocessing `scale_linear` undoes the fixed "
        "normalisation exactly)"
        if exact
        else "in **normalised units** (0 about the background, 1 about bright structures): "
        "the per-image map cannot be undone in the BioImage Model Zoo format (see below)"
    )
    scale = (
        f"x{card.scale} (output axes `y`, `x`: twice the input's size, half its pixel size)"
        if card.scale > 1
        else "same size as the input"
    )
    if exact:
        pre_text = "`fixed_zero_mean_unit_variance`"
        post_text = (
            "Postprocessing `scale_linear` (gain = std, offset = mean) maps the output "
            "back to the input's units, exactly as napari-w2s does."
        )
    else:
        pre_text = (
            f"`scale_range` (percentiles {norm['low']:g} and {norm['high']:g} of each "
            "image, over y and x)"
        )
        post_text = (
            "napari-w2s maps the restored image back with the same two numbers "
            "(`y * (p_high - p_low) + p_low`); the BioImage Model Zoo format has no "
            "postprocessing that multiplies by the *input's* percentile range (`scale_range` "
            "with a reference tensor normalises by it, `scale_mean_variance` matches mean and "
            "variance, another map), so this package's output stays in normalised units. "
            "Running the package with `w2s restore --weights` gives the input's units."
        )
    scaled = (
        ", scaled to the training data's mean and standard deviation"
        if norm["kind"] == "zscore"
        else ""
    )
    levels = ", ".join(map(str, t.get("levels", []))) or "?"
    return f"""# {card.name} ({weights_name}) - W2S, napari-w2s

{card.description or card.name}: {DESCRIPTION.get(card.task, card.task)}.
Exported by napari-w2s {__version__} (`w2s export-bmz`) from its model card.

* **Input**: one 2-D, single-channel widefield image, float32 (axes `batch, channel, y, x`),
  at least {SIZE_MIN} x {SIZE_MIN} pixels, sizes {SIZE_MIN} + n x {SIZE_STEP}.
* **Output**: {scale}, {units}.
* **Architecture**: {card.architecture} {json.dumps(card.config)}, {card.params:,} parameters.
* **Weights**: `pytorch_state_dict` (`weights.pt`, architecture in `architecture.py`){more_weights}.
* **Noise level trained on**: {card.noise_level}.

## Normalisation

napari-w2s: {describe(card.normalisation)}.

In this package: preprocessing {pre_text}. {post_text}
Large images: run the model in tiles that overlap by at least 48 input pixels (napari-w2s does).

## Validation (from the model card)

Held-out {m.get("split", "?")} split, {m.get("views", "?")} views, units: {m.get("units", "?")}.

{table}

Training: {t.get("iterations", "?")} iterations, batch {t.get("batch", "?")}, patch
{t.get("patch", "?")}, levels {levels}, on {t.get("data", "?")} ({t.get("device", "?")}).
Command: `{t.get("command", "?")}`.

Test tensors: a view of napari-w2s's randomised simulator (`make_view`, seed {seed}){scaled}.

## Use

* napari-w2s: `w2s restore IMAGE --weights THIS_PACKAGE.zip --out OUT.ome.tif` (tiled, any size).
* Fiji (deepImageJ), ilastik, QuPath (TorchScript) and `bioimageio predict`; ONNX Runtime
  where this package has `onnx` weights.

## Citation

{CITATION["text"]} doi:{CITATION["doi"]} ({CITATION_URL}).

## Licence

BSD-3-Clause (napari-w2s). The W2S paper and data set are the work of their authors.
"""
