"""The line model: per-line offsets, shared by all outputs plus a per-output part.

Input is the measured mean of clean pixels per channel-line, ``m`` (n_lines, n_channels), and
the number of clean pixels behind each, ``n``. The 1/f noise of the SIDECAR readout is mostly
common to the outputs (about 3:1 correlated:uncorrelated), so the offset of channel ``k`` in
line ``l`` is modelled as ``s[l] + p[k] + u[l, k]``:

* ``p`` is each output's pedestal over the frame (relative to the mean of the outputs), the
  count-weighted mean per-output part of its measured lines (or a given prior for outputs measured on
  fewer than ``_MIN_MEASURED_LINES`` lines), so that outputs lit on most lines keep it;
* ``s`` is the weighted mean over channels of ``m - p`` (weights: clean pixel counts);
* ``u`` is shrunk towards a prior (its interpolation from neighbouring lines of the same
  channel, which are close in readout time, times the correlation of ``u`` measured at that
  distance in lines) by the Wiener factor
  ``tau**2 / (tau**2 + sigma**2 / n)``, with ``tau**2`` the measured variance of ``u``;
  channel-lines with fewer than ``min_pixels`` clean pixels take the prior alone, and follow
  the deviation of ``s`` at their line from its interpolation between their own measured
  lines only by the share of it that is shared 1/f, not the other outputs' own parts
  (:func:`_shared_gain`; about all of it for the usual 3:1 shared 1/f).

Channel-lines with few clean pixels thus borrow from the other channels and neighbouring
lines; lines with no clean pixel at all are interpolated in readout (line) order. Nothing is
left NaN.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft
from scipy.ndimage import correlate1d

from jwst1f.destripe.spectral import Workspace, wiener_lines
from jwst1f.destripe.timeline import _running_mean

#: Correlation length (lines) of the per-output offsets used when borrowing from neighbours
#: beyond the distances where their correlation is measured (and on short windows).
_PRIOR_LINES = 4.0
#: Longest line distance at which the correlation of the per-output parts is measured.
_LAG_MAX = 32
#: Pairs of measured channel-lines needed at a distance to measure that correlation.
_LAG_MIN_PAIRS = 256
#: Transform lengths up to which the kernel transforms of :func:`_moment_pair` are cached
#: (the binned series of :func:`choose_scale`: the same few scales for every frame of a
#: geometry; longer ones are not kept, so that no large array outlives its call).
_CACHED_KERNEL_SIZE = 1024
#: Measured lines an output needs for its own frame-constant per-output offset.
_MIN_MEASURED_LINES = 16
#: Lines of the running mean whose residuals measure how much of the shared part's
#: line-to-line deviation is shared 1/f and how much the other outputs' own parts
#: (:func:`_shared_gain`); the per-output correlation is measured up to ``_LAG_MAX`` lines.
_SHARED_GAIN_LINES = 33

__all__ = [
    "LineModel",
    "line_offsets",
    "interpolate_lines",
    "smooth_lines",
    "choose_smoothing",
]


class LineModel:
    """Result of :func:`line_offsets`.

    Attributes
    ----------
    offset : numpy.ndarray, shape (n_lines, n_channels)
        Offset per channel-line, units of the data.
    variance : numpy.ndarray, shape (n_lines, n_channels)
        Variance of ``offset`` as an estimate, units of the data squared.
    n_interpolated : int
        Lines with too few clean pixels in every channel, filled from neighbouring lines.
    n_borrowed : int
        Channel-lines below ``min_pixels`` that borrowed from other channels / lines.
    tau : float
        Measured rms of the per-channel (uncorrelated) part, units of the data.
    """

    __slots__ = ("offset", "variance", "n_interpolated", "n_borrowed", "tau")

    def __init__(self, offset, variance, n_interpolated, n_borrowed, tau):
        self.offset = offset
        self.variance = variance
        self.n_interpolated = n_interpolated
        self.n_borrowed = n_borrowed
        self.tau = tau


def _lag_correlation(u: np.ndarray, well: np.ndarray, tau2: float):
    """The correlation of the per-output parts between lines, as a function of their distance.

    Red per-output 1/f keeps an output's offset for tens of lines, white-ish 1/f for one or
    two: a trace filling a channel-line over 20 lines, borrowed with a correlation length of
    four lines, lost its output's own offset in the middle (an independent WFSS frame with
    strong red per-output 1/f: 0.09 DN/s rms on those channel-lines). The autocovariance of
    ``u`` over pairs of well-measured channel-lines ``d`` lines apart (``d`` up to
    ``_LAG_MAX``, pooled over the outputs), over ``tau2``, clipped to [0, 1] and made
    non-increasing, is that correlation. Beyond ``_LAG_MAX`` lines it fades from its last
    value as ``exp(-(d - _LAG_MAX) / _PRIOR_LINES)``; at lags with fewer than
    ``_LAG_MIN_PAIRS`` pairs it keeps the last measured value. Short frames (fewer than
    ``4 * _LAG_MAX`` lines), no measured variance or too few pairs one line apart: the
    fixed ``exp(-d / _PRIOR_LINES)``.

    Parameters
    ----------
    u : numpy.ndarray, shape (n_lines, n_channels)
        Per-output parts, units of the levels (any value where not ``well``).
    well : numpy.ndarray of bool, same shape
        Channel-lines measured on enough pixels.
    tau2 : float
        Variance of ``u`` on those lines, less their white noise.

    Returns
    -------
    callable
        ``rho(distance)`` for an array of distances in lines (float), values in [0, 1].
    """
    fallback = lambda d: np.exp(-np.asarray(d, float) / _PRIOR_LINES)  # noqa: E731
    n_lines = u.shape[0]
    if not tau2 > 0 or n_lines < 4 * _LAG_MAX:  # (NaN too)
        return fallback
    uw = np.where(well, u, 0.0)
    wf = well.astype(float)
    lags = np.arange(1, _LAG_MAX + 1)
    cov = np.empty(lags.size)
    for i, d in enumerate(lags):
        pairs = (wf[d:] * wf[:-d]).sum()
        if pairs < _LAG_MIN_PAIRS:
            if i == 0:
                return fallback
            cov[i:] = cov[i - 1]
            break
        cov[i] = (uw[d:] * uw[:-d]).sum() / pairs
    r = np.minimum.accumulate(np.clip(np.nan_to_num(cov / tau2), 0.0, 1.0))
    table = np.concatenate(([1.0], r))

    def rho(d):
        d = np.asarray(d, float)
        inside = np.interp(d, np.arange(table.size), table)
        beyond = table[-1] * np.exp(-(d - _LAG_MAX) / _PRIOR_LINES)
        return np.where(d <= _LAG_MAX, inside, beyond)

    return rho


def interpolate_lines(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill invalid entries of a line series by linear interpolation in line order.

    Parameters
    ----------
    values : numpy.ndarray, shape (n_lines,)
    valid : numpy.ndarray of bool, shape (n_lines,)

    Returns
    -------
    filled : numpy.ndarray, shape (n_lines,)
        ``values`` where valid; interpolated (or the nearest valid value beyond the ends)
        elsewhere; zeros if nothing is valid.
    distance : numpy.ndarray, shape (n_lines,)
        Distance (lines) to the nearest valid line; 0 on valid lines.
    """
    n = values.shape[0]
    idx = np.arange(n)
    good = np.flatnonzero(valid)
    if good.size == 0:
        return np.zeros(n), np.full(n, float(n))
    filled = np.interp(idx, good, values[good])
    np.copyto(filled, values, where=valid)
    # distance to nearest valid line (in place: few series of lines at once)
    pos = np.searchsorted(good, idx)
    left = good[np.clip(pos - 1, 0, good.size - 1)]
    right = good[np.clip(pos, 0, good.size - 1)]
    del pos
    np.abs(np.subtract(idx, left, out=left), out=left)
    np.abs(np.subtract(right, idx, out=right), out=right)
    distance = np.minimum(left, right, out=left).astype(float)
    return filled, distance


