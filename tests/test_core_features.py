"""Destriper features on synthetic frames: lit outputs, even/odd term, low-pass, cost."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
from core_helpers import nircam_layout, nirspec_fs_layout, output_stripes
from hypothesis import given, settings
from hypothesis import strategies as st

from jwst1f.destripe import core, destripe
from jwst1f.geometry import layout_from_header
from jwst1f.params import DestripeParams

SIGMA = 0.05


def layout(ny=1024, nx=2048, noutputs=4, **kw):
    return nircam_layout(ny, nx, noutputs, **kw)


def frame(lay, rng, *, sky=0.5):
    """Sky (zero on reference pixels) + white noise + shared and per-output line offsets."""
    ny, nx = lay.shape
    img = np.full((ny, nx), sky, np.float32)
    img[lay.reference_mask()] = 0.0
    img += rng.normal(0, SIGMA, (ny, nx)).astype(np.float32)
    shared = rng.normal(0, 0.03, ny)
    stripes = np.zeros((ny, nx), np.float32)
    for sl in lay.channel_slices():
        stripes[:, sl] = (shared + rng.normal(0, 0.01, ny))[:, None]
    return img, stripes


def test_outputs_lit_by_emission_borrow_from_the_others():
    """An emission pedestal filling two outputs on every line (NIRSpec-IFU-like) is not taken
    for stripes: those outputs borrow the shared 1/f from the others and the pedestal stays."""
    rng = np.random.default_rng(11)
    lay = layout()
    img, stripes = frame(lay, rng)
    light = np.zeros(lay.shape, np.float32)
    light[4:-4, 512:1536] = 0.2 * (1 + 0.5 * np.sin(np.arange(1024) / 90.0))[None, :]
    data = img + light + stripes
    r = destripe(data, lay)
    assert r.metrics["illuminated_channel_lines"] > 0.8 * 2 * (lay.n_lines - 8)
    assert not r.mask[100:-100, 600:1400].any()
    kept = (r.corrected - img)[8:-8, 520:1528].mean()  # light minus what was removed
    assert abs(kept - light[8:-8, 520:1528].mean()) < 0.01  # the pedestal (0.2) stays
    # without the detection the pedestal would be removed as stripes
    resid = (r.corrected - img - light)[8:-8, 520:1528].mean(axis=1)
    assert np.sqrt(np.mean((resid - resid.mean()) ** 2)) < 0.02  # ~ the per-output 1/f


def test_even_odd_term_auto():
    rng = np.random.default_rng(5)
    lay = layout(ny=512)
    img, stripes = frame(lay, rng)
    acn = np.zeros(lay.shape, np.float32)
    acn[:, 0::2] = rng.normal(0, 0.03, lay.shape[0])[:, None]  # even columns only
    r = destripe(img + stripes + acn, lay)
    assert r.metrics["even_odd"] == [True]
    resid = r.corrected - img
    eo = resid[8:-8, 8:-8:2].mean(axis=1) - resid[8:-8, 9:-8:2].mean(axis=1)
    assert np.std(eo) < 0.3 * 0.03
    # white noise only: the term is not used
    r0 = destripe(img + stripes, lay)
    assert r0.metrics["even_odd"] == [False]


def test_constant_even_odd_pattern_below_the_noise_of_one_line():
    """ACN is pink, so its exposure mean is its strongest part: a constant even/odd offset
    per output of 0.4 sigma of one line's even/odd difference is removed, measured over all
    lines at once (the per-line Wiener gain alone removed about a tenth of it)."""
    rng = np.random.default_rng(21)
    lay = layout(ny=512)
    img, stripes = frame(lay, rng)
    img = img + rng.normal(0.0, 0.3, lay.shape).astype(np.float32)  # noisy: short exposure
    mu = np.array([0.01, -0.012, 0.008, -0.009])
    acn = np.zeros(lay.shape, np.float32)
    for k, (lo, hi) in enumerate(zip(lay.channel_edges[:-1], lay.channel_edges[1:], strict=True)):
        acn[:, lo:hi:2] = mu[k] / 2
        acn[:, lo + 1 : hi : 2] = -mu[k] / 2
    r = destripe(img + stripes + acn, lay)
    resid = r.corrected - img
    for k, (lo, hi) in enumerate(zip(lay.channel_edges[:-1], lay.channel_edges[1:], strict=True)):
        lo, hi = max(lo, 8), min(hi, lay.shape[1] - 8)
        eo = resid[8:-8, lo:hi:2].mean() - resid[8:-8, lo + 1 : hi : 2].mean()
        assert abs(eo) < 0.003, (k, eo, mu[k])
    # white noise only: nothing is removed
    r0 = destripe(img + stripes, lay)
    assert r0.metrics["even_odd"] == [False]


def test_lowpass_removes_slow_noise_within_lines():
    rng = np.random.default_rng(9)
    lay = layout(ny=256, nx=2048, noutputs=1, SUBSTRT2=900)
    img, stripes = frame(lay, rng)
    x = np.arange(lay.shape[1])
    wave = np.stack(
        [0.04 * np.sin(2 * np.pi * x / rng.uniform(600, 900) + rng.uniform(0, 6)) for _ in img]
    ).astype(np.float32)
    data = img + stripes + wave
    off = destripe(data, lay, params=DestripeParams(lowpass="off"))
    on = destripe(data, lay, params=DestripeParams(lowpass="auto"))
    rms_off = np.std(off.corrected - img)
    rms_on = np.std(on.corrected - img)
    assert on.metrics["timeline"][0] is not None
    assert rms_on < 0.8 * rms_off
    # no wander within lines: the model does no harm
    plain = destripe(img + stripes, lay, params=DestripeParams(lowpass="auto"))
    plain_off = destripe(img + stripes, lay, params=DestripeParams(lowpass="off"))
    assert np.std(plain.corrected - img) < 1.05 * np.std(plain_off.corrected - img)
    # a shape along the lines common to many lines (sky structure, trace wings) is not 1/f:
    # the low-pass model leaves it in the image
    shape = np.where(x > 900, 0.1, 0.0).astype(np.float32)[None, :] * np.ones((256, 1), "f4")
    shape[lay.reference_mask()] = 0.0
    kept = destripe(data + shape, lay, params=DestripeParams(lowpass="on"))
    step = (kept.corrected - img - shape)[8:-8]
    assert abs(step[:, 1000:2000].mean() - step[:, 100:800].mean()) < 0.02  # of 0.1


def test_lowpass_auto_only_for_one_output_lines():
    """On 4-output frames "auto" does not model each output's 1/f within lines on its own (it
    would also take faint source wings out; the wander the outputs share is modelled, see
    ``test_wander_shared_by_the_outputs_is_removed_under_a_masked_trace``); on one-output
    windows it does where the 1/f within lines is strong."""
    rng = np.random.default_rng(3)
    lay4 = layout(ny=256, nx=2048, noutputs=4, SUBSTRT2=900)
    img, stripes = frame(lay4, rng)
    x = np.arange(2048)
    wave = np.stack(
        [0.04 * np.sin(2 * np.pi * x / rng.uniform(600, 900) + rng.uniform(0, 6)) for _ in img]
    ).astype(np.float32)
    assert destripe(img + stripes + wave, lay4).metrics["timeline"] == [None] * 4
    on4 = destripe(img + stripes + wave, lay4, params=DestripeParams(lowpass="on"))
    assert all(t is not None for t in on4.metrics["timeline"])
    lay1 = layout(ny=256, nx=2048, noutputs=1, SUBSTRT2=900)
    assert destripe(img + stripes + wave, lay1).metrics["timeline"][0] is not None


@pytest.mark.parametrize("fast", [1, 2])
def test_full_frame_cost(fast):
    """One 2048^2 frame: CPU time and peak traced memory (outputs included)."""
    rng = np.random.default_rng(0)
    lay = layout(ny=2048, nx=2048, FASTAXIS=fast, SLOWAXIS=3 - fast)
    img, stripes = frame(lay, rng)
    data = img + stripes
    data[rng.random(data.shape) < 1e-3] = np.nan
    dq = np.zeros(data.shape, np.uint32)
    destripe(data, lay, dq=dq)
    t0 = time.process_time()
    destripe(data, lay, dq=dq)
    cpu = time.process_time() - t0
    tracemalloc.start()
    try:
        destripe(data, lay, dq=dq)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak / data.nbytes <= 4.0  # issue 4 target; measured 3.64
    assert cpu < 0.6  # target 0.1 s; loose because the test machine is shared


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    kind=st.sampled_from(["nircam", "nirspec", "miri"]),
    ny=st.integers(1, 300),
    nx=st.integers(1, 300),
    x0=st.integers(0, 1800),
    y0=st.integers(0, 900),
    noutputs=st.sampled_from([1, 4]),
    nints=st.sampled_from([1, 2]),
    nan_frac=st.sampled_from([0.0, 0.05, 1.0]),
)
def test_property_any_window_gives_a_finite_result(
    seed, kind, ny, nx, x0, y0, noutputs, nints, nan_frac
):
    """Any window of any supported detector, with or without NaNs, 2-D or 3-D: no crash, no
    NaN/inf out for finite in, the model zero where nothing can be measured at worst."""
    rng = np.random.default_rng(seed)
    if kind == "miri":
        full = (1024, 1032)
        h = {"INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE", "EXP_TYPE": "MIR_IMAGE"}
        h.update(FASTAXIS=1, SLOWAXIS=2)
    elif kind == "nirspec":
        full = (2048, 2048)
        h = {"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "EXP_TYPE": "NRS_FIXEDSLIT"}
        h.update(FASTAXIS=2, SLOWAXIS=1, NOUTPUTS=noutputs)
    else:
        full = (2048, 2048)
        h = {"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "EXP_TYPE": "NRC_IMAGE"}
        h.update(FASTAXIS=-1, SLOWAXIS=2, NOUTPUTS=noutputs)
    x0, y0 = min(x0, full[1] - nx), min(y0, full[0] - ny)
    h.update(SUBARRAY="SUBTEST", SUBSTRT1=x0 + 1, SUBSTRT2=y0 + 1, SUBSIZE1=nx, SUBSIZE2=ny)
    lay = layout_from_header(h)
    shape = (nints, ny, nx) if nints > 1 else (ny, nx)
    d = (rng.normal(0.3, SIGMA, shape) + rng.normal(0, 0.03, shape[:-1])[..., None]).astype(
        np.float32
    )
    d[rng.random(shape) < nan_frac] = np.nan
    dq = (rng.random(shape) < 0.01).astype(np.uint32)
    r = destripe(d, lay, dq=dq)
    fin = np.isfinite(d)
    assert r.corrected.shape == shape
    assert np.isfinite(r.corrected[fin]).all()
    assert np.isfinite(r.model).all() and np.isfinite(r.model_var).all()
    assert (r.model_var >= 0).all()


def test_unmeasured_channel_lines_keep_the_output_pedestal():
    """An output's offset relative to the others (pedestal) is constant over the frame:
    channel-lines with no clean pixels borrow it from the output's measured lines (or from a
    given prior), not zero."""
    from jwst1f.destripe.linemodel import line_offsets

    rng = np.random.default_rng(4)
    n_lines, sig, npix = 400, 0.05, 400
    shared = rng.normal(0, 0.03, n_lines)
    ped = np.array([0.0, 0.08, -0.03, -0.05])
    m = shared[:, None] + ped[None, :] + rng.normal(0, 0.01, (n_lines, 4))
    n = np.full((n_lines, 4), float(npix))
    n[100:, 1] = 0  # output 1 lit from line 100 on: only 100 measured lines
    lm = line_offsets(m, n, sig, min_pixels=20)
    rel = lm.offset[200:, 1] - lm.offset[200:, [0, 2, 3]].mean(axis=1)
    expected = ped[1] - ped[[0, 2, 3]].mean()
    assert abs(rel.mean() - expected) < 0.01
    # an output never measured: the prior (e.g. from reference lines) sets its pedestal
    n[:, 1] = 0
    lm0 = line_offsets(m, n, sig, min_pixels=20)
    lmp = line_offsets(m, n, sig, min_pixels=20, channel_prior=np.array([0, 0.1, 0, 0]))
    assert np.allclose(lmp.offset[:, [0, 2, 3]], lm0.offset[:, [0, 2, 3]], atol=1e-6)

    def rel(o):  # output 1 relative to the mean of the outputs
        return o[:, 1] - o.mean(axis=1)

    assert np.allclose(rel(lmp.offset) - rel(lm0.offset), 0.1, atol=1e-3)


def test_nirspec_window_without_reference_pixels_removes_a_slope_across_lines():
    """NIRSpec fixed-slit window, no reference pixels in its lines: outside the slit the
    detector sees no sky, so a slow 1/f slope across the lines is removed, not kept as sky
    (a local straight-line sky would keep it)."""
    lay = nirspec_fs_layout()
    rng = np.random.default_rng(12)
    ny, nx = lay.shape  # lines are the 2048 columns of 64 pixels
    cols = np.arange(nx, dtype=float)
    stripes = 0.05 * (cols - nx / 2) / nx + rng.normal(0, 0.02, nx)  # slope + white
    noise = rng.normal(0, 0.05, (ny, nx))
    sci = (noise + stripes[None, :]).astype(np.float32)
    sci[:, lay.reference_mask().all(axis=0)] = 0.0  # the reference columns carry no 1/f here
    r = destripe(sci, lay)
    assert not r.metrics["reference_anchored"]
    left = (r.corrected - noise)[:, 8:1024].mean()
    right = (r.corrected - noise)[:, 1024:2040].mean()
    # the slope is 0.025 DN/s between the halves; a straight-line sky kept 98 % of it
    assert abs(right - left) < 0.01


def test_slit_light_where_the_spectrum_ends_stays_sky():
    """NIRSpec fixed-slit window: the slit's own sky lights 40 of the 64 pixels of every
    line at 0.4 sigma per pixel, too faint to mask, and the spectrum ends 150 lines from the
    window's edge. The local-constant sky across lines cannot follow that end, so the light
    was removed as stripes from the lit lines: the dark lines were left 0.13-0.16 DN/s
    higher than the lit ones (six seeds). The slit light's share of each line mean,
    measured from its profile along the lines, is kept as sky; without any light nothing is
    modelled."""
    from scipy.special import expit

    lay = nirspec_fs_layout()
    rng = np.random.default_rng(0)
    ny, nx = lay.shape  # lines are the 2048 columns of 64 pixels
    ref = lay.reference_mask()
    rows = np.arange(ny)[:, None]
    slit = expit((rows - 4.0) / 0.5) * expit((44.0 - rows) / 0.5)
    spectrum = 0.3 * expit((np.arange(nx) - 150.0) / 5.0)
    truth = ((slit * spectrum + rng.normal(0, 0.8, (ny, nx))) * ~ref).astype(np.float32)
    stripes = rng.normal(0, 0.15, nx).astype(np.float32)
    r = destripe(truth + stripes, lay)
    err = (r.corrected - truth).mean(axis=0)
    assert abs(err[10:130].mean() - err[300:1800].mean()) < 0.06
    assert r.metrics["slit_light"]
    # NaN pixels (not clean) change nothing of that
    sci = truth + stripes
    sci[rng.random(sci.shape) < 0.01] = np.nan
    rn = destripe(sci, lay)
    assert rn.metrics["slit_light"]
    assert np.isfinite(rn.corrected[np.isfinite(sci)]).all()
    errn = np.nanmean(rn.corrected - truth, axis=0)
    assert abs(errn[10:130].mean() - errn[300:1800].mean()) < 0.06
    plain = rng.normal(0, 0.8, (ny, nx)).astype(np.float32) * ~ref
    assert not destripe(plain + stripes, lay).metrics["slit_light"]


def test_own_reference_difference_cancels_each_outputs_stripes():
    """Each output with reference pixels minus its own reference level: the sky profile,
    whatever the outputs' own stripes (the other outputs do not enter)."""
    from jwst1f.destripe.core import _own_reference_difference

    rng = np.random.default_rng(3)
    n, nch = 300, 4
    sky = 0.3 + 0.1 * np.sin(np.arange(n) / 40.0)
    stripes = rng.normal(size=(n, nch)) * 0.05  # different in every output
    means = sky[:, None] + stripes
    rcnt = np.zeros((n, nch))
    rcnt[:, [0, 3]] = 4.0  # reference pixels in the two outer outputs only
    rsum = stripes * rcnt
    valid = np.ones((n, nch), dtype=bool)
    valid[10, 0] = False  # one channel-line not measured: the other output alone
    valid[20, [0, 3]] = False  # no output with reference pixels measured
    d, ok = _own_reference_difference(means, valid, rsum, rcnt)
    assert not ok[20] and ok.sum() == n - 1
    np.testing.assert_allclose(d[ok], sky[ok], atol=1e-12)


