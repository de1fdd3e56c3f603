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

Inference (no gradients) runs the dense blocks without concatenating: a convolution of a
concatenation is the sum of the convolutions of its parts (one per input-channel group). With
narrow growth (the compact configurations, growth 12-16) each new feature map is convolved once by
its slices of all the later convolutions stacked along their outputs and added to their running
sums (:meth:`ResidualDenseBlock5C.forward_wide`: wide convolutions instead of 12-channel ones);
with the paper's growth 32, each convolution is the sum of its partial convolutions
(:meth:`ResidualDenseBlock5C.forward_split`), which measured faster there. Same parameters and
state dict, outputs equal within float rounding; 1.13-1.26x faster for the compact JDSR at
256 x 256 on one thread, 1.14-1.21x for the paper's widths (docs/benchmarks.md). Training,
tracing and ONNX export keep the concatenating form (autograd and exporters see the paper's
graph); ``block.lean = ""`` turns the inference forms off.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from ._blocks import conv3x3
from .configs import ESRGAN_FULL, JDSR_COMPACT, JDSR_FULL

ESRGAN = ESRGAN_FULL
JDSR = FULL = JDSR_FULL
COMPACT = JDSR_COMPACT


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)


def _tracing() -> bool:
    """Whether the forward pass is being traced, scripted, compiled or exported (ONNX)."""
    return bool(
        torch.jit.is_scripting()
        or torch.jit.is_tracing()
        or torch.onnx.is_in_onnx_export()
        or torch.compiler.is_compiling()
    )


class ResidualDenseBlock5C(nn.Module):
    """Five densely connected convolutions with a 0.2-scaled residual."""

    WIDE_BELOW = 32  # growth below this: the "wide" inference form, else "split"

    def __init__(self, nf: int = 64, gc: int = 32) -> None:
        super().__init__()
        self.convs = nn.ModuleList([conv3x3(nf + i * gc, gc) for i in range(4)])
        self.conv_out = conv3x3(nf + 4 * gc, nf)
        self.act = _lrelu()
        self.lean = "wide" if gc < self.WIDE_BELOW else "split"  # or "" (concatenate)
        self._lean: tuple | None = None  # (key, weights): derived, not in the state dict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.lean and not torch.is_grad_enabled() and not _tracing():
            return self.forward_wide(x) if self.lean == "wide" else self.forward_split(x)
        feats = [x]
        for conv in self.convs:
            feats.append(self.act(conv(torch.cat(feats, dim=1))))
        return x + 0.2 * self.conv_out(torch.cat(feats, dim=1))

    def forward_split(self, x: torch.Tensor) -> torch.Tensor:
        """Inference without concatenation: ``conv_i(cat(f_0 .. f_i))`` computed as
        ``sum_j conv(f_j, W_i[:, group j])``, the partial convolutions added in place into the
        first one (the paper's widths, growth 32: 1.14-1.21x faster than concatenating)."""
        parts = self._weights("split")
        convs = [*self.convs, self.conv_out]
        feats = [x]
        for i, (first, *rest) in enumerate(parts):
            y = nn.functional.conv2d(x, first, convs[i].bias, padding=1)
            for feat, w in zip(feats[1:], rest):
                y.add_(nn.functional.conv2d(feat, w, None, padding=1))
            if i < 4:
                feats.append(nn.functional.leaky_relu(y, 0.2, inplace=True))
        return torch.add(x, y, alpha=0.2)

    def forward_wide(self, x: torch.Tensor) -> torch.Tensor:
        """Inference without concatenation, for narrow growth (the compact configurations;
        1.13-1.26x faster than concatenating where the split form gains 1.02-1.09x).

        The block input ``f_0`` is convolved once by its slices of all five convolutions
        stacked along their outputs (biases included), giving the five running sums at once;
        the first ``gc`` channels are then complete, their activation is ``f_1``, which is
        convolved by its slices of the four later convolutions and added to the remaining
        sums, and so on: five convolutions with wide outputs instead of narrow ones."""
        *weights, bias = self._weights("wide")
        gc = self.convs[0].out_channels
        acc = nn.functional.conv2d(x, weights[0], bias, padding=1)
        for w in weights[1:]:
            feat = nn.functional.leaky_relu(acc[:, :gc], 0.2)
            acc = nn.functional.conv2d(feat, w, None, padding=1).add_(acc[:, gc:])
        return torch.add(x, acc, alpha=0.2)

    def _weights(self, form: str) -> list:
        """The convolutions' weights cut by input group (the block input, then each growth
        map), contiguous, in the layout of the parameters. ``split``: per convolution, its
        slices; ``wide``: per group, the slices of every convolution that reads it stacked
        along the outputs, then all the biases. Rebuilt when a parameter changes (new storage,
        device or layout, or an in-place update)."""
        convs = [*self.convs, self.conv_out]
        params = [p for c in convs for p in (c.weight, c.bias)]
        key = (form, *((p.data_ptr(), p._version, p.dtype, p.device, p.stride()) for p in params))
        if self._lean is None or self._lean[0] != key:
            nf, gc = self.convs[0].in_channels, self.convs[0].out_channels
            groups = [(0, nf)] + [(nf + j * gc, nf + (j + 1) * gc) for j in range(4)]
            w0 = self.conv_out.weight
            last = w0.is_contiguous(memory_format=torch.channels_last) and not w0.is_contiguous()
            fmt = torch.channels_last if last else torch.contiguous_format
            with torch.no_grad():
                if form == "split":
                    weights = [
                        [c.weight[:, a:b].contiguous(memory_format=fmt) for a, b in groups[: i + 1]]
                        for i, c in enumerate(convs)
                    ]
                else:
                    weights = [
                        torch.cat([c.weight[:, a:b] for c in convs[j:]]).contiguous(
                            memory_format=fmt
                        )
                        for j, (a, b) in enumerate(groups)
                    ]
                    weights.append(torch.cat([c.bias for c in convs]))
            self._lean = (key, weights)
        return self._lean[1]


