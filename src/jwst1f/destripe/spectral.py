"""Wiener filtering of line-offset series across lines (in readout order).

The offset measured on one line is the 1/f stripe of that line plus the white-noise error of
the mean of its clean pixels. The stripes are pink noise sampled once per line: their power
falls as ``1 / f**alpha`` with the line frequency, so at high line frequencies the measurement
error dominates, and subtracting the raw measurement would *add* that error to the image as new
(white) stripes. The best linear estimate of the stripes, given their spectrum and the
per-line errors, is the Wiener (Gaussian-process) posterior mean; it keeps the slow, strong
modes and damps only the frequencies where the error dominates.

* The spectrum is estimated per series from the data: a pink-plus-white model
  ``P(k) = A k**-alpha + c * N`` is fitted to the log-binned power of the series' cosine
  transform (``N`` the mean measurement variance, ``c`` a free noise scale in [0.5, 2] that
  absorbs an imperfect noise estimate).
* Lines with different errors (and lines with no measurement at all) are handled exactly: the
  posterior mean solves ``(C^-1 + D^-1) x = D^-1 y`` with ``C`` the stripe covariance (diagonal
  in the cosine basis: reflective ends, no wrap-around) and ``D`` the diagonal error
  variances, by preconditioned conjugate gradients. Unmeasured lines are interpolated by the
  same model (weight zero).

No part depends on a particular simulator: the spectrum is measured, and where it shows no
stripe power above the noise the filter leaves the series unchanged (``fit_line_spectrum``
returns None) rather than guessing.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import fftpack
from scipy.fft import dct

__all__ = ["LineSpectrum", "Workspace", "fit_line_spectrum", "fit_power", "wiener_lines"]

#: Fewest lines for which a spectrum is fitted.
_MIN_LINES = 32
#: Spectral indices tried (pink noise has alpha ~ 1).
_ALPHAS = np.linspace(0.0, 3.0, 61)
#: Fisher-scoring steps of the spectral fit.
_SCORING_STEPS = 8
#: Allowed range of the factor on the measured white-noise variance.
_NOISE_SCALE = (0.5, 2.0)
#: Relative width of the log-spaced bins of cosine modes used in the spectral fit.
_BIN_FRAC = 0.05
#: Likelihood-ratio statistic (stripes vs white noise alone) needed to filter, ~5 sigma.
_MIN_LIKELIHOOD_RATIO = 25.0
#: Elements (alphas x bins) per block of the spectral fit's temporaries (memory).
_FIT_CHUNK = 2048


class LineSpectrum:
    """Fitted stripe spectrum of one series, in cosine-transform modes.

    Attributes
    ----------
    amplitude : float
        ``A`` of ``A k**-alpha``, units of the series squared.
    alpha : float
        Spectral index.
    noise : float
        Mean measurement variance ``N`` of the series, units squared.
    noise_scale : float
        Fitted factor ``c`` on ``N``.
    significance : float
        Likelihood-ratio statistic of the fit against white noise alone.
    """

    __slots__ = ("amplitude", "alpha", "noise", "noise_scale", "significance", "length")

    def __init__(self, amplitude, alpha, noise, noise_scale, significance, length):
        self.amplitude = float(amplitude)
        self.alpha = float(alpha)
        self.noise = float(noise)
        self.noise_scale = float(noise_scale)
        self.significance = float(significance)
        self.length = int(length)

    def power(self, n: int, out: np.ndarray | None = None) -> np.ndarray:
        """Stripe power per cosine mode ``k = 0..n-1`` of a series of ``n`` samples.

        The spectrum was fitted on series of ``length`` samples; mode ``k`` of ``n`` samples
        has the frequency of mode ``k * length / n`` there (the power per mode of a
        stationary series depends on frequency only). Mode 0, the mean, is unconstrained.

        Parameters
        ----------
        n : int
            Samples of the series.
        out : numpy.ndarray of float64, shape (n,), optional
            Where to write the result.

        Returns
        -------
        numpy.ndarray, shape (n,)
            Units of the series squared; ``inf`` for ``k = 0``.
        """
        out = np.empty(n) if out is None else out
        np.multiply(np.arange(n, dtype=float), self.length / n, out=out)  # k
        k = out[1:]
        k **= -self.alpha
        k *= self.amplitude
        out[0] = np.inf
        return out


@functools.lru_cache(maxsize=16)
def _bins(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bins about ``_BIN_FRAC`` wide in log k of the cosine modes ``k = 1..n-1``.

    Returns
    -------
    starts : numpy.ndarray of int, shape (n_bins,)
        Index (into the modes 1..n-1) of each bin's first mode.
    count : numpy.ndarray, shape (n_bins,)
        Modes per bin.
    pink : numpy.ndarray, shape (len(_ALPHAS), n_bins)
        ``k**-alpha`` at the bins' geometric-centre modes for every alpha of the grid.
    """
    edges = [1]
    while edges[-1] < n:
        edges.append(max(edges[-1] + 1, int(edges[-1] * (1.0 + _BIN_FRAC))))
    edges[-1] = n
    e = np.asarray(edges)
    logk = 0.5 * (np.log(e[:-1]) + np.log(e[1:] - 1.0))
    pink = np.exp(-_ALPHAS[:, None] * logk[None, :])
    return e[:-1] - 1, np.diff(e).astype(float), pink


