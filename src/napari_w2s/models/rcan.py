"""RCAN (Zhang et al., "Image Super-Resolution Using Very Deep Residual Channel Attention
Networks", ECCV 2018).

``head conv -> residual-in-residual body -> + head -> pixel-shuffle upsampler -> conv``.
The body is G residual groups, each of B residual channel attention blocks (RCAB:
``conv-ReLU-conv``, channel attention, identity skip) and a closing convolution, with a skip
over every group (short skip) and over the whole body (long skip).

W2S configuration (method facts section 5): 10 groups x 20 RCAB, 64 features, reduction 16,
x2: about 15.4M parameters for one input and one output channel. The RGB mean shift of the
original is omitted (inputs are normalised grey images).
"""

from __future__ import annotations

import torch
from torch import nn

from ._blocks import ChannelAttention, PixelShuffleUpsampler, conv3x3


class RCAB(nn.Module):
    """Residual channel attention block."""

    def __init__(self, nf: int, reduction: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(nf, nf), nn.ReLU(True), conv3x3(nf, nf), ChannelAttention(nf, reduction)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualGroup(nn.Module):
    def __init__(self, nf: int, num_blocks: int, reduction: int) -> None:
        super().__init__()
        blocks = [RCAB(nf, reduction) for _ in range(num_blocks)]
        self.body = nn.Sequential(*blocks, conv3x3(nf, nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class RCAN(nn.Module):
    """Residual channel attention network; output is ``scale`` times larger than the input."""

    def __init__(
        self,
        in_ch: int = 1,
        out_ch: int = 1,
        num_groups: int = 10,
        num_blocks: int = 20,
        num_feat: int = 64,
        reduction: int = 16,
        scale: int = 2,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.head = conv3x3(in_ch, num_feat)
        groups = [ResidualGroup(num_feat, num_blocks, reduction) for _ in range(num_groups)]
        self.body = nn.Sequential(*groups, conv3x3(num_feat, num_feat))
        self.upsample = PixelShuffleUpsampler(scale, num_feat)
        self.tail = conv3x3(num_feat, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)
        feat = feat + self.body(feat)
        return self.tail(self.upsample(feat))
