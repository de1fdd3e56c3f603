"""Write a simulated data set in the W2S layouts (raw, and optionally processed).

Raw layout, per field of view ``ImageNNN`` and channel ``C``:

* ``wf_channelC.npy``: frames x H x W uint16 raw widefield frames;
* ``sim_channelC.npy``: 2H x 2W float32 SIM reference;
* ``truth_channelC.json``: every parameter used, the true noise ``a``/``b`` of one raw frame
  (ADU and [0, 1] scale), PSF widths, photon numbers, seeds;
* ``kernel_channelC.npy``: the true LR-from-HR blur kernel (36 x 36 HR pixels, sum 1).

and ``w2s_sim.json`` at the top (version, seed, sizes, split). With ``processed=True`` also the
processed layout, ``{train,test}/{avg1,..,avg16,avgT,sim}/NNN_C.npy``, normalised the W2S way:
one global z-score of all raw frames for the LR images, and each SIM image mapped by the affine
fit that makes its 2 x 2 mean match its normalised clean LR image.

Frames are drawn and written in blocks; every file is written under a temporary name and renamed
when complete.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..averaging import W2S_LEVELS
from ..errors import W2SInputError
from ..io.atomic import atomic_file
from ..io.provenance import software
from ..io.tiff import save_npy
from ..io.w2s_layout import split_fovs, view_file
from ..progress import Progress, drain
from .view import ViewParams, draw_params, simulate_view

BLOCK_FRAMES = 16
SIMULATOR_VERSION = 1


def _atomic_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=2, default=_json_default)
    with atomic_file(path) as fh:
        fh.write(text.encode())


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    raise TypeError(type(obj).__name__)


def iter_write_dataset(
    out_dir: str | Path,
    fovs: int = 2,
    size: int = 512,
    frames: int = 400,
    channels: int = 3,
    seed: int = 0,
    processed: bool = False,
    base: ViewParams | None = None,
) -> Generator[Progress, None, dict]:
    """Simulate and write a data set; yields a :class:`~napari_w2s.progress.Progress` of frames
    written (``unit="frame"``), returns a summary."""
    if fovs < 1 or channels < 1:
        raise W2SInputError("--fovs and --channels must be at least 1")
    if size < 16 or size % 2:
        raise W2SInputError(f"--size {size}: use an even size of at least 16 pixels")
    if frames < 2:
        raise W2SInputError(f"--frames {frames}: a stack needs at least 2 frames")
    if processed and frames < max(PROCESSED_LEVELS):
        raise W2SInputError(
            f"--frames {frames}: --processed needs at least "
            f"{max(PROCESSED_LEVELS)} frames (level avg{max(PROCESSED_LEVELS)})"
        )
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise W2SInputError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.glob("Image*/wf_channel*.npy")):
        raise W2SInputError(f"{out}: already holds a W2S data set; choose an empty folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise W2SInputError(f"{out}: cannot create the folder ({err.strerror})") from err

    base = replace(base or ViewParams(), size=size, frames=frames)
    total = fovs * channels * frames
    done = 0
    sums = np.zeros(2)  # sum and sum of squares of all raw frames (global z-score)
    count = 0
    views: list[dict] = []
    for fov in range(1, fovs + 1):
        folder = out / f"Image{fov:03d}"
        folder.mkdir(exist_ok=True)
        for c in range(channels):
            ss = np.random.SeedSequence(seed, spawn_key=(fov, c))
            prng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(fov, c, 99)))
            view = simulate_view(draw_params(prng, base, c), channel=c, seed=ss)
            # written block by block (no memory map: a full disk is an error, not a SIGBUS)
            with atomic_file(view_file(folder, "wf", c)) as fh:
                np.lib.format.write_array_header_1_0(
                    fh,
                    {
                        "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint16)),
                        "fortran_order": False,
                        "shape": (frames, size, size),
                    },
                )
                for start in range(0, frames, BLOCK_FRAMES):
                    stop = min(frames, start + BLOCK_FRAMES)
                    block = np.ascontiguousarray(view.frames(start, stop), dtype=np.uint16)
                    fh.write(block.data)
                    b = block.astype(np.float64)
                    sums += (b.sum(), (b * b).sum())
                    done += stop - start
                    yield Progress(done, total, "frame")
            count += frames * size * size
            save_npy(view_file(folder, "sim", c), view.sim)
            save_npy(view_file(folder, "kernel", c), view.kernel.astype(np.float32))
            record = view.truth_record()
            record.update(
                fov=fov,
                channel=c,
                kernel_file=view_file(".", "kernel", c).name,
                excitation_nm=[488, 561, 640][c % 3],
            )
            _atomic_json(view_file(folder, "truth", c), record)
            views.append(
                {
                    "fov": fov,
                    "channel": c,
                    "folder": folder.name,
                    "a_unit": record["noise"]["a_unit"],
                }
            )

    mean = sums[0] / count
    std = float(np.sqrt(max(sums[1] / count - mean**2, 1e-12)))
    summary = {
        "version": SIMULATOR_VERSION,
        "software": software(),
        "seed": seed,
        "fovs": fovs,
        "size": size,
        "frames": frames,
        "channels": channels,
        "split": split_fovs(fovs),
        "normalisation": {"mean": float(mean), "std": std},
        "base_params": base.to_dict(),
        "views": views,
    }
    if processed:
        write_processed(out, summary)
    _atomic_json(out / "w2s_sim.json", summary)
    return summary


PROCESSED_LEVELS = W2S_LEVELS


def write_processed(out: Path, summary: dict, levels: tuple[int, ...] = PROCESSED_LEVELS) -> None:
    """The processed layout from the raw one, with the W2S global z-score and SIM affine map."""
    from ..analysis.metrics import affine_fit, downsample_mean
    from ..averaging import noise_levels

    mean, std = summary["normalisation"]["mean"], summary["normalisation"]["std"]
    for split, fov_list in summary["split"].items():
        for fov in fov_list:
            folder = out / f"Image{fov:03d}"
            for c in range(summary["channels"]):
                wf = np.load(view_file(folder, "wf", c), mmap_mode="r")
                lv = noise_levels(wf, levels)
                name = f"{fov:03d}_{c}"
                for level, image in lv.images.items():
                    target = out / split / level
                    target.mkdir(parents=True, exist_ok=True)
                    save_npy(target / f"{name}.npy", ((image - mean) / std).astype(np.float32))
                clean = (lv[lv.clean] - mean) / std
                sim = np.load(view_file(folder, "sim", c)).astype(np.float64)
                a, b = affine_fit(downsample_mean(sim), clean)
                (out / split / "sim").mkdir(parents=True, exist_ok=True)
                save_npy(out / split / "sim" / f"{name}.npy", (a * sim + b).astype(np.float32))


def write_dataset(out_dir: str | Path, **kwargs: Any) -> dict:
    """:func:`iter_write_dataset` run to the end."""
    return drain(iter_write_dataset(out_dir, **kwargs))
