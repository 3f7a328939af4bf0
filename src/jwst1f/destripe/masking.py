"""Masks: which pixels may be used to measure the stripes.

All functions work on arrays in the *canonical orientation*: lines (stripes) along the last
axis, shape (n_lines, line_length).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "bad_pixel_mask",
    "dilate",
    "robust_sigma",
]


def bad_pixel_mask(
    data: np.ndarray,
    *,
    dq: np.ndarray | None,
    dq_bitmask: int,
    reference: np.ndarray | None,
    user_mask: np.ndarray | None,
) -> np.ndarray:
    """Pixels that must never be used for measuring.

    Parameters
    ----------
    data : numpy.ndarray, shape (n_lines, line_length)
        Science values, DN/s.
    dq : numpy.ndarray of uint32 or None, same shape
        jwst DQ flags.
    dq_bitmask : int
        OR of the flag bits to reject.
    reference, user_mask : numpy.ndarray of bool or None, same shape
        Reference pixels; user mask (True = do not use).

    Returns
    -------
    numpy.ndarray of bool, same shape
        True where the pixel is bad.
    """
    bad = ~np.isfinite(data)
    if dq is not None and dq_bitmask:
        bad |= (dq & np.uint32(dq_bitmask)) != 0
    if reference is not None:
        bad |= reference
    if user_mask is not None:
        bad |= user_mask
    return bad


def dilate(mask: np.ndarray, radius: int, *, consume: bool = False) -> np.ndarray:
    """Dilate a boolean mask by a square of side ``2 * radius + 1`` (separable shifts).

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape (ny, nx)
    radius : int
        Pixels.
    consume : bool
        Allow ``mask`` to be overwritten (used as work space; saves one array).

    Returns
    -------
    numpy.ndarray of bool, shape (ny, nx)
        A new array, in the memory order of ``mask``.
    """
    out = mask.copy(order="K")
    if radius <= 0 or not mask.any():
        return out
    for s in range(1, radius + 1):
        out[:, s:] |= mask[:, :-s]
        out[:, :-s] |= mask[:, s:]
    tmp = mask if consume else np.empty_like(mask)
    tmp[...] = out
    for s in range(1, radius + 1):
        out[s:] |= tmp[:-s]
        out[:-s] |= tmp[s:]
    return out


def robust_sigma(data: np.ndarray, good: np.ndarray, *, max_samples: int = 1 << 18) -> float:
    """Per-pixel white-noise sigma from differences of neighbouring pixels along the lines.

    Differences of adjacent pixels along a line cancel the stripes and any smooth background,
    so the median absolute difference measures the pixel noise alone.

    Parameters
    ----------
    data : numpy.ndarray, shape (n_lines, line_length)
    good : numpy.ndarray of bool, same shape
    max_samples : int
        Lines are sub-sampled so that at most about this many differences are used.

    Returns
    -------
    float
        Sigma in the units of ``data``; 0.0 if nothing can be measured.
    """
    n_lines, length = data.shape
    if length < 2:
        return 0.0
    step = max(1, int(n_lines * (length // 2) // max_samples))
    a = data[::step]
    g = good[::step]
    n2 = (length // 2) * 2
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite pixels are not ok
        d = a[:, 1:n2:2] - a[:, 0:n2:2]
    ok = g[:, 1:n2:2] & g[:, 0:n2:2]
    d = np.abs(d[ok])
    if d.size == 0:
        return 0.0
    mad = float(np.median(d))
    if mad == 0.0:
        mad = float(np.mean(d))
    # |x1 - x2| for Gaussian x has median 0.6745 * sqrt(2) * sigma
    return mad / (0.6744897501960817 * np.sqrt(2.0))
