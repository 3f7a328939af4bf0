"""Smooth background along the lines, and detection of extended emission.

Works in canonical orientation (lines along the last axis). The frame is cut into blocks of
``background_box`` lines x ``background_box`` pixels (blocks never straddle a contiguous
channel boundary). For each block the mean of clean pixels relative to the *shared* level of
its lines (the median over channels of the channel-line levels) is measured. Per block row a
low-order polynomial along the line is fitted robustly (symmetric iterative clipping around
the fit, started from a low-quantile baseline so that rows more than half illuminated still
find their sky); blocks off that fit by more than ``extended_sigma`` are extended emission and
are masked. The fitted along-line shape, without its line mean (Legendre terms of order >= 1),
is the background that is subtracted before measuring line means, so a sky gradient along
the line does not turn into stripes when the mask changes from line to line, nor into
channel offsets.

Structure that is constant along a line is degenerate with the stripes: it is *not* in this
background. Its low-order trend along the slow axis is kept as sky by the core (see
``background_slow_order``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial import legendre

__all__ = ["SmoothBackground", "fit_background", "block_edges"]

_Q25_OFFSET = 0.6744897501960817


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
    """

    line_coef: np.ndarray
    length: int
    flag: np.ndarray
    line_edges: np.ndarray
    pixel_edges: np.ndarray

    @property
    def n_extended_blocks(self) -> int:
        """Number of blocks flagged as extended emission."""
        return int(self.flag.sum())

    def _vander(self, sl: slice) -> np.ndarray:
        order = self.line_coef.shape[1]
        xp = (np.arange(self.length)[sl] + 0.5) / self.length * 2.0 - 1.0
        return legendre.legvander(xp, order)[:, 1:].astype(np.float32)

    def image(self, sl: slice = slice(None)) -> np.ndarray | None:
        """The background on the pixels ``sl`` of every line, or None if it is zero.

        Returns
        -------
        numpy.ndarray of float32, shape (n_lines, n_selected) or None
        """
        if self.line_coef.shape[1] == 0:
            return None
        return self.line_coef.astype(np.float32) @ self._vander(sl).T

    def channel_means(self, chans: list[slice]) -> np.ndarray:
        """Mean of the background over each channel's pixels, per line.

        Returns
        -------
        numpy.ndarray, shape (n_lines, n_channels)
        """
        n_lines = self.line_coef.shape[0]
        if self.line_coef.shape[1] == 0:
            return np.zeros((n_lines, len(chans)))
        cols = [self._vander(sl).astype(np.float64).mean(axis=0) for sl in chans]
        return self.line_coef @ np.stack(cols, axis=1)

    def extended(self) -> np.ndarray | None:
        """Full-resolution mask of extended emission, or None if nothing was flagged.

        Returns
        -------
        numpy.ndarray of bool, shape (n_lines, length) or None
        """
        if not self.flag.any():
            return None
        li = np.repeat(np.arange(self.flag.shape[0]), np.diff(self.line_edges))
        pj = np.repeat(np.arange(self.flag.shape[1]), np.diff(self.pixel_edges))
        return self.flag[li][:, pj]


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
        Increasing edges from 0 to ``length``.
    """
    cuts = sorted({0, length, *[int(b) for b in bounds if 0 < b < length]})
    edges = [0]
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        nb = max(1, int(round((hi - lo) / box)))
        e = np.linspace(lo, hi, nb + 1).round().astype(int)
        edges.extend(int(v) for v in e[1:])
    return np.unique(np.asarray(edges))


def fit_background(
    a: np.ndarray,
    clean: np.ndarray,
    shared_level: np.ndarray,
    sigma: float,
    *,
    box: int,
    along_order: int,
    extended_sigma: float,
    channel_bounds: tuple[int, ...] = (),
    iterations: int = 3,
    step: int = 1,
    length: int | None = None,
) -> SmoothBackground:
    """Fit the along-line background and flag extended emission.

    Parameters
    ----------
    a : numpy.ndarray, shape (n_lines, n_samples)
        Finite data, DN/s, sampled every ``step`` pixels along the lines.
    clean : numpy.ndarray of bool, same shape
        Pixels usable as background (bad pixels and compact sources already excluded).
    shared_level : numpy.ndarray, shape (n_lines,)
        Level of each line common to all channels, DN/s.
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

    Returns
    -------
    SmoothBackground
    """
    n_lines, n_samp = a.shape
    length = int(length if length is not None else n_samp * step)
    le = block_edges(n_lines, box)
    bounds_sub = tuple(int(b) // step for b in channel_bounds)
    pe = block_edges(n_samp, max(box // step, 2), bounds_sub)
    pe_full = np.minimum(pe * step, length)
    pe_full[-1] = length
    nbl, nbp = le.size - 1, pe.size - 1

    r = a - shared_level[:, None].astype(np.float32)
    r *= clean
    sums = np.add.reduceat(np.add.reduceat(r, pe[:-1], axis=1, dtype=np.float64), le[:-1], axis=0)
    del r
    cnt = np.add.reduceat(
        np.add.reduceat(clean, pe[:-1], axis=1, dtype=np.int64), le[:-1], axis=0
    ).astype(np.float64)
    min_count = max(8.0, 0.05 * box * box / step)
    have = cnt >= min_count
    with np.errstate(invalid="ignore", divide="ignore"):
        b = np.where(have, sums / np.maximum(cnt, 1.0), 0.0)
    noise2 = sigma**2 / np.maximum(cnt, 1.0)
    xc = 0.5 * (pe_full[:-1] + pe_full[1:]) / length * 2.0 - 1.0  # block centres in [-1, 1]
    b = _remove_channel_steps(b, have, xc, pe, bounds_sub, along_order)

    order = int(min(max(along_order, 0), max(nbp - 2, 0)))
    coef = np.zeros((nbl, order + 1))
    flag = np.zeros((nbl, nbp), dtype=bool)

    # Start: a low-quantile baseline per block row (robust to > 50 % illuminated rows).
    base = np.zeros(nbl)
    excess2 = 0.0
    scale0 = np.sqrt(np.median(noise2[have])) if have.any() else sigma
    for i in range(nbl):
        v = np.sort(b[i, have[i]])
        if v.size:
            q50 = v[(v.size - 1) // 2]
            q25 = v[(v.size - 1) // 4]
            base[i] = min(q50, q25 + _Q25_OFFSET * scale0 * 3.0)
    model = np.repeat(base[:, None], nbp, axis=1)
    for _ in range(max(iterations, 1)):
        dev = b - model
        use = have & ~flag
        if use.sum() > 4:
            # extra scatter of block means beyond white noise (residual 1/f, structure)
            mad = np.median(np.abs(dev[use])) / _Q25_OFFSET
            excess2 = max(mad**2 - float(np.median(noise2[use])), 0.0)
        thresh = extended_sigma * np.sqrt(noise2 + excess2)
        flag = have & (np.abs(dev) > thresh)
        use = have & ~flag
        for i in range(nbl):
            ui = use[i]
            if ui.sum() > order + 1:
                coef[i] = legendre.legfit(xc[ui], b[i, ui], order, w=np.sqrt(cnt[i, ui]))
            elif ui.any():
                coef[i] = 0.0
                coef[i, 0] = np.average(b[i, ui], weights=cnt[i, ui])
            else:
                coef[i] = 0.0
                coef[i, 0] = base[i]
        model = legendre.legvander(xc, order) @ coef.T
        model = model.T

    # Along-line terms of order >= 1 only (zero mean along the full line), coefficients
    # interpolated linearly between block-row centres.
    lc = 0.5 * (le[:-1] + le[1:])
    lines = np.arange(n_lines)
    cl = np.empty((n_lines, order))
    for q in range(1, order + 1):
        cl[:, q - 1] = np.interp(lines, lc, coef[:, q])
    return SmoothBackground(
        line_coef=cl, length=length, flag=flag, line_edges=le, pixel_edges=pe_full
    )


def _remove_channel_steps(b, have, xc, pe, channel_bounds, along_order):
    """Remove per-channel constant offsets from the block grid.

    The median over block rows of each block column is modelled as a smooth polynomial along
    the line plus one constant per channel (summing to zero); the constants (amplifier
    offsets, the slowest per-channel 1/f) are removed from ``b`` so that they are neither
    taken for sky structure nor for extended emission.
    """
    if not channel_bounds:
        return b
    chan = np.searchsorted(np.asarray(channel_bounds), pe[:-1], side="right")
    nch = int(chan.max()) + 1
    if nch < 2:
        return b
    col = np.full(b.shape[1], np.nan)
    for j in range(b.shape[1]):
        if have[:, j].any():
            col[j] = np.median(b[have[:, j], j])
    ok = np.isfinite(col)
    order = int(max(along_order, 0))
    steps = np.zeros((b.shape[1], nch - 1))
    for k in range(1, nch):
        steps[:, k - 1] = (chan == k).astype(float) - (chan == 0)  # sum-to-zero contrasts
    design = np.hstack([legendre.legvander(xc, order), steps])
    if ok.sum() <= design.shape[1]:
        return b
    sol, *_ = np.linalg.lstsq(design[ok], col[ok], rcond=None)
    d = np.zeros(nch)
    d[1:] = sol[order + 1 :]
    d[0] = -d[1:].sum()
    # offsets of each channel relative to the mean over channels
    d -= d.mean()
    return b - d[chan][None, :]
