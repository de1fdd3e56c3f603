"""Restoration steps and their chaining: a network run tile by tile, and a pipeline of steps.

A *step* turns a 2-D image in the user's units into a restored image in the same units, either
the same size (denoising) or twice the size (SR, JDSR). Every step has ``iter_run(image)``, a
generator yielding ``(done, total)`` work units (tiles) and returning the result, so callers
show progress and can stop between tiles. :class:`ModelStep` is a trained network (the
classical methods' step is :class:`.classical.ClassicalStep`); a :class:`Pipeline` chains
steps (``dncnn+rcan``).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import W2SInputError
from .memory import auto_tile
from .tiling import iter_tiled

DEFAULT_OVERLAP = 48
SIZE_MULTIPLE = 8


class Step(Protocol):
    name: str
    scale: int

    def iter_run(self, image: np.ndarray) -> Generator[tuple[int, int], None, np.ndarray]: ...

    def describe(self) -> dict: ...


def _check_image(image: Any) -> np.ndarray:
    from .._validate import checked_image

    arr = checked_image(image, "the image", ndim=2, dtype=np.float32)
    if min(arr.shape) < 8:
        raise W2SInputError(f"the image ({arr.shape[0]} x {arr.shape[1]}) is too small to restore")
    return arr


# Below this signal-to-noise ratio (analysis.snr.estimate_snr of the input) the noise-blind JDSR
# had no measurable edge over RIDNet + RCAN on the generalisation benchmark's held-out sets
# (benchmark.generalisation_report.by_snr; two draws, seeds 777 and 778, every set and level;
# the JDSR shipped in session 22): at SNR 6-10 the mean RMSE difference per bin was -0.010 to
# +0.004, JDSR higher in 22 of 53 inputs; below 6, 17 inputs, within 1.5 standard errors; at SNR
# 10-16 JDSR was ahead by 0.020-0.026, above 16 by 0.034-0.050 (docs/models.md, session 22).
# The confirmation draw (seed 779, 32 views per set, session 23) agrees: at SNR 6-8 +0.005,
# 8-10 -0.006 (JDSR higher in 59 of 134 inputs, though ahead in SSIM by 0.014-0.016); at 10-12
# -0.017, above 12 -0.029 to -0.045.
LOW_SNR_JDSR = 10.0


def low_snr_note(card: Any, image: np.ndarray, weights: Path | None = None) -> str:
    """What the user of the shipped JDSR should know about an input this noisy ("" otherwise,
    and for other weights: the figures above were measured on the shipped ones)."""
    from .zoo import ZOO

    if getattr(card, "name", "") != "jdsr":
        return ""
    if weights is not None and Path(weights).resolve().parent != ZOO.resolve():
        return ""
    from ..analysis.snr import estimate_snr

    snr = estimate_snr(image)
    if not 0 < snr < LOW_SNR_JDSR:
        return ""
    return (
        f"input SNR below {LOW_SNR_JDSR:g} (the signal range over the noise): at such SNR the JDSR "
        "was not measurably better than RIDNet + RCAN on held-out tests, and more frames or "
        "light improve the result more than the choice of method (w2s advise)"
    )


@dataclass
class ModelStep:
    """A trained network with its card, on a device, run tile by tile."""

    model: Any
    card: Any
    device: Any
    weights: Path
    tile: int | None = None  # None: automatic; 0: whole image
    overlap: int = DEFAULT_OVERLAP
    name: str = ""
    scale: int = 1
    threads: int | None = None  # CPU threads of torch (None: its default)
    preserve_mean: bool = True  # the output's mean is the input's (see iter_run)
    onnx: Any = field(default=None, repr=False)  # an onnx_backend.OnnxNetwork, else torch runs
    precision: str = "auto"  # device.PRECISIONS: auto (mixed on CUDA), float32 or bfloat16
    orientations: int = 1  # the result averaged over 1, 2, 4 or 8 (.orientations)
    timings: dict = field(default_factory=dict)
    _affine: Any = field(default=None, repr=False)
    _snr_note: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        self.name = self.name or self.card.name
        self.scale = int(self.card.scale)

    def describe(self) -> dict:
        from .. import normalisation
        from .device import describe
        from .threads import using_threads

        with using_threads(self.threads if self.device.type == "cpu" else None):
            where = describe(self.device, self.precision)  # "cpu (N threads, ...)": as it runs
        d = {
            "method": self.name,
            "weights": self.weights.name,
            "card_name": self.card.name,
            "task": self.card.task,
            "noise_level": self.card.noise_level,
            "config": self.card.config,
            "device": where,
            "tile": self.tile,
            "overlap": self.overlap,
            "normalisation": normalisation.describe(self.card.normalisation),
            "mean": "matched to the input's" if self.preserve_mean else "the network's",
        }
        if self.device.type == "cpu":
            d["threads"] = self.threads
        d["backend"] = "onnx" if self.onnx is not None else "torch"
        d["precision"] = self.precision
        d["orientations"] = self.orientations
        if self.onnx is not None:
            d["onnx"] = self.onnx.describe()
        if self._affine is not None:  # the map of the last image (or stack) restored
            d["fitted_normalisation"] = self._affine.to_dict()
        return d

    @property
    def note(self) -> str:
        """What the user should know about the last image restored (constant, saturated, too
        noisy for the JDSR's edge ...)."""
        found = [self._affine.note if self._affine is not None else "", self._snr_note]
        return "; ".join(n for n in found if n)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        import torch

        from .orientations import averaged

        affine = self._affine
        x = torch.from_numpy(affine.forward(batch[:, None])).to(self.device)
        with torch.inference_mode():  # the average adds in place to the networks' outputs
            y = averaged(self._padded_network, x, self.orientations)
        return affine.inverse(y[:, 0].float().cpu().numpy())

    def _padded_network(self, x: Any) -> Any:
        """The network on a batch of any size: padded on the bottom and right to a multiple of
        :data:`SIZE_MULTIPLE`, the output cropped back. Each orientation is padded on its own,
        so an average over orientations commutes with them at every size."""
        import torch

        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % SIZE_MULTIPLE, (-w) % SIZE_MULTIPLE
        if pad_h or pad_w:
            mode = "reflect" if min(h, w) > max(pad_h, pad_w) else "replicate"
            x = torch.nn.functional.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        s = self.scale
        return self._network(x)[..., : s * h, : s * w]

    def _network(self, x: Any) -> Any:
        """The network on a normalised, padded batch ``(B, 1, H, W)``."""
        import torch

        from .device import autocast
        from .threads import using_threads

        if self.onnx is not None:  # ONNX Runtime: the same tiles, only the network differs
            return torch.from_numpy(self.onnx(x.numpy()))
        if getattr(self.model, "w2s_channels_last", False):
            x = x.contiguous(memory_format=torch.channels_last)
        # the thread count is per OS thread: set it here, where the model runs
        threads = self.threads if self.device.type == "cpu" else None
        with (
            torch.inference_mode(),
            autocast(self.device, precision=self.precision),
            using_threads(threads),
        ):
            y = self.model(x)
        return y[-1] if isinstance(y, (list, tuple)) else y

    def fit_normalisation(self, data: Any) -> Any:
        """The map of ``data`` (an image or a whole stack) to this model's units."""
        from .. import normalisation

        return normalisation.fit(data, self.card.normalisation)

    def iter_run(
        self, image: np.ndarray, affine: Any = None, out: np.ndarray | None = None
    ) -> Generator[tuple[int, int], None, np.ndarray]:
        """Restore one plane; ``affine`` (from :meth:`fit_normalisation` of the whole stack)
        keeps a stack's planes comparable; without it the plane is normalised on its own.
        ``out`` (float32, the output size) receives the result, which is then ``out``."""
        image = _check_image(image)
        self._affine = affine if affine is not None else self.fit_normalisation(image)
        self._snr_note = low_snr_note(self.card, image, self.weights)
        if self._affine.constant:  # nothing to restore: the constant, at the output size
            s = self.scale
            if out is not None:
                out.fill(self._affine.offset)
                return out
            return np.full(
                (s * image.shape[0], s * image.shape[1]), self._affine.offset, np.float32
            )
        tile, batch = (
            (self.tile, 1)
            if self.tile is not None
            else auto_tile(self.device, self.card.config, self.scale, image.shape)
        )
        t0 = time.perf_counter()
        result = yield from iter_tiled(
            image, self._infer, self.scale, tile, self.overlap, batch, out=out
        )
        # min and max propagate NaN and show infinities, without a full-size boolean array
        if not (np.isfinite(result.min()) and np.isfinite(result.max())):
            # a broken card or weights: never write NaN silently
            raise W2SInputError(
                f"{self.weights}: the network returned NaN or infinite values; "
                "its weights or model card are broken"
            )
        if self.preserve_mean:
            # a widefield restoration keeps the image's total intensity: every training target
            # has the clean image's mean (SIM is matched to it affinely), and the input has it
            # up to zero-mean noise. The network's own estimate of the mean is noisier: matching
            # it cut the JDSR RMSE in all 15 cells of the generalisation sets (3.8 % on average)
            # and removed the 0.16 std shift on the real nuclei image (docs/models.md).
            result += np.float32(image.mean(dtype=np.float64) - result.mean(dtype=np.float64))
        self.timings = {"seconds": time.perf_counter() - t0, "tile": tile, "batch": batch}
        return result


@dataclass
class Pipeline:
    """Steps applied one after the other (``dncnn+rcan``)."""

    steps: list
    method: str
    option_notes: list = field(default_factory=list)  # options given that have no effect

    @property
    def scale(self) -> int:
        return int(np.prod([s.scale for s in self.steps]))

    def describe(self) -> dict:
        return {"method": self.method, "steps": [s.describe() for s in self.steps]}

    @property
    def image_notes(self) -> list[str]:
        """The steps' notes on the last image (or stack) restored (a constant, sparse or
        saturated input, blank planes passed through), without repeats."""
        found = [getattr(s, "note", "") for s in self.steps]
        return list(dict.fromkeys(n for n in found if n))

    @property
    def notes(self) -> list[str]:
        """Options without effect, then :attr:`image_notes`."""
        return [*self.option_notes, *self.image_notes]

    def fit_normalisation(self, data: Any) -> Any:
        """The per-image map of the first deep step, fitted on ``data`` (an image or a stack);
        ``None`` when no step is a network. Every deep step of the pipeline uses it: a denoiser's
        output stays in its input's units, so one map serves the whole sequence."""
        for step in self.steps:
            if isinstance(step, ModelStep):
                return step.fit_normalisation(data)
        return None

    def iter_run(
        self, image: np.ndarray, affine: Any = None, out: np.ndarray | None = None
    ) -> Generator[tuple[int, int], None, np.ndarray]:
        """Yields ``(done, total)`` over all steps' work units (each step counts its own).

        ``affine`` is the normalisation of the whole stack this plane belongs to (see
        :meth:`fit_normalisation`); without it the plane is normalised on its own. ``out``
        (float32, the output size) may receive the result when the last step is a network:
        check whether the returned array is ``out``.
        """
        target = out
        out = image
        n = len(self.steps)
        for i, step in enumerate(self.steps):
            last = i == n - 1
            if isinstance(step, ModelStep):
                gen = step.iter_run(out, affine, target if last else None)
            else:
                gen = step.iter_run(out)
            while True:
                try:
                    done, total = next(gen)
                except StopIteration as stop:
                    out = stop.value
                    break
                # report progress as a fraction spread evenly over the steps
                yield i * 1000 + int(1000 * done / max(total, 1)), n * 1000
        return out

    def run(self, image: np.ndarray, affine: Any = None) -> np.ndarray:
        from ..progress import drain

        return drain(self.iter_run(image, affine))
