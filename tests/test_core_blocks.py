"""Blockwise implementation details of the destriper: same values as the plain operations,
and bounded peak memory on small windows."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from core_helpers import nircam_layout, nirspec_fs_layout

from jwst1f.destripe import destripe, masking
from jwst1f.destripe.background import fit_background
from jwst1f.destripe.core import (
    _apply_offsets,
    _Broadcast,
    _copy_columns,
    _flag_runs,
    _initial_levels,
    _line_counts,
    _robust_scale,
    _row_blocks,
    _Scratch,
)
from jwst1f.destripe.masking import _median_inplace, clear_dilated, dilate, robust_sigma


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("radius", [0, 1, 2, 3, 7, 9])
@pytest.mark.parametrize("shape", [(61, 53), (61, 64), (64, 61)])
def test_clear_dilated_equals_dilate_then_mask(order, radius, shape, monkeypatch):
    """Block by block (small blocks, so that the halo crosses block edges) the result is
    exactly ``good & ~dilate(seeds)``."""
    monkeypatch.setattr(masking, "_BLOCK", 29)
    rng = np.random.default_rng(radius)
    seeds = np.asarray(rng.random(shape) < 0.01, order=order)
    seeds[0, 0] = seeds[-1, -1] = seeds[30, 0] = seeds[7, 8] = seeds[9, 7] = True  # edges
    good = np.asarray(rng.random(shape) < 0.9, order=order)
    expected = good & ~dilate(seeds, radius)
    clear_dilated(good, seeds, radius)
    np.testing.assert_array_equal(good, expected)


@pytest.mark.parametrize("finite", [False, True])
@pytest.mark.parametrize("order", ["C", "F"])
def test_clear_dilated_zeroes_where_not_good(order, finite, monkeypatch):
    """``zero`` is zeroed exactly where the final mask is False (NaN too unless ``finite``),
    and kept elsewhere."""
    monkeypatch.setattr(masking, "_BLOCK", 29)
    rng = np.random.default_rng(5)
    shape = (61, 64)
    seeds = np.asarray(rng.random(shape) < 0.01, order=order)
    good = np.asarray(rng.random(shape) < 0.9, order=order)
    vals = np.asarray(rng.normal(size=shape).astype(np.float32), order=order)
    if not finite:
        vals[~good] = np.nan  # non-finite values are never good
    expected_good = good & ~dilate(seeds, 2)
    zero = vals.copy(order="K")
    clear_dilated(good, seeds, 2, zero=zero, finite=finite)
    np.testing.assert_array_equal(good, expected_good)
    np.testing.assert_array_equal(zero, np.where(expected_good, vals, np.float32(0.0)))


@pytest.mark.parametrize("transpose", [False, True])
def test_robust_sigma_with_work_buffer(transpose):
    """The differences compacted into a scratch buffer give the median of one vectorised pass
    (the same value), and the data are not modified."""
    rng = np.random.default_rng(1)
    data = rng.normal(0.0, 0.7, (300, 257)).astype(np.float32)
    data[5, 7] = np.nan
    good = np.isfinite(data) & (rng.random(data.shape) < 0.8)
    if transpose:
        data, good = data.T, good.T
    before = data.copy()
    n2 = (data.shape[1] // 2) * 2
    d = np.abs(data[:, 1:n2:2] - data[:, 0:n2:2])[good[:, 1:n2:2] & good[:, 0:n2:2]]
    expected = float(np.median(d)) / (0.6744897501960817 * np.sqrt(2.0))
    work = np.full(data.size, np.nan, np.float32)
    assert robust_sigma(data, good, work=work) == expected
    assert robust_sigma(data, good, work=work[:10]) == expected  # too small: own buffer
    assert robust_sigma(data, good) == expected
    np.testing.assert_array_equal(data, before)
    assert np.isfinite(work[: d.size]).all()  # the buffer was used


@pytest.mark.parametrize("n", [1, 2, 3, 4, 10, 11, 1000, 1001])
def test_median_inplace_equals_np_median(n):
    """One single-kth partition gives np.median exactly, for even and odd sizes and ties."""
    rng = np.random.default_rng(n)
    for d in (rng.random(n).astype(np.float32), rng.integers(0, 3, n).astype(np.float32)):
        assert _median_inplace(d.copy()) == float(np.median(d))


def test_flag_runs_cover_the_flags_exactly():
    """Runs of flagged blocks: disjoint, maximal, within one channel, covering every flag."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        nbl, nbp = rng.integers(1, 6), rng.integers(1, 12)
        flag = rng.random((nbl, nbp)) < rng.random()
        chan = np.sort(rng.integers(-1, 3, nbp))
        covered = np.zeros_like(flag)
        for i, j0, j1, k in _flag_runs(flag, chan):
            assert flag[i, j0:j1].all() and not covered[i, j0:j1].any()
            assert (chan[j0:j1] == k).all()
            assert j1 == nbp or not flag[i, j1] or chan[j1] != k  # maximal
            assert j0 == 0 or not flag[i, j0 - 1] or chan[j0 - 1] != k
            covered[i, j0:j1] = True
        np.testing.assert_array_equal(covered, flag)


