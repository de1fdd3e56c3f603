"""The embedded sample: one simulated view with a fixed seed, made in about a second."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .view import SimulatedView, ViewParams, simulate_view

SAMPLE_SEED = 20200823  # the W2S paper's workshop date: any fixed number would do


@dataclass(frozen=True)
class Sample:
    """A simulated acquisition: raw frames, the clean average, the SIM reference, the truth."""

    stack: np.ndarray  # T x H x W uint16 (ADU)
    clean: np.ndarray  # H x W float32, mean of all frames
    sim: np.ndarray  # 2H x 2W float32
    truth: np.ndarray  # 2H x 2W float32, density without blur
    view: SimulatedView
    pixel_size_um: float


def sample(size: int = 256, frames: int = 400, channel: int = 0, seed: int = SAMPLE_SEED) -> Sample:
    """Simulate the sample view (default 400 x 256 x 256, channel 0, fixed seed)."""
    params = ViewParams(size=size, frames=frames).for_channel(channel)
    view = simulate_view(params, channel=channel, seed=seed)
    stack = view.frames(0, frames)
    return Sample(
        stack=stack,
        clean=stack.mean(axis=0, dtype=np.float64).astype(np.float32),
        sim=view.sim,
        truth=view.truth,
        view=view,
        pixel_size_um=view.params.lr_pixel_um,
    )
