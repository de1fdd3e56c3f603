"""``w2s demo``: the main job end to end on the embedded sample.

Steps: simulate a widefield stack with its SIM reference (the embedded default, see
:mod:`napari_w2s.simulate`), write it as OME-TIFF, make the W2S noise levels by frame averaging
and measure every level against the clean average; estimate the noise (single-image and paired)
and the blur kernel against the truth; restore avg1 x2 with classical, sequential
(``dncnn+rcan``, ``ridnet+rcan``) and joint (``care``, ``jdsr-rcan``, ``jdsr``) methods, each with
the model trained for avg1 where one is shipped, measure each against the SIM reference in W2S
units, and draw a figure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import W2SInputError
from .io.atomic import save_figure, write_text
from .io.folders import check_output_dir
from .io.tiff import save_npy


def _restore_step(out: Path, avg1_file: Path, avg1, clean, sim, say) -> list[dict]:
    """x2 restorations of avg1 (bicubic, and every shipped JDSR / sequential model), vs SIM:
    ``w2s restore``'s job (:func:`napari_w2s.restore.restore_file`), each result read back."""
    from .analysis.metrics import w2s_metrics
    from .io import read_stack
    from .restore.files import RestoreOptions, restore_file
    from .restore.zoo import shipped

    names = {c["name"] for c in shipped()}
    methods = ["bicubic", "pure-let+bicubic"]
    if "dncnn" in names:
        methods.append("dncnn+bicubic")
    methods += [f"{d}+rcan" for d in ("dncnn", "ridnet") if {d, "rcan"} <= names]
    methods += [m for m in ("care", "jdsr-rcan", "jdsr") if m in names]
    rows = []
    for method in methods:
        name = f"avg1_{method.replace('+', '_')}.ome.tif"
        options = RestoreOptions(method=method, noise_level="avg1")  # per-level model if shipped
        done = restore_file(avg1_file, out / name, options)
        result = np.asarray(read_stack(done.path).data)
        m = w2s_metrics(result, sim, clean)
        rows.append(
            {"method": method, "rmse": m["rmse"], "ssim": m["ssim"], "file": name, "image": result}
        )
    if not names:
        say("note: no trained weights are shipped; only classical methods were run")
    _figure(out / "demo_figure.png", avg1, clean, sim, rows)
    for r in rows:
        del r["image"]
    return rows


