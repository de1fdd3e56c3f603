"""The training loop: resumable, seeded, on any device, with safetensors checkpoints and a card.

:func:`iter_train` is a generator that yields a progress record every ``log_every`` iterations
and returns the path of the final weights; ``w2s train`` drives it with a progress bar. Every
``checkpoint_every`` iterations it writes ``OUT/checkpoint.safetensors`` (model, optimiser,
discriminator) and ``OUT/checkpoint.json`` (iteration, sampler state, elapsed time); with
``resume=True`` a run continues from there, bit-for-bit the same batches.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..batch import check_output_dir
from ..errors import W2SInputError

DEFAULT_LR = {"denoise": 1e-3, "sr": 2e-4, "jdsr": 2e-4}


@dataclass
class TrainConfig:
    """Everything a training run needs (recorded in the model card).

    ``levels=None`` trains noise-blind on every noisy level of the data; ``["avg1"]`` trains
    one level as in the paper. ``lr=None`` takes the task's default (paper: 1e-3 for the
    denoisers, 1e-4 for SR/JDSR at batch 16; the compact defaults here use 2e-4 for SR/JDSR).
    The learning rate drops tenfold after ``lr_drop`` of the run (the paper: epoch 30 of 50 for
    the denoisers). ``max_minutes`` bounds the run by wall time as well (elapsed time of resumed
    runs included): the run's progress is then the larger of the iteration and the time
    fractions, so the drop comes at ``lr_drop`` of whichever budget runs out first, and the run
    stops when the time is up, with weights, checkpoint and card as usual.
    """

    model: str
    data: str
    out: str
    levels: list[str] | None = None
    config: str = "compact"
    iterations: int = 20000
    batch: int = 16
    patch: int = 64
    stride: int = 32
    lr: float | None = None
    weight_decay: float = 0.0
    lr_drop: float = 0.6
    max_minutes: float | None = None
    loss_form: str = "paper"
    features: str = "random-quarter"
    texture: bool = True
    perceptual: bool = True
    device: str = "auto"
    seed: int = 0
    threads: int | str | None = None  # a number or "auto"
    log_every: int = 50
    checkpoint_every: int = 500
    eval_views: int = 12
    init: str | None = None  # weights to start from (a file, or a shipped method name)
    random_size: int = 96  # --data random: LR size of the simulated views
    random_pool: int = 64  # --data random: views kept in memory
    random_refresh: int = 1  # --data random: views replaced by fresh ones before each batch
    command: str = field(default_factory=lambda: shlex.join(["w2s", *sys.argv[1:]]))
    # images in memory instead of ``data`` (napari_w2s.training.layers.LayerData); ``data`` then
    # only names them in the card
    source: Any = field(default=None, repr=False, compare=False)

    @property
    def level_name(self) -> str:
        return "blind" if not self.levels or len(self.levels) > 1 else self.levels[0]


def _opt_to_tensors(opt: Any, prefix: str) -> tuple[dict, dict]:
    state = opt.state_dict()
    tensors = {}
    for idx, entries in state["state"].items():
        for key, value in entries.items():
            tensors[f"{prefix}.{idx}.{key}"] = value.detach().cpu().contiguous()
    return tensors, {"param_groups": state["param_groups"]}


def _opt_from_tensors(opt: Any, tensors: dict, meta: dict, prefix: str) -> None:
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def config_record(cfg: TrainConfig) -> dict:
    """The configuration as plain data (the in-memory ``source`` left out)."""
    return {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name != "source"}


def iter_train(cfg: TrainConfig, resume: bool = False,
               stop: Callable[[], bool] | None = None) -> Generator[dict, None, Path | None]:  # fmt: skip
    """Train ``cfg.model``; yields progress dicts, returns the path of the final weights.

    Each record has ``iteration``, ``iterations``, ``loss``, ``parts``, ``lr``, ``it_per_s``
    and, where the data hold back patches (images in memory: their held-back rows; a data set:
    its test split), ``val`` (the RMSE on those patches in the network's units) and ``val_start``
    (the same before this session's first step). ``stop()`` is asked before every iteration:
    when it says True the checkpoint is written and the generator returns ``None`` (``resume``
    continues it).
    """
    import torch
    from safetensors.torch import load_file, save_file

    from ..models import build_discriminator, build_model, get_spec
    from ..models.weights import ModelCard, save_model
    from ..restore.device import autocast, choose_device, describe
    from .losses import LossConfig, RestorationLoss, gan_losses

    spec = get_spec(cfg.model)
    if cfg.max_minutes is not None and not cfg.max_minutes > 0:
        raise W2SInputError(f"--max-minutes must be positive, not {cfg.max_minutes}")
    if cfg.threads:  # a number or "auto" (the cores free now); set for this run's thread
        from ..restore.threads import resolve_threads

        torch.set_num_threads(resolve_threads(cfg.threads))
    torch.manual_seed(cfg.seed)
    device = choose_device(cfg.device)
    out = Path(cfg.out)
    check_output_dir(out)  # a file in the way or a read-only folder: one clear line
    sampler = make_source(cfg, spec.task)
    model = build_model(cfg.model, cfg.config)
    init_record = _initialise(model, cfg.init, cfg.model) if cfg.init else None
    model = model.to(device)
    if device.type in ("cpu", "cuda"):
        model = model.to(memory_format=torch.channels_last)
    loss_cfg = LossConfig.for_model(cfg.model, cfg.loss_form, cfg.features, cfg.texture,
                                    cfg.perceptual)  # fmt: skip
    criterion = RestorationLoss(loss_cfg).to(device)
    lr = cfg.lr or DEFAULT_LR[spec.task]
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    disc = d_opt = None
    if loss_cfg.gan > 0:
        disc = build_discriminator(cfg.config, in_ch=1, input_size=spec.scale * cfg.patch)
        disc = disc.to(device)
        d_opt = torch.optim.Adam(disc.parameters(), lr=lr)
    use_scaler = device.type == "cuda" and torch.cuda.is_available() and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)

    start, elapsed = 0, 0.0
    ckpt, ckpt_meta = out / "checkpoint.safetensors", out / "checkpoint.json"
    if resume and ckpt.exists() and ckpt_meta.exists():
        meta = json.loads(ckpt_meta.read_text())
        if meta["config"]["model"] != cfg.model or meta["config"]["config"] != cfg.config:
            raise W2SInputError(f"{ckpt}: a checkpoint of another model; use another --out")
        tensors = load_file(str(ckpt))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        _opt_from_tensors(opt, tensors, meta["opt"], "opt")
        if disc is not None:
            disc.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("disc.")})
            _opt_from_tensors(d_opt, tensors, meta["d_opt"], "dopt")
        sampler.rng.bit_generator.state = meta["sampler_state"]
        start, elapsed = meta["iteration"], meta["elapsed_s"]

    def save_checkpoint(iteration: int) -> None:
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        t_opt, m_opt = _opt_to_tensors(opt, "opt")
        tensors.update(t_opt)
        meta = {"iteration": iteration, "elapsed_s": spent(),
                "sampler_state": sampler.rng.bit_generator.state, "opt": m_opt,
                "config": config_record(cfg)}  # fmt: skip
        if disc is not None:
            tensors.update({f"disc.{k}": v.detach().cpu().contiguous()
                            for k, v in disc.state_dict().items()})  # fmt: skip
            t_d, m_d = _opt_to_tensors(d_opt, "dopt")
            tensors.update(t_d)
            meta["d_opt"] = m_d
        tmp = out / f".checkpoint.partial-{os.getpid()}"
        save_file(tensors, str(tmp))
        os.replace(tmp, ckpt)
        ckpt_meta.write_text(json.dumps(meta, default=float))

    budget_s = cfg.max_minutes * 60.0 if cfg.max_minutes else None

    def spent() -> float:
        """Wall time of the run so far, seconds (earlier sessions of a resumed run included)."""
        return elapsed + time.perf_counter() - t0

    def out_of_time() -> bool:
        return budget_s is not None and spent() >= budget_s

    def progress(iteration: int) -> float:
        """Fraction of the run done: iterations, or wall time when that runs out first."""
        frac = iteration / cfg.iterations
        return max(frac, spent() / budget_s) if budget_s else frac

    def current_lr(iteration: int) -> float:
        return lr * (0.1 if progress(iteration) >= cfg.lr_drop else 1.0)

    val_batch = _validation_batch(cfg, sampler, spec.task)

    def validate() -> float | None:
        if val_batch is None:
            return None
        model.eval()
        with torch.inference_mode(), autocast(device):
            xv = torch.from_numpy(val_batch[0]).to(device)
            pv = model(xv)
            pv = pv[-1] if isinstance(pv, (list, tuple)) else pv
            err = float(torch.sqrt(torch.mean(
                (pv.float().cpu() - torch.from_numpy(val_batch[1])) ** 2)))  # fmt: skip
        model.train()
        return err

    t0 = time.perf_counter()
    val_start = validate()
    model.train()
    window_t, window_loss, window_parts, window_n = time.perf_counter(), 0.0, {}, 0
    done = start
    for it in range(start, cfg.iterations):
        if out_of_time():
            break
        if stop is not None and stop():
            save_checkpoint(done)
            return None
        it_lr = current_lr(it)
        for group in opt.param_groups:
            group["lr"] = it_lr
        xb, yb = sampler.batch(cfg.batch)
        x = torch.from_numpy(xb).to(device)
        y = torch.from_numpy(yb).to(device)
        if device.type in ("cpu", "cuda"):
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device):
            pred = model(x)
            loss, parts = criterion(pred, y)
            if disc is not None:
                fake = pred[-1] if isinstance(pred, (list, tuple)) else pred
                g_loss, _ = gan_losses(disc(y).detach(), disc(fake))
                loss = loss + loss_cfg.gan * g_loss
                parts["gan"] = float(g_loss.detach())
        if not torch.isfinite(loss):
            raise RuntimeError(f"the loss became {float(loss)} at iteration {it}; lower --lr")
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        if disc is not None:
            fake = (pred[-1] if isinstance(pred, (list, tuple)) else pred).detach()
            with autocast(device):
                _, d_loss = gan_losses(disc(y), disc(fake))
            d_opt.zero_grad(set_to_none=True)
            scaler.scale(d_loss).backward()
            scaler.step(d_opt)
            scaler.update()
        window_loss += float(loss.detach())
        window_n += 1
        for k, v in parts.items():
            window_parts[k] = window_parts.get(k, 0.0) + v
        done = it + 1
        if done % cfg.log_every == 0 or done == cfg.iterations or out_of_time():
            n, now = window_n, time.perf_counter()
            record = {"iteration": done, "iterations": cfg.iterations, "loss": window_loss / n,
                   "parts": {k: v / n for k, v in window_parts.items()}, "lr": it_lr,
                   "it_per_s": n / max(now - window_t, 1e-9), "elapsed_s": spent(),
                   "budget_s": budget_s}  # fmt: skip
            if val_batch is not None:
                record.update(val=validate(), val_start=val_start)
            yield record
            now = time.perf_counter()  # the validation's time is not the training's
            window_t, window_loss, window_parts, window_n = now, 0.0, {}, 0
        if done % cfg.checkpoint_every == 0 and done < cfg.iterations:
            save_checkpoint(done)

    wall = spent()
    save_checkpoint(done)
    model.eval()
    metrics = evaluate(model, cfg, spec.task, device, sampler)
    level = "clean" if spec.task == "sr" else cfg.level_name  # SR models see the clean LR only
    name = f"{cfg.model}-{level}-{cfg.config}"
    card = ModelCard(
        name=cfg.model,
        architecture=spec.architecture,
        config=spec.config(cfg.config),
        task=spec.task,
        scale=spec.scale,
        noise_level=level,
        normalisation=dict(sampler.norm),
        description=spec.description,
        training={
            "command": cfg.command,
            "data": cfg.source.name if cfg.source is not None else str(cfg.data),
            "recipe": _recipe(cfg, sampler),
            "initialised_from": init_record,
            "train_views": _train_views(sampler),
            "levels": list(sampler.levels),
            "iterations": done,
            "max_minutes": cfg.max_minutes,
            "batch": cfg.batch,
            "patch": cfg.patch,
            "stride": cfg.stride,
            "lr": lr,
            "lr_drop": cfg.lr_drop,
            "loss": asdict(loss_cfg),
            "seed": cfg.seed,
            "device": describe(device),
            "wall_time_s": round(wall, 1),
            "config_name": cfg.config,
            "input_snr": _input_snr(cfg, spec.task, sampler),
        },
        metrics=metrics,
    )
    path = save_model(model, out / f"{name}.safetensors", card)
    return path


def make_source(cfg: TrainConfig, task: str):
    """The patch source of a run: randomised simulation (``--data random``) or a data set."""
    from .. import normalisation

    if cfg.source is not None:  # images in memory (w2s finetune, the Train widget)
        return cfg.source.sampler(task, cfg.levels, patch=cfg.patch, seed=cfg.seed,
                                  norm=normalisation.DEFAULT)  # fmt: skip
    if _is_random(cfg.data):
        from ..simulate.randomised import HELD_OUT
        from .random_source import RandomSource

        shift = str(cfg.data).partition(":")[2] or None
        if shift and shift not in {h.name for h in HELD_OUT}:
            raise W2SInputError(f"--data random:{shift}: no such test set (choose "
                                f"{', '.join(h.name for h in HELD_OUT)})")  # fmt: skip
        return RandomSource(task, cfg.levels, patch=cfg.patch, seed=cfg.seed,
                            size=max(cfg.random_size, cfg.patch), pool=cfg.random_pool,
                            refresh=cfg.random_refresh, norm=normalisation.DEFAULT,
                            shift=shift)  # fmt: skip
    from .data import PatchSampler, load_pairs

    pairs = load_pairs(cfg.data, "train", task, cfg.levels)
    return PatchSampler(pairs, patch=cfg.patch, stride=cfg.stride, seed=cfg.seed,
                        norm=normalisation.DEFAULT)  # fmt: skip


def _is_random(data: str) -> bool:
    return str(data) == "random" or str(data).startswith("random:")


def _input_snr(cfg: TrainConfig, task: str, sampler) -> dict | None:
    """Percentiles of the SNR (:func:`napari_w2s.analysis.snr.estimate_snr`) of the training
    inputs: what ``--noise-level auto`` compares an image with to choose a per-level model."""
    from ..analysis.snr import estimate_snr

    if task == "sr":
        return None
    if _is_random(cfg.data):
        from .random_source import held_out_views

        views = held_out_views(task, cfg.levels, n=min(48, 4 * cfg.eval_views), size=96,
                               seed=cfg.seed + 7919,
                               shift=sampler.shift)  # fmt: skip
        images = [img for v in views for img in v["inputs"].values()]
    else:
        images = [img for arr in sampler.pairs.inputs.values() for img in arr]
    snr = [estimate_snr(img) for img in images]
    p10, p50, p90 = (float(v) for v in np.percentile(snr, [10, 50, 90]))
    return {"p10": p10, "p50": p50, "p90": p90, "images": len(snr)}


def _train_views(sampler) -> int:
    return int(getattr(sampler, "views_drawn", 0) or len(sampler.pairs.views))


def _recipe(cfg: TrainConfig, sampler) -> dict:
    """What the card says of the data: the per-image normalisation, and for random data the
    ranges, the held-out regions and the pool."""
    rec: dict[str, Any] = {"normalisation": "per image (napari_w2s.normalisation)"}
    if cfg.source is not None:
        rec.update(cfg.source.describe())
    elif _is_random(cfg.data):
        from ..simulate.randomised import HELD_OUT, Ranges

        rec.update(source="randomised simulation", view_size=sampler.size,
                   pool=sampler.pool_size, refresh_per_batch=sampler.refresh,
                   ranges=Ranges().to_dict(),
                   held_out={h.name: h.description for h in HELD_OUT},
                   specialist_of=sampler.shift)  # fmt: skip
    else:
        rec["source"] = "data set folder"
    return rec


def _initialise(model: Any, init: str, method: str) -> dict:
    """Load starting weights (fine-tuning): a weights file or a shipped method name."""
    from ..models.weights import load_state_dict, sha256_file

    path = Path(init)
    if not path.is_file():
        from ..restore.zoo import find_weights

        path = find_weights(init if init != "shipped" else method)
    state = load_state_dict(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise W2SInputError(f"{path}: --init weights do not fit {method!r} "
                            f"({str(err).splitlines()[0]})") from err  # fmt: skip
    return {"file": path.name, "sha256": sha256_file(path)}


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
    split = "held-back rows" if cfg.source is not None else \
        "random, held-out seed" if _is_random(cfg.data) else "test"  # fmt: skip
    results: dict[str, Any] = {"split": split,
                               "views": len(views), "units": "W2S z-score"}  # fmt: skip
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


def _validation_batch(cfg: TrainConfig, sampler: Any, task: str) -> tuple | None:
    """Fixed held-back patches ``(x, y)`` in the network's units, or ``None``: the source's own
    (images in memory), else up to 16 patches of a data set's test split (none for random data)."""
    if hasattr(sampler, "validation_batch"):
        return sampler.validation_batch()
    if _is_random(cfg.data):
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
    import torch

    t = torch.from_numpy(np.ascontiguousarray(x[None, None])).to(device)
    with torch.inference_mode():
        pred = model(t)
        pred = pred[-1] if isinstance(pred, (list, tuple)) else pred
    return pred[0, 0].float().cpu().numpy()


def _eval_views(cfg: TrainConfig, task: str) -> list[dict] | str:
    """Evaluation views in the data's units, or the reason there are none."""
    if _is_random(cfg.data):
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
    return [{"inputs": {lv: arr[i] for lv, arr in pairs.inputs.items()}, "target": pairs.target[i],
             "clean": clean[i]} for i in range(n)]  # fmt: skip
