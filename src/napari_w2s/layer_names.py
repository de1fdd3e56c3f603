"""What a layer's name says, and which layer a user most likely wants to restore.

The names are those the reader, the sample data and the *Stack & noise levels* widget give:
``avg4`` (a W2S noise level), ``avg400 (clean)`` (the clean average), ``SIM (simulated)`` (the
SIM reference). Everything here takes plain names, or any object with ``name``, ``metadata``
and ``data`` (a napari layer or a stand-in): no napari or Qt import.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .averaging import W2S_LEVEL_NAMES

_AVG = re.compile(r"\bavg(\d+)\b")
_SIM = re.compile(r"\bsim\b", re.IGNORECASE)

AUTO = "auto"


def is_kernel(layer: Any) -> bool:
    """A blur-kernel estimate added by the Analysis widget (not an image to process)."""
    return "kernel" in (getattr(layer, "metadata", None) or {})


def is_sim_name(name: str) -> bool:
    """A SIM reference by its name (``SIM (simulated)``, ``sim``), not ``widefield (simulated)``."""
    return bool(_SIM.search(name))


def is_clean_name(name: str) -> bool:
    """A clean average by its name (``avg400 (clean)``, ``avg400``)."""
    return "clean" in name.lower() or "avg400" in name.lower()


def level_from_name(name: str) -> str | None:
    """``"avg4"`` from a layer name such as ``avg4`` or ``avg4 (test)``; ``None`` otherwise."""
    match = _AVG.search(name)
    return f"avg{match.group(1)}" if match else None


def noise_level_of(name: str, metadata: dict | None = None) -> str:
    """The W2S noise level of an image for the *auto* choice, or ``"auto"`` where neither its
    name nor its metadata says (the job then decides from the image's signal-to-noise ratio).

    The name wins (``avg4``, not ``avg400 (clean)``), then the level the Analysis widget
    estimated (``metadata["noise"]["level"]``).
    """
    level = level_from_name(name)
    if level in W2S_LEVEL_NAMES and "clean" not in name.lower():
        return level
    estimated = ((metadata or {}).get("noise") or {}).get("level")
    return estimated if estimated in W2S_LEVEL_NAMES else AUTO


MAP_KEYS = ("method", "trust", "reliability")  # metadata of results and of their maps


def _is_input(layer: Any) -> bool:
    """Not the result of a method nor one of its maps, not a clean or SIM reference."""
    return (
        not set(MAP_KEYS) & set(layer.metadata or {})
        and not is_sim_name(layer.name)
        and not is_clean_name(layer.name)
    )


def preferred_layer(layers: Sequence[Any], active: Any = None) -> Any:
    """The layer a user most likely wants to restore (``None`` for no layers).

    A noise level (``avgN`` but not the clean average: the lowest N first), then the active
    2-D input, then any 2-D input (not a result of a method, not a clean or SIM reference),
    then a stack (whose displayed frame the widget then preselects), else the first layer.
    """
    levels = []
    for ly in layers:
        level = level_from_name(ly.name)
        if level and "clean" not in ly.name.lower() and ly.data.ndim == 2 and _is_input(ly):
            levels.append((int(level[3:]), ly))
    if levels:
        return min(levels, key=lambda t: t[0])[1]
    flat = [ly for ly in layers if ly.data.ndim == 2 and _is_input(ly)]
    if active is not None and active in flat:
        return active
    if flat:
        return flat[0]
    stacks = [ly for ly in layers if ly.data.ndim > 2 and _is_input(ly)]
    return stacks[0] if stacks else (layers[0] if layers else None)
