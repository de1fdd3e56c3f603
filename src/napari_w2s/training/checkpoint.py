"""Checkpoints of a training run: what ``--resume`` continues from.

``OUT/checkpoint.safetensors`` holds the tensors (model, optimiser and, for GAN losses, the
discriminator and its optimiser) and, in its metadata, the record: iteration, elapsed time, the
patch sampler's random state, the optimisers' parameter groups and the run's configuration.
``OUT/checkpoint.json`` is the same record, for people and scripts that read a run as it goes.

Both files are written through :func:`napari_w2s.io.atomic.atomic_file`: a run stopped (or a disk
that fills up) while a checkpoint is written leaves the previous one whole. The record inside
the tensors file is the one a resume trusts, so a stop between the two writes cannot pair new
tensors with an old record; checkpoints written before the record moved into the tensors file
are resumed from ``checkpoint.json``. Nothing is pickled. The supervised trainer (:mod:`.trainer`) and self-supervised fine-tuning
(:mod:`.self_supervised_run`) both checkpoint through here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import W2SInputError
from ..io.atomic import atomic_file

TENSORS = "checkpoint.safetensors"
RECORD = "checkpoint.json"
_KEY = "checkpoint"  # the record's key in the tensors file's metadata


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


def save_checkpoint(
    out: Path,
    *,
    iteration: int,
    elapsed_s: float,
    sampler_state: dict,
    config: dict,
    model: Any,
    opt: Any,
    disc: Any = None,
    d_opt: Any = None,
    average: Any = None,
) -> None:
    """Write the checkpoint of ``model`` and ``opt`` (and ``disc``, ``d_opt``, and the weight
    average of ``--ema``, a :class:`.loop.WeightAverage`, where given) into ``out``, with the
    record: ``iteration`` done, ``elapsed_s`` of wall time, the patch sampler's random state and
    the run's configuration (plain data)."""
    from safetensors.torch import save

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    t_opt, m_opt = _opt_to_tensors(opt, "opt")
    tensors.update(t_opt)
    meta = {
        "iteration": iteration,
        "elapsed_s": elapsed_s,
        "sampler_state": sampler_state,
        "opt": m_opt,
        "config": config,
    }
    if disc is not None:
        tensors.update(
            {f"disc.{k}": v.detach().cpu().contiguous() for k, v in disc.state_dict().items()}
        )
        t_d, meta["d_opt"] = _opt_to_tensors(d_opt, "dopt")
        tensors.update(t_d)
    if average is not None:
        tensors.update(
            {f"ema.{k}": v.detach().cpu().contiguous() for k, v in average.state.items()}
        )
        meta["ema_steps"] = average.steps
    text = json.dumps(meta, default=float)
    blob = save(tensors, metadata={_KEY: text})
    with atomic_file(out / TENSORS) as fh:
        fh.write(blob)
    with atomic_file(out / RECORD) as fh:
        fh.write(text.encode())


def _record_inside(path: Path) -> str | None:
    """The record in a tensors file's metadata (None in a checkpoint written without it)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        return (fh.metadata() or {}).get(_KEY)


def has_checkpoint(out: Path) -> bool:
    """Whether ``out`` holds a checkpoint to resume: its tensors, and its record inside them or
    beside them."""
    path = out / TENSORS
    return path.is_file() and ((out / RECORD).is_file() or _record_inside(path) is not None)


def load_checkpoint(
    out: Path,
    model_name: str,
    config_name: str,
    model: Any,
    opt: Any,
    disc: Any = None,
    d_opt: Any = None,
    supervision: str | None = None,
    average: Any = None,
) -> dict:
    """Load the checkpoint in ``out`` into ``model`` and ``opt`` (and ``disc``, ``d_opt``) and
    return its record; a checkpoint of another model or configuration is refused, and one of
    another kind of run: ``supervision`` is what the run's configuration records under that key
    (``None`` for the supervised trainer, the self-supervised line for
    :mod:`.self_supervised_run`). ``average`` (``--ema``) takes the checkpoint's average, or
    starts at the loaded weights when the checkpoint has none."""
    from safetensors.torch import load_file

    path = out / TENSORS
    inside = _record_inside(path)
    meta = json.loads(inside if inside is not None else (out / RECORD).read_text())
    config = meta.get("config") or {}
    if config.get("model") != model_name or config.get("config") != config_name:
        raise W2SInputError(f"{path}: a checkpoint of another model; use another --out")
    if config.get("supervision") != supervision:
        raise W2SInputError(
            f"{path}: a checkpoint of another kind of run "
            f"({config.get('supervision') or 'supervised'}); choose another name"
        )
    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    _opt_from_tensors(opt, tensors, meta["opt"], "opt")
    if disc is not None:
        disc.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("disc.")})
        _opt_from_tensors(d_opt, tensors, meta["d_opt"], "dopt")
    if average is not None:
        saved = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
        if saved:
            average.state = {k: saved[k].to(v.device, v.dtype) for k, v in average.state.items()}
            average.steps = int(meta.get("ema_steps", 0))
        else:  # a checkpoint written without --ema: the average starts at its weights
            average.reset(model)
    return meta
