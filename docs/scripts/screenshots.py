"""Screenshots of the dock widgets for docs/user-guide.md, taken headless from the real plugin.

    xvfb-run -a python docs/scripts/screenshots.py          # or QT_QPA_PLATFORM=offscreen

Walks through the guide: sample data -> noise levels -> restore -> metrics, analysis and a
batch run on a temporary folder, and saves each widget (``widget.grab()``) and the whole window
(``viewer.screenshot(canvas_only=False)``) under ``docs/images/gui/``. Settings go to a
temporary file, never to the user's.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "images" / "gui"


def wait(job, timeout: float = 300.0) -> None:
    from qtpy.QtWidgets import QApplication

    t0 = time.time()
    while not job.finished:
        QApplication.processEvents()
        time.sleep(0.01)
        if time.time() - t0 > timeout:
            raise TimeoutError("a widget job did not finish")
    if job.failed:
        raise RuntimeError("a widget job failed")
    for _ in range(5):
        QApplication.processEvents()


def grab(widget, name: str) -> None:
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()
    path = OUT / f"{name}.png"
    widget.grab().save(str(path))
    print("saved", path)


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="w2s-shots-"))
    os.environ["NAPARI_W2S_SETTINGS"] = str(tmp / "settings.json")
    OUT.mkdir(parents=True, exist_ok=True)
    import numpy as np
    import napari
    import tifffile

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 950)
    viewer.open_sample("napari-w2s", "simulated-w2s")

    def dock(name):
        return viewer.window.add_plugin_dock_widget("napari-w2s", name, tabify=False)[1]

    levels = dock("Stack & noise levels")
    levels.layer.set_value("widefield (simulated)")
    wait(levels.run())
    grab(levels, "stack_levels")

    restore = dock("Restore")
    restore.layer.set_value("avg1")
    restore.method.set_method("bicubic")
    wait(restore.run())
    restore.method.set_method("pure-let+bicubic")
    wait(restore.run())
    grab(restore, "restore")

    metrics = dock("Metrics")
    metrics.select(["avg1 bicubic", "avg1 pure-let+bicubic"])
    metrics.reference.set_value("SIM (simulated)")
    metrics.w2s.setChecked(True)
    metrics.clean.set_value("avg400 (clean)")
    wait(metrics.compute())
    metrics.resize(420, 480)
    grab(metrics, "metrics")

    analysis = dock("Analysis")
    analysis.noise_layer.set_value("avg1")
    wait(analysis.estimate_noise())
    analysis.resize(480, 640)
    grab(analysis, "analysis_noise")
    wait(analysis.estimate_kernel())
    analysis.tabs.setCurrentIndex(1)
    analysis.resize(560, 560)
    grab(analysis, "analysis_kernel")

    src, dst = tmp / "in", tmp / "out"
    src.mkdir()
    stack = viewer.layers["widefield (simulated)"].data
    for i in range(3):
        tifffile.imwrite(src / f"cell_{i:02d}.tif", stack[i * 2 : i * 2 + 2, :128, :128],
                         ome=True, metadata={"axes": "TYX", "PhysicalSizeX": 0.064,
                                             "PhysicalSizeY": 0.064})  # fmt: skip
    batch = dock("Batch")
    batch.input_dir.setText(str(src))
    batch.output_dir.setText(str(dst))
    batch.method.set_method("vst-nlm")
    wait(batch.run())
    batch.resize(460, 420)
    grab(batch, "batch")

    # the whole window: LR avg1 under the restored layer, overlaid exactly
    for layer in viewer.layers:
        layer.visible = layer.name in ("avg1", "avg1 pure-let+bicubic")
    viewer.layers["avg1 pure-let+bicubic"].colormap = "magma"
    viewer.layers["avg1 pure-let+bicubic"].blending = "additive"
    viewer.reset_view()
    restore.parent().raise_()
    path = OUT / "window.png"
    viewer.screenshot(str(path), canvas_only=False)
    print("saved", path, np.asarray(viewer.layers["avg1 pure-let+bicubic"].scale))
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
