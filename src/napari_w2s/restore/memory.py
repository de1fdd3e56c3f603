"""How much memory a restoration needs: the automatic tile size and the up-front check.

:func:`auto_tile` sizes the tiles of a network from the memory of its device and the model's
width; :func:`check_memory` refuses, in one line, a restoration whose arrays cannot fit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import W2SInputError


def auto_tile(
    device: Any, config: dict, scale: int, shape: tuple[int, int] | None = None
) -> tuple[int, int]:
    """(tile, batch) from the memory available on ``device`` and the model's width.

    Inference keeps a few feature maps alive at once: we budget 12 maps of the widest layer at
    the input resolution (dense blocks concatenate ``num_feat + 4 growth`` channels) and 6 maps
    of ``num_feat`` channels at the output resolution, float32, per input pixel. An image of
    ``shape`` whose pixels fit the budget is not tiled at all (tile 0): tiles just smaller than
    the image would repeat the overlaps for nothing.
    """
    import torch

    feat = int(config.get("num_feat", config.get("base_feat", 64)))
    widest = feat + 4 * int(config.get("growth", 0))
    bytes_per_px = 4 * (12 * widest + 6 * feat * scale * scale)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = 0.5 * free
    elif device.type == "mps":
        budget = 2e9
    else:
        budget = min(0.25 * _available_ram(), 2e9)
    max_pixels = budget / bytes_per_px
    if shape is not None and shape[0] * shape[1] <= 1.25 * max_pixels:  # the budget is cautious
        return 0, 1
    tile = int(np.clip(int(np.sqrt(max_pixels)) // 16 * 16, 64, 2048))
    batch = 4 if device.type == "cuda" and tile >= 512 else 1
    return tile, batch


def check_memory(shape: tuple[int, ...], scale: int) -> None:
    """Refuse up front, in one line, a restoration whose arrays cannot fit in memory.

    Counted (float32): the whole output, and for one plane its input and two output-sized
    arrays (an untiled network's output and its conversion to the user's units; the tiled
    blend sums straight into the output). The network's own feature maps are bounded by the
    tile size and not counted.
    """
    h, w = int(shape[-2]), int(shape[-1])
    planes = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    out_plane = h * w * scale * scale
    needed = 4.0 * (planes * out_plane + h * w + 2 * out_plane)
    available = _available_ram()
    if needed > available:
        raise W2SInputError(
            f"restoring {' x '.join(map(str, shape))} pixels x{scale} needs about "
            f"{needed / 2**30:.3g} GiB of memory and {available / 2**30:.3g} GiB are available; "
            "crop the image, or use `w2s batch`, which writes a stack plane by plane"
        )


def _available_ram() -> float:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return 4e9
