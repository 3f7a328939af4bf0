"""The 1/f wander within lines that the outputs share, for windows read by several outputs.

The outputs of a SIDECAR ASIC read their pixels in step, one pixel clock after the other, and
much of their 1/f is common to them: not only the stripes (the mean of each line, which the
line model takes) but also the wander *within* each line, at a given readout time the same
in every output. In short frames (the grism time-series windows: 0.34 s frames of 64 lines,
rates of 2.3 DN/s white noise) that wander is large (0.5 DN/s rms over 32 pixel clocks in
the simulator, 90 % correlated between outputs), and a constant per channel-line leaves it:
a source or trace masked over part of a line sits on the wander of its own readout times,
not on the line's mean.

Each output's wander is measured on the *other* outputs, at the same readout times: the
deviations of their clean residuals from their channel-line means, summed in segments of
``segment`` pixel clocks. An output's own pixels are left out because the faint light next
to its sources (below the per-pixel clip) would otherwise raise the wander at the sources'
own readout times and take their flux. What has the same shape along the readout time over
many neighbouring lines (light at fixed places along the lines: traces, slit images, a sky
along the line) is not 1/f, whose wander is independent from line to line: the running mean
over ``profile_lines`` lines of each segment is taken out, as
:mod:`jwst1f.destripe.timeline` does. Each segment's estimate is shrunk by its Wiener gain
(the wander's own variance per segment against the estimate's white noise), so that segments
the other outputs hardly see add little noise. Each output's model is its wander less its
mean over the channel-line's clean pixels, so that the line model's offsets (measured on
those pixels) stay what they are.

The wander is used only where it is significant: the chi-square of the segment means of all
outputs together above its expectation from white noise by ``min_sigma`` standard
deviations. Measurements: ``docs/algorithm.md`` (step 11, ``lowpass``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CommonWander", "SEGMENT", "common_wander", "segment_sums", "wander_segment"]

#: Pixel clocks per segment. (16 / 64, before the Wiener gain: simulator SUBGRISM64 1.428 /
#: 1.435 x oracle against 1.421 at 32, star-field bias -0.36 / -0.38 %; segments of 8 or 16
#: averaged by three: 1.475.)
SEGMENT = 32


@dataclass(frozen=True)
class CommonWander:
    """Result of :func:`common_wander`.

    Attributes
    ----------
    model : numpy.ndarray of float32, shape (n_channels, n_segments, n_lines)
        Per output, segment of pixels along the line (in index order, not readout order)
        and line, the model: the wander of the other outputs at its readout time less
        its mean over the channel-line's clean pixels, units of the data.
    variance : numpy.ndarray of float32, same shape
        Its white-noise variance, units squared.
    segment : int
        Pixels (pixel clocks) per segment.
    rms : float
        Rms of the wander over all outputs and segments with pixels, units of the data.
    """

    model: np.ndarray
    variance: np.ndarray
    segment: int
    rms: float


def _segment_sums(x: np.ndarray, sl: slice, segment: int, out: np.ndarray) -> None:
    """Sums of a channel's pixels per segment (index order) and line into ``out``, float32,
    shape (n_segments, n_lines), read in the memory order of ``x``."""
    width = sl.stop - sl.start
    nseg = width // segment
    if x.T.flags.c_contiguous:  # (a transposed view: each pixel's lines contiguous)
        np.add.reduce(x.T[sl].reshape(nseg, segment, x.shape[0]), axis=1, out=out)
    else:  # (float32 sums, or uint8 counts of at most 255 pixels)
        out[...] = np.einsum("ijk->ij", x[:, sl].reshape(x.shape[0], nseg, segment)).T


def wander_segment(chans: list[slice], segment: int = SEGMENT) -> int | None:
    """The segment length of :func:`common_wander` for these channels, or None where it
    does not apply (fewer than two outputs, outputs of different widths or not in whole
    segments)."""
    widths = {sl.stop - sl.start for sl in chans}
    if len(chans) < 2 or len(widths) != 1:
        return None
    width = widths.pop()
    if width % segment or width < 2 * segment:
        return None
    return segment


def segment_sums(
    r: np.ndarray,
    clean: np.ndarray,
    chans: list[slice],
    segment: int,
    sums: np.ndarray,
    cnts: np.ndarray,
) -> None:
    """Per output, segment (index order) and line: the sums of ``r`` and the clean counts.

    Parameters
    ----------
    r : numpy.ndarray of float32, shape (n_lines, length)
        Residuals, zero where not clean (canonical orientation; any block of whole lines).
    clean : numpy.ndarray of bool, same shape
    chans : list of slice
    segment : int
        From :func:`wander_segment`.
    sums, cnts : numpy.ndarray of float32, shape (n_channels, n_segments, n_lines)
        Written.
    """
    c0, c1 = chans[0].start, chans[-1].stop
    adjacent = all(a.stop == b.start for a, b in zip(chans[:-1], chans[1:], strict=True))
    if adjacent and not r.T.flags.c_contiguous:  # (every output in one product: fewer calls)
        nch, nseg = sums.shape[:2]
        for x, out in ((r, sums), (clean.view(np.uint8), cnts)):
            blk = np.einsum("ijk->ij", x[:, c0:c1].reshape(x.shape[0], nch * nseg, segment))
            out[...] = blk.T.reshape(nch, nseg, x.shape[0])
        return
    for k, sl in enumerate(chans):
        _segment_sums(r, sl, segment, sums[k])
        _segment_sums(clean.view(np.uint8), sl, segment, cnts[k])


def _box_lines(a: np.ndarray, half: int) -> np.ndarray:
    """Sum over the ``2 * half + 1`` lines centred on each (along the last axis of ``a``,
    lines), truncated at the window's ends (a new array)."""
    n = a.shape[-1]
    c = np.cumsum(a, axis=-1)
    out = np.empty_like(c)
    h = min(half, n - 1)
    # the window's end: line i + half, or the last line
    out[..., : n - h] = c[..., h:]
    out[..., n - h :] = c[..., -1:]
    # less everything before its start, line i - half
    if n > half + 1:
        out[..., half + 1 :] -= c[..., : n - half - 1]
    return out


