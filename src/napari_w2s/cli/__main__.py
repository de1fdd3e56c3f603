"""``python -m napari_w2s.cli``: the ``w2s`` command."""

import sys

from . import main

sys.exit(main())