def _figure(path: Path, avg1, clean, sim, rows: list[dict]) -> None:
    """Crops of the input, the references and every restoration, side by side."""
    from matplotlib.figure import Figure

    n = min(96, avg1.shape[0] // 2)
    y0 = (avg1.shape[0] - n) // 2
    lr, hr = slice(y0, y0 + n), slice(2 * y0, 2 * (y0 + n))
    panels = [
        ("avg1 (input)", avg1[lr, lr]),
        ("clean avg400", clean[lr, lr]),
        ("SIM reference", sim[hr, hr]),
    ]
    panels += [(f"{r['method']}\nRMSE {r['rmse']:.3f}", r["image"][hr, hr]) for r in rows]
    fig = Figure(figsize=(2.2 * len(panels), 2.6), dpi=100, layout="constrained")
    for ax, (title, img) in zip(fig.subplots(1, len(panels)), panels, strict=True):
        lo, hi = np.percentile(img, [0.5, 99.8])
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    save_figure(fig, path)


def run_demo(
    out: Path,
    size: int = 256,
    frames: int = 400,
    seed: int | None = None,
    log: Callable[[str], None] | None = print,
) -> dict:
    """Run the demo into folder ``out``; returns the report (also written as JSON)."""
    from .analysis.metrics import compare, w2s_metrics
    from .averaging import noise_levels
    from .io import write_ome_tiff
    from .simulate import SAMPLE_SEED, sample

    if size < 16 or size % 2:
        raise W2SInputError(f"--size {size}: use an even size of at least 16 pixels")
    if frames < 2:
        raise W2SInputError(f"--frames {frames}: the demo needs at least 2 frames")
    say = log or (lambda _msg: None)
    t0 = time.perf_counter()
    check_output_dir(out)  # a file in the way or a read-only folder: one clear line
    s = sample(size=size, frames=frames, seed=SAMPLE_SEED if seed is None else seed)
    seed = int(s.view.seed_sequence.entropy)
    px = float(s.pixel_size_um)
    truth = s.view.truth_record()
    stack_path = write_ome_tiff(
        out / "widefield.ome.tif",
        s.stack,
        "TYX",
        (px, px),
        {"method": "napari-w2s simulator", "seed": seed},
        name="widefield",
    )
    sim_path = write_ome_tiff(
        out / "sim.ome.tif",
        s.sim,
        "YX",
        (px / 2, px / 2),
        {"method": "napari-w2s simulator, SIM reference", "seed": seed},
        name="sim",
    )
    write_text(out / "truth.json", json.dumps(truth, indent=2, default=str))
    noise = truth["noise"]
    say(f"simulated {frames} x {size} x {size} widefield stack -> {stack_path}")
    say(
        f"  true noise of one frame: variance = {noise['a_adu']:.2f} * mean {noise['b_adu']:+.1f}"
        f" ADU^2 (a = {noise['a_unit']:.4f} on the [0, 1] scale)"
    )
    say(
        f"  PSF FWHM: widefield {truth['psf_fwhm_nm']['widefield']:.0f} nm, "
        f"SIM {truth['psf_fwhm_nm']['sim']:.0f} nm"
    )
    say(f"SIM reference {2 * size} x {2 * size} -> {sim_path}")

    levels = noise_levels(s.stack)
    for note in levels.notes:
        say(f"note: {note}")
    clean = levels[levels.clean]
    rows = []
    for name, image in levels.images.items():
        write_ome_tiff(
            out / f"{name}.tif",
            image,
            "YX",
            (px, px),
            {"method": "frame-average", "level": name, "source": str(stack_path)},
        )
        if name == levels.clean:
            continue
        plain = compare(image, clean)
        w2s = w2s_metrics(image, clean, clean)
        rows.append(
            {
                "level": name,
                "psnr": plain["psnr"],
                "ssim": plain["ssim"],
                "rmse_w2s": w2s["rmse"],
                "ssim_w2s": w2s["ssim"],
            }
        )
    # noise: single-image (Foi) and paired (against the clean average), vs the truth
    from .analysis import estimate_kernel, estimate_noise, estimate_noise_paired, kernel_stats

    avg1 = levels["avg1"]
    noise_rows = {"true": {"a": noise["a_adu"], "b": noise["b_adu"]}}
    for name, estimate in (
        ("single_image", lambda: estimate_noise(avg1)),
        ("paired", lambda: estimate_noise_paired(avg1, clean, frames=(1, s.stack.shape[0]))),
    ):
        try:
            e = estimate()
            noise_rows[name] = {"a": e.a, "b": e.b}
        except W2SInputError as err:  # a tiny demo image may not have enough smooth pixels
            noise_rows[name] = {"a": float("nan"), "b": float("nan"), "note": str(err)}
    # blur kernel between the clean widefield image and the SIM reference (paper Eq. 2)
    kernel = estimate_kernel(clean, s.sim)
    true_k = kernel_stats(s.view.kernel)
    kernel_row = {
        "fwhm_px": kernel.fwhm_px,
        "true_fwhm_px": true_k["fwhm_px"],
        "energy_r6": kernel.energy_r6,
        "energy_r12": kernel.energy_r12,
        "correlation_with_truth": float(
            np.corrcoef(kernel.kernel.ravel(), s.view.kernel.ravel())[0, 1]
        ),
    }
    save_npy(out / "kernel.npy", kernel.kernel)
    restore_rows = _restore_step(out, out / "avg1.tif", avg1, clean, s.sim, say)

    report = {
        "out": str(out),
        "size": size,
        "frames": frames,
        "seed": seed,
        "truth": {"noise": noise, "psf_fwhm_nm": truth["psf_fwhm_nm"]},
        "levels_vs_clean": rows,
        "noise_estimates": noise_rows,
        "kernel": kernel_row,
        "restoration_avg1_vs_sim": restore_rows,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    say("")
    say(f"{'level':>8} {'PSNR dB':>8} {'SSIM':>6} {'RMSE(z)':>8}   vs the clean {levels.clean}")
    for r in rows:
        say(f"{r['level']:>8} {r['psnr']:8.2f} {r['ssim']:6.3f} {r['rmse_w2s']:8.4f}")
    say("")
    say("noise of avg1 (variance = a * mean + b, ADU):   a        b")
    for name, r in noise_rows.items():
        say(f"  {name:<14} {r['a']:>26.3f} {r['b']:>8.1f}  {r.get('note', '')}")
    say(
        f"blur kernel (clean widefield -> SIM): FWHM {kernel.fwhm_px:.2f} HR px "
        f"(true {true_k['fwhm_px']:.2f}), correlation with the true kernel "
        f"{kernel_row['correlation_with_truth']:.3f}"
    )
    if restore_rows:
        say("")
        say(f"{'restore avg1 -> x2':<22} {'RMSE(z)':>8} {'SSIM':>6}   vs SIM, W2S units")
        for r in restore_rows:
            say(f"{r['method']:<22} {r['rmse']:8.4f} {r['ssim']:6.3f}   -> {r['file']}")
    write_text(out / "demo_report.json", json.dumps(report, indent=2, default=float))
    say(f"\nwritten to {out} in {report['seconds']:.1f} s (report: demo_report.json)")
    return report
