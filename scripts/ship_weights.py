"""Copy trained weights (+ cards) into the package zoo and print the shipped-models table.

    python scripts/ship_weights.py RUN_DIR [RUN_DIR ...]   # copy, then print the table
    python scripts/ship_weights.py                          # only print the table

Each RUN_DIR is a `w2s train --out` folder holding MODEL-LEVEL-CONFIG.safetensors and .json.
The card's sha256 is checked before copying.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from napari_w2s.models.weights import read_card, sha256_file
from napari_w2s.restore.zoo import ZOO


def ship(run: Path) -> None:
    for weights in sorted(run.glob("*-*-*.safetensors")):
        card = read_card(weights)
        if sha256_file(weights) != card.sha256:
            raise SystemExit(f"{weights}: sha256 does not match its card")
        shutil.copy2(weights, ZOO / weights.name)
        (ZOO / weights.name).chmod(0o644)
        shutil.copy2(weights.with_suffix(".json"), ZOO / weights.with_suffix(".json").name)
        print(f"shipped {weights.name}", file=sys.stderr)


def table() -> str:
    rows = [
        "| weights | task | level | params | iterations | batch x patch | wall time | "
        "held-out RMSE / SSIM (W2S units), per input level |",
        "|---|---|---|---|---|---|---|---|",
    ]
    total = 0
    for card_file in sorted(ZOO.glob("*.json")):
        card = json.loads(card_file.read_text())
        weights = card_file.with_suffix(".safetensors")
        total += weights.stat().st_size
        t, m = card["training"], card["metrics"]
        scores = ", ".join(
            f"{lv} {v['rmse']:.3f}/{v['ssim']:.3f}"
            + (f" (input {v['rmse_input']:.3f})" if "rmse_input" in v else "")
            for lv, v in m.items()
            if isinstance(v, dict)
        )
        rows.append(
            f"| `{weights.name}` | {card['task']} | {card['noise_level']} | "
            f"{card['params']:,} | {t['iterations']} | {t['batch']} x {t['patch']}² | "
            f"{t['wall_time_s'] / 60:.0f} min | {scores} |"
        )
    rows.append("")
    rows.append(f"Total size of the shipped weights: {total / 2**20:.1f} MiB.")
    return "\n".join(rows)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        ship(Path(arg))
    print(table())
