"""SRFBN (Li et al., "Feedback Network for Image Super-Resolution", CVPR 2019).

The same feedback network is unrolled T steps. At step t: shallow features
``conv3x3 (in -> 4 nf) + PReLU, conv1x1 (4 nf -> nf) + PReLU``; the feedback block fuses them
with its own previous output (at t = 0 the features themselves) through a 1 x 1 compression,
then runs G projection groups: group g upsamples the concatenation of all low-resolution maps
so far (compressed by a 1 x 1 convolution when g > 0) with a deconvolution and downsamples the
concatenation of all high-resolution maps so far with a strided convolution (up- and
down-projection, kernel 6 / stride 2 / padding 2 for x2); the low-resolution outputs of all
groups are fused by a 1 x 1 convolution into the block's output (the next step's hidden
state). Reconstruction: deconvolution + PReLU, conv3x3 to the output channels, plus the
bilinearly upsampled input. Every convolution is followed by a PReLU.

In training mode ``forward`` returns the list of the T step outputs (SRFBN's loss is the L1
summed over steps); in eval mode it returns the last one.

W2S configuration (method facts section 5): 64 features, 4 steps, 6 groups. For x2 this is
2.13M parameters; SRFBN's published 3.63M is the x4 (kernel 8) network, reproduced here by
``scale=4``. The RGB mean shift is omitted.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# (kernel, stride, padding) of the projection (de)convolutions: output = scale * input exactly
_PROJECTION = {2: (6, 2, 2), 3: (7, 3, 2), 4: (8, 4, 2), 8: (12, 8, 2)}


def _conv(in_ch: int, out_ch: int, k: int, s: int = 1, p: int = 0) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, k, s, p), nn.PReLU())


def _deconv(in_ch: int, out_ch: int, k: int, s: int, p: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(in_ch, out_ch, k, s, p), nn.PReLU())


class FeedbackBlock(nn.Module):
    def __init__(self, nf: int, num_groups: int, scale: int) -> None:
        super().__init__()
        k, s, p = _PROJECTION[scale]
        self.num_groups = num_groups
        self.compress_in = _conv(2 * nf, nf, 1)
        self.up = nn.ModuleList([_deconv(nf, nf, k, s, p) for _ in range(num_groups)])
        self.down = nn.ModuleList([_conv(nf, nf, k, s, p) for _ in range(num_groups)])
        self.up_fuse = nn.ModuleList([_conv(nf * (g + 1), nf, 1) for g in range(1, num_groups)])
        self.down_fuse = nn.ModuleList([_conv(nf * (g + 1), nf, 1) for g in range(1, num_groups)])
        self.compress_out = _conv(num_groups * nf, nf, 1)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        lr = [self.compress_in(torch.cat([x, hidden], dim=1))]
        hr: list[torch.Tensor] = []
        for g in range(self.num_groups):
            low = torch.cat(lr, dim=1)
            if g > 0:
                low = self.up_fuse[g - 1](low)
            hr.append(self.up[g](low))
            high = torch.cat(hr, dim=1)
            if g > 0:
                high = self.down_fuse[g - 1](high)
            lr.append(self.down[g](high))
        return self.compress_out(torch.cat(lr[1:], dim=1))


class SRFBN(nn.Module):
    """Super-resolution feedback network; output is ``scale`` times larger than the input."""

    def __init__(
        self,
        in_ch: int = 1,
        out_ch: int = 1,
        num_feat: int = 64,
        num_steps: int = 4,
        num_groups: int = 6,
        scale: int = 2,
    ) -> None:
        super().__init__()
        if scale not in _PROJECTION:
            raise ValueError(f"SRFBN supports scales {sorted(_PROJECTION)}, not {scale}")
        k, s, p = _PROJECTION[scale]
        self.scale = scale
        self.num_steps = num_steps
        self.conv_in = _conv(in_ch, 4 * num_feat, 3, 1, 1)
        self.feat_in = _conv(4 * num_feat, num_feat, 1)
        self.block = FeedbackBlock(num_feat, num_groups, scale)
        self.out = _deconv(num_feat, num_feat, k, s, p)
        self.conv_out = nn.Conv2d(num_feat, out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor):
        base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        feat = self.feat_in(self.conv_in(x))
        hidden = feat
        outputs = []
        for _ in range(self.num_steps):
            hidden = self.block(feat, hidden)
            outputs.append(base + self.conv_out(self.out(hidden)))
        return outputs if self.training else outputs[-1]
