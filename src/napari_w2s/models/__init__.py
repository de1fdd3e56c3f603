"""Deep models of W2S: architectures (one module each) and the registry of method names.

Importing this package does not import torch: the registry is plain data, and
:func:`build_model` imports an architecture's module (and torch) when it is called.

=================  ==========  ===============================================
name               task        architecture
=================  ==========  ===============================================
dncnn              denoise     DnCNN
memnet             denoise     MemNet
ridnet             denoise     RIDNet
rcan, jdsr-rcan    sr, jdsr    RCAN
rdn                sr          RDN
san                sr          SAN
srfbn              sr          SRFBN
epsr               sr          EDSR
esrgan, jdsr-esrgan sr, jdsr   RRDBNet (23 blocks)
jdsr               jdsr        RRDBNet (16 blocks), the default model
care               jdsr        CAREUNet (on the bicubic-upsampled input)
=================  ==========  ===============================================
"""

from __future__ import annotations

from .registry import (
    ARCHITECTURES,
    TASKS,
    ModelSpec,
    architecture_class,
    build_architecture,
    build_discriminator,
    build_model,
    count_parameters,
    get_spec,
    list_models,
    parameter_count,
    resolve_config,
)

__all__ = [
    "ARCHITECTURES",
    "TASKS",
    "ModelSpec",
    "architecture_class",
    "build_architecture",
    "build_discriminator",
    "build_model",
    "count_parameters",
    "get_spec",
    "list_models",
    "parameter_count",
    "resolve_config",
]
