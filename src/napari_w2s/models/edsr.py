"""EDSR (Lim et al., "Enhanced Deep Residual Networks for Single Image Super-Resolution",
CVPRW 2017), the generator of EPSR (Vasu et al., "Analyzing Perception-Distortion Tradeoff
using Enhanced Perceptual Super-resolution Network", ECCVW 2018).

``head conv -> B residual blocks (conv-ReLU-conv, scaled by res_scale, no batch norm) ->
conv -> + head -> pixel-shuffle upsampler -> conv``.

Full configuration: the large EDSR (32 blocks, 256 features, residual scaling 0.1), the
network EPSR fine-tunes with its perceptual and adversarial losses; 40.7M parameters for x2
grey (the EDSR paper's 43M is the x4 RGB count). The EDSR baseline (16 blocks, 64 features,
scaling 1, 1.37M for x2 grey) is ``BASELINE``. The RGB mean shift is omitted.
"""

from __future__ import annotations

import torch
from torch import nn

from ._blocks import PixelShuffleUpsampler, Upscaler, conv3x3


class ResBlock(nn.Module):
    def __init__(self, nf: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.body = nn.Sequential(conv3x3(nf, nf), nn.ReLU(True), conv3x3(nf, nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class EDSR(Upscaler):
    """Enhanced deep residual network; output is ``scale`` times larger than the input."""

    def __init__(
        self,
        in_ch: int = 1,
        out_ch: int = 1,
        num_blocks: int = 32,
        num_feat: int = 256,
        res_scale: float = 0.1,
        scale: int = 2,
        residual: bool = False,
    ) -> None:
        super().__init__(in_ch, out_ch, scale, residual)
        self.head = conv3x3(in_ch, num_feat)
        self.body = nn.Sequential(
            *[ResBlock(num_feat, res_scale) for _ in range(num_blocks)], conv3x3(num_feat, num_feat)
        )
        self.upsample = PixelShuffleUpsampler(scale, num_feat)
        self.tail = conv3x3(num_feat, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)
        feat = feat + self.body(feat)
        y = self.tail(self.upsample(feat))
        return self.finish(y, x)
