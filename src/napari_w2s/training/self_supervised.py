"""Self-supervised fine-tuning of a JDSR model from a widefield stack alone (no SIM image).

A JDSR model (``jdsr``, ``jdsr-rcan``, ``care``) maps a noisy widefield image to a SIM-like image
twice its size. Without a SIM the stack still says two things about the right answer:

1. **Disjoint frames** (Noise2Noise): the frames are split into two halves, even and odd
   (:func:`split_frames`; interleaved, so both halves see the same bleaching and drift). The
   input of a sample is the average of ``N`` consecutive frames of one half (``N`` from the W2S
   levels 1, 2, 4, 8, 16); its targets come from the *other* half only, so the input's noise
   never appears in them.
2. **Forward consistency**: the x2 output ``R``, blurred with the model's kernel ``k`` and
   averaged over 2 x 2 blocks (``bin2(k * R)``, :func:`napari_w2s.analysis.consistency.forward`),
   must match the other half's average on the input grid. ``k`` is the one-parameter optics
   kernel of :func:`~napari_w2s.analysis.consistency.fit_kernel`, fitted to the base model's own
   output on that average; the average takes the kernel's path, ``bin2(upsample2(.))``, and the
   gain, offset and smooth haze that separate a SIM-like image from the widefield are measured
   once on the base model's output (what :func:`~napari_w2s.analysis.consistency.check` fits)
   and taken out of the target (:func:`forward_target`).
3. **Staying close to the base model where the data say nothing** (the *anchor*): the output
   must stay close to the frozen base model's output on the other half's average (a teacher
   that sees the same field with the input's noise averaged away). The forward model cannot see
   the high frequencies ``R - k * R``: there the anchor is all that holds the output. It acts on
   the whole band, not only on those frequencies: the one-parameter forward model leaves a
   residual even for the true SIM image (kernel and haze model), which an anchor on the high
   frequencies alone lets the network fit at the others' expense (measured in docs/training.md).

Both losses are mean squared errors in the network's units: the input's per-image percentile map
(:mod:`napari_w2s.normalisation`; one map per half and level, fitted on the average of that
level's first frames), applied to the targets too. ``loss = FORWARD_WEIGHT * forward +
ANCHOR_WEIGHT * anchor``. The forward term uses MSE because its target is noisy: the expected
value of an independent average is the clean image, so the MSE minimiser is unbiased
(Noise2Noise). Pixels within reach of the kernel at a patch's border are not scored.

The training loop is :mod:`napari_w2s.training.self_supervised_run`; this module holds the
method: the frame split, the targets, the patch source and the loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import W2SInputError

SUPERVISION = "self-supervised (disjoint frames + forward consistency)"
FORWARD_WEIGHT = 1.0
ANCHOR_WEIGHT = 1.0
KERNEL_ENERGY = 0.95  # the kernel is cropped to the square holding this share of its |sum|
HAZE_PX = 8.0  # LR pixels: the smooth haze in the widefield image and not in SIM
HOLD_BACK = 0.25
MAX_VAL_PATCHES = 16


def split_frames(t: int) -> tuple[np.ndarray, np.ndarray]:
    """The two disjoint halves of ``t`` frames: even and odd frame numbers."""
    if t < 2:
        raise W2SInputError(f"self-supervised fine-tuning needs at least 2 frames, not {t}")
    idx = np.arange(t)
    return idx[0::2], idx[1::2]


def draw_frames(half: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` consecutive frames of one half (a random start): an avgN input."""
    start = int(rng.integers(0, len(half) - n + 1))
    return half[start : start + n]


def model_kernel(kernel: np.ndarray, energy: float = KERNEL_ENERGY) -> np.ndarray:
    """The optics kernel as the loss uses it: odd-sized (the 36 x 36 kernels of
    :mod:`napari_w2s.simulate.optics` have their centre at index 18: the first row and column
    are dropped), averaged over the flips and the transpose (the SIM transfer's pattern
    orientations make it 0.5 % anisotropic; symmetric, it commutes with the patches' flips and
    transposes), cropped to the smallest centred square holding ``energy`` of its absolute sum
    and normalised to sum 1."""
    k = np.asarray(kernel, dtype=np.float64)
    if k.shape[0] % 2 == 0:
        k = k[1:, 1:]
    k = (k + k[::-1] + k[:, ::-1] + k[::-1, ::-1]) / 4
    k = (k + k.T) / 2
    c, total = k.shape[0] // 2, np.abs(k).sum()
    r = next(
        r
        for r in range(c + 1)
        if np.abs(k[c - r : c + r + 1, c - r : c + r + 1]).sum() >= energy * total
    )
    k = k[c - r : c + r + 1, c - r : c + r + 1]
    return (k / k.sum()).astype(np.float32)


