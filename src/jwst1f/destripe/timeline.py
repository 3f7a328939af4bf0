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
from scipy.ndimage import uniform_filter1d

from jwst1f.destripe.spectral import fit_power, wiener_lines

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
#: Candidate segment lengths, pixels.
_SEGMENTS = (4, 8, 16, 32, 64)


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


def _series(means, noise, slots):
    """Lines of segment values, each followed by its pause, as one time series."""
    n, nseg = means.shape
    series = np.zeros((n, slots))
    var = np.full((n, slots), np.inf)  # float64: the filter's working precision
    series[:, :nseg] = means
    var[:, :nseg] = noise
    return series.reshape(-1), var.reshape(-1)


def _filter_in_blocks(means, noise, slots):
    """Wiener filter of the time series, in overlapping blocks of lines (bounded memory).

    The spectrum is fitted once on the powers averaged over non-overlapping blocks (Welch);
    each block is then filtered on its own and only its central lines are kept (the
    neighbouring blocks' overlap, ``_OVERLAP`` of a block on each side, absorbs the edges).

    Returns
    -------
    est, post : numpy.ndarray, shape of ``means``
        Posterior mean and variance per segment.
    spec : LineSpectrum or None
    """
    n, nseg = means.shape
    per_block = max(2, _BLOCK_SAMPLES // slots)
    if per_block >= n:
        per_block = n
    # spectrum: Welch average over non-overlapping blocks of equal length
    power = None
    count = 0
    for a in range(0, n - per_block + 1, per_block):
        y, v = _series(means[a : a + per_block], noise[a : a + per_block], slots)
        ok = np.isfinite(v)
        if ok.sum() < y.size // 4:
            continue
        good = np.flatnonzero(ok)
        filled = np.interp(np.arange(y.size), good, y[good])
        p = dct(filled - filled.mean(), type=2, norm="ortho")[1:] ** 2
        power = p if power is None else power + p
        count += 1
    if power is None:
        return None, None, None
    finite = np.isfinite(noise)
    spec = fit_power(power / count, float(noise[finite].mean()), n_series=count)
    if spec is None:
        return None, None, None
    est = np.empty((n, nseg), dtype=np.float32)
    post = np.empty((n, nseg), dtype=np.float32)
    margin = 0 if per_block == n else max(1, int(per_block * _OVERLAP))
    core = per_block - 2 * margin
    start = 0
    while start < n:
        a = max(0, start - margin)
        b = min(n, start + core + margin)
        if b - a < per_block and n >= per_block:  # keep every block full-length
            a, b = (n - per_block, n) if b == n else (a, a + per_block)
        y, v = _series(means[a:b], noise[a:b], slots)
        e, pv, _ = wiener_lines(y[:, None], v[:, None], spectra=[spec])
        stop = min(n, start + core)
        sel = slice(start - a, stop - a)
        est[start:stop] = e[:, 0].reshape(b - a, slots)[sel, :nseg]
        post[start:stop] = pv[:, 0].reshape(b - a, slots)[sel, :nseg]
        start = stop
    return est, post, spec


def timeline_model(
    y: np.ndarray,
    clean: np.ndarray,
    base: np.ndarray,
    sigma: float,
    *,
    fast_sign: int = 1,
    slow_sign: int = 1,
    profile_lines: float = 32,
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
    # segment means and counts (float32: these arrays are 1/seg of the data's size)
    means = np.empty((n_lines, nseg), dtype=np.float32)
    counts = np.empty((n_lines, nseg), dtype=np.float32)
    block = max(1, (1 << 13) // max(length, 1))  # lines per block of temporaries
    for i in range(0, n_lines, block):
        ls = slice(i, i + block)
        c = clean[ls]
        means[ls] = np.add.reduceat(np.where(c, y[ls], np.float32(0.0)), starts, axis=1)
        counts[ls] = np.add.reduceat(c.view(np.uint8), starts, axis=1, dtype=np.int32)
    has = counts > 0
    np.divide(means, np.maximum(counts, 1.0), out=means)
    if profile_lines > 1 and nseg > 1:
        # What has the same shape along the line in many neighbouring lines (sky or faint
        # emission along the slit, trace wings) is not 1/f, whose wander within a line is
        # independent from line to line: the running mean over ``profile_lines`` lines of
        # each segment's deviation from its line's mean is taken out, as sky, before the fit.
        box = int(min(profile_lines, n_lines)) | 1  # odd: centred on each line
        lm = (means * counts).sum(axis=1) / np.maximum(counts.sum(axis=1), 1.0)
        dev = (means - lm[:, None].astype(np.float32)) * counts  # 0 where no pixel
        num = uniform_filter1d(dev, box, axis=0, mode="nearest")
        del dev
        den = uniform_filter1d(counts, box, axis=0, mode="nearest")
        np.maximum(den, np.float32(1e-6), out=den)
        np.divide(num, den, out=num)
        means -= num
        del num, den
    means += base[:, None].astype(np.float32)
    means[~has] = 0.0
    with np.errstate(divide="ignore"):
        noise = np.where(has, np.float32(sigma**2) / counts, np.float32(np.inf))
    del counts, has
    # readout-time order: lines as read, pixels as read, a pause after each line
    if slow_sign < 0:
        means, noise = means[::-1], noise[::-1]
    if fast_sign < 0:
        means, noise = means[:, ::-1], noise[:, ::-1]
    est, post, spec = _filter_in_blocks(means, noise, slots)
    if spec is None:
        return None
    if slow_sign < 0:
        est, post = est[::-1], post[::-1]
    if fast_sign < 0:
        est, post = est[:, ::-1], post[:, ::-1]
    # linear interpolation from segment centres to pixels, a block of lines at a time
    widths = np.minimum(seg, length - starts)
    centres = starts + 0.5 * (widths - 1)
    px = np.arange(length)
    if nseg == 1:
        j = np.zeros(length, dtype=int)
        w1 = np.zeros(length, dtype=np.float32)
        est = np.concatenate([est, est], axis=1)
    else:
        j = np.clip(np.searchsorted(centres, px) - 1, 0, nseg - 2)
        t = np.clip((px - centres[j]) / (centres[j + 1] - centres[j]), 0.0, 1.0)
        w1 = t.astype(np.float32)
    w0 = (1.0 - w1).astype(np.float32)
    for i in range(0, n_lines, block):
        ls = slice(i, i + block)
        blk = est[ls]
        y[ls] = blk[:, j] * w0 + blk[:, j + 1] * w1
    line_mean = (est[:, :nseg] @ widths.astype(np.float64)) / length
    variance = (post @ widths.astype(np.float64)) / length
    return TimelineModel(line_mean, variance, seg, spec)
