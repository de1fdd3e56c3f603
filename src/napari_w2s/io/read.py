"""The one entry point for reading an image or stack: :func:`read_stack` knows files (TIFF /
OME-TIFF / ImageJ TIFF, NumPy ``.npy``: :mod:`.stack`, :mod:`.tiff`) and W2S raw field-of-view
folders (``ImageNNN/wf_channelC.npy``: :mod:`.w2s_layout`). It sits above both, so that neither
imports the other's reader."""

from __future__ import annotations

from pathlib import Path

from ..errors import W2SInputError
from .stack import NPY_SUFFIXES, TIFF_SUFFIXES, Stack, canonical_axes, read_npy
from .w2s_layout import detect_w2s_layout, read_w2s_view_stack


def is_readable_path(path: str | Path) -> bool:
    """Whether :func:`read_stack` or the W2S readers know this kind of path (no I/O beyond stat)."""
    p = Path(path)
    if p.is_dir():
        return detect_w2s_layout(p) is not None
    return p.suffix.lower() in TIFF_SUFFIXES + NPY_SUFFIXES


def read_stack(path: str | Path, axes: str | None = None, channel: int = 0) -> Stack:
    """Read a stack from a TIFF, OME-TIFF, ``.npy`` file or a W2S field-of-view folder.

    Parameters
    ----------
    path : str or Path
        The file, or a W2S raw folder ``ImageNNN`` (its ``wf_channel{channel}.npy`` is read).
    axes : str, optional
        The axes of the file's array, e.g. ``"TYX"`` or ``"CTYX"``, when detection would be
        wrong. Letters: ``T`` frames, ``C`` channels, ``Y``, ``X``.
    channel : int
        Which channel of a W2S field-of-view folder to read.

    Returns
    -------
    Stack
        Lazy where possible (memory-mapped or dask).

    Raises
    ------
    W2SInputError
        Missing, empty, corrupt or unsupported files, RGB images, unknown axes.
    """
    p = Path(path)
    if not p.exists():
        raise W2SInputError(f"{p}: no such file or folder")
    if p.is_dir():
        return read_w2s_view_stack(p, channel=channel, axes=axes)
    if p.stat().st_size == 0:
        raise W2SInputError(f"{p}: the file is empty")
    suffix = p.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        from .tiff import read_tiff

        data, file_axes, pixel_size, meta = read_tiff(p)
    elif suffix in NPY_SUFFIXES:
        data, file_axes, pixel_size, meta = read_npy(p), None, None, {}
    else:
        raise W2SInputError(
            f"{p}: unsupported file type {p.suffix!r} (use .tif, .tiff, .ome.tif or .npy)"
        )
    data, canon = canonical_axes(data, axes or file_axes, where=str(p))
    return Stack(data=data, axes=canon, pixel_size=pixel_size, source=str(p), metadata=meta)