@pytest.mark.parametrize("dtype", [np.float32, bool])
def test_copy_columns_of_transposed_subsample(dtype):
    """The blockwise transposing copy equals the plain copy (widths not multiples of the
    block included)."""
    rng = np.random.default_rng(2)
    frame = np.asfortranarray(rng.normal(size=(70, 203)) > 0.3).astype(dtype)
    for step in (1, 3, 8):
        src = frame[:, ::step]
        dst = np.empty(src.shape, dtype=dtype)
        _copy_columns(dst, src)
        np.testing.assert_array_equal(dst, src)


@pytest.mark.parametrize("parity", [None, 0, 1])
@pytest.mark.parametrize(("width", "start"), [(512, 0), (2048, 8), (8 * 300, 0), (16, 0)])
def test_line_counts_by_words_are_exact(parity, width, start):
    """The 64-bit word sums count exactly, also over more than 255 words per line (full
    lines) and on views starting inside a line."""
    rng = np.random.default_rng(width)
    mask = rng.random((37, start + width)) < 0.7
    mask[0] = True  # every byte set: the largest byte sums
    view = mask[:, start : start + width]
    expected = np.count_nonzero(view if parity is None else view[:, parity::2], axis=1)
    np.testing.assert_array_equal(_line_counts(view, parity), expected)


