"""Import (``w2s restore --weights PACKAGE``): a compatible package, a folder or a ``.zip``,
as a network and a model card for the project's tiled engine.

Compatible: 2-D, one channel, same size or x2 output, preprocessing that is one of the maps of
:mod:`.processing` (or none), and either ``pytorch_state_dict`` weights of one of this
project's architectures (built from this project's code: the package's Python file is never
executed) or ``torchscript`` weights; ``onnx`` weights are not run here (an ONNX-only package
is refused). Anything else is refused with one line saying why; nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path
from typing import Any

from ..errors import W2SInputError
from .constants import RDF_NAMES, SIZE_MIN
from .processing import card_normalisation


class PackageFiles:
    """Read access to a package's files, a folder or a zip."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path) if path.is_file() else None
        names = self.zip.namelist() if self.zip else [p.name for p in path.iterdir()]
        found = [n for n in RDF_NAMES if n in names] or [
            n for n in names if n.endswith(".bioimageio.yaml")
        ]
        if not found:
            raise W2SInputError(f"{path}: not a BioImage Model Zoo package (no rdf.yaml)")
        self.rdf_name = found[0]

    def read(self, name: str) -> bytes:
        name = str(name)
        if "://" in name:
            raise W2SInputError(
                f"{self.path}: {name} is not inside the package (only packaged "
                "files are used, nothing is downloaded)"
            )
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
        raise ValueError(
            f"{where} has a {kind} axis {ax.get('id', '')!r}; only 2-D (y, x) "
            "single-channel models run here"
        )
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
            raise ValueError(
                f"the output's {ax} size is {size!r}"
                + (" with a halo" if halo else "")
                + "; it must reference the input's size"
            )
    if len(factors) != 1 or next(iter(factors)) not in (1.0, 2.0):
        raise ValueError(f"output/input size {sorted(factors)}; same size or x2 are supported")
    return int(next(iter(factors)))


def load_package(path: str | Path) -> tuple[Any, Any, str]:
    """``(model, card, note)`` of a compatible BMZ package (zip or folder), in eval mode on the
    CPU. ``card`` is a :class:`~napari_w2s.models.weights.ModelCard` built from the package."""
    import torch
    import yaml

    from ..models.registry import ARCHITECTURES, build_architecture
    from ..models.weights import ModelCard

    path = Path(path)
    if not path.exists():
        raise W2SInputError(f"{path}: package not found")
    try:
        pkg = PackageFiles(path)
    except zipfile.BadZipFile:
        raise W2SInputError(
            f"{path}: not a zip file (a BMZ package is a .zip or a folder)"
        ) from None
    try:
        rdf = yaml.safe_load(pkg.read(pkg.rdf_name))
        if not isinstance(rdf, dict) or rdf.get("type") != "model":
            raise ValueError("the description is not of a model")
        fmt = str(rdf.get("format_version", ""))
        if not fmt.startswith("0.5"):
            raise ValueError(
                f"format {fmt or '?'}; format 0.5 is needed (bioimageio.spec "
                "converts older packages: `bioimageio update-format`)"
            )
        inputs, outputs = rdf.get("inputs") or [], rdf.get("outputs") or []
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                f"{len(inputs)} inputs and {len(outputs)} outputs; one of each is supported"
            )
        _, space_in = _axes(inputs[0], "the input")
        _, space_out = _axes(outputs[0], "the output")
        scale = _scale_of(space_in, space_out)
        norm, note = card_normalisation(
            inputs[0].get("preprocessing"), outputs[0].get("postprocessing")
        )
        weights = rdf.get("weights") or {}
        ours = ((rdf.get("config") or {}).get("napari-w2s") or {}).get("card") or {}
        sd = weights.get("pytorch_state_dict")
        ts = weights.get("torchscript")
        arch = (sd or {}).get("architecture") or {}
        callable_name = arch.get("callable")
        use_sd = sd is not None and callable_name in ARCHITECTURES
        if not use_sd and ts is None:
            raise ValueError(
                f"weights {', '.join(weights) or 'none'}: needs torchscript, or "
                "pytorch_state_dict of a napari-w2s architecture "
                f"({', '.join(a for a in ARCHITECTURES if a != 'VGGDiscriminator')})"
            )
        entry = sd if use_sd else ts
        blob = pkg.read(_source(entry))
        if entry.get("sha256") and hashlib.sha256(blob).hexdigest() != entry["sha256"]:
            raise ValueError(
                f"{_source(entry)} does not match its sha256 in the description; "
                "the package is corrupted"
            )
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
        raise W2SInputError(
            f"{path}: cannot load its weights ({type(err).__name__}: {first})"
        ) from err
    model.eval()
    task = (
        ours.get("task")
        if ours.get("task") in ("denoise", "sr", "jdsr")
        else ("denoise" if scale == 1 else "jdsr")
    )
    name = str(
        ours.get("name")
        or re.sub(r"[^a-z0-9]+", "-", str(rdf.get("name", path.stem)).lower()).strip("-")
        or "bmz"
    )
    card = ModelCard(
        name=name,
        architecture=architecture,
        config=config,
        task=task,
        scale=scale,
        noise_level=str(ours.get("noise_level") or "blind"),
        normalisation=norm,
        metrics=ours.get("metrics") or {},
        description=f"BioImage Model Zoo package {rdf.get('name', path.name)}"
        f" ({'pytorch_state_dict' if use_sd else 'torchscript'})",
    )
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
        raise W2SInputError(
            f"{path}: the network fails on a 1-channel {SIZE_MIN} x {SIZE_MIN} "
            f"image ({type(err).__name__}: {first})"
        ) from err
    if tuple(y.shape[-2:]) != (SIZE_MIN * scale, SIZE_MIN * scale) or y.shape[1] != 1:
        raise W2SInputError(
            f"{path}: the network gives {tuple(y.shape)} for (1, 1, {SIZE_MIN}, "
            f"{SIZE_MIN}), not the x{scale} single-channel output its "
            "description declares"
        )
