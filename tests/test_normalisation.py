"""Camera independence: per-image normalisation, the same in training and inference.

The property the issue asks for: restoring ``g * x + o`` gives ``g * restore(x) + o`` within 1 %
of the output's standard deviation, for every shipped deep model and bicubic.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_w2s import normalisation
from napari_w2s.restore.zoo import shipped


@pytest.fixture(scope="module")
def view_adu():
    """A 64 x 64 single frame of a randomised view, in its camera's units (ADU)."""
    from napari_w2s.simulate.randomised import draw_settings, make_view

    s = draw_settings(np.random.default_rng(4))
    s.update(camera="scmos", gain=1.7, offset=230.0, read_noise_adu=2.5, peak_photons=300.0)
    return make_view(s, 64, 8).levels["avg2"]


SHIPPED = sorted({(c["name"], c["noise_level"]) for c in shipped()})


@pytest.mark.parametrize("method, level", [*SHIPPED, ("bicubic", None)])
def test_restoring_gx_plus_o_gives_g_restore_plus_o(method, level, view_adu):
    """Every shipped model (each per-level one too) and bicubic."""
    from napari_w2s.restore.engine import resolve

    pipe = resolve(
        method,
        device="cpu",
        tile=0,
        noise_level=level if level and level.startswith("avg") else None,
    )
    ref = pipe.run(view_adu)
    tol = 0.01 * float(ref.std())
    for g in (0.25, 1.0, 4.0):
        for o in (0.0, 300.0, 1000.0):
            out = pipe.run(g * view_adu + o)
            err = float(np.abs(out - (g * ref + o)).max())
            assert err <= g * tol, f"{method}: g={g}, o={o}: max error {err:.4g} > {g * tol:.4g}"


def test_every_shipped_deep_model_is_camera_independent():
    """Every card in the zoo carries the per-image normalisation (no training-set constants)."""
    kinds = {(c["name"], c["noise_level"]): c["normalisation"]["kind"] for c in shipped()}
    assert {
        ("jdsr", "blind"),
        ("care", "blind"),
        ("rcan", "clean"),
        ("ridnet", "blind"),
        ("dncnn", "blind"),
        ("jdsr-rcan", "blind"),
    } <= set(kinds), kinds
    assert set(kinds.values()) == {"percentile"}, kinds


def test_percentile_fit_is_equivariant_and_maps_to_unit_range(view_adu):
    a = normalisation.fit(view_adu)
    b = normalisation.fit(3.0 * view_adu - 50.0)
    assert b.offset == pytest.approx(3.0 * a.offset - 50.0, rel=1e-9)
    assert b.scale == pytest.approx(3.0 * a.scale, rel=1e-9)
    z = a.forward(view_adu)
    assert np.percentile(z, 1.0) == pytest.approx(0.0, abs=1e-5)
    assert np.percentile(z, 99.8) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(a.inverse(z), view_adu, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("value", [0.0, 1234.0, -7.5])
def test_constant_and_empty_images_restore_to_the_constant(value):
    from napari_w2s.restore.engine import resolve

    img = np.full((40, 48), value, np.float32)
    assert normalisation.fit(img).constant
    out = resolve("jdsr", device="cpu", tile=0).run(img)
    assert out.shape == (80, 96) and np.all(out == np.float32(value))


def test_sparse_and_saturated_images_get_a_defined_map_and_a_note():
    sparse = np.zeros((100, 100), np.float32)
    sparse[50, 50] = sparse[10, 80] = 900.0  # two beads: the 1 and 99.8 percentiles are both 0
    a = normalisation.fit(sparse)
    assert a.scale == pytest.approx(900.0) and a.offset == 0.0 and "sparse" in a.note
    sat = np.random.default_rng(0).uniform(100, 4095, (100, 100)).astype(np.float32)
    sat[:20] = 4095.0  # 20 % of the image at the camera's maximum
    n = normalisation.fit(sat)
    assert "saturated" in n.note and "20.0 %" in n.note and n.scale > 0


def test_negative_float_input_restores_in_its_own_units(view_adu):
    """Background-subtracted float data (negative values) restore like any other image."""
    from napari_w2s.restore.engine import resolve

    pipe = resolve("jdsr", device="cpu", tile=0)
    shifted = (view_adu - np.median(view_adu)).astype(np.float32)
    assert shifted.min() < 0
    out = pipe.run(shifted)
    ref = pipe.run(view_adu)
    np.testing.assert_allclose(out, ref - np.median(view_adu), atol=0.01 * float(ref.std()))


def test_a_stack_is_normalised_once_so_its_planes_stay_comparable(view_adu):
    """Two planes of one stack share the map fitted on the whole stack, not their own."""
    from napari_w2s.progress import drain
    from napari_w2s.restore.engine import iter_restore, resolve

    pipe = resolve("jdsr", device="cpu", tile=0)
    stack = np.stack([view_adu, 0.5 * view_adu + 20.0]).astype(np.float32)
    out = drain(iter_restore(pipe, stack))
    shared = pipe.fit_normalisation(stack)
    assert shared != normalisation.fit(stack[1])  # the second plane alone would be mapped otherwise
    np.testing.assert_allclose(out[1], pipe.run(stack[1], shared), rtol=0, atol=1e-4)


def test_legacy_zscore_cards_keep_their_fixed_map():
    a = normalisation.fit(np.arange(100.0).reshape(10, 10), {"kind": "zscore", "mean": 5, "std": 2})
    assert (a.offset, a.scale) == (5.0, 2.0)
    assert "fixed" in normalisation.describe({"kind": "zscore", "mean": 5, "std": 2})
    assert "camera-independent" in normalisation.describe(None)
