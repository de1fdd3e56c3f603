"""The package's description (``rdf.yaml``, format 0.5): tensors and their axes, pre- and
postprocessing, the weights with their checksums, the citation and this project's card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .constants import CITATION, CITATION_URL, DESCRIPTION, FORMAT_VERSION, SIZE_MIN, SIZE_STEP
from .convert import ONNX_OPSET


def describe(
    card: Any,
    files: dict[str, Path],
    *,
    pre: list[dict],
    post: list[dict],
    exact: bool,
    ts_ok: bool,
    onnx_info: dict,
    source_name: str,
) -> dict:
    """The description of a package whose files (by name in the package) are ``files``: the
    test and sample tensors, ``weights.pt`` and ``architecture.py``, ``weights_torchscript.pt``
    where ``ts_ok``, ``weights.onnx`` where ``onnx_info["ok"]``; ``source_name`` is the file
    name of the exported weights (recorded in the ``config`` entry)."""
    import torch

    from .. import __version__
    from ..models.weights import sha256_file

    torch_version = torch.__version__.split("+")[0]
    # no unit: the pixel size is the user's; only the ratio of the scales matters
    space_in = [
        {"type": "space", "id": ax, "size": {"min": SIZE_MIN, "step": SIZE_STEP}, "scale": 1.0}
        for ax in ("y", "x")
    ]
    space_out = [
        {
            "type": "space",
            "id": ax,
            "size": {"tensor_id": "input", "axis_id": ax},
            "scale": 1.0 / card.scale,
        }
        for ax in ("y", "x")
    ]
    card_dict = json.loads(card.to_json())

    def ref(name: str) -> dict:
        return {"source": name, "sha256": sha256_file(files[name])}

    weights: dict[str, Any] = {
        "pytorch_state_dict": {
            **ref("weights.pt"),
            "architecture": {
                **ref("architecture.py"),
                "callable": card.architecture,
                "kwargs": dict(card.config),
            },
            "pytorch_version": torch_version,
        }
    }
    if ts_ok:
        weights["torchscript"] = {
            **ref("weights_torchscript.pt"),
            "parent": "pytorch_state_dict",
            "pytorch_version": torch_version,
            "comment": "torch.jit.trace on the CPU",
        }
    if onnx_info["ok"]:
        weights["onnx"] = {
            **ref("weights.onnx"),
            "parent": "pytorch_state_dict",
            "opset_version": ONNX_OPSET,
            "comment": f"torch.onnx.export, {onnx_info['exporter']}, dynamic "
            "batch, y and x; ONNX Runtime vs "
            f"{'TorchScript' if ts_ok else 'eager'} on the test "
            f"input: {onnx_info['max_diff']:.2g}",
        }
    level = "" if card.noise_level == "blind" else f" ({card.noise_level})"
    return {
        "format_version": FORMAT_VERSION,
        "type": "model",
        "name": f"W2S {card.name}{level} napari-w2s",
        "description": f"{card.description or card.name}: "
        f"{DESCRIPTION.get(card.task, card.task)}. From napari-w2s.",
        "authors": [{"name": "napari-w2s developers"}],
        "cite": [{**CITATION, "url": CITATION_URL}],
        "license": "BSD-3-Clause",
        "documentation": "README.md",
        "covers": ["cover.png"],
        "tags": [
            "widefield",
            "sim",
            "fluorescence-light-microscopy",
            "2d",
            "pytorch",
            "denoising" if card.task != "sr" else "super-resolution",
            *(["super-resolution"] if card.task == "jdsr" else []),
            "w2s",
            "napari-w2s",
        ],
        "inputs": [
            {
                "id": "input",
                "description": "2-D widefield image, one channel"
                + (" (noisy)" if card.task != "sr" else " (clean)"),
                "axes": [
                    {"type": "batch"},
                    {"type": "channel", "channel_names": ["widefield"]},
                    *space_in,
                ],
                "test_tensor": ref("test_input.npy"),
                "sample_tensor": ref("sample_input.tif"),
                "data": {"type": "float32"},
                "preprocessing": pre,
            }
        ],
        "outputs": [
            {
                "id": "output",
                "description": (
                    "restored image"
                    + (f", x{card.scale}" if card.scale > 1 else "")
                    + ("" if exact else ", normalised units")
                ),
                "axes": [
                    {"type": "batch"},
                    {"type": "channel", "channel_names": ["restored"]},
                    *space_out,
                ],
                "test_tensor": ref("test_output.npy"),
                "sample_tensor": ref("sample_output.tif"),
                "data": {"type": "float32"},
                "postprocessing": post,
            }
        ],
        "weights": weights,
        "config": {
            "napari-w2s": {
                "card": card_dict,
                "version": __version__,
                "output_units": "input" if exact else "normalised",
                "source": source_name,
            }
        },
    }
