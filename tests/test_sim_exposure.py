"""Simulated exposures: determinism, truth, orientation of the stripes, error model."""

from __future__ import annotations

import numpy as np
import pytest

from jwst1f.simulate import simulate_exposure
from jwst1f.simulate.cases import CASES, make_case

SMALL = {"detector": "NRCA4", "subarray": "SUB160", "ngroups": 4}  # corner window, ref pixels


def test_same_seed_same_exposure_other_seed_different():
    a = simulate_exposure(**SMALL, seed=3)
    b = simulate_exposure(**SMALL, seed=3)
    c = simulate_exposure(**SMALL, seed=4)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.rate_no1f, b.rate_no1f)
    assert a.meta == b.meta
    assert not np.allclose(a.data, c.data, equal_nan=True)


@pytest.mark.parametrize("nints", [1, 2])
def test_no1f_truth_is_the_same_exposure_without_1f(nints):
    with_1f = simulate_exposure(**SMALL, nints=nints, seed=5)
    without = simulate_exposure(**SMALL, nints=nints, seed=5, one_over_f=False)
    # Switching the correlated noise off gives exactly the RATE_NO1F truth...
    np.testing.assert_allclose(without.data, with_1f.rate_no1f, rtol=0, atol=1e-6)
    # ...and the data differ from it by a non-zero component.
    diff = with_1f.data - with_1f.rate_no1f
    assert np.nanstd(diff) > 0.01


def test_clean_truth_differs_from_no1f_by_the_reference_pixel_step_alone():
    """``rate_clean`` is ``rate_no1f`` without the reference-pixel correction: on a full
    frame their difference is that correction's own noise, a pattern per line (the side
    columns' running median) plus a constant per output and column parity (the reference
    rows), the same along each output-line of one parity except where a ramp saturated;
    its rms over lines is not zero (the reference pixels' white noise)."""
    exp = simulate_exposure(detector="NRCA1", ngroups=2, seed=5)
    assert exp.rate_clean.shape == exp.rate_no1f.shape
    d = (exp.rate_no1f - exp.rate_clean).astype(np.float64)[4:-4, 4:-4]  # science pixels
    for k in range(4):  # NRCA1: stripes along rows, four outputs of 512 columns
        out = d[:, max(0, 512 * k - 4) : 512 * (k + 1) - 4]
        for parity in (0, 1):
            part = out[:, parity::2]
            same = np.abs(part - np.nanmedian(part, axis=1, keepdims=True)) < 1e-3
            assert same.mean() > 0.995  # (not on saturating pixels: ramps cut short)
    assert np.nanstd(np.nanmean(d, axis=1)) > 0.01


def test_clean_truth_of_combined_integrations():
    exp = simulate_exposure(**SMALL, nints=2, seed=5)
    assert exp.rate_clean.shape == exp.data.shape
    np.testing.assert_array_equal(np.isnan(exp.rate_clean), np.isnan(exp.rate_no1f))


def test_stripes_run_along_the_fast_axis():
    # NIRCam: fast read along x -> the 1/f component is constant along rows.
    nrc = simulate_exposure(detector="NRCA3", subarray="SUB640", ngroups=4, seed=1)
    d = nrc.one_over_f
    cols = np.nanmean(d, axis=0)
    # Column means carry only the even/odd (ACN) alternation: average column pairs first.
    assert np.var(np.nanmean(d, axis=1)) > 20 * np.var(cols[0::2] + cols[1::2])
    # NIRSpec: fast read along y -> stripes are columns.
    nrs = simulate_exposure(
        detector="NRS1", subarray="SUB2048", exp_type="NRS_FIXEDSLIT", ngroups=4, seed=1
    )
    d = nrs.one_over_f
    assert nrs.data.shape == (32, 2048)
    rows = np.nanmean(d, axis=1)
    assert np.var(np.nanmean(d, axis=0)) > 20 * np.var(rows[0::2] + rows[1::2])


def test_rate_matches_scene_within_reported_errors():
    exp = simulate_exposure(**SMALL, seed=2, scene="sky", one_over_f=False)
    good = (exp.dq == 0) & np.isfinite(exp.data)
    pull = (exp.rate_no1f - exp.scene)[good] / exp.err[good]
    assert abs(np.mean(pull)) < 0.1
    assert 0.85 < np.std(pull) < 1.2


def test_reference_pixels_quieter_and_flagged():
    exp = simulate_exposure(**SMALL, seed=2, scene="dark", one_over_f=False)
    ref = (exp.dq & np.uint32(2**31)) > 0
    assert ref[:4].all() and ref[:, :4].all() and not ref[10:, 10:].any()
    assert np.std(exp.data[ref]) < 0.9 * np.std(exp.data[~ref])
    assert not exp.empty[ref].any()


