"""Faint emission coherent across lines (jwst1f.destripe.masking.faint_emission)."""

from __future__ import annotations

import numpy as np
from core_helpers import nircam_layout, output_stripes

from jwst1f.destripe import destripe
from jwst1f.destripe.masking import faint_emission
from jwst1f.geometry import layout_from_header

SIGMA = 0.05


def test_faint_band_below_the_pixel_noise_is_found():
    """A band of 0.4 sigma per pixel at a fixed position over all lines (a faint trace or
    slice wing) is found on the line-averaged residuals, even though the line levels hold
    its light (the empty positions then sit below zero); noise alone is rarely flagged."""
    rng = np.random.default_rng(1)
    n_lines, width = 1024, 256
    band = np.zeros(width, np.float32)
    band[100:106] = 0.4
    resid = rng.normal(0, 1, (n_lines, width)).astype(np.float32) + band
    resid -= band.mean()  # levels measured with the band's light in them
    clean = np.ones(resid.shape, bool)
    edges, flag = faint_emission(resid, clean, 1.0, block=16, half_window=8, nsig=3.0)
    assert edges[0] == 0 and edges[-1] == n_lines and flag.shape == (edges.size - 1, width)
    assert flag[:, 100:106].mean() > 0.9
    outside = np.ones(width, bool)
    outside[100:106] = False
    assert flag[:, outside].mean() < 0.01


def test_kept_pixels_are_not_biased_by_the_selection():
    """A block's own lines do not decide whether its pixels are kept: on pure noise the mean
    of the kept pixels stays zero (a selection on the pixels' own values would bias it)."""
    rng = np.random.default_rng(2)
    resid = rng.normal(0, 1, (2048, 512)).astype(np.float32)
    clean = np.ones(resid.shape, bool)
    edges, flag = faint_emission(resid, clean, 1.0, nsig=1.0)  # low threshold: many flags
    keep = ~np.repeat(flag, np.diff(edges), axis=0)
    assert 0.05 < 1 - keep.mean() < 0.5
    kept = resid[keep]
    assert abs(kept.mean()) < 4 / np.sqrt(kept.size)


def test_faint_traces_are_masked_and_keep_their_flux():
    """Faint traces (0.8 sigma per pixel, below the per-pixel clip) at fixed positions over a
    few hundred lines each (MOS-like slitlet spectra) are kept out of the line means."""
    rng = np.random.default_rng(3)
    lay = nircam_layout(1024, 2048, 4)
    ny, nx = lay.shape
    sky = np.full((ny, nx), 0.3, np.float32)
    sky[lay.reference_mask()] = 0.0
    light = np.zeros((ny, nx), np.float32)
    for x0 in range(40, 2000, 32):  # one 6-pixel trace every 32 pixels
        y0, n = int(rng.integers(8, 600)), int(rng.integers(150, 400))
        light[y0 : y0 + n, x0 : x0 + 6] = 0.8 * SIGMA
    noise = rng.normal(0, SIGMA, (ny, nx)).astype(np.float32)
    stripes = output_stripes(lay, rng)
    r = destripe(sky + light + noise + stripes, lay)
    on = light > 0
    assert r.mask[on].mean() < 0.2  # the per-pixel clip alone keeps ~97 % of them
    err = r.corrected - (sky + noise) - light  # what the correction got wrong
    err -= err[~on].mean()  # relative to the local background, as photometry sees it
    assert abs(err[on].sum() / light[on].sum()) < 0.03


