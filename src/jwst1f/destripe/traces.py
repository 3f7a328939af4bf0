"""The faint wings of a bright spectrum dispersed along the lines (grism time-series windows).

A bright trace along the lines (a NIRCam grism time-series star, 10^3-10^4 DN/s at its
core) spreads light over most lines of a small window through its point-spread function:
0.1-5 DN/s per pixel, below the per-pixel clip, but over the hundreds of pixels of the
spectrum enough to bias the line means far beyond their noise. Its shape is known, though:
along a line it is the spectrum itself, the trace's along-line profile measured at high
signal-to-noise on its core lines; across the lines it is the point-spread function. So
each line's wing light is one amplitude times that profile, fitted with one intercept per
output (the line's 1/f offsets), and pixels where the fitted light exceeds a fraction of
the per-pixel noise are not used for measuring.

All functions work on arrays in the *canonical orientation*: lines (stripes) along the last
axis, shape (n_lines, line_length).
"""

from __future__ import annotations

import numpy as np

__all__ = ["WingMask", "find_trace", "trace_wing_mask", "wing_mask"]

#: Pixels whose fitted wing light exceeds this many per-pixel noise sigmas are masked (over
#: the hundreds of pixels of a spectrum, 0.4 sigma biases a line mean by tens of times its
#: noise; eight seeds of the simulator's grism windows: 0.3 / 0.4 / 0.5 sigma gave the
#: one-output strip 1.92 / 1.89 / 1.93 x oracle, SUBGRISM64 1.20 / 1.21 / 1.19 x).
WING_SIGMA = 0.4
#: A trace: its core lines hold at least this many times the noise of their sum...
_CORE_SNR = 50.0
#: ... over at least this many pixels along the line (and a fifth of the line) above 1 % of
#: the core's peak (a spectrum, not a star) ...
_MIN_EXTENT = 256
#: ... and, within that extent, at least this fraction of the window's light lies within
#: ``_CORE_HALF`` lines of the core (light concentrated across the lines: NIRSpec IFU slices,
#: the same in every column, hold under 1 %).
_MIN_CONCENTRATION = 0.5
#: Lines on each side of the core line counted as the core.
_CORE_HALF = 3
#: Lines on each side of the core whose wings are fitted.
_WING_REACH = 256
#: Robust refits of each line's amplitude, rejecting pixels beyond this many scatters.
_FIT_CLIP = 4.0
#: Fits per line at most (the first, then refits while pixels are rejected).
_FIT_PASSES = 3
#: A channel-line keeps its wing pixels where masking them would leave fewer than this
#: fraction of its pixels usable.
_MIN_LEFT = 0.125
#: Lines per chunk of the line-by-line work (at most).
_CHUNK = 32


