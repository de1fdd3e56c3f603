"""Overlay geometry of upsampled layers."""

import pytest

from napari_w2s.geometry import upsampled_geometry


def test_x2_geometry_puts_hr_pixels_inside_lr_pixels():
    scale, translate = upsampled_geometry((1.0, 0.064, 0.064), (0.0, 1.0, 2.0))
    assert scale == pytest.approx((1.0, 0.032, 0.032))
    assert translate == pytest.approx((0.0, 1.0 - 0.016, 2.0 - 0.016))
    # the LR pixel 0 spans [t - s/2, t + s/2]; HR pixels 0 and 1 split it exactly
    lr_left = 1.0 - 0.064 / 2
    hr_left = translate[1] - scale[1] / 2
    hr_right = translate[1] + scale[1] * 1 + scale[1] / 2
    assert hr_left == pytest.approx(lr_left) and hr_right == pytest.approx(1.0 + 0.032)


def test_x4_geometry():
    scale, translate = upsampled_geometry((1.0, 1.0), factor=4)
    assert scale == (0.25, 0.25) and translate == pytest.approx((-0.375, -0.375))
