"""jwst1f.io: rate/rateints files in, corrected files out, structure and input preserved."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits
from stdatamodels.jwst import datamodels
from test_io_helpers import NIRSPEC_SUB, file_digest, make_rate

import jwst1f
from jwst1f.destripe import destripe
from jwst1f.io import (
    DestripeBatchError,
    DestripeInputError,
    destripe_file,
    destripe_files,
    model_path_for,
    read_exposure,
)
from jwst1f.params import DestripeParams


def _structure(path):
    with fits.open(path) as hdul:
        return [
            (
                h.name,
                h.ver,
                type(h).__name__,
                None if h.data is None else (h.data.shape, h.data.dtype.str),
            )
            for h in hdul
        ]


@pytest.fixture
def rate(tmp_path):
    return make_rate(tmp_path / "in" / "jw01_nrca1_rate.fits")


def test_structure_dtypes_and_untouched_extensions(rate, tmp_path):
    before = file_digest(rate)
    out = destripe_file(rate, tmp_path / "out")
    assert out == tmp_path / "out" / rate.name
    assert file_digest(rate) == before, "the input file changed"
    assert _structure(out) == _structure(rate)
    with fits.open(rate) as a, fits.open(out) as b:
        assert b["SCI"].data.dtype.str[1:] == "f4"
        for name in ("DQ", "VAR_POISSON"):
            np.testing.assert_array_equal(a[name].data, b[name].data)
        assert not np.array_equal(a["SCI"].data, b["SCI"].data)
        # non-provenance primary keywords are kept
        for key in ("INSTRUME", "DETECTOR", "SUBARRAY", "FASTAXIS", "SLOWAXIS", "NOUTPUTS"):
            assert b[0].header[key] == a[0].header[key]
        assert b["SCI"].header["EXTNAME"] == "SCI"
    with datamodels.open(out) as m:  # still a valid jwst rate file
        assert isinstance(m, datamodels.ImageModel)
        assert m.meta.instrument.detector == "NRCA1"


def test_output_is_exactly_the_core_result(rate, tmp_path):
    exp = read_exposure(rate)
    expected = destripe(exp.sci, exp.layout, dq=exp.dq, params=DestripeParams())
    out = destripe_file(rate, tmp_path / "out")
    with fits.open(out) as b:
        np.testing.assert_array_equal(b["SCI"].data, expected.corrected.astype(np.float32))


def test_provenance_keywords(rate, tmp_path):
    out = destripe_file(rate, tmp_path / "out")
    h = fits.getheader(out)
    assert h["J1FSTAT"] == "COMPLETE"
    assert h["J1FVERS"] == jwst1f.__version__
    assert json.loads(h["J1FPARS"]) == DestripeParams().to_dict()
    assert h["J1FRMSA"] < h["J1FRMSB"]
    assert 0 <= h["J1FMFRAC"] < 1
    assert h["J1FVAR"] is True
    assert any("jwst1f" in str(v) for v in h["HISTORY"])


def test_variance_arrays_get_the_model_variance(rate, tmp_path):
    out = destripe_file(rate, tmp_path / "out", save_model=True)
    mfile = model_path_for(out)
    assert mfile.name == "jw01_nrca1_rate_1fmodel.fits"
    with fits.open(rate) as a, fits.open(out) as b, fits.open(mfile) as m:
        mvar = m["MODELVAR"].data.astype(float)
        assert np.all(mvar >= 0) and mvar.max() > 0
        np.testing.assert_allclose(
            b["VAR_RNOISE"].data, a["VAR_RNOISE"].data + mvar, rtol=1e-6, atol=1e-12
        )
        np.testing.assert_allclose(
            b["ERR"].data.astype(float) ** 2,
            a["ERR"].data.astype(float) ** 2 + mvar,
            rtol=1e-5,
        )
        # the model file: MODEL is what was subtracted
        np.testing.assert_allclose(
            a["SCI"].data - b["SCI"].data,
            m["MODEL"].data,
            atol=2e-5,  # float32 rounding
        )
        assert m["BKGMASK"].data.dtype == np.uint8
        assert m[0].header["J1FSTAT"] == "COMPLETE"


def test_no_variance_keeps_err_and_var_rnoise(rate, tmp_path):
    out = destripe_file(rate, tmp_path / "out", update_variance=False)
    with fits.open(rate) as a, fits.open(out) as b:
        np.testing.assert_array_equal(a["VAR_RNOISE"].data, b["VAR_RNOISE"].data)
        np.testing.assert_array_equal(a["ERR"].data, b["ERR"].data)
        assert b[0].header["J1FVAR"] is False


def test_rateints_keep_their_cube(tmp_path):
    src = make_rate(tmp_path / "x_rateints.fits", nints=3)
    out = destripe_file(src, tmp_path / "out")
    assert _structure(out) == _structure(src)
    with datamodels.open(out) as m:
        assert isinstance(m, datamodels.CubeModel) and m.data.shape == (3, 160, 160)


def test_nirspec_columns_are_corrected(tmp_path):
    src = make_rate(tmp_path / "nrs_rate.fits", **{**NIRSPEC_SUB, "n_sources": 0})
    out = destripe_file(src, tmp_path / "out")
    with fits.open(src) as a, fits.open(out) as b:
        before = np.std(np.median(a["SCI"].data, axis=0))
        after = np.std(np.median(b["SCI"].data, axis=0))
    assert after < 0.3 * before


def test_refuses_to_write_onto_the_input(rate):
    digest = file_digest(rate)
    with pytest.raises(DestripeInputError, match="overwrite the input"):
        destripe_file(rate, rate.parent)
    assert file_digest(rate) == digest


def test_already_destriped_input_is_copied_as_skipped(rate, tmp_path):
    once = destripe_file(rate, tmp_path / "once")
    twice = destripe_file(once, tmp_path / "twice")
    with fits.open(once) as a, fits.open(twice) as b:
        np.testing.assert_array_equal(a["SCI"].data, b["SCI"].data)
        assert b[0].header["J1FSTAT"] == "SKIPPED"


def test_user_mask_excludes_pixels(rate, tmp_path):
    mask = np.zeros((160, 160), np.uint8)
    mask[40:80, 40:120] = 1
    mfile = tmp_path / "mask.fits"
    fits.PrimaryHDU(mask).writeto(mfile)
    out = destripe_file(rate, tmp_path / "out", user_mask=mfile, save_model=True)
    with fits.open(model_path_for(out)) as m:
        used = m["BKGMASK"].data.astype(bool)
    assert not used[40:80, 40:120].any()
    assert used.mean() > 0.5
    bad = tmp_path / "bad_mask.npy"
    np.save(bad, np.zeros((10, 10)))
    with pytest.raises(DestripeInputError, match="mask shape"):
        destripe_file(rate, tmp_path / "out2", user_mask=bad)


def test_params_file_flat_and_layered(rate, tmp_path):
    flat = tmp_path / "flat.yaml"
    flat.write_text("clip_sigma: 2.5\n")
    out = destripe_file(rate, tmp_path / "a", params=flat)
    assert json.loads(fits.getval(out, "J1FPARS"))["clip_sigma"] == 2.5
    layered = tmp_path / "layered.yaml"
    layered.write_text(
        "default: {clip_sigma: 2.5}\ndetector: {NRCA1: {clip_sigma: 4.0}, NRCA2: {clip_sigma: 5.0}}\n"
    )
    out = destripe_file(rate, tmp_path / "b", params=layered)
    assert json.loads(fits.getval(out, "J1FPARS"))["clip_sigma"] == 4.0


def test_checksums_are_rewritten_when_the_input_had_them(rate, tmp_path):
    with fits.open(rate) as hdul:
        hdul.writeto(tmp_path / "ck_rate.fits", checksum=True)
    out = destripe_file(tmp_path / "ck_rate.fits", tmp_path / "out")
    with fits.open(out, checksum=True) as hdul:  # raises/warns on a wrong checksum
        assert "CHECKSUM" in hdul["SCI"].header
        assert hdul["SCI"].verify_checksum() == 1


# ------------------------------------------------------------------ bad inputs


def _bad_files(tmp_path, good):
    d = tmp_path / "bad"
    d.mkdir()
    files = {}
    files["not FITS"] = d / "text_rate.fits"
    files["not FITS"].write_text("this is not a FITS file\n" * 10)
    raw = good.read_bytes()
    files["truncated"] = d / "trunc_rate.fits"
    files["truncated"].write_bytes(raw[: len(raw) // 2])
    files["no SCI"] = d / "nosci_rate.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((5, 5)), name="ERR")]).writeto(
        files["no SCI"]
    )
    with fits.open(good) as hdul:
        hdul["SCI"].data = np.zeros((1, 2, 160, 160), np.float32)
        hdul.writeto(d / "ramp_rate.fits")
        files["4-D"] = d / "ramp_rate.fits"
        hdul["SCI"].data = np.full((160, 160), np.nan, np.float32)
        hdul.writeto(d / "nan_rate.fits")
        files["all NaN"] = d / "nan_rate.fits"
        hdul["SCI"].data = np.zeros((160, 160), np.float32)
        hdul[0].header["INSTRUME"] = "FGS"
        hdul[0].header["EXP_TYPE"] = "FGS_IMAGE"
        hdul.writeto(d / "fgs_rate.fits")
        files["FGS"] = d / "fgs_rate.fits"
        hdul[0].header["INSTRUME"] = "NIRCAM"
        hdul[0].header["EXP_TYPE"] = "NRC_IMAGE"
        hdul["SCI"].data = np.zeros((100, 160), np.float32)
        hdul.writeto(d / "shape_rate.fits")
        files["wrong shape"] = d / "shape_rate.fits"
    files["missing"] = d / "missing_rate.fits"
    return files


@pytest.mark.parametrize(
    "kind, pattern",
    [
        ("not FITS", "not a readable FITS"),
        ("truncated", "truncated"),
        ("no SCI", "no SCI extension"),
        ("4-D", "4 dimension"),
        ("all NaN", "no finite pixel"),
        ("FGS", "FGS"),
        ("wrong shape", "does not match"),
        ("missing", "no such file"),
    ],
)
def test_bad_file_gives_one_line_error(rate, tmp_path, kind, pattern):
    bad = _bad_files(tmp_path, rate)[kind]
    with pytest.raises(DestripeInputError) as err:
        destripe_file(bad, tmp_path / "out")
    msg = str(err.value)
    assert msg.startswith(bad.name + ": ")
    assert pattern in msg
    assert "\n" not in msg
    assert not (tmp_path / "out" / bad.name).exists()


def test_batch_processes_good_files_and_reports_bad_ones(rate, tmp_path):
    bad = _bad_files(tmp_path, rate)
    other = make_rate(tmp_path / "in" / "jw02_nrca1_rate.fits", seed=3)
    inputs = [bad["truncated"], rate, bad["not FITS"], other, bad["all NaN"]]
    with pytest.raises(DestripeBatchError) as err:
        destripe_files(inputs, tmp_path / "out", progress=False)
    e = err.value
    assert [p.name for p in e.written] == [rate.name, other.name]
    assert [p.name for p, _ in e.failures] == [
        "trunc_rate.fits",
        "text_rate.fits",
        "nan_rate.fits",
    ]
    assert all("\n" not in msg for _, msg in e.failures)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([rate.name, other.name])


def test_batch_rejects_duplicate_names(tmp_path):
    a = make_rate(tmp_path / "a" / "x_rate.fits")
    b = make_rate(tmp_path / "b" / "x_rate.fits", seed=1)
    with pytest.raises(DestripeBatchError) as err:
        destripe_files([a, b], tmp_path / "out", progress=False)
    assert len(err.value.failures) == 2 and "same file name" in err.value.failures[0][1]


def test_top_level_one_liner(rate, tmp_path):
    written = jwst1f.destripe_files([rate], tmp_path / "output_files", progress=False)
    assert written == [tmp_path / "output_files" / rate.name]


@pytest.mark.slow
def test_batch_in_two_processes_matches_one(rate, tmp_path):
    other = make_rate(tmp_path / "in" / "jw02_nrca1_rate.fits", seed=3)
    bad = tmp_path / "in" / "bad_rate.fits"
    bad.write_text("not FITS")
    inputs = [rate, bad, other]
    with pytest.raises(DestripeBatchError) as one:
        destripe_files(inputs, tmp_path / "one", progress=False)
    with pytest.raises(DestripeBatchError) as two:
        destripe_files(inputs, tmp_path / "two", progress=False, jobs=2)
    assert [p.name for p in two.value.written] == [p.name for p in one.value.written]
    assert two.value.failures == one.value.failures
    for p in one.value.written:
        a = fits.getdata(p, "SCI")
        b = fits.getdata(tmp_path / "two" / p.name, "SCI")
        np.testing.assert_array_equal(a, b)