@pytest.mark.parametrize("with_band", [True, False])
def test_lines_without_reference_pixels_keep_a_band_of_emission(with_band):
    """Without reference pixels in the lines (here not used), a band of emission filling
    whole lines over ~100 lines stands far above the 1/f in the line means: it is kept as
    sky (it was removed as stripes: 1.1 -> 0.2 DN/s taken from it), and the stripes around
    it are still removed; a frame without it flags nothing."""
    rng = np.random.default_rng(13)
    lay = layout(ny=1024)
    img, stripes = frame(lay, rng)
    lines = np.arange(lay.shape[0], dtype=float)
    band = (0.3 * np.exp(-0.5 * ((lines - 600) / 40.0) ** 2)).astype(np.float32)
    truth = img + (band[:, None] if with_band else 0)
    truth[lay.reference_mask()] = 0.0
    r = destripe(truth + stripes, lay, params=DestripeParams(use_reference_pixels=False))
    assert not r.metrics["reference_anchored"]
    if not with_band:
        assert r.metrics["sky_excursion_lines"] == 0
        return
    assert 100 < r.metrics["sky_excursion_lines"] < 600
    err = (r.corrected - truth)[8:-8, 8:-8].mean(axis=1)
    err -= np.median(err)
    on = slice(600 - 8 - 60, 600 - 8 + 60)  # the band, in the cut frame
    # the band's flux (0.3 DN/s at its peak) is kept to better than 0.01 DN/s on average
    assert abs(err[on].mean()) < 0.01
    # and the stripes are removed there (they are 0.03 DN/s rms)
    assert np.sqrt(np.mean(err[on] ** 2)) < 0.015


