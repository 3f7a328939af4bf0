"""Masks: which pixels may be used to measure the stripes.

All functions work on arrays in the *canonical orientation*: lines (stripes) along the last
axis, shape (n_lines, line_length).
"""

from __future__ import annotations

import sys

import numpy as np

_Q25_OFFSET = 0.6744897501960817  # Gaussian: median - first quartile, in sigma

__all__ = [
    "bad_pixel_mask",
    "clear_dilated",
    "dark_positions",
    "dilate",
    "faint_emission",
    "faint_halos",
    "block_residual_sums",
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


def clear_dilated(
    good: np.ndarray,
    seeds: np.ndarray,
    radius: int,
    *,
    zero: np.ndarray | None = None,
    finite: bool | np.ndarray = False,
) -> None:
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
    zero : numpy.ndarray of float, same shape and memory order, optional
        Set to zero where ``good`` ends up False, from the same blocks (one pass over the
        arrays less than doing it afterwards).
    finite : bool or numpy.ndarray of bool
        ``zero`` is finite everywhere: it is multiplied by the mask (faster than a masked
        copy; masked negative values become -0.0, which compares and sums as 0.0). Or, per
        memory row of the arrays (lines of C-ordered arrays, columns of transposed ones),
        whether that row of ``zero`` is finite: blocks of finite rows are multiplied.
    """
    if not seeds.flags.c_contiguous and seeds.T.flags.c_contiguous:
        seeds, good = seeds.T, good.T
        zero = None if zero is None else zero.T
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
        if zero is not None:
            z = zero[i0:i1]
            if finite if np.ndim(finite) == 0 else finite[i0:i1].all():
                np.multiply(z, g, out=z)
            else:
                np.copyto(z, 0.0, where=~g)


class PairDifferences:
    """The samples of :func:`robust_sigma`, gathered block by block during a pass over the data.

    The same values as :func:`robust_sigma` (|differences| of the good pairs of pixels
    ``(2j, 2j + 1)`` along every ``step``-th line), taken from blocks that a caller's pass
    holds in the cache anyway instead of in a pass of their own: on transposed frames, whose
    lines run down memory rows, that pass would read all of the data for an eighth of the
    values. The median does not depend on the order of the values, so the sigma is the same.

    Parameters
    ----------
    n_lines, length : int
        Shape of the frame (lines along the last axis).
    max_samples : int
        As in :func:`robust_sigma`.
    work : numpy.ndarray, optional
        1-D scratch buffer of ``dtype``, as in :func:`robust_sigma`.
    dtype : numpy dtype
        Of the data.
    """

    def __init__(
        self, n_lines: int, length: int, *, max_samples: int = 1 << 18, work=None, dtype=np.float32
    ):
        self.step = max(1, int(n_lines * (length // 2) // max_samples))
        self.n2 = (length // 2) * 2
        n_diff = len(range(0, n_lines, self.step)) * (self.n2 // 2)
        dtype = np.dtype(dtype)
        if work is not None and work.ndim == 1 and work.dtype == dtype and work.size >= n_diff:
            self.buf = work[:n_diff]
        else:
            self.buf = np.empty(n_diff, dtype=dtype)
        self.pos = 0
        self.complete = length >= 2  # False once a block cannot be taken (then: robust_sigma)

    def add(self, a: np.ndarray, g: np.ndarray, lb: slice, pb: slice) -> None:
        """Take the pairs of one block of the frame.

        Parameters
        ----------
        a, g : numpy.ndarray, shape (n_block_lines, n_block_pixels)
            The data and the final good mask of the block ``[lb, pb]``.
        lb, pb : slice
            Either a range of lines and all pixels, or all lines and a range of pixels that
            starts at an even pixel (blocks of whole memory rows of C- or Fortran-ordered
            frames).
        """
        n2, step = self.n2, self.step
        if pb == slice(None):
            off = (-(lb.start or 0)) % step  # the first sampled line of the block
            rows, gr = a[off::step], g[off::step]
            with np.errstate(invalid="ignore", over="ignore"):  # non-finite: not ok
                d = rows[:, 1:n2:2] - rows[:, 0:n2:2]
            v = d[gr[:, 1:n2:2] & gr[:, 0:n2:2]]
        elif lb == slice(None) and (pb.start or 0) % 2 == 0:
            p0 = pb.start or 0
            stop = min(p0 + a.shape[1], n2) - p0
            stop -= stop % 2  # pixels of the block in whole pairs (the next block then
            # starts at an odd pixel and is refused if a pair was cut)
            if stop <= 0:
                return
            at, gt = a.T[:stop, ::step], g.T[:stop, ::step]  # (pixels, sampled lines)
            with np.errstate(invalid="ignore", over="ignore"):
                d = at[1::2] - at[0::2]
            v = d[gt[1::2] & gt[0::2]]
        else:
            self.complete = False
            return
        np.abs(v, out=self.buf[self.pos : self.pos + v.size])
        self.pos += v.size

    def sigma(self) -> float:
        """:func:`robust_sigma` of the pairs taken (0.0 if none)."""
        return _pair_sigma(self.buf[: self.pos])


def _median_inplace(d: np.ndarray) -> float:
    """``np.median`` of a 1-D array, partitioning it in place (no copy).

    One selection only (numpy's vectorised single-``kth`` partition is an order of magnitude
    faster than a partition on two ``kth``): for an even size the lower middle value is the
    largest of the values before the upper one, the same value a two-``kth`` partition puts
    there.
    """
    n = d.size
    h = n // 2
    d.partition(h)
    if n % 2:
        return float(np.mean(d[h : h + 1]))
    pair = np.array([d[:h].max(), d[h]], dtype=d.dtype)
    return float(np.mean(pair))


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
    return _pair_sigma(buf[:pos])


def _pair_sigma(d: np.ndarray) -> float:
    """Gaussian sigma from absolute differences of pixel pairs (partitioned in place).

    Parameters
    ----------
    d : numpy.ndarray, shape (n,)
        ``|x1 - x2|`` of pairs of neighbouring pixels, DN/s.

    Returns
    -------
    float
        Per-pixel sigma, DN/s (0.0 without pairs).
    """
    if d.size == 0:
        return 0.0
    mad = _median_inplace(d)
    if mad == 0.0:
        mad = float(np.mean(d))
    # |x1 - x2| for Gaussian x has median 0.6745 * sqrt(2) * sigma
    return mad / (0.6744897501960817 * np.sqrt(2.0))


def _block_sums(x: np.ndarray, block: int, dtype) -> np.ndarray:
    """Sums over consecutive blocks of ``block`` lines (the last may be shorter), float32.

    Where the lines are adjacent in memory (transposed canonical views) the blocks are
    contiguous runs: float sums are matrix-vector products with a vector of ones (BLAS,
    float32 accumulation), and byte counts (``dtype`` uint8, values 0 or 1, ``block`` a
    multiple of 8) are sums of 64-bit words of 8 bytes whose bytes are added by one
    multiplication (exact: every partial sum of bytes is at most ``block`` <= 255). Else
    views reshaped to (blocks, block, width); the accumulation stays in ``dtype`` (no
    full-size cast).
    """
    n_lines, width = x.shape
    nfull = n_lines // block
    out = np.empty((nfull + (n_lines % block > 0), width), dtype=np.float32)
    if abs(x.strides[0]) < abs(x.strides[1]):  # lines adjacent in memory
        xt = x.T  # (width, n_lines), blocks of lines contiguous
        if nfull and xt.strides[1] == x.itemsize:
            head = xt[:, : nfull * block]
            if x.dtype == np.uint8 and block % 8 == 0 and sys.byteorder == "little":
                words = head.view(np.uint64).reshape(width, nfull, block // 8)
                acc = words[:, :, 0].copy()  # bytes of the sum stay <= block / 8
                for j in range(1, block // 8):
                    acc += words[:, :, j]
                acc *= np.uint64(0x0101010101010101)  # top byte: the sum of the 8 bytes
                acc >>= np.uint64(56)
                out[:nfull] = acc.T
            elif x.dtype == np.float32:
                ones = np.ones(block, dtype=np.float32)
                out[:nfull] = np.matmul(head.reshape(width, nfull, block), ones).T
            else:
                out[:nfull] = np.add.reduceat(
                    x[: nfull * block], np.arange(0, nfull * block, block), axis=0, dtype=dtype
                )
            if n_lines % block:
                out[nfull] = x[nfull * block :].sum(axis=0, dtype=dtype)
            return out
        starts = np.arange(0, n_lines, block)
        return np.add.reduceat(x, starts, axis=0, dtype=dtype).astype(np.float32)
    if (
        nfull
        and x.dtype == np.uint8
        and x.strides[1] == 1
        and width % 8 == 0
        and sys.byteorder == "little"
    ):
        # 8 pixels per 64-bit word: each byte lane sums its pixel (at most ``block`` <= 255)
        words = x[: nfull * block].view(np.uint64).reshape(nfull, block, width // 8)
        if nfull * width <= 1 << 14:  # small (chunks of a few blocks): one reduction
            acc = np.add.reduce(words, axis=1)  # (integer sums: exact in any order)
        else:  # large: line by line (the reduction's inner loops would be short)
            acc = words[:, 0].copy()
            for j in range(1, block):
                acc += words[:, j]
        out[:nfull] = acc.view(np.uint8).reshape(nfull, width)
    elif nfull:
        out[:nfull] = x[: nfull * block].reshape(nfull, block, width).sum(axis=1, dtype=dtype)
    if n_lines % block:
        out[nfull] = x[nfull * block :].sum(axis=0, dtype=dtype)
    return out


def block_residual_sums(
    resid: np.ndarray, clean: np.ndarray, block: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sums of the residuals and counts of the clean pixels over blocks of ``block`` lines.

    The input of :func:`faint_emission` and :func:`faint_halos` (which may share it).

    Parameters
    ----------
    resid : numpy.ndarray of float32, shape (n_lines, width)
        Residuals, DN/s; zero where not ``clean``.
    clean : numpy.ndarray of bool, same shape
    block : int
        Lines per block (at most 255).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray), shapes (ceil(n_lines / block), width)
        The sums (dtype of ``resid``) and the counts (uint8).
    """
    return (
        _block_sums(resid, block, resid.dtype),
        _block_sums(clean.view(np.uint8), block, np.uint8),
    )


def faint_emission(
    resid: np.ndarray,
    clean: np.ndarray,
    sigma: float,
    *,
    block: int = 16,
    half_window: int = 8,
    nsig: float = 3.0,
    segments: list[slice] | None = None,
    sums: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Faint emission that is coherent across lines, found on line-averaged residuals.

    Sources, spectral traces and IFU slices cover many neighbouring lines at the same
    position along the line (NIRSpec and NIRISS spectra are dispersed across the lines, so
    a trace or a slice stays at about the same position along the line over hundreds of
    lines), while the white noise and the 1/f left after the line levels are independent
    from line to line. The residuals from the line levels, averaged over ``2 * half_window``
    blocks of ``block`` lines at each position, therefore show emission far below the
    per-pixel noise (the noise of the average is ``sigma / sqrt(n)`` for ``n`` pixels).

    * The block's own lines are left out of its average, so that which pixels are kept does
      not depend on their own noise (no selection bias in the line means of what is kept).
    * The zero of the averaged profile is not the line level: levels measured with faint
      emission still in them are too high, and the empty positions sit below zero. The
      zero is the mode of the profile over the positions of the block, estimated as
      ``min(median, q25 + 0.674 noise)`` (as for the line levels): the median where most
      positions are empty, a low-quantile estimate where emission covers more than half.
    * One-sided: emission is positive. A position is flagged in a block when its average
      exceeds that zero by ``nsig`` times its noise.

    Parameters
    ----------
    resid : numpy.ndarray of float32, shape (n_lines, width)
        Residuals from the line levels (and background), DN/s; zero where not ``clean``.
    clean : numpy.ndarray of bool, same shape
        Pixels used so far.
    sigma : float
        Per-pixel white noise, DN/s.
    block : int
        Lines per block (at most 255).
    half_window : int
        Neighbouring blocks averaged on each side of a block.
    nsig : float
        Threshold in units of the noise of the average.
    segments : list of slice, optional
        Parts of the line (output channels) whose zeros are found separately; default the
        whole line.
    sums : tuple of numpy.ndarray, optional
        The sums of ``resid`` and the counts of ``clean`` over the blocks of ``block`` lines
        (float32, shape (n_blocks, width)), if already computed; not modified.

    Returns
    -------
    edges : numpy.ndarray of int, shape (n_blocks + 1,)
        Line edges of the blocks.
    flag : numpy.ndarray of bool, shape (n_blocks, width)
        True where the position holds emission in that block.
    """
    n_lines, width = resid.shape
    block = int(min(max(block, 1), 255))
    edges = np.append(np.arange(0, n_lines, block), n_lines)
    nb = edges.size - 1
    if nb == 0 or width == 0:
        return edges, np.zeros((nb, width), dtype=bool)
    s, c = block_residual_sums(resid, clean, block) if sums is None else sums
    wsum = _window_sums(s, half_window)
    wcnt = _window_sums(c, half_window)
    del s, c
    ok = wcnt >= 4
    np.maximum(wcnt, 1.0, out=wcnt)
    prof = np.divide(wsum, wcnt, out=wsum)  # mean residual of the neighbouring blocks
    noise = np.sqrt(wcnt, out=wcnt)
    noise = np.divide(np.float32(sigma), noise, out=noise)
    # the zero of each block's profile: its mode over the positions of each segment (sorted,
    # as the levels)
    for seg in segments if segments is not None else [slice(None)]:
        p_s, ok_s = prof[:, seg], ok[:, seg]
        if p_s.shape[1] == 0:  # a window narrower than the interleaving of the outputs
            continue
        n_ok = ok_s.sum(axis=1)
        srt = np.where(ok_s, p_s, np.float32(np.inf))
        srt.sort(axis=1)
        i50 = np.maximum((n_ok - 1) // 2, 0)[:, None]
        i25 = np.maximum((n_ok - 1) // 4, 0)[:, None]
        rows = np.arange(srt.shape[0])
        q50, q25 = srt[rows, i50[:, 0]], srt[rows, i25[:, 0]]
        del srt
        with np.errstate(invalid="ignore", divide="ignore"):
            nmean = (noise[:, seg] * ok_s).sum(axis=1) / np.maximum(n_ok, 1)
            base = np.where(n_ok >= 8, np.minimum(q50, q25 + _Q25_OFFSET * nmean), 0.0)
        p_s -= base.astype(np.float32)[:, None]  # a view of ``prof``
    prof -= np.float32(nsig) * noise
    return edges, ok & (prof > 0)


def faint_halos(
    resid: np.ndarray,
    clean: np.ndarray,
    *,
    block: int = 16,
    scales: tuple[int, ...] = (1, 3, 5),
    nsig: float = 4.0,
    grow: int = 1,
    segments: list[slice] | None = None,
    sums: tuple[np.ndarray, np.ndarray] | None = None,
    directions: tuple[int, ...] | None = None,
    grow_sigma: float | None = None,
) -> np.ndarray:
    """Faint light around compact sources, found on residuals summed over square windows.

    Galaxies and the wings of stars have most of their light below the per-pixel clip: a
    galaxy of 50 DN/s spread over 100 x 100 pixels is 0.05 sigma per pixel. What the clip
    leaves of it sits in the clean pixels of the lines through the source, raises those
    lines' means and is then subtracted from every pixel of those lines, the source's own
    included (a source that spans 1/5 of its channel-line and keeps half of its light in
    the clean pixels loses 10 % of its flux). Unlike spectral traces
    (:func:`faint_emission`), such light is compact in both directions, so it is sought in
    square windows of ``w x w`` blocks of ``block`` lines x ``block`` pixels, where the
    white noise of the mean is ``w * block`` times smaller than a pixel's.

    * The zero of each block is the mean residual of its block row in its segment (output
      channel), so the stripes left in the residuals cancel.
    * Given the read direction of each segment (three or more outputs of equal length),
      the median over the outputs of the blocks' mean residuals at the same read time is
      subtracted too. The outputs are read simultaneously and most of the 1/f is common
      to them (about 3:1), so the wander of the 1/f along the lines, which the line
      levels leave, is largely the same in all outputs at the same read time; light in
      one output does not move the median of the others. On full frames this takes the
      scatter of the window sums from 1.4-1.9 times the white noise's to 0.7-1.0 times
      (the median also takes some of each output's white noise).
    * Each window's sum over its clean pixels, divided by the square root of their number,
      is compared with the median of these values over all windows of that size by
      ``nsig`` times their robust scatter (1.4826 MAD). The scatter is measured, not
      assumed (1/f along the lines, faint sources). One-sided: emission is positive.
    * A window is tested only where at least a quarter of its pixels are clean, and a
      scale ``w`` only where the segment is more than ``4 w`` blocks long and wide: the
      zero and the scatter must come mostly from beyond any one window (in windows of few
      lines or short lines the test is not made at all).
    * The centre block of a flagged window is flagged. With ``grow_sigma``, the flags then
      spread (8-connected, repeatedly) to the neighbouring blocks whose own normalised sum
      (the window of one block) stands more than ``grow_sigma`` robust scatters above the
      median: the light of a source continues below the threshold beyond the windows that
      find it, and that is where a block next to a flagged one is positive; an empty
      neighbour is taken only with the one-sided noise probability of ``grow_sigma``.
      Last, the flags of all scales are grown by ``grow`` blocks (8-connected,
      unconditionally).

    Parameters
    ----------
    resid : numpy.ndarray of float32, shape (n_lines, width)
        Residuals from the line levels (and background), DN/s; zero where not ``clean``.
    clean : numpy.ndarray of bool, same shape
        Pixels used so far.
    block : int
        Block size in lines and in pixels (at most 255).
    scales : tuple of int
        Window sizes, in blocks (odd).
    nsig : float
        One-sided threshold, in units of the robust scatter of the normalised window sums.
    grow : int
        Blocks by which the flags are grown (8-connected).
    segments : list of slice, optional
        Contiguous parts of the line (output channels) treated separately; default the
        whole line.
    sums : tuple of numpy.ndarray, optional
        The sums of ``resid`` and the counts of ``clean`` over the blocks of ``block`` lines
        (float32, shape (ceil(n_lines / block), width)), if already computed.
    directions : tuple of int, optional
        Read direction of each segment along the line (+1 towards increasing index, -1
        the other way; ``ReadoutLayout.fast_sign``): the wander shared by the outputs is
        then removed (see above).
    grow_sigma : float, optional
        Threshold (robust scatters of the one-block sums) above which a block next to a
        flagged one is flagged too, repeatedly (see above); None: no such growth. Needs the
        one-block scale in ``scales``.

    Returns
    -------
    numpy.ndarray of bool, shape (ceil(n_lines / block), width)
        True where light was found, per block of ``block`` lines and per pixel.
    """
    n_lines, width = resid.shape
    block = int(min(max(block, 1), 255))
    nbl = -(-n_lines // block)
    out = np.zeros((nbl, width), dtype=bool)
    segs = [sl.indices(width)[:2] for sl in (segments if segments else [slice(None)])]
    segs = [(p0, p1) for p0, p1 in segs if p1 > p0]
    if nbl == 0 or not segs:
        return out
    # blocks of ``block`` pixels from the start of each segment; segments side by side in a
    # (block rows, segments, blocks) grid, padded with empty blocks
    nbp = [-(-(p1 - p0) // block) for p0, p1 in segs]
    nseg, nbmax = len(segs), max(nbp)
    if not any(4 * w < nbl and 4 * w < max(nbp) for w in scales):
        return out
    s, c = block_residual_sums(resid, clean, block) if sums is None else sums
    # counts and sums side by side (one box sum of both per scale: the same sums)
    both = np.zeros((nbl, 2 * nseg, nbmax))
    cnts, sums = both[:, :nseg], both[:, nseg:]
    # pixels per block: rows of the block row times widths of the block (separable)
    rows = np.minimum(block, n_lines - block * np.arange(nbl)).astype(np.float64)
    cols = np.zeros((nseg, nbmax))
    for k, (p0, p1) in enumerate(segs):
        starts = np.arange(p0, p1, block)
        sums[:, k, : nbp[k]] = np.add.reduceat(s[:, p0:p1], starts - p0, axis=1)
        cnts[:, k, : nbp[k]] = np.add.reduceat(c[:, p0:p1], starts - p0, axis=1)
        cols[k, : nbp[k]] = np.diff(np.append(starts, p1))
    del s, c
    # the zero: the mean residual of each block row in its segment
    with np.errstate(invalid="ignore", divide="ignore"):
        zero = sums.sum(axis=2) / np.maximum(cnts.sum(axis=2), 1.0)
    sums -= zero[:, :, None] * cnts
    if (
        directions is not None
        and nseg > 2
        and len(set(nbp)) == 1
        and all((p1 - p0) % block == 0 for p0, p1 in segs)
    ):
        # the 1/f wander along the lines that the outputs share, at the same read time: the
        # median over the outputs of each block's mean residual (in read order)
        rev = np.array(directions[:nseg]) < 0
        rs, rc = sums.copy(), cnts.copy()
        rs[:, rev] = rs[:, rev, ::-1]
        rc[:, rev] = rc[:, rev, ::-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(rc > 0, rs / np.maximum(rc, 1.0), np.nan)
        n_ok = (rc > 0).sum(axis=1)[:, None, :]
        mean.sort(axis=1)  # the empty blocks (NaN) last
        common = np.take_along_axis(mean, np.maximum((n_ok - 1) // 2, 0), axis=1)
        common += np.take_along_axis(mean, n_ok // 2, axis=1)
        common = np.where(n_ok > 0, 0.5 * common, 0.0) * rc  # the median, 0 where none
        common[:, rev] = common[:, rev, ::-1]
        sums -= common
    flag = np.zeros(sums.shape, dtype=bool)
    nbp_a = np.array(nbp)
    above = None  # blocks whose own sum is above ``grow_sigma`` (conditional growth)
    for w in scales:
        seg_ok = 4 * w < nbp_a
        if not (4 * w < nbl and seg_ok.any()):
            continue
        h = w // 2
        boxed = _box_sums(both, h)
        wc, z = boxed[:, :nseg], boxed[:, nseg:]
        # at least a quarter of the window clean (its pixels: the product of the box sums
        # of the rows and of the widths, exact integers)
        size = _box_sums(rows[:, None, None], h) * _box_sums(cols[None], h)
        ok = wc >= 0.25 * size
        ok &= seg_ok[None, :, None]
        if ok.sum() < 16:
            continue
        z /= np.sqrt(np.maximum(wc, 1.0))
        zo = z[ok]
        med = float(np.median(zo))
        scatter = 1.4826 * float(np.median(np.abs(zo - med, out=zo)))
        if not np.isfinite(scatter) or scatter <= 0:
            continue
        flag |= ok & (z > med + nsig * scatter)
        if w == 1 and grow_sigma is not None:
            above = ok & (z > med + grow_sigma * scatter)
    if not flag.any():
        return out
    if above is not None:
        # spread to positive neighbours until nothing changes (a halo's outskirts)
        while True:
            near = _grow8(flag) & above & ~flag
            if not near.any():
                break
            flag |= near
    grown = flag  # 8-connected growth by ``grow`` blocks, within each segment
    for _ in range(grow):
        grown = _grow8(grown)
    for k, (p0, p1) in enumerate(segs):
        widths = np.diff(np.append(np.arange(p0, p1, block), p1))
        out[:, p0:p1] = np.repeat(grown[:, k, : nbp[k]], widths, axis=1)
    return out


def _grow8(flag: np.ndarray) -> np.ndarray:
    """Flags grown by one block, 8-connected, along the first and last axes.

    Parameters
    ----------
    flag : numpy.ndarray of bool, shape (n, m, p)
        Per block row, segment and block along the segment.

    Returns
    -------
    numpy.ndarray of bool, shape of ``flag`` (a new array)
    """
    col = flag.copy()
    col[1:] |= flag[:-1]
    col[:-1] |= flag[1:]
    out = col.copy()
    out[:, :, 1:] |= col[:, :, :-1]
    out[:, :, :-1] |= col[:, :, 1:]
    return out


def _box_sums(x: np.ndarray, h: int) -> np.ndarray:
    """Sums over windows of ``2 h + 1`` along the first and last axes (clipped at the edges).

    Parameters
    ----------
    x : numpy.ndarray, shape (n, m, p)
    h : int
        Half width of the window.

    Returns
    -------
    numpy.ndarray of float64, shape (n, m, p)
    """
    out = np.array(x, dtype=np.float64)
    if h <= 0:
        return out
    for axis in (0, 2):
        n = out.shape[axis]
        cs = np.zeros(out.shape[:axis] + (n + 1,) + out.shape[axis + 1 :])
        np.cumsum(out, axis=axis, out=cs[(slice(None),) * axis + (slice(1, None),)])
        idx = np.arange(n)
        hi = np.minimum(idx + h + 1, n)
        lo = np.maximum(idx - h, 0)
        out = np.take(cs, hi, axis=axis)
        out -= np.take(cs, lo, axis=axis)
    return out


def dark_positions(
    resid: np.ndarray,
    good: np.ndarray,
    lines: np.ndarray,
    n_select: int,
    *,
    block: int = 16,
    half_window: int = 8,
    finite: bool = False,
    indices: bool = False,
    profile: bool = False,
) -> np.ndarray | tuple[np.ndarray, ...]:
    """The darkest positions along the line, per block of lines, from neighbouring lines.

    Where emission fills most of a channel-line (NIRSpec IFU slices), its few dark pixels are
    the gaps between the slices or slits. Slices and slits stay at the same positions over
    many lines, so the residuals averaged over the neighbouring blocks (``2 * half_window``
    blocks of ``block`` lines; the block's own lines left out, so that the choice does not
    depend on the noise of the pixels it selects) show where the gaps are; the ``n_select``
    darkest positions of each block are taken, just enough to measure a line, which keeps
    the light of the slice wings in them lowest.

    Parameters
    ----------
    resid : numpy.ndarray of float32, shape (n_lines, width)
        Residuals from the line levels, DN/s (any constant per line does not matter).
    good : numpy.ndarray of bool, same shape
        Usable pixels.
    lines : numpy.ndarray of bool, shape (n_lines,)
        The lines to average (e.g. the lit channel-lines).
    n_select : int
        Positions to select per block.
    block, half_window : int
        As in :func:`faint_emission`.
    finite : bool
        ``resid`` is finite everywhere: masked sums are taken as products with the mask
        (faster; the same sums).
    indices : bool
        Return the selection as indices instead of a mask.
    profile : bool
        With ``indices``, also return the profile the positions were ranked on.

    Returns
    -------
    numpy.ndarray of bool, shape (n_blocks, width)
        Selected positions per block of ``block`` lines; with ``indices``, instead
        ``(idx, valid)``: int32 and bool arrays of shape (n_blocks, min(n_select, width)),
        the selected positions of each block in increasing order, those measured on enough
        lines (``valid``) first; with ``profile`` also, ``(idx, valid, prof, count)``:
        float32 arrays of shape (n_blocks, width), the mean residual over the neighbouring
        blocks (inf where measured on fewer than 4 pixels) and the number of pixels it
        averages.
    """
    n_lines, width = resid.shape
    block = int(min(max(block, 1), 255))
    nb = -(-n_lines // block)
    if nb == 0 or width == 0:
        if indices:
            out = np.zeros((nb, 0), dtype=np.int32), np.zeros((nb, 0), dtype=bool)
            if profile:
                out += (np.zeros((nb, width), np.float32), np.zeros((nb, width), np.float32))
            return out
        return np.zeros((nb, width), dtype=bool)
    # block sums and counts side by side (one window sum of both: the same sums)
    sc = np.empty((nb, 2 * width), dtype=np.float32)
    s, c = sc[:, :width], sc[:, width:]
    # whole blocks of lines at a time, at most 256 lines and a sixteenth of the lines (memory)
    chunk = block * max(1, min(256, n_lines // 16) // block)
    starts = range(0, n_lines, chunk)
    n_used = sum(bool(lines[i0 : i0 + chunk].any()) for i0 in starts)
    # (where most chunks hold some of the lines)
    by_rows = abs(resid.strides[0]) < abs(resid.strides[1]) and n_lines % block == 0
    by_rows = by_rows and 2 * n_used >= len(starts)
    if by_rows:
        # lines adjacent in memory (transposed canonical views): groups of whole memory rows
        # (pixels) instead, contiguous; the same sums (each block sum of the floats a dot
        # product of its ``block`` values with ones, as in ``_block_sums``, here in one BLAS
        # call for the group)
        ones = np.ones(block, dtype=np.float32)
        cols = max(1, 4 * _BLOCK // n_lines)
        for q0 in range(0, width, cols):
            q = slice(q0, min(q0 + cols, width))
            use = good[:, q] & lines[:, None]
            c[:, q] = _block_sums(use.view(np.uint8), block, np.uint8)
            if finite:
                masked = np.multiply(resid[:, q], use)
            else:
                masked = np.where(use, resid[:, q], np.float32(0.0))
            mt = np.ascontiguousarray(masked.T)  # (pixels, lines): no copy
            s[:, q] = (mt.reshape(-1, block) @ ones).reshape(mt.shape[0], nb).T
            del use, masked, mt
    for i0 in starts:
        ls = slice(i0, min(i0 + chunk, n_lines))
        bs = slice(i0 // block, -(-ls.stop // block))
        if not lines[ls].any():  # nothing to average here
            s[bs] = 0.0
            c[bs] = 0.0
            continue
        if by_rows:  # (summed above)
            continue
        # (every line of the chunk averaged: the usable mask itself, no copy)
        use = good[ls] if lines[ls].all() else good[ls] & lines[ls, None]
        c[bs] = _block_sums(use.view(np.uint8), block, np.uint8)
        if finite:
            masked = np.multiply(resid[ls], use)
        else:
            masked = np.where(use, resid[ls], np.float32(0.0))
        s[bs] = _block_sums(masked, block, np.float32)
        del masked
    wsc = _window_sums(sc, half_window)
    wsum, wcnt = wsc[:, :width], wsc[:, width:]
    del s, c, sc
    ok = wcnt >= 4
    prof = np.where(ok, wsum / np.maximum(wcnt, 1.0), np.float32(np.inf))
    del wsum
    n_sel = int(min(max(n_select, 1), width))
    if indices:
        idx = np.empty((nb, n_sel), dtype=np.int32)
        valid = np.empty((nb, n_sel), dtype=bool)
    else:
        sel = np.zeros((nb, width), dtype=bool)
    for b0 in range(0, nb, 64):  # (64-bit indices of 64 blocks at a time: memory)
        bs = slice(b0, b0 + 64)
        order = np.argpartition(prof[bs], n_sel - 1, axis=1)[:, :n_sel]
        if not indices:
            np.put_along_axis(sel[bs], order, True, axis=1)
            continue
        order.sort(axis=1)
        v = np.take_along_axis(ok[bs], order, axis=1)
        first = np.argsort(~v, axis=1, kind="stable")  # the valid ones first, in order
        idx[bs] = np.take_along_axis(order, first, axis=1)
        valid[bs] = np.take_along_axis(v, first, axis=1)
    if indices:
        return (idx, valid, prof, wcnt) if profile else (idx, valid)
    sel &= ok
    return sel


def _window_sums(x: np.ndarray, half: int) -> np.ndarray:
    """Sums over rows ``j - half .. j + half`` (clipped at the ends) without row ``j``."""
    n = x.shape[0]
    cs = np.empty((n + 1,) + x.shape[1:], dtype=x.dtype)
    cs[0] = 0
    if 0 < n <= 1024 and x.ndim == 2:  # row by row: the same sequential sums, faster
        for i in range(n):
            np.add(cs[i], x[i], out=cs[i + 1])
    else:
        np.cumsum(x, axis=0, out=cs[1:])
    out = np.empty_like(x)
    k = max(0, min(n, n - half))  # rows whose window ends inside the array
    out[:k] = cs[half + 1 : half + 1 + k]
    out[k:] = cs[n]
    if n > half:  # rows whose window starts inside the array
        out[half:] -= cs[: n - half]
    out -= x
    return out
