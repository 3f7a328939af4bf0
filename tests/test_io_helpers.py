"""Helpers that build small, valid rate/rateints files for the I/O, QA and step tests.

The files are written with jwst datamodels (``ImageModel`` / ``CubeModel``), like Detector1's
own output: PRIMARY, SCI, ERR, DQ, VAR_POISSON, VAR_RNOISE, VAR_FLAT? (no), ASDF.
The tests at the bottom check that the helpers themselves produce what the other tests assume.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from stdatamodels.jwst import datamodels

__all__ = ["make_rate", "file_digest", "NIRCAM_SUB", "NIRSPEC_SUB", "STRIPE_AMP"]

#: A NIRCam 1-output subarray small enough for fast tests (SUB160 at the detector corner).
NIRCAM_SUB = {
    "instrument": "NIRCAM",
    "detector": "NRCA1",
    "exp_type": "NRC_IMAGE",
    "subarray": "SUB160",
    "xstart": 1,
    "ystart": 1,
    "shape": (160, 160),
    "noutputs": 1,
    "fastaxis": -1,
    "slowaxis": 2,
}
#: A NIRSpec 1-output window (stripes along columns).
NIRSPEC_SUB = {
    "instrument": "NIRSPEC",
    "detector": "NRS1",
    "exp_type": "NRS_FIXEDSLIT",
    "subarray": "SUBS200A1",
    "xstart": 1025,
    "ystart": 1,
    "shape": (128, 192),
    "noutputs": 1,
    "fastaxis": 2,
    "slowaxis": 1,
}
#: rms of the injected per-line stripes, DN/s.
STRIPE_AMP = 0.05


def make_rate(
    path: str | Path,
    *,
    instrument: str = "NIRCAM",
    detector: str = "NRCA1",
    exp_type: str = "NRC_IMAGE",
    subarray: str = "SUB160",
    xstart: int = 1,
    ystart: int = 1,
    shape: tuple[int, int] = (160, 160),
    noutputs: int = 1,
    fastaxis: int = -1,
    slowaxis: int = 2,
    nints: int | None = None,
    seed: int = 0,
    sky: float = 0.3,
    noise: float = 0.02,
    stripe_amp: float = STRIPE_AMP,
    n_sources: int = 6,
) -> Path:
    """Write a rate (``nints=None``) or rateints file with stripes along the fast-read lines.

    Returns the path. SCI in DN/s: white noise + a random offset per fast-read line (rms
    ``stripe_amp``) everywhere, plus ``sky`` and a few bright Gaussian sources except on the
    reference pixels (the full frame's 4-pixel border); DQ has a few DO_NOT_USE pixels.
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape
    n = 1 if nints is None else nints
    fast_axis = 1 if abs(fastaxis) == 1 else 0
    readout = noise * rng.standard_normal((n, ny, nx))
    n_lines = shape[1 - fast_axis]
    stripes = stripe_amp * rng.standard_normal((n, n_lines))
    readout += stripes[:, :, None] if fast_axis == 1 else stripes[:, None, :]
    scene = np.full((ny, nx), sky)
    yy, xx = np.mgrid[0:ny, 0:nx]
    for _ in range(n_sources):
        y0, x0 = rng.uniform(10, ny - 10), rng.uniform(10, nx - 10)
        scene += rng.uniform(5, 50) * np.exp(-((yy - y0) ** 2 + (xx - x0) ** 2) / (2 * 1.5**2))
    # reference pixels (the 4-pixel border of the full frame) see the readout, not the sky
    yf = np.arange(ny) + ystart - 1
    xf = np.arange(nx) + xstart - 1
    ref = ((yf < 4) | (yf >= 2044))[:, None] | ((xf < 4) | (xf >= 2044))[None, :]
    sci = (readout + np.where(ref, 0.0, scene)).astype(np.float32)
    dq = np.zeros((n, ny, nx), np.uint32)
    dq[:, rng.integers(0, ny, 10), rng.integers(0, nx, 10)] = 1  # DO_NOT_USE
    var_p = (np.where(ref, 0.0, scene) * 1e-3 + 1e-4).astype(np.float32)[None].repeat(n, 0)
    var_r = np.full((n, ny, nx), noise**2, np.float32)
    err = np.sqrt(var_p + var_r).astype(np.float32)

    if nints is None:
        model = datamodels.ImageModel(
            data=sci[0], dq=dq[0], err=err[0], var_poisson=var_p[0], var_rnoise=var_r[0]
        )
    else:
        model = datamodels.CubeModel(data=sci, dq=dq, err=err, var_poisson=var_p, var_rnoise=var_r)
    meta = model.meta
    meta.telescope = "JWST"
    meta.instrument.name = instrument
    meta.instrument.detector = detector
    if instrument == "NIRCAM":
        meta.instrument.channel = "SHORT"
        meta.instrument.module = "A"
        meta.instrument.filter = "F200W"
        meta.instrument.pupil = "CLEAR"
    elif instrument == "NIRSPEC":
        meta.instrument.filter = "F170LP"
        meta.instrument.grating = "G235M"
    meta.exposure.type = exp_type
    meta.exposure.nints = n
    meta.exposure.ngroups = 5
    meta.exposure.noutputs = noutputs
    meta.exposure.readpatt = "RAPID"
    meta.subarray.name = subarray
    meta.subarray.xstart = xstart
    meta.subarray.ystart = ystart
    meta.subarray.xsize = nx
    meta.subarray.ysize = ny
    meta.subarray.fastaxis = fastaxis
    meta.subarray.slowaxis = slowaxis
    meta.observation.date = "2024-01-01"
    meta.observation.time = "00:00:00"
    meta.bunit_data = "DN/s"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    model.close()
    return path


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------ tests of the helpers


def test_make_rate_writes_a_valid_rate_file(tmp_path):
    p = make_rate(tmp_path / "a_rate.fits")
    with datamodels.open(p) as m:
        assert isinstance(m, datamodels.ImageModel)
        assert m.data.shape == (160, 160) and m.data.dtype.str[1:] == "f4"
        assert m.meta.subarray.fastaxis == -1 and m.meta.exposure.noutputs == 1


def test_make_rate_rateints_is_a_cube(tmp_path):
    p = make_rate(tmp_path / "a_rateints.fits", nints=3)
    with datamodels.open(p) as m:
        assert isinstance(m, datamodels.CubeModel)
        assert m.data.shape == (3, 160, 160)


def test_make_rate_has_stripes_along_the_fast_axis(tmp_path):
    p = make_rate(tmp_path / "n_rate.fits", **{**NIRSPEC_SUB, "n_sources": 0})
    with datamodels.open(p) as m:
        data = m.data[4:]  # rows 0-3 are reference pixels (no sky)
        col_means = np.median(data, axis=0)  # NIRSpec: stripes are columns
        row_means = np.median(data, axis=1)
    assert np.std(col_means) > 3 * np.std(row_means)