def test_outputs_lit_by_slices_are_measured_on_the_gaps():
    """Two outputs lit on most lines by slices with narrow dark gaps between them (NIRSpec
    IFU-like): their offsets, including a slow per-output drift that their few unlit lines
    do not sample, are measured on the gaps, so the slice light keeps its flux."""
    rng = np.random.default_rng(5)
    lay = nircam_layout(1024, 2048, 4)
    ny, nx = lay.shape
    img = np.zeros((ny, nx), np.float32)
    light = np.zeros((ny, nx), np.float32)
    for x0 in range(512, 1536, 32):  # 30-pixel slices, 2-pixel gaps, lines 64..960
        light[64:960, x0 + 2 : x0 + 32] = 0.3
    noise = rng.normal(0, SIGMA, (ny, nx)).astype(np.float32)
    stripes = np.zeros((ny, nx), np.float32)
    shared = rng.normal(0, 0.03, ny)
    drift = 0.03 * np.sin(np.pi * np.arange(ny) / ny)  # slow 1/f of output 1 only
    for k, sl in enumerate(lay.channel_slices()):
        stripes[:, sl] = (shared + rng.normal(0, 0.01, ny) + (drift if k == 1 else 0))[:, None]
    data = img + light + noise + stripes
    data[rng.random(data.shape) < 1e-3] = np.nan  # bad pixels, as in rate files
    r = destripe(data, lay)
    assert r.metrics["illuminated_channel_lines"] > 1500
    lit = light > 0
    assert r.mask[lit].mean() < 0.01  # the slices are not used
    err = r.corrected - (img + noise) - light
    fin = np.isfinite(err)
    err -= err[~lit & ~lay.reference_mask() & fin].mean()
    for sl in (slice(512, 1024), slice(1024, 1536)):  # per output, in % of the slice flux
        on = lit[:, sl] & fin[:, sl]
        assert abs(err[:, sl][on].sum() / light[:, sl][on].sum()) < 0.01


def test_gap_lines_with_bad_pixels_are_still_measured_on_the_gaps():
    """The same slices with 3 % of the pixels bad: a lit line whose darkest gap positions
    include bad ones uses the next-darkest candidates of its block instead, so it keeps
    ``min_pixels`` gap pixels and is measured, not borrowed (with exactly ``min_pixels``
    positions most gap lines fell below it and were borrowed)."""
    rng = np.random.default_rng(6)
    lay = nircam_layout(1024, 2048, 4)
    ny, nx = lay.shape
    light = np.zeros((ny, nx), np.float32)
    for x0 in range(512, 1536, 32):
        light[64:960, x0 + 2 : x0 + 32] = 0.3
    noise = rng.normal(0, SIGMA, (ny, nx)).astype(np.float32)
    stripes = output_stripes(lay, rng)
    data = light + noise + stripes
    data[rng.random(data.shape) < 0.03] = np.nan
    r = destripe(data, lay)
    lit_lines = r.metrics["illuminated_channel_lines"]
    assert lit_lines > 1500
    assert r.metrics["channel_lines_borrowed"] < 0.1 * lit_lines
    lit = light > 0
    err = r.corrected - noise - light
    fin = np.isfinite(err)
    err -= err[~lit & ~lay.reference_mask() & fin].mean()
    for sl in (slice(512, 1024), slice(1024, 1536)):
        on = lit[:, sl] & fin[:, sl]
        assert abs(err[:, sl][on].sum() / light[:, sl][on].sum()) < 0.01


def test_light_of_the_slice_wings_in_the_gaps_is_taken_from_the_levels():
    """Gaps between slices that still hold the slices' faint wings (more in some gaps than in
    others, as the slices differ): their excess light over the darkest gaps is taken from the
    levels of the lines measured on them, so the slices keep that part of their flux (1.9 %
    of it was lost before, 0.9 % now: the darkest gaps' own light stays in the levels)."""
    rng = np.random.default_rng(7)
    lay = nircam_layout(1024, 2048, 4)
    ny, nx = lay.shape
    light = np.zeros((ny, nx), np.float32)
    for j, x0 in enumerate(range(512, 1536, 32)):  # 30-pixel slices, 2-pixel gaps
        light[64:960, x0 + 2 : x0 + 32] = 0.3
        light[64:960, x0 : x0 + 2] = 0.02 * (j % 8) / 7  # wings: 0 to 0.02 DN/s
    noise = rng.normal(0, SIGMA, (ny, nx)).astype(np.float32)
    stripes = output_stripes(lay, rng)
    r = destripe(light + noise + stripes, lay)
    lit = light > 0.1
    err = r.corrected - noise - light
    err -= err[~(light > 0) & ~lay.reference_mask()].mean()
    assert abs(err[lit].sum() / light[lit].sum()) < 0.013  # both outputs