def test_the_shoulders_of_a_band_of_emission_are_kept_with_it():
    """The runs of lines kept as sky grow over the band's tails while their smoothed excess
    stands above the noise of the smoothed profile: between 1.5 and 3 of its Gaussian widths
    from its centre (0.033 DN/s on average there) the band lost 0.007-0.015 DN/s when the runs
    stopped at a quarter of the detection threshold."""
    rng = np.random.default_rng(13)
    lay = layout(ny=1024)
    img, stripes = frame(lay, rng)
    lines = np.arange(lay.shape[0], dtype=float)
    band = (0.3 * np.exp(-0.5 * ((lines - 600) / 40.0) ** 2)).astype(np.float32)
    truth = img + band[:, None]
    truth[lay.reference_mask()] = 0.0
    r = destripe(truth + stripes, lay, params=DestripeParams(use_reference_pixels=False))
    err = (r.corrected - truth)[:, 8:-8].mean(axis=1)
    err -= np.median(err)
    shoulders = np.r_[600 - 120 : 600 - 60, 600 + 60 : 600 + 120]
    assert np.sqrt(np.mean(err[shoulders] ** 2)) < 0.011


def test_outputs_masked_almost_entirely_by_the_user():
    """A user mask over 98 % of outputs 2 and 3 and all of output 1 (a trace and its wings):
    the few pixels left in outputs 2 and 3 must not steer the model. Their levels are
    borrowed, so they are no dark reference for the lit-output test (once, every output
    looked lit and whole lines were interpolated), and their channel-line means (ten pixels
    under a background extrapolated from output 0) are not measurements: they borrow
    entirely. Output 0's stripes drop to a third (they rose to 3x before both fixes)."""
    lay = nircam_layout(256, 2048, 4, SUBSTRT2=1000)
    ny, nx = lay.shape
    ref = lay.reference_mask()
    ratios = []
    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        sky = np.where(ref, 0.0, 0.3).astype(np.float32)
        shared = rng.normal(0, 0.05, ny)
        stripes = np.zeros((ny, nx), np.float32)
        for sl in lay.channel_slices():
            stripes[:, sl] = (shared + rng.normal(0, 0.02, ny))[:, None]
        noise = rng.normal(0, 0.1, (ny, nx)).astype(np.float32)
        user = np.zeros((ny, nx), bool)
        user[:, 1024:] = rng.random((ny, 1024)) < 0.98
        user[:, 300:1024] = True
        r = destripe(sky + stripes + noise, lay, user_mask=user)
        err = (r.corrected - (sky + noise))[:, 4:300].mean(axis=1)
        ratios.append(np.std(err) / np.std(stripes[:, 4:300].mean(axis=1)))
    assert np.mean(ratios) < 0.5