def _shared_gain(
    s_meas: np.ndarray, mz: np.ndarray, n: np.ndarray, s2: float, min_pixels: int
) -> np.ndarray | None:
    """How much of the shared part's deviation a borrowed channel-line should follow.

    A channel-line that borrows takes the line's shared part ``s`` (the count-weighted mean
    of the measured outputs) plus its own part interpolated from neighbouring lines. But the
    measured outputs' mean holds their own per-output parts too: where those are strong (an
    output's own 1/f as large as the shared), the deviation of ``s`` at that line from its
    interpolation between the borrowing output's measured lines is mostly the other outputs'
    own noise, which the borrowing output does not share. The best linear predictor follows
    that deviation by the gain ``v_s / (v_s + v_o * e[l])``: ``v_s`` the variance of the
    shared 1/f and ``v_o`` that of each output's own part, both from their residuals about a
    running mean over ``_SHARED_GAIN_LINES`` lines on lines where every output is measured
    (the white noise of the means subtracted), and ``e[l] = sum(n_j**2) / (sum n_j)**2``
    the share of one output's own variance in the weighted mean at line ``l``. With the
    usual 3:1 shared 1/f the gain is about 1 (the model as before).

    Parameters
    ----------
    s_meas : numpy.ndarray, shape (n_lines,)
        Count-weighted mean over the outputs of the means less the pedestals, units of the
        data (any value where no output is measured).
    mz : numpy.ndarray, shape (n_lines, n_channels)
        Means less the pedestals (0 where ``n == 0``).
    n : numpy.ndarray, shape (n_lines, n_channels)
        Clean pixels behind each mean.
    s2 : float
        White noise variance per pixel, units of the data squared.
    min_pixels : int
        Clean pixels for a channel-line to count as measured.

    Returns
    -------
    numpy.ndarray of float64, shape (n_lines,), or None
        The gain per line in [0, 1]; None where it cannot be measured (fewer than
        ``4 * _SHARED_GAIN_LINES`` lines with every output measured) or is 1 everywhere.
    """
    nch = n.shape[1]
    full = (n >= min_pixels).all(axis=1)
    if nch < 2 or full.sum() < 4 * _SHARED_GAIN_LINES:
        return None
    width = _SHARED_GAIN_LINES
    keep = 1.0 - 1.0 / width  # (the share of a white variance left about the running mean)
    N = n.sum(axis=1)
    # the shared part and each output's own part, less their running means over the fully
    # measured lines
    x = np.column_stack([s_meas, mz - s_meas[:, None]])
    w = full.astype(float)[:, None]
    x = (x - _running_mean(x * w, np.broadcast_to(w, x.shape), width))[full]
    ds, du = x[:, 0], x[:, 1:]
    noise_u = float(np.mean(s2 / n[full])) * keep
    noise_s = float(np.mean(s2 / N[full])) * keep
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (n * n).sum(axis=1) / np.maximum(N, 1.0) ** 2
    # each output's own part less the mean of all: (1 - 1/nch) of its variance
    v_o = max(float(np.mean(du * du)) - noise_u, 0.0) * nch / (nch - 1)
    v_s = max(float(np.mean(ds * ds)) - noise_s - v_o * float(np.mean(share[full])), 0.0)
    if v_o == 0.0:
        return None
    return v_s / (v_s + v_o * share)


