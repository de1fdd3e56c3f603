"""What every part of a BioImage Model Zoo package agrees on: the format version, the input
sizes the engine takes, the test size, the citation and the task descriptions."""

from __future__ import annotations

FORMAT_VERSION = "0.5.4"
RDF_NAMES = ("rdf.yaml", "bioimageio.yaml")
SIZE_MIN, SIZE_STEP = 32, 8  # the engine pads to multiples of 8 (restore.engine.SIZE_MULTIPLE)
TEST_SIZE = 64  # LR size of the test tensors
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
