"""jwst1f.offline_crds.distortion: SIAF polynomials as astropy models, pixel areas."""

from __future__ import annotations

import numpy as np
import pytest

from jwst1f.offline_crds.distortion import pixel_area_map, siaf_aperture, siaf_distortion_model

CASES = [
    ("NIRCAM", "NRCA1_FULL", 0.0312),
    ("NIRCAM", "NRCA5_FULL", 0.0630),
    ("NIRISS", "NIS_CEN", 0.0656),
    ("MIRI", "MIRIM_FULL", 0.111),
]


@pytest.mark.parametrize(("instrument", "aperture", "scale"), CASES)
def test_forward_matches_pysiaf_and_inverse_round_trips(instrument, aperture, scale):
    model = siaf_distortion_model(instrument, aperture)
    ap = siaf_aperture(instrument, aperture)
    rng = np.random.default_rng(1)
    x = rng.uniform(100, 900, 50)
    y = rng.uniform(100, 900, 50)
    v2, v3 = model(x, y)
    # pysiaf science pixels are 1-based
    v2_ref, v3_ref = ap.sci_to_tel(x + 1, y + 1)
    np.testing.assert_allclose(v2, v2_ref, atol=1e-6)
    np.testing.assert_allclose(v3, v3_ref, atol=1e-6)
    xb, yb = model.inverse(v2, v3)
    assert np.max(np.hypot(xb - x, yb - y)) < 0.05  # pixels (SIAF inverse polynomials)
    # the reference pixel maps onto (V2Ref, V3Ref)
    v2r, v3r = model(ap.XSciRef - 1, ap.YSciRef - 1)
    assert abs(v2r - ap.V2Ref) < 1e-6 and abs(v3r - ap.V3Ref) < 1e-6
    # pixel scale near the reference pixel
    v2b, v3b = model(ap.XSciRef, ap.YSciRef - 1)
    assert np.hypot(v2b - v2r, v3b - v3r) == pytest.approx(scale, rel=0.03)


def test_pixel_area_map_is_relative_and_smooth():
    model = siaf_distortion_model("NIRCAM", "NRCA1_FULL")
    area, nominal = pixel_area_map(model, (2048, 2048))
    assert area.shape == (2048, 2048) and area.dtype == np.float32
    assert float(area.mean()) == pytest.approx(1.0, abs=1e-6)
    assert nominal == pytest.approx(0.0312**2, rel=0.05)
    # NIRCam SW geometric distortion changes the pixel area by a few percent at most
    assert 0.95 < float(area.min()) < 1.0 < float(area.max()) < 1.05
    # bilinear interpolation of a smooth Jacobian: neighbouring pixels agree closely
    assert float(np.max(np.abs(np.diff(area, axis=1)))) < 1e-3
    # compare one pixel with a direct finite difference
    x, y = 1500.0, 300.0
    v2a, v3a = model(x + 0.5, y)
    v2b, v3b = model(x - 0.5, y)
    v2c, v3c = model(x, y + 0.5)
    v2d, v3d = model(x, y - 0.5)
    direct = abs((v2a - v2b) * (v3c - v3d) - (v2c - v2d) * (v3a - v3b))
    assert area[300, 1500] * nominal == pytest.approx(direct, rel=1e-4)
