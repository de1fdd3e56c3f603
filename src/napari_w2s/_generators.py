"""Kept only for ``restore/engine.py`` (``Pipeline.run``), which imports ``drain`` from here:
:func:`napari_w2s.progress.drain` is the one ``drain``. Delete this module once that import
reads ``from ..progress import drain``."""

from .progress import drain

__all__ = ["drain"]
