"""Analysis of images: metrics, noise estimation, variance-stabilising transforms, blur kernels.

Heavy dependencies (scipy, PyWavelets, matplotlib) are imported inside the functions.
"""

from .kernel import (
    KernelEstimate,
    bicubic_kernel,
    estimate_kernel,
    gaussian_kernel,
    kernel_stats,
    radial_profile,
    reg_from_lambda,
    upsample2,
)
from .metrics import (
    MODES,
    affine_fit,
    compare,
    downsample_mean,
    match_affine,
    measure,
    psnr,
    rmse,
    ssim,
    units_mismatch,
    w2s_metrics,
    w2s_reference,
    zscore_stats,
)
from .noise import (
    NoiseEstimate,
    clipped_normal_moments,
    detect_clipping,
    estimate_noise,
    estimate_noise_paired,
    estimate_noise_stack,
    rescale_params,
)
from .vst import (
    expected_gat,
    gat,
    inverse_gat_algebraic,
    inverse_gat_asymptotic,
    inverse_gat_exact,
)

__all__ = [
    "MODES",
    "KernelEstimate",
    "NoiseEstimate",
    "affine_fit",
    "bicubic_kernel",
    "clipped_normal_moments",
    "compare",
    "detect_clipping",
    "downsample_mean",
    "estimate_kernel",
    "estimate_noise",
    "estimate_noise_paired",
    "estimate_noise_stack",
    "expected_gat",
    "gat",
    "gaussian_kernel",
    "inverse_gat_algebraic",
    "inverse_gat_asymptotic",
    "inverse_gat_exact",
    "kernel_stats",
    "match_affine",
    "measure",
    "psnr",
    "radial_profile",
    "reg_from_lambda",
    "rescale_params",
    "rmse",
    "ssim",
    "units_mismatch",
    "upsample2",
    "w2s_metrics",
    "w2s_reference",
    "zscore_stats",
]
