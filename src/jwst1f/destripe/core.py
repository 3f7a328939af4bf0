"""The destriper on arrays: :func:`destripe` and :class:`DestripeResult`.

See ``docs/algorithm.md`` for the algorithm, its assumptions and the parameter table.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special
from scipy.ndimage import uniform_filter1d

from jwst1f.destripe.background import SmoothBackground, fit_background
from jwst1f.destripe.linemodel import (
    choose_scale,
    choose_smoothing,
    line_offsets,
    smooth_lines,
)
from jwst1f.destripe.masking import (
    PairDifferences,
    _median_inplace,
    block_residual_sums,
    clear_dilated,
    dark_positions,
    dilate,
    faint_emission,
    faint_halos,
    robust_sigma,
)
from jwst1f.destripe.timeline import TimelineModel, timeline_model
from jwst1f.destripe.traces import (
    WingLight,
    WingMask,
    find_trace,
    fit_wings,
    wing_light,
    wing_mask,
)
from jwst1f.destripe.wander import common_wander, segment_sums, wander_segment
from jwst1f.geometry import ReadoutLayout
from jwst1f.params import DestripeParams

__all__ = ["destripe", "DestripeResult"]

log = logging.getLogger(__name__)

#: Reference pixels per line of a full HxRG frame (4 at each end).
_FULL_REFERENCE_PER_LINE = 8.0

_Q25_OFFSET = 0.6744897501960817  # Gaussian: median - first quartile, in sigma
#: Threshold (per-line scatter of channel differences) for channel-lines filled by emission.
_LIT_SIGMA = 5.0
#: Lower threshold to which flagged runs of lines are grown (hysteresis).
_LIT_GROW = 3.0
#: The outputs' relative drift measured on the reference pixels counts in the lit test only
#: where the scatter of its running mean is at least this many times (in variance) what the
#: reference pixels' own noise leaves in it (:func:`_drift_scale`).
_DRIFT_NOISE_RATIO = 3.0
#: Short running means (lines) for emission that fills channel-lines over a few lines only
#: (a spectral trace along the lines: its cross-dispersion profile spans a few lines, so a
#: ``background_box`` mean dilutes it below the threshold).
_LIT_SHORT_BOXES = (3, 9)
#: Threshold of the short running means, in units of the per-line scatter of channel
#: differences: higher than ``_LIT_SIGMA`` because a mean over a few lines is noisier and the
#: clipped level of a line through a bright compact source (partly rejected by the clip) can
#: stand out over a few lines; a trace that fills the channel-line is tens of times above it.
_LIT_SHORT_SIGMA = 10.0
#: Running-median window (lines) of the levels across lines, for channel-lines that stand
#: far above their neighbouring lines (a thin trace along the lines; it may light every
#: output, so that no channel is a dark reference): far wider than a trace's
#: cross-dispersion profile, far shorter than the slow 1/f drifts.
_BUMP_WINDOW = 33
#: Such runs of lines are widened on each side by this fraction of their length (at least one
#: line, at most ``_BUMP_MARGIN_MAX`` lines): the wings of the cross-dispersion profile
#: still hold light below the detection threshold.
_BUMP_MARGIN = 0.5
_BUMP_MARGIN_MAX = 8
#: A channel-line's clipped level is taken to sit on emission when at least this fraction of
#: its usable samples (and ``_DARK_MIN_SAMPLES``) lie more than the clip threshold below it;
#: its level then restarts from those samples (:func:`_clip`).
_DARK_MIN_FRACTION = 0.1
_DARK_MIN_SAMPLES = 5
#: Fewest clean pixels that measure a channel-line on its own in any window
#: (:func:`_line_min_pixels`).
_LINE_MIN_PIXELS = 8
#: Half-width (noise sigmas) of the clip that follows such a restart.
_DARK_CLIP = 2.0
#: Per-output pedestals (:func:`_output_pedestals`): significance (noise sigmas of the
#: mean over lines) of a reference-pixel difference between the outer outputs that calls for
#: them, lines needed, blocks of lines for the noise, and the prior's width (times the
#: largest measurement noise) on each neighbouring pair's correction.
_PEDESTAL_SIGMA = 3.0
_PEDESTAL_MIN_LINES = 16
_PEDESTAL_BLOCKS = 8
_PEDESTAL_PRIOR = 10.0
#: Pixels that scatter about their line's level by more than this many times the white
#: noise (1/f wandering within the lines) set the thresholds of the full-resolution source
#: mask (:func:`_wander_scale`; the spread along the lines on about ``_WANDER_SAMPLES``
#: differences); ``_GAUSS_2SIGMA_TAIL``: a Gaussian's one-sided tail beyond 2 sigma.
_WANDER_RATIO = 1.45
#: From this many times the white noise up to ``_WANDER_RATIO``, the thresholds' scale rises
#: linearly from the white noise to that scatter (no jump at ``_WANDER_RATIO``).
_WANDER_FROM = 1.2
_WANDER_SAMPLES = 1 << 17
_GAUSS_2SIGMA_TAIL = 0.02275
#: Lines per chunk (at most) of the gap measurement of lit channel-lines (temporary memory).
_CHUNK = 256
#: Light of the slice wings in the gaps measured on (:func:`_measure_lit_on_gaps`): the
#: darkest ``1 / _GAP_CORE_DIVISOR`` of the selected positions of a block are the reference
#: the others' excess light is measured from.
_GAP_CORE_DIVISOR = 4
#: A block's selected positions are narrow gaps between bright structures (where the excess
#: is taken and removed) if, in the profile they were ranked on, the brightest pixel within
#: ``_GAP_EDGE_HALF_WIDTH`` pixels on each side (the lower of the two sides; median over the
#: positions) stands above them by ``_GAP_EDGE_SIGMA`` noise sigmas of the profile and by
#: ``_GAP_EDGE_FRACTION`` of the line's median level above them: steep edges, not smooth
#: emission (whose darkest part is sky-like light, removed with the level).
_GAP_EDGE_HALF_WIDTH = 5
_GAP_EDGE_SIGMA = 5.0
_GAP_EDGE_FRACTION = 0.3
#: The line's median level there is that of every this many pixels of the profile (time).
_GAP_LEVEL_STEP = 4
#: The excess, measured on the lines of such blocks, is taken from all the lines of the
#: channel measured on gaps if at least this fraction of them are in such blocks (the
#: channel is one of slices and narrow gaps, e.g. NIRSpec IFU); otherwise from none.
_GAP_NARROW_FRACTION = 0.5
#: A source-mask seed at least this many clip scales from its line's level (twice the seed
#: threshold: a source just above it may show no wings above the noise)...
_LONE_MIN = 8.0
#: ... is a lone pixel, and is not dilated, when none of its 8 neighbours is a seed and their
#: mean residual is within this many clip scales (their mean's noise is 0.35 of one; a star
#: whose PSF is sampled at all puts a third or more of its peak there)...
_LONE_NOISE = 0.7
#: ... plus this fraction of the seed's own residual (a hot pixel's inter-pixel capacitance
#: puts about 1 % of it into each of its 4 nearest neighbours).
_LONE_WINGS = 0.02
#: Lone seeds are looked for in this many chunks of the frame (memory).
_LONE_CHUNKS = 32
#: Lines per block, and blocks averaged on each side, for faint emission coherent across lines.
_EMISSION_BLOCK = 16
_EMISSION_HALF_WINDOW = 8
#: Segments along the lines (pixels), and their threshold in noise sigmas above the line's
#: sky, for light over part of a line in windows of few lines (:func:`_mask_lit_segments`).
_SEGMENT = 64
_SEGMENT_SIGMA = 5.0
#: Windows (in blocks of ``_EMISSION_BLOCK`` lines x pixels: 16, 48 and 80 pixels) in which
#: faint light around compact sources is sought (:func:`masking.faint_halos`).
_HALO_SCALES = (1, 3, 5)
#: One-sided threshold of that search, in robust standard deviations of the window sums. A
#: window flagged by noise costs clean pixels and brings nothing; the window sums have
#: heavier tails than a Gaussian (1/f along the lines, faint sources), so the threshold is
#: high (without the shared wander removed, at 3.5 instead of 4: SUB640 1.174 -> 1.183 and
#: MIRI 0.994 -> 0.996 x oracle; at 3.0 MIRI 1.006, SUB640 1.196).
_HALO_SIGMA = 4.0
#: Blocks by which those flags are grown: none. (With the shared 1/f wander removed the
#: search reaches further into the halos itself; grown by one block, the star-field flux
#: bias went -0.14 -> -0.12 % below the oracle's, but NIRISS stripes 1.011 -> 1.014 x
#: oracle, and at a threshold of 4.5 an independent frame without the reference-pixel step
#: 1.181 -> 1.198.)
_HALO_GROW = 0
#: ... but spread, repeatedly, to the neighbouring blocks whose own one-block sum stands
#: above this many robust scatters (a halo's outskirts next to a window that found it; an
#: empty neighbour is taken with the 2.3 % one-sided noise probability only). Dev loop, six
#: seeds, flux bias minus the oracle's: ``niriss_full`` -0.171 -> -0.155 %,
#: ``nircam_full_stars`` -0.129 -> -0.110 %, stripes 1.0110 -> 1.0111 / 1.0079 -> 1.0080 x
#: oracle (at 1.5: -0.151 / -0.110 %, 1.0113 x; at 1.0: -0.143 / -0.103 %, 1.0116 x;
#: with the three-block sums as well: -0.147 / -0.102 %, NIRISS 1.0131 x).
_HALO_GROW_SIGMA = 2.0
#: Windows of at most this many lines are searched for the wings of a bright trace along
#: the lines (:func:`jwst1f.destripe.traces.trace_wing_mask`): grism time-series windows.
_TRACE_MAX_LINES = 512
#: Pixels on each side of an output boundary on which the jump of the 1/f offsets is
#: measured (a straight line on each side, extrapolated to the boundary): wide enough to
#: average the white noise, narrow enough that diffuse emission is linear across it.
_BOUNDARY_WIDTH = 48
#: Blocks of ``background_box`` lines a frame needs for the jump corrections: the noise of
#: the block means is measured on their block-to-block differences.
_BOUNDARY_MIN_BLOCKS = 8
#: Significance (noise sigmas of the smoothed block means) at which a mismatch between the
#: jumps and the line model is half-corrected (non-negative garrote; above it, nearly all).
_BOUNDARY_SIGMA = 3.0
#: Gaussian widths (blocks) of the smoothing of the mismatch: the blocks themselves (0), then
#: broad.
_BOUNDARY_SCALES = (0.0, 3.0)
#: Lines whose jump mismatch stands out from its running mean over ``_BUMP_WINDOW`` lines
#: by more than this many per-line noise sigmas are not used (compact light crossing the
#: boundary: a trace along the lines, a bright star's wings); grown by ``_BOUNDARY_GROW``.
_BOUNDARY_OUTLIER = 5.0
#: Excess chi-square (its standard deviations) of a block's mean profile next to a boundary
#: over a straight line, above which the block is not used (:func:`_structured_blocks`).
_BOUNDARY_STRUCTURE = 5.0
_BOUNDARY_GROW = 2
#: Blocks whose mismatch is within this many of its noise sigmas agree with the model: the
#: spread of the model's relative offsets over them is the boundary's natural 1/f scatter.
_BOUNDARY_AGREE = 2.0
#: Runs of at least ``_BOUNDARY_RELAX_RUN`` blocks whose own mismatch exceeds this many of
#: its noise sigmas (emission over hundreds of lines that the line model took for 1/f) take
#: the blocks' mismatches whole instead of the garrote's shrunk smooth, grown by
#: ``_BOUNDARY_RELAX_GROW`` blocks over the emission's fading flanks.
_BOUNDARY_RELAX_SIGMA = 2.5
_BOUNDARY_RELAX_RUN = 2
_BOUNDARY_RELAX_GROW = 2
#: A block of lines is not used for the jumps at a boundary where the clip of
#: :func:`_boundary_jumps` removed one position along the line on more than this fraction
#: of its usable lines: light that stays in place over the block (a spectrum lying along
#: the boundary, 11 pixels from it in the independent NIRSpec traces, seed 1, faked a
#: relative offset of 38 mDN/s there: 1.03 x oracle, now 0.88). A star is clipped over a
#: few of a block's 64 lines.
_BOUNDARY_PERSIST = 0.5
#: Without reference pixels in the lines: a bump of the line means above the coarse sky
#: profile (``background_slow_scale_noref``), smoothed over ``_EXCURSION_SCALE`` lines, that
#: exceeds this many times the line-to-line scatter of the line means is sky (emission that
#: fills whole lines), not 1/f; grown down to a quarter of it (:func:`_sky_excursions`).
_EXCURSION_SIGMA = 7.0
#: Gaussian width (lines) at which such a bump is followed and kept.
_EXCURSION_SCALE = 16.0
#: ... and its runs then grow while their smoothed excess is above this many times the scatter
#: of the smoothed profile on the lines not flagged (the tails of the emission).
_EXCURSION_GROW_SIGMA = 1.0
#: Light of slit images along the lines of NIRSpec windows without reference pixels in them
#: (:func:`_slit_sky`). ``_SLIT_BLOCK``: lines per block of the along-line profile (the slits
#: move by about 1.5 pixels over 512 lines; ``nirspec_fs``, eight seeds, flux bias with
#: blocks of 128 / 256 / 512 / 2048 lines: -0.19 / -0.19 / -0.15 / -0.13 %, oracle -0.07;
#: the independent SUB2048 window with a trace, twelve seeds, with minus without the slit
#: light: +1.5 / +0.4 / +0.2 / +0.2 %, its own bias -0.8 %). ``_SLIT_CHUNK``: pixels at least
#: per chunk of its work arrays (a sixteenth of the window otherwise). ``_SLIT_BIN``: lines per
#: bin of the amplitudes, which are smoothed across lines by risk up to ``_SLIT_SCALE`` lines.
#: ``_SLIT_DARK``: noise sigmas above the darkest position that are still dark.
#: ``_SLIT_SIGMA``: the chi-square excess of one block's profile, in sigmas, for the light to
#: be modelled at all.
_SLIT_BLOCK = 512
_SLIT_CHUNK = 2048
_SLIT_BIN = 8
_SLIT_SCALE = 32.0
_SLIT_DARK = 2.0
_SLIT_SIGMA = 5.0
#: With reference pixels in the lines: a line whose sky profile (line mean minus reference
#: level) stands this many noise sigmas above the profile smoothed without it is sky that
#: fills the line (a spectrum dispersed along it), kept line by line; grown down to
#: ``_NARROW_EXCURSION_GROW`` sigmas and widened by one line on each side (its profile's
#: wings) (:func:`_narrow_excursions`).
_NARROW_EXCURSION_SIGMA = 5.0
_NARROW_EXCURSION_GROW = 2.0
#: ... in runs of at most this fraction of the smoothing scale (lines).
_NARROW_EXCURSION_RUN = 0.25


@dataclass
class DestripeResult:
    """Output of :func:`destripe`.

    Attributes
    ----------
    corrected : numpy.ndarray of float32, shape of ``sci``
        ``sci - model``, DN/s.
    model : numpy.ndarray of float32, shape of ``sci``
        The removed stripe pattern (zero mean over the frame), DN/s.
    model_var : numpy.ndarray of float32, shape of ``sci``
        Variance of ``model`` as an estimate, (DN/s)^2; add it to the variance arrays.
    mask : numpy.ndarray of bool, shape of ``sci``
        True where the pixel was used as background for measuring the stripes.
    metrics : dict
        JSON-serialisable: ``stripe_rms_before`` / ``stripe_rms_after`` (per channel lists,
        DN/s), ``masked_fraction``, ``seconds`` and diagnostics.
    """

    corrected: np.ndarray
    model: np.ndarray
    model_var: np.ndarray
    mask: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)


def _canonical(x: np.ndarray, fast_axis: int) -> np.ndarray:
    """View with lines along the last axis."""
    return x if fast_axis == 1 else x.T


def _check_inputs(sci, layout, dq, user_mask):
    sci = np.asarray(sci)
    if sci.ndim not in (2, 3):
        raise ValueError(f"sci must be 2-D (ny, nx) or 3-D (nints, ny, nx), not {sci.ndim}-D")
    if tuple(sci.shape[-2:]) != tuple(layout.shape):
        raise ValueError(
            f"sci shape {sci.shape[-2:]} does not match the readout layout {layout.shape} "
            f"({layout.detector} {layout.subarray})"
        )
    if not np.issubdtype(sci.dtype, np.floating):
        sci = sci.astype(np.float32)
    if dq is not None:
        dq = np.asarray(dq)
        if dq.shape != sci.shape and dq.shape != sci.shape[-2:]:
            raise ValueError(f"dq shape {dq.shape} does not match sci shape {sci.shape}")
        if not np.issubdtype(dq.dtype, np.integer):
            raise ValueError(f"dq must be an integer array, not {dq.dtype}")
        dq = dq.astype(np.uint32, copy=False)
    if user_mask is not None:
        user_mask = np.asarray(user_mask, dtype=bool)
        if user_mask.shape != sci.shape and user_mask.shape != sci.shape[-2:]:
            raise ValueError(
                f"user_mask shape {user_mask.shape} does not match sci shape {sci.shape}"
            )
    return sci, dq, user_mask


def destripe(
    sci: np.ndarray,
    layout: ReadoutLayout,
    *,
    dq: np.ndarray | None = None,
    user_mask: np.ndarray | None = None,
    params: DestripeParams | None = None,
) -> DestripeResult:
    """Remove the 1/f stripe pattern from a rate or rateints array.

    Parameters
    ----------
    sci : numpy.ndarray, shape (ny, nx) or (nints, ny, nx)
        Count rates in DMS orientation, DN/s. Not modified.
    layout : ReadoutLayout
        Readout geometry of the array (see :func:`jwst1f.geometry.layout_from_header`).
    dq : numpy.ndarray of uint32, optional
        jwst DQ flags, shape of ``sci`` (or (ny, nx), shared by all integrations).
    user_mask : numpy.ndarray of bool, optional
        True on pixels not to be used for measuring (sources the user knows of), shape of
        ``sci`` or (ny, nx). Its bright pixels still seed the dilation of the source mask
        (``params.dilate_radius``), as they would unmasked.
    params : DestripeParams, optional
        Defaults when omitted.

    Returns
    -------
    DestripeResult
        ``corrected = sci - model``; finite wherever ``sci`` is finite.

    Raises
    ------
    ValueError
        If shapes do not match the layout or each other.
    """
    t0 = time.perf_counter()
    params = params or DestripeParams()
    sci, dq, user_mask = _check_inputs(sci, layout, dq, user_mask)
    # the faint wings of a bright trace along the lines of a short window, found on what a
    # first pass left (its within-line wander removed too), are not used in a second pass,
    # and their fainter light, fitted, is subtracted where that pass measures
    result = _destripe_pass(sci, layout, dq, user_mask, params)
    found = _find_trace(result, layout, dq, params)
    wings = None
    if found is not None:
        del result  # (the first pass's arrays but its residual)
        fit = fit_wings(*found)
        wings = wing_mask(*found, fit=fit)
        light = wing_light(fit, found[3])
        del found, fit
        result = _destripe_pass(sci, layout, dq, user_mask, params, wings=wings, light=light)
        wings[1]["light_lines"] = int(np.count_nonzero(light.amp > 0))
    result.metrics["trace_wings"] = None if wings is None else wings[1]
    result.metrics["seconds"] = time.perf_counter() - t0
    return result


def _find_trace(
    first: DestripeResult,
    layout: ReadoutLayout,
    dq: np.ndarray | None,
    params: DestripeParams,
) -> tuple | None:
    """A trace along the lines of a short window (:func:`jwst1f.destripe.traces.find_trace`).

    Only windows of at most ``_TRACE_MAX_LINES`` lines are searched (a trace's wings light
    most lines of a grism time-series window; in taller frames they reach a small part of
    the lines, which the clip and halo searches of step 6 handle), and not MIRI imaging. A
    rateints array is searched on the mean of its integrations (the trace stays put). The
    residual searched is the first pass's corrected data (its per-pixel noise ``sigma``).

    Returns
    -------
    tuple or None
        The arguments of :func:`jwst1f.destripe.traces.wing_mask` (residual and usable
        pixels in the canonical orientation, outputs, sigma, the trace), whose mask is
        shared by the integrations; None where there is no trace.
    """
    fa = layout.fast_axis
    n_lines = layout.shape[0] if fa == 1 else layout.shape[1]
    if n_lines > _TRACE_MAX_LINES or layout.instrument == "MIRI":
        return None
    data = first.corrected
    if data.ndim == 3:
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            data = np.nanmean(data, axis=0)
    # (without full-size temporaries: the first pass's arrays are still held)
    usable = _canonical(np.isfinite(data), fa)
    if params.mask_reference_pixels:
        ref_l, ref_p = layout.reference_lines_and_pixels()
        usable[ref_l] = False
        usable[:, ref_p] = False
    bm = np.uint32(params.dq_bitmask())
    if dq is not None and bm:
        for i0 in range(0, usable.shape[0], 16):
            ls = slice(i0, i0 + 16)
            if dq.ndim == 2:
                usable[ls] &= (_canonical(dq, fa)[ls] & bm) == 0
            else:  # flagged in every integration
                usable[ls] &= ~np.all([(_canonical(d, fa)[ls] & bm) != 0 for d in dq], axis=0)
    sigma = float(first.metrics.get("sigma") or 0.0)
    resid = _canonical(data, fa)
    trace = find_trace(resid, usable, sigma)
    if trace is None:
        return None
    return resid, usable, layout.channel_slices(), sigma, trace


def _frame_user(user: np.ndarray | None, wings, fast_axis: int):
    """One frame's user mask in the canonical orientation, with the trace's wings."""
    base = None if user is None else _canonical(user, fast_axis)
    if wings is None:
        return base
    return wings[0].with_base(base)


def _destripe_pass(
    sci: np.ndarray,
    layout: ReadoutLayout,
    dq: np.ndarray | None,
    user_mask: np.ndarray | None,
    params: DestripeParams,
    *,
    wings: tuple[WingMask, dict] | None = None,
    light: WingLight | None = None,
) -> DestripeResult:
    """The destriper over checked inputs (see :func:`destripe`), with the trace's wings of
    :func:`jwst1f.destripe.traces.wing_mask` as part of the user mask and their fainter
    light (:func:`jwst1f.destripe.traces.wing_light`) not measured."""
    frames = sci if sci.ndim == 3 else sci[None]
    nints = frames.shape[0]

    ref_lines, ref_pixels = layout.reference_lines_and_pixels()
    anchor = params.use_reference_pixels and bool(ref_pixels.any() and not ref_lines.all())
    regions = _miri_regions(layout, params)
    # (a window inside the dark left region, as SUB128 and SUB64 are, was placed there on
    # purpose: with fewer than 64 imager-field columns nothing is excluded)
    field_columns = layout.shape[1] - max(params.miri_exclude_columns - (layout.xstart - 1), 0)
    miri_exclude = (
        regions is None
        and layout.instrument == "MIRI"
        and params.miri_exclude_columns > 0
        and field_columns >= _MIRI_MIN_REGION
    )
    # A 2-D mask of static bad pixels only when needed; otherwise each frame builds its mask
    # from the 1-D reference-pixel masks (memory).
    # (the user mask is applied block by block with it: no full-size copy)
    static_bad = None
    if miri_exclude:
        if params.mask_reference_pixels:
            static_bad = layout.reference_mask()
        else:
            static_bad = np.zeros(layout.shape, dtype=bool)
        x_ff = np.arange(layout.shape[1]) + layout.xstart - 1
        static_bad[:, x_ff < params.miri_exclude_columns] = True
    bitmask = params.dq_bitmask()

    corrected = np.empty(frames.shape, dtype=np.float32)
    model = np.empty(frames.shape, dtype=np.float32)
    model_var = np.empty(frames.shape, dtype=np.float32)
    mask = np.empty(frames.shape, dtype=bool)
    per_int = []
    steps, block_sums = [], []  # suspended frames, and what each yielded (see _frame_steps)
    fa = layout.fast_axis
    for i in range(nints):
        user_i = None if user_mask is None else (user_mask[i] if user_mask.ndim == 3 else user_mask)
        dq_i = None if dq is None else (dq[i] if dq.ndim == 3 else dq)
        if regions is not None:
            m = _destripe_miri_regions(
                frames[i],
                layout,
                params,
                regions,
                dq=dq_i,
                static_bad=static_bad,
                user=_frame_user(user_i, wings, fa),
                anchor=params.use_reference_pixels,
                bitmask=bitmask,
                out=(corrected[i], model[i], model_var[i], mask[i]),
            )
            per_int.append(m)
            continue
        steps.append(
            _frame_steps(
                _canonical(frames[i], fa),
                layout,
                params,
                dq=None if dq_i is None else _canonical(dq_i, fa),
                static_bad=None if static_bad is None else _canonical(static_bad, fa),
                user=_frame_user(user_i, wings, fa),
                light=light,
                ref=layout.reference_lines_and_pixels() if anchor else None,
                bitmask=bitmask,
                out_corrected=_canonical(corrected[i], fa),
                out_model=_canonical(model[i], fa),
                out_var=_canonical(model_var[i], fa),
                out_mask=_canonical(mask[i], fa),
                defer_apply=nints > 1,
            )
        )
        block_sums.append(next(steps[-1]))
    # faint light around sources, sought once more on the sums of all integrations (deeper)
    joint_halos = _joint_halos(block_sums, layout)
    del block_sums
    for st in steps:
        per_int.append(_finish(st, joint_halos))
    del steps

    kept = [m.pop("_kept", None) for m in per_int]
    deferred = [m.pop("_apply", None) for m in per_int]
    joint = nints > 1 and all(k is not None for k in kept)
    devs = _joint_sky(kept) if joint else [None] * nints
    for i in range(nints):
        if deferred[i] is not None:  # model, variance and corrected written once
            _apply_offsets(*deferred[i], extra=devs[i])
        elif devs[i] is not None:
            _add_line_offsets(frames[i], model[i], corrected[i], devs[i], fa)
    del deferred
    metrics = _combine_metrics(per_int)
    metrics["joint_sky"] = joint
    metrics["nints"] = nints
    metrics["layout"] = layout.to_dict()
    metrics["params"] = params.to_dict()
    if sci.ndim == 2:
        corrected, model, model_var, mask = corrected[0], model[0], model_var[0], mask[0]
    return DestripeResult(corrected, model, model_var, mask, metrics)


def _joint_sky(kept: list[np.ndarray]) -> list[np.ndarray]:
    """Rateints: the sky is common to the integrations, their 1/f is not.

    Each integration kept a smooth part of its line levels as sky. Its deviation from the
    mean over integrations (without its mean along the lines, so that changes of the sky
    level between integrations stay) is 1/f of that integration and is removed too.

    Returns
    -------
    list of numpy.ndarray of float32, shape (n_lines,)
        Per integration, the offset per line to add to its model.
    """
    kept = np.asarray(kept, dtype=np.float64)  # (nints, n_lines)
    mean = kept.mean(axis=0)
    devs = []
    for i in range(kept.shape[0]):
        dev = kept[i] - mean
        devs.append((dev - dev.mean()).astype(np.float32))
    return devs


def _add_line_offsets(frame, model, corrected, dev, fast_axis):
    """``model += dev`` per line and ``corrected = frame - model``, in cache-sized blocks."""
    m = _canonical(model, fast_axis)
    c = _canonical(corrected, fast_axis)
    f = _canonical(frame, fast_axis)
    transposed = not m.flags.c_contiguous and m.T.flags.c_contiguous
    for lb, pb in _row_blocks(m.shape[0], m.shape[1], transposed):
        mb = m[lb, pb]
        mb += dev[lb, None]
        np.subtract(f[lb, pb], mb, out=c[lb, pb])


#: MIRI imaging: fewest columns of the dark left region or of the imager field that are
#: measured as a region of their own.
_MIRI_MIN_REGION = 64


def _miri_regions(layout: ReadoutLayout, params: DestripeParams) -> list[tuple[int, int]] | None:
    """Column ranges of the MIRI dark left region and of the imager field, if both are wide.

    Returns
    -------
    list of (start, stop) window columns, or None when the regions are not treated
    separately (not MIRI, ``miri_dark_region="exclude"``, or one side narrower than 64).
    """
    if layout.instrument != "MIRI" or params.miri_dark_region != "separate":
        return None
    cut = params.miri_exclude_columns - (layout.xstart - 1)
    if cut < _MIRI_MIN_REGION or layout.shape[1] - cut < _MIRI_MIN_REGION:
        return None
    return [(0, cut), (cut, layout.shape[1])]


def _destripe_miri_regions(
    frame, layout, params, regions, *, dq, static_bad, user=None, anchor, bitmask, out
):
    """MIRI imaging: the dark left region and the imager field measured apart, then combined.

    The two regions have different sky (the coronagraph / LRS area is dark) but share the
    banding of each row and output. Each region is destriped on its own (its own sky, its
    own reference columns); the per channel-line offsets are then combined with
    inverse-variance weights and applied to both regions.
    """
    corrected, model, model_var, mask = out
    sub_metrics = []
    offs, vars_ = [], []
    for c0, c1 in regions:
        sub = dataclasses.replace(
            layout,
            shape=(layout.shape[0], c1 - c0),
            channel_edges=(0, c1 - c0),
            xstart=layout.xstart + c0,
            _channel_offset=(layout._channel_offset + c0) % layout.n_channels,
        )
        cols = slice(c0, c1)
        m = _destripe_frame(
            frame[:, cols],
            sub,
            params,
            dq=None if dq is None else dq[:, cols],
            static_bad=None if static_bad is None else static_bad[:, cols],
            user=None if user is None else user[:, cols],
            ref=sub.reference_lines_and_pixels() if anchor else None,
            bitmask=bitmask,
            out_corrected=corrected[:, cols],
            out_model=model[:, cols],
            out_var=model_var[:, cols],
            out_mask=mask[:, cols],
        )
        sub_metrics.append(m)
        chans = sub.channel_slices()
        offs.append(np.stack([model[:, cols][:, sl].mean(axis=1) for sl in chans], axis=1))
        vars_.append(np.stack([model_var[:, cols][:, sl].mean(axis=1) for sl in chans], axis=1))
    w = [1.0 / np.maximum(v, 1e-30) for v in vars_]
    combined = sum(wi * oi for wi, oi in zip(w, offs, strict=True)) / sum(w)
    var = 1.0 / sum(w)
    for (c0, c1), o in zip(regions, offs, strict=True):
        sub_chan = (np.arange(c0, c1) + layout._channel_offset) % layout.n_channels
        # per channel-line values broadcast block by block (no full-size float64 temporary)
        bc = _Broadcast(sub_chan)
        d32, v32 = (combined - o).astype(np.float32), var.astype(np.float32)
        for lb, _ in _row_blocks(model.shape[0], c1 - c0, False):
            model[lb, c0:c1] += bc.block(d32, lb, slice(None), False)
            bc.block(v32, lb, slice(None), False, out=model_var[lb, c0:c1])
    np.subtract(frame, model, out=corrected)
    # metrics: those of the imager field, plus what the dark region contributed
    metrics = dict(sub_metrics[-1])
    metrics["masked_fraction"] = float(1.0 - np.count_nonzero(mask) / mask.size)
    metrics["miri_regions"] = [list(r) for r in regions]
    return metrics


def _combine_metrics(per_int: list[dict[str, Any]]) -> dict[str, Any]:
    def rms_over(key):
        arr = np.array([m[key] for m in per_int], dtype=float)
        return [float(v) for v in np.sqrt(np.mean(arr**2, axis=0))]

    out: dict[str, Any] = {
        "stripe_rms_before": rms_over("stripe_rms_before"),
        "stripe_rms_after": rms_over("stripe_rms_after"),
        "noise_floor": rms_over("noise_floor"),
        "masked_fraction": float(np.mean([m["masked_fraction"] for m in per_int])),
        "sigma": float(np.mean([m["sigma"] for m in per_int])),
        "clip_scale": float(np.mean([m["clip_scale"] for m in per_int])),
        "lines_interpolated": int(sum(m["lines_interpolated"] for m in per_int)),
        "channel_lines_borrowed": int(sum(m["channel_lines_borrowed"] for m in per_int)),
        "extended_blocks": int(sum(m["extended_blocks"] for m in per_int)),
        "lit_segments": int(sum(m["lit_segments"] for m in per_int)),
        "illuminated_channel_lines": int(sum(m["illuminated_channel_lines"] for m in per_int)),
        "timeline": per_int[0]["timeline"],
        "common_wander": float(np.mean([m["common_wander"] for m in per_int])),
        "sky_scale": float(np.mean([m["sky_scale"] for m in per_int])),
        "sky_excursion_lines": int(sum(m["sky_excursion_lines"] for m in per_int)),
        "slit_light": bool(any(m["slit_light"] for m in per_int)),
        "reference_anchored": bool(all(m["reference_anchored"] for m in per_int)),
        "reference_offset": float(np.mean([m["reference_offset"] for m in per_int])),
        "even_odd": [m["even_odd"] for m in per_int],
        "boundary_offsets": rms_over("boundary_offsets"),
        "boundary_lift_lines": int(sum(m["boundary_lift_lines"] for m in per_int)),
    }
    if len(per_int) > 1:
        out["per_integration"] = per_int
    return out


# ------------------------------------------------------------------------------- one frame
def _initial_levels(a, good, chans, sigma, max_samples=64, frame_size=None, scratch=None):
    """Robust start level per channel-line from a sorted sub-sample.

    ``min(median, q25 + 0.674 sigma)``: the median for clean lines, a low-quantile-based
    mode estimate for lines more than half covered by (positive) emission. Lines are
    processed in blocks whose sorted copy is at most 1/16 of ``frame_size`` elements (the
    full-resolution frame; default ``a.size``). The sorted copies are made in one work
    array, from ``scratch`` (a :class:`_Scratch`) when given (no fresh memory per call).
    """
    n_lines = a.shape[0]
    lvl = np.full((n_lines, len(chans)), np.nan)
    plan = []  # (channel, its slice, sampling step, samples per line, lines per block)
    for k, sl in enumerate(chans):
        width = good[:, sl].shape[1]
        if width == 0:  # a window narrower than the interleaving
            continue
        step = max(1, width // max_samples)
        n_smp = len(range(0, width, step))
        # whole channels on full frames; blocks of lines when the sorted copy would not be
        # small next to the frame (windows with short lines)
        rows = max(1, (frame_size or a.size) // (16 * n_smp))
        plan.append((k, sl, step, n_smp, rows))
    size = max([min(rows, n_lines) * n_smp for _, _, _, n_smp, rows in plan] + [0])
    new = np.empty if scratch is None else scratch.empty
    buf = new((size,), a.dtype)
    # a transposed float32 sub-sample (lines contiguous in memory) is copied by bits
    lines_inner = a.dtype == np.float32 and a.strides[0] == 4 and good.strides[0] == 1
    bits = new((size,), np.uint32) if lines_inner else None
    for k, sl, step, n_smp, rows in plan:
        for i0 in range(0, n_lines, rows):  # lines are independent: blocks (memory)
            lb = slice(i0, min(i0 + rows, n_lines))
            x = a[lb, sl]
            g = good[lb, sl]
            xs = buf[: (lb.stop - lb.start) * n_smp].reshape(-1, n_smp)
            if lines_inner and step == 1:
                # unusable samples become NaN (sorted last, as inf would be) by an OR of
                # their bits with a quiet NaN's, along the memory rows; then one blocked
                # transposing copy (3x faster than a masked copy across the rows)
                t = bits[: xs.size].reshape(n_smp, -1)  # (samples, lines)
                gt = g.T.view(np.uint8)
                np.copyto(t, gt)
                t -= np.uint32(1)  # 0 where usable, all ones where not
                t &= np.uint32(0x7FC00000)
                t |= x.T.view(np.uint32)
                _copy_columns(xs, t.T.view(np.float32))
                xs.sort(axis=1)
                n = np.add.reduce(gt, axis=0, dtype=np.uint16).astype(np.intp)
            else:
                xs[...] = np.inf  # ``np.where(g, x, inf)`` in place
                np.copyto(xs, x[:, ::step], where=g[:, ::step])
                xs.sort(axis=1)
                n = g[:, ::step].sum(axis=1)
            ok = n >= 3
            i50 = np.maximum((n - 1) // 2, 0)
            i25 = np.maximum((n - 1) // 4, 0)
            at = np.arange(xs.shape[0])
            q50, q25 = xs[at, i50], xs[at, i25]
            with np.errstate(invalid="ignore"):
                lvl[lb, k] = np.where(ok, np.minimum(q50, q25 + _Q25_OFFSET * sigma), np.nan)
    return _fill_levels(lvl)


def _fill_levels(lvl):
    """Replace NaN levels: other channels of the line, then neighbouring lines."""
    bad = ~np.isfinite(lvl)
    if not bad.any():
        return lvl
    lvl = np.where(bad, np.nan, lvl)
    cnt = (~bad).sum(axis=1)
    line = np.where(cnt > 0, np.nansum(lvl, axis=1) / np.maximum(cnt, 1), np.nan)
    ok = np.isfinite(line)
    idx = np.arange(lvl.shape[0])
    if ok.any():
        line = np.where(ok, line, np.interp(idx, np.flatnonzero(ok), line[ok]))
    else:
        line = np.zeros(lvl.shape[0])
    return np.where(np.isfinite(lvl), lvl, line[:, None])


def _line_min_pixels(
    params: DestripeParams, layout: ReadoutLayout, chans: list[slice], length: int
) -> int:
    """Clean pixels a channel-line needs to be measured on its own: ``params.min_pixels``,
    but at most an eighth of the shortest channel-line (at least ``_LINE_MIN_PIXELS``), so
    that the short lines of a narrow window (NIRSpec slit windows: 32 or 64 pixels) with a
    generous mask are still measured, each with the noise of its few pixels, rather than
    all borrowed from the few lines with enough; and never more than half of the shortest
    channel-line (at least 2), so that in the 8-pixel lines of the smallest windows one
    flagged or clipped pixel does not leave its line unmeasured (8 x 8 window, 16 seeds:
    residual stripes 1.12 -> 0.95x what a per-line estimate can reach, worst 2.5 -> 1.3x).
    Interleaved outputs (MIRI) keep ``min_pixels``: their channel-lines share the line's
    light and read time, and borrow from each other well."""
    if layout.interleaved:
        return int(params.min_pixels)
    shortest = min(len(range(length)[sl]) for sl in chans)
    need = min(params.min_pixels, max(_LINE_MIN_PIXELS, shortest // 8))
    return int(min(need, max(2, shortest // 2)))


def _sample_step(layout, chans, target=64):
    """Sampling step along the lines for the level iterations (1 for interleaved)."""
    if layout.interleaved:
        return 1
    widths = [sl.stop - sl.start for sl in chans]
    step = max(1, min(widths) // target)
    while step > 1 and any(e % step for e in layout.channel_edges):
        step -= 1
    return step


def _clip(
    a_s, g_s, chans_s, lvl, sigma, params, *, step, bkg=None, finite=True, scratch=None, dark=None
):
    """Symmetric iterative clipping around each channel-line's own level.

    With ``dark`` (bool, shape (n_lines, n_channels)), the levels are not clipped again;
    instead those channel-lines whose level sits on emission over most of them restart from
    their dark pixels (see below) and only they are clipped again.

    Works on the sub-sampled copy ``a_s`` (every ``step``-th pixel along the lines). Each
    channel is copied once into a contiguous work array; the per-line sums and counts of the
    iterations are matrix-vector products (BLAS), much faster than row reductions of short
    rows. The work arrays are made once for all channels, from ``scratch`` (a
    :class:`_Scratch` on an output not yet written) when given: fresh memory would cost a
    page fault per 4 KiB on every call.

    Returns
    -------
    lvl : numpy.ndarray, shape (n_lines, n_channels)
        Clipped-mean levels (of data minus background).
    """
    k_sig = np.float32(params.clip_sigma * sigma)
    lvl = lvl.copy()
    n_lines = a_s.shape[0]
    widths = [g_s[:, ss].shape[1] for ss in chans_s]
    # lines per block of each channel: small next to the frame
    blocks = [max(1, (a_s.size * step) // (16 * max(wd, 1))) for wd in widths]
    size = max([min(nb, n_lines) * wd for nb, wd in zip(blocks, widths, strict=True)] + [0])
    # work arrays in the memory order of the sub-sample: a transposed (Fortran-ordered)
    # sub-sample keeps each channel's lines contiguous, so the per-line levels broadcast
    # along long inner loops
    fortran = not a_s.flags.c_contiguous and a_s.T.flags.c_contiguous
    new = scratch.empty if scratch is not None else (lambda shape, dtype: np.empty(shape, dtype))
    bx, br, bw = (new((size,), np.float32) for _ in range(3))
    bk = new((size,), bool)
    for k, ss in enumerate(chans_s):
        width = widths[k]
        if width == 0:
            continue
        ones = np.ones(width, dtype=np.float32)
        fs = _full_slice(ss, step)
        n_blk = blocks[k]
        for i0 in range(0, n_lines, n_blk):  # lines are independent: cache-sized blocks
            lb = slice(i0, min(i0 + n_blk, n_lines))
            shape = (lb.stop - lb.start, width)
            x, r, w, kk = (  # (w: |r|, then the mask as 0/1)
                b[: shape[0] * width].reshape(shape[::-1]).T
                if fortran
                else b[: shape[0] * width].reshape(shape)
                for b in (bx, br, bw, bk)
            )
            g = g_s[lb, ss]
            img = None if bkg is None else bkg.image(fs, lines=lb, out=x, fortran=fortran)
            if img is not None:  # (x holds the background)
                np.subtract(a_s[lb, ss], x, out=x)
            elif finite:  # read only: no copy
                x = a_s[lb, ss]
            else:
                np.copyto(x, a_s[lb, ss])
            if not finite:  # our own copy: non-finite values (never good) become 0
                np.nan_to_num(x, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            lv = lvl[lb, k]
            if dark is None:
                _clip_lines(x, g, lv, k_sig, params.clip_iterations, r, w, kk, ones)
                continue
            # Emission is positive: a channel-line whose level settled on emission that
            # covers most of it (a trace along the lines over much of an output) has its
            # sky as a population of pixels far below that level, which noise never makes
            # (0.1 % of the pixels below 3 sigma). Where that dark population is
            # substantial, the level restarts from its mean and is clipped again, in a
            # narrower window (``_DARK_CLIP`` sigma: the lower tail of emission a few sigma
            # above the sky would otherwise pull the level back up).
            np.subtract(x, lv[:, None].astype(np.float32), out=r)
            np.less(r, -k_sig, out=kk)
            kk &= g
            np.copyto(w, kk)
            n_low = w @ ones
            n_all = g.sum(axis=1)
            low = n_low >= np.maximum(_DARK_MIN_FRACTION * n_all, _DARK_MIN_SAMPLES)
            # (and enough of it to measure the line on: a line is measured on at least
            # ``min_pixels`` pixels; fewer dark pixels, e.g. a slit spectrum filling most of a
            # 64-pixel NIRSpec line, would leave it unmeasured, its level on the emission
            # then left to the lit-line and sky-excursion logic as before)
            low &= n_low * step >= params.min_pixels
            low &= dark[lb, k]
            if low.any():
                w *= x
                lv_low = (w @ ones).astype(np.float64) / np.maximum(n_low, 1)
                lv[low] = lv_low[low]
                k_dark = np.float32(_DARK_CLIP * sigma)
                _clip_lines(x, g, lv, k_dark, params.clip_iterations, r, w, kk, ones, rows=low)
    return lvl


def _clip_lines(x, g, lv, k_sig, iterations, r, w, kk, ones, rows=None):
    """Iterations of the symmetric clip of a block of lines, ``lv`` updated in place.

    ``x`` (data or data minus background), ``g`` (usable) and the work arrays ``r``, ``w``
    (float32) and ``kk`` (bool) have the block's shape (lines, samples); ``ones`` the
    samples' length. With ``rows`` (bool per line), only those lines' levels change.
    """
    for _ in range(iterations):
        np.subtract(x, lv[:, None].astype(np.float32), out=r)
        np.less(np.abs(r, out=w), k_sig, out=kk)
        kk &= g
        np.copyto(w, kk)  # the clip mask as 0/1
        r *= w  # finite: the clipped residuals (the same products as with ``kk``)
        n = w @ ones  # exact: integer counts < 2**24
        s = (r @ ones).astype(np.float64)
        step = s / np.maximum(n, 1)  # (s is 0 where n is)
        if rows is None:
            lv += step
        else:
            lv[rows] += step[rows]


def _accept_restarts(lvl: np.ndarray, restarted: np.ndarray) -> np.ndarray:
    """Keep the restarts from dark samples (:func:`_clip` with ``dark``) that the lines around
    support.

    The sky and a line's 1/f offset change little from one line to the next next to the
    brightness of a trace: a level that settled on a trace stands above the same output's
    levels on the lines around, and the level restarted from its dark samples falls back
    among them. A low tail of ordinary sky pixels (in lines read by one output the 1/f
    wanders along the line by about 2 sigma) also holds "dark" samples, but restarting from
    it does not start from a level that stands out from the lines around. So a restart is
    kept only where the level before it stands above the median of the channel's levels on
    the ``_BUMP_WINDOW - 1`` lines around (with the restarts, so that lines of one trace do
    not vouch for each other; the line itself excluded) by more than ``_LIT_SIGMA`` times
    their line-to-line scatter (robust, from differences of consecutive lines: the stripes
    and the noise of the levels), and the restarted level is closer to that median. (Levels
    wandering with the 1/f along one-output lines stand at most 3 scatters off; levels on
    a trace over most of a channel-line 7-9 in the simulator's grism windows.)

    Parameters
    ----------
    lvl : numpy.ndarray, shape (n_lines, n_channels)
        Levels before the restarts, DN/s (finite).
    restarted : numpy.ndarray, shape (n_lines, n_channels)
        Levels after them, DN/s.

    Returns
    -------
    numpy.ndarray, shape (n_lines, n_channels)
    """
    changed = restarted != lvl
    if not changed.any():
        return lvl
    out = lvl.copy()
    h = _BUMP_WINDOW // 2
    scale = {}
    for i, k in zip(*np.nonzero(changed), strict=True):
        # the lines around only (not the line itself; truncated at the frame's edges)
        around = np.concatenate([restarted[max(i - h, 0) : i, k], restarted[i + 1 : i + h + 1, k]])
        if around.size < 2:
            continue
        if k not in scale:  # line-to-line scatter of the levels (robust)
            scale[k] = _robust_scale(np.diff(lvl[:, k])) / np.sqrt(2)
        ref = float(np.median(around))
        above = lvl[i, k] - ref
        if above > _LIT_SIGMA * scale[k] and abs(restarted[i, k] - ref) < above:
            out[i, k] = restarted[i, k]
    return out


def _full_slice(ss: slice, step: int) -> slice:
    """Full-resolution slice of the samples ``ss`` of a line sampled every ``step``."""
    start = (ss.start or 0) * step
    stop = None if ss.stop is None else ss.stop * step
    return slice(start, stop, (ss.step or 1) * step)


#: Elements per work block of the full-resolution passes (fits in the L2 cache with the
#: other arrays of the block) ...
_BLOCK = 1 << 16
#: ... but at most this fraction of the frame, so that block temporaries stay small next to
#: the data on small windows (peak memory), and at least ``_MIN_BLOCK`` elements.
_BLOCK_FRACTION = 32
_MIN_BLOCK = 4096


def _block_size(n_elements: int) -> int:
    """Elements per work block for an array of ``n_elements``."""
    return int(min(_BLOCK, max(_MIN_BLOCK, n_elements // _BLOCK_FRACTION)))


def _flat_view(x: np.ndarray) -> np.ndarray | None:
    """1-D view of all of ``x`` in memory order, or None if it is not contiguous."""
    if x.flags.c_contiguous:
        return x.reshape(-1)
    if x.T.flags.c_contiguous:
        return x.T.reshape(-1)
    return None


class _Scratch:
    """Uninitialised work arrays on the memory of an output buffer that is not written yet.

    The arrays are consecutive, non-overlapping views (at 64-byte aligned addresses) of the
    buffer's bytes; when the buffer is not contiguous or full, new arrays are allocated.
    Reusing memory that the output touches anyway saves the page faults of fresh
    temporaries (a kernel fault per 4 KiB page, which costs more than the work done on it).

    Parameters
    ----------
    buf : numpy.ndarray
        Output buffer whose contents may be overwritten until it is written for real.
    """

    def __init__(self, buf: np.ndarray):
        flat = _flat_view(buf)
        self._raw = None if flat is None else flat.view(np.uint8)
        self._pos = 0

    def empty(self, shape: tuple[int, ...], dtype, *, fortran: bool = False) -> np.ndarray:
        """Like ``np.empty(shape, dtype, order="F" if fortran else "C")``.

        Parameters
        ----------
        shape : tuple of int
        dtype : numpy dtype
        fortran : bool
            Fortran memory order (2-D: the transpose of a C-ordered array).

        Returns
        -------
        numpy.ndarray
            Uninitialised; a view of the buffer when it has room left.
        """
        dtype = np.dtype(dtype)
        shape = tuple(int(n) for n in shape)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        if self._raw is None:
            return np.empty(shape, dtype, order="F" if fortran else "C")
        base = self._raw.ctypes.data
        start = -(-(base + self._pos) // 64) * 64 - base  # 64-byte aligned address
        if start + nbytes > self._raw.size:
            return np.empty(shape, dtype, order="F" if fortran else "C")
        self._pos = start + nbytes
        view = self._raw[start : start + nbytes].view(dtype)
        if fortran:
            return view.reshape(shape[::-1]).T
        return view.reshape(shape)


#: Columns per block of :func:`_copy_columns`.
_COPY_COLUMNS = 16


def _copy_columns(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` by blocks of ``_COPY_COLUMNS`` columns.

    For a C-ordered ``dst`` and a ``src`` whose columns are rows in memory (the sorted copies of
    a transposed sub-sample), the copy is a transposition: by narrow blocks of columns,
    the source rows of a block stay in the L1 cache while they are read line by line (5-8x
    faster than one copy, which reads every source row once per output line).

    Parameters
    ----------
    dst : numpy.ndarray, shape (n, m)
    src : numpy.ndarray, same shape
    """
    for p0 in range(0, dst.shape[1], _COPY_COLUMNS):
        cols = slice(p0, p0 + _COPY_COLUMNS)
        np.copyto(dst[:, cols], src[:, cols])


def _row_blocks(n_lines: int, length: int, fortran: bool):
    """Cache-sized blocks of whole memory rows covering an (n_lines, length) array.

    Groups of lines for C-ordered arrays, groups of pixels (memory rows) for transposed
    (Fortran-ordered) canonical views; every block is contiguous in memory, so that
    elementwise operations on it run as one long inner loop.

    Yields
    ------
    (slice, slice)
        Lines and pixels of one block.
    """
    if fortran:
        n = max(1, _block_size(n_lines * length) // max(n_lines, 1))
        for p0 in range(0, length, n):
            yield slice(None), slice(p0, min(p0 + n, length))
    else:
        n = max(1, _block_size(n_lines * length) // max(length, 1))
        for i0 in range(0, n_lines, n):
            yield slice(i0, min(i0 + n, n_lines)), slice(None)


def _per_line(coef: np.ndarray, design: np.ndarray, lb: slice, pb: slice, fortran: bool, out=None):
    """``coef[lb] @ design[pb].T`` on one block, float32: per-line coefficients of per-pixel
    terms (the background's Legendre terms, and one-hot channel columns for the levels).

    The result has the memory order of the block (Fortran for transposed views).

    Parameters
    ----------
    coef : numpy.ndarray of float32, shape (n_lines, n_terms)
    design : numpy.ndarray of float32, shape (length, n_terms)
    lb, pb : slice
        Lines and pixels of the block.
    fortran : bool
        The block is a Fortran-ordered view.
    out : numpy.ndarray of float32, optional
        Output block (same shape and memory order as the result).

    Returns
    -------
    numpy.ndarray of float32, shape (n_block_lines, n_block_pixels)
    """
    if fortran:
        return np.matmul(design[pb], coef[lb].T, out=None if out is None else out.T).T
    return np.matmul(coef[lb], design[pb].T, out=out)


class _Broadcast:
    """Exact per channel-line -> per pixel broadcast, ``out[l, p] = vals[l, cols[p]]``.

    ``cols`` maps each pixel along the line to a column of ``vals`` (its channel, or its
    channel and parity). For C-ordered blocks the pixels are taken in pairs: each run of
    pairs with the same two columns is one 64-bit value repeated (``np.repeat``, a plain
    copy of bits); for transposed blocks every memory row is one column of ``vals.T``
    (``np.take`` of whole rows). Both are much faster than per-pixel fancy indexing or
    strided broadcasts over short inner loops.

    Parameters
    ----------
    cols : numpy.ndarray of int, shape (length,)
        Column of ``vals`` for each pixel.
    """

    def __init__(self, cols: np.ndarray):
        self.cols = np.asarray(cols, dtype=np.intp)
        self._vt = None
        self._pairs = None
        n = self.cols.size
        self.plan = None
        if n % 2 == 0 and n > 0 and sys.byteorder == "little":
            c0, c1 = self.cols[0::2], self.cols[1::2]
            change = np.flatnonzero((np.diff(c0) != 0) | (np.diff(c1) != 0)) + 1
            starts = np.concatenate(([0], change))
            if starts.size <= max(1, n // 16):  # long runs: repeat pays off
                reps = np.diff(np.concatenate((starts, [n // 2])))
                self.plan = (c0[starts], c1[starts], reps)
        self._equal_runs = self.plan is not None and self.plan[2].min() == self.plan[2].max()

    def block(self, vals: np.ndarray, lb: slice, pb: slice, fortran: bool, out=None):
        """The broadcast on one block of whole memory rows, float32.

        Parameters
        ----------
        vals : numpy.ndarray of float32, shape (n_lines, n_columns)
        lb, pb : slice
            Lines and pixels of the block (``pb`` is all pixels for C-ordered blocks,
            ``lb`` all lines for transposed ones).
        fortran : bool
            The block is a Fortran-ordered view (transposed canonical frame).
        out : numpy.ndarray of float32, optional
            Output block view.

        Returns
        -------
        numpy.ndarray of float32, shape (n_block_lines, n_block_pixels)
        """
        if fortran:  # lb is all lines: vals.T made contiguous once per ``vals``
            if self._vt is None or self._vt[0] is not vals:
                self._vt = (vals, np.ascontiguousarray(vals.T))
            vt = self._vt[1]
            # (mode="clip": valid indices; "raise" would buffer the output)
            res = np.take(
                vt, self.cols[pb], axis=0, out=None if out is None else out.T, mode="clip"
            )
            return res.T
        v = vals[lb]
        if out is None:
            out = np.empty((v.shape[0], self.cols[pb].size), dtype=np.float32)
        if self.plan is None or pb != slice(None) or not out.flags.c_contiguous:
            np.take(v, self.cols[pb], axis=1, out=out, mode="clip")
            return out
        first, second, reps = self.plan
        if self._pairs is None or self._pairs[0] is not vals:  # once per ``vals``
            pair = np.empty((vals.shape[0], first.size, 2), dtype=np.float32)
            pair[:, :, 0] = vals[:, first]
            pair[:, :, 1] = vals[:, second]
            self._pairs = (vals, pair.view(np.uint64)[..., 0])
        pairs = self._pairs[1][lb]
        words = out.view(np.uint64)
        if self._equal_runs:  # equal runs (e.g. equal channels): broadcast in place
            words.reshape(words.shape[0], reps.size, reps[0])[...] = pairs[:, :, None]
        else:
            words[...] = np.repeat(pairs, reps, axis=1)
        return out


def _channel_of(chans: list[slice], length: int) -> np.ndarray:
    """Channel number of each pixel along the line, shape (length,)."""
    idx = np.zeros(length, dtype=np.intp)
    for k, sl in enumerate(chans):
        idx[sl] = k
    return idx


def _run_lengths(flags: np.ndarray) -> np.ndarray:
    """Length of the run of True each element of a boolean array is in (0 if False).

    Runs along a 1-D array, or down each column of a 2-D one (lines x channels).
    """
    f = np.asarray(flags, dtype=bool)
    if f.ndim == 2:
        return np.stack([_run_lengths(f[:, k]) for k in range(f.shape[1])], axis=1)
    d = np.diff(np.concatenate(([0], f.astype(np.int8), [0])))
    lengths = np.flatnonzero(d == -1) - np.flatnonzero(d == 1)
    out = np.zeros(f.size, dtype=np.int64)
    out[f] = np.repeat(lengths, lengths)
    return out


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of the runs of True in a 1-D boolean array."""
    d = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def _word_counts(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Number of True values per line, in all and at even positions, by 64-bit word sums.

    Each 64-bit word of a boolean line holds 8 bytes of 0 or 1; summing up to 255 words
    leaves every byte below 256 (no carry between bytes), and the bytes of the sum are then
    added in 16-bit lanes (even and odd positions apart) by one multiplication. Exact.

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape (n_lines, width)
        A view with contiguous lines of whole, aligned 64-bit words.

    Returns
    -------
    (numpy.ndarray of int, numpy.ndarray of int) or None
        The counts over the line and over its positions ``0::2``, shape (n_lines,); None
        when the view is not made of such words.
    """
    n_lines, width = mask.shape
    if not (
        mask.strides[1] == 1
        and width % 8 == 0
        and mask.strides[0] % 8 == 0
        and mask.ctypes.data % 8 == 0
        and sys.byteorder == "little"
        and n_lines > 0
        and width > 0
    ):
        return None
    words = mask.view(np.uint64)
    low = np.uint64(0x00FF00FF00FF00FF)
    lanes = np.uint64(0x0001000100010001)
    top, eight = np.uint64(48), np.uint64(8)
    total = np.zeros(n_lines, dtype=np.uint64)
    even = np.zeros(n_lines, dtype=np.uint64)
    for j0 in range(0, words.shape[1], 255):
        acc = np.add.reduce(words[:, j0 : j0 + 255], axis=1)  # bytes <= 255
        odd = ((acc >> eight) & low) * lanes >> top
        acc &= low
        acc *= lanes
        acc >>= top
        even += acc
        total += acc
        total += odd
    return total.astype(np.int64), even.astype(np.int64)


def _line_counts(mask: np.ndarray, parity: int | None = None) -> np.ndarray:
    """Number of True values per line (last axis) of a boolean view.

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape (n_lines, width)
    parity : int or None
        Count only positions ``parity::2`` of the view (None: all).

    Returns
    -------
    numpy.ndarray of int, shape (n_lines,)
    """
    n_lines, width = mask.shape
    if mask.strides[0] == 1 and width < (1 << 16):  # lines run down memory columns
        rows = mask.T if parity is None else mask.T[parity::2]
        return np.add.reduce(rows.view(np.uint8), axis=0, dtype=np.uint16).astype(np.int64)
    words = _word_counts(mask)
    if words is not None:  # 8 pixels per 64-bit word
        total, even = words
        return total if parity is None else even if parity == 0 else total - even
    sub = mask if parity is None else mask[:, parity::2]
    return np.count_nonzero(sub, axis=1)


def _line_sums(x: np.ndarray, parity: int | None = None) -> np.ndarray:
    """Float32 sums along the lines (last axis), as float64.

    A matrix-vector product (BLAS) where the view allows it: much faster than a row
    reduction, with float32 accumulation like the pairwise sum it replaces.

    Parameters
    ----------
    x : numpy.ndarray of float32, shape (n_lines, width)
    parity : int or None
        Sum only positions ``parity::2`` of the view (None: all).

    Returns
    -------
    numpy.ndarray of float64, shape (n_lines,)
    """
    isz = x.itemsize
    if x.strides[1] == isz or x.strides[0] == isz:
        w = np.ones(x.shape[1], dtype=x.dtype)
        if parity is not None:
            w[1 - parity :: 2] = 0
        return (x @ w).astype(np.float64)
    sub = x if parity is None else x[:, parity::2]
    return sub.sum(axis=1).astype(np.float64)


def _block_channels(pe: np.ndarray, chans: list[slice]) -> np.ndarray:
    """Channel of each block of pixels (that of its first pixel), -1 if in none.

    Parameters
    ----------
    pe : numpy.ndarray of int, shape (n_blocks + 1,)
        Block edges along the line, pixels.
    chans : list of slice
        Contiguous channel slices.

    Returns
    -------
    numpy.ndarray of int, shape (n_blocks,)
    """
    start = np.asarray(pe[:-1])
    out = np.full(start.size, -1)
    for k, sl in enumerate(chans):
        inside = (sl.start <= start) & (start < sl.stop) & (out < 0)  # first channel found
        out[inside] = k
    return out


def _flag_runs(flag: np.ndarray, chan: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Runs of flagged blocks along each row of blocks, split where the channel changes.

    Masking a run of adjacent flagged blocks at once is the same as masking the blocks one by
    one (fewer, larger array operations).

    Parameters
    ----------
    flag : numpy.ndarray of bool, shape (n_block_rows, n_blocks)
    chan : numpy.ndarray of int, shape (n_blocks,)
        Channel of each block (:func:`_block_channels`).

    Returns
    -------
    list of (row, first, stop, channel)
        Block row, first block and one past the last block of the run, its channel.
    """
    if not flag.any():
        return []
    nbl, nbp = flag.shape
    f = np.zeros((nbl, nbp + 1), dtype=bool)
    f[:, 1:] = flag
    same = np.ones(nbp, dtype=bool)
    same[1:] = chan[1:] == chan[:-1]
    begin = flag & ~(f[:, :-1] & same)  # flagged, and not continuing a run of its channel
    ends = np.zeros((nbl, nbp + 1), dtype=bool)
    ends[:, :-1] = begin
    ends[:, -1] = True
    ends[:, :-1] |= ~flag  # a run stops at the next unflagged block or the next run
    # each run stops at the first end after its beginning (every row ends with one)
    ii, jj = np.nonzero(begin)
    e = np.flatnonzero(ends)
    first = ii * (nbp + 1) + jj
    stop = e[np.searchsorted(e, first, side="right")] - ii * (nbp + 1)
    return list(zip(ii.tolist(), jj.tolist(), stop.tolist(), chan[jj].tolist(), strict=True))


def _thresholds(good, seeds, lb, pb, mag, t_seed, t_rej, user=None):
    """Source-mask thresholds on one block, in place.

    ``seeds = |r| >= t_seed & (good | user)`` and ``good &= |r| < t_rej`` on the block
    ``(lb, pb)``; ``mag`` is ``|r|`` there (NaN is neither seed nor kept). ``seeds`` and
    ``user`` (the user mask, whose bright pixels seed too) may be None.
    """
    g = good[lb, pb]
    if seeds is not None:
        sd = seeds[lb, pb]
        np.greater_equal(mag, t_seed, out=sd)
        sd &= g if user is None else g | user[lb, pb]
    g &= mag < t_rej


def _clear_lone_seeds(seeds: np.ndarray, r: np.ndarray, scale: float) -> None:
    """Unflag, in place, the seeds of the source mask that are lone pixels.

    A warm or hot pixel not flagged in DQ, or a cosmic ray the jump step missed, is one pixel
    with no wings: dilating it (by ``dilate_radius``, 25 pixels at 2) takes clean pixels for
    nothing, half of a frame with 2 % of such pixels (the unperturbed frame's stripes
    1.07 -> 1.35 x oracle without the reference-pixel step, ``benchmarks/stress.py``). A seed
    is lone when it stands ``_LONE_MIN * scale`` or more off its line's level, none of its 8
    neighbours is a seed and their mean residual is within
    ``_LONE_NOISE * scale + _LONE_WINGS * |r|`` of zero; the seed pixel itself stays out of
    the clean pixels (it is above the clip). A star puts a third or more of its peak into its
    neighbours wherever its PSF is sampled at all, and a stretch of 1/f wandering within the
    line moves them all with it: both are still dilated.

    Parameters
    ----------
    seeds : numpy.ndarray of bool, shape (n_lines, length)
        Seeds of the source mask, modified in place.
    r : numpy.ndarray of float32, same shape
        Residuals from the line levels and the background, DN/s (NaN where not finite).
    scale : float
        The clip scale, DN/s.
    """
    if not seeds.flags.c_contiguous and seeds.T.flags.c_contiguous:
        seeds, r = seeds.T, r.T  # (memory order; the 8 neighbours are the same)
    n, m = seeds.shape
    # candidates, by chunks of memory rows (a 32nd of the frame: their index arrays stay
    # small where light makes most pixels seeds); seeds next to another along the memory
    # rows are not lone, found on the sorted indices without a look at the frame (light
    # filling slices or traces: most of the seeds)
    rows = max(1, n * m // _LONE_CHUNKS // max(m, 1))
    found = []
    for i0 in range(0, n, rows):
        flat = np.flatnonzero(seeds[i0 : i0 + rows])  # (faster than a 2-D nonzero)
        if flat.size == 0:
            continue
        step = np.diff(flat)
        alone = np.ones(flat.size, dtype=bool)
        alone[1:] &= step != 1
        alone[:-1] &= step != 1
        y, x = np.divmod(flat[alone], m)
        y += i0
        own = np.abs(r[y, x])
        bright = own >= _LONE_MIN * scale
        found.append((y[bright].astype(np.int32), x[bright].astype(np.int32), own[bright]))
    if not found:
        return
    iy, ix, own = (np.concatenate(parts) for parts in zip(*found, strict=True))
    del found
    total = np.zeros(iy.size)
    count = np.zeros(iy.size, dtype=np.uint8)
    crowded = np.zeros(iy.size, dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == 0 and dx == 0:
                continue
            y, x = iy + dy, ix + dx
            at = np.flatnonzero((y >= 0) & (y < n) & (x >= 0) & (x < m))
            y, x = y[at], x[at]
            crowded[at] |= seeds[y, x]
            v = r[y, x]
            fin = np.isfinite(v)
            total[at[fin]] += v[fin]
            count[at[fin]] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.abs(total / count)
    lone = ~crowded & (count >= 3)
    lone &= mean < _LONE_NOISE * scale + _LONE_WINGS * own
    seeds[iy[lone], ix[lone]] = False


def _destripe_frame(*args, **kwargs) -> dict[str, Any]:
    """Destripe one frame on its own: :func:`_frame_steps` run through, with no flags from
    other integrations."""
    steps = _frame_steps(*args, **kwargs)
    next(steps)
    return _finish(steps, None)


def _finish(steps, joint_halos: np.ndarray | None) -> dict[str, Any]:
    """Run a suspended :func:`_frame_steps` to its end, sending it the flags of light found
    on the sum of the integrations (or None); returns its metrics."""
    try:
        steps.send(joint_halos)
    except StopIteration as done:
        return done.value
    raise RuntimeError("_frame_steps yields once")  # pragma: no cover


def _frame_steps(
    a: np.ndarray,
    layout: ReadoutLayout,
    params: DestripeParams,
    *,
    dq,
    static_bad,
    ref,
    bitmask,
    out_corrected,
    out_model,
    out_var,
    out_mask,
    user=None,
    light=None,
    defer_apply: bool = False,
):
    """Destripe one frame in canonical orientation (lines along the last axis), in two parts.

    A generator: started with ``next``, it runs up to the search for faint light around
    sources (step 3) and yields the 16-line block sums of its clean residuals and their
    counts (``(sums, counts)``, float32, shape (ceil(n_lines / 16), length); not to be
    modified). The caller sends back None, or flags of light found on the sums of all the
    integrations of the exposure (same shape; see :func:`_joint_halos`), which are masked
    together with the frame's own; it then finishes and returns the metrics
    (``StopIteration.value``; :func:`_finish`).

    With ``defer_apply`` the offsets are not written when every channel can take them in one
    pass: the arguments of :func:`_apply_offsets` are returned as ``metrics["_apply"]`` so
    that the caller writes model, variance and corrected once, with the rateints joint-sky
    offsets.

    The output buffers double as work space: ``out_mask`` holds the good, then the clean
    mask; ``out_model`` holds the residuals from background + line level while masking and
    measuring; ``out_var`` may hold the DQ test.

    ``user`` (bool, the frame's shape, canonical; or a :class:`~jwst1f.destripe.traces.
    WingMask`, indexed by blocks) is the user mask, applied block by block with
    ``static_bad``: its pixels are never used, but the bright ones among them seed the
    dilation of the source mask as they would unmasked. (A one-output grism strip with its
    trace masked by the user above 5 DN/s was at 2.58 x oracle over eight seeds, worse than
    with no mask, 2.14 x: the faint wings just outside the mask were used; now 2.09 x.
    Growing the whole mask instead spoilt exact masks: with the truth's empty map, 1.84 ->
    3.81 x.)

    ``light`` (a :class:`~jwst1f.destripe.traces.WingLight`, indexed by blocks, or None) is
    light known to be there (a trace's fitted wings): it is subtracted from the data
    wherever they are measured, and not from the corrected output.
    """
    n_lines, length = a.shape
    chans = layout.channel_slices()
    nch = len(chans)
    # windows too short for the output-boundary jumps of step 8b (few block rows)
    short_window = n_lines < _BOUNDARY_MIN_BLOCKS * params.background_box
    # canonical views of DMS arrays with stripes along columns are transposed (Fortran
    # order); temporaries are made in the same memory order so that no operation strides
    transposed = not a.flags.c_contiguous and a.T.flags.c_contiguous
    # Non-finite pixels are never used; no copy of the data is made for them (memory):
    # the few places that sum data zero them explicitly.
    # 0. pixels that may be used at all
    # (set block by block in the pass below, while the block is in the cache)
    good = out_mask
    use_l = use_p = None
    if static_bad is None and params.mask_reference_pixels:
        ref_l, ref_p = layout.reference_lines_and_pixels()
        use_l, use_p = ~ref_l[:, None], ~ref_p[None, :]
    # ... and, from the same cache-sized blocks of whole memory rows (the data are read
    # once), the contiguous sub-sample along the lines (every `step`-th pixel) on which the
    # levels are measured (step 1)
    step = _sample_step(layout, chans)
    n_samp = len(range(0, length, step))
    # (transposed frames: every `step`-th memory row is read afterwards, a fraction of the
    # data; C-ordered ones: every cache line holds samples, so they are taken in the loop)
    fused = step > 1 and not transposed
    # the work arrays of steps 1-2 live on the variance output, written only in step 5
    # (fresh memory costs a page fault per 4 KiB, more than the work on it)
    scratch = _Scratch(out_var)
    if step > 1:
        # stored transposed (samples x lines): each sample's lines are contiguous, so that
        # the per-line values of steps 1-2 broadcast along long inner loops (a channel's
        # lines are only ~64 samples long)
        a_s = scratch.empty((n_lines, n_samp), a.dtype, fortran=True)
        g_s = scratch.empty((n_lines, n_samp), bool, fortran=True)
    check_dq = dq is not None and bool(bitmask)
    bm = np.uint32(bitmask)
    all_finite = True
    block_finite = []  # per block of _row_blocks(n_lines, length, transposed)
    # per memory row (line, or pixel of a transposed frame): all its values are finite
    mem_rows = length if transposed else n_lines
    row_finite = np.ones(mem_rows, dtype=bool)
    # ... and the samples of the noise sigma (pairs of pixels along the lines), from the
    # same blocks (on the corrected output, not yet written)
    # (transposed frames only: on C-ordered ones the sampled lines are a small part of the
    # memory, and their own pass is faster than small pieces of every block)
    pairs = None
    if transposed:
        pairs = PairDifferences(n_lines, length, work=_flat_view(out_corrected), dtype=a.dtype)
    for lb, pb in _row_blocks(n_lines, length, transposed):
        g = good[lb, pb]
        if static_bad is not None:
            np.logical_not(static_bad[lb, pb], out=g)
        elif use_l is not None:
            np.logical_and(use_l[lb], use_p[:, pb], out=g)
        else:
            g[...] = True
        if user is not None:
            g &= ~user[lb, pb]
        ab = a[lb, pb]
        fin = np.isfinite(ab)
        block_finite.append(bool(fin.all()))
        if not block_finite[-1]:
            all_finite = False
            g &= fin
            row_finite[pb if transposed else lb] = fin.all(axis=0 if transposed else 1)
        if check_dq:
            g &= np.bitwise_and(dq[lb, pb], bm) == 0
        if pairs is not None:
            pairs.add(ab, g, lb, pb)
        if fused:
            p0, p1, _ = pb.indices(length)
            q0, q1 = -(-p0 // step), -(-p1 // step)  # samples q * step inside [p0, p1)
            src = slice(q0 * step - p0, None, step)
            a_s[lb, q0:q1] = ab[:, src]
            if light is not None:  # (the trace's fitted wing light, not measured)
                a_s[lb, q0:q1] -= light[lb, pb][:, src]
            g_s[lb, q0:q1] = g[:, src]
            if not block_finite[-1]:  # non-finite samples (never good) become 0
                smp = a_s[lb, q0:q1]
                np.copyto(smp, 0.0, where=~np.isfinite(smp))
                del smp
    del g, ab, fin
    # the usable pixels next to the output boundaries, before any source masking (step 8b)
    # (with reference pixels in the lines, also on windows too short for the jump
    # corrections: the outputs' pedestals of step 8c)
    strips = _boundary_strips(
        good, layout, chans, params, min_lines=_PEDESTAL_MIN_LINES if ref is not None else None
    )
    if step > 1 and not fused:
        np.copyto(a_s, a[:, ::step])
        np.copyto(g_s, good[:, ::step])
        if light is not None:
            for i0 in range(0, n_lines, 64):
                ls = slice(i0, i0 + 64)
                a_s[ls] -= light[ls, ::step]
    if pairs is not None and pairs.complete:
        sigma = pairs.sigma()
    else:
        sigma = robust_sigma(a, good, work=_flat_view(out_corrected))  # not yet written
    del pairs
    if not np.isfinite(sigma) or sigma <= 0:
        n_good = int(np.count_nonzero(good))
        sigma = float(np.std(a[good])) if n_good else 1.0
        sigma = sigma if np.isfinite(sigma) and sigma > 0 else 1.0

    # 1. levels by symmetric clipping around each channel-line's own level, on the
    #    sub-sample
    if step > 1:
        if not all_finite and not fused:  # non-finite values (never good) become 0
            np.copyto(a_s, 0.0, where=~np.isfinite(a_s))
        chans_s = [slice(sl.start // step, -(-sl.stop // step)) for sl in chans]
    else:  # no copies (small or interleaved frames)
        a_s, g_s, chans_s = a, good, chans
        if light is not None:  # (a copy, then: lines shorter than 128 pixels per output)
            a_s = a - light[:, :]
    finite_s = all_finite or step > 1  # the sub-sample copy has no non-finite value
    # channel-lines whose level is measured at all (a user mask or bad pixels may leave an
    # output without usable pixels on a line: its level is then borrowed and says nothing)
    measured = _measured_levels(g_s, chans_s)
    clip_scratch = scratch if step > 1 else None  # (no sub-sample: no room planned)
    lvl = _initial_levels(
        a_s, g_s, chans_s, sigma, frame_size=n_lines * length, scratch=clip_scratch
    )
    lvl = _clip(
        a_s, g_s, chans_s, lvl, sigma, params, step=step, finite=finite_s, scratch=clip_scratch
    )

    # 2. smooth background along the lines and extended emission, on the clean sub-sample
    t_rej = np.float32(params.clip_sigma * sigma)
    # same memory order as the sub-sample
    fortran_s = not a_s.flags.c_contiguous and a_s.T.flags.c_contiguous
    resid_s = scratch.empty(a_s.shape, np.float32, fortran=fortran_s) if step > 1 else out_model
    clean_s = scratch.empty(a_s.shape, bool, fortran=fortran_s)
    bounds = () if layout.interleaved else tuple(layout.channel_edges[1:-1])
    bkg = None
    # Two passes: the clip of the first is slightly asymmetric where the sky has a slope
    # along the line; the second, around level + first background, removes that bias.
    n_samp = a_s.shape[1]
    bc_s = _Broadcast(_channel_of(chans_s, n_samp))
    # the residuals' negative tail (light is positive) against the white noise: where 1/f
    # wandering within the lines widens it, the thresholds of step 3 follow it
    # (:func:`_wander_scale`; counted on the first pass, gathered on the second if wide)
    t_probe = np.float32(2.0 * _WANDER_FROM * sigma)
    n_neg = n_use = 0
    negatives: list[np.ndarray] | None = None
    for it in range(2):
        lvl32 = lvl.astype(np.float32)
        terms = None if bkg is None else bkg.terms(slice(0, n_samp * step, step))
        coef32 = None if terms is None else bkg.line_coef.astype(np.float32)
        # whole memory rows at a time: r = (a - level) - background, then |r| < t, and r
        # zeroed where not clean (the faint-emission detection averages it across lines)
        for lb, pb in _row_blocks(a_s.shape[0], n_samp, fortran_s):
            r = resid_s[lb, pb]
            work = bc_s.block(lvl32, lb, pb, fortran_s)  # the levels, exactly
            np.subtract(a_s[lb, pb], work, out=r)
            if terms is not None:
                r -= _per_line(coef32, terms, lb, pb, fortran_s, out=work)
            c = clean_s[lb, pb]
            if it == 0:
                np.less(r, -t_probe, out=c)
                c &= g_s[lb, pb]
                n_neg += int(np.count_nonzero(c))
                n_use += int(np.count_nonzero(g_s[lb, pb]))
            elif negatives is not None:
                np.less(r, 0.0, out=c)
                c &= g_s[lb, pb]
                negatives.append(r[c])
            np.less(np.abs(r, out=work), t_rej, out=c)
            c &= g_s[lb, pb]
            if finite_s:
                r *= c
            else:
                np.copyto(r, 0.0, where=~c)
            del work
        del r, c, lvl32, coef32, terms  # views would keep the work arrays alive
        if it == 0 and n_use > 0 and n_neg > _GAUSS_2SIGMA_TAIL * n_use:
            negatives = []
        # faint emission below the per-pixel clip (trace and slice wings) would otherwise
        # shape the along-line background and, through it, the outputs' offsets
        _mask_faint_emission(resid_s, clean_s, sigma, params.extended_sigma, chans_s)
        new = fit_background(
            resid_s,
            clean_s,
            sigma,
            box=params.background_box,
            along_order=params.background_along_order,
            extended_sigma=params.extended_sigma,
            channel_bounds=bounds,
            step=step,
            length=length,
            zeroed=True,  # above, and where the faint emission was flagged
        )
        lvl_fit = lvl  # the levels the residuals of this fit were taken from
        if bkg is not None:
            new.line_coef += bkg.line_coef
            lvl = lvl + bkg.channel_means(chans) - new.channel_means(chans)
        else:
            lvl = lvl - new.channel_means(chans)
        bkg = new
    del resid_s, clean_s
    clip_scale = sigma  # (the scale of the full-resolution thresholds, step 3)
    if negatives is not None:
        clip_scale = _wander_scale(np.concatenate(negatives), n_use, a_s, g_s, chans_s, sigma)
    del negatives
    # blocks flagged below their channel's fit that are the sky of an output whose fit
    # emission raised (a trace's wings over most of it) are not extended emission
    if not layout.interleaved and nch > 1:
        _unflag_sky_blocks(bkg, lvl_fit, chans)
    del lvl_fit
    # extended-emission blocks are unmasked block by block (no full-size temporary)
    le_b, pe_b = bkg.line_edges, bkg.pixel_edges
    # at full resolution they are applied in step 3, after the gaps of lit channel-lines
    # have been found (those are dark even inside blocks flagged for the slices around them)
    defer_ext = g_s is not good
    # (the channels matter only for the deferred masking, of contiguous channels)
    ext_chan = _block_channels(pe_b, chans) if defer_ext else np.zeros(pe_b.size - 1, int)
    ext_runs = _flag_runs(bkg.flag, ext_chan)
    # (the gap-depth test of lit lines reads the gaps inside extended-emission blocks too,
    # as the gap measurement of step 3 does)
    gap_test = nch > 1 and not layout.interleaved and n_lines >= 2 * params.background_box
    g_s_gaps = g_s.copy() if defer_ext and ext_runs and gap_test else g_s
    for i, j0, j1, _ in ext_runs:
        rows = slice(le_b[i], le_b[i + 1])
        if not defer_ext:
            good[rows, pe_b[j0] : pe_b[j1]] = False
        if g_s is not good:
            g_s[rows, -(-pe_b[j0] // step) : -(-pe_b[j1] // step)] = False
    lvl = _clip(
        a_s, g_s, chans_s, lvl, sigma, params, step=step, bkg=bkg, finite=finite_s,
        scratch=clip_scratch,
    )  # fmt: skip
    # emission that fills whole channel-lines (a level persistently above the other
    # channels'): those channel-lines borrow from the others instead of being measured
    lit, lit_scale, tentative = None, 0.0, None
    # the reference pixels in the lines, per channel-line (the outputs' relative drift for the
    # lit test here; the sky and the anchor of the stripes in steps 9 and 10)
    refl = _reference_levels(a, ref, layout)
    ref_drift = _reference_drift(refl)
    if not layout.interleaved:  # interleaved outputs see the same light
        lit, lit_scale = _illuminated_channels(
            lvl,
            box=params.background_box,
            nsig=_LIT_SIGMA,
            measured=measured,
            ref_drift=ref_drift,
        )
        lit = _unlit_by_reference(lit, lvl, refl, measured, box=params.background_box)
        if gap_test and lit is not None:
            # faint light over most of a channel-line, with dark gaps (the faint ends of IFU
            # spectra): below the level test, found by the depth of its gaps; tentative
            tentative = _lit_by_gap_depth(
                a_s, g_s_gaps, chans_s, lvl, bkg, step, lit, measured,
                box=params.background_box, n_select=params.min_pixels,
            )  # fmt: skip
            if tentative is not None:
                lit |= tentative
    # channel-lines not lit as a whole whose level settled on emission covering most of
    # them (a trace along the lines over most of an output) restart from their sky; in
    # one-output windows the lit ones too (no other output to measure them against: those
    # whose restarted level is no longer lit are measured, below)
    restarted = _clip(  # (a new array: _clip works on a copy of the levels)
        a_s, g_s, chans_s, lvl, sigma, params, step=step, bkg=bkg, finite=finite_s,
        scratch=clip_scratch, dark=np.ones(lvl.shape, bool) if lit is None or nch == 1 else ~lit,
    )  # fmt: skip
    lvl = _accept_restarts(lvl, restarted)
    del restarted
    del a_s, g_s, g_s_gaps, scratch, clip_scratch
    n_lit = 0
    lvl_unlit = None  # per line, the mean level of the outputs that are not lit
    if lit is not None and lit.any():
        n_lit = int(lit.sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            unlit = ~lit & measured
            nu = unlit.sum(axis=1)
            lvl_unlit = np.where(nu > 0, (lvl * unlit).sum(axis=1) / np.maximum(nu, 1), np.nan)
        if nch == 1 and (nu > 0).sum() >= 2:
            # one output reads the whole line (no other output to compare with): lit lines
            # whose level restarted from their sky (a trace along part of the line) are
            # measured like the others if that level is no longer above the unlit lines'
            # around them by the lit threshold
            at = np.flatnonzero(nu > 0)
            around = np.interp(np.arange(n_lines), at, lvl_unlit[at])
            lit[:, 0] &= lvl[:, 0] - around >= _LIT_SIGMA * lit_scale
            n_lit = int(lit.sum())
            if not lit.any():
                lit = lvl_unlit = None
    del measured

    # 3. full-resolution source mask (symmetric, dilated) and line means of what is left
    t_rej = np.float32(params.clip_sigma * clip_scale)
    t_seed = np.float32((params.clip_sigma + 1.0) * clip_scale)
    # every block written; on the variance output (not written yet; the step-1-2 work arrays
    # are gone)
    seeds = None
    if params.dilate_radius > 0:
        seeds = _Scratch(out_var).empty(good.shape, bool, fortran=transposed)
    # background (Legendre terms) then each channel-line's level, in one product per block:
    # the same sequence of float32 operations as evaluating the background and adding the
    # level (the level columns are one-hot, so they add it exactly once)
    terms = bkg.terms()
    design = np.zeros((length, nch), dtype=np.float32)
    design[np.arange(length), _channel_of(chans, length)] = 1.0
    coef32 = lvl.astype(np.float32)
    if terms is not None:
        design = np.hstack([terms, design])
        coef32 = np.hstack([bkg.line_coef.astype(np.float32), coef32])
    # channels with lit lines are measured on their gaps (from the residuals and the usable
    # pixels before the thresholds), which shifts their residuals: then the thresholds are a
    # second pass; otherwise they are taken from the same cache-resident blocks
    gap_chans = [] if lvl_unlit is None else [k for k in range(nch) if lit[:, k].any()]
    one_pass = not gap_chans
    # (the lit channel-lines as found, before those measured on their gaps are cleared: no
    # output-boundary jump of step 8c is taken where light fills one side only)
    lit_found = None if lit is None or not lit.any() else lit.copy()

    # residual from background + line level, into the model buffer (scratch), whole memory
    # rows at a time (cache-sized blocks)
    for ib, (lb, pb) in enumerate(_row_blocks(n_lines, length, transposed)):
        r = out_model[lb, pb]
        work = _per_line(coef32, design, lb, pb, transposed)
        np.subtract(a[lb, pb], work, out=r)
        if light is not None:
            r -= light[lb, pb]
        if one_pass:  # |r|: NaN stays NaN, neither seed nor kept
            _thresholds(good, seeds, lb, pb, np.abs(r, out=work), t_seed, t_rej, user)
        elif not block_finite[ib]:
            # the gaps take masked products of finite residuals; pixels that are not usable
            # are neither seeds nor kept whatever their residual (and are zeroed below),
            # but for the user's finite ones, which may seed
            off = ~good[lb, pb]
            if user is not None:
                off &= ~(user[lb, pb] & np.isfinite(r))
            np.copyto(r, 0.0, where=off)
    del r, work, terms, coef32, design
    on_gaps: list[np.ndarray | None] = [None] * nch
    gap_light = None
    if not one_pass:
        # (transposed frames: the gap levels are subtracted from the residuals in the
        # threshold pass below, whose blocks are whole lines of a few pixels; the same
        # float32 subtraction without a pass of its own)
        shifts = []  # (first pixel, stop, float32 shift per line) of the channels
        # light of the slice wings in the gaps, per line and channel (taken from the levels)
        gap_light = np.zeros((n_lines, nch))
        # (the outputs' drift over the box, as the lit test allowed for it)
        gap_drift = _drift_scale(ref_drift, params.background_box)
        for k in gap_chans:
            sl = chans[k]
            s32 = np.empty(n_lines, dtype=np.float32) if transposed else None
            on_gaps[k] = _measure_lit_on_gaps(
                out_model[:, sl],
                good[:, sl],
                k,
                lit,
                lvl,
                lvl_unlit,
                lit_scale,
                params,
                finite=True,
                shift_out=s32,
                light_out=gap_light[:, k],
                tentative=None if tentative is None else tentative[:, k],
                drift=gap_drift,
            )
            if s32 is not None and on_gaps[k].any():
                shifts.append((range(length)[sl].start, range(length)[sl].stop, s32[:, None]))
            if tentative is not None:
                # tentative lines whose gaps were not accepted are measured like unlit
                # lines, in full (truncation, lit-segment search, boundary jumps)
                lit_found[tentative[:, k] & ~on_gaps[k], k] = False
        for lb, pb in _row_blocks(n_lines, length, transposed):
            b0, b1, _ = pb.indices(length)
            for p0, p1, s32 in shifts:
                if max(b0, p0) < min(b1, p1):
                    out_model[lb, max(b0, p0) : min(b1, p1)] -= s32[lb]
            _thresholds(good, seeds, lb, pb, np.abs(out_model[lb, pb]), t_seed, t_rej, user)
    n_extended = bkg.n_extended_blocks
    if defer_ext:
        # extended-emission blocks at full resolution, except on the gaps of lit lines
        # (masking both the usable pixels and the seeds is the same as masking the usable
        # pixels before the thresholds)
        for i, j0, j1, k in ext_runs:  # runs of flagged blocks in one channel
            if k < 0:  # (outside every channel)
                continue
            rows = slice(le_b[i], le_b[i + 1])
            cols = slice(pe_b[j0], pe_b[j1])
            og = on_gaps[k]
            for m in (good, seeds):
                if m is None:
                    continue
                if og is None or not og[rows].any():
                    m[rows, cols] = False
                else:
                    m[rows, cols] &= og[rows, None]
    # (the background's coefficients and along-line terms, small, for the slit light of
    # NIRSpec windows in step 9: float32, as the background is evaluated)
    bkg_parts = None
    if layout.instrument == "NIRSPEC" and (along := bkg.terms()) is not None:
        bkg_parts = (bkg.line_coef.astype(np.float32), along)
    del bkg, new
    zeroed = False  # the residuals zeroed where not clean
    if seeds is not None and seeds.any():
        _clear_lone_seeds(seeds, out_model, float(clip_scale))
    if seeds is not None and seeds.any():
        # good & ~dilated seeds; and, from the same blocks, the residuals zeroed where not
        # clean (the final clean mask)
        clear_dilated(good, seeds, params.dilate_radius, zero=out_model, finite=row_finite)
        zeroed = True
    del seeds
    clean = good
    want_eo = params.even_odd != "off" and not layout.interleaved
    # residuals from the levels, zeroed where not clean (cache-sized blocks), unless done
    blocks = [] if zeroed else _row_blocks(n_lines, length, transposed)
    for ib, (lb, pb) in enumerate(blocks):
        rc = out_model[lb, pb]
        c = clean[lb, pb]
        if block_finite[ib]:  # (the same blocks as in step 0)
            np.multiply(rc, c, out=rc)
        else:
            np.copyto(rc, 0.0, where=~c)
        del rc, c
    # emission too faint for the per-pixel clip, found on residuals averaged across lines
    # (one channel at a time: memory)
    # (block sums of 16 lines, shared with the search for faint light around sources below;
    # the flags of this one are taken out of them)
    bsum, bcnt = block_residual_sums(out_model, clean, _EMISSION_BLOCK)
    for sl in chans:
        flag = _mask_faint_emission(
            out_model[:, sl],
            clean[:, sl],
            sigma,
            params.extended_sigma,
            [slice(None)],
            sums=(bsum[:, sl], bcnt[:, sl]),
        )
        bsum[:, sl][flag] = 0.0
        bcnt[:, sl][flag] = 0.0
    del flag
    # light of galaxies and star wings too faint for the per-pixel clip, found in square
    # windows: it would raise the means of the lines through the source and take its flux;
    # in a rateints exposure also on the sums of all integrations (sent back by the caller)
    joint = yield bsum, bcnt
    halo = _halo_flags(bsum, bcnt, layout)
    del bsum, bcnt
    if joint is not None:
        halo |= joint
    _apply_block_flags(clean, halo, r=out_model)
    del halo
    # light along the lines over part of a channel-line (the wings of traces dispersed along
    # the lines): segments far above the line's own sky. Windows of fewer than 8 block rows
    # only: there the sky across lines has few blocks and the faint-emission search few
    # neighbours, while on full frames it found nothing more (independent full frames
    # unchanged) at about 5 % of the CPU.
    n_segments = 0
    if short_window:
        n_segments = _mask_lit_segments(out_model, clean, chans, sigma, skip=lit_found)
    # per-line sums and counts of the clean residuals per channel (and of its even pixels for
    # the even/odd term): products with a (pixels, columns) indicator matrix (BLAS; counts
    # are exact in float32)
    first = _first_even(chans, layout)
    ncol = 2 * nch if want_eo else nch
    wmat = np.zeros((length, ncol), dtype=np.float32)
    for k, sl in enumerate(chans):
        wmat[sl, k] = 1.0
        if want_eo:
            wmat[np.arange(length)[sl][first[k] :: 2], nch + k] = 1.0
    acc_s = np.zeros((n_lines, ncol))
    acc_n = np.zeros((n_lines, ncol))
    # the segment sums of the wander within lines that the outputs share (step 11), taken
    # in the same pass over C-ordered frames
    want_wander = params.lowpass == "auto" and nch > 1 and not layout.interleaved
    seg = wander_segment(chans) if want_wander else None
    seg_sums = None
    if seg is not None and not transposed:
        nseg = (chans[0].stop - chans[0].start) // seg
        seg_sums = tuple(np.empty((nch, nseg, n_lines), dtype=np.float32) for _ in range(2))
    # (transposed frames: per channel, the sums as one BLAS product of its memory rows with
    # ones, and the counts by byte sums of its memory rows, exact: about twice faster than
    # the products with the indicator matrix)
    if transposed and all((sl.step or 1) == 1 for sl in chans):
        for k, sl in enumerate(chans):
            r_k = out_model[:, sl]
            acc_s[:, k] = r_k @ np.ones(r_k.shape[1], dtype=np.float32)
            acc_n[:, k] = _line_counts(clean[:, sl])
            if want_eo:
                r_e = r_k[:, first[k] :: 2]  # (no copy: lines stay adjacent in memory)
                acc_s[:, nch + k] = r_e @ np.ones(r_e.shape[1], dtype=np.float32)
                acc_n[:, nch + k] = _line_counts(clean[:, sl], parity=first[k])
            del r_k
    else:
        # (C-ordered frames: the counts of each channel by 64-bit word sums of its mask
        # bytes where its lines are whole aligned words, exact: 5x faster than the products)
        words = [None] * nch
        if not transposed and all((sl.step or 1) == 1 for sl in chans):
            words = [_word_counts(clean[:, sl]) for sl in chans]
        by_words = all(wc is not None for wc in words)
        for k, wc in enumerate(words if by_words else []):
            acc_n[:, k] = wc[0]
            if want_eo:
                acc_n[:, nch + k] = wc[1] if first[k] == 0 else wc[0] - wc[1]
        del words
        for lb, pb in _row_blocks(n_lines, length, transposed):
            acc_s[lb] += out_model[lb, pb] @ wmat[pb]  # float32 sums are accurate enough
            if not by_words:
                acc_n[lb] += clean[lb, pb].astype(np.float32) @ wmat[pb]
            if seg_sums is not None:  # (from the same block, in the cache)
                segment_sums(
                    out_model[lb], clean[lb], chans, seg, seg_sums[0][..., lb], seg_sums[1][..., lb]
                )
    sums, counts = acc_s[:, :nch].copy(), acc_n[:, :nch].copy()
    sums_r = sums.copy()  # relative to the levels
    sums += lvl * counts  # of data minus background
    eo = None
    if want_eo:
        eo = _even_odd(
            out_model,
            clean,
            chans,
            layout,
            sigma,
            params,
            sums_r,
            counts,
            even=(acc_s[:, nch:], acc_n[:, nch:]),
        )
    del acc_s, acc_n, wmat
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
        means_r = np.where(counts > 0, sums_r / np.maximum(counts, 1), 0.0)
    del sums, sums_r
    # the wander within lines that the outputs share, each output's from the others (windows
    # read by several outputs side by side; the one-output timeline model is below)
    wander = None
    if seg is not None:
        wander = common_wander(
            out_model,
            clean,
            means_r,
            chans,
            layout.fast_sign,
            sigma,
            segment=seg,
            profile_lines=params.background_slow_scale,
            sums=seg_sums,
        )
    del seg_sums
    # the clean pixels are those within +-clip_sigma of the level of step 2: where a line's
    # mean moved away from that level (light masked at full resolution that had raised it),
    # the window cut one tail of its noise
    untrunc = _untruncated_mean(means_r / clip_scale, params.clip_sigma) * clip_scale - means_r
    if lit_found is not None:
        untrunc[lit_found] = 0.0
    means += untrunc
    del means_r
    if gap_light is not None:  # (the lines measured on gaps between slices)
        means -= gap_light
        del gap_light
    # the smooth part of the line means across lines is sky (kept); the rest is stripes.
    # Channels count equally (not by their clean-pixel counts), so that the split does not
    # depend on how the mask falls.
    line_min = _line_min_pixels(params, layout, chans, length)
    valid = counts >= line_min
    n_valid = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        line_mean = np.where(n_valid > 0, (means * valid).sum(axis=1) / np.maximum(n_valid, 1), 0)
    # Where the lines hold reference pixels, the stripes' slow part is measured on them (step
    # 10) and the sky may keep fine structure; otherwise a broader sky keeps less 1/f.
    if refl is not None:
        # ``background_slow_scale`` is meant for the 8 reference pixels per line of a full
        # frame; with fewer (windows touching one side of the frame) it grows in proportion so
        # that the anchor of the slow stripes (step 10) averages as many reference pixels.
        n_ref = float(np.median(refl[1].sum(axis=1)[refl[1].sum(axis=1) > 0]))
        scale = params.background_slow_scale * max(1.0, _FULL_REFERENCE_PER_LINE / n_ref)
    else:
        scale = params.background_slow_scale_noref
    trend = None
    # the smooth part of the trend where it is the smoothed line means themselves (sky plus
    # the slow stripes, which the anchor of step 10 takes back out): see there
    trend_means = None
    sky_scale = scale
    n_excursion = 0
    slit_light = False
    narrow = None
    if refl is not None:
        # The line means hold sky + stripes; the reference pixels in the same lines hold the
        # stripes only. Their difference is the sky profile across lines plus noise (the
        # reference pixels' own noise and the 1/f that varies along the line between them and
        # the sky pixels). It is smoothed at the scale of least estimated risk, no finer than
        # ``scale``: a smooth sky keeps no slow stripe modes, and sky structure that the data
        # show (emission bands across whole lines) stays.
        rsum, rcnt, rsig = refl
        rc = rcnt.sum(axis=1)
        okd = (rc > 0) & (n_valid > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.where(okd, line_mean - rsum.sum(axis=1) / np.maximum(rc, 1), 0.0)
        cands = np.geomspace(scale, max(scale, 4.0 * n_lines), 10)
        if bool(np.all(rcnt.sum(axis=0) > 0)):  # every output has reference pixels
            var_d = _difference_noise(d, okd)
            if var_d is not None:
                trend, sky_scale = choose_smoothing(d, var_d, cands, level=True)
                scale = 4.0 * n_lines  # the stripes' zero level and slope from the refs
                narrow = _narrow_excursions(d, okd, var_d, sky_scale, smooth=trend)
                if narrow is not None:
                    flags, smooth, excess = narrow
                    trend = smooth + np.where(flags, excess, 0.0)
                    n_excursion = int(flags.sum())
        else:
            # Only some outputs have reference pixels in their lines (full frames: the two
            # outer ones). The mean over all outputs minus those reference pixels also holds
            # the other outputs' own slow 1/f, which would look like sky structure; each
            # output with reference pixels minus its own is the sky profile plus white-like
            # noise. Its scale of least risk is the scale of the kept sky and of the anchor:
            # a smooth sky then keeps no slow stripe modes, and the anchor averages the
            # reference pixels' noise over as many lines as the sky allows (an independent
            # full frame without the pipeline's reference-pixel step: 1.50 -> 1.18 x oracle).
            dp, okp = _own_reference_difference(means, valid, rsum, rcnt)
            var_p = _difference_noise(dp, okp)
            if var_p is not None:
                # on bins of a quarter of the finest scale (8 lines): several times cheaper
                b = max(int(scale // 4), 1)
                sky_scale = choose_scale(dp, var_p, cands, bin_lines=b)
                scale = sky_scale
                narrow = _narrow_excursions(dp, okp, var_p, sky_scale)
    if trend is None:
        # NIRSpec windows whose lines hold no reference pixels (fixed slits, BOTS): outside
        # the slits the detector sees no sky, so the line means of its dark pixels hold the
        # 1/f, a constant dark level and only the far wings and scattered light of the
        # spectra: the kept profile is a local constant (a slope across the window is 1/f,
        # not sky) no finer than half the window (a local straight line elsewhere)
        degree = 1
        slit = None
        if refl is None and layout.instrument == "NIRSPEC":
            degree, scale = 0, max(scale, n_lines / 2.0)
            sky_scale = scale
            # the slits' own sky lights part of every line: its share of each line mean,
            # which follows the sky spectrum faster than the local constant, is kept too
            slit = _slit_sky(out_model, clean, sigma, chans, bkg_parts)
            del bkg_parts
            if slit is not None:  # (per line, as the line means: over the valid channels)
                has = n_valid > 0
                slit = (slit * valid).sum(axis=1, dtype=np.float32) / np.maximum(n_valid, 1)
                if has.any() and not has.all():  # (lines measured on their neighbours)
                    idx = np.flatnonzero(has)
                    slit = np.interp(np.arange(n_lines), idx, slit[idx]).astype(np.float32)
                    del idx
                del has
                line_mean -= slit
                slit_light = True
        w_trend = (n_valid > 0).astype(float)
        if narrow is not None:  # (lines with reference pixels in only some outputs)
            # the kept sky is the profile without those lines, plus their own excess
            flags, _, excess = narrow
            w_trend *= ~flags
            n_excursion = int(flags.sum())
        trend, _ = smooth_lines(line_mean, w_trend, scale, degree=degree)
        if refl is not None:
            trend_means = trend.copy()
        if narrow is not None:
            trend += np.where(flags, excess, 0.0)
        if slit is not None:
            trend += slit
        if refl is None and degree == 1:
            trend, n_excursion = _sky_excursions(line_mean, n_valid > 0, trend, scale)
    del line_mean, n_valid, valid  # per-line arrays (memory of short-line windows)
    means = means - trend[:, None]

    # 4. line model: shared + per-channel offsets, borrowing where data are thin
    lm = line_offsets(
        means,
        counts,
        sigma,
        min_pixels=line_min,
        fit_by_channel=params.fit_by_channel,
        wiener=params.line_wiener,
        work=out_var,  # written in step 5: scratch until then
    )
    offset = lm.offset
    variance = lm.variance
    # the relative offsets of neighbouring outputs from the jumps at their boundaries, where
    # they disagree significantly with the model (diffuse emission brighter in some outputs)
    boundary_rms = [0.0] * (nch - 1)
    n_lifted = 0
    lift = None  # (the common level the jumps' corrections may leave to light, step 10)
    if strips and n_lines >= _BOUNDARY_MIN_BLOCKS * params.background_box:
        corr, corr_var, boundary_rms, lift = _boundary_offsets(
            a,
            strips,
            offset,
            sigma,
            params,
            work=out_corrected,  # written in step 5
            borrowed=counts < line_min,
        )
        offset = offset + corr
        variance = variance + corr_var
        del corr, corr_var
    # 8c. the outputs' constant pedestals relative to each other, where the reference pixels
    # of the outer outputs show them to be wrong (a trace lighting the middle outputs)
    pedestal = None
    if refl is not None:
        # (windows too short for the jump corrections of step 8b: the line model's pedestals
        # rest on an along-line sky shape fitted on a few block rows only, no better known
        # than the reference pixels and jumps tell them: those are always used)
        pedestal = _output_pedestals(
            a,
            strips,
            offset,
            refl[0],
            refl[1],
            sigma,
            params,
            work=out_corrected,
            always=short_window,
            lit=lit_found,
        )
        if pedestal is not None:
            offset = offset + pedestal[0][None, :]
            variance = variance + pedestal[1][None, :]
    del strips
    # where one output reads a whole line, the 1/f along its readout time (stripes and the
    # wander within lines together) is modelled on the pixel-clock time series instead
    use_lowpass = params.lowpass == "on" or (
        params.lowpass == "auto" and len(chans) == 1 and not layout.interleaved
    )
    timeline: list[TimelineModel | None] = [None] * nch
    if use_lowpass and not layout.interleaved:
        for k, sl in enumerate(chans):
            tl = timeline_model(
                out_model[:, sl],
                clean[:, sl],
                # (the clean pixels of a line whose window cut a tail: their mean raised to
                # the line's)
                lvl[:, k] - trend - offset[:, k] + untrunc[:, k],
                sigma,
                fast_sign=layout.fast_sign[k],
                slow_sign=layout.slow_sign,
                profile_lines=params.background_slow_scale,
                work=out_var[:, sl],  # written in step 5: scratch until then
            )
            if tl is not None:
                timeline[k] = tl
                # the model written in place is relative to the line offsets
                offset[:, k] = offset[:, k] + tl.line_mean
                variance[:, k] = variance[:, k] + tl.variance
    # Zero level and smooth part of the stripes: from the reference pixels in the lines if
    # there are any (they see the readout but no sky); otherwise the model is zero-mean over
    # the frame (every pixel counts once) and the sky level stays.
    anchored = False
    if refl is not None:
        rsum, rcnt, rsig = refl
        model_at_ref = rcnt * offset
        if any(t is not None for t in timeline):
            # the timeline model varies along the line: compare the reference pixels with
            # the model at their own read times, not with the line mean
            cols = np.flatnonzero(ref[1])
            chan = layout.channel_index()[cols]
            for k, tl in enumerate(timeline):
                ck = cols[chan == k]
                if tl is None or ck.size == 0:
                    continue
                est = out_model.T[ck].T if transposed else out_model[:, ck]
                at_ref = est.mean(axis=1, dtype=np.float64) - tl.line_mean
                model_at_ref[:, k] += rcnt[:, k] * at_ref
        num = (rsum - model_at_ref).sum(axis=1)
        den = rcnt.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            dline = np.where(den > 0, num / np.maximum(den, 1), 0.0)
        # each line weighted by the inverse variance of its difference, in units of one
        # reference pixel's: its reference pixels' noise and the model's own variance there
        # (lines with no clean pixel, whose offsets are borrowed from their neighbours,
        # would otherwise tilt the anchor by the 1/f that the borrowing misses: the strip
        # with the truly empty pixels as its user mask, eight seeds, 2.02 -> 1.55 x oracle)
        with np.errstate(invalid="ignore", divide="ignore"):
            mvar = (variance * rcnt).sum(axis=1) / np.maximum(den, 1)
            w_anchor = den / (1.0 + den * mvar / max(rsig**2, 1e-30))
        w_anchor = np.where((den > 0) & np.isfinite(w_anchor), w_anchor, 0.0)

        def anchor_smooth(v: np.ndarray, plus: np.ndarray | None = None):
            # the anchor's smooth of a line series (see below), plus ``plus`` where twiced;
            # and the smooth's weight sums
            sm, wsum = smooth_lines(v, w_anchor, scale)
            if trend_means is not None:
                twice, _ = smooth_lines(v - sm, w_anchor, scale)
                sm = sm + (twice if plus is None else twice + plus)
            return sm, wsum

        def anchor_rest(v: np.ndarray) -> np.ndarray:
            # what the anchor's smooth leaves of a series (linear in it)
            return v - anchor_smooth(v)[0]

        if lift is not None:
            # The output-boundary corrections (step 8b) keep the mean over the outputs of
            # their light in the common level, which the line model took for stripes; the
            # reference pixels tell how much of it there is, where the anchor's smooth
            # leaves it: that fraction of the lift is taken, run by run of corrected lines.
            with np.errstate(invalid="ignore", divide="ignore"):
                lift_ref = (rcnt * lift).sum(axis=1) / np.maximum(den, 1)
            base = dline if trend_means is None else dline - trend_means
            frac = _lift_fractions(
                anchor_rest(base), anchor_rest(lift_ref), (lift > 0).any(axis=1), w_anchor
            )
            if frac.any():
                offset = offset - frac[:, None] * lift
                dline = dline + frac * lift_ref
                n_lifted = int(np.count_nonzero(frac))
            del lift_ref, base, frac
        if trend_means is None:
            shift, wsum = anchor_smooth(dline)
        else:
            # The trend is the line means smoothed (sky with the slow stripes), and the model
            # (``means`` minus trend) lacks those stripes: the reference pixels give them
            # back. Smoothing their difference with the trend in it (``dline``) would smooth
            # the trend a second time, and what that second smooth takes off the trend's
            # curvature, 1/f wandering slowly over the frame (strong without the pipeline's
            # reference-pixel step), would stay in the model as a slow stripe (an independent
            # full frame without that step: a bow of +-0.007 DN/s over the frame, 1.27 x
            # oracle). So the trend is added back as it is, and the sky that is kept, the
            # smoothed difference of the line means and the reference levels, is smoothed
            # twice (Tukey's twicing: the smooth plus the smooth of its residual), which
            # follows a bump of light across lines (a galaxy, a nebula) as closely as the
            # double smooth did.
            shift, wsum = anchor_smooth(dline - trend_means, plus=trend_means)
        offset = offset + shift[:, None]
        variance = variance + (rsig**2 / np.maximum(wsum, 1.0))[:, None]
        mean_offset = float(shift.mean())
        anchored = True
        kept = trend - shift  # the part of the line levels left in the image as sky
    else:
        widths = np.array([len(range(length)[sl]) for sl in chans], dtype=float)
        mean_offset = float((offset * widths).sum() / (widths.sum() * n_lines))
        offset = offset - mean_offset
        kept = trend + mean_offset

    # 5. apply: the per channel-line offsets, and the timeline model where there is one
    pending = []  # channels without a timeline model: written together below
    for k, sl in enumerate(chans):
        if timeline[k] is None:
            pending.append(k)
            continue
        var_k = variance[:, k].astype(np.float32)
        if transposed:  # write in memory order
            m, v = out_model.T[sl], out_var.T[sl]
        else:
            m, v = out_model[:, sl].T, out_var[:, sl].T  # (pixels, lines) views
        v[...] = var_k
        # the model is in place; add the zero-level shift
        m += (offset[:, k] - timeline[k].line_mean).astype(np.float32)
        if eo is not None:
            e0 = eo[2][k]
            m[e0::2] += eo[0][:, k].astype(np.float32)
            m[1 - e0 :: 2] += eo[1][:, k].astype(np.float32)
        del m, v
        np.subtract(a[:, sl], out_model[:, sl], out=out_corrected[:, sl])  # NaN stays NaN
    apply_args = (a, pending, chans, offset, variance, eo, transposed, out_model, out_var)
    apply_args += (out_corrected, wander, layout.reference_lines_and_pixels()[1])
    if defer_apply and len(pending) == len(chans):
        deferred = apply_args
    else:
        _apply_offsets(*apply_args)
        deferred = None

    # 6. metrics
    ok = counts >= line_min
    noise = sigma / np.sqrt(np.maximum(counts, 1))
    before, after, floor = [], [], []
    for k in range(nch):
        okk = ok[:, k]
        if okk.sum() > 1:
            mk = means[okk, k] - np.average(means[okk, k], weights=counts[okk, k])
            rk = means[okk, k] - offset[okk, k]
            rk = rk - np.average(rk, weights=counts[okk, k])
            before.append(float(np.sqrt(np.mean(mk**2))))
            after.append(float(np.sqrt(np.mean(rk**2))))
            floor.append(float(np.sqrt(np.mean(noise[okk, k] ** 2))))
        else:
            before.append(0.0)
            after.append(0.0)
            floor.append(0.0)
    return {
        "stripe_rms_before": before,
        "stripe_rms_after": after,
        "noise_floor": floor,
        # (the channels partition the line: the counts add up to all clean pixels, exactly)
        "masked_fraction": float(1.0 - counts.sum() / clean.size),
        "sigma": float(sigma),
        "clip_scale": float(clip_scale),
        "lines_interpolated": lm.n_interpolated,
        "channel_lines_borrowed": lm.n_borrowed,
        "extended_blocks": n_extended,
        "lit_segments": n_segments,
        "illuminated_channel_lines": n_lit,
        "timeline": [
            None
            if t is None
            else {"segment": t.segment, "alpha": t.spectrum.alpha, "lr": t.spectrum.significance}
            for t in timeline
        ],
        "_kept": kept,
        "common_wander": 0.0 if wander is None else float(wander.rms),
        "_apply": deferred,
        "reference_anchored": anchored,
        "reference_offset": mean_offset if anchored else 0.0,
        "sky_scale": float(sky_scale),
        "sky_excursion_lines": n_excursion,
        "slit_light": slit_light,
        "even_odd": eo is not None,
        "boundary_offsets": boundary_rms,
        "boundary_lift_lines": n_lifted,
    }


def _halo_flags(sums: np.ndarray, counts: np.ndarray, layout: ReadoutLayout) -> np.ndarray:
    """Faint light around compact sources (:func:`masking.faint_halos`) on block sums.

    Parameters
    ----------
    sums, counts : numpy.ndarray of float32, shape (ceil(n_lines / 16), length)
        Sums of the clean residuals (DN/s) and numbers of clean pixels over blocks of
        ``_EMISSION_BLOCK`` lines, in canonical orientation; of one frame or added over the
        integrations of an exposure.

    Returns
    -------
    numpy.ndarray of bool, shape of ``sums``
        True where light was found.
    """
    n_lines = layout.shape[0] if layout.fast_axis == 1 else layout.shape[1]
    shape = (n_lines, sums.shape[1])
    # (the residuals themselves are not needed when the sums are given: empty stand-ins of
    # the right shape, no memory)
    stand_in = np.broadcast_to(np.float32(0.0), shape)
    return faint_halos(
        stand_in,
        np.broadcast_to(True, shape),
        block=_EMISSION_BLOCK,
        scales=_HALO_SCALES,
        nsig=_HALO_SIGMA,
        grow=_HALO_GROW,
        grow_sigma=_HALO_GROW_SIGMA,
        segments=None if layout.interleaved else layout.channel_slices(),
        sums=(sums, counts),
        directions=None if layout.interleaved else tuple(layout.fast_sign),
    )


def _joint_halos(block_sums: list[tuple[np.ndarray, np.ndarray]], layout) -> np.ndarray | None:
    """Faint light around sources found on the sums of all integrations of an exposure.

    The sources are where they are in every integration; their 1/f and white noise are
    independent between integrations. The block sums of the clean residuals added over
    ``nints`` integrations reach ``sqrt(nints)`` times fainter light than one
    integration's, with the same threshold (the scatter of the window sums is measured on
    the added sums). Each integration's residuals are from its own line levels, so its
    stripes cancel in its own sums as in a single frame.

    Parameters
    ----------
    block_sums : list of (sums, counts)
        Per integration, what :func:`_frame_steps` yields.

    Returns
    -------
    numpy.ndarray of bool or None
        Flags per block of ``_EMISSION_BLOCK`` lines and pixel, or None for one integration.
    """
    if len(block_sums) < 2:
        return None
    sums, counts = block_sums[0][0].copy(), block_sums[0][1].copy()
    for s, c in block_sums[1:]:
        sums += s
        counts += c
    return _halo_flags(sums, counts, layout)


def _own_reference_difference(
    means: np.ndarray, valid: np.ndarray, rsum: np.ndarray, rcnt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Line means minus the reference level of the same output, averaged over the outputs.

    Parameters
    ----------
    means : numpy.ndarray, shape (n_lines, n_channels)
        Clean-pixel line means (data - background), DN/s.
    valid : numpy.ndarray of bool, shape (n_lines, n_channels)
        Channel-lines measured on enough clean pixels.
    rsum, rcnt : numpy.ndarray, shape (n_lines, n_channels)
        Sums and counts of the reference pixels in each channel-line.

    Returns
    -------
    d : numpy.ndarray, shape (n_lines,)
        Mean over the outputs with reference pixels of (line mean - reference level), DN/s:
        the sky profile across lines plus noise, without the stripes (0 where ``ok`` is False).
    ok : numpy.ndarray of bool, shape (n_lines,)
        Lines with a value.
    """
    use = valid & (rcnt > 0)
    n = use.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dk = np.where(use, means - rsum / np.maximum(rcnt, 1), 0.0)
        d = np.where(n > 0, dk.sum(axis=1) / np.maximum(n, 1), 0.0)
    return d, n > 0


def _sky_excursions(
    line_mean: np.ndarray, ok: np.ndarray, trend: np.ndarray, scale: float
) -> tuple[np.ndarray, int]:
    """The sky profile across lines where the lines hold no reference pixels, with its bumps.

    Without reference pixels the line means hold sky plus 1/f, and only their smooth part
    at ``scale`` lines (512) is kept as sky. Emission that fills whole lines over tens to
    hundreds of lines (a nebula or galaxy across the frame) then went with the stripes
    (``nircam_full_extended`` without its reference pixels: 8 x oracle, aperture bias
    -32 %). Such emission stands out: smoothed over ``_EXCURSION_SCALE`` lines, the line
    means rise above the coarse profile by many times their line-to-line scatter, which the
    1/f does not do (pink frames: nothing flagged even at 5 times). Those lines (seeded at
    ``_EXCURSION_SIGMA`` times the scatter, grown to a quarter of it; positive only, emission
    is positive) are kept at the fine scale (local quadratic, which follows the top of a
    bump), and the coarse profile is fitted without them (three passes at most, until the
    flagged lines settle). The runs then grow over the bump's tails while their smoothed
    excess stays above ``_EXCURSION_GROW_SIGMA`` times the scatter of the smoothed profile
    on the lines not flagged (the 1/f's own slow modes at that scale; three passes at most):
    a quarter of the seed left the shoulders of a Gaussian band of emission, 10-12 % of its
    peak over tens of lines, to the stripes (independent band without reference pixels,
    twelve seeds: paired aperture bias -1.57 -> -0.40 %, stripes 1.053 -> 1.036 x oracle).

    Parameters
    ----------
    line_mean : numpy.ndarray, shape (n_lines,)
        Mean over the channels of the line means, DN/s.
    ok : numpy.ndarray of bool, shape (n_lines,)
        Lines with a mean.
    trend : numpy.ndarray, shape (n_lines,)
        The coarse profile: ``line_mean`` smoothed (local linear) at ``scale``, DN/s.
    scale : float
        Its Gaussian width, lines.

    Returns
    -------
    trend : numpy.ndarray, shape (n_lines,)
        The sky profile to keep, DN/s (the input where nothing stands out).
    n_lines : int
        Lines kept at the fine scale.
    """
    if ok.sum() < 8:
        return trend, 0
    w = ok.astype(float)
    noise = _robust_scale(np.diff(line_mean[ok])) / np.sqrt(2.0)
    if not np.isfinite(noise) or noise <= 0:
        return trend, 0
    flags = np.zeros(ok.shape, dtype=bool)
    coarse = trend
    for _ in range(3):
        fine, _ = smooth_lines(line_mean - coarse, w, _EXCURSION_SCALE)
        seed = _EXCURSION_SIGMA * noise
        new = _hysteresis(fine[:, None], seed, 0.25 * seed)[:, 0] & ok
        if not new.any() or np.array_equal(new, flags):
            break
        flags = new
        coarse, _ = smooth_lines(line_mean, w * ~flags, scale)
    if not flags.any():
        return trend, 0
    # The bump's tails, below a quarter of the seed but still above the noise of the smoothed
    # profile itself (the 1/f's slow modes at that scale, measured on the lines not flagged),
    # are emission too: the runs grow until their excess falls to that noise.
    for _ in range(3):
        fine, _ = smooth_lines(line_mean - coarse, w, _EXCURSION_SCALE)
        rest = ok & ~flags
        if rest.sum() < 8:
            break
        grow = min(0.25 * seed, _EXCURSION_GROW_SIGMA * _robust_scale(fine[rest]))
        new = _hysteresis(fine[:, None], seed, grow, seeds=(flags & (fine > grow))[:, None])
        new = new[:, 0] & ok
        if not new.any() or np.array_equal(new, flags):  # (all runs lost: keep the last)
            break
        flags = new
        coarse, _ = smooth_lines(line_mean, w * ~flags, scale)
    fine, _ = smooth_lines(line_mean - coarse, w, _EXCURSION_SCALE, degree=2)
    return coarse + np.where(flags, fine, 0.0), int(flags.sum())


def _narrow_excursions(
    d: np.ndarray, ok: np.ndarray, var: np.ndarray, scale: float, *, smooth=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Lines filled by sky light too narrow across lines for the smooth sky profile.

    Where the lines hold reference pixels, ``d`` (line mean minus reference level) is the
    sky profile across lines plus the reference pixels' noise, and it is kept smoothed at
    ``scale`` (at least ``background_slow_scale``, 32 lines). A spectrum dispersed along
    the lines that fills whole lines of the clean pixels (a faint second trace across a
    grism time-series window, 11 DN/s over 3-5 lines) is then mostly taken for a stripe
    and removed from every output on those lines. The stripes are in the reference pixels
    as well, so ``d`` shows such light at many noise sigmas on single lines: a line that
    stands ``_NARROW_EXCURSION_SIGMA`` noise sigmas above the profile smoothed without the
    flagged lines (three passes at most), grown to ``_NARROW_EXCURSION_GROW`` sigmas and
    widened by one line on each side, keeps its own excess as sky, in runs of at most
    ``_NARROW_EXCURSION_RUN * scale`` lines (8 at 32: a trace's profile; a longer run of
    excess is broad structure, or the smooth profile's misfit next to a step of the sky at
    the window's edge). Positive only (light).
    The cost is the reference pixels' noise on those lines.

    Parameters
    ----------
    d : numpy.ndarray, shape (n_lines,)
        Line means minus reference levels, DN/s.
    ok : numpy.ndarray of bool, shape (n_lines,)
        Lines with a value.
    var : numpy.ndarray, shape (n_lines,)
        Noise variance of ``d`` (:func:`_difference_noise`), (DN/s)^2.
    scale : float
        Width of the smooth sky profile, lines.
    smooth : numpy.ndarray, shape (n_lines,), optional
        ``d`` already smoothed at ``scale`` with weights ``1 / var`` on ``ok`` (as
        :func:`jwst1f.destripe.linemodel.choose_smoothing` returns it): the first pass
        then does not smooth again.

    Returns
    -------
    (flags, smooth, excess) or None
        None where nothing stands out; otherwise the flagged lines (bool), the profile
        smoothed without them and ``d`` minus it (0 where not ``ok``), shape (n_lines,).
    """
    noise = float(np.sqrt(np.median(var[ok]))) if ok.any() else 0.0
    if not np.isfinite(noise) or noise <= 0:
        return None
    w = np.where(ok, 1.0 / np.where(ok, var, 1.0), 0.0)
    flags = np.zeros(ok.shape, dtype=bool)
    for i in range(3):
        if i or smooth is None:
            smooth, _ = smooth_lines(d, w * ~flags, scale)
        excess = np.where(ok, d - smooth, 0.0)
        new = _hysteresis(
            excess[:, None],
            _NARROW_EXCURSION_SIGMA * noise,
            _NARROW_EXCURSION_GROW * noise,
        )[:, 0]
        new[1:] |= new[:-1].copy()  # one line on each side
        new[:-1] |= new[1:].copy()
        new &= ok
        # narrow only: a longer run is broad structure, which the scale itself follows
        # (or a misfit of the smooth profile next to a step of the sky)
        new &= _run_lengths(new) <= _NARROW_EXCURSION_RUN * scale
        if np.array_equal(new, flags):
            break
        flags = new
    else:  # (not settled in three passes: the profile without the last flags)
        smooth, _ = smooth_lines(d, w * ~flags, scale)
        excess = np.where(ok, d - smooth, 0.0)
    if not flags.any():
        return None
    return flags, smooth, excess


def _slit_sky(
    r: np.ndarray,
    clean: np.ndarray,
    sigma: float,
    chans: list[slice],
    background: tuple[np.ndarray, np.ndarray | None] | None = None,
) -> np.ndarray | None:
    """The light of slit images in each line mean, for the kept sky of windows without
    reference pixels in their lines.

    NIRSpec's fixed-slit and bright-object windows keep a sky across lines that is a local
    constant over half the window: outside the slits the detector sees no sky. The slits'
    own sky, though, lights a fixed part of every line (the slit images across the fast
    axis) far below one pixel's noise, so it stays among the clean pixels and in the line
    means. It follows the sky spectrum across lines (where the spectra end, emission lines)
    faster than the local constant does, and that part was removed as stripes
    (``nirspec_fs``: the lines beyond the spectra's ends were left 0.13 DN/s high, which
    cost the slits and traces -0.32 % of their flux against the dark pixels).

    The stripes are constant along a line; the slit light is not. Per block of
    ``_SLIT_BLOCK`` lines (the slits move by about 1.5 pixels over 512 lines), the mean of
    the clean residuals over the block's lines, with the smooth along-line background added
    back, is the along-line profile of the light; its zero is the mean of the positions
    within ``_SLIT_DARK`` noise sigmas of the darkest (iterated). Each line's amplitude of
    the profile is the regression of its clean pixels on it; the amplitudes, averaged over
    bins of ``_SLIT_BIN`` lines (inverse-variance weights), are smoothed across lines at the
    width of least estimated risk up to ``_SLIT_SCALE`` lines
    (:func:`jwst1f.destripe.linemodel.choose_smoothing`) and interpolated to the lines;
    amplitude x the profile's mean over a channel-line's clean pixels, less the
    background's, is its light. The light is a rank-one model (a spectrum across lines
    times a slit profile along them), which is what a slit lit by the sky shows; light of
    another shape in part of the lines (the wings of a trace) makes the profile of its
    block only. Work arrays come in chunks of lines (``_SLIT_CHUNK``): the window's own
    float32 size is the memory budget.

    Parameters
    ----------
    r : numpy.ndarray of float32, shape (n_lines, length)
        Residuals from each channel-line's level and the background (canonical
        orientation), DN/s.
    clean : numpy.ndarray of bool, shape (n_lines, length)
        The clean pixels.
    sigma : float
        White noise per pixel, DN/s.
    chans : list of slice
        The channels along the line.
    background : tuple of numpy.ndarray, optional
        ``(line_coef, terms)`` of the smooth background along the lines
        (:class:`jwst1f.destripe.background.SmoothBackground`: ``line_coef @ terms.T``,
        shapes (n_lines, order) and (length, order)); None or ``terms`` None: none.

    Returns
    -------
    numpy.ndarray of float32, shape (n_lines, n_channels), or None
        The light in each channel-line's clean mean (of the data less the background),
        DN/s; None where no block's profile stands ``_SLIT_SIGMA`` above its noise (no
        light along the lines, e.g. a dark window with a masked trace).
    """
    n_lines, length = r.shape
    if not (np.isfinite(sigma) and sigma > 0) or n_lines == 0 or length == 0:
        return None
    coef, terms = background if background is not None else (None, None)
    blk = min(_SLIT_BLOCK, n_lines)
    nb = -(-n_lines // blk)
    # chunks of lines for the work arrays: a 16th of the window (at least _SLIT_CHUNK pixels)
    sub = max(1, min(blk, max(_SLIT_CHUNK, n_lines * length // 16) // max(length, 1)))

    def pieces(b: int):
        """Block ``b`` in chunks: lines, clean data (residual + background; 0 elsewhere) and
        clean pixels as float32."""
        for i0 in range(b * blk, min((b + 1) * blk, n_lines), sub):
            ls = slice(i0, min(i0 + sub, (b + 1) * blk, n_lines))
            y = r[ls].astype(np.float32)  # (a copy: background added, zeroed)
            if terms is not None:
                y += coef[ls] @ terms.T
            c = clean[ls]
            y[~c] = 0.0  # (not a product: a NaN there would stay NaN)
            yield ls, y, c.astype(np.float32)

    # 1. each block's along-line profile above its dark positions, and its significance
    prof = np.zeros((nb, length), dtype=np.float32)
    significant = False
    for b in range(nb):
        tot = np.zeros(length)
        cnt = np.zeros(length)
        for _, y, c in pieces(b):
            tot += y.sum(axis=0, dtype=np.float64)
            cnt += c.sum(axis=0, dtype=np.float64)
        ok = cnt > 0
        if ok.sum() < 4:
            continue
        g = tot[ok] / cnt[ok]
        e = sigma / np.sqrt(cnt[ok])
        zero = float(np.quantile(g, 0.1))
        for _ in range(3):
            dark = g <= zero + _SLIT_DARK * e
            zero = float(np.average(g[dark], weights=1.0 / e[dark] ** 2))
        z2 = ((g - zero) / e) ** 2
        significant |= bool((z2.sum() - g.size) / np.sqrt(2.0 * g.size) > _SLIT_SIGMA)
        prof[b, ok] = g - zero
    if not significant:
        return None
    # 2. each line's amplitude of the profile: the regression of its clean pixels on it,
    # summed over bins of _SLIT_BIN lines (the variance of the profile over the clean pixels
    # and its covariance with the data: the bin's inverse-variance weighted mean amplitude);
    # per channel-line, the means of the profile and of the background over its clean
    # pixels (matrix products: no temporaries of the chunk's size)
    nch = len(chans)
    bn = _SLIT_BIN
    nbin = -(-n_lines // bn)
    sxx_b, sxy_b = np.zeros(nbin), np.zeros(nbin)
    ch_s, ch_b = np.zeros((n_lines, nch), np.float32), np.zeros((n_lines, nch), np.float32)
    for b in range(nb):
        p = prof[b]
        p2 = p * p
        for ls, y, c in pieces(b):
            n = np.maximum(c.sum(axis=1), 1.0)
            sx = c @ p
            at = np.arange(ls.start, ls.stop) // bn
            np.add.at(sxx_b, at, c @ p2 - sx * sx / n)
            np.add.at(sxy_b, at, y @ p - sx * y.sum(axis=1) / n)
            for k, sl in enumerate(chans):
                n_k = np.maximum(c[:, sl].sum(axis=1), 1.0)
                ch_s[ls, k] = c[:, sl] @ p[sl] / n_k
                if terms is not None:  # (over the pixels of the terms, then the coefs)
                    ch_b[ls, k] = ((c[:, sl] @ terms[sl]) * coef[ls]).sum(axis=1) / n_k
    # 3. the amplitudes smoothed across lines at the scale of least risk (on the bins:
    # the smoothers' work arrays scale with the series), at each line
    ok = sxx_b > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        amp_b = np.where(ok, sxy_b / np.where(ok, sxx_b, 1.0), 0.0)
        var_b = np.where(ok, sigma**2 / np.where(ok, sxx_b, 1.0), np.inf)
    cands = np.geomspace(bn, max(2.0 * bn, min(_SLIT_SCALE, 4.0 * n_lines)), 6) / bn
    amp_b, _ = choose_smoothing(amp_b, var_b, cands)
    centres = np.minimum(np.arange(nbin) * bn + (bn - 1) / 2.0, n_lines - 1)
    amp = np.interp(np.arange(n_lines), centres, amp_b).astype(np.float32)
    ch_s *= amp[:, None]
    ch_s -= ch_b
    return ch_s


def _difference_noise(d: np.ndarray, ok: np.ndarray) -> np.ndarray | None:
    """Noise variance of a line series from the scatter of its line-to-line differences.

    A smooth profile barely changes from one line to the next, so the robust scatter of the
    first differences (divided by 2) is the variance of the noise; it is used as the same
    variance for every measured line.

    Parameters
    ----------
    d : numpy.ndarray, shape (n_lines,)
    ok : numpy.ndarray of bool, shape (n_lines,)
        Lines with a value.

    Returns
    -------
    numpy.ndarray, shape (n_lines,), or None
        The variance on measured lines, ``inf`` elsewhere; None with fewer than 8 values or
        no scatter.
    """
    if ok.sum() < 8:
        return None
    var = 0.5 * _robust_scale(np.diff(d[ok])) ** 2
    if not np.isfinite(var) or var <= 0:
        return None
    return np.where(ok, var, np.inf)


def _wander_scale(
    negatives: np.ndarray,
    n_use: int,
    a: np.ndarray,
    good: np.ndarray,
    chans: list[slice],
    sigma: float,
) -> float:
    """Scale of the pixels about their line's level where 1/f wanders within the lines.

    The white noise ``sigma`` comes from differences of neighbouring pixels, which cancel
    the 1/f that wanders slowly along a line. Where that wander is strong (stripes several
    times the white noise), the pixels scatter about their line's level far more than
    ``sigma``: clipped at ``clip_sigma`` of it, whole stretches of wandering lines are masked
    and dilated (ten times the usual 1/f: 41 % of a frame), and what is left of each line is
    biased towards its level. Two measures of that scatter, each blind to what fools the
    other, must both exceed ``_WANDER_FROM * sigma``; the smaller of them sets the scale
    from ``_WANDER_RATIO * sigma`` on, and below that the scale rises linearly from
    ``sigma`` at ``_WANDER_FROM`` to ``_WANDER_RATIO * sigma`` (a switch at one ratio made
    a second run undo part of the first: its wander removed, a frame with ten times the
    usual 1/f scattered just under the switch, 1.45 sigma, and was clipped at 3 sigma of
    the white noise; 1.57 -> 1.99 x oracle):

    * the negative residuals from the line levels (light is positive): their 2.28 % point
      is -2 scales. Lines whose level light has raised look wide here (a bright trace along
      the lines: 1.1-1.4 sigma);
    * differences of pixels a quarter of an output apart along the line (every few lines;
      1.4826 x their median absolute value / sqrt 2): no level enters them, but light
      across the lines does (NIRSpec spectra, a trace over part of the line: 1.2-1.8).

    Parameters
    ----------
    negatives : numpy.ndarray
        The negative residuals of the usable pixels from level and background, DN/s.
    n_use : int
        Number of usable pixels they come from.
    a : numpy.ndarray, shape (n_lines, n)
        Data (or its sub-sample along the lines), DN/s.
    good : numpy.ndarray of bool, same shape
        Usable pixels.
    chans : list of slice
        The outputs' parts of the lines (in ``a``'s pixels).
    sigma : float
        White noise, DN/s.

    Returns
    -------
    float
        The smaller of the two scales, DN/s, if both exceed ``_WANDER_RATIO * sigma``;
        between ``sigma`` and ``_WANDER_RATIO * sigma`` where the smaller is between
        ``_WANDER_FROM`` and ``_WANDER_RATIO`` times ``sigma``; else ``sigma``.
    """
    k = int(_GAUSS_2SIGMA_TAIL * n_use)
    if negatives.size <= k or k < 1:
        return sigma
    tail = -float(np.partition(negatives, k)[k]) / 2.0
    n_lines = a.shape[0]
    lag = min(len(range(a.shape[1])[sl]) for sl in chans) // 4
    if tail <= _WANDER_FROM * sigma or lag < 1 or n_lines < 2:
        return sigma
    every = max(1, n_lines * a.shape[1] // _WANDER_SAMPLES)
    diffs = []
    for sl in chans:
        x, g = a[::every, sl], good[::every, sl]
        with np.errstate(invalid="ignore", over="ignore"):
            d = x[:, lag:] - x[:, :-lag]
        diffs.append(np.abs(d[g[:, lag:] & g[:, :-lag]]))
    d = np.concatenate(diffs)
    if d.size < 100:
        return sigma
    spread = 1.4826 * float(_median_inplace(d)) / np.sqrt(2.0)
    scale = min(tail, spread)
    r = scale / sigma
    if not r > _WANDER_FROM:
        return sigma
    if r >= _WANDER_RATIO:
        return scale
    ramp = (r - _WANDER_FROM) / (_WANDER_RATIO - _WANDER_FROM)
    return sigma * (1.0 + ramp * (_WANDER_RATIO - 1.0))


def _apply_offsets(
    a,
    pending,
    chans,
    offset,
    variance,
    eo,
    transposed,
    model,
    var,
    corrected,
    wander=None,
    ref_pixels=None,
    extra=None,
):
    """Write model, variance and corrected of the channels ``pending`` (no timeline model).

    The per channel-line values (one column per channel, or per channel and parity with the
    even/odd term; with ``wander``, a :class:`jwst1f.destripe.wander.CommonWander`, one per
    segment of pixels too, each plus its wander) are broadcast to the pixels
    (:class:`_Broadcast`, exact copies) whole memory rows at a time, and ``corrected`` is
    written from the same cache-resident block. Channels with a timeline model (written by
    the caller) are left alone; then the pending channels are written one by one. ``extra``
    (float32, per line) is added to the model afterwards, as ``model += extra`` would
    (rateints joint sky). ``ref_pixels`` (bool, per pixel along the line) marks the
    reference pixels in the lines: with ``wander``, they take the mean of their channel-line's
    segments, not the wander of the segment they are read in (extrapolated to the line's
    first or last pixels, it changed them by 0.26 DN/s rms on a frame with ten times the
    usual 1/f, and a second run, comparing lines with their reference pixels, then chose a
    different sky and undid part of the first: 1.09 -> 1.23 x oracle with three times the
    usual 1/f).
    """
    if not pending:
        return
    n_lines, length = a.shape
    vals, var_cols = [], []
    cols = np.zeros(length, dtype=np.intp)
    vcols = np.zeros(length, dtype=np.intp)
    ncols = 0  # columns of ``vals`` so far
    for k in pending:
        sl = chans[k]
        pix = np.arange(length)[sl]
        off_k = offset[:, k].astype(np.float32)
        var_k = variance[:, k].astype(np.float32)
        if wander is None:
            parts, seg = off_k[:, None], max(pix.size, 1)
        else:  # per segment of pixels: the offset plus the wander; the variance per line
            parts, seg = off_k[:, None] + wander.model[k].T, wander.segment
            var_k = var_k + wander.variance[k].mean(axis=0)
        n_seg = parts.shape[1]
        col = ncols + np.minimum(np.arange(pix.size) // seg, n_seg - 1)
        if wander is not None and ref_pixels is not None and ref_pixels[sl].any():
            # the reference pixels: one more column, the mean of the segments
            parts = np.hstack([parts, parts.mean(axis=1, keepdims=True, dtype=np.float32)])
            col[ref_pixels[sl]] = ncols + n_seg
        n_parts = parts.shape[1]
        if eo is not None:  # even and odd pixels: one set of columns each
            vals.append(parts + eo[0][:, k, None].astype(np.float32))
            vals.append(parts + eo[1][:, k, None].astype(np.float32))
            col += np.where(np.arange(pix.size) % 2 == eo[2][k], 0, n_parts)
        else:
            vals.append(parts)
        cols[pix] = col
        ncols += n_parts * (2 if eo is not None else 1)
        var_cols.append(var_k)
        vcols[sl] = len(var_cols) - 1
    vals = np.concatenate(vals, axis=1)
    if extra is not None:
        vals += extra[:, None]  # float32, after the even/odd term: the same rounding
    var_cols = np.stack(var_cols, axis=1)
    if len(pending) == len(chans):
        bc_m, bc_v = _Broadcast(cols), _Broadcast(vcols)
        for lb, pb in _row_blocks(n_lines, length, transposed):
            m = bc_m.block(vals, lb, pb, transposed, out=model[lb, pb])
            bc_v.block(var_cols, lb, pb, transposed, out=var[lb, pb])
            np.subtract(a[lb, pb], m, out=corrected[lb, pb])  # non-finite input stays so
        return
    for k in pending:  # some channels have a timeline model: channel by channel
        sl = chans[k]
        if transposed:  # (pixels, lines) views in memory order
            m, v = model.T[sl], var.T[sl]
        else:
            m, v = model[:, sl].T, var[:, sl].T
        v[...] = var_cols[:, vcols[sl][0]] if v.size else 0.0
        m[...] = vals[:, cols[sl]].T
        np.subtract(a[:, sl], model[:, sl], out=corrected[:, sl])


def _robust_scale(z: np.ndarray) -> float:
    """1.4826 x the median absolute deviation from the median.

    The medians are single-``kth`` partitions of one copy (the values of ``np.median``,
    several times faster); NaN or empty input takes ``np.median`` itself (NaN).
    """
    z = np.asarray(z)
    if z.size == 0 or np.isnan(z).any():
        return 1.4826 * float(np.median(np.abs(z - np.median(z))))
    d = np.array(z, dtype=np.result_type(z.dtype, np.float16))  # own copy, floating
    med = _median_inplace(d)
    return 1.4826 * _median_inplace(np.abs(d - med, out=d))


def _first_even(chans: list[slice], layout: ReadoutLayout) -> list[int]:
    """Per channel, 0 or 1: the first pixel of its slice with an even full-frame index."""
    start0 = (layout.xstart if layout.fast_axis == 1 else layout.ystart) - 1
    return [0 if ((sl.start or 0) + start0) % 2 == 0 else 1 for sl in chans]


def _even_odd(y, clean, chans, layout, sigma, params, sums, counts, even=None):
    """Even/odd column (ACN) offsets per channel-line: a mean per channel plus Wiener-shrunk
    deviations from it.

    Parity is that of the full-frame index along the fast axis. Per channel-line the
    difference ``d`` of the clean means of even and odd pixels is measured. Its mean ``mu``
    per channel (inverse-noise weighted over the lines) is the exposure's constant even/odd
    pattern; the signal variance of the deviations, ``tau2 = <(d - mu)^2> - <noise>``, sets
    their gain ``tau2 / (tau2 + noise)``. With ``even_odd="auto"`` ``mu`` is used only where
    it is significant (> 3 sigma) and the deviations only if ``tau2`` is (> 3 sigma of its
    own estimate). The two offsets keep each channel-line's clean mean unchanged.

    Parameters
    ----------
    y : numpy.ndarray, shape (n_lines, line_length)
        Data minus background, zero where not clean, DN/s.
    clean : numpy.ndarray of bool, same shape
    chans : list of slice
    layout : ReadoutLayout
    sigma : float
        Per-pixel white noise, DN/s.
    params : DestripeParams
    sums, counts : numpy.ndarray, shape (n_lines, n_channels)
        Sum of ``y`` and number of clean pixels per channel-line (all parities).
    even : (numpy.ndarray, numpy.ndarray), optional
        The same over the even pixels only (measured here when omitted).

    Returns
    -------
    (even, odd, first_even) or None
        ``even``/``odd``: offsets (n_lines, n_channels) to add to the model of even / odd
        pixels; ``first_even``: per channel, 0 or 1, the first even pixel of the slice.
        None if the term is off or not significant.
    """
    n_lines, nch = y.shape[0], len(chans)
    d = np.zeros((n_lines, nch))
    noise = np.zeros((n_lines, nch))
    w_e = np.zeros((n_lines, nch))
    ok = np.zeros((n_lines, nch), dtype=bool)
    first = _first_even(chans, layout)  # 0 if the slice starts on an even pixel
    for k, sl in enumerate(chans):
        e0 = first[k]
        if even is None:
            se = _line_sums(y[:, sl], parity=e0)
            ne = _line_counts(clean[:, sl], parity=e0).astype(float)
        else:
            se, ne = even[0][:, k], even[1][:, k]
        so = sums[:, k] - se
        no = counts[:, k] - ne
        good = (ne >= params.min_pixels / 2) & (no >= params.min_pixels / 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            dk = se / ne - so / no
        d[:, k] = np.where(good, dk, 0.0)
        noise[:, k] = np.where(good, sigma**2 * (1 / np.maximum(ne, 1) + 1 / np.maximum(no, 1)), 0)
        w_e[:, k] = np.where(good, ne / np.maximum(ne + no, 1), 0.5)
        ok[:, k] = good
    if ok.sum() < 16:
        return None
    # ACN is pink: its mean over the exposure is its strongest part, measured on all lines
    # of a channel at once (a constant even/odd pattern, well below the noise of one line)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(ok, 1.0 / np.where(ok, noise, 1.0), 0.0)
        wsum = w.sum(axis=0)
        mu = np.where(wsum > 0, (w * d).sum(axis=0) / np.maximum(wsum, 1e-300), 0.0)
        mu_sig = np.abs(mu) * np.sqrt(wsum) > 3.0
    if params.even_odd == "auto":
        mu = np.where(mu_sig, mu, 0.0)
    dev = np.where(ok, d - mu, 0.0)
    total = float(np.mean(dev[ok] ** 2))
    nmean = float(np.mean(noise[ok]))
    tau2 = total - nmean
    significant = tau2 > 3.0 * nmean * np.sqrt(2.0 / ok.sum())
    if params.even_odd == "auto" and not (significant or mu_sig.any()):
        return None
    tau2 = max(tau2, 0.0) if significant or params.even_odd != "auto" else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = np.where(ok, tau2 / (tau2 + noise), 0.0)
    delta = np.nan_to_num(np.where(ok, mu + gain * dev, 0.0))
    return delta * (1.0 - w_e), -delta * w_e, first


def _mask_faint_emission(r, c, sigma, nsig, chans, sums=None):
    """Remove faint emission coherent across lines from a clean mask, in place.

    See :func:`jwst1f.destripe.masking.faint_emission`.

    Parameters
    ----------
    r : numpy.ndarray of float32, shape (n_lines, width)
        Residuals from the line levels (and background), DN/s, zero where not clean; set to
        zero where emission is found.
    c : numpy.ndarray of bool, same shape
        Clean pixels; set to False where emission is found.
    sigma : float
        Per-pixel white noise, DN/s.
    nsig : float
        Detection threshold, in units of the noise of the line-averaged residual.
    chans : list of slice
        Output channels along the line (their zeros are found separately).
    sums : tuple of numpy.ndarray, optional
        Block sums of ``r`` and ``c`` over ``_EMISSION_BLOCK`` lines, if already computed
        (see :func:`jwst1f.destripe.masking.faint_emission`).

    Returns
    -------
    numpy.ndarray of bool, shape (n_blocks, width)
        The flags, per block of ``_EMISSION_BLOCK`` lines and position.
    """
    _, flag = faint_emission(
        r,
        c,
        sigma,
        block=_EMISSION_BLOCK,
        half_window=_EMISSION_HALF_WINDOW,
        nsig=nsig,
        segments=chans,
        sums=sums,
    )
    _apply_block_flags(c, flag, r=r)
    return flag


def _unflag_sky_blocks(bkg: SmoothBackground, lvl: np.ndarray, chans: list[slice]) -> int:
    """Clear the extended-emission flags of low blocks that are the sky of their output.

    The block fit of step 2 (:func:`jwst1f.destripe.background.fit_background`) flags
    blocks on both sides of its model. A block *below* its channel's fitted constant is
    usually structure inside emission that fills the channel there (the constant then sits
    on brighter emission, and the low block is emission too). But where emission covers
    most of an output over the lines of a block row without a single dark output-line -
    the cross-dispersion wings of a bright grism trace along the lines, a few tenths of
    sigma per pixel over most of an output in every line of a 64-line time-series window -
    the channel-line levels and the fitted constant sit on that light, and the output's
    only truly empty blocks (where the spectrum has not yet started along the line) are
    the ones flagged low. Masking them leaves that output measured on the wings only.

    Emission is positive, so the sky is the lowest level: a low block is sky when its
    absolute level (the median over the block row's lines of its channel-line levels, plus
    the channel's fitted constant, plus its own deviation) is at or below that of the
    darkest output of the block row, and that darkest output has no flagged block in the
    row (its level is the sky, not emission filling it: in a row where emission fills every
    output, as bands of extended emission do, nothing is cleared). A sky block of another
    output stands at the sky plus that output's own slow 1/f; the darkest output's level
    holds its own 1/f and any faint light in it, so the test may leave a sky block flagged
    but does not clear light brighter than the darkest output (conservative).

    Parameters
    ----------
    bkg : SmoothBackground
        The block fit, with ``deviation`` and ``channel_level``; its ``flag`` is changed in
        place.
    lvl : numpy.ndarray, shape (n_lines, n_channels)
        The channel-line levels the fit's residuals were taken from, DN/s.
    chans : list of slice
        The contiguous output channels along the line.

    Returns
    -------
    int
        Number of blocks cleared.
    """
    if bkg.deviation is None or bkg.channel_level is None or not bkg.flag.any():
        return 0
    le, pe = bkg.line_edges, bkg.pixel_edges
    dev, flag = bkg.deviation, bkg.flag
    bch = _block_channels(pe, chans)  # (-1: outside every channel)
    low = flag & (dev < 0) & (bch >= 0)[None, :]
    if not low.any():
        return 0
    n_rows = le.size - 1
    # absolute level of each output per block row: robust to the lines of the row that a
    # trace lights entirely (those stand far above the others)
    med = np.stack([np.median(lvl[le[i] : le[i + 1]], axis=0) for i in range(n_rows)])
    level = med + bkg.channel_level  # (n_rows, n_channels)
    darkest = level.argmin(axis=1)
    dark_clean = ~np.any(flag & (bch[None, :] == darkest[:, None]), axis=1)
    own = level[:, np.maximum(bch, 0)] + dev  # absolute level of each block
    sky = low & dark_clean[:, None] & (own <= level.min(axis=1)[:, None])
    flag &= ~sky
    return int(sky.sum())


def _untruncated_mean(m: np.ndarray, t: float) -> np.ndarray:
    """Mean of a unit normal from the mean of its values within ``(-t, t)``.

    Parameters
    ----------
    m : numpy.ndarray
        Means of the values kept by the window (units of the normal's sigma).
    t : float
        Half-width of the window.

    Returns
    -------
    numpy.ndarray
        The normal's mean ``mu`` with ``E[x | -t < x < t] = m`` for ``x ~ N(mu, 1)`` (the
        inverse of a monotonic function, by interpolation; clipped to ``|mu| <= 2 t``).
    """
    mu = np.linspace(-2.0 * t, 2.0 * t, 801)
    a, b = -t - mu, t - mu
    kept = np.maximum(special.ndtr(b) - special.ndtr(a), 1e-300)
    g = mu + (np.exp(-0.5 * a * a) - np.exp(-0.5 * b * b)) / np.sqrt(2.0 * np.pi) / kept
    return np.interp(m, g, mu)


def _mask_lit_segments(
    r: np.ndarray,
    clean: np.ndarray,
    chans: list[slice],
    sigma: float,
    *,
    skip: np.ndarray | None = None,
    seg: int = _SEGMENT,
    nsig: float = _SEGMENT_SIGMA,
) -> int:
    """Mask segments along the lines lit far above the line's own sky, in place.

    A line in the valley between two traces dispersed along the lines holds their wings over
    part of its length at a few sigma per pixel: too faint for the per-pixel clip around a
    level that the light itself has raised, and too local across lines for the searches on
    16-line blocks. Averaged over ``seg`` pixels the light stands tens of noise sigmas
    above the line's dark part. Each channel-line's segments (clean residuals) are compared
    with its sky, the mean of its darkest population (the segments within the threshold of
    its 20th percentile; emission is positive); those more than the threshold above are
    masked. The threshold is ``nsig`` times the segment noise: the white noise of its clean
    pixels and the wander of the 1/f along the lines (robust scatter of the segments about
    their line's median, over the channel).

    Parameters
    ----------
    r : numpy.ndarray of float32, shape (n_lines, length)
        Residuals from background + line level (DN/s), zero where not clean; zeroed where
        masked.
    clean : numpy.ndarray of bool, shape (n_lines, length)
        Clean pixels; unset where masked.
    chans : list of slice
        The channels along the lines.
    sigma : float
        Per-pixel white-noise sigma (DN/s).
    skip : numpy.ndarray of bool, shape (n_lines, n_channels), optional
        Channel-lines left alone (lit as a whole: borrowed or measured on their gaps).
    seg : int
        Segment length along the line (pixels); at most a quarter of the channel.
    nsig : float
        Threshold in segment noise sigmas.

    Returns
    -------
    int
        Number of segments masked.
    """
    n_lines, length = r.shape
    n_masked = 0
    for k, sl in enumerate(chans):
        lo, hi, _ = sl.indices(length)
        width = hi - lo
        sg = min(seg, max(8, width // 4))
        nseg = width // sg
        if nseg < 3:
            continue
        rk, ck = r[:, lo:hi], clean[:, lo:hi]
        main = nseg * sg  # (the last partial segment joins the one before)
        sums = rk[:, :main].reshape(n_lines, nseg, sg).sum(axis=2, dtype=np.float64)
        cnts = ck[:, :main].reshape(n_lines, nseg, sg).sum(axis=2, dtype=np.int64)
        if main < width:
            sums[:, -1] += rk[:, main:].sum(axis=1, dtype=np.float64)
            cnts[:, -1] += ck[:, main:].sum(axis=1)
        ok = cnts >= sg / 4
        if skip is not None:
            ok &= ~skip[:, k, None]
        lines = np.nonzero(ok.sum(axis=1) >= 3)[0]
        if not lines.size:
            continue
        ok, cnts = ok[lines], cnts[lines]
        n_ok = ok.sum(axis=1)
        m = np.where(ok, sums[lines] / np.maximum(cnts, 1), np.inf)  # (inf: sorted last)
        srt = np.sort(m, axis=1)
        at = np.arange(lines.size)
        dev = np.abs(m - srt[at, (n_ok - 1) // 2][:, None])[ok]
        wander = 1.4826 * float(np.partition(dev, dev.size // 2)[dev.size // 2])
        thr = nsig * np.sqrt(wander**2 + sigma**2 / np.maximum(cnts, 1))
        q20 = srt[at, ((n_ok - 1) * 0.2).astype(int)][:, None]
        dark = ok & (m <= q20 + thr)
        sky = np.where(dark, m, 0.0).sum(axis=1) / np.maximum(dark.sum(axis=1), 1)
        flag = ok & (m > sky[:, None] + thr)
        for i, j in zip(*np.nonzero(flag), strict=True):
            cols = slice(j * sg, (j + 1) * sg if j < nseg - 1 else width)
            ck[lines[i], cols] = False
            rk[lines[i], cols] = 0.0
        n_masked += int(flag.sum())
    return n_masked


def _apply_block_flags(c, flag, *, r=None, step=1):
    """Unset ``c`` (and zero ``r``) where ``flag`` is set, in place.

    Parameters
    ----------
    c : numpy.ndarray of bool, shape (n_lines, width)
    flag : numpy.ndarray of bool, shape (n_blocks, ceil(width / step))
        Per block of ``_EMISSION_BLOCK`` lines; each column covers ``step`` pixels.
    r : numpy.ndarray of float32, same shape as ``c``, optional
    step : int
        Pixels per column of ``flag`` (sub-sampled flags applied at full resolution).
    """
    if not flag.any():
        return
    if step > 1:
        flag = np.repeat(flag, step, axis=1)[:, : c.shape[1]]
    n_lines, width = c.shape
    block = _EMISSION_BLOCK
    nfull = n_lines // block
    keep = ~flag
    if nfull:  # (blocks, lines, width) views: the block flags broadcast, no full-size array
        cf, kf, ff = c[: nfull * block], keep[:nfull, None, :], flag[:nfull, None, :]
        rf = None if r is None else r[: nfull * block]
        lines_inner = abs(c.strides[0]) < abs(c.strides[1])
        if lines_inner:  # transposed canonical view: lines inner
            cf, kf, ff = cf.T, kf.transpose(2, 0, 1), ff.transpose(2, 0, 1)
            rf = None if rf is None else rf.T
            shape = (width, nfull, block)
        else:
            shape = (nfull, block, width)
        c3 = np.reshape(cf, shape, copy=False)
        r3 = None if rf is None else np.reshape(rf, shape, copy=False)
        n_flag = int(np.count_nonzero(flag[:nfull]))
        if n_flag * 16 < flag[:nfull].size:  # sparse flags: only the flagged blocks
            ib, ip = np.nonzero(flag[:nfull])
            at = (ip, ib, slice(None)) if lines_inner else (ib, slice(None), ip)
            c3[at] = False
            if r3 is not None:
                r3[at] = 0.0
        elif lines_inner:
            # the ``block`` lines of one pixel are contiguous: each flagged block is one
            # record of ``block`` items, cleared by a boolean assignment of records (a
            # broadcast over ``block``-long inner loops is ~3x slower)
            f2 = flag[:nfull].T
            _clear_records(c3, f2)
            if r3 is not None:
                _clear_records(r3, f2)
        else:  # lines outer: the broadcasts run along whole lines
            c3 &= kf
            if r3 is not None and r3.dtype == np.float32:
                # the masked copy as an AND of the bits with an all-ones / all-zeros word
                # per block position (+0.0 where flagged, bit for bit; 3-5x faster)
                bits = np.where(kf, np.uint32(0xFFFFFFFF), np.uint32(0))
                np.bitwise_and(r3.view(np.uint32), bits, out=r3.view(np.uint32))
            elif r3 is not None:
                np.copyto(r3, 0.0, where=ff)
    if n_lines > nfull * block:
        c[nfull * block :] &= keep[nfull]
        if r is not None:
            np.copyto(r[nfull * block :], 0.0, where=flag[nfull])


def _clear_records(x3: np.ndarray, flag: np.ndarray) -> None:
    """``x3[flag] = 0`` for every item of the flagged rows of the last axis, in place.

    Parameters
    ----------
    x3 : numpy.ndarray, shape (n, m, block)
        Its last axis contiguous (each ``x3[i, j]`` is one run of ``block`` items in memory).
    flag : numpy.ndarray of bool, shape (n, m)

    Notes
    -----
    The runs are viewed as single records (``np.void`` of ``block`` items) and set to a
    zero record by one boolean assignment: all-zero bytes are ``False`` and ``+0.0``.
    """
    n, m, block = x3.shape
    rec = np.dtype((np.void, block * x3.dtype.itemsize))
    if x3.strides[2] != x3.dtype.itemsize or n * m == 0:
        x3[flag] = 0
        return
    view = x3.view(rec)[:, :, 0]  # (n, m) records: the bytes of x3
    view[flag] = np.zeros((), dtype=rec)


def _measured_levels(g_s: np.ndarray, chans_s: list[slice]) -> np.ndarray:
    """Channel-lines with at least 3 usable samples (their level is measured, not borrowed).

    Parameters
    ----------
    g_s : numpy.ndarray of bool, shape (n_lines, n_samples)
        Usable samples of the level iterations.
    chans_s : list of slice
        The channels' samples.

    Returns
    -------
    numpy.ndarray of bool, shape (n_lines, n_channels)
    """
    out = np.empty((g_s.shape[0], len(chans_s)), dtype=bool)
    for k, ss in enumerate(chans_s):
        out[:, k] = _line_counts(g_s[:, ss]) >= 3
    return out


def _illuminated_channels(lvl, *, box, nsig, measured=None, ref_drift=None):
    """Channel-lines whose level stays well above the lowest channel's over many lines.

    The 1/f offsets of one output relative to the others average out over ``box`` lines;
    emission filling a whole channel-line (e.g. NIRSpec IFU slices covering an output) does
    not. A channel-line is flagged when the running mean over ``box`` lines of its level,
    minus the lowest such running mean among the channels, exceeds ``nsig`` times the
    line-to-line scatter of the level difference between two channels (the noise of a single
    line, so slow 1/f offsets between outputs are far below it). One-sided: emission is
    positive. A spectral trace along the lines fills channel-lines over a few lines only (its
    cross-dispersion profile), which a ``box``-line mean dilutes below the threshold: running
    means over ``_LIT_SHORT_BOXES`` lines are tested too, at the higher threshold
    ``_LIT_SHORT_SIGMA``. Each scale grows its detections to the lines above ``_LIT_GROW``
    (hysteresis) at that scale; the flags of all scales are combined, with those of
    :func:`_lines_above_neighbours` (traces that light every output, and one-output
    windows). The ``box``-line means leave out the lines of the narrow runs found by the
    short boxes and of those bumps: a bright trace would otherwise lift the mean of every
    line within ``box / 2`` of it above the threshold.

    Parameters
    ----------
    lvl : numpy.ndarray, shape (n_lines, n_channels)
        Clipped levels per channel-line (background subtracted), DN/s.
    box : int
        Running-mean length, lines.
    nsig : float
        Threshold of the ``box``-line means, in units of the per-line scatter of channel
        differences.
    measured : numpy.ndarray of bool, shape (n_lines, n_channels), optional
        Channel-lines whose level was measured (default all). Only channels measured on at
        least half the lines are tested and serve as the dark reference; the levels of the
        others (an output masked almost entirely, by the user or bad pixels) are borrowed
        from their neighbours and would look like a perfect, noise-free dark reference. The
        levels not measured (stand-ins) count in no running mean and are never lit.
    ref_drift : numpy.ndarray, shape (n_lines,), optional
        The difference of two outputs' reference levels per line (:func:`_reference_drift`):
        where their running means wander more than ``scale``, each box's thresholds scale
        with that wander instead (:func:`_drift_scale`).

    Returns
    -------
    lit : numpy.ndarray of bool, shape (n_lines, n_channels), or None when nothing can be
        tested or (one channel, short windows) nothing is found
    scale : float
        The per-line scatter of channel differences, DN/s (0 when not measured).
    """
    n_lines, nch = lvl.shape
    use = np.ones(nch, dtype=bool) if measured is None else measured.mean(axis=0) >= 0.5
    if not use.any():
        return None, 0.0
    if not use.all():  # the tests on the channels measured on most lines only
        lit, scale = _illuminated_channels(
            lvl[:, use],
            box=box,
            nsig=nsig,
            measured=None if measured is None else measured[:, use],
            ref_drift=ref_drift,
        )
        if lit is None:
            return None, scale
        full = np.zeros(lvl.shape, dtype=bool)
        full[:, use] = lit
        return full, scale
    boxes = sorted({b for b in (*_LIT_SHORT_BOXES, box) if 2 * b <= n_lines})
    bumps = _lines_above_neighbours(lvl)
    if nch < 2 or not boxes:
        if bumps is None or not bumps[0].any():
            return None, 0.0
        return bumps
    spreads = []
    for j in range(nch):
        for k in range(j + 1, nch):
            step = np.diff(lvl[:, k] - lvl[:, j])
            spreads.append(_robust_scale(step) / np.sqrt(2))
    # per-line noise of a channel difference; the slow 1/f drifts between outputs reach a
    # few times this, hence the high threshold
    scale = min(spreads)
    if not np.isfinite(scale) or scale <= 0:
        return (None, 0.0) if bumps is None or not bumps[0].any() else bumps
    # the levels of channel-lines not measured (reference rows at the edge of a window, lines
    # masked whole) are stand-ins: they count in no running mean, and are never lit (at the
    # first lines after reference rows, they diluted the short means of a trace's edge)
    wts = np.ones(lvl.shape) if measured is None else measured.astype(float)
    lit = np.zeros(lvl.shape, dtype=bool)
    for b in boxes:
        if b == box:
            continue
        excess = _excess_over_lowest(lvl, wts, b)
        s_b = max(scale, _drift_scale(ref_drift, b))
        lit |= _hysteresis(excess, max(nsig, _LIT_SHORT_SIGMA) * s_b, _LIT_GROW * s_b)
    if bumps is not None:
        lit |= bumps[0]
    if box in boxes:
        # The ``box``-line running means leave out the lines of narrow lit runs found above
        # and of the bumps (traces): the light of a bright trace would otherwise raise the
        # mean of every line within ``box / 2`` of it above the threshold, and those lines,
        # dark, would be borrowed instead of measured. Wide runs (extended emission) stay
        # in: their faint edges are found through them.
        narrow = lit & (_run_lengths(lit) < box // 2)
        if bumps is not None:
            narrow |= bumps[0]
        excess = _excess_over_lowest(lvl, np.where(narrow, 0.0, wts), box)
        s_b = max(scale, _drift_scale(ref_drift, box))
        lit |= _hysteresis(excess, nsig * s_b, _LIT_GROW * s_b)  # (-inf: lit already)
    lit &= wts > 0
    return lit, scale


def _unlit_by_reference(lit, lvl, refl, measured, *, box):
    """Wide lit runs of an output with reference pixels that its reference pixels explain.

    Where an output's own 1/f is strong and red, its level wanders above the others' for
    hundreds of lines and the lit test takes it for light, however the thresholds scale
    (an independent WFSS frame with strong per-output 1/f: an output 0.2 DN/s above the
    others over 200 lines, lit and borrowed, 4.3 x oracle). The reference pixels of the
    line see that wander and no light: the difference of two such outputs' levels less the
    difference of their reference levels is their difference in light. Lines of a wide lit
    run (``box / 2`` lines or more) of one of them, where the other is not lit, stay lit
    only if the running mean of that difference over ``box`` lines stands three times its
    noise above zero.

    Parameters
    ----------
    lit : numpy.ndarray of bool, shape (n_lines, n_channels), or None
        Lit channel-lines; a copy is returned, changed.
    lvl : numpy.ndarray, shape (n_lines, n_channels)
        Levels of the lit test, DN/s.
    refl : tuple or None
        :func:`_reference_levels`.
    measured : numpy.ndarray of bool, same shape as ``lvl``
        Channel-lines whose level was measured.
    box : int
        Running-mean length, lines.

    Returns
    -------
    numpy.ndarray of bool or None
    """
    if lit is None or not lit.any():
        return lit
    have, rl = _reference_outputs(refl)
    if have.size < 2:
        return lit
    wide = lit & (_run_lengths(lit) >= box // 2)
    if not wide[:, have].any():
        return lit
    out = lit.copy()
    for k in have:
        if not wide[:, k].any():
            continue
        keep = np.zeros(lit.shape[0], dtype=bool)
        tested = np.zeros(lit.shape[0], dtype=bool)
        for j in have:
            if j == k:
                continue
            d = lvl[:, k] - lvl[:, j] - (rl[:, k] - rl[:, j])
            use = measured[:, k] & measured[:, j] & ~lit[:, j] & np.isfinite(d)
            if use.sum() < 2 * box:
                continue
            noise = _robust_scale(np.diff(d[use])) / np.sqrt(2.0)
            num = uniform_filter1d(np.where(use, d, 0.0), size=box, mode="nearest")
            den = uniform_filter1d(use.astype(float), size=box, mode="nearest")
            ok = den >= 0.5
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = num / np.maximum(den, 1e-9)
            t = _LIT_GROW * noise / np.sqrt(np.maximum(den * box, 1.0))
            tested |= ok
            keep |= ok & (mean >= t)
        out[:, k] &= ~(wide[:, k] & tested & ~keep)
    return out


def _reference_outputs(refl) -> tuple[np.ndarray, np.ndarray | None]:
    """The outputs with reference pixels in at least half of their lines, and the reference
    level of every channel-line (NaN where it holds none).

    Parameters
    ----------
    refl : tuple or None
        :func:`_reference_levels`.

    Returns
    -------
    have : numpy.ndarray of int, shape (n_have,)
        Channel indices (empty without reference pixels).
    levels : numpy.ndarray, shape (n_lines, n_channels), or None
        DN/s; None without reference pixels.
    """
    if refl is None:
        return np.zeros(0, dtype=np.intp), None
    rsum, rcnt, _ = refl
    with np.errstate(invalid="ignore", divide="ignore"):
        levels = np.where(rcnt > 0, rsum / np.maximum(rcnt, 1), np.nan)
    return np.flatnonzero((rcnt > 0).mean(axis=0) >= 0.5), levels


def _reference_drift(refl) -> np.ndarray | None:
    """The reference level of the first output with reference pixels in its lines minus the
    last one's, per line (NaN where either is missing); None with fewer than two such
    outputs.

    The reference pixels see no light: their difference between two outputs is the two
    outputs' own 1/f (relative drift) plus the reference pixels' noise.
    """
    have, levels = _reference_outputs(refl)
    if have.size < 2:
        return None
    return levels[:, have[0]] - levels[:, have[-1]]


def _drift_scale(ref_drift: np.ndarray | None, size: int) -> float:
    """The scatter of the outputs' relative 1/f drift over ``size`` lines, from the
    reference pixels.

    The per-line scatter of channel differences (the scale of
    :func:`_illuminated_channels`) sees mostly the white noise of the line means and the
    fast 1/f. Where the outputs' own 1/f is strong and red, their running means over many
    lines wander apart by several times that scale, and whole stretches of outputs passed
    for lit (an independent WFSS frame with four times the usual per-output 1/f, spectral
    index 1.4: 43 % of the channel-lines lit and borrowed, 9.6 x oracle). The line means
    cannot show that drift apart from light (emission over many lines of some outputs);
    the reference pixels of two outputs can: the robust scatter (1.4826 MAD about the
    median) of their difference's running mean over ``size`` lines, less (in quadrature) the
    part of their own noise, measured on the differences of neighbouring lines, that the
    window leaves; only where that scatter is ``_DRIFT_NOISE_RATIO`` times the noise's part
    (in variance) and the lines hold eight windows. A window too short to hold eight
    windows of ``size`` lines (SUBGRISM256 against the 64-line box) takes the scatter over
    a length that it holds nine times: the running mean of a longer length
    scatters less, so this is an upper bound, and without it an output of such a window
    that its own red 1/f held above the others passed for lit over the whole window (a
    sweep frame with own 1/f stronger than the shared: 433 of 1024 channel-lines borrowed,
    5.8 x oracle).

    Parameters
    ----------
    ref_drift : numpy.ndarray, shape (n_lines,), or None
        :func:`_reference_drift`, DN/s.
    size : int
        Running-mean length, lines.

    Returns
    -------
    float
        DN/s; 0 without reference pixels or with too few windows measured throughout.
    """
    if ref_drift is None:
        return 0.0
    ok = np.isfinite(ref_drift)
    n = ref_drift.size
    if ok.sum() < 8 * size:  # (a ninth for the windows lost at the ends and gaps)
        size = int(ok.sum()) // 9
        if size < 1:
            return 0.0
    num = uniform_filter1d(np.where(ok, ref_drift, 0.0), size=size, mode="nearest")
    den = uniform_filter1d(ok.astype(float), size=size, mode="nearest")
    full = den > 1.0 - 1e-9  # (windows of measured lines only)
    if full.sum() < max(8 * size, n // 4):
        return 0.0
    # the reference pixels' own noise in the running mean (from the line-to-line
    # differences: white noise and the fastest 1/f), taken off in quadrature; a drift that
    # does not stand well above it is not told from its scatter (a 64-line window: 0.2 DN/s
    # of noise passed for drift and hid a lit output)
    white2 = 0.5 * _robust_scale(np.diff(ref_drift[ok])) ** 2 / size
    total2 = _robust_scale(num[full] / den[full]) ** 2
    if not total2 > _DRIFT_NOISE_RATIO * white2:
        return 0.0
    return float(np.sqrt(total2 - white2))


def _excess_over_lowest(lvl: np.ndarray, wts: np.ndarray, size: int) -> np.ndarray:
    """Each channel's running mean of its levels above the lowest channel's, per line.

    Parameters
    ----------
    lvl : numpy.ndarray, shape (n_lines, n_channels)
        Levels, DN/s.
    wts : numpy.ndarray of float, same shape
        1 for the levels to average, 0 for those left out.
    size : int
        Running-mean length, lines (the first and last lines repeated beyond the ends).

    Returns
    -------
    numpy.ndarray, shape (n_lines, n_channels)
        DN/s; -inf where a channel has no level to average within the window, or where no
        channel has.
    """
    num = uniform_filter1d(np.where(wts > 0, lvl * wts, 0.0), size=size, axis=0, mode="nearest")
    den = uniform_filter1d(wts, size=size, axis=0, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = np.where(den > 1e-9, num / np.maximum(den, 1e-12), np.nan)
        excess = smooth - np.fmin.reduce(smooth, axis=1)[:, None]
    return np.nan_to_num(excess, nan=-np.inf)


def _lit_by_gap_depth(a_s, g_s, chans_s, lvl, bkg, step, lit, measured, *, box, n_select):
    """Channel-lines lit by faint light with dark gaps along them, below the level test.

    Light of a fraction of the noise per pixel over most of a channel-line (the faint blue
    and red ends of NIRSpec IFU spectra, 0.3-0.5 sigma per pixel) raises its level by less
    than :func:`_illuminated_channels` can tell from the slow 1/f drifts between outputs,
    and it then enters the line means whole. Such light has dark gaps at the same positions
    over many lines; a 1/f offset is flat along the line. On every other line (of windows of
    at least ``8 * box`` lines), the level minus the mean of its max(8, ``n_select / step``)
    darkest sub-sampled positions (chosen on the neighbouring 256 lines,
    :func:`jwst1f.destripe.masking.dark_positions`, so that the line's own noise does not
    choose them) is the depth of its gaps: zero on average without light. A flat-field
    pattern under sky makes every output's gaps a little deep alike, so each output's depth
    is taken above the shallowest output's. Its running mean over ``box`` lines is tested in
    units of its own noise (the robust line-to-line scatter of the depth over the square
    root of the lines averaged), grown to ``_LIT_GROW`` only from runs of lit lines at least
    ``2 * box`` long.

    Parameters
    ----------
    a_s, g_s : numpy.ndarray, shape (n_lines, n_samples)
        Sub-sampled data (finite) and usable pixels.
    chans_s : list of slice
        Channels on the sub-sample.
    lvl : numpy.ndarray, shape (n_lines, n_channels)
        Levels, DN/s.
    bkg : SmoothBackground
        The along-line background (subtracted from the data first).
    step : int
        Sub-sampling step.
    lit : numpy.ndarray of bool, shape (n_lines, n_channels)
        Channel-lines already lit (not flagged again).
    measured : numpy.ndarray of bool, same shape
        Channel-lines whose level was measured.
    box : int
        Running-mean length, lines.
    n_select : int
        Full-resolution positions per line that a gap measurement uses (``min_pixels``).

    Returns
    -------
    numpy.ndarray of bool, shape (n_lines, n_channels), or None when nothing is found, no
    lit run is long enough, or the window is shorter than ``2 * box`` lines
    """
    n_lines, nch = lvl.shape
    if n_lines < 2 * box or nch < 2 or not lit.any():
        return None
    # grown only from runs of lit lines as long as those measured on gaps (at least
    # ``2 * box`` lines): the faint ends of lit regions; not from traces (a few lines), and
    # not on its own (a static pattern of dark pixels deepens every output's gaps a little,
    # and unequally)
    long_runs = lit & (_run_lengths(lit) >= 2 * box)
    if not long_runs.any():
        return None
    n_sel = max(8, int(n_select) // max(step, 1))
    if min(sl.stop - sl.start for sl in chans_s) < 4 * n_sel:  # (too few samples per line)
        return None
    terms = bkg.terms(slice(0, a_s.shape[1] * step, step))
    # every other line (faint ends persist over many lines; half the cost): ``box`` lines
    # are ``half`` of them, and the gap positions come from the same 256 lines around
    thin = 2 if n_lines >= 8 * box else 1
    bkg_t = None  # (the background on the sub-sample, once for all channels)
    if terms is not None:
        coef32 = bkg.line_coef[::thin].astype(np.float32)
        # (in the memory order of the sub-sample: transposed frames are Fortran-ordered)
        fortran = not a_s.flags.c_contiguous and a_s.T.flags.c_contiguous
        bkg_t = (terms @ coef32.T).T if fortran else coef32 @ terms.T
    n_t, half = -(-n_lines // thin), max(box // thin, 1)
    block_t = max(_EMISSION_BLOCK // thin, 1)
    depth = np.full((n_t, nch), np.nan)
    every = np.ones(n_t, dtype=bool)
    blk = np.arange(n_t) // block_t
    rows = np.arange(n_t)[:, None]
    for k, sl in enumerate(chans_s):
        r = a_s[::thin, sl] - lvl[::thin, k : k + 1].astype(np.float32)
        if bkg_t is not None:
            r -= bkg_t[:, sl]
        g = g_s[::thin, sl]
        np.copyto(r, 0.0, where=~g)
        idx, ok = dark_positions(
            r, g, every, n_sel, block=block_t, half_window=_EMISSION_HALF_WINDOW, finite=True,
            indices=True,
        )  # fmt: skip
        use = ok[blk] & g[rows, idx[blk]]
        cnt = use.sum(axis=1)
        tot = np.sum(r[rows, idx[blk]] * use, axis=1, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = -tot / np.maximum(cnt, 1)
            depth[:, k] = np.where((cnt >= 3) & measured[::thin, k], mean, np.nan)
    ok = np.isfinite(depth)
    if ok.sum(axis=0).min() < 2 * half:
        return None
    num = uniform_filter1d(np.where(ok, depth, 0.0), half, axis=0, mode="nearest")
    den = uniform_filter1d(ok.astype(float), half, axis=0, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = np.where(den > 0.5, num / np.maximum(den, 1e-12), np.nan)
    excess = smooth - np.fmin.reduce(smooth, axis=1)[:, None]
    noise = []
    for k in range(nch):
        dk = depth[ok[:, k], k]
        noise.append(_robust_scale(np.diff(dk)) / np.sqrt(2.0) if dk.size > 2 else np.nan)
    noise = np.asarray(noise) / np.sqrt(half)
    if not np.all(np.isfinite(noise) & (noise > 0)):
        return None
    # the noise of a difference of two outputs' running means
    unit = np.sqrt(noise**2 + np.median(noise) ** 2)
    excess = np.nan_to_num(excess / unit, nan=-np.inf)
    above = excess > _LIT_GROW
    found = _hysteresis(excess, _LIT_SIGMA, _LIT_GROW, seeds=long_runs[::thin] & above)
    found = np.repeat(found, thin, axis=0)[:n_lines] & ~lit
    return found if found.any() else None


def _running_median(x: np.ndarray, w: int, step: int = 4) -> np.ndarray:
    """Running median over ``w`` (odd) lines, edges padded with the end values.

    Evaluated on every ``step``-th line and interpolated linearly in between (a running
    median over many lines changes little from one line to the next; ``step`` times
    cheaper).

    Parameters
    ----------
    x : numpy.ndarray, shape (n_lines, n_channels)
    w : int
        Window, lines (odd; NaN-free input).
    step : int
        Lines between evaluated medians.

    Returns
    -------
    numpy.ndarray, shape (n_lines, n_channels)
    """
    n = x.shape[0]
    h = w // 2
    pad = np.concatenate([np.repeat(x[:1], h, axis=0), x, np.repeat(x[-1:], h, axis=0)])
    at = np.arange(0, n, step)
    if at[-1] != n - 1:
        at = np.append(at, n - 1)
    view = np.lib.stride_tricks.sliding_window_view(pad, w, axis=0)  # (n, nch, w), no copy
    med = np.empty((at.size, x.shape[1]))
    for i0 in range(0, at.size, 64):  # copies of 64 windows at a time (memory)
        win = view[at[i0 : i0 + 64]]
        win.partition(h, axis=-1)
        med[i0 : i0 + 64] = win[..., h]  # the median of an odd window
    lines = np.arange(n)
    return np.stack([np.interp(lines, at, med[:, k]) for k in range(x.shape[1])], axis=1)


def _lines_above_neighbours(lvl):
    """Channel-lines whose level stands far above the neighbouring lines' (thin traces).

    A spectral trace along the lines (NIRCam WFSS and grism time series) lights a few
    consecutive lines over much of their length. Where it covers most of a channel-line, the
    clip around the line's own level cannot see it, and where it crosses every output, no
    channel is a dark reference for :func:`_illuminated_channels`. Across lines, though, it
    is a narrow positive bump on the level series, far above the line-to-line scatter of the
    stripes and the noise. A channel-line is flagged when its level exceeds the running
    median over ``_BUMP_WINDOW`` lines by more than ``_LIT_SHORT_SIGMA`` times that scatter
    (robust, from differences of consecutive lines), grown along the lines to
    ``_LIT_GROW`` times it (hysteresis), and widened by ``_BUMP_MARGIN`` of the run's length
    on each side for the profile's wings. One-sided: emission is positive.

    Parameters
    ----------
    lvl : numpy.ndarray, shape (n_lines, n_channels)
        Clipped levels per channel-line (background subtracted), DN/s.

    Returns
    -------
    (lit, scale) or None
        ``lit``: bool array of shape (n_lines, n_channels); ``scale``: the smallest
        per-channel line-to-line scatter, DN/s. The window is at most half the lines (odd);
        None for windows of fewer than 18 lines.
    """
    n_lines, nch = lvl.shape
    w = min(_BUMP_WINDOW, (n_lines // 2) | 1)
    if w < 9:
        return None
    excess = lvl - _running_median(lvl, w)
    sc = np.array([_robust_scale(np.diff(lvl[:, k])) / np.sqrt(2) for k in range(nch)])
    ok = np.isfinite(sc) & (sc > 0)
    sc = np.where(ok, sc, np.inf)  # channels without a scatter flag nothing
    found = _hysteresis(excess, _LIT_SHORT_SIGMA * sc, _LIT_GROW * sc)
    lit = np.zeros(lvl.shape, dtype=bool)
    for k in range(nch):
        for a, b in _runs(found[:, k]):
            m = min(_BUMP_MARGIN_MAX, max(1, int(round(_BUMP_MARGIN * (b - a)))))
            lit[max(0, a - m) : b + m, k] = True
    return lit, (float(sc[ok].min()) if ok.any() else 0.0)


def _hysteresis(excess: np.ndarray, seed, grow, *, seeds: np.ndarray | None = None) -> np.ndarray:
    """Runs of lines above ``grow`` that reach ``seed`` somewhere, per channel.

    Parameters
    ----------
    excess : numpy.ndarray, shape (n_lines, n_channels)
    seed, grow : float or numpy.ndarray of shape (n_channels,)
        Thresholds, in the units of ``excess``.
    seeds : numpy.ndarray of bool, same shape as ``excess``, optional
        The seeds themselves instead of ``excess > seed`` (each above ``grow``).

    Returns
    -------
    numpy.ndarray of bool, shape (n_lines, n_channels)
    """
    if seeds is None:
        seeds = excess > seed
    if not seeds.any():
        return np.zeros(excess.shape, dtype=bool)
    # runs along each column, numbered in one pass over the columns laid end to end (one
    # False after each column keeps the runs of neighbouring columns apart)
    n, m = excess.shape
    above = np.zeros((m, n + 1), dtype=bool)
    above[:, :n] = (excess > grow).T
    hits = np.zeros((m, n + 1), dtype=bool)
    hits[:, :n] = seeds.T
    f, h = above.ravel(), hits.ravel()
    start = f.copy()
    start[1:] &= ~f[:-1]
    run = np.cumsum(start)  # run number of each element of a run (from 1)
    hit = np.zeros(int(run[-1]) + 1, dtype=bool)
    hit[run[h & f]] = True  # runs that reach a seed
    keep = f & hit[run]
    return np.ascontiguousarray(keep.reshape(m, n + 1)[:, :n].T)


def _measure_lit_on_gaps(
    r,
    g,
    k,
    lit,
    lvl,
    lvl_unlit,
    scale,
    params,
    *,
    finite=False,
    shift_out=None,
    light_out=None,
    tentative=None,
    drift=0.0,
):
    """Lit channel-lines measured on the dark gaps between slices, where those are dark.

    An output lit on most lines (NIRSpec IFU slices) would otherwise take its offset from
    its few unlit lines only, far in readout time from most of its lines: its slow
    uncorrelated 1/f (and any faint light on those lines) then biases all the slice light.
    Instead, on each lit line, the ``min_pixels`` darkest positions across neighbouring lines
    (:func:`jwst1f.destripe.masking.dark_positions`: the gaps between slices) are used, if
    their level, averaged over ``background_box`` lines, is less than ``_LIT_SIGMA`` times
    the per-line scatter of channel differences above the mean level of the unlit outputs
    on the same lines (the threshold of the lit detection: gaps are as dark as an unlit
    output; where the darkest part of the output is still emission, the lines stay
    unmeasured and borrow), on runs of at least ``2 * background_box`` such lines. A lit run
    shorter than that (a trace along the lines) is tested on its mean gap level over the run
    itself instead, and each of its lines on its own gap level, below ``_LIT_SIGMA`` times
    its own gap noise (that scatter and the white noise of its gap pixels): a trace over a
    whole channel-line has no dark position, and its lines borrow.

    The gap positions still hold the faint wings of the slices' light, which the level
    would take from the slices. Where they are narrow gaps between bright structures
    (:func:`_narrow_gap_blocks`), the mean excess of the selected positions over their
    darkest ``1 / _GAP_CORE_DIVISOR`` (ranked on the profile of the neighbouring blocks, so
    that the difference is zero on average without light), over all such lines of the
    channel, is that light above the darkest positions' own (a lower bound of the light in
    the level). If at least ``_GAP_NARROW_FRACTION`` of the lines measured on gaps are in
    such blocks, and the excess is positive, it is returned in ``light_out`` on all those
    lines, for the caller to take from their levels.

    Parameters
    ----------
    r : numpy.ndarray of float32, shape (n_lines, width)
        Residuals of channel ``k`` from background and level, DN/s; shifted in place to the
        gap level on the lines measured on gaps.
    g : numpy.ndarray of bool, same shape
        Usable pixels of channel ``k``; in place, only the gap positions on the lines
        measured on gaps and nothing on the other lit lines.
    k : int
        Channel index.
    lit : numpy.ndarray of bool, shape (n_lines, n_channels)
        Lit channel-lines; cleared in place where measured on gaps.
    lvl : numpy.ndarray, shape (n_lines, n_channels)
        Levels, DN/s; ``lvl[:, k]`` moved in place to the gap level where measured on gaps.
    lvl_unlit : numpy.ndarray, shape (n_lines,)
        Mean level of the unlit channels per line (NaN if none), DN/s.
    scale : float
        Per-line scatter of channel differences (from :func:`_illuminated_channels`), DN/s.
    params : DestripeParams
    drift : float
        The outputs' relative drift over ``background_box`` lines from the reference pixels
        (:func:`_drift_scale`), DN/s: as in the lit test, the ``background_box`` means of
        the gap levels are tested against ``max(scale, drift)`` (an output that its own red
        1/f holds above the others, its gaps with it, was otherwise left unmeasured and
        borrowed across hundreds of lines).
    finite : bool
        ``r`` is finite everywhere: masked sums are taken as products with the masks
        (faster; the same sums).
    shift_out : numpy.ndarray of float32, shape (n_lines,), optional
        If given, ``r`` is not shifted: the float32 shift of each line (0 where not
        measured on gaps) is written here, for the caller to subtract during a later pass
        (the same values).
    light_out : numpy.ndarray, shape (n_lines,), optional
        If given, the light of the slice wings in the gap positions measured on each line
        (see above; 0 elsewhere), DN/s.
    tentative : numpy.ndarray of bool, shape (n_lines,), optional
        Lit lines flagged by the depth of their gaps alone (:func:`_lit_by_gap_depth`):
        where they are not measured on gaps, they are not lit after all (cleared in ``lit``)
        and keep their usable pixels, to be measured as unlit lines.

    Returns
    -------
    numpy.ndarray of bool, shape (n_lines,)
        The lines of channel ``k`` measured on gaps.
    """
    n_lines, width = r.shape
    lk = lit[:, k]
    n_sel = int(min(params.min_pixels, width))
    # the candidate positions of each block of lines as indices (`ok_b`: measured on enough
    # lines), so that only those pixels of the lit lines are read, not whole lines: the
    # ``min_pixels`` darkest and half as many more, which stand in, in order of darkness,
    # for those that a line cannot use (bad pixels: with exactly ``min_pixels`` positions,
    # 2 % of flagged pixels took the IFU's gap lines below ``min_pixels`` and 1300 of its
    # channel-lines were borrowed instead of measured)
    n_cand = int(min(n_sel + n_sel // 2, width))
    out = dark_positions(
        r,
        g,
        lk,
        n_cand,
        block=_EMISSION_BLOCK,
        half_window=_EMISSION_HALF_WINDOW,
        finite=finite,
        indices=True,
        profile=True,
    )
    idx_b, ok_b = out[:2]
    # each candidate's rank in darkness within its block (0: the darkest), on the profile
    pv = np.where(ok_b, np.take_along_axis(out[2], idx_b, axis=1), np.inf)
    by_dark = np.argsort(pv, axis=1, kind="stable")
    del pv
    rank_b = np.empty(idx_b.shape, dtype=np.int32)
    np.put_along_axis(rank_b, by_dark, np.arange(n_cand, dtype=np.int32), axis=1)
    primary_b = ok_b & (rank_b < n_sel)  # each block's ``min_pixels`` darkest
    n_primary = primary_b.sum(axis=1)

    def gap_pixels(ln, blk, idx):
        # per line, the ``n_sel`` darkest candidates that the line can use (the block's own
        # ``n_sel`` darkest where all of them are usable: most lines)
        use = ok_b[blk] & g[ln[:, None], idx]
        if n_cand > n_sel:
            sel = use & primary_b[blk]
            short = np.flatnonzero(sel.sum(axis=1) < n_primary[blk])
            if short.size:
                u = use[short]
                key = np.where(u, rank_b[blk[short]], n_cand)
                kth = np.partition(key, n_sel - 1, axis=1)[:, n_sel - 1 : n_sel]
                sel[short] = u & (key <= kth)
            use = sel
        return use

    core_b = None
    if light_out is not None:
        light_out[...] = 0.0
        # the darkest quarter of each block's valid positions, on the profile
        core_b = ok_b & (rank_b < max(1, n_sel // _GAP_CORE_DIVISOR))
    lines = np.flatnonzero(lk)
    shift = np.zeros(n_lines)
    cnt = np.zeros(n_lines)
    sq = np.zeros(n_lines)  # sums of squares (noise)
    if core_b is not None:  # sums of the darkest positions
        shift_c = np.zeros(n_lines)
        cnt_c = np.zeros(n_lines)
    for i0 in range(0, lines.size, _CHUNK):  # (index arrays of a chunk of lines: memory)
        ln = lines[i0 : i0 + _CHUNK]
        blk = ln // _EMISSION_BLOCK
        idx = idx_b[blk]
        use = gap_pixels(ln, blk, idx)
        vals = r[ln[:, None], idx]
        if not finite:  # r is NaN where a is
            vals = np.where(use, vals, np.float32(0.0))
        cnt[ln] = use.sum(axis=1)
        shift[ln] = np.sum(vals * use, axis=1, dtype=np.float64)
        sq[ln] = np.sum(vals * vals * use, axis=1, dtype=np.float64)
        if core_b is not None:
            use &= core_b[blk]
            cnt_c[ln] = use.sum(axis=1)
            shift_c[ln] = np.sum(vals * use, axis=1, dtype=np.float64)
        del idx, use, vals
    with np.errstate(invalid="ignore", divide="ignore"):  # (before `shift` becomes a mean)
        var = np.where(cnt > 1, (sq - shift**2 / np.maximum(cnt, 1)) / (cnt - 1), np.nan)
    del sq
    if core_b is not None:
        both = (cnt_c > 0) & (cnt > cnt_c)
        with np.errstate(invalid="ignore", divide="ignore"):
            excess = np.where(
                both,
                shift / np.maximum(cnt, 1) - shift_c / np.maximum(cnt_c, 1),
                0.0,
            )
        del shift_c
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = np.where(cnt > 0, shift / np.maximum(cnt, 1), 0.0)
        gap = lvl[:, k] + shift - lvl_unlit  # gap level above the unlit outputs'
    okl = lk & (cnt > 0) & np.isfinite(gap)
    w = okl.astype(float)
    box = max(3, int(params.background_box))
    num = uniform_filter1d(np.where(okl, gap, 0.0), box, mode="nearest")
    den = uniform_filter1d(w, box, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = np.where(den > 0, num / np.maximum(den, 1e-12), np.inf)
    acc = okl & (smooth < _LIT_SIGMA * max(scale, drift))
    # gaps between slices persist over the slices' length; short runs of dark-looking lines
    # are the edges of lit regions (the running mean reaching into unlit lines)
    if acc.any():
        acc &= _run_lengths(acc) >= 2 * box
    # lit runs shorter than that (a trace along the lines over a few to tens of lines): the
    # running mean would mix in the unlit lines around them, so their gaps are tested on the
    # mean gap level over the run itself (measured on at least half of its lines); lines of
    # the run whose own gaps stand far above (the core of a trace that covers the whole
    # channel-line: its darkest positions are lit too) are not measured on them. Their
    # threshold is that of the run in units of a line's own gap noise: the channel
    # differences' scatter and the white noise of its gap pixels (their typical variance)
    runs = [(a, b) for a, b in _runs(lk) if b - a < 2 * box]
    if runs:
        v = var[okl & (cnt > 1)]
        pix_var = float(np.median(v)) if v.size else 0.0
        line_noise = np.sqrt(scale**2 + pix_var / np.maximum(cnt, 1))
    for a, b in runs:
        ok = okl[a:b]
        if ok.sum() < max(3, (b - a) // 2):
            continue
        if gap[a:b][ok].mean() < _LIT_SIGMA * scale:
            acc[a:b] = ok & (gap[a:b] < _LIT_SIGMA * line_noise[a:b])
    if lines.size:
        # nothing of the lit lines is used, except the gap positions on those measured on
        # gaps (gathered before, scattered back); broadcasts over the range of lit lines
        # (whole-line fancy indexing is slow on the transposed views of NIRSpec frames)
        span = slice(int(lines[0]), int(lines[-1]) + 1)
        rows = np.flatnonzero(acc)
        if tentative is not None:  # (rejected tentative lines keep their pixels)
            lk = lk & ~(tentative & ~acc)
        keeps = []  # (rows, their gap positions, the usable ones among them) per chunk
        for i0 in range(0, rows.size, _CHUNK):
            rw = rows[i0 : i0 + _CHUNK, None]
            blk = rw[:, 0] // _EMISSION_BLOCK
            idx = idx_b[blk]
            keeps.append((rw, idx, gap_pixels(rw[:, 0], blk, idx)))
        gs = g[span]
        np.logical_and(gs, ~lk[span, None], out=gs)
        for rw, idx, keep in keeps:
            g[rw, idx] = keep
        del keeps
        if shift_out is not None:
            shift_out[...] = 0.0
            if rows.size:
                shift_out[span] = np.where(acc[span], shift[span], 0.0)
        elif rows.size:
            r[span] -= np.where(acc[span], shift[span], 0.0).astype(np.float32)[:, None]
    elif shift_out is not None:
        shift_out[...] = 0.0
    lvl[acc, k] += shift[acc]
    lit[acc, k] = False
    if tentative is not None:
        lit[tentative, k] = False
    if core_b is not None and acc.any():
        # the wings' light, on the lines of blocks whose positions are narrow gaps
        sigma = float(np.sqrt(np.nanmean(var[acc])))  # per-pixel noise at the gaps
        first = by_dark[:, :n_sel]  # (the blocks' own n_sel darkest positions)
        narrow = _narrow_gap_blocks(
            out[2],
            out[3],
            np.take_along_axis(idx_b, first, axis=1),
            np.take_along_axis(primary_b, first, axis=1),
            sigma,
        )
        in_gaps = acc & narrow[np.arange(n_lines) // _EMISSION_BLOCK]
        use = in_gaps & both
        if use.sum() >= 2 * box and in_gaps.sum() >= _GAP_NARROW_FRACTION * acc.sum():
            light = float(excess[use].mean())
            if light > 0:
                light_out[acc] = light
    return acc


def _narrow_gap_blocks(prof, count, idx, valid, sigma):
    """Blocks whose darkest positions are narrow gaps between bright structures.

    The gaps between the slices of an IFU hold the wings of the slices' light; the darkest
    part of smooth extended emission holds light that is sky-like across the line. The two
    differ in the profile the positions were ranked on: both sides of a narrow gap rise
    steeply, within a few pixels, to the level of the structures around it. A block's
    positions qualify if the median over them of the rise (the brightest pixel within
    ``_GAP_EDGE_HALF_WIDTH`` pixels on each side of a position, the lower of the two sides,
    minus the position's own value; a side beyond the channel does not rise) exceeds both
    ``_GAP_EDGE_SIGMA`` times the profile's noise there and ``_GAP_EDGE_FRACTION`` times the
    line's median level above the positions' mean.

    Parameters
    ----------
    prof, count : numpy.ndarray of float32, shape (n_blocks, width)
        Profile (inf where not measured) and the pixels it averages, from
        :func:`jwst1f.destripe.masking.dark_positions`.
    idx, valid : numpy.ndarray, shape (n_blocks, n_select)
        Selected positions and those measured, from the same.
    sigma : float
        Per-pixel noise of the residuals, DN/s.

    Returns
    -------
    numpy.ndarray of bool, shape (n_blocks,)
    """
    nb, width = prof.shape
    out = np.zeros(nb, dtype=bool)
    rows = np.flatnonzero(valid.any(axis=1))
    if rows.size == 0 or not np.isfinite(sigma):
        return out
    w = _GAP_EDGE_HALF_WIDTH
    # the profile with w pixels beyond each end that do not rise (nor do those not measured)
    p = np.full((rows.size, width + 2 * w), -np.inf, dtype=np.float32)
    p[:, w:-w] = prof[rows]
    np.copyto(p, -np.inf, where=~np.isfinite(p))
    ix, ok = idx[rows] + w, valid[rows]
    own = np.take_along_axis(p, ix, axis=1)
    # the w pixels on each side of each position, in one gather
    offs = np.r_[-w:0, 1 : w + 1]
    near = np.take_along_axis(p, (ix[:, :, None] + offs).reshape(rows.size, -1), axis=1)
    near = near.reshape(ix.shape + (2 * w,))
    with np.errstate(invalid="ignore"):  # (-inf - -inf where not measured: NaN, as below)
        rise = np.minimum(near[..., :w].max(axis=2), near[..., w:].max(axis=2)) - own
    del near
    rise = np.where(ok, rise, np.nan)
    n_ok = ok.sum(axis=1)
    # medians of the rows' valid entries (NaN sorts last; -inf first)
    rise.sort(axis=1)
    ar = np.arange(rows.size)
    med_rise = 0.5 * (rise[ar, (n_ok - 1) // 2] + rise[ar, n_ok // 2])
    cnt = np.take_along_axis(count[rows], ix - w, axis=1)
    noise = sigma * np.sqrt(np.where(ok, 1.0 / np.maximum(cnt, 1.0), 0.0).sum(axis=1) / n_ok)
    with np.errstate(invalid="ignore"):
        cand = np.flatnonzero(med_rise > _GAP_EDGE_SIGMA * noise)
    if cand.size == 0:
        return out
    mean_own = np.where(ok[cand], own[cand], 0.0).sum(axis=1) / n_ok[cand]
    # the line's level: the median of every ``_GAP_LEVEL_STEP``-th pixel measured (a row
    # with none of them measured: NaN, not a gap)
    sub = p[cand, w : width + w : _GAP_LEVEL_STEP]
    fin = np.isfinite(sub)
    if fin.all():
        level = np.median(sub, axis=1)
    else:
        level = np.full(cand.size, np.nan)
        has = fin.any(axis=1)
        level[has] = np.nanmedian(np.where(fin, sub, np.nan)[has], axis=1)
    with np.errstate(invalid="ignore"):
        out[rows[cand]] = med_rise[cand] > _GAP_EDGE_FRACTION * (level - mean_own)
    return out


def _block_mean_noise(x: np.ndarray, ok: np.ndarray) -> tuple[float, float] | None:
    """Mean over lines of a per-line difference, and its noise from blocks of lines.

    The noise is the scatter of the means of ``_PEDESTAL_BLOCKS`` contiguous blocks of
    lines over the square root of their number: the 1/f that differs between the pixels
    compared (read at different times along the line) is pink, correlated across lines, so
    the line-to-line scatter alone would underestimate it.

    Parameters
    ----------
    x : numpy.ndarray, shape (n_lines,)
        Per-line difference, DN/s.
    ok : numpy.ndarray of bool, shape (n_lines,)
        Lines where it is measured.

    Returns
    -------
    (mean, noise) in DN/s, or None with fewer than ``_PEDESTAL_MIN_LINES`` lines or fewer
    than half the blocks measured.
    """
    idx = np.flatnonzero(ok)
    if idx.size < _PEDESTAL_MIN_LINES:
        return None
    edges = np.linspace(0, x.size, _PEDESTAL_BLOCKS + 1).astype(int)
    block = np.searchsorted(edges, idx, side="right") - 1
    n = np.bincount(block, minlength=_PEDESTAL_BLOCKS)
    sm = np.bincount(block, weights=x[idx], minlength=_PEDESTAL_BLOCKS)
    has = n > 0
    if has.sum() < _PEDESTAL_BLOCKS // 2:
        return None
    bm = sm[has] / n[has]
    mean = float(x[idx].mean())
    noise = float(bm.std(ddof=1) / np.sqrt(has.sum()))
    if not np.isfinite(noise) or noise <= 0:
        return None
    return mean, noise


def _output_pedestals(
    a: np.ndarray,
    strips: list[tuple[int, int, np.ndarray]],
    offset: np.ndarray,
    rsum: np.ndarray,
    rcnt: np.ndarray,
    sigma: float,
    params: DestripeParams,
    *,
    work: np.ndarray | None = None,
    always: bool = False,
    lit: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Constant per-output corrections of the line model, where the reference pixels need them.

    The pedestal of each output (its 1/f averaged over the frame, relative to the other
    outputs) is measured by the line model on the clean pixels, where it is confounded with
    any light spread over whole channel-lines: a bright trace along the lines of a
    grism time-series window lights the middle outputs, and its far wings lie in the
    "clean" pixels of an outer output. Two measurements are free of that:

    * the reference pixels in the lines of the outer outputs see the same readout and no
      light: for each output ``j`` with them, the mean over lines of
      ``(ref_j - offset_j) - (ref_0 - offset_0)`` is the correction of ``j`` relative to the
      first such output;
    * the sky is continuous across an output boundary while the 1/f offsets jump there: the
      mean over lines of the jump (:func:`_boundary_jumps`, lines with compact light across
      the boundary dropped) minus the model's offset difference is the correction of output
      ``k`` relative to ``k + 1``.

    Only when some reference-pixel difference is significant (``_PEDESTAL_SIGMA`` noise
    sigmas; the noises from blocks of lines, :func:`_block_mean_noise`), or ``always``, are
    the corrections solved jointly by weighted least squares, with a weak prior of zero for each
    neighbouring pair (``_PEDESTAL_PRIOR`` times the largest measurement noise; it only
    decides between outputs not linked by any measurement). The output that disagrees with
    its neighbours across its boundaries then takes the correction, not the outer output
    whose boundary with its neighbour is consistent. The common level is left to the
    reference-pixel anchor (step 10): the corrections average zero over the outputs.

    Parameters
    ----------
    a : numpy.ndarray, shape (n_lines, length)
        Data, canonical orientation, DN/s.
    strips : list
        From :func:`_boundary_strips`.
    offset : numpy.ndarray, shape (n_lines, n_channels)
        The line model's offsets, DN/s.
    rsum, rcnt : numpy.ndarray, shape (n_lines, n_channels)
        Sums (DN/s) and numbers of the usable reference pixels per channel-line.
    sigma : float
        Per-pixel white noise, DN/s.
    params : DestripeParams
    work : numpy.ndarray, optional
        An output buffer not written yet (work arrays of the jumps).
    always : bool
        Solve and return the corrections whenever some reference-pixel difference is
        measured, significant or not. For windows too short for the jump corrections of
        step 8b (fewer than ``_BOUNDARY_MIN_BLOCKS`` blocks of lines): there the line
        model's pedestals of the outer outputs relative to each other rest on the
        along-line sky shape fitted on one to three block rows, whose error (0.005 DN/s rms
        in the slope on the independent SUBGRISM128 window, plus a bias from trace wings
        left in the clean pixels) is as large as the noise of these measurements.
    lit : numpy.ndarray of bool, shape (n_lines, n_channels), optional
        Channel-lines found lit as a whole (step 2). A boundary's jumps are taken only on
        lines where its two outputs are alike, both lit (light continuous across the
        boundary, as a trace along the lines) or neither: light that fills one output up
        to the boundary and not the other (IFU slices ending there) would otherwise be
        taken for the outputs' pedestal difference on most lines, and the robust test of
        :func:`_boundary_outliers` keeps the majority of lines.

    Returns
    -------
    (shift, var) or None
        ``shift`` of shape (n_channels,), DN/s, to be added to every line's offsets; ``var``
        its variance, (DN/s)^2. None where no reference-pixel difference is significant.
    """
    n_lines, nch = offset.shape
    has = np.flatnonzero(rcnt.sum(axis=0) > 0)
    if has.size < 2 or has.size == nch:
        return None
    lines = np.all(rcnt[:, has] > 0, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(lines[:, None], rsum[:, has] / rcnt[:, has] - offset[:, has], 0.0)
    rows = []  # (coefficients, value, noise)
    significant = False
    for j in range(1, has.size):
        mn = _block_mean_noise(d[:, j] - d[:, 0], lines)
        if mn is None:
            continue
        rows.append((_pair_row(nch, has[j], has[0]), mn[0], mn[1]))
        significant |= abs(mn[0]) > _PEDESTAL_SIGMA * mn[1]
    if not (significant or (always and rows)):
        return None
    edges = _boundary_blocks(n_lines, params.background_box)
    bufs = _boundary_work(n_lines, work) if strips else None
    lines_f = np.arange(n_lines, dtype=float)
    for k, b, usable in strips:
        jump, vj, ok = _boundary_jumps(a, usable, b, sigma, params, edges, bufs)
        if lit is not None:
            ok = ok & (lit[:, k] == lit[:, k + 1])
        if ok.sum() < _PEDESTAL_MIN_LINES:
            continue
        mis = jump - (offset[:, k] - offset[:, k + 1])
        ok = ok & ~_boundary_outliers(mis, vj, ok, lines_f)
        mn = _block_mean_noise(mis, ok)
        if mn is None:
            continue
        rows.append((_pair_row(nch, k, k + 1), mn[0], mn[1]))
    tau = _PEDESTAL_PRIOR * max(r[2] for r in rows)
    for k in range(nch - 1):
        rows.append((_pair_row(nch, k, k + 1), 0.0, tau))
    # the common level (zero mean over the outputs) is set by the anchor of step 10
    rows.append((np.ones(nch) / nch, 0.0, tau))
    A = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    w = 1.0 / np.array([r[2] for r in rows]) ** 2
    cov = np.linalg.inv(A.T @ (w[:, None] * A))
    shift = cov @ (A.T @ (w * y))
    # (the common mode, left to the anchor, is projected out of the shift and its variance)
    proj = np.eye(nch) - 1.0 / nch
    shift = proj @ shift
    return shift, np.diag(proj @ cov @ proj).copy()


def _pair_row(nch: int, i: int, j: int) -> np.ndarray:
    """Coefficients of ``shift[i] - shift[j]`` in the least-squares rows of
    :func:`_output_pedestals`, shape (nch,)."""
    c = np.zeros(nch)
    c[i], c[j] = 1.0, -1.0
    return c


def _boundary_outliers(
    mis: np.ndarray, vj: np.ndarray, ok: np.ndarray, lines: np.ndarray
) -> np.ndarray:
    """Lines whose jump mismatch stands out from its running mean (compact light across).

    A trace along the lines or the wings of a bright star crossing an output boundary make
    the jump there differ from the 1/f's: lines whose mismatch departs from its running
    mean over ``_BUMP_WINDOW`` lines by more than ``_BOUNDARY_OUTLIER`` per-line noise
    sigmas, grown by ``_BOUNDARY_GROW`` lines.

    Parameters
    ----------
    mis, vj : numpy.ndarray, shape (n_lines,)
        Mismatch (DN/s) and its variance ((DN/s)^2).
    ok : numpy.ndarray of bool, shape (n_lines,)
        Lines where it is measured.
    lines : numpy.ndarray, shape (n_lines,)
        Line indices as floats.

    Returns
    -------
    numpy.ndarray of bool, shape (n_lines,)
    """
    good_idx = np.flatnonzero(ok)
    filled = np.interp(lines, good_idx, mis[good_idx])
    med = uniform_filter1d(filled, _BUMP_WINDOW, mode="nearest")
    with np.errstate(invalid="ignore"):
        out = ok & (np.abs(mis - med) > _BOUNDARY_OUTLIER * np.sqrt(vj))
    grown = out.copy()
    if out.any():
        for s in range(1, _BOUNDARY_GROW + 1):
            grown[s:] |= out[:-s]
            grown[:-s] |= out[s:]
    return grown


def _reference_levels(a, ref, layout):
    """Per channel-line sums of the reference pixels inside science lines.

    Parameters
    ----------
    a : numpy.ndarray, shape (n_lines, line_length)
        Canonical data (non-finite values are ignored).
    ref : tuple of numpy.ndarray or None
        ``layout.reference_lines_and_pixels()``; None disables.
    layout : ReadoutLayout

    Returns
    -------
    (sums, counts, sigma) or None
        ``sums``/``counts`` of shape (n_lines, n_channels); ``sigma`` the robust per-pixel
        scatter of the reference pixels. None if the lines hold no usable reference pixel.
    """
    if ref is None:
        return None
    ref_lines, ref_pixels = ref
    sci_lines = ~ref_lines
    cols = np.flatnonzero(ref_pixels)
    if not sci_lines.any() or cols.size == 0:
        return None
    if not a.flags.c_contiguous and a.T.flags.c_contiguous:
        vals = a.T[cols].T.astype(np.float64)
    else:
        vals = a[:, cols].astype(np.float64)
    ok = np.repeat(sci_lines[:, None], cols.size, axis=1)
    ok &= np.isfinite(vals)
    if ok.sum() < 8:
        return None
    v_ok = vals[ok]  # (a copy: partitioned in place, values as np.median's)
    med = _median_inplace(v_ok)
    sig = 1.4826 * _median_inplace(np.abs(v_ok - med, out=v_ok))
    if not np.isfinite(sig) or sig <= 0:
        return None
    ok &= np.abs(vals - med) < 5.0 * sig
    chan = layout.channel_index()[cols]
    nch = layout.n_channels
    sums = np.zeros((a.shape[0], nch))
    counts = np.zeros((a.shape[0], nch))
    v = np.where(ok, vals, 0.0)
    for k in range(nch):
        sel = chan == k
        if sel.any():
            sums[:, k] = v[:, sel].sum(axis=1)
            counts[:, k] = ok[:, sel].sum(axis=1)
    return sums, counts, sig


# ------------------------------------------------------------------ output-boundary jumps
def _boundary_strips(
    good: np.ndarray,
    layout: ReadoutLayout,
    chans: list[slice],
    params: DestripeParams,
    min_lines: int | None = None,
) -> list[tuple[int, int, np.ndarray]]:
    """Usable pixels on both sides of each output boundary, before any source masking.

    Parameters
    ----------
    good : numpy.ndarray of bool, shape (n_lines, length)
        Usable pixels (finite, not flagged, not reference pixels), canonical orientation.
    layout : ReadoutLayout
    chans : list of slice
        The outputs along the line.
    params : DestripeParams
    min_lines : int, optional
        Lines needed; default ``_BOUNDARY_MIN_BLOCKS * params.background_box`` (the jump
        corrections of :func:`_boundary_offsets`; the per-output pedestals of
        :func:`_output_pedestals` need fewer).

    Returns
    -------
    list of (k, b, usable)
        For the boundary between outputs ``k`` and ``k + 1`` at pixel ``b`` (both at least
        ``_BOUNDARY_WIDTH`` pixels wide): a copy of ``good[:, b - W : b + W]``, shape
        (n_lines, 2 W). Empty where the jumps are not used (one output, interleaved outputs,
        no per-output offsets, fewer than ``min_lines`` lines).
    """
    n_lines = good.shape[0]
    if layout.interleaved or len(chans) < 2 or not params.fit_by_channel:
        return []
    if min_lines is None:
        min_lines = _BOUNDARY_MIN_BLOCKS * params.background_box
    if n_lines < min_lines:
        return []
    w = _BOUNDARY_WIDTH
    out = []
    for k in range(len(chans) - 1):
        b = chans[k].stop
        if chans[k + 1].start != b or b - chans[k].start < w or chans[k + 1].stop - b < w:
            continue
        out.append((k, b, np.ascontiguousarray(good[:, b - w : b + w])))
    return out


def _boundary_work(n_lines: int, buf: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Work arrays of :func:`_boundary_jumps` for strips of ``n_lines`` lines.

    Parameters
    ----------
    n_lines : int
    buf : numpy.ndarray, optional
        An output buffer not written yet, whose memory the arrays may use (:class:`_Scratch`:
        no page faults of fresh memory).

    Returns
    -------
    dict
        ``x`` and ``okf`` (float32), ``ok``, ``seeds`` (bool), all of shape
        (n_lines, 2 W); ``xs`` (float32, (n_lines, 2, 2, W / 2)).
    """
    scratch = _Scratch(buf) if buf is not None else None
    shape = (n_lines, 2 * _BOUNDARY_WIDTH)
    new = np.empty if scratch is None else scratch.empty
    work = {k: new(shape, np.float32) for k in ("x", "okf")}
    work.update({k: new(shape, bool) for k in ("ok", "seeds")})
    work["xs"] = new((n_lines, 2, 2, _BOUNDARY_WIDTH // 2), np.float32)
    return work


def _usual_offset(rel: np.ndarray, agree: np.ndarray) -> tuple[float, float]:
    """The usual relative offset of two outputs and its natural scatter.

    Parameters
    ----------
    rel : numpy.ndarray, shape (n_blocks,)
        The line model's relative offset of the two outputs per block of lines, DN/s.
    agree : numpy.ndarray of bool, shape (n_blocks,)
        Blocks where the jumps at the boundary agree with it.

    Returns
    -------
    centre, spread : float
        Median of ``rel`` over the agreeing blocks and its robust scatter about it (1.4826
        x the median absolute deviation), DN/s; (0, 0) with fewer than 4 such blocks.
    """
    if np.count_nonzero(agree) < 4:
        return 0.0, 0.0
    centre = float(np.median(rel[agree]))
    return centre, 1.4826 * float(np.median(np.abs(rel[agree] - centre)))


def _boundary_blocks(n_lines: int, box: int) -> np.ndarray:
    """Line edges of blocks of ``box`` lines, the last one taking the remainder.

    Returns
    -------
    numpy.ndarray of int, shape (n_blocks + 1,)
    """
    n_blocks = max(n_lines // box, 1)
    edges = np.arange(n_blocks + 1) * box
    edges[-1] = n_lines
    return edges


def _edge_block_sums(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Sums over the lines of each block of :func:`_boundary_blocks`, float64.

    Parameters
    ----------
    x : numpy.ndarray, shape (n_lines, m)
    edges : numpy.ndarray of int, shape (n_blocks + 1,)

    Returns
    -------
    numpy.ndarray, shape (n_blocks, m)
    """
    nb = edges.size - 1
    box = int(edges[1] - edges[0])
    full = nb * box  # (at most n_lines)
    out = x[:full].reshape(nb, box, -1).sum(axis=1).astype(np.float64)
    if full < x.shape[0]:
        out[-1] += x[full:].sum(axis=0)
    return out


def _boundary_jumps(
    a: np.ndarray,
    usable: np.ndarray,
    b: int,
    sigma: float,
    params: DestripeParams,
    edges: np.ndarray,
    work: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Jump of the line level across one output boundary, per line.

    On each side a straight line is fitted to the pixels within ``_BOUNDARY_WIDTH`` of the
    boundary and extrapolated to it; the difference (left minus right) is the difference of
    the two outputs' 1/f offsets plus noise, because sky and diffuse emission are continuous
    across the boundary (and linear over that width) while the offsets jump. Compact sources
    are excluded by a symmetric clip of ``clip_sigma`` sigma around each side's straight line
    through the medians of its two halves (steep diffuse light crosses a flat window, whose
    clip would flatten the fit), with pixels beyond ``clip_sigma + 1`` sigma dilated by
    ``dilate_radius`` (the full-resolution
    mask of step 6 without its extended-emission blocks and lit-line rules, which would hide
    the diffuse emission whose offsets are to be measured).

    Parameters
    ----------
    a : numpy.ndarray, shape (n_lines, length)
        Data, canonical orientation, DN/s.
    usable : numpy.ndarray of bool, shape (n_lines, 2 W)
        Usable pixels of ``a[:, b - W : b + W]``.
    b : int
        Boundary pixel (first pixel of the right-hand output).
    sigma : float
        Per-pixel white noise, DN/s.
    params : DestripeParams
    edges : numpy.ndarray of int, shape (n_blocks + 1,)
        Line edges of the blocks on which structure along the line is tested
        (:func:`_structured_blocks`).
    work : dict, optional
        Work arrays from :func:`_boundary_work` (reused from boundary to boundary: fresh
        memory costs page faults, more than the work on it).

    Returns
    -------
    jump : numpy.ndarray, shape (n_lines,)
        Left minus right level at the boundary, DN/s (0 where not measured).
    var : numpy.ndarray, shape (n_lines,)
        Its white-noise variance, (DN/s)^2 (inf where not measured).
    ok : numpy.ndarray of bool, shape (n_lines,)
        Lines where both sides hold at least a quarter of their pixels after the clip, outside
        blocks with structure along the line (:func:`_structured_blocks`) and blocks where
        the clip removed one position on most lines (``_BOUNDARY_PERSIST``).
    """
    w = _BOUNDARY_WIDTH
    n_lines = a.shape[0]
    if work is None:
        work = _boundary_work(n_lines)
    x, ok, seeds, okf = work["x"], work["ok"], work["seeds"], work["okf"]
    np.copyto(x, a[:, b - w : b + w])
    x3 = x.reshape(n_lines, 2, w)
    us = usable
    bad = None if us.all() else ~us
    if bad is not None:
        np.copyto(x, np.float32(0.0), where=bad)  # (finite everywhere from here on)
    # the clip window of each side follows a straight line through the medians of its two
    # halves: diffuse emission that rises steeply towards the boundary (a galaxy's inner
    # parts) crosses a flat window, whose clip then keeps only the pixels pulled towards
    # the median at the strip's ends and flattens the fitted line (a galaxy centred 100
    # pixels from an output boundary: jumps 0.05-0.1 DN/s off, 0.01 with the sloped window)
    hw = w // 2
    xs = work["xs"]  # (lines, side, half, pixels)
    np.copyto(xs, x.reshape(n_lines, 2, 2, hw))
    if bad is not None:  # unusable samples: alternately +inf and -inf (the median moves little)
        fill = np.where(np.arange(hw) % 2 == 0, np.inf, -np.inf).astype(np.float32)
        np.copyto(xs, np.broadcast_to(fill, xs.shape), where=bad.reshape(xs.shape))
    xs.partition(hw // 2, axis=3)
    med = xs[..., hw // 2]  # (lines, side, half)
    fin = np.isfinite(med)
    both = fin[..., 0] & fin[..., 1]
    with np.errstate(invalid="ignore"):
        centre = np.where(
            both, 0.5 * (med[..., 0] + med[..., 1]), np.where(fin[..., 0], med[..., 0], med[..., 1])
        )
        slope = np.where(both, (med[..., 1] - med[..., 0]) / np.float32(hw), np.float32(0.0))
    np.copyto(centre, np.float32(0.0), where=~np.isfinite(centre))  # (no usable pixel)
    centre = centre.astype(np.float32)
    del xs, med, fin, both
    x3 -= centre[..., None]  # residuals from each side's level
    # |residual from the sloped window|, for the clip and the seeds
    pos = (np.arange(w, dtype=np.float32) - np.float32((w - 1) / 2.0))[None, None, :]
    ax3 = okf.reshape(n_lines, 2, w)
    np.multiply(slope.astype(np.float32)[..., None], pos, out=ax3)
    np.subtract(x3, ax3, out=ax3)
    del slope
    ax = np.abs(okf, out=okf)
    np.less(ax, np.float32(params.clip_sigma * sigma), out=ok)
    ok &= us
    if params.dilate_radius > 0:
        np.greater(ax, np.float32((params.clip_sigma + 1.0) * sigma), out=seeds)
        if seeds.any():
            ok &= ~dilate(seeds, params.dilate_radius, consume=True)
    del ax
    np.copyto(okf, ok)
    x *= okf  # residuals zeroed where not clean
    # emission with structure along the line near the boundary (slits, slices, spectra
    # dispersed across the lines) is not continuous-and-linear there: blocks of lines whose
    # mean residual profile on either side departs from a straight line beyond its noise
    # are not used
    # ... nor those where the clip removed the same position along the line on most of the
    # lines (a spectrum lying along the boundary: its wings outside the clip are not
    # continuous-and-linear either, and their light differs on the two sides)
    structured = _structured_blocks(x, okf, edges, sigma, usable=us)
    # sums per side (counts and positions are exact in float32): n, sum p, sum p^2; sum y,
    # sum y p, with p the pixel centre's distance from the boundary
    design_w, design_y = _boundary_designs()
    sw = (okf @ design_w).astype(np.float64)
    sy = (x @ design_y).astype(np.float64)
    del x, x3, ok, okf, seeds
    levels, var, fit = [], [], []
    for side in range(2):
        n, sp, spp = sw[:, 3 * side], sw[:, 3 * side + 1], sw[:, 3 * side + 2]
        sy0, syp = sy[:, 2 * side], sy[:, 2 * side + 1]
        nz = np.maximum(n, 1.0)
        xm, ym = sp / nz, sy0 / nz
        sxx = spp - n * xm**2
        f = (n >= w / 4) & (sxx > 0)
        sxx = np.where(f, sxx, 1.0)
        levels.append(centre[:, side] + ym - (syp - n * xm * ym) / sxx * xm)
        var.append(sigma**2 * (1.0 / nz + xm**2 / sxx))
        fit.append(f)
    good_line = fit[0] & fit[1]
    if structured.any():
        good_line &= ~np.repeat(structured, np.diff(edges))
    jump = np.where(good_line, levels[0] - levels[1], 0.0)
    vj = np.where(good_line, var[0] + var[1], np.inf)
    return jump, vj, good_line


def _structured_blocks(
    r: np.ndarray,
    ok: np.ndarray,
    edges: np.ndarray,
    sigma: float,
    *,
    usable: np.ndarray | None = None,
) -> np.ndarray:
    """Blocks of lines whose mean profile next to a boundary is not a straight line.

    The residuals of each line from its side's median are averaged over the lines of a
    block, per pixel; on each side a straight line is fitted to that profile (weights: the
    clean-pixel counts). Light that stays at the same place along the line over many lines
    (a slit, an IFU slice, a spectrum dispersed across the lines) leaves a profile far from a
    straight line; the noise averages down. A block is flagged when, on either side, the
    chi-square of the fit exceeds its degrees of freedom by ``_BOUNDARY_STRUCTURE`` standard
    deviations (white noise ``sigma``).

    Parameters
    ----------
    r : numpy.ndarray of float32, shape (n_lines, 2 W)
        Residuals from each side's median, zero where not clean.
    ok : numpy.ndarray of float32, shape (n_lines, 2 W)
        1 on clean pixels, 0 elsewhere.
    edges : numpy.ndarray of int, shape (n_blocks + 1,)
        Line edges of the blocks (:func:`_boundary_blocks`).
    sigma : float
        Per-pixel white noise, DN/s.

    usable : numpy.ndarray of bool, shape (n_lines, 2 W), optional
        The pixels before the clip (``ok`` is among them): blocks where one position was
        clipped on more than ``_BOUNDARY_PERSIST`` of its usable lines are flagged too.

    Returns
    -------
    numpy.ndarray of bool, shape (n_blocks,)
    """
    w = _BOUNDARY_WIDTH
    nb = edges.size - 1
    ss = _edge_block_sums(r, edges).reshape(nb, 2, w)  # (block, side, pixel)
    cs = _edge_block_sums(ok, edges).reshape(nb, 2, w)  # (exact: counts below 2**24)
    p = np.arange(w, dtype=np.float64)
    n = cs.sum(axis=2)
    nz = np.maximum(n, 1.0)
    dp = p - ((cs * p).sum(axis=2) / nz)[..., None]
    prof = ss / np.maximum(cs, 1.0)  # (0 where no clean pixel: ss is 0 there)
    ym = ss.sum(axis=2) / nz
    sxx = np.maximum((cs * dp**2).sum(axis=2), 1e-12)
    slope = (cs * dp * prof).sum(axis=2) / sxx
    resid = prof - ym[..., None] - slope[..., None] * dp
    chi2 = (cs * resid**2).sum(axis=2) / sigma**2
    dof = np.maximum((cs > 0).sum(axis=2) - 2, 1)
    flag = (chi2 > dof + _BOUNDARY_STRUCTURE * np.sqrt(2.0 * dof)).any(axis=1)
    if usable is not None:
        n_us = _edge_block_sums(usable, edges).reshape(nb, 2, w)
        flag |= (n_us - cs > _BOUNDARY_PERSIST * np.maximum(n_us, 1.0)).any(axis=(1, 2))
    return flag


@functools.cache
def _boundary_designs() -> tuple[np.ndarray, np.ndarray]:
    """Indicator and position columns of the two sides of a boundary strip, float32.

    Made once (cached); the arrays are read-only.

    Returns
    -------
    design_w : numpy.ndarray, shape (2 W, 6)
        Per side (left, right): 1, p, p**2 on that side's pixels, 0 elsewhere; ``p`` the
        pixel centre's signed distance from the boundary, pixels.
    design_y : numpy.ndarray, shape (2 W, 4)
        Per side: 1, p.
    """
    w = _BOUNDARY_WIDTH
    p = np.arange(-w, w) + 0.5
    dw = np.zeros((2 * w, 6), dtype=np.float32)
    dy = np.zeros((2 * w, 4), dtype=np.float32)
    for side, sl in enumerate((slice(0, w), slice(w, 2 * w))):
        dw[sl, 3 * side], dw[sl, 3 * side + 1], dw[sl, 3 * side + 2] = 1.0, p[sl], p[sl] ** 2
        dy[sl, 2 * side], dy[sl, 2 * side + 1] = 1.0, p[sl]
    dw.flags.writeable = dy.flags.writeable = False
    return dw, dy


def _garrote_smooth(
    xb: np.ndarray, vb: np.ndarray, scales: tuple[float, ...], nsig: float
) -> tuple[np.ndarray, np.ndarray]:
    """Significant smooth part of a noisy block series, scale by scale.

    At each Gaussian width (blocks) the remainder is smoothed (inverse-variance weights) and
    shrunk by the non-negative garrote ``max(0, 1 - nsig**2 v / m**2)``, ``v`` the noise
    variance of the smoothed value ``m``: nothing is kept where the smooth is within the
    noise, nearly all of it where it is far above.

    Parameters
    ----------
    xb : numpy.ndarray, shape (n_blocks,)
    vb : numpy.ndarray, shape (n_blocks,)
        Noise variance of each block value (inf where there is none); blocks independent.
    scales : tuple of float
        Gaussian widths, blocks; 0 for the blocks themselves.
    nsig : float
        Threshold of the garrote, noise sigmas.

    Returns
    -------
    est : numpy.ndarray, shape (n_blocks,)
    var : numpy.ndarray, shape (n_blocks,)
        Approximate noise variance of ``est``.
    """
    p = np.where(np.isfinite(vb) & (vb > 0), 1.0 / np.where(np.isfinite(vb), vb, 1.0), 0.0)
    idx = np.arange(xb.size, dtype=float)
    rem = np.where(p > 0, xb, 0.0)
    est = np.zeros_like(rem)
    var = np.zeros_like(rem)
    for s in scales:
        if s <= 0:  # the blocks themselves
            okd = p > 0
            m = rem.copy()
            v = 1.0 / np.where(okd, p, 1.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                g = np.where(okd, np.clip(1.0 - nsig**2 * v / np.maximum(m**2, 1e-300), 0, 1), 0)
            est += g * m
            var += g * g * v
            rem = rem - g * m
            continue
        ker = np.exp(-0.5 * ((idx[:, None] - idx[None, :]) / s) ** 2) * p[None, :]
        den = ker.sum(axis=1)
        okd = den > 0
        den = np.where(okd, den, 1.0)
        m = (ker @ rem) / den
        v = (ker**2 / np.where(p > 0, p, 1.0)[None, :]).sum(axis=1) / den**2
        with np.errstate(invalid="ignore", divide="ignore"):
            g = np.where(okd, np.clip(1.0 - nsig**2 * v / np.maximum(m**2, 1e-300), 0, 1), 0)
        c = g * m
        est += c
        var += g * g * v
        rem = rem - c
    return est, var


def _relaxed_blocks(
    xb: np.ndarray, vb: np.ndarray, has: np.ndarray, kept: np.ndarray
) -> np.ndarray:
    """Blocks of a boundary whose mismatch is taken whole rather than shrunk.

    The non-negative garrote of :func:`_garrote_smooth` keeps ``m (1 - nsig^2 v / m^2)``
    of a smoothed mismatch ``m``: a good detector, but a biased estimate where the mismatch
    is real. Emission brighter in some outputs than in others over hundreds of lines (a
    diffuse nebula) gives runs of blocks each significant on its own; there the jumps are
    trusted whole (selection by shrinkage, estimate without it). Single significant blocks
    and runs of blocks each within the noise (the slow wander of the jumps, up to 1.8
    sigma per block over six blocks on a star field) stay with the garrote.

    Parameters
    ----------
    xb, vb : numpy.ndarray, shape (n_blocks,)
        Mismatch per block (DN/s) and its noise variance ((DN/s)^2).
    has : numpy.ndarray of bool, shape (n_blocks,)
        Blocks with a measured mismatch.
    kept : numpy.ndarray of bool, shape (n_blocks,)
        Blocks where the garrote kept something (the detection).

    Returns
    -------
    numpy.ndarray of bool, shape (n_blocks,)
        Runs of at least ``_BOUNDARY_RELAX_RUN`` blocks beyond ``_BOUNDARY_RELAX_SIGMA``
        that the garrote detected, grown by ``_BOUNDARY_RELAX_GROW`` blocks (measured
        blocks only).
    """
    with np.errstate(invalid="ignore"):
        sig = has & (xb**2 > _BOUNDARY_RELAX_SIGMA**2 * np.where(has, vb, np.inf))
    out = np.zeros_like(sig)
    grow = _BOUNDARY_RELAX_GROW
    for a, b in _runs(sig):
        if b - a >= _BOUNDARY_RELAX_RUN and kept[a:b].any():
            out[max(a - grow, 0) : b + grow] = True
    return out & has


def _lift_fractions(
    rest: np.ndarray, rest_lift: np.ndarray, active: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """How much of the boundary corrections' lift to take, per run of corrected lines.

    In a run of lines where the output-boundary jumps corrected the outputs' relative
    offsets, the line model's common level may still hold light (a galaxy or nebula
    brighter in the middle outputs): the corrections have zero mean over the outputs, so
    the light of the bright outputs is spread over all of them. Light only adds, so the
    least lit output's level is the better one for all; but the chained corrections are
    noisy (a spectrum along an output boundary can fake them), so the reference pixels
    decide: over the run, the mean of what the anchor leaves of their difference with the
    model (``rest``) against what it would leave of the lift (``rest_lift``) gives the
    fraction, between 0 (the mean over the outputs stays) and 1 (the least lit output's
    level), by least squares shrunk by the noise of the run's mean (the robust line-to-line
    scatter of ``rest`` over the square root of the run's lines): where the anchor's smooth
    takes up most of the lift anyway, the plain ratio would be that noise (a nebula in the
    random sweep, frame 9, sky scale 203 lines: the whole lift taken from a ratio of
    0.5 mDN/s of lift to 1.2 of noise moved its flux bias -1.12 -> -2.00 %, the oracle's
    +0.95 %).

    Parameters
    ----------
    rest, rest_lift : numpy.ndarray, shape (n_lines,)
        Reference level minus the model at the reference pixels, and the lift at the
        reference pixels, each less its smooth by the anchor (step 10), DN/s.
    active : numpy.ndarray of bool, shape (n_lines,)
        Lines with a lift.
    weights : numpy.ndarray, shape (n_lines,)
        The anchor's line weights (0 where there are no reference pixels).

    Returns
    -------
    numpy.ndarray, shape (n_lines,)
        The fraction on each line of a run (0 outside the runs), in [0, 1].
    """
    frac = np.zeros(active.size)
    has = weights > 0
    if has.sum() < 8:
        return frac
    # the noise of one line's value (the reference pixels' noise and the 1/f within the
    # line between them and the sky pixels), from the line-to-line differences
    noise = 1.4826 * float(np.median(np.abs(np.diff(rest[has])))) / np.sqrt(2.0)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], active.astype(np.int8), [0]))))
    for a0, a1 in zip(edges[::2], edges[1::2], strict=True):
        w = weights[a0:a1]
        n = int(np.count_nonzero(w))
        if n == 0:
            continue
        wl = float((w * rest_lift[a0:a1]).sum()) / float(w.sum())
        if wl <= 0:  # (the anchor's smooth would turn the lift around: not light's sign)
            continue
        wr = float((w * rest[a0:a1]).sum()) / float(w.sum())
        # rest = -(fraction x lift) + noise: the fraction by least squares, shrunk by the
        # noise of the run's mean (a lift that the anchor's smooth mostly takes up anyway is
        # not measurable against that noise, and the plain ratio would be the noise)
        frac[a0:a1] = min(max(-wr * wl / (wl * wl + noise * noise / n), 0.0), 1.0)
    return frac


def _two_sided_blocks(
    found: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    borrowed: np.ndarray | None,
    edges: np.ndarray,
    nch: int,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Blocks where an inner output's borrowed offsets miss its own 1/f, by both its jumps.

    Where the lit test of step 5 took an output's own red 1/f, held above the others over
    hundreds of lines, for light, that output's lines were borrowed: its model there is the
    shared part plus a prior, near the boundaries' usual relative offsets, and the jumps at
    its two boundaries both show what it misses, with opposite signs (the mismatch of the
    boundary on its left ``-d``, on its right ``+d``). Light that steps at an output
    boundary (and is left to the model there) steps at one of them: emission that fills
    exactly one output, with sharp edges at both its boundaries, is not looked for. A block
    counts where the output is borrowed on more than half of its lines and neither
    neighbour is, both mismatches are measured, ``|d|`` stands ``_BOUNDARY_SIGMA`` times
    above its noise and the two agree (their sum within ``_BOUNDARY_AGREE`` times its noise).

    Parameters
    ----------
    found : dict
        Boundary index ``k`` (between outputs ``k`` and ``k + 1``): the block means of the
        mismatch, their variances, the measured blocks and the model's offset differences.
    borrowed : numpy.ndarray of bool, shape (n_lines, n_channels), or None
        Channel-lines whose offsets the line model borrowed.
    edges : numpy.ndarray of int, shape (n_blocks + 1,)
        Line edges of the blocks.
    nch : int
        Number of outputs.

    Returns
    -------
    (free, moved) or None
        ``free`` of shape (n_blocks, n_channels - 1): per boundary, the blocks whose
        correction is kept whatever its direction; ``moved`` of shape (n_blocks,
        n_channels): the outputs those corrections move (their neighbours, measured, keep
        their level). None where there is none.
    """
    if borrowed is None or nch < 3:
        return None
    counts = np.add.reduceat(borrowed.astype(np.int64), edges[:-1], axis=0)
    lent = counts > 0.5 * np.diff(edges)[:, None]  # (n_blocks, n_channels)
    free = np.zeros((edges.size - 1, nch - 1), dtype=bool)
    moved = np.zeros((edges.size - 1, nch), dtype=bool)
    for k in range(1, nch - 1):
        if k - 1 not in found or k not in found:
            continue
        xl, vl, hl, _ = found[k - 1]
        xr, vr, hr, _ = found[k]
        noise = np.sqrt(np.where(hl & hr, vl + vr, np.inf))
        d = 0.5 * (xr - xl)
        both = hl & hr & lent[:, k] & ~lent[:, k - 1] & ~lent[:, k + 1]
        both &= np.abs(xl + xr) < _BOUNDARY_AGREE * noise
        both &= np.abs(d) > _BOUNDARY_SIGMA * 0.5 * noise
        free[:, k - 1] |= both
        free[:, k] |= both
        moved[:, k] = both
    return (free, moved) if free.any() else None


def _boundary_offsets(
    a: np.ndarray,
    strips: list[tuple[int, int, np.ndarray]],
    offset: np.ndarray,
    sigma: float,
    params: DestripeParams,
    *,
    work: np.ndarray | None = None,
    borrowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Per-output corrections of the line model from the jumps at the output boundaries.

    Within one output, emission that fills whole channel-lines (a nebula brighter in some
    outputs than in others) is the same as that output's slow 1/f, so the line model's
    per-output offsets take up its per-output mean differences. The sky is continuous across
    an output boundary while the 1/f offsets jump there: the jumps (:func:`_boundary_jumps`)
    measure the relative offsets of neighbouring outputs, noisily per line but without that
    degeneracy. Per boundary, the mismatch (jump minus the model's offset difference) is
    averaged in blocks of ``background_box`` lines (inverse-variance weights). Its noise is
    the white noise of the fits times a factor measured on the block-to-block differences
    (robust; the 1/f that wanders within a line is pink, so neighbouring blocks are
    correlated and the line-to-line scatter alone underestimates it). Only the significant
    part is kept (:func:`_garrote_smooth`, on the blocks, then smoothed across blocks): on
    frames without such emission the model, which averages whole outputs, is the better
    estimate. It is kept only where it moves the model's relative offset towards its usual
    value (:func:`_usual_offset`; past it by at most the natural scatter of the relative
    offset from block to block) and by no more than the block's own mismatch. Lines whose
    mismatch stands out from its running mean (compact light crossing the boundary: a trace
    along the lines, the wings of a bright star) and blocks with structure along the line
    next to the boundary (:func:`_structured_blocks`) are not used. An inner output whose
    lines were borrowed (lit) while both its neighbours were measured, and whose jumps at
    its two boundaries say the same (:func:`_two_sided_blocks`), is its own 1/f held away
    from the others: its model there is a prior, not a measurement, so those blocks keep
    their correction whatever its direction.

    The corrections of the boundaries are chained into per-output corrections within each
    run of outputs linked by measured boundaries (corrected, or measured and in agreement
    with the model, whose relative offset is then kept), with zero mean over the run in each
    line (outputs count equally); an output beyond a boundary that was not measured
    (structure along the line, no usable pixels) is not moved by corrections elsewhere. The
    reference-pixel anchor of step 10 then sets the slow level of the outputs that have
    reference pixels, and takes back as much of ``lift`` (below) as they show.

    Parameters
    ----------
    a : numpy.ndarray, shape (n_lines, length)
        Data, canonical orientation, DN/s.
    strips : list
        From :func:`_boundary_strips`.
    offset : numpy.ndarray, shape (n_lines, n_channels)
        The line model's offsets, DN/s.
    sigma : float
        Per-pixel white noise, DN/s.
    params : DestripeParams
    work : numpy.ndarray, optional
        An output buffer not written yet (not overlapping ``a``): the work arrays of the
        strips are kept in it where they fit. The result does not depend on it.
    borrowed : numpy.ndarray of bool, shape (n_lines, n_channels), optional
        Channel-lines whose offsets the line model borrowed (too few clean pixels).

    Returns
    -------
    corr : numpy.ndarray, shape (n_lines, n_channels)
        To be added to ``offset``, DN/s (zeros where nothing is significant).
    var : numpy.ndarray, shape (n_lines, n_channels)
        Its variance, (DN/s)^2.
    rms : list of float
        Per boundary (``n_channels - 1``), rms over lines of the correction of the offset
        difference, DN/s (0 where not measured or not significant).
    lift : numpy.ndarray, shape (n_lines, n_channels), or None
        Per line, how much lower (>= 0, DN/s) the model of each output of a run would be if
        the run's level were set by its least lit output (the highest of the chained
        offsets) instead of the mean over the run: the light the mean leaves in the common
        level (:func:`_lift_fractions` decides how much of it to take). None where nothing
        was corrected.
    """
    n_lines, nch = offset.shape
    box = params.background_box
    cb = np.zeros((n_lines, nch - 1))
    vb = np.zeros((n_lines, nch - 1))
    measured = np.zeros((n_lines, nch - 1), dtype=bool)
    edges = _boundary_blocks(n_lines, box)
    centres = 0.5 * (edges[:-1] + edges[1:] - 1)
    lines = np.arange(n_lines, dtype=float)
    bufs = _boundary_work(n_lines, work) if strips else None
    found = {}  # boundary: (mismatch, its variance, measured, model's offset difference)
    for k, b, usable in strips:
        jump, vj, ok = _boundary_jumps(a, usable, b, sigma, params, edges, bufs)
        if ok.sum() < _BOUNDARY_MIN_BLOCKS * box // 2:
            continue
        mis = jump - (offset[:, k] - offset[:, k + 1])
        # compact light crossing the boundary: lines far from their neighbours' mean
        ok &= ~_boundary_outliers(mis, vj, ok, lines)
        wl = np.where(ok, 1.0 / np.where(ok, vj, 1.0), 0.0)
        prec = np.add.reduceat(wl, edges[:-1])
        xb = np.add.reduceat(wl * np.where(ok, mis, 0.0), edges[:-1])
        db = np.add.reduceat(wl * (offset[:, k] - offset[:, k + 1]), edges[:-1])
        has = prec > 0
        if has.sum() < _BOUNDARY_MIN_BLOCKS:
            continue
        xb = np.where(has, xb / np.where(has, prec, 1.0), 0.0)
        db = np.where(has, db / np.where(has, prec, 1.0), 0.0)
        white = np.where(has, 1.0 / np.where(has, prec, 1.0), np.inf)
        # noise beyond the white noise of the fits (pink 1/f within the lines): the robust
        # scatter of normalised block-to-block differences, never below 1
        z = np.diff(xb[has]) / np.sqrt(white[has][1:] + white[has][:-1])
        excess = max(1.0, (1.4826 * float(np.median(np.abs(z)))) ** 2)
        found[k] = (xb, white * excess, has, db)
    two_sided = _two_sided_blocks(found, borrowed, edges, nch)
    free = None if two_sided is None else two_sided[0]
    for k, (xb, white, has, db) in found.items():  # (white: the pink excess included)
        measured[:, k] = np.repeat(has, np.diff(edges))
        est, var = _garrote_smooth(xb, white, _BOUNDARY_SCALES, _BOUNDARY_SIGMA)
        # where the mismatch is significant block by block over a run of blocks, the jumps
        # are the measurement and the garrote only a detector: its shrinkage there left a
        # third to a half of a diffuse nebula's per-output offsets to the model
        relax = _relaxed_blocks(xb, white, has, est != 0)
        est = np.where(relax, xb, est)
        var = np.where(relax, white, var)
        free_est = est
        # only towards the boundary's usual relative offset, past it by at most its natural
        # scatter: the outputs' relative 1/f offsets stay close to their usual value (the
        # outputs' pedestals), so of two estimates the closer is the more plausible as 1/f.
        # Light measured in the line means of whole outputs makes the model's the farther
        # one; emission that steps exactly at the boundary (which no jump can tell from 1/f)
        # makes the jumps' the farther one, and is then left to the model. (Stopping at the
        # usual value itself left half of a relative offset of 0.03-0.05 DN/s under a
        # diffuse nebula, whose blocks' true relative 1/f offsets scatter by 0.015.)
        centre, spread = _usual_offset(db, has & (np.abs(xb) < _BOUNDARY_AGREE * np.sqrt(white)))
        rel = db - centre
        target = -rel - np.sign(rel) * spread
        est = np.clip(est, np.minimum(target, 0.0), np.maximum(target, 0.0))
        if free is not None:
            est = np.where(free[:, k], free_est, est)
        # and no block by more than its own mismatch (the smooth must not spread a
        # correction into blocks where the jumps and the model agree)
        est = np.clip(est, np.minimum(xb, 0.0), np.maximum(xb, 0.0))
        if not np.any(est):
            continue
        cb[:, k] = np.interp(lines, centres, est)
        vb[:, k] = np.interp(lines, centres, var)
    rms = [float(np.sqrt(np.mean(cb[:, k] ** 2))) for k in range(nch - 1)]
    if not cb.any():
        return np.zeros((n_lines, nch)), np.zeros((n_lines, nch)), rms, None
    # chained: output j + 1 = output j - (correction of boundary j), within each run of
    # outputs linked by measured boundaries (corrected, or where the jumps agree with the
    # model: their relative offset is kept); then the mean over each run is kept in each
    # line (outputs count equally, as in the sky profile of step 9). A boundary not
    # measured (structure along the line, no usable pixels) says nothing about the offsets
    # on its two sides. (Runs of corrected boundaries only moved an output next to a
    # boundary where the jumps agreed with the model: `nircam_full_extended` seed 6, lines
    # 768-1150, the outputs' relative offsets there were made 0.03 DN/s worse.)
    chain = np.zeros((n_lines, nch))
    chain[:, 1:] = -np.cumsum(cb, axis=1)
    group = np.zeros((n_lines, nch), dtype=np.int64)
    group[:, 1:] = np.cumsum(~((cb != 0) | measured), axis=1)  # a new run after each gap
    corr = np.zeros((n_lines, nch))
    var = np.zeros((n_lines, nch))
    lift = np.zeros((n_lines, nch))
    vsum = np.zeros((n_lines, nch))
    vsum[:, 1:] = np.cumsum(vb, axis=1)
    # (an output moved by both its jumps leaves the run's level to its measured neighbours)
    moved = None if two_sided is None else np.repeat(two_sided[1], np.diff(edges), axis=0)
    for g in range(nch):
        member = group == g
        if not member.any():
            continue
        size = member.sum(axis=1)
        level = member  # (the outputs that set the run's level)
        if moved is not None:
            level = member & ~moved
            level = np.where(level.any(axis=1, keepdims=True), level, member)
        mean = (level * chain).sum(axis=1) / np.maximum(level.sum(axis=1), 1)
        corr += member * (chain - mean[:, None])
        # (the alternative level: the run's highest chained output, the least lit, kept)
        top = np.where(member, chain, -np.inf).max(axis=1)
        lift += member * np.where(size > 0, top - mean, 0.0)[:, None]
        # (approximate: the variance of the chain within the run)
        first = np.argmax(member, axis=1)
        last = nch - 1 - np.argmax(member[:, ::-1], axis=1)
        span = vsum[np.arange(n_lines), last] - vsum[np.arange(n_lines), first]
        var += member * span[:, None]
    return corr, var, rms, lift
