"""The training loop of self-supervised fine-tuning (:mod:`.self_supervised`): resumable, within
a time budget, with safetensors checkpoints and a model card.

:func:`iter_self_supervised` is what :func:`napari_w2s.training.finetune.iter_finetune` runs for a
JDSR model given a stack and no SIM image; it yields the same progress records as the supervised
trainer (``val`` is the forward-consistency RMSE on held-back patches, network units) and
returns the weights written in the run folder (``None`` when stopped: the checkpoint is kept).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import W2SInputError
from . import self_supervised as ssl

JDSR_TASK = "jdsr"


def teacher_of(
    method: str, weights: Path, device: str, threads: int | None
) -> Callable[[np.ndarray], np.ndarray]:
    """The frozen base model as it runs at inference (its per-image map, tiling): units in and
    out."""
    from ..restore.engine import resolve

    return resolve(method, device=device, weights=str(weights), threads=threads).run


def check_base(method: str, init: Path | None) -> None:
    """One clear line when ``method`` cannot be fine-tuned without a SIM image."""
    from ..models import get_spec

    if get_spec(method).task != JDSR_TASK:
        raise W2SInputError(
            f"{method} learns to produce SIM from a clean image: give the SIM "
            "image of the stack; without one, fine-tune a JDSR model (jdsr, "
            "jdsr-rcan, care) or a denoiser (e.g. dncnn)"
        )
    if init is None:
        raise W2SInputError(
            "self-supervised fine-tuning (no SIM image) stays close to the model "
            "it starts from: it cannot train from scratch; give a SIM image"
        )


def iter_self_supervised(
    cfg: Any,
    p: dict,
    stack: Any,
    resume: bool = False,
    stop: Callable[[], bool] | None = None,
    data_name: str = "layers",
) -> Generator[dict, None, Path | None]:
    """Fine-tune ``p["method"]`` (a JDSR-task model) from ``p["init"]`` on ``stack`` alone.

    ``cfg`` is a :class:`~napari_w2s.training.finetune.FinetuneConfig`, ``p`` its
    :func:`~napari_w2s.training.finetune.plan`. Checkpoints go to ``p["run_dir"]``.
    """
    import torch

    from ..models import build_model
    from ..models.config_text import config_label
    from ..restore.device import autocast, choose_device
    from .checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
    from .loop import Budget, Window, make_optimiser, optimiser_step
    from .trainer import DEFAULT_LR, _initialise

    method, out = p["method"], Path(p["run_dir"])
    check_base(method, p["init"])
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    torch.manual_seed(cfg.seed)
    device = choose_device(cfg.device)
    levels = None
    if cfg.level and cfg.level != "blind":
        if not (cfg.level.startswith("avg") and cfg.level[3:].isdigit()):
            raise W2SInputError(f"--level {cfg.level!r}: a noise level is avgN, e.g. avg1")
        levels = [int(cfg.level[3:])]
    data = ssl.prepare(
        stack, teacher_of(method, p["init"], cfg.device, cfg.threads), levels, data_name
    )
    source = ssl.PatchSource(data, cfg.patch, cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    model = build_model(method, p["config"])
    init_record = _initialise(model, str(p["init"]), method, p["config"])
    model = model.to(device)
    layout = torch.channels_last if device.type in ("cpu", "cuda") else torch.contiguous_format
    model = model.to(memory_format=layout)
    kernel = torch.from_numpy(data.kernel[None, None]).to(device)
    lr = cfg.lr or DEFAULT_LR[JDSR_TASK]
    opt, scaler = make_optimiser(model, lr, device)
    run_record = checkpoint_record(cfg, p)
    start, elapsed = 0, 0.0
    if resume and has_checkpoint(out):
        meta = load_checkpoint(out, method, p["config"], model, opt, supervision=ssl.SUPERVISION)
        source.rng.bit_generator.state = meta["sampler_state"]
        start, elapsed = meta["iteration"], meta["elapsed_s"]
    clock = Budget(cfg.iterations, cfg.minutes * 60.0, elapsed)

    def checkpoint(iteration: int) -> None:
        save_checkpoint(
            out,
            iteration=iteration,
            elapsed_s=clock.spent(),
            sampler_state=source.rng.bit_generator.state,
            config=run_record,
            model=model,
            opt=opt,
        )

    val = source.validation_batch()

    def validate(net: Any) -> tuple[float, dict]:
        """Forward RMSE over the held-back patches, and forward / anchor RMSE per level."""
        net.eval()
        with torch.inference_mode(), autocast(device):
            pred = net(torch.from_numpy(val[0]).to(device))
            pred = (pred[-1] if isinstance(pred, (list, tuple)) else pred).float()
            per = []
            for i in range(len(val[3])):
                sl = slice(i, i + 1)
                terms = ssl.loss_terms(
                    pred[sl],
                    torch.from_numpy(val[1][sl]).to(device),
                    torch.from_numpy(val[2][sl]).to(device),
                    kernel,
                    data.margin,
                )
                per.append((float(terms["forward"]), float(terms["anchor"])))
        net.train()
        levels = {}
        for name in dict.fromkeys(val[3]):
            rows = [v for v, lv in zip(per, val[3]) if lv == name]
            levels[name] = {
                "rmse": float(np.sqrt(np.mean([r[0] for r in rows]))),
                "anchor_rmse": float(np.sqrt(np.mean([r[1] for r in rows]))),
            }
        return float(np.sqrt(np.mean([r[0] for r in per]))), levels

    val_start, _ = validate(model)
    model.train()
    window = Window()
    done = start
    for it in clock.steps(start, stop):
        it_lr = clock.lr(lr, it)
        xb, fb, ab = (torch.from_numpy(a).to(device) for a in source.batch(cfg.batch))
        with autocast(device):
            pred = model(xb.contiguous(memory_format=layout))
        pred = (pred[-1] if isinstance(pred, (list, tuple)) else pred).float()
        terms = ssl.loss_terms(pred, fb, ab, kernel, data.margin)
        loss = ssl.total_loss(terms)
        optimiser_step(opt, scaler, loss, lr=it_lr, iteration=it)
        window.add(float(loss.detach()), {k: float(v.detach()) for k, v in terms.items()})
        done = it + 1
        if clock.record_due(done, cfg.log_every):
            record = window.record(done, clock, it_lr)
            yield {**record, "val": validate(model)[0], "val_start": val_start}
            window.reset()  # the validation's time is not the training's
        if done % cfg.checkpoint_every == 0 and done < cfg.iterations:
            checkpoint(done)
    if clock.stopped:
        checkpoint(done)
        return None
    wall = clock.spent()
    checkpoint(done)
    base = build_model(method, p["config"])
    _initialise(base, str(p["init"]), method, p["config"])
    metrics = held_back_metrics(validate(model)[1], validate(base.to(device))[1])
    card = _card(cfg, p, data, source, init_record, done, wall, lr, device, metrics)
    from ..models.weights import save_model

    name = f"{method}-{card.noise_level}-{config_label(p['config'])}"
    return save_model(model, out / f"{name}.safetensors", card)


def checkpoint_record(cfg: Any, p: dict) -> dict:
    """The run's configuration as the checkpoint records it: the fine-tuning choices, the
    method and configuration a resume must match, and the supervision (a supervised run's
    checkpoint is never continued without a SIM, nor this one with it)."""
    return {
        **asdict(cfg),
        "model": p["method"],
        "config": p["config"],
        "init": str(p["init"]),
        "supervision": ssl.SUPERVISION,
    }


def held_back_metrics(tuned: dict, base: dict) -> dict:
    """The card's metrics: per level, the forward RMSE and the anchor RMSE (the distance to the
    base model's output on the other half's average) of the fine-tuned and of the base model."""
    out: dict[str, Any] = {
        "split": "held-back rows",
        "units": "network units; no SIM: forward-consistency RMSE against the other half's average",
    }
    for level, m in tuned.items():
        out[level] = {
            **m,
            "rmse_base": base[level]["rmse"],
            "anchor_rmse_base": base[level]["anchor_rmse"],
        }
    return out


def _card(
    cfg: Any,
    p: dict,
    data: ssl.StackTargets,
    source: ssl.PatchSource,
    init: dict,
    done: int,
    wall: float,
    lr: float,
    device: Any,
    metrics: dict,
) -> Any:
    from .. import normalisation
    from ..analysis.snr import estimate_snr
    from ..models import get_spec
    from ..models.weights import ModelCard
    from ..restore.device import describe

    spec = get_spec(p["method"])
    level = "blind" if len(data.levels) > 1 else f"avg{data.levels[0]}"
    refs = [ssl.frame_mean(data.stack, data.halves[0][:n]) for n in data.levels]
    snr = [estimate_snr(img) for img in refs]
    return ModelCard(
        name=p["method"],
        architecture=spec.architecture,
        config=spec.config(p["config"]),
        task=spec.task,
        scale=spec.scale,
        noise_level=level,
        normalisation=dict(normalisation.DEFAULT),
        description=spec.description,
        training={
            "command": cfg.command,
            "data": data.name,
            "supervision": ssl.SUPERVISION,
            "self_supervised": {
                "forward_weight": ssl.FORWARD_WEIGHT,
                "anchor_weight": ssl.ANCHOR_WEIGHT,
                "losses": "MSE of bin2(k * R) against the other half's average (forward); "
                "MSE of R against the base model's output on the other half's average "
                "(anchor); network units, the input's percentile map",
                "kernel_energy": ssl.KERNEL_ENERGY,
                "haze_px": ssl.HAZE_PX,
            },
            "recipe": {
                "normalisation": "per image (napari_w2s.normalisation)",
                **data.describe(),
                "train_rows": source.train_rows,
            },
            "initialised_from": init,
            "train_views": 1,
            "levels": [f"avg{n}" for n in data.levels],
            "iterations": done,
            "max_minutes": cfg.minutes,
            "batch": cfg.batch,
            "patch": cfg.patch,
            "lr": lr,
            "lr_drop": 0.6,
            "seed": cfg.seed,
            "device": describe(device),
            "wall_time_s": round(wall, 1),
            "config_name": p["config"],
            "input_snr": {
                "p10": float(np.percentile(snr, 10)),
                "p50": float(np.percentile(snr, 50)),
                "p90": float(np.percentile(snr, 90)),
                "images": len(snr),
            },
        },
        metrics=metrics,
    )
