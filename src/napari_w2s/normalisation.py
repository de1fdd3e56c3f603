"""Per-image normalisation: the map between a user's units and a network's, the same in training
and in inference.

A network never sees ADU. Each image (a stack: once, over all its planes, so that the planes stay
comparable) is mapped to the network's units by an affine map fitted on its own statistics,

    x_net = (x - offset) / scale,          y = y_net * scale + offset,

and the restored image is mapped back with the same two numbers. With ``offset`` and ``scale``
taken from percentiles (CSBDeep's choice: the ``low`` percentile as offset, the ``high`` minus the
``low`` percentile as scale) the restoration is *equivariant*: restoring ``g * x + o`` gives
``g * restore(x) + o`` for any gain ``g > 0`` and offset ``o``, whatever camera made ``x``.

Failure cases, each with a defined result and a note (``Affine.note``):

* constant or empty image (every pixel equal): ``scale = 0``; a model step returns the constant
  at the output size, because there is nothing to restore;
* sparse image (the two percentiles coincide, e.g. a few bright beads on zero background): the
  scale falls back to ``max - low``;
* saturated image (more than 1 % of the pixels at the maximum value): restored as usual, with a
  note that saturated regions hold no information;
* negative or float input (background-subtracted data): nothing special, the map is affine.

Cards of models trained before 0.2 carry ``{"kind": "zscore", "mean": m, "std": s}``, a fixed
map; :func:`fit` honours it so those weights keep working, without the equivariance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT = {"kind": "percentile", "low": 1.0, "high": 99.8}
MAX_SAMPLES = 1 << 20  # pixels used for the percentiles of a large image or stack
SATURATED_FRACTION = 0.01


@dataclass(frozen=True)
class Affine:
    """``x_net = (x - offset) / scale``; ``scale == 0`` marks a constant image."""

    offset: float
    scale: float
    note: str = ""

    @property
    def constant(self) -> bool:
        return self.scale == 0.0

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.constant:
            return np.zeros_like(x, dtype=np.float32)
        return _chunked(x, lambda v: (v - self.offset) / self.scale)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        return _chunked(y, lambda v: v * self.scale + self.offset)

    def to_dict(self) -> dict:
        return {"offset": self.offset, "scale": self.scale, "note": self.note}


_CHUNK = 1 << 18  # elements computed in float64 at a time (2 MiB)


def _chunked(x: np.ndarray, fn: Any) -> np.ndarray:
    """``fn`` computed in float64, returned as float32, a block of rows at a time: the same
    numbers as on the whole array, without a float64 copy (or any copy) of a large image."""
    x = np.asarray(x)
    out = np.empty(x.shape, np.float32)
    if x.ndim < 2 or x.size <= _CHUNK:
        out[...] = fn(x.astype(np.float64))
        return out
    rows = max(1, _CHUNK // max(1, x.shape[-1]))
    for lead in np.ndindex(*x.shape[:-2]):
        for r in range(0, x.shape[-2], rows):
            block = (*lead, slice(r, r + rows))
            out[block] = fn(x[block].astype(np.float64))
    return out


def spec_of(card_normalisation: dict | None) -> dict:
    """The normalisation a card asks for (the per-image default when it says nothing)."""
    norm = dict(card_normalisation or DEFAULT)
    norm.setdefault("kind", "zscore" if "mean" in norm else "percentile")
    return norm


def _samples(data: Any) -> np.ndarray:
    """At most :data:`MAX_SAMPLES` pixels of an image or stack, spread evenly (deterministic).

    The same pixels are taken whatever the values, so the percentiles stay equivariant.
    """
    arr = data
    n = int(np.prod(arr.shape))
    if n <= MAX_SAMPLES:
        return np.asarray(arr, dtype=np.float64).ravel()
    if arr.ndim > 2:  # a stack: evenly spaced planes, each subsampled on a grid
        lead = int(np.prod(arr.shape[:-2]))
        flat = arr.reshape(lead, *arr.shape[-2:]) if hasattr(arr, "reshape") else arr
        per_plane = arr.shape[-2] * arr.shape[-1]
        n_planes = int(np.clip(MAX_SAMPLES // max(per_plane // 16, 1), 1, lead))
        idx = np.unique(np.linspace(0, lead - 1, n_planes).round().astype(int))
        parts = [_samples(np.asarray(flat[i])) for i in idx]
        return np.concatenate(parts)
    step = int(np.ceil(np.sqrt(n / MAX_SAMPLES)))
    return np.asarray(arr[::step, ::step], dtype=np.float64).ravel()


def fit(data: Any, card_normalisation: dict | None = None) -> Affine:
    """The affine map of ``data`` (an image or a stack) for a model with this card entry."""
    norm = spec_of(card_normalisation)
    if norm["kind"] == "zscore":
        return Affine(float(norm["mean"]), float(norm["std"]))  # fixed: said by describe()
    if norm["kind"] != "percentile":
        from .errors import W2SInputError

        raise W2SInputError(f"unknown normalisation kind {norm['kind']!r} in the model card")
    v = _samples(data)
    lo, hi = np.percentile(v, [float(norm["low"]), float(norm["high"])])
    vmin, vmax = float(v.min()), float(v.max())
    notes = []
    tol = 1e-6 * max(abs(vmin), abs(vmax), 1e-30)
    if vmax - vmin <= tol:
        return Affine(vmin, 0.0, "constant image: nothing to restore, the result is the constant")
    scale = float(hi - lo)
    if scale <= tol:
        scale = vmax - float(lo)
        notes.append(
            f"sparse image: the {norm['low']:g} and {norm['high']:g} percentiles "
            "coincide, scaled by the maximum instead"
        )
    at_max = float(np.mean(v >= vmax - tol))
    if at_max > SATURATED_FRACTION:
        notes.append(
            f"{100 * at_max:.1f} % of the pixels are at the maximum value {vmax:g}: "
            "saturated regions hold no information and are not restored"
        )
    return Affine(float(lo), scale, "; ".join(notes))


def describe(card_normalisation: dict | None) -> str:
    """One line for a method card: how the model maps the user's units to its own."""
    norm = spec_of(card_normalisation)
    if norm["kind"] == "zscore":
        return (
            f"fixed: (x - {float(norm['mean']):.4g}) / {float(norm['std']):.4g} "
            "(the training set's units; not camera-independent)"
        )
    return (
        f"per image: percentiles {norm['low']:g}-{norm['high']:g} of the image "
        "(of the whole stack for a stack); camera-independent"
    )
