"""Per-output pedestals of a grism time-series window from its reference pixels and boundaries."""

from __future__ import annotations

import numpy as np
import pytest
from core_helpers import nircam_layout, output_stripes

from jwst1f.destripe import core, destripe
from jwst1f.params import DestripeParams


def _grism_window(seed: int):
    """A 64 x 2048 window read by four outputs (reference lines 0-3, reference columns 0-3
    and 2044-2047 in the outer outputs): a bright trace along lines 25-43 over the middle
    outputs, and faint light (far wings, scattered light) that rises linearly across output 3
    only, continuous at its boundary with output 2. Returns (data, scene, noise, layout)."""
    lay = nircam_layout(64, 2048, 4)
    ny, nx = lay.shape
    rng = np.random.default_rng(seed)
    x = np.arange(nx)
    y = np.arange(ny)[:, None]
    scene = np.broadcast_to(np.clip((x - 1536) / 512, 0, None), (ny, nx)).astype(np.float32)
    trace = 200.0 * np.exp(-0.5 * ((y - 34) / 3.0) ** 2) + 20.0 / (1 + ((y - 34) / 4.0) ** 2)
    scene = scene.copy()
    scene[:, 300:1800] += trace.astype(np.float32)
    scene[lay.reference_mask()] = 0.0
    stripes = np.zeros((ny, nx), np.float32)
    shared = rng.normal(0, 0.3, ny)
    for sl in lay.channel_slices():
        stripes[:, sl] = (shared + rng.normal(0, 0.1, ny) + rng.normal(0, 0.2))[:, None]
    noise = rng.normal(0, 1.0, (ny, nx)).astype(np.float32)
    return scene + stripes + noise, scene, noise, lay


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_light_in_one_outer_output_does_not_shift_the_pedestals(seed):
    """With the middle outputs lit by the trace, the line model takes output 3's faint light
    for its pedestal (main before the per-output pedestals: the outputs' mean errors
    relative to each other were 0.3-0.6 DN/s, output 0 against output 3). The reference
    pixels of outputs 0 and 3 see no light and the light is continuous across the
    boundaries: the pedestals come out right, within 0.15 DN/s."""
    data, scene, noise, lay = _grism_window(seed)
    r = destripe(data, lay)
    err = np.array([(r.corrected - scene - noise)[4:, sl].mean() for sl in lay.channel_slices()])
    assert np.max(np.abs(err - err.mean())) < 0.15


def test_pedestals_left_alone_where_the_reference_pixels_agree():
    """Offsets that the reference pixels agree with (no significant difference): no shift,
    so frames without the problem are unchanged."""
    data, scene, noise, lay = _grism_window(0)
    truth = data - scene - noise
    n_lines, nch = lay.shape[0], lay.n_channels
    chans = lay.channel_slices()
    offset = np.array([truth[:, sl].mean(axis=1) for sl in chans]).T.astype(float)
    rsum = np.zeros((n_lines, nch))
    rcnt = np.zeros((n_lines, nch))
    rsum[4:, 0] = data[4:, 0:4].sum(axis=1)
    rsum[4:, 3] = data[4:, 2044:].sum(axis=1)
    rcnt[4:, [0, 3]] = 4
    params = DestripeParams()
    out = core._output_pedestals(data, [], offset, rsum, rcnt, 1.0, params)
    assert out is None
    # and with output 3's offsets 1 DN/s too high, and no boundary measured, it moves by -1
    # relative to output 0 (the other outputs, unlinked, stay with the prior between)
    wrong = offset.copy()
    wrong[:, 3] += 1.0
    shift, var = core._output_pedestals(data, [], wrong, rsum, rcnt, 1.0, params)
    assert abs((shift[3] - shift[0]) + 1.0) < 0.2
    assert np.all(var > 0)


def test_short_window_pedestals_from_reference_pixels_and_jumps():
    """A 128-line grism time-series window (independent generator, real SUBGRISM128 layout):
    the trace's wings light the middle outputs on most lines, and the sky rises by 0.04 DN/s
    along the line. The line model's pedestals rest on the along-line sky shape, fitted on
    two block rows only (its slope off by 0.005 DN/s rms and biased by the wings), so output
    3 came out 0.007-0.013 DN/s too high against output 0 on seeds 0-3, each below the 3
    sigma that called for the reference pixels and boundary jumps (rms 0.010 DN/s). In a
    window too short for the jump corrections those are always used: rms 0.002."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.independent import SUBARRAYS, _meta, make_frame
    from jwst1f.geometry import layout_from_header
    from jwst1f.simulate.metadata import header_from_meta

    v = next(x for x in SUBARRAYS if x.name == "NRCALONG SUBGRISM128")
    lay = layout_from_header(header_from_meta(_meta(v)))
    inner = ~lay.reference_mask()[10]  # the pixels of a line that are not reference pixels
    diff = []
    for seed in range(4):
        f = make_frame(np.random.default_rng(seed), lay, v)
        r = destripe(f["sci"], lay)
        err = r.model - (f["sci"] - f["rate_no1f"])  # the model minus the true 1/f
        e = [err[4:, sl][:, inner[sl]].mean() for sl in lay.channel_slices()]
        diff.append(e[3] - e[0])
    assert np.sqrt(np.mean(np.square(diff))) < 0.005, diff


def test_light_ending_at_the_output_boundaries_is_not_a_pedestal():
    """Slices that light the two middle outputs right up to their outer boundaries on most
    lines: where the reference pixels call for step 8c (a 3-sigma chance in this seed), the
    jumps at those boundaries are taken only on lines where the two outputs are alike (here:
    neither lit). Taken on
    every line (the robust outlier test keeps the lit majority), they moved both middle
    outputs by the light's level: 79 % of the slices' flux was removed."""
    rng = np.random.default_rng(2)
    lay = nircam_layout(1024, 2048, 4)
    ny, nx = lay.shape
    light = np.zeros((ny, nx), np.float32)
    for x0 in range(512, 1536, 32):  # 30-pixel slices, 2-pixel gaps, outputs 1 and 2
        light[64:960, x0 + 2 : x0 + 32] = 0.3
    noise = rng.normal(0, 0.05, (ny, nx)).astype(np.float32)
    stripes = output_stripes(lay, rng)
    r = destripe(light + noise + stripes, lay)
    err = r.corrected - noise - light
    err -= err[(light == 0) & ~lay.reference_mask()].mean()
    lit = light > 0
    assert abs(err[lit].sum() / light[lit].sum()) < 0.03
    for sl in lay.channel_slices()[1:3]:  # no pedestal of the light's size
        assert abs(r.model[:, sl].mean() - r.model[:, :512].mean()) < 0.03
