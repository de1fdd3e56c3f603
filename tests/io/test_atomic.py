"""io/atomic.py: every write is all or nothing, under one temporary-name convention."""

from __future__ import annotations

import errno

import pytest

from napari_w2s.errors import W2SInputError
from napari_w2s.io.atomic import PARTIAL, atomic_file, partial_name, write_error, write_text


def test_a_completed_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "card.json"
    path.write_text("old")
    assert write_text(path, "new") == path
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]


def test_an_error_inside_the_block_keeps_the_old_file_whole(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"old weights")
    with pytest.raises(RuntimeError, match="stopped"):
        with atomic_file(path) as fh:
            fh.write(b"half of the new")
            raise RuntimeError("stopped")
    assert path.read_bytes() == b"old weights"
    assert [p.name for p in tmp_path.iterdir()] == ["weights.bin"]


def test_a_failed_write_is_one_user_error_naming_the_destination(tmp_path):
    path = tmp_path / "missing-folder" / "out.json"
    with pytest.raises(W2SInputError, match=r"out\.json: could not write") as info:
        write_text(path, "x")
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_a_short_write_is_reported_as_a_full_disk(tmp_path):
    err = write_error(tmp_path / "a.npy", OSError("16384 requested and 11208 written"))
    assert err.__cause__.errno == errno.ENOSPC
    assert "No space left on device" in str(err)


def test_the_temporary_name_is_recognised_with_its_process(tmp_path):
    m = PARTIAL.match(partial_name(tmp_path / "x.ome.tif").name)
    assert m is not None and m.group(1) == "x.ome.tif" and int(m.group(2)) > 0
    with pytest.raises(ValueError, match="mode"):
        with atomic_file(tmp_path / "y", "a"):
            pass
