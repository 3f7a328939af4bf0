"""The destriper on arrays (jwst1f.destripe): correctness, invariances, robustness."""

from __future__ import annotations

import numpy as np
import pytest
from core_helpers import nircam_layout
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.polynomial import legendre

from jwst1f.destripe import DestripeResult, destripe
from jwst1f.destripe.linemodel import smooth_lines
from jwst1f.geometry import layout_from_header
from jwst1f.params import DestripeParams

SIGMA = 0.05  # DN/s white noise per pixel


def remove_low_order(v, order=1):
    """Project out Legendre orders <= order along axis 0 (the degenerate sky trend)."""
    x = np.linspace(-1, 1, v.shape[0])
    c = legendre.legfit(x, v, order)
    return v - legendre.legval(x, c).T


def remove_smooth(v, scale=32.0):
    """Subtract the smooth part (across lines) of the channel average, as kept as sky."""
    sm, _ = smooth_lines(v.mean(axis=1), np.ones(v.shape[0]), scale)
    return v - sm[:, None]


def stripe_pattern(rng, n_lines, n_chan, amp=0.03, uncorrelated=0.3):
    """Per channel-line offsets: shared random-walk-plus-white, plus per-channel part."""
    shared = np.cumsum(rng.normal(0, 1, n_lines)) * 0.1 + rng.normal(0, 1, n_lines)
    per = rng.normal(0, 1, (n_lines, n_chan)) * uncorrelated
    p = remove_low_order(shared[:, None] + per) * amp
    return p - p.mean()


def expand(pattern, layout):
    out = np.zeros((layout.n_lines, layout.line_length), np.float32)
    for k, sl in enumerate(layout.channel_slices()):
        out[:, sl] = pattern[:, k, None]
    return out if layout.fast_axis == 1 else out.T


def scene(rng, shape, *, sky=0.3, n_stars=60, gradient=(0.0, 0.0), refpix=None):
    """Sky, gradients and stars, DN/s; zero on reference pixels (they see no light)."""
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float32)
    img = sky + gradient[0] * (yy / ny - 0.5) + gradient[1] * (xx / nx - 0.5)
    img = img.astype(np.float32)
    for _ in range(n_stars):
        y0, x0 = rng.uniform(8, ny - 8), rng.uniform(8, nx - 8)
        f = rng.uniform(0.5, 200)
        s = rng.uniform(1.0, 2.0)
        y1, y2, x1, x2 = int(y0) - 8, int(y0) + 9, int(x0) - 8, int(x0) + 9
        img[y1:y2, x1:x2] += (
            f
            * np.exp(-((yy[y1:y2, x1:x2] - y0) ** 2 + (xx[y1:y2, x1:x2] - x0) ** 2) / (2 * s * s))
            / (2 * np.pi * s * s)
        )
    if refpix is not None:
        img[refpix] = 0.0
    return img


def line_means(img, layout, exclude=None):
    """Per channel-line mean of img (canonical orientation) over pixels not excluded."""
    a = img if layout.fast_axis == 1 else img.T
    ex = None if exclude is None else (exclude if layout.fast_axis == 1 else exclude.T)
    out = []
    for sl in layout.channel_slices():
        x = a[:, sl].astype(np.float64)
        if ex is None:
            out.append(x.mean(axis=1))
        else:
            w = ~ex[:, sl]
            out.append((x * w).sum(axis=1) / np.maximum(w.sum(axis=1), 1))
    return np.stack(out, axis=1)


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(42)
    lay = nircam_layout()
    truth = scene(rng, lay.shape, refpix=lay.reference_mask())
    pat = stripe_pattern(rng, lay.n_lines, lay.n_channels)
    noise = rng.normal(0, SIGMA, lay.shape).astype(np.float32)
    data = truth + noise + expand(pat, lay)
    return lay, truth + noise, data, pat


