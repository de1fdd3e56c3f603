"""Dock widget "Train": adapt a model to your microscope (fine-tune a shipped model, or train one
from scratch) on layers (a widefield stack and, optionally, its SIM) or a W2S-layout folder.

All the work is :func:`napari_w2s.training.finetune.iter_finetune`, run in a thread worker; the
widget only collects the choices, plots the records and offers Cancel (the checkpoint is kept)
and Resume. The finished model goes to the user's model folder and appears in the Restore
widget's method list at once.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ..layer_names import is_sim_name
from ._controls import LayerCombo, models_changed, run_cancel_row, wrap_label
from ._jobs import Job, JobWidget, info, user_error
from ._loss_plot import LossPlot
from ._settings import get_setting, set_settings

log = logging.getLogger("napari_w2s.widgets")

SOURCES = ("layers", "W2S folder")
STARTS = ("fine-tune the shipped model", "from scratch")
NO_SIM = "(none: self-supervised)"


def train_job(
    cfg: Any,
    stack: Any,
    sim: Any,
    folder: str | None,
    resume: bool,
    stop: threading.Event,
    data_name: str,
):
    """Worker body: :func:`~napari_w2s.training.finetune.iter_finetune` (imports torch here)."""
    from ..training.finetune import iter_finetune

    return (
        yield from iter_finetune(
            cfg,
            stack=stack,
            sim=sim,
            folder=folder,
            resume=resume,
            stop=stop.is_set,
            data_name=data_name,
        )
    )


# what a first training imports: loaded in a background thread when the dock opens, so that
# their import pauses (extension loading holds the interpreter lock) fall before the click,
# not while a training runs (benchmarks/bench_train_event_loop.py; docs/training.md)
PRELOAD = ("torch", "torch._dynamo", "scipy.signal", "napari_w2s.training.trainer")


def _preload() -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except (ImportError, OSError) as err:  # missing: the training reports it itself
            log.debug("napari-w2s: preloading %s failed: %s", name, err)


class TrainWidget(JobWidget):
    """Data (layers or a folder), base model, start, time budget; Train, Cancel, Resume; a live
    plot of the loss and the held-back RMSE (the dotted line: the RMSE before this session)."""

    def __init__(self, napari_viewer: Any) -> None:
        from ..models import list_models

        super().__init__(napari_viewer)
        threading.Thread(target=_preload, name="napari-w2s-preload", daemon=True).start()
        self.stop = threading.Event()
        self._resumable: dict | None = None
        self._run: dict | None = None
        self.last_model: Path | None = None

        self.source = QComboBox()
        self.source.addItems(SOURCES)
        self.stack_layer = LayerCombo(napari_viewer, accept=lambda ly: ly.data.ndim >= 3)
        self.sim_layer = LayerCombo(
            napari_viewer, accept=lambda ly: ly.data.ndim == 2, optional=NO_SIM
        )
        self.folder = QLineEdit(get_setting("train_folder", ""))
        self.folder_browse = QPushButton("…")
        folder_row = QWidget()
        fl = QHBoxLayout(folder_row)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addWidget(self.folder, 1)
        fl.addWidget(self.folder_browse)
        self.base = QComboBox()
        self.base.addItems(list_models())
        self.base.setCurrentText(get_setting("train_base", "jdsr"))
        self.start = QComboBox()
        self.start.addItems(STARTS)
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.05, 24 * 60)
        self.minutes.setDecimals(2)
        self.minutes.setValue(float(get_setting("train_minutes", 5.0)))
        self.minutes.setSuffix(" min")
        self.iterations = QSpinBox()
        self.iterations.setRange(1, 10_000_000)
        self.iterations.setValue(100_000)
        self.patch = QSpinBox()
        self.patch.setRange(16, 256)
        self.patch.setValue(48)
        self.batch = QSpinBox()
        self.batch.setRange(1, 256)
        self.batch.setValue(8)
        self.name = QLineEdit()
        self.name.setPlaceholderText("automatic: METHOD-ft-DATE")
        run_row, self.run_button, self.cancel_button = run_cancel_row("Train")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setEnabled(False)
        run_row.layout().addWidget(self.resume_button)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.plot = LossPlot()
        tips = {
            self.source: "train from layers of the viewer (a stack of frames, and SIM if you "
            "have it) or from a folder laid out like the W2S data set",
            self.stack_layer: "the time series of raw widefield frames of one field (T, Y, X)",
            self.sim_layer: "the SIM image of the same field, twice the size: the target the "
            "model learns to reach; without it JDSR models learn from the "
            "stack alone (self-supervised), denoisers from its average",
            self.folder: "a folder laid out like the W2S data set",
            self.folder_browse: "choose the W2S folder",
            self.base: "the model to adapt to your microscope (JDSR: denoise + x2)",
            self.start: "fine-tune the shipped weights (fast, needs little data) or train from "
            "scratch (slow)",
            self.minutes: "how long to train; it stops earlier at max iterations",
            self.iterations: "the most training steps to run",
            self.patch: "side of the image pieces the model learns from, in pixels",
            self.batch: "pieces per training step; fewer need less memory",
            self.name: "the name the new model gets in the Restore method list",
            self.run_button: "start training; the model is saved when it ends or is cancelled",
            self.cancel_button: "stop training and keep the model as it is now",
            self.resume_button: "continue the last training where it stopped",
            self.bar: "training time used",
            self.plot: "training loss and the error on held-back data (lower is better)",
        }
        for widget, tip in tips.items():
            widget.setToolTip(tip)
        self.status = wrap_label(
            "Fine-tunes the chosen model on your data for the time budget, then saves it in "
            "your model folder (it appears in Restore). With a SIM layer: supervised (JDSR, SR "
            "or denoisers); without: self-supervised from the stack alone."
        )

        form = QFormLayout()
        form.addRow("data", self.source)
        form.addRow("widefield stack", self.stack_layer)
        form.addRow("SIM (2x)", self.sim_layer)
        form.addRow("folder", folder_row)
        form.addRow("model", self.base)
        form.addRow("start", self.start)
        form.addRow("time budget", self.minutes)
        form.addRow("max iterations", self.iterations)
        form.addRow("patch / batch", _pair(self.patch, self.batch))
        form.addRow("name", self.name)
        self._form = form
        self.stack_parts(form, run_row)

        self.source.currentIndexChanged.connect(self._source_changed)
        self.folder_browse.clicked.connect(self._browse)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(self.resume)
        self._source_changed()
        self._guess_sim()

    def stack_parts(self, form: QFormLayout, run_row: QWidget) -> None:
        self.stack(form, run_row, self.bar, self.plot, self.status)

    # ------------------------------------------------------------------ choices
    def reset_choices(self, *_: Any) -> None:
        self.stack_layer.reset_choices()
        self.sim_layer.reset_choices()
        self._guess_sim()

    def _guess_sim(self) -> None:
        if self.sim_layer.chosen:
            return
        for layer in self.sim_layer.layers():
            if is_sim_name(layer.name):
                self.sim_layer.set_value(layer.name, chosen=False)
                return

    def _source_changed(self, *_: Any) -> None:
        layers = self.source.currentText() == "layers"
        for widget, show in (
            (self.stack_layer, layers),
            (self.sim_layer, layers),
            (self.folder.parentWidget(), not layers),
        ):
            widget.setVisible(show)
            label = self._form.labelForField(widget)
            if label is not None:
                label.setVisible(show)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "W2S data set folder", self.folder.text() or str(Path.home())
        )
        if path:
            self.folder.setText(path)

    def config(self, resume_name: str | None = None) -> Any:
        from ..training.finetune import FinetuneConfig

        return FinetuneConfig(
            base=self.base.currentText(),
            scratch=self.start.currentText() == STARTS[1],
            minutes=float(self.minutes.value()),
            iterations=int(self.iterations.value()),
            name=resume_name or self.name.text().strip() or None,
            patch=int(self.patch.value()),
            batch=int(self.batch.value()),
            log_every=max(1, min(10, int(self.iterations.value()) // 10)),
            checkpoint_every=100,
        )

    # ------------------------------------------------------------------ running
    def run(self) -> Job | None:
        from ..errors import W2SInputError
        from ..training.finetune import plan

        try:
            cfg = self.config()
            if self.source.currentText() == "layers":
                layer = self.stack_layer.value()
                if layer is None:
                    raise W2SInputError(
                        "choose a widefield stack layer (T, Y, X); open one, or use a W2S folder"
                    )
                sim_layer = self.sim_layer.value()
                args = {
                    "stack": layer.data,
                    "sim": None if sim_layer is None else sim_layer.data,
                    "folder": None,
                    "data_name": layer.name,
                }
            else:
                folder = self.folder.text().strip()
                if not folder or not Path(folder).is_dir():
                    raise W2SInputError(
                        f"choose a W2S-layout data set folder ({folder or 'none'} is not a folder)"
                    )
                args = {
                    "stack": None,
                    "sim": None,
                    "folder": folder,
                    "data_name": Path(folder).name,
                }
            plan(cfg)  # the name, the weights and the folders: checked before any work
        except W2SInputError as exc:
            user_error(exc)
            return None
        set_settings(
            train_base=cfg.base, train_minutes=cfg.minutes, train_folder=self.folder.text().strip()
        )
        self.plot.clear()
        self._resumable = None
        return self._start(cfg, args, resume=False)

    def resume(self) -> Job | None:
        """Continue the last cancelled run from its checkpoint (same data, same name)."""
        if self._resumable is None:
            return None
        run, self._resumable = self._resumable, None
        return self._start(run["cfg"], run["args"], resume=True)

    def _start(self, cfg: Any, args: dict, resume: bool) -> Job:
        self.stop.clear()
        self._run = {"cfg": cfg, "args": args, "iteration": 0}
        self.run_button.setEnabled(False)
        self.resume_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.bar.setValue(0)
        self.status.setText(
            f"{'resuming' if resume else 'preparing'} {cfg.base} on {args['data_name']} …"
        )
        self.job = Job(
            train_job,
            cfg,
            args["stack"],
            args["sim"],
            args["folder"],
            resume,
            self.stop,
            args["data_name"],
            on_yield=self._record,
            on_done=self._done,
            on_finish=self._finished,
        )
        return self.job.start()

    def cancel(self) -> None:
        if self.job is not None and not self.job.finished:
            self.stop.set()  # the trainer saves its checkpoint and returns None
            self.status.setText("stopping: saving the checkpoint …")

    def _record(self, rec: dict) -> None:
        run = self._run
        if run is None:
            return
        if rec.get("name") and not run["cfg"].name:
            run["cfg"].name = rec["name"]  # the automatic name: the same on resume
        if "loss" not in rec:
            return
        run["iteration"] = rec["iteration"]
        self.plot.add(rec)
        frac = rec["iteration"] / max(rec["iterations"], 1)
        if rec.get("budget_s"):
            frac = max(frac, rec["elapsed_s"] / rec["budget_s"])
        self.bar.setValue(int(1000 * min(frac, 1.0)))
        val = (
            f", held-back RMSE {rec['val']:.4f} (before: {rec['val_start']:.4f})"
            if rec.get("val") is not None
            else ""
        )
        self.status.setText(
            f"{run['cfg'].name}: iteration {rec['iteration']}, loss "
            f"{rec['loss']:.4f}{val}, {rec['it_per_s']:.2f} it/s"
        )

    def _done(self, path: Any) -> None:
        run = self._run
        if path is None:  # stopped: the checkpoint is kept
            self._resumable = run
            self.status.setText(
                f"stopped at iteration {run['iteration']}; the checkpoint is "
                "kept: Resume continues it"
            )
            return
        self.last_model = Path(path)
        self.plot.redraw()
        models_changed()
        self.status.setText(
            f"saved <b>{self.last_model.stem}</b> in {self.last_model.parent}; "
            "choose it in Restore under “Your models”"
        )
        info(
            f"napari-w2s: model {self.last_model.stem} saved; it is in the Restore widget's "
            "method list"
        )

    def _finished(self) -> None:
        self.idle()
        self.plot.redraw()
        self.resume_button.setEnabled(self._resumable is not None)
        if self.job is not None and self.job.failed and self._run is not None:
            self._resumable = self._run  # an error after a checkpoint: resumable too
            self.resume_button.setEnabled(
                Path(
                    self._models_dir(), "runs", str(self._run["cfg"].name), "checkpoint.json"
                ).exists()
            )

    @staticmethod
    def _models_dir() -> Path:
        from ..restore.zoo import user_models_dir

        return user_models_dir()


def _pair(a: QWidget, b: QWidget) -> QWidget:
    row = QWidget()
    lay = QHBoxLayout(row)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(a)
    lay.addWidget(b)
    return row
