"""The faint wings of a bright spectrum dispersed along the lines (grism time-series windows).

A bright trace along the lines (a NIRCam grism time-series star, 10^3-10^4 DN/s at its
core) spreads light over most lines of a small window through its point-spread function:
0.1-5 DN/s per pixel, below the per-pixel clip, but over the hundreds of pixels of the
spectrum enough to bias the line means far beyond their noise. Its shape is known, though:
along a line it is the spectrum itself, the trace's along-line profile measured at high
signal-to-noise on its core lines; across the lines it is the point-spread function. So
each line's wing light is one amplitude times that profile, fitted with one intercept per
output (the line's 1/f offsets), plus a tilt (the profile times the position along the
line: the wings' share changing along the spectrum). Pixels where the fitted light exceeds
a fraction of the per-pixel noise are not used for measuring (:func:`wing_mask`); the
fainter light, where significant, is subtracted where the lines are measured
(:func:`wing_light`).

All functions work on arrays in the *canonical orientation*: lines (stripes) along the last
axis, shape (n_lines, line_length).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "WingFit",
    "WingLight",
    "WingMask",
    "find_trace",
    "fit_wings",
    "trace_wing_mask",
    "wing_light",
    "wing_mask",
]

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
#: The wing light subtracted before measuring (:func:`wing_light`) keeps of each line's
#: fitted amplitude ``a`` the garrote's share ``1 - (k s / a)**2``, ``s`` its standard error.
_LIGHT_GARROTE = 2.0
#: The wing mask's light adds the tilt of :func:`fit_wings` (``b * S * x``) in the garrote's
#: share at this many standard errors (eight seeds: the one-output strip 1.82 -> 1.72 x
#: oracle, SUBGRISM64 1.16 -> 1.13 x, SUBGRISM256 1.09 -> 1.10 x; at 2 / 5 in a prototype:
#: strip 1.72 / 1.72, SUBGRISM64 1.14 / 1.13, SUBGRISM256 1.11 / 1.10).
_MASK_TILT_GARROTE = 3.0


class WingMask:
    """The wing pixels of a trace, ``amp[line] * profile[pixel] > level``, evaluated lazily.

    Indexing with ``[lines, pixels]`` (slices, canonical orientation) returns that block's
    boolean mask, OR-ed with ``base`` (a user mask) where given: no full-size array is kept.
    With ``tilt``, the light is ``amp * S + tilt * S * x`` (``x`` as in :class:`WingLight`).

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
    tilt : numpy.ndarray, shape (n_lines,), optional
        Amplitude of ``S * x`` per line, DN/s (not used where ``amp`` is not positive).
    """

    def __init__(
        self,
        amp: np.ndarray,
        profile: np.ndarray,
        level: float,
        base: np.ndarray | None = None,
        kept: tuple[np.ndarray, np.ndarray] | None = None,
        tilt: np.ndarray | None = None,
    ) -> None:
        self.amp = np.clip(np.asarray(amp, dtype=np.float32), 0.0, None)
        self.profile = np.asarray(profile, dtype=np.float32)
        self.tilt = None
        if tilt is not None:
            self.tilt = np.where(self.amp > 0, np.asarray(tilt, dtype=np.float32), 0)
            self.tilted = (self.profile * _along(self.profile.size)).astype(np.float32)
        self.level = np.float32(level)
        self.base = base
        self.kept = kept
        self.shape = (self.amp.size, self.profile.size)

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        lines, pixels = key
        m = _block_light(self, lines, pixels) > self.level
        if self.kept is not None:
            off, channel = self.kept
            m &= ~off[lines][:, channel[pixels]]
        if self.base is not None:
            m |= self.base[lines, pixels]
        return m

    def with_base(self, base: np.ndarray | None) -> WingMask:
        """The same wings OR-ed with another user mask (canonical, full shape)."""
        return WingMask(self.amp, self.profile, float(self.level), base, self.kept, tilt=self.tilt)

    def full(self) -> np.ndarray:
        """The whole mask, shape (n_lines, line_length)."""
        return self[:, :]


class WingLight:
    """The fitted wing light of a trace below the wing mask's level, evaluated lazily.

    ``light = amp[line] * S[pixel] + tilt[line] * S[pixel] * x[pixel]``, ``S`` the trace's
    along-line profile and ``x`` the position along the line, -1/2 to 1/2 (the wings' share
    of the light changing along the spectrum, as the trace's tilt across the lines or the
    width of the point-spread function make it), clipped at zero and zero where it exceeds
    ``level`` (those pixels are masked; their light is not modelled). Indexing with
    ``[lines, pixels]`` (slices, canonical orientation) returns that block as float32: no
    full-size array is kept.

    Parameters
    ----------
    amp, tilt : numpy.ndarray, shape (n_lines,)
        Amplitudes of ``S`` and ``S * x`` per line, DN/s.
    profile : numpy.ndarray, shape (line_length,)
        ``S``, peak 1.
    level : float
        DN/s.
    """

    def __init__(
        self, amp: np.ndarray, tilt: np.ndarray, profile: np.ndarray, level: float
    ) -> None:
        self.amp = np.asarray(amp, dtype=np.float32)
        self.tilt = np.asarray(tilt, dtype=np.float32)
        self.profile = np.asarray(profile, dtype=np.float32)
        self.tilted = (self.profile * _along(self.profile.size)).astype(np.float32)
        self.level = np.float32(level)
        self.shape = (self.amp.size, self.profile.size)

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        lines, pixels = key
        out = _block_light(self, lines, pixels)
        np.maximum(out, 0.0, out=out)
        out[out > self.level] = 0.0
        return out


def _block_light(wings: WingMask | WingLight, lines: slice, pixels: slice) -> np.ndarray:
    """``amp * S (+ tilt * S * x)`` of a :class:`WingMask` or :class:`WingLight` on a
    block, float32."""
    out = wings.amp[lines, None] * wings.profile[None, pixels]
    if wings.tilt is not None:
        out += wings.tilt[lines, None] * wings.tilted[None, pixels]
    return out


@dataclass
class WingFit:
    """Each line's wing light fitted by :func:`fit_wings` (0 beyond the reach of the core).

    Attributes
    ----------
    amp, tilt : numpy.ndarray of float64, shape (n_lines,)
        Amplitudes of the trace's profile ``S`` and of ``S * x``, DN/s.
    amp_err, tilt_err : numpy.ndarray of float64, shape (n_lines,)
        Their standard errors, DN/s (``inf`` where not fitted).
    profile : numpy.ndarray of float32, shape (line_length,)
        ``S``, peak 1.
    """

    amp: np.ndarray
    tilt: np.ndarray
    amp_err: np.ndarray
    tilt_err: np.ndarray
    profile: np.ndarray


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


def fit_wings(
    resid: np.ndarray, usable: np.ndarray, channels: list[slice], sigma: float, trace: dict
) -> WingFit:
    """Each line's wing light of a trace found by :func:`find_trace`.

    Each line within ``_WING_REACH`` lines of the core is fitted as one intercept per
    output plus ``amp * S + tilt * S * x``, ``S`` the trace's profile and ``x`` the position
    along the line (least squares, refitted ``_FIT_PASSES`` times without pixels beyond
    ``_FIT_CLIP`` robust scatters: stars, hot pixels); the along-line variation of ``S``
    within the outputs (the spectrum's ends, its shape) measures the light apart from the
    line's 1/f offsets, and ``S * x`` its share changing along the spectrum (a trace tilted
    across the lines, a point-spread function widening with wavelength).

    Parameters
    ----------
    resid, usable, channels, sigma
        As :func:`trace_wing_mask`.
    trace : dict
        From :func:`find_trace`.

    Returns
    -------
    WingFit
    """
    coef, inv = _reach_fit(resid, usable, channels, trace, tilt=True)
    err = sigma * np.sqrt(inv)
    return WingFit(coef[:, 0], coef[:, 1], err[:, 0], err[:, 1], trace["profile"])


def _reach_fit(
    resid: np.ndarray, usable: np.ndarray, channels: list[slice], trace: dict, *, tilt: bool
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_line_fit` on the lines within ``_WING_REACH`` of the trace's core, chunk by
    chunk; the other lines get 0 (``inf`` in the inverse's diagonal)."""
    n_lines = resid.shape[0]
    l0, shape = trace["line"], trace["profile"]
    nr = 2 if tilt else 1
    coef = np.zeros((n_lines, nr))
    inv = np.full((n_lines, nr), np.inf)
    for c in _chunks(n_lines):
        if c.stop > l0 - _WING_REACH and c.start <= l0 + _WING_REACH:
            coef[c], inv[c] = _line_fit(resid[c], usable[c], channels, shape, tilt=tilt)
    far = np.ones(n_lines, dtype=bool)
    far[max(l0 - _WING_REACH, 0) : l0 + _WING_REACH + 1] = False
    coef[far] = 0.0
    inv[far] = np.inf
    return coef, inv


