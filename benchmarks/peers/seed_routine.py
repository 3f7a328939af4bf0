"""The user's original 1/f routine, re-implemented from its description (issue 4).

Described behaviour, reproduced as is (including its weaknesses):

* fit a Gaussian to the histogram of all pixel values between -0.1 and 0.5 DN/s;
* threshold = 1.5 * (mu + sigma);
* for each line, the median of the pixels below the threshold: rows for NIRCam, columns for
  NIRSpec, always the full line, never per amplifier;
* subtract that raw median (sky included);
* DQ flags are ignored;
* no MIRI, NIRISS, subarray or rateints support.

For the benchmark, :func:`seed_correct` refuses MIRI (``SeedUnsupported``) and applies the
routine *naively* elsewhere: NIRISS along columns like NIRSpec, subarrays as if they were full
frames, and rateints one integration at a time. The caller reports which.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import curve_fit

__all__ = [
    "SeedUnsupported",
    "HIST_RANGE",
    "fit_histogram_gaussian",
    "seed_correct_frame",
    "seed_correct",
    "seed_support",
]

#: Histogram range of the Gaussian fit, DN/s.
HIST_RANGE = (-0.1, 0.5)


class SeedUnsupported(ValueError):
    """The seed routine cannot process this exposure at all."""


def _gauss(x: np.ndarray, a: float, mu: float, sig: float) -> np.ndarray:
    return a * np.exp(-0.5 * ((x - mu) / sig) ** 2)


def fit_histogram_gaussian(data: np.ndarray, *, bins: int = 200) -> tuple[float, float]:
    """Fit a Gaussian to the histogram of the values in :data:`HIST_RANGE`.

    Parameters
    ----------
    data : ndarray
        Pixel values (DN/s), any shape; NaNs are ignored.
    bins : int
        Number of histogram bins over :data:`HIST_RANGE`.

    Returns
    -------
    mu, sigma : float
        Centre and width of the fitted Gaussian (DN/s).

    Raises
    ------
    SeedUnsupported
        When fewer than 100 pixels fall in the range or the fit does not converge (the
        original routine would fail there too).
    """
    v = np.asarray(data, dtype=np.float64).ravel()
    v = v[np.isfinite(v) & (v >= HIST_RANGE[0]) & (v <= HIST_RANGE[1])]
    if v.size < 100:
        raise SeedUnsupported(
            f"only {v.size} pixels within {HIST_RANGE} DN/s: histogram fit impossible"
        )
    hist, edges = np.histogram(v, bins=bins, range=HIST_RANGE)
    centres = 0.5 * (edges[1:] + edges[:-1])
    p0 = (hist.max(), centres[np.argmax(hist)], max(np.std(v), 1e-3))
    try:
        (_, mu, sig), _ = curve_fit(_gauss, centres, hist, p0=p0, maxfev=5000)
    except (RuntimeError, ValueError) as exc:
        raise SeedUnsupported(f"Gaussian fit failed: {exc}") from exc
    return float(mu), float(abs(sig))


def seed_correct_frame(frame: np.ndarray, *, axis_lines: str) -> np.ndarray:
    """Apply the seed routine to one 2-D frame.

    Parameters
    ----------
    frame : ndarray, shape (ny, nx)
        Rate image (DN/s).
    axis_lines : {"rows", "columns"}
        Lines along which the median is taken.

    Returns
    -------
    ndarray of float32, shape (ny, nx)
        ``frame`` minus the per-line median of the pixels below the threshold.
    """
    if axis_lines not in ("rows", "columns"):
        raise ValueError(f"axis_lines must be 'rows' or 'columns', not {axis_lines!r}")
    mu, sig = fit_histogram_gaussian(frame)
    thresh = 1.5 * (mu + sig)
    work = np.where(frame < thresh, frame, np.nan).astype(np.float64)
    axis = 1 if axis_lines == "rows" else 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN lines
        med = np.nan_to_num(np.nanmedian(work, axis=axis))
    model = med[:, None] if axis == 1 else med[None, :]
    return (frame - model).astype(np.float32)


def seed_support(instrument: str, subarray: str, ndim: int) -> tuple[str, str]:
    """How the seed routine would treat an exposure.

    Parameters
    ----------
    instrument : str
        INSTRUME keyword.
    subarray : str
        SUBARRAY keyword.
    ndim : int
        2 for rate, 3 for rateints.

    Returns
    -------
    axis_lines : str
        ``"rows"`` or ``"columns"``.
    note : str
        Empty when supported, otherwise what was done naively.

    Raises
    ------
    SeedUnsupported
        For MIRI.
    """
    inst = instrument.upper()
    notes = []
    if inst == "NIRCAM":
        axis = "rows"
    elif inst == "NIRSPEC":
        axis = "columns"
    elif inst == "NIRISS":
        axis = "columns"
        notes.append("NIRISS naively as columns")
    else:
        raise SeedUnsupported(f"{inst} is not supported by the seed routine")
    if subarray.upper() != "FULL":
        notes.append("subarray naively as a full frame")
    if ndim == 3:
        notes.append("rateints naively per integration")
    return axis, "; ".join(notes)


def seed_correct(sci: np.ndarray, *, instrument: str, subarray: str) -> tuple[np.ndarray, str]:
    """Apply the seed routine to a rate or rateints array.

    Parameters
    ----------
    sci : ndarray, shape (ny, nx) or (nints, ny, nx)
        Rate (DN/s).
    instrument, subarray : str
        INSTRUME and SUBARRAY keywords.

    Returns
    -------
    corrected : ndarray of float32, same shape as ``sci``
    note : str
        How the routine was applied outside its described scope ("" if within it).

    Raises
    ------
    SeedUnsupported
        For MIRI or when the histogram fit fails.
    """
    axis, note = seed_support(instrument, subarray, sci.ndim)
    if sci.ndim == 2:
        return seed_correct_frame(sci, axis_lines=axis), note
    out = np.empty(sci.shape, dtype=np.float32)
    for i in range(sci.shape[0]):
        out[i] = seed_correct_frame(sci[i], axis_lines=axis)
    return out, note
