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
import warnings
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
    # calibration of the disjoint-frame reliability map (napari_w2s.analysis.reliability)
    reliability: dict = field(default_factory=dict)
    # the photon-budget advisor's curves measured on the simulator for these weights
    # (napari_w2s.analysis.advisor_curves, scripts/measure_jdsr_curves.py)
    advisor: dict = field(default_factory=dict)
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
    """Write ``model``'s weights as safetensors and its card as JSON, each through
    :func:`napari_w2s.io.tiff.atomic_file` (nothing half-written is ever read as a model)."""
    from safetensors.torch import save

    from ..io.atomic import atomic_file

    path = Path(path)
    state = {
        k: v.detach().to("cpu").contiguous().float()
        if v.is_floating_point()
        else v.detach().to("cpu").contiguous()
        for k, v in model.state_dict().items()
    }
    blob = save(state, metadata={"name": card.name, "architecture": card.architecture})
    card.sha256 = hashlib.sha256(blob).hexdigest()
    card.params = int(
        sum(v.numel() for k, v in state.items() if "running_" not in k and "num_batches" not in k)
    )
    with atomic_file(path) as fh:
        fh.write(blob)
        os.chmod(fh.name, 0o644)  # readable by everyone once installed, whatever the umask
    with atomic_file(card_path(path)) as fh:
        fh.write(card.to_json().encode())
    return path


def read_card(weights: str | Path) -> ModelCard:
    """The card next to ``weights``, checked: the sha256 covers only the weights, so a card
    edited by hand must not turn into NaN output or a traceback later."""
    cp = card_path(weights)
    if not cp.exists():
        raise W2SInputError(f"{weights}: no model card {cp.name} next to the weights")
    try:
        d = json.loads(cp.read_text())
        _check_card(d)
        return ModelCard.from_dict(d)
    except (json.JSONDecodeError, TypeError, ValueError) as err:
        raise W2SInputError(f"{cp}: not a valid model card ({err})") from err


_CARD_TYPES = {
    "name": str,
    "architecture": str,
    "task": str,
    "noise_level": str,
    "config": dict,
    "normalisation": (dict, type(None)),
}


def _check_card(d: Any) -> None:
    """A ``ValueError`` naming the first field of a card that cannot be used."""
    import math

    from ..normalisation import spec_of

    if not isinstance(d, dict):
        raise ValueError(f"a card is a JSON object, not {type(d).__name__}")
    missing = [k for k in (*_CARD_TYPES, "scale") if k not in d]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    for key, kind in _CARD_TYPES.items():
        if not isinstance(d[key], kind):
            raise ValueError(
                f"{key} must be a JSON {'string' if kind is str else 'object'}, not {d[key]!r}"
            )
    if type(d["scale"]) is not int or d["scale"] not in (1, 2, 4):
        raise ValueError(f"scale must be 1, 2 or 4, not {d['scale']!r}")
    norm = spec_of(d["normalisation"])
    numbers = {"zscore": ("mean", "std"), "percentile": ("low", "high")}.get(norm["kind"])
    if numbers is None:
        raise ValueError(f"unknown normalisation kind {norm['kind']!r} (zscore or percentile)")
    for key in numbers:
        value = norm.get(key)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise ValueError(f"normalisation {key} must be a finite number, not {value!r}")
    if norm["kind"] == "zscore" and not norm["std"] > 0:
        raise ValueError(f"normalisation std must be positive, not {norm['std']!r}")
    if norm["kind"] == "percentile" and not 0 <= norm["low"] < norm["high"] <= 100:
        raise ValueError(
            f"normalisation percentiles need 0 <= low < high <= 100, not "
            f"{norm['low']!r} and {norm['high']!r}"
        )


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
        with warnings.catch_warnings():  # torch warns on some legacy files: not for the user
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt files raise many types; the message says which file
        if type(err).__name__ == "UnpicklingError":  # weights_only refused it: never retry
            raise W2SInputError(
                f"{path}: not a plain tensor checkpoint (it holds Python "
                "objects, which are never loaded); convert it to safetensors"
            ) from err
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise W2SInputError(
            f"{path}: cannot read the weights ({type(err).__name__}: {first})"
        ) from err
    for key in ("params_ema", "params", "state_dict", "model"):  # common checkpoint wrappers
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise W2SInputError(f"{path}: holds no state dict")
    return state


def _check_fit(path: str | Path, card: ModelCard, state: dict) -> None:
    """The card's architecture and configuration against the weights, on torch's ``meta``
    device (no memory): a configuration that is far too big fails here, not in an allocation,
    and a card whose ``scale`` is not the network's is refused."""
    import torch

    from .registry import build_architecture

    with torch.device("meta"):
        probe = build_architecture(card.architecture, **card.config)
    expected = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    for key in sorted(set(expected) | set(state)):
        got = tuple(state[key].shape) if key in state else None
        if got != expected.get(key):
            raise W2SInputError(
                f"{path}: the weights do not fit a {card.architecture} with the card's "
                f"configuration ({key}: {got or 'missing'} in the file, "
                f"{expected.get(key) or 'not in the model'} expected)"
            )
    try:
        with torch.no_grad():
            y = probe.eval()(torch.zeros(1, 1, 16, 16, device="meta"))
        scale = (y[-1] if isinstance(y, (list, tuple)) else y).shape[-1] // 16
    except Exception:  # an operation without a meta kernel: the scale cannot be probed
        return
    if scale != card.scale:
        raise W2SInputError(
            f"{path}: the card says scale {card.scale}, but the network enlarges x{scale}"
        )


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
    state = load_state_dict(path)
    _check_fit(path, card, state)
    model = build_architecture(card.architecture, **card.config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise W2SInputError(
            f"{path}: the weights do not fit a {card.architecture} with the card's configuration "
            f"({str(err).splitlines()[0]})"
        ) from err
    model.eval()
    return model, card
