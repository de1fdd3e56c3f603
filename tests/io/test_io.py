"""Reading every supported format lazily, axes, pixel sizes, OME-TIFF writing with provenance."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import tifffile

from napari_w2s import W2SInputError
from napari_w2s.io import (
    canonical_axes,
    detect_w2s_layout,
    read_processed_split,
    read_provenance,
    read_stack,
    write_ome_tiff,
)
from tests.conftest import ramp_stack


def test_plain_tiff_is_memory_mapped(tmp_path, ramp):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, ramp)
    stack = read_stack(path)
    assert isinstance(stack.data, np.memmap)
    assert stack.axes == "TYX" and stack.shape == (20, 8, 6) and stack.n_frames == 20
    assert stack.pixel_size is None and stack.scale() == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(stack.data[5], ramp[5])
    assert stack.name == "stack"


def test_ome_tiff_pixel_size_becomes_scale(tmp_path, ramp):
    path = tmp_path / "stack.ome.tif"
    tifffile.imwrite(
        path,
        ramp,
        ome=True,
        metadata={
            "axes": "TYX",
            "PhysicalSizeX": 65.0,
            "PhysicalSizeXUnit": "nm",
            "PhysicalSizeY": 0.07,
            "PhysicalSizeYUnit": "µm",
        },
    )
    stack = read_stack(path)
    assert stack.pixel_size == pytest.approx((0.07, 0.065))
    assert stack.scale() == pytest.approx((1.0, 0.07, 0.065))
    assert stack.name == "stack"


def test_imagej_tiff_pixel_size(tmp_path, ramp):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(
        path,
        ramp,
        imagej=True,
        resolution=(1 / 0.1, 1 / 0.125),
        metadata={"unit": "micron", "axes": "TYX"},
    )
    stack = read_stack(path)
    assert stack.pixel_size == pytest.approx((0.125, 0.1))


def test_inch_resolution_is_not_a_pixel_size(tmp_path, ramp):
    path = tmp_path / "dpi.tif"
    tifffile.imwrite(path, ramp, resolution=(72, 72), resolutionunit="INCH")
    assert read_stack(path).pixel_size is None


def test_compressed_tiff_is_read_lazily(tmp_path, ramp):
    path = tmp_path / "zip.tif"
    tifffile.imwrite(path, ramp, compression="zlib")
    stack = read_stack(path)
    assert isinstance(stack.data, da.Array)
    assert stack.data.chunks[0] == (1,) * 20  # one page per chunk
    np.testing.assert_array_equal(np.asarray(stack.data[3:6]), ramp[3:6])


def test_npy_is_memory_mapped(tmp_path, ramp):
    np.save(tmp_path / "s.npy", ramp)
    stack = read_stack(tmp_path / "s.npy")
    assert isinstance(stack.data, np.memmap) and stack.axes == "TYX"


def test_given_axes_are_transposed_to_canonical(tmp_path):
    arr = np.zeros((2, 5, 8, 6), np.uint16)  # C, T, Y, X
    arr[1, 3] = 7
    np.save(tmp_path / "ctyx.npy", arr)
    stack = read_stack(tmp_path / "ctyx.npy", axes="CTYX")
    assert stack.axes == "TCYX" and stack.shape == (5, 2, 8, 6)
    assert (
        stack.data[3, 1].max() == 7 and stack.data[3, 0].max() == 0 and stack.data[1, 1].max() == 0
    )


@pytest.mark.parametrize(
    "shape, axes", [((8, 6), "YX"), ((3, 8, 6), "TYX"), ((3, 2, 8, 6), "TCYX")]
)
def test_axes_guessed_from_shape(shape, axes):
    _, canon = canonical_axes(np.zeros(shape, np.uint16), None)
    assert canon == axes


def test_tifffile_sequence_axes_and_singletons():
    data, canon = canonical_axes(np.zeros((4, 1, 8, 6), np.uint16), "QCYX")
    assert canon == "TYX" and data.shape == (4, 8, 6)


def test_rgb_is_refused(tmp_path):
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, np.zeros((16, 16, 3), np.uint8), photometric="rgb")
    with pytest.raises(W2SInputError, match="RGB"):
        read_stack(path)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "empty"),
        (b"II*\x00garbage-not-a-tiff" * 3, "not a readable TIFF"),
        (b"hello, I am text", "not a readable TIFF"),
    ],
)
def test_bad_tiff_files(tmp_path, content, match):
    path = tmp_path / "bad.tif"
    path.write_bytes(content)
    with pytest.raises(W2SInputError, match=match):
        read_stack(path)


def test_truncated_tiff(tmp_path, ramp):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, ramp)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(W2SInputError, match="cut.tif: the TIFF is truncated or damaged"):
        read_stack(path)


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(W2SInputError, match="no such file"):
        read_stack(tmp_path / "nope.tif")
    (tmp_path / "x.png").write_bytes(b"\x89PNG")
    with pytest.raises(W2SInputError, match="unsupported file type"):
        read_stack(tmp_path / "x.png")


def test_bad_npy(tmp_path):
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(W2SInputError, match="not a readable .npy"):
        read_stack(tmp_path / "bad.npy")


def test_w2s_layouts_detected(w2s_raw, w2s_processed, tmp_path):
    assert detect_w2s_layout(w2s_raw) == "raw"
    assert detect_w2s_layout(w2s_raw / "Image002") == "raw-view"
    assert detect_w2s_layout(w2s_processed) == "processed"
    assert detect_w2s_layout(w2s_processed / "test") == "processed-split"
    assert detect_w2s_layout(tmp_path) is None


def test_w2s_view_folder_reads_channel(w2s_raw):
    stack = read_stack(w2s_raw / "Image002", channel=1)
    expected = np.load(w2s_raw / "Image002" / "wf_channel1.npy")
    assert stack.axes == "TYX" and stack.pixel_size == (0.064, 0.064)
    np.testing.assert_array_equal(stack.data, expected)
    assert stack.metadata["sim"].endswith("sim_channel1.npy")
    with pytest.raises(W2SInputError, match="no channel 5"):
        read_stack(w2s_raw / "Image002", channel=5)


def test_processed_split_stacks_views(w2s_processed):
    split = read_processed_split(w2s_processed / "test")
    assert split.views == ["081_0", "081_1", "082_0"]
    assert list(split.levels) == ["avg1", "avg2", "avg400", "sim"]
    assert split.levels["avg2"].shape == (3, 16, 16) and split.levels["sim"].shape == (3, 32, 32)
    expected = np.load(w2s_processed / "test" / "avg2" / "081_1.npy")
    np.testing.assert_array_equal(np.asarray(split.levels["avg2"][1]), expected)


def test_write_ome_tiff_roundtrip_with_provenance(tmp_path, ramp):
    path = write_ome_tiff(
        tmp_path / "out.ome.tif",
        ramp,
        "TYX",
        (0.032, 0.032),
        {"method": "frame-average", "frames": [0, 1]},
    )
    back = read_stack(path)
    np.testing.assert_array_equal(np.asarray(back.data), ramp)
    assert back.pixel_size == pytest.approx((0.032, 0.032))
    prov = read_provenance(path)
    assert prov["method"] == "frame-average" and prov["frames"] == [0, 1]
    assert prov["software"].startswith("napari-w2s ")
    assert [p.name for p in tmp_path.iterdir()] == ["out.ome.tif"]


def test_write_dask_array_frame_by_frame(tmp_path, ramp):
    lazy = da.from_array(ramp, chunks=(1, 8, 6))
    path = write_ome_tiff(tmp_path / "lazy.tif", lazy, "TYX")
    np.testing.assert_array_equal(tifffile.imread(path), ramp)


def test_failed_write_leaves_nothing(tmp_path, ramp):
    class Exploding:
        shape, dtype, ndim = ramp.shape, ramp.dtype, 3

        def __getitem__(self, index):
            if index[0] == 10:
                raise RuntimeError("disk on fire")
            return ramp[index]

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_ome_tiff(tmp_path / "x.tif", Exploding(), "TYX")
    assert list(tmp_path.iterdir()) == []


def test_write_to_missing_folder_is_a_user_error(tmp_path, ramp):
    with pytest.raises(W2SInputError, match="does not exist"):
        write_ome_tiff(tmp_path / "no" / "x.tif", ramp, "TYX")


def test_big_ramp_helper_values():
    s = ramp_stack(3, 2, 2)
    assert s[2].tolist() == [[200, 201], [202, 203]]
