"""The Train widget's live plot: the training loss and the held-back RMSE against the iteration.

Drawn with ``QPainter``: a repaint is a few polylines and labels, about a millisecond, so the plot
never holds up napari's event loop while a model trains. (The first version used matplotlib: its
first draw took 1.4-1.8 s and every later one 170-340 ms on the main thread of a loaded 2-core
machine, the longest pauses of the event loop during training;
``benchmarks/bench_train_event_loop.py`` measures them.)
"""

from __future__ import annotations

import math
from typing import Any

from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QWidget

LOSS_COLOUR = (31, 119, 180)  # matplotlib's C0 and C1, as before
VAL_COLOUR = (255, 127, 14)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _thin(xs: list, ys: list, most: int) -> list[tuple[float, float]]:
    """At most ``most`` points, evenly spread, the last one always kept."""
    n = len(xs)
    step = max(1, math.ceil(n / most))
    idx = list(range(0, n, step))
    if idx and idx[-1] != n - 1:
        idx.append(n - 1)
    return [(xs[i], ys[i]) for i in idx]


def _span(values: list[float]) -> tuple[float, float]:
    """``(low, high)`` of ``values`` with 5 % of room on both sides (never empty)."""
    lo, hi = min(values), max(values)
    pad = 0.05 * (hi - lo) if hi > lo else 0.05 * abs(hi) or 1.0
    return lo - pad, hi + pad


class LossPlot(QWidget):
    """The training loss (left scale) and the held-back RMSE (right scale, dots; the dotted
    line: its value before this session) against the iteration."""

    MAX_POINTS = 400  # per line: the widget is a few hundred pixels wide

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumHeight(160)
        self.clear()

    def clear(self) -> None:
        self.its: list[int] = []
        self.loss: list[float] = []
        self.val_its: list[int] = []
        self.val: list[float] = []
        self.val_start: float | None = None
        self.update()

    def add(self, rec: dict) -> None:
        self.its.append(int(rec["iteration"]))
        self.loss.append(float(rec["loss"]))
        if rec.get("val") is not None:
            self.val_its.append(int(rec["iteration"]))
            self.val.append(float(rec["val"]))
            if self.val_start is None and rec.get("val_start") is not None:
                self.val_start = float(rec["val_start"])
        self.update()  # Qt merges the repaints: one per frame at most

    def redraw(self) -> None:
        self.update()

    def paintEvent(self, event: Any) -> None:
        p = QPainter(self)
        try:
            self._paint(p)
        finally:
            p.end()

    def _paint(self, p: QPainter) -> None:
        p.setRenderHint(QPainter.Antialiasing)
        fm = p.fontMetrics()
        text = self.palette().color(self.foregroundRole())
        line_h = fm.height()
        side = fm.horizontalAdvance("0.000e-00") + 6
        box = QRectF(side, line_h + 4, self.width() - 2 * side, self.height() - 3 * line_h - 8)
        if box.width() < 20 or box.height() < 20:
            return
        frame = QColor(text)
        frame.setAlpha(110)
        p.setPen(QPen(frame, 1))
        p.drawRect(box)
        p.setPen(text)
        p.drawText(
            QRectF(0, box.bottom() + line_h + 2, self.width(), line_h),
            Qt.AlignHCenter,
            "iteration",
        )
        loss_c, val_c = QColor(*LOSS_COLOUR), QColor(*VAL_COLOUR)
        p.setPen(loss_c)
        p.drawText(QRectF(0, 0, self.width() / 2, line_h), Qt.AlignLeft, "training loss")
        p.setPen(val_c)
        p.drawText(
            QRectF(self.width() / 2, 0, self.width() / 2, line_h), Qt.AlignRight, "held-back RMSE"
        )
        if not self.its:
            return
        x_lo, x_hi = min(self.its[0], *self.val_its[:1]), max(self.its[-1], *self.val_its[-1:])
        x_hi = x_hi if x_hi > x_lo else x_lo + 1

        def px(x: float) -> float:
            return box.left() + (x - x_lo) / (x_hi - x_lo) * box.width()

        def py(y: float, lo: float, hi: float) -> float:
            return box.bottom() - (y - lo) / (hi - lo) * box.height()

        p.setPen(text)
        below = QRectF(box.left(), box.bottom() + 2, box.width(), line_h)
        p.drawText(below, Qt.AlignLeft, str(x_lo))
        p.drawText(below, Qt.AlignRight, str(x_hi))
        lo, hi = _span(self.loss)
        self._scale(p, loss_c, lo, hi, QRectF(0, box.top(), side - 4, box.height()), Qt.AlignRight)
        points = [
            QPointF(px(x), py(y, lo, hi)) for x, y in _thin(self.its, self.loss, self.MAX_POINTS)
        ]
        p.setPen(QPen(loss_c, 1.2))
        p.drawPolyline(QPolygonF(points))
        if not self.val:
            return
        vals = self.val + ([self.val_start] if self.val_start is not None else [])
        lo, hi = _span(vals)
        right = QRectF(box.right() + 4, box.top(), side - 4, box.height())
        self._scale(p, val_c, lo, hi, right, Qt.AlignLeft)
        if self.val_start is not None:
            p.setPen(QPen(val_c, 1, Qt.DotLine))
            y = py(self.val_start, lo, hi)
            p.drawLine(QPointF(box.left(), y), QPointF(box.right(), y))
        points = [
            QPointF(px(x), py(y, lo, hi)) for x, y in _thin(self.val_its, self.val, self.MAX_POINTS)
        ]
        p.setPen(QPen(val_c, 1.2))
        p.drawPolyline(QPolygonF(points))
        p.setBrush(val_c)
        for pt in points[-60:]:
            p.drawEllipse(pt, 2.0, 2.0)

    @staticmethod
    def _scale(p: QPainter, colour: QColor, lo: float, hi: float, rect: QRectF, align) -> None:
        """The highest and lowest value of a scale, beside the plot's box."""
        p.setPen(colour)
        p.drawText(rect, align | Qt.AlignTop, _fmt(hi))
        p.drawText(rect, align | Qt.AlignBottom, _fmt(lo))
