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

from ._common import (
    Job,
    LayerCombo,
    PlotCanvas,
    is_clean_name,
    is_sim_name,
    plane_of,
    scroll_layout,
    user_error,
    wrap_label,
)

NO_CLEAN = "(none: single-image estimate)"


def noise_job(image: np.ndarray, clean: np.ndarray | None):
    """Worker body: Foi's single-image estimate, or the paired one with a clean image."""
    from ..analysis import estimate_noise, estimate_noise_paired
    from ..analysis.figures import noise_fit_figure

    yield "estimating"
    est = estimate_noise(image) if clean is None else estimate_noise_paired(image, clean)
    return est, noise_fit_figure(est)


def kernel_job(lr: np.ndarray, hr: np.ndarray, size: int):
    """Worker body: W2S Eq. 2 kernel, the bicubic and Gaussian references and their figure."""
    from ..analysis import bicubic_kernel, estimate_kernel, gaussian_kernel, kernel_stats
    from ..analysis.figures import kernels_figure

    yield "estimating"
    est = estimate_kernel(lr, hr, size=size)
    refs = {"bicubic": bicubic_kernel(size), "Gaussian σ=2": gaussian_kernel(size, 2.0)}
    fwhm = {"estimated": est.fwhm_px, **{k: kernel_stats(v)["fwhm_px"] for k, v in refs.items()}}
    fig = kernels_figure({"estimated": est.kernel, **refs}, max_radius=size // 2)
    return est, fwhm, fig


class AnalysisWidget(QWidget):
    """Two tabs: noise estimation with its fit, kernel estimation with its radial profile."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.job: Job | None = None
        self.noise_estimate = None
        self.kernel_estimate = None
        self.kernel_layer = None
        tabs = QTabWidget()

        # noise
        noise = QWidget()
        self.noise_layer = LayerCombo(napari_viewer)
        self.noise_clean = LayerCombo(napari_viewer, accept=lambda ly: ly.data.ndim == 2,
                                      optional=NO_CLEAN)  # fmt: skip
        self.noise_button = QPushButton("Estimate noise")
        self.noise_result = wrap_label("Variance = a · mean + b, in the layer's units. A stack "
                                       "uses its displayed frame.")  # fmt: skip
        self.noise_plot = PlotCanvas()
        form = QFormLayout()
        form.addRow("image", self.noise_layer)
        form.addRow("clean image", self.noise_clean)
        col = QVBoxLayout(noise)
        col.addLayout(form)
        col.addWidget(self.noise_button)
        col.addWidget(self.noise_result)
        col.addWidget(self.noise_plot, 1)
        tabs.addTab(noise, "Noise")

        # kernel
        kernel = QWidget()
        self.lr_layer = LayerCombo(napari_viewer, accept=lambda ly: ly.data.ndim == 2)
        self.hr_layer = LayerCombo(napari_viewer, accept=lambda ly: ly.data.ndim == 2)
        self.size = QSpinBox()
        self.size.setRange(5, 129)
        self.size.setValue(36)
        self.kernel_button = QPushButton("Estimate kernel")
        self.kernel_result = wrap_label("The blur between the clean LR image (e.g. avg400) and "
                                        "the SIM image (W2S Eq. 2), in HR pixels.")  # fmt: skip
        self.kernel_plot = PlotCanvas(220)
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
                    f"{layer.name!r} {image.shape} must have the same shape")  # fmt: skip
        except W2SInputError as exc:
            user_error(exc)
            return None
        where = f" (frame {lead[0]})" if lead else ""
        self._noise_target = (layer, where, clean)
        self.noise_result.setText(f"estimating the noise of {layer.name}{where} …")
        self._busy(True)
        self.job = Job(noise_job, image, clean_data, on_done=self._noise_done,
                       on_finish=lambda: self._busy(False))  # fmt: skip
        return self.job.start()

    def _noise_done(self, value: Any) -> None:
        est, fig = value
        layer, where, clean = self._noise_target
        self.noise_estimate = est
        layer.metadata["noise"] = {"a": est.a, "b": est.b, "method": est.method}
        kind = "paired with " + clean.name if clean is not None else "single image"
        text = (f"<b>{layer.name}</b>{where}, {kind}:<br>a = <b>{est.a:.4g}</b>, "
                f"b = <b>{est.b:.4g}</b> (variance = a·mean + b)<br>"
                f"{int(est.used.sum())} level sets fitted")  # fmt: skip
        if est.notes:
            text += "<br>" + "<br>".join(est.notes)
        self.noise_result.setText(text)
        self.noise_plot.show_figure(fig)

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
                    f"LR layer {lr.name!r} {lr_data.shape}")  # fmt: skip
        except W2SInputError as exc:
            user_error(exc)
            return None
        self._kernel_target = (lr, hr)
        self.kernel_result.setText(f"estimating the kernel {lr.name} -> {hr.name} …")
        self._busy(True)
        self.job = Job(kernel_job, lr_data, hr_data, int(self.size.value()),
                       on_done=self._kernel_done, on_finish=lambda: self._busy(False))  # fmt: skip
        return self.job.start()

    def _kernel_done(self, value: Any) -> None:
        est, fwhm, fig = value
        lr, hr = self._kernel_target
        self.kernel_estimate = est
        hr_px = float(hr.scale[-1])
        meta = {"axes": "YX", "kernel": est.to_dict(),
                "provenance": {"operation": "kernel estimate", "lr": lr.name, "hr": hr.name,
                               **{k: v for k, v in est.to_dict().items()
                                  if k != "radial_profile"}}}  # fmt: skip
        # beside the SIM image (right of it, top-aligned), hidden: the plot below shows it too
        hr_t = tuple(float(t) for t in hr.translate[-2:])
        right = hr_t[1] + (hr.data.shape[-1] + 8) * hr_px
        self.kernel_layer = self.viewer.add_image(
            est.kernel.astype(np.float32), name=f"kernel {lr.name} -> {hr.name}",
            scale=(hr_px, hr_px), translate=(hr_t[0], right), colormap="magma", metadata=meta,
            visible=False)  # fmt: skip
        unit = f" = {est.fwhm_px * hr_px * 1000:.0f} nm" if hr_px != 1.0 else ""
        refs = ", ".join(f"{k} {v:.2f} px" for k, v in fwhm.items() if k != "estimated")
        self.kernel_result.setText(
            f"FWHM <b>{est.fwhm_px:.2f} HR px</b>{unit}, sigma {est.sigma_px:.2f} px, "
            f"energy within 6 px {est.energy_r6:.2f}<br>references: {refs}")  # fmt: skip
        self.kernel_plot.show_figure(fig)
