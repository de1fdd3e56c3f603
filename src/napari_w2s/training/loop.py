"""The steps every training loop here shares: the optimiser and its gradient scaler, one
optimiser step, the time budget with its learning-rate drop, the window of losses behind a
progress record, and the running average of the weights (``--ema``).

The supervised trainer (:func:`napari_w2s.training.trainer.iter_train`) and the self-supervised
fine-tuning loop (:func:`napari_w2s.training.self_supervised_run.iter_self_supervised`) both run
on these, and both write their checkpoints through :mod:`napari_w2s.training.checkpoint`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any


def make_optimiser(model: Any, lr: float, device: Any, weight_decay: float = 0.0) -> tuple:
    """``(Adam, gradient scaler)`` for ``model`` on ``device``: the scaler only acts under fp16
    autocast (CUDA without bf16), elsewhere it passes the loss through."""
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    return opt, grad_scaler(device)


def grad_scaler(device: Any) -> Any:
    """The gradient scaler of :func:`napari_w2s.restore.device.autocast`'s precision."""
    import torch

    fp16 = (
        device.type == "cuda" and torch.cuda.is_available() and not torch.cuda.is_bf16_supported()
    )
    return torch.amp.GradScaler("cuda", enabled=fp16)


def optimiser_step(
    opt: Any, scaler: Any, loss: Any, lr: float | None = None, iteration: int | None = None
) -> None:
    """One step of ``opt`` on ``loss``: at learning rate ``lr`` (unchanged when ``None``);
    with ``iteration`` given, a loss that is not finite stops the run with one clear line
    first."""
    import torch

    if iteration is not None and not torch.isfinite(loss):
        raise RuntimeError(f"the loss became {float(loss)} at iteration {iteration}; lower --lr")
    if lr is not None:
        for group in opt.param_groups:
            group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()


class Budget:
    """The run's clock: wall time (earlier sessions of a resumed run included), the time
    budget, and the learning rate, divided by 10 once ``drop`` of the run is done (iterations
    or time, whichever runs out first)."""

    def __init__(
        self, iterations: int, budget_s: float | None, elapsed_s: float = 0.0, drop: float = 0.6
    ) -> None:
        self.iterations, self.budget_s, self.drop = iterations, budget_s, drop
        self._elapsed, self._t0 = elapsed_s, time.perf_counter()

    def spent(self) -> float:
        """Seconds of wall time of the run so far."""
        return self._elapsed + time.perf_counter() - self._t0

    def out_of_time(self) -> bool:
        return self.budget_s is not None and self.spent() >= self.budget_s

    def progress(self, iteration: int) -> float:
        """Fraction of the run done: iterations, or wall time when that runs out first."""
        frac = iteration / self.iterations
        return max(frac, self.spent() / self.budget_s) if self.budget_s else frac

    def lr(self, base: float, iteration: int) -> float:
        return base * (0.1 if self.progress(iteration) >= self.drop else 1.0)

    def steps(self, start: int, stop: Callable[[], bool] | None = None) -> Iterator[int]:
        """The iterations from ``start`` while the budget lasts; afterwards ``stopped`` says
        whether ``stop()`` (a cancel) ended them rather than the iterations or the time."""
        self.stopped = False
        for it in range(start, self.iterations):
            if self.out_of_time():
                return
            if stop is not None and stop():
                self.stopped = True
                return
            yield it

    def record_due(self, done: int, every: int) -> bool:
        """Whether a progress record is due after ``done`` iterations (every ``every``, and
        at the end of the iterations or of the time)."""
        return done % every == 0 or done == self.iterations or self.out_of_time()


class Window:
    """The losses since the last progress record: their means and the iterations per second."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.t, self.loss, self.parts, self.n = time.perf_counter(), 0.0, {}, 0

    def add(self, loss: float, parts: dict[str, float]) -> None:
        self.loss += loss
        self.n += 1
        for k, v in parts.items():
            self.parts[k] = self.parts.get(k, 0.0) + float(v)

    def record(self, iteration: int, budget: Budget, lr: float) -> dict:
        """The common part of a progress record (the validation comes on top)."""
        n = max(self.n, 1)
        return {
            "iteration": iteration,
            "iterations": budget.iterations,
            "loss": self.loss / n,
            "parts": {k: v / n for k, v in self.parts.items()},
            "lr": lr,
            "it_per_s": self.n / max(time.perf_counter() - self.t, 1e-9),
            "elapsed_s": budget.spent(),
            "budget_s": budget.budget_s,
        }


class WeightAverage:
    """An exponential moving average of a model's weights (Polyak averaging; ``w2s train
    --ema DECAY``): after each optimiser step ``avg = d * avg + (1 - d) * weights`` with
    ``d = min(decay, (1 + n) / (10 + n))`` at step ``n``, so that the first steps do not
    outweigh the rest. Integer buffers are copied. The average is what a run with ``--ema``
    evaluates and saves: steadier weights than the last iterate of a short, noisy run."""

    def __init__(self, model: Any, decay: float) -> None:
        self.decay = decay
        self.reset(model)

    def reset(self, model: Any, steps: int = 0) -> None:
        """Start the average at ``model``'s weights."""
        self.steps = steps
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def rate(self) -> float:
        """The ``d`` of the next update."""
        return min(self.decay, (1 + self.steps) / (10 + self.steps))

    def update(self, model: Any) -> None:
        import torch

        d = self.rate()
        self.steps += 1
        with torch.no_grad():
            for key, value in model.state_dict().items():
                avg = self.state[key]
                if avg.is_floating_point():
                    avg.mul_(d).add_(value.detach(), alpha=1.0 - d)
                else:
                    avg.copy_(value)

    def copy_to(self, model: Any) -> None:
        """Put the average into ``model``."""
        model.load_state_dict(self.state)
