"""MemNet (Tai et al., "MemNet: A Persistent Memory Network for Image Restoration", ICCV 2017).

Feature extraction ``BN-ReLU-Conv`` -> M memory blocks -> reconstruction ``BN-ReLU-Conv`` ->
``+ input`` (global residual). A memory block runs its input through R residual units
(each two ``BN-ReLU-Conv`` 3 x 3 with an identity skip); their outputs are the short-term
memory. The long-term memory is the output of the feature extractor and of every earlier
memory block. A 1 x 1 ``BN-ReLU-Conv`` gate fuses the concatenation of both into the block's
output.

W2S configuration (method facts section 4): 20 channels, 6 memory blocks of 4 residual units,
no convolution biases: about 0.195M parameters. That count implies *independent* residual
units; the original paper shares the weights of the units inside a block (a recursive unit),
available here with ``share_weights=True``. The original also supervises the output of every
memory block (multi-supervision with learned weights); this implementation keeps the single
final output.
"""

from __future__ import annotations

import torch
from torch import nn

from ._blocks import check_channels


class BNReLUConv(nn.Sequential):
    """Pre-activation convolution: BatchNorm, ReLU, convolution without bias."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3) -> None:
        super().__init__(
            nn.BatchNorm2d(in_ch),
            nn.ReLU(inplace=False),
            nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=False),
        )


class ResidualUnit(nn.Module):
    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.body = nn.Sequential(BNReLUConv(num_feat, num_feat), BNReLUConv(num_feat, num_feat))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class MemoryBlock(nn.Module):
    """R residual units (short-term memory) and a gate over long- and short-term memories.

    ``num_long`` is the number of long-term memories the block receives (its index + 1).
    """

    def __init__(
        self, num_feat: int, num_units: int, num_long: int, share_weights: bool = False
    ) -> None:
        super().__init__()
        self.num_units = num_units
        if share_weights:
            self.units = nn.ModuleList([ResidualUnit(num_feat)])
        else:
            self.units = nn.ModuleList([ResidualUnit(num_feat) for _ in range(num_units)])
        self.gate = BNReLUConv((num_units + num_long) * num_feat, num_feat, kernel_size=1)

    def forward(self, x: torch.Tensor, long_term: list[torch.Tensor]) -> torch.Tensor:
        short_term = []
        for i in range(self.num_units):
            x = self.units[i % len(self.units)](x)
            short_term.append(x)
        return self.gate(torch.cat(long_term + short_term, dim=1))


class MemNet(nn.Module):
    """Persistent memory network with a global residual; output has the input's shape."""

    def __init__(
        self,
        in_ch: int = 1,
        out_ch: int = 1,
        num_feat: int = 20,
        num_blocks: int = 6,
        num_units: int = 4,
        share_weights: bool = False,
    ) -> None:
        super().__init__()
        check_channels(in_ch, out_ch, "MemNet")
        self.feature = BNReLUConv(in_ch, num_feat)
        self.blocks = nn.ModuleList(
            [MemoryBlock(num_feat, num_units, i + 1, share_weights) for i in range(num_blocks)]
        )
        self.reconstruct = BNReLUConv(num_feat, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.feature(x)
        memories = [out]
        for block in self.blocks:
            out = block(out, memories)
            memories.append(out)
        return x + self.reconstruct(out)
