"""Dock widget "Analysis": Poisson-Gaussian noise (a, b) of a layer, blur kernel LR -> SIM."""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtWidgets import (
    QFormLayout,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..layer_names import is_clean_name, is_sim_name
from ._controls import LayerCombo, PlotCanvas, scroll_layout, wrap_label
from ._jobs import Job, plane_of, user_error

NO_CLEAN = "(none: single-image estimate)"


def noise_job(
    image: np.ndarray, clean: np.ndarray | None, frames: int | None = None, level: str | None = None
):
    """Worker body: Foi's single-image estimate, or the paired one with a clean image; its
    reading as a camera (:func:`~napari_w2s.analysis.noise_report.summarise_noise`)."""
    from ..analysis import estimate_noise, estimate_noise_paired
    from ..analysis.figures import noise_fit_figure
    from ..analysis.noise_report import summarise_noise

    yield "estimating"
    est = estimate_noise(image) if clean is None else estimate_noise_paired(image, clean)
    summary = summarise_noise(est, image, frames=frames, level=level)
    return est, noise_fit_figure(est), summary


def kernel_job(lr: np.ndarray, hr: np.ndarray, size: int, pixel_nm: float | None = None):
    """Worker body: W2S Eq. 2 kernel, the bicubic and Gaussian references and their figure."""
    from ..analysis import bicubic_kernel, estimate_kernel, gaussian_kernel, kernel_stats
    from ..analysis.figures import kernels_figure

    yield "estimating"
    est = estimate_kernel(lr, hr, size=size)
    refs = {"bicubic": bicubic_kernel(size), "Gaussian σ=2": gaussian_kernel(size, 2.0)}
    fwhm = {"estimated": est.fwhm_px, **{k: kernel_stats(v)["fwhm_px"] for k, v in refs.items()}}
    fig = kernels_figure({"estimated": est.kernel, **refs}, max_radius=size // 2, pixel_nm=pixel_nm)
    return est, fwhm, fig


class AnalysisWidget(QWidget):
    """Two tabs: noise estimation with its fit, kernel estimation with its radial profile."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.job: Job | None = None
        self.noise_estimate = None
        self.noise_summary = None
        self.kernel_estimate = None
        self.kernel_layer = None
        tabs = QTabWidget()

        # noise
        noise = QWidget()
        self.noise_layer = LayerCombo(napari_viewer)
        self.noise_layer.setToolTip(
            "the raw image to measure (camera units, not a restored "
            "result); of a stack, the frame under the slider"
        )
        self.noise_clean = LayerCombo(
            napari_viewer, accept=lambda ly: ly.data.ndim == 2, optional=NO_CLEAN
        )
        self.noise_clean.setToolTip(
            "optional: a noise-free version of the same field (e.g. "
            "avg400 (clean)) for a more exact estimate; leave it at "
            "none to estimate from the image alone"
        )
        self.noise_button = QPushButton("Estimate noise")
        self.noise_button.setToolTip(
            "measure how the noise grows with the signal and read it as "
            "camera gain, offset / read noise, photons and SNR"
        )
        self.noise_result = wrap_label(
            "How noisy is the image? Gain, offset, photons per pixel "
            "and SNR, and the model that fits it. A stack uses its "
            "displayed frame."
        )
        self.noise_restore = QPushButton("Restore this image →")
        self.noise_restore.setToolTip(
            "open the Restore dock with this image and the noise level just estimated"
        )
        self.noise_restore.hide()
        self.noise_plot = PlotCanvas()
        self.noise_plot.setToolTip(
            "noise standard deviation against mean intensity: each dot "
            "is a set of smooth pixels of similar brightness; the curve is "
            "the fitted camera model"
        )
        form = QFormLayout()
        form.addRow("image", self.noise_layer)
        form.addRow("clean image", self.noise_clean)
        col = QVBoxLayout(noise)
        col.addLayout(form)
        col.addWidget(self.noise_button)
        col.addWidget(self.noise_result)
        col.addWidget(self.noise_restore)
        col.addWidget(self.noise_plot, 1)
        tabs.addTab(noise, "Noise")

        # kernel
        kernel = QWidget()
        self.lr_layer = LayerCombo(napari_viewer, accept=lambda ly: ly.data.ndim == 2)
        self.lr_layer.setToolTip(
            "the clean widefield image (low resolution, e.g. avg400 "
            "(clean), the average of all frames)"
        )
        self.hr_layer = LayerCombo(napari_viewer, accept=lambda ly: ly.data.ndim == 2)
        self.hr_layer.setToolTip(
            "the SIM image of the same field, exactly twice the size of the widefield image"
        )
        self.size = QSpinBox()
        self.size.setRange(5, 129)
        self.size.setValue(36)
        self.size.setToolTip(
            "width of the kernel to estimate, in SIM pixels; larger than the "
            "blur (36 covers ~1 µm at 32 nm pixels)"
        )
        self.kernel_button = QPushButton("Estimate kernel")
        self.kernel_button.setToolTip(
            "how much the widefield image is blurred compared with SIM "
            "(its FWHM in nm), next to the bicubic and Gaussian "
            "references"
        )
        self.kernel_result = wrap_label(
            "The blur between the clean LR image (e.g. avg400) and "
            "the SIM image (W2S Eq. 2), in HR pixels."
        )
        self.kernel_plot = PlotCanvas(300)
        self.kernel_plot.setToolTip(
            "top: the estimated kernel and two references; bottom: "
            "their radial profiles (half maximum dotted)"
        )
        form = QFormLayout()
        form.addRow("clean LR", self.lr_layer)
        form.addRow("SIM (x2)", self.hr_layer)
        form.addRow("size (HR px)", self.size)
        col = QVBoxLayout(kernel)
        col.addLayout(form)
        col.addWidget(self.kernel_button)
        col.addWidget(self.kernel_result)
        col.addWidget(self.kernel_plot, 1)
        tabs.addTab(kernel, "Kernel")
        self.tabs = tabs

        lay = scroll_layout(self)
        lay.addWidget(tabs)
        self.noise_button.clicked.connect(self.estimate_noise)
        self.noise_restore.clicked.connect(self.open_restore)
        self.kernel_button.clicked.connect(self.estimate_kernel)
        self._guess_layers()

    def reset_choices(self, *_: Any) -> None:
        for combo in (self.noise_layer, self.noise_clean, self.lr_layer, self.hr_layer):
            combo.reset_choices()
        self._guess_layers()

    def _guess_layers(self) -> None:
        """Preselect a clean LR layer and a twice-as-large SIM layer where the names say so."""
        names = [ly.name for ly in self.lr_layer.layers()]
        clean = [n for n in names if is_clean_name(n)]
        sim = [n for n in names if is_sim_name(n)]
        if clean and self.lr_layer.currentText() not in clean:
            self.lr_layer.set_value(clean[0])
        if sim and self.hr_layer.currentText() not in sim:
            self.hr_layer.set_value(sim[0])

    def _busy(self, busy: bool) -> None:
        self.noise_button.setEnabled(not busy)
        self.kernel_button.setEnabled(not busy)

    # ------------------------------------------------------------------ noise
    def estimate_noise(self) -> Job | None:
        from ..errors import W2SInputError

        layer, clean = self.noise_layer.value(), self.noise_clean.value()
        try:
            if layer is None:
                raise W2SInputError("choose an image layer to estimate its noise")
            image, lead = plane_of(self.viewer, layer)
            image = np.asarray(image)
            clean_data = None if clean is None else np.asarray(clean.data)
            if clean_data is not None and clean_data.shape != image.shape:
                raise W2SInputError(
                    f"the clean layer {clean.name!r} {clean_data.shape} and the image "
                    f"{layer.name!r} {image.shape} must have the same shape"
                )
        except W2SInputError as exc:
            user_error(exc)
            return None
        from ..layer_names import level_from_name

        where = f" (frame {lead[0]})" if lead else ""
        self._noise_target = (layer, where, clean)
        frames = (layer.metadata or {}).get("frames") if not lead else None
        frames = len(frames) if isinstance(frames, list) and frames else None
        level = None if lead or "clean" in layer.name.lower() else level_from_name(layer.name)
        self.noise_result.setText(f"estimating the noise of {layer.name}{where} …")
        self.noise_restore.hide()
        self._busy(True)
        self.job = Job(
            noise_job,
            image,
            clean_data,
            frames,
            level,
            on_done=self._noise_done,
            on_error=self._noise_failed,
            on_finish=lambda: self._busy(False),
        )
        return self.job.start()

    def _noise_failed(self, exc: BaseException) -> None:
        layer, where, _ = self._noise_target
        self.noise_result.setText(f"no noise estimate for {layer.name}{where}: {exc}")
        user_error(exc)

    def _noise_done(self, value: Any) -> None:
        import html

        est, fig, summary = value
        layer, where, clean = self._noise_target
        self.noise_estimate = est
        self.noise_summary = summary
        layer.metadata["noise"] = {
            "a": est.a,
            "b": est.b,
            "method": est.method,
            "snr": summary.snr,
            "level": summary.level,
        }
        kind = "paired with " + clean.name if clean is not None else "from the image alone"
        lines = "".join(f"<li>{html.escape(t)}</li>" for t in summary.lines())
        text = (
            f"<b>{html.escape(layer.name)}</b>{where}, {kind}:<ul style='margin: 0'>"
            f"{lines}</ul><b>{html.escape(summary.restore_hint())}</b><br><small>fit: "
            f"variance = a·mean + b with a = {est.a:.4g}, b = {est.b:.4g}, "
            f"{int(est.used.sum())} level sets</small>"
        )
        if est.notes:
            text += "<br><small>" + "<br>".join(html.escape(n) for n in est.notes) + "</small>"
        self.noise_result.setText(text)
        self.noise_restore.show()
        self.noise_plot.show_figure(fig)

    def open_restore(self) -> Any:
        """Dock Restore (or show it) with this image and the estimated noise level chosen."""
        layer, where, _ = self._noise_target
        summary = self.noise_summary
        dock, widget = self.viewer.window.add_plugin_dock_widget("napari-w2s", "Restore")
        dock.show()
        widget.layer.set_value(layer.name)
        if layer.data.ndim > 2:  # the frame that was measured
            widget.current_only.setChecked(True)
        widget.set_noise_level(summary.level if summary is not None else None)
        return widget

    # ------------------------------------------------------------------ kernel
    def estimate_kernel(self) -> Job | None:
        from ..errors import W2SInputError

        lr, hr = self.lr_layer.value(), self.hr_layer.value()
        try:
            if lr is None or hr is None:
                raise W2SInputError("choose a clean LR layer (e.g. avg400) and a SIM layer")
            lr_data, hr_data = np.asarray(lr.data), np.asarray(hr.data)
            if hr_data.shape != (2 * lr_data.shape[0], 2 * lr_data.shape[1]):
                raise W2SInputError(
                    f"the SIM layer {hr.name!r} {hr_data.shape} must be exactly twice the clean "
                    f"LR layer {lr.name!r} {lr_data.shape}"
                )
        except W2SInputError as exc:
            user_error(exc)
            return None
        self._kernel_target = (lr, hr)
        self.kernel_result.setText(f"estimating the kernel {lr.name} -> {hr.name} …")
        self._busy(True)
        hr_px = float(hr.scale[-1])
        pixel_nm = hr_px * 1000 if hr_px != 1.0 else None  # a scale in µm (napari's default: 1)
        self.job = Job(
            kernel_job,
            lr_data,
            hr_data,
            int(self.size.value()),
            pixel_nm,
            on_done=self._kernel_done,
            on_finish=lambda: self._busy(False),
        )
        return self.job.start()

    def _kernel_done(self, value: Any) -> None:
        est, fwhm, fig = value
        lr, hr = self._kernel_target
        self.kernel_estimate = est
        hr_px = float(hr.scale[-1])
        meta = {
            "axes": "YX",
            "kernel": est.to_dict(),
            "provenance": {
                "operation": "kernel estimate",
                "lr": lr.name,
                "hr": hr.name,
                **{k: v for k, v in est.to_dict().items() if k != "radial_profile"},
            },
        }
        # beside the SIM image (right of it, top-aligned), hidden: the plot below shows it too
        hr_t = tuple(float(t) for t in hr.translate[-2:])
        right = hr_t[1] + (hr.data.shape[-1] + 8) * hr_px
        self.kernel_layer = self.viewer.add_image(
            est.kernel.astype(np.float32),
            name=f"kernel {lr.name} -> {hr.name}",
            scale=(hr_px, hr_px),
            translate=(hr_t[0], right),
            colormap="magma",
            metadata=meta,
            visible=False,
        )
        unit = f" = {est.fwhm_px * hr_px * 1000:.0f} nm" if hr_px != 1.0 else ""
        refs = ", ".join(f"{k} {v:.2f} px" for k, v in fwhm.items() if k != "estimated")
        self.kernel_result.setText(
            f"FWHM <b>{est.fwhm_px:.2f} HR px</b>{unit}, sigma {est.sigma_px:.2f} px, "
            f"energy within 6 px {est.energy_r6:.2f}<br>references: {refs}"
        )
        self.kernel_plot.show_figure(fig)
