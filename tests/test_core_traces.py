"""The wings of a bright trace along the lines (jwst1f.destripe.traces)."""

from __future__ import annotations

import numpy as np
import pytest
from core_helpers import nircam_layout, output_stripes

from jwst1f.destripe import core, destripe
from jwst1f.destripe.traces import (
    WingLight,
    WingMask,
    _line_fit,
    find_trace,
    fit_wings,
    trace_wing_mask,
    wing_light,
)

SIGMA = 1.0
N_LINES, LENGTH = 64, 2048


def _trace(amp=3000.0, l0=30.0, start=650, stop=1900, wings=2e-3):
    """A spectrum along the lines: a Gaussian core (sigma 1.2 lines) with Lorentzian wings
    (``wings`` of the peak, half-width 3 lines) over pixels ``start:stop``, whose brightness
    falls along the line; DN/s, shape (N_LINES, LENGTH)."""
    lines = np.arange(N_LINES)[:, None]
    pix = np.arange(LENGTH)[None, :]
    across = np.exp(-0.5 * ((lines - l0) / 1.2) ** 2) + wings / (1 + ((lines - l0) / 3.0) ** 2)
    along = np.where((pix >= start) & (pix < stop), 1.0 - 0.5 * (pix - start) / (stop - start), 0)
    return (amp * across * along).astype(np.float32)


def _window(rng, light, outputs=4):
    """A SUBGRISM64-like window: sky, white noise, the light and per-output line stripes."""
    lay = nircam_layout(N_LINES, LENGTH, outputs)
    clean = (1.0 + light + rng.normal(0, SIGMA, (N_LINES, LENGTH))).astype(np.float32)
    clean[lay.reference_mask()] = 0.0
    stripes = output_stripes(lay, rng, shared=1.0, own=0.5)
    return lay, clean, clean + stripes


def _stripe_error(r, lay, clean, empty):
    """The rms of the per-output line means of (corrected - truth) over the empty pixels."""
    err = r.corrected - clean
    rows = []
    for sl in lay.channel_slices():
        e, w = err[:, sl], empty[:, sl]
        n = w.sum(axis=1)
        rows.append(np.where(n > 20, (e * w).sum(axis=1) / np.maximum(n, 1), np.nan))
    m = np.array(rows)
    return float(np.sqrt(np.nanmean((m - np.nanmean(m)) ** 2)))


