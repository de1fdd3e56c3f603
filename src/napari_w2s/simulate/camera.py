"""Detectors: an EMCCD and a plain Poisson-Gaussian camera, and their noise parameters.

EMCCD (the W2S microscope has an Andor iXon DU-897): photons -> Poisson photo-electrons ->
electron-multiplying register (output for n input electrons ~ Gamma(n, G), which gives the excess
noise factor F^2 = 2 at high gain) -> Gaussian read noise -> ADU by the conversion gain ->
offset -> rounding and clipping to uint16.

For a pixel with mean photon count ``lam`` the raw value has

    mean = offset + g lam,     variance = F^2 g^2 lam + sigma_r^2,

with ``g`` = ADU per photo-electron after multiplication (EM gain / conversion factor). In the
form used everywhere in this project, ``variance = a * mean + b`` with the mean in ADU
(offset included): ``a = F^2 g`` and ``b = sigma_r^2 - a * offset``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Camera:
    """Detector parameters (ADU units).

    Attributes
    ----------
    kind : {"emccd", "poisson-gaussian"}
    adu_per_electron : float
        ``g``: ADU per photo-electron at the output (EM gain included).
    offset : float
        Bias in ADU (W2S: about 100).
    read_noise : float
        Gaussian read noise, ADU standard deviation.
    quantum_efficiency : float
        Photo-electrons per photon.
    """

    kind: str = "emccd"
    adu_per_electron: float = 4.0
    offset: float = 100.0
    read_noise: float = 3.0
    quantum_efficiency: float = 0.9

    @property
    def excess_factor_sq(self) -> float:
        return 2.0 if self.kind == "emccd" else 1.0

    def noise_params(self) -> tuple[float, float]:
        """``(a, b)`` of one raw frame: variance = a * mean + b, mean in ADU with offset."""
        a = self.excess_factor_sq * self.adu_per_electron
        return a, self.read_noise**2 - a * self.offset

    def expected_adu(self, photons: np.ndarray) -> np.ndarray:
        """Mean raw value for a mean photon count (before clipping)."""
        return self.offset + self.adu_per_electron * self.quantum_efficiency * photons

    def acquire(self, photons: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One or more raw frames (uint16) for mean photon counts ``photons``."""
        electrons = rng.poisson(photons * self.quantum_efficiency)
        if self.kind == "emccd":
            # Gamma(n, g) with n = 0 gives exactly 0: no electrons, no signal
            signal = rng.gamma(np.maximum(electrons, 1e-300), self.adu_per_electron)
            signal[electrons == 0] = 0.0
        else:
            signal = electrons * self.adu_per_electron
        signal += rng.normal(self.offset, self.read_noise, signal.shape)
        return np.clip(np.rint(signal), 0, 65535).astype(np.uint16)

    def to_dict(self) -> dict:
        return asdict(self)
