"""``w2s estimate-noise``, ``w2s advise`` and ``w2s estimate-kernel``: what the data say about
the noise, the photon budget and the blur."""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

from ..errors import W2SInputError
from ._common import (
    EXIT_OK,
    _at_least,
    _output_file,
    _positive,
    _print_json,
    _read_2d,
    add_command,
)


def _parse_clip(text: str) -> Any:
    if text == "auto":
        return "auto"
    if text == "none":
        return None
    try:
        lo, hi = (None if v.strip() in ("", "none") else float(v) for v in text.split(","))
    except ValueError:
        raise W2SInputError(f"--clip must be auto, none or LO,HI, got {text!r}") from None
    return lo, hi


def _read_frames(path: str, axes: str | None) -> Any:
    """An image (Y, X) or a stack of frames (T, Y, X) of one channel."""
    import numpy as np

    from ..io import read_stack

    stack = read_stack(path, axes=axes)
    data = stack.data
    if "C" in stack.axes or "Z" in stack.axes:
        raise W2SInputError(
            f"{path}: axes {stack.axes}; give one channel, frames only (T, Y, X) or one image"
        )
    if "T" in stack.axes and stack.n_frames >= 2:
        return data
    return np.asarray(data).reshape(np.asarray(data).shape[-2:])


def cmd_estimate_noise(args: argparse.Namespace) -> int:
    from ..analysis.noise import estimate_noise, estimate_noise_paired, estimate_noise_stack

    if args.frames and not args.clean:
        raise W2SInputError(
            "--frames corrects the paired estimate for shared frames; it needs --clean"
        )
    clip = _parse_clip(args.clip)
    t0 = time.perf_counter()
    if args.clean:
        image = _read_2d(args.image, "image")
    else:
        data = _read_frames(args.image, args.axes)
        image = data if len(data.shape) == 2 else None
        if image is None and args.single:
            image = _read_2d_frame(data, args.frame)
    if args.clean:
        clean = _read_2d(args.clean, "clean image")
        frames = None
        if args.frames:
            try:
                frames = tuple(int(v) for v in args.frames.split(","))
                n, total = frames
            except ValueError:
                raise W2SInputError(f"--frames must be n,N, got {args.frames!r}") from None
            frames = (n, total)
        est = estimate_noise_paired(image, clean, clip=clip, frames=frames)
    elif image is None:
        est = estimate_noise_stack(data, clip=clip)
        image = _read_2d_frame(data, 0)
    else:
        est = estimate_noise(image, clip=clip)
    seconds = time.perf_counter() - t0
    lo, hi = float(image.min()), float(image.max())
    a01, b01 = est.rescaled(lo, hi)
    gat_a, gat_sigma2, gat_offset = est.gat_params()
    report = {
        "a": est.a,
        "b": est.b,
        "method": est.method,
        "n_level_sets": int(est.used.sum()),
        "clip": [v if math.isfinite(v) else None for v in est.clip],
        "a_01": a01,
        "b_01": b01,
        "image_min": lo,
        "image_max": hi,
        "gat": {"a": gat_a, "sigma2": gat_sigma2, "offset": gat_offset},
        "a_ci": list(est.a_ci),
        "b_ci": list(est.b_ci),
        "answered_by": {"frames": "frames", "single-image": "single image", "paired": "paired"}[
            est.method
        ],
        **({"details": est.extra} if est.extra else {}),
        "notes": list(est.notes),
        "seconds": round(seconds, 3),
    }
    if args.json:
        _print_json(report)
    else:
        for note in est.notes:
            print(f"note: {note}", file=sys.stderr)
        print(
            f"a = {est.a:.6g}   b = {est.b:.6g}   (variance = a * mean + b, image units; "
            f"{est.method}, {report['n_level_sets']} level sets)"
        )
        if math.isfinite(est.a_ci[0]):
            print(
                f"95% intervals: a {est.a_ci[0]:.4g} .. {est.a_ci[1]:.4g}, "
                f"b {est.b_ci[0]:.4g} .. {est.b_ci[1]:.4g}"
            )
        print(f"on the [0, 1] scale (min {lo:.6g} .. max {hi:.6g}): a = {a01:.4g}, b = {b01:.4g}")
    return EXIT_OK


def _read_2d_frame(data: Any, index: int) -> Any:
    import numpy as np

    n = int(data.shape[0])
    if not 0 <= index < n:
        raise W2SInputError(f"--frame {index} is outside the stack's {n} frames")
    return np.asarray(data[index])


def cmd_advise(args: argparse.Namespace) -> int:
    from ..analysis.advisor import DEFAULT_LEVELS, advise

    data = _read_frames(args.data, args.axes)
    levels = DEFAULT_LEVELS
    if args.frames:
        try:
            levels = tuple(int(v) for v in args.frames.split(","))
        except ValueError:
            raise W2SInputError(
                f"--frames must be whole numbers like 1,2,4,8, got {args.frames!r}"
            ) from None
    t0 = time.perf_counter()
    adv = advise(
        data,
        target_psnr=args.target_psnr,
        levels=levels,
        reference_frames=args.reference_frames,
        data_range=args.data_range,
    )
    report = adv.to_dict()
    report["answered_by"] = "frames" if adv.method == "frames" else "single image"
    report["seconds"] = round(time.perf_counter() - t0, 3)
    if args.json:
        _print_json(report)
        return EXIT_OK
    for note in adv.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"noise of one frame: a = {adv.a:.4g}, b = {adv.b:.4g} (from the "
        f"{report['answered_by']}); clean range {adv.data_range:.4g}"
    )
    jdsr = any(r.jdsr is not None for r in adv.rows)  # JDSR RMSE against SIM, W2S units
    head = f"{'frames':>7} {'PSNR (dB)':>10} {'95% interval':>16} {'RMSE':>10} {'SSIM':>6}"
    print(head + (f" {'JDSR RMSE':>10}" if jdsr else ""))
    for r in adv.rows:
        cells = f"{r.psnr:10.2f} {r.psnr_low:7.2f} .. {r.psnr_high:5.2f} {r.rmse:10.4g}"
        cells += f" {r.ssim:6.3f}"
        print(f"{r.frames:>7} {cells}" + (f" {r.jdsr['rmse']:10.3f}" if jdsr else ""))
    if adv.target_psnr is not None:
        if adv.frames_needed is None:
            print(f"target {adv.target_psnr:g} dB: out of reach")
        else:
            print(f"target {adv.target_psnr:g} dB: average at least {adv.frames_needed} frames")
    return EXIT_OK


