"""Faint light around compact sources (jwst1f.destripe.masking.faint_halos)."""

from __future__ import annotations

import numpy as np
from core_helpers import nircam_layout

from jwst1f.destripe import destripe
from jwst1f.destripe.masking import faint_halos
from jwst1f.params import DestripeParams

SIGMA = 0.05


def _blob(shape, y0, x0, peak, scale):
    """An exponential disc, ``peak * exp(-r / scale)``, float32."""
    yy, xx = np.indices(shape, dtype=np.float32)
    return (peak * np.exp(-np.hypot(yy - y0, xx - x0) / scale)).astype(np.float32)


def _galaxies(shape, brightness):
    """Six faint exponential discs on a 1024 x 2048 frame: peaks of 0.4-0.8 sigma times
    ``brightness``, scale lengths 6-12 pixels (float32, DN/s)."""
    light = np.zeros(shape, np.float32)
    for y0, x0, peak, scale in [
        (200, 300, 0.6, 9.0),
        (300, 1300, 0.8, 12.0),
        (700, 800, 0.5, 7.2),
        (800, 1800, 0.4, 6.0),
        (500, 1700, 0.7, 10.8),
        (900, 200, 0.6, 8.4),
    ]:
        light += _blob(shape, y0, x0, brightness * peak * SIGMA, scale)
    return light


