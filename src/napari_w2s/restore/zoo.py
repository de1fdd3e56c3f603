"""The shipped, pretrained weights (``napari_w2s/models/zoo``), the user's own models, and how to
find them.

The user's model folder (:func:`user_models_dir`: ``$NAPARI_W2S_MODELS``, else the platform's
data directory, e.g. ``~/.local/share/napari-w2s/models`` on Linux) holds models trained or
fine-tuned by the user (``w2s finetune``, the Train widget): ``STEM.safetensors`` with its card
``STEM.json``, exactly like the shipped ones. A method name (``jdsr``) always means the shipped
weights; a user model is picked by its file stem (``w2s restore --method jdsr-mine`` or
``--weights jdsr-mine``), which runs the method its card names. Every model's weights are
checked against the sha256 of its card when loaded, shipped or not.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from ..errors import W2SInputError
from .methods import CLASSICAL, split_method

ZOO = Path(__file__).resolve().parents[1] / "models" / "zoo"
MODELS_ENV = "NAPARI_W2S_MODELS"
STEM = re.compile(r"[a-z0-9][a-z0-9._-]{0,79}")
log = logging.getLogger("napari_w2s")


def user_data_dir() -> Path:
    """napari-w2s's folder in the platform's data directory (it may not exist yet), e.g.
    ``~/.local/share/napari-w2s`` on Linux: the default user model folder ``models`` and the
    ONNX cache ``onnx-cache`` (:mod:`.onnx_backend`) are in it."""
    try:
        from platformdirs import user_data_dir as platform_data_dir

        return Path(platform_data_dir("napari-w2s", appauthor=False))
    except ImportError:  # pragma: no cover - platformdirs comes with napari
        return Path.home() / ".local" / "share" / "napari-w2s"


def user_models_dir() -> Path:
    """The user's model folder (``$NAPARI_W2S_MODELS`` overrides it; it may not exist yet)."""
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env).expanduser()
    return user_data_dir() / "models"


def user_models() -> list[dict]:
    """Cards of the user's models (``file``, ``stem`` and ``source: "user"`` added), by stem.

    A card that cannot be read, or whose method is unknown, is skipped with a logged warning (a
    broken file in the folder must not break ``w2s models`` or the widgets). A stem that is a
    method name or a shipped model's stem is skipped too: names stay unambiguous.
    """
    from ..models import list_models

    folder = user_models_dir()
    if not folder.is_dir():
        return []
    taken = set(list_models()) | {Path(c["file"]).stem for c in shipped()}
    cards = []
    for card in sorted(folder.glob("*.json")):
        weights = card.with_suffix(".safetensors")
        if not weights.exists():
            continue
        stem = weights.stem
        try:
            d = json.loads(card.read_text())
            if not isinstance(d, dict) or d.get("name") not in list_models():
                raise ValueError(f"unknown method {d.get('name') if isinstance(d, dict) else d!r}")
        except (OSError, ValueError) as err:
            log.warning("napari-w2s: skipped the user model %s: %s", card, err)
            continue
        if stem.lower() in taken:
            log.warning(
                "napari-w2s: skipped the user model %s: its name is taken by a shipped "
                "model or a method; rename it",
                weights,
            )
            continue
        cards.append({**d, "file": str(weights), "stem": stem, "source": "user"})
    return cards


def all_models() -> list[dict]:
    """Shipped cards (``source: "shipped"``), then the user's (``source: "user"``)."""
    return [
        {**c, "stem": Path(c["file"]).stem, "source": "shipped"} for c in shipped()
    ] + user_models()


def find_model(stem: str) -> Path | None:
    """The weights whose file stem is ``stem`` (case-insensitive): shipped first, then the
    user's; ``None`` if there is none."""
    key = str(stem).strip().lower()
    for c in all_models():
        if c["stem"].lower() == key:
            return Path(c["file"])
    return None


def check_stem(stem: str) -> str:
    """``stem`` if it can name a user model (lower case letters, digits, ``.``, ``_``, ``-``;
    not a method name nor a shipped model's stem), else a :class:`W2SInputError`."""
    from ..models import list_models

    if not STEM.fullmatch(stem or ""):
        raise W2SInputError(
            f"model name {stem!r}: use 1-80 lower-case letters, digits, '.', '_' "
            "or '-', starting with a letter or digit"
        )
    if (
        stem in list_models()
        or stem in CLASSICAL
        or stem in {Path(c["file"]).stem for c in shipped()}
    ):
        raise W2SInputError(
            f"model name {stem!r} is taken by a method or a shipped model; choose another"
        )
    return stem


def shipped() -> list[dict]:
    """Cards of every shipped model (with a ``file`` key), sorted by name."""
    cards = []
    for card in sorted(ZOO.glob("*.json")):
        weights = card.with_suffix(".safetensors")
        if weights.exists():
            cards.append({**json.loads(card.read_text()), "file": str(weights)})
    return cards


def find_weights(method: str, noise_level: str | None = None) -> Path:
    """The weights of ``method``: the shipped per-level model if asked and present, else the
    shipped noise-blind one. A method without shipped weights takes the user's model of that
    method (noise-blind first, then the newest). ``method`` may also be a model's file stem
    (shipped or the user's): exactly those weights."""
    by_stem = find_model(method)
    if by_stem is not None:
        return by_stem
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
    mine = sorted(
        (c for c in user_models() if c["name"] == method),
        key=lambda c: (c["noise_level"] == "blind", Path(c["file"]).stat().st_mtime),
    )
    if mine:
        return Path(mine[-1]["file"])
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

    parts = split_method(method)
    cards = [
        c
        for c in shipped()
        if c["name"] in parts
        and c["noise_level"] != "blind"
        and isinstance(c.get("training", {}).get("input_snr"), dict)
    ]
    if not cards:
        return None
    snr = estimate_snr(image)
    for c in sorted(cards, key=lambda c: c["training"]["input_snr"]["p50"]):
        if snr <= float(c["training"]["input_snr"]["p50"]):
            return str(c["noise_level"])
    return None
