"""The ``w2s`` command.

Contract (docs/cli.md): every sub-command takes ``--help``; exit 0 on success, 2 on a user error
with one line on stderr (never a traceback); ``--json`` prints one JSON object on stdout.
Heavy modules are imported inside the sub-commands, so ``w2s --help`` is instant.

Each command's parser lies beside its handler (``cmd_*``) in one module of this package; each
module registers its command(s) with ``add_parsers``. What they share is in ``_common``.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import __version__
from . import (
    analysis,
    average,
    batch,
    benchmark,
    check,
    demo,
    doctor,
    export,
    metrics,
    models,
    restore,
    simulate,
    train,
)
from ._common import EXIT_OK, _Parser, run_command

__all__ = ["build_parser", "main"]

# the order of ``w2s --help``
_MODULES = (
    demo,  # demo
    simulate,  # simulate
    restore,  # restore
    export,  # export-bmz
    doctor,  # doctor
    models,  # models
    benchmark,  # benchmark
    train,  # finetune, train
    average,  # average
    metrics,  # metrics
    analysis,  # estimate-noise, advise, estimate-kernel
    check,  # check
    batch,  # batch
)


def build_parser() -> _Parser:
    parser = _Parser(
        prog="w2s",
        description="Widefield2SIM: noise levels, metrics, restoration of widefield stacks.",
    )
    parser.add_argument("--version", action="version", version=f"napari-w2s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in _MODULES:
        module.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ..restore.threads import quiet_idle_threads

    quiet_idle_threads()  # before torch loads: idle OpenMP threads sleep instead of spinning
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    return run_command(args)
