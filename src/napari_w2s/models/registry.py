"""The model registry: method names -> task, architecture, configurations (torch-free).

Importing this module imports neither torch nor any architecture; :func:`build_model` imports
the architecture's module on demand (BasicSR's registry, reduced to a table).

>>> from napari_w2s.models import list_models, get_spec
>>> get_spec("jdsr").architecture
'RRDBNet'
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..errors import W2SInputError
from . import configs as C
from .config_text import BAD_CONFIG, KIND_NAMES, config_text, parse_config

TASKS = ("denoise", "sr", "jdsr")

#: architecture class name -> module inside ``napari_w2s.models``
ARCHITECTURES: Mapping[str, str] = MappingProxyType(
    {
        "DnCNN": "dncnn",
        "MemNet": "memnet",
        "RIDNet": "ridnet",
        "RCAN": "rcan",
        "RDN": "rdn",
        "SAN": "san",
        "SRFBN": "srfbn",
        "EDSR": "edsr",
        "RRDBNet": "rrdbnet",
        "CAREUNet": "care_unet",
        "VGGDiscriminator": "discriminator",
    }
)


@dataclass(frozen=True)
class ModelSpec:
    """What a method name stands for.

    Attributes
    ----------
    name : str
        The stable method name (``w2s restore --method NAME``).
    task : {"denoise", "sr", "jdsr"}
        ``denoise``: LR noisy -> LR clean (same size); ``sr``: LR clean -> HR (x2);
        ``jdsr``: LR noisy -> HR (x2) in one network.
    architecture : str
        Class name, a key of :data:`ARCHITECTURES`.
    full_config, compact_config : Mapping
        Keyword arguments of the architecture class: the paper's configuration and this
        project's CPU-sized one (read-only; :func:`build_model` copies them).
    description : str
        One line for ``w2s models`` and the widgets.
    paper_params : int or None
        The parameter count the papers report (for comparison with the computed count; see
        ``notes`` where the published figure is for another scale or channel count).
    notes : str
        Simplifications and deviations from the paper.
    """

    name: str
    task: str
    architecture: str
    full_config: Mapping[str, Any]
    compact_config: Mapping[str, Any]
    description: str
    paper_params: int | None = None
    notes: str = ""
    loss: str = ""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.architecture!r}")
        object.__setattr__(self, "full_config", MappingProxyType(dict(self.full_config)))
        object.__setattr__(self, "compact_config", MappingProxyType(dict(self.compact_config)))

    @property
    def scale(self) -> int:
        """Output size / input size: 1 for denoisers, 2 for SR and JDSR."""
        return 1 if self.task == "denoise" else int(self.full_config.get("scale", 2))

    def config(self, config: str | Mapping[str, Any] = "compact") -> dict[str, Any]:
        """The keyword arguments for ``config`` ("compact", "full" or overrides of "full")."""
        return resolve_config(self, config)


_SPECS: tuple[ModelSpec, ...] = (
    # --- denoisers (Table 1), LR noisy -> LR clean, one model per noise level in the paper
    ModelSpec(
        "dncnn",
        "denoise",
        "DnCNN",
        C.DNCNN_FULL,
        C.DNCNN_COMPACT,
        "DnCNN: 17-layer residual CNN that predicts the noise",
        556_000,
        loss="MSE on the noise",
    ),
    ModelSpec(
        "memnet",
        "denoise",
        "MemNet",
        C.MEMNET_FULL,
        C.MEMNET_COMPACT,
        "MemNet: persistent memory network (6 memory blocks of 4 residual units)",
        195_000,
        notes="residual units not weight-shared (the W2S 0.195M count; "
        "share_weights=True gives the "
        "paper's recursive unit); single output instead of multi-supervision",
        loss="MSE",
    ),
    ModelSpec(
        "ridnet",
        "denoise",
        "RIDNet",
        C.RIDNET_FULL,
        C.RIDNET_COMPACT,
        "RIDNet: 4 enhancement attention modules with channel attention",
        1_500_000,
        notes="no RGB mean shift",
        loss="MSE",
    ),
    # --- SR networks (Table 2), LR clean -> HR x2
    ModelSpec(
        "rcan",
        "sr",
        "RCAN",
        C.RCAN_FULL,
        C.RCAN_COMPACT,
        "RCAN: residual channel attention network, 10 groups x 20 blocks",
        15_400_000,
        notes="no RGB mean shift",
        loss="L1",
    ),
    ModelSpec(
        "rdn",
        "sr",
        "RDN",
        C.RDN_FULL,
        C.RDN_COMPACT,
        "RDN: residual dense network, 16 blocks of 8 layers",
        22_000_000,
        notes="no RGB mean shift",
        loss="L1",
    ),
    ModelSpec(
        "san",
        "sr",
        "SAN",
        C.SAN_FULL,
        C.SAN_COMPACT,
        "SAN: second-order attention network, 20 groups x 10 blocks",
        15_700_000,
        notes="region non-local over regions of at most nl_region px (paper: 2 x 2 regions); "
        "covariance over the whole map (no centre crop)",
        loss="L1",
    ),
    ModelSpec(
        "srfbn",
        "sr",
        "SRFBN",
        C.SRFBN_FULL,
        C.SRFBN_COMPACT,
        "SRFBN: feedback network, 4 steps x 6 projection groups",
        3_631_000,
        notes="published 3.63M is the x4 RGB network (kernel 8); x2 uses kernel 6 "
        "(2.13M); bilinear base image; no mean shift",
        loss="L1 summed over steps",
    ),
    ModelSpec(
        "epsr",
        "sr",
        "EDSR",
        C.EDSR_FULL,
        C.EDSR_COMPACT,
        "EPSR: EDSR trained with perceptual + adversarial losses",
        43_000_000,
        notes="large EDSR (32 x 256, scaling 0.1); the published 43M is x4 RGB, "
        "x2 grey is 40.7M; the EDSR baseline (1.37M) is configs.EDSR_BASELINE",
        loss="0.05 MSE + 1 VGG + 0.04 GAN",
    ),
    ModelSpec(
        "esrgan",
        "sr",
        "RRDBNet",
        C.ESRGAN_FULL,
        C.ESRGAN_COMPACT,
        "ESRGAN: RRDB network with 23 blocks, relativistic GAN",
        16_700_000,
        notes="x2 sub-pixel upsampler (ESRGAN x4 uses nearest + conv)",
        loss="0.01 MSE + 1 L1 on VGG19 conv5_4 + 0.005 RaGAN",
    ),
    # --- joint denoising and SR (Table 3), LR noisy -> HR x2
    ModelSpec(
        "jdsr",
        "jdsr",
        "RRDBNet",
        C.JDSR_FULL,
        C.JDSR_COMPACT,
        "W2S joint denoising + x2 SR: RRDB network (16 blocks in the paper's "
        "configuration, 4 in the compact one; the default model)",
        11_700_000,
        notes="the paper says 11M; no HR convolution (as in the released model)",
        loss="L1 + 0.05 perceptual + 0.05 texture",
    ),
    ModelSpec(
        "jdsr-rcan",
        "jdsr",
        "RCAN",
        C.RCAN_FULL,
        C.RCAN_COMPACT,
        "RCAN trained end to end on noisy LR -> SIM",
        15_400_000,
        loss="L1 + 0.05 perceptual + 0.05 texture",
    ),
    ModelSpec(
        "jdsr-esrgan",
        "jdsr",
        "RRDBNet",
        C.ESRGAN_FULL,
        C.ESRGAN_COMPACT,
        "ESRGAN's RRDB network (23 blocks) trained end to end on noisy LR -> SIM",
        16_700_000,
        loss="L1 + 0.05 perceptual + 0.05 texture",
    ),
    ModelSpec(
        "care",
        "jdsr",
        "CAREUNet",
        C.CARE_FULL,
        C.CARE_COMPACT,
        "CARE-style U-Net on the bicubic-upsampled input (baseline)",
        None,
        notes="CSBDeep 2-D defaults (depth 2, 32 filters, 5 x 5); bicubic x2 inside the network",
        loss="MSE",
    ),
)


_REGISTRY: Mapping[str, ModelSpec] = MappingProxyType({s.name: s for s in _SPECS})

#: the discriminator of the GAN-trained models (``esrgan``, ``epsr``, and GAN fine-tuning)
DISCRIMINATOR_FULL: Mapping[str, Any] = MappingProxyType(dict(C.DISCRIMINATOR_FULL))
DISCRIMINATOR_COMPACT: Mapping[str, Any] = MappingProxyType(dict(C.DISCRIMINATOR_COMPACT))


def list_models(task: str | None = None) -> list[str]:
    """Names of the registered deep models, optionally only those of one ``task``."""
    if task is not None and task not in TASKS:
        raise W2SInputError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    return [s.name for s in _SPECS if task is None or s.task == task]


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a method name; an unknown name raises ``W2SInputError``."""
    try:
        return _REGISTRY[str(name).strip().lower()]
    except KeyError:
        raise W2SInputError(
            f"unknown model {name!r}: choose one of {', '.join(list_models())}"
        ) from None


