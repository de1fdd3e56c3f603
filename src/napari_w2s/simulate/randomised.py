"""Randomised W2S-like views: every camera, light level, optics and sample a user may have.

:func:`draw_settings` draws the settings of one view from :class:`Ranges` (the ranges of
``docs/simulator.md``, "What users' data look like"), avoiding the :data:`HELD_OUT` regions that
the generalisation benchmark tests on; :func:`make_view` simulates it and applies the W2S protocol
(avg1 = frame 249, avgN = frames 0..N-1, the clean image = the mean of all frames, SIM matched
affinely to the clean image). Every image is in the camera's units (ADU): normalisation happens
later, per image, exactly as at inference (:mod:`napari_w2s.normalisation`).

The clean image (the mean of all 400 frames) is drawn from its exact mean and the Gaussian limit
of its noise (variance ``(a * mean + b) / 400``), instead of drawing 400 frames: the same
statistics for 1/25 of the cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..averaging import W2S_LEVELS as LEVELS
from .camera import Camera
from .structures import KINDS, StructureCounts
from .view import ViewParams, simulate_view

FRAMES = 400
AVG1_FRAME = 249


@dataclass(frozen=True)
class Ranges:
    """What a randomised view may be (log-uniform for gains and photon numbers)."""

    cameras: tuple[str, ...] = ("scmos", "emccd", "ccd")
    scmos_gain: tuple[float, float] = (0.2, 2.0)  # ADU per electron
    scmos_offset: tuple[float, float] = (100.0, 1000.0)
    scmos_read_e: tuple[float, float] = (1.0, 3.0)
    emccd_gain: tuple[float, float] = (1.0, 20.0)  # effective ADU per electron, EM gain included
    emccd_offset: tuple[float, float] = (100.0, 500.0)
    emccd_read_adu: tuple[float, float] = (2.0, 30.0)
    ccd_gain: tuple[float, float] = (0.5, 4.0)
    ccd_offset: tuple[float, float] = (50.0, 500.0)
    ccd_read_e: tuple[float, float] = (5.0, 12.0)
    peak_photons: tuple[float, float] = (5.0, 5000.0)
    background_photons: tuple[float, float] = (0.5, 100.0)  # and at most the peak
    na: tuple[float, float] = (1.1, 1.5)
    emission_nm: tuple[float, float] = (450.0, 700.0)
    lr_pixel_nm: tuple[float, float] = (40.0, 160.0)
    fwhm_px: tuple[float, float] = (1.2, 4.0)  # widefield PSF FWHM in LR pixels
    density: tuple[float, float] = (0.3, 3.0)  # multiplier of the structure counts
    max_adu: float = 60000.0  # brighter draws are dimmed: users avoid saturating their camera
    offset_subtracted: float = 0.15  # share of views whose offset was subtracted (clipped at 0)
    eight_bit: float = 0.10  # share of views converted to 8 bits (scaled, rounded, 0-255)
    # share of views drawn as the embedded W2S-like data set draws them (:func:`w2s_like_settings`):
    # the default microscope keeps its weight in a generalist's training (docs/training.md)
    w2s_like: float = 0.2
    # share of the other views in which one kind of structure dominates the scene and the others
    # are faint traces (weights dominant_faint of it): a generalist sees scenes of mostly nuclei,
    # mostly filaments, ... as a user's stained sample often is (nuclei alone stay held out)
    dominant: float = 0.5
    dominant_faint: tuple[float, float] = (0.02, 0.1)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


@dataclass(frozen=True)
class HeldOut:
    """A region of settings that training never draws: a test set's own settings."""

    name: str
    description: str
    box: dict[str, tuple[float, float]] = field(default_factory=dict)  # setting -> (lo, hi)
    nuclei_only: bool = False

    def contains(self, s: dict) -> bool:
        if self.nuclei_only:
            return set(s["mix"]) == {"nuclei"}
        return all(k in s and lo <= s[k] <= hi for k, (lo, hi) in self.box.items())


