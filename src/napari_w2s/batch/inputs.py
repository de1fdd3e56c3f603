"""Which files a batch reads and where each result goes: :func:`plan` and :func:`output_name`."""

from __future__ import annotations

from pathlib import Path

from ..errors import W2SInputError
from .report import FileResult

INPUT_SUFFIXES = (".tif", ".tiff", ".npy")


def output_name(path: str | Path, method: str) -> str:
    """``cell_01.tif`` restored by ``dncnn+rcan`` -> ``cell_01_dncnn_rcan.ome.tif``."""
    from ..io.stack import _stem

    return f"{_stem(Path(path))}_{method.strip().lower().replace('+', '_')}.ome.tif"


def _is_hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _check_folders(src: Path, dst: Path) -> None:
    """The input is an existing folder; the output is not a file and not the input folder."""
    if not src.exists():
        raise W2SInputError(f"{src}: the input folder does not exist")
    if not src.is_dir():
        raise W2SInputError(
            f"{src}: the input is a file, not a folder (use w2s restore for one file)"
        )
    if dst.exists() and not dst.is_dir():
        raise W2SInputError(f"{dst}: the output path is a file, not a folder")
    if dst.resolve() == src.resolve():
        raise W2SInputError(
            "the output folder must differ from the input folder (inputs are never written over)"
        )


def _matching(src: Path, dst: Path, pattern: str, recursive: bool) -> list[tuple[Path, Path]]:
    """``(path, path relative to src)`` of the readable inputs matching ``pattern``, sorted."""
    try:
        found = src.rglob(pattern) if recursive else src.glob(pattern)
        matched = [p for p in found if p.is_file()]
    except (ValueError, NotImplementedError) as err:
        raise W2SInputError(f"bad --pattern {pattern!r} ({err})") from None
    dst_r = dst.resolve()
    files, other = [], 0
    for p in sorted(matched):
        rel = p.relative_to(src)
        if _is_hidden(rel) or dst_r in p.resolve().parents:
            continue
        if not p.name.lower().endswith(INPUT_SUFFIXES):
            other += 1
            continue
        files.append((p, rel))
    if not files:
        where = f"{src}{' or its sub-folders' if recursive else ''}"
        extra = (
            f" ({other} other file(s) match, but only .tif, .tiff and .npy are read)"
            if other
            else ""
        )
        raise W2SInputError(f"no .tif, .tiff or .npy file in {where} matches {pattern!r}{extra}")
    return files


def plan(
    input_dir: str | Path,
    pattern: str = "*",
    output_dir: str | Path | None = None,
    method: str | None = None,
    recursive: bool = False,
) -> list[FileResult]:
    """The files a batch would process and the output of each (no file is touched).

    ``pattern`` is a glob on file names (``*.tif``, ``cell_*``); with ``recursive`` it is
    matched in every sub-folder and the outputs keep the relative sub-folder. Hidden files,
    files that are not ``.tif``, ``.tiff`` or ``.npy``, and anything inside the output folder
    (when it lies inside the input folder) are left out. Two inputs with the same output name
    (``a.tif`` and ``a.npy``): the second is marked ``failed`` with a message; so is an input
    whose output name is taken by a folder (it is not "already done").

    Raises
    ------
    W2SInputError
        No such input folder, an output path that is a file or the input folder itself, no
        method, or no file matching.
    """
    if not method or not str(method).strip():
        raise W2SInputError("choose a method (e.g. --method bicubic; see w2s models)")
    if output_dir is None or not str(output_dir).strip():
        raise W2SInputError("choose an output folder")
    src, dst = Path(input_dir).expanduser(), Path(output_dir).expanduser()
    _check_folders(src, dst)
    pattern = (pattern or "").strip() or "*"
    items, taken = [], {}
    for p, rel in _matching(src, dst, pattern, recursive):
        out = dst / rel.parent / output_name(p, method)
        item = FileResult(str(p.resolve()), str(out.resolve()), rel.as_posix())
        key = item.out
        if key in taken:
            item.status = "failed"
            item.message = (
                f"its output {out.name} is also the output of {taken[key]}; rename one of them "
                "or narrow --pattern"
            )
        elif out.exists() and not out.is_file():  # not "already done": there is no output
            item.status = "failed"
            item.message = (
                f"a folder (not a file) stands at its output name {out.name}; move or rename it"
            )
            taken[key] = rel.as_posix()
        else:
            taken[key] = rel.as_posix()
        items.append(item)
    return items
