"""Masks: which pixels may be used to measure the stripes.

All functions work on arrays in the *canonical orientation*: lines (stripes) along the last
axis, shape (n_lines, line_length).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "bad_pixel_mask",
    "clear_dilated",
    "dilate",
    "robust_sigma",
]

#: Elements per block of the blockwise passes (cache-sized).
_BLOCK = 1 << 15


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


def clear_dilated(good: np.ndarray, seeds: np.ndarray, radius: int) -> None:
    """``good &= ~dilate(seeds, radius)``, in place, block by block.

    Same result as :func:`dilate` followed by the masking, without a full-size temporary:
    the square dilation is made per block of memory rows (with ``radius`` rows of halo),
    in the memory order of the arrays (the square is symmetric in the two axes).

    Parameters
    ----------
    good : numpy.ndarray of bool, shape (ny, nx)
        Modified in place.
    seeds : numpy.ndarray of bool, same shape and memory order
    radius : int
        Pixels.
    """
    if not seeds.flags.c_contiguous and seeds.T.flags.c_contiguous:
        seeds, good = seeds.T, good.T
    n, w = seeds.shape
    r = max(int(radius), 0)
    # blocks of a few rows (fewer calls; at most 1/16 of small frames)
    rows = max(1, min(4 * _BLOCK, max(8192, n * w // 16)) // max(w, 1))
    for i0 in range(0, n, rows):
        i1 = min(i0 + rows, n)
        h0, h1 = max(0, i0 - r), min(n, i1 + r)
        src = seeds[h0:h1]
        hz = src.copy()  # along the rows
        for s in range(1, r + 1):
            hz[:, s:] |= src[:, :-s]
            hz[:, :-s] |= src[:, s:]
        nb, off, nh = i1 - i0, i0 - h0, h1 - h0
        out = hz[off : off + nb].copy()  # across the rows, within the halo
        for s in range(1, r + 1):
            lo = max(0, s - off)
            if lo < nb:
                out[lo:] |= hz[lo + off - s : nb + off - s]
            hi = min(nb, nh - off - s)
            if hi > 0:
                out[:hi] |= hz[off + s : off + s + hi]
        g = good[i0:i1]
        np.greater(g, out, out=g)  # good & ~grown


def _median_inplace(d: np.ndarray) -> float:
    """``np.median`` of a 1-D array, partitioning it in place (no copy)."""
    n = d.size
    h = n // 2
    if n % 2:
        d.partition(h)
        return float(np.mean(d[h : h + 1]))
    d.partition([h - 1, h])
    return float(np.mean(d[h - 1 : h + 1]))


def robust_sigma(
    data: np.ndarray,
    good: np.ndarray,
    *,
    max_samples: int = 1 << 18,
    work: np.ndarray | None = None,
) -> float:
    """Per-pixel white-noise sigma from differences of neighbouring pixels along the lines.

    Differences of adjacent pixels along a line cancel the stripes and any smooth background,
    so the median absolute difference measures the pixel noise alone.

    Parameters
    ----------
    data : numpy.ndarray, shape (n_lines, line_length)
    good : numpy.ndarray of bool, same shape
    max_samples : int
        Lines are sub-sampled so that at most about this many differences are used.
    work : numpy.ndarray, optional
        1-D scratch buffer of ``data``'s dtype (e.g. an output array not yet written); used
        for the differences if large enough, so that no array of their size is allocated.

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
    n_pairs = n2 // 2
    n_diff = a.shape[0] * n_pairs
    dtype = np.result_type(data.dtype, data.dtype)
    if work is not None and work.ndim == 1 and work.dtype == dtype and work.size >= n_diff:
        buf = work[:n_diff]
    else:
        buf = np.empty(n_diff, dtype=dtype)
    # |differences| of good pairs, compacted into ``buf`` block by block: of lines, or for
    # transposed (Fortran-ordered) views of pairs of memory rows, so that the reads follow
    # the memory. The median does not depend on the order of the values.
    pos = 0
    chunk = min(_BLOCK, max(2048, n_diff // 64))  # small next to small frames
    if not a.flags.c_contiguous and data.T.flags.c_contiguous:
        at, gt = data.T[:n2, ::step], good.T[:n2, ::step]  # (pixels, sampled lines)
        pairs = max(1, chunk // max(at.shape[1], 1))
        for j0 in range(0, n_pairs, pairs):
            j1 = min(j0 + pairs, n_pairs)
            ev, od = slice(2 * j0, 2 * j1, 2), slice(2 * j0 + 1, 2 * j1, 2)
            with np.errstate(invalid="ignore", over="ignore"):  # non-finite: not ok
                d = at[od] - at[ev]
            v = d[gt[od] & gt[ev]]
            np.abs(v, out=buf[pos : pos + v.size])
            pos += v.size
    else:
        rows = max(1, chunk // max(n_pairs, 1))
        for i0 in range(0, a.shape[0], rows):
            ab, gb = a[i0 : i0 + rows], g[i0 : i0 + rows]
            with np.errstate(invalid="ignore", over="ignore"):  # non-finite: not ok
                d = ab[:, 1:n2:2] - ab[:, 0:n2:2]
            v = d[gb[:, 1:n2:2] & gb[:, 0:n2:2]]
            np.abs(v, out=buf[pos : pos + v.size])
            pos += v.size
    d = buf[:pos]
    if d.size == 0:
        return 0.0
    mad = _median_inplace(d)
    if mad == 0.0:
        mad = float(np.mean(d))
    # |x1 - x2| for Gaussian x has median 0.6745 * sqrt(2) * sigma
    return mad / (0.6744897501960817 * np.sqrt(2.0))
