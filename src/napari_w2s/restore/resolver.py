"""Method strings to pipelines: ``resolve("dncnn+rcan")`` loads the networks and builds the steps.

Method strings (``docs/cli.md``): a registered model name (``jdsr``, ``dncnn``, ``rcan``, ...),
a model's file stem, a classical method (``pure-let``, ``vst-nlm``, ``vst-bm3d``, ``vst-epll``,
``bicubic``) or a sequence joined by ``+``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import W2SInputError
from .steps import DEFAULT_OVERLAP, ModelStep, Pipeline


def resolve(
    method: str,
    device: str = "auto",
    tile: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    weights: str | None = None,
    noise_level: str | None = None,
    noise: tuple[float, float] | None = None,
    threads: int | str | None = None,
    backend: str | None = "torch",
    precision: str | None = "auto",
    orientations: int = 1,
) -> Pipeline:
    """Build the pipeline of a method string.

    ``weights`` (a ``.safetensors`` file with its card, or a BioImage Model Zoo package: a
    ``.zip`` or a folder, see :func:`napari_w2s.bmz.load_package`) replaces the shipped weights
    of a single-model method; ``noise_level`` (``avg1`` ...) prefers a per-level model where one is
    shipped (else the noise-blind one); ``noise`` = ``(a, b)`` gives classical methods the noise
    parameters instead of estimating them from the image; ``threads`` (a number or ``auto``,
    :mod:`.threads`) is how many CPU threads the networks run on (default: torch's);
    ``backend`` runs them on ``torch``, ``onnx`` (ONNX Runtime, CPU) or ``auto`` (the faster,
    measured once per model on this machine; ``None``: ``auto`` without a note when ONNX
    Runtime is missing), see :mod:`.onnx_backend`; ``precision`` is ``auto`` (mixed precision
    on CUDA, float32 elsewhere), ``float32`` or ``bfloat16`` (CUDA, or a CPU with native
    bfloat16: 1.2-2.7x faster, about 1 % of the output's std from float32; torch backend only),
    see :mod:`.device`; ``orientations`` (1, 2, 4 or 8) averages every network over that many
    flips and quarter turns of its input, that many times slower (:mod:`.orientations`).
    """
    from ..bmz import is_package, load_package
    from ..models.weights import load_model
    from . import classical, onnx_backend
    from .device import check_precision, choose_device, parse_precision, prepare_module
    from .orientations import parse_orientations
    from .threads import resolve_threads, using_threads
    from .zoo import find_model, find_weights

    parts = [p.strip().lower() for p in str(method).split("+") if p.strip()]
    if not parts:
        raise W2SInputError("no method given")
    if tile is not None and (tile < 0 or 0 < tile < 2 * overlap):
        # tiles narrower than two overlaps leave too little context: wrong pixels, no error
        raise W2SInputError(
            f"--tile {tile}: use 0 (the whole image) or at least {2 * overlap} "
            f"(twice the {overlap}-pixel overlap between tiles)"
        )
    if weights and len(parts) > 1:
        raise W2SInputError("--weights applies to a single model, not to a sequence")
    if weights and parts[0] in classical.METHODS:
        raise W2SInputError(
            f"--weights applies to a network; {parts[0]} is a classical method and has no weights"
        )
    n_threads = resolve_threads(threads)
    backend = onnx_backend.parse_backend(backend)
    precision = parse_precision(precision)
    orientations = parse_orientations(orientations)
    if precision == "bfloat16":  # ONNX Runtime runs the exported float32 graph
        if backend == "onnx":
            raise W2SInputError(
                "--precision bfloat16 runs on the torch backend; use --backend torch (or auto)"
            )
        backend = "torch"
    wanted = onnx_backend.device_for(device, backend)  # the CPU for onnx
    dev = None
    steps: list = []
    unused: list = []
    for part in parts:
        if part in classical.METHODS:
            steps.append(classical.ClassicalStep(part, noise=noise))
            continue
        from ..models import get_spec, list_models

        by_stem = find_model(part) if part not in list_models() else None
        if by_stem is None:
            get_spec(part)  # unknown names: one clear message listing the valid ones
        path = _weights_path(weights) if weights else by_stem or find_weights(part, noise_level)
        package = bool(weights) and is_package(path)
        if package:  # a BioImage Model Zoo package (zip or folder)
            model, card, note = load_package(path)
            if note:
                unused.append(f"{path.name}: {note}")
        elif path.is_dir():
            raise W2SInputError(
                f"{path}: a folder without rdf.yaml; --weights takes a "
                ".safetensors file or a BioImage Model Zoo package"
            )
        elif not path.is_file():  # else a card without its weights gives a FileNotFoundError
            raise W2SInputError(f"{path}: weights file not found")
        else:
            model, card = load_model(path)
        if by_stem is not None:  # a model picked by its file stem runs its card's method
            get_spec(card.name)
        elif card.name != part and not weights:
            raise W2SInputError(f"{path}: the card describes {card.name!r}, not {part!r}")
        spec = get_spec(card.name if by_stem is not None else part)
        checked = not package or getattr(card, "bmz_has_w2s_card", False)
        if checked and card.task != spec.task:  # e.g. x2 SR weights run and labelled as a denoiser
            raise W2SInputError(
                f"{path}: these weights are {card.name!r} (task {card.task}, "
                f"x{card.scale}), not a {spec.task} model like {part!r}; use "
                f"--method {card.name}"
            )
        if dev is None:
            dev = choose_device(wanted)
            check_precision(dev, precision)
        with using_threads(n_threads if dev.type == "cpu" else None):  # probe as it will run
            # a TorchScript module keeps its memory layout (it cannot be re-laid-out and timed)
            module = (
                model.to(dev) if card.architecture == "TorchScript" else prepare_module(model, dev)
            )
        net, note = onnx_backend.for_model(module, card, path, dev, n_threads, backend, package)
        unused += [note] if note else []
        steps.append(
            ModelStep(
                module,
                card,
                dev,
                Path(path),
                tile,
                overlap,
                name=part,
                threads=n_threads,
                onnx=net,
                precision=precision,
                orientations=orientations,
            )
        )
    for a, b in zip(steps, steps[1:]):
        if a.scale > 1 and b.scale > 1:
            raise W2SInputError(
                f"{method}: two x2 steps in a row give x4, which no model is trained for"
            )
    if orientations > 1 and dev is None:
        unused.append(
            f"--orientations {orientations} is not used: {'+'.join(parts)} has no network"
        )
    if dev is None and str(device).strip().lower() not in ("", "auto"):
        unused.append(
            f"--device {device} is not used: {'+'.join(parts)} runs on the CPU (classical methods)"
        )
    return Pipeline(steps, "+".join(parts), unused)


def _weights_path(weights: str) -> Path:
    """``--weights``: a file, or the file stem of a shipped or user model."""
    from .zoo import find_model

    path = Path(weights)
    if (
        path.is_file()
        or path.is_dir()
        or path.suffix in (".safetensors", ".pt", ".pth", ".json", ".zip")
        or len(path.parts) > 1
    ):
        return path
    return find_model(weights) or path