def smooth_haze(residual: np.ndarray, sigma: float = HAZE_PX) -> np.ndarray:
    """The smooth part of a residual (a Gaussian, twiced: as in the consistency check)."""
    from scipy.ndimage import gaussian_filter

    smooth = gaussian_filter(residual, sigma, mode="reflect")
    return smooth + gaussian_filter(residual - smooth, sigma, mode="reflect")


def forward_target(
    teacher: np.ndarray, average: np.ndarray, kernel: np.ndarray
) -> tuple[np.ndarray, dict]:
    """What ``bin2(k * R)`` of a right output ``R`` equals, from an independent ``average``.

    ``bin2(upsample2(average)) = g * bin2(k * R) + o + haze``, with ``g``, ``o`` and the haze
    measured on the base model's output ``teacher`` (``R`` of the base model): the target is
    ``(bin2(upsample2(average)) - o - haze) / g``. Returns it and ``{"gain", "offset"}``.
    """
    from ..analysis.consistency import _same_path, forward
    from ..analysis.metrics import affine_fit

    f = forward(teacher, 2, kernel)
    xt = _same_path(np.asarray(average, dtype=np.float64), 2)
    g, o = affine_fit(f, xt)
    if not g > 0:
        raise W2SInputError(
            f"the base model's output does not match the stack (gain {g:.3g} "
            "<= 0 through the forward model): is it a widefield stack?"
        )
    haze = smooth_haze(xt - (g * f + o))
    return ((xt - o - haze) / g).astype(np.float32), {"gain": float(g), "offset": float(o)}


