"""Which device runs a model, and how (precision, memory layout).

``auto`` picks CUDA, then Apple MPS, then the CPU. On CUDA, inference and training use automatic
mixed precision (bfloat16 where the GPU supports it, else float16 with loss scaling in training);
on the CPU, float32 with channels-last memory layout, which measured 1.4x faster than contiguous
on the build machine. MPS runs float32.

``precision`` (:data:`PRECISIONS`) overrides that: ``float32`` everywhere (no autocast, also on
CUDA), or ``bfloat16`` on a CUDA GPU that supports it or on a CPU with native bfloat16
(AVX512-BF16 or AMX: oneDNN then runs the convolutions at twice float32's multiply rate; on other
CPUs bfloat16 is emulated and many times slower, so it is refused). bfloat16 keeps 8 bits of
mantissa: the result differs from float32 by about 1 % of its standard deviation (RMS), and the
RMSE against the truth by at most 0.1 % (``benchmarks/bench_precision.py``), but it is not
bit-for-bit what float32 gives.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..errors import W2SInputError

DEVICES = ("auto", "cpu", "cuda", "mps")


def available_devices() -> list[str]:
    """Devices this machine can run, best first (``cpu`` is always last)."""
    import torch

    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return [*found, "cpu"]


def choose_device(preference: str = "auto") -> Any:
    """A ``torch.device`` for ``preference`` (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``).

    Asking for a device the machine does not have is a user error with a clear message.
    """
    import torch

    pref = (preference or "auto").strip().lower()
    available = available_devices()
    if pref == "auto":
        return torch.device(available[0])
    kind, sep, index = pref.partition(":")
    if kind not in DEVICES or (sep and not (kind == "cuda" and index.isdigit())):
        raise W2SInputError(
            f"unknown device {preference!r}: use one of {', '.join(DEVICES)}"
            " (or cuda:N, N = 0, 1, ...)"
        )
    if kind not in available:
        raise W2SInputError(
            f"device {preference!r} is not available on this machine (available: "
            f"{', '.join(available)})"
        )
    if sep:
        if int(index) >= torch.cuda.device_count():
            raise W2SInputError(
                f"device {preference!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    return torch.device(pref)


PRECISIONS = ("auto", "float32", "bfloat16")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX tiles)."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def parse_precision(precision: str | None) -> str:
    """``precision`` checked against :data:`PRECISIONS` (``None``: ``auto``)."""
    p = (precision or "auto").strip().lower().replace("bf16", "bfloat16").replace("fp32", "float32")
    if p not in PRECISIONS:
        raise W2SInputError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    return p


def check_precision(device: Any, precision: str) -> None:
    """A clear message when ``device`` cannot run ``precision`` at speed."""
    import torch

    if precision != "bfloat16":
        return
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise W2SInputError(
            "--precision bfloat16: this GPU does not support bfloat16; use auto (float16 "
            "autocast) or float32"
        )
    if device.type == "mps":
        raise W2SInputError("--precision bfloat16 runs on CUDA or the CPU, not on Apple MPS")
    if device.type == "cpu" and not cpu_has_native_bf16():
        raise W2SInputError(
            "--precision bfloat16: this CPU has no native bfloat16 (AVX512-BF16 or AMX), where "
            "it runs many times slower than float32; use float32"
        )


def amp_dtype(device: Any, precision: str = "auto") -> Any | None:
    """The autocast dtype for ``device`` and ``precision``: ``auto`` is bf16 or fp16 on CUDA and
    None (float32) elsewhere; ``float32`` is None; ``bfloat16`` is bf16."""
    import torch

    if precision == "float32":
        return None
    if precision == "bfloat16":
        return torch.bfloat16
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(
    device: Any, enabled: bool = True, precision: str = "auto"
) -> contextlib.AbstractContextManager:
    """Mixed precision on CUDA, or bfloat16 where asked for (a no-op context otherwise)."""
    import torch

    dtype = amp_dtype(device, precision)
    if not enabled or dtype is None or device.type not in ("cuda", "cpu"):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def prepare_module(module: Any, device: Any, probe: int = 96) -> Any:
    """Move a model to ``device`` in its faster memory layout.

    On CUDA: channels-last. On the CPU, channels-last is faster for most architectures (1.3-2x
    measured) but slower for some with dense concatenations, so both layouts are timed on a
    small ``probe x probe`` input (alternating, best of two) and the faster one is kept
    (``module.w2s_channels_last``).

    A module in eval mode (inference) first gets its BatchNorms folded into the convolutions
    before them (:func:`.fold.fold_batchnorm`; DnCNN: 1.9x); their count is
    ``module.w2s_folded_bn``.
    """
    import time

    import torch

    from .fold import fold_batchnorm

    module.w2s_folded_bn = fold_batchnorm(module)
    module = module.to(device)
    use_cl = device.type == "cuda"
    if device.type == "cpu" and probe:
        x = torch.rand(1, 1, probe, probe)
        times: dict[bool, list[float]] = {True: [], False: []}
        # the two layouts alternate, best of two each: on a busy machine one timing of each
        # picked the layout by the other jobs' time slices
        for r in range(3):
            for cl in (True, False) if r % 2 == 0 else (False, True):
                fmt = torch.channels_last if cl else torch.contiguous_format
                m = module.to(memory_format=fmt)
                xi = x.contiguous(memory_format=fmt)
                with torch.inference_mode():
                    t0 = time.perf_counter()
                    m(xi)
                if r:  # the first round is the warm-up
                    times[cl].append(time.perf_counter() - t0)
        use_cl = min(times[True]) <= min(times[False])
    module = module.to(memory_format=torch.channels_last if use_cl else torch.contiguous_format)
    module.w2s_channels_last = use_cl
    return module


def describe(device: Any, precision: str = "auto") -> str:
    """A short human description, e.g. ``cuda (NVIDIA H100, bf16 autocast)`` or ``cpu (2 threads)``."""
    import torch

    dtype = amp_dtype(device, precision)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        if dtype is None:
            return f"cuda ({name}, float32)"
        return f"cuda ({name}, {'bf16' if dtype == torch.bfloat16 else 'fp16'} autocast)"
    if device.type == "mps":
        return "mps (Apple GPU, float32)"
    kind = "bfloat16 autocast" if dtype is not None else "float32"
    return f"cpu ({torch.get_num_threads()} threads, {kind} channels-last)"
