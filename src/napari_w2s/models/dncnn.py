"""DnCNN (Zhang et al., "Beyond a Gaussian Denoiser", IEEE TIP 2017).

A plain stack of 3 x 3 convolutions that predicts the noise (residual learning):
``Conv+ReLU -> (depth - 2) x [Conv+BN+ReLU] -> Conv``, no biases, and the clean estimate is
``input - net(input)``. The W2S configuration (section 4 of the method facts): 17 layers of 64
channels, about 0.556M parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from ._blocks import check_channels, conv3x3


class DnCNN(nn.Module):
    """Residual denoiser: returns ``x - net(x)`` with the same shape as ``x``.

    Parameters
    ----------
    in_ch, out_ch : int
        Image channels (must be equal: the noise estimate is subtracted from the input).
    num_layers : int
        Convolutional layers in total (at least 3).
    num_feat : int
        Channels of the hidden layers.
    batch_norm : bool
        Batch normalisation in the middle layers (the paper). Without it the middle
        convolutions get a bias instead.
    """

    def __init__(
        self,
        in_ch: int = 1,
        out_ch: int = 1,
        num_layers: int = 17,
        num_feat: int = 64,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        check_channels(in_ch, out_ch, "DnCNN")
        if num_layers < 3:
            raise ValueError("DnCNN needs at least 3 layers")
        layers: list[nn.Module] = [conv3x3(in_ch, num_feat, bias=False), nn.ReLU(inplace=True)]
        for _ in range(num_layers - 2):
            layers.append(conv3x3(num_feat, num_feat, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(num_feat))
            layers.append(nn.ReLU(inplace=True))
        layers.append(conv3x3(num_feat, out_ch, bias=False))
        self.body = nn.Sequential(*layers)

    def noise(self, x: torch.Tensor) -> torch.Tensor:
        """The predicted noise ``net(x)`` (what DnCNN is trained on)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.body(x)
