"""The ONNX Runtime backend: the same networks, exported once, run by ONNX Runtime on the CPU.

Optional (``pip install "napari-w2s[onnx]"``: ``onnx``, ``onnxscript``, ``onnxruntime``). A
model is exported the first time it runs on this backend (``torch.onnx.export``, opset 18,
dynamic batch, height and width; BatchNorm already folded) and checked: ONNX Runtime must give
the torch output within 1e-4 of the output's range on a small random input, else it is not
used. The file is cached in :func:`cache_dir` (``$NAPARI_W2S_ONNX_CACHE``, else ``onnx-cache``
beside the default user model folder), named after the weights and keyed by their sha256, the
architecture, its configuration, the opset and torch's version, so new weights or a new torch
export again and nothing stale is ever run. A JSON file beside it records how it was made and,
per thread count, the timing that ``auto`` measured. Deleting the folder is always safe.

Backends (``resolve(..., backend=...)``, ``w2s restore --backend``):

* ``torch``: torch runs the networks (any device);
* ``onnx``: ONNX Runtime runs them on the CPU (an error if it is not installed, or if the model
  does not export);
* ``auto``: per model, the faster of the two on this machine, measured once on a
  :data:`PROBE` x :data:`PROBE` tile at the thread count in use and cached with the export;
  torch on a GPU, and torch with a note where ONNX Runtime is not installed or the model does
  not export.

Only the network call differs between the backends: tiling, padding and normalisation are the
engine's (:class:`napari_w2s.restore.engine.ModelStep`).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import io
import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import W2SInputError

BACKENDS = ("auto", "torch", "onnx")
CACHE_ENV = "NAPARI_W2S_ONNX_CACHE"
OPSET = 18
FORMAT = 1  # of the cached files; a new value exports every model again
TOLERANCE = 1e-4  # of the torch output's range
CHECK_SHAPE = (1, 1, 40, 56)  # the export's check (a multiple of 8, not square)
PROBE = 128  # the tile that ``auto`` times
NEEDS = ("onnx", "onnxruntime")
INSTALL = "pip install 'napari-w2s[onnx]'"
log = logging.getLogger("napari_w2s")


class ExportError(Exception):
    """A model that does not export to ONNX, or whose ONNX Runtime output differs."""


def parse_backend(value: str | None) -> str | None:
    """``auto``, ``torch`` or ``onnx`` (any case); ``None`` stays ``None`` (a quiet ``auto``)."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text not in BACKENDS:
        raise W2SInputError(f"backend {value!r}: use {', '.join(BACKENDS)}")
    return text


def missing() -> str:
    """``''`` when the backend can run, else the missing packages, comma-separated."""
    return ", ".join(m for m in NEEDS if importlib.util.find_spec(m) is None)


def cache_dir() -> Path:
    """Where exported models are cached (``$NAPARI_W2S_ONNX_CACHE`` overrides it; it may not
    exist yet): ``onnx-cache`` beside the default user model folder, e.g.
    ``~/.local/share/napari-w2s/onnx-cache`` on Linux."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    from .zoo import user_data_dir

    return user_data_dir() / "onnx-cache"


def cache_key(card: Any, weights_sha256: str) -> str:
    """The hex digest naming a model's export: weights, architecture, configuration, opset,
    torch's version and :data:`FORMAT`."""
    import torch

    torch_version = ".".join(torch.__version__.split("+")[0].split(".")[:2])
    facts = {
        "weights": weights_sha256,
        "architecture": card.architecture,
        "config": card.config,
        "scale": card.scale,
        "opset": OPSET,
        "torch": torch_version,
        "format": FORMAT,
    }
    text = json.dumps(facts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def session_options(threads: int | None) -> Any:
    """ONNX Runtime options: ``threads`` intra-op threads (``None``: its default), one
    inter-op thread, and no spinning of idle workers when ``OMP_WAIT_POLICY`` is ``PASSIVE``
    (the ``w2s`` command sets it: the same policy as torch's threads)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads) if threads else 0
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    if os.environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE":
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


class OnnxNetwork:
    """An exported network in an ONNX Runtime session: ``net(x)`` maps a float32
    ``(N, 1, H, W)`` array to the network's output, like the torch module."""

    def __init__(
        self, model: bytes | Path, meta: dict, threads: int | None, path: Path | None = None
    ) -> None:
        import onnxruntime as ort

        source = str(model) if isinstance(model, Path) else model
        self.session = ort.InferenceSession(
            source, session_options(threads), providers=["CPUExecutionProvider"]
        )
        self.input = self.session.get_inputs()[0].name
        self.meta = meta
        self.threads = threads
        self.path = path

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: np.ascontiguousarray(x, np.float32)})[-1]

    def describe(self) -> dict:
        import onnxruntime as ort

        return {
            "runtime": f"onnxruntime {ort.__version__} (CPU)",
            "exporter": self.meta.get("exporter"),
            "opset": self.meta.get("opset"),
            "max_diff": self.meta.get("max_diff"),
            "file": str(self.path) if self.path else None,
        }


