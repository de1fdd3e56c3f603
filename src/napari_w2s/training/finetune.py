"""Adapt a model to the user's microscope: fine-tune a shipped model (or train one from scratch)
on the user's data, within a time budget, and save it in the user's model folder.

One back end for ``w2s finetune`` and the Train widget. The data are either a W2S-layout folder
(as ``w2s train``) or images in memory: a widefield stack and, optionally, its SIM image
(:mod:`napari_w2s.training.layers`). A run lives in ``MODELS/runs/NAME`` (checkpoints: a stopped
or cancelled run resumes from there); when it ends its weights and card are copied to
``MODELS/NAME.safetensors`` / ``NAME.json``, where ``w2s models``, ``w2s restore --method NAME``
and the Restore widget find them.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import W2SInputError


@dataclass
class FinetuneConfig:
    """What to adapt, to what, for how long.

    ``base`` is a method name (its shipped weights; ``jdsr`` by default) or the file stem of a
    user model; ``scratch=True`` trains the method ``base`` names from random weights instead.
    ``minutes`` bounds the wall time (earlier sessions of a resumed run included);
    ``iterations`` is an upper bound as well. ``level=None`` trains on every noise level the
    data give (noise-blind), else e.g. ``"avg1"``.
    """

    base: str = "jdsr"
    scratch: bool = False
    minutes: float = 5.0
    iterations: int = 100_000
    name: str | None = None
    level: str | None = None
    patch: int = 48
    batch: int = 8
    lr: float | None = None
    device: str = "auto"
    seed: int = 0
    threads: int | None = None
    log_every: int = 10
    checkpoint_every: int = 100
    models_dir: str | None = None
    command: str = "napari (Train widget)"


def base_of(cfg: FinetuneConfig) -> tuple[str, str, Path | None]:
    """``(method, configuration name, starting weights or None)`` of a run."""
    from ..models import get_spec, list_models
    from ..models.registry import config_name_of
    from ..restore.zoo import find_model, find_weights

    base = str(cfg.base).strip().lower()
    if base in list_models():
        method = base
        path = None if cfg.scratch else find_weights(base)
    else:
        path = find_model(base)
        if path is None:
            raise W2SInputError(
                f"--base {cfg.base!r}: neither a method ({', '.join(list_models())}) "
                "nor one of your models (w2s models)"
            )
        card = json.loads(path.with_suffix(".json").read_text())
        method = card["name"]
        if cfg.scratch:
            path = None
    spec = get_spec(method)
    config = "compact"
    if path is not None:  # the network the weights were trained as, whatever "compact" is now
        card = json.loads(path.with_suffix(".json").read_text())
        try:
            config = config_name_of(spec, card["config"])
        except (KeyError, TypeError, W2SInputError):
            raise W2SInputError(
                f"{path.name}: its card does not describe a {method} network this version "
                "can rebuild (no or unknown 'config'); train it again or choose another base"
            ) from None
    return method, config, path


def default_name(method: str, scratch: bool) -> str:
    return f"{method}-{'scratch' if scratch else 'ft'}-{time.strftime('%Y%m%d-%H%M%S')}"


def plan(cfg: FinetuneConfig, resume: bool = False) -> dict:
    """Check the configuration before any work: method, weights, name, folders (raises
    :class:`W2SInputError` with one clear line)."""
    from ..restore.zoo import check_stem, user_models_dir

    if not cfg.minutes > 0:
        raise W2SInputError(f"the time budget must be positive, not {cfg.minutes} minutes")
    method, config, init = base_of(cfg)
    name = check_stem(cfg.name or default_name(method, cfg.scratch))
    models = Path(cfg.models_dir) if cfg.models_dir else user_models_dir()
    if (models / f"{name}.safetensors").exists():
        raise W2SInputError(
            f"a model named {name!r} exists already in {models}; choose another name"
        )
    run_dir = models / "runs" / name
    if resume and not (run_dir / "checkpoint.json").exists():
        raise W2SInputError(f"nothing to resume: no checkpoint in {run_dir}")
    return {
        "method": method,
        "config": config,
        "init": init,
        "name": name,
        "models": models,
        "run_dir": run_dir,
    }


def iter_finetune(
    cfg: FinetuneConfig,
    stack: Any = None,
    sim: Any = None,
    folder: str | None = None,
    resume: bool = False,
    stop: Callable[[], bool] | None = None,
    data_name: str = "layers",
) -> Generator[dict, None, Path | None]:
    """Fine-tune (or train) on a stack (+ SIM) in memory or on a W2S-layout ``folder``.

    Yields the trainer's progress records (with ``val``: the RMSE on held-back patches, and
    ``name``); returns the installed weights' path, or ``None`` when ``stop()`` stopped it (the
    checkpoint is kept: ``resume=True`` continues).
    """
    from ..models import get_spec
    from .trainer import TrainConfig, iter_train

    if (stack is None) == (folder is None):
        raise W2SInputError("give either a widefield stack or a W2S-layout folder")
    p = plan(cfg, resume)
    source = None
    task = get_spec(p["method"]).task
    supervision = supervision_of(task, sim is not None, folder is not None)
    if stack is not None:
        from .layers import from_stack

        if task != "denoise" and sim is None:  # no SIM: self-supervised (JDSR models)
            from .self_supervised_run import check_base, iter_self_supervised

            check_base(p["method"], p["init"])
            yield {"stage": "preparing", "name": p["name"]}
            gen = iter_self_supervised(cfg, p, stack, resume, stop, data_name)
            weights = yield from _named(gen, p["name"], supervision)
            return None if weights is None else install(Path(weights), p, cfg, None, supervision)
        yield {"stage": "preparing", "name": p["name"]}
        source = from_stack(stack, sim, seed=cfg.seed, name=data_name)
    levels = None if not cfg.level or cfg.level == "blind" else [cfg.level]
    p["run_dir"].mkdir(parents=True, exist_ok=True)
    tcfg = TrainConfig(
        model=p["method"],
        data=str(folder) if folder else data_name,
        out=str(p["run_dir"]),
        levels=levels,
        config=p["config"],
        iterations=cfg.iterations,
        batch=cfg.batch,
        patch=cfg.patch,
        stride=max(cfg.patch // 2, 1),
        lr=cfg.lr,
        max_minutes=cfg.minutes,
        device=cfg.device,
        seed=cfg.seed,
        threads=cfg.threads,
        log_every=cfg.log_every,
        checkpoint_every=cfg.checkpoint_every,
        init=str(p["init"]) if p["init"] else None,
        command=cfg.command,
        source=source,
    )
    weights = yield from _named(iter_train(tcfg, resume=resume, stop=stop), p["name"], supervision)
    if weights is None:
        return None
    return install(Path(weights), p, cfg, source, supervision)


def supervision_of(task: str, sim: bool, folder: bool) -> str:
    """What a run learns from (one line: the card's ``training.supervision``)."""
    from .self_supervised import SUPERVISION

    if folder:
        return "supervised (the data set's SIM / clean images)"
    if task == "denoise":
        return "the stack itself (avgN -> the mean of all frames)"
    return "supervised (the SIM image)" if sim else SUPERVISION


def _named(
    gen: Generator[dict, None, Any], name: str, supervision: str
) -> Generator[dict, None, Any]:
    """``gen``'s records with the run's name and supervision; returns what ``gen`` returns."""
    while True:
        try:
            rec = next(gen)
        except StopIteration as end:
            return end.value
        yield {**rec, "name": name, "supervision": supervision}


def install(
    weights: Path, p: dict, cfg: FinetuneConfig, source: Any, supervision: str | None = None
) -> Path:
    """Copy a run's weights and card into the model folder under the run's name."""
    from ..io.atomic import atomic_path, write_text
    from ..models.weights import card_path

    models: Path = p["models"]
    models.mkdir(parents=True, exist_ok=True)
    target = models / f"{p['name']}.safetensors"
    with atomic_path(target) as tmp:
        shutil.copyfile(weights, tmp)
    card = json.loads(card_path(weights).read_text())
    recipe = card.get("training", {}).get("recipe", {})
    notes = list(source.notes) if source is not None else list(recipe.get("notes", []))
    card.setdefault("training", {})["finetune"] = {
        "base": None if cfg.scratch else str(cfg.base),
        "scratch": cfg.scratch,
        "minutes": cfg.minutes,
        "run": str(p["run_dir"]),
        "notes": notes,
    }
    if supervision:
        card["training"].setdefault("supervision", supervision)
    card["description"] = (
        f"{card.get('description', '')} — "
        f"{'trained from scratch' if cfg.scratch else 'fine-tuned'} "
        f"on {card['training'].get('data')}"
    ).strip(" —")
    write_text(card_path(target), json.dumps(card, indent=2))
    return target
