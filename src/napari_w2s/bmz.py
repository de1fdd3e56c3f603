"""BioImage Model Zoo (format 0.5) packages: export this project's models, run compatible ones.

Export (:func:`export_package`, ``w2s export-bmz``) writes a folder or ``.zip`` that Fiji
(deepImageJ), ilastik, QuPath and ``bioimageio.core`` run:

* ``weights.pt``: the ``pytorch_state_dict`` weights, with the architecture's source in the
  package (``architecture.py``: one self-contained file, torch only) and its keyword arguments;
* ``weights_torchscript.pt``: the same network traced with ``torch.jit.trace`` on the CPU (what
  QuPath needs), checked against the eager network on another size before it is written;
* ``weights.onnx``: the same network exported by ``torch.onnx.export`` (opset 18, dynamic
  batch, y and x), written only where the operators export and ONNX Runtime reproduces the
  TorchScript output on the test input (and the eager one on another size) within 1e-4 in the
  network's units; needs ``onnx``, ``onnxscript`` and ``onnxruntime`` (left out, with a note,
  when they are not installed);
* ``test_input.npy`` / ``test_output.npy``: a view made by the randomised simulator
  (:func:`napari_w2s.simulate.randomised.make_view`) and the network's output on it, with the
  package's own pre- and post-processing (what ``bioimageio test`` compares);
* ``sample_input.tif`` / ``sample_output.tif``: the same two images, for display;
* ``cover.png`` (input | output), ``README.md`` (the model card's validation figures, how the
  normalisation is expressed, the W2S citation) and ``rdf.yaml`` (the description).

Axes: ``batch, channel (1), y, x``; the output's ``y`` and ``x`` are defined relative to the
input's (``size`` references the input axis; ``scale`` 0.5 for a x2 model: half the pixel
size, twice the pixels).

Normalisation, and what the format can say:

* a card with a fixed map (``zscore``: every shipped model) is exact in BMZ: preprocessing
  ``fixed_zero_mean_unit_variance`` (mean, std) and postprocessing ``scale_linear`` (gain =
  std, offset = mean) give the output in the input's units, as ``w2s restore`` does;
* a per-image map (``percentile``, this project's default for new training) is preprocessing
  ``scale_range`` with the card's percentiles (per image, over y and x), which BMZ computes as
  napari-w2s does (``eps`` 1e-6 aside). Its inverse cannot be written: BMZ's postprocessing
  has no "multiply by the input's percentile range and add its low percentile" (``scale_range``
  with ``reference_tensor`` normalises *by* the reference, it does not undo it, and
  ``scale_mean_variance`` matches mean and variance, which is another map). Such packages
  output **normalised units** (about 0 for the background, 1 for bright structures); the README
  says so. napari-w2s running the same package maps back to the input's units.

Import (:func:`load_package`, ``w2s restore --weights PACKAGE``) runs a compatible package
through the project's tiled engine: 2-D, one channel, same size or x2 output, preprocessing
that is one of the maps above (or none), and either ``pytorch_state_dict`` weights of one of this
project's architectures (built from this project's code: the package's Python file is never
executed) or ``torchscript`` weights; ``onnx`` weights are not run here (an ONNX-only package is
refused). Anything else is refused with one line saying why.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import W2SInputError

FORMAT_VERSION = "0.5.4"
RDF_NAMES = ("rdf.yaml", "bioimageio.yaml")
SIZE_MIN, SIZE_STEP = 32, 8  # the engine pads to multiples of 8 (restore.engine.SIZE_MULTIPLE)
TEST_SIZE = 64  # LR size of the test tensors
TRACE_SIZE = 48  # traced on another size than the test input, so that baked sizes show
ONNX_OPSET = 18  # torch.onnx's exporter writes 18 and up; bioimageio.core converts to 18 too
ONNX_TOL = 1e-4  # ONNX Runtime against TorchScript (or eager) output, in the network's units
ONNX_NEEDS = ("onnx", "onnxscript", "onnxruntime")
CITATION = {
    "text": "Zhou R., El Helou M., Sage D., Laroche T., Seitz A., Süsstrunk S. W2S: Microscopy "
            "Data with Joint Denoising and Super-Resolution for Widefield to SIM Mapping. "
            "ECCV 2020 Workshops (Lecture Notes in Computer Science 12535).",
    "doi": "10.1007/978-3-030-66415-2_31",
}
CITATION_URL = "https://arxiv.org/abs/2003.05961"
DESCRIPTION = {
    "denoise": "denoises a widefield fluorescence image (same size)",
    "sr": "super-resolves a clean widefield image x2 towards SIM",
    "jdsr": "denoises and super-resolves a widefield fluorescence image x2 towards SIM "
            "(joint denoising and super-resolution, W2S)",
}


# ------------------------------------------------------------------------------------ export
def architecture_source(architecture: str) -> str:
    """One self-contained Python file defining ``architecture`` (torch only, no package
    imports): the configurations, the shared blocks and the architecture's module, with the
    relative imports removed."""
    from .models.registry import ARCHITECTURES

    if architecture not in ARCHITECTURES:
        raise W2SInputError(f"unknown architecture {architecture!r}")
    here = Path(__file__).resolve().parent / "models"
    parts = []
    for name in ("configs", "_blocks", ARCHITECTURES[architecture]):
        text = (here / f"{name}.py").read_text()
        kept = [line for line in text.splitlines()
                if not re.match(r"\s*from \.\S* import ", line)
                and not line.startswith("from __future__")]  # fmt: skip
        parts.append(f"# ---- napari_w2s/models/{name}.py\n" + "\n".join(kept))
    head = (f'"""{architecture} from napari-w2s, in one '
            'file for the BioImage Model Zoo: configurations, shared blocks and the '
            'architecture, BSD-3-Clause."""\n\nfrom __future__ import annotations\n\n')  # fmt: skip
    return head + "\n\n".join(parts) + "\n"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _resolve_source(source: str) -> Path:
    """A method name (its shipped noise-blind weights) or a ``.safetensors`` file with its card."""
    from .restore.zoo import find_weights

    path = Path(source)
    if path.suffix in (".safetensors", ".pt", ".pth") or path.exists():
        if not path.is_file():
            raise W2SInputError(f"{source}: weights file not found")
        if path.suffix != ".safetensors":
            raise W2SInputError(f"{source}: export needs a .safetensors file with its .json "
                                "card (w2s train writes both)")  # fmt: skip
        return path
    from .models import get_spec

    get_spec(source)  # an unknown name: one line listing the valid ones
    return find_weights(source.strip().lower())


