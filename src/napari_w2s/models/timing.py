"""Measure the CPU forward time of the registered models (``python -m napari_w2s.models.timing``).

The measurement of ``docs/models.md``: one ``(1, 1, size, size)`` float32 input, the model in
eval mode, channels_last memory format, ``torch.inference_mode``, a fixed number of threads;
one warm-up pass, then the best (minimum) of ``repeats`` timed passes: the minimum is the
figure least disturbed by other processes on a shared machine.
"""

from __future__ import annotations

import argparse
import time

from .registry import build_model, list_models, parameter_count


def measure_forward(
    name: str,
    config="compact",
    size: int = 256,
    threads: int = 2,
    repeats: int = 3,
    channels_last: bool = True,
) -> float:
    """Best-of-``repeats`` seconds of one CPU forward pass on a ``size`` x ``size`` grey image."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        model = build_model(name, config).eval()
        x = torch.rand(1, 1, size, size)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        times = []
        with torch.inference_mode():
            model(x)
            for _ in range(repeats):
                start = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - start)
        return min(times)
    finally:
        torch.set_num_threads(previous)


def count_macs(name: str, config="compact", size: int = 256) -> int:
    """Multiply-accumulates of the convolutions and linear layers for one ``size`` x ``size`` input.

    Counted from the layer shapes on the meta device (nothing is computed): attention,
    covariance pooling, interpolation and element-wise operations are not included.
    """
    import torch
    from torch import nn

    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * (module.in_channels // module.groups) * k
        elif isinstance(module, nn.ConvTranspose2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += inputs[0].numel() * (module.out_channels // module.groups) * k
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features

    with torch.device("meta"):
        model = build_model(name, config).eval()
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                module.register_forward_hook(hook)
        # gradients on: the layers as built (RRDB's inference form calls the convolutions'
        # weights directly, which these hooks would not see; the operations are the same)
        with torch.enable_grad():
            model(torch.empty(1, 1, size, size))
    return total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="models (default: every registered model)")
    parser.add_argument("--config", default="compact")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    header = f"{'name':12s} {'params':>10s} {'GMAC':>7s} {'s (cl)':>8s} {'s (nchw)':>8s}"
    print(
        f"{header}  ({args.config}, {args.size} x {args.size}, {args.threads} threads, fp32, "
        f"inference_mode, best of {args.repeats})"
    )
    for name in args.names or list_models():
        common = (name, args.config, args.size, args.threads, args.repeats)
        cl = measure_forward(*common, channels_last=True)
        nchw = measure_forward(*common, channels_last=False)
        macs = count_macs(name, args.config, args.size) / 1e9
        params = parameter_count(name, args.config)
        print(f"{name:12s} {params:10d} {macs:7.2f} {cl:8.3f} {nchw:8.3f}", flush=True)


if __name__ == "__main__":
    main()
