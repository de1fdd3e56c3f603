"""Training data from images held in memory: one widefield stack (T, Y, X) and, optionally, its
SIM image (2Y, 2X), e.g. two napari layers. What ``w2s finetune`` and the Train widget use.

The W2S protocol is applied to the stack (:mod:`napari_w2s.averaging`): ``avg1`` is frame 249
(a random frame, seeded, when the stack has 249 frames or fewer), ``avgN`` the mean of the first
N frames (N = 2, 4, 8, 16, those below T), and the clean image the mean of all T frames. The SIM
image is matched to the clean image as in the W2S processing: the affine map (gain, offset) that
best maps its 2 x 2 block mean onto the clean image (:func:`~napari_w2s.analysis.metrics.
affine_fit` of :func:`~napari_w2s.analysis.metrics.downsample_mean`) is applied to it. Both
images must already be registered (same field of view, SIM exactly twice the size).

Each input image is normalised on its own (per-image percentiles, as at inference) and its target
with the same map (:func:`napari_w2s.training.data.augment`); patches are flipped and transposed.
A strip of rows at the bottom of the image (a quarter, at least one patch) is held back: no
training patch touches it, and the validation metric and the card's held-out metrics are measured
there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import W2SInputError

HOLD_BACK = 0.25
MAX_VAL_PATCHES = 16


@dataclass
class LayerData:
    """One field of view in the user's units: noisy levels, the clean average, the matched SIM."""

    inputs: dict[str, np.ndarray]  # "avgN" -> (Y, X)
    clean: np.ndarray  # (Y, X), the mean of all frames
    sim: np.ndarray | None  # (2Y, 2X), affinely matched to ``clean``
    name: str = "layers"
    frames: int = 0
    avg1_frame: int = 0
    sim_affine: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        return {
            "source": "images in memory (layers)",
            "name": self.name,
            "frames": self.frames,
            "levels": list(self.inputs),
            "avg1_frame": self.avg1_frame,
            "sim": self.sim is not None,
            "sim_affine": list(self.sim_affine) if self.sim_affine else None,
            "hold_back": f"bottom {HOLD_BACK:.0%} of the rows (at least one patch)",
        }

    def sampler(
        self, task: str, levels: list[str] | None, patch: int, seed: int, norm: dict | None = None
    ) -> LayerSource:
        return LayerSource(self, task, levels, patch=patch, seed=seed, norm=norm)