class WingMask:
    """The wing pixels of a trace, ``amp[line] * profile[pixel] > level``, evaluated lazily.

    Indexing with ``[lines, pixels]`` (slices, canonical orientation) returns that block's
    boolean mask, OR-ed with ``base`` (a user mask) where given: no full-size array is kept.

    Parameters
    ----------
    amp : numpy.ndarray, shape (n_lines,)
        Wing amplitude per line, DN/s at the profile's peak (0 where not fitted).
    profile : numpy.ndarray, shape (line_length,)
        The trace's along-line profile, peak 1.
    level : float
        Light above which a pixel is masked, DN/s.
    base : numpy.ndarray of bool, optional
        Shape (n_lines, line_length).
    kept : tuple of (numpy.ndarray of bool, numpy.ndarray of int), optional
        ``(off, channel)``: channel-lines left unmasked, shape (n_lines, n_channels), and
        the channel of each pixel along the line, shape (line_length,).
    """

    def __init__(
        self,
        amp: np.ndarray,
        profile: np.ndarray,
        level: float,
        base: np.ndarray | None = None,
        kept: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.amp = np.clip(np.asarray(amp, dtype=np.float32), 0.0, None)
        self.profile = np.asarray(profile, dtype=np.float32)
        self.level = np.float32(level)
        self.base = base
        self.kept = kept
        self.shape = (self.amp.size, self.profile.size)

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        lines, pixels = key
        m = self.amp[lines, None] * self.profile[None, pixels] > self.level
        if self.kept is not None:
            off, channel = self.kept
            m &= ~off[lines][:, channel[pixels]]
        if self.base is not None:
            m |= self.base[lines, pixels]
        return m

    def with_base(self, base: np.ndarray | None) -> WingMask:
        """The same wings OR-ed with another user mask (canonical, full shape)."""
        return WingMask(self.amp, self.profile, float(self.level), base, self.kept)

    def full(self) -> np.ndarray:
        """The whole mask, shape (n_lines, line_length)."""
        return self[:, :]


def trace_wing_mask(
    resid: np.ndarray,
    usable: np.ndarray,
    channels: list[slice],
    sigma: float,
    *,
    threshold: float = WING_SIGMA,
) -> tuple[WingMask, dict] | None:
    """Pixels holding the wing light of a bright trace along the lines, if there is one.

    :func:`find_trace`, then :func:`wing_mask`.

    Parameters
    ----------
    resid : numpy.ndarray, shape (n_lines, line_length)
        Data minus a first stripe model (the sky and sources left), DN/s.
    usable : numpy.ndarray of bool, same shape
        Finite pixels not flagged, not reference pixels.
    channels : list of slice
        The outputs along the line.
    sigma : float
        Per-pixel white noise, DN/s.
    threshold : float
        In units of ``sigma``.

    Returns
    -------
    (mask, info) or None
        As :func:`wing_mask`; None where no trace along the lines is found.
    """
    trace = find_trace(resid, usable, sigma)
    if trace is None:
        return None
    return wing_mask(resid, usable, channels, sigma, trace, threshold=threshold)


def find_trace(resid: np.ndarray, usable: np.ndarray, sigma: float) -> dict | None:
    """The core of a bright trace along the lines, if there is one.

    The brightest line (a sum over three lines, each from its faint half's median) is the
    trace's core if its light, at least ``_CORE_SNR`` times its noise, extends along the
    line over at least ``_MIN_EXTENT`` pixels and a fifth of the line above 1 % of its peak
    (a spectrum, not a star) and, over that extent, at least ``_MIN_CONCENTRATION`` of
    the window's light lies within ``_CORE_HALF`` lines of the core (across the lines it is
    compact: not IFU slices, which are the same in every column). Its along-line profile
    (three lines, clipped at zero) is the shape of its wings.

    Parameters
    ----------
    resid, usable, sigma
        As :func:`trace_wing_mask`.

    Returns
    -------
    dict or None
        ``{"line": core line, "profile": float32 array of shape (line_length,), peak 1,
        "extent": pixels along the line}``.
    """
    n_lines, length = resid.shape
    if n_lines < 2 * _CORE_HALF + 2 or length < _MIN_EXTENT or not sigma > 0:
        return None
    ok_line = usable.sum(axis=1) >= length // 4
    if ok_line.sum() < 2 * _CORE_HALF + 2:
        return None
    level = np.zeros(n_lines)
    sums = np.zeros(n_lines)
    for c in _chunks(n_lines):
        r = np.where(usable[c], resid[c], np.nan)
        level[c] = _faint_half_median(r)
        with np.errstate(invalid="ignore"):
            sums[c] = np.nansum(r - level[c, None].astype(r.dtype), axis=1, dtype=np.float64)
    sums = np.where(ok_line, sums, 0.0)
    l0 = int(np.argmax(np.convolve(sums, np.ones(3), "same")))
    core = slice(max(l0 - 1, 0), l0 + 2)
    prof = np.where(usable[core], resid[core] - level[core, None], 0.0).sum(axis=0)
    prof = np.clip(prof.astype(np.float64), 0.0, None)
    peak = float(prof.max())
    if peak <= 0 or prof.sum() < _CORE_SNR * sigma * np.sqrt(usable[core].sum()):
        return None
    inside = prof > 0.01 * peak
    extent = int(inside.sum())
    if extent < max(_MIN_EXTENT, length // 5):
        return None
    light = np.zeros(n_lines)
    for c in _chunks(n_lines):
        r = np.where(usable[c][:, inside], resid[c][:, inside] - level[c, None], 0.0)
        light[c] = np.clip(r.sum(axis=1, dtype=np.float64), 0.0, None)
    near = light[max(l0 - _CORE_HALF, 0) : l0 + _CORE_HALF + 1].sum()
    if near < _MIN_CONCENTRATION * light.sum():
        return None
    return {"line": l0, "profile": (prof / peak).astype(np.float32), "extent": extent}


def wing_mask(
    resid: np.ndarray,
    usable: np.ndarray,
    channels: list[slice],
    sigma: float,
    trace: dict,
    *,
    threshold: float = WING_SIGMA,
) -> tuple[WingMask, dict]:
    """The wing pixels of a trace found by :func:`find_trace`.

    Each line within ``_WING_REACH`` lines of the core is fitted as one intercept per
    output plus ``a * S``, ``S`` the trace's profile (least squares, refitted
    ``_FIT_PASSES`` times without pixels beyond ``_FIT_CLIP`` robust scatters: stars, hot
    pixels); the along-line variation of ``S`` within the outputs (the spectrum's ends,
    its shape) measures ``a`` apart from the line's 1/f offsets. Pixels where
    ``max(a, 0) * S`` exceeds ``threshold * sigma`` are the wings.

    Parameters
    ----------
    resid, usable, channels, sigma, threshold
        As :func:`trace_wing_mask`.
    trace : dict
        From :func:`find_trace`.

    Returns
    -------
    mask : WingMask
        The wing pixels (the core's own pixels included where bright).
    info : dict
        ``{"line": core line, "extent": pixels along the line, "lines": lines with masked
        pixels, "pixels": masked pixels}``.
    """
    n_lines, length = resid.shape
    l0, shape = trace["line"], trace["profile"]
    amp = np.zeros(n_lines)
    for c in _chunks(n_lines):
        if c.stop > l0 - _WING_REACH and c.start <= l0 + _WING_REACH:
            amp[c] = _line_amplitudes(resid[c], usable[c], channels, shape)
    amp[: max(l0 - _WING_REACH, 0)] = 0.0
    amp[l0 + _WING_REACH + 1 :] = 0.0
    mask = WingMask(amp, shape, threshold * sigma)
    # channel-lines that the wings would leave with too few usable pixels keep them: such
    # an output would be borrowed from the others on every lit line, and its pedestal then
    # rests on them alone (an output covered by the spectrum on every line)
    channel = np.zeros(length, dtype=np.intp)
    for k, sl in enumerate(channels):
        channel[sl] = k
    off = np.zeros((n_lines, len(channels)), dtype=bool)
    pixels = np.zeros(n_lines, dtype=np.int64)
    for c in _chunks(n_lines):
        m = mask[c, :] & usable[c]
        for k, sl in enumerate(channels):
            n_use = usable[c, sl].sum(axis=1)
            n_wing = m[:, sl].sum(axis=1)
            off[c, k] = (n_wing > 0) & (n_use - n_wing < _MIN_LEFT * (sl.stop - sl.start))
            pixels[c] += np.where(off[c, k], 0, n_wing)
    mask = WingMask(amp, shape, threshold * sigma, kept=(off, channel))
    info = {
        "line": l0,
        "extent": trace["extent"],
        "lines": int((pixels > 0).sum()),
        "pixels": int(pixels.sum()),
    }
    return mask, info


def _chunks(n_lines: int) -> list[slice]:
    """Chunks of lines for the line-by-line work: at most ``_CHUNK`` lines, and a 32nd of
    a small window (its temporaries stay small next to the frame)."""
    step = max(1, min(_CHUNK, n_lines // 32))
    return [slice(i, min(i + step, n_lines)) for i in range(0, n_lines, step)]


def _faint_half_median(r: np.ndarray) -> np.ndarray:
    """Per line, the median of the values below the line's median (NaN ignored): a level
    that a trace over part of the line barely moves. Shape (n_lines,); 0 on empty lines."""
    srt = np.sort(r, axis=1)  # (NaN last)
    n = np.isfinite(r).sum(axis=1)
    return _sorted_median(srt, (n + 1) // 2)


def _sorted_median(srt: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Per row, the median of the first ``n`` values of rows sorted in increasing order;
    0 where ``n`` is 0."""
    rows = np.arange(srt.shape[0])
    lo = np.clip((n - 1) // 2, 0, srt.shape[1] - 1)
    hi = np.clip(n // 2, 0, srt.shape[1] - 1)
    out = 0.5 * (srt[rows, lo].astype(np.float64) + srt[rows, hi])
    return np.where(n > 0, np.nan_to_num(out), 0.0)


def _line_amplitudes(
    resid: np.ndarray, usable: np.ndarray, channels: list[slice], shape: np.ndarray
) -> np.ndarray:
    """Per line, the amplitude ``a`` of ``resid ~ intercept[output] + a * shape``.

    Least squares with one intercept per output (the within-output regression on the
    centred profile), refitted without pixels beyond ``_FIT_CLIP`` robust scatters of the
    line's residuals. Lines without usable pixels, or where ``shape`` does not vary within
    any output, get 0. ``channels`` are contiguous and in order along the line.

    Returns
    -------
    numpy.ndarray of float64, shape (n_lines,)
    """
    n_lines, length = resid.shape
    starts = np.array([sl.start or 0 for sl in channels])
    y = np.where(usable, resid, 0.0).astype(np.float32)
    s = shape.astype(np.float32)[None, :]
    use = usable.copy()
    amp = np.zeros(n_lines)
    f64 = np.float64
    for _ in range(_FIT_PASSES):
        # per line and output: n, sum y, sum s, sum s^2, sum s y (the contiguous outputs
        # summed in one call each, in float64); the within-output regression on the
        # centred profile
        w = use.astype(np.float32)
        ws = w * s
        n = np.add.reduceat(w, starts, axis=1, dtype=f64)
        sy = np.add.reduceat(w * y, starts, axis=1, dtype=f64)
        ss = np.add.reduceat(ws, starts, axis=1, dtype=f64)
        sss = np.add.reduceat(ws * s, starts, axis=1, dtype=f64)
        ssy = np.add.reduceat(ws * y, starts, axis=1, dtype=f64)
        nz = np.maximum(n, 1.0)
        sxy = (ssy - ss * sy / nz).sum(axis=1)
        sxx = (sss - ss * ss / nz).sum(axis=1)
        ok = sxx > 1e-12 * np.maximum(sss.sum(axis=1), 1e-300)
        amp = np.where(ok, sxy / np.where(ok, sxx, 1.0), 0.0)
        a32 = amp.astype(np.float32)[:, None]
        fitted = a32 * s
        base = (sy - amp[:, None] * ss) / nz  # per output: mean of y - a s
        for k, sl in enumerate(channels):
            fitted[:, sl] += base[:, k, None].astype(np.float32)
        res = np.abs(np.where(use, y - fitted, np.inf))
        n_use = use.sum(axis=1)
        # the median of each line's |residuals| (unusable ones are inf, at the end): one
        # partition at each distinct middle
        mid = np.unique(np.clip((n_use - 1) // 2, 0, length - 1))
        part = np.partition(res, mid, axis=1)
        scale = 1.4826 * np.where(n_use > 0, part[np.arange(n_lines), (n_use - 1) // 2], 0.0)
        keep = res < _FIT_CLIP * np.where(n_use > 0, scale, np.inf)[:, None]
        if (keep == use).all():
            break
        use = keep & usable
    return amp
