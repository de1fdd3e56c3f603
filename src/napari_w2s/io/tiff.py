"""TIFF and OME-TIFF: lazy reading with physical pixel sizes, and atomic OME-TIFF writing.

Reading memory-maps uncompressed files and wraps compressed ones in a dask array that reads
page by page. Pixel sizes come from OME-XML, then ImageJ metadata, then resolution tags in
centimetres (a resolution in inches is a screen setting, not a pixel size, and is ignored).

Writing goes to a hidden temporary name in the destination folder and is renamed when complete,
so an interrupted write never leaves a half-written file under the final name. The provenance
record (method, parameters, source, version) is stored as an OME ``MapAnnotation`` and read back
by :func:`read_provenance`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import W2SInputError
from .atomic import atomic_file, atomic_path
from .provenance import PROVENANCE_NAMESPACE, stamp

_UNIT_TO_UM = {
    "µm": 1.0,
    "um": 1.0,
    "micron": 1.0,
    "microns": 1.0,
    "micrometer": 1.0,
    "micrometre": 1.0,
    "\\u00B5m": 1.0,
    "nm": 1e-3,
    "nanometer": 1e-3,
    "mm": 1e3,
    "cm": 1e4,
    "m": 1e6,
    "Å": 1e-4,
    "angstrom": 1e-4,
    "pm": 1e-6,
}


def read_tiff(path: Path) -> tuple[Any, str, tuple[float, float] | None, dict]:
    """Open the first series of a TIFF lazily.

    Returns ``(data, axes, pixel_size_um, metadata)``; ``axes`` are tifffile's letters.
    """
    import tifffile

    problems = _TiffProblems()
    logger = logging.getLogger("tifffile")
    logger.addHandler(problems)
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape, dtype, axes = tuple(series.shape), series.dtype, series.axes
            pixel_size = _pixel_size(tif)
            n_pages = len(series.pages)
            memmappable = series.dataoffset is not None
            if memmappable:
                end = series.dataoffset + int(np.prod(shape)) * dtype.itemsize
                if end > path.stat().st_size:
                    problems.messages.append("image data run past the end of the file")
            else:
                # touch the first page so that an undecodable file fails here, with a message
                series.pages[0].asarray()
                # and refuse a file cut short: a later page's data would run past its end
                size = path.stat().st_size
                for page in series.pages:
                    ends = [o + c for o, c in zip(page.dataoffsets, page.databytecounts)]
                    if ends and max(ends) > size:
                        problems.messages.append(f"page {page.index} runs past the end of the file")
                        break
    except MemoryError:  # a page too large for this machine, not a damaged file
        raise
    except Exception as err:  # tifffile raises many types on corrupt input
        raise W2SInputError(f"{path}: not a readable TIFF ({type(err).__name__}: {err})") from err
    finally:
        logger.removeHandler(problems)
    if problems.messages:
        raise W2SInputError(
            f"{path}: the TIFF is truncated or damaged ({problems.messages[0]}); "
            "frames would be missing, so it is not read"
        )
    if n_pages == 0 or 0 in shape:
        raise W2SInputError(f"{path}: the TIFF holds no image data")
    meta = {"tiff_axes": axes, "memory_mapped": memmappable}
    if memmappable:
        try:
            data = tifffile.memmap(path, mode="r", series=0)
        except (ValueError, OSError) as err:
            raise W2SInputError(f"{path}: the TIFF is truncated or damaged ({err})") from err
        return data.reshape(shape), axes, pixel_size, meta
    return _lazy_pages(path, shape, dtype), axes, pixel_size, meta


class _TiffProblems(logging.Handler):
    """Collects the errors tifffile logs (and otherwise skips) while parsing a file."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().split("> ", 1)[-1])


def _lazy_pages(path: Path, shape: tuple[int, ...], dtype: np.dtype) -> Any:
    """A dask array over the pages of a compressed TIFF, one page per chunk."""
    import dask.array as da

    pages = TiffPages(path, shape, dtype)
    chunks = (1,) * (len(shape) - 2) + tuple(shape[-2:])
    return da.from_array(
        pages,
        chunks=chunks,
        asarray=False,
        fancy=False,
        lock=False,
        name=f"tiff-pages-{path}-{path.stat().st_mtime_ns}",
    )


