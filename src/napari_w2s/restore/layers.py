"""Restoring the image of a napari layer, without napari: the job and the layers it adds.

The Restore widget describes one run as a :class:`LayerRun` (the input layer's name, geometry
and metadata, the method and its options, the frame of a stack), runs :func:`restore_job` in a
thread worker, and adds what :func:`result_layer` and :func:`trust_layer` describe: napari
layer-data tuples ``(data, kwargs, "image")``. Nothing here imports Qt or napari, so a script
or a test gets the names, geometry and metadata that the widget gives.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from ..geometry import upsampled_geometry

DEFAULT_AXES = {2: "YX", 3: "TYX", 4: "TCYX"}
TRUST_LIMITS = (-6, 6)  # the trust map's contrast limits, in noise units (z)


@dataclass(frozen=True)
class LayerRun:
    """One restoration of a layer: what the widget chose, and what it restores.

    ``shape`` is that of the data restored: the whole layer, the 2-D frame at ``lead`` (the
    index of the leading axes; empty for the whole layer), or with ``level`` the 2-D average of
    the W2S level ``avg{level}`` of a stack (T, Y, X) (:mod:`napari_w2s.restore.stack_level`;
    with ``reliability``, ``level`` other frames are averaged and restored too, for the
    disjoint-frame reliability map).
    """

    method: str
    layer: str  # the input layer's name
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    shape: tuple[int, ...]
    source: str = ""  # the input's file (its metadata's ``source``), else the layer's name
    axes: str = ""  # the input layer's axes (its metadata's ``axes``)
    lead: tuple[int, ...] = ()
    device: str = "auto"
    tile: int | None = None
    noise_level: str | None = None
    threads: int | str | None = None
    precision: str = "auto"  # restore.device.PRECISIONS
    orientations: int = 1  # restore.orientations: the result averaged over 1, 2, 4 or 8
    weights: str | None = None
    trust: bool = False  # add a trust map (a 2-D result only)
    level: int | None = None  # restore this W2S level of a stack (T, Y, X), not its planes
    reliability: bool = False  # with level: the disjoint-frame reliability map too

    @classmethod
    def of_layer(
        cls, layer: Any, method: str, lead: tuple[int, ...] = (), **options: Any
    ) -> LayerRun:
        """The run of ``method`` on ``layer`` (anything with ``name``, ``scale``,
        ``translate``, ``metadata`` and ``data``), on its frame ``lead`` where given."""
        metadata = layer.metadata or {}
        shape = tuple(layer.data.shape[len(lead) :] if lead else layer.data.shape)
        if options.get("level"):
            shape = shape[-2:]
        return cls(
            method=method,
            layer=layer.name,
            scale=tuple(float(s) for s in layer.scale),
            translate=tuple(float(t) for t in layer.translate),
            shape=tuple(int(n) for n in shape),
            source=metadata.get("source") or layer.name,
            axes=metadata.get("axes") or "",
            lead=tuple(int(i) for i in lead),
            **options,
        )

    @property
    def planes(self) -> int:
        """The 2-D planes restored."""
        return math.prod(self.shape[:-2])

    @property
    def suffix(self) -> str:
        """``" [frame 7]"`` for one frame of a stack, ``" [avg4]"`` for a level, else ``""``."""
        if self.level:
            return f" [avg{self.level}]"
        return f" [frame {','.join(map(str, self.lead))}]" if self.lead else ""

    @property
    def name(self) -> str:
        """The result layer's name: ``"avg1 jdsr"``, ``"stack bicubic [frame 7]"``."""
        return f"{self.layer} {self.method}{self.suffix}"

    def speed_key(self) -> tuple:
        """What the time per plane depends on (the key of measured speeds)."""
        return (
            self.method,
            self.device,
            self.tile,
            self.noise_level,
            self.threads,
            self.precision,
            self.orientations,
            self.shape[-2:],
            self.reliability,
        )


