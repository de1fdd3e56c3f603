"""Driving the project's progress-yielding generators (long work everywhere is one)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any


def drain(gen: Generator[Any, None, Any], on_item: Callable[[Any], None] | None = None) -> Any:
    """Run ``gen`` to the end, passing each yielded item to ``on_item``; return its value.

    The generator is closed if ``on_item`` (or the caller) raises, so work stops between
    units and nothing partial is left behind.
    """
    try:
        while True:
            try:
                item = next(gen)
            except StopIteration as stop:
                return stop.value
            if on_item is not None:
                on_item(item)
    finally:
        gen.close()