def wing_mask(
    resid: np.ndarray,
    usable: np.ndarray,
    channels: list[slice],
    sigma: float,
    trace: dict,
    *,
    threshold: float = WING_SIGMA,
    fit: WingFit | None = None,
) -> tuple[WingMask, dict]:
    """The wing pixels of a trace found by :func:`find_trace`.

    Each line within ``_WING_REACH`` lines of the core is fitted as one intercept per
    output plus ``a * S``, ``S`` the trace's profile (least squares, refitted
    ``_FIT_PASSES`` times without pixels beyond ``_FIT_CLIP`` robust scatters: stars, hot
    pixels); the along-line variation of ``S`` within the outputs (the spectrum's ends,
    its shape) measures ``a`` apart from the line's 1/f offsets. Pixels where
    ``max(a, 0) * S`` exceeds ``threshold * sigma`` are the wings. With ``fit``
    (:func:`fit_wings`), the light of its tilt ``b * S * x`` is added where the line's
    ``a`` is positive, in the garrote's share ``1 - (k s / b)**2`` of its standard error s
    (``k = _MASK_TILT_GARROTE``): a trace tilted across the lines lights one end of the
    spectrum more than the other on the lines next to it. (The amplitude itself stays the
    one-regressor fit's: the two-regressor amplitude, noisier where each output has its
    own intercept, took the four-output SUBGRISM64 window from 1.16 to 1.20-1.22 x.)

    Parameters
    ----------
    resid, usable, channels, sigma, threshold
        As :func:`trace_wing_mask`.
    trace : dict
        From :func:`find_trace`.
    fit : WingFit, optional
        The two-regressor fit of the same lines.

    Returns
    -------
    mask : WingMask
        The wing pixels (the core's own pixels included where bright).
    info : dict
        ``{"line": core line, "extent": pixels along the line, "lines": lines with masked
        pixels, "pixels": masked pixels}``.
    """
    n_lines, length = resid.shape
    shape = trace["profile"]
    amp = _reach_fit(resid, usable, channels, trace, tilt=False)[0][:, 0]
    mask = WingMask(amp, shape, threshold * sigma)
    # channel-lines that the wings would leave with too few usable pixels keep them: such
    # an output would be borrowed from the others on every lit line, and its pedestal then
    # rests on them alone (an output covered by the spectrum on every line). (Decided on
    # the light of S alone, for which the eighth was measured: with the tilt's light in it
    # more channel-lines crossed it and kept all their wing pixels, SUBGRISM64 1.135 ->
    # 1.19 x oracle over eight seeds.)
    channel = np.zeros(length, dtype=np.intp)
    for k, sl in enumerate(channels):
        channel[sl] = k
    off = np.zeros((n_lines, len(channels)), dtype=bool)
    for c in _chunks(n_lines):
        m = mask[c, :] & usable[c]
        for k, sl in enumerate(channels):
            n_use = usable[c, sl].sum(axis=1)
            n_wing = m[:, sl].sum(axis=1)
            off[c, k] = (n_wing > 0) & (n_use - n_wing < _MIN_LEFT * (sl.stop - sl.start))
    tilt = None if fit is None else fit.tilt * _garrote(fit.tilt, fit.tilt_err, _MASK_TILT_GARROTE)
    mask = WingMask(amp, shape, threshold * sigma, kept=(off, channel), tilt=tilt)
    pixels = np.zeros(n_lines, dtype=np.int64)
    for c in _chunks(n_lines):
        pixels[c] = (mask[c, :] & usable[c]).sum(axis=1)
    info = {
        "line": trace["line"],
        "extent": trace["extent"],
        "lines": int((pixels > 0).sum()),
        "pixels": int(pixels.sum()),
    }
    return mask, info