def resolve_config(spec: ModelSpec, config: str | Mapping[str, Any] = "compact") -> dict[str, Any]:
    """Keyword arguments for ``spec``'s architecture.

    ``config`` is ``"compact"``, ``"full"``, one of them with settings changed
    (``"compact:num_blocks=4"``, see :func:`parse_config`), or a mapping of keyword arguments
    that override the full configuration (a model card's stored configuration is such a mapping).
    """
    if isinstance(config, str):
        key, overrides = parse_config(config)
        base = dict(spec.full_config if key == "full" else spec.compact_config)
        unknown = sorted(set(overrides) - set(base))
        if unknown:
            raise W2SInputError(
                f"configuration {config!r}: {spec.name} has no setting {unknown[0]!r} "
                f"(its settings: {', '.join(base)})"
            )
        for name, value in overrides.items():
            kind = type(base[name])
            if not (type(value) is kind or (kind is float and type(value) is int)):
                raise W2SInputError(
                    f"configuration {config!r}: {name} is {KIND_NAMES[kind]}, not {value!r}"
                )
            if kind is not bool and not value > 0:
                raise W2SInputError(f"configuration {config!r}: {name} must be above 0")
        return {**base, **overrides}
    if isinstance(config, Mapping):
        return {**spec.full_config, **dict(config)}
    raise W2SInputError(BAD_CONFIG.format(type(config).__name__))