def export(model: Any) -> tuple[bytes, str]:
    """``model`` (eval mode) as ONNX bytes and the exporter used: the TorchScript-based
    exporter first (under a second per shipped model), then ``torch.export`` (``dynamo``;
    7-18 s, the future default). :class:`ExportError` when neither works."""
    import torch

    why = getattr(model, "onnx_unsupported", None)
    if why:
        raise ExportError(f"{type(model).__name__}: {why}")
    net = copy.deepcopy(model).to("cpu", memory_format=torch.contiguous_format).eval()
    x = torch.zeros(1, 1, 64, 64)
    names = ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx", "onnxscript")
    quiet = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in quiet]
    errors = []
    try:
        for lg in quiet:
            lg.setLevel(logging.ERROR)
        for dynamo in (False, True):
            try:
                return _export(net, x, dynamo), "torch.export" if dynamo else "TorchScript"
            except Exception as err:  # an operator without an ONNX form, a removed exporter
                first = (str(err).strip().splitlines() or [""])[0][:200]
                errors.append(f"{type(err).__name__}: {first}")
    finally:
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)
    raise ExportError("; ".join(errors))


def _export(net: Any, x: Any, dynamo: bool) -> bytes:
    import torch

    names = {"opset_version": OPSET, "input_names": ["input"], "output_names": ["output"]}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()):
            if dynamo:
                from torch.export import Dim

                dims = ({0: Dim("batch", min=1), 2: Dim("y", min=16), 3: Dim("x", min=16)},)
                kwargs = {"dynamic_shapes": dims, "external_data": False, "verbose": False}
                program = torch.onnx.export(net, (x,), None, dynamo=True, **names, **kwargs)
                return program.model_proto.SerializeToString()
            axes = {"input": {0: "batch", 2: "y", 3: "x"}, "output": {0: "batch", 2: "Y", 3: "X"}}
            torch.onnx.export(net, (x,), buffer, dynamo=False, dynamic_axes=axes, **names)
    return buffer.getvalue()


def check(model: Any, net: OnnxNetwork) -> float:
    """The largest difference between ONNX Runtime and torch on a random input, as a fraction
    of the torch output's range; :class:`ExportError` above :data:`TOLERANCE`."""
    import torch

    x = np.random.default_rng(0).standard_normal(CHECK_SHAPE).astype(np.float32)
    expected = _torch_forward(model, torch.from_numpy(x)).numpy()
    if not np.isfinite(expected).all():  # the engine refuses it with its own message
        raise ExportError("torch's output is not finite (broken weights or card)")
    got = net(x)
    if got.shape != expected.shape:
        raise ExportError(f"ONNX Runtime gives {got.shape}, torch {expected.shape}")
    span = max(float(expected.max() - expected.min()), 1e-12)
    diff = float(np.abs(got - expected).max()) / span
    if not diff <= TOLERANCE:
        raise ExportError(
            f"ONNX Runtime differs from torch by {diff:.2g} of the output range "
            f"(limit {TOLERANCE:g})"
        )
    return diff