def test_level_on_emission_over_most_of_a_line_restarts_from_its_sky():
    """A line 70 % covered by a trace at 4 sigma (its sky the other 30 %): the clip around
    the line's own level settles on the trace. Emission is positive, so a population of
    pixels far below the level is sky: with ``dark`` the level restarts from it and ends at
    the sky; lines without such a population, lines not allowed to, and lines whose dark
    population is smaller than ``min_pixels`` (too few to measure the line on) keep theirs."""
    from jwst1f.destripe.core import _clip

    rng = np.random.default_rng(4)
    n_lines, width = 40, 128
    sky = rng.normal(0.0, 0.03, n_lines)  # the stripes
    a = (sky[:, None] + rng.normal(0.0, 1.0, (n_lines, width))).astype(np.float32)
    lit_lines = np.arange(10, 20)
    a[lit_lines, :90] += 4.0  # 90 of 128 samples: 38 dark
    few = np.arange(25, 30)
    a[few, :110] += 4.0  # 18 dark samples (14 %), fewer than min_pixels (20)
    good = np.ones(a.shape, bool)
    params = DestripeParams()
    start = np.zeros((n_lines, 1))
    start[lit_lines] = 3.5  # as the clip of a level on the trace leaves it
    start[few] = 3.7
    chans = [slice(0, width)]
    kept = _clip(a, good, chans, start, 1.0, params, step=1)
    assert np.all(kept[lit_lines, 0] > 3.0)  # the symmetric clip stays on the trace
    assert np.all(kept[few, 0] > 3.0)
    allowed = np.ones((n_lines, 1), bool)
    allowed[15:20] = False
    out = _clip(a, good, chans, kept, 1.0, params, step=1, dark=allowed)
    assert np.all(np.abs(out[10:15, 0] - sky[10:15]) < 0.5)  # restarted: at the sky
    np.testing.assert_array_equal(out[15:20], kept[15:20])  # not allowed
    np.testing.assert_array_equal(out[few], kept[few])  # too few dark pixels
    others = ~np.isin(np.arange(n_lines), np.r_[lit_lines, few])
    np.testing.assert_array_equal(out[others], kept[others])  # no dark population


