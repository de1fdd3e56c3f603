"""SAN (Dai et al., "Second-order Attention Network for Single Image Super-Resolution", CVPR 2019).

``head conv -> region-level non-local (RL-NL) -> shared-source residual group (SSRG) -> conv ->
RL-NL (the same module) -> + head -> pixel-shuffle upsampler -> conv``.

* SSRG: G local-source residual attention groups (LSRAG); every group also receives the
  shallow features through a share-source skip with a learnable weight:
  ``F_g = lambda * F_0 + H_g(F_{g-1})``.
* LSRAG: M residual blocks (``conv-ReLU-conv`` + identity), second-order channel attention,
  a closing convolution, and a local skip.
* SOCA: the channel covariance of the features (mean-removed, divided by the number of
  positions), its matrix square root by the iterative Newton-Schulz method (iSQRT-COV, 5
  iterations, pre-normalised by the trace and post-compensated by its square root), pooled
  per channel (mean over rows), then the RCAN gating bottleneck (reduction 16, sigmoid).

W2S configuration (method facts section 5): 20 groups x 10 blocks, 64 features, x2: about
15.7M parameters.

Simplifications: the original RL-NL splits the map into 2 x 2 regions; here the number of
regions per axis is ``max(2, ceil(size / nl_region))`` so that no region is larger than
``nl_region`` pixels (identical to the paper on its 48 x 48 training patches, bounded cost on
large images), and the attention is computed with ``scaled_dot_product_attention`` (scale 1,
as the embedded-Gaussian non-local block). The covariance is always computed in float32 on the
whole map (the original crops very large maps to their centre).
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from ._blocks import PixelShuffleUpsampler, Upscaler, conv1x1, conv3x3


def _autocast_off(device_type: str):
    """A context without autocast (the covariance and its square root need float32)."""
    try:
        return torch.autocast(device_type=device_type, enabled=False)
    except (RuntimeError, ValueError):  # a device type autocast does not know (meta, old mps)
        return contextlib.nullcontext()


def newton_schulz_sqrt(a: torch.Tensor, iterations: int = 5, eps: float = 1e-8) -> torch.Tensor:
    """Square root of a batch of symmetric positive semi-definite matrices ``(N, C, C)``.

    Coupled Newton-Schulz iteration on ``A / tr(A)``: ``T = (3 I - Z Y) / 2``, ``Y <- Y T``,
    ``Z <- T Z``; ``Y`` converges to ``(A / tr A)^(1/2)``, then multiplied by ``sqrt(tr A)``.
    """
    n, c, _ = a.shape
    eye = torch.eye(c, dtype=a.dtype, device=a.device).expand(n, c, c)
    trace = a.diagonal(dim1=1, dim2=2).sum(-1).clamp_min(eps).view(n, 1, 1)
    y = a / trace
    z = eye
    for _ in range(iterations):
        t = 0.5 * (3.0 * eye - z @ y)
        y = y @ t
        z = t @ z
    return y * trace.sqrt()


class SOCA(nn.Module):
    """Second-order channel attention by covariance pooling."""

    def __init__(self, nf: int, reduction: int = 16, iterations: int = 5) -> None:
        super().__init__()
        hidden = max(1, nf // reduction)
        self.iterations = iterations
        self.gate = nn.Sequential(
            nn.Conv2d(nf, hidden, 1), nn.ReLU(True), nn.Conv2d(hidden, nf, 1), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        with _autocast_off(x.device.type):
            feat = x.float().reshape(n, c, h * w)
            feat = feat - feat.mean(dim=2, keepdim=True)
            cov = feat @ feat.transpose(1, 2) / (h * w)
            pooled = newton_schulz_sqrt(cov, self.iterations).mean(dim=1)
        weights = self.gate(pooled.to(x.dtype).view(n, c, 1, 1))
        return x * weights


class RegionNonLocal(nn.Module):
    """Embedded-Gaussian non-local block applied independently inside image regions."""

    def __init__(self, nf: int, nl_region: int = 64) -> None:
        super().__init__()
        inter = max(1, nf // 2)
        self.nl_region = nl_region
        self.theta = conv1x1(nf, inter)
        self.phi = conv1x1(nf, inter)
        self.g = conv1x1(nf, inter)
        self.out = conv1x1(inter, nf)

    @staticmethod
    def _bounds(size: int, parts: int) -> list[tuple[int, int]]:
        edges = [round(i * size / parts) for i in range(parts + 1)]
        return [(edges[i], edges[i + 1]) for i in range(parts) if edges[i + 1] > edges[i]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        # the embeddings are 1 x 1 convolutions: computed once on the whole map, then cut
        q, k, v = self.theta(x), self.phi(x), self.g(x)
        rows = self._bounds(h, max(2, math.ceil(h / self.nl_region)))
        cols = self._bounds(w, max(2, math.ceil(w / self.nl_region)))
        by_shape: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for r0, r1 in rows:
            for c0, c1 in cols:
                by_shape.setdefault((r1 - r0, c1 - c0), []).append((r0, c0))
        y = torch.empty_like(v)
        for (rh, rw), origins in by_shape.items():
            # regions of one shape are attended in one batch: (regions * n, 1, rh * rw, inter)
            # (4-D, one head: the layout for which PyTorch's fused CPU / GPU kernels apply)
            def tokens(t: torch.Tensor) -> torch.Tensor:
                cut = [t[:, :, r0 : r0 + rh, c0 : c0 + rw].flatten(2) for r0, c0 in origins]
                return torch.cat(cut, dim=0).transpose(1, 2).unsqueeze(1).contiguous()

            out = F.scaled_dot_product_attention(tokens(q), tokens(k), tokens(v), scale=1.0)
            out = out.squeeze(1).transpose(1, 2).reshape(len(origins), n, -1, rh, rw)
            for i, (r0, c0) in enumerate(origins):
                y[:, :, r0 : r0 + rh, c0 : c0 + rw] = out[i]
        return x + self.out(y)


class ResBlock(nn.Module):
    def __init__(self, nf: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(nf, nf), nn.ReLU(True), conv3x3(nf, nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class LSRAG(nn.Module):
    """Local-source residual attention group."""

    def __init__(self, nf: int, num_blocks: int, reduction: int) -> None:
        super().__init__()
        blocks = [ResBlock(nf) for _ in range(num_blocks)]
        self.body = nn.Sequential(*blocks, SOCA(nf, reduction), conv3x3(nf, nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SAN(Upscaler):
    """Second-order attention network; output is ``scale`` times larger than the input."""

    # the non-local block's regions are chosen from the feature map's size in Python, so one
    # exported graph cannot serve every image size: the ONNX backend leaves SAN to torch
    onnx_unsupported = "its non-local regions are chosen from each image's size"

    def __init__(
        self,
        in_ch: int = 1,
        out_ch: int = 1,
        num_groups: int = 20,
        num_blocks: int = 10,
        num_feat: int = 64,
        reduction: int = 16,
        nl_region: int = 64,
        scale: int = 2,
        residual: bool = False,
    ) -> None:
        super().__init__(in_ch, out_ch, scale, residual)
        self.head = conv3x3(in_ch, num_feat)
        self.non_local = RegionNonLocal(num_feat, nl_region)
        self.groups = nn.ModuleList(
            [LSRAG(num_feat, num_blocks, reduction) for _ in range(num_groups)]
        )
        self.share_weight = nn.Parameter(torch.zeros(1))
        self.body_conv = conv3x3(num_feat, num_feat)
        self.upsample = PixelShuffleUpsampler(scale, num_feat)
        self.tail = conv3x3(num_feat, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.head(x)
        source = self.non_local(f0)
        out = source
        for group in self.groups:
            out = group(out) + self.share_weight * source
        out = self.non_local(self.body_conv(out))
        y = self.tail(self.upsample(out + f0))
        return self.finish(y, x)