def common_wander(
    r: np.ndarray,
    clean: np.ndarray,
    means: np.ndarray,
    chans: list[slice],
    fast_sign,
    sigma: float,
    *,
    segment: int = SEGMENT,
    profile_lines: float = 32,
    min_sigma: float = 5.0,
    sums: tuple[np.ndarray, np.ndarray] | None = None,
) -> CommonWander | None:
    """Each output's within-line 1/f wander, measured on the other outputs.

    Parameters
    ----------
    r : numpy.ndarray of float32, shape (n_lines, length)
        Residuals (data less background and levels) in canonical orientation (lines along
        the last axis), units of the data, **zero** where not ``clean``.
    clean : numpy.ndarray of bool, same shape
        Pixels that measure the 1/f.
    means : numpy.ndarray, shape (n_lines, n_channels)
        Mean of ``r`` over each channel-line's clean pixels.
    chans : list of slice
        Contiguous channel slices along the line, all of the same width.
    fast_sign : sequence of int
        Per channel, +1 if its output reads towards increasing index, -1 otherwise.
    sigma : float
        White noise per pixel, units of the data.
    segment : int
        Pixel clocks per segment (of each output: one segment of every output is read at
        the same time).
    profile_lines : float
        Lines of the running mean of each segment that is kept as fixed structure; 1
        disables.
    min_sigma : float
        Significance required, standard deviations of the chi-square.
    sums : tuple of numpy.ndarray, optional
        The segment sums and counts of :func:`segment_sums` (float32, shape (n_channels,
        n_segments, n_lines)), if already taken; overwritten.

    Returns
    -------
    CommonWander or None
        None for fewer than two outputs, outputs of different widths or not in whole
        segments, no usable noise, or a wander not significant.
    """
    nch = len(chans)
    if wander_segment(chans, segment) is None or not (np.isfinite(sigma) and sigma > 0):
        return None
    n_lines = r.shape[0]
    nseg = (chans[0].stop - chans[0].start) // segment
    # per output: sums of the deviations from the channel-line means and clean counts per
    # segment (index order) and line, then in readout order
    # (float32: sums of at most a few thousand segments, far from its precision)
    if sums is None:
        sums = (
            np.empty((nch, nseg, n_lines), dtype=np.float32),
            np.empty((nch, nseg, n_lines), dtype=np.float32),
        )
        segment_sums(r, clean, chans, segment, *sums)
    sums, cnts = sums
    sums -= np.asarray(means, dtype=np.float32).T[:, None, :] * cnts
    # in readout order (outputs read towards decreasing index: segments reversed)
    rev = np.asarray([fast_sign[k] < 0 for k in range(nch)])
    for x in (sums, cnts):
        x[rev] = x[rev][:, ::-1]
    tot_s, tot_n = sums.sum(axis=0), cnts.sum(axis=0)
    # significance of the wander of all outputs together (segment means against white noise)
    have = tot_n > 0
    n_have = int(have.sum())
    if n_have < 8:
        return None
    ts, tn = tot_s[have].astype(np.float64), tot_n[have].astype(np.float64)
    z2 = float((ts**2 / tn).sum()) / sigma**2
    if (z2 - n_have) / np.sqrt(2.0 * n_have) <= min_sigma:
        return None
    # the wander's own variance per segment (all outputs' segment means less their noise):
    # each output's estimate is shrunk by its Wiener gain, so that segments measured on few
    # pixels of the other outputs (masked there too) add little noise
    power = float((ts**2 / tn**2).mean()) - sigma**2 * float((1.0 / tn).mean())
    power = np.float32(max(power, 0.0))
    del ts, tn
    # each output: the other outputs' sums (all outputs at once: arrays (outputs, segments,
    # lines))
    s_k = tot_s[None] - sums
    n_k = tot_n[None] - cnts
    ok = n_k > 0.5
    inv = np.divide(1.0, n_k, out=np.zeros_like(n_k), where=ok)
    w_k = s_k * inv
    keep_half = int(min(profile_lines, n_lines)) // 2
    if keep_half > 0:  # less their count-weighted running mean across lines
        num, den = _box_lines(s_k, keep_half), _box_lines(n_k, keep_half)
        np.divide(num, den, out=num, where=den > 0.5)
        num[den <= 0.5] = 0.0
        w_k -= num
    noise = inv
    noise *= np.float32(sigma**2)  # (0 where no pixel: the gain is then 0 as well)
    gain = np.divide(power, power + noise, out=np.zeros_like(noise), where=ok)
    w_k *= gain
    var_k = noise * gain  # the posterior variance
    n_sq = int(ok.sum())
    sq = float(np.square(w_k).sum(dtype=np.float64))  # (0 where no pixel: the gain)
    # back to index order, less the mean over each channel-line's clean pixels
    for x in (w_k, var_k, cnts):
        x[rev] = x[rev][:, ::-1]
    n_line = cnts.sum(axis=1)  # (outputs, lines)
    at_clean = np.where(
        n_line > 0, (w_k * cnts).sum(axis=1) / np.maximum(n_line, 1.0), w_k.mean(axis=1)
    )
    model = w_k - at_clean[:, None, :]
    variance = var_k
    rms = float(np.sqrt(sq / n_sq)) if n_sq else 0.0
    return CommonWander(model, variance, segment, rms)
