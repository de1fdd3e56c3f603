"""The noise estimate read as a camera (gain, offset or read noise, photons, SNR)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_w2s.analysis import estimate_noise
from napari_w2s.analysis.noise_report import summarise_noise


def _camera_image(gain=2.0, offset=100.0, read=1.0, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:256, 0:256]
    photons = 20 + 180 * (0.5 + 0.5 * np.sin(xx / 23.0) * np.cos(yy / 31.0))
    return gain * rng.poisson(photons) + offset + rng.normal(0, read, photons.shape), photons


def test_gain_offset_photons_and_level():
    image, photons = _camera_image()
    est = estimate_noise(image)
    s = summarise_noise(est, image, frames=1)
    assert s.gain == pytest.approx(2.0, rel=0.1)
    assert s.offset == pytest.approx(100.0, abs=15) and s.read_noise is None
    assert s.photons == pytest.approx(np.median(photons), rel=0.2)
    assert s.level == "avg1" and s.snr > 1
    text = " ".join(s.lines())
    assert "gain ≈" in text and "camera offset" in text and "one raw frame: SNR" in text
    assert "avg1" in s.restore_hint()


def test_positive_b_is_read_noise():
    from dataclasses import replace

    image, _ = _camera_image(offset=0.0)
    est = replace(estimate_noise(image), b=9.0)
    s = summarise_noise(est, image, level="avg4")
    assert s.offset is None and s.read_noise == pytest.approx(3.0)
    assert s.model_level is None and "noise-blind" in s.restore_hint()  # no avg4 model shipped
