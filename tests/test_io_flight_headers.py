"""Metadata handling on real flight NIRCam headers (shipped inside the jwst wheel)."""

from __future__ import annotations

from pathlib import Path

import jwst
import numpy as np
import pytest
from astropy.io import fits
from stdatamodels.jwst import datamodels

from jwst1f.io import destripe_file, read_exposure

EXPOSURES = Path(jwst.__file__).parent / "associations" / "tests" / "data" / "exposures"
UNCAL = {d: EXPOSURES / f"jw01075001001_03105_00009_{d}_uncal.fits" for d in ("nrca2", "nrca3")}


def _flight_rate(uncal: Path, out: Path, *, seed: int = 0) -> Path:
    """A full-frame rate file carrying the flight exposure's metadata (as ramp_fit makes it)."""
    rng = np.random.default_rng(seed)
    with datamodels.open(uncal) as raw:
        ny, nx = raw.meta.subarray.ysize, raw.meta.subarray.xsize
        sci = 0.25 + 0.02 * rng.standard_normal((ny, nx))
        sci += 0.05 * rng.standard_normal((ny, 1))  # 1/f stripes along rows (FASTAXIS=+-1)
        sci = sci.astype(np.float32)
        rate = datamodels.ImageModel(
            data=sci,
            dq=np.zeros((ny, nx), np.uint32),
            err=np.full((ny, nx), 0.03, np.float32),
            var_poisson=np.full((ny, nx), 5e-4, np.float32),
            var_rnoise=np.full((ny, nx), 4e-4, np.float32),
        )
        rate.update(raw)
        rate.meta.filename = out.name
        rate.save(out)
        rate.close()
    return out


@pytest.mark.parametrize("det", ["nrca2", "nrca3"])
def test_flight_header_layout_and_provenance(tmp_path, det):
    src = _flight_rate(UNCAL[det], tmp_path / f"jw01075001001_03105_00009_{det}_rate.fits")
    exp = read_exposure(src)
    lay = exp.layout
    assert (lay.instrument, lay.detector, lay.exp_type, lay.subarray) == (
        "NIRCAM",
        det.upper(),
        "NRC_CORON",
        "FULL",
    )
    assert lay.shape == (2048, 2048) and lay.fast_axis == 1 and lay.n_channels == 4
    assert lay.channel_edges == (0, 512, 1024, 1536, 2048)
    fastaxis = fits.getval(src, "FASTAXIS")
    # 4 outputs read (+, -, +, -) in DMS array order whatever the sign of FASTAXIS
    assert fastaxis in (-1, 1)
    assert lay.fast_sign == (1, -1, 1, -1)

    out = destripe_file(src, tmp_path / "out")
    with fits.open(src) as a, fits.open(out) as b:
        ha, hb = a[0].header, b[0].header
        for key in ha:  # every flight keyword survives unchanged
            if key not in ("", "COMMENT", "HISTORY"):
                assert hb[key] == ha[key], key
        assert hb["J1FSTAT"] == "COMPLETE"
        before = np.std(np.median(a["SCI"].data[4:-4, 4:-4], axis=1))
        after = np.std(np.median(b["SCI"].data[4:-4, 4:-4], axis=1))
    assert after < 0.2 * before
    with datamodels.open(out) as m:
        assert m.meta.observation.program_number == "01075"
        assert m.meta.instrument.detector == det.upper()
