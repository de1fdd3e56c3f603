"""BioImage Model Zoo (format 0.5) packages: export this project's models, run compatible ones.

Export (:func:`export_package`, ``w2s export-bmz``, :mod:`.export`) writes a folder or ``.zip``
that Fiji (deepImageJ), ilastik, QuPath and ``bioimageio.core`` run:

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

Import (:func:`load_package`, ``w2s restore --weights PACKAGE``, :mod:`.load`) runs a compatible
package through the project's tiled engine: 2-D, one channel, same size or x2 output,
preprocessing that is one of the maps above (or none), and either ``pytorch_state_dict`` weights
of one of this project's architectures (built from this project's code: the package's Python
file is never executed) or ``torchscript`` weights; ``onnx`` weights are not run here (an
ONNX-only package is refused). Anything else is refused with one line saying why.

The modules: :mod:`.constants` (format version, sizes, citation), :mod:`.architecture_file`
(``architecture.py``), :mod:`.processing` (the card's map as BMZ steps, and back),
:mod:`.samples` (test tensors, cover), :mod:`.convert` (TorchScript and ONNX weights),
:mod:`.readme`, :mod:`.rdf` (``rdf.yaml``), :mod:`.export` (the steps in order, the atomic
write) and :mod:`.load` (import). None imports torch, yaml or ONNX at module level.
"""

from __future__ import annotations

from .architecture_file import architecture_source
from .constants import (
    CITATION,
    CITATION_URL,
    DESCRIPTION,
    FORMAT_VERSION,
    RDF_NAMES,
    SIZE_MIN,
    SIZE_STEP,
    TEST_SIZE,
)
from .convert import ONNX_NEEDS, ONNX_OPSET, ONNX_TOL, TRACE_SIZE, export_onnx, onnx_missing
from .export import export_package
from .load import PackageFiles, is_package, load_package
from .processing import processing
from .samples import run_network

# the names the tests used before the split into modules
_Package = PackageFiles
_onnx_missing = onnx_missing
_run = run_network

__all__ = [
    "CITATION",
    "CITATION_URL",
    "DESCRIPTION",
    "FORMAT_VERSION",
    "ONNX_NEEDS",
    "ONNX_OPSET",
    "ONNX_TOL",
    "RDF_NAMES",
    "SIZE_MIN",
    "SIZE_STEP",
    "TEST_SIZE",
    "TRACE_SIZE",
    "PackageFiles",
    "architecture_source",
    "export_onnx",
    "export_package",
    "is_package",
    "load_package",
    "onnx_missing",
    "processing",
    "run_network",
]
