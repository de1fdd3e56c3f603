"""How many CPU threads torch uses: a number, or ``auto`` (the cores actually free).

``auto`` counts the cores this process may run on (``os.sched_getaffinity``) and subtracts the
machine's current load (the larger of the 1-minute load average and the threads runnable at
this instant, rounded), keeping at least one: on a 2-core machine with one other CPU-bound job
it gives 1, also in the first seconds of that job, when the load average has not risen yet.
With OpenMP's default (spinning) wait policy, oversubscribing a busy machine is far worse than
leaving a core idle: with one other job running, the compact JDSR model took 3x longer on 2
threads than on 1 (``docs/benchmarks.md``).

torch's thread count belongs to the calling thread (OpenMP keeps it per thread), so
:func:`using_threads` is entered in the thread that runs the model (the engine does it around
every forward pass) and puts the previous count back on exit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from ..errors import W2SInputError

Threads = int | str | None  # a count, "auto", or None (torch's default)


def parse_threads(value: Threads) -> int | str | None:
    """``None``, ``"auto"`` or a whole number >= 1 (also given as text); anything else is a
    user error with one line."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        try:
            value = int(text)
        except ValueError:
            raise W2SInputError(
                f"threads {value!r}: use auto or a whole number of at least 1"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise W2SInputError(f"threads {value!r}: use auto or a whole number of at least 1")
    return int(value)


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), else the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def current_load() -> float:
    """How many cores other work holds: the larger of the 1-minute load average and the
    threads runnable right now (:func:`runnable_now`); 0 where the system reports neither.

    The load average lags (a job started 20 s ago counts for about a third of a core), the
    instant count misses jobs that sleep in between: each covers the other's blind spot."""
    try:
        average = float(os.getloadavg()[0])
    except (AttributeError, OSError):
        average = 0.0
    return max(average, runnable_now())


def runnable_now(samples: int = 5, interval: float = 0.004, text: str | None = None) -> float:
    """Threads of the whole machine ready to run now, other than the one asking: the median
    of ``samples`` readings of ``procs_running`` in ``/proc/stat`` (Linux; 0 elsewhere).
    ``text`` parses one given reading instead (tests)."""
    import statistics
    import time

    def read() -> int | None:
        body = text
        if body is None:
            try:
                with open("/proc/stat") as fh:
                    body = fh.read()
            except OSError:
                return None
        for line in body.splitlines():
            if line.startswith("procs_running "):
                return int(line.split()[1])
        return None

    counts = []
    for i in range(1 if text is not None else samples):
        if i:
            time.sleep(interval)
        n = read()
        if n is None:
            return 0.0
        counts.append(n)
    return max(0.0, float(statistics.median(counts)) - 1.0)  # not the reading thread


def auto_threads(cores: int | None = None, load: float | None = None, share: int = 1) -> int:
    """Threads for ``auto``: free cores = ``cores - round(load)``, divided among ``share``
    workers running at once, at least 1."""
    cores = usable_cores() if cores is None else int(cores)
    load = current_load() if load is None else float(load)
    free = max(1, cores - int(round(load)))
    return max(1, free // max(1, int(share)))


def resolve_threads(value: Threads, share: int = 1) -> int | None:
    """The thread count for ``value``: ``auto`` measured now, a number as is, ``None`` kept."""
    value = parse_threads(value)
    if value == "auto":
        return auto_threads(share=share)
    return value


@contextlib.contextmanager
def using_threads(threads: int | None) -> Iterator[int]:
    """torch runs on ``threads`` threads inside the block (in this thread); the previous count
    is restored after. ``None`` leaves the count alone. Yields the count in force."""
    import torch

    previous = torch.get_num_threads()
    if threads is None or int(threads) == previous:
        yield previous
        return
    torch.set_num_threads(int(threads))
    try:
        yield int(threads)
    finally:
        torch.set_num_threads(previous)


ALL = "all"  # the widgets' name for torch's default (every core)


def thread_choices() -> list[str]:
    """The widgets' choices: ``auto``, ``all`` (torch's default) and 1 .. the usable cores."""
    return ["auto", ALL, *(str(n) for n in range(1, usable_cores() + 1))]


def from_choice(choice: str) -> int | str | None:
    """A widget choice as :func:`resolve_threads` takes it (``all`` is ``None``)."""
    return None if choice.strip().lower() == ALL else parse_threads(choice)


def describe_threads(value: Threads) -> str:
    """What a choice means now, e.g. ``auto: 1 thread (2 cores, load 1.2)``."""
    value = parse_threads(value)
    if value is None:
        return "every core (torch's default)"
    if value == "auto":
        n = auto_threads()
        return (
            f"auto: {n} thread{'s' if n > 1 else ''} ({usable_cores()} cores, load "
            f"{current_load():.1f})"
        )
    return f"{value} thread{'s' if value > 1 else ''}"


def quiet_idle_threads() -> bool:
    """Ask OpenMP to put idle worker threads to sleep instead of spinning on a core
    (``OMP_WAIT_POLICY=PASSIVE``, unless the user set a policy). It only works before torch is
    imported (OpenMP reads it when it loads), so the ``w2s`` command calls it first thing;
    returns whether it can still take effect. On a busy machine spinning threads take cores
    from the other jobs and from each other: JDSR on 2 threads with other jobs running measured
    1.66x faster with the passive policy (docs/benchmarks.md)."""
    import sys

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return "torch" not in sys.modules