def from_stack(stack: Any, sim: Any = None, seed: int = 0, name: str = "layers") -> LayerData:
    """:class:`LayerData` from a widefield stack (T, Y, X) and an optional SIM image (2Y, 2X)."""
    from ..analysis.metrics import affine_fit, downsample_mean
    from ..averaging import W2S_AVG1_FRAME, W2S_LEVELS, noise_levels

    arr = np.asarray(stack)
    while arr.ndim > 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3 or arr.shape[0] < 2:
        raise W2SInputError(
            f"{name}: training needs a widefield stack of frames (T, Y, X), not "
            f"an image of shape {tuple(np.shape(stack))}"
        )
    t, h, w = arr.shape
    if not np.isfinite(arr[:: max(1, t // 8)]).all():
        raise W2SInputError(f"{name}: the stack holds NaN or infinite values")
    levels = [n for n in W2S_LEVELS if n < t]
    avg1 = W2S_AVG1_FRAME if t > W2S_AVG1_FRAME else int(np.random.default_rng(seed).integers(t))
    lv = noise_levels(arr, levels=levels, avg1_frame=avg1)
    clean = np.asarray(lv[lv.clean], dtype=np.float32)
    inputs = {k: np.asarray(v, dtype=np.float32) for k, v in lv.images.items() if k != lv.clean}
    notes = []
    if t <= W2S_AVG1_FRAME:
        notes.append(f"the stack has {t} frames: avg1 is the random frame {avg1}")
    matched, affine = None, None
    if sim is not None:
        s = np.asarray(sim, dtype=np.float64)
        while s.ndim > 2 and s.shape[0] == 1:
            s = s[0]
        if s.shape != (2 * h, 2 * w):
            raise W2SInputError(
                f"the SIM image is {' x '.join(map(str, s.shape))} but the stack's "
                f"frames are {h} x {w}: the SIM must be exactly {2 * h} x {2 * w} "
                "(twice the size, registered to the stack)"
            )
        if not np.isfinite(s).all():
            raise W2SInputError("the SIM image holds NaN or infinite values")
        a, b = affine_fit(downsample_mean(s), clean)
        if not a > 0:
            raise W2SInputError(
                f"the SIM image does not match the stack (gain {a:.3g} <= 0 "
                "against the clean average): another field of view, or not "
                "registered"
            )
        matched, affine = (a * s + b).astype(np.float32), (a, b)
    return LayerData(inputs, clean, matched, name, t, avg1, affine, notes)


class LayerSource:
    """Patches of one :class:`LayerData` for ``task``: the ``batch(n)`` interface of
    :class:`~napari_w2s.training.data.PatchSampler`, plus a fixed validation batch and evaluation
    views from the held-back rows."""

    def __init__(
        self,
        data: LayerData,
        task: str,
        levels: list[str] | None,
        patch: int = 48,
        seed: int = 0,
        norm: dict | None = None,
    ) -> None:
        from .. import normalisation
        from .data import PairSet

        if task in ("sr", "jdsr") and data.sim is None:
            raise W2SInputError(
                f"task {task!r} learns to produce SIM: give a SIM image, or "
                "fine-tune without one (self-supervised)"
            )
        self.data, self.task, self.patch = data, task, int(patch)
        self.scale = 1 if task == "denoise" else 2
        if task == "sr":
            inputs = {"clean": data.clean}
        else:
            wanted = levels or list(data.inputs)
            missing = [lv for lv in wanted if lv not in data.inputs]
            if missing:
                raise W2SInputError(
                    f"{data.name}: no level {missing[0]} from {data.frames} frames "
                    f"(levels: {', '.join(data.inputs)})"
                )
            inputs = {lv: data.inputs[lv] for lv in wanted}
        self.levels = list(inputs)
        self.target = data.clean if task == "denoise" else data.sim
        h, w = data.clean.shape
        p = self.patch
        val_rows = max(p, int(round(HOLD_BACK * h)))
        self.train_rows = h - val_rows
        if self.train_rows < p or w < p:
            raise W2SInputError(
                f"{data.name}: frames of {h} x {w} are too small for {p}-pixel "
                f"patches with a held-back strip (need at least {2 * p} x {p})"
            )
        self.norm = normalisation.spec_of(norm)
        self.inputs = inputs
        self.affines = {lv: normalisation.fit(img, self.norm) for lv, img in inputs.items()}
        self.rng = np.random.default_rng(seed)
        self.pairs = PairSet(
            {lv: img[None] for lv, img in inputs.items()},
            self.target[None],
            [data.name],
            self.scale,
            self.norm,
        )
        self.views_drawn = 1

    @property
    def n_patches(self) -> int:
        return (self.train_rows - self.patch + 1) * (self.data.clean.shape[1] - self.patch + 1)

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)``: (n, 1, p, p) normalised inputs and (n, 1, sp, sp) targets, float32."""
        from .data import augment

        p, s, rng = self.patch, self.scale, self.rng
        w = self.data.clean.shape[1]
        x = np.empty((n, 1, p, p), np.float32)
        y = np.empty((n, 1, s * p, s * p), np.float32)
        for i in range(n):
            level = self.levels[int(rng.integers(len(self.levels)))]
            y0 = int(rng.integers(0, self.train_rows - p + 1))
            x0 = int(rng.integers(0, w - p + 1))
            a = self.inputs[level][y0 : y0 + p, x0 : x0 + p]
            b = self.target[s * y0 : s * (y0 + p), s * x0 : s * (x0 + p)]
            x[i, 0], y[i, 0] = augment(a, b, rng, self.affines[level])
        return x, y

    def validation_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """Fixed patches of the held-back rows (every level in turn), normalised, not flipped."""
        p, s = self.patch, self.scale
        h, w = self.data.clean.shape
        spots = [
            (y0, x0) for y0 in range(self.train_rows, h - p + 1, p) for x0 in range(0, w - p + 1, p)
        ]
        spots = spots[:: max(1, len(spots) // MAX_VAL_PATCHES)][:MAX_VAL_PATCHES]
        xs, ys = [], []
        for i, (y0, x0) in enumerate(spots):
            level = self.levels[i % len(self.levels)]
            aff = self.affines[level]
            xs.append(aff.forward(self.inputs[level][y0 : y0 + p, x0 : x0 + p]))
            ys.append(aff.forward(self.target[s * y0 : s * (y0 + p), s * x0 : s * (x0 + p)]))
        return np.stack(xs)[:, None], np.stack(ys)[:, None]

    def eval_views(self) -> list[dict]:
        """The held-back strip as one evaluation view (the trainer's ``evaluate``)."""
        r, s = self.train_rows, self.scale
        return [
            {
                "inputs": {lv: img[r:] for lv, img in self.inputs.items()},
                "target": self.target[s * r :],
                "clean": self.data.clean[r:],
            }
        ]
