"""Simulated files open with jwst datamodels, validate, and look like flight data."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from jwst1f.simulate import (
    simulate_exposure,
    simulate_programme,
    write_rate,
    write_truth,
    write_uncal,
)
from jwst1f.simulate.cli import cli_main

NAME = re.compile(
    r"^jw\d{5}\d{3}\d{3}_\d{2}\d\d{2}_\d{5}_[a-z0-9]+_(uncal|rate|rateints|truth)\.fits$"
)

# Keywords of the flight NIRCam uncal headers (shipped with jwst) that describe the exposure.
FLIGHT_KEYWORDS = (
    "TELESCOP INSTRUME DETECTOR MODULE CHANNEL FILTER PUPIL EXP_TYPE READPATT NOUTPUTS NINTS "
    "NGROUPS NFRAMES GROUPGAP TSAMPLE TFRAME TGROUP EFFINTTM EFFEXPTM DURATION NRSTSTRT NRESETS "
    "EXPSTART EXPMID EXPEND SUBARRAY SUBSTRT1 SUBSTRT2 SUBSIZE1 SUBSIZE2 FASTAXIS SLOWAXIS "
    "DATE-OBS TIME-OBS DATE-BEG DATE-END PROGRAM OBSERVTN VISIT VISITGRP SEQ_ID ACT_ID EXPOSURE "
    "OBS_ID VISIT_ID TARGNAME TARGPROP TARG_RA TARG_DEC APERNAME SCA_NUM DATAMODL "
    "FILENAME TEMPLATE PATT_NUM NUMDTHPT"
).split()
FLIGHT_SCI_KEYWORDS = (
    "V2_REF V3_REF VPARITY V3I_YANG RA_REF DEC_REF ROLL_REF VA_SCALE PA_APER".split()
)


def _open_validated(path: Path):
    from jwst import datamodels

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = datamodels.open(path)
        model.validate()
    return model


@pytest.fixture(scope="module")
def nircam_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    exp = simulate_exposure(
        detector="NRCA2", subarray="SUB160", ngroups=3, nints=2, keep_ramp=True, seed=9
    )
    paths = {
        "uncal": write_uncal(exp, out),
        "rate": write_rate(exp, out, product="rate"),
        "rateints": write_rate(exp, out, product="rateints"),
        "truth": write_truth(exp, out),
    }
    return exp, paths


def test_files_open_validate_and_keep_dtypes(nircam_files):
    exp, paths = nircam_files
    for p in paths.values():
        assert NAME.match(p.name), p.name
    with _open_validated(paths["uncal"]) as m:
        assert type(m).__name__ == "Level1bModel"
        assert m.data.dtype.newbyteorder("=") == np.uint16
        assert m.data.shape == (2, 3, 160, 160)
        np.testing.assert_array_equal(m.data, exp.ramp)
        assert len(m.group) == 6 and len(m.int_times) == 2
    with _open_validated(paths["rate"]) as m:
        assert type(m).__name__ == "ImageModel" and m.data.shape == (160, 160)
        assert m.data.dtype.newbyteorder("=") == np.float32
        assert m.dq.dtype.newbyteorder("=") == np.uint32
        for ext in ("err", "var_poisson", "var_rnoise", "var_flat"):
            assert getattr(m, ext).shape == (160, 160)
    with _open_validated(paths["rateints"]) as m:
        assert type(m).__name__ == "CubeModel" and m.data.shape == (2, 160, 160)
        np.testing.assert_array_equal(m.data, exp.data)
    with fits.open(paths["truth"]) as h:
        assert [x.name for x in h[1:]] == ["RATE_NO1F", "SCENE", "SKY", "EMPTY"]
        assert h["EMPTY"].data.dtype == np.uint8
        assert h["SCENE"].data.dtype.newbyteorder("=") == np.float32
        assert h[0].header["FASTAXIS"] == 1 and h[0].header["SUBARRAY"] == "SUB160"
        np.testing.assert_array_equal(h["RATE_NO1F"].data, exp.rate_no1f)


def test_uncal_header_matches_flight_keywords(nircam_files):
    import jwst

    _, paths = nircam_files
    flight = sorted(
        (Path(jwst.__file__).parent / "associations/tests/data/exposures").glob("*_uncal.fits")
    )[0]
    f0, f1 = fits.getheader(flight, 0), fits.getheader(flight, 1)
    o0, o1 = fits.getheader(paths["uncal"], 0), fits.getheader(paths["uncal"], 1)
    for kw in FLIGHT_KEYWORDS:
        assert kw in f0, f"test list wrong: {kw} not in flight header"
        assert kw in o0, f"simulated uncal lacks {kw}"
        assert type(o0[kw]) is type(f0[kw]), (kw, o0[kw], f0[kw])
    for kw in FLIGHT_SCI_KEYWORDS:
        assert kw in f1 and kw in o1, kw
        assert type(o1[kw]) is type(f1[kw]), kw
    assert o0["DETECTOR"] == "NRCA2" and (o0["FASTAXIS"], o0["SLOWAXIS"]) == (1, -2)
    assert o0["TFRAME"] == pytest.approx((160 + 12) * 161 * 1e-5)
    assert o0["APERNAME"] == "NRCA2_SUB160"
    assert o0["FILENAME"] == paths["uncal"].name


@pytest.mark.parametrize(
    "kwargs",
    [
        {"detector": "MIRIMAGE", "subarray": "SUB64"},
        {"detector": "NRS1", "subarray": "SUB2048", "exp_type": "NRS_FIXEDSLIT"},
        {"detector": "NIS", "subarray": "SUB64"},
        {"detector": "NRCALONG", "subarray": "SUBGRISM64_1OUT"},
    ],
)
def test_other_instruments_write_valid_files(tmp_path, kwargs):
    exp = simulate_exposure(**kwargs, ngroups=3, keep_ramp=True, seed=1)
    for p in (write_uncal(exp, tmp_path), write_rate(exp, tmp_path)):
        with _open_validated(p) as m:
            assert m.meta.instrument.detector == kwargs["detector"]
            assert m.meta.subarray.fastaxis == exp.header["FASTAXIS"]
            assert m.meta.exposure.noutputs == exp.header["NOUTPUTS"]
            assert m.meta.wcsinfo.v2_ref is not None


def test_uncal_needs_ramps(tmp_path):
    exp = simulate_exposure(detector="NRCA1", subarray="SUB160", ngroups=2)
    with pytest.raises(ValueError, match="keep_ramp"):
        write_uncal(exp, tmp_path)


def test_cli_help_list_and_run(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(["--help"])
    assert e.value.code == 0
    assert "--products" in capsys.readouterr().out
    assert cli_main(["--list"]) == 0
    assert "nirspec_ifu" in capsys.readouterr().out
    rc = cli_main(
        [
            "--detector",
            "nrcb1",
            "--subarray",
            "SUB160",
            "--ngroups",
            "3",
            "--products",
            "uncal,rate,truth",
            "-o",
            str(tmp_path),
        ]
    )
    assert rc == 0
    names = sorted(p.name for p in tmp_path.glob("*.fits"))
    assert names == [
        "jw01234001001_01101_00001_nrcb1_rate.fits",
        "jw01234001001_01101_00001_nrcb1_truth.fits",
        "jw01234001001_01101_00001_nrcb1_uncal.fits",
    ]
    assert cli_main(["--detector", "NRCB1", "--subarray", "SUB999", "-o", str(tmp_path)]) == 2
    png = tmp_path / "look.png"
    assert (
        cli_main(
            ["--case", "nirspec_fs", "--products", "truth", "-o", str(tmp_path), "--plot", str(png)]
        )
        == 0
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_programme_dithers_move_pointing_and_sources(tmp_path):
    files = simulate_programme(
        tmp_path,
        {
            "detectors": ["NRCA1"],
            "subarray": "SUB640",
            "ngroups": 2,
            "products": ["uncal", "truth"],
            "dithers": [(0.0, 0.0), (3.1, 0.0)],
        },
        progress=False,
    )
    assert len(files) == 4 and all(p.exists() for p in files)
    uncals = sorted(p for p in files if p.name.endswith("_uncal.fits"))
    h = [fits.getheader(p, 1) for p in uncals]
    assert h[0]["RA_REF"] != h[1]["RA_REF"]
    p0 = [fits.getheader(p, 0) for p in uncals]
    assert [x["EXPOSURE"] for x in p0] == ["1", "2"] and p0[1]["PATT_NUM"] == 2
    truths = sorted(p for p in files if p.name.endswith("_truth.fits"))
    s0, s1 = (fits.getdata(p, "SCENE") - fits.getdata(p, "SKY") for p in truths)
    # A 3.1 arcsec dither along ideal x is ~100 SW pixels: find the shift by phase correlation.
    f0, f1 = (
        np.fft.fft2(np.log1p(np.clip(s0, 0, None))),
        np.fft.fft2(np.log1p(np.clip(s1, 0, None))),
    )
    r = np.fft.ifft2(f0 * np.conj(f1) / (np.abs(f0 * np.conj(f1)) + 1e-12)).real
    dy, dx = np.unravel_index(np.argmax(r), r.shape)
    dx = dx - r.shape[1] if dx > r.shape[1] // 2 else dx
    dy = dy - r.shape[0] if dy > r.shape[0] // 2 else dy
    assert 95 <= abs(dx) <= 105 and abs(dy) <= 3, (dx, dy)
    with pytest.raises(ValueError, match="unknown programme setting"):
        simulate_programme(tmp_path, {"detector": "NRCA1"})
