"""The package's converted weights: TorchScript (``torch.jit.trace``) and ONNX
(``torch.onnx.export``), each written only where it reproduces the eager network."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from .constants import SIZE_MIN, SIZE_STEP
from .samples import run_network

TRACE_SIZE = 48  # traced on another size than the test input, so that baked sizes show
ONNX_OPSET = 18  # torch.onnx's exporter writes 18 and up; bioimageio.core converts to 18 too
ONNX_TOL = 1e-4  # ONNX Runtime against TorchScript (or eager) output, in the network's units
ONNX_NEEDS = ("onnx", "onnxscript", "onnxruntime")


def trace_torchscript(model: Any, x: np.ndarray, y: np.ndarray) -> tuple[Any, np.ndarray, float]:
    """``(traced, output, diff)``: ``model`` traced on the CPU on a :data:`TRACE_SIZE` input,
    its output on ``x`` (the test input, another size) and the largest difference from the eager
    output ``y``; ``traced`` is None where that difference exceeds 1e-4 of ``y``'s range (a
    size baked into the trace)."""
    import warnings

    import torch

    example = torch.rand(1, 1, TRACE_SIZE, TRACE_SIZE)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings: the check below decides
        traced = torch.jit.trace(model, example, check_trace=False)
    y_ts = run_network(traced, x)
    diff = float(np.abs(y_ts - y).max())
    ok = diff <= 1e-4 * max(1.0, float(np.abs(y).max()))
    return (traced if ok else None), y_ts, diff


def onnx_weights(model: Any, path: Path, x: np.ndarray, reference: np.ndarray, scale: int) -> dict:
    """:func:`export_onnx` where its packages are installed, else ``{"ok": False, "reason"}``
    naming the missing ones."""
    missing = onnx_missing()
    if missing:
        return {
            "ok": False,
            "reason": f"{missing} not installed (pip install onnx onnxscript onnxruntime)",
        }
    return export_onnx(model, path, x, reference, scale)


def onnx_missing() -> str:
    """'' when torch.onnx can export and ONNX Runtime can check, else what is missing."""
    import importlib.util

    missing = [m for m in ONNX_NEEDS if importlib.util.find_spec(m) is None]
    return ", ".join(missing)


def _onnx_session(path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1  # small checks; keep it cheap
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def export_onnx(model: Any, path: Path, x: np.ndarray, reference: np.ndarray, scale: int) -> dict:
    """Export ``model`` to ``path`` (opset :data:`ONNX_OPSET`, dynamic batch, y and x) and check
    it with ONNX Runtime: on ``x`` (the test input, in the network's units) against
    ``reference`` (the TorchScript output, else the eager one), and on another size against the
    eager network. The new (``torch.export``) exporter is tried first, then the TorchScript-based
    one (``dynamo=False``). Returns ``{"ok", "exporter", "max_diff", "max_diff_other_size",
    "reason"}``; ``ok`` False leaves no file behind."""
    import contextlib
    import logging
    import warnings

    import torch

    x_t = torch.from_numpy(np.ascontiguousarray(x, np.float32))
    other = (
        np.random.default_rng(1)
        .standard_normal((2, 1, TRACE_SIZE, TRACE_SIZE + SIZE_STEP))
        .astype(np.float32)
    )
    expected_other = run_network(model, other)
    errors: list[str] = []
    result: dict[str, Any] = {
        "ok": False,
        "exporter": None,
        "max_diff": None,
        "max_diff_other_size": None,
        "reason": "",
    }
    quiet = [
        logging.getLogger(n)
        for n in ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx", "onnxscript")
    ]
    for dynamo in (True, False):
        exporter = "torch.export (dynamo=True)" if dynamo else "TorchScript (dynamo=False)"
        path.unlink(missing_ok=True)
        levels = [lg.level for lg in quiet]
        try:
            for lg in quiet:
                lg.setLevel(logging.ERROR)
            with (
                warnings.catch_warnings(),
                torch.inference_mode(False),
                torch.no_grad(),
                contextlib.redirect_stdout(io.StringIO()),
            ):
                warnings.simplefilter("ignore")
                if dynamo:
                    from torch.export import Dim

                    shapes = (
                        {
                            0: Dim("batch", min=1),
                            2: Dim("input_y", min=SIZE_MIN),
                            3: Dim("input_x", min=SIZE_MIN),
                        },
                    )
                    torch.onnx.export(
                        model,
                        (x_t,),
                        str(path),
                        dynamo=True,
                        external_data=False,
                        opset_version=ONNX_OPSET,
                        input_names=["input"],
                        output_names=["output"],
                        dynamic_shapes=shapes,
                        verbose=False,
                    )
                else:
                    axes = {
                        "input": {0: "batch", 2: "y", 3: "x"},
                        "output": {0: "batch", 2: f"y_x{scale}", 3: f"x_x{scale}"},
                    }
                    torch.onnx.export(
                        model,
                        (x_t,),
                        str(path),
                        dynamo=False,
                        opset_version=ONNX_OPSET,
                        input_names=["input"],
                        output_names=["output"],
                        dynamic_axes=axes,
                    )
            session = _onnx_session(path)
            name = session.get_inputs()[0].name
            got = session.run(None, {name: x.astype(np.float32)})[-1]
            got_other = session.run(None, {name: other})[-1]
        except Exception as err:  # an operator that does not export, or does not run in ORT
            first = (str(err).strip().splitlines() or [""])[0][:200]
            errors.append(f"{exporter}: {type(err).__name__}: {first}")
            continue
        finally:
            for lg, lv in zip(quiet, levels):
                lg.setLevel(lv)
        if got.shape != reference.shape or got_other.shape != expected_other.shape:
            errors.append(
                f"{exporter}: output shape {got.shape} / {got_other.shape}, expected "
                f"{reference.shape} / {expected_other.shape}"
            )
            continue
        diff = float(np.abs(got - reference).max())
        diff_other = float(np.abs(got_other - expected_other).max())
        result.update(exporter=exporter, max_diff=diff, max_diff_other_size=diff_other)
        if diff <= ONNX_TOL and diff_other <= ONNX_TOL:
            result["ok"] = True
            return result
        errors.append(
            f"{exporter}: ONNX Runtime differs by {diff:.3g} on the test input and "
            f"{diff_other:.3g} on {other.shape[-2:]} (limit {ONNX_TOL:g})"
        )
    path.unlink(missing_ok=True)
    result["reason"] = "; ".join(errors)
    return result
