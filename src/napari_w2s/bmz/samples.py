"""The package's test and sample images: a view of the randomised simulator, the network's
output on it, and the cover (input | output)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def make_test_image(card: Any, seed: int, size: int) -> np.ndarray:
    """A view of the randomised simulator: noisy (avg1) for denoisers and joint models, the
    clean average for SR models; for a fixed-map card, scaled to the training data's mean and
    standard deviation (the fixed map is only meaningful there)."""
    from ..normalisation import spec_of
    from ..simulate.randomised import draw_settings, make_view

    rng = np.random.default_rng(seed)
    view = make_view(draw_settings(rng), size, seed, levels=(1,))
    image = view.clean if card.task == "sr" else view.levels["avg1"]
    image = np.asarray(image, np.float32)
    norm = spec_of(card.normalisation)
    if norm["kind"] == "zscore":
        image = (
            (image - image.mean()) / max(float(image.std()), 1e-6) * float(norm["std"])
            + float(norm["mean"])
        ).astype(np.float32)
    return image


def run_network(model: Any, x: np.ndarray) -> np.ndarray:
    """``model`` on ``x`` (``batch, channel, y, x``, the network's units); the last output of
    a network that returns several."""
    import torch

    with torch.inference_mode():
        y = model(torch.from_numpy(x))
        y = y[-1] if isinstance(y, (list, tuple)) else y
    return y.float().numpy()


def write_cover(inp: np.ndarray, out: np.ndarray, path: Path) -> None:
    """Input (nearest-upsampled to the output size) | output, 2:1, each scaled to its own
    0.5-99.5 percentiles."""
    import matplotlib.image

    s = out.shape[0] // inp.shape[0]
    big = np.kron(inp, np.ones((s, s), np.float32))

    def scaled(a: np.ndarray) -> np.ndarray:
        lo, hi = np.percentile(a, [0.5, 99.5])
        return np.clip((a - lo) / max(hi - lo, 1e-12), 0, 1)

    pair = np.concatenate([scaled(big), scaled(out)], axis=1)
    reps = max(1, 256 // pair.shape[0])
    pair = np.kron(pair, np.ones((reps, reps)))
    matplotlib.image.imsave(path, pair, cmap="gray", vmin=0, vmax=1)