def test_narrow_gaps_between_slices_are_told_from_smooth_emission():
    """The excess light is taken only where the darkest positions are narrow gaps between
    bright structures, not at the faint end of smooth emission."""
    from jwst1f.destripe.core import _narrow_gap_blocks

    rng = np.random.default_rng(8)
    nb, width, n_sel = 8, 512, 20
    count = np.full((nb, width), 256.0, np.float32)
    sigma = 0.2  # per pixel: the profile's noise is 0.2 / 16

    def blocks(prof):
        prof = prof + rng.normal(0, sigma / 16, (nb, width)).astype(np.float32)
        idx = np.sort(np.argpartition(prof, n_sel - 1, axis=1)[:, :n_sel], axis=1)
        return _narrow_gap_blocks(prof, count, idx, np.ones(idx.shape, bool), sigma)

    x = np.arange(width)
    slices = np.where(x % 32 < 2, 0.0, 0.3).astype(np.float32)  # 2-pixel gaps
    assert blocks(np.tile(slices, (nb, 1))).all()
    smooth = (0.5 + 0.4 * np.sin(x / 60.0)).astype(np.float32)  # bright, smooth emission
    assert not blocks(np.tile(smooth, (nb, 1))).any()
    # a position not measured (inf) beside a gap does not make it one
    prof = np.tile(smooth, (nb, 1))
    prof[:, ::7] = np.inf
    assert not blocks(prof).any()


def test_dark_positions_are_the_gaps_and_handle_empty_input():
    """The darkest positions, from neighbouring lines, are the gaps; empty input is fine."""
    from jwst1f.destripe.masking import dark_positions

    rng = np.random.default_rng(6)
    n_lines, width = 512, 128
    light = np.full(width, 1.0, np.float32)
    light[10::32] = 0.0  # 4 one-pixel gaps
    resid = rng.normal(0, 1, (n_lines, width)).astype(np.float32) + light
    good = np.ones(resid.shape, bool)
    sel = dark_positions(resid, good, np.ones(n_lines, bool), 4)
    assert sel.shape == (32, width)
    assert sel[:, 10::32].mean() > 0.9 and sel.sum(axis=1).max() <= 4
    assert dark_positions(resid[:, :0], good[:, :0], np.ones(n_lines, bool), 4).shape == (32, 0)
    # as indices: the same positions, in increasing order, the valid ones first
    lines = np.zeros(n_lines, bool)
    lines[:300] = True  # blocks far from these lines are measured on too few lines
    sel = dark_positions(resid, good, lines, 4)
    idx, valid = dark_positions(resid, good, lines, 4, indices=True)
    assert idx.shape == valid.shape == (32, 4) and idx.dtype == np.int32
    back = np.zeros_like(sel)
    rows = np.repeat(np.arange(32), 4).reshape(32, 4)
    back[rows[valid], idx[valid]] = True
    assert np.array_equal(back, sel) and not valid.all()
    for i, v in zip(idx, valid, strict=True):
        assert np.all(np.diff(i[v]) > 0) and np.all(v[: v.sum()])


def _trace_run(seed, n_lines, center, cols):
    """A 0.6 DN/s trace along the lines (Gaussian profile, sigma 1.5 lines) over ``cols`` of
    a 4-output window with shared + per-output stripes: the lit channel-lines flagged and the
    fraction of the trace flux lost (relative to the local background)."""
    rng = np.random.default_rng(seed)
    lay = nircam_layout(n_lines, 2048, 4)
    ny, nx = lay.shape
    rows = np.arange(ny, dtype=np.float32)[:, None]
    light = np.zeros((ny, nx), np.float32)
    light[:, cols] = 0.6 * np.exp(-0.5 * ((rows - center) / 1.5) ** 2)
    light[light < 1e-4] = 0.0
    noise = rng.normal(0, SIGMA, (ny, nx)).astype(np.float32)
    stripes = output_stripes(lay, rng)
    r = destripe(light + noise + stripes, lay)
    on = light > 0
    err = r.corrected - noise - light
    err -= err[~on & ~lay.reference_mask()].mean()
    return r.metrics["illuminated_channel_lines"], float(err[on].sum() / light[on].sum())


