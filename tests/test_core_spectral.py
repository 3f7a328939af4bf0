"""Wiener filtering of line-offset series and the risk-chosen sky smoothing."""

from __future__ import annotations

import numpy as np
import pytest

from jwst1f.destripe.linemodel import choose_scale, choose_smoothing, smooth_lines
from jwst1f.destripe.spectral import Workspace, fit_line_spectrum, wiener_lines


def _pink(rng: np.random.Generator, n: int, alpha: float = 1.0) -> np.ndarray:
    """Unit-rms noise with power ~ f**-alpha (circular, cut to n)."""
    f = np.fft.rfftfreq(2 * n)
    f[0] = f[1]
    spec = (rng.normal(size=f.size) + 1j * rng.normal(size=f.size)) * f ** (-alpha / 2)
    x = np.fft.irfft(spec, 2 * n)[:n]
    return x / x.std()


@pytest.mark.parametrize("alpha", [0.7, 1.0, 1.5])
def test_fit_recovers_spectral_index(alpha):
    rng = np.random.default_rng(3)
    y = 2.0 * _pink(rng, 2048, alpha) + rng.normal(size=2048)
    spec = fit_line_spectrum(y, 1.0)
    assert spec is not None
    assert abs(spec.alpha - alpha) < 0.3
    assert 0.7 < spec.noise_scale < 1.4


def test_fit_declines_white_noise():
    rng = np.random.default_rng(4)
    assert fit_line_spectrum(rng.normal(size=2048), 1.0) is None


def test_wiener_beats_raw_and_handles_gaps():
    rng = np.random.default_rng(5)
    n = 2048
    truth = np.stack([0.7 * _pink(rng, n) for _ in range(3)], axis=1)
    nv = np.ones((n, 3))
    nv[::5, 1] = 9.0  # some lines much noisier
    nv[500:540, 2] = np.inf  # a gap: no measurement
    y = truth + rng.normal(size=(n, 3)) * np.sqrt(np.where(np.isfinite(nv), nv, 1.0))
    est, var, specs = wiener_lines(y, nv)
    assert all(s is not None for s in specs)
    measured = np.isfinite(nv)
    raw_err = np.sqrt(np.mean((y - truth)[measured] ** 2))
    err = np.sqrt(np.mean((est - truth)[measured] ** 2))
    assert err < 0.8 * raw_err
    # inside the gap the estimate follows the slow stripes better than a constant would
    gap = slice(500, 540)
    assert np.sqrt(np.mean((est[gap, 2] - truth[gap, 2]) ** 2)) < np.std(truth[:, 2])
    # the predicted variance is of the right size (within a factor 2 of the real error)
    ratio = np.mean((est - truth)[measured] ** 2) / np.mean(var[measured])
    assert 0.5 < ratio < 2.0


def test_wiener_leaves_undetected_series_alone():
    rng = np.random.default_rng(6)
    y = rng.normal(size=(256, 1))
    est, _, specs = wiener_lines(y, np.ones((256, 1)))
    assert specs == [None]
    np.testing.assert_array_equal(est, y)