def test_restart_kept_only_where_the_lines_around_support_it():
    """A level on a trace stands above the lines around, and its restart from the dark
    samples falls back among them: kept. A restart from the low tail of ordinary sky (a
    level in line with the lines around, moved 2 DN/s below them): refused. Channel-lines
    not restarted are untouched."""
    from jwst1f.destripe.core import _accept_restarts

    rng = np.random.default_rng(5)
    lvl = rng.normal(1.0, 0.1, (64, 2))
    restarted = lvl.copy()
    lvl[30, 0] = 4.0  # settled on a trace
    restarted[30, 0] = 1.05  # restarted at the sky
    restarted[40, 1] = lvl[40, 1] - 2.0  # a spurious restart from a low tail
    restarted[63, 0] = 1.0  # at the frame's edge, from a level on a trace
    lvl[63, 0] = 3.5
    out = _accept_restarts(lvl, restarted)
    assert out[30, 0] == restarted[30, 0]
    assert out[63, 0] == restarted[63, 0]
    assert out[40, 1] == lvl[40, 1]
    others = np.ones(lvl.shape, bool)
    others[[30, 40, 63], [0, 1, 0]] = False
    np.testing.assert_array_equal(out[others], lvl[others])


def test_sky_of_an_output_lit_by_trace_wings_stays_usable():
    """A 64-line four-output window with a bright trace along its lines from pixel 656 on:
    its cross-dispersion wings (0.2-1.3 sigma per pixel) cover all of output 1 but its
    first 144 pixels on every line, so the block fit's constant of output 1 sits on the
    wings and its only empty blocks fall below it. Those blocks lie below the darkest
    output's level (output 0, unlit): they are sky, stay usable, and output 1 is measured
    on them next to the trace's core (where the wings are masked by the clip) instead of
    borrowing its offsets."""
    rng = np.random.default_rng(3)
    lay = layout(ny=64)
    img, stripes = frame(lay, rng)
    dist = np.abs(np.arange(lay.n_lines) - 32.0)
    profile = np.where(dist < 5, 100.0, 2.0 * (4.0 / np.maximum(dist, 1.0)) ** 2) * SIGMA
    light = np.zeros(lay.shape, np.float32)
    light[4:, 656:2044] = profile[4:, None]
    r = destripe(img + light + stripes, lay)
    wings = np.r_[8:24, 42:60]
    assert r.mask[wings, 516:640].mean() > 0.9  # (0 when they were taken for emission)
    err = (r.corrected - img - light)[:, 516:640].mean(axis=1)
    near_core = np.r_[26:30, 35:39]
    # (0.017 when borrowed; measured, 0.002-0.009 over seeds 3-6, with or without the
    # trace-wing mask of the second pass)
    assert np.sqrt(np.mean(err[near_core] ** 2)) < 0.011


