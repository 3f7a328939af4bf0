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
from scipy.ndimage import uniform_filter1d

from jwst1f.destripe.spectral import wiener_lines

__all__ = ["LINE_OVERHEAD", "TimelineModel", "timeline_model"]

#: Pixel clocks of pause after every line of an HxRG readout (frame time formula
#: ``(ncols / noutputs + 12) * (nrows + 1)`` clocks).
LINE_OVERHEAD = 12
#: Upper bound on the number of time samples of the series (sets the segment length).
_MAX_SAMPLES = 1 << 15
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
    # segment sums, a block of lines at a time (reduceat casts its input to float64)
    sums = np.empty((n_lines, nseg))
    counts = np.empty((n_lines, nseg))
    block = max(1, (1 << 16) // max(length, 1))
    for i in range(0, n_lines, block):
        ls = slice(i, i + block)
        c = clean[ls]
        sums[ls] = np.add.reduceat(np.where(c, y[ls], np.float32(0.0)), starts, axis=1)
        counts[ls] = np.add.reduceat(c.view(np.uint8), starts, axis=1, dtype=np.int32)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
        noise = np.where(counts > 0, sigma**2 / np.maximum(counts, 1), np.inf)
    if profile_lines > 1 and nseg > 1:
        # What has the same shape along the line in many neighbouring lines (sky or faint
        # emission along the slit, trace wings) is not 1/f, whose wander within a line is
        # independent from line to line: the running mean over ``profile_lines`` lines of
        # each segment's deviation from its line's mean is taken out, as sky, before the fit.
        box = int(min(profile_lines, n_lines)) | 1  # odd: centred on each line
        w = counts.astype(float)
        lm = (means * w).sum(axis=1) / np.maximum(w.sum(axis=1), 1.0)
        dev = np.where(counts > 0, means - lm[:, None], 0.0)
        num = uniform_filter1d(dev * w, box, axis=0, mode="nearest")
        den = uniform_filter1d(w, box, axis=0, mode="nearest")
        with np.errstate(invalid="ignore", divide="ignore"):
            profile = np.where(den > 0, num / np.maximum(den, 1e-12), 0.0)
        means = means - profile
    means = means + base[:, None]
    # readout-time order: lines as read, pixels as read, a pause after each line
    order_l = slice(None) if slow_sign >= 0 else slice(None, None, -1)
    order_p = slice(None) if fast_sign >= 0 else slice(None, None, -1)
    series = np.zeros((n_lines, slots))
    var = np.full((n_lines, slots), np.inf)
    series[:, :nseg] = means[order_l][:, order_p]
    var[:, :nseg] = noise[order_l][:, order_p]
    est, post, (spec,) = wiener_lines(series.reshape(-1, 1), var.reshape(-1, 1))
    if spec is None:
        return None
    est = est.reshape(n_lines, slots)[:, :nseg][order_l][:, order_p]
    post = post.reshape(n_lines, slots)[:, :nseg][order_l][:, order_p]
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
    e32 = est.astype(np.float32)
    for i in range(0, n_lines, block):
        ls = slice(i, i + block)
        blk = e32[ls]
        y[ls] = blk[:, j] * w0 + blk[:, j + 1] * w1
    line_mean = (est[:, :nseg] * widths).sum(axis=1) / length
    variance = (post * widths).sum(axis=1) / length
    return TimelineModel(line_mean, variance, seg, spec)
