"""One simulated field of view and channel: clean widefield photons, SIM reference, raw frames.

Pipeline (see docs/simulator.md): fluorophore density on a 16 nm grid -> widefield OTF and pixel
integration (64 nm) -> haze and background -> photobleaching -> EMCCD frames; the same density
through the effective SIM transfer function and 32 nm integration gives the SIM reference.

Optics are applied exactly in Fourier space: the density's spectrum is cropped to the output
grid (both transfer functions vanish below that grid's Nyquist frequency, so nothing aliases),
multiplied by the transfer function, the pixel-integration sinc and the half-pixel phase that
puts samples at pixel centres, and inverted on the output grid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from . import optics
from .camera import Camera
from .structures import StructureCounts, density

EMISSION_NM = (525.0, 600.0, 680.0)
EXCITATION_NM = (488.0, 561.0, 640.0)


@dataclass(frozen=True)
class ViewParams:
    """Everything that defines a simulated view (defaults: W2S-like).

    Sizes are in LR (widefield) pixels; photon numbers are per frame at the start of the stack.
    """

    size: int = 512
    frames: int = 400
    lr_pixel_um: float = 0.064
    oversample: int = 4
    na: float = 1.49
    emission_nm: float = 525.0
    damping: float = 0.3
    k0_ratio: float = 0.85
    modulation: float = 0.8
    wiener: float = 0.15
    bend: float = 0.9
    peak_photons: float = 65.0
    background_photons: float = 3.0
    haze_fraction: float = 0.05
    bleach_loss: float = 0.02
    sim_noise: float = 0.01
    camera: Camera = field(default_factory=Camera)
    counts: StructureCounts = field(default_factory=StructureCounts)
    mix: tuple[tuple[str, float], ...] | None = None  # structure kind -> weight; None: channel's

    @property
    def hr_pixel_um(self) -> float:
        return self.lr_pixel_um / 2

    @property
    def fine_pixel_um(self) -> float:
        return self.lr_pixel_um / self.oversample

    @property
    def kc(self) -> float:
        return optics.cutoff(self.na, self.emission_nm)

    @property
    def bleach_tau(self) -> float:
        """Decay constant in frames (inf without bleaching)."""
        if self.bleach_loss <= 0:
            return float("inf")
        return -self.frames / np.log1p(-self.bleach_loss)

    def for_channel(self, channel: int) -> ViewParams:
        """These parameters with the emission wavelength of a W2S channel (525/600/680 nm)."""
        return replace(self, emission_nm=EMISSION_NM[channel % 3])

    def sim_kwargs(self) -> dict[str, float]:
        return {
            "k0_ratio": self.k0_ratio,
            "modulation": self.modulation,
            "wiener": self.wiener,
            "bend": self.bend,
        }

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(
            hr_pixel_um=self.hr_pixel_um,
            fine_pixel_um=self.fine_pixel_um,
            cutoff_cycles_per_um=self.kc,
            bleach_tau_frames=self.bleach_tau,
        )
        return d


def draw_params(rng: np.random.Generator, base: ViewParams, channel: int) -> ViewParams:
    """Per-view variation within the published ranges (photons, damping, bleaching, SIM)."""
    return replace(
        base.for_channel(channel),
        peak_photons=float(base.peak_photons * rng.uniform(0.7, 1.4)),
        background_photons=float(base.background_photons * rng.uniform(0.5, 1.5)),
        haze_fraction=float(rng.uniform(0.02, 0.10)),
        damping=float(rng.uniform(0.25, 0.35)),
        bleach_loss=float(rng.uniform(0.0, 2 * base.bleach_loss)),
        k0_ratio=float(rng.uniform(0.8, 0.9)),
        modulation=float(rng.uniform(0.6, 1.0)),
    )


def _crop_spectrum(spec: np.ndarray, m: int) -> np.ndarray:
    """The ``m x m`` lowest frequencies of a full FFT, in FFT order."""
    n = spec.shape[0]
    idx = np.r_[0 : m // 2, n - m // 2 : n]
    return spec[np.ix_(idx, idx)]


def _render(spec: np.ndarray, m: int, pixel_um: float, fine_um: float, transfer) -> np.ndarray:
    """Sum of the filtered density over each output pixel of size ``pixel_um`` (grid ``m``)."""
    crop = _crop_spectrum(spec, m)
    ky, kx = optics.freq_grid((m, m), pixel_um)
    # samples at pixel centres: a shift of (pixel - fine) / 2 micrometres
    shift = (pixel_um - fine_um) / 2
    phase = np.exp(2j * np.pi * (ky + kx) * shift)
    h = transfer(ky, kx) * optics.box_transfer(ky, kx, pixel_um)
    return np.real(np.fft.ifft2(crop * h * phase))


@dataclass
class SimulatedView:
    """A simulated view: clean data, SIM reference, ground truth and the frame generator."""

    params: ViewParams
    photons: np.ndarray  # mean photons per LR pixel in frame 0 (signal + haze + background)
    sim: np.ndarray  # SIM reference, float32, 2 size x 2 size
    truth: np.ndarray  # density integrated on the HR grid (no blur), max 1
    kernel: np.ndarray  # true LR-from-HR kernel, 36 x 36 HR pixels, sum 1
    structures: dict[str, int]
    seed_sequence: np.random.SeedSequence

    def _child(self, *key: int) -> np.random.SeedSequence:
        ss = self.seed_sequence
        return np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, *key))

    def bleach(self, t: np.ndarray | int) -> np.ndarray:
        return np.exp(-np.asarray(t, dtype=np.float64) / self.params.bleach_tau)

    def frames(self, start: int, stop: int) -> np.ndarray:
        """Raw frames ``start .. stop-1`` (uint16), reproducible whatever the block size."""
        from .._parallel import thread_pool

        cam = self.params.camera
        out = np.empty((stop - start, *self.photons.shape), np.uint16)

        def draw(t: int) -> None:  # numpy's samplers release the GIL: frames in parallel
            rng = np.random.default_rng(self._child(1, t))
            out[t - start] = cam.acquire(self.photons * self.bleach(t), rng)

        list(thread_pool().map(draw, range(start, stop)))
        return out

    def expected_clean(self) -> np.ndarray:
        """Expected mean of all frames in ADU (what avg{T} estimates)."""
        mean_bleach = float(self.bleach(np.arange(self.params.frames)).mean())
        return self.params.camera.expected_adu(self.photons * mean_bleach)

    def noise_params(self) -> dict[str, float]:
        """True ``a``, ``b`` of one raw frame (ADU, offset included) and on the [0, 1] scale.

        The [0, 1] scale maps the expected clean image's min..max to 0..1, like the 8-bit
        conversion of the W2S PNG release.
        """
        a, b = self.params.camera.noise_params()
        clean = self.expected_clean()
        lo, rng_ = float(clean.min()), max(float(np.ptp(clean)), 1e-12)
        return {
            "a_adu": a,
            "b_adu": b,
            "a_unit": a / rng_,
            "b_unit": (a * lo + b) / rng_**2,
            "clean_min_adu": lo,
            "clean_max_adu": lo + rng_,
        }

    def psf_fwhm_nm(self) -> dict[str, float]:
        p = self.params
        fine = 0.004
        ky, kx = optics.freq_grid((1024, 1024), fine)
        wf = optics.widefield_otf(ky, kx, p.kc, p.damping)
        sim = optics.sim_transfer(ky, kx, p.kc, p.damping, **p.sim_kwargs())
        fw, fs = optics.psf_fwhm_nm(wf, fine), optics.psf_fwhm_nm(sim, fine)
        return {"widefield": fw, "sim": fs, "ratio": fw / fs}

    def truth_record(self) -> dict[str, Any]:
        """Every parameter used, for ``truth_channelC.json``."""
        return {
            "params": self.params.to_dict(),
            "structures": self.structures,
            "noise": self.noise_params(),
            "psf_fwhm_nm": self.psf_fwhm_nm(),
            "photons": {
                "peak_signal": float(self.params.peak_photons),
                "max_total": float(self.photons.max()),
                "mean_total": float(self.photons.mean()),
            },
            "seed": {
                "entropy": int(self.seed_sequence.entropy),
                "spawn_key": list(self.seed_sequence.spawn_key),
            },
        }


def simulate_view(
    params: ViewParams = ViewParams(),
    channel: int = 0,
    seed: int | np.random.SeedSequence = 0,
) -> SimulatedView:
    """Simulate the clean parts of one view and channel (frames are drawn on demand)."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    rng = np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, 0)))
    p = params
    n_fine = p.size * p.oversample
    dens, used = density(
        rng, (n_fine, n_fine), p.fine_pixel_um, channel, p.counts, dict(p.mix) if p.mix else None
    )
    spec = np.fft.fft2(dens)
    kc, damping = p.kc, p.damping

    lr = _render(
        spec,
        p.size,
        p.lr_pixel_um,
        p.fine_pixel_um,
        lambda ky, kx: optics.widefield_otf(ky, kx, kc, damping),
    )
    hr = _render(
        spec,
        2 * p.size,
        p.hr_pixel_um,
        p.fine_pixel_um,
        lambda ky, kx: optics.sim_transfer(ky, kx, kc, damping, **p.sim_kwargs()),
    )
    scale = p.peak_photons / max(lr.max(), 1e-12)
    signal = np.clip(lr * scale, 0, None)
    haze = _haze(rng, p.size, p.lr_pixel_um) * p.haze_fraction * p.peak_photons
    photons = signal + haze + p.background_photons
    sim = hr * scale / 4.0  # HR pixels are a quarter of an LR pixel
    sim = sim + rng.normal(0, p.sim_noise * sim.max(), sim.shape)
    truth = dens.reshape(2 * p.size, p.oversample // 2, 2 * p.size, p.oversample // 2).sum((1, 3))
    kernel = optics.lr_from_hr_kernel(kc, damping, p.sim_kwargs(), p.hr_pixel_um)
    return SimulatedView(
        params=p,
        photons=photons,
        sim=sim.astype(np.float32),
        truth=(truth / max(truth.max(), 1e-12)).astype(np.float32),
        kernel=kernel,
        structures=used,
        seed_sequence=ss,
    )


def _haze(rng: np.random.Generator, size: int, px_um: float) -> np.ndarray:
    """Out-of-focus haze: a smooth, positive field (scale about 3 µm), mean 1."""
    field = np.fft.rfft2(rng.standard_normal((size, size)))
    ky = np.fft.fftfreq(size, d=px_um)[:, None]
    kx = np.fft.rfftfreq(size, d=px_um)[None, :]
    field *= np.exp(-0.5 * (ky**2 + kx**2) * (2 * np.pi * 3.0) ** 2)
    out = np.fft.irfft2(field, s=(size, size))
    out = (out - out.min()) / max(np.ptp(out), 1e-12)
    return out / max(out.mean(), 1e-12)