def wing_light(fit: WingFit, sigma: float, *, threshold: float = WING_SIGMA) -> WingLight:
    """The wing light below the mask's level, to be subtracted before measuring.

    The wing mask (:func:`wing_mask`) leaves the light below ``threshold * sigma`` per
    pixel, which over a spectrum's hundreds of pixels still biases the line means. Each
    fitted amplitude is kept in the garrote's share ``1 - (k s / a)**2`` of its standard
    error ``s`` (``k = _LIGHT_GARROTE``; the tilt also in the amplitude's share, and only
    where the amplitude is positive), so that lines without significant wing light are
    left as they are.

    Parameters
    ----------
    fit : WingFit
        :func:`fit_wings`.
    sigma, threshold
        As :func:`trace_wing_mask`.

    Returns
    -------
    WingLight
    """
    a, t = fit.amp, fit.tilt
    keep_a = np.where(a > 0, _garrote(a, fit.amp_err, _LIGHT_GARROTE), 0.0)
    keep_t = _garrote(t, fit.tilt_err, _LIGHT_GARROTE)
    return WingLight(keep_a * a, keep_a * keep_t * t, fit.profile, threshold * sigma)


def _garrote(value: np.ndarray, err: np.ndarray, k: float) -> np.ndarray:
    """The non-negative garrote's share ``max(0, 1 - (k err / value)**2)`` (0 where the value
    is 0 or its error infinite)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(np.clip(1.0 - (k * err / value) ** 2, 0.0, 1.0))


def _along(length: int) -> np.ndarray:
    """Position along a line of ``length`` pixels, -1/2 to 1/2 (float64)."""
    return (np.arange(length) - 0.5 * (length - 1)) / max(length, 1)


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


def _line_fit(
    resid: np.ndarray,
    usable: np.ndarray,
    channels: list[slice],
    shape: np.ndarray,
    *,
    tilt: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Per line, ``resid ~ intercept[output] + a * shape (+ b * shape * x)``.

    Least squares with one intercept per output (the within-output regression on the
    centred regressors), refitted without pixels beyond ``_FIT_CLIP`` robust scatters of
    the line's residuals. With ``tilt`` the second regressor ``shape * x`` (``x`` the
    position along the line, -1/2 to 1/2) is fitted too. Lines without usable pixels, or
    where the regressors do not vary within any output, get 0. ``channels`` are contiguous
    and in order along the line.

    Returns
    -------
    coef : numpy.ndarray of float64, shape (n_lines, 1) or (n_lines, 2)
        ``a`` (and ``b``).
    inv : numpy.ndarray of float64, same shape
        The diagonal of the inverse of the normal matrix: times the per-pixel noise
        variance, the variance of each coefficient (``inf`` where not fitted).
    """
    n_lines, length = resid.shape
    starts = np.array([sl.start or 0 for sl in channels])
    y = np.where(usable, resid, 0.0).astype(np.float32)
    regs = [shape.astype(np.float32)[None, :]]
    if tilt:
        regs.append((shape * _along(length)).astype(np.float32)[None, :])
    nr = len(regs)
    use = usable.copy()
    coef = np.zeros((n_lines, nr))
    inv = np.full((n_lines, nr), np.inf)
    f64 = np.float64
    for _ in range(_FIT_PASSES):
        # per line and output: n, sum y, and per regressor sum s, sum s y, and sum s s' (the
        # contiguous outputs summed in one call each, in float64); the within-output
        # regression on the centred regressors
        w = use.astype(np.float32)
        n = np.add.reduceat(w, starts, axis=1, dtype=f64)
        sy = np.add.reduceat(w * y, starts, axis=1, dtype=f64)
        nz = np.maximum(n, 1.0)
        ws = [w * r for r in regs]
        ss = [np.add.reduceat(x, starts, axis=1, dtype=f64) for x in ws]
        sxy = np.stack(
            [
                (np.add.reduceat(x * y, starts, axis=1, dtype=f64) - si * sy / nz).sum(axis=1)
                for x, si in zip(ws, ss, strict=True)
            ],
            axis=1,
        )
        sxx = np.empty((n_lines, nr, nr))
        scale = np.zeros(n_lines)
        for i in range(nr):
            for j in range(i, nr):
                sij = np.add.reduceat(ws[i] * regs[j], starts, axis=1, dtype=f64)
                sxx[:, i, j] = sxx[:, j, i] = (sij - ss[i] * ss[j] / nz).sum(axis=1)
                if i == j:
                    scale += sij.sum(axis=1)
        del ws
        if nr == 1:
            det = sxx[:, 0, 0]
            ok = det > 1e-12 * np.maximum(scale, 1e-300)
            c0 = np.where(ok, sxy[:, 0] / np.where(ok, det, 1.0), 0.0)
            coef = c0[:, None]
            inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), np.inf)[:, None]
        else:
            det = sxx[:, 0, 0] * sxx[:, 1, 1] - sxx[:, 0, 1] ** 2
            ok = (sxx[:, 0, 0] > 1e-12 * np.maximum(scale, 1e-300)) & (
                det > 1e-9 * sxx[:, 0, 0] * sxx[:, 1, 1]
            )
            d = np.where(ok, det, 1.0)
            coef = np.where(
                ok[:, None],
                np.stack(
                    [
                        (sxx[:, 1, 1] * sxy[:, 0] - sxx[:, 0, 1] * sxy[:, 1]) / d,
                        (sxx[:, 0, 0] * sxy[:, 1] - sxx[:, 0, 1] * sxy[:, 0]) / d,
                    ],
                    axis=1,
                ),
                0.0,
            )
            inv = np.where(
                ok[:, None], np.stack([sxx[:, 1, 1] / d, sxx[:, 0, 0] / d], axis=1), np.inf
            )
        fitted = np.zeros((n_lines, length), dtype=np.float32)
        base = sy.copy()
        for i, r in enumerate(regs):
            ci = coef[:, i]
            fitted += ci.astype(np.float32)[:, None] * r
            base -= ci[:, None] * ss[i]
        base /= nz  # per output: mean of y minus the fitted light
        for k, sl in enumerate(channels):
            fitted[:, sl] += base[:, k, None].astype(np.float32)
        res = np.abs(np.where(use, y - fitted, np.inf))
        n_use = use.sum(axis=1)
        # the median of each line's |residuals| (unusable ones are inf, at the end): one
        # partition at each distinct middle
        mid = np.unique(np.clip((n_use - 1) // 2, 0, length - 1))
        part = np.partition(res, mid, axis=1)
        spread = 1.4826 * np.where(n_use > 0, part[np.arange(n_lines), (n_use - 1) // 2], 0.0)
        keep = res < _FIT_CLIP * np.where(n_use > 0, spread, np.inf)[:, None]
        if (keep == use).all():
            break
        use = keep & usable
    return coef, inv
