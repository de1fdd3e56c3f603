"""Shared fixtures: small stacks written in each supported format; GUI tests without a display.

GUI tests (those using ``make_napari_viewer`` or ``qtbot``, or marked ``gui``) need a display:
napari's canvas needs an OpenGL context, which ``QT_QPA_PLATFORM=offscreen`` alone does not
give. pytest-xvfb (the ``testing`` extra) starts an Xvfb display in ``pytest_configure`` when
the ``Xvfb`` binary is on the PATH and sets ``$DISPLAY``, before the hooks below run. Without a
display and without Xvfb, the GUI tests are skipped with :data:`NO_DISPLAY` (one line in the
``-ra`` summary, not one OpenGL traceback per test); under ``CI=true`` the run fails at once
with that same line, so that a CI machine never passes by skipping them.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

GUI_FIXTURES = frozenset({"make_napari_viewer", "make_napari_viewer_proxy", "qtbot", "qapp"})
NO_DISPLAY = (
    "GUI tests need a display: no $DISPLAY or $WAYLAND_DISPLAY and no Xvfb; install "
    "it (Debian/Ubuntu: sudo apt-get install xvfb libgl1 libegl1 libxkbcommon-x11-0 "
    "libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0, see docs/installation.md) and "
    "pytest-xvfb (the testing extra)"
)


@pytest.fixture(autouse=True, scope="session")
def _onnx_cache_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory):
    """ONNX exports (``w2s restore``'s default backend is ``auto``) go to a temporary folder,
    never to the user's data folder."""
    key = "NAPARI_W2S_ONNX_CACHE"
    before = os.environ.get(key)
    os.environ[key] = str(tmp_path_factory.mktemp("onnx-cache"))
    yield
    if before is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = before


def has_display() -> bool:
    """A display to open windows on (Xvfb's, once pytest-xvfb has started it)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def is_gui(item: pytest.Item) -> bool:
    names = set(getattr(item, "fixturenames", ()))
    return bool(names & GUI_FIXTURES) or item.get_closest_marker("gui") is not None


@pytest.hookimpl(trylast=True)  # after -k / -m deselection: only the tests that will run count
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if has_display() or not any(is_gui(item) for item in items):
        return
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        raise pytest.UsageError(NO_DISPLAY)


def pytest_runtest_setup(item: pytest.Item) -> None:
    # a skip raised here (before any fixture: a QApplication without a display would abort the
    # process) has this one location, so ``-ra`` folds all of them into one line
    if is_gui(item) and not has_display():
        pytest.skip(NO_DISPLAY)


class Reads:
    """An array read plane by plane (like a memory map or a dask array) that logs its reads."""

    def __init__(self, data):
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.reads = []

    def __getitem__(self, index):
        self.reads.append(index)
        return self.data[index]

    def __array__(self, dtype=None, copy=None):
        self.reads.append("all")  # a normalisation's sample of a small stack
        return np.asarray(self.data, dtype=dtype)


def ramp_stack(frames: int = 20, h: int = 8, w: int = 6) -> np.ndarray:
    """uint16 stack whose frame t is ``t * 100 + pixel index``: every average is known exactly."""
    base = np.arange(h * w, dtype=np.uint16).reshape(h, w)
    return (np.arange(frames, dtype=np.uint16)[:, None, None] * 100 + base).astype(np.uint16)


def still_blob_stack(
    frames: int = 24, size: int = 96, seed: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """A still sample of blobs (clean, 200-1000) and its Poisson-Gaussian frames: gain a = 2,
    b = -150, offset 100 (the advisor's and the photon-budget widget's test stack)."""
    from napari_w2s.analysis import _synthetic as S

    rng = np.random.default_rng(seed)
    clean = 200.0 + 800.0 * S.blobs((size, size), rng)
    frames_ = [S.poisson_gaussian(clean, 2.0, -150.0, rng, offset=100.0) for _ in range(frames)]
    return clean, np.stack(frames_)


@pytest.fixture
def blob_stack():
    """:func:`still_blob_stack`, as a fixture (call it with frames, size, seed)."""
    return still_blob_stack


@pytest.fixture
def jdsr_curves() -> dict:
    """Advisor curves of a made-up JDSR (RMSE and SSIM against the input's SNR), as a card
    stores them (the advisor and photon-budget tests)."""
    from napari_w2s.analysis.advisor_curves import SNR_KIND

    return {
        "snr_kind": SNR_KIND,
        "rmse": {
            "c0": 0.25,
            "c1": 2.0,
            "p": 0.8,
            "snr_range": [5.0, 500.0],
            "ratio_quantiles": {"q05": 0.7, "q50": 1.0, "q95": 1.3},
        },
        "ssim": {
            "c0": 0.8,
            "c1": -3.0,
            "p": 0.8,
            "snr_range": [5.0, 500.0],
            "ratio_quantiles": {"q05": 0.9, "q50": 1.0, "q95": 1.1},
        },
    }


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
            np.save(
                view / f"wf_channel{c}.npy", rng.integers(90, 400, (260, 16, 16)).astype(np.uint16)
            )
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