def _torch_forward(model: Any, x: Any) -> Any:
    import torch

    if getattr(model, "w2s_channels_last", False):
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        y = model(x)
    return (y[-1] if isinstance(y, (list, tuple)) else y).float()


def load(model: Any, card: Any, weights: Path, threads: int | None) -> tuple[OnnxNetwork, str]:
    """The cached export of ``model`` (made, checked and cached if absent) in a session, and a
    note ('' when all went well; else why the cache could not be written)."""
    from ..io.atomic import atomic_file
    from ..models.weights import sha256_file

    sha = card.sha256 or sha256_file(weights)  # a card's sha256 was checked when loaded
    key, path = cached_file(card, weights, sha)
    folder, meta_path = path.parent, path.with_suffix(".json")
    meta = _read_meta(meta_path, key)
    if meta is not None and meta.get("error"):  # failed before: not tried again on every run
        raise ExportError(f"{meta['error']}; delete {meta_path} to try again")
    if meta is not None and path.is_file():
        try:
            return OnnxNetwork(path, meta, threads, path), ""
        except Exception as err:  # a damaged file: export again
            log.warning("napari-w2s: exporting %s again (%s: %s)", path, type(err).__name__, err)
    try:
        blob, exporter = export(model)
    except ExportError as err:
        with contextlib.suppress(OSError, W2SInputError):
            folder.mkdir(parents=True, exist_ok=True)
            _write_meta(meta_path, {"format": FORMAT, "key": key, "error": str(err)})
        raise
    meta = {
        "format": FORMAT,
        "key": key,
        "weights": Path(weights).name,
        "weights_sha256": sha,
        "architecture": card.architecture,
        "config": card.config,
        "exporter": exporter,
        "opset": OPSET,
        "torch": _version("torch"),
        "onnx": _version("onnx"),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "timings": {},
    }
    try:
        net = OnnxNetwork(blob, meta, threads)
    except Exception as err:  # an exported graph that ONNX Runtime cannot load
        raise ExportError(f"ONNX Runtime cannot load the export ({type(err).__name__})") from err
    meta["max_diff"] = check(model, net)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as fh:
            fh.write(blob)
        _write_meta(meta_path, meta)
    except (OSError, W2SInputError) as err:
        note = (
            f"the ONNX export of {Path(weights).name} could not be cached ({err}); "
            "it is exported again next time"
        )
        return net, note
    net.path = path
    return net, ""


def cached_file(card: Any, weights: Path, sha: str | None = None) -> tuple[str, Path]:
    """The cache key of ``weights`` (with ``card``) and its ``.onnx`` file in :func:`cache_dir`
    (the ``.json`` beside it), which may not exist."""
    from ..models.weights import sha256_file

    key = cache_key(card, sha or card.sha256 or sha256_file(weights))
    return key, cache_dir() / f"{Path(weights).stem}-{key[:16]}.onnx"


def _read_meta(path: Path, key: str) -> dict | None:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(meta, dict) and meta.get("key") == key and meta.get("format") == FORMAT
    return meta if ok else None


def _write_meta(path: Path, meta: dict) -> None:
    from ..io.atomic import atomic_file

    with atomic_file(path) as fh:
        fh.write(json.dumps(meta, indent=2).encode())


def _version(module: str) -> str | None:
    with contextlib.suppress(Exception):
        return str(__import__(module).__version__)
    return None


def cached_timing(meta: dict | None, threads: int | None) -> dict | None:
    """The seconds :func:`timing` recorded in ``meta`` for ``threads`` with the torch and ONNX
    Runtime installed now, else ``None``."""
    import onnxruntime as ort
    import torch

    versions = {"torch": torch.__version__, "onnxruntime": ort.__version__, "size": PROBE}
    cached = (meta or {}).get("timings", {}).get(f"threads={threads or 'default'}")
    if not isinstance(cached, dict) or not isinstance(cached.get("seconds"), dict):
        return None
    return cached["seconds"] if all(cached.get(k) == v for k, v in versions.items()) else None


