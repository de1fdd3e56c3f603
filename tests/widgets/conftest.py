"""Shared by the dock-widget tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_settings(tmp_path, monkeypatch):
    """Widgets save their settings here, never in the user's config folder."""
    monkeypatch.setenv("NAPARI_W2S_SETTINGS", str(tmp_path / "settings" / "widgets.json"))