def test_thin_trace_filling_whole_channel_lines_keeps_its_flux():
    """A spectral trace along the lines that fills whole channel-lines of two outputs over a
    few lines only (4-output grism window): the per-pixel clip around each channel-line's
    level cannot see it there, and a mean over ``background_box`` lines dilutes it below the
    threshold of lit channel-lines, so short running means must find it; otherwise its light
    is taken for those lines' offsets and removed (76 % of it before they were used)."""
    n_lit, lost = _trace_run(7, 256, 120.0, slice(400, 1700))
    assert n_lit >= 8  # two outputs, a few lines each
    assert abs(lost) < 0.03


def test_trace_across_every_output_keeps_its_flux():
    """A thin trace along the lines that lights every output over a few lines (NIRCam WFSS):
    no output is a dark reference, but across lines it stands far above its neighbours, so
    those lines borrow instead of taking the trace light for their offsets."""
    n_lit, lost = _trace_run(8, 512, 250.0, slice(100, 2000))
    assert n_lit >= 12  # four outputs, a few lines each
    assert abs(lost) < 0.03


def test_running_median_matches_the_exact_filter():
    """Every line evaluated: the exact running median (edges padded with the end values);
    every 4th line interpolated: within a few line-to-line steps of it on a random walk, far
    below the detection threshold (10 steps)."""
    from scipy.ndimage import median_filter

    from jwst1f.destripe.core import _running_median

    rng = np.random.default_rng(9)
    x = np.cumsum(rng.normal(0, 0.05, (300, 3)), axis=0)
    exact = median_filter(x, size=(33, 1), mode="nearest")
    assert np.array_equal(_running_median(x, 33, step=1), exact)
    approx = _running_median(x, 33)
    assert approx.shape == x.shape
    assert np.abs(approx - exact).max() < 3 * np.std(np.diff(x, axis=0))


def _short_window_frame(wing: float, seed: int):
    """A 64 x 2048 one-output window (one-output grism strip): per-line stripes (0.3 DN/s),
    white noise of 0.8 DN/s, and a trace along lines 30-40 from pixel 800 whose wings light
    lines 29 and 41 with ``wing`` DN/s from pixel 800 on (60 % of those lines)."""
    rng = np.random.default_rng(seed)
    lay = nircam_layout(64, 2048, noutputs=1)
    ny, nx = lay.shape
    light = np.zeros((ny, nx))
    light[30:41, 800:] = 200.0
    light[[29, 41], 800:] = wing
    stripes = rng.normal(0.0, 0.3, ny)
    sci = 0.5 + light + stripes[:, None] + rng.normal(0.0, 0.8, (ny, nx))
    return lay, sci.astype(np.float32), stripes


def test_level_of_a_line_whose_lit_part_was_masked_is_its_dark_mean():
    """A line lit at 4 sigma per pixel over 60 % of it: its level of step 2 sits between sky
    and light, and the full-resolution clip around that level cut the lower tail of its dark
    pixels (366 of 800 kept) once the light was masked; their mean stood 0.45 DN/s above the
    line's sky. The mean of the normal that the window truncated is taken instead."""
    lay, sci, stripes = _short_window_frame(3.0, seed=3)
    r = destripe(sci, lay)
    err = (sci - r.corrected)[:, :700].mean(axis=1) - stripes  # on the dark part
    err -= np.median(err[8:24])  # (the frame's zero level is not the question here)
    assert r.mask[29, 800:].sum() == 0  # (the situation: the light itself is masked)
    assert abs(err[29]) < 0.15, err[29]
    assert np.all(np.abs(err[8:24]) < 0.15)