def test_initial_levels_of_transposed_subsample_are_identical():
    """Transposed (lines contiguous) and C-ordered sub-samples give the same levels, bit
    for bit, also with lines that have fewer than 3 usable samples."""
    rng = np.random.default_rng(5)
    a = rng.normal(0.3, 0.02, size=(96, 256)).astype(np.float32)
    good = rng.random(a.shape) < 0.8
    good[3] = False
    good[4, 2:] = False
    chans = [slice(64 * k, 64 * (k + 1)) for k in range(4)]
    ref = _initial_levels(a, good, chans, 0.02)
    got = _initial_levels(np.asfortranarray(a), np.asfortranarray(good), chans, 0.02)
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("zeroed", [True, False])
def test_fit_background_of_transposed_subsample(zeroed):
    """A transposed sub-sample gives the background of the C-ordered one (float32 block
    sums in another order: equal to rounding) and the same flags."""
    rng = np.random.default_rng(6)
    n_lines, n_samp = 256, 128
    x = np.linspace(-1, 1, n_samp, dtype=np.float32)
    resid = (rng.normal(0, 0.02, (n_lines, n_samp)) + 0.01 * x).astype(np.float32)
    resid[40:60, 10:30] += 0.2  # extended emission
    clean = rng.random(resid.shape) < 0.9
    if zeroed:
        resid *= clean
    kw = dict(box=64, along_order=2, extended_sigma=3.0, channel_bounds=(512,), step=8)
    ref = fit_background(resid.copy(), clean, 0.02, zeroed=zeroed, **kw)
    got = fit_background(
        np.asfortranarray(resid), np.asfortranarray(clean), 0.02, zeroed=zeroed, **kw
    )
    np.testing.assert_array_equal(got.flag, ref.flag)
    np.testing.assert_allclose(got.line_coef, ref.line_coef, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("n", [1, 2, 5, 10, 2047, 2048])
def test_robust_scale_equals_np_median_form(n):
    """The partition-based MAD equals the np.median formula (float64, float32, integers
    with ties) and leaves its input alone; NaN input gives NaN as np.median does."""
    rng = np.random.default_rng(n)
    for z in (
        rng.normal(size=n),
        rng.normal(size=n).astype(np.float32),
        rng.integers(0, 3, n),
    ):
        before = z.copy()
        expected = 1.4826 * float(np.median(np.abs(z - np.median(z))))
        assert _robust_scale(z) == expected
        np.testing.assert_array_equal(z, before)
    assert np.isnan(_robust_scale(np.array([1.0, np.nan, 3.0])))


def test_scratch_views_do_not_overlap():
    """Work arrays on an output buffer: disjoint, aligned, in the requested memory order, and
    new arrays once the buffer is full or not contiguous."""
    buf = np.empty((64, 100), dtype=np.float32)  # 25600 bytes
    pool = _Scratch(buf.T)  # a transposed view: still one contiguous block
    a = pool.empty((10, 33), np.float32)
    b = pool.empty((10, 33), bool, fortran=True)
    c = pool.empty((7, 5), np.float64)
    for x in (a, b, c):
        assert np.shares_memory(x, buf)
        assert x.ctypes.data % 64 == 0
    assert a.flags.c_contiguous and b.flags.f_contiguous and b.shape == (10, 33)
    assert not np.shares_memory(a, b) and not np.shares_memory(b, c)
    a[...] = 1.0
    b[...] = True
    c[...] = 2.0
    assert (a == 1.0).all() and b.all()  # nothing overwritten by the later arrays
    big = pool.empty((100, 100), np.float32)  # does not fit: a new array
    assert not np.shares_memory(big, buf) and big.shape == (100, 100)
    strided = _Scratch(buf[:, ::2]).empty((4, 4), np.float32)
    assert not np.shares_memory(strided, buf)


@pytest.mark.parametrize("fortran", [False, True])
@pytest.mark.parametrize(
    "cols",
    [
        np.repeat(np.arange(4), 512),  # 4 equal channels
        np.repeat(np.arange(4), 512) * 2 + (np.arange(2048) % 2),  # channel and parity
        np.repeat(np.arange(3), [100, 300, 112]),  # unequal runs
        np.arange(1032) % 4,  # interleaved (no long runs: gathered)
        np.repeat(np.arange(2), [33, 32]),  # odd length
    ],
)
def test_broadcast_is_exact(cols, fortran):
    rng = np.random.default_rng(2)
    n_lines, length = 37, cols.size
    vals = rng.normal(size=(n_lines, int(cols.max()) + 1)).astype(np.float32)
    out = np.full((length, n_lines) if fortran else (n_lines, length), np.nan, np.float32)
    view = out.T if fortran else out
    bc = _Broadcast(cols)
    for lb, pb in _row_blocks(n_lines, length, fortran):
        bc.block(vals, lb, pb, fortran, out=view[lb, pb])
    np.testing.assert_array_equal(view, vals[:, cols])


def test_apply_offsets_some_channels_pending():
    """Channels with a low-pass term are left alone; the others get offset + even/odd term,
    their variance and ``corrected``, exactly as per-pixel indexing would."""
    rng = np.random.default_rng(3)
    n_lines, length = 40, 64
    chans = [slice(0, 16), slice(16, 32), slice(32, 48), slice(48, 64)]
    a = rng.normal(size=(n_lines, length)).astype(np.float32)
    offset = rng.normal(size=(n_lines, 4))
    variance = rng.random((n_lines, 4))
    eo = (rng.normal(size=(n_lines, 4)), rng.normal(size=(n_lines, 4)), [0, 1, 0, 1])
    model = np.full(a.shape, -7.0, np.float32)
    var = np.full(a.shape, -7.0, np.float32)
    corr = np.full(a.shape, -7.0, np.float32)
    _apply_offsets(a, [0, 2, 3], chans, offset, variance, eo, False, model, var, corr)
    assert (model[:, 16:32] == -7.0).all() and (var[:, 16:32] == -7.0).all()
    for k in (0, 2, 3):
        sl, e0 = chans[k], eo[2][k]
        off = offset[:, k].astype(np.float32)
        even = off + eo[0][:, k].astype(np.float32)
        odd = off + eo[1][:, k].astype(np.float32)
        m = model[:, sl]
        np.testing.assert_array_equal(
            m[:, e0::2], np.broadcast_to(even[:, None], m[:, e0::2].shape)
        )
        np.testing.assert_array_equal(
            m[:, 1 - e0 :: 2], np.broadcast_to(odd[:, None], m[:, 1 - e0 :: 2].shape)
        )
        np.testing.assert_array_equal(
            var[:, sl], np.broadcast_to(variance[:, k, None].astype(np.float32), m.shape)
        )
        np.testing.assert_array_equal(corr[:, sl], a[:, sl] - m)


def _peak(sci, lay):
    destripe(sci, lay)  # warm-up (imports, caches)
    tracemalloc.start()
    try:
        destripe(sci, lay)
        return tracemalloc.get_traced_memory()[1] / sci.nbytes
    finally:
        tracemalloc.stop()


def _clock_1f(lay, rng, rms=0.05):
    """Pink (1/f) noise along the pixel clock of a one-output window, 12 clocks of pause
    after every line, in DMS orientation."""
    n_lines, length = lay.shape if lay.fast_axis == 1 else lay.shape[::-1]
    n = n_lines * (length + 12)
    f = np.fft.rfftfreq(2 * n)
    f[0] = f[1]
    t = np.fft.irfft((rng.normal(size=f.size) + 1j * rng.normal(size=f.size)) / np.sqrt(f))[:n]
    lines = (rms / t.std()) * t.reshape(n_lines, length + 12)[:, :length]
    return lines if lay.fast_axis == 1 else lines.T


@pytest.mark.parametrize(
    "make",
    [
        lambda: nircam_layout(64, 2048, 1, SUBSTRT2=1000),  # one-output strip (timeline)
        lambda: nircam_layout(256, 2048, 4, SUBSTRT2=1000),  # 4-output strip
        # one-output corner window, reference pixels on two sides (timeline and anchor)
        lambda: nircam_layout(640, 640, 1, SUBSTRT1=1409, SUBSTRT2=1409),
        nirspec_fs_layout,  # stripes along 64-pixel columns (transposed), 2048 lines
    ],
)
def test_small_window_peak_memory(make):
    """Issue 4: peak traced memory of one call at most 4x the float32 SCI array, outputs
    (3.25x) included, also where per-line and block temporaries are not small: one-output
    windows carry 1/f along the readout clock, so that their readout-time model runs."""
    lay = make()
    rng = np.random.default_rng(4)
    sci = 0.3 + rng.normal(0.0, 0.05, lay.shape)
    if lay.n_channels == 1:
        sci += _clock_1f(lay, rng)
    sci = sci.astype(np.float32)
    sci[rng.random(lay.shape) < 1e-3] = 50.0  # a few bright pixels (masked and dilated)
    if lay.n_channels == 1:
        assert destripe(sci, lay).metrics["timeline"][0] is not None
    assert _peak(sci, lay) <= 4.0


def test_rateints_model_written_once_with_joint_sky(monkeypatch):
    """Rateints: the joint-sky offsets are applied when the model is written (not in a second
    pass): each integration's model is its own 2-D model plus one offset per line, and
    ``corrected`` is exactly ``sci - model``. (The search for faint light on the sum of the
    integrations is switched off here: windows it flags by chance would change the masks.)"""
    from jwst1f.destripe import core

    monkeypatch.setattr(core, "_joint_halos", lambda block_sums, layout: None)
    lay = nircam_layout(256, 2048, 4, SUBSTRT2=1000)
    rng = np.random.default_rng(5)
    sci = (0.3 + rng.normal(0.0, 0.05, (3, *lay.shape))).astype(np.float32)
    sci += rng.normal(0.0, 0.05, (3, lay.shape[0], 1)).astype(np.float32)  # stripes
    r3 = destripe(sci, lay)
    assert r3.metrics["joint_sky"]
    np.testing.assert_array_equal(r3.corrected, sci - r3.model)
    for i in range(3):
        r2 = destripe(sci[i], lay)
        d = r3.model[i].astype(np.float64) - r2.model
        assert np.ptp(d, axis=1).max() < 1e-6  # one offset per line
        np.testing.assert_array_equal(r3.model_var[i], r2.model_var)
