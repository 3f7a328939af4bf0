"""Strong 1/f wandering within the lines: the source mask's thresholds follow the residuals."""

from __future__ import annotations

import numpy as np
from core_helpers import clocked_1f, nircam_layout, stripe_rms

from jwst1f.destripe import core, destripe

SIGMA = 0.1


def test_strong_wandering_1f_keeps_the_mask_to_the_sources(monkeypatch):
    """Ten times the usual 1/f (stripes of about 2 sigma per pixel, wandering within the
    lines by more than the white noise): thresholds in units of the white noise masked
    whole stretches of lines (and their dilation), and the lines' means of what was left
    leant towards their levels. In units of the residuals' own scale the mask stays near
    the sources and the stripes left are a fraction."""
    rng = np.random.default_rng(3)
    lay = nircam_layout(1024, 2048, 4)
    ny, nx = lay.shape
    ref = lay.reference_mask()
    scene = np.full((ny, nx), 0.3)
    yy, xx = rng.uniform(0, ny, 150), rng.uniform(0, nx, 150)
    gy, gx = np.mgrid[0:ny, 0:nx]
    for y0, x0 in zip(yy, xx, strict=True):
        sl = np.s_[max(int(y0) - 8, 0) : int(y0) + 9, max(int(x0) - 8, 0) : int(x0) + 9]
        scene[sl] += 20.0 * np.exp(-((gy[sl] - y0) ** 2 + (gx[sl] - x0) ** 2) / (2 * 1.5**2))
    scene[ref] = 0.0
    truth = scene + rng.normal(0, SIGMA, (ny, nx))
    data = (truth + clocked_1f(lay, rng, 0.5, 0.2)).astype(np.float32)
    empty = (scene - 0.3 < 1e-3) & ~ref
    new = destripe(data, lay)
    ratio = core._WANDER_RATIO
    monkeypatch.setattr(core, "_WANDER_RATIO", np.inf)  # thresholds in white-noise units
    old = destripe(data, lay)
    assert old.metrics["masked_fraction"] > 0.2  # premise: the mask blew up
    assert old.metrics["clip_scale"] == old.metrics["sigma"]
    assert new.metrics["clip_scale"] > ratio * new.metrics["sigma"]
    assert new.metrics["masked_fraction"] < 0.5 * old.metrics["masked_fraction"]
    rms_new = stripe_rms(new.corrected, truth, empty, lay)
    rms_old = stripe_rms(old.corrected, truth, empty, lay)
    assert rms_new < 0.75 * rms_old, (rms_new, rms_old)


def test_usual_1f_leaves_the_thresholds_alone():
    """At the usual 1/f (a fifth of the white noise per pixel) the scale is the white
    noise's: no frame of ordinary data changes."""
    rng = np.random.default_rng(4)
    lay = nircam_layout(512, 2048, 4)
    a = (0.3 + rng.normal(0, SIGMA, lay.shape) + clocked_1f(lay, rng, 0.05, 0.02)).astype(
        np.float32
    )
    good = ~lay.reference_mask()
    resid = a - np.median(a[good])
    neg = resid[good & (resid < 0)]
    scale = core._wander_scale(neg, int(good.sum()), a, good, lay.channel_slices(), SIGMA)
    assert scale == SIGMA
