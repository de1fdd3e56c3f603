"""The npe2 manifest: valid, and its menus are ones napari lets plugins add to."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "napari.yaml"


def test_manifest_validates():
    from npe2 import PluginManifest

    mf = PluginManifest.from_file(MANIFEST)
    mf.validate_imports()  # every python_name imports and exists
    commands = {c.id for c in mf.contributions.commands}
    assert "napari-w2s.restore_jdsr" in commands


@pytest.mark.skipif(shutil.which("npe2") is None, reason="the npe2 command is not on the PATH")
def test_npe2_validate_command():
    run = subprocess.run(["npe2", "validate", str(MANIFEST)], capture_output=True, text=True)
    assert run.returncode == 0 and "valid" in run.stdout, run.stdout + run.stderr


def test_menus_are_napari_menus_plugins_may_use():
    from npe2 import PluginManifest

    napari_menus = pytest.importorskip("napari._app_model.constants._menus")
    mf = PluginManifest.from_file(MANIFEST)
    menus = mf.contributions.menus
    own = {s.id for s in mf.contributions.submenus or ()}
    allowed = {str(m) for m in napari_menus.MenuId.contributables()}
    for menu_id in menus:
        assert menu_id in allowed or menu_id in own, menu_id
    placed = {
        getattr(item, "command", None) or item.submenu for items in menus.values() for item in items
    }
    widgets = {w.command for w in mf.contributions.widgets}
    assert widgets <= placed  # every widget is in a menu of the Layers menu
    assert {"napari-w2s.restore_jdsr", "napari-w2s.restoration"} <= placed
    assert [getattr(i, "submenu", None) for i in menus["napari/layers/filter"]] == [
        "napari-w2s.restoration"
    ]
