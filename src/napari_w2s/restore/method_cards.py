"""The methods as a user picks them, and each method's card in words.

The groups and titles of the method pickers, which parts of a method have no weights, and a
method's card as rich text (HTML that Qt labels show): which weights run for a noise level,
how the image is normalised, and the held-out metrics. Torch-free, Qt-free: the registry, the
classical list and the model cards are plain data.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable

from .methods import CLASSICAL, GROUP_TITLES, missing_weights, split_method

log = logging.getLogger(__name__)

META_KEYS = ("split", "views", "units")  # entries of a card's metrics that are not levels


def model_cards() -> list[dict]:
    """Cards of the shipped models and of the user's own (``source``: ``shipped`` / ``user``);
    none where they cannot be read (a broken card must not break a picker)."""
    from .zoo import all_models

    try:
        return all_models()
    except (OSError, ValueError) as err:
        log.warning("could not read the model cards: %s", err)
        return []


def weights_refusal(method: str, cards: Iterable[dict]) -> str | None:
    """Why ``method`` cannot run with the weights there are (``None``: it can)."""
    missing = missing_weights(method, cards)
    if not missing:
        return None
    return (
        f"no trained weights for {', '.join(missing)} are shipped with this version; "
        f"train them with `w2s train --model {missing[0]}` or choose a classical method"
    )


def card_for(name: str, cards: list[dict], noise_level: str | None) -> dict | None:
    """The card whose weights run for ``noise_level`` (the logic of ``zoo.find_weights``);
    ``name`` may be a model's file stem (a user model)."""
    for c in cards:
        if c.get("source") == "user" and str(c.get("stem", "")).lower() == name.lower():
            return c
    mine = [c for c in cards if c.get("name") == name and c.get("source") != "user"]
    if noise_level:
        for c in mine:
            if c.get("noise_level") == noise_level:
                return c
    for c in mine:
        if c.get("noise_level") == "blind":
            return c
    if mine:
        return mine[0]
    users = [c for c in cards if c.get("name") == name]  # no shipped weights: the user's
    return users[-1] if users else None


def weights_label(card: dict) -> str:
    """``"jdsr-avg1-compact (per-level: avg1)"`` / ``"jdsr-blind-compact (noise-blind)"``."""
    stem = str(card.get("file", "")).split("/")[-1].removesuffix(".safetensors")
    level = card.get("noise_level", "?")
    kind = {"blind": "noise-blind", "clean": "for clean input"}.get(level, f"per-level: {level}")
    return f"{stem or card.get('name', '?')} ({kind})"


def metrics_table(metrics: dict) -> str:
    """Held-out metrics as a small HTML table: one column per noise level, rows RMSE and SSIM
    (``""`` without levels)."""
    levels = [k for k, v in metrics.items() if k not in META_KEYS and isinstance(v, dict)]
    if not levels:
        return ""
    cell = "style='padding: 0 6px; text-align: right'"
    head = "".join(f"<th {cell}>{html.escape(lv)}</th>" for lv in levels)
    rows = []
    for key, label, fmt in (("rmse", "RMSE", ".3f"), ("ssim", "SSIM", ".2f")):
        vals = [metrics[lv].get(key) for lv in levels]
        if all(v is None for v in vals):
            continue
        tds = "".join(
            f"<td {cell}>{format(v, fmt) if isinstance(v, (int, float)) else '–'}</td>"
            for v in vals
        )
        rows.append(f"<tr><td>{label}</td>{tds}</tr>")
    where = ", ".join(str(metrics[k]) for k in ("split", "units") if k in metrics)
    views = f", {metrics['views']} views" if "views" in metrics else ""
    return (
        f"held-out ({html.escape(where)}{views}):"
        f"<table cellspacing='0'><tr><th></th>{head}</tr>{''.join(rows)}</table>"
    )


def user_note(card: dict) -> str:
    """Where a user model is and what it was trained from (its card's training record)."""
    t = card.get("training") or {}
    init = (t.get("initialised_from") or {}).get("file")
    parts = [f"your model, {t.get('iterations', '?')} iterations"]
    parts.append(f"fine-tuned from {init}" if init else "trained from scratch")
    data = t.get("data")
    if data:
        parts.append(f"on {data}")
    return (
        f"<br><span style='color:#80c080'>{html.escape(', '.join(parts))}</span>"
        f"<br><small>{html.escape(str(card.get('file', '')))}</small>"
    )


def _classical_line(part: str) -> str:
    from .classical import DESCRIPTIONS

    scale = 2 if part == "bicubic" else 1
    return f"<b>{part}</b> (classical, x{scale}): {html.escape(DESCRIPTIONS[part])}"


def _deep_line(part: str, cards: list[dict], noise_level: str | None) -> str:
    from ..models import get_spec
    from ..normalisation import describe

    card = card_for(part, cards, noise_level)
    user = card is not None and card.get("source") == "user"
    spec = get_spec(card["name"] if user else part)
    scale = int(card.get("scale", 1)) if card else (1 if spec.task == "denoise" else 2)
    text = (
        f"<b>{part}</b>: {GROUP_TITLES.get(spec.task, spec.task)}, x{scale} "
        f"({spec.architecture}). {html.escape(spec.description)}"
    )
    if card is None:
        return text + (
            "<br><span style='color:#e0a030'>No trained weights shipped: train them with "
            f"<code>w2s train --model {part}</code>.</span>"
        )
    text += f"<br>weights: <b>{html.escape(weights_label(card))}</b>"
    if user:
        text += user_note(card)
    others = [
        c for c in cards if c.get("name") == part and c is not card and c.get("source") != "user"
    ]
    if others:
        text += " · also shipped: " + ", ".join(
            html.escape(str(c.get("noise_level"))) for c in others
        )
        if noise_level == "auto":
            text += " (chosen when you run, from the image's signal-to-noise ratio)"
    text += f"<br>normalisation: {html.escape(describe(card.get('normalisation')))}"
    table = metrics_table(card.get("metrics") or {})
    if table:
        text += "<br>" + table
    return text


def card_html(method: str, cards: list[dict], noise_level: str | None = None) -> str:
    """A readable card: what each part of ``method`` is, which weights run (for this noise
    level), how the image is normalised, and the measured held-out metrics."""
    return "<br>".join(
        _classical_line(part) if part in CLASSICAL else _deep_line(part, cards, noise_level)
        for part in split_method(method)
    )
