"""The training loop: resumable, seeded, on any device, with safetensors checkpoints and a card.

:func:`iter_train` is a generator that yields a progress record every ``log_every`` iterations
and returns the path of the final weights; ``w2s train`` drives it with a progress bar. Every
``checkpoint_every`` iterations it writes ``OUT/checkpoint.safetensors`` (model, optimiser,
discriminator) and ``OUT/checkpoint.json`` (iteration, sampler state, elapsed time), atomically
(:mod:`.checkpoint`); with ``resume=True`` a run continues from there, bit-for-bit the same
batches. The patch source is :mod:`.sources`'s, the held-out figures :mod:`.evaluation`'s.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import W2SInputError
from ..io.folders import check_output_dir
from .checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from .evaluation import evaluate, validation_batch
from .loop import Budget, WeightAverage, Window, make_optimiser, optimiser_step
from .sources import input_snr, make_source, recipe, train_views

__all__ = ["DEFAULT_LR", "TrainConfig", "config_record", "evaluate", "iter_train", "make_source"]

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
    gan: bool = True  # False: no adversarial term (the pixel-loss pre-training of a GAN model)
    ssim: float = 0.0  # weight of the (1 - SSIM) term (not in the paper)
    ema: float = 0.0  # decay of the weight average saved instead of the last iterate (0: off)
    pixel_weights: str = "equal"  # or "target-range" (--data random only; losses.PIXEL_WEIGHTS)
    pixel_loss: str | None = None  # "l1" or "mse" instead of the method's paper loss
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
    random_w2s_share: float | None = None  # --data random: share of W2S-like views (None: 0.2)
    command: str = field(default_factory=lambda: shlex.join(["w2s", *sys.argv[1:]]))
    # images in memory instead of ``data`` (napari_w2s.training.layers.LayerData); ``data`` then
    # only names them in the card
    source: Any = field(default=None, repr=False, compare=False)

    @property
    def level_name(self) -> str:
        return "blind" if not self.levels or len(self.levels) > 1 else self.levels[0]


def config_record(cfg: TrainConfig) -> dict:
    """The configuration as plain data (the in-memory ``source`` left out)."""
    return {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name != "source"}


def iter_train(
    cfg: TrainConfig, resume: bool = False, stop: Callable[[], bool] | None = None
) -> Generator[dict, None, Path | None]:
    """Train ``cfg.model``; yields progress dicts, returns the path of the final weights.

    Each record has ``iteration``, ``iterations``, ``loss``, ``parts``, ``lr``, ``it_per_s``
    and, where the data hold back patches (images in memory: their held-back rows; a data set:
    its test split), ``val`` (the RMSE on those patches in the network's units) and ``val_start``
    (the same before this session's first step). ``stop()`` is asked before every iteration:
    when it says True the checkpoint is written and the generator returns ``None`` (``resume``
    continues it).
    """
    import torch

    from ..models import build_discriminator, build_model, get_spec
    from ..models.weights import save_model
    from ..restore.device import autocast, choose_device, describe
    from .losses import LossConfig, RestorationLoss, gan_losses

    spec = get_spec(cfg.model)
    with torch.device("meta"):  # settings the network refuses: before anything is written
        build_model(cfg.model, cfg.config)
    if cfg.max_minutes is not None and not cfg.max_minutes > 0:
        raise W2SInputError(f"--max-minutes must be positive, not {cfg.max_minutes}")
    if not 0.0 <= cfg.ema < 1.0:
        raise W2SInputError(f"--ema must be at least 0 and below 1 (e.g. 0.999), not {cfg.ema}")
    if cfg.threads:  # a number or "auto" (the cores free now); set for this run's thread
        from ..restore.threads import resolve_threads

        torch.set_num_threads(resolve_threads(cfg.threads))
    torch.manual_seed(cfg.seed)
    device = choose_device(cfg.device)
    out = Path(cfg.out)
    check_output_dir(out)  # a file in the way or a read-only folder: one clear line
    sampler = make_source(cfg, spec.task)
    model = build_model(cfg.model, cfg.config)
    init_record = _initialise(model, cfg.init, cfg.model, cfg.config) if cfg.init else None
    model = model.to(device)
    if device.type in ("cpu", "cuda"):
        model = model.to(memory_format=torch.channels_last)
    loss_cfg = LossConfig.for_model(
        cfg.model,
        cfg.loss_form,
        cfg.features,
        cfg.texture,
        cfg.perceptual,
        cfg.gan,
        cfg.ssim,
        cfg.pixel_weights,
        cfg.pixel_loss,
    )
    weighted = loss_cfg.pixel_weights != "equal"
    if weighted and not hasattr(sampler, "last_weights"):
        raise W2SInputError(
            "--pixel-weights target-range needs --data random (simulated views whose target "
            "range is known)"
        )
    criterion = RestorationLoss(loss_cfg).to(device)
    lr = cfg.lr or DEFAULT_LR[spec.task]
    opt, scaler = make_optimiser(model, lr, device, cfg.weight_decay)
    disc = d_opt = None
    if loss_cfg.gan > 0:
        disc = build_discriminator(cfg.config, in_ch=1, input_size=spec.scale * cfg.patch)
        disc = disc.to(device)
        d_opt, _ = make_optimiser(disc, lr, device)
    average = WeightAverage(model, cfg.ema) if cfg.ema else None

    start, elapsed = 0, 0.0
    if resume and has_checkpoint(out):
        meta = load_checkpoint(out, cfg.model, cfg.config, model, opt, disc, d_opt, average=average)
        sampler.rng.bit_generator.state = meta["sampler_state"]
        start, elapsed = meta["iteration"], meta["elapsed_s"]

    def checkpoint(iteration: int) -> None:
        save_checkpoint(
            out,
            iteration=iteration,
            elapsed_s=clock.spent(),
            sampler_state=sampler.rng.bit_generator.state,
            config=config_record(cfg),
            model=model,
            opt=opt,
            disc=disc,
            d_opt=d_opt,
            average=average,
        )

    val_batch = validation_batch(cfg, sampler, spec.task)

    def validate() -> float | None:
        if val_batch is None:
            return None
        model.eval()
        with torch.inference_mode(), autocast(device):
            xv = torch.from_numpy(val_batch[0]).to(device)
            pv = model(xv)
            pv = pv[-1] if isinstance(pv, (list, tuple)) else pv
            err = float(
                torch.sqrt(torch.mean((pv.float().cpu() - torch.from_numpy(val_batch[1])) ** 2))
            )
        model.train()
        return err

    clock = Budget(cfg.iterations, cfg.max_minutes * 60.0 if cfg.max_minutes else None, elapsed)
    val_start = validate()
    model.train()
    window = Window()
    done = start
    for it in clock.steps(start, stop):
        it_lr = clock.lr(lr, it)
        xb, yb = sampler.batch(cfg.batch)
        x = torch.from_numpy(xb).to(device)
        y = torch.from_numpy(yb).to(device)
        if device.type in ("cpu", "cuda"):
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device):
            pred = model(x)
            w = torch.from_numpy(sampler.last_weights).to(device) if weighted else None
            loss, parts = criterion(pred, y, w)
            if disc is not None:
                fake = pred[-1] if isinstance(pred, (list, tuple)) else pred
                g_loss, _ = gan_losses(disc(y).detach(), disc(fake))
                loss = loss + loss_cfg.gan * g_loss
                parts["gan"] = float(g_loss.detach())
        optimiser_step(opt, scaler, loss, lr=it_lr, iteration=it)
        if disc is not None:
            fake = (pred[-1] if isinstance(pred, (list, tuple)) else pred).detach()
            with autocast(device):
                _, d_loss = gan_losses(disc(y), disc(fake))
            optimiser_step(d_opt, scaler, d_loss)
        if average is not None:
            average.update(model)
        window.add(float(loss.detach()), parts)
        done = it + 1
        if clock.record_due(done, cfg.log_every):
            record = window.record(done, clock, it_lr)
            if val_batch is not None:
                record.update(val=validate(), val_start=val_start)
            yield record
            window.reset()  # the validation's time is not the training's
        if done % cfg.checkpoint_every == 0 and done < cfg.iterations:
            checkpoint(done)
    if clock.stopped:
        checkpoint(done)
        return None

    wall = clock.spent()
    checkpoint(done)
    if average is not None:  # evaluated and saved: the average, not the last iterate
        average.copy_to(model)
    model.eval()
    metrics = evaluate(model, cfg, spec.task, device, sampler)
    card = run_card(
        cfg,
        normalisation=dict(sampler.norm),
        training={
            "command": cfg.command,
            "data": cfg.source.name if cfg.source is not None else str(cfg.data),
            "recipe": recipe(cfg, sampler),
            "initialised_from": init_record,
            "train_views": train_views(sampler),
            "levels": list(sampler.levels),
            "iterations": done,
            "max_minutes": cfg.max_minutes,
            "batch": cfg.batch,
            "patch": cfg.patch,
            "stride": cfg.stride,
            "lr": lr,
            "lr_drop": cfg.lr_drop,
            "loss": asdict(loss_cfg),
            "weight_average": (
                {"decay": cfg.ema, "steps": average.steps} if average is not None else None
            ),
            "seed": cfg.seed,
            "device": describe(device),
            "wall_time_s": round(wall, 1),
            "config_name": cfg.config,
            "input_snr": input_snr(cfg, spec.task, sampler),
        },
        metrics=metrics,
    )
    return save_model(model, out / f"{card_stem(cfg)}.safetensors", card)


def _card_level(cfg: TrainConfig) -> str:
    from ..models import get_spec

    # SR models see the clean LR only
    return "clean" if get_spec(cfg.model).task == "sr" else cfg.level_name


def card_stem(cfg: TrainConfig) -> str:
    """``MODEL-LEVEL-CONFIG``: the name of a run's weights file and card."""
    from ..models.config_text import config_label

    return f"{cfg.model}-{_card_level(cfg)}-{config_label(cfg.config)}"


def run_card(cfg: TrainConfig, normalisation: dict, training: dict, metrics: dict) -> Any:
    """The model card of a run's weights: the method's architecture, task and scale, the
    noise level it was trained for, ``normalisation``, ``training`` (the record) and
    ``metrics``."""
    from ..models import get_spec
    from ..models.weights import ModelCard

    spec = get_spec(cfg.model)
    return ModelCard(
        name=cfg.model,
        architecture=spec.architecture,
        config=spec.config(cfg.config),
        task=spec.task,
        scale=spec.scale,
        noise_level=_card_level(cfg),
        normalisation=normalisation,
        description=spec.description,
        training=training,
        metrics=metrics,
    )


def _check_only_grown(path: Path, config: Any, method: str) -> None:
    """Growing a network (blocks, features, growth) keeps everything else: an ``--init`` whose
    card records other settings (upsampling, the bicubic shortcut) is refused."""
    from ..models import get_spec
    from ..models.weights import card_path, read_card

    if not card_path(path).is_file():
        return
    theirs = dict(read_card(path).config)
    ours = get_spec(method).config(config)
    grown = ("num_blocks", "num_feat", "growth")
    other = sorted(
        k for k in set(theirs) | set(ours) if k not in grown and theirs.get(k) != ours.get(k)
    )
    if other:
        raise W2SInputError(
            f"{path}: --init weights differ from this configuration in more than its size "
            f"({', '.join(f'{k} {theirs.get(k)} -> {ours.get(k)}' for k in other)})"
        )


def _initialise(model: Any, init: str, method: str, config: Any = "compact") -> dict:
    """Load starting weights (fine-tuning): a weights file or a shipped method name."""
    from ..models.weights import load_state_dict, sha256_file

    path = Path(init)
    if not path.is_file():
        from ..restore.zoo import find_weights

        path = find_weights(init if init != "shipped" else method)
    state = load_state_dict(path)
    record = {"file": path.name, "sha256": sha256_file(path)}
    widen = getattr(model, "widened_state", None)
    if widen is not None:  # a narrower RRDB model: its channels, new ones read by zeros
        state, narrower = widen(state)
        if narrower:
            record["widened_from"] = {"num_feat": narrower[0], "growth": narrower[1]}
    deepen = getattr(model, "deepened_state", None)
    if deepen is not None:  # a shallower RRDB model: its blocks, then new ones as identities
        state, added = deepen(state)
        if added:
            record["blocks_added"] = added
    if "widened_from" in record or "blocks_added" in record:
        _check_only_grown(path, config, method)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise W2SInputError(
            f"{path}: --init weights do not fit {method!r} ({str(err).splitlines()[0]})"
        ) from err
    return record