HELD_OUT = (
    HeldOut(
        "camera",
        "sCMOS at 0.8-1.25 ADU/e- with an offset of 400-600 ADU",
        {"camera_code": (0, 0), "gain": (0.8, 1.25), "offset": (400.0, 600.0)},
    ),
    HeldOut(
        "optics",
        "NA 1.15-1.25, emission 655-700 nm and LR pixels of 95-110 nm together",
        {"na": (1.15, 1.25), "emission_nm": (655.0, 700.0), "lr_pixel_nm": (95.0, 110.0)},
    ),
    HeldOut("nuclei", "scenes of nuclei only", nuclei_only=True),
    HeldOut("low-light", "20-40 photons at the peak", {"peak_photons": (20.0, 40.0)}),
)
# test views are drawn from the whole ranges, without the W2S-like share (the sets stay the same)
EVALUATION_RANGES = Ranges(w2s_like=0.0, dominant=0.0)
CAMERA_CODES = {"scmos": 0, "emccd": 1, "ccd": 2}


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def fwhm_px(na: float, emission_nm: float, lr_pixel_nm: float) -> float:
    """Widefield PSF FWHM in LR pixels (0.51 lambda / NA)."""
    return 0.51 * emission_nm / na / lr_pixel_nm


def draw_settings(
    rng: np.random.Generator, ranges: Ranges = Ranges(), held_out: tuple[HeldOut, ...] = HELD_OUT
) -> dict:
    """One view's settings: a flat dict of numbers and names (recorded in provenance)."""
    for _ in range(1000):
        w2s = ranges.w2s_like > 0 and rng.random() < ranges.w2s_like
        s = w2s_like_settings(rng) if w2s else _draw_once(rng, ranges)
        if not any(h.contains(s) for h in held_out):
            return s
    raise RuntimeError("the held-out regions cover the whole range")  # a programming error


def _draw_once(rng: np.random.Generator, r: Ranges) -> dict:
    cam = str(rng.choice(r.cameras))
    if cam == "scmos":
        gain = _loguniform(rng, *r.scmos_gain)
        offset = rng.uniform(*r.scmos_offset)
        read = rng.uniform(*r.scmos_read_e) * gain
    elif cam == "emccd":
        gain = _loguniform(rng, *r.emccd_gain)
        offset = rng.uniform(*r.emccd_offset)
        read = _loguniform(rng, *r.emccd_read_adu)
    else:
        gain = _loguniform(rng, *r.ccd_gain)
        offset = rng.uniform(*r.ccd_offset)
        read = rng.uniform(*r.ccd_read_e) * gain
    while True:  # optics whose PSF is 1.2-4 LR pixels wide
        na, em = rng.uniform(*r.na), rng.uniform(*r.emission_nm)
        px = rng.uniform(*r.lr_pixel_nm)
        if r.fwhm_px[0] <= fwhm_px(na, em, px) <= r.fwhm_px[1]:
            break
    peak = _loguniform(rng, *r.peak_photons)
    background = _loguniform(
        rng,
        r.background_photons[0],
        max(min(r.background_photons[1], peak), r.background_photons[0] * 1.01),
    )
    n_kinds = int(rng.integers(1, 4))
    kinds = list(rng.choice(KINDS, size=n_kinds, replace=False))
    if kinds == ["nuclei"]:  # nuclei appear, but never alone (a held-out test set)
        kinds.append(str(rng.choice([k for k in KINDS if k != "nuclei"])))
    mix = {str(k): float(rng.uniform(0.3, 1.0)) for k in kinds}
    u = rng.random()
    if r.dominant > 0 and rng.random() < r.dominant:  # drawn only then: the test sets stay the same
        main = str(kinds[int(rng.integers(len(kinds)))])
        mix = {
            k: (max(w, 0.6) if k == main else w * rng.uniform(*r.dominant_faint))
            for k, w in mix.items()
        }
    export = (
        "offset-subtracted"
        if u < r.offset_subtracted
        else "8-bit"
        if u < r.offset_subtracted + r.eight_bit
        else "raw"
    )
    return {
        "camera": cam,
        "camera_code": CAMERA_CODES[cam],
        "gain": gain,
        "offset": float(offset),
        "read_noise_adu": float(read),
        "peak_photons": peak,
        "background_photons": background,
        "na": float(na),
        "emission_nm": float(em),
        "lr_pixel_nm": float(px),
        "density": _loguniform(rng, *r.density),
        "mix": mix,
        "export": export,
        "eight_bit_max": float(rng.uniform(150.0, 255.0)),
    }


