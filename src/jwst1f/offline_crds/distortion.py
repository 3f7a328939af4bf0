"""Imaging distortion from the real SIAF polynomials (pysiaf), as astropy models.

The JWST pipeline wants, per detector, a transform from 0-based full-frame detector pixels
(DMS orientation) to telescope V2/V3 in arcsec, with an inverse.  The SIAF gives, for each
full-frame aperture, the polynomial from science pixels (1-based, relative to the reference
pixel) to the ideal frame and back, and the plane rotation/parity from ideal to V2/V3.  This
module chains them:

``(x, y) -> (x + 1 - XSciRef, y + 1 - YSciRef) -> Sci2Idl polynomials -> (V2, V3)``

The ideal-to-V2/V3 step is the planar one used by the flight distortion reference files
(``V2 = V2Ref + p x cos(a) + y sin(a)``, ``V3 = V3Ref - p x sin(a) + y cos(a)``, with
``a = V3IdlYAngle`` and ``p = VIdlParity``).
"""

from __future__ import annotations

import functools
import logging
import warnings

import numpy as np
from astropy.modeling import models

__all__ = ["siaf_aperture", "siaf_distortion_model", "pixel_area_map"]

log = logging.getLogger(__name__)

_SIAF_INSTRUMENT = {"NIRCAM": "NIRCam", "NIRISS": "NIRISS", "MIRI": "MIRI", "NIRSPEC": "NIRSpec"}


@functools.cache
def _siaf(instrument: str):
    # pysiaf warns at import that it cannot check its PRD version online; offline that is
    # expected (the installed PRD is used), so keep it out of the build log.
    pysiaf_log = logging.getLogger("pysiaf")
    level = pysiaf_log.level
    pysiaf_log.setLevel(logging.ERROR)
    try:
        import pysiaf  # noqa: PLC0415 - slow import, only when distortion is built
    finally:
        pysiaf_log.setLevel(level)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pysiaf.Siaf(_SIAF_INSTRUMENT[instrument])


def siaf_aperture(instrument: str, aperture: str):
    """Return the pysiaf aperture ``aperture`` of ``instrument`` (offline, installed PRD)."""
    return _siaf(instrument.upper())[aperture]


def _poly(ap, prefix: str, degree: int) -> models.Polynomial2D:
    """SIAF coefficients ``<prefix>{i}{j}`` (term x**(i-j) y**j) as an astropy Polynomial2D."""
    coeffs = {}
    for i in range(degree + 1):
        for j in range(i + 1):
            value = getattr(ap, f"{prefix}{i}{j}", None)
            coeffs[f"c{i - j}_{j}"] = 0.0 if value is None else float(value)
    return models.Polynomial2D(degree, **coeffs)


def siaf_distortion_model(instrument: str, aperture: str) -> models.CompoundModel:
    """Detector (0-based full-frame pixels) to V2/V3 (arcsec) transform from SIAF.

    Parameters
    ----------
    instrument : str
        INSTRUME value, e.g. ``"NIRCAM"``.
    aperture : str
        SIAF full-frame aperture name, e.g. ``"NRCA1_FULL"``.

    Returns
    -------
    astropy.modeling.CompoundModel
        Two inputs (x, y in pixels) and two outputs (V2, V3 in arcsec), with an inverse
        built from the SIAF Idl2Sci polynomials.
    """
    ap = siaf_aperture(instrument, aperture)
    deg = int(ap.Sci2IdlDeg)
    angle = np.deg2rad(float(ap.V3IdlYAngle))
    parity = float(ap.VIdlParity)
    matrix = np.array(
        [
            [parity * np.cos(angle), np.sin(angle)],
            [-parity * np.sin(angle), np.cos(angle)],
        ]
    )
    idl2tel = models.AffineTransformation2D(
        matrix=matrix, translation=[float(ap.V2Ref), float(ap.V3Ref)]
    )
    xref, yref = float(ap.XSciRef), float(ap.YSciRef)
    forward = (
        (models.Shift(1.0 - xref) & models.Shift(1.0 - yref))
        | models.Mapping((0, 1, 0, 1))
        | (_poly(ap, "Sci2IdlX", deg) & _poly(ap, "Sci2IdlY", deg))
        | idl2tel
    )
    inverse = (
        idl2tel.inverse
        | models.Mapping((0, 1, 0, 1))
        | (_poly(ap, "Idl2SciX", deg) & _poly(ap, "Idl2SciY", deg))
        | (models.Shift(xref - 1.0) & models.Shift(yref - 1.0))
    )
    forward.inverse = inverse
    forward.name = f"{aperture}_siaf_distortion"
    return forward


def pixel_area_map(
    model: models.CompoundModel, shape: tuple[int, int], *, step: int = 32
) -> tuple[np.ndarray, float]:
    """Relative pixel area and nominal pixel solid angle from a distortion model.

    The Jacobian of ``model`` is evaluated by central differences on a coarse grid (every
    ``step`` pixels) and interpolated bilinearly to every pixel.

    Parameters
    ----------
    model : astropy model
        Detector pixels to V2/V3 in arcsec.
    shape : tuple of int
        Full-frame shape (ny, nx).
    step : int
        Grid spacing of the Jacobian evaluation, pixels.

    Returns
    -------
    area : numpy.ndarray
        float32 (ny, nx), pixel area divided by the nominal (mean) area.
    nominal_arcsec2 : float
        Mean pixel area in arcsec**2.
    """
    from scipy.interpolate import RegularGridInterpolator  # noqa: PLC0415

    ny, nx = shape
    gy = np.unique(np.r_[np.arange(0, ny, step), ny - 1]).astype(float)
    gx = np.unique(np.r_[np.arange(0, nx, step), nx - 1]).astype(float)
    yy, xx = np.meshgrid(gy, gx, indexing="ij")
    h = 0.5
    v2a, v3a = model(xx + h, yy)
    v2b, v3b = model(xx - h, yy)
    v2c, v3c = model(xx, yy + h)
    v2d, v3d = model(xx, yy - h)
    det = np.abs((v2a - v2b) * (v3c - v3d) - (v2c - v2d) * (v3a - v3b)) / (2 * h) ** 2
    interp = RegularGridInterpolator((gy, gx), det)
    fy, fx = np.meshgrid(np.arange(ny, dtype=float), np.arange(nx, dtype=float), indexing="ij")
    full = interp(np.stack([fy.ravel(), fx.ravel()], axis=-1)).reshape(shape)
    nominal = float(np.mean(full))
    return (full / nominal).astype(np.float32), nominal
