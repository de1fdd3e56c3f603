"""Make docs/images/simulator_views.png: simulated images side by side, one row per channel.

python docs/scripts/simulator_figure.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from napari_w2s.averaging import noise_levels
from napari_w2s.simulate import SAMPLE_SEED, ViewParams, simulate_view

OUT = Path(__file__).resolve().parents[1] / "images" / "simulator_views.png"


def main(size: int = 256, crop: int = 96) -> None:
    fig = Figure(figsize=(12.5, 7.8), dpi=110, layout="constrained")
    axes = fig.subplots(3, 5)
    titles = ["one frame (avg1)", "avg16", "clean (avg400)", "SIM reference (x2)", "truth (x2)"]
    for c in range(3):
        view = simulate_view(ViewParams(size=size).for_channel(c), channel=c, seed=SAMPLE_SEED + c)
        lv = noise_levels(view.frames(0, 400), levels=(1, 16))
        s = slice(0, crop)
        h = slice(0, 2 * crop)
        panels = [
            lv["avg1"][s, s],
            lv["avg16"][s, s],
            lv["avg400"][s, s],
            view.sim[h, h],
            view.truth[h, h],
        ]
        for j, (ax, img) in enumerate(zip(axes[c], panels, strict=True)):
            lo, hi = np.percentile(img, [0.5, 99.8])
            ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_title(titles[j], fontsize=10)
        noise = view.noise_params()
        axes[c, 0].set_ylabel(
            f"channel {c}: {view.params.emission_nm:.0f} nm\n"
            f"a = {noise['a_unit']:.3f} ([0,1] scale)",
            fontsize=9,
        )
    fig.suptitle(
        f"napari-w2s simulator: {crop * 64 / 1000:.1f} µm crops of a {size} x {size} view "
        "(64 nm widefield pixels, 32 nm SIM pixels)",
        fontsize=11,
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
