"""The paper's claims (and this project's), each checked against the benchmark's tables:
reproduced, not reproduced or n/a, with the numbers as evidence."""

from __future__ import annotations

from collections.abc import Sequence

from .report import Cell, Table

WIDE_MARGIN = 0.75  # largest RMSE ratio, model against its input, that counts as a wide margin


TIE = 1e-6  # relative: closer figures are a tie (the same weights, run with other threads)


def _clearly_less(a: float, b: float) -> bool:
    """``a < b`` by more than float noise: equal results (the same network computed with another
    number of threads sums in another order) are not a win."""
    return a < b - TIE * max(abs(a), abs(b))


def check_claims(t1, t2, t3, denoisers, sr, jdsr, top) -> list[dict]:
    """The paper's claims (method facts section 8), each reproduced, not reproduced or n/a."""
    claims = []

    def claim(text: str, ok: bool | None, evidence: str) -> None:
        status = "n/a" if ok is None else ("reproduced" if ok else "not reproduced")
        claims.append({"claim": text, "status": status, "evidence": evidence})

    nets = [s for s in sr if s != "bicubic" and t2.cell("noise-free LR", s).rmse is not None]
    drops = []
    for s in nets:
        clean = t2.cell("noise-free LR", s)
        worse = [t2.cell(d, s) for d in denoisers if t2.cell(d, s).rmse is not None]
        if worse:
            drops.append((s, clean.ssim, max(w.ssim for w in worse)))
    claim(
        "SR networks lose quality on noisy or denoised input compared with noise-free input",
        all(_clearly_less(b, a) for _, a, b in drops) if drops else None,
        "; ".join(f"{s}: SSIM {a:.3f} clean vs {b:.3f} best denoised" for s, a, b in drops)
        or "no SR weights",
    )
    best_dn = [(d, t1.cell(d, top).rmse) for d in denoisers if t1.cell(d, top).rmse is not None]
    best_dn_name = min(best_dn, key=lambda x: x[1])[0] if best_dn else None
    if best_dn and nets:
        best_rmse = min(best_dn, key=lambda x: x[1])[0]
        s0 = nets[0]
        after = [(d, t2.cell(d, s0).rmse) for d, _ in best_dn if t2.cell(d, s0).rmse is not None]
        best_after = min(after, key=lambda x: x[1])[0] if after else None
        claim(
            "The denoiser with the best RMSE is not necessarily the best first stage for SR",
            best_after is not None and best_after != best_rmse,
            f"best denoiser {best_rmse}, best first stage before {s0}: {best_after}",
        )
    else:
        claim(
            "The denoiser with the best RMSE is not necessarily the best first stage for SR",
            None,
            "needs trained denoisers and SR networks",
        )
    nets_j = [j for j in jdsr if j != "care"]  # CARE is the baseline, not one of the paper's
    seq_rows = [r for r in t3.rows if "+" in r]
    ok, evidence = _beats_at_every_level(t3, nets_j, seq_rows)
    claim(
        "An end-to-end JDSR network beats every sequential denoiser + SR, at every noise level, "
        "in RMSE and SSIM",
        ok,
        evidence,
    )
    robust = [
        (s, t2.cell(best_dn_name, s).rmse)
        for s in nets
        if s not in ("epsr", "esrgan")
        and best_dn_name
        and t2.cell(best_dn_name, s).rmse is not None
    ]
    claim(
        "RCAN is the most robust SR network on denoised input",
        (min(robust, key=lambda x: x[1])[0] == "rcan") if len(robust) > 1 else None,
        ", ".join(f"{s} {v:.3f}" for s, v in robust) or "needs several trained SR networks",
    )
    gan = [s for s in ("epsr", "esrgan") if s in nets]
    dist = [s for s in nets if s not in ("epsr", "esrgan")]
    claim(
        "GAN-trained SR (EPSR, ESRGAN) loses SSIM",
        (
            _clearly_less(
                max(t2.cell("noise-free LR", g).ssim for g in gan),
                min(t2.cell("noise-free LR", d).ssim for d in dist),
            )
        )
        if gan and dist
        else None,
        "needs both GAN-trained and distortion-based SR weights"
        if not (gan and dist)
        else ", ".join(f"{s} {t2.cell('noise-free LR', s).ssim:.3f}" for s in nets),
    )
    ok, evidence = _beats_at_every_level(t3, ["jdsr"], ["care"])
    claim(
        "(this project) The JDSR model beats the CARE baseline trained with the same command "
        "and budget, at every noise level, in RMSE and SSIM",
        ok,
        evidence,
    )
    from ..models import list_models

    deep = [d for d in denoisers if d in list_models("denoise")]
    classical = [d for d in ("vst-nlm", "vst-bm3d") if d in denoisers]
    ok, evidence = _beats_at_every_level(t1, deep, classical)
    claim(
        "(this project) A deep denoiser beats VST+NLM and VST+BM3D (where installed) at every "
        "noise level, in RMSE and SSIM",
        ok,
        evidence,
    )
    ok, evidence = _wide_margins(t1, t2, t3, deep, nets, jdsr, top)
    claim(
        f"(this project) Every trained model beats its input by a wide margin: RMSE at most "
        f"{WIDE_MARGIN:g} x that of its input (the noisy image for a denoiser, bicubic "
        f"upsampling for SR and JDSR, at {top}) and a higher SSIM",
        ok,
        evidence,
    )
    return claims


