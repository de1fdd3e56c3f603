"""RRDBNet (Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks",
ECCVW 2018), the generator of ESRGAN and of the W2S joint denoising + SR model.

``conv_first -> N residual-in-residual dense blocks -> trunk conv -> + features ->
[conv nf -> 4 nf, PixelShuffle(2), LeakyReLU] per factor 2 -> (HR conv + LeakyReLU) -> conv_last``.
A residual dense block has five 3 x 3 convolutions, each fed the concatenation of the block
input and all earlier outputs (growth ``gc``), LeakyReLU(0.2) after the first four, and a
residual scaled by 0.2; an RRDB chains three of them, again with a 0.2-scaled residual.
Convolutions are initialised with Kaiming-normal weights scaled by 0.1 (ESRGAN's practice,
which keeps the deep residual chain stable at the start of training).

Configurations (method facts sections 5 and 6):

* ``ESRGAN``: 23 RRDB, nf = 64, gc = 32, with the HR convolution: about 16.7M parameters.
* ``JDSR`` (the W2S model): 16 RRDB, nf = 64, gc = 32, no HR convolution: about 11.7M.

``residual=True`` adds the bicubic upsampling of the input to the output, so that the network
learns the correction of bicubic interpolation (as the CARE baseline does); the compact JDSR
configuration uses it, the paper's configurations do not.

ESRGAN's x4 upsampler uses nearest interpolation + convolution; the W2S x2 model uses a
sub-pixel convolution (64 -> 256 + PixelShuffle), which both configurations use here.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._blocks import conv3x3

from .configs import ESRGAN_COMPACT, ESRGAN_FULL, JDSR_COMPACT, JDSR_FULL

ESRGAN = ESRGAN_FULL
JDSR = FULL = JDSR_FULL
COMPACT = JDSR_COMPACT


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)


class ResidualDenseBlock5C(nn.Module):
    """Five densely connected convolutions with a 0.2-scaled residual."""

    def __init__(self, nf: int = 64, gc: int = 32) -> None:
        super().__init__()
        self.convs = nn.ModuleList([conv3x3(nf + i * gc, gc) for i in range(4)])
        self.conv_out = conv3x3(nf + 4 * gc, nf)
        self.act = _lrelu()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in self.convs:
            feats.append(self.act(conv(torch.cat(feats, dim=1))))
        return x + 0.2 * self.conv_out(torch.cat(feats, dim=1))


class RRDB(nn.Module):
    """Residual in residual dense block: three dense blocks, 0.2-scaled residual."""

    def __init__(self, nf: int = 64, gc: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(ResidualDenseBlock5C(nf, gc), ResidualDenseBlock5C(nf, gc),
                                  ResidualDenseBlock5C(nf, gc))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.body(x)


class RRDBNet(nn.Module):
    """RRDB generator; output is ``scale`` times larger than the input (scale 1, 2 or 4)."""

    def __init__(self, in_ch: int = 1, out_ch: int = 1, num_blocks: int = 16, num_feat: int = 64,
                 growth: int = 32, hr_conv: bool = False, scale: int = 2,
                 residual: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.residual = residual and in_ch == out_ch
        if scale not in (1, 2, 4):
            raise ValueError(f"RRDBNet supports scales 1, 2 and 4, not {scale}")
        self.scale = scale
        self.conv_first = conv3x3(in_ch, num_feat)
        self.body = nn.Sequential(*[RRDB(num_feat, growth) for _ in range(num_blocks)])
        self.conv_body = conv3x3(num_feat, num_feat)
        up: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            up += [conv3x3(num_feat, 4 * num_feat), nn.PixelShuffle(2), _lrelu()]
        if hr_conv:
            up += [conv3x3(num_feat, num_feat), _lrelu()]
        self.upsample = nn.Sequential(*up)
        self.conv_last = conv3x3(num_feat, out_ch)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.body.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, a=0, mode="fan_in")
                module.weight.data.mul_(0.1)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        out = self.conv_last(self.upsample(feat))
        if self.residual:  # predict the correction of the bicubic upsampling
            out = out + nn.functional.interpolate(x, scale_factor=self.scale, mode="bicubic",
                                                  align_corners=False)  # fmt: skip
        return out
