"""What the ``w2s`` commands share: the one-line-error parser, the argument types, the exit
codes, JSON output, the progress bar and the readers of the commands' inputs.

Only the standard library at import time: ``w2s --help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from ..errors import W2SInputError

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


def _progress(desc: str, total: int, quiet: bool):
    """A tqdm bar on stderr (silent with --json or when stderr is not a terminal)."""
    from tqdm.auto import tqdm

    bar = tqdm(
        total=total,
        desc=desc,
        unit="frame",
        disable=quiet or not sys.stderr.isatty(),
        file=sys.stderr,
        leave=False,
    )

    def update(done: int, _total: int) -> None:
        bar.update(done - bar.n)

    return bar, update


def _ensure_out_dir(out: Path) -> Path:
    """Create the output folder if needed and check that it can be written in, up front."""
    from ..batch import check_output_dir

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
