"""RIDNet (Anwar & Barnes, "Real Image Denoising with Feature Attention", ICCV 2019).

One convolution extracts features, a chain of Enhancement Attention Modules (EAM) refines
them, one convolution reconstructs, and the input is added back (global residual).
Each EAM is, in order:

1. merge-and-run unit: two branches of two dilated 3 x 3 convolutions (dilations 1, 2 and
   3, 4, each followed by ReLU), concatenated, fused by a 3 x 3 convolution + ReLU, plus the
   unit's input;
2. residual block: ``conv-ReLU-conv``, plus input, ReLU;
3. enhanced residual block: ``conv-ReLU-conv-ReLU-conv1x1``, plus input, ReLU;
4. channel attention (global average pooling, 1 x 1 bottleneck with reduction 16, sigmoid).

W2S configuration (method facts section 4): 64 features, 4 EAMs, about 1.50M parameters.
The RGB mean shift of the original is omitted (the inputs are normalised grey images).
"""

from __future__ import annotations

import torch
from torch import nn

from ._blocks import ChannelAttention, check_channels, conv1x1, conv3x3


class MergeAndRun(nn.Module):
    def __init__(self, nf: int) -> None:
        super().__init__()
        relu = nn.ReLU
        self.branch1 = nn.Sequential(
            conv3x3(nf, nf, dilation=1), relu(True), conv3x3(nf, nf, dilation=2), relu(True)
        )
        self.branch2 = nn.Sequential(
            conv3x3(nf, nf, dilation=3), relu(True), conv3x3(nf, nf, dilation=4), relu(True)
        )
        self.merge = nn.Sequential(conv3x3(2 * nf, nf), relu(True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.merge(torch.cat([self.branch1(x), self.branch2(x)], dim=1))


class ResidualBlock(nn.Module):
    def __init__(self, nf: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(nf, nf), nn.ReLU(True), conv3x3(nf, nf))
        self.act = nn.ReLU(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class EnhancedResidualBlock(nn.Module):
    def __init__(self, nf: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(nf, nf), nn.ReLU(True), conv3x3(nf, nf), nn.ReLU(True), conv1x1(nf, nf)
        )
        self.act = nn.ReLU(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class EAM(nn.Sequential):
    """Enhancement attention module."""

    def __init__(self, nf: int, reduction: int = 16) -> None:
        super().__init__(
            MergeAndRun(nf),
            ResidualBlock(nf),
            EnhancedResidualBlock(nf),
            ChannelAttention(nf, reduction),
        )


class RIDNet(nn.Module):
    """Real image denoising network; output has the input's shape."""

    def __init__(
        self,
        in_ch: int = 1,
        out_ch: int = 1,
        num_feat: int = 64,
        num_blocks: int = 4,
        reduction: int = 16,
    ) -> None:
        super().__init__()
        check_channels(in_ch, out_ch, "RIDNet")
        self.head = conv3x3(in_ch, num_feat)
        self.body = nn.Sequential(*[EAM(num_feat, reduction) for _ in range(num_blocks)])
        self.tail = conv3x3(num_feat, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.tail(self.body(self.head(x)))
