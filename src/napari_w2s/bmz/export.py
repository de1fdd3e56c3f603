"""Export (``w2s export-bmz``): a shipped or self-trained model as a package, a folder or a
``.zip`` written atomically. The steps are the other modules': test tensors (:mod:`.samples`),
converted weights (:mod:`.convert`), the README (:mod:`.readme`) and the description
(:mod:`.rdf`)."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import W2SInputError
from . import convert
from .architecture_file import architecture_source
from .constants import SIZE_MIN, SIZE_STEP, TEST_SIZE
from .processing import normalise, processing
from .rdf import describe
from .readme import readme, weights_note
from .samples import make_test_image, run_network, write_cover


def resolve_source(source: str) -> Path:
    """A method name (its shipped noise-blind weights) or a ``.safetensors`` file with its card."""
    from ..restore.zoo import find_weights

    path = Path(source)
    if path.suffix in (".safetensors", ".pt", ".pth") or path.exists():
        if not path.is_file():
            raise W2SInputError(f"{source}: weights file not found")
        if path.suffix != ".safetensors":
            raise W2SInputError(
                f"{source}: export needs a .safetensors file with its .json "
                "card (w2s train writes both)"
            )
        return path
    from ..models import get_spec

    get_spec(source)  # an unknown name: one line listing the valid ones
    return find_weights(source.strip().lower())


def _check_out(out: Path, size: int) -> bool:
    """Whether ``out`` is a ``.zip``; a folder that is not new or empty, a zip in a missing
    folder or a test size the package's axes do not allow is refused."""
    as_zip = out.suffix.lower() == ".zip"
    if as_zip and not out.parent.is_dir():
        raise W2SInputError(f"{out.parent}: the output folder does not exist")
    if as_zip and out.is_dir():
        raise W2SInputError(f"{out}: is a folder; give a new .zip name or a folder without .zip")
    if not as_zip and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise W2SInputError(f"{out}: exists and is not empty; give a new folder or a .zip name")
    if size < SIZE_MIN or (size - SIZE_MIN) % SIZE_STEP:
        raise W2SInputError(f"test size {size}: use {SIZE_MIN} + n x {SIZE_STEP}")
    return as_zip


def export_package(
    source: str,
    out: str | Path,
    *,
    seed: int = 0,
    size: int = TEST_SIZE,
    torchscript: bool = True,
    onnx: bool = True,
    log: Any = None,
) -> dict:
    """Write the BMZ package of ``source`` (a method name or a ``.safetensors`` file) to
    ``out`` (a folder, created, or a ``.zip`` file); returns a summary dict (``onnx``: the
    export's exporter and measured differences, or why it was left out)."""
    import torch
    import yaml

    from ..models.weights import load_model

    out = Path(out)
    as_zip = _check_out(out, size)
    weights_path = resolve_source(source)
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
        image = make_test_image(card, seed, size)
        x, inverse = normalise(image, card.normalisation)
        x = x[None, None]
        y = run_network(model, x)
        expected = inverse(y) if inverse is not None else y
        if not np.isfinite(expected).all():
            raise W2SInputError(f"{weights_path}: the network returned NaN or infinite values")
        np.save(put("test_input.npy"), image[None, None].astype(np.float32))
        np.save(put("test_output.npy"), expected.astype(np.float32))
        import tifffile

        tifffile.imwrite(put("sample_input.tif"), image.astype(np.float32))
        tifffile.imwrite(put("sample_output.tif"), expected[0, 0].astype(np.float32))
        say(f"test tensors: {image.shape} -> {expected.shape[-2:]}")
        ts_ok = False
        if torchscript:
            traced, y_ts, diff = convert.trace_torchscript(model, x, y)
            if traced is not None:
                traced.save(str(put("weights_torchscript.pt")))
                ts_ok = True
            else:
                say(
                    f"torchscript left out: the traced network differs by {diff:.3g} on "
                    "another size than it was traced on"
                )
        onnx_info: dict[str, Any] = {"ok": False, "reason": "not asked for (--no-onnx)"}
        if onnx:
            reference = y_ts if ts_ok else y
            onnx_info = convert.onnx_weights(model, tmp / "weights.onnx", x, reference, card.scale)
            if onnx_info["ok"]:
                put("weights.onnx")
                say(
                    f"onnx: {onnx_info['exporter']}, opset {convert.ONNX_OPSET}, ONNX Runtime vs "
                    f"{'TorchScript' if ts_ok else 'eager'} {onnx_info['max_diff']:.2g} "
                    "(network units)"
                )
            else:
                say(f"onnx left out: {onnx_info['reason']}")
        write_cover(image, expected[0, 0], put("cover.png"))
        more = weights_note(ts_ok, onnx_info, onnx and not convert.onnx_missing())
        put("README.md").write_text(readme(card, exact, weights_path.stem, more, seed))
        rdf = describe(
            card,
            files,
            pre=pre,
            post=post,
            exact=exact,
            ts_ok=ts_ok,
            onnx_info=onnx_info,
            source_name=weights_path.name,
        )
        put("rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False, allow_unicode=True))
        _write(out, files, as_zip)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "out": str(out),
        "source": str(weights_path),
        "name": card.name,
        "weights": sorted(rdf["weights"]),
        "scale": card.scale,
        "output_units": "input" if exact else "normalised",
        "files": sorted(files),
        "onnx": onnx_info,
    }


def _write(out: Path, files: dict[str, Path], as_zip: bool) -> None:
    """The package's files into ``out``: a ``.zip`` written atomically, or a new folder."""
    if as_zip:
        from ..io.atomic import atomic_file

        with atomic_file(out) as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, path in files.items():
                zf.write(path, name)
    else:
        out.mkdir(parents=True, exist_ok=True)
        for name, path in files.items():
            shutil.copy2(path, out / name)
