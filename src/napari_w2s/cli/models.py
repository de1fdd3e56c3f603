"""``w2s models``: the methods, their parameters, the shipped weights and the user's models."""

from __future__ import annotations

import argparse
import json

from ._common import EXIT_OK, add_command


def cmd_models(args: argparse.Namespace) -> int:
    from ..models import get_spec, list_models, parameter_count
    from ..restore import classical
    from ..restore.methods import CLASSICAL
    from ..restore.zoo import shipped, user_models, user_models_dir

    cards = shipped()
    rows = []
    for name in list_models():
        spec = get_spec(name)
        mine = [c for c in cards if c["name"] == name]
        rows.append(
            {
                "name": name,
                "task": spec.task,
                "architecture": spec.architecture,
                "params_full": parameter_count(name, "full"),
                "params_shipped": mine[0]["params"] if mine else None,
                "weights": bool(mine),
                "levels": sorted(c["noise_level"] for c in mine),
                "description": spec.description,
            }
        )
    for name in CLASSICAL:
        rows.append(
            {
                "name": name,
                "task": "sr" if name == "bicubic" else "denoise",
                "architecture": "classical",
                "params_full": 0,
                "params_shipped": 0,
                "weights": True,
                "levels": ["any"],
                "description": classical.DESCRIPTIONS.get(name, ""),
            }
        )
    users = []
    for c in user_models():  # the user's own models: picked by their file stem
        t = c.get("training") or {}
        users.append(
            {
                "name": c["stem"],
                "method": c["name"],
                "task": c.get("task"),
                "architecture": c.get("architecture"),
                "params_full": 0,
                "params_shipped": c.get("params"),
                "weights": True,
                "levels": [c.get("noise_level")],
                "source": "user",
                "file": c["file"],
                "initialised_from": (t.get("initialised_from") or {}).get("file"),
                "iterations": t.get("iterations"),
                "description": f"your {c['name']} model ({c['file']})",
            }
        )
    if args.json:
        print(json.dumps(rows + users, indent=2))
    else:
        print(f"{'name':<12} {'task':<8} {'params (paper)':>14} {'shipped':>9}  levels")
        for r in rows:
            shipped_params = f"{r['params_shipped']:,}" if r["params_shipped"] else "-"
            print(
                f"{r['name']:<12} {r['task']:<8} {r['params_full']:>14,} {shipped_params:>9}  "
                f"{', '.join(r['levels']) or '-'}"
            )
        print(f"\nyour models ({user_models_dir()}; run one with --method NAME):")
        if not users:
            print("  none yet (w2s finetune, or the Train widget, saves them here)")
        for r in users:
            start = (
                f"fine-tuned from {r['initialised_from']}"
                if r["initialised_from"]
                else "from scratch"
            )
            print(
                f"  {r['name']:<32} {r['method']:<8} {r['task']:<7} {r['levels'][0]:<6} "
                f"{r['iterations']} it, {start}"
            )
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``w2s models`` to the sub-commands ``sub``."""
    p = add_command(
        sub, "models", cmd_models, "List the methods, their parameters and the shipped weights."
    )
    p.add_argument("--json", action="store_true", help="print one JSON array")
