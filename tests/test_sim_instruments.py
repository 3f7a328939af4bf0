"""Detector facts in jwst1f.instruments against flight headers, the SIAF and jwst."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jwst1f import instruments as ins


def _flight_uncals() -> list[Path]:
    import jwst

    folder = Path(jwst.__file__).parent / "associations" / "tests" / "data" / "exposures"
    return sorted(folder.glob("jw*_nrc*_uncal.fits"))


def test_axes_match_flight_headers():
    from astropy.io import fits

    files = _flight_uncals()
    assert files, "flight NIRCam headers shipped with jwst not found"
    for f in files:
        h = fits.getheader(f)
        det = ins.get_detector(h["DETECTOR"])
        assert (det.fastaxis, det.slowaxis) == (h["FASTAXIS"], h["SLOWAXIS"]), f.name
        assert det.n_outputs == h["NOUTPUTS"]
        sub = ins.get_subarray(det.detector, h["SUBARRAY"])
        assert ins.frame_time(det.detector, sub) == pytest.approx(h["TFRAME"], abs=2e-5)


def test_nircam_axes_match_siaf_orientation():
    from jwst1f.simulate.metadata import siaf_aperture

    for name, det in ins.DETECTORS.items():
        if det.instrument != "NIRCAM":
            continue
        ap = siaf_aperture(det)
        # DetSciYAngle 0 -> science x runs against detector x (FASTAXIS -1); 180 -> +1.
        expected = -1 if ap.DetSciYAngle == 0 else 1
        assert det.fastaxis == expected, name
        assert det.slowaxis == -2 * det.fastaxis


def test_nircam_subarray_positions_match_siaf():
    from jwst1f.simulate.metadata import siaf_aperture

    for name in ("NRCA1", "NRCA2", "NRCB3", "NRCB4", "NRCALONG"):
        det = ins.get_detector(name)
        full = siaf_aperture(det)
        for subname in ("SUB640", "SUB160"):
            sub = ins.get_subarray(name, subname)
            ap = siaf_aperture(det, full.AperName.replace("FULL", subname))
            x, y = full.det_to_sci(*ap.corners("det"))
            assert sub.xstart == int(round(x.min() + 0.5)), (name, subname)
            assert sub.ystart == int(round(y.min() + 0.5)), (name, subname)
            assert sub.xsize == sub.ysize == int(subname[3:])


def test_near_infrared_fast_axis_along_y():
    for name in ("NIS", "NRS1", "NRS2"):
        assert abs(ins.get_detector(name).fastaxis) == 2
    assert ins.get_detector("MIRIMAGE").shape == (1024, 1032)


@pytest.mark.parametrize(
    ("detector", "subarray", "tframe"),
    [
        ("NRCA1", "FULL", 10.73676),
        ("NRCALONG", "SUBGRISM256", 1.34668),
        ("NRS1", "SUB2048", 0.90156),
        ("NIS", "SUBSTRIP256", 5.49132),
        ("MIRIMAGE", "FULL", 2.77504),
    ],
)
def test_frame_times(detector, subarray, tframe):
    sub = ins.get_subarray(detector, subarray)
    assert ins.frame_time(detector, sub) == pytest.approx(tframe, abs=1e-5)


def test_one_output_variant_keeps_flight_keyword():
    sub = ins.get_subarray("NRCALONG", "SUBGRISM64_1OUT")
    assert sub.keyword == "SUBGRISM64" and sub.noutputs == 1
    assert ins.frame_time("NRCALONG", sub) > ins.frame_time(
        "NRCALONG", ins.get_subarray("NRCALONG", "SUBGRISM64")
    )


def test_unknown_names_raise_with_choices():
    with pytest.raises(KeyError, match="NRCA1"):
        ins.get_detector("NRCX9")
    with pytest.raises(KeyError, match="SUB640"):
        ins.get_subarray("NRCA1", "SUB999")


def test_maps_are_deterministic_and_sensible():
    a = ins.superbias_map("NRCA1")
    b = ins.superbias_map("NRCA1")
    assert a.dtype == np.float32 and a.shape == (2048, 2048)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, ins.superbias_map("NRCA2"))
    assert abs(float(np.median(a)) - ins.get_detector("NRCA1").bias) < 300
    flat = ins.flat_map("NRCA1", "F200W")
    assert abs(float(flat.mean()) - 1.0) < 1e-3 and 0.005 < float(flat.std()) < 0.05
    ref = ins.reference_pixel_mask("NRCA1")
    assert ref.sum() == 2048 * 2048 - 2040 * 2040
    rn = ins.readnoise_map("NRCA1")
    assert np.all(rn[ref] < rn[~ref].min())
    assert ins.reference_pixel_mask("MIRIMAGE")[:, :4].all()
    assert not ins.reference_pixel_mask("MIRIMAGE")[:4, 4:-4].any()
    assert ins.dark_map("NRCA1")[ref].max() == 0
    assert ins.gain_map("NIS").mean() == pytest.approx(ins.get_detector("NIS").gain)
