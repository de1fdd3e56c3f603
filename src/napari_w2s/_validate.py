"""The checks every image from a user goes through: numbers, dimensions, finite values."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import W2SInputError


def checked_image(image: Any, what: str, ndim: int | None = None, dtype: Any = np.float64) -> np.ndarray:
    """``image`` as an array of ``dtype``, or a :class:`W2SInputError` naming ``what``.

    Refuses non-numeric pixel types, a number of dimensions other than ``ndim`` (when given)
    and NaN or infinite values.
    """
    arr = np.asarray(image)
    if arr.dtype.kind not in "uifb":
        raise W2SInputError(f"{what}: pixel type {arr.dtype} is not a number type")
    if ndim is not None and arr.ndim != ndim:
        raise W2SInputError(f"{what} must be one {ndim}-D image, got shape {arr.shape}")
    arr = arr.astype(dtype, copy=False)
    if not np.isfinite(arr).all():
        raise W2SInputError(f"{what} contains NaN or infinite values")
    return arr


def refuse_overwriting_inputs(outputs: Any, inputs: Any) -> None:
    """A :class:`W2SInputError` when an output path is one of the input files.

    The writers replace files atomically, so writing over an input would silently swap the raw
    data for the result. Paths are compared as files (``os.path.samefile``: symbolic links,
    ``..`` and hard links included); an output that does not exist yet cannot be an input.
    """
    import os
    from pathlib import Path

    for out in outputs:
        out = Path(out)
        if not out.exists():
            continue
        for src in inputs:
            if src is not None and Path(src).exists() and os.path.samefile(out, src):
                raise W2SInputError(
                    f"{out}: this output is the input file {src}; it would be written over "
                    "(choose another output name)"
                )