def test_bright_star_saturates_and_is_flagged():
    exp = simulate_exposure(detector="NRCA1", subarray="SUB640", ngroups=8, seed=0)
    sat = (exp.dq & 2) > 0
    assert sat.any()
    assert np.all(np.isnan(exp.data[sat]))
    assert exp.scene[sat].min() > 100.0


def test_sky_gradient_along_slow_axis_and_header():
    exp = simulate_exposure(detector="NIS", subarray="SUB256", ngroups=3, scene="sky", seed=0)
    h = exp.header
    assert (h["FASTAXIS"], h["SLOWAXIS"], h["NOUTPUTS"]) == (-2, -1, 1)
    assert (h["SUBSTRT1"], h["SUBSIZE1"]) == (1793, 256)
    sky = exp.sky[10:-10, 10:-10]
    # NIRISS: slow axis along DMS x, so the gradient runs along x.
    gx = np.polyfit(np.arange(sky.shape[1]), sky.mean(axis=0), 1)[0]
    gy = np.polyfit(np.arange(sky.shape[0]), sky.mean(axis=1), 1)[0]
    assert abs(gx) > 3 * abs(gy)


def test_invalid_requests_raise_clear_errors():
    with pytest.raises(ValueError, match="ngroups"):
        simulate_exposure(detector="NRCA1", subarray="SUB160", ngroups=1)
    with pytest.raises(ValueError, match="NIRSPEC"):
        simulate_exposure(detector="NRS1", instrument="NIRCAM", subarray="SUB2048")
    with pytest.raises(ValueError, match="scene"):
        simulate_exposure(detector="NRCA1", subarray="SUB160", scene="moon")
    with pytest.raises(KeyError, match="known"):
        make_case("nope")


def test_case_overrides_keep_the_same_draws():
    plain = make_case("nirspec_fs", 4)
    with_ramp = make_case("nirspec_fs", 4, keep_ramp=True)
    np.testing.assert_array_equal(plain.data, with_ramp.data)
    assert plain.ramp is None and with_ramp.ramp.shape == (1, 10, 64, 2048)


def test_small_cases_have_complete_truth():
    for name in ("nircam_grism_strip_1out", "nirspec_fs"):
        exp = CASES[name](1)
        assert exp.data.shape == exp.rate_no1f.shape == exp.scene.shape == exp.empty.shape
        assert exp.data.dtype == np.float32 and exp.dq.dtype == np.uint32
        assert exp.empty.dtype == bool and 0.0 < exp.empty.mean() < 1.0
        assert np.all(exp.sky <= exp.scene + 1e-6)
    strip = CASES["nircam_grism_strip_1out"](1)
    assert strip.header["NOUTPUTS"] == 1 and strip.header["SUBARRAY"] == "SUBGRISM64"
    # The bright trace runs along the rows (the stripes), near row 34.
    assert abs(int(np.argmax(strip.scene[:, 1500])) - 34) <= 2


@pytest.mark.slow
def test_all_cases_run_and_full_frame_is_fast():
    import time

    checks = {}
    for name, make in CASES.items():
        t0 = time.process_time()
        exp = make(0)
        cpu = time.process_time() - t0
        assert np.isfinite(exp.data).mean() > 0.99, name
        assert 0.0 < exp.empty.mean() < 1.0, name
        if name == "nircam_full_stars":
            # CPU time of one full-frame rate case; the target is well under 10 s.
            assert cpu < 10.0
        if name == "nircam_full_rateints":
            checks["rateints"] = exp.rateints and exp.data.shape == (3, 2048, 2048)
        if name == "nirspec_ifu":
            lit = ~exp.empty[4:-4, 4:-4]
            checks["ifu_half"] = 0.35 < lit.mean(axis=0).mean() < 0.65  # half of every column
        del exp
    assert checks == {"rateints": True, "ifu_half": True}


@pytest.mark.parametrize(("readpatt", "nframes", "groupgap"), [("MEDIUM8", 8, 2), ("DEEP2", 2, 18)])
def test_frame_averaged_patterns(readpatt, nframes, groupgap):
    exp = simulate_exposure(**SMALL, readpatt=readpatt, scene="sky", one_over_f=False, seed=3)
    h = exp.header
    assert (h["NFRAMES"], h["GROUPGAP"], h["READPATT"]) == (nframes, groupgap, readpatt)
    assert h["TGROUP"] == pytest.approx((nframes + groupgap) * h["TFRAME"])
    ng = h["NGROUPS"]
    assert h["EFFINTTM"] == pytest.approx((ng * nframes + (ng - 1) * groupgap) * h["TFRAME"])
    good = exp.dq == 0
    pull = ((exp.data - exp.scene) / exp.err)[good]
    assert abs(np.mean(pull)) < 0.15 and 0.85 < np.std(pull) < 1.15
