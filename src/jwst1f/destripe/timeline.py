"""The 1/f of one output along its pixel clock: a Wiener model of the readout time series.

An output of a SIDECAR ASIC reads its pixels one after the other, line after line, with a
fixed pause at the end of every line (``LINE_OVERHEAD`` pixel clocks for HxRG readouts). Its
1/f noise is one continuous pink-noise time series along that clock: the *stripes* (the mean
of each line) and the slow wander *within* each line are the same process, seen at different
frequencies. Where one output reads a whole line (one-output subarrays and strips, 4x the line
time of a 4-output read), the wander within a line is large and a constant per line leaves
much of the 1/f in the image.

This module models the whole time series at once. The clean residuals (data minus the smooth
background and the sky kept across lines) are averaged in segments of a few pixels, placed in
readout-time order (read directions of lines and pixels, and the pause after each line, taken
into account), and the stripe signal is estimated by the Wiener filter of
:mod:`jwst1f.destripe.spectral` with the spectrum (pink plus white) fitted on the series itself.
Masked pixels (sources, traces) are gaps, filled by the same model from what was read just
before and after them.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dct
from scipy.ndimage import maximum_filter1d, uniform_filter1d

from jwst1f.destripe.spectral import Workspace, fit_power, wiener_lines

__all__ = ["LINE_OVERHEAD", "TimelineModel", "timeline_model"]

#: Pixel clocks of pause after every line of an HxRG readout (frame time formula
#: ``(ncols / noutputs + 12) * (nrows + 1)`` clocks).
LINE_OVERHEAD = 12
#: Upper bound on the number of time samples of the series (sets the segment length).
_MAX_SAMPLES = 1 << 15
#: Time samples per block of lines filtered at once (bounds the working memory).
_BLOCK_SAMPLES = 2048
#: Overlap of neighbouring blocks on each side, fraction of a block.
_OVERLAP = 0.25
#: Conjugate-gradient iterations at most of each block's Wiener filter. Long gaps (the
#: masked lines of a trace along the lines) converge slowly, and neither 30 nor 100
#: iterations reach the converged fill there (grism strip: within 1.8 / 1.4 of its
#: posterior sigma); on the measured segments 30 are within 0.06 sigma. Simulator, eight
#: seeds: the strip 1.6902 -> 1.6915x oracle, the other one-output windows unchanged to four
#: digits; the strip takes 0.091 -> 0.063 s.
_WIENER_ITERATIONS = 30
#: Pixels per block of lines of the segment averages and of the interpolation to pixels.
_LINE_BLOCK_ELEMENTS = 8192
#: Elements per block of the temporaries on segment averages.
_WORK_ELEMENTS = 2048
#: Candidate segment lengths, pixels.
_SEGMENTS = (4, 8, 16, 32, 64)
#: Lines of the shorter running mean of the shape along the line taken out near masked
#: pixels (the faint halos of compact sources, which a running mean over ``profile_lines``
#: lines only dilutes); ``_HALO_SEGMENTS``: segments on each side of one with masked pixels
#: that are near it; ``_HALO_LINE_FRACTION``: only on lines whose masked fraction (averaged
#: over ``_HALO_LINES`` lines) is below it (not on the lines of a trace along the lines,
#: whose few clean segments the shorter mean would take as sky).
_HALO_LINES = 9
_HALO_SEGMENTS = 2
_HALO_LINE_FRACTION = 0.25


class TimelineModel:
    """Result of :func:`timeline_model`.

    Attributes
    ----------
    line_mean : numpy.ndarray, shape (n_lines,)
        Mean of the model over each line, units of the data.
    variance : numpy.ndarray, shape (n_lines,)
        Mean variance of the model over each line (its Wiener posterior), units squared.
    segment : int
        Segment length used, pixels.
    spectrum : LineSpectrum
        The fitted spectrum (per time sample of ``segment`` pixel clocks).
    """

    __slots__ = ("line_mean", "variance", "segment", "spectrum")

    def __init__(self, line_mean, variance, segment, spectrum):
        self.line_mean = line_mean
        self.variance = variance
        self.segment = segment
        self.spectrum = spectrum


def _segment_length(n_lines: int, length: int) -> int:
    for seg in _SEGMENTS:
        slots = -(-(length + LINE_OVERHEAD) // seg)
        if n_lines * slots <= _MAX_SAMPLES or seg >= length:
            return min(seg, length)
    return min(_SEGMENTS[-1], length)


def _noise(counts: np.ndarray, s2: np.float32) -> np.ndarray:
    """White-noise variance of segment means from their pixel counts (``inf`` where none).

    Parameters
    ----------
    counts : numpy.ndarray of uint8, shape (n_lines, n_segments)
    s2 : numpy.float32
        Per-pixel variance, units of the data squared.

    Returns
    -------
    numpy.ndarray of float32, shape of ``counts``
    """
    c = counts.astype(np.float32)
    with np.errstate(divide="ignore"):
        return np.where(c > 0, s2 / c, np.float32(np.inf))


def _series(means, counts, s2, slots, work):
    """Lines of segment values, each followed by its pause, as one time series."""
    n, nseg = means.shape
    series = work.empty((n, slots))
    series[...] = 0.0
    var = work.empty((n, slots))  # float64: the filter's working precision
    var[...] = np.inf
    series[:, :nseg] = means
    var[:, :nseg] = _noise(counts, s2)
    return series.reshape(-1), var.reshape(-1)


def _filter_in_blocks(means, counts, s2, slots, emit, work):
    """Wiener filter of the time series, in overlapping blocks of lines (bounded memory).

    The spectrum is fitted once on the powers averaged over non-overlapping blocks (Welch);
    each block is then filtered on its own and only its central lines are kept (the
    neighbouring blocks' overlap, ``_OVERLAP`` of a block on each side, absorbs the edges).
    The kept lines are handed to ``emit`` block by block (no array of the whole series'
    estimates is kept: on small windows it is not small next to the data).

    Parameters
    ----------
    means : numpy.ndarray of float32, shape (n_lines, n_segments)
        Segment means in readout order (lines as read, segments as read), 0 where empty.
    counts : numpy.ndarray of uint8, same shape
        Clean pixels behind each mean.
    s2 : numpy.float32
        Per-pixel white-noise variance.
    slots : int
        Time samples per line (segments plus the pause).
    emit : callable
        ``emit(start, stop, est, post)``: posterior mean and variance (float32, shape
        (stop - start, n_segments)) of the lines ``start:stop`` of ``means``.
    work : Workspace
        Scratch memory of the blocks' series and filter.

    Returns
    -------
    LineSpectrum or None
        The fitted spectrum; None (``emit`` never called) if no 1/f is detected.
    """
    n, nseg = means.shape
    per_block = max(2, _BLOCK_SAMPLES // slots)
    if per_block >= n:
        per_block = n
    # spectrum: Welch average over non-overlapping blocks of equal length
    power = None
    count = 0
    mark = work.mark()
    for a in range(0, n - per_block + 1, per_block):
        work.release(mark)  # the previous block's series
        y, v = _series(means[a : a + per_block], counts[a : a + per_block], s2, slots, work)
        ok = np.isfinite(v)
        if ok.sum() < y.size // 4:
            continue
        good = np.flatnonzero(ok)
        filled = np.interp(np.arange(y.size), good, y[good])
        del good
        filled -= filled.mean()
        p = dct(filled, type=2, norm="ortho", overwrite_x=True)[1:] ** 2
        del filled
        if power is None:
            power = p
        else:
            power += p
        del p
        count += 1
    if power is None:
        return None
    del y, v, ok
    work.release(mark)
    # the mean white variance of the measured segments (float32, in readout order)
    nz = counts[counts > 0]
    noise = work.empty(nz.shape, dtype=np.float32)
    noise_mean = float(np.divide(s2, nz, out=noise, dtype=np.float32).mean())
    del nz, noise
    work.release(mark)
    spec = fit_power(power / count, noise_mean, n_series=count)
    if spec is None:
        return None
    margin = 0 if per_block == n else max(1, int(per_block * _OVERLAP))
    core = per_block - 2 * margin
    start = 0
    while start < n:
        a = max(0, start - margin)
        b = min(n, start + core + margin)
        if b - a < per_block and n >= per_block:  # keep every block full-length
            a, b = (n - per_block, n) if b == n else (a, a + per_block)
        mark = work.mark()
        y, v = _series(means[a:b], counts[a:b], s2, slots, work)
        e, pv, _ = wiener_lines(
            y[:, None], v[:, None], spectra=[spec], work=work, max_iter=_WIENER_ITERATIONS
        )
        del y, v
        stop = min(n, start + core)
        sel = slice(start - a, stop - a)
        est = e[:, 0].reshape(b - a, slots)[sel, :nseg].astype(np.float32)
        post = pv[:, 0].reshape(b - a, slots)[sel, :nseg].astype(np.float32)
        del e, pv
        work.release(mark)
        emit(start, stop, est, post)
        start = stop
    return spec


def _running_mean(dev: np.ndarray, weight: np.ndarray, lines: int) -> np.ndarray:
    """Weighted running mean over ``lines`` lines (axis 0) of ``dev``, already multiplied
    by its weights ``weight`` (same shape, e.g. float32 (n_lines, n_segments) here, or the
    line model's float64 series; edges repeated; 0 where no weight is in reach)."""
    num = uniform_filter1d(dev, lines, axis=0, mode="nearest")
    den = uniform_filter1d(weight, lines, axis=0, mode="nearest")
    np.maximum(den, np.float32(1e-6), out=den)
    return np.divide(num, den, out=num)


def _halo_lines(
    counts: np.ndarray, starts: np.ndarray, length: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Segments with masked pixels and the lines where halos are looked for, for
    :func:`_near_halo`.

    Parameters
    ----------
    counts : numpy.ndarray of uint8, shape (n_lines, n_segments)
        Clean pixels of each segment.
    starts : numpy.ndarray of int, shape (n_segments,)
        First pixel of each segment.
    length : int
        Pixels per line.

    Returns
    -------
    tuple of numpy.ndarray, or None
        ``(part, low)``: bool of shape (n_lines, n_segments), True on segments with masked
        pixels; bool of shape (n_lines,), True on lines whose masked fraction (averaged
        over ``_HALO_LINES`` lines) is below ``_HALO_LINE_FRACTION``. None if no segment
        or no line qualifies.
    """
    n_lines = counts.shape[0]
    widths = np.diff(np.append(starts, length)).astype(np.uint8)
    masked = 1.0 - counts.sum(axis=1, dtype=np.float64) / max(length, 1)
    masked = uniform_filter1d(masked, min(_HALO_LINES, n_lines) | 1, mode="nearest")
    low = masked < _HALO_LINE_FRACTION
    if not low.any():
        return None
    part = counts < widths[None, :]
    return (part, low) if part.any() else None


def _near_halo(halo: tuple[np.ndarray, np.ndarray], s0: int, s1: int, lines: int) -> np.ndarray:
    """Segments ``s0:s1`` within ``lines // 2`` lines and ``_HALO_SEGMENTS`` segments of a
    segment with masked pixels, on the lines of :func:`_halo_lines`, bool of shape
    (n_lines, s1 - s0)."""
    halo, low = halo
    a, b = max(0, s0 - _HALO_SEGMENTS), min(halo.shape[1], s1 + _HALO_SEGMENTS)
    near = maximum_filter1d(halo[:, a:b].view(np.uint8), lines, axis=0, mode="constant")
    near = maximum_filter1d(near, 2 * _HALO_SEGMENTS + 1, axis=1, mode="constant")
    return near[:, s0 - a : s1 - a].view(bool) & low[:, None]


def timeline_model(
    y: np.ndarray,
    clean: np.ndarray,
    base: np.ndarray,
    sigma: float,
    *,
    fast_sign: int = 1,
    slow_sign: int = 1,
    profile_lines: float = 32,
    work: np.ndarray | None = None,
) -> TimelineModel | None:
    """Wiener model of the 1/f of one output along its readout time, written into ``y``.

    Parameters
    ----------
    y : numpy.ndarray of float32, shape (n_lines, length)
        Residuals of the clean pixels from ``base`` (any value elsewhere), units of the data
        (DN/s); lines along the last axis, all pixels of the line read by the same output.
        **Overwritten** with the model (``base`` included) if one is returned.
    clean : numpy.ndarray of bool, shape (n_lines, length)
        Pixels that measure the 1/f (no source, no flag).
    base : numpy.ndarray, shape (n_lines,)
        Per-line level that ``y`` is relative to (data - background - sky = y + base).
    sigma : float
        White noise per pixel, units of the data.
    fast_sign : int
        +1 if the output reads pixels towards increasing index along the line, -1 otherwise.
    slow_sign : int
        +1 if lines were read in increasing index order, -1 otherwise.
    profile_lines : float
        Lines over which a shape along the line that repeats from line to line is averaged
        and kept as sky (not modelled as 1/f), lines. 1 disables.
    work : numpy.ndarray, optional
        Any C- or Fortran-contiguous array (e.g. float32 of the shape of ``y``) whose
        contents may be overwritten (not overlapping ``y``, ``clean`` or ``base``): the
        segment averages and the filter's work arrays are kept in it where they fit (peak
        memory on small windows), else allocated. The model does not depend on it.

    Returns
    -------
    TimelineModel or None
        None (``y`` untouched) if the series is too short or shows no 1/f above the noise.
    """
    n_lines, length = y.shape
    if n_lines < 2 or length < 2 or not np.isfinite(sigma) or sigma <= 0:
        return None
    seg = _segment_length(n_lines, length)
    starts = np.arange(0, length, seg)
    nseg = starts.size
    slots = max(nseg, int(round((length + LINE_OVERHEAD) / seg)))
    # segment means (float32) and clean-pixel counts (uint8: a segment is at most 64 pixels):
    # these arrays are a fraction 1/seg of the data's size, not small on small windows
    ws = Workspace(work)
    means = ws.empty((n_lines, nseg), dtype=np.float32)
    counts = ws.empty((n_lines, nseg), dtype=np.uint8)
    block = max(1, _LINE_BLOCK_ELEMENTS // max(length, 1))  # lines per block of temporaries
    for i in range(0, n_lines, block):
        ls = slice(i, i + block)
        c = clean[ls]
        sums = np.add.reduceat(np.where(c, y[ls], np.float32(0.0)), starts, axis=1)
        cnt = np.add.reduceat(c.view(np.uint8), starts, axis=1, dtype=np.int32)
        counts[ls] = cnt
        np.divide(sums, np.maximum(cnt.astype(np.float32), np.float32(1.0)), out=means[ls])
    del sums, cnt, c
    if profile_lines > 1 and nseg > 1:
        # What has the same shape along the line in many neighbouring lines (sky or faint
        # emission along the slit, trace wings) is not 1/f, whose wander within a line is
        # independent from line to line: the running mean over ``profile_lines`` lines of
        # each segment's deviation from its line's mean is taken out, as sky, before the fit.
        box = int(min(profile_lines, n_lines)) | 1  # odd: centred on each line
        lm = np.empty(n_lines, dtype=np.float32)
        rows = max(1, _WORK_ELEMENTS // nseg)
        for i in range(0, n_lines, rows):  # row blocks: the same row sums
            ls = slice(i, i + rows)
            cf = counts[ls].astype(np.float32)
            lm[ls] = (means[ls] * cf).sum(axis=1) / np.maximum(cf.sum(axis=1), 1.0)
        # Near masked pixels, the faint light of compact sources' halos (stars) lies in the
        # clean pixels around them over a few lines only, which the running mean over
        # ``box`` lines dilutes: there the mean over ``_HALO_LINES`` lines is taken out
        # instead (independent SUB640 star fields, eight seeds: aperture bias -0.24 ->
        # -0.07 %), except on lines mostly masked (traces along the lines).
        halo = _halo_lines(counts, starts, length)
        short = min(_HALO_LINES, n_lines) | 1
        # the running mean runs across lines: blocks of segments (columns)
        cols = max(1, _WORK_ELEMENTS // n_lines)
        for i in range(0, nseg, cols):
            cs = slice(i, i + cols)
            cf = counts[:, cs].astype(np.float32)
            dev = (means[:, cs] - lm[:, None]) * cf  # 0 where no pixel
            num = _running_mean(dev, cf, box)
            if halo is not None:
                near = _near_halo(halo, i, min(i + cols, nseg), short)
                if near.any():
                    np.copyto(num, _running_mean(dev, cf, short), where=near)
                del near
            del dev
            means[:, cs] -= num
        del num, cf, lm, halo
    rows = max(1, _WORK_ELEMENTS // nseg)
    base32 = base.astype(np.float32)
    for i in range(0, n_lines, rows):
        ls = slice(i, i + rows)
        mb = means[ls]
        mb += base32[ls, None]
        mb[counts[ls] == 0] = 0.0
    s2 = np.float32(sigma**2)
    # readout-time order: lines as read, pixels as read, a pause after each line
    means_t, counts_t = means, counts
    if slow_sign < 0:
        means_t, counts_t = means_t[::-1], counts_t[::-1]
    if fast_sign < 0:
        means_t, counts_t = means_t[:, ::-1], counts_t[:, ::-1]
    # linear interpolation from segment centres to pixels
    widths = np.minimum(seg, length - starts)
    centres = starts + 0.5 * (widths - 1)
    px = np.arange(length)
    if nseg == 1:
        j = np.zeros(length, dtype=int)
        w1 = np.zeros(length, dtype=np.float32)
    else:
        j = np.clip(np.searchsorted(centres, px) - 1, 0, nseg - 2)
        t = np.clip((px - centres[j]) / (centres[j + 1] - centres[j]), 0.0, 1.0)
        w1 = t.astype(np.float32)
    w0 = (1.0 - w1).astype(np.float32)
    widths64 = widths.astype(np.float64)
    line_mean = np.empty(n_lines)
    variance = np.empty(n_lines)
    j1 = j + 1
    sub = max(1, _LINE_BLOCK_ELEMENTS // length)  # lines per block of the interpolation

    def emit(i0, i1, est, post):
        """Write the model of lines ``i0:i1`` (readout order) into ``y``."""
        if fast_sign < 0:
            est, post = est[:, ::-1], post[:, ::-1]
        if slow_sign < 0:
            i0, i1 = n_lines - i1, n_lines - i0
            est, post = est[::-1], post[::-1]
        line_mean[i0:i1] = (est @ widths64) / length
        variance[i0:i1] = (post @ widths64) / length
        if nseg == 1:
            est = np.concatenate([est, est], axis=1)
        est = np.ascontiguousarray(est)
        for k in range(0, i1 - i0, sub):
            blk = est[k : k + sub]
            out = y[i0 + k : i0 + k + blk.shape[0]]
            np.multiply(blk[:, j], w0, out=out)
            second = blk[:, j1]
            second *= w1
            out += second

    spec = _filter_in_blocks(means_t, counts_t, s2, slots, emit, ws)
    if spec is None:
        return None
    return TimelineModel(line_mean, variance, seg, spec)
