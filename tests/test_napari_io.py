"""The npe2 reader and writer, headless, through napari's plugin manager."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_w2s._reader import get_reader
from napari_w2s.io import read_provenance, read_stack
from tests.conftest import ramp_stack


def test_get_reader_declines_what_it_cannot_read(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    assert get_reader(str(tmp_path / "a.png")) is None
    assert get_reader(str(tmp_path)) is None  # a folder that is no W2S layout
    assert get_reader(str(tmp_path / "missing.tif")) is None
    assert get_reader([]) is None


@pytest.mark.gui
def test_open_ome_tiff_with_scale(make_napari_viewer, tmp_path):
    path = tmp_path / "s.ome.tif"
    tifffile.imwrite(
        path,
        ramp_stack(12),
        ome=True,
        metadata={"axes": "TYX", "PhysicalSizeX": 0.08, "PhysicalSizeY": 0.08},
    )
    viewer = make_napari_viewer()
    layers = viewer.open(path, plugin="napari-w2s")
    assert len(layers) == 1 and layers[0].name == "s"
    assert tuple(layers[0].scale) == pytest.approx((1.0, 0.08, 0.08))
    assert layers[0].data.shape == (12, 8, 6)


@pytest.mark.gui
def test_open_w2s_view_overlays_sim(make_napari_viewer, w2s_raw):
    viewer = make_napari_viewer()
    layers = viewer.open(w2s_raw / "Image001", plugin="napari-w2s")
    names = [layer.name for layer in layers]
    assert names == [
        "Image001 wf_channel0",
        "Image001 sim_channel0",
        "Image001 wf_channel1",
        "Image001 sim_channel1",
    ]
    wf, sim = layers[0], layers[1]
    assert tuple(wf.scale) == pytest.approx((1.0, 0.064, 0.064))
    assert tuple(sim.scale) == pytest.approx((0.032, 0.032))
    assert tuple(sim.translate) == pytest.approx((-0.016, -0.016))
    # both layers cover the same field: LR corner (-s/2) equals HR corner (t - s/4)
    lr_corner = wf.data_to_world((0, -0.5, -0.5))[1:]
    hr_corner = sim.data_to_world((-0.5, -0.5))
    assert lr_corner == pytest.approx(hr_corner)


@pytest.mark.gui
def test_open_w2s_roots(make_napari_viewer, w2s_raw, w2s_processed):
    viewer = make_napari_viewer()
    raw = viewer.open(w2s_raw, plugin="napari-w2s")
    assert [layer.data.shape for layer in raw[:2]] == [(2, 260, 16, 16), (2, 260, 32, 32)]
    processed = viewer.open(w2s_processed, plugin="napari-w2s")
    assert [layer.name for layer in processed] == [
        "avg1 (test)",
        "avg2 (test)",
        "avg400 (test)",
        "sim (test)",
    ]
    assert processed[0].data.shape == (3, 16, 16)


@pytest.mark.gui
def test_writer_roundtrip(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    data = np.random.default_rng(0).random((16, 16)).astype(np.float32)
    viewer.add_image(
        data, name="result", scale=(0.032, 0.032), metadata={"provenance": {"method": "dncnn"}}
    )
    out = tmp_path / "result.ome.tif"
    viewer.layers.save(str(out), selected=False, plugin="napari-w2s")
    back = read_stack(out)
    np.testing.assert_array_equal(np.asarray(back.data), data)
    assert back.pixel_size == pytest.approx((0.032, 0.032))
    assert read_provenance(out)["method"] == "dncnn"


@pytest.mark.gui
def test_sample_data_opens_with_overlaid_sim(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-w2s", "simulated-w2s")
    names = [layer.name for layer in viewer.layers]
    assert names == ["widefield (simulated)", "avg400 (clean)", "SIM (simulated)"]
    wf, clean, sim = viewer.layers
    assert wf.data.shape == (400, 256, 256) and wf.data.dtype == np.uint16
    assert sim.data.shape == (512, 512)
    assert tuple(sim.scale) == pytest.approx((0.032, 0.032))
    assert tuple(sim.translate) == pytest.approx((-0.016, -0.016))
    np.testing.assert_allclose(clean.data, wf.data.mean(axis=0), rtol=1e-5)
    # the same frames every time (fixed seed)
    assert int(wf.data[249].sum()) == int(make_sample_again()[0][0][249].sum())


def make_sample_again():
    from napari_w2s._sample_data import make_sample

    return make_sample()
