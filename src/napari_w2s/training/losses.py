"""Losses: pixel, perceptual, texture (feature covariance), relativistic average GAN.

The perceptual and texture losses compare features of a VGG19-shaped network. ImageNet weights
cannot be downloaded at run time, so the extractor takes:

* ``"random"``: VGG19 with fixed random weights (seeded He initialisation), which are known to
  capture texture statistics;
* ``"random-quarter"``: the same shape with a quarter of the channels (16x fewer operations),
  the default for CPU training of compact models;
* ``"dncnn"``: the hidden features (last ReLU) of the shipped noise-blind DnCNN, a feature
  network trained by this project on the simulated microscopy data (not on ImageNet);
* a path to a torchvision-format VGG19 state dict (``features.N.weight`` keys) for users who have
  the ImageNet weights (loaded with ``weights_only=True``).

Forms (method facts section 6):

* ``paper`` (default): ``L1 + 0.05 * perceptual + 0.05 * texture``; perceptual = mean squared
  distance of conv5_4 features, texture = mean squared distance of their channel covariance
  (mean removed, divided by the number of positions, no square root).
* ``released``: ``MSE + 0.01 * sum of feature MSE at conv1_2, conv2_2, conv3_4, conv4_4, conv5_4
  + 0.01 * covariance MSE at conv5_4`` (the authors' code).

An optional structural term, ``ssim * (1 - SSIM(pred, target))`` (not in the paper; ``w2s train
--ssim W``), uses the SSIM the benchmark scores with (:func:`ssim_index`): it trades a little of
the pixel loss's smoothing for local contrast and structure.

Grey images are repeated to three channels before the extractor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..analysis.metrics import SSIM_K1, SSIM_K2, SSIM_WINDOW
from ..errors import W2SInputError

# VGG19 "E" configuration: conv widths, "M" = max-pool
_VGG19 = [
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    512,
]
# index of each named layer's conv output (before ReLU) in torchvision's vgg19().features
LAYERS = {"conv1_2": 2, "conv2_2": 7, "conv3_4": 16, "conv4_4": 25, "conv5_4": 34}


class _FrozenExtractor(nn.Module):
    """A feature network that never trains: no gradients to its weights, always in eval mode."""

    layers: tuple[str, ...]

    def _freeze(self) -> None:
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> _FrozenExtractor:
        return super().train(False)


class VGGFeatures(_FrozenExtractor):
    """VGG19 convolutional trunk returning pre-activation features of chosen layers (frozen)."""

    def __init__(
        self,
        layers: tuple[str, ...] = ("conv5_4",),
        width: float = 1.0,
        weights: str = "random",
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.layers = tuple(layers)
        last = max(LAYERS[name] for name in self.layers)
        modules: list[nn.Module] = []
        in_ch = 3
        for v in _VGG19:
            if v == "M":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                out = max(4, int(v * width))
                modules += [nn.Conv2d(in_ch, out, 3, padding=1), nn.ReLU(inplace=False)]
                in_ch = out
        self.features = nn.Sequential(*modules[: last + 1])
        if weights == "random":
            gen = torch.Generator().manual_seed(seed)
            for m in self.features:
                if isinstance(m, nn.Conv2d):
                    fan_in = m.in_channels * 9
                    with torch.no_grad():
                        m.weight.copy_(
                            torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5
                        )
                        m.bias.zero_()
        else:
            self._load(weights)
        self._freeze()

    def _load(self, path: str) -> None:
        from ..models.weights import load_state_dict

        state = load_state_dict(path)
        state = {
            k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")
        }
        own = self.features.state_dict()
        try:
            self.features.load_state_dict({k: state[k] for k in own}, strict=True)
        except (KeyError, RuntimeError) as err:
            raise W2SInputError(f"{path}: not a torchvision VGG19 state dict ({err})") from err

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        out = {}
        wanted = {LAYERS[n]: n for n in self.layers}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                out[wanted[i]] = x
        return out


class DenoiserFeatures(_FrozenExtractor):
    """Hidden features of a trained DnCNN (by default the shipped noise-blind one), frozen.

    Returns ``{"dncnn": features}`` of the last hidden layer (after its ReLU); the network is
    fully convolutional, so HR images of any size go through as they are.
    """

    def __init__(self, weights: str | None = None) -> None:
        super().__init__()
        from ..models.weights import load_model
        from ..restore.zoo import find_weights

        path = weights or find_weights("dncnn")
        model, card = load_model(path)
        if card.architecture != "DnCNN":
            raise W2SInputError(f"{path}: not DnCNN weights ({card.architecture})")
        self.layers = ("dncnn",)
        self.body = model.body[:-1]
        self._freeze()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"dncnn": self.body(x)}


def covariance(feat: torch.Tensor) -> torch.Tensor:
    """Channel covariance per image: mean removed, divided by the number of positions."""
    b, c, h, w = feat.shape
    f = feat.reshape(b, c, h * w)
    f = f - f.mean(dim=2, keepdim=True)
    return f @ f.transpose(1, 2) / (h * w)


PIXEL_WEIGHTS = ("equal", "target-range")
PIXEL_LOSSES = ("l1", "mse")


@dataclass(frozen=True)
class LossConfig:
    """Weights of each term; ``feature_weights``: ``random``, ``random-quarter``, ``dncnn`` or a path."""

    pixel: str = "l1"  # "l1" or "mse"
    perceptual: float = 0.0
    texture: float = 0.0
    form: str = "paper"  # "paper" or "released"
    gan: float = 0.0
    feature_weights: str = "random-quarter"
    ssim: float = 0.0  # weight of (1 - SSIM); not in the paper
    # "equal": every patch's pixel error counts alike in the network's units; "target-range":
    # each is divided by its view's target range in those units (the benchmark's scoring)
    pixel_weights: str = "equal"

    @classmethod
    def for_model(
        cls,
        name: str,
        form: str = "paper",
        features: str = "random-quarter",
        texture: bool = True,
        perceptual: bool = True,
        gan: bool = True,
        ssim: float = 0.0,
        pixel_weights: str = "equal",
        pixel: str | None = None,
    ) -> LossConfig:
        """The paper's loss of a method (facts sections 4-6); ``texture``, ``perceptual`` and
        ``gan`` False drop those terms (``gan=False``: the pixel-loss pre-training that ESRGAN
        and EPSR start their adversarial training from); ``ssim`` > 0 adds the structural term
        ``ssim * (1 - SSIM)``, which is not in the paper; ``pixel_weights="target-range"``
        weighs each sample's pixel error by the inverse of its view's target range (not in the
        paper; :data:`PIXEL_WEIGHTS`); ``pixel`` (``l1`` or ``mse``) replaces the paper's pixel
        loss of the method (JDSR: L1, whose minimiser is the median of what the input allows;
        MSE's is the mean, what an RMSE scores)."""
        if not ssim >= 0:
            raise W2SInputError(f"the SSIM loss weight must be >= 0, not {ssim:g}")
        if pixel_weights not in PIXEL_WEIGHTS:
            raise W2SInputError(
                f"pixel weights {pixel_weights!r}: choose {' or '.join(PIXEL_WEIGHTS)}"
            )
        if pixel is not None and pixel not in PIXEL_LOSSES:
            raise W2SInputError(f"pixel loss {pixel!r}: choose {' or '.join(PIXEL_LOSSES)}")
        paper = cls._paper(name, form, features, texture, perceptual, gan)
        return replace(paper, ssim=ssim, pixel_weights=pixel_weights, pixel=pixel or paper.pixel)

    @classmethod
    def _paper(
        cls, name: str, form: str, features: str, texture: bool, perceptual: bool, gan: bool
    ) -> LossConfig:
        from ..models import get_spec

        spec = get_spec(name)
        if spec.task == "denoise":
            return cls(pixel="mse")
        if spec.task == "jdsr" and name != "care":
            w = 0.01 if form == "released" else 0.05
            return cls(
                pixel="mse" if form == "released" else "l1",
                perceptual=w if perceptual else 0.0,
                texture=w if texture else 0.0,
                form=form,
                feature_weights=features,
            )
        if name == "esrgan":
            return cls(
                pixel="mse",
                perceptual=1.0 if perceptual else 0.0,
                gan=0.005 if gan else 0.0,
                feature_weights=features,
            )
        if name == "epsr":
            return cls(
                pixel="mse",
                perceptual=1.0 if perceptual else 0.0,
                gan=0.04 if gan else 0.0,
                feature_weights=features,
            )
        return cls(pixel="l1" if name != "care" else "mse")


class RestorationLoss(nn.Module):
    """The training loss of a restoration model (without the GAN term, see :func:`gan_losses`)."""

    def __init__(self, config: LossConfig) -> None:
        super().__init__()
        self.config = config
        self.extractor: _FrozenExtractor | None = None
        if config.perceptual > 0 or config.texture > 0:
            layers = tuple(LAYERS) if config.form == "released" else ("conv5_4",)
            if config.feature_weights in ("random", "random-quarter"):
                width = 0.25 if config.feature_weights == "random-quarter" else 1.0
                self.extractor = VGGFeatures(layers, width=width, weights="random")
            elif config.feature_weights == "dncnn":
                self.extractor = DenoiserFeatures()
            else:
                self.extractor = VGGFeatures(layers, weights=config.feature_weights)

    def forward(
        self, pred: Any, target: torch.Tensor, weights: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of a batch; ``weights`` (N,), mean 1, scale each sample's pixel error: an
        absolute error by ``w``, a squared one by ``w ** 2`` (rescaled to mean 1), so that either
        counts as it would in the units the weights map to."""
        preds = pred if isinstance(pred, (list, tuple)) else [pred]  # SRFBN: one per step
        c = self.config

        def pix(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            err = (p - t).abs() if c.pixel == "l1" else (p - t) ** 2
            if weights is None:
                return err.mean()
            w = weights if c.pixel == "l1" else weights**2 / (weights**2).mean()
            return (err.mean(dim=tuple(range(1, err.dim()))) * w).mean()

        total = sum(pix(p, target) for p in preds)
        parts = {"pixel": float(total.detach())}
        if c.ssim > 0:
            structural = 1.0 - ssim_index(preds[-1].float(), target.float())
            total = total + c.ssim * structural
            parts["ssim"] = float(structural.detach())
        if self.extractor is not None:
            fp = self.extractor(preds[-1].float())
            with torch.no_grad():
                ft = self.extractor(target.float())
            if c.perceptual > 0:
                per = sum(F.mse_loss(fp[k], ft[k]) for k in fp)
                total = total + c.perceptual * per
                parts["perceptual"] = float(per.detach())
            if c.texture > 0:
                deepest = self.extractor.layers[-1]
                tex = F.mse_loss(covariance(fp[deepest]), covariance(ft[deepest]))
                total = total + c.texture * tex
                parts["texture"] = float(tex.detach())
        return total, parts


def ssim_index(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of a batch (N, 1, H, W), differentiable, with the conventions the benchmark
    scores with (:func:`napari_w2s.analysis.metrics.ssim`): a 7 x 7 uniform window, sample
    covariances, K1 0.01, K2 0.03, the data range of each target patch, valid positions only."""
    n = SSIM_WINDOW * SSIM_WINDOW
    dr = target.amax(dim=(-2, -1), keepdim=True) - target.amin(dim=(-2, -1), keepdim=True)
    dr = dr.clamp_min(1e-6)
    c1, c2 = (SSIM_K1 * dr) ** 2, (SSIM_K2 * dr) ** 2

    def mean(v: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(v, SSIM_WINDOW, stride=1)

    mx, my = mean(pred), mean(target)
    cov = n / (n - 1)
    vx = cov * (mean(pred * pred) - mx * mx)
    vy = cov * (mean(target * target) - my * my)
    vxy = cov * (mean(pred * target) - mx * my)
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean()


def gan_losses(d_real: torch.Tensor, d_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Relativistic average GAN: (generator loss, discriminator loss) from raw logits."""
    real_rel = d_real - d_fake.mean()
    fake_rel = d_fake - d_real.mean()
    ones, zeros = torch.ones_like(d_real), torch.zeros_like(d_real)
    g = (
        F.binary_cross_entropy_with_logits(real_rel, zeros)
        + F.binary_cross_entropy_with_logits(fake_rel, ones)
    ) / 2
    d = (
        F.binary_cross_entropy_with_logits(real_rel, ones)
        + F.binary_cross_entropy_with_logits(fake_rel, zeros)
    ) / 2
    return g, d