@dataclass(frozen=True)
class Restored:
    """What :func:`restore_job` returns.

    ``data`` is the result, or an :class:`~napari_w2s.restore.engine.Estimate` where a stack
    would take longer than the budget (nothing more was computed). ``check`` is the
    :class:`~napari_w2s.analysis.consistency.Consistency` of a 2-D result with its input
    where a trust map was asked for, else ``None``. A level of a stack: ``frames`` averaged,
    and ``reliability`` (:class:`~napari_w2s.analysis.reliability.Reliability`) where asked.
    """

    data: Any
    pipeline: dict
    seconds: float
    factor: int
    check: Any = None
    frames: list[int] | None = None
    reliability: Any = None
    notes: tuple[str, ...] = ()  # the pipeline's notes on this input (constant, saturated ...)

    @property
    def weights(self) -> list[str]:
        """The weights files that ran, step by step."""
        return [s["weights"] for s in self.pipeline["steps"] if s.get("weights")]

    @property
    def weights_levels(self) -> list[str | None]:
        """The noise level of each of :attr:`weights`."""
        return [s.get("noise_level") for s in self.pipeline["steps"] if s.get("weights")]

    @property
    def devices(self) -> set[str]:
        """The devices of the network steps (none for classical methods)."""
        return {s["device"] for s in self.pipeline["steps"] if s.get("device")}


class Speeds(dict):
    """Seconds per plane measured in this session, by :meth:`LayerRun.speed_key`."""

    def remember(self, run: LayerRun, seconds_per_plane: float) -> None:
        """Note how long a plane of ``run`` took."""
        self[run.speed_key()] = float(seconds_per_plane)

    def estimate(self, run: LayerRun) -> Any:
        """How long ``run`` takes (an :class:`~napari_w2s.restore.engine.Estimate`), where a
        run of the same kind was timed; else ``None``."""
        from .engine import Estimate

        seconds_per_plane = self.get(run.speed_key())
        return None if seconds_per_plane is None else Estimate(run.planes, seconds_per_plane)

    def note(self, run: LayerRun, budget_s: float) -> str:
        """Before a stack run: its planes, and the time they take where it was measured."""
        known = self.estimate(run)
        if known is not None:
            return f"whole stack: {known.describe()} (measured here)"
        return (
            f"whole stack: {run.planes} planes; the first one is timed, and a run longer "
            f"than {budget_s:.0f} s asks before going on"
        )


def restore_job(
    data: Any, run: LayerRun, budget_s: float | None = None
) -> Generator[dict, None, Restored]:
    """Worker body: resolve the pipeline (loads weights, imports torch), restore tile by tile.

    Yields ``{"stage": "loading"}`` once, ``{"stage": "running", "scale": ...}``, then the
    engine's progress dicts (``plane``, ``planes``, ``done``, ``total``), and
    ``{"stage": "checking"}`` before a trust check; returns a :class:`Restored`. With
    ``budget_s``, a stack that would take longer returns an
    :class:`~napari_w2s.restore.engine.Estimate` (measured on its first plane) as its data.
    With ``run.trust``, a 2-D result is checked against its input
    (:func:`~napari_w2s.analysis.consistency.check_restoration`). With ``run.level``, ``data``
    is a stack (T, Y, X) whose W2S level is restored (the average is the input), and with
    ``run.reliability`` its disjoint-frame reliability map is made (two planes of progress). ``run.weights``: a
    ``.safetensors`` file with its card or a BioImage Model Zoo package instead of the shipped
    weights (``w2s restore --weights``).
    """
    import numpy as np

    from .engine import Estimate, iter_restore, resolve

    yield {"stage": "loading"}
    stack = frames = rel = None
    if run.level:  # a W2S level of a stack: its average is the input (checked and shown)
        from ..analysis.reliability import frames_average
        from .stack_level import iter_restore_level, level_frames_of

        stack = data
        frames, _ = level_frames_of(int(stack.shape[0]), run.level, run.reliability)
        data = frames_average(stack, frames)
    noise_level = run.noise_level
    if noise_level == "auto" and not run.weights:  # the per-level model for inputs this noisy
        from .zoo import auto_level

        arr = np.asarray(data[(0,) * (np.ndim(data) - 2)], dtype=np.float64)
        noise_level = auto_level(run.method, arr)
    pipeline = resolve(
        run.method,
        device=run.device,
        tile=run.tile,
        noise_level=noise_level,
        threads=run.threads,
        precision=run.precision,
        orientations=run.orientations,
        weights=run.weights or None,
    )
    yield {"stage": "running", "scale": pipeline.scale}
    t0 = time.perf_counter()
    if stack is not None:  # with its disjoint twin for the reliability map
        job = iter_restore_level(pipeline, stack, run.level, run.reliability, average=data)
        result, rel, frames = yield from job
    else:
        result = yield from iter_restore(pipeline, data, budget_s=budget_s)
    seconds = time.perf_counter() - t0
    check = None
    if run.trust and not isinstance(result, Estimate) and np.ndim(result) == 2:
        from ..analysis.consistency import check_restoration

        yield {"stage": "checking"}
        check = check_restoration(result, np.asarray(data))
    notes = tuple(pipeline.notes)
    return Restored(result, pipeline.describe(), seconds, pipeline.scale, check, frames, rel, notes)