def timing(model: Any, net: OnnxNetwork, threads: int | None, repeats: int = 3) -> dict:
    """``{"torch": s, "onnx": s}``: seconds per :data:`PROBE` x :data:`PROBE` tile on each
    backend (best of ``repeats`` after a warm-up) at ``threads``; cached in the export's JSON
    per thread count, measured again after an update of torch or ONNX Runtime."""
    import onnxruntime as ort
    import torch

    from .threads import using_threads

    cached = cached_timing(net.meta, threads)
    if cached is not None:
        return cached
    name = f"threads={threads or 'default'}"
    versions = {"torch": torch.__version__, "onnxruntime": ort.__version__, "size": PROBE}
    x = np.random.default_rng(1).standard_normal((1, 1, PROBE, PROBE)).astype(np.float32)
    xt = torch.from_numpy(x)
    runs = {"torch": lambda: _torch_forward(model, xt), "onnx": lambda: net(x)}
    seconds = {}
    with using_threads(threads):
        for backend, run in runs.items():
            run()
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                run()
                best = min(best, time.perf_counter() - t0)
            seconds[backend] = best
    net.meta.setdefault("timings", {})[name] = {**versions, "seconds": seconds}
    if net.path is not None:
        with contextlib.suppress(OSError, W2SInputError):
            _write_meta(net.path.with_suffix(".json"), net.meta)
    return seconds


def choose(
    model: Any, card: Any, weights: Path, threads: int | None, backend: str | None
) -> tuple[OnnxNetwork | None, str]:
    """The ONNX network to run ``model`` with (``None``: torch) and a note for the user ('' if
    none), for ``backend`` ``onnx``, ``auto`` or ``None`` (``auto`` without the note on a
    missing onnxruntime). ``onnx`` raises a :class:`W2SInputError` where ``auto`` notes."""
    explicit = backend == "onnx"
    lacking = missing()
    if lacking:
        if explicit:
            raise W2SInputError(f"--backend onnx needs {lacking} ({INSTALL})")
        note = f"--backend auto: {lacking} not installed; torch runs {card.name} ({INSTALL})"
        return None, note if backend == "auto" else ""
    if not explicit:  # torch measured faster before: no session to open
        key, path = cached_file(card, Path(weights))
        seconds = cached_timing(_read_meta(path.with_suffix(".json"), key), threads)
        if seconds is not None and seconds["torch"] <= seconds["onnx"]:
            return None, ""
    try:
        net, note = load(model, card, Path(weights), threads)
    except ExportError as err:
        if explicit:
            raise W2SInputError(
                f"{Path(weights).name}: the ONNX backend cannot run it ({err}); use --backend torch"
            ) from err
        return None, f"{card.name} runs on torch: it does not export to ONNX ({err})"
    if explicit:
        return net, note
    t = timing(model, net, threads)
    return (net if t["onnx"] < t["torch"] else None), note


def device_for(device: str, backend: str | None) -> str:
    """The device to ask for: the CPU for ``--backend onnx`` with ``--device auto`` (ONNX
    Runtime runs on the CPU here); another device with ``onnx`` is a user error."""
    pref = (device or "auto").strip().lower()
    if backend != "onnx" or pref in ("auto", "cpu"):
        return "cpu" if backend == "onnx" else device
    raise W2SInputError(
        f"--backend onnx runs on the CPU, not on {device}; use --device cpu or --backend torch"
    )


def for_model(
    model: Any,
    card: Any,
    weights: Path,
    device: Any,
    threads: int | None,
    backend: str | None,
    package: bool,
) -> tuple[OnnxNetwork | None, str]:
    """:func:`choose` for a step of the engine, or torch without a word where the ONNX backend
    does not apply under ``auto``: a GPU, a BioImage Model Zoo package or TorchScript weights
    (``onnx`` refuses the last two)."""
    if backend == "torch" or device.type != "cpu":
        return None, ""
    if package or card.architecture == "TorchScript" or not Path(weights).is_file():
        if backend == "onnx":
            raise W2SInputError(
                f"{Path(weights).name}: the ONNX backend runs .safetensors models "
                "with their card; use --backend torch"
            )
        return None, ""
    return choose(model, card, weights, threads, backend)