@pytest.mark.parametrize("degree", [0, 1, 2])
@pytest.mark.parametrize("width", [6.0, 30.0])  # direct and FFT correlation
def test_smooth_lines_leverage_matches_hat_matrix(degree, width):
    rng = np.random.default_rng(7)
    n = 60
    w = rng.uniform(0.5, 2.0, n)
    w[10:14] = 0.0
    _, _, lev = smooth_lines(rng.normal(size=n), w, width, hat=True, degree=degree)
    # the hat matrix column by column: response to unit impulses
    hat_diag = np.array(
        [
            smooth_lines(np.eye(n)[i], w, width, degree=degree)[0][i] if w[i] > 0 else 0.0
            for i in range(n)
        ]
    )
    np.testing.assert_allclose(lev, hat_diag, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("degree", [1, 2])
def test_smooth_lines_reproduces_polynomials_of_its_degree(degree):
    x = np.arange(200, dtype=float)
    w = np.ones(200)
    w[50:90] = 0.0  # a gap
    poly = 0.3 + 0.01 * x + (2e-4 * x**2 if degree == 2 else 0.0)
    out, _ = smooth_lines(poly, w, 10.0, degree=degree)
    np.testing.assert_allclose(out, poly, atol=1e-6)


def test_smooth_lines_degree_zero_keeps_constants_not_slopes():
    """Degree 0 (the sky of NIRSpec windows without reference pixels): a constant is
    reproduced, a slope across the window is not followed at a width of the whole window."""
    x = np.arange(300, dtype=float)
    w = np.ones(300)
    w[100:140] = 0.0
    const, _ = smooth_lines(np.full(300, 0.7), w, 50.0, degree=0)
    np.testing.assert_allclose(const, 0.7, atol=1e-9)
    slope = 0.001 * (x - 150.0)
    flat, _ = smooth_lines(slope, w, 4.0 * 300, degree=0)
    lin, _ = smooth_lines(slope, w, 4.0 * 300, degree=1)
    np.testing.assert_allclose(lin, slope, atol=1e-6)  # degree 1 keeps the slope
    assert np.ptp(flat) < 0.1 * np.ptp(slope)  # degree 0 leaves it in the data


def test_choose_smoothing_prefers_broad_for_smooth_and_fine_for_structure():
    rng = np.random.default_rng(8)
    n = 1024
    x = np.arange(n)
    var = np.full(n, 0.04)
    smooth_sky = 0.3 + 1e-4 * x
    _, broad = choose_smoothing(
        smooth_sky + rng.normal(size=n) * 0.2, var, np.geomspace(4, 4096, 10)
    )
    band = np.where((x > 400) & (x < 480), 1.0, 0.0)  # emission filling 80 lines
    _, fine = choose_smoothing(band + rng.normal(size=n) * 0.2, var, np.geomspace(4, 4096, 10))
    assert broad > 500
    assert fine < 40


def test_choose_scale_on_bins_agrees_with_the_lines():
    """Binning the series before the risk search (cheaper) picks the same scale."""
    rng = np.random.default_rng(9)
    n = 2048
    x = np.arange(n)
    var = np.full(n, 0.04)
    var[:4] = np.inf  # lines without a value
    cands = np.geomspace(32, 4 * n, 10)
    for truth in (0.3 + 1e-4 * x, 0.3 + 0.5 * np.exp(-0.5 * ((x - 900) / 40.0) ** 2)):
        y = truth + rng.normal(size=n) * 0.2
        full = choose_smoothing(y, var, cands)[1]
        assert choose_scale(y, var, cands, bin_lines=8) == full
        assert choose_scale(y, var, cands) == full
    assert full == cands[0]  # the 40-line band: the finest scale


def _clock_series(rng, n_lines, length, overhead=12):
    """Pink noise along a pixel clock, cut into lines (with the pause after each line)."""
    total = n_lines * (length + overhead)
    t = 0.05 * _pink(rng, total, 1.0)
    return t.reshape(n_lines, length + overhead)[:, :length]


def test_timeline_follows_1f_within_lines_and_respects_read_direction():
    from jwst1f.destripe.timeline import timeline_model

    rng = np.random.default_rng(11)
    n_lines, length, sigma = 64, 1024, 0.02
    truth = _clock_series(rng, n_lines, length)
    clean = np.ones((n_lines, length), dtype=bool)
    clean[20:30, 300:700] = False  # a masked source: a gap in the time series
    data = (truth + rng.normal(size=truth.shape) * sigma).astype(np.float32)
    y = data.copy()
    tl = timeline_model(y, clean, np.zeros(n_lines), sigma)
    assert tl is not None
    err = y - truth
    # error of a line-constant model measured on the same clean pixels
    level = (data * clean).sum(axis=1, keepdims=True) / clean.sum(axis=1, keepdims=True)
    line_const = truth - level
    assert np.std(err) < 0.7 * np.std(line_const)
    assert np.std(err[20:30, 300:700]) < np.std(line_const[20:30, 300:700])
    # the same data read right to left and bottom to top, flipped in the array: same model
    y2 = data[::-1, ::-1].copy()
    timeline_model(y2, clean[::-1, ::-1], np.zeros(n_lines), sigma, fast_sign=-1, slow_sign=-1)
    np.testing.assert_allclose(y2[::-1, ::-1], y, atol=1e-5)


def test_timeline_declines_white_noise():
    from jwst1f.destripe.timeline import timeline_model

    rng = np.random.default_rng(12)
    y = rng.normal(size=(64, 512)).astype(np.float32)
    before = y.copy()
    assert timeline_model(y, np.ones(y.shape, bool), np.zeros(64), 1.0) is None
    np.testing.assert_array_equal(y, before)


def test_workspace_carves_disjoint_arrays_and_falls_back_when_full():
    buf = np.zeros((10, 7), dtype=np.float32, order="F")  # 280 bytes
    ws = Workspace(buf)
    a = ws.empty((3, 4))  # 96 bytes
    b = ws.empty((5,), dtype=np.uint8)
    c = ws.empty((2, 2))  # 8-byte aligned after the 5 bytes
    assert all(np.shares_memory(x, buf) for x in (a, b, c))
    assert not np.shares_memory(a, b) and not np.shares_memory(b, c)
    assert c.ctypes.data % 8 == 0
    mark = ws.mark()
    big = ws.empty((100,))  # does not fit: allocated
    assert not np.shares_memory(big, buf) and big.shape == (100,)
    d = ws.empty((4,))
    assert np.shares_memory(d, buf)
    ws.release(mark)
    assert ws.empty((4,)).ctypes.data == d.ctypes.data  # given back
    assert not np.shares_memory(Workspace(buf[:, ::2]).empty((2,)), buf)  # not contiguous


@pytest.mark.parametrize("given", [False, True])
def test_wiener_lines_in_workspace_is_the_same(given):
    """The work arrays in a caller's buffer (in-place conjugate gradients) change nothing."""
    rng = np.random.default_rng(21)
    n = 700
    y = np.stack([2.0 * _pink(rng, n) + rng.normal(size=n), rng.normal(size=n)], axis=1)
    nv = np.ones((n, 2))
    nv[100:180, 0] = np.inf  # unmeasured lines
    nv[::7, 1] = 4.0
    spectra = None
    if given:
        spectra = [fit_line_spectrum(y[:, 0], 1.0), fit_line_spectrum(2.0 * _pink(rng, n), 0.1)]
        assert all(sp is not None for sp in spectra)
    est0, var0, sp0 = wiener_lines(y, nv, spectra=spectra)
    buf = np.full(20 * n * 2, np.nan)
    est1, var1, sp1 = wiener_lines(y, nv, spectra=spectra, work=Workspace(buf))
    np.testing.assert_array_equal(est1, est0)
    np.testing.assert_array_equal(var1, var0)
    assert [s is None for s in sp1] == [s is None for s in sp0]
    for col in range(2):  # one series (all columns active: no copies)
        sp = None if spectra is None else [spectra[col]]
        e0, v0, _ = wiener_lines(y[:, col : col + 1], nv[:, col : col + 1], spectra=sp)
        e1, v1, _ = wiener_lines(
            y[:, col : col + 1], nv[:, col : col + 1], spectra=sp, work=Workspace(buf)
        )
        np.testing.assert_array_equal(e1, e0)
        np.testing.assert_array_equal(v1, v0)


@pytest.mark.parametrize("work", ["none", "C", "F", "small"])
def test_timeline_with_work_buffer_is_the_same(work):
    """Segment averages and filter arrays in a scratch buffer (or not, where it is too
    small) give exactly the same model; the buffer is the only other array written."""
    from jwst1f.destripe.timeline import timeline_model

    rng = np.random.default_rng(13)
    n_lines, length, sigma = 300, 96, 0.02
    data = _clock_series(rng, n_lines, length) + rng.normal(size=(n_lines, length)) * sigma
    data = data.astype(np.float32)
    clean = rng.random(data.shape) > 0.1
    base = rng.normal(size=n_lines) * 0.01
    y0 = data.copy()
    ref = timeline_model(y0, clean, base, sigma, fast_sign=-1, slow_sign=-1)
    assert ref is not None
    buf = {
        "none": None,
        "C": np.zeros(data.shape, np.float32),
        "F": np.zeros(data.shape, np.float32, order="F"),
        "small": np.zeros(64, np.float32),
    }[work]
    y1 = data.copy()
    clean_before = clean.copy()
    tl = timeline_model(y1, clean, base, sigma, fast_sign=-1, slow_sign=-1, work=buf)
    np.testing.assert_array_equal(y1, y0)
    np.testing.assert_array_equal(tl.line_mean, ref.line_mean)
    np.testing.assert_array_equal(tl.variance, ref.variance)
    np.testing.assert_array_equal(clean, clean_before)
    if work in ("C", "F"):
        assert np.any(buf != 0)  # the buffer was used


def test_smooth_lines_weight_sum_is_not_a_view():
    """The returned weight sum does not keep the kernel moments alive (memory)."""
    rng = np.random.default_rng(2)
    n = 300
    _, wsum = smooth_lines(rng.normal(size=n), np.ones(n), 100.0)  # FFT path
    assert wsum.base is None and wsum.shape == (n,)


def test_timeline_follows_less_of_the_faint_halos_of_compact_sources(monkeypatch):
    """Stars masked in their cores leave faint halos in the clean pixels around them, over a
    few lines. Near masked pixels the shape along the line is averaged over fewer lines
    (``timeline._HALO_LINES``) before the 1/f fit, so the model follows less of the halo
    light than with the long running mean alone, and the 1/f is still followed."""
    from jwst1f.destripe import timeline as T

    rng = np.random.default_rng(14)
    n_lines, length, sigma = 256, 640, 0.1
    truth = 4 * _clock_series(rng, n_lines, length)  # 0.2 DN/s rms of 1/f
    yy, xx = np.mgrid[0:n_lines, 0:length]
    halo = np.zeros((n_lines, length))
    clean = np.ones((n_lines, length), dtype=bool)
    for y0, x0 in rng.uniform((10, 20), (n_lines - 10, length - 20), size=(12, 2)):
        r2 = (yy - y0) ** 2 + (xx - x0) ** 2
        halo += 2.0 / (1 + r2 / 4.0) ** 1.5  # power-law wings
        clean &= r2 > 16  # the core masked
    data = (truth + halo + rng.normal(size=truth.shape) * sigma).astype(np.float32)
    wings = clean & (halo > 0.01)

    def followed():
        y = data.copy()
        assert T.timeline_model(y, clean, np.zeros(n_lines), sigma) is not None
        err = y - truth  # the model minus the true 1/f: light it took for 1/f
        return float(err[wings].mean()), float(np.std(err[clean & ~wings]))

    with_halo = followed()
    monkeypatch.setattr(T, "_halo_lines", lambda *a: None)
    without = followed()
    assert with_halo[0] < 0.8 * without[0]  # less of the halo light taken
    assert with_halo[1] < 1.05 * without[1]  # the 1/f away from the halos as well followed
    assert with_halo[1] < 0.6 * float(np.std(truth))


def test_scaled_preconditioner_solves_the_same_system_in_fewer_iterations():
    # lines of very different weights (extended emission leaves some lines a few clean
    # pixels): the scaled preconditioner reaches the solution to the default tolerance
    # within 15 iterations (about 10 here), where the plain one is still far from it (it
    # needs about 100)
    rng = np.random.default_rng(11)
    n = 2048
    truth = 0.5 * _pink(rng, n)
    nv = np.exp(rng.uniform(0.0, np.log(50.0), n // 16)).repeat(16) * 1e-3
    nv[:4] = np.inf  # reference lines: no measurement
    y = truth + rng.normal(size=n) * np.sqrt(np.where(np.isfinite(nv), nv, 0.0))
    y, nv = y[:, None], nv[:, None]
    _, _, specs = wiener_lines(y, nv)
    assert specs[0] is not None
    exact, _, _ = wiener_lines(y, nv, spectra=specs, max_iter=5000, tol=1e-12)
    scale = np.std(exact)
    plain, _, _ = wiener_lines(y, nv, spectra=specs, max_iter=15)
    scaled, _, _ = wiener_lines(y, nv, spectra=specs, max_iter=15, scaled=True)
    assert np.max(np.abs(scaled - exact)) < 5e-3 * scale
    assert np.max(np.abs(plain - exact)) > 0.1 * scale