def test_result_contract(case):
    lay, clean, data, _ = case
    r = destripe(data, lay)
    assert isinstance(r, DestripeResult)
    for arr in (r.corrected, r.model, r.model_var):
        assert arr.shape == data.shape and arr.dtype == np.float32
        assert np.isfinite(arr).all()
    assert r.mask.dtype == bool and r.mask.shape == data.shape
    np.testing.assert_allclose(r.corrected, data - r.model, atol=1e-6)
    m = r.metrics
    assert len(m["stripe_rms_before"]) == lay.n_channels == len(m["stripe_rms_after"])
    assert 0 < m["masked_fraction"] < 0.5
    assert m["seconds"] > 0
    assert (r.model_var > 0).all()
    import json

    json.dumps(m)


def test_removes_stripes_to_noise_floor(case):
    lay, clean, data, pat = case
    r = destripe(data, lay)
    stars = clean - clean.mean() > 5 * SIGMA
    resid = line_means(r.corrected - clean, lay, exclude=stars)
    resid = remove_low_order(resid - resid.mean())
    before = line_means(data - clean, lay, exclude=stars)
    floor = SIGMA / np.sqrt(lay.line_length / lay.n_channels)
    rms_after = np.sqrt(np.mean(resid[8:-8] ** 2))
    rms_before = np.sqrt(np.mean((before - before.mean()) ** 2))
    assert rms_before > 10 * floor
    assert rms_after < 1.6 * floor, (rms_after, floor)


def test_zero_level_from_reference_pixels_and_sky_kept(case):
    lay, clean, data, pat = case
    r = destripe(data, lay)
    assert r.metrics["reference_anchored"]
    # the stripes' own mean is measured on the ~4000 reference pixels in the lines
    n_ref = 8 * (lay.n_lines - 4)
    assert abs(float(r.model.mean()) - float(pat.mean())) < 4 * SIGMA / np.sqrt(n_ref)
    assert abs(float(np.median(r.corrected) - np.median(clean))) < 2e-3
    # without reference pixels the model is zero-mean: the sky level stays
    r0 = destripe(data, lay, params=DestripeParams(use_reference_pixels=False))
    assert not r0.metrics["reference_anchored"]
    assert abs(float(r0.model.mean())) < 1e-4


def test_sky_gradients_and_sources_preserved():
    """No stripes in: the model is at noise level; a sky gradient along both axes and the
    stars' fluxes come out unchanged."""
    rng = np.random.default_rng(3)
    lay = nircam_layout(ny=512, nx=2048)
    truth = scene(rng, lay.shape, gradient=(0.2, 0.3), n_stars=80, refpix=lay.reference_mask())
    data = truth + rng.normal(0, SIGMA, lay.shape).astype(np.float32)
    r = destripe(data, lay)
    floor = SIGMA / np.sqrt(512)
    assert np.sqrt(np.mean(r.model**2)) < 2.0 * floor
    # no steps at channel boundaries: the x gradient is kept
    prof = (r.corrected - data).mean(axis=0)
    assert np.ptp(prof) < 4 * floor
    # aperture flux of a bright star
    yy, xx = np.unravel_index(np.argmax(truth), truth.shape)
    ap = (slice(yy - 6, yy + 7), slice(xx - 6, xx + 7))
    diff = float((r.corrected[ap] - data[ap]).sum())
    assert abs(diff) < 13 * 13 * 3 * floor


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), amp=st.floats(0.0, 0.5))
def test_property_added_line_pattern_changes_output_within_noise(seed, amp):
    """Adding any per-channel-line constant pattern changes the corrected output by no more
    than the noise, apart from the pattern's smooth part across lines (scale
    background_slow_scale_noref), which is kept as sky when no reference pixels anchor it."""
    rng = np.random.default_rng(seed)
    lay = nircam_layout(ny=256, nx=1024, noutputs=4, SUBSTRT1=513)
    base = scene(rng, lay.shape, n_stars=20, refpix=lay.reference_mask())
    base += rng.normal(0, SIGMA, lay.shape).astype(np.float32)
    pat = np.zeros((lay.n_lines, lay.n_channels))
    pat[4:] = rng.normal(0, 1, (lay.n_lines - 4, lay.n_channels)) * amp  # rows 0-3: refpix
    # no reference pixel in these lines: the smooth part kept has background_slow_scale_noref
    scale = DestripeParams().background_slow_scale_noref
    kept, _ = smooth_lines(pat.mean(axis=1), (np.arange(lay.n_lines) >= 4).astype(float), scale)
    r0 = destripe(base, lay)
    r1 = destripe(base + expand(pat, lay), lay)
    d = line_means(r1.corrected - r0.corrected, lay)[4:] - kept[4:, None]
    floor = SIGMA / np.sqrt(lay.line_length / lay.n_channels)
    assert np.isfinite(r1.corrected).all()
    assert np.sqrt(np.mean((d - d.mean()) ** 2)) < 2.5 * floor


