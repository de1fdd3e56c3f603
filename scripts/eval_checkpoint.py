"""Held-out RMSE / SSIM of a training run's latest checkpoint, while the run goes on.

    python scripts/eval_checkpoint.py RUN_DIR [--views 12] [--threads 1]

Reads ``RUN_DIR/checkpoint.{json,safetensors}`` (written every 500 iterations by ``w2s train``)
and prints the same held-out figures the model card gets at the end.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    import torch
    from safetensors.torch import load_file

    from napari_w2s.models import build_model, get_spec
    from napari_w2s.training.trainer import TrainConfig, evaluate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--views", type=int, default=12)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    run = Path(args.run)
    meta = json.loads((run / "checkpoint.json").read_text())
    cfg = TrainConfig(**{**meta["config"], "eval_views": args.views})
    model = build_model(cfg.model, cfg.config)
    tensors = load_file(str(run / "checkpoint.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    model.eval()
    res = evaluate(model, cfg, get_spec(cfg.model).task, torch.device("cpu"))
    print(f"{run.name} iteration {meta['iteration']} ({meta['elapsed_s'] / 60:.1f} min)")
    for level, m in res.items():
        if isinstance(m, dict):
            print(f"  {level}: RMSE {m['rmse']:.4f}  SSIM {m['ssim']:.4f}")


if __name__ == "__main__":
    main()
