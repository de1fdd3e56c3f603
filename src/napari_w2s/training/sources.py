"""Where a training run's patches come from, and what its model card says of them.

``--data random[:SET]`` draws views from the randomised simulator
(:class:`~napari_w2s.training.random_source.RandomSource`); a folder is a W2S data set (its
train split, :class:`~napari_w2s.training.data.PatchSampler`); images in memory (``w2s
finetune``, the Train widget) bring their own sampler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import W2SInputError

if TYPE_CHECKING:
    from .trainer import TrainConfig


def make_source(cfg: TrainConfig, task: str) -> Any:
    """The patch source of a run: randomised simulation (``--data random``) or a data set."""
    from .. import normalisation

    if cfg.source is not None:  # images in memory (w2s finetune, the Train widget)
        return cfg.source.sampler(
            task, cfg.levels, patch=cfg.patch, seed=cfg.seed, norm=normalisation.DEFAULT
        )
    if is_random(cfg.data):
        from ..simulate.randomised import HELD_OUT
        from .random_source import RandomSource

        shift = str(cfg.data).partition(":")[2] or None
        if shift and shift not in {h.name for h in HELD_OUT}:
            raise W2SInputError(
                f"--data random:{shift}: no such test set (choose "
                f"{', '.join(h.name for h in HELD_OUT)})"
            )
        return RandomSource(
            task,
            cfg.levels,
            patch=cfg.patch,
            seed=cfg.seed,
            size=max(cfg.random_size, cfg.patch),
            pool=cfg.random_pool,
            refresh=cfg.random_refresh,
            norm=normalisation.DEFAULT,
            shift=shift,
            ranges=training_ranges(cfg),
        )
    from .data import PatchSampler, load_pairs

    pairs = load_pairs(cfg.data, "train", task, cfg.levels)
    return PatchSampler(
        pairs, patch=cfg.patch, stride=cfg.stride, seed=cfg.seed, norm=normalisation.DEFAULT
    )


def is_random(data: str) -> bool:
    """Whether ``data`` names the randomised simulation (``random`` or ``random:SET``)."""
    return str(data) == "random" or str(data).startswith("random:")


def input_snr(cfg: TrainConfig, task: str, sampler) -> dict | None:
    """Percentiles of the SNR (:func:`napari_w2s.analysis.snr.estimate_snr`) of the training
    inputs: what ``--noise-level auto`` compares an image with to choose a per-level model."""
    from ..analysis.snr import estimate_snr

    if task == "sr":
        return None
    if is_random(cfg.data):
        from .random_source import held_out_views

        views = held_out_views(
            task,
            cfg.levels,
            n=min(48, 4 * cfg.eval_views),
            size=96,
            seed=cfg.seed + 7919,
            shift=sampler.shift,
        )
        images = [img for v in views for img in v["inputs"].values()]
    else:
        images = [img for arr in sampler.pairs.inputs.values() for img in arr]
    snr = [estimate_snr(img) for img in images]
    p10, p50, p90 = (float(v) for v in np.percentile(snr, [10, 50, 90]))
    return {"p10": p10, "p50": p50, "p90": p90, "images": len(snr)}


def train_views(sampler) -> int:
    """How many views the run trained on (drawn so far, for random data)."""
    return int(getattr(sampler, "views_drawn", 0) or len(sampler.pairs.views))


def training_ranges(cfg: TrainConfig) -> Any:
    """The :class:`~napari_w2s.simulate.randomised.Ranges` that ``--data random`` draws from:
    the recipe's, with ``--random-w2s-share`` where given."""
    from dataclasses import replace

    from ..simulate.randomised import Ranges

    share = cfg.random_w2s_share
    if share is None:
        return Ranges()
    if not 0.0 <= share <= 1.0:
        raise W2SInputError(f"--random-w2s-share {share}: give a share from 0 to 1")
    return replace(Ranges(), w2s_like=float(share))


def recipe(cfg: TrainConfig, sampler) -> dict:
    """What the card says of the data: the per-image normalisation, and for random data the
    ranges, the held-out regions and the pool."""
    rec: dict[str, Any] = {"normalisation": "per image (napari_w2s.normalisation)"}
    if cfg.source is not None:
        rec.update(cfg.source.describe())
    elif is_random(cfg.data):
        from ..simulate.randomised import HELD_OUT

        rec.update(
            source="randomised simulation",
            view_size=sampler.size,
            pool=sampler.pool_size,
            refresh_per_batch=sampler.refresh,
            ranges=training_ranges(cfg).to_dict(),
            held_out={h.name: h.description for h in HELD_OUT},
            specialist_of=sampler.shift,
        )
    else:
        rec["source"] = "data set folder"
    return rec
