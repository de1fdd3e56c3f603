"""The shipped, pretrained weights (``napari_w2s/models/zoo``) and how to find them."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import W2SInputError

ZOO = Path(__file__).resolve().parents[1] / "models" / "zoo"


def shipped() -> list[dict]:
    """Cards of every shipped model (with a ``file`` key), sorted by name."""
    cards = []
    for card in sorted(ZOO.glob("*.json")):
        weights = card.with_suffix(".safetensors")
        if weights.exists():
            cards.append({**json.loads(card.read_text()), "file": str(weights)})
    return cards


def find_weights(method: str, noise_level: str | None = None) -> Path:
    """The shipped weights of ``method``: the per-level model if asked and present, else blind."""
    candidates = [c for c in shipped() if c["name"] == method]
    if noise_level:
        level = noise_level if noise_level.startswith("avg") else f"avg{noise_level}"
        for c in candidates:
            if c["noise_level"] == level:
                return Path(c["file"])
    for c in candidates:
        if c["noise_level"] == "blind":
            return Path(c["file"])
    if candidates:
        return Path(candidates[0]["file"])
    raise W2SInputError(
        f"no trained weights for {method!r} are shipped; train them with "
        f"`w2s train --model {method} --data DIR --out DIR` and pass --weights FILE"
    )
