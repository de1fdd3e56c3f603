"""Building blocks shared by several architectures (BasicSR's ``arch_util`` in spirit).

Only imported by the architecture modules, never by :mod:`napari_w2s.models.registry`.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def conv3x3(in_ch: int, out_ch: int, bias: bool = True, dilation: int = 1) -> nn.Conv2d:
    """A 3 x 3 convolution that keeps the spatial size (padding = dilation)."""
    return nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation, bias=bias)


def conv1x1(in_ch: int, out_ch: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 1, bias=bias)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation channel attention (RCAN, RIDNet).

    Global average pooling, a 1 x 1 bottleneck ``ch -> ch // reduction -> ch`` with ReLU,
    a sigmoid, and the features rescaled channel by channel.
    """

    def __init__(self, num_feat: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, num_feat // reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.attention = nn.Sequential(
            nn.Conv2d(num_feat, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, num_feat, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention(self.pool(x))


class PixelShuffleUpsampler(nn.Sequential):
    """Sub-pixel upsampling (ESPCN): ``conv nf -> nf * r^2`` then ``PixelShuffle(r)``.

    Scales that are powers of two use one x2 stage per factor of two; 3 uses one x3 stage.
    ``act`` (a module factory) is inserted after each shuffle when given.
    """

    def __init__(self, scale: int, num_feat: int, act=None) -> None:
        layers: list[nn.Module] = []
        if scale >= 2 and (scale & (scale - 1)) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [conv3x3(num_feat, 4 * num_feat), nn.PixelShuffle(2)]
                if act is not None:
                    layers.append(act())
        elif scale == 3:
            layers += [conv3x3(num_feat, 9 * num_feat), nn.PixelShuffle(3)]
            if act is not None:
                layers.append(act())
        elif scale != 1:
            raise ValueError(f"scale {scale} is not supported (use 1, 2, 3 or a power of two)")
        super().__init__(*layers)


def check_channels(in_ch: int, out_ch: int, name: str) -> None:
    if in_ch != out_ch:
        raise ValueError(
            f"{name} adds its input to its output: in_ch ({in_ch}) must equal out_ch ({out_ch})"
        )


class Upscaler(nn.Module):
    """Base of the SR networks whose output is ``scale`` times larger than their input and
    which, with ``residual=True``, correct the bicubic upsampling of their input (see
    :func:`upsampled_input`) instead of predicting the whole image."""

    def __init__(self, in_ch: int, out_ch: int, scale: int, residual: bool) -> None:
        super().__init__()
        self.scale, self.residual = scale, residual
        if residual:
            check_channels(in_ch, out_ch, type(self).__name__)

    def finish(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The network's output ``y`` for its input ``x``: plus bicubic of ``x`` if residual."""
        return y + upsampled_input(x, self.scale) if self.residual else y


def upsampled_input(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic upsampling of a network's input: the base an SR network with ``residual=True``
    corrects (it then learns the difference from bicubic interpolation, which converges in far
    fewer iterations than the whole image; the compact configurations use it)."""
    return nn.functional.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
