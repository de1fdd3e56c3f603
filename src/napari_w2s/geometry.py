"""Where pixels are: the scale and translate that make LR and x2 HR layers overlay exactly.

napari places the centre of pixel ``i`` at ``translate + i * scale``. An LR pixel of size ``s``
centred at 0 covers ``[-s/2, s/2]``; the two HR pixels that split it have size ``s/2`` and
centres ``-s/4`` and ``+s/4``. So an image upsampled by ``f`` has scale ``s/f`` and translate
``t + (s/f - s)/2`` on each spatial axis (``-s/4`` for ``f = 2``).
"""

from __future__ import annotations

from collections.abc import Sequence


def upsampled_geometry(
    scale: Sequence[float],
    translate: Sequence[float] | None = None,
    factor: int = 2,
    spatial_axes: int = 2,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Scale and translate of an image upsampled ``factor`` times on the last spatial axes.

    >>> upsampled_geometry((1.0, 0.064, 0.064))
    ((1.0, 0.032, 0.032), (0.0, -0.016, -0.016))
    """
    scale = tuple(float(s) for s in scale)
    translate = tuple(float(t) for t in (translate or (0.0,) * len(scale)))
    n = len(scale)
    out_scale, out_translate = list(scale), list(translate)
    for i in range(n - spatial_axes, n):
        out_scale[i] = scale[i] / factor
        out_translate[i] = translate[i] + (scale[i] / factor - scale[i]) / 2.0
    return tuple(out_scale), tuple(out_translate)
