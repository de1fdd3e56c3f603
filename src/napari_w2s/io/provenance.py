"""Provenance: the one record of how a file was made, and where it is kept.

Every result napari-w2s writes carries a JSON record: the software (``stamp`` adds
``"software": "napari-w2s X.Y.Z"``), the method and its pipeline (each step's model, weights and
sha256, device, tile, normalisation, backend), the input, the options and the time. An OME-TIFF
keeps it in a ``MapAnnotation`` of namespace :data:`PROVENANCE_NAMESPACE` (key ``napari-w2s``),
read back by :func:`read_provenance`; napari layers keep the same record in
``metadata["provenance"]``; data sets, model cards and reports embed it as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

PROVENANCE_NAMESPACE = "napari-w2s/provenance"


def software() -> str:
    """``"napari-w2s X.Y.Z"``: the version that made a file."""
    from .. import __version__

    return f"napari-w2s {__version__}"


def stamp(record: dict) -> dict:
    """``record`` with the software that made it first (an existing entry is replaced)."""
    return {"software": software(), **{k: v for k, v in record.items() if k != "software"}}


def read_provenance(path: str | Path) -> dict | None:
    """The provenance record written by :func:`write_ome_tiff`, or ``None`` if there is none."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.ome_metadata:
            return None
        ome = tifffile.xml2dict(tif.ome_metadata)["OME"]
    annotations = ome.get("StructuredAnnotations", {}).get("MapAnnotation", [])
    if isinstance(annotations, dict):
        annotations = [annotations]
    for ann in annotations:
        if ann.get("Namespace") != PROVENANCE_NAMESPACE:
            continue
        values = ann.get("Value", {}).get("M", [])
        if isinstance(values, dict):
            values = [values]
        for m in values:
            if m.get("K") == "napari-w2s":
                return json.loads(m.get("value", "{}"))
    return None
