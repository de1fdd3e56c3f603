"""The device, CPU-thread and precision pickers of the networks, with a line saying where
and how they run (the Restore dock; the Batch dock uses :func:`device_choices`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qtpy.QtWidgets import QComboBox

from ._controls import hrow, wrap_label
from ._settings import get_setting, set_settings


def device_choices() -> list[str]:
    """``auto`` and the devices this machine has (imports torch: call it once, lazily)."""
    from ..restore.device import available_devices

    return ["auto", *available_devices()]


def saved_combo(items: list[str], setting: str, tooltip: str) -> QComboBox:
    """A combo box of ``items`` that starts from the saved ``setting`` (else the first)."""
    combo = QComboBox()
    combo.addItems(items)
    combo.setCurrentIndex(max(combo.findText(str(get_setting(setting, "auto"))), 0))
    combo.setToolTip(tooltip)
    return combo


class DeviceChoice:
    """The device and CPU-thread pickers of the networks, and a label saying where they run.

    The pickers start from, and save, the settings ``restore_device``, ``restore_threads`` and
    ``restore_precision`` (:data:`napari_w2s.restore.device.PRECISIONS`);
    ``on_change`` is called after each change (and each :meth:`update`).
    """

    def __init__(
        self,
        device_tip: str,
        threads_tip: str,
        on_change: Callable[[], None] | None = None,
        precision_tip: str = "",
    ) -> None:
        from ..restore.device import PRECISIONS
        from ..restore.threads import thread_choices

        self.device = saved_combo(device_choices(), "restore_device", device_tip)
        self.threads = saved_combo(thread_choices(), "restore_threads", threads_tip)
        self.precision = saved_combo(list(PRECISIONS), "restore_precision", precision_tip)
        self.label = wrap_label()
        self.row = hrow(self.device, self.threads, self.precision, stretch=(1, 0, 0))
        self.on_change = on_change
        self.device.currentTextChanged.connect(self.update)
        self.threads.currentTextChanged.connect(self._threads_changed)
        self.precision.currentTextChanged.connect(self._precision_changed)

    def _precision_changed(self, choice: str) -> None:
        set_settings(restore_precision=choice)
        self.update()

    def threads_value(self) -> int | str | None:
        """The threads choice as the engine takes it (``None``: every core)."""
        from ..restore.threads import from_choice

        return from_choice(self.threads.currentText())

    def _threads_changed(self, choice: str) -> None:
        set_settings(restore_threads=choice)
        self.update()

    def update(self, *_: Any) -> None:
        """Say where the networks run (and on the CPU, with how many threads); save the device."""
        from ..errors import W2SInputError
        from ..restore.device import check_precision, choose_device, describe
        from ..restore.threads import describe_threads

        choice = self.device.currentText()
        precision = self.precision.currentText()
        try:
            device = choose_device(choice)
            check_precision(device, precision)
            text = f"runs on: {describe(device, precision)}"
            if "cpu" in text.split("(")[0]:  # threads matter on the CPU only
                text += f"; threads: {describe_threads(self.threads_value())}"
            self.label.setText(text)
        except W2SInputError as exc:
            self.label.setText(str(exc))
        set_settings(restore_device=choice)
        if self.on_change is not None:
            self.on_change()
