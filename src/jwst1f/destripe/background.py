"""Smooth background along the lines, and detection of extended emission.

Works in canonical orientation (lines along the last axis). The frame is cut into blocks of
``background_box`` lines x ``background_box`` pixels (blocks never straddle a contiguous
channel boundary; along an output's line shorter than 4 x ``background_box``, e.g. the 32-
and 64-pixel lines of NIRSpec's SUB2048 and SUBS200A1 windows, blocks are a quarter of that
line, at least 8 pixels, when the frame has two block rows or more, and the along-line
polynomial is then at most linear). For each block the mean of clean pixels relative to the clipped level of
each pixel's own channel-line is measured (so the stripes themselves are gone from the grid).
Per block row a low-order polynomial along the line plus one free constant per channel is
fitted robustly (symmetric iterative clipping around the fit, started at zero, the clipped
level, so that rows more than half illuminated still find their sky); blocks off that fit by
more than ``extended_sigma`` are extended emission and are masked. The fitted along-line shape, without its line mean (Legendre terms of order >= 1),
is the background that is subtracted before measuring line means, so a sky gradient along
the line does not turn into stripes when the mask changes from line to line, nor into
channel offsets.

The coefficients of the along-line terms vary across lines: per term, the series of block
rows is smoothed by local straight lines at the width of least estimated risk (from three
block rows to twice the frame), so that the noise of one block row does not enter the line means and
an along-line shape that holds over part of the frame only (extended emission with a
gradient, ending part way down) is not spread over the lines where the sky is flat.

Structure that is constant along a line is degenerate with the stripes: it is *not* in this
background. Its smooth trend along the slow axis is kept as sky by the core (see
``background_slow_scale``).
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field

import numpy as np
from numpy.polynomial import legendre

__all__ = ["SmoothBackground", "fit_background", "block_edges"]

_Q25_OFFSET = 0.6744897501960817
#: Elements per block of lines in the block sums (cache-sized; bounds temporaries).
_BLOCK = 1 << 14
#: Blocks along each output's line at least (where the line is long enough, see below).
_MIN_ALONG_BLOCKS = 4
#: Smallest block along the line, pixels.
_MIN_ALONG_BOX = 8
#: Narrowest Gaussian width, in block rows, over which the coefficients of the along-line
#: shape are smoothed across lines (local straight lines; the width of least estimated risk
#: from this to twice the frame, :func:`_smooth_across_rows`). One polynomial over the whole
#: frame (Legendre, order 2, before) spread the along-line gradient of extended emission
#: filling half the frame onto the lines below it, where the sky is flat: the outputs'
#: levels there were off by up to 0.2 DN/s and one output was taken as lit and measured on
#: its darkest positions (``nircam_full_extended`` seed 6: 2.24 x oracle; eight seeds
#: 1.327 x, bias -0.22 %, oracle -0.07). Eight seeds at the least-risk width from 3 rows:
#: 1.088 x, bias -0.20 %; every other case within 0.003 x and 0.03 %. Fixed widths of 3 /
#: 6 rows: 1.093 / 1.101 x, bias -0.23 / -0.17 %, star fields and MOS 0.003 x worse at 3,
#: and at 6 a band of emission ending part way down a synthetic frame still moved the
#: outputs' levels below it by up to 0.012 DN/s (0.005 at 3 or at the least-risk width);
#: from 1 row the risk followed single rows' noise (1.116 x, bias -0.36 %).
_ALONG_SHAPE_ROWS = 3
#: Smallest fraction of the line that a block row's measured blocks must span (first to last
#: block centre) for the curvature of its along-line shape (terms of order 2 and up) to be
#: fitted. A shape fitted on part of the line is extrapolated over the rest, and the
#: channels' levels are its mean over the whole line: with a user mask over the right two
#: thirds of a one-output strip, the curvature fitted on the left third put that mean
#: 1.5 DN/s (2 sigma) below the data, every block was then flagged as extended emission and
#: no line was measured. Narrower rows fit a straight shape. (A straight one is still
#: needed there: a sky gradient along 64-pixel lines is first found on half of each line,
#: the other half taken for faint emission until the gradient is fitted.)
_MIN_ALONG_SPAN = 0.5


@dataclass
class SmoothBackground:
    """Result of :func:`fit_background`.

    The background image is low rank, so it is kept as coefficients and evaluated per
    channel on demand (never a full extra array).

    Attributes
    ----------
    line_coef : numpy.ndarray, shape (n_lines, order)
        Per line, the coefficients of the Legendre terms of order 1..order along the line,
        data units.
    length : int
        Line length (full resolution), pixels.
    flag : numpy.ndarray of bool, shape (n_block_rows, n_block_columns)
        Blocks flagged as extended emission.
    line_edges, pixel_edges : numpy.ndarray of int
        Block edges along the lines and along the line (full-resolution pixels).
    deviation : numpy.ndarray, shape (n_block_rows, n_block_columns), optional
        Each block's mean residual minus the fitted model (channel constant and along-line
        terms), DN/s; 0 where the block has too few clean pixels.
    channel_level : numpy.ndarray, shape (n_block_rows, n_channels), optional
        The fitted constant of each channel per block row, relative to the channel-line
        levels the residuals were taken from, DN/s.
    """

    line_coef: np.ndarray
    length: int
    flag: np.ndarray
    line_edges: np.ndarray
    pixel_edges: np.ndarray
    deviation: np.ndarray | None = None
    channel_level: np.ndarray | None = None
    _vander_full: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def n_extended_blocks(self) -> int:
        """Number of blocks flagged as extended emission."""
        return int(self.flag.sum())

    def _vander(self, sl: slice) -> np.ndarray:
        """Float32 Legendre terms 1..order on the pixels ``sl``, shape (n_selected, order).

        Computed once for the whole line and sliced (the image is evaluated block by block).
        """
        if self._vander_full is None:
            order = self.line_coef.shape[1]
            xp = (np.arange(self.length) + 0.5) / self.length * 2.0 - 1.0
            self._vander_full = legendre.legvander(xp, order)[:, 1:].astype(np.float32)
        return self._vander_full[sl]

    def terms(self, sl: slice = slice(None)) -> np.ndarray | None:
        """Legendre terms 1..order on the pixels ``sl``, or None if the background is zero.

        ``line_coef.astype(float32) @ terms(sl).T`` is ``image(sl)``.

        Returns
        -------
        numpy.ndarray of float32, shape (n_selected, order) or None
        """
        if self.line_coef.shape[1] == 0:
            return None
        return self._vander(sl)

    def image(
        self,
        sl: slice = slice(None),
        *,
        fortran: bool = False,
        lines: slice = slice(None),
        out: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """The background on the pixels ``sl`` of every line, or None if it is zero.

        Parameters
        ----------
        sl : slice
            Pixels along the line.
        fortran : bool
            Return a Fortran-ordered array (to match transposed canonical views).
        lines : slice
            Lines to evaluate.
        out : numpy.ndarray of float32, optional
            Output array of the result's shape, C-ordered (Fortran-ordered with
            ``fortran``).

        Returns
        -------
        numpy.ndarray of float32, shape (n_selected_lines, n_selected) or None
        """
        if self.line_coef.shape[1] == 0:
            return None
        coef = self.line_coef[lines].astype(np.float32)
        if fortran:
            return np.matmul(self._vander(sl), coef.T, out=None if out is None else out.T).T
        return np.matmul(coef, self._vander(sl).T, out=out)

    def channel_means(self, chans: list[slice]) -> np.ndarray:
        """Mean of the background over each channel's pixels, per line.

        Returns
        -------
        numpy.ndarray, shape (n_lines, n_channels)
        """
        n_lines = self.line_coef.shape[0]
        if self.line_coef.shape[1] == 0:
            return np.zeros((n_lines, len(chans)))
        order = self.line_coef.shape[1]
        cols = [
            self._vander(sl).astype(np.float64).mean(axis=0)
            if len(range(self.length)[sl])
            else np.zeros(order)
            for sl in chans
        ]
        return self.line_coef @ np.stack(cols, axis=1)

    def extended(self, *, fortran: bool = False) -> np.ndarray | None:
        """Full-resolution mask of extended emission, or None if nothing was flagged.

        Parameters
        ----------
        fortran : bool
            Return a Fortran-ordered array (to match transposed canonical views).

        Returns
        -------
        numpy.ndarray of bool, shape (n_lines, length) or None
        """
        if not self.flag.any():
            return None
        if fortran:
            cols = np.repeat(self.flag.T, np.diff(self.pixel_edges), axis=0)
            return np.repeat(cols, np.diff(self.line_edges), axis=1).T
        rows = np.repeat(self.flag, np.diff(self.line_edges), axis=0)
        return np.ascontiguousarray(np.repeat(rows, np.diff(self.pixel_edges), axis=1))


def _batched_wls(
    design: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    *,
    inverse: bool = False,
    fixed: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Weighted least squares of every row of ``y`` on the same design, in one batch.

    Parameters
    ----------
    design : numpy.ndarray, shape (n, p)
    y, w : numpy.ndarray, shape (m, n)
        Values and weights (0 = not used) per row.
    inverse : bool
        Also return the diagonal of each row's inverse normal matrix.
    fixed : numpy.ndarray of bool, shape (m, p), optional
        Coefficients held at 0 (not fitted); their inverse-normal diagonal is ``inf``.

    Returns
    -------
    numpy.ndarray, shape (m, p)
        Coefficients; a tiny ridge keeps rows with unconstrained terms finite (those terms
        come out 0).
    numpy.ndarray, shape (m, p)
        Only with ``inverse``: ``diag((design.T W design)^-1)`` per row, so that with weights
        proportional to inverse variances, ``s2 / w``, the coefficients' variances are ``s2``
        times it (large for terms the row does not constrain).
    """
    ata = np.einsum("np,mn,nq->mpq", design, w, design)
    aty = np.einsum("np,mn->mp", design, w * y)
    diag = np.einsum("mpp->mp", ata)
    ridge = 1e-9 * np.maximum(diag.max(axis=1, keepdims=True), 1e-300)
    ata[:, np.arange(design.shape[1]), np.arange(design.shape[1])] += ridge
    if fixed is not None and fixed.any():
        # a held coefficient: its row and column of the normal equations become the identity
        # (the other coefficients are fitted without it) and its right-hand side 0
        ata = np.where(fixed[:, :, None] | fixed[:, None, :], 0.0, ata)
        ata[:, np.arange(design.shape[1]), np.arange(design.shape[1])] += fixed
        aty = np.where(fixed, 0.0, aty)
    sol = np.linalg.solve(ata, aty[..., None])[..., 0]
    if not inverse:
        return sol
    inv = np.einsum("mpp->mp", np.linalg.inv(ata))
    if fixed is not None:
        inv = np.where(fixed, np.inf, inv)
    return sol, inv


