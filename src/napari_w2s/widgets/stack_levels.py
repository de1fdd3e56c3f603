"""Dock widget "Stack & noise levels": average a stack of frames into ``avgN`` image layers, and
the photon budget: how many frames an average (or a JDSR restoration) needs for a target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtWidgets import (
    QCheckBox,
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

from ._controls import LayerCombo, PlotCanvas, run_cancel_row, wrap_label
from ._jobs import Bars, Job, JobWidget, info, user_error
from ._settings import get_setting, set_settings

W2S_TEXT = "1,2,4,8,16"


def _levels_job(data: Any, levels: tuple[int, ...], mode: str, seed: int | None):
    """Worker body: the core's streaming average, a ``Progress`` of frames done yielded."""
    from ..averaging import iter_noise_levels

    return (yield from iter_noise_levels(data, levels, mode=mode, seed=seed))


def _budget_job(data: Any, target_psnr: float):
    """Worker body: the core's photon-budget advice (:func:`~napari_w2s.analysis.advisor.advise`)
    for the frames of the stack, and its figure."""
    from ..analysis.advisor import advise
    from ..analysis.figures import advice_figure

    yield "estimating"
    advice = advise(data, target_psnr=target_psnr)
    return advice, advice_figure(advice)


class StackLevelsWidget(JobWidget):
    """Pick a stack (a layer, a file or a W2S folder), make W2S or custom noise levels."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        self.added: list = []

        self.layer = LayerCombo(napari_viewer, accept=lambda ly: ly.data.ndim >= 3)
        self.layer.setToolTip("the time series of raw frames of one field (T, Y, X)")
        open_row = QWidget()
        row = QHBoxLayout(open_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.open_file = QPushButton("Open file…")
        self.open_folder = QPushButton("Open W2S folder…")
        self.open_file.setToolTip("open a stack from a TIFF / OME-TIFF / .npy file")
        self.open_folder.setToolTip(
            "open a folder laid out like the W2S data set (raw frames and SIM per field)"
        )
        row.addWidget(self.open_file)
        row.addWidget(self.open_folder)

        self.levels_kind = QComboBox()
        self.levels_kind.addItems(["W2S levels (1, 2, 4, 8, 16)", "custom levels"])
        self.levels_kind.setToolTip(
            "how many frames to average into each new image: the W2S "
            "levels (1, 2, 4, 8, 16 frames: from very noisy to less "
            "noisy), or your own"
        )
        self.levels_text = QLineEdit(W2S_TEXT)
        self.levels_text.setEnabled(False)
        self.levels_text.setToolTip("numbers of frames to average, e.g. 1,3,10,50")
        self.mode = QComboBox()
        self.mode.addItems(["w2s", "first", "random"])
        self.mode.setToolTip(
            "w2s: avg1 = frame 249, avgN = frames 0..N-1; first: every level "
            "from frame 0; random: N distinct frames drawn with the seed"
        )
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(0)
        self.seed.setEnabled(False)
        self.seed.setToolTip("for the random mode: the same seed draws the same frames")
        self.add_clean = QCheckBox("also add the clean average (all frames)")
        self.add_clean.setChecked(True)
        self.add_clean.setToolTip(
            "the mean of all frames, avgT (clean): the reference of metrics in W2S units; not "
            "added again when a layer of that name exists"
        )
        run_row, self.run_button, self.cancel_button = run_cancel_row("Make levels")
        self.run_button.setToolTip(
            "average the frames into one image layer per level (avg1, avg2, …); only avg1 is shown"
        )
        self.cancel_button.setToolTip("stop; nothing is added")
        self.bar = QProgressBar()
        self.bar.setToolTip("frames read")
        self.bar.setFormat("%v / %m frames")
        self.status = wrap_label("Choose a stack of frames (T, Y, X).")

        # photon budget
        self.advice = None
        self.target_psnr = QDoubleSpinBox()
        self.target_psnr.setRange(0.0, 90.0)
        self.target_psnr.setDecimals(1)
        self.target_psnr.setValue(float(get_setting("budget_target_psnr", 35.0)))
        self.target_psnr.setSuffix(" dB")
        self.target_psnr.setToolTip(
            "the PSNR you want for the average of N frames against the clean image"
        )
        self.budget_button = QPushButton("Photon budget")
        self.budget_button.setToolTip(
            "measure the noise from the frames' differences and predict, for 1, 2, 4, … frames, "
            "the PSNR of their average and the JDSR restoration's error against SIM; says how "
            "many frames reach the target"
        )
        self.budget_text = wrap_label(
            "How many frames (how much light) do you need? Choose a stack and a target PSNR."
        )
        self.budget_plot = PlotCanvas()
        self.budget_plot.setToolTip(
            "predicted PSNR of the average of N frames (shaded: its interval), the target and "
            "the frames that reach it; green: the JDSR restoration's expected RMSE against SIM"
        )
        budget = QFormLayout()
        budget.addRow("target PSNR", self.target_psnr)

        form = QFormLayout()
        form.addRow("stack", self.layer)
        form.addRow("", open_row)
        form.addRow("levels", self.levels_kind)
        form.addRow("", self.levels_text)
        form.addRow("mode", self.mode)
        form.addRow("seed", self.seed)
        form.addRow("", self.add_clean)
        self.stack(
            form,
            run_row,
            self.bar,
            self.status,
            budget,
            self.budget_button,
            self.budget_text,
            self.budget_plot,
        )

        self.levels_kind.currentIndexChanged.connect(self._levels_kind_changed)
        self.mode.currentTextChanged.connect(lambda m: self.seed.setEnabled(m == "random"))
        self.open_file.clicked.connect(self._choose_file)
        self.open_folder.clicked.connect(self._choose_folder)
        self.run_button.clicked.connect(self.run)
        self.budget_button.clicked.connect(self.photon_budget)
        self.cancel_button.clicked.connect(self.cancel)

    # napari calls this when layers change
    def reset_choices(self, *_: Any) -> None:
        self.layer.reset_choices()

    def _levels_kind_changed(self, index: int) -> None:
        self.levels_text.setEnabled(index == 1)
        if index == 0:
            self.levels_text.setText(W2S_TEXT)

    # ------------------------------------------------------------------ open
    def _choose_file(self) -> None:
        start = get_setting("last_stack_folder", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a stack", start, "Stacks (*.tif *.tiff *.npy);;All files (*)"
        )
        if path:
            self.open_path(path)

    def _choose_folder(self) -> None:
        start = get_setting("last_stack_folder", str(Path.home()))
        path = QFileDialog.getExistingDirectory(self, "Open a W2S folder", start)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> list:
        """Open a file or W2S folder with the napari-w2s reader; select the first stack."""
        from ..errors import W2SInputError

        path = Path(path)
        set_settings(last_stack_folder=str(path if path.is_dir() else path.parent))
        try:
            layers = self.viewer.open(str(path), plugin="napari-w2s")
        except W2SInputError as exc:
            user_error(exc)
            return []
        except Exception as exc:  # napari wraps reader errors; report them as one line
            cause = exc.__cause__ if isinstance(exc.__cause__, W2SInputError) else exc
            user_error(
                cause
                if isinstance(cause, W2SInputError)
                else W2SInputError(f"{path}: napari-w2s cannot read it ({exc})")
            )
            return []
        stacks = [ly for ly in layers if ly.data.ndim >= 3]
        if stacks:
            self.layer.set_value(stacks[0].name)
        return layers

    def _chosen_stack(self, what: str) -> Any:
        """The chosen layer if it is one stack of frames (T, Y, X); else a notification that
        ``what`` (e.g. "noise levels need") one, and ``None``."""
        from ..errors import W2SInputError

        layer = self.layer.value()
        try:
            if layer is None:
                raise W2SInputError("choose a stack layer of frames (T, Y, X) first, or open one")
            if layer.rgb or layer.data.ndim != 3:
                raise W2SInputError(
                    f"layer {layer.name!r} has shape {tuple(layer.data.shape)}; {what} "
                    "a single stack of frames (T, Y, X)"
                )
        except W2SInputError as exc:
            user_error(exc)
            return None
        return layer

    # ------------------------------------------------------------------ photon budget
    def photon_budget(self) -> Job | None:
        """Advice for the chosen stack (in a worker); the answer and its plot when done."""
        layer = self._chosen_stack("the photon budget needs")
        if layer is None:
            return None
        target = float(self.target_psnr.value())
        set_settings(budget_target_psnr=target)
        self._budget_source = layer.name
        self.budget_text.setText(f"measuring the noise of {layer.name} …")
        self.budget_button.setEnabled(False)
        self.run_button.setEnabled(False)
        self.job = Job(
            _budget_job,
            layer.data,
            target,
            on_done=self._budget_done,
            on_error=self._budget_failed,
            on_finish=self._budget_finished,
        )
        return self.job.start()

    def _budget_done(self, value: Any) -> None:
        import html

        self.advice, figure = value
        lines = "".join(f"<li>{html.escape(t)}</li>" for t in self.advice.summary_lines())
        notes = "".join(f"<br><small>{html.escape(n)}</small>" for n in self.advice.notes)
        self.budget_text.setText(
            f"<b>{html.escape(self._budget_source)}</b>:<ul style='margin: 0'>{lines}</ul>{notes}"
        )
        self.budget_plot.show_figure(figure)

    def _budget_failed(self, exc: BaseException) -> None:
        self.budget_text.setText(f"no photon budget for {self._budget_source}: {exc}")
        user_error(exc)

    def _budget_finished(self) -> None:
        self.budget_button.setEnabled(True)
        self.idle()

    # ------------------------------------------------------------------ run
    def levels(self) -> tuple[int, ...]:
        from ..averaging import W2S_LEVELS, parse_levels

        if self.levels_kind.currentIndex() == 0:
            return W2S_LEVELS
        return parse_levels(self.levels_text.text())

    def run(self) -> Job | None:
        from ..errors import W2SInputError

        layer = self._chosen_stack("noise levels need")
        if layer is None:
            return None
        try:
            levels = self.levels()
        except W2SInputError as exc:
            user_error(exc)
            return None
        mode = self.mode.currentText()
        seed = self.seed.value() if mode == "random" else None
        n = int(layer.data.shape[0])
        self._source = layer
        self.bar.setRange(0, n)
        self.bar.setValue(0)
        self.bars = Bars(f"averaging {layer.name}", n)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"averaging {n} frames of {layer.name} …")
        self.job = Job(
            _levels_job,
            layer.data,
            levels,
            mode,
            seed,
            on_yield=self._progress,
            on_done=self._add_layers,
            on_finish=self._finished,
        )
        return self.job.start()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("cancelled: no layer added")

    def _progress(self, item: Any) -> None:
        from ..progress import as_progress

        p = as_progress(item, "frame")
        if p is None:
            return
        self.bar.setValue(int(p.done))
        if self.bars is not None:
            self.bars.set_outer(int(p.done))

    def _finished(self) -> None:
        self.idle()

    def _add_layers(self, result: Any) -> None:
        source = self._source
        scale = tuple(float(s) for s in source.scale[1:])
        translate = tuple(float(t) for t in source.translate[1:])
        self.added = []
        skipped = []
        shown = None
        existing = {ly.name for ly in self.viewer.layers}
        for name, image in result.images.items():
            is_clean = name == result.clean
            if is_clean and not self.add_clean.isChecked():
                continue
            layer_name = f"{name} (clean)" if is_clean else name
            if is_clean and layer_name in existing:  # e.g. the sample's own avg400 (clean)
                skipped.append(layer_name)
                continue
            frames = result.frames[name]
            meta = {
                "axes": "YX",
                "source": source.metadata.get("source") or source.name,
                "frames": frames,
                "provenance": {
                    "operation": "noise level",
                    "level": name,
                    "source_layer": source.name,
                    "n_frames": len(frames),
                    "mode": self.mode.currentText(),
                    "frames": frames if len(frames) <= 16 else f"{frames[0]}..{frames[-1]}",
                },
            }
            visible = shown is None and not is_clean  # only the first (noisiest) level shows
            layer = self.viewer.add_image(
                image,
                name=layer_name,
                scale=scale,
                translate=translate,
                colormap="gray",
                metadata=meta,
                visible=visible,
            )
            if visible:
                shown = layer
            self.added.append(layer)
        if shown is not None:
            self.viewer.layers.selection.active = shown
        for note in result.notes:
            info(note)
        kept = f"; {', '.join(skipped)} was already there" if skipped else ""
        visible = f"; only {shown.name} is shown" if shown is not None else ""
        self.status.setText(
            f"added {', '.join(ly.name for ly in self.added)} from {source.name} "
            f"({result.n_frames} frames){kept}{visible}"
        )
