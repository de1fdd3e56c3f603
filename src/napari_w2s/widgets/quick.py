"""One-click menu commands (napari's Layers > Filter menu): restore the selected image at once.

``Restore with JDSR`` takes the active image layer (else the layer the Restore widget would
propose), restores the plane the viewer shows with the shipped noise-blind JDSR model on the
``auto`` device, and adds the x2 result as a new layer with the geometry of its input. Anything
else (another method, a whole stack, the trust map, a device) is in the Restore widget.
"""

from __future__ import annotations

import time
from typing import Any

import napari  # resolved at module level: napari injects the viewer from this annotation

from ..errors import W2SInputError
from ._jobs import info, plane_of, user_error


def _input_layer(viewer: Any) -> Any:
    from ..layer_names import preferred_layer

    images = [ly for ly in viewer.layers if isinstance(ly, napari.layers.Image)]
    active = viewer.layers.selection.active
    if active is not None and active in images and not getattr(active, "rgb", False):
        return active
    layer = preferred_layer(images, active)
    if layer is None:
        raise W2SInputError("Restore with JDSR: open or select an image layer first")
    return layer


def restore_layer(viewer: Any, method: str = "jdsr") -> Any:
    """Restore the shown plane of the input layer with ``method``; the new layer (or None)."""
    import numpy as np

    from ..geometry import upsampled_geometry
    from ..restore.engine import iter_restore, resolve

    try:
        layer = _input_layer(viewer)
        if getattr(layer, "rgb", False):
            raise W2SInputError(f"{layer.name}: an RGB image; restoration needs one channel")
        plane, lead = plane_of(viewer, layer)
        pipeline = resolve(method)
        t0 = time.perf_counter()
        gen = iter_restore(pipeline, np.asarray(plane))
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                result = stop.value
                break
    except Exception as exc:  # a notification, never a traceback in the user's face
        user_error(exc)
        return None
    seconds = time.perf_counter() - t0
    scale = tuple(float(s) for s in layer.scale)
    translate = tuple(float(t) for t in layer.translate)
    if lead:  # one plane of a stack: a one-frame stack at that frame
        result = result.reshape((1,) * len(lead) + result.shape)
        n = len(lead)
        translate = (
            tuple(t + i * s for t, s, i in zip(translate[:n], scale[:n], lead, strict=True))
            + translate[n:]
        )
    if pipeline.scale > 1:
        scale, translate = upsampled_geometry(scale, translate, factor=pipeline.scale)
    meta = {
        "method": method,
        "pipeline": pipeline.describe(),
        "seconds": round(seconds, 3),
        "source": layer.metadata.get("source") or layer.name,
        "source_layer": layer.name,
        "axes": {2: "YX", 3: "TYX", 4: "TCYX"}.get(result.ndim, ""),
    }
    suffix = f" [frame {','.join(map(str, lead))}]" if lead else ""
    out = viewer.add_image(
        result,
        name=f"{layer.name} {method}{suffix}",
        scale=scale,
        translate=translate,
        colormap="gray",
        metadata=meta,
    )
    info(f"{method}: {layer.name}{suffix} restored in {seconds:.1f} s")
    return out


def restore_with_jdsr(viewer: napari.viewer.Viewer) -> None:
    """The menu command: the shipped JDSR model on the selected image (x2, denoised)."""
    restore_layer(viewer, "jdsr")
