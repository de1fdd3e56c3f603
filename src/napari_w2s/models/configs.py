"""Architecture configurations (keyword arguments of the architecture classes), torch-free.

The single source of truth: the architecture modules re-export them as ``FULL`` / ``COMPACT``
and the registry maps method names to them. ``in_ch`` / ``out_ch`` default to 1 (grey).

*Full* is the configuration of the W2S paper (method facts sections 4 to 6). *Compact* is
this project's small configuration, sized to train on a 2-core CPU in hours and to restore a
512 x 512 image in a few seconds there (measured figures in ``docs/models.md``).
"""

from __future__ import annotations

DNCNN_FULL = {"num_layers": 17, "num_feat": 64, "batch_norm": True}
DNCNN_COMPACT = {"num_layers": 10, "num_feat": 32, "batch_norm": True}

MEMNET_FULL = {"num_feat": 20, "num_blocks": 6, "num_units": 4, "share_weights": False}
MEMNET_COMPACT = {"num_feat": 16, "num_blocks": 4, "num_units": 3, "share_weights": False}

RIDNET_FULL = {"num_feat": 64, "num_blocks": 4, "reduction": 16}
RIDNET_COMPACT = {"num_feat": 32, "num_blocks": 2, "reduction": 8}

RCAN_FULL = {"num_groups": 10, "num_blocks": 20, "num_feat": 64, "reduction": 16, "scale": 2}
RCAN_COMPACT = {"num_groups": 3, "num_blocks": 4, "num_feat": 32, "reduction": 8, "scale": 2}

RDN_FULL = {"num_feat": 64, "growth": 64, "num_blocks": 16, "num_layers": 8, "scale": 2}
# ``residual``: the compact SR networks add the bicubic upsampling of their input to their output
# (models/_blocks.upsampled_input), as the compact JDSR does; RCAN's shipped weights predate it
RDN_COMPACT = {
    "num_feat": 32,
    "growth": 16,
    "num_blocks": 4,
    "num_layers": 4,
    "scale": 2,
    "residual": True,
}

SAN_FULL = {
    "num_groups": 20,
    "num_blocks": 10,
    "num_feat": 64,
    "reduction": 16,
    "nl_region": 64,
    "scale": 2,
}
SAN_COMPACT = {
    "num_groups": 3,
    "num_blocks": 4,
    "num_feat": 32,
    "reduction": 8,
    "nl_region": 32,
    "scale": 2,
    "residual": True,
}

SRFBN_FULL = {"num_feat": 64, "num_steps": 4, "num_groups": 6, "scale": 2}
SRFBN_COMPACT = {"num_feat": 24, "num_steps": 3, "num_groups": 3, "scale": 2}

EDSR_FULL = {"num_blocks": 32, "num_feat": 256, "res_scale": 0.1, "scale": 2}
EDSR_BASELINE = {"num_blocks": 16, "num_feat": 64, "res_scale": 1.0, "scale": 2}
EDSR_COMPACT = {"num_blocks": 8, "num_feat": 32, "res_scale": 1.0, "scale": 2, "residual": True}

ESRGAN_FULL = {"num_blocks": 23, "num_feat": 64, "growth": 32, "hr_conv": True, "scale": 2}
ESRGAN_COMPACT = {
    "num_blocks": 4,
    "num_feat": 32,
    "growth": 16,
    "hr_conv": True,
    "scale": 2,
    "residual": True,
}

JDSR_FULL = {"num_blocks": 16, "num_feat": 64, "growth": 32, "hr_conv": False, "scale": 2}
# the compact JDSR adds the bicubic upsampling of its input to its output (``residual``): at the
# same 800 iterations this cut the held-out RMSE by 0.014-0.016 at every level (docs/models.md).
# 4 blocks since 0.2 session 17 (grown from the 2-block weights), 32 features and growth 16
# since session 22 (grown from 24 / 12: 1.8 x the compute, 1.9 % lower RMSE on held-out views,
# docs/models.md); a card's own settings rebuild older weights (registry.config_name_of)
JDSR_COMPACT = {
    "num_blocks": 4,
    "num_feat": 32,
    "growth": 16,
    "hr_conv": False,
    "scale": 2,
    "residual": True,
}

CARE_FULL = {
    "depth": 2,
    "base_feat": 32,
    "kernel_size": 5,
    "n_conv": 2,
    "residual": True,
    "scale": 2,
}
CARE_COMPACT = {
    "depth": 2,
    "base_feat": 16,
    "kernel_size": 3,
    "n_conv": 2,
    "residual": True,
    "scale": 2,
}

DISCRIMINATOR_FULL = {"num_feat": 64, "input_size": 128}
DISCRIMINATOR_COMPACT = {"num_feat": 32, "input_size": 128}