def _placed(run: LayerRun, image: Any, factor: int = 1) -> tuple[Any, tuple, tuple]:
    """``image`` (a result of ``run``) with the scale and translate that overlay it on the
    input: one frame of a stack becomes a one-frame stack at that frame, a level of a stack an
    image on its frames' grid; a x``factor`` result gets ``factor`` times smaller pixels,
    centred where they belong."""
    scale, translate = run.scale, run.translate
    if run.level:
        scale, translate = scale[-2:], translate[-2:]
    elif run.lead:
        n = len(run.lead)
        image = image.reshape((1,) * n + image.shape)
        moved = tuple(t + i * s for t, s, i in zip(translate[:n], scale[:n], run.lead, strict=True))
        translate = moved + translate[n:]
    if factor > 1:
        scale, translate = upsampled_geometry(scale, translate, factor=factor)
    return image, scale, translate


def result_layer(run: LayerRun, restored: Restored) -> tuple[Any, dict, str]:
    """The result as a layer-data tuple: named :attr:`LayerRun.name`, on the input's grid
    (x2: half the pixel size), with the method, its parameters and provenance as metadata."""
    data, scale, translate = _placed(run, restored.data, restored.factor)
    axes = run.axes[-data.ndim :]
    if len(axes) != data.ndim:
        axes = DEFAULT_AXES.get(data.ndim, "")
    weights = restored.weights
    parameters = {
        "device": run.device,
        "threads": run.threads or "all",
        "tile": run.tile or "auto",
        "noise_level": run.noise_level or "blind/estimated",
        "weights_noise_level": restored.weights_levels or None,
        "frame": list(run.lead) or "all",
    }
    if run.level:
        parameters.update(frame=f"avg{run.level}", level=f"avg{run.level}", frames=restored.frames)
    seconds = round(restored.seconds, 3)
    provenance = {
        "method": run.method,
        "model": weights or None,
        "parameters": parameters,
        "pipeline": restored.pipeline,
        "seconds": seconds,
        "source": run.source,
        "source_layer": run.layer,
    }
    metadata = {
        "method": run.method,
        "model": weights or None,
        "parameters": parameters,
        "seconds": seconds,
        "pipeline": restored.pipeline,
        "axes": axes,
        "source": run.source,
        "provenance": provenance,
    }
    kwargs = {
        "name": run.name,
        "scale": scale,
        "translate": translate,
        "colormap": "gray",
        "metadata": metadata,
    }
    return data, kwargs, "image"


