"""The checks every image from a user goes through: numbers, dimensions, finite values."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import W2SInputError

# every restoration computes in float32 (max 3.4e38); larger values overflow, and values close
# to that limit overflow inside the methods (a bicubic overshoot, a variance): 1e30 leaves room
MAX_MAGNITUDE = 1e30


def checked_image(
    image: Any, what: str, ndim: int | None = None, dtype: Any = np.float64
) -> np.ndarray:
    """``image`` as an array of ``dtype``, or a :class:`W2SInputError` naming ``what``.

    Refuses non-numeric pixel types, a number of dimensions other than ``ndim`` (when given),
    NaN or infinite values and values beyond :data:`MAX_MAGNITUDE` (:func:`check_values`).
    """
    arr = np.asarray(image)
    if arr.dtype.kind not in "uifb":
        raise W2SInputError(f"{what}: pixel type {arr.dtype} is not a number type")
    if ndim is not None and arr.ndim != ndim:
        raise W2SInputError(f"{what} must be one {ndim}-D image, got shape {arr.shape}")
    check_values(arr, what)
    return arr.astype(dtype, copy=False)


def check_values(arr: np.ndarray, what: str) -> None:
    """A :class:`W2SInputError` for NaN or infinite values, and for values beyond
    :data:`MAX_MAGNITUDE` (the restorations compute in float32: a cast would turn them into
    infinities, with a RuntimeWarning and a wrong "infinite values" message, and values near the
    float32 limit overflow inside the methods). Checked before any cast."""
    if arr.dtype.kind != "f" or arr.size == 0:
        return  # integers, even 64-bit (at most 1.8e19), are well within the limit
    with np.errstate(all="ignore"):
        lo, hi = float(arr.min()), float(arr.max())  # NaN and infinities propagate
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise W2SInputError(f"{what} contains NaN or infinite values")
    peak = max(-lo, hi)
    if peak > MAX_MAGNITUDE:
        raise W2SInputError(
            f"{what} has values as large as {peak:.3g}; w2s computes in "
            f"float32 and takes values up to {MAX_MAGNITUDE:.0e}; rescale it "
            "first"
        )


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