def _short_line_trace_frame(seed: int, gradient: float):
    """A SUBS200A1 window (2048 lines of 64 pixels) with a sky gradient along the lines
    (``gradient`` DN/s over the line) and a bright trace off-centre over 800 of its lines."""
    rng = np.random.default_rng(seed)
    ny, nx = 64, 2048
    yy = np.arange(ny)[:, None]
    sky = 0.3 + gradient * yy / ny + np.zeros((ny, nx))
    src = 20.0 * np.exp(-0.5 * ((yy - 48.0) / 1.5) ** 2) * (np.arange(nx) >= 600)
    src = src * (np.arange(nx) < 1400)
    clean = (sky + src + rng.normal(0.0, 0.05, (ny, nx))).astype(np.float32)
    stripes = rng.normal(0.0, 0.05, nx)
    return clean, (clean + stripes[None, :]).astype(np.float32), src > 0.05


@pytest.mark.parametrize("seed", [0, 1])
def test_sky_gradient_along_short_lines_does_not_become_stripes(seed):
    """Lines of 64 pixels still get an along-line background (blocks of 16 pixels there).

    Without it, a 0.08 DN/s sky gradient along the line (1.6 sigma of one pixel) was
    flagged as faint emission over every line and no line was corrected at all.
    """
    lay = nirspec_fs_layout()
    clean, data, lit = _short_line_trace_frame(seed, gradient=0.08)
    r = destripe(data, lay)
    res = r.corrected - clean
    far = np.ones(64, dtype=bool)
    far[40:57] = False  # rows away from the trace
    assert r.mask[far].mean() > 0.9
    per_line = res[far].mean(axis=0)
    on = slice(700, 1300)  # lines through the trace (away from its ends)
    off = np.r_[100:500, 1500:1900]
    assert abs(per_line[on].mean() - per_line[off].mean()) < 0.003
    # input stripes 0.05 DN/s rms; white noise of a line mean 0.05 / sqrt(47)
    assert np.std(per_line[on]) < 0.012
    assert np.std(per_line[off]) < 0.012


def test_along_line_gradient_of_emission_stays_where_the_emission_is():
    """Extended emission with a gradient along the lines fills lines 300-1100 of a full
    frame; below it the sky is flat. The along-line shape must follow the emission there
    and not carry its gradient onto the flat lines, where it would become offsets between
    the outputs. Judged against the same frame without the emission (same noise and
    stripes): one polynomial across the frame moved the outputs' mean model over lines
    1300-2040 apart by 0.002-0.017 DN/s (eight seeds, 0.014 on this one), the smoothing
    across block rows by at most 0.005."""
    rng = np.random.default_rng(2)
    lay = nircam_layout(2048, 2048)
    ny, nx = lay.shape
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float32)
    band = 1.0 / (1.0 + np.exp(-(y - 300) / 20)) / (1.0 + np.exp((y - 1100) / 20))
    emission = (band * (0.2 + 0.6 * x / nx)).astype(np.float32)
    sky = (0.8 + rng.normal(0, 0.1, (ny, nx))).astype(np.float32)
    stripes = output_stripes(lay, rng)
    ref = lay.reference_mask()
    models = []
    for em in (0.0, emission):
        sci = np.where(ref, stripes, sky + em + stripes).astype(np.float32)
        models.append(destripe(sci, lay).model[1300:2040])
    moved = models[1] - models[0]
    per_output = np.array([moved[:, sl].mean() for sl in lay.channel_slices()])
    assert np.ptp(per_output) < 0.007, per_output


