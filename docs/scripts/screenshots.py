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
    """The widget's whole contents (docks scroll: the content widget, at its full height)."""
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()
    from qtpy.QtCore import QRect

    area = getattr(widget, "scroll_area", None)
    path = OUT / f"{name}.png"
    if area is None:
        widget.grab().save(str(path))
    else:
        content = area.widget()
        height = max(content.minimumSizeHint().height(), content.layout().sizeHint().height())
        content.resize(content.width(), max(height, content.height()))
        QApplication.processEvents()
        content.grab(QRect(0, 0, content.width(), height)).save(str(path))
    print("saved", path, f"(dock minimum height {widget.minimumSizeHint().height()} px)")


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="w2s-shots-"))
    os.environ["NAPARI_W2S_SETTINGS"] = str(tmp / "settings.json")
    OUT.mkdir(parents=True, exist_ok=True)
    import napari
    import tifffile
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 950)
    viewer.open_sample("napari-w2s", "simulated-w2s")

    def dock(name):
        return viewer.window.add_plugin_dock_widget("napari-w2s", name, tabify=False)[1]

    levels = dock("Stack & noise levels")
    levels.layer.set_value("widefield (simulated)")
    wait(levels.run())
    grab(levels, "stack_levels")
    levels.target_psnr.setValue(30.0)
    wait(levels.photon_budget())  # the advisor's plot: PSNR of avgN and JDSR's RMSE
    grab(levels.budget_plot, "photon_budget")

    restore = dock("Restore")  # as it comes: jdsr on avg1 (the widget's own choices)
    print("restore defaults:", restore.layer.currentText(), restore.method.method())
    wait(restore.run())
    restore.method.set_method("bicubic")
    wait(restore.run())
    restore.method.set_method("jdsr")
    grab(restore, "restore")

    # a whole raw stack with jdsr: the first plane is timed, then the widget asks
    restore.layer.set_value("widefield (simulated)")
    restore.current_only.setChecked(False)
    wait(restore.run())
    grab(restore, "restore_estimate")
    restore.confirm_frame.click()  # only the displayed frame
    wait(restore.job)
    restore.layer.set_value("avg1")

    metrics = dock("Metrics")  # as it comes: mode auto, SIM reference, the x2 results ticked
    print("metrics defaults:", metrics.selected_names(), metrics.reference.currentText())
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
        tifffile.imwrite(
            src / f"cell_{i:02d}.tif",
            stack[i * 2 : i * 2 + 2, :128, :128],
            ome=True,
            metadata={"axes": "TYX", "PhysicalSizeX": 0.064, "PhysicalSizeY": 0.064},
        )
    batch = dock("Batch")
    batch.input_dir.setText(str(src))
    batch.output_dir.setText(str(dst))
    wait(batch.run())  # as it comes: jdsr, noise level auto
    batch.resize(460, 420)
    grab(batch, "batch")

    train = dock("Train")  # as it opens: the stack and SIM layers chosen, jdsr fine-tuned
    train.resize(460, 640)
    grab(train, "train")

    # the whole window: Restore's "Overlay with SIM" (the JDSR result green, SIM magenta)
    restore.result_layer = viewer.layers["avg1 jdsr"]
    restore.compare_with_sim()
    viewer.layers.selection.active = viewer.layers["avg1 jdsr"]
    viewer.reset_view()
    restore.parent().raise_()
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.02)
    path = OUT / "window.png"
    viewer.screenshot(str(path), canvas_only=False)
    print("saved", path, [ly.name for ly in viewer.layers])
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
