"""napari-w2s: Widefield2SIM restoration for napari, as a library, a plugin and the ``w2s`` command.

The package imports nothing heavy at import time (no torch, no Qt, no napari): the submodules
are imported where they are used.
"""

from __future__ import annotations

__version__ = "0.2.0"

from .errors import W2SInputError

__all__ = ["W2SInputError", "__version__"]