def config_name_of(spec: ModelSpec, config: Mapping[str, Any]) -> str:
    """The configuration name that builds exactly ``config`` (a model card's settings):
    ``compact`` or ``full``, or the one of them with the same settings and the fewest changed,
    written ``compact:num_blocks=2``. A card's network is rebuilt as it was trained even after
    the package's compact configuration changes."""
    names = []
    for base, ref in (("compact", spec.compact_config), ("full", spec.full_config)):
        if set(ref) == set(config):
            changed = {k: v for k, v in config.items() if ref[k] != v}
            names.append((len(changed), base, changed))
    if not names:
        raise W2SInputError(
            f"settings {dict(config)} are not a configuration of {spec.name} "
            f"(its settings: {', '.join(spec.compact_config)})"
        )
    _, base, changed = min(names, key=lambda t: t[0])
    return config_text(base, changed)


def architecture_class(architecture: str):
    """The architecture class (imports its module, hence torch)."""
    if architecture not in ARCHITECTURES:
        raise W2SInputError(
            f"unknown architecture {architecture!r}: choose one of {', '.join(ARCHITECTURES)}"
        )
    module = importlib.import_module(f"{__package__}.{ARCHITECTURES[architecture]}")
    return getattr(module, architecture)


def build_architecture(architecture: str, **kwargs: Any):
    """Instantiate an architecture by class name with keyword arguments."""
    cls = architecture_class(architecture)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise W2SInputError(f"invalid settings for {architecture}: {exc}") from None


def build_model(
    name: str, config: str | Mapping[str, Any] = "compact", *, in_ch: int = 1, out_ch: int = 1
):
    """Build the ``torch.nn.Module`` of a method name (randomly initialised, in train mode).

    Parameters
    ----------
    name : str
        A registered method name (:func:`list_models`).
    config : {"compact", "full"} or mapping
        Which configuration; a mapping overrides keys of the full configuration.
    in_ch, out_ch : int
        Image channels (1 for W2S).
    """
    spec = get_spec(name)
    kwargs = resolve_config(spec, config)
    kwargs.setdefault("in_ch", in_ch)
    if spec.architecture != "VGGDiscriminator":
        kwargs.setdefault("out_ch", out_ch)
    return build_architecture(spec.architecture, **kwargs)


def build_discriminator(
    config: str | Mapping[str, Any] = "full", *, in_ch: int = 1, input_size: int | None = None
):
    """The VGG-style discriminator for HR patches (relativistic GAN training): 128 x 128 as in the
    paper, or ``input_size`` (a multiple of 32), the HR side of the training patches."""
    if isinstance(config, str):  # the base's discriminator; changed settings are the generator's
        full = parse_config(config)[0] == "full"
        kwargs = dict(DISCRIMINATOR_FULL if full else DISCRIMINATOR_COMPACT)
    elif isinstance(config, Mapping):
        kwargs = {**DISCRIMINATOR_FULL, **dict(config)}
    else:
        raise W2SInputError(BAD_CONFIG.format(config))
    if input_size is not None:
        if input_size % 32:
            raise W2SInputError(
                f"a GAN-trained model needs HR patches of a multiple of 32 pixels "
                f"(--patch 16, 32, 48, 64 ... for x2), not {input_size}"
            )
        kwargs["input_size"] = int(input_size)
    return build_architecture("VGGDiscriminator", in_ch=in_ch, **kwargs)


def count_parameters(module: Any, trainable_only: bool = False) -> int:
    """Number of parameters of a module (all of them, or only the trainable ones)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


_PARAM_CACHE: dict[tuple[str, tuple], int] = {}


def parameter_count(name: str, config: str | Mapping[str, Any] = "full") -> int:
    """Computed parameter count of a method's configuration (builds the model once, cached)."""
    spec = get_spec(name)
    kwargs = resolve_config(spec, config)
    key = (spec.architecture, tuple(sorted(kwargs.items())))
    if key not in _PARAM_CACHE:
        import torch  # only to build on the meta device: no memory, no initialisation cost

        with torch.device("meta"):
            model = build_architecture(spec.architecture, in_ch=1, out_ch=1, **kwargs)
        _PARAM_CACHE[key] = count_parameters(model)
    return _PARAM_CACHE[key]