def line_offsets(
    m: np.ndarray,
    n: np.ndarray,
    sigma: float,
    *,
    min_pixels: int,
    fit_by_channel: bool = True,
    channel_prior: np.ndarray | None = None,
    wiener: bool = True,
    work: np.ndarray | None = None,
) -> LineModel:
    """Combine channel-line means into offsets, borrowing where data are thin.

    Parameters
    ----------
    m : numpy.ndarray, shape (n_lines, n_channels)
        Mean of clean pixels per channel-line (any value where ``n == 0``).
    n : numpy.ndarray, shape (n_lines, n_channels)
        Number of clean pixels behind each mean.
    sigma : float
        Per-pixel noise sigma, units of ``m``.
    min_pixels : int
        Minimum clean pixels for a channel-line (or, summed over channels, a line) to count
        as measured.
    fit_by_channel : bool
        Fit the per-channel part; otherwise one offset per line for all channels.
    channel_prior : numpy.ndarray, shape (n_channels,), optional
        A per-output constant offset over the frame (the output's pedestal relative to the
        mean of the outputs, e.g. measured on reference lines), units of ``m``. Used for
        outputs with fewer than ``_MIN_MEASURED_LINES`` measured lines; the others use the
        mean of their own measured per-output part. Default: zero.
    wiener : bool
        Filter the shared series across lines with a Wiener filter fitted to its measured
        spectrum (:func:`jwst1f.destripe.spectral.wiener_lines`), so that the white
        measurement error of the line means is not subtracted as new stripes. A series without
        detectable stripe power, or too short, keeps the per-line estimate. (The per-output
        parts keep their per-line shrinkage: their spectra are not pink where outputs are
        partly lit, and a pink prior there measurably hurt.)
    work : numpy.ndarray, optional
        Any C- or Fortran-contiguous array whose contents may be overwritten (e.g. an output
        buffer not yet written; not overlapping ``m``, ``n`` or ``channel_prior``): the
        Wiener filter's work arrays are kept in it where they fit (peak memory on windows
        with many short lines). The result does not depend on it.

    Returns
    -------
    LineModel
    """
    m = np.asarray(m, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    n_lines, nch = m.shape
    s2 = float(sigma) ** 2 if np.isfinite(sigma) and sigma > 0 else 1.0
    mz = np.where(n > 0, m, 0.0)
    N = n.sum(axis=1)
    valid_s = N >= min_pixels
    # Per-output pedestals (constant over the frame, relative to the mean of the outputs):
    # taken out before the shared part is averaged, so that lines where some outputs are
    # lit (not measured) do not inherit the pedestals of the measured ones.
    ped = np.zeros(nch)
    if nch > 1 and fit_by_channel:
        well0 = (n >= min_pixels) & valid_s[:, None]
        nw = well0.sum(axis=0)
        own = nw >= _MIN_MEASURED_LINES
        prior = np.zeros(nch)
        if channel_prior is not None:
            prior = np.where(np.isfinite(channel_prior), channel_prior, 0.0).astype(float)
        for _ in range(6):  # converges geometrically (the lit outputs' share)
            with np.errstate(invalid="ignore", divide="ignore"):
                s_tmp = (n * (mz - ped)).sum(axis=1) / np.maximum(N, 1.0)
            u0 = mz - ped - s_tmp[:, None]
            wn = n * well0
            upd = np.where(own, (u0 * wn).sum(axis=0) / np.maximum(wn.sum(axis=0), 1), 0.0)
            ped = np.where(own, ped + upd, prior)
            ped -= ped.mean()
        mz = np.where(n > 0, mz - ped, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        s_meas = (n * mz).sum(axis=1) / N
    shared_only = nch == 1 or not fit_by_channel
    s_in = np.where(valid_s, s_meas, 0.0)
    if shared_only:  # (series of lines are not small next to windows of short lines)
        del mz, s_meas
    s, dist = interpolate_lines(s_in, valid_s)
    del s_in
    var_s = np.where(valid_s, s2 / np.maximum(N, 1.0), 0.0)
    n_interp = int((~valid_s).sum())
    spec_s = None
    noise_s = np.where(valid_s, s2 / np.maximum(N, 1.0), np.inf) if wiener else None
    del N
    if wiener:
        est, var, (spec_s,) = wiener_lines(
            s[:, None], noise_s[:, None], work=Workspace(work), scaled=True
        )
        if spec_s is not None:  # (copies: ``est`` and ``var`` may be views of ``work``)
            s, var_s = est[:, 0].copy(), var[:, 0].copy()
        del est, var, noise_s
    if n_interp and spec_s is None:
        good = np.flatnonzero(valid_s)
        if good.size >= 2:
            d1 = np.diff(s[good]) ** 2 / np.maximum(np.diff(good), 1)
            struct = 0.5 * float(np.median(d1))  # variance growth per line of separation
            total = float(np.var(s[good])) if good.size > 1 else s2
        else:
            struct, total = s2, s2
        var_s = np.where(valid_s, var_s, np.minimum(struct * np.maximum(dist, 1.0), total) + s2)

    if shared_only:
        offset = np.repeat(s[:, None], nch, axis=1)
        variance = np.repeat(var_s[:, None], nch, axis=1)
        return LineModel(offset, variance, n_interp, int((n < min_pixels).sum()), 0.0)

    u = mz - np.where(valid_s, s_meas, s)[:, None]  # s_meas where measured
    noise = s2 / np.maximum(n, 1.0)
    well = (n >= min_pixels) & valid_s[:, None]
    if well.sum() > 4:
        tau2 = max(float(np.mean(u[well] ** 2) - np.mean(noise[well])), 0.0)
    else:
        tau2 = 0.0
    u_hat = np.empty_like(u)
    var_u = np.empty_like(u)
    rho = _lag_correlation(u, well, tau2)
    s_safe = np.where(valid_s, s_meas, 0.0)
    gain_s = _shared_gain(s_safe, mz, n, s2, min_pixels)
    for k in range(nch):
        prior, dist = interpolate_lines(u[:, k], well[:, k])
        # neighbouring lines are close in readout time, but the correlation of the
        # per-output part fades: far from measured lines the prior returns to the pedestal
        prior *= rho(dist)
        borrow = (n[:, k] < min_pixels) & valid_s
        if gain_s is not None and borrow.any() and well[:, k].sum() >= 2:
            # follow only the shared part of the deviation of s (the other outputs' own
            # parts are not this output's): s + prior - (1 - gain) (s - s between its lines)
            s_k, _ = interpolate_lines(s_safe, well[:, k])
            prior -= np.where(borrow, (1.0 - gain_s) * (s_safe - s_k), 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            # (channel-lines with fewer than ``min_pixels`` clean pixels are not measured:
            # they borrow entirely; their few pixels' mean may hold a background
            # extrapolated from far along the line, not white noise only)
            g = np.where(n[:, k] >= min_pixels, tau2 / (tau2 + noise[:, k]), 0.0)
        g = np.nan_to_num(g)
        u_hat[:, k] = prior + g * (u[:, k] - prior)
        var_u[:, k] = np.where(n[:, k] > 0, (1.0 - g) * tau2, tau2)
    offset = s[:, None] + ped[None, :] + u_hat
    variance = var_s[:, None] + var_u
    n_borrowed = int(((n < min_pixels) & valid_s[:, None]).sum())
    return LineModel(offset, variance, n_interp, n_borrowed, float(np.sqrt(tau2)))


def _moments(x: np.ndarray, sigma: float, n_moments: int) -> np.ndarray:
    """Kernel-weighted moments about every line: ``sum_j x_j K(j-l) ((j-l)/sigma)**k``.

    Parameters
    ----------
    x : numpy.ndarray, shape (n,)
        Series (the weights, or weights times values).
    sigma : float
        Gaussian kernel width, lines.
    n_moments : int
        Moments ``k = 0 .. n_moments - 1``.

    Returns
    -------
    numpy.ndarray, shape (n_moments, n)
    """
    n = x.shape[0]
    # Gaussian kernel of peak 1 (so that the moment 0 of the weights counts data), no wider
    # than the series; zeros beyond the ends handle edges and any width
    radius = _kernel_radius(n, sigma)
    out = np.empty((n_moments, n))
    if radius <= 48:
        d = np.arange(-radius, radius + 1, dtype=float)
        base = np.exp(-0.5 * (d / sigma) ** 2)
        for k in range(n_moments):
            out[k] = correlate1d(x, base * (d / sigma) ** k, mode="constant", cval=0.0)
        return out
    # long kernels: by FFT (a correlation is a convolution with the reversed kernel), the
    # series transformed once, one kernel at a time, every kernel's transform made just
    # before it is used: they are several times the series' length, and on windows with few
    # pixels per line a series of lines is not small next to the data (peak memory)
    size = next_fast_len(n + 2 * radius)
    xf = rfft(x, size)
    for k in range(n_moments):
        kf = rfft(_reversed_kernel(radius, sigma, k, size))
        kf *= xf
        out[k] = irfft(kf, size)[radius : radius + n]
        del kf
    return out


#: Transform length up to which :func:`smooth_lines` takes the moments of the data and of
#: the weights together (:func:`_moment_pair`: the binned series of :func:`choose_scale`);
#: longer series keep fewer arrays alive (peak memory of windows with many short lines).
_PAIR_SIZE = 1024


def _kernel_radius(n: int, sigma: float) -> int:
    """Kernel half-width of :func:`_moments`, lines: 4 sigma, no wider than the series."""
    return int(min(np.ceil(4.0 * sigma), max(n - 1, 1)))


def _pair_size(n: int, sigma: float) -> int:
    """Transform length of :func:`_moments` for ``n`` lines (``n`` for direct kernels)."""
    radius = _kernel_radius(n, sigma)
    return n if radius <= 48 else next_fast_len(n + 2 * radius)


def _moment_pair(
    a: np.ndarray, b: np.ndarray, sigma: float, n_a: int, n_b: int
) -> tuple[np.ndarray, np.ndarray]:
    """``_moments(a, sigma, n_a)`` and ``_moments(b, sigma, n_b)`` (``n_a <= n_b``).

    The same values, bit for bit: the same operations, with each kernel (and its transform)
    made once for both series instead of once per series (the moments of the data and of the
    weights of :func:`smooth_lines` share their kernels).

    Parameters
    ----------
    a, b : numpy.ndarray, shape (n,)
    sigma : float
        Gaussian kernel width, lines.
    n_a, n_b : int
        Moments of ``a`` and of ``b``.

    Returns
    -------
    tuple of numpy.ndarray, shapes (n_a, n) and (n_b, n)
    """
    n = a.shape[0]
    radius = _kernel_radius(n, sigma)
    out_a, out_b = np.empty((n_a, n)), np.empty((n_b, n))
    if radius <= 48:
        d = np.arange(-radius, radius + 1, dtype=float)
        base = np.exp(-0.5 * (d / sigma) ** 2)
        for k in range(max(n_a, n_b)):
            ker = base * (d / sigma) ** k
            if k < n_a:
                out_a[k] = correlate1d(a, ker, mode="constant", cval=0.0)
            if k < n_b:
                out_b[k] = correlate1d(b, ker, mode="constant", cval=0.0)
        return out_a, out_b
    size = next_fast_len(n + 2 * radius)
    af, bf = rfft(a, size), rfft(b, size)
    cached = size <= _CACHED_KERNEL_SIZE
    for k in range(max(n_a, n_b)):
        if cached:  # (read-only: not multiplied in place)
            kf = _kernel_transform(radius, float(sigma), k, size)
        else:
            kf = rfft(_reversed_kernel(radius, sigma, k, size))
        if k < n_a:
            out_a[k] = irfft(kf * af, size)[radius : radius + n]
        if k < n_b:
            if cached:
                kf = kf * bf
            else:
                kf *= bf
            out_b[k] = irfft(kf, size)[radius : radius + n]
    return out_a, out_b


@functools.lru_cache(maxsize=128)
def _kernel_transform(radius: int, sigma: float, k: int, size: int) -> np.ndarray:
    """``rfft`` of :func:`_reversed_kernel` (cached; read-only), shape (size // 2 + 1,)."""
    kf = rfft(_reversed_kernel(radius, sigma, k, size))
    kf.flags.writeable = False
    return kf


def _reversed_kernel(radius: int, sigma: float, k: int, size: int) -> np.ndarray:
    """``exp(-u**2 / 2) * u**k`` at ``u = d / sigma``, ``d = radius .. -radius``, zero-padded.

    Returns
    -------
    numpy.ndarray, shape (size,)
        The reversed kernel of moment ``k``, followed by zeros.
    """
    buf = np.zeros(size)
    u = np.arange(radius, -radius - 1, -1, dtype=float)
    u /= sigma
    ker = buf[: u.size]
    np.square(u, out=ker)
    ker *= -0.5
    np.exp(ker, out=ker)
    ker *= u**k
    return buf


def smooth_lines(
    values: np.ndarray,
    weights: np.ndarray,
    sigma: float,
    *,
    hat: bool = False,
    degree: int = 1,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local-polynomial Gaussian smoothing of a line series (handles gaps and edges).

    At each line, the weighted least-squares polynomial of ``degree`` (0: a constant, 1: a
    straight line, 2: a parabola) through the data with Gaussian kernel weights of width ``sigma`` is
    evaluated. A polynomial of that degree is reproduced exactly, also at the edges and across
    gaps; degree 2 also follows the curvature of a broad bump without flattening its top.
    Where the data cannot constrain the polynomial, a lower degree is used.

    Parameters
    ----------
    values : numpy.ndarray, shape (n_lines,)
    weights : numpy.ndarray, shape (n_lines,)
        Non-negative weights; 0 where there is no data.
    sigma : float
        Kernel width, lines.
    hat : bool
        Also return the leverage (see below).
    degree : int
        0 (a local constant: a slope is not followed), 1 or 2.

    Returns
    -------
    smooth : numpy.ndarray, shape (n_lines,)
        Zeros if there is no data at all.
    wsum : numpy.ndarray, shape (n_lines,)
        Sum of the weights under a Gaussian kernel of peak 1 at each line (the effective
        amount of data).
    leverage : numpy.ndarray, shape (n_lines,)
        Only with ``hat=True``: the diagonal of the smoother's hat matrix (the weight of each
        value in its own smoothed value), for choosing ``sigma`` by unbiased risk.
    """
    n = values.shape[0]
    w = np.where(np.isfinite(values), np.asarray(weights, dtype=np.float64), 0.0)
    y = np.where(w > 0, values, 0.0)
    if n == 0 or not np.any(w > 0):
        return (np.zeros(n), np.zeros(n), np.zeros(n)) if hat else (np.zeros(n), np.zeros(n))
    sigma = float(min(max(sigma, 0.5), 4.0 * n))
    # the moments of the data first, then those of the weights (fewer series alive at once)
    wy = w * y
    del y
    total = float(w.sum())
    fallback = float(wy.sum() / total)
    if _pair_size(n, sigma) <= _PAIR_SIZE:  # short series: each kernel made once for both
        t, m = _moment_pair(wy, w, sigma, degree + 1, 2 * degree + 1)
        del wy
    else:
        t = _moments(wy, sigma, degree + 1)
        del wy
        m = _moments(w, sigma, 2 * degree + 1)
    out = np.full(n, fallback)
    inv00 = np.full(n, 1.0 / total)  # (S^-1)_00 of the fallback (the global mean)
    # degree 0, then 1 (, then 2) where the moments constrain it
    ok0 = m[0] > 1e-12 * total
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(ok0, t[0] / m[0], out)
        inv00 = np.where(ok0, 1.0 / m[0], inv00)
        if degree >= 1:
            det1 = m[0] * m[2] - m[1] * m[1]
            ok1 = det1 > 1e-9 * np.maximum(m[0] * m[2], 1e-300)
            out = np.where(ok1, (m[2] * t[0] - m[1] * t[1]) / det1, out)
            inv00 = np.where(ok1, m[2] / det1, inv00)
    if degree >= 2:
        mat = np.stack(
            [
                np.stack([m[0], m[1], m[2]], -1),
                np.stack([m[1], m[2], m[3]], -1),
                np.stack([m[2], m[3], m[4]], -1),
            ],
            axis=-2,
        )  # (n, 3, 3)
        cof00 = m[2] * m[4] - m[3] * m[3]
        det2 = np.linalg.det(mat)
        ok2 = ok1 & (det2 > 1e-9 * np.maximum(m[0] * m[2] * m[4], 1e-300))
        if ok2.any():
            beta = np.linalg.solve(mat[ok2], t[:, ok2].T[..., None])[..., 0]
            out[ok2] = beta[:, 0]
            inv00[ok2] = cof00[ok2] / det2[ok2]
    out = np.where(np.isfinite(out), out, fallback)
    wsum = m[0].copy()  # not a view that keeps all the moments alive in the caller
    if not hat:
        return out, wsum
    return out, wsum, np.nan_to_num(w * inv00)


def choose_smoothing(
    values: np.ndarray,
    variance: np.ndarray,
    scales: np.ndarray,
    *,
    degree: int = 1,
    level: bool = False,
) -> tuple[np.ndarray, float]:
    """Local-polynomial smooth of a noisy series at the scale of least estimated risk.

    For each candidate scale, Stein's unbiased risk estimate
    ``sum((y - f)**2 / v) + 2 * trace(H) - n`` (``H`` the smoother's hat matrix) estimates
    the error of the smooth ``f`` against the noise-free series; the smallest wins. The
    series is thus smoothed as much as its own structure and noise allow.

    Parameters
    ----------
    values : numpy.ndarray, shape (n_lines,)
    variance : numpy.ndarray, shape (n_lines,)
        Noise variance of each value; ``inf`` where there is no value.
    scales : numpy.ndarray
        Candidate Gaussian widths, lines.
    degree : int
        Local polynomial degree (see :func:`smooth_lines`). 2 follows the top of a broad
        emission band better, but on the simulator's cases it also took slow stripe modes
        for sky (aperture bias on ``nircam_full_stars`` -0.14 -> -0.22 %, grism strip 1.8 ->
        3.9 x oracle), so the destriper uses 1.
    level : bool
        Also a candidate: the local constant (degree 0) at the broadest scale, nearly one
        level for the whole series. A straight line costs one degree of freedom more; the
        risk keeps its slope only where the data show it.

    Returns
    -------
    smooth : numpy.ndarray, shape (n_lines,)
    scale : float
        The chosen width, lines.
    """
    ok = np.isfinite(variance) & (variance > 0) & np.isfinite(values)
    w = np.where(ok, 1.0 / np.where(ok, variance, 1.0), 0.0)
    y = np.where(ok, values, 0.0)
    best = None
    cands = [(float(sc), degree) for sc in scales]
    if level and len(cands):
        cands.append((float(np.max(scales)), 0))
    for sc, deg in cands:
        f, _, lev = smooth_lines(y, w, sc, hat=True, degree=deg)
        risk = float((w * (y - f) ** 2).sum() + 2.0 * lev.sum() - ok.sum())
        if best is None or risk < best[0]:
            best = (risk, f, sc)
    return best[1], best[2]


def choose_scale(
    values: np.ndarray, variance: np.ndarray, scales: np.ndarray, *, bin_lines: int = 1
) -> float:
    """The scale of least estimated risk of :func:`choose_smoothing`, found on line bins.

    The values are first averaged in bins of ``bin_lines`` lines (inverse-variance weights),
    which for scales of several bins changes the risk of each candidate very little and
    makes the search ``bin_lines`` times cheaper.

    Parameters
    ----------
    values : numpy.ndarray, shape (n_lines,)
    variance : numpy.ndarray, shape (n_lines,)
        Noise variance of each value; ``inf`` where there is no value.
    scales : numpy.ndarray
        Candidate Gaussian widths, lines (best several times ``bin_lines``).
    bin_lines : int
        Lines per bin; 1 searches on the lines themselves.

    Returns
    -------
    float
        The chosen width, lines.
    """
    b = max(int(bin_lines), 1)
    if b == 1:
        return choose_smoothing(values, variance, scales)[1]
    ok = np.isfinite(variance) & (variance > 0) & np.isfinite(values)
    w = np.where(ok, 1.0 / np.where(ok, variance, 1.0), 0.0)
    y = np.where(ok, values, 0.0)
    n_bins = -(-y.size // b)
    pad = n_bins * b - y.size
    wb = np.pad(w, (0, pad)).reshape(n_bins, b).sum(axis=1)
    yb = np.pad(w * y, (0, pad)).reshape(n_bins, b).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        vb = np.where(wb > 0, 1.0 / wb, np.inf)
        yb = np.where(wb > 0, yb / np.maximum(wb, 1e-300), 0.0)
    return b * choose_smoothing(yb, vb, np.asarray(scales, dtype=float) / b)[1]
