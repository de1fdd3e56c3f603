"""Restoration steps and pipelines: deep models (tiled, any device) and classical methods.

A *step* turns a 2-D image in the user's units into a restored image in the same units, either
the same size (denoising) or twice the size (SR, JDSR). Every step has ``iter_run(image)``, a
generator yielding ``(done, total)`` work units (tiles) and returning the result, so callers
show progress and can stop between tiles. A *pipeline* chains steps (``dncnn+rcan``).

Method strings (``docs/cli.md``): a registered model name (``jdsr``, ``dncnn``, ``rcan``, ...),
a classical method (``pure-let``, ``vst-nlm``, ``vst-bm3d``, ``vst-epll``, ``bicubic``) or a
sequence joined by ``+``.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import W2SInputError
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


def auto_tile(
    device: Any, config: dict, scale: int, shape: tuple[int, int] | None = None
) -> tuple[int, int]:
    """(tile, batch) from the memory available on ``device`` and the model's width.

    Inference keeps a few feature maps alive at once: we budget 12 maps of the widest layer at
    the input resolution (dense blocks concatenate ``num_feat + 4 growth`` channels) and 6 maps
    of ``num_feat`` channels at the output resolution, float32, per input pixel. An image of
    ``shape`` whose pixels fit the budget is not tiled at all (tile 0): tiles just smaller than
    the image would repeat the overlaps for nothing.
    """
    import torch

    feat = int(config.get("num_feat", config.get("base_feat", 64)))
    widest = feat + 4 * int(config.get("growth", 0))
    bytes_per_px = 4 * (12 * widest + 6 * feat * scale * scale)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = 0.5 * free
    elif device.type == "mps":
        budget = 2e9
    else:
        budget = min(0.25 * _available_ram(), 2e9)
    max_pixels = budget / bytes_per_px
    if shape is not None and shape[0] * shape[1] <= 1.25 * max_pixels:  # the budget is cautious
        return 0, 1
    tile = int(np.clip(int(np.sqrt(max_pixels)) // 16 * 16, 64, 2048))
    batch = 4 if device.type == "cuda" and tile >= 512 else 1
    return tile, batch


def check_memory(shape: tuple[int, ...], scale: int) -> None:
    """Refuse up front, in one line, a restoration whose arrays cannot fit in memory.

    Counted (float32): the whole output, and for one plane its input, the network's output and
    the two accumulators of the tiled blend. The network's own feature maps are bounded by the
    tile size and not counted.
    """
    h, w = int(shape[-2]), int(shape[-1])
    planes = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    out_plane = h * w * scale * scale
    needed = 4.0 * (planes * out_plane + h * w + 3 * out_plane)
    available = _available_ram()
    if needed > available:
        raise W2SInputError(
            f"restoring {' x '.join(map(str, shape))} pixels x{scale} needs about "
            f"{needed / 2**30:.3g} GiB of memory and {available / 2**30:.3g} GiB are available; "
            "crop the image, or use `w2s batch`, which writes a stack plane by plane"
        )


def _available_ram() -> float:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return 4e9


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
    timings: dict = field(default_factory=dict)
    _affine: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.name = self.name or self.card.name
        self.scale = int(self.card.scale)

    def describe(self) -> dict:
        from .. import normalisation
        from .device import describe
        from .threads import using_threads

        with using_threads(self.threads if self.device.type == "cpu" else None):
            where = describe(self.device)  # "cpu (N threads, ...)": the count it runs on
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
        if self.onnx is not None:
            d["onnx"] = self.onnx.describe()
        if self._affine is not None:  # the map of the last image (or stack) restored
            d["fitted_normalisation"] = self._affine.to_dict()
        return d

    @property
    def note(self) -> str:
        """What the user should know about the last image restored (constant, saturated ...)."""
        return self._affine.note if self._affine is not None else ""

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        import torch

        from .device import autocast
        from .threads import using_threads

        affine = self._affine
        x = torch.from_numpy(affine.forward(batch[:, None])).to(self.device)
        pad_h = (-x.shape[-2]) % SIZE_MULTIPLE
        pad_w = (-x.shape[-1]) % SIZE_MULTIPLE
        if pad_h or pad_w:
            mode = "reflect" if min(x.shape[-2:]) > max(pad_h, pad_w) else "replicate"
            x = torch.nn.functional.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        if self.onnx is not None:  # ONNX Runtime: the same tiles, only the network differs
            y = torch.from_numpy(self.onnx(x.numpy()))
        else:
            if getattr(self.model, "w2s_channels_last", False):
                x = x.contiguous(memory_format=torch.channels_last)
            # the thread count is per OS thread: set it here, where the model runs
            threads = self.threads if self.device.type == "cpu" else None
            with torch.inference_mode(), autocast(self.device), using_threads(threads):
                y = self.model(x)
                y = y[-1] if isinstance(y, (list, tuple)) else y
        s = self.scale
        y = y[..., : s * batch.shape[-2], : s * batch.shape[-1]]
        return affine.inverse(y[:, 0].float().cpu().numpy())

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
        from .._generators import drain

        return drain(self.iter_run(image, affine))


def resolve(
    method: str,
    device: str = "auto",
    tile: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    weights: str | None = None,
    noise_level: str | None = None,
    noise: tuple[float, float] | None = None,
    threads: int | str | None = None,
    backend: str | None = "torch",
) -> Pipeline:
    """Build the pipeline of a method string.

    ``weights`` (a ``.safetensors`` file with its card, or a BioImage Model Zoo package: a
    ``.zip`` or a folder, see :func:`napari_w2s.bmz.load_package`) replaces the shipped weights
    of a single-model method; ``noise_level`` (``avg1`` ...) prefers a per-level model where one is
    shipped (else the noise-blind one); ``noise`` = ``(a, b)`` gives classical methods the noise
    parameters instead of estimating them from the image; ``threads`` (a number or ``auto``,
    :mod:`.threads`) is how many CPU threads the networks run on (default: torch's);
    ``backend`` runs them on ``torch``, ``onnx`` (ONNX Runtime, CPU) or ``auto`` (the faster,
    measured once per model on this machine; ``None``: ``auto`` without a note when ONNX
    Runtime is missing), see :mod:`.onnx_backend`.
    """
    from ..bmz import is_package, load_package
    from ..models.weights import load_model
    from . import classical, onnx_backend
    from .device import choose_device, prepare_module
    from .threads import resolve_threads, using_threads
    from .zoo import find_model, find_weights

    parts = [p.strip().lower() for p in str(method).split("+") if p.strip()]
    if not parts:
        raise W2SInputError("no method given")
    if tile is not None and (tile < 0 or 0 < tile < 2 * overlap):
        # tiles narrower than two overlaps leave too little context: wrong pixels, no error
        raise W2SInputError(
            f"--tile {tile}: use 0 (the whole image) or at least {2 * overlap} "
            f"(twice the {overlap}-pixel overlap between tiles)"
        )
    if weights and len(parts) > 1:
        raise W2SInputError("--weights applies to a single model, not to a sequence")
    if weights and parts[0] in classical.METHODS:
        raise W2SInputError(
            f"--weights applies to a network; {parts[0]} is a classical method and has no weights"
        )
    n_threads = resolve_threads(threads)
    backend = onnx_backend.parse_backend(backend)
    wanted = onnx_backend.device_for(device, backend)  # the CPU for onnx
    dev = None
    steps: list = []
    unused: list = []
    for part in parts:
        if part in classical.METHODS:
            steps.append(classical.ClassicalStep(part, noise=noise))
            continue
        from ..models import get_spec, list_models

        by_stem = find_model(part) if part not in list_models() else None
        if by_stem is None:
            get_spec(part)  # unknown names: one clear message listing the valid ones
        path = _weights_path(weights) if weights else by_stem or find_weights(part, noise_level)
        package = bool(weights) and is_package(path)
        if package:  # a BioImage Model Zoo package (zip or folder)
            model, card, note = load_package(path)
            if note:
                unused.append(f"{path.name}: {note}")
        elif path.is_dir():
            raise W2SInputError(
                f"{path}: a folder without rdf.yaml; --weights takes a "
                ".safetensors file or a BioImage Model Zoo package"
            )
        elif not path.is_file():  # else a card without its weights gives a FileNotFoundError
            raise W2SInputError(f"{path}: weights file not found")
        else:
            model, card = load_model(path)
        if by_stem is not None:  # a model picked by its file stem runs its card's method
            get_spec(card.name)
        elif card.name != part and not weights:
            raise W2SInputError(f"{path}: the card describes {card.name!r}, not {part!r}")
        spec = get_spec(card.name if by_stem is not None else part)
        checked = not package or getattr(card, "bmz_has_w2s_card", False)
        if checked and card.task != spec.task:  # e.g. x2 SR weights run and labelled as a denoiser
            raise W2SInputError(
                f"{path}: these weights are {card.name!r} (task {card.task}, "
                f"x{card.scale}), not a {spec.task} model like {part!r}; use "
                f"--method {card.name}"
            )
        dev = dev or choose_device(wanted)
        with using_threads(n_threads if dev.type == "cpu" else None):  # probe as it will run
            # a TorchScript module keeps its memory layout (it cannot be re-laid-out and timed)
            module = (
                model.to(dev) if card.architecture == "TorchScript" else prepare_module(model, dev)
            )
        net, note = onnx_backend.for_model(module, card, path, dev, n_threads, backend, package)
        unused += [note] if note else []
        steps.append(
            ModelStep(
                module, card, dev, Path(path), tile, overlap, name=part, threads=n_threads, onnx=net
            )
        )
    for a, b in zip(steps, steps[1:]):
        if a.scale > 1 and b.scale > 1:
            raise W2SInputError(
                f"{method}: two x2 steps in a row give x4, which no model is trained for"
            )
    if dev is None and str(device).strip().lower() not in ("", "auto"):
        unused.append(
            f"--device {device} is not used: {'+'.join(parts)} runs on the CPU (classical methods)"
        )
    return Pipeline(steps, "+".join(parts), unused)


def _weights_path(weights: str) -> Path:
    """``--weights``: a file, or the file stem of a shipped or user model."""
    from .zoo import find_model

    path = Path(weights)
    if (
        path.is_file()
        or path.is_dir()
        or path.suffix in (".safetensors", ".pt", ".pth", ".json", ".zip")
        or len(path.parts) > 1
    ):
        return path
    return find_model(weights) or path


@dataclass(frozen=True)
class Estimate:
    """How long a whole stack takes, from the measured time of its first plane."""

    planes: int
    seconds_per_plane: float

    @property
    def seconds(self) -> float:
        return self.planes * self.seconds_per_plane

    def describe(self) -> str:
        """``"400 planes x 0.30 s = about 2.0 min"``."""
        return (
            f"{self.planes} planes x {self.seconds_per_plane:.2g} s = about "
            f"{format_seconds(self.seconds)}"
        )


def format_seconds(seconds: float) -> str:
    """``"45 s"``, ``"2.0 min"``, ``"1.3 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.2g} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@contextmanager
def naming_the_plane(index: tuple, lead: tuple) -> Iterator[None]:
    """A :class:`W2SInputError` of one plane of a stack says which plane (``index`` among the
    ``lead`` axes); that of a single image is left as it is."""
    try:
        yield
    except W2SInputError as err:
        if not lead:
            raise
        where = ", ".join(str(int(i)) for i in index)
        raise W2SInputError(f"plane {where} of {' x '.join(map(str, lead))}: {err}") from err


def iter_restore(
    pipeline: Pipeline, data: np.ndarray, frame_axes: int = 0, budget_s: float | None = None
) -> Generator[dict, None, np.ndarray | Estimate]:
    """Restore every 2-D plane of ``data`` (shape ``(..., Y, X)``); yields progress dicts.

    Each dict has ``plane``, ``planes``, ``done``, ``total`` (units of the current plane).
    With ``budget_s``, a stack whose first plane shows that the whole run would take longer
    stops there and returns an :class:`Estimate` instead of the result (ask the user, then run
    again without a budget).
    """
    arr = np.asarray(data) if not hasattr(data, "compute") else data
    lead = tuple(arr.shape[:-2])
    planes = int(np.prod(lead)) if lead else 1
    s = pipeline.scale
    check_memory(arr.shape, s)
    out = np.empty((*lead, arr.shape[-2] * s, arr.shape[-1] * s), np.float32)
    t0 = time.perf_counter()
    affine = pipeline.fit_normalisation(arr) if lead else None  # a stack: one map for all planes
    for p, index in enumerate(np.ndindex(*lead) if lead else [()]):
        with naming_the_plane(index, lead):
            plane = np.asarray(arr[index])  # cast by the step, after its checks of the values
            target = out[index]  # a view: the last network step writes straight into it
            gen = pipeline.iter_run(plane, affine, target)
            while True:
                try:
                    done, total = next(gen)
                except StopIteration as stop:
                    if stop.value is not target:
                        target[...] = stop.value
                    break
                yield {"plane": p, "planes": planes, "done": done, "total": total}
        if p == 0 and planes > 1 and budget_s is not None:
            estimate = Estimate(planes, time.perf_counter() - t0)
            if estimate.seconds > budget_s:
                return estimate
    return out