def test_faint_halo_below_the_pixel_noise_is_found():
    """A disc of 0.3 sigma peak and 15-pixel scale length (all of it below the per-pixel
    clip) is found in square windows, although the line levels hold its light; noise alone
    flags few blocks."""
    rng = np.random.default_rng(11)
    n_lines, width = 1024, 2048
    light = _blob((n_lines, width), 500, 700, 0.3, 15.0)
    resid = rng.normal(0, 1, (n_lines, width)).astype(np.float32) + light
    chans = [slice(k * 512, (k + 1) * 512) for k in range(4)]
    for sl in chans:  # levels measured with the disc's light in them
        resid[:, sl] -= resid[:, sl].mean(axis=1, keepdims=True)
    clean = np.ones(resid.shape, bool)
    flag = faint_halos(resid, clean, block=16, segments=chans)
    assert flag.shape == (n_lines // 16, width)
    full = np.repeat(flag, 16, axis=0)
    core = light > 0.05  # within 27 pixels of the centre
    assert full[core].mean() > 0.9
    assert full[light < 1e-3].mean() < 0.01
    # pure noise: at most a few windows per scale, each grown by one block
    noise = rng.normal(0, 1, (n_lines, width)).astype(np.float32)
    assert faint_halos(noise, clean, block=16, segments=chans).mean() < 0.01


def test_wander_shared_by_the_outputs_is_not_light():
    """An excursion of the 1/f along the lines is the same in all outputs at the same read
    time (outputs read simultaneously, the 1/f mostly common to them): given the read
    directions, it is not taken for light, while a disc in one output still is."""
    rng = np.random.default_rng(15)
    n_lines, width = 1024, 2048
    dirs = (1, -1, 1, -1)  # a 4-output full frame: alternate read directions
    t = np.zeros((n_lines, 512), np.float32)
    t[400:500, 160:208] = 0.3  # in read-time order, the same in every output
    wander = np.concatenate([t if d > 0 else t[:, ::-1] for d in dirs], axis=1)
    light = _blob((n_lines, width), 800, 1300, 0.5, 15.0)  # in output 2 only
    resid = (rng.normal(0, 1, (n_lines, width)) + wander + light).astype(np.float32)
    chans = [slice(k * 512, (k + 1) * 512) for k in range(4)]
    for sl in chans:
        resid[:, sl] -= resid[:, sl].mean(axis=1, keepdims=True)
    clean = np.ones(resid.shape, bool)
    shared = wander > 0
    disc = light > 0.5 * np.exp(-1.0)  # within one scale length
    with_d = faint_halos(resid, clean, segments=chans, directions=dirs, grow=0)
    with_d = np.repeat(with_d, 16, axis=0)
    without = np.repeat(faint_halos(resid, clean, segments=chans, grow=0), 16, axis=0)
    assert without[shared].mean() > 0.5  # without the directions it looks like light
    assert with_d[shared].mean() < 0.05
    assert with_d[disc].mean() > 0.9
    assert with_d[~shared & (light < 1e-3)].mean() < 0.01  # noise elsewhere


def test_no_search_where_the_window_is_too_small():
    """A scale is tested only where the segment is more than 4 windows long and wide: in a
    64-line strip (4 blocks of 16 lines) nothing is flagged, however bright the light."""
    rng = np.random.default_rng(12)
    resid = rng.normal(0, 1, (64, 2048)).astype(np.float32)
    resid += _blob(resid.shape, 32, 1000, 3.0, 10.0)
    clean = np.ones(resid.shape, bool)
    assert not faint_halos(resid, clean, block=16).any()
    assert faint_halos(resid[:, :0], clean[:, :0]).shape == (4, 0)


def test_faint_galaxies_keep_their_flux():
    """Faint galaxies (exponential discs of 0.4-0.8 sigma peak and 6-12 pixel scale length,
    all of their light below the per-pixel clip) on a striped 4-output frame: the clip
    leaves their light in the means of the lines through them, which took 14 % of the flux
    in their apertures (down to 0.02 sigma) before the square-window search (mean over
    three frames; 17, 12 and 12 %), and 7 % now (the perfect-mask oracle: 0.8 %).
    Without the reference-pixel anchor: over apertures this large, the noise of the
    anchored slow modes is as large as the effect tested."""
    losses = []
    for seed in (13, 14, 15):
        rng = np.random.default_rng(seed)
        lay = nircam_layout(1024, 2048, 4)
        ny, nx = lay.shape
        light = _galaxies((ny, nx), 1.0)
        sky = np.full((ny, nx), 0.3, np.float32)
        sky[lay.reference_mask()] = 0.0
        light[lay.reference_mask()] = 0.0
        noise = rng.normal(0, SIGMA, (ny, nx)).astype(np.float32)
        stripes = np.zeros((ny, nx), np.float32)
        shared = rng.normal(0, 0.03, ny)
        for sl in lay.channel_slices():
            stripes[:, sl] = (shared + rng.normal(0, 0.01, ny))[:, None]
        r = destripe(
            sky + light + noise + stripes, lay, params=DestripeParams(use_reference_pixels=False)
        )
        on = light > 0.02 * SIGMA  # the galaxies' apertures
        bg = (light < 1e-4 * SIGMA) & ~lay.reference_mask()
        err = r.corrected - (sky + noise) - light  # what the correction got wrong
        err -= err[bg].mean()  # relative to the background, as photometry sees it
        losses.append(-err[on].sum() / light[on].sum())
    assert np.mean(losses) < 0.1


def test_rateints_search_the_sum_of_the_integrations():
    """Four integrations of the same faint galaxies (half as bright as in the test above:
    0.2-0.4 sigma peak per integration), each with its own stripes and noise. The search
    on the sum of the integrations (twice deeper) masks their light several times more
    often than each integration's own search, and the flux taken from their apertures
    drops (over three exposures: 11 -> 7 %, each exposure better)."""
    params = DestripeParams(use_reference_pixels=False)
    lay = nircam_layout(1024, 2048, 4)
    ny, nx = lay.shape
    ref = lay.reference_mask()
    light = _galaxies((ny, nx), 0.5)
    light[ref] = 0.0
    sky = np.where(ref, 0.0, 0.3).astype(np.float32)
    on = light > 0.02 * SIGMA  # the galaxies' apertures
    bg = (light < 1e-4 * SIGMA) & ~ref
    n = 4
    joint_loss, own_loss, joint_masked, own_masked = [], [], [], []
    for seed in (21, 22, 23):
        rng = np.random.default_rng(seed)
        noise = rng.normal(0, SIGMA, (n, ny, nx)).astype(np.float32)
        stripes = np.zeros((n, ny, nx), np.float32)
        for i in range(n):
            shared = rng.normal(0, 0.03, ny)
            for sl in lay.channel_slices():
                stripes[i][:, sl] = (shared + rng.normal(0, 0.01, ny))[:, None]
        sci = sky + light + noise + stripes

        def loss(corrected, noise=noise):
            err = corrected - (sky + noise) - light
            err -= err[:, bg].mean(axis=1)[:, None, None]  # photometry's own background
            return -err[:, on].sum() / (n * light[on].sum())

        joint = destripe(sci, lay, params=params)
        own = [destripe(sci[i], lay, params=params) for i in range(n)]
        joint_loss.append(loss(joint.corrected))
        own_loss.append(loss(np.stack([r.corrected for r in own])))
        joint_masked.append(1.0 - joint.mask[:, on].mean())
        own_masked.append(1.0 - np.stack([r.mask for r in own])[:, on].mean())
    assert np.all(np.array(joint_loss) < np.array(own_loss))
    assert np.mean(joint_loss) < 0.75 * np.mean(own_loss)
    assert np.mean(joint_masked) > 3.0 * np.mean(own_masked)


def test_flags_spread_to_positive_neighbours():
    """Elongated faint galaxies (exponential discs, scale length 60 pixels along the major
    axis, axis ratio 0.2, peaks of 0.4-0.6 sigma) fit square windows poorly: their light
    continues beyond the windows that find it. Flags that spread to the neighbouring
    blocks whose own one-block sum stands above 2 robust scatters leave less of that light
    in the clean pixels on every frame (by 0.018-0.024 of the total: 0.44-0.50 -> 0.42-0.49),
    hardly more empty pixels are taken, and on pure noise hardly anything is added."""
    n_lines, width = 1024, 2048
    chans = [slice(k * 512, (k + 1) * 512) for k in range(4)]
    yy, xx = np.indices((n_lines, width), dtype=np.float32)
    light = np.zeros((n_lines, width), np.float32)
    for y0, x0, peak, pa in [
        (200, 300, 0.6, 20.0),
        (300, 1300, 0.4, 75.0),
        (700, 800, 0.5, 130.0),
        (800, 1800, 0.6, 170.0),
    ]:
        th = np.deg2rad(pa)
        u = (xx - x0) * np.cos(th) + (yy - y0) * np.sin(th)
        v = (yy - y0) * np.cos(th) - (xx - x0) * np.sin(th)
        light += peak * np.exp(-np.hypot(u, v / 0.2) / 60.0)
    empty = light < 1e-3
    for seed in (41, 42, 43):
        rng = np.random.default_rng(seed)
        resid = rng.normal(0, 1, (n_lines, width)).astype(np.float32) + light
        clean = np.abs(resid) < 3.0  # the per-pixel clip
        for sl in chans:  # levels measured with the discs' light in them
            lv = (resid[:, sl] * clean[:, sl]).sum(axis=1) / clean[:, sl].sum(axis=1)
            resid[:, sl] -= lv[:, None]
        resid *= clean
        left, taken = [], []
        for grow_sigma in (None, 2.0):
            flag = faint_halos(resid, clean, segments=chans, grow=0, grow_sigma=grow_sigma)
            kept = clean & ~np.repeat(flag, 16, axis=0)
            left.append(float((light * kept).sum() / light.sum()))
            taken.append(float((clean & ~kept)[empty].mean()))
        assert left[1] < left[0] - 0.01
        assert taken[1] < taken[0] + 0.002
    noise = np.random.default_rng(44).normal(0, 1, (n_lines, width)).astype(np.float32)
    ones = np.ones(noise.shape, bool)
    base = faint_halos(noise, ones, segments=chans, grow=0)
    grown = faint_halos(noise, ones, segments=chans, grow=0, grow_sigma=2.0)
    assert grown.mean() < base.mean() + 0.001
