"""``w2s finetune`` (a model adapted to the user's microscope, saved in their model folder) and
``w2s train`` (a model trained on a W2S-layout data set, resumable)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ..errors import W2SInputError
from ..progress import Progress, relay
from ._common import (
    EXIT_OK,
    _at_least,
    _positive,
    _print_json,
    _read_image,
    _read_input,
    _threads,
    add_command,
    progress_bar,
)


def _config(text: str) -> str:
    """An argparse type: ``compact``, ``full`` or one of them with settings changed."""
    from ..models.config_text import normal_config

    try:
        return normal_config(text)
    except W2SInputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def cmd_train(args: argparse.Namespace) -> int:
    from ..training.trainer import TrainConfig, iter_train

    levels = None
    if args.level and args.level != "blind":
        levels = [lv if lv.startswith("avg") else f"avg{lv}" for lv in args.level.split(",")]
    cfg = TrainConfig(
        model=args.model,
        data=args.data,
        out=args.out,
        levels=levels,
        config=args.config,
        iterations=args.iterations,
        batch=args.batch,
        patch=args.patch,
        lr=args.lr,
        loss_form=args.loss_form,
        features=args.features,
        texture=not args.no_texture,
        perceptual=not args.no_perceptual,
        gan=not args.no_gan,
        ssim=args.ssim,
        ema=args.ema,
        pixel_weights=args.pixel_weights,
        pixel_loss=args.pixel_loss,
        device=args.device,
        seed=args.seed,
        threads=args.threads,
        max_minutes=args.max_minutes,
        init=args.init,
        random_size=args.random_size,
        random_pool=args.random_pool,
        random_refresh=args.random_refresh,
        random_w2s_share=args.random_w2s_share,
    )
    gen = iter_train(cfg, resume=args.resume)
    with progress_bar(
        f"training {cfg.model}",
        "it",
        args.json,
        total=cfg.iterations,
        leave=True,
        postfix=lambda p: {"loss": f"{p.info['loss']:.4f}", "lr": f"{p.info['lr']:.1e}"},
        plain=lambda p: (
            f"iteration {int(p.done)}/{int(p.total)} loss {p.info['loss']:.5f} "
            f"{p.info['it_per_s']:.2f} it/s"
        ),
    ) as bar:
        weights = relay(gen, bar)
    from ..models.weights import read_card

    card = read_card(weights)
    if args.json:
        _print_json(
            {
                "weights": str(weights),
                "card": str(weights.with_suffix(".json")),
                "metrics": card.metrics,
                "wall_time_s": card.training["wall_time_s"],
            }
        )
    else:
        print(f"weights -> {weights}")
        print(f"model card -> {weights.with_suffix('.json')}")
        for level, m in card.metrics.items():
            if isinstance(m, dict):
                print(f"  held-out {level}: RMSE {m['rmse']:.4f}  SSIM {m['ssim']:.4f}")
    return EXIT_OK


def _is_dataset(path: Path) -> bool:
    """A W2S-layout data set folder (processed train/ test/, or raw ImageNNN/ views)."""
    return path.is_dir() and ((path / "train").is_dir() or any(path.glob("Image[0-9][0-9][0-9]")))


def cmd_finetune(args: argparse.Namespace) -> int:
    from ..training.finetune import FinetuneConfig, iter_finetune

    src = Path(args.input)
    if not src.exists():
        raise W2SInputError(f"{src}: no such file or folder")
    level = None
    if args.level and args.level != "blind":
        level = args.level if args.level.startswith("avg") else f"avg{args.level}"
    cfg = FinetuneConfig(
        base=args.base,
        scratch=args.scratch,
        minutes=args.minutes,
        iterations=args.iterations,
        name=args.name,
        level=level,
        patch=args.patch,
        batch=args.batch,
        lr=args.lr,
        device=args.device,
        seed=args.seed,
        threads=args.threads,
        models_dir=args.out,
        log_every=args.log_every,
        command=shlex.join(["w2s", *(sys.argv[1:] or ["finetune"])]),
    )
    if _is_dataset(src):
        if args.sim:
            raise W2SInputError("--sim is for a single stack; a data set folder has its own SIM")
        gen = iter_finetune(cfg, folder=str(src), resume=args.resume)
    else:
        stack = _read_input(str(src), args)
        sim = _read_image(args.sim, "SIM")[0] if args.sim else None
        gen = iter_finetune(cfg, stack=stack.data, sim=sim, resume=args.resume, data_name=src.name)

    noted: list[str] = []

    def show(p: Progress) -> None:
        if p.unit != "it" or args.json:  # a stage ("preparing"), or --json
            return
        if not noted:  # the data passed every check
            noted.append(p.info["supervision"])
            print(f"w2s finetune: supervision: {p.info['supervision']}", file=sys.stderr)
        info = p.info
        val = (
            f" val RMSE {info['val']:.4f} (start {info['val_start']:.4f})" if "val" in info else ""
        )
        print(
            f"iteration {int(p.done)} loss {info['loss']:.5f}{val} {info['it_per_s']:.2f} it/s",
            file=sys.stderr,
            flush=True,
        )

    weights = relay(gen, show)
    from ..models.weights import read_card

    card = read_card(weights)
    if args.json:
        _print_json(
            {
                "weights": str(weights),
                "name": weights.stem,
                "metrics": card.metrics,
                "iterations": card.training["iterations"],
                "supervision": card.training.get("supervision"),
            }
        )
    else:
        print(
            f"model {weights.stem} -> {weights} ({card.training['iterations']} iterations); "
            f"run it with: w2s restore IMAGE --method {weights.stem} --out DIR"
        )
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``w2s finetune`` and ``w2s train`` to the sub-commands ``sub``."""
    p = add_command(
        sub,
        "finetune",
        cmd_finetune,
        "Adapt a model to your microscope: fine-tune a shipped model on a widefield stack "
        "(+ its SIM) or a W2S-layout folder; saved in your model folder.",
    )
    p.add_argument(
        "input", help="a widefield stack (T, Y, X) file, or a W2S-layout data set folder"
    )
    p.add_argument(
        "--sim",
        default=None,
        help="the stack's SIM image (2Y x 2X, registered): supervised fine-tuning; "
        "without it JDSR models learn self-supervised from the stack (disjoint "
        "frames + forward consistency), denoisers from its average",
    )
    p.add_argument(
        "--base",
        default="jdsr",
        help="the model to start from: a method (its shipped weights) or one of your "
        "models (default jdsr)",
    )
    p.add_argument(
        "--scratch", action="store_true", help="train --base's method from random weights"
    )
    p.add_argument("--minutes", type=_positive, default=5.0, help="time budget (default 5)")
    p.add_argument(
        "--iterations",
        type=_at_least(1),
        default=100_000,
        help="upper bound on the iterations (default 100000)",
    )
    p.add_argument("--name", default=None, help="the new model's name (default METHOD-ft-DATE)")
    p.add_argument(
        "--out", default=None, help="model folder (default: your model folder, see w2s models)"
    )
    p.add_argument("--resume", action="store_true", help="continue a stopped run of this --name")
    p.add_argument("--level", default="blind", help="noise level to train on (default: all)")
    p.add_argument("--patch", type=_at_least(16), default=48, help="LR patch size (default 48)")
    p.add_argument("--batch", type=_at_least(1), default=8, help="batch size (default 8)")
    p.add_argument("--lr", type=_positive, default=None, help="learning rate (default by task)")
    p.add_argument("--log-every", type=_at_least(1), default=10, help="iterations per report")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=_at_least(0), default=0, help="random seed")
    p.add_argument("--threads", type=_at_least(1), default=None, help="CPU threads for torch")
    p.add_argument("--axes", default=None, help="axes of the stack file, e.g. TYX")
    p.add_argument("--channel", type=int, default=0, help="channel of a W2S ImageNNN folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add_command(
        sub,
        "train",
        cmd_train,
        "Train a model on a W2S-layout data set (real or simulated); resumable.",
    )
    p.add_argument(
        "--model", required=True, help="method name, e.g. jdsr, dncnn, rcan (w2s models)"
    )
    p.add_argument(
        "--data",
        required=True,
        help="data set folder (processed or raw W2S layout), or `random`: views "
        "simulated afresh from randomised cameras, light, optics and samples",
    )
    p.add_argument("--out", required=True, help="folder for checkpoints, weights and model card")
    p.add_argument(
        "--init",
        default=None,
        help="start from these weights (a .safetensors file, or a shipped method "
        "name such as jdsr): fine-tuning",
    )
    p.add_argument(
        "--random-size",
        type=_at_least(16),
        default=96,
        help="--data random: LR size of each simulated view (default 96)",
    )
    p.add_argument(
        "--random-pool",
        type=_at_least(1),
        default=64,
        help="--data random: views kept in memory (default 64)",
    )
    p.add_argument(
        "--random-refresh",
        type=_at_least(0),
        default=1,
        help="--data random: views replaced by new ones before each batch (default 1)",
    )
    p.add_argument(
        "--random-w2s-share",
        type=float,
        default=None,
        help="--data random: share of views drawn as the embedded W2S-like microscope "
        "(default 0.2; recorded in the card's ranges)",
    )
    p.add_argument(
        "--level",
        default="blind",
        help="noise level(s) of the input, e.g. avg1 or 1,2 (default: blind = all)",
    )
    p.add_argument(
        "--config",
        default="compact",
        type=_config,
        help="compact (CPU-sized, default) or full (the paper's configuration), optionally with "
        "settings changed: compact:num_blocks=4 (each model's settings: docs/models.md)",
    )
    p.add_argument("--iterations", type=_at_least(1), default=20000, help="training iterations")
    p.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="also stop after this much wall time (the learning-rate drop follows "
        "whichever budget runs out first)",
    )
    p.add_argument(
        "--batch", type=_at_least(1), default=16, help="batch size (paper: 16 JDSR, 128 denoisers)"
    )
    p.add_argument("--patch", type=_at_least(16), default=64, help="LR patch size (paper: 64)")
    p.add_argument("--lr", type=_positive, default=None, help="learning rate (default by task)")
    p.add_argument(
        "--loss-form",
        default="paper",
        choices=["paper", "released"],
        help="JDSR loss as in the paper (default) or the authors' released code",
    )
    p.add_argument(
        "--features",
        default="random-quarter",
        help="feature net of the perceptual/texture losses: random, random-quarter, "
        "dncnn (the shipped denoiser's features) or a torchvision VGG19 state "
        "dict file",
    )
    p.add_argument("--no-texture", action="store_true", help="drop the texture loss term")
    p.add_argument("--no-perceptual", action="store_true", help="drop the perceptual loss term")
    p.add_argument(
        "--ssim",
        type=float,
        default=0.0,
        metavar="W",
        help="add W * (1 - SSIM) to the loss (the benchmark's SSIM; not in the paper; default 0)",
    )
    p.add_argument(
        "--ema",
        type=float,
        default=0.0,
        metavar="DECAY",
        help="save a moving average of the weights (decay e.g. 0.999) instead of the last "
        "iterate: steadier weights from a short run (not in the paper; default off)",
    )
    p.add_argument(
        "--pixel-weights",
        default="equal",
        choices=["equal", "target-range"],
        help="equal (default): every patch's pixel error counts alike in the network's units; "
        "target-range: each is divided by its view's target range in those units, so dim, "
        "noisy views count as much as in the benchmark's scoring (--data random; not in the "
        "paper)",
    )
    p.add_argument(
        "--pixel-loss",
        default=None,
        choices=["l1", "mse"],
        help="the pixel loss instead of the method's paper loss (JDSR: l1, whose minimiser is "
        "the median; mse: the mean, what an RMSE scores); recorded in the card",
    )
    p.add_argument(
        "--no-gan",
        action="store_true",
        help="drop the adversarial term (ESRGAN, EPSR): the pixel-loss pre-training "
        "that their GAN training starts from (--init)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=_at_least(0), default=0, help="random seed")
    p.add_argument(
        "--threads",
        type=_threads,
        default=None,
        help="CPU threads for torch: a number, or auto = the cores free now",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.*")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
