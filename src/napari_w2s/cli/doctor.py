"""``w2s doctor``: what this installation runs on, for bug reports."""

from __future__ import annotations

import argparse

from ._common import EXIT_OK, _print_json, add_command


def cmd_doctor(args: argparse.Namespace) -> int:
    from ..doctor import format_report, report

    r = report()
    if args.json:
        _print_json(r)
    else:
        print(format_report(r))
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``w2s doctor`` to the sub-commands ``sub``."""
    p = add_command(
        sub,
        "doctor",
        cmd_doctor,
        "What this installation runs on (versions, devices, display, weights): for bug reports.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
