"""The W2S data-set layouts, raw and processed, read lazily.

Raw release (one folder per field of view)::

    root/Image001/wf_channel0.npy     400 x 512 x 512 uint16 widefield frames
    root/Image001/sim_channel0.npy    1024 x 1024 SIM reconstruction

Processed release (split by field of view, normalised)::

    root/{train,test}/{avg1,avg2,avg4,avg8,avg16,avg400,sim}/NNN_C.npy

The W2S pixel sizes are not published; 64 nm (widefield) and 32 nm (SIM) are consistent with
everything that is (NA 1.49 Nikon N-SIM) and are what this module reports. Channel indices are
assumed to be in ascending excitation wavelength (0 = 488 nm, 1 = 561 nm, 2 = 640 nm).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import W2SInputError
from .stack import Stack, canonical_axes, read_npy

LR_PIXEL_UM = 0.064
HR_PIXEL_UM = 0.032
EXCITATION_NM = (488, 561, 640)

_VIEW_DIR = re.compile(r"^Image(\d+)$")
_WF_FILE = re.compile(r"^wf_channel(\d+)\.npy$")
_LEVEL_DIR = re.compile(r"^avg(\d+)$")
_VIEW_FILE = re.compile(r"^(\d+)_(\d+)\.npy$")


#: the files of a raw field-of-view folder, per channel C (``kernel`` and ``truth``: simulated)
VIEW_FILES = {
    "wf": "wf_channel{c}.npy",
    "sim": "sim_channel{c}.npy",
    "kernel": "kernel_channel{c}.npy",
    "truth": "truth_channel{c}.json",
}


def view_file(view: str | Path, kind: str, channel: int) -> Path:
    """The file of ``kind`` (``wf``, ``sim``, ``kernel`` or ``truth``) of ``channel`` in the raw
    field-of-view folder ``view`` (``Image001/wf_channel0.npy``, ...)."""
    return Path(view) / VIEW_FILES[kind].format(c=int(channel))


def split_fovs(n: int) -> dict[str, list[int]]:
    """The W2S split by field of view (1-based ``ImageNNN`` numbers): the first two thirds
    train, the rest test (one field of view: test only)."""
    if n == 1:
        return {"train": [], "test": [1]}
    n_train = min(n - 1, max(1, round(n * 2 / 3)))
    return {"train": list(range(1, n_train + 1)), "test": list(range(n_train + 1, n + 1))}


def detect_w2s_layout(path: str | Path) -> str | None:
    """Which W2S layout a folder holds.

    Returns ``"raw-view"`` (one ``ImageNNN`` folder), ``"raw"`` (a folder of them),
    ``"processed"`` (a folder with ``train``/``test``), ``"processed-split"`` (one of those) or
    ``None``.
    """
    p = Path(path)
    if not p.is_dir():
        return None
    if any(_WF_FILE.match(f.name) for f in p.iterdir()):
        return "raw-view"
    if any(_VIEW_DIR.match(d.name) and d.is_dir() for d in p.iterdir()):
        return "raw"
    if _is_split_dir(p):
        return "processed-split"
    if any(_is_split_dir(p / s) for s in ("train", "test")):
        return "processed"
    return None


def _is_split_dir(p: Path) -> bool:
    if not p.is_dir():
        return False
    for base in (p, p / "normalized"):
        if base.is_dir() and any(_LEVEL_DIR.match(d.name) for d in base.iterdir() if d.is_dir()):
            return True
    return False


def raw_views(root: str | Path) -> list[Path]:
    """The ``ImageNNN`` folders of a raw W2S root, in field-of-view order."""
    root = Path(root)
    views = [d for d in root.iterdir() if d.is_dir() and _VIEW_DIR.match(d.name)]
    return sorted(views, key=lambda d: int(_VIEW_DIR.match(d.name).group(1)))


def view_channels(view: str | Path) -> list[int]:
    """Channel indices present in an ``ImageNNN`` folder."""
    return sorted(int(m.group(1)) for f in Path(view).iterdir() if (m := _WF_FILE.match(f.name)))


def read_w2s_view_stack(view: str | Path, channel: int = 0, axes: str | None = None) -> Stack:
    """The widefield frames of one channel of one raw W2S field of view, memory-mapped."""
    view = Path(view)
    wf = view_file(view, "wf", channel)
    if not wf.exists():
        present = view_channels(view)
        if not present:
            raise W2SInputError(f"{view}: not a W2S field-of-view folder (no wf_channelC.npy)")
        raise W2SInputError(f"{view}: no channel {channel} (channels here: {present})")
    data, canon = canonical_axes(read_npy(wf), axes or "TYX", where=str(wf))
    sim = view_file(view, "sim", channel)
    meta = {"w2s_view": view.name, "channel": channel, "sim": str(sim) if sim.exists() else None}
    return Stack(
        data=data, axes=canon, pixel_size=(LR_PIXEL_UM, LR_PIXEL_UM), source=str(wf), metadata=meta
    )


@dataclass(frozen=True)
class ProcessedSplit:
    """One split (``train`` or ``test``) of the processed layout.

    ``levels`` maps a folder name (``avg1`` .. ``avg400``, ``sim``) to a lazy dask array stacked
    over the views listed in ``views`` (``"NNN_C"`` names, the same order for every level).
    """

    root: Path
    views: list[str]
    levels: dict[str, Any]


def read_processed_split(split: str | Path) -> ProcessedSplit:
    """Read one split of the processed layout lazily (views stacked on the first axis)."""
    import dask.array as da

    split = Path(split)
    base = split / "normalized" if (split / "normalized").is_dir() else split
    folders = {d.name: d for d in base.iterdir() if d.is_dir()}
    names = sorted((n for n in folders if _LEVEL_DIR.match(n)), key=lambda n: int(n[3:]))
    if "sim" in folders:
        names.append("sim")
    if not names:
        raise W2SInputError(f"{split}: no avgN folders; not a W2S processed split")
    view_sets = [{f.stem for f in folders[n].iterdir() if _VIEW_FILE.match(f.name)} for n in names]
    views = sorted(set.intersection(*view_sets))
    if not views:
        raise W2SInputError(f"{split}: no NNN_C.npy view present in every level folder")
    levels = {}
    for n in names:
        arrays = [read_npy(folders[n] / f"{v}.npy") for v in views]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise W2SInputError(f"{folders[n]}: views have different shapes {sorted(shapes)}")
        levels[n] = da.stack([da.from_array(a, chunks=a.shape) for a in arrays])
    return ProcessedSplit(root=split, views=views, levels=levels)


def processed_splits(root: str | Path) -> dict[str, Path]:
    """The splits present under a processed root, ``{"train": path, "test": path}``."""
    root = Path(root)
    return {s: root / s for s in ("train", "test") if _is_split_dir(root / s)}
