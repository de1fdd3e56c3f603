"""The one catalogue of restoration methods: what a method string names, and how they group.

A *method string* (``docs/cli.md``) is one part or several joined by ``+`` and run in order
(``dncnn+rcan``: denoise, then super-resolve). A part is

- a **deep** method: a name of the model registry (:mod:`napari_w2s.models.registry`, where
  each :class:`~napari_w2s.models.registry.ModelSpec` holds its task, architecture, paper and
  compact configurations and loss), run with shipped weights or with yours;
- a **classical** method (:data:`CLASSICAL`, :mod:`.classical`), which needs no weights;
- the file stem of one of **your models** (:mod:`.zoo`).

Everything that reads a method string goes through :func:`split_method`; the pickers' groups
come from :func:`method_groups`. Torch-free and Qt-free: the registry is plain data.
"""

from __future__ import annotations

from collections.abc import Iterable

#: the methods without weights, in the order the pickers show them
CLASSICAL: tuple[str, ...] = ("bicubic", "pure-let", "vst-nlm", "vst-bm3d", "vst-epll")

#: the pickers' group titles, in their order
GROUP_TITLES = {
    "denoise": "Denoise (deep)",
    "sr": "Super-resolution x2 (deep)",
    "jdsr": "Joint denoising + SR (JDSR)",
    "classical": "Classical",
    "sequences": "Sequences (denoise, then SR)",
    "user": "Your models (trained or fine-tuned)",
}


def split_method(method: str) -> list[str]:
    """The parts of a method string, stripped and in lower case (``"DnCNN + RCAN"`` ->
    ``["dncnn", "rcan"]``); empty parts are dropped."""
    return [p.strip().lower() for p in str(method).split("+") if p.strip()]


def is_classical(method: str) -> bool:
    """Every part of ``method`` is classical (no weights; the noise is estimated)."""
    parts = split_method(method)
    return bool(parts) and all(p in CLASSICAL for p in parts)


def deep_methods(task: str | None = None) -> list[str]:
    """The registry's method names (of one task: ``denoise``, ``sr`` or ``jdsr``)."""
    from ..models.registry import list_models

    return list_models(task)


def method_groups() -> dict[str, list[str]]:
    """Method strings by group, in the order the pickers show them (your models apart)."""
    denoisers, srs = deep_methods("denoise"), deep_methods("sr")
    sequences = [f"{d}+{s}" for d in denoisers[:1] for s in srs[:1]]  # dncnn+rcan
    sequences += [f"{d}+bicubic" for d in ("pure-let", "vst-nlm", "vst-epll")]
    sequences += [f"{d}+bicubic" for d in denoisers[:1]]
    return {
        "jdsr": deep_methods("jdsr"),
        "denoise": denoisers,
        "sr": srs,
        "classical": list(CLASSICAL),
        "sequences": sequences,
    }


def missing_weights(method: str, cards: Iterable[dict]) -> list[str]:
    """The parts of ``method`` that need weights and have none among ``cards`` (shipped or
    the user's; a part may be a user model's file stem)."""
    cards = list(cards)
    names = {c.get("name") for c in cards} | {str(c.get("stem", "")).lower() for c in cards}
    return [p for p in split_method(method) if p not in CLASSICAL and p not in names]
