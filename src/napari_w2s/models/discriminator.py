"""VGG-style discriminator for 128 x 128 high-resolution patches (SRGAN / ESRGAN).

Five stages, each ``conv3x3 (stride 1)`` and ``conv4x4 (stride 2)`` with LeakyReLU(0.2) and
batch normalisation (none after the very first convolution); channels ``nf, 2 nf, 4 nf, 8 nf,
8 nf``; the 128 x 128 input ends as a 4 x 4 map, flattened into ``Linear(8 nf * 16 -> 100)``,
LeakyReLU, ``Linear(100 -> 1)``. The output is a raw logit per image: the relativistic
average GAN loss of ESRGAN (and EPSR's adversarial loss) is computed from it by the training
code.
"""

from __future__ import annotations

import torch
from torch import nn


class VGGDiscriminator(nn.Module):
    """Discriminator for ``(N, in_ch, input_size, input_size)`` patches -> ``(N, 1)`` logits."""

    def __init__(self, in_ch: int = 1, num_feat: int = 64, input_size: int = 128) -> None:
        super().__init__()
        if input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32, not {input_size}")
        self.input_size = input_size
        widths = [num_feat, 2 * num_feat, 4 * num_feat, 8 * num_feat, 8 * num_feat]
        layers: list[nn.Module] = []
        prev = in_ch
        for i, width in enumerate(widths):
            layers.append(nn.Conv2d(prev, width, 3, 1, 1, bias=(i == 0)))
            if i > 0:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            layers += [
                nn.Conv2d(width, width, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            prev = width
        self.features = nn.Sequential(*layers)
        side = input_size // 32
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(widths[-1] * side * side, 100),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(100, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            size = self.input_size
            raise ValueError(
                f"the discriminator takes {size} x {size} patches, got {tuple(x.shape[-2:])}"
            )
        return self.classifier(self.features(x))
