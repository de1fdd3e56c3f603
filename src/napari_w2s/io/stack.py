"""A widefield stack read from disk: the array (lazy where it can be), its axes and pixel size.

:class:`Stack` and what every reader shares (:func:`canonical_axes`, :func:`read_npy`); the one
entry point for reading is :func:`napari_w2s.io.read.read_stack`. Arrays are never loaded whole:
``.npy`` files and uncompressed TIFFs are memory-mapped, compressed TIFFs become a dask array that
reads one page at a time.

Axes are canonical, always a subsequence of ``"TCYX"`` in that order (``"YX"``, ``"TYX"``,
``"CYX"``, ``"TCYX"``). They are detected from the file's metadata or its shape, or given by the
user as any permutation (``"CTYX"`` is transposed to ``"TCYX"``, lazily).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import W2SInputError

CANONICAL_AXES = "TCYX"
TIFF_SUFFIXES = (".tif", ".tiff")
NPY_SUFFIXES = (".npy",)


@dataclass(frozen=True)
class Stack:
    """An image or stack of frames with its axes and physical pixel size.

    Attributes
    ----------
    data : array-like
        ``numpy.ndarray``, ``numpy.memmap`` or ``dask.array.Array`` with ``len(axes)`` dimensions.
    axes : str
        Canonical axes, a subsequence of ``"TCYX"``.
    pixel_size : tuple of float or None
        ``(y, x)`` pixel size in micrometres, ``None`` when the file does not say.
    source : str or None
        The file or folder it was read from.
    metadata : dict
        Anything else worth keeping (the reader's notes, W2S view and channel, ...).
    """

    data: Any
    axes: str
    pixel_size: tuple[float, float] | None = None
    source: str | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.data.dtype)

    @property
    def n_frames(self) -> int:
        """Number of frames along ``T`` (1 when the stack has no ``T`` axis)."""
        return self.shape[self.axes.index("T")] if "T" in self.axes else 1

    @property
    def name(self) -> str:
        if self.source is None:
            return "image"
        return _stem(Path(self.source))

    def scale(self) -> tuple[float, ...]:
        """Per-axis scale for napari: the pixel size on ``Y`` and ``X``, 1 elsewhere."""
        py, px = self.pixel_size or (1.0, 1.0)
        return tuple(py if a == "Y" else px if a == "X" else 1.0 for a in self.axes)

    def with_data(self, data: Any, axes: str | None = None, **changes: Any) -> Stack:
        """A copy with other data (and axes); everything else is kept."""
        return replace(self, data=data, axes=self.axes if axes is None else axes, **changes)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".npy"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_npy(path: str | Path) -> np.ndarray:
    """A ``.npy`` file memory-mapped (never unpickled), or a :class:`W2SInputError`.

    Every reader of ``.npy`` files goes through here: files, W2S folders, the napari reader,
    training sets.
    """
    import warnings

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
        if magic != b"\x93NUMPY":
            raise W2SInputError(
                f"{path}: not a readable .npy array (no NumPy header: another "
                "kind of file named .npy?)"
            )
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # overflowing header sizes
            data = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError, OverflowError) as err:
        if isinstance(err, W2SInputError):
            raise
        if "pickle" in str(err) or "Python objects" in str(err):
            raise W2SInputError(
                f"{path}: not a readable .npy array (it holds Python objects, not numbers)"
            ) from err
        raise W2SInputError(f"{path}: not a readable .npy array ({err})") from err
    if not isinstance(data, np.ndarray):
        raise W2SInputError(f"{path}: holds several arrays; save one image stack per file")
    return data


def canonical_axes(data: Any, axes: str | None, where: str = "image") -> tuple[Any, str]:
    """Check or guess the axes of ``data`` and transpose it to canonical ``TCYX`` order.

    ``axes`` may use tifffile's letters: ``Z``, ``I`` and ``Q`` (a sequence of planes) count as
    frames, ``S`` (samples) marks an RGB image, which is refused.
    """
    ndim = data.ndim
    if data.dtype.kind not in "uif":
        raise W2SInputError(f"{where}: pixel type {data.dtype} is not a number type")
    if axes is None:
        axes = {2: "YX", 3: "TYX", 4: "TCYX"}.get(ndim)
        if ndim == 3 and data.shape[-1] in (3, 4) and min(data.shape[:2]) > 4:
            axes = "YXS"
        if axes is None:
            raise W2SInputError(
                f"{where}: cannot guess the axes of a {ndim}-D array of shape {data.shape}; "
                "give them (e.g. --axes TCYX)"
            )
    axes = axes.upper()
    if len(axes) != ndim:
        raise W2SInputError(
            f"{where}: axes {axes!r} do not match the array's {ndim} dimensions {data.shape}"
        )
    if "S" in axes and data.shape[axes.index("S")] > 1:
        raise W2SInputError(
            f"{where}: an RGB image is not a fluorescence stack; split it into channels or "
            "save one grey channel"
        )
    mapped = "".join("T" if a in "ZIQ" else a for a in axes)
    # drop singleton axes that are neither Y nor X (e.g. ImageJ's TZCYXS padding)
    keep = [i for i, a in enumerate(mapped) if a in "YX" or data.shape[i] > 1]
    if len(keep) < ndim:
        index = tuple(slice(None) if i in keep else 0 for i in range(ndim))
        data = data[index]
        mapped = "".join(mapped[i] for i in keep)
    if sorted(mapped) != sorted(set(mapped)) or not set(mapped) <= set(CANONICAL_AXES):
        raise W2SInputError(
            f"{where}: unsupported axes {axes!r}; a stack has frames (T), optionally channels "
            "(C), then Y and X; z-stacks and repeated axes are not supported"
        )
    if "Y" not in mapped or "X" not in mapped:
        raise W2SInputError(f"{where}: axes {axes!r} must include Y and X")
    canon = "".join(a for a in CANONICAL_AXES if a in mapped)
    if canon != mapped:
        data = data.transpose([mapped.index(a) for a in canon])
    return data, canon
