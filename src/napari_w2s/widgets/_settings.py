"""The settings file that remembers the dock widgets' choices between sessions (no Qt)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("napari_w2s.widgets")

SETTINGS_ENV = "NAPARI_W2S_SETTINGS"


def settings_path() -> Path:
    """The JSON file of the widgets' settings (``$NAPARI_W2S_SETTINGS`` overrides it)."""
    env = os.environ.get(SETTINGS_ENV)
    if env:
        return Path(env)
    try:
        from platformdirs import user_config_dir

        base = Path(user_config_dir("napari-w2s", appauthor=False))
    except ImportError:  # pragma: no cover - platformdirs comes with napari
        base = Path.home() / ".config" / "napari-w2s"
    return base / "widgets.json"


def load_settings() -> dict:
    """All saved settings (none where the file is missing or unreadable)."""
    try:
        data = json.loads(settings_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def get_setting(key: str, default: Any = None) -> Any:
    """One saved setting, else ``default``."""
    return load_settings().get(key, default)


def set_settings(**values: Any) -> None:
    """Merge ``values`` into the settings file (silently skipped where it cannot be written)."""
    path = settings_path()
    data = load_settings()
    data.update(values)
    from ..errors import W2SInputError
    from ..io.atomic import write_text

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(data, indent=1, default=str))
    except (OSError, W2SInputError) as err:  # a read-only home must not break the widget
        log.warning("could not save napari-w2s settings to %s: %s", path, err)