def _local_linear(
    at: np.ndarray, x: np.ndarray, y: np.ndarray, w: np.ndarray, width: float
) -> tuple[np.ndarray, np.ndarray]:
    """Local straight lines with a Gaussian kernel, fitted to a few points, evaluated at ``at``.

    At each position, the weighted least-squares line through ``(x, y)`` with weights
    ``w * exp(-(x - at)**2 / (2 width**2))`` (a constant where the kernel holds one point);
    the same smoother as :func:`jwst1f.destripe.linemodel.smooth_lines` with ``degree=1``,
    as direct sums over the points (a few tens: block rows).

    Parameters
    ----------
    at : numpy.ndarray, shape (m,)
        Positions to evaluate at.
    x, y, w : numpy.ndarray, shape (n,)
        Positions, values and weights (positive) of the points.
    width : float
        Kernel width, units of ``x``.

    Returns
    -------
    values : numpy.ndarray, shape (m,)
    inv00 : numpy.ndarray, shape (m,)
        ``(S^-1)_00`` of each local fit: the leverage of a point evaluated at its own
        position is its weight times this.
    """
    d = x[None, :] - at[:, None]
    a = w[None, :] * np.exp(-0.5 * (d / width) ** 2)
    ad = a * d
    s0, s1, s2 = a.sum(axis=1), ad.sum(axis=1), (ad * d).sum(axis=1)
    t0, t1 = a @ y, ad @ y
    det = s0 * s2 - s1 * s1
    lin = det > 1e-9 * np.maximum(s0 * s2, 1e-300)
    s0 = np.maximum(s0, 1e-300)
    det = np.where(lin, det, 1.0)
    values = np.where(lin, (s2 * t0 - s1 * t1) / det, t0 / s0)
    return values, np.where(lin, s2 / det, 1.0 / s0)


