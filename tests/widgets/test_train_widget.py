"""The Train dock widget: a few iterations from layers, cancel, resume, the model in Restore."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.training.test_finetune import tiny_view

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def _private_models(tmp_path, monkeypatch):
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
    ticks = []

    from qtpy.QtCore import QTimer

    timer = QTimer()  # the event loop keeps running while the model trains
    timer.timeout.connect(lambda: ticks.append((time.perf_counter(), widget._run["iteration"])))
    timer.start(10)
    job = widget.run()
    assert job is not None
    qtbot.waitUntil(lambda: widget._run["iteration"] >= 4, timeout=60_000)
    widget.cancel()
    qtbot.waitUntil(lambda: job.finished, timeout=60_000)
    timer.stop()
    assert not job.failed and not errors, errors
    # from the first training record to the end (the cancel, the checkpoint): the first imports
    # of torch and scipy in the worker hold the GIL in long stretches before it (one-off per
    # session; benchmarks/bench_train_event_loop.py measures every phase). 250 ms, not the
    # issue's 100: a bound for a loaded 2-core test machine; the matplotlib plot this widget
    # had before took 170-340 ms a redraw there.
    training = [t for t, it in ticks if it >= 2]
    assert len(training) > 10
    longest = max(b - a for a, b in itertools.pairwise(training))
    print(f"longest event-loop gap while training: {1000 * longest:.0f} ms")
    assert longest < 0.25
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


def test_the_loss_plot_draws_both_curves_and_clears(qtbot):
    """The plot paints the loss (blue) and the held-back RMSE (orange) with QPainter."""
    from qtpy.QtGui import QColor

    from napari_w2s.widgets._loss_plot import LOSS_COLOUR, VAL_COLOUR, LossPlot

    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(400, 220)

    def pixels(colour):  # pixels of about that colour (the lines are antialiased)
        image = plot.grab().toImage()
        count = 0
        for y in range(image.height()):
            for x in range(image.width()):
                c = QColor(image.pixel(x, y))
                count += abs(c.red() - colour[0]) + abs(c.green() - colour[1]) < 60 and (
                    abs(c.blue() - colour[2]) < 60
                )
        return count

    empty = (pixels(LOSS_COLOUR), pixels(VAL_COLOUR))  # the axis captions only
    for i in range(1, 2001):  # more records than the plot has points: thinned
        plot.add({"iteration": i, "loss": 1 / i, "val": 0.5 + 0.1 / i, "val_start": 0.7})
    drawn = (pixels(LOSS_COLOUR), pixels(VAL_COLOUR))
    assert drawn[0] > empty[0] + 100 and drawn[1] > empty[1] + 100
    assert plot.its[-1] == 2000 and plot.val_start == 0.7
    plot.clear()
    assert plot.its == [] and (pixels(LOSS_COLOUR), pixels(VAL_COLOUR)) == empty
