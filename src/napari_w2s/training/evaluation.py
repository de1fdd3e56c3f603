"""How well a training run does on data it does not train on.

:func:`evaluate` gives the model card's held-out RMSE / SSIM (in W2S units, the model run as at
inference); :func:`validation_batch` gives the fixed held-back patches whose RMSE the progress
records carry as ``val``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import W2SInputError
from .sources import is_random

if TYPE_CHECKING:
    from .trainer import TrainConfig


def evaluate(model: Any, cfg: TrainConfig, task: str, device: Any, sampler: Any = None) -> dict:
    """Held-out RMSE / SSIM in W2S units (the clean image's z-score) on ``eval_views`` views.

    A data set: its test split. Random data: views drawn with a seed no training uses. The model
    runs exactly as at inference (per-image normalisation, mapped back to the input's units).
    """
    from ..analysis.metrics import compare
    from ..normalisation import fit

    views = sampler.eval_views() if hasattr(sampler, "eval_views") else _eval_views(cfg, task)
    if isinstance(views, str):
        return {"note": f"no held-out evaluation: {views}"}
    split = (
        "held-back rows"
        if cfg.source is not None
        else "random, held-out seed"
        if is_random(cfg.data)
        else "test"
    )
    results: dict[str, Any] = {"split": split, "views": len(views), "units": "W2S z-score"}
    for level in views[0]["inputs"]:
        rmse, ssim, rmse_in = [], [], []
        for v in views:
            inp, t = v["inputs"][level], v["target"]
            mean, std = float(v["clean"].mean()), float(v["clean"].std()) or 1.0
            affine = fit(inp)
            p = affine.inverse(_forward(model, affine.forward(inp), device))
            tz = (t - mean) / std
            m = compare((p - mean) / std, tz, data_range=float(tz.max() - tz.min()))
            rmse.append(m["rmse"])
            ssim.append(m["ssim"])
            if task == "denoise":
                rmse_in.append(compare((inp - mean) / std, tz)["rmse"])
        results[level] = {"rmse": float(np.mean(rmse)), "ssim": float(np.mean(ssim))}
        if rmse_in:
            results[level]["rmse_input"] = float(np.mean(rmse_in))
    return results


def validation_batch(cfg: TrainConfig, sampler: Any, task: str) -> tuple | None:
    """Fixed held-back patches ``(x, y)`` in the network's units, or ``None``: the source's own
    (images in memory), else up to 16 patches of a data set's test split (none for random data)."""
    if hasattr(sampler, "validation_batch"):
        return sampler.validation_batch()
    if is_random(cfg.data):
        return None
    from .. import normalisation
    from .data import load_pairs

    try:
        pairs = load_pairs(cfg.data, "test", task, cfg.levels)
    except W2SInputError:
        return None
    p, s = cfg.patch, pairs.scale
    arrays = list(pairs.inputs.items())
    _, h, w = arrays[0][1].shape
    if h < p or w < p:
        return None
    y0, x0 = (h - p) // 2, (w - p) // 2
    xs, ys = [], []
    for i in range(min(16, len(pairs.views) * len(arrays))):
        level, arr = arrays[i % len(arrays)]
        v = (i // len(arrays)) % len(pairs.views)
        aff = normalisation.fit(arr[v], normalisation.DEFAULT)
        xs.append(aff.forward(arr[v, y0 : y0 + p, x0 : x0 + p]))
        ys.append(aff.forward(pairs.target[v, s * y0 : s * (y0 + p), s * x0 : s * (x0 + p)]))
    return np.stack(xs)[:, None], np.stack(ys)[:, None]


def _forward(model: Any, x: np.ndarray, device: Any) -> np.ndarray:
    """``model`` on one 2-D image in the network's units (the last output of several)."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(x[None, None])).to(device)
    with torch.inference_mode():
        pred = model(t)
        pred = pred[-1] if isinstance(pred, (list, tuple)) else pred
    return pred[0, 0].float().cpu().numpy()


def _eval_views(cfg: TrainConfig, task: str) -> list[dict] | str:
    """Evaluation views in the data's units, or the reason there are none."""
    if is_random(cfg.data):
        from .random_source import held_out_views

        shift = str(cfg.data).partition(":")[2] or None
        return held_out_views(task, cfg.levels, n=cfg.eval_views, shift=shift)
    from .data import load_pairs

    try:
        pairs = load_pairs(cfg.data, "test", task, cfg.levels)
    except W2SInputError as err:
        return str(err)
    n = min(cfg.eval_views, len(pairs.views))
    if task == "denoise":
        clean = pairs.target
    else:
        clean = load_pairs(cfg.data, "test", "denoise", None).target
    return [
        {
            "inputs": {lv: arr[i] for lv, arr in pairs.inputs.items()},
            "target": pairs.target[i],
            "clean": clean[i],
        }
        for i in range(n)
    ]
