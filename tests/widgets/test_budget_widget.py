"""The photon budget in the "Stack & noise levels" dock, headless, through the manifest."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def _budget(make_napari_viewer, qtbot, stack, target: float):
    viewer = make_napari_viewer()
    viewer.add_image(stack()[1].astype(np.float32), name="stack")
    _, widget = viewer.window.add_plugin_dock_widget("napari-w2s", "Stack & noise levels")
    widget.layer.set_value("stack")
    widget.target_psnr.setValue(target)
    job = widget.photon_budget()
    assert job is not None
    qtbot.waitUntil(lambda: job.finished, timeout=120_000)
    assert not job.failed and widget.advice is not None
    return widget


def test_photon_budget_plots_psnr_and_jdsr_and_says_the_frames(
    make_napari_viewer, qtbot, monkeypatch, blob_stack, jdsr_curves
):
    import napari_w2s.analysis.advisor_curves as curves

    monkeypatch.setattr(curves, "load_curves", lambda method="jdsr", card=None: (jdsr_curves, ""))
    widget = _budget(make_napari_viewer, qtbot, blob_stack, 40.0)
    adv = widget.advice
    assert adv.method == "frames" and adv.a == pytest.approx(2.0, rel=0.05)
    assert adv.frames_needed is not None and adv.frames_needed > 1
    # the plot holds the core's numbers: PSNR per N, the target, the frames needed, JDSR RMSE
    fig = widget.budget_plot.figure
    assert widget.budget_plot.canvas is not None
    ax, ax2 = fig.axes
    lines = {line.get_label(): line for line in ax.lines}
    psnr = lines["average of N frames (PSNR)"]
    assert list(psnr.get_xdata()) == [r.frames for r in adv.rows]
    np.testing.assert_allclose(psnr.get_ydata(), [r.psnr for r in adv.rows])
    assert list(lines["target 40 dB"].get_ydata()) == [40.0, 40.0]
    assert list(lines[f"N = {adv.frames_needed}"].get_xdata()) == [adv.frames_needed] * 2
    jdsr = {line.get_label(): line for line in ax2.lines}["JDSR vs SIM (RMSE)"]
    np.testing.assert_allclose(jdsr.get_ydata(), [r.jdsr["rmse"] for r in adv.rows])
    assert np.all(np.diff(jdsr.get_ydata()) <= 0)
    # the text says the smallest N reaching the target, and the JDSR prediction
    text = widget.budget_text.text()
    assert f"average at least {adv.frames_needed} frames" in text
    assert "JDSR against SIM" in text
    assert widget.budget_button.isEnabled() and widget.run_button.isEnabled()


def test_photon_budget_without_curves_plots_psnr_only(
    make_napari_viewer, qtbot, monkeypatch, blob_stack
):
    import napari_w2s.analysis.advisor_curves as curves

    monkeypatch.setattr(
        curves, "load_curves", lambda method="jdsr", card=None: (None, "no curves here")
    )
    widget = _budget(make_napari_viewer, qtbot, blob_stack, 80.0)
    adv = widget.advice
    assert len(widget.budget_plot.figure.axes) == 1
    assert all(r.jdsr is None for r in adv.rows)
    text = widget.budget_text.text()
    assert "no JDSR prediction: no curves here" in text
    if adv.frames_needed is None:
        assert "out of reach" in text
    else:
        assert f"average at least {adv.frames_needed}" in text
