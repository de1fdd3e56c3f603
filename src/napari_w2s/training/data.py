"""Training pairs from a W2S data set (real or simulated), and the patch sampler.

Tasks (method facts sections 4-6):

=========  ==========================  =====================
task       input                       target
=========  ==========================  =====================
denoise    avgN (LR)                   avg{T}, the clean LR
sr         avg{T} (clean LR)           SIM (x2)
jdsr       avgN (noisy LR)             SIM (x2)
=========  ==========================  =====================

One model per noise level as in the paper (``levels=["avg1"]``), or noise-blind: every sample
draws its level from ``levels`` (the paper did not do this). Data come from the processed layout
(``{train,test}/avgN/NNN_C.npy``, already normalised the W2S way); a raw layout
(``ImageNNN/wf_channelC.npy``) is converted in memory with the same normalisation (global z-score
of the split's raw frames, SIM mapped affinely to its clean image).

Patches: 64 x 64 LR (128 x 128 HR) on a grid of stride 32, as in the paper; horizontal flip,
vertical flip and transpose, each with probability 0.5, applied identically to input and target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import W2SInputError
from ..io.w2s_layout import view_file

TASKS = ("denoise", "sr", "jdsr")


@dataclass
class PairSet:
    """Images in memory: ``inputs[level]`` is (V, H, W); ``target`` is (V, sH, sW)."""

    inputs: dict[str, np.ndarray]
    target: np.ndarray
    views: list[str]
    scale: int
    normalisation: dict

    def __post_init__(self) -> None:
        shapes = {a.shape for a in self.inputs.values()}
        if len(shapes) != 1:
            raise W2SInputError(f"noise levels of different shapes: {sorted(shapes)}")
        (shape,) = shapes
        if self.target.shape != (shape[0], shape[1] * self.scale, shape[2] * self.scale):
            raise W2SInputError(
                f"targets {self.target.shape} do not match inputs {shape} at scale {self.scale}"
            )


def _clean_name(names: list[str]) -> str:
    levels = [n for n in names if re.fullmatch(r"avg\d+", n)]
    return max(levels, key=lambda n: int(n[3:]))


def load_pairs(data: str | Path, split: str, task: str, levels: list[str] | None = None) -> PairSet:
    """Load the pairs of one split for a task.

    ``levels`` are input levels (``["avg1"]``, or several for noise-blind training); ``None``
    means every noisy level present (avg1 .. avg16). The ``sr`` task always uses the clean level.
    """
    from ..io.w2s_layout import detect_w2s_layout, processed_splits, read_processed_split

    if task not in TASKS:
        raise W2SInputError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    root = Path(data)
    layout = detect_w2s_layout(root)
    if processed_splits(root):  # a simulated data set may hold both layouts: prefer processed
        layout = "processed"
    if layout == "processed":
        splits = processed_splits(root)
        if split not in splits:
            raise W2SInputError(f"{root}: no {split!r} split (found {', '.join(splits)})")
        processed = read_processed_split(splits[split])
        arrays = {k: np.asarray(v.compute(), dtype=np.float32) for k, v in processed.levels.items()}
        views = processed.views
        norm = _read_normalisation(root)
    elif layout == "raw":
        arrays, views, norm = _pairs_from_raw(root, split)
    else:
        raise W2SInputError(
            f"{root}: not a W2S data set (need the processed layout train/ test/ or the raw "
            "layout ImageNNN/); make one with `w2s simulate DIR --processed`"
        )
    clean = _clean_name(list(arrays))
    noisy = sorted(
        (n for n in arrays if n.startswith("avg") and n != clean), key=lambda n: int(n[3:])
    )
    if task == "sr":
        chosen = [clean]
    else:
        chosen = levels or noisy
        missing = [lv for lv in chosen if lv not in arrays]
        if missing:
            raise W2SInputError(f"{root}: no level {missing[0]} (levels here: {', '.join(noisy)})")
    if task in ("sr", "jdsr") and "sim" not in arrays:
        raise W2SInputError(f"{root}: no SIM images, needed for task {task!r}")
    target = arrays[clean] if task == "denoise" else arrays["sim"]
    scale = 1 if task == "denoise" else 2
    return PairSet({lv: arrays[lv] for lv in chosen}, target, views, scale, norm)


def _read_normalisation(root: Path) -> dict:
    import json

    meta = root / "w2s_sim.json"
    if meta.exists():
        norm = json.loads(meta.read_text()).get("normalisation")
        if norm:
            return {"kind": "zscore", **norm}
    # the real W2S release: one global z-score of all raw frames (method facts section 1)
    return {"kind": "zscore", "mean": 154.535390853, "std": 66.02846351802853}


def _pairs_from_raw(root: Path, split: str) -> tuple[dict[str, np.ndarray], list[str], dict]:
    """Build the processed arrays of one split in memory from the raw layout."""
    import json

    from ..analysis.metrics import affine_fit, downsample_mean
    from ..averaging import noise_levels
    from ..io.stack import read_npy
    from ..io.w2s_layout import raw_views, view_channels

    views_all = raw_views(root)
    meta = root / "w2s_sim.json"
    if meta.exists():
        split_fovs = json.loads(meta.read_text())["split"][split]
        chosen = [v for v in views_all if int(v.name[5:]) in split_fovs]
    else:  # the real W2S split: FOV 1-80 train, 81-120 test
        chosen = [v for v in views_all if (int(v.name[5:]) <= 80) == (split == "train")]
    if not chosen:
        raise W2SInputError(f"{root}: no field of view in the {split!r} split")
    per_level: dict[str, list[np.ndarray]] = {}
    names, sums, count = [], np.zeros(2), 0
    for view in chosen:
        for c in view_channels(view):
            wf = read_npy(view_file(view, "wf", c))
            lv = noise_levels(wf)
            for name, img in lv.images.items():
                per_level.setdefault(name, []).append(img)
            sim = np.asarray(read_npy(view_file(view, "sim", c)))
            per_level.setdefault("sim", []).append(sim)
            names.append(f"{int(view.name[5:]):03d}_{c}")
            clean = lv[lv.clean].astype(np.float64)
            sums += (clean.sum(), (clean**2).sum())
            count += clean.size
    mean = sums[0] / count
    std = float(np.sqrt(sums[1] / count - mean**2))
    arrays = {k: np.stack(v).astype(np.float32) for k, v in per_level.items()}
    clean_name = _clean_name(list(arrays))
    for k in arrays:
        if k != "sim":
            arrays[k] = ((arrays[k] - mean) / std).astype(np.float32)
    for i in range(arrays["sim"].shape[0]):
        a, b = affine_fit(
            downsample_mean(arrays["sim"][i].astype(np.float64)), arrays[clean_name][i]
        )
        arrays["sim"][i] = a * arrays["sim"][i] + b
    return arrays, names, {"kind": "zscore", "mean": float(mean), "std": std}


class PatchSampler:
    """Random patches on the stride grid, with identical flips/transposes of input and target.

    Each input image is mapped to the network's units by its own per-image normalisation
    (:mod:`napari_w2s.normalisation`, fitted on the whole image as at inference) and its target
    by the same map, so the network learns in camera-independent units.
    """

    def __init__(
        self,
        pairs: PairSet,
        patch: int = 64,
        stride: int = 32,
        seed: int = 0,
        norm: dict | None = None,
    ) -> None:
        from .. import normalisation

        _, h, w = next(iter(pairs.inputs.values())).shape
        if h < patch or w < patch:
            raise W2SInputError(f"images of {h} x {w} are smaller than the {patch}-pixel patches")
        self.pairs, self.patch, self.scale = pairs, patch, pairs.scale
        self.levels = list(pairs.inputs)
        self.ys = np.arange(0, h - patch + 1, stride)
        self.xs = np.arange(0, w - patch + 1, stride)
        self.n_views = next(iter(pairs.inputs.values())).shape[0]
        self.rng = np.random.default_rng(seed)
        self.norm = normalisation.spec_of(norm)
        self.affines = {
            lv: [normalisation.fit(img, self.norm) for img in arr]
            for lv, arr in pairs.inputs.items()
        }

    @property
    def n_patches(self) -> int:
        return self.n_views * len(self.ys) * len(self.xs)

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)``: (n, 1, p, p) inputs and (n, 1, sp, sp) targets, float32."""
        p, s, rng = self.patch, self.scale, self.rng
        x = np.empty((n, 1, p, p), np.float32)
        y = np.empty((n, 1, s * p, s * p), np.float32)
        for i in range(n):
            v = rng.integers(self.n_views)
            level = self.levels[rng.integers(len(self.levels))]
            y0, x0 = self.ys[rng.integers(len(self.ys))], self.xs[rng.integers(len(self.xs))]
            a = self.pairs.inputs[level][v, y0 : y0 + p, x0 : x0 + p]
            b = self.pairs.target[v, s * y0 : s * (y0 + p), s * x0 : s * (x0 + p)]
            x[i, 0], y[i, 0] = augment(a, b, rng, self.affines[level][v])
        return x, y


def augment(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, affine
) -> tuple[np.ndarray, np.ndarray]:
    """Normalise an input patch and its target with the input image's map, then flip/transpose
    both alike (each with probability 0.5)."""
    a, b = affine.forward(a), affine.forward(b)
    if rng.random() < 0.5:
        a, b = a[:, ::-1], b[:, ::-1]
    if rng.random() < 0.5:
        a, b = a[::-1], b[::-1]
    if rng.random() < 0.5:
        a, b = a.T, b.T
    return a, b
