"""Configuration names as text: ``compact``, ``full`` or one of them with settings changed
(``compact:num_blocks=4,num_feat=32``), parsed, written one way, and made file-name safe
(torch-free; :mod:`.registry` resolves them against a model's settings)."""

from __future__ import annotations

import re
from typing import Any

from ..errors import W2SInputError

__all__ = [
    "BAD_CONFIG",
    "KIND_NAMES",
    "config_label",
    "config_text",
    "normal_config",
    "parse_config",
]

BAD_CONFIG = (
    "unknown configuration {!r}: use 'compact' or 'full', optionally with settings changed "
    "(compact:num_blocks=4)"
)


def parse_config(config: str) -> tuple[str, dict[str, Any]]:
    """Split ``"compact"``, ``"full"`` or ``"compact:num_blocks=4,num_feat=32"`` into the base
    configuration's name and the changed settings (numbers and ``true`` / ``false``)."""
    base, _, rest = str(config).strip().partition(":")
    base = base.strip().lower()
    if base not in ("compact", "full"):
        raise W2SInputError(BAD_CONFIG.format(config))
    overrides: dict[str, Any] = {}
    for item in filter(None, (t.strip() for t in rest.split(","))):
        name, eq, text = item.partition("=")
        if not eq or not name.strip() or not text.strip():
            raise W2SInputError(
                f"configuration {config!r}: write changed settings as NAME=VALUE, "
                "e.g. compact:num_blocks=4"
            )
        overrides[name.strip()] = _setting_value(text.strip(), config)
    return base, overrides


KIND_NAMES = {bool: "true or false", int: "a whole number", float: "a number"}


def _setting_value(text: str, config: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if re.fullmatch(r"[0-9]+", text):
        return int(text)
    if re.fullmatch(r"[0-9]*\.?[0-9]+(e[-+]?[0-9]+)?", low):
        return float(text)
    raise W2SInputError(f"configuration {config!r}: {text!r} is not a number, true or false")


def _setting_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def normal_config(config: str) -> str:
    """``config`` written one way: the base in lower case, the changed settings sorted by name
    (``" Compact:num_feat=32, num_blocks=4"`` -> ``"compact:num_blocks=4,num_feat=32"``), so
    that a run resumes whatever way its configuration was typed."""
    return config_text(*parse_config(config))


def config_text(base: str, overrides: dict[str, Any]) -> str:
    """The one text form of ``base`` with ``overrides``: ``compact`` or
    ``compact:num_blocks=4,residual=false`` (settings sorted by name)."""
    items = ",".join(f"{k}={_setting_text(v)}" for k, v in sorted(overrides.items()))
    return f"{base}:{items}" if items else base


def config_label(config: str) -> str:
    """``config`` as it appears in a weights file name: ``compact``, ``full`` or, with changed
    settings, ``compact-num_blocks4`` (no ``:``, ``=`` or ``,``)."""
    base, overrides = parse_config(config)
    return "-".join([base, *(f"{k}{_setting_text(v)}" for k, v in sorted(overrides.items()))])
