"""A CARE-style U-Net (Weigert et al., "Content-aware image restoration", Nature Methods 2018)
on the bicubically upsampled input: the ``care`` baseline of W2S.

The input is upsampled ``scale`` times with bicubic interpolation inside the network, then a
CSBDeep-style U-Net restores it: ``depth`` levels of ``n_conv`` convolutions + ReLU and 2 x 2
max pooling (``base * 2^level`` channels), a bottleneck, nearest-neighbour upsampling with
skip concatenation on the way up, a linear 1 x 1 output convolution, and (``residual=True``)
the upsampled input added back. Inputs whose upsampled size is not a multiple of
``2^depth`` are padded by edge replication and cropped back.

Full configuration: the CSBDeep defaults for 2-D (depth 2, 32 first-level filters, 5 x 5
kernels, two convolutions per level, residual).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _convs(widths: list[int], in_ch: int, k: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Conv2d(in_ch, width, k, padding=k // 2), nn.ReLU(inplace=True)]
        in_ch = width
    return nn.Sequential(*layers)


class CAREUNet(nn.Module):
    """U-Net on the bicubic-upsampled input; output is ``scale`` times larger than the input."""

    def __init__(
        self,
        in_ch: int = 1,
        out_ch: int = 1,
        depth: int = 2,
        base_feat: int = 32,
        kernel_size: int = 5,
        n_conv: int = 2,
        residual: bool = True,
        scale: int = 2,
    ) -> None:
        super().__init__()
        if residual and in_ch != out_ch:
            raise ValueError("a residual CARE U-Net needs in_ch == out_ch")
        if n_conv < 1 or depth < 1:
            raise ValueError("depth and n_conv must be at least 1")
        self.scale, self.depth, self.residual = scale, depth, residual
        k, n = kernel_size, n_conv
        self.down = nn.ModuleList()
        prev = in_ch
        for level in range(depth):
            width = base_feat * 2**level
            self.down.append(_convs([width] * n, prev, k))
            prev = width
        widths = [base_feat * 2**depth] * (n - 1) + [base_feat * 2 ** (depth - 1)]
        self.middle = _convs(widths, prev, k)
        self.up = nn.ModuleList()
        prev = base_feat * 2 ** (depth - 1)
        for level in reversed(range(depth)):
            skip = base_feat * 2**level
            widths = [skip] * (n - 1) + [base_feat * 2 ** max(0, level - 1)]
            self.up.append(_convs(widths, prev + skip, k))
            prev = widths[-1]
        self.out = nn.Conv2d(prev, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale != 1:
            x = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        h, w = x.shape[-2:]
        m = 2**self.depth
        pad_h, pad_w = (-h) % m, (-w) % m
        y = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x
        skips = []
        for block in self.down:
            y = block(y)
            skips.append(y)
            y = F.max_pool2d(y, 2)
        y = self.middle(y)
        for block in self.up:
            y = F.interpolate(y, scale_factor=2, mode="nearest")
            y = block(torch.cat([y, skips.pop()], dim=1))
        y = self.out(y)[..., :h, :w]
        return x + y if self.residual else y
