"""Held-out RMSE / SSIM of a training run's latest checkpoint, while the run goes on.

    python scripts/eval_checkpoint.py RUN_DIR [--views 12] [--threads 1] [--save FILE]

Reads ``RUN_DIR/checkpoint.{json,safetensors}`` (written every 500 iterations by ``w2s train``)
and prints the same held-out figures the model card gets at the end. A run with ``--ema`` is
scored with its weight average (what the run will save), not the last iterate.

``--save FILE.safetensors`` also writes those weights with a model card beside them, so that a
run still going can be scored where choices are made, on the validation draw::

    python benchmarks/bench_generalisation.py --seed 778 --quick --weights jdsr=FILE.safetensors

``--no-eval`` skips the held-out figures (only ``--save``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def checkpoint_weights(tensors: dict) -> tuple[dict, str]:
    """The weights a checkpoint would be saved with: its weight average where it has one."""
    ema = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
    if ema:
        return ema, "weight average"
    return {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, "last iterate"


def main() -> None:
    import torch
    from safetensors.torch import load_file

    from napari_w2s.models import build_model, get_spec
    from napari_w2s.models.weights import save_model
    from napari_w2s.normalisation import DEFAULT
    from napari_w2s.training.trainer import TrainConfig, evaluate, run_card

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--views", type=int, default=12)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save", default=None, metavar="FILE", help="write the weights and a card")
    ap.add_argument("--no-eval", action="store_true", help="skip the held-out figures")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    run = Path(args.run)
    meta = json.loads((run / "checkpoint.json").read_text())
    cfg = TrainConfig(**{**meta["config"], "eval_views": args.views})
    spec = get_spec(cfg.model)
    model = build_model(cfg.model, cfg.config)
    state, which = checkpoint_weights(load_file(str(run / "checkpoint.safetensors")))
    model.load_state_dict(state)
    model.eval()
    print(f"{run.name} iteration {meta['iteration']} ({meta['elapsed_s'] / 60:.1f} min, {which})")
    metrics = {}
    if not args.no_eval:
        metrics = evaluate(model, cfg, spec.task, torch.device("cpu"))
        for level, m in metrics.items():
            if isinstance(m, dict):
                print(f"  {level}: RMSE {m['rmse']:.4f}  SSIM {m['ssim']:.4f}")
    if args.save:
        card = run_card(
            cfg,
            normalisation=dict(DEFAULT),
            training={
                "command": cfg.command,
                "checkpoint_of": str(run),
                "iterations": meta["iteration"],
                "weights": which,
                "config_name": cfg.config,
            },
            metrics=metrics,
        )
        print(save_model(model, args.save, card))


if __name__ == "__main__":
    main()