def test_find_trace_takes_a_spectrum_and_not_stars_or_slices():
    rng = np.random.default_rng(1)
    usable = np.ones((N_LINES, LENGTH), bool)
    noise = rng.normal(0, SIGMA, (N_LINES, LENGTH))
    trace = find_trace(noise + _trace(), usable, SIGMA)
    assert trace is not None and trace["line"] == 30
    assert 1200 <= trace["extent"] <= 1260 and trace["profile"].max() == 1.0
    # a bright star: compact along the line
    yy, xx = np.mgrid[0:N_LINES, 0:LENGTH]
    star = 5e4 * np.exp(-0.5 * ((yy - 30) ** 2 + (xx - 800) ** 2) / 2.0**2)
    assert find_trace(noise + star, usable, SIGMA) is None
    # slices: the same pattern along every line (NIRSpec IFU in the canonical orientation)
    slices = 200.0 * ((xx // 40) % 2 == 0)
    assert find_trace(noise + slices, usable, SIGMA) is None
    # noise alone, and a trace too faint to be a core
    assert find_trace(noise, usable, SIGMA) is None
    assert find_trace(noise + _trace(amp=0.2), usable, SIGMA) is None


def test_wing_mask_follows_the_light_of_the_wings():
    """The fitted wings mask the pixels whose true light exceeds the threshold, apart from
    each line's per-output 1/f offsets, which the fit's intercepts take."""
    rng = np.random.default_rng(2)
    light = _trace()
    lay, clean, data = _window(rng, light)
    usable = ~lay.reference_mask()
    found = trace_wing_mask(data, usable, lay.channel_slices(), SIGMA)
    assert found is not None
    mask, info = found
    full = mask.full()
    # output 2 (pixels 1024-1535) lies wholly inside the spectrum: where masking its wings
    # would leave it (almost) nothing to be measured on, it keeps them; outputs 0, 1 and 3
    # keep the pixels before and after the spectrum
    covered = np.zeros(full.shape, bool)
    covered[:, 1024:1536] = True
    truth = (light > 0.6 * SIGMA) & usable & ~covered  # clearly above the 0.4 sigma level
    empty = (light < 0.2 * SIGMA) & usable
    assert full[truth].mean() > 0.95
    assert full[empty].mean() < 0.01
    left = (~full[:, 1024:1536]).sum(axis=1)
    assert np.all((left == 512) | (left >= 64))
    assert (left == 512).sum() > 10  # (the lines whose wings light all of output 2)
    assert info["line"] == 30 and info["pixels"] == int(full.sum())
    assert info["lines"] == int(full.any(axis=1).sum()) > 20  # the wings reach most lines


def test_wing_mask_blocks_and_base():
    amp = np.array([0.0, 1.0, 3.0])
    prof = np.array([0.1, 0.5, 1.0, 0.2], np.float32)
    m = WingMask(amp, prof, 0.45)
    np.testing.assert_array_equal(m.full(), amp[:, None] * prof[None, :] > 0.45)
    np.testing.assert_array_equal(m[1:3, 2:4], m.full()[1:3, 2:4])
    base = np.zeros((3, 4), bool)
    base[0, 0] = True
    np.testing.assert_array_equal(m.with_base(base).full(), m.full() | base)


def test_destripe_masks_the_wings_of_a_grism_trace(monkeypatch):
    """On a four-output window with a bright trace, the second pass without the wings
    removes the stripes better than one pass that measures the lines on them."""
    rng = np.random.default_rng(3)
    light = _trace(wings=5e-3)
    lay, clean, data = _window(rng, light)
    empty = (light < 0.01) & ~lay.reference_mask()

    with_wings = destripe(data, lay)
    info = with_wings.metrics["trace_wings"]
    assert info is not None and info["line"] == 30 and info["pixels"] > 10_000
    monkeypatch.setattr(core, "_TRACE_MAX_LINES", 0)  # no search
    without = destripe(data, lay)
    assert without.metrics["trace_wings"] is None
    assert _stripe_error(with_wings, lay, clean, empty) < 0.8 * _stripe_error(
        without, lay, clean, empty
    )


@pytest.mark.parametrize("shape", [(2048, 2048), (64, 2048)])
def test_no_trace_leaves_one_pass(shape):
    """Frames without a trace (and every frame taller than the searched windows) are
    destriped once, exactly as without the search."""
    rng = np.random.default_rng(4)
    lay = nircam_layout(*shape, 4)
    data = (1.0 + rng.normal(0, SIGMA, shape) + output_stripes(lay, rng)).astype(np.float32)
    r = destripe(data, lay)
    assert r.metrics["trace_wings"] is None


def test_the_second_pass_stays_within_the_memory_target():
    """With a trace found, the two passes (the first's arrays released but its residual,
    the wing mask evaluated block by block) peak at most at 4 times the SCI array."""
    import tracemalloc

    rng = np.random.default_rng(5)
    lay, clean, data = _window(rng, _trace(wings=5e-3))
    destripe(data, lay)
    tracemalloc.start()
    try:
        r = destripe(data, lay)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.metrics["trace_wings"] is not None
    assert peak / data.nbytes <= 4.0


def test_wing_mask_with_a_tilt():
    """With a tilt the masked light is ``amp S + tilt S x``, the tilt unused where the
    amplitude is not positive; blocks and a base mask as without."""
    amp = np.array([0.0, 1.0, 3.0, -2.0])
    tilt = np.array([5.0, 4.0, -8.0, 9.0])
    prof = np.linspace(0.2, 1.0, 8).astype(np.float32)
    m = WingMask(amp, prof, 0.9, tilt=tilt)
    x = (np.arange(8) - 3.5) / 8
    use = np.where(amp > 0, tilt, 0.0)
    dense = np.clip(amp, 0, None)[:, None] * prof + use[:, None] * prof * x > 0.9
    np.testing.assert_array_equal(m.full(), dense)
    assert not m.full()[[0, 3]].any()  # (no amplitude: no light, whatever the tilt)
    np.testing.assert_array_equal(m[1:3, 2:6], dense[1:3, 2:6])
    base = np.zeros((4, 8), bool)
    base[3, 7] = True
    np.testing.assert_array_equal(m.with_base(base).full(), dense | base)


def test_wing_light_blocks_clip_and_level():
    """The light is ``a S + b S x`` per block, never negative, zero above the mask's level."""
    a = np.array([0.0, 2.0, 5.0, -1.0])
    b = np.array([0.0, 1.0, -30.0, 0.0])
    prof = np.linspace(0.0, 1.0, 16).astype(np.float32)
    light = WingLight(a, b, prof, 3.0)
    x = (np.arange(16) - 7.5) / 16
    dense = a[:, None] * prof[None, :] + b[:, None] * prof[None, :] * x[None, :]
    dense = np.clip(dense, 0.0, None)
    dense[dense > 3.0] = 0.0
    np.testing.assert_allclose(light[:, :], dense, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(light[1:3, 5:11], light[:, :][1:3, 5:11])
    assert light[:, :].dtype == np.float32 and light[:, :].min() >= 0.0
    assert light[3:4, :].max() == 0.0  # (a negative amplitude: no light)


def test_line_fit_separates_the_wings_and_their_tilt_from_the_offsets():
    """Per line, one intercept per output plus ``a S + b S x``: the fit recovers ``a`` and
    ``b`` within their stated errors whatever the per-output offsets."""
    rng = np.random.default_rng(6)
    n_lines, length = 400, 2048
    lay = nircam_layout(n_lines, length, 4)
    chans = lay.channel_slices()
    prof = _trace(amp=1.0)[30] / _trace(amp=1.0)[30].max()
    x = (np.arange(length) - 0.5 * (length - 1)) / length
    a = rng.uniform(0, 5, n_lines)
    b = rng.uniform(-5, 5, n_lines)
    y = a[:, None] * prof + b[:, None] * prof * x + rng.normal(0, SIGMA, (n_lines, length))
    for sl in chans:  # per-output offsets, different on every line
        y[:, sl] += rng.normal(0, 3, (n_lines, 1))
    usable = np.ones(y.shape, bool)
    coef, inv = _line_fit(y.astype(np.float32), usable, chans, prof, tilt=True)
    z = (coef - np.stack([a, b], axis=1)) / (SIGMA * np.sqrt(inv))
    assert np.all(np.abs(z.mean(axis=0)) < 0.25)
    assert np.all((0.8 < z.std(axis=0)) & (z.std(axis=0) < 1.25))
    # and without the tilt, the amplitude alone (the wing mask's fit) as well
    a_only = _line_fit(y.astype(np.float32), usable, chans, prof)[0][:, 0]
    assert np.abs(a_only - a).mean() < 0.15


def test_wing_light_is_kept_only_where_significant():
    """Lines without wing light (noise only) get none; the wing lines get close to their
    true light."""
    rng = np.random.default_rng(7)
    d = np.abs(np.arange(N_LINES) - 30)
    # a trace without wings: beyond 8 lines of its core the lines hold noise only
    lay, clean, data = _window(rng, _trace(wings=0.0))
    usable = ~lay.reference_mask()
    trace = find_trace(data, usable, SIGMA)
    model = wing_light(fit_wings(data, usable, lay.channel_slices(), SIGMA, trace), SIGMA)
    far = (d > 8) & (np.arange(N_LINES) >= 4)  # (lines 0-3: reference lines)
    assert (model[:, :][far].max(axis=1) == 0).mean() > 0.9
    # with wings: on the lines 14-26 from the core their light, 0.1-0.4 sigma per pixel,
    # is all below the mask's level; the shrunk fit takes about half of it, never more
    light = _trace(wings=5e-3)
    lay, clean, data = _window(rng, light)
    trace = find_trace(data, usable, SIGMA)
    model = wing_light(fit_wings(data, usable, lay.channel_slices(), SIGMA, trace), SIGMA)
    rows = np.flatnonzero((d >= 14) & (d <= 26) & (np.arange(N_LINES) >= 4))
    below = ((light > 0) & (light < model.level) & usable)[rows]
    got, true = model[:, :][rows][below].mean(), light[rows][below].mean()
    assert 0.35 * true < got < 1.05 * true


def test_subtracting_the_wing_light_lowers_the_stripe_error(monkeypatch):
    """A tilted trace (its wings' share changing along the spectrum): measuring the lines
    on the data less the fitted wing light removes the stripes better than the wing mask
    alone, whose threshold leaves the fainter light in the line means."""
    from jwst1f.destripe import traces

    rng = np.random.default_rng(8)
    lines = np.arange(N_LINES)[:, None]
    pix = np.arange(LENGTH)[None, :]
    centre = 30.0 + 0.4 * (pix - LENGTH / 2) / LENGTH
    on = (pix >= 650) & (pix < 1900)
    light = (
        3000.0
        * on
        * (
            np.exp(-0.5 * ((lines - centre) / 1.2) ** 2)
            + 4e-3 / (1 + ((lines - centre) / 3.0) ** 2)
        )
    )
    light = light.astype(np.float32)
    lay, clean, data = _window(rng, light)
    empty = (light < 0.01) & ~lay.reference_mask()

    with_light = destripe(data, lay)
    monkeypatch.setattr(traces, "_LIGHT_GARROTE", np.inf)  # no light kept
    without = destripe(data, lay)
    info = with_light.metrics["trace_wings"]
    assert info is not None and info["light_lines"] > 10
    assert _stripe_error(with_light, lay, clean, empty) < 0.95 * _stripe_error(
        without, lay, clean, empty
    )  # (seeds 8-12: 0.84-0.94)
