"""The training loop of self-supervised fine-tuning (:mod:`.self_supervised`): resumable, within
a time budget, with safetensors checkpoints and a model card.

:func:`iter_self_supervised` is what :func:`napari_w2s.training.finetune.iter_finetune` runs for a
JDSR model given a stack and no SIM image; it yields the same progress records as the supervised
trainer (``val`` is the forward-consistency RMSE on held-back patches, network units) and
returns the weights written in the run folder (``None`` when stopped: the checkpoint is kept).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator
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
    from safetensors.torch import load_file, save

    from ..io.atomic import atomic_file
    from ..models import build_model
    from ..restore.device import autocast, choose_device
    from .checkpoint import _opt_from_tensors, _opt_to_tensors
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
    init_record = _initialise(model, str(p["init"]), method)
    model = model.to(device)
    layout = torch.channels_last if device.type in ("cpu", "cuda") else torch.contiguous_format
    model = model.to(memory_format=layout)
    kernel = torch.from_numpy(data.kernel[None, None]).to(device)
    lr = cfg.lr or DEFAULT_LR[JDSR_TASK]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    fp16 = device.type == "cuda" and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda", enabled=fp16)
    start, elapsed = 0, 0.0
    ckpt, ckpt_meta = out / "checkpoint.safetensors", out / "checkpoint.json"
    if resume and ckpt.exists() and ckpt_meta.exists():
        meta = json.loads(ckpt_meta.read_text())
        if meta.get("supervision") != ssl.SUPERVISION or meta.get("method") != method:
            raise W2SInputError(
                f"{ckpt}: a checkpoint of another kind of run; choose another --name"
            )
        tensors = load_file(str(ckpt))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        _opt_from_tensors(opt, tensors, meta["opt"], "opt")
        source.rng.bit_generator.state = meta["sampler_state"]
        start, elapsed = meta["iteration"], meta["elapsed_s"]
    t0 = time.perf_counter()
    budget_s = cfg.minutes * 60.0

    def spent() -> float:
        return elapsed + time.perf_counter() - t0

    def save_checkpoint(iteration: int) -> None:
        tensors = {
            f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()
        }
        t_opt, m_opt = _opt_to_tensors(opt, "opt")
        tensors.update(t_opt)
        with atomic_file(ckpt) as fh:
            fh.write(save(tensors))
        meta = {
            "iteration": iteration,
            "elapsed_s": spent(),
            "opt": m_opt,
            "method": method,
            "sampler_state": source.rng.bit_generator.state,
            "supervision": ssl.SUPERVISION,
        }
        with atomic_file(ckpt_meta) as fh:
            fh.write(json.dumps(meta, default=float).encode())

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
    window_t, window_loss, window_parts, window_n = time.perf_counter(), 0.0, {}, 0
    done = start
    for it in range(start, cfg.iterations):
        if spent() >= budget_s:
            break
        if stop is not None and stop():
            save_checkpoint(done)
            return None
        frac = max(it / cfg.iterations, spent() / budget_s)
        it_lr = lr * (0.1 if frac >= 0.6 else 1.0)
        for group in opt.param_groups:
            group["lr"] = it_lr
        xb, fb, ab = (torch.from_numpy(a).to(device) for a in source.batch(cfg.batch))
        with autocast(device):
            pred = model(xb.contiguous(memory_format=layout))
        pred = (pred[-1] if isinstance(pred, (list, tuple)) else pred).float()
        terms = ssl.loss_terms(pred, fb, ab, kernel, data.margin)
        loss = ssl.total_loss(terms)
        if not torch.isfinite(loss):
            raise RuntimeError(f"the loss became {float(loss)} at iteration {it}; lower --lr")
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        window_loss += float(loss.detach())
        window_n += 1
        for k, v in terms.items():
            window_parts[k] = window_parts.get(k, 0.0) + float(v.detach())
        done = it + 1
        if done % cfg.log_every == 0 or done == cfg.iterations or spent() >= budget_s:
            n = window_n
            record = {
                "iteration": done,
                "iterations": cfg.iterations,
                "loss": window_loss / n,
                "parts": {k: v / n for k, v in window_parts.items()},
                "lr": it_lr,
                "it_per_s": n / max(time.perf_counter() - window_t, 1e-9),
                "elapsed_s": spent(),
                "budget_s": budget_s,
                "val": validate(model)[0],
                "val_start": val_start,
            }
            yield record
            window_t, window_loss, window_parts, window_n = time.perf_counter(), 0.0, {}, 0
        if done % cfg.checkpoint_every == 0 and done < cfg.iterations:
            save_checkpoint(done)
    wall = spent()
    save_checkpoint(done)
    base = build_model(method, p["config"])
    _initialise(base, str(p["init"]), method)
    metrics = held_back_metrics(validate(model)[1], validate(base.to(device))[1])
    card = _card(cfg, p, data, source, init_record, done, wall, lr, device, metrics)
    from ..models.weights import save_model

    return save_model(model, out / f"{method}-{card.noise_level}-{p['config']}.safetensors", card)


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
