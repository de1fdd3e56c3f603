"""The Train dock widget: a few iterations from layers, cancel, resume, the model in Restore."""

from __future__ import annotations

import time

import pytest

from tests.test_finetune import tiny_view

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def _private(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_W2S_SETTINGS", str(tmp_path / "settings" / "widgets.json"))
    monkeypatch.setenv("NAPARI_W2S_MODELS", str(tmp_path / "models"))


@pytest.fixture
def errors(monkeypatch):
    import napari.utils.notifications as notifications

    seen: list[str] = []
    monkeypatch.setattr(notifications, "show_error", lambda msg: seen.append(str(msg)))
    return seen


def train_widget(viewer, frames=12):
    stack, sim = tiny_view(frames=frames)
    viewer.add_image(stack, name="widefield")
    viewer.add_image(sim, name="SIM")
    _, widget = viewer.window.add_plugin_dock_widget("napari-w2s", "Train")
    widget.reset_choices()
    widget.iterations.setValue(4)
    widget.patch.setValue(16)
    widget.batch.setValue(2)
    widget.name.setText("jdsr-gui")
    return widget


def test_train_from_layers_cancel_resume_and_restore(make_napari_viewer, qtbot, errors):
    from napari_w2s.restore import zoo

    viewer = make_napari_viewer()
    _, restore = viewer.window.add_plugin_dock_widget("napari-w2s", "Restore")
    widget = train_widget(viewer)
    assert widget.stack_layer.currentText() == "widefield"
    assert widget.sim_layer.currentText() == "SIM"  # guessed from its name
    widget.iterations.setValue(20)  # a record every 2 iterations
    gaps, last = [], [time.perf_counter()]

    def tick():  # the event loop keeps running while the model trains
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    from qtpy.QtCore import QTimer

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    job = widget.run()
    assert job is not None
    qtbot.waitUntil(lambda: widget._run["iteration"] >= 2, timeout=60_000)
    widget.cancel()
    qtbot.waitUntil(lambda: job.finished, timeout=60_000)
    timer.stop()
    assert not job.failed and not errors, errors
    assert widget.resume_button.isEnabled() and zoo.user_models() == []
    stopped_at = widget._run["iteration"]
    assert widget.plot.its[-1] == stopped_at and widget.plot.val_start > 0
    widget._resumable["cfg"].iterations = stopped_at + 2  # a short rest of the run
    job = widget.resume()
    qtbot.waitUntil(lambda: job.finished, timeout=60_000)
    assert not job.failed and not errors, errors
    assert widget.plot.its[-1] == stopped_at + 2 and widget.plot.its[0] == 2
    assert [c["stem"] for c in zoo.user_models()] == ["jdsr-gui"]
    assert widget.last_model.name == "jdsr-gui.safetensors"
    assert "jdsr-gui" in restore.method.methods()  # the open Restore widget reloaded its list
    assert restore.method.set_method("jdsr-gui")
    assert "your model" in restore.card.text()
    print("longest event-loop gap while training: %.0f ms" % (1000 * max(gaps)))


def test_train_without_a_sim_is_self_supervised(make_napari_viewer, qtbot, errors):
    from napari_w2s.models.weights import read_card
    from napari_w2s.training.self_supervised import SUPERVISION
    from napari_w2s.widgets.train import NO_SIM

    viewer = make_napari_viewer()
    widget = train_widget(viewer)
    widget.sim_layer.set_value(NO_SIM)
    widget.iterations.setValue(2)
    job = widget.run()
    qtbot.waitUntil(lambda: job.finished, timeout=120_000)
    assert not job.failed and not errors
    assert read_card(widget.last_model).training["supervision"] == SUPERVISION
    assert widget.run_button.isEnabled()