def processing(norm: dict) -> tuple[list[dict], list[dict], bool]:
    """BMZ pre- and postprocessing of a card's normalisation, and whether the output is in the
    input's units (exact inverse) or in normalised units."""
    from .normalisation import spec_of

    norm = spec_of(norm)
    pre: list[dict] = [{"id": "ensure_dtype", "kwargs": {"dtype": "float32"}}]
    post: list[dict] = []
    if norm["kind"] == "zscore":
        mean, std = float(norm["mean"]), float(norm["std"])
        pre.append({"id": "fixed_zero_mean_unit_variance", "kwargs": {"mean": mean, "std": std}})
        post.append({"id": "scale_linear", "kwargs": {"gain": std, "offset": mean}})
        exact = True
    else:
        pre.append({"id": "scale_range", "kwargs": {
            "axes": ["y", "x"], "min_percentile": float(norm["low"]),
            "max_percentile": float(norm["high"]), "eps": 1e-6}})  # fmt: skip
        exact = False
    post.append({"id": "ensure_dtype", "kwargs": {"dtype": "float32"}})
    return pre, post, exact


def _normalise(x: np.ndarray, norm: dict) -> tuple[np.ndarray, Any]:
    """``x`` in the network's units as BMZ computes it, and the inverse (or None)."""
    from .normalisation import spec_of

    norm = spec_of(norm)
    x = x.astype(np.float32)
    if norm["kind"] == "zscore":
        mean, std = np.float32(norm["mean"]), np.float32(norm["std"])
        return (x - mean) / std, lambda y: (y * std + mean).astype(np.float32)
    lo, hi = np.percentile(x, [float(norm["low"]), float(norm["high"])])
    return ((x - np.float32(lo)) / np.float32(hi - lo + 1e-6)).astype(np.float32), None


def _test_image(card: Any, seed: int, size: int) -> np.ndarray:
    """A view of the randomised simulator: noisy (avg1) for denoisers and joint models, the
    clean average for SR models; for a fixed-map card, scaled to the training data's mean and
    standard deviation (the fixed map is only meaningful there)."""
    from .normalisation import spec_of
    from .simulate.randomised import draw_settings, make_view

    rng = np.random.default_rng(seed)
    view = make_view(draw_settings(rng), size, seed, levels=(1,))
    image = view.clean if card.task == "sr" else view.levels["avg1"]
    image = np.asarray(image, np.float32)
    norm = spec_of(card.normalisation)
    if norm["kind"] == "zscore":
        image = ((image - image.mean()) / max(float(image.std()), 1e-6) * float(norm["std"])
                 + float(norm["mean"])).astype(np.float32)  # fmt: skip
    return image