class TiffPages:
    """Array-like view of a TIFF series that decodes pages on demand.

    Each thread keeps its own open file (its page index parsed once), so dask's threads decode
    pages in parallel. Pickles by path, so it also travels to Dask workers.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path, self.shape, self.dtype = Path(path), tuple(shape), np.dtype(dtype)
        self.ndim = len(self.shape)
        self._local = threading.local()

    def __getstate__(self) -> dict:
        return {"path": self.path, "shape": self.shape, "dtype": self.dtype}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"], state["shape"], state["dtype"])

    def __getitem__(self, key: Any) -> np.ndarray:
        import tifffile

        key = key if isinstance(key, tuple) else (key,)
        lead = self.shape[:-2]
        lead_key, rest = key[: len(lead)], key[len(lead) :]
        index = np.arange(int(np.prod(lead)) if lead else 1).reshape(lead)[lead_key]
        tif = getattr(self._local, "tif", None)
        if tif is None:
            tif = self._local.tif = tifffile.TiffFile(self.path)
        flat = np.atleast_1d(index).ravel().tolist()
        try:
            data = tif.asarray(key=flat, series=0, maxworkers=1)
        except MemoryError:  # a page too large for this machine, not a damaged file
            raise
        except Exception as err:  # a damaged page: decoders raise many types
            raise W2SInputError(
                f"{self.path}: the TIFF is damaged (page {flat[0]}: {type(err).__name__}: {err})"
            ) from err
        data = data.reshape(np.shape(index) + self.shape[-2:])
        return data[(Ellipsis, *rest)] if rest else data


def _pixel_size(tif: Any) -> tuple[float, float] | None:
    """Pixel size (y, x) in micrometres from OME, ImageJ or centimetre resolution tags."""
    if tif.is_ome and tif.ome_metadata:
        size = _ome_pixel_size(tif.ome_metadata)
        if size is not None:
            return size
    page = tif.pages.first
    tags = page.tags
    xres, yres = tags.get("XResolution"), tags.get("YResolution")
    if xres is None or yres is None:
        return None
    unit_scale = None
    if tif.is_imagej and tif.imagej_metadata:
        unit = str(tif.imagej_metadata.get("unit", "")).strip()
        unit_scale = _UNIT_TO_UM.get(unit) or _UNIT_TO_UM.get(unit.lower())
    if unit_scale is None:
        unit_tag = tags.get("ResolutionUnit")
        if unit_tag is not None and int(unit_tag.value) == 3:  # CENTIMETER
            unit_scale = 1e4
    if unit_scale is None:
        return None
    sizes = []
    for res in (yres.value, xres.value):
        num, den = res if isinstance(res, tuple) else (res, 1)
        if not num:
            return None
        sizes.append(unit_scale * den / num)
    return (sizes[0], sizes[1])


def _ome_pixel_size(xml: str) -> tuple[float, float] | None:
    import tifffile

    try:
        ome = tifffile.xml2dict(xml)["OME"]
    except Exception:  # malformed OME-XML: fall back to the other sources
        return None
    image = ome.get("Image")
    if isinstance(image, list):
        image = image[0]
    pixels = (image or {}).get("Pixels", {})
    out = []
    for axis in ("Y", "X"):
        value = pixels.get(f"PhysicalSize{axis}")
        if value is None:
            return None
        unit = str(pixels.get(f"PhysicalSize{axis}Unit", "µm"))
        scale = _UNIT_TO_UM.get(unit) or _UNIT_TO_UM.get(unit.lower())
        if scale is None:
            return None
        out.append(float(value) * scale)
    return (out[0], out[1])


def write_ome_tiff(
    path: str | Path,
    data: Any,
    axes: str,
    pixel_size: tuple[float, float] | None = None,
    provenance: dict | Callable[[], dict] | None = None,
    name: str | None = None,
) -> Path:
    """Write an OME-TIFF atomically, with physical pixel sizes and a provenance record.

    Parameters
    ----------
    path : str or Path
        Destination; its folder must exist and be writable.
    data : array-like
        numpy or dask array with axes ``axes`` (a subsequence of ``"TCYX"``). Dask arrays are
        written frame by frame, so memory stays bounded.
    axes : str
        Axes of ``data``.
    pixel_size : (float, float), optional
        ``(y, x)`` in micrometres.
    provenance : dict or callable, optional
        JSON-serialisable record: method, parameters, source file, ... The package version is
        added. A callable returning the record is called once the last plane is written: a
        record of what the writing computed (a streamed restoration's time, its fitted
        normalisation) is then stored with the planes it describes.
    name : str, optional
        Image name stored in the OME metadata.

    Returns
    -------
    Path
        The final path.
    """
    import tifffile

    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise W2SInputError(f"{folder}: the output folder does not exist")
    if not os.access(folder, os.W_OK):
        raise W2SInputError(f"{folder}: the output folder is not writable")
    if len(axes) != data.ndim:
        raise ValueError(f"axes {axes!r} do not match data with {data.ndim} dimensions")

    late = provenance if callable(provenance) else None
    if late is not None and isinstance(data, np.ndarray):  # the data exist: so does the record
        provenance, late = late(), None
    record = stamp({} if late else provenance or {})
    metadata: dict[str, Any] = {
        "axes": axes,
        "Name": name or path.name.split(".")[0],
        "MapAnnotation": {
            "Namespace": PROVENANCE_NAMESPACE,
            "napari-w2s": json.dumps(record, default=_json_default),
        },
    }
    if pixel_size is not None:
        metadata.update(
            PhysicalSizeY=float(pixel_size[0]),
            PhysicalSizeYUnit="µm",
            PhysicalSizeX=float(pixel_size[1]),
            PhysicalSizeXUnit="µm",
        )

    shape, dtype = tuple(int(s) for s in data.shape), np.dtype(data.dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    with atomic_path(path) as tmp:
        if isinstance(data, np.ndarray):
            tifffile.imwrite(
                tmp,
                data,
                ome=True,
                metadata=metadata,
                photometric="minisblack",
                bigtiff=nbytes > 2**31,
                software="napari-w2s",
            )
        else:
            frames = _iter_planes(data)
            tifffile.imwrite(
                tmp,
                frames,
                shape=shape,
                dtype=dtype,
                ome=True,
                metadata=metadata,
                photometric="minisblack",
                bigtiff=nbytes > 2**31,
                software="napari-w2s",
            )
            if late is not None:
                _rewrite_provenance(tmp, metadata, stamp(late()), shape, dtype)
    return path


def _rewrite_provenance(
    path: Path, metadata: dict, record: dict, shape: tuple[int, ...], dtype: np.dtype
) -> None:
    """Replace the OME-XML of the OME-TIFF just written at ``path`` with one holding ``record``
    (the XML tifffile writes, made by its ``OmeXml``; the pixels are not touched)."""
    import tifffile

    text = json.dumps(record, default=_json_default)
    metadata["MapAnnotation"] = {**metadata["MapAnnotation"], "napari-w2s": text}
    planes = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    ome = tifffile.OmeXml(**metadata)
    ome.addimage(dtype=dtype, shape=shape, storedshape=(planes, 1, 1, *shape[-2:], 1), **metadata)
    # the XML is UTF-8 (the pixel unit is µm): given as bytes, as tifffile writes its own
    tifffile.tiffcomment(path, comment=ome.tostring(declaration=True).encode())


def save_npy(path: str | Path, array: Any) -> Path:
    """Write a ``.npy`` file atomically (temporary name in the same folder, then rename)."""
    with atomic_file(path) as fh:
        np.save(fh, np.asarray(array))
    return Path(path)


def _iter_planes(data: Any):
    lead = data.shape[:-2]
    for index in np.ndindex(*lead):
        yield np.asarray(data[index])


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
