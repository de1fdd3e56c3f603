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


def auto_level(method: str, image) -> str | None:
    """The per-level model's level for ``image``, chosen from its signal-to-noise ratio.

    A per-level model's card records the SNR of its training inputs (``training.input_snr``,
    percentiles, measured with :func:`napari_w2s.analysis.snr.estimate_snr`, which does not
    depend on the camera). The image goes to the per-level model of the lowest SNR whose median
    is at least the image's SNR: the specialist for the noisiest data takes what is as noisy as
    the lower half of its training inputs, everything else goes to the noise-blind model
    (``None``).
    """
    from ..analysis.snr import estimate_snr

    parts = [p.strip().lower() for p in method.split("+")]
    cards = [c for c in shipped() if c["name"] in parts and c["noise_level"] != "blind"
             and isinstance(c.get("training", {}).get("input_snr"), dict)]  # fmt: skip
    if not cards:
        return None
    snr = estimate_snr(image)
    for c in sorted(cards, key=lambda c: c["training"]["input_snr"]["p50"]):
        if snr <= float(c["training"]["input_snr"]["p50"]):
            return str(c["noise_level"])
    return None