def _run(model: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        y = model(torch.from_numpy(x))
        y = y[-1] if isinstance(y, (list, tuple)) else y
    return y.float().numpy()


def _cover(inp: np.ndarray, out: np.ndarray, path: Path) -> None:
    """Input (nearest-upsampled to the output size) | output, 2:1, each scaled to its own
    0.5-99.5 percentiles."""
    import matplotlib.image

    s = out.shape[0] // inp.shape[0]
    big = np.kron(inp, np.ones((s, s), np.float32))

    def scaled(a: np.ndarray) -> np.ndarray:
        lo, hi = np.percentile(a, [0.5, 99.5])
        return np.clip((a - lo) / max(hi - lo, 1e-12), 0, 1)

    pair = np.concatenate([scaled(big), scaled(out)], axis=1)
    reps = max(1, 256 // pair.shape[0])
    pair = np.kron(pair, np.ones((reps, reps)))
    matplotlib.image.imsave(path, pair, cmap="gray", vmin=0, vmax=1)


def _readme(card: Any, exact: bool, weights_name: str, more_weights: str, seed: int) -> str:
    from . import __version__
    from .normalisation import describe, spec_of

    norm = spec_of(card.normalisation)
    m = card.metrics or {}
    levels_m = [(lv, v) for lv, v in m.items() if isinstance(v, dict) and "rmse" in v]
    with_input = any("rmse_input" in v for _, v in levels_m)
    rows = [f"| {lv} | {v['rmse']:.4f} | {v.get('ssim', float('nan')):.4f} |"
            + (f" {v.get('rmse_input', float('nan')):.4f} |" if with_input else "")
            for lv, v in levels_m]  # fmt: skip
    head = "| input level | RMSE | SSIM |" + (" RMSE of the input |" if with_input else "")
    rule = "|---|---|---|" + ("---|" if with_input else "")
    table = "\n".join([head, rule, *rows]) if rows else "No validation figures in the card."
    t = card.training or {}
    units = ("in the input's units (the postprocessing `scale_linear` undoes the fixed "
             "normalisation exactly)" if exact else
             "in **normalised units** (0 about the background, 1 about bright structures): "
             "the per-image map cannot be undone in the BioImage Model Zoo format (see below)")  # fmt: skip
    scale = (f"x{card.scale} (output axes `y`, `x`: twice the input's size, half its pixel "
             "size)" if card.scale > 1 else "same size as the input")  # fmt: skip
    if exact:
        pre_text = "`fixed_zero_mean_unit_variance`"
        post_text = ("Postprocessing `scale_linear` (gain = std, offset = mean) maps the output "
                     "back to the input's units, exactly as napari-w2s does.")  # fmt: skip
    else:
        pre_text = (f"`scale_range` (percentiles {norm['low']:g} and {norm['high']:g} of each "
                    "image, over y and x)")  # fmt: skip
        post_text = (
            "napari-w2s maps the restored image back with the same two numbers "
            "(`y * (p_high - p_low) + p_low`); the BioImage Model Zoo format has no "
            "postprocessing that multiplies by the *input's* percentile range (`scale_range` "
            "with a reference tensor normalises by it, `scale_mean_variance` matches mean and "
            "variance, another map), so this package's output stays in normalised units. "
            "Running the package with `w2s restore --weights` gives the input's units.")
    scaled = (", scaled to the training data's mean and standard deviation"
              if norm["kind"] == "zscore" else "")  # fmt: skip
    levels = ", ".join(map(str, t.get("levels", []))) or "?"
    return f"""# {card.name} ({weights_name}) - W2S, napari-w2s

{card.description or card.name}: {DESCRIPTION.get(card.task, card.task)}.
Exported by napari-w2s {__version__} (`w2s export-bmz`) from its model card.

* **Input**: one 2-D, single-channel widefield image, float32 (axes `batch, channel, y, x`),
  at least {SIZE_MIN} x {SIZE_MIN} pixels, sizes {SIZE_MIN} + n x {SIZE_STEP}.
* **Output**: {scale}, {units}.
* **Architecture**: {card.architecture} {json.dumps(card.config)}, {card.params:,} parameters.
* **Weights**: `pytorch_state_dict` (`weights.pt`, architecture in `architecture.py`){more_weights}.
* **Noise level trained on**: {card.noise_level}.

## Normalisation

napari-w2s: {describe(card.normalisation)}.

In this package: preprocessing {pre_text}. {post_text}
Large images: run the model in tiles that overlap by at least 48 input pixels (napari-w2s does).

## Validation (from the model card)

Held-out {m.get('split', '?')} split, {m.get('views', '?')} views, units: {m.get('units', '?')}.

{table}

Training: {t.get('iterations', '?')} iterations, batch {t.get('batch', '?')}, patch
{t.get('patch', '?')}, levels {levels}, on {t.get('data', '?')} ({t.get('device', '?')}).
Command: `{t.get('command', '?')}`.

Test tensors: a view of napari-w2s's randomised simulator (`make_view`, seed {seed}){scaled}.

## Use

* napari-w2s: `w2s restore IMAGE --weights THIS_PACKAGE.zip --out OUT.ome.tif` (tiled, any size).
* Fiji (deepImageJ), ilastik, QuPath (TorchScript) and `bioimageio predict`; ONNX Runtime
  where this package has `onnx` weights.

## Citation

{CITATION['text']} doi:{CITATION['doi']} ({CITATION_URL}).

## Licence

BSD-3-Clause (napari-w2s). The W2S paper and data set are the work of their authors.
"""


def _onnx_missing() -> str:
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


def export_onnx(model: Any, path: Path, x: np.ndarray, reference: np.ndarray,
                scale: int) -> dict:  # fmt: skip
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
    other = np.random.default_rng(1).standard_normal(
        (2, 1, TRACE_SIZE, TRACE_SIZE + SIZE_STEP)).astype(np.float32)  # fmt: skip
    expected_other = _run(model, other)
    errors: list[str] = []
    result: dict[str, Any] = {"ok": False, "exporter": None, "max_diff": None,
                              "max_diff_other_size": None, "reason": ""}  # fmt: skip
    quiet = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo",
                                            "torch.fx", "onnxscript")]  # fmt: skip
    for dynamo in (True, False):
        exporter = "torch.export (dynamo=True)" if dynamo else "TorchScript (dynamo=False)"
        path.unlink(missing_ok=True)
        levels = [lg.level for lg in quiet]
        try:
            for lg in quiet:
                lg.setLevel(logging.ERROR)
            with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad(), \
                    contextlib.redirect_stdout(io.StringIO()):  # fmt: skip
                warnings.simplefilter("ignore")
                if dynamo:
                    from torch.export import Dim

                    shapes = ({0: Dim("batch", min=1), 2: Dim("input_y", min=SIZE_MIN),
                               3: Dim("input_x", min=SIZE_MIN)},)  # fmt: skip
                    torch.onnx.export(model, (x_t,), str(path), dynamo=True, external_data=False,
                                      opset_version=ONNX_OPSET, input_names=["input"],
                                      output_names=["output"], dynamic_shapes=shapes,
                                      verbose=False)  # fmt: skip
                else:
                    axes = {"input": {0: "batch", 2: "y", 3: "x"},
                            "output": {0: "batch", 2: f"y_x{scale}", 3: f"x_x{scale}"}}
                    torch.onnx.export(model, (x_t,), str(path), dynamo=False,
                                      opset_version=ONNX_OPSET, input_names=["input"],
                                      output_names=["output"], dynamic_axes=axes)  # fmt: skip
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
            errors.append(f"{exporter}: output shape {got.shape} / {got_other.shape}, expected "
                          f"{reference.shape} / {expected_other.shape}")  # fmt: skip
            continue
        diff = float(np.abs(got - reference).max())
        diff_other = float(np.abs(got_other - expected_other).max())
        result.update(exporter=exporter, max_diff=diff, max_diff_other_size=diff_other)
        if diff <= ONNX_TOL and diff_other <= ONNX_TOL:
            result["ok"] = True
            return result
        errors.append(f"{exporter}: ONNX Runtime differs by {diff:.3g} on the test input and "
                      f"{diff_other:.3g} on {other.shape[-2:]} (limit {ONNX_TOL:g})")  # fmt: skip
    path.unlink(missing_ok=True)
    result["reason"] = "; ".join(errors)
    return result


