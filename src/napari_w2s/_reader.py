"""npe2 reader: TIFF / OME-TIFF / NPY stacks and W2S folders become lazy image layers.

``get_reader`` only looks at the path (suffix, folder layout) and returns ``None`` for what it
cannot read; it never raises. The layers keep physical scales: an x2 SIM layer gets half the
widefield pixel size and the translate that overlays it exactly (see :mod:`napari_w2s.geometry`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .io.stack import NPY_SUFFIXES, TIFF_SUFFIXES, read_npy
from .io.w2s_layout import view_file

LayerData = tuple[Any, dict, str]
CHANNEL_COLORMAPS = ("green", "magenta", "cyan", "yellow")


def get_reader(path: str | list[str]) -> Callable[[str | list[str]], list[LayerData]] | None:
    """Return :func:`read_layers` if napari-w2s can read ``path``, else ``None``."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths:
        return None
    try:
        from .io.w2s_layout import detect_w2s_layout

        for p in map(Path, paths):
            if p.is_dir():
                if detect_w2s_layout(p) is None:
                    return None
            elif p.suffix.lower() not in TIFF_SUFFIXES + NPY_SUFFIXES or not p.is_file():
                return None
    except OSError:  # unreadable folder: let another reader (or napari's message) handle it
        return None
    return read_layers


def read_layers(path: str | list[str]) -> list[LayerData]:
    """Read files or W2S folders into napari layer-data tuples."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    layers: list[LayerData] = []
    for p in map(Path, paths):
        layers.extend(_read_folder(p) if p.is_dir() else _read_file(p))
    return layers


def _read_file(path: Path) -> list[LayerData]:
    from .io.read import read_stack

    stack = read_stack(path)
    meta = {"source": stack.source, "axes": stack.axes, "pixel_size_um": stack.pixel_size}
    kwargs: dict[str, Any] = {"name": stack.name, "metadata": meta}
    if "C" in stack.axes:
        c = stack.axes.index("C")
        scale = tuple(s for i, s in enumerate(stack.scale()) if i != c)
        n = stack.shape[c]
        kwargs.update(
            channel_axis=c,
            name=[f"{stack.name} [C{i}]" for i in range(n)],
            scale=scale,
            colormap=[CHANNEL_COLORMAPS[i % len(CHANNEL_COLORMAPS)] for i in range(n)],
            blending="additive",
        )
    else:
        kwargs["scale"] = stack.scale()
    return [(stack.data, kwargs, "image")]


def _read_folder(path: Path) -> list[LayerData]:
    from .io.w2s_layout import detect_w2s_layout

    layout = detect_w2s_layout(path)
    if layout == "raw-view":
        return _raw_view_layers(path)
    if layout == "raw":
        return _raw_root_layers(path)
    if layout == "processed-split":
        return _processed_layers(path)
    if layout == "processed":
        from .io.w2s_layout import processed_splits

        splits = processed_splits(path)
        return _processed_layers(splits.get("test") or splits["train"])
    return []


def _image(
    data: Any, name: str, scale, translate=None, channel: int | None = 0, **meta
) -> LayerData:
    """A layer tuple; ``channel=None`` gives a grey, translucent layer."""
    kwargs = {
        "name": name,
        "scale": tuple(scale),
        "colormap": "gray" if channel is None else CHANNEL_COLORMAPS[channel % 4],
        "blending": "translucent" if channel is None else "additive",
        "metadata": meta,
    }
    if translate is not None:
        kwargs["translate"] = tuple(translate)
    return (data, kwargs, "image")


def _raw_view_layers(view: Path) -> list[LayerData]:
    from .geometry import upsampled_geometry
    from .io.w2s_layout import LR_PIXEL_UM, view_channels

    layers = []
    lr = (LR_PIXEL_UM, LR_PIXEL_UM)
    hr_scale, hr_translate = upsampled_geometry(lr)
    for c in view_channels(view):
        wf = read_npy(view_file(view, "wf", c))
        layers.append(
            _image(
                wf,
                f"{view.name} wf_channel{c}",
                (1.0, *lr),
                channel=c,
                source=str(view_file(view, "wf", c)),
                axes="TYX",
            )
        )
        sim_path = view_file(view, "sim", c)
        if sim_path.exists():
            sim = read_npy(sim_path)
            layers.append(
                _image(
                    sim,
                    f"{view.name} sim_channel{c}",
                    hr_scale,
                    hr_translate,
                    channel=c,
                    source=str(sim_path),
                    axes="YX",
                )
            )
    return layers


def _raw_root_layers(root: Path) -> list[LayerData]:
    """All fields of view of a raw W2S root, stacked lazily on a first 'view' axis."""
    import dask.array as da

    from .geometry import upsampled_geometry
    from .io.w2s_layout import LR_PIXEL_UM, raw_views, view_channels

    views = raw_views(root)
    lr = (LR_PIXEL_UM, LR_PIXEL_UM)
    hr_scale, hr_translate = upsampled_geometry((1.0, 1.0, *lr))
    layers = []
    for c in view_channels(views[0]):
        files = [view_file(v, "wf", c) for v in views]
        if not all(f.exists() for f in files):
            continue
        wfs = [read_npy(f) for f in files]
        if len({w.shape for w in wfs}) != 1:  # unequal views: open the first one only
            return _raw_view_layers(views[0])
        wf = da.stack([da.from_array(w, chunks=(1, *w.shape[1:])) for w in wfs])
        layers.append(
            _image(
                wf,
                f"wf_channel{c}",
                (1.0, 1.0, *lr),
                channel=c,
                source=str(root),
                views=[v.name for v in views],
                axes="VTYX",
            )
        )
        sims = [view_file(v, "sim", c) for v in views]
        if all(s.exists() for s in sims):
            arrays = [read_npy(s) for s in sims]
            sim = da.stack([da.from_array(a, chunks=a.shape) for a in arrays])[:, None]
            # shown at every frame: broadcast over T, lazily (no copy)
            sim = da.broadcast_to(sim, (sim.shape[0], wf.shape[1], *sim.shape[2:]))
            layers.append(
                _image(
                    sim,
                    f"sim_channel{c}",
                    hr_scale,
                    hr_translate,
                    channel=c,
                    source=str(root),
                    axes="VTYX",
                )
            )
    return layers


def _processed_layers(split: Path) -> list[LayerData]:
    from .geometry import upsampled_geometry
    from .io.w2s_layout import read_processed_split

    data = read_processed_split(split)
    lr_scale = (1.0, 1.0, 1.0)
    hr_scale, hr_translate = upsampled_geometry(lr_scale)
    layers = []
    for name, arr in data.levels.items():
        is_hr = name == "sim"
        layers.append(
            _image(
                arr,
                f"{name} ({split.name})",
                hr_scale if is_hr else lr_scale,
                hr_translate if is_hr else None,
                channel=None,
                source=str(split),
                views=data.views,
                axes="VYX",
            )
        )
    return layers