@dataclass
class StackTargets:
    """A stack with its self-supervised targets, in the user's units."""

    stack: np.ndarray  # (T, Y, X), the user's array (any real dtype; never copied)
    halves: tuple[np.ndarray, np.ndarray]
    levels: list[int]
    targets: list[np.ndarray]  # per half of the input: bin2(k * R) target from the other half
    teachers: list[np.ndarray]  # per half of the input: the base model on the other half (2Y, 2X)
    kernel: np.ndarray  # odd, symmetric, sum 1 (HR pixels)
    cutoff: float  # cycles per HR pixel of the fitted optics kernel
    calibration: list[dict]
    maps: dict  # (half, N) -> normalisation.Affine
    name: str = "layers"
    notes: list[str] = field(default_factory=list)

    @property
    def margin(self) -> int:
        """LR pixels at a patch's border within reach of the kernel (not scored)."""
        return (self.kernel.shape[0] // 2 + 1) // 2

    def describe(self) -> dict:
        t = self.stack.shape[0]
        return {
            "source": "a widefield stack in memory, no SIM",
            "name": self.name,
            "frames": t,
            "split": "even / odd frames",
            "levels": [f"avg{n}" for n in self.levels],
            "target": f"average of the other half's {t // 2} frames",
            "anchor": "the base model's output on the other half's average",
            "kernel": {
                "source": "the optics kernel fitted to the base model's output "
                "(napari_w2s.analysis.consistency.fit_kernel)",
                "cutoff_cycles_per_hr_px": self.cutoff,
                "size": int(self.kernel.shape[0]),
            },
            "calibration": self.calibration,
            "margin_lr_px": self.margin,
            "hold_back": f"bottom {HOLD_BACK:.0%} of the rows (at least one patch)",
            "notes": list(self.notes),
        }


def as_stack(stack: Any, name: str = "layers") -> np.ndarray:
    """``stack`` as a (T, Y, X) array of at least 2 frames of real numbers (else one clear
    line); not copied (a stack of a few GB stays as it is)."""
    arr = np.asarray(stack)
    while arr.ndim > 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3 or arr.shape[0] < 2:
        raise W2SInputError(
            f"{name}: self-supervised fine-tuning needs a widefield stack of "
            f"frames (T, Y, X), not an image of shape {tuple(np.shape(stack))}"
        )
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise W2SInputError(f"{name}: a stack of {arr.dtype} values, not numbers")
    return arr


def frame_mean(stack: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """The mean of ``frames`` of ``stack`` (float64), one frame at a time (no copy of them)."""
    acc = np.zeros(stack.shape[1:], np.float64)
    for i in frames:
        acc += stack[i]
    return acc / len(frames)


def prepare(
    stack: Any, teacher: Any, levels: list[int] | None = None, name: str = "layers"
) -> StackTargets:
    """Targets of a stack; ``teacher(image) -> x2 image`` is the frozen base model (the user's
    units in and out, e.g. :meth:`napari_w2s.restore.engine.Pipeline.run`)."""
    from .. import normalisation
    from ..analysis.consistency import fit_kernel
    from ..averaging import W2S_LEVELS

    arr = as_stack(stack, name)
    t, h, w = arr.shape
    halves = split_frames(t)
    usable = [n for n in W2S_LEVELS if n <= len(halves[1])]
    wanted = list(levels) if levels else usable
    if any(n not in usable for n in wanted):
        raise W2SInputError(
            f"{name}: no level avg{max(wanted)} from {t} frames (each half "
            f"holds {len(halves[1])}: levels {', '.join(f'avg{n}' for n in usable)})"
        )
    notes = []
    if t < 32:
        notes.append(f"only {t} frames: the targets average {len(halves[1])} frames, noisy")
    averages = [frame_mean(arr, half) for half in halves]
    if not all(np.isfinite(a).all() for a in averages):  # every frame is in one of them
        raise W2SInputError(f"{name}: the stack holds NaN or infinite values")
    outputs = [np.asarray(teacher(a.astype(np.float32)), dtype=np.float64) for a in averages]
    if outputs[0].shape != (2 * h, 2 * w):
        raise W2SInputError(
            f"the base model gives {outputs[0].shape}, not twice the frames "
            f"({2 * h} x {2 * w}): self-supervised fine-tuning is for x2 models"
        )
    k36, cutoff = fit_kernel(outputs[0], averages[0])
    kernel = model_kernel(k36)
    targets, calibration = [], []
    for side in (0, 1):  # the input from half `side`, everything else from the other half
        other = 1 - side
        target, cal = forward_target(outputs[other], averages[other], kernel)
        targets.append(target)
        calibration.append(cal)
    maps = {}
    for side, half in enumerate(halves):
        for n in wanted:
            aff = normalisation.fit(frame_mean(arr, half[:n]), normalisation.DEFAULT)
            if aff.constant:
                raise W2SInputError(f"{name}: the frames are constant: nothing to learn from")
            maps[(side, n)] = aff
    return StackTargets(
        arr,
        halves,
        wanted,
        targets,
        [o.astype(np.float32) for o in outputs[::-1]],
        kernel,
        float(cutoff),
        calibration,
        maps,
        name,
        notes,
    )


def _flip(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The same random flips and transpose (each with probability 0.5) for every array."""
    if rng.random() < 0.5:
        arrays = [a[:, ::-1] for a in arrays]
    if rng.random() < 0.5:
        arrays = [a[::-1] for a in arrays]
    if rng.random() < 0.5:
        arrays = [a.T for a in arrays]
    return arrays


class PatchSource:
    """Patches ``(x, forward target, teacher)`` in the network's units, away from the held-back
    rows at the bottom (a quarter, at least one patch): the validation patches' place."""

    def __init__(self, data: StackTargets, patch: int = 48, seed: int = 0) -> None:
        h, w = data.stack.shape[1:]
        self.data, self.patch = data, int(patch)
        self.train_rows = h - max(self.patch, round(HOLD_BACK * h))
        if self.train_rows < self.patch or w < self.patch:
            raise W2SInputError(
                f"{data.name}: frames of {h} x {w} are too small for {patch}-pixel "
                f"patches with a held-back strip (need at least {2 * patch} x {patch})"
            )
        if self.patch <= 2 * data.margin + 2:
            raise W2SInputError(
                f"{patch}-pixel patches are too small for the kernel: "
                f"use at least {2 * data.margin + 4}"
            )
        self.rng = np.random.default_rng(seed)

    def sample(self, side: int, n: int, frames: np.ndarray, y0: int, x0: int) -> list[np.ndarray]:
        d, p = self.data, self.patch
        aff = d.maps[(side, n)]
        x = d.stack[frames, y0 : y0 + p, x0 : x0 + p].mean(0)
        f = d.targets[side][y0 : y0 + p, x0 : x0 + p]
        a = d.teachers[side][2 * y0 : 2 * (y0 + p), 2 * x0 : 2 * (x0 + p)]
        return [aff.forward(x), aff.forward(f), aff.forward(a)]

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n, 1, p, p) inputs, (n, 1, p, p) forward targets, (n, 1, 2p, 2p) teachers."""
        d, p, rng = self.data, self.patch, self.rng
        w = d.stack.shape[2]
        out = [
            np.empty((n, 1, p, p), np.float32),
            np.empty((n, 1, p, p), np.float32),
            np.empty((n, 1, 2 * p, 2 * p), np.float32),
        ]
        for i in range(n):
            side = int(rng.integers(2))
            level = d.levels[int(rng.integers(len(d.levels)))]
            frames = draw_frames(d.halves[side], level, rng)
            y0 = int(rng.integers(0, self.train_rows - p + 1))
            x0 = int(rng.integers(0, w - p + 1))
            for arr, v in zip(out, _flip(self.sample(side, level, frames, y0, x0), rng)):
                arr[i, 0] = v
        return out[0], out[1], out[2]

    def validation_batch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """Fixed patches of the held-back rows (the levels in turn, the first frames of the even
        half), not flipped, and the level of each."""
        d, p = self.data, self.patch
        h, w = d.stack.shape[1:]
        spots = [
            (y0, x0) for y0 in range(self.train_rows, h - p + 1, p) for x0 in range(0, w - p + 1, p)
        ]
        spots = spots[:: max(1, len(spots) // MAX_VAL_PATCHES)][:MAX_VAL_PATCHES]
        while len(spots) < len(d.levels):  # every level at least once
            spots = spots + spots
        rows, names = [], []
        for i, (y0, x0) in enumerate(spots):
            n = d.levels[i % len(d.levels)]
            rows.append(self.sample(0, n, d.halves[0][:n], y0, x0))
            names.append(f"avg{n}")
        x, f, a = (np.stack([r[j] for r in rows])[:, None] for j in range(3))
        return x, f, a, names


def forward_operator(hr: Any, kernel: Any) -> tuple[Any, Any]:
    """``(k * R, bin2(k * R))`` of a batch ``hr`` (B, 1, 2p, 2p): torch, differentiable; the
    same numbers as :func:`napari_w2s.analysis.consistency.forward` (reflected borders)."""
    import torch.nn.functional as F

    r = kernel.shape[-1] // 2
    blurred = F.conv2d(F.pad(hr, (r, r, r, r), mode="reflect"), kernel)
    return blurred, F.avg_pool2d(blurred, 2)


def loss_terms(pred: Any, target: Any, teacher: Any, kernel: Any, margin: int) -> dict:
    """Mean squared forward and anchor errors, away from the patches' borders (torch)."""
    _, fwd = forward_operator(pred, kernel)
    m = int(margin)
    lr = (slice(None), slice(None), slice(m, fwd.shape[-2] - m), slice(m, fwd.shape[-1] - m))
    hr = (
        slice(None),
        slice(None),
        slice(2 * m, pred.shape[-2] - 2 * m),
        slice(2 * m, pred.shape[-1] - 2 * m),
    )
    forward = ((fwd - target)[lr] ** 2).mean()
    anchor = ((pred - teacher)[hr] ** 2).mean()
    return {"forward": forward, "anchor": anchor}


def total_loss(terms: dict) -> Any:
    return FORWARD_WEIGHT * terms["forward"] + ANCHOR_WEIGHT * terms["anchor"]
