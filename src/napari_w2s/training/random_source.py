"""Training pairs drawn from randomised simulator settings: ``w2s train --data random``.

A pool of views (:mod:`napari_w2s.simulate.randomised`: every camera, light level, optics and
sample of the ranges in ``docs/simulator.md``) is kept in memory; before every batch ``refresh``
views of the pool are replaced by freshly simulated ones, so over a run of N iterations about
N x ``refresh`` different views are seen and none is memorised. Patches are taken at any position
of a view. Each input image is normalised on its own (the whole view, as at inference) and its
target with the same map: the same code as for fixed data sets
(:func:`napari_w2s.training.data.augment`).

Held-out settings (the generalisation benchmark's test sets) are never drawn, except by a
*specialist* (``--data random:NAME``, e.g. ``random:camera``), which draws only from that test
set's own settings: the baseline a generalist is compared with. A specialist's views use other
seeds than the benchmark's views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import W2SInputError


@dataclass
class _Entry:
    inputs: dict[str, tuple[np.ndarray, object]]  # level -> (image in ADU, its affine)
    target: np.ndarray  # in ADU
    # per level: 1 / the target's range in that input's normalised units (--pixel-weights)
    weights: dict[str, float]


class RandomSource:
    """Patches from randomised views; the same ``batch(n)`` interface as ``PatchSampler``."""

    def __init__(
        self,
        task: str,
        levels: list[str] | None,
        patch: int = 48,
        seed: int = 0,
        size: int = 96,
        pool: int = 64,
        refresh: int = 1,
        norm: dict | None = None,
        shift: str | None = None,
        ranges: Any = None,
    ) -> None:
        from .. import normalisation
        from ..simulate.randomised import LEVELS

        if size < patch:
            raise W2SInputError(f"random views of {size} px are smaller than {patch}-px patches")
        self.task, self.patch, self.size = task, patch, size
        self.scale = 1 if task == "denoise" else 2
        all_levels = [f"avg{n}" for n in LEVELS]
        self.levels = ["clean"] if task == "sr" else (levels or all_levels)
        bad = [lv for lv in self.levels if lv != "clean" and lv not in all_levels]
        if bad:
            raise W2SInputError(
                f"no level {bad[0]} in random data (levels: {', '.join(all_levels)})"
            )
        self.pool_size, self.refresh = int(pool), int(refresh)
        self.shift = shift  # a held-out set's name: train a specialist on that set's settings
        from ..simulate.randomised import Ranges

        self.ranges = ranges if ranges is not None else Ranges()
        self.norm = normalisation.spec_of(norm)
        self.rng = np.random.default_rng(seed)
        self.pool: list[_Entry] = []
        # the last batch's pixel-loss weights, mean 1 (``--pixel-weights target-range``)
        self.last_weights: np.ndarray | None = None
        self.views_drawn = 0

    @property
    def n_patches(self) -> int:  # unbounded; what a data set of the pool's size would hold
        return self.pool_size * (self.size - self.patch + 1) ** 2

    def _new_entry(self) -> _Entry:
        from .. import normalisation
        from ..simulate.randomised import LEVELS, draw_settings, make_view, shifted_settings

        settings = (
            shifted_settings(self.shift, self.rng)
            if self.shift
            else draw_settings(self.rng, self.ranges)
        )
        seed = int(self.rng.integers(2**63))
        wanted = tuple(int(lv[3:]) for lv in self.levels if lv != "clean") or (1,)
        view = make_view(settings, self.size, seed, levels=tuple(n for n in LEVELS if n in wanted))
        self.views_drawn += 1
        inputs = (
            {"clean": view.clean}
            if self.task == "sr"
            else {lv: view.levels[lv] for lv in self.levels}
        )
        target = view.clean if self.task == "denoise" else view.sim
        fitted = {lv: (img, normalisation.fit(img, self.norm)) for lv, img in inputs.items()}
        ends = np.percentile(target, [self.norm.get("low", 1.0), self.norm.get("high", 99.8)])
        return _Entry(
            fitted, target, {lv: _inverse_range(ends, a) for lv, (_, a) in fitted.items()}
        )

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)``: (n, 1, p, p) normalised inputs and (n, 1, sp, sp) targets, float32."""
        from .data import augment

        while len(self.pool) < self.pool_size:
            self.pool.append(self._new_entry())
        for _ in range(self.refresh):
            self.pool[int(self.rng.integers(self.pool_size))] = self._new_entry()
        p, s, rng = self.patch, self.scale, self.rng
        x = np.empty((n, 1, p, p), np.float32)
        y = np.empty((n, 1, s * p, s * p), np.float32)
        w = np.empty(n, np.float32)
        for i in range(n):
            entry = self.pool[int(rng.integers(self.pool_size))]
            level = self.levels[int(rng.integers(len(self.levels)))]
            img, affine = entry.inputs[level]
            y0, x0 = (int(v) for v in rng.integers(0, self.size - p + 1, 2))
            a = img[y0 : y0 + p, x0 : x0 + p]
            b = entry.target[s * y0 : s * (y0 + p), s * x0 : s * (x0 + p)]
            x[i, 0], y[i, 0] = augment(a, b, rng, affine)
            w[i] = entry.weights[level]
        self.last_weights = w / w.mean()
        return x, y


def held_out_views(
    task: str,
    levels: list[str] | None,
    n: int = 12,
    size: int = 128,
    seed: int = 20261130,
    shift: str | None = None,
) -> list[dict]:
    """Evaluation views in ADU: ``{"inputs": {level: img}, "target": img, "clean": img}``.

    Without ``shift`` the settings are drawn from the training ranges with a seed no training run
    uses; with ``shift`` (a held-out set's name) from that set's own settings. A view without
    structure (possible below about 64 px: its SIM target is constant, nothing to score against)
    is drawn again; the views of larger sizes are the same as without that rule.
    """
    from ..simulate.randomised import (
        EVALUATION_RANGES,
        LEVELS,
        draw_settings,
        make_view,
        shifted_settings,
    )

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        for attempt in range(100):  # a small view can hold no structure: its SIM is constant
            settings = (
                shifted_settings(shift, rng) if shift else draw_settings(rng, EVALUATION_RANGES)
            )
            view = make_view(settings, size, (seed, i, attempt) if attempt else (seed, i))
            if task == "denoise" or float(np.ptp(view.sim)) > 0:
                break
        if task == "sr":
            inputs = {"clean": view.clean}
        else:
            inputs = {lv: view.levels[lv] for lv in (levels or [f"avg{k}" for k in LEVELS])}
        out.append(
            {
                "inputs": inputs,
                "target": view.clean if task == "denoise" else view.sim,
                "clean": view.clean,
                "settings": settings,
            }
        )
    return out


def _inverse_range(ends: np.ndarray, affine: Any) -> float:
    """1 / the target's percentile range (``ends``: its low and high percentiles in ADU, those
    of the normalisation) in the network's units of one input. The map is affine, so the
    percentiles are taken once per view, not once per level.

    A noisy input's own range is inflated by its noise, so its normalisation shrinks the target:
    an L1 error then counts less on dim, noisy views than the same error in the benchmark's
    units (the clean image's scale). Weighing each sample by this ratio undoes that (clipped to
    0.1-10, so that an empty scene cannot dominate a batch)."""
    lo, hi = affine.forward(np.asarray(ends, dtype=np.float64))
    return 1.0 / float(np.clip(abs(hi - lo), 0.1, 10.0))