class RRDB(nn.Module):
    """Residual in residual dense block: three dense blocks, 0.2-scaled residual."""

    def __init__(self, nf: int = 64, gc: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ResidualDenseBlock5C(nf, gc), ResidualDenseBlock5C(nf, gc), ResidualDenseBlock5C(nf, gc)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.body(x)


class RRDBNet(nn.Module):
    """RRDB generator; output is ``scale`` times larger than the input (scale 1, 2 or 4)."""

    def __init__(
        self,
        in_ch: int = 1,
        out_ch: int = 1,
        num_blocks: int = 16,
        num_feat: int = 64,
        growth: int = 32,
        hr_conv: bool = False,
        scale: int = 2,
        residual: bool = False,
    ) -> None:
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

    def deepened_state(self, state: dict) -> tuple[dict, int]:
        """``state`` of a shallower RRDBNet (same width), made this network's: its blocks come
        first, each added block starts as the identity up to a factor (every dense block's output
        convolution zero, so the block returns 1.2 times its input) and ``conv_body``'s weight is
        divided by those factors, so the deeper network computes exactly what the shallower one
        did. Returns the state and the number of blocks added (0: ``state`` unchanged)."""
        ours = self.state_dict()
        depth = 1 + max((int(k.split(".")[1]) for k in state if k.startswith("body.")), default=-1)
        added = len(self.body) - depth
        new_blocks = tuple(f"body.{i}." for i in range(depth, len(self.body)))
        missing = {k for k in ours if k not in state}
        if (
            added <= 0
            or any(k not in ours or ours[k].shape != v.shape for k, v in state.items())
            or any(not k.startswith(new_blocks) for k in missing)
        ):  # not the same network with fewer blocks: left to the strict load to refuse
            return state, 0
        grown = {k: v.clone() for k, v in ours.items()}
        grown.update(state)
        for k in grown:
            if k.startswith(new_blocks) and ".conv_out." in k:
                grown[k] = torch.zeros_like(grown[k])
        grown["conv_body.weight"] = state["conv_body.weight"] / 1.2**added
        return grown, added

    def widened_state(self, state: dict) -> tuple[dict, tuple[int, int] | None]:
        """``state`` of a narrower RRDBNet (fewer features ``nf`` and / or growth ``gc``, the
        same or fewer blocks), made this network's width. Each old channel keeps its weights
        at its place in the wider layout (a dense convolution reads the block input, then
        each growth map: the groups move apart as they widen); every weight that *reads* a new
        channel is zero, so the wider network computes exactly what the narrower one did, while
        the new channels start from this network's own random weights and learn from the first
        step (what reads them receives gradients). Blocks beyond ``state``'s are left out (for
        :meth:`deepened_state`). Returns the state and the old ``(nf, gc)``, or ``None`` where
        ``state`` is not a narrower network of this kind (then unchanged)."""
        ours = self.state_dict()
        if "conv_first.weight" not in state or "body.0.body.0.convs.0.weight" not in state:
            return state, None
        nf0, nf = state["conv_first.weight"].shape[0], ours["conv_first.weight"].shape[0]
        gc0, gc = (s["body.0.body.0.convs.0.weight"].shape[0] for s in (state, ours))
        if (nf0, gc0) == (nf, gc) or nf0 > nf or gc0 > gc:
            return state, None
        if any(k not in ours for k in state):
            return state, None

        def places(groups: list[int], old: list[int]) -> torch.Tensor:
            """New indices of the old channels: group by group, at the start of each group."""
            starts = [0, *itertools.accumulate(groups)][:-1]
            return torch.cat([torch.arange(s, s + n) for s, n in zip(starts, old, strict=True)])

        def layout(key: str, axis: int) -> tuple[list[int], list[int]]:
            """The channel groups of a weight's outputs (axis 0) or inputs (axis 1), new, old."""
            if ".convs." in key or ".conv_out." in key:
                i = int(key.split(".convs.")[1].split(".")[0]) if ".convs." in key else 4
                if axis == 0:
                    return ([gc], [gc0]) if ".convs." in key else ([nf], [nf0])
                return [nf] + [gc] * i, [nf0] + [gc0] * i
            if key.startswith("conv_first"):
                return ([nf], [nf0]) if axis == 0 else ([1], [1])
            if key.startswith("conv_last"):
                return ([1], [1]) if axis == 0 else ([nf], [nf0])
            if key.startswith("upsample") and axis == 0 and ours[key].shape[0] == 4 * nf:
                return [4 * nf], [4 * nf0]  # PixelShuffle: map c reads 4c..4c+3, kept in place
            return [ours[key].shape[axis]], [state[key].shape[axis]]

        out = {}
        for key, old in state.items():
            new = ours[key].clone()
            if old.shape == new.shape:
                out[key] = old.clone()
                continue
            rows = places(*layout(key, 0))
            if old.dim() == 1:  # a bias
                new[rows] = old
            else:
                cols = places(*layout(key, 1))
                reads_new = torch.ones(new.shape[1], dtype=torch.bool)
                reads_new[cols] = False
                new[:, reads_new] = 0
                new[rows[:, None], cols[None, :]] = old
            out[key] = new
        return out, (int(nf0), int(gc0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        out = self.conv_last(self.upsample(feat))
        if self.residual:  # predict the correction of the bicubic upsampling
            out = out + nn.functional.interpolate(
                x, scale_factor=self.scale, mode="bicubic", align_corners=False
            )
        return out
