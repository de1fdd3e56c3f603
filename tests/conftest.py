"""Shared fixtures: small stacks written in each supported format."""

from __future__ import annotations

import numpy as np
import pytest


def ramp_stack(frames: int = 20, h: int = 8, w: int = 6) -> np.ndarray:
    """uint16 stack whose frame t is ``t * 100 + pixel index``: every average is known exactly."""
    base = np.arange(h * w, dtype=np.uint16).reshape(h, w)
    return (np.arange(frames, dtype=np.uint16)[:, None, None] * 100 + base).astype(np.uint16)


@pytest.fixture
def ramp() -> np.ndarray:
    return ramp_stack()


@pytest.fixture
def noisy_pair() -> tuple[np.ndarray, np.ndarray]:
    """A smooth 64 x 64 reference and a noisy copy (seeded)."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:64, 0:64]
    ref = 100 + 50 * np.sin(yy / 5.0) * np.cos(xx / 7.0)
    return ref + rng.normal(0, 5, ref.shape), ref


@pytest.fixture
def w2s_raw(tmp_path):
    """A tiny raw W2S root: two views, two channels, 260 frames of 16 x 16, SIM 32 x 32."""
    rng = np.random.default_rng(3)
    root = tmp_path / "w2s_raw"
    for v in (1, 2):
        view = root / f"Image{v:03d}"
        view.mkdir(parents=True)
        for c in (0, 1):
            np.save(view / f"wf_channel{c}.npy",
                    rng.integers(90, 400, (260, 16, 16)).astype(np.uint16))
            np.save(view / f"sim_channel{c}.npy", rng.random((32, 32)).astype(np.float32))
    return root


@pytest.fixture
def w2s_processed(tmp_path):
    """A tiny processed W2S root with train and test splits."""
    rng = np.random.default_rng(4)
    root = tmp_path / "w2s_processed"
    for split, views in (("train", ("001_0", "001_1")), ("test", ("081_0", "081_1", "082_0"))):
        for level in ("avg1", "avg2", "avg400"):
            (root / split / level).mkdir(parents=True)
            for v in views:
                np.save(root / split / level / f"{v}.npy", rng.random((16, 16)).astype(np.float32))
        (root / split / "sim").mkdir()
        for v in views:
            np.save(root / split / "sim" / f"{v}.npy", rng.random((32, 32)).astype(np.float32))
    return root


@pytest.fixture(autouse=True)
def _no_user_models(monkeypatch, tmp_path_factory):
    """Tests never see the user's own model folder (``$NAPARI_W2S_MODELS``): an empty one."""
    monkeypatch.setenv("NAPARI_W2S_MODELS", str(tmp_path_factory.getbasetemp() / "user-models"))