def _smooth_across_rows(
    coef: np.ndarray, rel_var: np.ndarray, rows: np.ndarray, line_edges: np.ndarray, box: int
) -> np.ndarray:
    """Per-line values of block-row coefficients, smoothed across the block rows.

    Each coefficient series (one value per block row, at the row's centre line) is smoothed
    by local straight lines with a Gaussian kernel (:func:`_local_linear`, each row weighted
    by the inverse variance of its value) and evaluated at every line. The kernel's width is
    that of least estimated risk (Stein's unbiased risk estimate, as in
    :func:`jwst1f.destripe.linemodel.choose_smoothing`) among ``_ALONG_SHAPE_ROWS`` block
    rows to twice the frame: a smooth sky takes a straight line across the frame, and an
    along-line shape that holds over part of the frame only (extended emission with a
    gradient ending part way down) is followed there instead of being spread onto the lines
    where the sky is flat.

    The risk needs the noise of the values: ``rel_var`` (each row's share, from its fit)
    times a factor measured on the series itself, the robust scatter of the differences of
    neighbouring rows, each in units of its expected spread (a smooth shape barely changes
    from one row to the next; block means hold more than the pixels' white noise: the 1/f
    along the lines, faint structure). Series of fewer than 8 rows cannot measure it and
    take the broadest width.

    Parameters
    ----------
    coef : numpy.ndarray, shape (n_rows, n_terms)
        Coefficients per block row.
    rel_var : numpy.ndarray, shape (n_rows, n_terms)
        Their variances, up to a factor per term (positive where ``rows``).
    rows : numpy.ndarray of bool, shape (n_rows,)
        Block rows with a fit.
    line_edges : numpy.ndarray of int, shape (n_rows + 1,)
        First line of each block row, and the number of lines.
    box : int
        Lines per block row (the unit of the widths).

    Returns
    -------
    numpy.ndarray, shape (n_lines, n_terms)
    """
    n_rows, n_terms = coef.shape
    n_lines = int(line_edges[-1])
    centre = 0.5 * (line_edges[:-1] + line_edges[1:])  # lines
    # evaluated at the rows' centres and the frame's ends, then interpolated to the lines (a
    # kernel of 3 rows or more is nearly straight between neighbouring rows)
    grid = np.concatenate(([0.0], centre, [float(n_lines)]))
    widest = 2.0 * max(n_rows, 2)
    narrowest = min(_ALONG_SHAPE_ROWS, widest)
    widths = narrowest * (widest / narrowest) ** np.linspace(0.0, 1.0, 6)  # block rows
    out = np.zeros((n_lines, n_terms))
    for q in range(n_terms):
        ok = rows & np.isfinite(rel_var[:, q]) & (rel_var[:, q] > 0) & np.isfinite(coef[:, q])
        if not ok.any():
            continue
        x, y, w = centre[ok], coef[ok, q], 1.0 / rel_var[ok, q]
        width = widest
        if ok.sum() >= 8:
            z = np.diff(y) * np.sqrt(1.0 / (1.0 / w[1:] + 1.0 / w[:-1]))
            k2 = (1.4826 * float(np.median(np.abs(z - np.median(z))))) ** 2
            if np.isfinite(k2) and k2 > 0:
                risks = []
                for wd in widths:
                    f, inv00 = _local_linear(x, x, y, w, wd * box)
                    risks.append(float((w * (y - f) ** 2).sum() / k2 + 2.0 * (w * inv00).sum()))
                width = float(widths[int(np.argmin(risks))])
        smooth, _ = _local_linear(grid, x, y, w, width * box)
        out[:, q] = np.interp(np.arange(n_lines) + 0.5, grid, smooth)
    return out


