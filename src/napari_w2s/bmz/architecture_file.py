"""The package's ``architecture.py``: one self-contained Python file (torch only) per
architecture, made from this project's model sources."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import W2SInputError


def architecture_source(architecture: str) -> str:
    """One self-contained Python file defining ``architecture`` (torch only, no package
    imports): the configurations, the shared blocks and the architecture's module, with the
    relative imports removed."""
    from ..models.registry import ARCHITECTURES

    if architecture not in ARCHITECTURES:
        raise W2SInputError(f"unknown architecture {architecture!r}")
    here = Path(__file__).resolve().parent.parent / "models"
    parts = []
    for name in ("configs", "_blocks", ARCHITECTURES[architecture]):
        text = (here / f"{name}.py").read_text()
        kept = [
            line
            for line in text.splitlines()
            if not re.match(r"\s*from \.\S* import ", line)
            and not line.startswith("from __future__")
        ]
        parts.append(f"# ---- napari_w2s/models/{name}.py\n" + "\n".join(kept))
    head = (
        f'"""{architecture} from napari-w2s, in one '
        "file for the BioImage Model Zoo: configurations, shared blocks and the "
        'architecture, BSD-3-Clause."""\n\nfrom __future__ import annotations\n\n'
    )
    return head + "\n\n".join(parts) + "\n"
