"""Averaging a network over orientations of its input (test-time augmentation).

Every network here was trained on patches flipped and transposed at random
(:func:`napari_w2s.training.data.augment`), so each of the eight symmetries of the square
(identity, the rotations by 90, 180 and 270 degrees, the four mirrors) gives an equally valid
restoration of an image; their errors are only partly shared, so their mean is closer to the
truth. Restoring each orientation, turning the result back and averaging costs one network run
per orientation. What it buys on the held-out sets is measured in ``docs/models.md``
("Averaging orientations").

The x2 pixel grid is symmetric under all eight: input pixel ``i`` of ``n`` covers output pixels
``2i`` and ``2i + 1``, and its mirror ``n - 1 - i`` covers their mirrors ``2n - 1 - 2i`` and
``2n - 2 - 2i``, so the turned-back outputs line up exactly. The first 2 and the first 4
orientations of :func:`orientations` are subgroups (half-turn; and the half-turn with both
diagonal mirrors), so an average over 1, 2, 4 or 8 of them commutes with each of its own
orientations: restoring a turned image gives the turned restoration.

The average is linear, so a restoration that is equivariant to the input's gain and offset
(the per-image normalisation) stays so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import W2SInputError

ORIENTATIONS = (1, 2, 4, 8)

# (mirror the columns first, then quarter turns): identity, half turn, transpose,
# anti-transpose, then the quarter turns and the two axis mirrors
_ORDER = (
    (False, 0),
    (False, 2),
    (True, 1),
    (True, 3),
    (False, 1),
    (False, 3),
    (True, 0),
    (True, 2),
)


def parse_orientations(value: Any) -> int:
    """``value`` as a count of orientations (1, 2, 4 or 8), else one clear message."""
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
    if n not in ORIENTATIONS:
        raise W2SInputError(
            f"--orientations {value}: use 1, 2, 4 or 8 (the restoration averaged over that many "
            "flips and quarter turns of the image; 1 = off)"
        )
    return n


def orientations(n: int) -> tuple[tuple[bool, int], ...]:
    """The first ``n`` orientations, each ``(mirror, quarter_turns)``."""
    return _ORDER[: parse_orientations(n)]


def turn(x: Any, mirror: bool, quarter_turns: int) -> Any:
    """A tensor ``(..., H, W)`` in one orientation: columns mirrored, then turned."""
    import torch

    if mirror:
        x = torch.flip(x, (-1,))
    return torch.rot90(x, quarter_turns, (-2, -1)) if quarter_turns else x


def turn_back(y: Any, mirror: bool, quarter_turns: int) -> Any:
    """The inverse of :func:`turn`."""
    import torch

    if quarter_turns:
        y = torch.rot90(y, -quarter_turns, (-2, -1))
    return torch.flip(y, (-1,)) if mirror else y


def averaged(network: Callable[[Any], Any], x: Any, n: int = 1) -> Any:
    """The mean of ``network`` over the first ``n`` orientations of the batch ``x``
    ``(B, C, H, W)``, each output turned back (float32; the first output is the accumulator)."""
    if n == 1:
        return network(x)
    acc = None
    for mirror, k in orientations(n):
        y = turn_back(network(turn(x, mirror, k).contiguous()), mirror, k).float()
        acc = y if acc is None else acc.add_(y)
    return acc.div_(n)