def test_idempotent(case):
    lay, _, data, _ = case
    r1 = destripe(data, lay)
    r2 = destripe(r1.corrected, lay)
    floor = SIGMA / np.sqrt(512)
    assert np.sqrt(np.mean(r2.model**2)) < 1.0 * floor


def test_nirspec_orientation_equals_transposed_nircam(case):
    lay, _, data, _ = case
    lay_t = layout_from_header(
        {
            "INSTRUME": "NIRSPEC",
            "DETECTOR": "NRS1",
            "EXP_TYPE": "NRS_FIXEDSLIT",
            "SUBARRAY": "SUBTEST",
            "SUBSTRT1": 1,
            "SUBSTRT2": 1,
            "SUBSIZE1": lay.shape[0],
            "SUBSIZE2": lay.shape[1],
            "FASTAXIS": 2,
            "SLOWAXIS": 1,
            "NOUTPUTS": 4,
        }
    )
    r = destripe(data, lay)
    rt = destripe(np.ascontiguousarray(data.T), lay_t)
    np.testing.assert_allclose(rt.model, r.model.T, atol=1e-5)
    np.testing.assert_array_equal(rt.mask, r.mask.T)


def test_rateints_3d(case, monkeypatch):
    # (the search for faint light on the sum of the integrations switched off: the second
    # integration is the first upside down, so their sum has light where neither has)
    from jwst1f.destripe import core

    monkeypatch.setattr(core, "_joint_halos", lambda block_sums, layout: None)
    lay, _, data, _ = case
    cube = np.stack([data, data[::-1].copy()])
    dq = np.zeros(cube.shape, np.uint32)
    r = destripe(cube, lay, dq=dq)
    assert r.corrected.shape == cube.shape
    r0 = destripe(data, lay)
    # integration 0 is destriped as on its own, up to the joint-sky term: one value per line
    diff = r.model[0] - r0.model
    np.testing.assert_allclose(diff, np.broadcast_to(diff[:, :1], diff.shape), atol=1e-6)
    assert np.sqrt(np.mean(diff**2)) < 0.01
    assert r.metrics["nints"] == 2 and len(r.metrics["per_integration"]) == 2
    assert r.metrics["joint_sky"]


