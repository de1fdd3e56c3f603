"""Restoration: device choice, tiled inference engine, classical denoisers, pipelines.

The public API is the restore job of :mod:`.files`::

    from napari_w2s.restore import RestoreOptions, restore_array, restore_file

    restore_file("noisy.tif", "restored.ome.tif", RestoreOptions(method="jdsr"))

Its names are loaded on first use: importing this package loads nothing heavy, torch least of
all (``python -X importtime -c "import napari_w2s.restore"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .files import (
        RestoreCancelled,
        RestoreOptions,
        RestoreResult,
        restore_array,
        restore_file,
    )

__all__ = ["RestoreCancelled", "RestoreOptions", "RestoreResult", "restore_array", "restore_file"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import files

        return getattr(files, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
