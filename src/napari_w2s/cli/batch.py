"""``w2s batch``: every matching file of a folder restored, locally or on a Dask cluster."""

from __future__ import annotations

import argparse
import sys

from ..progress import drain
from ..restore.device import PRECISIONS
from ..restore.orientations import ORIENTATIONS
from ._common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    THREADS_HELP,
    _print_json,
    _threads,
    add_command,
    progress_bar,
)


def cmd_batch(args: argparse.Namespace) -> int:
    from ..averaging import noise_level_option
    from ..batch import iter_batch
    from ..restore.alloc import keep_freed_memory

    keep_freed_memory()  # reuse freed feature maps: no page-fault storm per tile (glibc)
    level = noise_level_option(args.noise_level)
    gen = iter_batch(
        args.in_dir,
        args.pattern,
        args.out_dir,
        args.method,
        device=args.device,
        tile=args.tile,
        recursive=args.recursive,
        workers=args.workers,
        scheduler=args.scheduler,
        overwrite=args.overwrite,
        weights=args.weights,
        noise_level=level,
        threads=args.threads,
        precision=args.precision,
        orientations=args.orientations,
    )
    with progress_bar(f"batch {args.method}", "file", args.json) as bar:

        def show(ev: dict) -> None:
            bar(ev)  # the files ended of all files; the tiles of one file are not counted
            if ev["event"] == "start":
                for note in ev["notes"]:
                    print(f"note: {note}", file=sys.stderr)
                if not args.json:
                    bar.write(_start_line(ev, args))
            elif ev["event"] == "result" and ev["status"] != "skipped":
                if ev["status"] == "failed":
                    print(f"w2s batch: failed: {ev['rel']}: {ev['message']}", file=sys.stderr)
                elif not args.json:
                    bar.write(
                        f"[{ev['completed']}/{ev['n_files']}] {ev['rel']} -> {ev['out']} "
                        f"({ev['seconds']:.2f} s)"
                    )

        report = drain(gen, show)
    if args.json:
        _print_json({**report.to_dict(), "report": report.report})
    else:
        print(f"{report.summary()}; report: {report.report}")
    if report.report_error:  # the files went through, but the record of them did not
        print(f"w2s batch: error: {report.report_error}", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK if report.ok else EXIT_SOME_FAILED


def _start_line(ev: dict, args: argparse.Namespace) -> str:
    """``N file(s): M to restore with METHOD`` (where, the files skipped and cleaned)."""
    where = f" on {args.scheduler}" if args.scheduler else ""
    skipped = (
        f", {ev['skipped']} skipped (already done; --overwrite restores them again)"
        if ev["skipped"]
        else ""
    )
    cleaned = (
        f", {ev['cleaned']} stale temporary file(s) of an interrupted run removed"
        if ev["cleaned"]
        else ""
    )
    return f"{ev['n_files']} file(s): {ev['todo']} to restore with {args.method}{where}{skipped}{cleaned}"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``w2s batch`` to the sub-commands ``sub``."""
    p = add_command(
        sub,
        "batch",
        cmd_batch,
        "Restore every matching file of a folder (locally or on a Dask cluster); resumable.",
    )
    p.add_argument("in_dir", metavar="IN_DIR", help="folder of TIFF / OME-TIFF / .npy files")
    p.add_argument(
        "out_dir",
        metavar="OUT_DIR",
        help="output folder (created); gets NAME_METHOD.ome.tif and batch_report.json",
    )
    p.add_argument(
        "--method",
        required=True,
        help="jdsr, dncnn, rcan, dncnn+rcan, pure-let, bicubic, ... (w2s models)",
    )
    p.add_argument(
        "--pattern",
        default="*",
        help="glob on file names, e.g. '*.tif' or 'cell_*' (default: every .tif, .tiff and .npy)",
    )
    p.add_argument(
        "--recursive",
        action="store_true",
        help="also match in sub-folders; outputs keep the sub-folder",
    )
    p.add_argument("--workers", type=int, default=1, help="files restored at once here (threads)")
    p.add_argument(
        "--scheduler",
        default=None,
        help="a Dask scheduler, tcp://HOST:PORT: every file is a task on that cluster "
        "(needs napari-w2s[distributed]; paths must be visible to the workers)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="restore again files whose output exists (default: skip them)",
    )
    p.add_argument(
        "--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, mps"
    )
    p.add_argument(
        "--tile",
        type=int,
        default=None,
        help="tile size in input pixels; 0 = whole image; default: from free memory",
    )
    p.add_argument(
        "--threads",
        type=_threads,
        default=None,
        help=THREADS_HELP + "; with --workers N, auto shares the free cores",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="as w2s restore: bfloat16 is 1.2-2.7x faster on a CPU with native bfloat16",
    )
    p.add_argument(
        "--orientations",
        type=int,
        choices=ORIENTATIONS,
        default=1,
        help="as w2s restore: average each network's result over 1 (default), 2, 4 or 8 flips and quarter turns "
        "of the image: N times slower, lower error",
    )
    p.add_argument(
        "--weights",
        default=None,
        help="a .safetensors file with its .json card, the name of one of your "
        "models (w2s models), or a BioImage Model Zoo package (.zip or folder)",
    )
    p.add_argument(
        "--noise-level",
        default=None,
        help="auto (per file, from its signal-to-noise ratio), or prefer the model "
        "trained for this level (1, 2, 4, 8, 16) if shipped",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (the report)")
