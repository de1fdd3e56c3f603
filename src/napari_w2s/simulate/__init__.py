"""A W2S-like simulator with known ground truth (see docs/simulator.md).

* :func:`simulate_view`: one field of view and channel (clean photons, SIM, truth, kernel;
  raw frames drawn on demand, reproducibly, in any block size);
* :func:`write_dataset` / :func:`iter_write_dataset`: a data set in the W2S raw layout (and
  the processed layout), with the truth of every view as JSON;
* :func:`sample`: the small, fixed-seed sample that napari and ``w2s demo`` open.
"""

from .camera import Camera
from .dataset import iter_write_dataset, split_fovs, write_dataset
from .sample import SAMPLE_SEED, sample
from .view import SimulatedView, ViewParams, draw_params, simulate_view

__all__ = [
    "SAMPLE_SEED",
    "Camera",
    "SimulatedView",
    "ViewParams",
    "draw_params",
    "iter_write_dataset",
    "sample",
    "simulate_view",
    "split_fovs",
    "write_dataset",
]