def test_rateints_joint_sky_removes_slow_stripes_without_reference_pixels():
    """A window with no reference pixels: each integration alone must keep its slow 1/f with
    the sky; together, the sky (common) and the slow 1/f (not common) separate."""
    rng = np.random.default_rng(21)
    lay = nircam_layout(ny=256, nx=512, noutputs=1, SUBSTRT1=700, SUBSTRT2=700)
    nints = 6
    yy = np.arange(256, dtype=np.float32)[:, None]
    sky = 0.3 + 0.1 * np.sin(yy / 120.0) + np.zeros((1, 512), np.float32)  # common sky shape
    cube = np.empty((nints, 256, 512), np.float32)
    slow = np.empty((nints, 256))
    for i in range(nints):
        slow[i] = 0.05 * np.sin(yy[:, 0] / rng.uniform(30, 60) + rng.uniform(0, 6))
        cube[i] = sky + slow[i][:, None] + rng.normal(0, SIGMA, (256, 512))
    # a fine sky scale (as for emission-rich fields), so that each integration alone keeps
    # its slow 1/f with the sky
    p = DestripeParams(background_slow_scale_noref=32)
    joint = destripe(cube, lay, params=p)
    alone = np.stack([destripe(cube[i], lay, params=p).corrected for i in range(nints)])

    def slow_error(corr):
        lm = (corr - sky).mean(axis=2)  # per integration, per line
        lm = lm - lm.mean(axis=1, keepdims=True)
        return np.sqrt(np.mean(lm**2))

    common = slow.mean(axis=0)  # the part common to all integrations cannot be told from sky
    floor = np.sqrt(np.mean((common - common.mean()) ** 2))
    assert slow_error(joint.corrected) < 0.75 * slow_error(alone)
    assert slow_error(joint.corrected) < floor + 0.01
    # the common sky shape stays
    prof = joint.corrected.mean(axis=(0, 2)) - 0.3
    assert np.corrcoef(prof, sky[:, 0] - 0.3)[0, 1] > 0.95


def test_dq_nan_and_masked_channel(case):
    lay, _, data, _ = case
    d = data.copy()
    dq = np.zeros(d.shape, np.uint32)
    d[100] = np.nan  # a NaN-only line
    d[200, :700] = np.inf
    dq[:, 512:1024] = 1  # a fully masked channel (DO_NOT_USE)
    dq[300:310] |= 2  # saturated lines
    r = destripe(d, lay, dq=dq)
    fin = np.isfinite(d)
    assert np.isfinite(r.corrected[fin]).all() and not np.isfinite(r.corrected[~fin]).any()
    assert np.isfinite(r.model).all() and np.isfinite(r.model_var).all()
    assert not r.mask[:, 512:1024].any() and not r.mask[100].any()
    # the masked channel and the NaN line are still corrected (borrowed), not left alone
    ref = destripe(data, lay)
    diff = r.model[:, 600] - ref.model[:, 600]
    assert np.sqrt(np.mean(diff**2)) < 0.5 * np.sqrt(np.mean(ref.model[:, 600] ** 2))
    assert r.metrics["lines_interpolated"] >= 1
    # NaN lines are predicted from the lines read before and after them (the shared offset
    # series is Wiener-filtered: the prediction follows their smooth part): over many such
    # lines the prediction beats leaving them uncorrected
    _, _, _, pat = case
    lost = np.arange(20, 500, 23)
    d2 = data.copy()
    d2[lost] = np.nan
    r2 = destripe(d2, lay)
    err = r2.model[lost, 10] - r2.model.mean() - pat[lost, 0]
    assert np.sqrt(np.mean(err**2)) < np.sqrt(np.mean(pat[lost, 0] ** 2))


