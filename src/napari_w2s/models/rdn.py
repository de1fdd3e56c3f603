"""RDN (Zhang et al., "Residual Dense Network for Image Super-Resolution", CVPR 2018).

Shallow features ``F_-1 = conv(x)``, ``F_0 = conv(F_-1)``; D residual dense blocks (RDB: C
densely connected ``conv 3x3 + ReLU`` layers of growth G, a 1 x 1 local feature fusion back to
G0 channels, and a local residual); global feature fusion (1 x 1 over the concatenated RDB
outputs, then 3 x 3) plus ``F_-1`` (global residual learning); a pixel-shuffle upsampler and a
reconstruction convolution.

W2S configuration (method facts section 5): G0 = G = 64, D = 16, C = 8, x2 (about 22M
parameters, as in the RDN paper).
"""

from __future__ import annotations

import torch
from torch import nn

from ._blocks import PixelShuffleUpsampler, Upscaler, conv1x1, conv3x3


class ResidualDenseBlock(nn.Module):
    def __init__(self, nf: int, growth: int, num_layers: int) -> None:
        super().__init__()
        layers = [
            nn.Sequential(conv3x3(nf + i * growth, growth), nn.ReLU(True))
            for i in range(num_layers)
        ]
        self.layers = nn.ModuleList(layers)
        self.fusion = conv1x1(nf + num_layers * growth, nf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for layer in self.layers:
            feats.append(layer(torch.cat(feats, dim=1)))
        return x + self.fusion(torch.cat(feats, dim=1))


class RDN(Upscaler):
    """Residual dense network; output is ``scale`` times larger than the input."""

    def __init__(
        self,
        in_ch: int = 1,
        out_ch: int = 1,
        num_feat: int = 64,
        growth: int = 64,
        num_blocks: int = 16,
        num_layers: int = 8,
        scale: int = 2,
        residual: bool = False,
    ) -> None:
        super().__init__(in_ch, out_ch, scale, residual)
        self.sfe1 = conv3x3(in_ch, num_feat)
        self.sfe2 = conv3x3(num_feat, num_feat)
        self.blocks = nn.ModuleList(
            [ResidualDenseBlock(num_feat, growth, num_layers) for _ in range(num_blocks)]
        )
        self.gff = nn.Sequential(
            conv1x1(num_blocks * num_feat, num_feat), conv3x3(num_feat, num_feat)
        )
        self.upsample = PixelShuffleUpsampler(scale, num_feat)
        self.tail = conv3x3(num_feat, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f_1 = self.sfe1(x)
        out = self.sfe2(f_1)
        local = []
        for block in self.blocks:
            out = block(out)
            local.append(out)
        out = self.gff(torch.cat(local, dim=1)) + f_1
        y = self.tail(self.upsample(out))
        return self.finish(y, x)
