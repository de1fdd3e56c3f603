"""The restore job: an image, a stack or a file restored plane by plane, in one place.

* :class:`RestoreOptions` is everything a restoration needs (method, noise level, device, tiles,
  threads, weights), one frozen value checked when it is made;
* :func:`restore_array` restores an image or a stack lazily: a generator of restored planes,
  each read, restored and handed over before the next is read, with progress between tiles and
  a cancel that stops at the next tile;
* :func:`restore_file` reads a file (any reader of :mod:`napari_w2s.io`), streams its restored
  planes into an OME-TIFF or ``.npy`` written atomically (a hidden temporary name renamed when
  complete), with the provenance record, and returns a :class:`RestoreResult`.

Memory is bounded by a few planes whatever the number of planes (``benchmarks/
bench_restore_memory.py``). A stack is normalised once for all its planes (the networks' map is
fitted on a sample of the whole stack, read lazily), so its planes stay comparable; the numbers
are those of :func:`napari_w2s.restore.engine.iter_restore`, which holds the whole output.

``w2s restore``, the demo and (for its per-plane work) ``w2s batch`` run this module. Importing
it loads neither torch nor the models: the pipeline is built when a restoration starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import W2SInputError
from ..progress import Cancel, Cancelled, is_cancelled
from .steps import DEFAULT_OVERLAP

__all__ = [
    "OUTPUT_SUFFIXES",
    "RestoreCancelled",
    "RestoreOptions",
    "RestoreResult",
    "read_input",
    "restore_array",
    "restore_file",
    "restore_plane",
]

OUTPUT_SUFFIXES = (".tif", ".tiff", ".npy")

# receives {"plane", "planes", "done", "total"} between tiles (read by progress.as_progress)
PlaneProgress = Callable[[dict], None]


class RestoreCancelled(Cancelled):
    """Raised between two tiles when a restoration is cancelled (nothing is written)."""


@dataclass(frozen=True)
class RestoreOptions:
    """Everything a restoration needs, as one value (``w2s restore``'s options).

    Attributes
    ----------
    method : str
        A method string (``docs/cli.md``): ``jdsr`` (default), ``dncnn+rcan``, ``pure-let``,
        ``bicubic``, the file stem of one of your models, ...
    noise_level : str or None
        ``None`` (the noise-blind models), ``"auto"`` (the per-level model whose training inputs
        are as noisy as the first plane, from its signal-to-noise ratio) or a W2S level
        (``"avg4"``, or ``"4"``, stored as ``"avg4"``); checked when the options are made.
    device : str
        ``auto`` (cuda, then mps, then cpu), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    tile : int or None
        Tile size in input pixels; ``0`` is the whole image; ``None`` chooses from free memory.
    overlap : int
        Pixels shared by neighbouring tiles (blended without seams).
    threads : int, "auto" or None
        CPU threads of the networks (``None``: every core; ``auto``: the cores free now).
    weights : str or None
        A ``.safetensors`` file with its card, the name of one of your models or a BioImage
        Model Zoo package, replacing the shipped weights of a single-model method.
    noise : (float, float) or None
        ``(a, b)`` of the noise variance ``a * mean + b`` for the classical denoisers (default:
        estimated from each plane).
    backend : str
        What runs the networks: ``torch`` (default), ``onnx`` (ONNX Runtime on the CPU, the
        ``onnx`` extra) or ``auto`` (the faster for each model, measured once on this machine
        and cached with its export in the user data folder).
    precision : str
        ``auto`` (mixed precision on CUDA, float32 elsewhere), ``float32`` or ``bfloat16``
        (CUDA, or a CPU with native bfloat16: 1.2-2.7x faster, about 1 % of the output's std from float32;
        checked when the options are made).
    orientations : int
        1, 2, 4 or 8: every network's result averaged over that many flips and quarter turns
        of the image (:mod:`.orientations`), that many times slower.
    """

    method: str = "jdsr"
    noise_level: str | None = None
    device: str = "auto"
    tile: int | None = None
    overlap: int = DEFAULT_OVERLAP
    threads: int | str | None = None
    weights: str | None = None
    noise: tuple[float, float] | None = None
    backend: str = "torch"
    precision: str = "auto"
    orientations: int = 1

    def __post_init__(self) -> None:
        from ..averaging import noise_level_option
        from .device import parse_precision
        from .orientations import parse_orientations

        object.__setattr__(self, "precision", parse_precision(self.precision))
        object.__setattr__(self, "orientations", parse_orientations(self.orientations))
        level = None if self.noise_level is None else str(self.noise_level)
        object.__setattr__(self, "noise_level", noise_level_option(level))
        if self.tile is not None:
            object.__setattr__(self, "tile", int(self.tile))

    def pipeline(self, first_plane: Any = None) -> Any:
        """The :class:`~napari_w2s.restore.engine.Pipeline` of these options (loads the
        models). ``first_plane`` answers ``noise_level="auto"`` (without it: noise-blind)."""
        from .resolver import resolve

        level = self.noise_level
        if level == "auto":
            level = None if first_plane is None else _auto_level(self.method, first_plane)
        return resolve(
            self.method,
            device=self.device,
            tile=self.tile,
            overlap=self.overlap,
            weights=self.weights,
            noise_level=level,
            noise=self.noise,
            threads=self.threads,
            backend=self.backend,
            precision=self.precision,
            orientations=self.orientations,
        )


def _auto_level(method: str, plane: Any) -> str | None:
    from .zoo import auto_level

    return auto_level(method, np.asarray(plane, dtype=np.float64))


def _first_plane(data: Any) -> np.ndarray:
    """The first 2-D plane of an image or stack ``(..., Y, X)``, read alone."""
    return np.asarray(data[(0,) * (len(data.shape) - 2)])


# ------------------------------------------------------------------------------ one plane
def restore_plane(
    pipeline: Any,
    plane: Any,
    affine: Any = None,
    *,
    where: tuple[int, int | None] = (0, 1),
    index: tuple = (),
    lead: tuple = (),
    progress: PlaneProgress | None = None,
    cancel: Cancel = None,
) -> np.ndarray:
    """Restore one 2-D plane with ``pipeline`` (float32, the output size).

    ``affine`` is the normalisation of the stack the plane belongs to (``None``: the plane's
    own); ``where`` = ``(plane number, number of planes)`` is reported to ``progress`` as the
    engine's dicts (``plane``, ``planes``, ``done``, ``total``) between tiles; ``index`` among
    ``lead`` (the stack's leading axes) names the plane in a :class:`W2SInputError`. ``cancel``
    (an event or a callable) raises :class:`RestoreCancelled` at the next tile.
    """
    from .engine import naming_the_plane

    cancelled = is_cancelled(cancel)
    p, planes = where
    with naming_the_plane(index, lead):
        gen = pipeline.iter_run(plane, affine)  # the step casts, after its checks of the values
        while True:
            if cancelled():
                gen.close()
                raise RestoreCancelled("cancelled")
            try:
                done, total = next(gen)
            except StopIteration as stop:
                return np.asarray(stop.value, dtype=np.float32)
            if progress is not None:
                progress({"plane": p, "planes": planes, "done": done, "total": total})


# ------------------------------------------------------------------------------ arrays
def restore_array(
    data: Any,
    options: RestoreOptions | None = None,
    *,
    pipeline: Any = None,
    progress: PlaneProgress | None = None,
    cancel: Cancel = None,
) -> Generator[np.ndarray, None, None]:
    """Restore an image or every plane of a stack, lazily: a generator of restored planes.

    Parameters
    ----------
    data : array-like or iterable of 2-D arrays
        An image ``(Y, X)`` or a stack ``(..., Y, X)`` (numpy, a memory map or a dask array: a
        plane is read only when it is restored), or any iterable of 2-D planes (consumed one at
        a time). A stack given as an array is normalised once for all its planes (fitted on a
        sample of its planes, read alone); the planes of an iterable are normalised each on its
        own, as the stack is not known in advance.
    options : RestoreOptions, optional
        The restoration (default ``RestoreOptions()``: JDSR, noise-blind, automatic device).
    pipeline : Pipeline, optional
        An already resolved pipeline (from :meth:`RestoreOptions.pipeline`), used instead of
        ``options``: its ``notes`` and ``describe()`` then tell about this run.
    progress : callable, optional
        Receives ``{"plane", "planes", "done", "total"}`` between tiles (``planes`` is ``None``
        for an iterable without a length).
    cancel : threading.Event or callable, optional
        Checked between tiles; when set (or true), :class:`RestoreCancelled` is raised.

    Yields
    ------
    numpy.ndarray
        The restored planes (float32, ``scale`` times the input size), in the order of the
        stack's planes (C order of its leading axes).
    """
    from .memory import check_memory

    opts = options or RestoreOptions()
    if not hasattr(data, "shape"):  # an iterable of planes
        yield from _restore_iterable(data, opts, pipeline, progress, cancel)
        return
    arr = data  # read by plane: a memory map or a dask array is never loaded whole
    if len(arr.shape) < 2:
        raise W2SInputError(f"an image has two dimensions (Y, X); this one has {len(arr.shape)}")
    if pipeline is None:
        first = _first_plane(arr) if opts.noise_level == "auto" else None
        pipeline = opts.pipeline(first)
    lead = tuple(int(s) for s in arr.shape[:-2])
    planes = int(np.prod(lead)) if lead else 1
    check_memory(tuple(arr.shape[-2:]), pipeline.scale)  # one plane at a time is held
    affine = pipeline.fit_normalisation(arr) if lead else None  # a stack: one map for all
    for p, index in enumerate(np.ndindex(*lead) if lead else [()]):
        yield restore_plane(
            pipeline,
            np.asarray(arr[index]),
            affine,
            where=(p, planes),
            index=index,
            lead=lead,
            progress=progress,
            cancel=cancel,
        )


def _restore_iterable(
    planes: Iterable, opts: RestoreOptions, pipeline: Any, progress: Any, cancel: Cancel
) -> Iterator[np.ndarray]:
    """:func:`restore_array` of an iterable of 2-D planes, each normalised on its own."""
    from .memory import check_memory

    n = len(planes) if hasattr(planes, "__len__") else None
    for p, plane in enumerate(planes):
        plane = np.asarray(plane)
        if pipeline is None:
            pipeline = opts.pipeline(plane if opts.noise_level == "auto" else None)
        if p == 0:
            check_memory(plane.shape, pipeline.scale)
        lead = (n,) if n is not None else ()
        yield restore_plane(
            pipeline, plane, where=(p, n), index=(p,), lead=lead, progress=progress, cancel=cancel
        )


# ------------------------------------------------------------------------------ files
@dataclass(frozen=True)
class RestoreResult:
    """What :func:`restore_file` wrote.

    ``seconds`` is the time from the first plane to the last one written (the same number as
    in the file's provenance record); ``pipeline`` is the pipeline's ``describe()`` after the
    run (devices, tiles, the fitted normalisation, the noise used); ``notes`` are what the user
    should know (options without effect, constant or saturated planes).
    """

    path: Path
    method: str
    shape_in: tuple[int, ...]
    shape_out: tuple[int, ...]
    scale: int
    seconds: float
    pipeline: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def read_input(path: str | Path, axes: str | None = None, channel: int = 0) -> Any:
    """:func:`napari_w2s.io.read_stack` of an input with its axes and channel; ``channel``
    chooses among a W2S folder's files, so on a single file it would do nothing: refused."""
    from ..io import read_stack

    if channel != 0 and not Path(path).is_dir():
        raise W2SInputError(
            f"--channel {channel} chooses a channel of a W2S ImageNNN folder; {path} is a file "
            "(all its planes are used)"
        )
    return read_stack(path, axes=axes, channel=channel)


def output_path(out: str | Path, stack: Any, method: str) -> Path:
    """The file to write: ``out``, or ``NAME_METHOD.ome.tif`` in ``out`` when it is a folder."""
    dst = Path(out)
    if dst.is_dir():
        return dst / f"{stack.name}_{method.replace('+', '_')}.ome.tif"
    if not dst.parent.is_dir():
        raise W2SInputError(f"{dst.parent}: the output folder does not exist")
    if dst.suffix.lower() not in OUTPUT_SUFFIXES:
        raise W2SInputError(
            f"{dst}: the result is written as OME-TIFF or .npy; give a name ending .ome.tif, "
            ".tif or .npy, or a folder"
        )
    return dst


def restore_file(
    src: str | Path,
    out: str | Path,
    options: RestoreOptions | None = None,
    *,
    axes: str | None = None,
    channel: int = 0,
    progress: PlaneProgress | None = None,
    cancel: Cancel = None,
) -> RestoreResult:
    """Restore the image or stack in file ``src`` into ``out``, plane by plane.

    ``src`` is anything :func:`napari_w2s.io.read_stack` reads (TIFF, OME-TIFF, ``.npy``, a W2S
    ``ImageNNN`` folder with ``channel``), with ``axes`` when its metadata do not say. ``out``
    is an ``.ome.tif`` / ``.tif`` / ``.npy`` file, or an existing folder (the file is then
    ``NAME_METHOD.ome.tif``). The OME-TIFF has the input's axes, its pixel size (halved by a x2
    method) and the provenance record (method, pipeline, source, seconds). The output appears
    under its name only when complete: a failed or cancelled run leaves no file, and an
    existing file is replaced only by a complete one. ``progress`` and ``cancel`` are those of
    :func:`restore_array`.

    Raises
    ------
    W2SInputError
        An unreadable input, an output that is the input or in no folder, an unknown method or
        missing weights, a plane that cannot be restored (named), a failed write.
    RestoreCancelled
        ``cancel`` was set.
    """
    from .._validate import refuse_overwriting_inputs
    from ..geometry import upsampled_geometry

    opts = options or RestoreOptions()
    stack = read_input(src, axes, channel)
    dst = output_path(out, stack, opts.method)
    refuse_overwriting_inputs([dst], [src, stack.source])
    first = _first_plane(stack.data) if opts.noise_level == "auto" else None
    pipeline = opts.pipeline(first)
    s = int(pipeline.scale)
    shape_out = (*stack.shape[:-2], stack.shape[-2] * s, stack.shape[-1] * s)
    pixel = stack.pixel_size
    if pixel is not None and s > 1:
        pixel = upsampled_geometry(pixel, factor=s)[0]
    t0 = time.perf_counter()
    planes = restore_array(stack.data, pipeline=pipeline, progress=progress, cancel=cancel)
    run: dict[str, Any] = {}

    def provenance() -> dict:
        """The record, made once the last plane is written (what the run measured)."""
        run["seconds"] = time.perf_counter() - t0
        run["pipeline"] = pipeline.describe()
        return {
            "method": pipeline.method,
            "pipeline": run["pipeline"],
            "source": str(Path(src).resolve()),
            "seconds": round(run["seconds"], 3),
        }

    if dst.suffix.lower() == ".npy":
        path = write_npy_planes(dst, planes, shape_out)
        provenance()
    else:
        from ..io import write_ome_tiff

        path = write_ome_tiff(
            dst, PlaneStream(planes, shape_out), stack.axes, pixel, provenance, name=opts.method
        )
    return RestoreResult(
        path=path,
        method=pipeline.method,
        shape_in=stack.shape,
        shape_out=shape_out,
        scale=s,
        seconds=run["seconds"],
        pipeline=run["pipeline"],
        notes=tuple(pipeline.notes),
    )


class PlaneStream:
    """Planes from an iterator, seen by :func:`napari_w2s.io.write_ome_tiff` as an array that
    it reads plane by plane, in order: each plane is made when the writer asks for it."""

    def __init__(
        self, planes: Iterable[np.ndarray], shape: tuple[int, ...], dtype: Any = np.float32
    ) -> None:
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)
        self._planes = iter(planes)
        self._order = np.ndindex(*self.shape[:-2])

    def __getitem__(self, index: Any) -> np.ndarray:
        expected = next(self._order, None)
        if index != expected:
            raise IndexError(f"the planes are streamed in order: {expected} next, not {index}")
        return np.asarray(next(self._planes), dtype=self.dtype)


def write_npy_planes(
    path: str | Path, planes: Iterable[np.ndarray], shape: tuple[int, ...]
) -> Path:
    """Write a float32 ``.npy`` of ``shape`` plane by plane, atomically (the bytes of
    :func:`numpy.save` of the whole array, without holding it)."""
    from ..io.atomic import atomic_file

    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype("<f4")),
        "fortran_order": False,
        "shape": tuple(int(v) for v in shape),
    }
    with atomic_file(path) as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        for plane in planes:
            fh.write(memoryview(np.ascontiguousarray(plane, dtype="<f4")).cast("B"))
    return Path(path)