def trust_layer(run: LayerRun, check: Any) -> tuple[Any, dict, str]:
    """The consistency z map as a layer-data tuple: on the input's grid (at the frame of a
    stack), diverging around 0, with the verdict and its numbers as metadata."""
    z, scale, translate = _placed(run, check.z)
    kwargs = {
        "name": f"{run.layer} {run.method} trust z{run.suffix}",
        "scale": scale,
        "translate": translate,
        "colormap": "RdBu_r",
        "contrast_limits": TRUST_LIMITS,
        "opacity": 0.7,
        "metadata": {"trust": check.to_dict(), "source_layer": run.layer},
    }
    return z, kwargs, "image"


def reliability_layer(run: LayerRun, restored: Restored) -> tuple[Any, dict, str]:
    """The disjoint-frame reliability map of a level of a stack as a layer-data tuple: on the
    result's grid, a sequential colormap from 0, the calibration and frames as metadata."""
    import numpy as np

    rel = restored.reliability
    data, scale, translate = _placed(run, rel.map, restored.factor)
    top = float(np.percentile(rel.map, 99.5))
    kwargs = {
        "name": f"{run.layer} {run.method} reliability{run.suffix}",
        "scale": scale,
        "translate": translate,
        "colormap": "magma",
        "contrast_limits": (0.0, top if top > 0 else 1.0),
        "metadata": {
            "reliability": rel.to_dict(),
            "source_layer": run.layer,
            "axes": "YX",
            "provenance": {
                "kind": "reliability map",
                "method": run.method,
                "level": f"avg{run.level}",
                "pipeline": restored.pipeline,
                "source": run.source,
                "source_layer": run.layer,
            },
        },
    }
    return data, kwargs, "image"


def reliability_summary(rel: Any) -> str:
    """The predicted RMSE of a reliability map and what it rests on (HTML)."""
    a, b = rel.frames_a, rel.frames_b
    span = f"frames {b[0]}-{b[-1]}" if len(b) > 1 else f"frame {b[0]}"
    text = (
        f"reliability: predicted RMSE <b>{rel.predicted_rmse:.3g}</b> (the map's mean, in the "
        f"result's units; {len(a)} frame{'s' if len(a) > 1 else ''} restored again from {span})"
    )
    if not rel.calibrated:
        text += ": no calibration for this model, the raw disagreement underestimates the error"
    return text


def summary(run: LayerRun, restored: Restored) -> str:
    """One line on what ran: ``"jdsr with jdsr-blind-compact (noise-blind): (256, 256) ->
    (512, 512) in 1.20 s on cpu"``."""
    used = ""
    if restored.weights:
        kinds = [
            w.removesuffix(".safetensors")
            + (" (noise-blind)" if lv == "blind" else f" ({lv})" if lv else "")
            for w, lv in zip(restored.weights, restored.weights_levels, strict=False)
        ]
        used = f" with {', '.join(kinds)}"
    shape = restored.data.shape
    out = tuple(shape[-2:]) if run.lead else shape
    devices = restored.devices
    where = f" on {', '.join(sorted(devices))}" if devices else ""
    level = f" avg{run.level} of the stack" if run.level else ""
    return f"{run.method}{used}:{level} {run.shape} -> {out} in {restored.seconds:.2f} s{where}"


def device_note(run: LayerRun, restored: Restored) -> str | None:
    """A warning where a device was chosen for a method that has no network."""
    if restored.devices or run.device in ("auto", "cpu"):
        return None
    return f"{run.method} is a classical method: it runs on the CPU whatever the device"


def trust_summary(check: Any) -> str:
    """The verdict of a trust map and how to read its colours (HTML)."""
    return (
        f"trust: <b>{check.verdict}</b>, {100 * check.outside_3sigma:.2f} % of the pixels "
        "beyond 3 sigma (blue: brighter than the data support, e.g. invented; red: darker, "
        "e.g. lost)"
    )
