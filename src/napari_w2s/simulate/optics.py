"""Widefield and SIM transfer functions, and the blur kernel they imply.

All functions work on frequency grids in cycles per micrometre. The widefield OTF is the ideal
incoherent OTF of a circular pupil times a damping that mimics aberrations and defocus,

    OTF(k) = (2/pi) (acos v - v sqrt(1 - v^2)) * c^v,   v = |k| / k_c,   k_c = 2 NA / lambda_em,

and the effective SIM transfer function of a Wiener reconstruction (fast mode) is

    H(k) = A(k) D(k) / (D(k) + w^2),
    D(k) = sum over angles {0, 60, 120 deg} and m in {-1, 0, 1} of |c_m|^2 |OTF(k - m k0 e_angle)|^2,
    A(k) = OTF_ideal(|k| / (k_c + k0)) ** bend.
"""

from __future__ import annotations

import numpy as np


def otf_ideal(v: np.ndarray) -> np.ndarray:
    """Ideal incoherent OTF of a circular pupil at normalised frequency ``v`` (0 beyond 1)."""
    v = np.clip(np.abs(v), 0.0, 1.0)
    return (2.0 / np.pi) * (np.arccos(v) - v * np.sqrt(1.0 - v * v))


def cutoff(na: float, wavelength_nm: float) -> float:
    """Incoherent cut-off frequency ``2 NA / lambda`` in cycles per micrometre."""
    return 2.0 * na / (wavelength_nm * 1e-3)


def freq_grid(shape: tuple[int, int], pixel_um: float) -> tuple[np.ndarray, np.ndarray]:
    """``(ky, kx)`` grids in cycles/µm for an FFT of ``shape`` with ``pixel_um`` pixels."""
    ky = np.fft.fftfreq(shape[0], d=pixel_um)[:, None]
    kx = np.fft.fftfreq(shape[1], d=pixel_um)[None, :]
    return ky, kx


def widefield_otf(ky: np.ndarray, kx: np.ndarray, kc: float, damping: float) -> np.ndarray:
    """Widefield OTF with damping ``c**v`` (``c`` = 1: ideal).

    Evaluated inside the pass band only: beyond it (``v >= 1``) the ideal OTF is exactly 0."""
    v = np.sqrt(ky**2 + kx**2) / kc
    out = np.zeros(v.shape)
    inside = v < 1.0
    vi = v[inside]
    out[inside] = otf_ideal(vi) * np.power(damping, vi)
    return out


def sim_transfer(
    ky: np.ndarray,
    kx: np.ndarray,
    kc: float,
    damping: float,
    k0_ratio: float = 0.85,
    modulation: float = 0.8,
    wiener: float = 0.1,
    bend: float = 0.9,
    angles_deg: tuple[float, ...] = (0.0, 60.0, 120.0),
) -> np.ndarray:
    """Effective transfer function of a 3-angle Wiener SIM reconstruction (fast mode)."""
    k0 = k0_ratio * kc
    d = np.zeros(np.broadcast_shapes(ky.shape, kx.shape))
    for angle in np.deg2rad(angles_deg):
        for m, weight in ((-1, modulation), (0, 1.0), (1, modulation)):
            shifted = widefield_otf(
                ky - m * k0 * np.sin(angle), kx - m * k0 * np.cos(angle), kc, damping
            )
            d += weight * shifted**2
    apod = otf_ideal(np.sqrt(ky**2 + kx**2) / (kc + k0)) ** bend
    return apod * d / (d + wiener**2)


def box_transfer(ky: np.ndarray, kx: np.ndarray, width_um: float) -> np.ndarray:
    """Transfer function of integration over a square pixel of side ``width_um``."""
    return np.sinc(ky * width_um) * np.sinc(kx * width_um)


def psf_fwhm_nm(transfer: np.ndarray, pixel_um: float) -> float:
    """FWHM (nm) of the PSF whose transfer function is given on an FFT grid (x profile)."""
    psf = np.real(np.fft.fftshift(np.fft.ifft2(transfer)))
    psf /= psf.max()
    row = psf[psf.shape[0] // 2]
    c = row.size // 2
    right = c + int(np.argmax(row[c:] < 0.5))
    # linear interpolation of the half-maximum crossing
    x0, x1, y0, y1 = right - 1, right, row[right - 1], row[right]
    half = x0 + (y0 - 0.5) / (y0 - y1) * (x1 - x0) - c
    return float(2 * half * pixel_um * 1e3)


def lr_from_hr_kernel(
    kc: float,
    damping: float,
    sim_kwargs: dict,
    hr_pixel_um: float,
    size: int = 36,
) -> np.ndarray:
    """The true kernel ``k`` with ``LR_clean ~ (SIM * k) downsampled by 2`` (HR pixels, sum 1).

    ``K = OTF_wf B_lr / (H_sim B_hr)`` where the SIM transfer is non-negligible (0 elsewhere),
    with ``B`` the pixel-integration transfer of 2 and 1 HR pixels; centred and cropped to
    ``size x size`` HR pixels. This is what the paper's Eq. 2 estimates from (avg400, SIM).
    """
    n = 256
    # the transfer functions are real and even (the default angles 0, 60, 120 degrees are
    # symmetric about the y axis): half the grid and a real inverse FFT give the same kernel
    half = "angles_deg" not in sim_kwargs
    ky = np.fft.fftfreq(n, d=hr_pixel_um)[:, None]
    kx = (np.fft.rfftfreq if half else np.fft.fftfreq)(n, d=hr_pixel_um)[None, :]
    wf = widefield_otf(ky, kx, kc, damping) * box_transfer(ky, kx, 2 * hr_pixel_um)
    sim = sim_transfer(ky, kx, kc, damping, **sim_kwargs) * box_transfer(ky, kx, hr_pixel_um)
    safe = np.abs(sim) > 1e-3
    ratio = np.where(safe, wf / np.where(safe, sim, 1.0), 0.0)
    spatial = np.fft.irfft2(ratio, s=(n, n)) if half else np.real(np.fft.ifft2(ratio))
    kernel = np.fft.fftshift(spatial)
    c = n // 2
    half_size = size // 2
    kernel = kernel[c - half_size : c - half_size + size, c - half_size : c - half_size + size]
    return (kernel / kernel.sum()).astype(np.float64)