def w2s_like_settings(rng: np.random.Generator) -> dict:
    """Settings of a view of the embedded W2S-like data set (``w2s simulate``'s defaults and
    per-view variation: EMCCD at 4 ADU/e-, NA 1.49, 64 nm pixels, a W2S channel's wavelength and
    structures, 65 photons x 0.7-1.4 at the peak), written as :func:`draw_settings` writes them."""
    from .structures import CHANNEL_MIXES
    from .view import EMISSION_NM

    base, cam = ViewParams(), Camera()
    channel = int(rng.integers(len(CHANNEL_MIXES)))
    return {
        "camera": "emccd",
        "camera_code": CAMERA_CODES["emccd"],
        "gain": cam.adu_per_electron,
        "offset": cam.offset,
        "read_noise_adu": cam.read_noise,
        "peak_photons": float(base.peak_photons * rng.uniform(0.7, 1.4)),
        "background_photons": float(base.background_photons * rng.uniform(0.5, 1.5)),
        "na": base.na,
        "emission_nm": float(EMISSION_NM[channel]),
        "lr_pixel_nm": base.lr_pixel_um * 1000.0,
        "density": 1.0,
        "mix": dict(CHANNEL_MIXES[channel]),
        "export": "raw",
        "eight_bit_max": 230.0,
        "w2s_like": True,
    }


def params_of(s: dict, size: int, rng: np.random.Generator) -> ViewParams:
    """The simulator's parameters for settings ``s`` (SIM and bleaching drawn as usual)."""
    kind = "emccd" if s["camera"] == "emccd" else "poisson-gaussian"
    camera = Camera(
        kind=kind,
        adu_per_electron=s["gain"],
        offset=s["offset"],
        read_noise=s["read_noise_adu"],
        quantum_efficiency=0.9,
    )
    peak = s["peak_photons"]
    top = camera.expected_adu(np.array(1.3 * (peak + s["background_photons"])))
    if top > Ranges.max_adu:  # dim the light rather than saturate the camera
        peak *= (Ranges.max_adu - s["offset"]) / (float(top) - s["offset"])
    d = s["density"]
    base = StructureCounts()
    counts = StructureCounts(
        filaments=base.filaments * d,
        vesicles=base.vesicles * d,
        mitochondria=base.mitochondria * d,
        nuclei=base.nuclei * d,
    )
    return ViewParams(
        size=size,
        frames=FRAMES,
        lr_pixel_um=s["lr_pixel_nm"] / 1000.0,
        na=s["na"],
        emission_nm=s["emission_nm"],
        peak_photons=peak,
        background_photons=s["background_photons"],
        camera=camera,
        counts=counts,
        mix=tuple(s["mix"].items()),
        damping=float(rng.uniform(0.25, 0.35)),
        haze_fraction=float(rng.uniform(0.0, 0.15)),
        bleach_loss=float(rng.uniform(0.0, 0.04)),
        k0_ratio=float(rng.uniform(0.8, 0.9)),
        modulation=float(rng.uniform(0.6, 1.0)),
    )