def fit_line_spectrum(y: np.ndarray, noise: float) -> LineSpectrum | None:
    """Fit ``A k**-alpha + c N`` to the cosine-mode powers of a (gap-filled) line series.

    Maximum (Whittle) likelihood of the binned powers over ``A >= 0``, ``alpha`` in [0, 3]
    (a grid) and ``c`` in [0.5, 2];
    the stripe term is kept only if it improves the likelihood significantly over white
    noise alone (likelihood-ratio statistic above 25, about 5 sigma).

    Parameters
    ----------
    y : numpy.ndarray, shape (n_lines,)
        Series of line offsets with gaps already filled (e.g. linearly), units of the data.
    noise : float
        Mean white measurement variance of one value, units squared.

    Returns
    -------
    LineSpectrum or None
        None if the series is too short, the noise is unknown, or no stripe power is
        detected above the noise (the filter is then not applied).
    """
    if y.shape[0] < _MIN_LINES:
        return None
    return fit_power(dct(y - y.mean(), type=2, norm="ortho")[1:] ** 2, noise)


def _fit_filled(y: np.ndarray, noise: float) -> LineSpectrum | None:
    """:func:`fit_line_spectrum` of a float64 series that may be overwritten (memory)."""
    if y.shape[0] < _MIN_LINES:
        return None
    y -= y.mean()
    return fit_power(dct(y, type=2, norm="ortho", overwrite_x=True)[1:] ** 2, noise)