def _grism_strip_line_errors(seed: int):
    """The simulator's one-output grism strip (64 x 2048, traces along the lines): the
    destriper's metrics and, per line, its model minus the true 1/f on the dark pixels
    (scene light below 0.01 DN/s; NaN on lines with 30 or fewer), median removed (the
    frame's zero level is not the question here)."""
    from jwst1f.simulate.cases import make_case

    exp = make_case("nircam_grism_strip_1out", seed)
    lay = layout_from_header(exp.header)
    r = destripe(exp.data, lay, dq=exp.dq)
    stripe = exp.data - exp.rate_no1f
    dark = (exp.scene - exp.sky) < 0.01
    err = np.full(lay.n_lines, np.nan)
    for i in range(lay.n_lines):
        if dark[i].sum() > 30:
            err[i] = ((exp.data - r.corrected)[i] - stripe[i])[dark[i]].mean()
    return r.metrics, err - np.nanmedian(err)


def test_line_between_traces_in_a_short_window():
    """Seed 3: line 25 lies between two traces and holds their wings (2-4 DN/s, sigma 0.8)
    over the 1000 pixels of it that the per-pixel clip kept; its level sat on that light
    (1.2 DN/s off), and the lines after it, fully lit up to line 43 and interpolated,
    followed: lines 20-35 were off by 0.36 DN/s rms on their dark pixels."""
    _, err = _grism_strip_line_errors(3)
    rms = np.sqrt(np.nanmean(err[20:36] ** 2))
    assert rms < 0.2, rms


def test_trace_over_most_of_one_output_lines_is_measured_on_the_rest():
    """Seed 5: a trace covers pixels 150-1750 of lines 5-13 (up to 76 DN/s). Those lines
    were found lit, and with no other output to measure their gaps against they were
    cleared and interpolated over 10 lines: 0.4-0.75 DN/s off. Their levels restart from
    the dark 20 % of the line; lines no longer above the unlit lines around them by the lit
    threshold are measured like the others."""
    metrics, err = _grism_strip_line_errors(5)
    assert metrics["lines_interpolated"] < 9
    rms = np.sqrt(np.nanmean(err[4:15] ** 2))
    assert rms < 0.2, rms


