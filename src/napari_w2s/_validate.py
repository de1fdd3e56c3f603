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
