"""What the ``w2s`` commands share: the one-line-error parser, the argument types, the exit
codes, JSON output, the progress bar and the readers of the commands' inputs.

Only the standard library at import time: ``w2s --help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from ..errors import W2SInputError
from ..progress import Progress, as_progress

EXIT_OK, EXIT_USAGE = 0, 2
EXIT_SOME_FAILED = 3  # batch: some files failed; benchmark: a named method gave no result


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (and a pointer to --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is too small; use at least {minimum}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


def _positive(text: str) -> float:
    """An argparse type: a finite number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number above 0")
    return value


def _threads(text: str) -> int | str:
    """An argparse type: ``auto`` or a whole number of at least 1 (CPU threads)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither auto nor a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small; use auto or at least 1")
    return value


_threads.__name__ = "threads"  # argparse names the type in its messages

THREADS_HELP = (
    "CPU threads for the networks: a number, or auto = the cores free now (this "
    "process's cores minus the load average); default: every core"
)


def _json_ready(obj: Any) -> Any:
    """Replace non-finite floats (JSON has no Infinity) by None, recursively."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    return obj


def _print_json(obj: Any) -> None:
    print(json.dumps(_json_ready(obj), indent=2))


class ProgressBar:
    """What :func:`progress_bar` gives a command: call it with each item a generator yields (a
    :class:`~napari_w2s.progress.Progress` or any shape :func:`~napari_w2s.progress.as_progress`
    reads); :meth:`write` prints a line on stdout without breaking the bar."""

    def __init__(
        self,
        bar: Any,
        unit: str,
        postfix: Callable[[Progress], dict] | None,
        plain: Callable[[Progress], str | None] | None,
    ) -> None:
        self.bar, self.unit, self.postfix, self.plain = bar, unit, postfix, plain

    def __call__(self, item: Any) -> None:
        p = as_progress(item, "" if self.unit == "%" else self.unit)
        if p is None:
            return
        if self.plain is not None:
            line = self.plain(p)
            if line is not None:
                print(line, flush=True)
        bar = self.bar
        if bar.disable:
            return
        if self.unit == "%":  # any unit: the fraction done, in per cent
            if p.fraction is None:
                return
            bar.n = round(100 * p.fraction, 1)
        elif p.unit == self.unit:  # the bar counts its own unit; other events are stages
            if p.total is not None and _count(p.total) != bar.total:
                bar.total = _count(p.total)
            bar.n = _count(p.done)
        else:
            return
        if self.postfix is not None:
            bar.set_postfix(self.postfix(p), refresh=False)
        bar.refresh()

    def write(self, line: str) -> None:
        """Print ``line`` on stdout (above the bar while it is shown)."""
        if self.bar.disable:
            print(line, flush=True)
        else:
            self.bar.write(line, file=sys.stdout)


def _count(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


@contextmanager
def progress_bar(
    desc: str,
    unit: str,
    quiet: bool,
    *,
    total: float | None = None,
    leave: bool = False,
    postfix: Callable[[Progress], dict] | None = None,
    plain: Callable[[Progress], str | None] | None = None,
) -> Iterator[ProgressBar]:
    """The one progress display of the commands: a tqdm bar on stderr counting ``unit``
    (``"%"``: the fraction done of any unit), silent with ``quiet`` (``--json``) or when stderr
    is not a terminal; ``postfix(progress)`` adds fields to the bar (a loss), and when stderr is
    not a terminal (and not ``quiet``) ``plain(progress)`` is printed on stdout instead (a
    training run's periodic line; ``None``: nothing)."""
    from tqdm.auto import tqdm

    tty = sys.stderr.isatty()
    bar = tqdm(
        total=100 if unit == "%" else total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        leave=leave,
        disable=quiet or not tty,
    )
    try:
        yield ProgressBar(bar, unit, postfix, None if quiet or tty else plain)
    finally:
        bar.close()


def _ensure_out_dir(out: Path) -> Path:
    """Create the output folder if needed and check that it can be written in, up front."""
    from ..io.folders import check_output_dir

    return check_output_dir(out)


def _read_input(path: str, args: argparse.Namespace) -> Any:
    """``read_stack`` of a command's input with its ``--axes`` and ``--channel``; ``--channel``
    chooses among a W2S folder's files, so on a single file it would do nothing: refused."""
    from ..restore.files import read_input

    return read_input(path, args.axes, args.channel)


def _read_image(path: str, what: str) -> Any:
    import numpy as np

    from ..io import read_stack

    stack = read_stack(path)
    return np.asarray(stack.data), stack


def _read_2d(path: str, what: str) -> Any:
    image, _ = _read_image(path, what)
    if image.ndim != 2:
        raise W2SInputError(
            f"{path}: the {what} has shape {image.shape}; give one 2-D image (e.g. avg1.tif), "
            "not a stack"
        )
    return image


def _output_file(
    value: str | None, suffixes: tuple[str, ...], what: str, inputs: list[str]
) -> Path | None:
    """An output file name checked up front: its format, its folder, and that it is no input."""
    from .._validate import refuse_overwriting_inputs

    if not value:
        return None
    out = Path(value)
    if out.suffix.lower() not in suffixes:
        raise W2SInputError(
            f"{out}: {what} is written as {' or '.join(suffixes)}; give such a name"
        )
    if not out.parent.is_dir():
        raise W2SInputError(f"{out.parent}: no such folder")
    refuse_overwriting_inputs([out], inputs)
    return out


def add_command(
    sub: argparse._SubParsersAction,
    name: str,
    func: Callable[[argparse.Namespace], int],
    help: str,
) -> argparse.ArgumentParser:
    """A sub-command parser whose description is its help line, and which runs ``func``."""
    p = sub.add_parser(name, help=help, description=help)
    p.set_defaults(func=func)
    return p


def run_command(args: argparse.Namespace) -> int:
    """Run the parsed command: a user error, or too little memory, is one line on stderr and
    exit 2 (never a traceback); Ctrl-C is exit 130."""
    try:
        return int(args.func(args) or EXIT_OK)
    except W2SInputError as err:
        print(f"w2s {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError as err:
        detail = f" ({err})" if str(err) else ""
        print(
            f"w2s {args.command}: error: out of memory{detail}; the image is too large for "
            "this machine (crop it, or restore with w2s batch --tile)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"w2s {args.command}: interrupted", file=sys.stderr)
        return 130
