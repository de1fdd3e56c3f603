"""Analysis of images: metrics (and, in later modules, noise and blur-kernel estimation)."""

from .metrics import (
    affine_fit,
    compare,
    downsample_mean,
    match_affine,
    psnr,
    rmse,
    ssim,
    w2s_metrics,
    w2s_reference,
    zscore_stats,
)

__all__ = [
    "affine_fit",
    "compare",
    "downsample_mean",
    "match_affine",
    "psnr",
    "rmse",
    "ssim",
    "w2s_metrics",
    "w2s_reference",
    "zscore_stats",
]