@dataclass
class RandomView:
    """One randomised view in the camera's units (ADU): noisy levels, clean LR, matched SIM."""

    levels: dict[str, np.ndarray]  # "avg1" .. "avg16", float32, size x size
    clean: np.ndarray  # mean of all frames (float32)
    sim: np.ndarray  # SIM, matched affinely to ``clean`` (float32, 2 size x 2 size)
    settings: dict
    noise: tuple[float, float]  # a, b of one raw frame (ADU)


def make_view(settings: dict, size: int, seed: Any, levels: tuple[int, ...] = LEVELS) -> RandomView:
    """Simulate one view with ``settings`` and apply the W2S protocol."""
    from ..analysis.metrics import affine_fit, downsample_mean

    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    rng = np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, 9)))
    params = params_of(settings, size, rng)
    view = simulate_view(params, channel=0, seed=ss)
    first = view.frames(0, max(levels)).astype(np.float32)
    out = {}
    for n in levels:
        out[f"avg{n}"] = (
            view.frames(AVG1_FRAME, AVG1_FRAME + 1)[0].astype(np.float32)
            if n == 1
            else first[:n].mean(0)
        )
    a, b = params.camera.noise_params()
    mean = view.expected_clean()
    var = np.clip(a * mean + b, 0, None) / FRAMES
    clean = (mean + rng.standard_normal(mean.shape) * np.sqrt(var)).astype(np.float32)
    out, clean = _export(out, clean, settings, params.camera.offset)
    try:
        ga, gb = affine_fit(downsample_mean(view.sim.astype(np.float64)), clean)
    except Exception:  # an empty scene: SIM constant
        ga, gb = 0.0, float(clean.mean())
    sim = (ga * view.sim + gb).astype(np.float32)
    return RandomView(
        out,
        clean,
        sim,
        {**settings, "peak_photons_used": params.peak_photons},
        (float(a), float(b)),
    )


def _export(
    levels: dict[str, np.ndarray], clean: np.ndarray, settings: dict, offset: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """How users' files differ from raw camera frames: the offset subtracted (and negative values
    clipped at 0), or a conversion to 8 bits (one scale for the view, rounded, clipped 0-255).
    The clean image gets the same map without the rounding and clipping, as an average of such
    exported frames would approach it."""
    kind = settings.get("export", "raw")
    if kind == "offset-subtracted":
        return {k: np.clip(v - offset, 0, None) for k, v in levels.items()}, clean - offset
    if kind == "8-bit":
        lo = float(np.percentile(levels["avg1"] if "avg1" in levels else clean, 0.1))
        hi = float(clean.max())
        g = settings.get("eight_bit_max", 230.0) / max(hi - lo, 1e-6)
        conv = {
            k: np.clip(np.rint((v - lo) * g), 0, 255).astype(np.float32) for k, v in levels.items()
        }
        return conv, ((clean - lo) * g).astype(np.float32)
    return levels, clean


def shifted_settings(name: str, rng: np.random.Generator) -> dict:
    """Settings of one view of a held-out test set (:data:`HELD_OUT`), the rest drawn as usual.

    ``camera``: sCMOS at 1 ADU/e-, offset 500; ``optics``: NA 1.2, 680 nm, 100 nm pixels;
    ``nuclei``: nuclei-only scenes; ``low-light``: 20-40 photons at the peak.
    """
    others = tuple(h for h in HELD_OUT if h.name != name)
    s = draw_settings(rng, EVALUATION_RANGES, held_out=others)
    if name == "camera":
        s.update(
            camera="scmos",
            camera_code=0,
            gain=1.0,
            offset=500.0,
            read_noise_adu=float(rng.uniform(1.0, 3.0)),
        )
    elif name == "optics":
        s.update(na=1.2, emission_nm=680.0, lr_pixel_nm=100.0)
    elif name == "nuclei":
        s["mix"] = {"nuclei": 1.0}
    elif name == "low-light":
        s["peak_photons"] = float(rng.uniform(20.0, 40.0))
        s["background_photons"] = min(s["background_photons"], 10.0)
    else:
        raise ValueError(f"unknown test set {name!r}")
    return s