def _wide_margins(
    t1: Table,
    t2: Table,
    t3: Table,
    deep: Sequence[str],
    nets: Sequence[str],
    jdsr: Sequence[str],
    top: str,
) -> tuple[bool | None, str]:
    """Each trained model against its input: denoisers at every level (Table 1), SR networks
    on the noise-free LR and JDSR models at ``top`` against bicubic upsampling (Table 2)."""
    pairs: dict[str, list[tuple[Cell, Cell]]] = {}
    for d in deep:
        pairs[d] = [(t1.cell(d, lv), t1.cell("noisy input", lv)) for lv in t1.cols]
    for s in nets:
        pairs[s] = [(t2.cell("noise-free LR", s), t2.cell("noise-free LR", "bicubic"))]
    for j in jdsr:
        pairs[j] = [(t3.cell(j, top), t2.cell("noisy LR", "bicubic"))]
    verdicts, parts = [], []
    for name, cells in pairs.items():
        cells = [(a, b) for a, b in cells if a.rmse is not None and b.rmse]
        if not cells:
            continue
        worst = max(a.rmse / b.rmse for a, b in cells)
        ok = worst <= WIDE_MARGIN and all(_clearly_less(b.ssim, a.ssim) for a, b in cells)
        verdicts.append(ok)
        parts.append(
            f"{name}: RMSE ratio {worst:.2f} at worst" + ("" if ok else " (not a wide margin)")
        )
    if not verdicts:
        return None, "needs trained models and their inputs' scores"
    return all(verdicts), "; ".join(parts)


def _beats_at_every_level(
    t3: Table, ours: Sequence[str], theirs: Sequence[str]
) -> tuple[bool | None, str]:
    """Whether the best of ``ours`` beats the best of ``theirs`` in RMSE and SSIM at each level."""
    verdicts, parts = [], []
    for level in t3.cols:
        a = [(r, t3.cell(r, level)) for r in ours if t3.cell(r, level).rmse is not None]
        b = [(r, t3.cell(r, level)) for r in theirs if t3.cell(r, level).rmse is not None]
        if not a or not b:
            continue
        best_a = min(a, key=lambda x: x[1].rmse)
        best_b_rmse = min(b, key=lambda x: x[1].rmse)
        best_b_ssim = max(b, key=lambda x: x[1].ssim)
        win = _clearly_less(best_a[1].rmse, best_b_rmse[1].rmse) and _clearly_less(
            best_b_ssim[1].ssim, max(c.ssim for _, c in a)
        )
        verdicts.append(win)
        parts.append(
            f"{level}: {best_a[0]} {best_a[1].text()} vs {best_b_rmse[0]} "
            f"{best_b_rmse[1].text()}"
            + (
                f" (best SSIM {best_b_ssim[0]} {best_b_ssim[1].ssim:.3f})"
                if best_b_ssim[0] != best_b_rmse[0]
                else ""
            )
        )
    if not verdicts:
        return None, "needs both kinds of results"
    return all(verdicts), "; ".join(parts)
