"""``w2s metrics``: RMSE, PSNR and SSIM of a prediction against a reference."""

from __future__ import annotations

import argparse

from ..errors import W2SInputError
from ._common import EXIT_OK, _positive, _print_json, _read_image, add_command


def cmd_metrics(args: argparse.Namespace) -> int:
    from ..analysis.metrics import compare, match_affine, w2s_metrics

    pred, _ = _read_image(args.pred, "prediction")
    ref, _ = _read_image(args.ref, "reference")
    mode = "plain"
    if args.clean:
        clean, _ = _read_image(args.clean, "clean")
        result = w2s_metrics(pred, ref, clean, data_range=args.data_range)
        mode = "w2s"
    else:
        if args.match_affine:
            if pred.shape != ref.shape:
                raise W2SInputError(
                    f"the prediction {pred.shape} and the reference {ref.shape} have different "
                    "shapes"
                )
            ref = match_affine(ref, pred)
            mode = "affine"
        result = compare(pred, ref, data_range=args.data_range)
    result = {
        "rmse": result["rmse"],
        "psnr": result["psnr"],
        "ssim": result["ssim"],
        "data_range": result["data_range"],
        "mode": mode,
    }
    if args.json:
        _print_json(result)
    else:
        print(
            f"RMSE {result['rmse']:.6g}   PSNR {result['psnr']:.2f} dB   "
            f"SSIM {result['ssim']:.4f}   ({mode}, data range {result['data_range']:.6g})"
        )
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``w2s metrics`` to the sub-commands ``sub``."""
    p = add_command(
        sub, "metrics", cmd_metrics, "RMSE, PSNR and SSIM of a prediction against a reference."
    )
    p.add_argument("pred", help="the image to measure")
    p.add_argument("ref", help="the reference (same shape; a SIM image with --clean)")
    p.add_argument(
        "--match-affine",
        action="store_true",
        help="map the reference affinely (least squares) onto the prediction first",
    )
    p.add_argument(
        "--clean",
        default=None,
        help="clean LR image (avg400): W2S mode, z-scored with its statistics and the "
        "reference affinely matched to it, as in the paper's tables",
    )
    p.add_argument(
        "--data-range",
        type=_positive,
        default=None,
        help="PSNR/SSIM data range (default: reference max - min)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
