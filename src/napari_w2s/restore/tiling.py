"""Tiled inference with overlap and smooth blending: no seams, bounded memory.

The image is cut into overlapping tiles; each output tile is multiplied by a separable weight
and the weighted tiles are summed and divided by the summed weights. Across an overlap of ``O``
pixels a tile's weight is 1, then falls as a raised cosine over the middle ``O/2`` pixels, then
is 0 over the outer ``O/4`` pixels, whose values are unreliable (the network saw zero padding
there). Neighbouring tiles' weights are complementary, so the blend is a smooth partition of
unity, and every pixel comes from tiles that had at least ``O/4`` pixels of real context around
it: for a network whose receptive-field radius is at most ``O/4``, the tiled result equals the
whole-image result. Tiles touching the image border keep full weight on that side.

:func:`iter_tiled` is a generator: it yields ``(tiles_done, tiles_total)`` after each batch of
tiles and returns the assembled output, so a caller can show progress and stop between tiles.

Memory: the weighted tiles are summed straight into the output array (the caller's, with
``out=``), and since every tile's weight is the product of a row and a column weight that
depend only on the tile's row and column of the grid, the summed weights are the product of
two 1-D sums: no full-size accumulator or weight image besides the output itself.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TileGrid:
    """Tile origins along one axis for ``size`` pixels, tiles of ``tile`` with ``overlap``."""

    size: int
    tile: int
    overlap: int

    def starts(self) -> list[int]:
        if self.tile >= self.size:
            return [0]
        step = max(1, self.tile - self.overlap)
        starts = list(range(0, self.size - self.tile, step))
        starts.append(self.size - self.tile)
        return sorted(set(starts))


def balanced_tile(size: int, max_tile: int, overlap: int, multiple: int = 8) -> int:
    """The smallest tile (a multiple of ``multiple``, at most ``max_tile``) that covers ``size``
    with as few tiles as ``max_tile`` needs: a 512-pixel image with a 496-pixel limit gets two
    tiles of 280 per axis rather than two of 496 overlapping by 480."""
    if max_tile >= size:
        return size
    step = max(1, max_tile - overlap)
    n = -(-(size - overlap) // step)
    tile = -(-(size + (n - 1) * overlap) // n)
    return min(max_tile, -(-tile // multiple) * multiple)


def _ramp(n: int, overlap: int, lead: bool, trail: bool) -> np.ndarray:
    """1-D weight over a tile of ``n``: 0 on the outer quarter of the overlap, a raised-cosine
    ramp over its middle half, 1 inside; only on sides that have a neighbouring tile."""
    w = np.ones(n, np.float64)
    ov = min(overlap, n // 2)
    if ov <= 0:
        return w
    margin = ov // 4
    length = ov - 2 * margin
    ramp = np.zeros(ov)
    ramp[margin : margin + length] = 0.5 - 0.5 * np.cos(np.pi * (np.arange(length) + 0.5) / length)
    ramp[margin + length :] = 1.0
    if lead:
        w[:ov] = ramp
    if trail:
        w[n - ov :] = ramp[::-1]
    return w


def iter_tiled(
    image: np.ndarray,
    infer: Callable[[np.ndarray], np.ndarray],
    scale: int = 1,
    tile: int = 256,
    overlap: int = 32,
    batch: int = 1,
    out: np.ndarray | None = None,
) -> Generator[tuple[int, int], None, np.ndarray]:
    """Run ``infer`` on overlapping tiles of a 2-D ``image`` and blend the results.

    Parameters
    ----------
    image : ndarray (H, W)
    infer : callable
        Takes a batch ``(B, h, w)`` float32 and returns ``(B, scale*h, scale*w)``.
    scale : int
        Output size / input size.
    tile : int
        Tile size in input pixels (``<= 0`` or ``>= max(H, W)``: the whole image at once).
    overlap : int
        Overlap between neighbouring tiles in input pixels.
    batch : int
        Tiles per call of ``infer``.
    out : ndarray (scale*H, scale*W) float32, optional
        Where the result is written (and returned); a new array without it.
    """
    h, w = image.shape
    shape = (h * scale, w * scale)
    if out is not None and (out.shape != shape or out.dtype != np.float32):
        raise ValueError(f"out must be float32 of shape {shape}, not {out.dtype} {out.shape}")
    if tile <= 0 or (tile >= h and tile >= w):
        result = infer(image[None].astype(np.float32, copy=False))[0]
        if out is not None:
            out[...] = result
            result = out
        yield 1, 1
        return result
    th, tw = balanced_tile(h, tile, overlap), balanced_tile(w, tile, overlap)
    ys = TileGrid(h, th, overlap).starts()
    xs = TileGrid(w, tw, overlap).starts()
    origins = [(y, x) for y in ys for x in xs]
    acc = np.zeros(shape, np.float32) if out is None else out  # float32: the weights are in [0, 1]
    acc.fill(0.0)
    # the weight of tile (y, x) is wy(y) wx(x) on a full grid: the sum is rows(.) * cols(.)
    wy = {y: _ramp(th * scale, overlap * scale, y > 0, y + th < h) for y in ys}
    wx = {x: _ramp(tw * scale, overlap * scale, x > 0, x + tw < w) for x in xs}
    rows, cols = np.zeros(shape[0]), np.zeros(shape[1])
    for y in ys:
        rows[y * scale : (y + th) * scale] += wy[y]
    for x in xs:
        cols[x * scale : (x + tw) * scale] += wx[x]
    total = len(origins)
    for i in range(0, total, batch):
        chunk = origins[i : i + batch]
        tiles = np.stack([image[y : y + th, x : x + tw] for y, x in chunk]).astype(np.float32)
        outs = infer(tiles)
        for (y, x), tile_out in zip(chunk, outs, strict=True):
            weight = (wy[y][:, None] * wx[x][None, :]).astype(np.float32)
            sl = (slice(y * scale, (y + th) * scale), slice(x * scale, (x + tw) * scale))
            weight *= tile_out
            acc[sl] += weight
        yield min(i + batch, total), total
    acc *= (1.0 / rows).astype(np.float32)[:, None]  # in place, row by row and column by column
    acc *= (1.0 / cols).astype(np.float32)[None, :]
    return acc