@pytest.mark.parametrize("noutputs", [4, 1])
def test_light_filling_a_few_whole_lines_is_kept_as_sky(noutputs):
    """A faint spectrum dispersed along the lines that fills every clean pixel of a few lines
    (cross-dispersion sigma 1.2 lines) looks like a stripe on each line, and the sky profile
    is kept only at 32 lines. The reference pixels see the stripes but not the light, so
    the line means minus their reference level show it: the light stays (before, 73 % of it
    was removed as stripes). Four- and one-output grism windows (reference pixels in
    the outer outputs only, or in the one output's lines at both ends)."""
    rng = np.random.default_rng(4)
    lay = nircam_layout(64, 2048, noutputs, SUBSTRT2=1)
    ny, nx = lay.shape
    ref = lay.reference_mask()
    sky = np.where(ref, 0.0, 1.0)
    light = 3.0 * np.exp(-0.5 * ((np.arange(ny) - 40.0) / 1.2) ** 2)[:, None] * ~ref
    truth = (sky + light + rng.normal(0, 1.0, (ny, nx))).astype(np.float32)
    data = truth + output_stripes(lay, rng, shared=0.5, own=0.15)
    r = destripe(data, lay)
    lines = slice(36, 45)
    cols = ~ref[ny // 2]  # (the first lines of the window are reference lines)
    err = (r.corrected - truth)[lines][:, cols]
    kept = 1.0 + float(err.sum() / light[lines][:, cols].sum())
    assert 0.85 < kept < 1.15
    assert r.metrics["sky_excursion_lines"] >= 3
    # and nothing is flagged without the light
    plain = destripe((sky + rng.normal(0, 1.0, (ny, nx))).astype(np.float32) + data - truth, lay)
    assert plain.metrics["sky_excursion_lines"] == 0


def test_user_mask_over_most_of_a_one_output_strip():
    """A user mask over the right two thirds of a 64 x 2048 one-output strip and its top
    lines, on a sky that rises along the line. The along-line shape fitted on the left third
    was a curvature extrapolated over the rest; the channel's level (its mean over the whole
    line) then fell below the data, every block was flagged as extended emission and no line
    was measured (seed 0: all 64 lines interpolated, the stripes left as they were). Rows
    measured over too little of the line now fit no curvature: every line with pixels is
    measured and the stripes there drop to a fraction. (Rows that span little of the line
    still fit a straight shape: see ``test_sky_gradient_along_short_lines_does_not_become_
    stripes``.)"""
    lay = nircam_layout(64, 2048, 1)
    ny, nx = lay.shape
    ref = lay.reference_mask()
    x = np.arange(nx)[None, :] / nx
    sky = np.where(ref, 0.0, 1.0 + 0.3 * x + 0.4 * x**2).astype(np.float32)
    user = np.zeros((ny, nx), bool)
    user[:, 700:] = True
    user[55:] = True
    n_empty = int(lay.reference_lines_and_pixels()[0].sum()) + 9  # no pixel to measure
    for seed in range(3):
        rng = np.random.default_rng(seed)
        # pink noise along the pixel clock (lines of 2048 pixels and a 12-clock pause)
        n = ny * (nx + 12)
        f = np.fft.rfftfreq(n)
        f[0] = f[1]
        pink = np.fft.irfft((rng.normal(size=f.size) + 1j * rng.normal(size=f.size)) / f**0.5, n)
        onef = pink.reshape(ny, nx + 12)[:, :nx]
        onef = (onef * 0.25 / onef.mean(axis=1).std()).astype(np.float32)
        noise = rng.normal(0, 0.65, (ny, nx)).astype(np.float32)
        r = destripe(sky + onef + noise, lay, user_mask=user)
        assert r.metrics["lines_interpolated"] == n_empty
        err = (r.corrected - (sky + noise))[4:55, 4:700].mean(axis=1)
        before = onef[4:55, 4:700].mean(axis=1)
        assert np.std(err - err.mean()) < 0.4 * np.std(before)


def _shared_wander_frame(seed: int, amplitude: float):
    """A 64 x 2048 four-output window (outputs read in alternating directions) with white
    noise, line offsets, a bright trace over most of outputs 1-3 and a wander within the
    lines common to all outputs at the same readout time (smooth over about 100 pixel clocks,
    rms ``amplitude``)."""
    rng = np.random.default_rng(seed)
    lay = layout(ny=64, nx=2048, noutputs=4, SUBSTRT2=1)
    img, stripes = frame(lay, rng)
    ny, nx = lay.shape
    white = rng.normal(0.0, 1.0, (ny, 512 + 240))
    kernel = np.exp(-0.5 * (np.arange(-120, 121) / 40.0) ** 2)
    wander = np.stack([np.convolve(w, kernel, mode="valid") for w in white])[:, :512]
    wander *= amplitude / wander.std()
    shared = np.zeros((ny, nx), np.float32)
    for k, sl in enumerate(lay.channel_slices()):
        shared[:, sl] = wander if lay.fast_sign[k] > 0 else wander[:, ::-1]
    trace = np.zeros((ny, nx), np.float32)
    trace[28:36, 600:] = 50.0
    return lay, img + trace, (img + trace + stripes + shared).astype(np.float32), shared


def test_wander_shared_by_the_outputs_is_removed_under_a_masked_trace(monkeypatch):
    """Where the pixels of outputs are masked (a trace over most of three outputs), the
    wander within their lines at those readout times is measured on the other outputs: the
    model follows it there; the line offsets of the clean pixels stay what they are (the
    model is zero-mean over each channel-line's clean pixels); segments that the other
    outputs do not see get no model (output 0 on the trace's lines); and a frame without
    shared wander gets none at all. (The search for the trace's wings is off: its mask
    depends on the first pass, with or without the wander model, and the two runs compared
    here must use the same clean pixels.)"""
    monkeypatch.setattr(core, "_TRACE_MAX_LINES", 0)
    lay, truth, data, shared = _shared_wander_frame(0, amplitude=0.4 * SIGMA)
    on = destripe(data, lay)
    off = destripe(data, lay, params=DestripeParams(lowpass="off"))
    assert on.metrics["common_wander"] > 0.2 * SIGMA
    assert off.metrics["common_wander"] == 0.0
    extra = on.model - off.model  # the wander model
    chans = lay.channel_slices()
    for k in (2, 3):  # wholly masked on the trace's lines
        true = shared[28:36, chans[k]] - shared[28:36, chans[k]].mean(axis=1, keepdims=True)
        assert np.std(true - extra[28:36, chans[k]]) < 0.7 * np.std(true)
    # (output 0, clean on those lines, has no other output to measure its wander on)
    assert np.std(extra[28:36, chans[0]]) < 0.3 * np.std(shared[28:36, chans[0]])
    # the channel-line means of the clean pixels: unchanged by the wander model
    for sl in chans:
        c = on.mask[:, sl]
        d = np.where(c, extra[:, sl], 0.0).sum(axis=1)
        n = c.sum(axis=1)
        assert np.all(np.abs(d[n > 0] / n[n > 0]) < 1e-4)
    # no shared wander: no model
    lay, truth, data, _ = _shared_wander_frame(1, amplitude=0.0)
    assert destripe(data, lay).metrics["common_wander"] == 0.0


def test_wander_segment_sums_are_the_same_in_either_memory_order():
    """The segment sums of the shared wander are read in the memory order of the frame: a
    transposed canonical view (NIRSpec, NIRISS) gives the same sums and counts as a
    C-ordered one, and the running sums across lines are the plain windowed sums."""
    from jwst1f.destripe.wander import _box_lines, segment_sums, wander_segment

    rng = np.random.default_rng(5)
    n_lines, length = 96, 512
    chans = [slice(0, 128), slice(128, 256), slice(256, 384), slice(384, 512)]
    seg = wander_segment(chans)
    assert seg == 32
    assert wander_segment(chans[:1]) is None  # one output
    assert wander_segment([slice(0, 100), slice(100, 220)]) is None  # unequal widths
    clean = rng.random((n_lines, length)) > 0.3
    r = np.where(clean, rng.normal(0, 1, (n_lines, length)), 0.0).astype(np.float32)
    out = []
    for x, c in ((r, clean), (np.asfortranarray(r), np.asfortranarray(clean))):
        sums = np.empty((4, 128 // seg, n_lines), np.float32)
        cnts = np.empty_like(sums)
        segment_sums(x, c, chans, seg, sums, cnts)
        out.append((sums, cnts))
    (s_c, n_c), (s_f, n_f) = out
    assert np.array_equal(n_c, n_f)
    np.testing.assert_allclose(s_c, s_f, rtol=1e-5, atol=1e-4)
    # by hand: output 2, segment 1, line 7
    ref = r[7, 256 + 32 : 256 + 64].sum()
    assert abs(s_c[2, 1, 7] - ref) < 1e-4
    assert n_c[2, 1, 7] == clean[7, 256 + 32 : 256 + 64].sum()
    a = rng.normal(0, 1, (3, 40))
    want = np.stack([[a[i, max(0, j - 5) : j + 6].sum() for j in range(40)] for i in range(3)])
    np.testing.assert_allclose(_box_lines(a, 5), want, rtol=1e-12, atol=1e-12)


def _clock_pink(rng, ny: int, nx: int, rms: float) -> np.ndarray:
    """Pink noise along a one-output pixel clock (lines of ``nx`` pixels and a 12-clock
    pause), scaled to an rms of ``rms`` DN/s in its line means, float32 (ny, nx)."""
    n = ny * (nx + 12)
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    pink = np.fft.irfft((rng.normal(size=f.size) + 1j * rng.normal(size=f.size)) / f**0.5, n)
    onef = pink.reshape(ny, nx + 12)[:, :nx]
    return (onef * rms / onef.mean(axis=1).std()).astype(np.float32)


def test_short_lines_with_few_clean_pixels_are_still_measured(monkeypatch):
    """A NIRSpec slit window (columns of 64 pixels) under a user mask that leaves 12 pixels
    per column: each column is still measured on its 12 pixels (an eighth of the line is
    enough, ``core._line_min_pixels``), not interpolated from the few with 20. With the
    full ``min_pixels`` every column was interpolated and, where the timeline model does
    not take over (it declined on the simulator's slit window under such a mask; here it is
    off), the stripes stayed."""
    lay = nirspec_fs_layout()
    ny, nx = lay.shape  # lines are the 2048 columns

    def residual_ratio(seed):
        rng = np.random.default_rng(seed)
        stripes = rng.normal(0, 0.05, nx).astype(np.float32)[None, :]
        noise = rng.normal(0, 0.05, (ny, nx)).astype(np.float32)
        user = np.zeros((ny, nx), bool)
        user[10:62] = True  # rows 0-9 and 62-63 left
        r = destripe(noise + stripes, lay, user_mask=user, params=DestripeParams(lowpass="off"))
        err = (r.corrected - noise)[~user[:, 0]].mean(axis=0)[8:-8]
        return np.std(err - err.mean()) / np.std(stripes[0, 8:-8]), r.metrics

    ratio, metrics = residual_ratio(3)
    assert metrics["lines_interpolated"] < 20
    assert ratio < 0.5
    monkeypatch.setattr(core, "_line_min_pixels", lambda params, *a: params.min_pixels)
    assert residual_ratio(3)[0] > 0.8  # (the same window with the full min_pixels)


def test_anchor_not_tilted_by_lines_borrowed_under_a_user_mask():
    """A one-output 64 x 2048 strip whose user mask covers whole lines (22 + 11 of 64, a
    bright trace and its wings): those lines' offsets are borrowed from their neighbours.
    The reference pixels' anchor weights each line by the variance of its difference, the
    borrowed offsets' included, so that their error does not tilt the anchor over the
    measured lines: there the stripes left are close to those left without the mask (with
    equal weights they were 1.8x those, the anchor tilted by the borrowed lines)."""
    lay = nircam_layout(64, 2048, 1)
    ny, nx = lay.shape
    ref = lay.reference_mask()
    user = np.zeros((ny, nx), bool)
    user[18:40] = True
    user[47:58] = True
    measured = np.flatnonzero(~user.all(axis=1) & ~ref.all(axis=1))
    left = {"mask": [], "none": []}
    for seed in range(6):
        rng = np.random.default_rng(40 + seed)
        sky = np.where(ref, 0.0, 0.5).astype(np.float32)
        onef = _clock_pink(rng, ny, nx, 0.3)
        noise = rng.normal(0, 0.5, (ny, nx)).astype(np.float32)
        for key, um in (("mask", user), ("none", None)):
            r = destripe(sky + onef + noise, lay, user_mask=um)
            err = (r.corrected - (sky + noise))[measured][:, ~ref[measured[0]]].mean(axis=1)
            left[key].append(np.std(err))
    assert np.mean(left["mask"]) < 1.35 * np.mean(left["none"])