def fit_power(power: np.ndarray, noise: float, *, n_series: int = 1) -> LineSpectrum | None:
    """The fit of :func:`fit_line_spectrum`, on given cosine-mode powers.

    Parameters
    ----------
    power : numpy.ndarray, shape (n - 1,)
        Power of the orthonormal cosine modes ``k = 1..n-1`` of a series of ``n`` samples,
        averaged over ``n_series`` independent series of that length (Welch), units squared.
    noise : float
        Mean white measurement variance of one value, units squared.
    n_series : int
        Number of series averaged.

    Returns
    -------
    LineSpectrum or None
    """
    n = power.size + 1
    if n < _MIN_LINES or not np.isfinite(noise) or noise <= 0:
        return None
    starts, modes, pink = _bins(n)
    pbin = np.add.reduceat(power, starts) / modes
    count = modes * n_series  # independent powers behind each bin
    # white noise only: the ML noise scale is the mean power, clipped to the allowed range
    lo, hi = _NOISE_SCALE
    c0 = float(np.clip(power.mean() / noise, lo, hi))
    nll_white = 0.5 * n_series * float(np.sum(np.log(c0 * noise) + power / (c0 * noise)))
    # For a given alpha the model is linear in (A, c N): Fisher scoring (iteratively
    # reweighted least squares, weights count / P^2) for all alphas of a grid at once,
    # projected on A >= 0 and c in the allowed range after each step.
    # The alphas are independent: a few at a time, so that the (alphas, bins) temporaries
    # stay small next to the data of small windows (peak memory).
    amp = np.full(_ALPHAS.size, max(float(pbin[:4].mean()), noise))
    c = np.full(_ALPHAS.size, c0)
    nll = np.empty(_ALPHAS.size)
    rows = max(1, _FIT_CHUNK // pbin.size)
    for i0 in range(0, _ALPHAS.size, rows):
        sl = slice(i0, i0 + rows)
        pk, a_k, c_k = pink[sl], amp[sl], c[sl]
        for _ in range(_SCORING_STEPS):
            model = a_k[:, None] * pk
            model += (c_k * noise)[:, None]
            w = np.divide(count, np.square(model, out=model), out=model)  # count / model**2
            wp = w * pk
            s_aa = (wp * pk).sum(axis=1)
            s_ac = wp.sum(axis=1) * noise
            s_cc = w.sum(axis=1) * noise * noise
            t_a = (wp * pbin).sum(axis=1)
            t_c = (w * pbin).sum(axis=1) * noise
            del model, w, wp
            det = s_aa * s_cc - s_ac * s_ac
            with np.errstate(invalid="ignore", divide="ignore"):
                c_k = np.clip(np.where(det > 0, (s_aa * t_c - s_ac * t_a) / det, c_k), lo, hi)
                a_k = np.maximum((t_a - s_ac * c_k) / s_aa, 0.0)
        model = a_k[:, None] * pk
        model += (c_k * noise)[:, None]
        term = np.log(model)  # count * (log(model) + pbin / model)
        term += np.divide(pbin, model, out=model)
        term *= count
        nll[sl] = 0.5 * term.sum(axis=1)
        del model, term
        amp[sl], c[sl] = a_k, c_k
    best = int(np.argmin(nll))
    lr = 2.0 * (nll_white - float(nll[best]))
    if not np.isfinite(lr) or lr < _MIN_LIKELIHOOD_RATIO or amp[best] <= 0:
        return None
    return LineSpectrum(amp[best], _ALPHAS[best], noise, c[best], lr, n)


class Workspace:
    """Arrays carved one after the other from a caller's scratch buffer (memory).

    Where the buffer is too small (or absent), arrays are allocated as usual. Arrays taken
    after a :meth:`mark` are given back by :meth:`release` (a stack).

    Parameters
    ----------
    buf : numpy.ndarray or None
        Any C- or Fortran-contiguous array whose contents may be overwritten.
    """

    def __init__(self, buf: np.ndarray | None = None):
        flat = None
        if buf is not None:
            if buf.flags.c_contiguous:
                flat = buf.reshape(-1).view(np.uint8)
            elif buf.flags.f_contiguous:
                flat = buf.T.reshape(-1).view(np.uint8)
        self._buf = flat
        self._pos = 0

    def empty(self, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
        """An uninitialised C-ordered array, in the buffer if it fits (8-byte aligned)."""
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        start = -(-self._pos // 8) * 8
        if self._buf is None or start + nbytes > self._buf.size:
            return np.empty(shape, dtype=dtype)
        self._pos = start + nbytes
        return self._buf[start : start + nbytes].view(dtype).reshape(shape)

    def mark(self) -> int:
        """Current position, for :meth:`release`."""
        return self._pos

    def release(self, mark: int) -> None:
        """Give back the arrays taken since ``mark`` (they must no longer be used)."""
        self._pos = mark


def wiener_lines(
    y: np.ndarray,
    noise_var: np.ndarray,
    *,
    max_iter: int = 100,
    tol: float = 1e-5,
    spectra: list[LineSpectrum | None] | None = None,
    work: Workspace | None = None,
    scaled: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[LineSpectrum | None]]:
    """Wiener (posterior-mean) estimate of stripe series from noisy line measurements.

    Parameters
    ----------
    y : numpy.ndarray, shape (n_lines, n_series)
        Measured offsets per line (any value where unmeasured), units of the data.
    noise_var : numpy.ndarray, shape (n_lines, n_series)
        Variance of each measurement, units squared; ``inf`` (or non-positive/non-finite)
        where the line has no measurement.
    max_iter : int
        Conjugate-gradient iterations at most.
    tol : float
        Relative residual at which the iterations stop.
    spectra : list of LineSpectrum or None, optional
        Spectra to use (one per series; None: not filtered) instead of fitting them.
    work : Workspace, optional
        Scratch memory for the work arrays (each of the shape of ``y``, float64). The
        returned estimate and variance may then be views of it.
    scaled : bool
        Precondition the conjugate gradients with the measurements' weights line by line
        too (see :func:`_pcg`): for series whose measured lines differ much in weight
        (the shared series of a frame with extended emission: 8 iterations instead of 55),
        at two transform pairs per iteration instead of one. Series with long unmeasured
        runs (the pixel-clock series of the timeline model) converge faster without.

    Returns
    -------
    estimate : numpy.ndarray, shape (n_lines, n_series)
        Filtered series. A series whose spectrum could not be fitted (too short, no stripe
        power above the noise, fewer than a quarter of its lines measured) is returned
        unchanged on measured lines and linearly interpolated elsewhere.
    variance : numpy.ndarray, shape (n_lines, n_series)
        Approximate posterior variance of each estimate, units squared.
    spectra : list of LineSpectrum or None
        The fitted spectrum of each series (None where not filtered).
    """
    work = work or Workspace()
    y = np.asarray(y, dtype=np.float64)
    nv = np.asarray(noise_var, dtype=np.float64)
    n, m = y.shape
    valid = np.isfinite(nv) & (nv > 0) & np.isfinite(y)
    # (the work arrays are filled in place: on short windows the series are not small next
    # to the data, and the conjugate gradients hold several of them at once)
    est = work.empty((n, m))
    est[...] = 0.0
    np.copyto(est, y, where=valid)
    var = work.empty((n, m))
    var[...] = np.inf
    np.copyto(var, nv, where=valid)
    given = spectra
    spectra = []
    lam = work.empty((n, m))
    lam[...] = 0.0
    weight = work.empty((n, m))
    weight[...] = 0.0
    active = []
    for j in range(m):
        ok = valid[:, j]
        spec = None
        if given is not None:
            spec = given[j] if ok.any() else None
        elif ok.sum() >= max(_MIN_LINES, n // 4):
            good = np.flatnonzero(ok)
            filled = np.interp(np.arange(n), good, y[good, j])
            del good
            nbar = float(nv[ok, j].mean())
            spec = _fit_filled(filled, nbar)  # fit_line_spectrum, in place on our copy
            del filled
        spectra.append(spec)
        if spec is None:
            good = np.flatnonzero(ok)
            if good.size:
                est[:, j] = np.interp(np.arange(n), good, y[good, j])
                var[~ok, j] = float(np.var(y[good, j])) if good.size > 1 else 0.0
            continue
        nref = float(nv[ok, j].min())
        mark = work.mark()
        s = spec.power(n, out=work.empty((n,)))
        # the fitted noise scale applies to every measurement's variance (in place:
        # ``where(isfinite(s), scale * nref / maximum(s, 1e-300), 0)``)
        lam_j = lam[:, j]
        np.maximum(s, 1e-300, out=lam_j)
        np.divide(spec.noise_scale * nref, lam_j, out=lam_j)
        lam_j[~np.isfinite(s)] = 0.0
        w_j = weight[:, j]  # where(ok, nref / nv, 0)
        w_j[...] = 1.0
        np.copyto(w_j, nv[:, j], where=ok)
        np.divide(nref, w_j, out=w_j)
        w_j[~ok] = 0.0
        active.append(j)
        # approximate posterior variance: the stationary one for this series' mean noise,
        # combined per line with that line's own measurement
        sk = s[1:]
        nbar = spec.noise_scale * float(nv[ok, j].mean())
        num, den = work.empty(sk.shape), work.empty(sk.shape)
        np.multiply(sk, nbar, out=num)
        np.add(sk, nbar, out=den)
        v_post = float(np.mean(np.divide(num, den, out=num)))
        del s, sk, num, den
        work.release(mark)
        v_prior = 1.0 / max(1.0 / v_post - 1.0 / nbar, 1e-300) if v_post > 0 else 0.0
        v_j = var[:, j]  # where(ok, 1 / (1 / (scale * nv) + 1 / v_prior), v_prior)
        with np.errstate(divide="ignore"):
            np.multiply(spec.noise_scale, nv[:, j], out=v_j)
            np.divide(1.0, v_j, out=v_j)
            v_j += 1.0 / max(v_prior, 1e-300)
            np.divide(1.0, v_j, out=v_j)
        v_j[~ok] = v_prior
    if not active:
        return est, var, spectra
    if len(active) == m:  # every series: no copies
        yw = work.empty((n, m))
        np.multiply(y, weight > 0, out=yw)
        est[...] = _pcg(yw, weight, lam, max_iter, tol, work, scaled=scaled)
        return est, var, spectra
    cols = np.asarray(active)
    x = _pcg(
        y[:, cols] * (weight[:, cols] > 0),
        weight[:, cols],
        lam[:, cols],
        max_iter,
        tol,
        scaled=scaled,
    )
    est[:, cols] = x
    return est, var, spectra


#: Floor of the scaled preconditioner's line weights, as a fraction of their mean: lines
#: without a measurement (weight 0) are preconditioned as if weakly measured. Iterations on
#: the extended field's shared series (weights 0.02-1): 8 at 0.02, 15 at 0.1, 25 at 0.3.
_PRECOND_FLOOR = 0.02


def _pcg(y, w, lam, max_iter, tol, work=None, *, scaled=False):
    """Solve ``(L + W) x = W y`` per column; ``L`` diagonal ``lam`` in the cosine basis.

    Conjugate gradients carried out in the (orthonormal) cosine basis, preconditioned with
    ``(L + w̄)^-1``, ``w̄ = mean(W)`` (diagonal there; exact when all weights are equal): one
    transform pair per iteration. With ``scaled``, the preconditioner is
    ``S^-1/2 (L + w̄)^-1 S^-1/2`` with ``S = W / w̄`` (a diagonal in line space, floored at
    :data:`_PRECOND_FLOOR`): still exact for equal weights, and right both where the prior
    dominates (slow modes: ``L^-1``) and where the measurements do (fast modes: ``W^-1``),
    at two transform pairs per iteration. ``y`` is
    overwritten; the work arrays are taken from ``work`` and updated in place (the
    transforms too), so that few arrays of the series' size exist at once.
    """
    work = work or Workspace()
    shape = y.shape

    # (``scipy.fftpack``'s transforms: the same pocketfft transforms as ``scipy.fft``'s,
    # bit for bit, without the backend dispatch, a third of a transform of a few thousand
    # lines; two per iteration)
    def fwd(v):  # in place
        return fftpack.dct(v, type=2, norm="ortho", axis=0, overwrite_x=True)

    def inv(v):
        return fftpack.idct(v, type=2, norm="ortho", axis=0, overwrite_x=True)

    def apply_a(vh, out, tmp):
        """``lam * vh + fwd(w * inv(vh))`` into ``out`` (``tmp``: scratch)."""
        np.copyto(out, vh)
        t = inv(out)
        t *= w
        t = fwd(t)
        np.multiply(lam, vh, out=tmp)
        np.add(tmp, t, out=out)
        return out

    wbar = np.maximum(w.mean(axis=0, keepdims=True), 1e-300)
    pre = work.empty(shape)  # (L / w̄ + 1)^-1 / w̄ = (L + w̄)^-1, in the cosine basis
    np.add(lam, wbar, out=pre)
    np.divide(1.0, pre, out=pre)
    if scaled:
        root = work.empty(shape)  # S^-1/2 = sqrt(w̄ / max(W, floor w̄)), in line space
        np.maximum(w, _PRECOND_FLOOR * wbar, out=root)
        np.divide(wbar, root, out=root)
        np.sqrt(root, out=root)

    def precondition(v, out):
        """``out = S^-1/2 (L + w̄)^-1 S^-1/2 v`` (``v`` and ``out`` in the cosine basis)."""
        if not scaled:
            return np.multiply(pre, v, out=out)
        np.copyto(out, v)
        t = inv(out)
        t *= root
        t = fwd(t)
        t *= pre
        t = inv(t)
        t *= root
        return fwd(t)

    y *= w
    b = fwd(y)
    x = work.empty(shape)
    r = work.empty(shape)
    tmp = work.empty(shape)
    precondition(b, x)
    apply_a(x, r, tmp)
    np.subtract(b, r, out=r)
    bnorm = np.sqrt(np.multiply(b, b, out=tmp).sum(axis=0)) + 1e-300
    del b
    z = work.empty(shape)
    precondition(r, z)
    p = work.empty(shape)
    np.copyto(p, z)
    rz = np.multiply(r, z, out=tmp).sum(axis=0)
    ap = y  # no longer needed: scratch
    # one series (the callers' case): the per-series scalars as Python floats, the same
    # IEEE operations as the array expressions below, without their per-call overhead
    one = shape[1] == 1
    _add = np.add.reduce  # (what ``ndarray.sum`` calls)
    for _ in range(max_iter):
        rr = _add(np.multiply(r, r, out=tmp), axis=0)
        if (math.sqrt(rr[0]) <= tol * bnorm[0]) if one else np.all(np.sqrt(rr) <= tol * bnorm):
            break
        apply_a(p, ap, tmp)
        pap = _add(np.multiply(p, ap, out=tmp), axis=0)
        if one:
            alpha = float(rz[0] / pap[0]) if pap[0] > 0 else 0.0
        else:
            alpha = np.where(pap > 0, rz / np.where(pap > 0, pap, 1.0), 0.0)
        x += np.multiply(alpha, p, out=tmp)
        r -= np.multiply(alpha, ap, out=ap)
        precondition(r, z)
        rz_new = _add(np.multiply(r, z, out=tmp), axis=0)
        if one:
            beta = float(rz_new[0] / rz[0]) if rz[0] > 0 else 0.0
        else:
            beta = np.where(rz > 0, rz_new / np.where(rz > 0, rz, 1.0), 0.0)
        p *= beta
        p += z
        rz = rz_new
    return inv(x)