def test_unflagged_detector_defects_leave_the_model_within_the_noise(case):
    """Hot and low pixels and cosmic-ray residuals that no DQ flag marks (0.1 % each of
    5-500 and 1-50 DN/s, 80 blobs of 1-20 DN/s) are rejected by the symmetric clip: the
    per channel-line model moves by a fraction of the white-noise floor, where a plain mean
    of the lines would move by about a hundred times it."""
    lay, clean, data, _ = case
    rng = np.random.default_rng(7)
    bad = data.copy()
    hot = rng.random(lay.shape) < 0.001
    bad[hot] += np.exp(rng.uniform(np.log(5), np.log(500), hot.sum())).astype(np.float32)
    low = rng.random(lay.shape) < 0.001
    bad[low] -= np.exp(rng.uniform(np.log(1), np.log(50), low.sum())).astype(np.float32)
    yy, xx = np.mgrid[0 : lay.shape[0], 0 : lay.shape[1]]
    for _ in range(80):
        y0, x0 = rng.integers(0, lay.shape[0]), rng.integers(0, lay.shape[1])
        bad[(yy - y0) ** 2 + (xx - x0) ** 2 < rng.uniform(4, 36)] += rng.uniform(1, 20)
    floor = SIGMA / np.sqrt(lay.line_length / lay.n_channels)
    naive = line_means(bad - data, lay)
    assert np.sqrt(np.mean((naive - naive.mean()) ** 2)) > 30 * floor
    moved = line_means(destripe(bad, lay).model - destripe(data, lay).model, lay)
    moved -= moved.mean()
    assert np.sqrt(np.mean(moved**2)) < 0.6 * floor
    assert np.abs(moved).max() < 3 * floor


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (8, 8), (5, 64), (64, 5)])
def test_tiny_subarrays(shape):
    rng = np.random.default_rng(0)
    lay = nircam_layout(ny=shape[0], nx=shape[1], noutputs=1, SUBSTRT1=100, SUBSTRT2=100)
    d = rng.normal(1, 0.1, shape).astype(np.float32)
    r = destripe(d, lay)
    assert np.isfinite(r.corrected).all() and r.corrected.shape == shape


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    nan_frac=st.sampled_from([0.0, 0.1, 0.9, 0.999, 1.0]),
    ny=st.integers(1, 40),
    nx=st.integers(1, 40),
)
def test_property_never_blows_up(seed, nan_frac, ny, nx):
    rng = np.random.default_rng(seed)
    lay = nircam_layout(ny=ny, nx=nx, noutputs=1, SUBSTRT1=300, SUBSTRT2=300)
    d = rng.normal(0, 1, (ny, nx)).astype(np.float32) * rng.choice([1e-6, 1, 1e6])
    d[rng.random((ny, nx)) < nan_frac] = np.nan
    r = destripe(d, lay)
    fin = np.isfinite(d)
    assert np.isfinite(r.corrected[fin]).all()
    assert np.isfinite(r.model).all() and np.isfinite(r.model_var).all()


def test_miri_imaging_banding():
    rng = np.random.default_rng(7)
    lay = layout_from_header(
        {
            "INSTRUME": "MIRI",
            "DETECTOR": "MIRIMAGE",
            "EXP_TYPE": "MIR_IMAGE",
            "SUBARRAY": "FULL",
            "SUBSIZE1": 1032,
            "SUBSIZE2": 1024,
            "FASTAXIS": 1,
            "SLOWAXIS": 2,
        }
    )
    truth = scene(rng, lay.shape, sky=5.0, n_stars=30)
    truth[:, :360] = 0.5  # dark coronagraph / LRS region
    truth[lay.reference_mask()] = 0.0  # reference columns see no light
    pat = stripe_pattern(rng, lay.n_lines, 4, amp=0.05)
    data = truth + rng.normal(0, SIGMA, lay.shape).astype(np.float32) + expand(pat, lay)
    r = destripe(data, lay)
    # the dark left region is destriped on its own and its banding estimates are combined
    ex = destripe(data, lay, params=DestripeParams(miri_dark_region="exclude"))
    assert not ex.mask[:, :360].any() and r.mask[:, 10:350].mean() > 0.9
    idx = lay.channel_index()
    x = np.arange(lay.shape[1])
    field = (x >= 400) & (x < 1028)

    def stripe_error(res):
        """Per channel-line error of the model against the true pattern, smooth part out."""
        err = (res.model - expand(pat, lay)).astype(np.float64)
        lm = np.stack([err[:, (idx == k) & field].mean(axis=1) for k in range(4)]).T
        return np.sqrt(np.mean(remove_smooth(lm - lm.mean()) ** 2))  # MIRI: no anchoring

    floor = SIGMA / np.sqrt(157)
    assert np.sqrt(np.mean(pat**2)) > 10 * floor
    assert stripe_error(ex) < 1.6 * floor
    # the dark region measured on its own and combined: better than excluding it
    assert stripe_error(r) < 0.9 * stripe_error(ex)