def _along_box(length: int, box: int, bounds: tuple[int, ...]) -> int:
    """Block size along the line: ``box``, or less where an output's line is short.

    A short subarray line (32-256 pixels) still holds ``_MIN_ALONG_BLOCKS`` blocks per
    output, so that a sky gradient along it can be fitted. With one block per output the
    gradient is not modelled: it turns into stripes where the mask changes from line to
    line, and a gradient of 1.6 sigma per pixel over a 64-pixel line was flagged as faint
    emission on every line (no line corrected at all).

    Parameters
    ----------
    length : int
        Line length, full-resolution pixels.
    box : int
        Target block size, pixels.
    bounds : tuple of int
        Contiguous channel boundaries along the line, pixels.

    Returns
    -------
    int
        Block size along the line, pixels.
    """
    cuts = sorted({0, int(length), *[int(b) for b in bounds if 0 < b < length]})
    shortest = min(hi - lo for lo, hi in zip(cuts[:-1], cuts[1:], strict=True))
    return int(min(box, max(_MIN_ALONG_BOX, shortest // _MIN_ALONG_BLOCKS)))


def block_edges(length: int, box: int, bounds: tuple[int, ...] = ()) -> np.ndarray:
    """Block boundaries of about ``box`` pixels that include every boundary in ``bounds``.

    Parameters
    ----------
    length : int
        Axis length, pixels.
    box : int
        Target block size, pixels.
    bounds : tuple of int
        Boundaries that must be block edges (e.g. channel edges).

    Returns
    -------
    numpy.ndarray of int
        Increasing edges from 0 to ``length`` (a new array).
    """
    return _block_edges(int(length), int(box), tuple(int(b) for b in bounds)).copy()


@functools.lru_cache(maxsize=64)
def _block_edges(length: int, box: int, bounds: tuple[int, ...]) -> np.ndarray:
    """:func:`block_edges`, cached (the same few geometries recur for every frame)."""
    cuts = sorted({0, length, *[int(b) for b in bounds if 0 < b < length]})
    edges = [0]
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        nb = max(1, int(round((hi - lo) / box)))
        e = np.linspace(lo, hi, nb + 1).round().astype(int)
        edges.extend(int(v) for v in e[1:])
    return np.unique(np.asarray(edges))


def fit_background(
    resid: np.ndarray,
    clean: np.ndarray,
    sigma: float,
    *,
    box: int,
    along_order: int,
    extended_sigma: float,
    channel_bounds: tuple[int, ...] = (),
    iterations: int = 3,
    step: int = 1,
    length: int | None = None,
    zeroed: bool = False,
) -> SmoothBackground:
    """Fit the along-line background and flag extended emission.

    Parameters
    ----------
    resid : numpy.ndarray, shape (n_lines, n_samples)
        Finite data minus the clipped level of each pixel's own channel-line, DN/s, sampled
        every ``step`` pixels along the lines. Work array: set to zero where not clean.
    clean : numpy.ndarray of bool, same shape
        Pixels usable as background (bad pixels and compact sources already excluded).
    sigma : float
        Per-pixel noise, DN/s.
    box : int
        Block size, full-resolution pixels.
    along_order : int
        Polynomial order of the along-line shape.
    extended_sigma : float
        Detection threshold in units of the block-mean scatter.
    channel_bounds : tuple of int
        Contiguous channel boundaries along the line, full-resolution pixels, multiples of
        ``step`` (blocks do not straddle them).
    iterations : int
        Clip-and-refit iterations.
    step : int
        Sampling step of ``a`` along the lines.
    length : int, optional
        Full-resolution line length; ``n_samples * step`` when omitted.
    zeroed : bool
        ``resid`` is already zero wherever ``clean`` is False (it is then not multiplied
        by the mask again: the product would change nothing).

    Returns
    -------
    SmoothBackground
    """
    n_lines, n_samp = resid.shape
    length = int(length if length is not None else n_samp * step)
    le = block_edges(n_lines, box)
    bounds_sub = tuple(int(b) // step for b in channel_bounds)
    # shorter blocks along short lines, where the shape is fitted on two block rows at least
    along_box = _along_box(length, box, channel_bounds) if le.size > 2 else box
    pe = block_edges(n_samp, max(along_box // step, 2), bounds_sub)
    pe_full = np.minimum(pe * step, length)
    pe_full[-1] = length
    nbl, nbp = le.size - 1, pe.size - 1

    # Block sums: along the line first in float32 / uint16 (no full-size casts), then
    # across lines in float64 on the small result.
    # Along the line by products with a (samples, blocks) indicator matrix (BLAS), a block of
    # lines at a time (the float32 copy of the mask stays small).
    ind = np.zeros((n_samp, nbp), dtype=np.float32)
    ind[np.arange(n_samp), np.repeat(np.arange(nbp), np.diff(pe))] = 1.0
    # transposed work arrays (each sample's lines contiguous in memory)
    fortran = not resid.flags.c_contiguous and resid.T.flags.c_contiguous
    mem_order = "F" if fortran else "C"
    part = np.empty((n_lines, nbp), dtype=np.float32, order=mem_order)
    part_n = np.empty((n_lines, nbp), dtype=np.float32, order=mem_order)  # exact: < 2**24
    if fortran:
        # the sums and counts of a block are sums of its memory rows (row after row: long
        # inner loops; the counts exact, as bytes)
        if not zeroed:
            resid *= clean  # in place: the caller's work array
        rt, ct = resid.T, clean.T.view(np.uint8)
        for j in range(nbp):
            np.add.reduce(rt[pe[j] : pe[j + 1]], axis=0, out=part.T[j])
            np.add.reduce(ct[pe[j] : pe[j + 1]], axis=0, dtype=np.uint16, out=part_n.T[j])
    # where every block is 8 samples (e.g. 64-pixel blocks sampled every 8th pixel), its
    # mask bytes are one 64-bit word: the count is the top byte of the word times
    # 0x0101010101010101 (exact; several times faster than the float product)
    words = (
        n_samp == 8 * nbp
        and bool(np.all(np.diff(pe) == 8))
        and clean.flags.c_contiguous
        and sys.byteorder == "little"
    )
    rows = max(1, _BLOCK // max(n_samp, 1))
    for i0 in () if fortran else range(0, n_lines, rows):  # (C order: blocks of lines)
        lb = slice(i0, i0 + rows)
        r, c = resid[lb], clean[lb]
        if not zeroed:
            r *= c  # in place: the caller's work array
        np.matmul(r, ind, out=part[lb])
        if words:
            w = c.view(np.uint64) * np.uint64(0x0101010101010101)
            np.right_shift(w, np.uint64(56), out=w)
            part_n[lb] = w
        else:
            np.matmul(c.astype(np.float32), ind, out=part_n[lb])
    sums = np.add.reduceat(part.astype(np.float64), le[:-1], axis=0)
    cnt = np.add.reduceat(part_n.astype(np.float64), le[:-1], axis=0)
    min_count = max(8.0, 0.05 * box * along_box / step)
    have = cnt >= min_count
    with np.errstate(invalid="ignore", divide="ignore"):
        b = np.where(have, sums / np.maximum(cnt, 1.0), 0.0)
    noise2 = sigma**2 / np.maximum(cnt, 1.0)
    xc = 0.5 * (pe_full[:-1] + pe_full[1:]) / length * 2.0 - 1.0  # block centres in [-1, 1]
    chan = np.searchsorted(np.asarray(bounds_sub, dtype=int), pe[:-1], side="right")
    nch = int(chan.max()) + 1

    order = int(max(along_order, 0))
    if np.bincount(chan).min() < 2 * _MIN_ALONG_BLOCKS - 2:
        order = min(order, 1)  # a few blocks per output: a curvature would fit a trace's bump
    # design: along-line Legendre terms of order >= 1, plus one constant per channel
    design = np.hstack(
        [legendre.legvander(xc, order)[:, 1:], (chan[:, None] == np.arange(nch)).astype(float)]
    )
    # rows whose measured blocks span too little of the line fit no curvature
    fixed = None
    if order:
        first = np.argmax(have, axis=1)  # (blocks in increasing xc; rows without any: 0)
        last = nbp - 1 - np.argmax(have[:, ::-1], axis=1)
        span = np.where(have.any(axis=1), 0.5 * (xc[last] - xc[first]), 0.0)
        narrow = span < _MIN_ALONG_SPAN
        if narrow.any():
            fixed = np.zeros((nbl, design.shape[1]), dtype=bool)
            fixed[narrow, 1:order] = True
    coef = np.zeros((nbl, order))
    flag = np.zeros((nbl, nbp), dtype=bool)
    model = np.zeros((nbl, nbp))  # levels are each channel-line's own clipped level: start at 0
    scale0 = float(np.sqrt(np.median(noise2[have]))) if have.any() else sigma
    excess2 = 0.0
    n_iter = max(iterations, 1)
    for it in range(n_iter):
        dev = b - model
        use = have & ~flag
        if it == 0:
            use &= np.abs(dev) < 5.0 * scale0 * max(extended_sigma, 1.0)
        if use.sum() > 4:
            # extra scatter of block means beyond white noise (residual 1/f, structure)
            mad = float(np.median(np.abs(dev[use]))) / _Q25_OFFSET
            excess2 = max(mad**2 - float(np.median(noise2[use])), 0.0)
        thresh = extended_sigma * np.sqrt(noise2 + excess2)
        flag = have & (np.abs(dev) > thresh)
        use = have & ~flag
        if it < n_iter - 1:
            sol = _batched_wls(design, b, np.where(use, cnt, 0.0), fixed=fixed)
        else:  # (the coefficients' relative variances of the final fit, below)
            sol, inv = _batched_wls(design, b, np.where(use, cnt, 0.0), inverse=True, fixed=fixed)
        coef = sol[:, :order]
        model = sol @ design.T

    # Along-line terms of order >= 1 only (zero mean along the full line). Their coefficients
    # vary smoothly across lines: smoothed across the block rows (:func:`_smooth_across_rows`;
    # weights ``cnt``, so that each coefficient's variance is proportional to ``inv``), so
    # that the noise of single block rows does not enter the line means.
    cl = np.zeros((n_lines, order))
    rows = use.any(axis=1)
    if order and rows.any():
        cl = _smooth_across_rows(coef, inv[:, :order], rows, le, box)
    return SmoothBackground(
        line_coef=cl,
        length=length,
        flag=flag,
        line_edges=le,
        pixel_edges=pe_full,
        deviation=np.where(have, b - model, 0.0),
        channel_level=sol[:, order:],
    )