def cmd_estimate_kernel(args: argparse.Namespace) -> int:
    import numpy as np

    from ..analysis.kernel import estimate_kernel

    out = _output_file(args.out, (".npy",), "the kernel", [args.lr_clean, args.hr])
    lr = _read_2d(args.lr_clean, "clean LR image")
    hr = _read_2d(args.hr, "HR image")
    t0 = time.perf_counter()
    est = estimate_kernel(
        lr, hr, size=args.size, upsample=args.upsample, reg=args.reg, lam=args.lam
    )
    seconds = time.perf_counter() - t0
    if out is not None:
        from ..io import save_npy

        save_npy(out, est.kernel.astype(np.float64))
    report = est.to_dict()
    report.update({"out": str(out) if out else None, "seconds": round(seconds, 3)})
    if args.json:
        _print_json(report)
    else:
        print(
            f"FWHM {est.fwhm_px:.2f} px   sigma {est.sigma_px:.2f} px   energy within 6 px "
            f"{est.energy_r6:.1%}, within 12 px {est.energy_r12:.1%}   "
            f"({est.kernel.shape[0]} x {est.kernel.shape[1]} HR px, {est.upsample})"
        )
        if out:
            print(f"kernel -> {out}")
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``w2s estimate-noise``, ``w2s advise`` and ``w2s estimate-kernel`` to ``sub``."""
    p = add_command(
        sub,
        "estimate-noise",
        cmd_estimate_noise,
        "Poisson-Gaussian noise (variance = a * mean + b) of one image, or of a noisy image "
        "against its clean version.",
    )
    p.add_argument(
        "image",
        help="a stack of raw frames (frame differences: the default) or one "
        "2-D image (e.g. avg1.tif)",
    )
    p.add_argument(
        "--single",
        action="store_true",
        help="with a stack: estimate from one frame (--frame) with the single-image "
        "method instead of the frame differences",
    )
    p.add_argument("--frame", type=_at_least(0), default=0, help="the frame used by --single")
    p.add_argument("--axes", default=None, help="axes of the file, e.g. TYX")
    p.add_argument(
        "--clean", default=None, help="clean image of the same view (e.g. avg400): paired estimate"
    )
    p.add_argument(
        "--frames",
        default=None,
        help="with --clean: n,N when IMAGE averages n of the N frames of CLEAN "
        "(W2S: 1,400 for avg1) to correct for the shared frames",
    )
    p.add_argument(
        "--clip",
        default="auto",
        help="clipping levels: auto (detect saturation / zero), none, or LO,HI",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add_command(
        sub,
        "advise",
        cmd_advise,
        "Photon budget: predicted PSNR of the average of N frames against the clean image, "
        "and the frames needed for a target.",
    )
    p.add_argument(
        "data",
        metavar="STACK_OR_IMAGE",
        help="raw frames (T, Y, X) of a still view, or one raw frame",
    )
    p.add_argument("--target-psnr", type=float, default=None, help="the PSNR wanted, in dB")
    p.add_argument(
        "--frames",
        default=None,
        help="numbers of frames to predict for (default 1,2,4,...,256,400)",
    )
    p.add_argument(
        "--reference-frames",
        type=_at_least(2),
        default=None,
        help="the clean reference is the mean of this many frames including the "
        "averaged ones (W2S: 400)",
    )
    p.add_argument(
        "--data-range",
        type=_positive,
        default=None,
        help="the clean image's range (default: estimated from the data)",
    )
    p.add_argument("--axes", default=None, help="axes of the file, e.g. TYX")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add_command(
        sub,
        "estimate-kernel",
        cmd_estimate_kernel,
        "Blur kernel between a clean LR image and its x2 HR (SIM) reference (W2S Eq. 2).",
    )
    p.add_argument("lr_clean", metavar="LR_CLEAN", help="the clean LR image (e.g. avg400)")
    p.add_argument("hr", metavar="HR", help="the HR reference, twice the LR size (SIM)")
    p.add_argument("--size", type=int, default=36, help="kernel size in HR pixels (default 36)")
    p.add_argument(
        "--upsample",
        default="bicubic",
        choices=["bicubic", "bilinear"],
        help="LR upsampling (bicubic as the paper; bilinear as the authors' code)",
    )
    p.add_argument(
        "--reg",
        type=float,
        default=1e-4,
        help="regularisation relative to the data (lambda = reg * N * var(HR))",
    )
    p.add_argument(
        "--lam",
        type=_positive,
        default=None,
        help="absolute lambda in HR units squared (overrides --reg)",
    )
    p.add_argument("--out", default=None, help="write the kernel to this .npy file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