def test_lit_segments_along_a_line_are_masked_and_noise_is_not():
    """The residuals of a line whose level sits between its sky and the light over 60 % of
    it (-1.2 and +1.8 DN/s, sigma 0.8 per pixel): the lit 64-pixel segments stand tens of
    noise sigmas above the line's dark part and are masked; among 63 lines of noise with a
    slow wander along them (0.05 DN/s rms per segment), nothing is."""
    from jwst1f.destripe.core import _mask_lit_segments

    rng = np.random.default_rng(0)
    n_lines, width = 64, 2048
    wander = np.repeat(rng.normal(0.0, 0.05, (n_lines, width // 64)), 64, axis=1)
    r = (rng.normal(0.0, 0.8, (n_lines, width)) + wander).astype(np.float32)
    r[25, :800] -= 1.2
    r[25, 800:] += 1.8
    clean = np.ones(r.shape, bool)
    n = _mask_lit_segments(r, clean, [slice(0, width)], 0.8)
    assert n == (width - 768) // 64  # the segments wholly lit (768 = 12 x 64)
    assert not clean[25, 832:].any() and clean[25, :768].all()
    others = np.ones(n_lines, bool)
    others[25] = False
    assert clean[others].all()
    assert np.all(r[25, 832:] == 0.0)


def test_lines_beside_a_bright_trace_are_measured_not_borrowed():
    """The running mean over ``background_box`` lines of a bright trace (400 DN/s over 11
    lines of three outputs of a 256-line grism window) would stand above the lit threshold
    on every line within half a box of it, and those dark lines would be borrowed instead of
    measured. Only the trace and its wings are lit; a wide band of faint emission (a few
    times the line noise over 100 lines) is still found with its edges."""
    from jwst1f.destripe.core import _illuminated_channels

    rng = np.random.default_rng(11)
    n_lines = 256
    lvl = rng.normal(0.0, 0.1, (n_lines, 4)) + np.array([0.0, 0.15, 0.25, 0.2])
    y = np.arange(n_lines)
    trace = 400.0 * np.exp(-0.5 * ((y - 35) / 2.5) ** 2)
    lvl[:, 1:] += trace[:, None]
    lvl[120:220, 2] += 0.8
    lit, scale = _illuminated_channels(lvl, box=64, nsig=5.0)
    assert 0.05 < scale < 0.2
    assert lit[30:41, 1:].all()
    wings = np.abs(y - 35) <= 18  # the trace above the noise, and a margin for its wings
    assert not lit[~wings & (y < 100), :].any()
    assert lit[120:220, 2].all()
    assert not lit[120:220, [0, 1, 3]].any()


def test_trace_on_the_first_lines_after_the_reference_rows_is_lit():
    """A trace whose edge lights one output on the first three science lines of a 64-line
    window (13, 9 and 6 times the per-line noise of the channel differences), right after
    four reference rows whose levels are stand-ins (not measured). The short running means
    at the edge once averaged those stand-ins in and stayed below the threshold, and the
    trace light went into the output's offsets (5 DN/s on a simulated SUBGRISM64 window).
    The stand-ins count in no mean, and are never lit themselves."""
    from jwst1f.destripe.core import _illuminated_channels

    rng = np.random.default_rng(5)
    n_lines = 64
    common = rng.normal(0.0, 1.0, n_lines)  # shared by the outputs: tells them not apart
    lvl = common[:, None] + rng.normal(0.0, 0.07, (n_lines, 4))
    lvl[4:7, 3] += [0.96, 0.64, 0.44]
    measured = np.ones(lvl.shape, bool)
    measured[:4] = False
    lvl[:4] = lvl[4].mean()  # the stand-ins: the mean level of the first science line
    lit, scale = _illuminated_channels(lvl, box=64, nsig=5.0, measured=measured)
    assert 0.05 < scale < 0.1
    assert lit[4:7, 3].all()
    assert not lit[:4].any()
    assert not lit[:, :3].any()
    assert not lit[12:].any()


def test_lines_of_a_short_lit_run_whose_gaps_are_lit_are_not_measured_on_them():
    """A short lit run of one output (27 lines, a 4-output grism window's traces): a trace
    over all but its first 100 columns (dark there: the gaps) on 24 lines, then a fainter
    trace over the whole channel-line on 3 lines, whose darkest positions hold its light
    (0.3 DN/s, 20 times the channel differences' scatter). The run's mean gap level passes
    the test; the faint trace's lines once went with it, and their levels kept the light as
    an offset (on a simulated SUBGRISM64 window, 16 DN/s). Now they stay lit (borrowed)."""
    from jwst1f.destripe.core import _measure_lit_on_gaps
    from jwst1f.params import DestripeParams

    rng = np.random.default_rng(3)
    n, w = 128, 512
    a = rng.normal(0, 0.05, (n, w)).astype(np.float32)
    a[40:64, 100:] += 2.0
    a[64:67] += 0.3
    lit = np.zeros((n, 1), bool)
    lit[40:67] = True
    lvl = a.mean(axis=1, dtype=np.float64)[:, None]  # levels raised by the light
    r = a - lvl.astype(np.float32)
    acc = _measure_lit_on_gaps(
        r, np.ones((n, w), bool), 0, lit, lvl, np.zeros(n), 0.015, DestripeParams(), finite=True
    )
    assert acc[40:64].all()  # the gaps of the first trace: measured on them
    assert np.abs(lvl[40:64, 0]).max() < 0.05
    assert not acc[64:67].any() and lit[64:67, 0].all()
    assert not acc[:40].any() and not acc[67:].any()


def test_faint_end_of_slices_is_measured_on_its_gaps():
    """Slices (26 pixels, 6-pixel dark gaps) over two outputs whose light fades at one end of
    the spectra to 0.04 DN/s (0.8 sigma per pixel, the faint ends of IFU spectra): there the
    outputs' levels stand above the others by less than the lit test's threshold, but their
    gaps are deep, so those lines are measured on the gaps like the bright part and the faint
    light keeps its flux (it entered the line means whole before)."""
    rng = np.random.default_rng(12)
    lay = nircam_layout(1024, 2048, 4)
    ny, nx = lay.shape
    light = np.zeros((ny, nx), np.float32)
    level = np.where(np.arange(ny) < 400, 0.04, 0.3).astype(np.float32)
    for x0 in range(512, 1536, 32):
        light[64:960, x0 + 6 : x0 + 32] = level[64:960, None]
    noise = rng.normal(0, SIGMA, (ny, nx)).astype(np.float32)
    stripes = np.zeros((ny, nx), np.float32)
    shared = rng.normal(0, 0.03, ny)
    for sl in lay.channel_slices():
        stripes[:, sl] = (shared + rng.normal(0, 0.01, ny))[:, None]
    r = destripe(light + noise + stripes, lay)
    lit = light > 0
    err = r.corrected - noise - light
    err -= err[~lit & ~lay.reference_mask()].mean()
    faint = lit.copy()
    faint[400:] = False
    for sl in (slice(512, 1024), slice(1024, 1536)):  # per output, in % of the faint flux
        on = faint[:, sl]
        assert abs(err[:, sl][on].sum() / light[:, sl][on].sum()) < 0.05


def _outlier_frame(seed: int = 5):
    """A 512 x 2048 NIRCam window: sky, white noise (SIGMA) and stripes, with 2 % of its
    pixels unflagged lone outliers of 1-10 DN/s (20 % negative) and, apart, three faint stars
    (Gaussian, sigma 1 pixel, peak 12 SIGMA)."""
    rng = np.random.default_rng(seed)
    lay = nircam_layout()
    ny, nx = lay.shape
    sci = (0.3 + rng.normal(0, SIGMA, (ny, nx))).astype(np.float32)
    sci += output_stripes(lay, rng)
    hit = rng.random((ny, nx)) < 0.02
    hit[:, :8] = hit[:, -8:] = False
    value = np.exp(rng.uniform(0.0, np.log(10.0), int(hit.sum())))
    value[rng.random(value.size) < 0.2] *= -1
    sci[hit] += value.astype(np.float32)
    stars = [(100, 600), (300, 1200), (400, 1700)]
    yy, xx = np.mgrid[-3:4, -3:4]
    for y, x in stars:
        hit[y - 4 : y + 5, x - 4 : x + 5] = False
        sci[y - 3 : y + 4, x - 3 : x + 4] += (12 * SIGMA * np.exp(-(yy**2 + xx**2) / 2.0)).astype(
            np.float32
        )
    return sci, lay, hit, stars


def test_lone_outliers_are_masked_without_their_neighbours_and_stars_with_theirs():
    """Unflagged single-pixel outliers (warm or hot pixels, missed cosmic rays; 2 % of the
    pixels) are masked themselves, but not dilated: the frame keeps over 90 % of its pixels,
    not 60 % (a dilation of 2 pixels masks 25 per outlier; outliers next to each other, 15 %
    of them at this density, are still dilated). A faint star, whose neighbours share its
    light, is still dilated."""
    sci, lay, hit, stars = _outlier_frame()
    clean = destripe(sci, lay).mask
    assert not clean[hit].any()
    assert clean[:, 8:-8].mean() > 0.9
    ring = np.ones((5, 5), bool)
    ring[1:4, 1:4] = False  # the pixels 2 away from the centre: only a dilation masks them
    for y, x in stars:
        assert not clean[y - 2 : y + 3, x - 2 : x + 3][ring].any()