@pytest.mark.parametrize(
    "subarray, shape, ystart", [("SUB128", (128, 136), 889), ("SUB64", (64, 72), 779)]
)
def test_miri_window_inside_the_dark_region_is_measured(subarray, shape, ystart):
    """SUB128 and SUB64 lie in the left columns that full frames treat as dark: the window was
    placed there on purpose, so its pixels are measured (they were all excluded: nothing was
    corrected)."""
    rng = np.random.default_rng(3)
    lay = layout_from_header(
        {
            "INSTRUME": "MIRI",
            "DETECTOR": "MIRIMAGE",
            "EXP_TYPE": "MIR_IMAGE",
            "SUBARRAY": subarray,
            "SUBSTRT1": 1,
            "SUBSTRT2": ystart,
            "SUBSIZE1": shape[1],
            "SUBSIZE2": shape[0],
            "FASTAXIS": 1,
            "SLOWAXIS": 2,
        }
    )
    truth = scene(rng, lay.shape, sky=5.0, n_stars=3)
    truth[lay.reference_mask()] = 0.0
    pat = stripe_pattern(rng, lay.n_lines, 4, amp=0.05)
    data = truth + rng.normal(0, SIGMA, lay.shape).astype(np.float32) + expand(pat, lay)
    r = destripe(data, lay)
    assert r.metrics["masked_fraction"] < 0.5
    assert r.metrics["lines_interpolated"] == 0
    field = ~lay.reference_mask()
    before = (data - truth)[field].std()
    after = (r.corrected - truth)[field].std()
    assert after < 0.8 * before


def test_shape_mismatch_raises(case):
    lay, _, data, _ = case
    with pytest.raises(ValueError, match="layout"):
        destripe(data[:, :100], lay)
    with pytest.raises(ValueError, match="dq"):
        destripe(data, lay, dq=np.zeros((3, 3), np.uint32))


def test_user_mask_is_respected(case):
    lay, _, data, _ = case
    um = np.zeros(data.shape, bool)
    um[:, :300] = True
    r = destripe(data, lay, user_mask=um)
    assert not r.mask[:, :300].any()


def test_bright_pixels_under_the_user_mask_still_seed_the_dilation(case):
    """A source whose bright core the user masked still has its faint wings masked: the
    bright pixels under the user mask seed the dilation (``dilate_radius``) as they would
    unmasked (a grism strip with its trace masked above 5 DN/s was worse than with no mask,
    its wings next to the mask having been used). A mask over faint pixels does not grow:
    exact masks stay exact."""
    lay, _, data, _ = case
    data = data.copy()
    core = np.zeros(data.shape, bool)
    core[200:210, 600:700] = True
    wings = np.zeros(data.shape, bool)
    wings[198:212, 598:702] = True
    wings &= ~core
    data[core] += 100 * SIGMA  # a bright core ...
    data[wings] += 1.5 * SIGMA  # ... and faint wings just outside it
    r = destripe(data, lay, user_mask=core)
    assert not r.mask[wings].any()
    faint = np.zeros(data.shape, bool)
    faint[350:360, 600:700] = True  # nothing bright there
    ring = np.zeros(data.shape, bool)
    ring[348:362, 598:702] = True
    ring &= ~faint
    r2 = destripe(data, lay, user_mask=faint)
    assert r2.mask[ring].mean() > 0.9


def test_params_change_behaviour(case):
    lay, _, data, _ = case
    r_one = destripe(data, lay, params=DestripeParams(fit_by_channel=False))
    m = r_one.model
    # one offset per line for all channels
    np.testing.assert_allclose(m[:, 10], m[:, 1500], atol=1e-6)
