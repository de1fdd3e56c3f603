"""The methods of the benchmark: checked up front, resolved once per noise level, run in the data
set's raw units on its normalised images, and scored."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import W2SInputError


class Runner:
    """Resolves methods once per noise level, runs them on normalised images.

    A learned method run on a noisy level takes the model trained for that level where one is
    shipped, else the noise-blind one (as the paper benchmarks its per-level models); weights
    given by the user replace both. ``used`` records which weights files served each method.
    """

    def __init__(self, device: str, weights: Mapping[str, str] | None = None) -> None:
        self.mean, self.std = 0.0, 1.0  # the data set's normalisation: set_normalisation
        self.device = device
        self.weights = dict(weights or {})
        self.pipelines: dict[tuple[str, str | None], object] = {}
        self.failed: dict[str, str] = {}  # methods that cannot run at all (no weights)
        self.errors: dict[str, list[str]] = {}  # per-image failures
        self.succeeded: dict[str, int] = {}  # images each method restored
        self.used: dict[str, set[str]] = {}

    def set_normalisation(self, norm: dict) -> None:
        self.mean, self.std = float(norm["mean"]), float(norm["std"])

    def get(self, method: str, level: str | None = None):
        if method in self.failed:
            return None
        if (method, level) not in self.pipelines:
            from ..restore.engine import ModelStep, resolve

            try:
                pipe = resolve(
                    method,
                    device=self.device,
                    tile=0,
                    weights=self.weights.get(method),
                    noise_level=level,
                )
            except W2SInputError as err:
                self.failed[method] = f"{method}: {err}"
                return None
            self.pipelines[(method, level)] = pipe
            files = [step.weights.name for step in pipe.steps if isinstance(step, ModelStep)]
            self.used.setdefault(method, set()).update(files)
        return self.pipelines[(method, level)]

    def run(
        self, method: str, image_z: np.ndarray, level: str | None = None
    ) -> tuple[np.ndarray | None, float]:
        pipe = self.get(method, level)
        if pipe is None:
            return None, 0.0
        t0 = time.perf_counter()
        try:
            out = pipe.run(image_z * self.std + self.mean)
        except W2SInputError as err:  # e.g. too few smooth pixels here
            self.errors.setdefault(method, []).append(str(err))
            return None, 0.0
        self.succeeded[method] = self.succeeded.get(method, 0) + 1
        return (out - self.mean) / self.std, time.perf_counter() - t0


def _task(method: str) -> str:
    """``denoise``, ``sr`` or ``jdsr``; a :class:`W2SInputError` for an unknown name."""
    from ..models import get_spec
    from ..restore.methods import CLASSICAL

    if method in CLASSICAL:
        return "sr" if method == "bicubic" else "denoise"
    return get_spec(method).task


def check_methods(
    denoisers: Sequence[str],
    sr: Sequence[str],
    jdsr: Sequence[str],
    weights: Mapping[str, str] | None = None,
) -> None:
    """Refuse up front unknown method names, a method in the wrong list and weights for a
    method that is not benchmarked (nothing is read or written before)."""
    for option, names, task in (
        ("--denoisers", denoisers, "denoise"),
        ("--sr", sr, "sr"),
        ("--jdsr", jdsr, "jdsr"),
    ):
        for name in names:
            try:
                found = _task(name)
            except W2SInputError as err:
                raise W2SInputError(f"{option}: {err}") from None
            if found != task:
                raise W2SInputError(
                    f"{option} {name}: {name} is a {found} method, not a {task} one"
                )
    for method, path in (weights or {}).items():
        if method not in (*denoisers, *sr, *jdsr):
            raise W2SInputError(f"--weights {method}={path}: {method!r} is not benchmarked here")
        if not Path(path).is_file():
            raise W2SInputError(f"{path}: weights file not found")


def score(pred: np.ndarray | None, target: np.ndarray) -> tuple[float | None, float | None]:
    from ..analysis.metrics import compare

    if pred is None:
        return None, None
    m = compare(pred, target, data_range=float(target.max() - target.min()))
    return m["rmse"], m["ssim"]
