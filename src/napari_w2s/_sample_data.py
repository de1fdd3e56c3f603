"""npe2 sample data: a simulated widefield stack with its SIM reference and clean average."""

from __future__ import annotations

from typing import Any


def make_sample() -> list[tuple[Any, dict, str]]:
    """400 x 256 x 256 raw frames (64 nm pixels), SIM (32 nm, overlaid), and the clean average."""
    from .geometry import upsampled_geometry
    from .simulate.sample import sample

    s = sample()
    px = s.pixel_size_um
    hr_scale, hr_translate = upsampled_geometry((px, px))
    meta = {
        "source": "napari-w2s simulator",
        "seed": s.view.seed_sequence.entropy,
        "noise": s.view.noise_params(),
    }
    return [
        (
            s.stack,
            {
                "name": "widefield (simulated)",
                "scale": (1.0, px, px),
                "colormap": "gray",
                "metadata": {**meta, "axes": "TYX"},
            },
            "image",
        ),
        (
            s.clean,
            {
                "name": f"avg{s.stack.shape[0]} (clean)",
                "scale": (px, px),
                "colormap": "gray",
                "visible": False,
                "metadata": {**meta, "axes": "YX"},
            },
            "image",
        ),
        (
            s.sim,
            {
                "name": "SIM (simulated)",
                "scale": hr_scale,
                "translate": hr_translate,
                "colormap": "magenta",
                "blending": "additive",
                "visible": False,
                "metadata": {**meta, "axes": "YX"},
            },
            "image",
        ),
    ]
