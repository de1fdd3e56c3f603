"""npe2 writer: an image layer to OME-TIFF with physical pixel sizes and provenance."""

from __future__ import annotations

from typing import Any

_DEFAULT_AXES = {2: "YX", 3: "TYX", 4: "TCYX"}


def write_image(path: str, data: Any, meta: dict) -> list[str]:
    """Write one image layer; returns the written path (empty list when it cannot)."""
    from .io.tiff import write_ome_tiff

    if meta.get("rgb"):
        raise ValueError("napari-w2s writes grey images; an RGB layer cannot be saved as OME-TIFF")
    layer_meta = meta.get("metadata") or {}
    axes = layer_meta.get("axes")
    if not axes or len(axes) != data.ndim or not set(axes) <= set("TCYX"):
        axes = _DEFAULT_AXES.get(data.ndim)
    if axes is None:
        raise ValueError(f"cannot write a {data.ndim}-D layer as OME-TIFF (2-D to 4-D only)")
    scale = meta.get("scale")
    pixel_size = (float(scale[-2]), float(scale[-1])) if scale is not None else None
    provenance = dict(layer_meta.get("provenance") or {})
    provenance.setdefault("layer", meta.get("name"))
    if layer_meta.get("source"):
        provenance.setdefault("source", layer_meta["source"])
    if not str(path).lower().endswith((".tif", ".tiff")):
        path = f"{path}.ome.tif"
    out = write_ome_tiff(
        path, data, axes, pixel_size=pixel_size, provenance=provenance, name=meta.get("name")
    )
    return [str(out)]