def export_package(source: str, out: str | Path, *, seed: int = 0, size: int = TEST_SIZE,
                   torchscript: bool = True, onnx: bool = True, log: Any = None) -> dict:  # fmt: skip
    """Write the BMZ package of ``source`` (a method name or a ``.safetensors`` file) to
    ``out`` (a folder, created, or a ``.zip`` file); returns a summary dict (``onnx``: the
    export's exporter and measured differences, or why it was left out)."""
    import torch
    import yaml

    from . import __version__
    from .models.weights import load_model

    out = Path(out)
    as_zip = out.suffix.lower() == ".zip"
    if as_zip and not out.parent.is_dir():
        raise W2SInputError(f"{out.parent}: the output folder does not exist")
    if as_zip and out.is_dir():
        raise W2SInputError(f"{out}: is a folder; give a new .zip name or a folder without .zip")
    if not as_zip and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise W2SInputError(f"{out}: exists and is not empty; give a new folder or a .zip name")
    if size < SIZE_MIN or (size - SIZE_MIN) % SIZE_STEP:
        raise W2SInputError(f"test size {size}: use {SIZE_MIN} + n x {SIZE_STEP}")
    weights_path = _resolve_source(source)
    model, card = load_model(weights_path)
    if card.scale not in (1, 2):
        raise W2SInputError(f"{weights_path}: x{card.scale} models are not exported (1 or 2)")
    model = model.float().eval()
    pre, post, exact = processing(card.normalisation)
    say = log or (lambda *_: None)

    tmp = Path(tempfile.mkdtemp(prefix="w2s-bmz-"))
    try:
        files: dict[str, Path] = {}

        def put(name: str) -> Path:
            files[name] = tmp / name
            return files[name]

        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, put("weights.pt"))
        put("architecture.py").write_text(architecture_source(card.architecture))
        image = _test_image(card, seed, size)
        x, inverse = _normalise(image, card.normalisation)
        x = x[None, None]
        y = _run(model, x)
        expected = inverse(y) if inverse is not None else y
        if not np.isfinite(expected).all():
            raise W2SInputError(f"{weights_path}: the network returned NaN or infinite values")
        np.save(put("test_input.npy"), image[None, None].astype(np.float32))
        np.save(put("test_output.npy"), expected.astype(np.float32))
        import tifffile

        tifffile.imwrite(put("sample_input.tif"), image.astype(np.float32))
        tifffile.imwrite(put("sample_output.tif"), expected[0, 0].astype(np.float32))
        say(f"test tensors: {image.shape} -> {expected.shape[-2:]}")
        ts_note = ""
        ts_ok = False
        if torchscript:
            example = torch.rand(1, 1, TRACE_SIZE, TRACE_SIZE)
            import warnings

            with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
                warnings.simplefilter("ignore")  # TracerWarnings: the check below decides
                traced = torch.jit.trace(model, example, check_trace=False)
            y_ts = _run(traced, x)
            diff = float(np.abs(y_ts - y).max())
            if diff <= 1e-4 * max(1.0, float(np.abs(y).max())):
                traced.save(str(put("weights_torchscript.pt")))
                ts_ok = True
                ts_note = " and `torchscript` (`weights_torchscript.pt`)"
            else:
                say(f"torchscript left out: the traced network differs by {diff:.3g} on "
                    "another size than it was traced on")  # fmt: skip
        onnx_info: dict[str, Any] = {"ok": False, "reason": "not asked for (--no-onnx)"}
        if onnx:
            missing = _onnx_missing()
            if missing:
                onnx_info = {"ok": False, "reason": f"{missing} not installed (pip install "
                             "onnx onnxscript onnxruntime)"}  # fmt: skip
            else:
                onnx_info = export_onnx(model, tmp / "weights.onnx", x,
                                        y_ts if ts_ok else y, card.scale)  # fmt: skip
            if onnx_info["ok"]:
                put("weights.onnx")
                say(f"onnx: {onnx_info['exporter']}, opset {ONNX_OPSET}, ONNX Runtime vs "
                    f"{'TorchScript' if ts_ok else 'eager'} {onnx_info['max_diff']:.2g} "
                    "(network units)")  # fmt: skip
            else:
                say(f"onnx left out: {onnx_info['reason']}")
        _cover(image, expected[0, 0], put("cover.png"))
        if onnx_info["ok"]:
            onnx_note = f", `onnx` (`weights.onnx`, opset {ONNX_OPSET})"
        elif onnx and not _onnx_missing():  # the operators do not export (or do not match)
            onnx_note = ("; no `onnx` weights: this network's operators do not export to ONNX "
                         f"(opset {ONNX_OPSET}) or ONNX Runtime does not reproduce it within "
                         f"{ONNX_TOL:g} ({onnx_info['reason']})")  # fmt: skip
        else:
            onnx_note = ""
        put("README.md").write_text(_readme(card, exact, weights_path.stem,
                                            ts_note + onnx_note, seed))  # fmt: skip
        torch_version = torch.__version__.split("+")[0]
        # no unit: the pixel size is the user's; only the ratio of the scales matters
        space_in = [{"type": "space", "id": ax, "size": {"min": SIZE_MIN, "step": SIZE_STEP},
                     "scale": 1.0} for ax in ("y", "x")]  # fmt: skip
        space_out = [{"type": "space", "id": ax,
                      "size": {"tensor_id": "input", "axis_id": ax},
                      "scale": 1.0 / card.scale} for ax in ("y", "x")]  # fmt: skip
        card_dict = json.loads(card.to_json())

        def ref(name: str) -> dict:
            return {"source": name, "sha256": _sha256(files[name])}

        weights: dict[str, Any] = {"pytorch_state_dict": {
            **ref("weights.pt"),
            "architecture": {**ref("architecture.py"), "callable": card.architecture,
                             "kwargs": dict(card.config)},
            "pytorch_version": torch_version}}  # fmt: skip
        if ts_ok:
            weights["torchscript"] = {**ref("weights_torchscript.pt"),
                                      "parent": "pytorch_state_dict",
                                      "pytorch_version": torch_version,
                                      "comment": "torch.jit.trace on the CPU"}  # fmt: skip
        if onnx_info["ok"]:
            weights["onnx"] = {**ref("weights.onnx"), "parent": "pytorch_state_dict",
                               "opset_version": ONNX_OPSET,
                               "comment": f"torch.onnx.export, {onnx_info['exporter']}, dynamic "
                                          "batch, y and x; ONNX Runtime vs "
                                          f"{'TorchScript' if ts_ok else 'eager'} on the test "
                                          f"input: {onnx_info['max_diff']:.2g}"}  # fmt: skip
        level = "" if card.noise_level == "blind" else f" ({card.noise_level})"
        rdf = {
            "format_version": FORMAT_VERSION,
            "type": "model",
            "name": f"W2S {card.name}{level} napari-w2s",
            "description": f"{card.description or card.name}: "
                           f"{DESCRIPTION.get(card.task, card.task)}. From napari-w2s.",
            "authors": [{"name": "napari-w2s developers"}],
            "cite": [{**CITATION, "url": CITATION_URL}],
            "license": "BSD-3-Clause",
            "documentation": "README.md",
            "covers": ["cover.png"],
            "tags": ["widefield", "sim", "fluorescence-light-microscopy", "2d", "pytorch",
                     "denoising" if card.task != "sr" else "super-resolution",
                     *(["super-resolution"] if card.task == "jdsr" else []), "w2s",
                     "napari-w2s"],  # fmt: skip
            "inputs": [{
                "id": "input",
                "description": "2-D widefield image, one channel"
                               + (" (noisy)" if card.task != "sr" else " (clean)"),
                "axes": [{"type": "batch"}, {"type": "channel", "channel_names": ["widefield"]},
                         *space_in],  # fmt: skip
                "test_tensor": ref("test_input.npy"),
                "sample_tensor": ref("sample_input.tif"),
                "data": {"type": "float32"},
                "preprocessing": pre,
            }],
            "outputs": [{
                "id": "output",
                "description": ("restored image" + (f", x{card.scale}" if card.scale > 1 else "")
                                + ("" if exact else ", normalised units")),  # fmt: skip
                "axes": [{"type": "batch"}, {"type": "channel", "channel_names": ["restored"]},
                         *space_out],  # fmt: skip
                "test_tensor": ref("test_output.npy"),
                "sample_tensor": ref("sample_output.tif"),
                "data": {"type": "float32"},
                "postprocessing": post,
            }],
            "weights": weights,
            "config": {"napari-w2s": {"card": card_dict, "version": __version__,
                                      "output_units": "input" if exact else "normalised",
                                      "source": weights_path.name}},  # fmt: skip
        }
        put("rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False, allow_unicode=True))
        if as_zip:
            part = out.with_name(f".{out.name}.partial-{os.getpid()}")
            with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, path in files.items():
                    zf.write(path, name)
            os.replace(part, out)
        else:
            out.mkdir(parents=True, exist_ok=True)
            for name, path in files.items():
                shutil.copy2(path, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"out": str(out), "source": str(weights_path), "name": card.name,
            "weights": sorted(weights), "scale": card.scale, "output_units":
            "input" if exact else "normalised", "files": sorted(files),
            "onnx": onnx_info}  # fmt: skip


# ------------------------------------------------------------------------------------ import
class _Package:
    """Read access to a package's files, a folder or a zip."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path) if path.is_file() else None
        names = self.zip.namelist() if self.zip else [p.name for p in path.iterdir()]
        found = [n for n in RDF_NAMES if n in names] or [n for n in names
                                                          if n.endswith(".bioimageio.yaml")]
        if not found:
            raise W2SInputError(f"{path}: not a BioImage Model Zoo package (no rdf.yaml)")
        self.rdf_name = found[0]

    def read(self, name: str) -> bytes:
        name = str(name)
        if "://" in name:
            raise W2SInputError(f"{self.path}: {name} is not inside the package (only packaged "
                                "files are used, nothing is downloaded)")  # fmt: skip
        try:
            if self.zip:
                return self.zip.read(name)
            target = (self.path / name).resolve()
            if self.path.resolve() not in target.parents:
                raise W2SInputError(f"{self.path}: {name} points outside the package")
            return target.read_bytes()
        except (KeyError, FileNotFoundError):
            raise W2SInputError(f"{self.path}: the package lacks {name}") from None


def is_package(path: str | Path) -> bool:
    """A ``.zip`` file or a folder that holds a BMZ description (``rdf.yaml``)."""
    p = Path(path)
    if p.is_dir():
        return any((p / n).is_file() for n in RDF_NAMES) or any(p.glob("*.bioimageio.yaml"))
    return p.is_file() and p.suffix.lower() == ".zip"


def _source(entry: Any) -> str:
    src = entry.get("source") if isinstance(entry, dict) else entry
    if not isinstance(src, str):
        raise ValueError("a file entry without a source")
    return src


def _axes(tensor: dict, where: str) -> tuple[list[dict], dict]:
    """The axes of a tensor, checked for ``[batch,] [channel (1),] y, x``."""
    axes = tensor.get("axes")
    if not isinstance(axes, list):
        raise ValueError(f"{where} has no axes list (format 0.5 needed)")
    space = {}
    for ax in axes:
        kind = ax.get("type")
        if kind == "batch":
            continue
        if kind == "channel":
            names = ax.get("channel_names") or []
            if len(names) != 1:
                raise ValueError(f"{where} has {len(names)} channels; one is supported")
            continue
        if kind == "space" and ax.get("id") in ("y", "x"):
            space[ax["id"]] = ax
            continue
        raise ValueError(f"{where} has a {kind} axis {ax.get('id', '')!r}; only 2-D (y, x) "
                         "single-channel models run here")  # fmt: skip
    if set(space) != {"y", "x"}:
        raise ValueError(f"{where} is not 2-D (needs y and x space axes)")
    return axes, space


def _scale_of(inp: dict, out: dict) -> int:
    """Output size / input size from the output's y and x sizes."""
    factors = set()
    for ax in ("y", "x"):
        size = out[ax].get("size")
        if isinstance(size, dict) and "tensor_id" in size:
            if size.get("axis_id") != ax or int(size.get("offset", 0)) != 0:
                raise ValueError(f"the output's {ax} size is not the input's {ax} scaled")
            factors.add(float(inp[ax].get("scale", 1.0)) / float(out[ax].get("scale", 1.0)))
        else:
            halo = out[ax].get("halo")
            raise ValueError(f"the output's {ax} size is {size!r}" + (" with a halo" if halo else "")
                             + "; it must reference the input's size")  # fmt: skip
    if len(factors) != 1 or next(iter(factors)) not in (1.0, 2.0):
        raise ValueError(f"output/input size {sorted(factors)}; same size or x2 are supported")
    return int(next(iter(factors)))


def _normalisation(pre: list, post: list) -> tuple[dict, str]:
    """The card normalisation of a package's processing, and a note on the output's units."""
    norm: dict | None = None
    for step in pre or []:
        sid, kw = step.get("id"), step.get("kwargs") or {}
        if sid == "ensure_dtype":
            continue
        if norm is not None:
            raise ValueError(f"more than one normalising preprocessing step ({sid})")
        if sid == "fixed_zero_mean_unit_variance" and np.ndim(kw.get("mean")) == 0:
            norm = {"kind": "zscore", "mean": float(kw["mean"]), "std": float(kw["std"])}
        elif sid == "scale_linear" and np.ndim(kw.get("gain", 1.0)) == 0 and float(
                kw.get("gain", 1.0)) > 0:  # fmt: skip
            gain, offset = float(kw.get("gain", 1.0)), float(kw.get("offset", 0.0))
            norm = {"kind": "zscore", "mean": -offset / gain, "std": 1.0 / gain}
        elif sid == "scale_range" and kw.get("reference_tensor") in (None, "input") and set(
                kw.get("axes") or ["y", "x"]) <= {"y", "x", "batch"}:  # fmt: skip
            norm = {"kind": "percentile", "low": float(kw.get("min_percentile", 0.0)),
                    "high": float(kw.get("max_percentile", 100.0))}  # fmt: skip
        else:
            raise ValueError(f"preprocessing {sid} {kw or ''} is not supported here (fixed "
                             "zero-mean-unit-variance, scale_linear or scale_range)")  # fmt: skip
    norm = norm or {"kind": "zscore", "mean": 0.0, "std": 1.0}
    note = ""
    for step in post or []:
        sid, kw = step.get("id"), step.get("kwargs") or {}
        if sid == "ensure_dtype":
            continue
        if sid == "scale_linear" and norm["kind"] == "zscore" and np.ndim(kw.get("gain", 1)) == 0:
            gain, offset = float(kw.get("gain", 1.0)), float(kw.get("offset", 0.0))
            if np.isclose(gain, norm["std"], rtol=1e-6) and np.isclose(offset, norm["mean"],
                                                                      rtol=1e-6, atol=1e-9):
                continue
        raise ValueError(f"postprocessing {sid} {kw or ''} is not supported here (only the "
                         "inverse of the preprocessing)")  # fmt: skip
    if not any(s.get("id") == "scale_linear" for s in post or []) and not (
            norm == {"kind": "zscore", "mean": 0.0, "std": 1.0}):  # fmt: skip
        note = ("the package's own output is in normalised units; napari-w2s maps the result "
                "back to the input's units")  # fmt: skip
    return norm, note


def load_package(path: str | Path) -> tuple[Any, Any, str]:
    """``(model, card, note)`` of a compatible BMZ package (zip or folder), in eval mode on the
    CPU. ``card`` is a :class:`~napari_w2s.models.weights.ModelCard` built from the package."""
    import torch
    import yaml

    from .models.registry import ARCHITECTURES, build_architecture
    from .models.weights import ModelCard

    path = Path(path)
    if not path.exists():
        raise W2SInputError(f"{path}: package not found")
    try:
        pkg = _Package(path)
    except zipfile.BadZipFile:
        raise W2SInputError(f"{path}: not a zip file (a BMZ package is a .zip or a folder)") from None
    try:
        rdf = yaml.safe_load(pkg.read(pkg.rdf_name))
        if not isinstance(rdf, dict) or rdf.get("type") != "model":
            raise ValueError("the description is not of a model")
        fmt = str(rdf.get("format_version", ""))
        if not fmt.startswith("0.5"):
            raise ValueError(f"format {fmt or '?'}; format 0.5 is needed (bioimageio.spec "
                             "converts older packages: `bioimageio update-format`)")  # fmt: skip
        inputs, outputs = rdf.get("inputs") or [], rdf.get("outputs") or []
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"{len(inputs)} inputs and {len(outputs)} outputs; one of each "
                             "is supported")  # fmt: skip
        _, space_in = _axes(inputs[0], "the input")
        _, space_out = _axes(outputs[0], "the output")
        scale = _scale_of(space_in, space_out)
        norm, note = _normalisation(inputs[0].get("preprocessing"),
                                    outputs[0].get("postprocessing"))  # fmt: skip
        weights = rdf.get("weights") or {}
        ours = ((rdf.get("config") or {}).get("napari-w2s") or {}).get("card") or {}
        sd = weights.get("pytorch_state_dict")
        ts = weights.get("torchscript")
        arch = (sd or {}).get("architecture") or {}
        callable_name = arch.get("callable")
        use_sd = sd is not None and callable_name in ARCHITECTURES
        if not use_sd and ts is None:
            raise ValueError(f"weights {', '.join(weights) or 'none'}: needs torchscript, or "
                             "pytorch_state_dict of a napari-w2s architecture "
                             f"({', '.join(a for a in ARCHITECTURES if a != 'VGGDiscriminator')})")
        entry = sd if use_sd else ts
        blob = pkg.read(_source(entry))
        if entry.get("sha256") and hashlib.sha256(blob).hexdigest() != entry["sha256"]:
            raise ValueError(f"{_source(entry)} does not match its sha256 in the description; "
                             "the package is corrupted")  # fmt: skip
    except (ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError) as err:
        raise W2SInputError(f"{path}: cannot be run here: {err}") from err
    try:
        if use_sd:
            state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
            kwargs = dict(arch.get("kwargs") or {})
            model = build_architecture(callable_name, **kwargs)
            model.load_state_dict(state, strict=True)
            architecture, config = callable_name, kwargs
        else:
            import warnings

            with warnings.catch_warnings():  # torch 2.9+ deprecates TorchScript; BMZ uses it
                warnings.simplefilter("ignore", DeprecationWarning)
                model = torch.jit.load(io.BytesIO(blob), map_location="cpu")
            architecture, config = "TorchScript", {}
    except W2SInputError:
        raise
    except Exception as err:
        first = (str(err).strip().splitlines() or [""])[0]
        raise W2SInputError(f"{path}: cannot load its weights ({type(err).__name__}: "
                            f"{first})") from err  # fmt: skip
    model.eval()
    task = ours.get("task") if ours.get("task") in ("denoise", "sr", "jdsr") else (
        "denoise" if scale == 1 else "jdsr")  # fmt: skip
    name = str(ours.get("name") or re.sub(r"[^a-z0-9]+", "-", str(rdf.get("name", path.stem))
                                          .lower()).strip("-") or "bmz")  # fmt: skip
    card = ModelCard(name=name, architecture=architecture, config=config, task=task,
                     scale=scale, noise_level=str(ours.get("noise_level") or "blind"),
                     normalisation=norm, metrics=ours.get("metrics") or {},
                     description=f"BioImage Model Zoo package {rdf.get('name', path.name)}"
                                 f" ({'pytorch_state_dict' if use_sd else 'torchscript'})")  # fmt: skip
    card.bmz_package = True  # type: ignore[attr-defined]
    card.bmz_has_w2s_card = bool(ours)  # type: ignore[attr-defined]
    _probe(model, scale, path)
    return model, card, note


def _probe(model: Any, scale: int, path: Path) -> None:
    """One small forward pass: a network that does not take (1, 1, 32, 32) or does not give
    the declared size is refused now, in one line, not in the middle of a stack."""
    import torch

    try:
        with torch.inference_mode():
            y = model(torch.zeros(1, 1, SIZE_MIN, SIZE_MIN))
            y = y[-1] if isinstance(y, (list, tuple)) else y
    except Exception as err:
        first = (str(err).strip().splitlines() or [""])[0]
        raise W2SInputError(f"{path}: the network fails on a 1-channel {SIZE_MIN} x {SIZE_MIN} "
                            f"image ({type(err).__name__}: {first})") from err  # fmt: skip
    if tuple(y.shape[-2:]) != (SIZE_MIN * scale, SIZE_MIN * scale) or y.shape[1] != 1:
        raise W2SInputError(f"{path}: the network gives {tuple(y.shape)} for (1, 1, {SIZE_MIN}, "
                            f"{SIZE_MIN}), not the x{scale} single-channel output its "
                            "description declares")  # fmt: skip
