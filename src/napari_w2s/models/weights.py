"""Weights on disk: safetensors files with a JSON model card, checked by sha256. Never pickles.

A model is two files side by side::

    NAME.safetensors   the state dict (float32 tensors)
    NAME.json          the model card: method name, architecture and configuration, task,
                       noise level, normalisation, training record, measured metrics, sha256

:func:`load_model` verifies the file's sha256 against the card before building the model, so a
corrupted or swapped weights file is refused with a clear message. A user's own checkpoint may
also be a PyTorch ``.pt``/``.pth`` file: it is read with ``torch.load(weights_only=True)``,
which cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import W2SInputError

CARD_VERSION = 1


@dataclass
class ModelCard:
    """What a weights file is and how to use it.

    ``normalisation`` maps the input from the user's units (ADU) to the network's and back:
    ``{"kind": "zscore", "mean": m, "std": s}`` means ``x_net = (x - m) / s`` and
    ``y = y_net * s + m``.
    """

    name: str
    architecture: str
    config: dict
    task: str
    scale: int
    noise_level: str  # "avg1", ..., or "blind" (trained on all levels)
    normalisation: dict
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    params: int = 0
    sha256: str = ""
    description: str = ""
    card_version: int = CARD_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict) -> ModelCard:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def card_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def save_model(model: Any, path: str | Path, card: ModelCard) -> Path:
    """Write ``model``'s weights as safetensors and its card as JSON (both atomically)."""
    from safetensors.torch import save_file

    path = Path(path)
    state = {k: v.detach().to("cpu").contiguous().float() if v.is_floating_point()
             else v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}  # fmt: skip
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        save_file(state, str(tmp), metadata={"name": card.name, "architecture": card.architecture})
        card.sha256 = sha256_file(tmp)
        card.params = int(sum(v.numel() for k, v in state.items() if "running_" not in k
                              and "num_batches" not in k))  # fmt: skip
        os.chmod(tmp, 0o644)  # readable by everyone once installed (safetensors writes 0600)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    cp = card_path(path)
    tmp_card = cp.with_name(f".{cp.name}.partial-{os.getpid()}")
    tmp_card.write_text(card.to_json())
    os.replace(tmp_card, cp)
    return path


def read_card(weights: str | Path) -> ModelCard:
    cp = card_path(weights)
    if not cp.exists():
        raise W2SInputError(f"{weights}: no model card {cp.name} next to the weights")
    try:
        return ModelCard.from_dict(json.loads(cp.read_text()))
    except (json.JSONDecodeError, TypeError) as err:
        raise W2SInputError(f"{cp}: not a valid model card ({err})") from err


def load_state_dict(path: str | Path) -> dict:
    """Tensors of a ``.safetensors`` file, or of a ``.pt``/``.pth`` file without unpickling code."""
    import torch

    path = Path(path)
    if not path.exists():
        raise W2SInputError(f"{path}: weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt files raise many types; the message says which file
        raise W2SInputError(f"{path}: cannot read the weights ({type(err).__name__}: {err})") from err
    for key in ("params_ema", "params", "state_dict", "model"):  # common checkpoint wrappers
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise W2SInputError(f"{path}: holds no state dict")
    return state


def load_model(path: str | Path, verify: bool = True) -> tuple[Any, ModelCard]:
    """Build the model a card describes and load its weights (sha256-checked), in eval mode."""
    from .registry import build_architecture

    card = read_card(path)
    if verify and card.sha256:
        actual = sha256_file(path)
        if actual != card.sha256:
            raise W2SInputError(
                f"{path}: the weights do not match their model card (sha256 {actual[:12]}... "
                f"instead of {card.sha256[:12]}...); the file is corrupted or was replaced"
            )
    model = build_architecture(card.architecture, **card.config)
    state = load_state_dict(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise W2SInputError(
            f"{path}: the weights do not fit a {card.architecture} with the card's configuration "
            f"({str(err).splitlines()[0]})"
        ) from err
    model.eval()
    return model, card
