"""Simulate one JWST exposure: ramps along the pixel clock, ramp fit, and truth.

For every integration the simulator

1. draws the photo-electrons frame by frame (Poisson, signal = scene x flat + dark), averages
   the frames of each group (``nframes``) and skips dropped frames (``groupgap``);
2. adds white read noise per read (reference pixels quieter);
3. adds the correlated readout noise generated along the pixel clock
   (:mod:`jwst1f.simulate.noise`): pink noise common to all outputs, pink noise per output,
   alternating column noise and a per-output pedestal (MIRI: banding model);
4. for ``uncal``: adds superbias and reset (kTC) offsets, caps at full well, rounds to uint16;
5. for ``rate``: applies the reference-pixel correction of ``calwebb_detector1`` to the
   bias-subtracted groups (reset offsets included, as in the pipeline; per output and column
   parity from the reference rows, then the running median of the side reference columns;
   HxRG only), subtracts the dark and fits an ordinary least-squares slope to the groups
   before saturation.

The correlated noise is drawn from its own random stream, so ``rate_no1f`` is the *same*
exposure without it: identical Poisson, white-noise and reset draws, the same reference-pixel
correction and ramp fit, applied to the groups without the correlated noise. (The running
median of the side reference pixels is not linear, so ``rate - rate_no1f`` is the 1/f
component as the pipeline leaves it, not a separately fitted term.)
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import expit
from scipy.stats import sigmaclip

from jwst1f import instruments as ins
from jwst1f.simulate import scenes as sc
from jwst1f.simulate.metadata import (
    ExposureIds,
    Pointing,
    aperture_name,
    attitude,
    exposure_metadata,
    header_from_meta,
    jwst_basename,
    project_to_window,
)
from jwst1f.simulate.noise import (
    HxRGNoise,
    MiriNoise,
    default_noise,
    readout_noise_groups,
    readout_window,
    to_detector,
)

__all__ = [
    "SimulatedExposure",
    "simulate_exposure",
    "DEFAULT_EXP_TYPE",
    "DQ_DO_NOT_USE",
    "DQ_SATURATED",
    "DQ_REFERENCE_PIXEL",
]

log = logging.getLogger(__name__)

DQ_DO_NOT_USE = np.uint32(1)
DQ_SATURATED = np.uint32(2)
DQ_REFERENCE_PIXEL = np.uint32(2**31)

#: Rows in the running median of the side reference pixels (jwst refpix default).
_SIDE_SMOOTHING = 11

#: Default exposure type per instrument.
DEFAULT_EXP_TYPE = {
    "NIRCAM": "NRC_IMAGE",
    "NIRISS": "NIS_IMAGE",
    "NIRSPEC": "NRS_IFU",
    "MIRI": "MIR_IMAGE",
}

_DEFAULT_SCENE = {
    "NRC_IMAGE": "field",
    "NRC_TSGRISM": "grism",
    "NIS_IMAGE": "field",
    "NRS_IFU": "ifu",
    "NRS_FIXEDSLIT": "fixed_slit",
    "NRS_MSASPEC": "mos",
    "MIR_IMAGE": "miri_field",
}

# Optical elements and image properties: (filter, pupil, grating, fwhm px, arcsec/px, sky DN/s)
_OPTICS = {
    ("NIRCAM", "SHORT", "NRC_IMAGE"): ("F200W", "CLEAR", None, 2.1, 0.031, 0.20),
    ("NIRCAM", "LONG", "NRC_IMAGE"): ("F444W", "CLEAR", None, 2.3, 0.063, 0.80),
    ("NIRCAM", "LONG", "NRC_TSGRISM"): ("F444W", "GRISMR", None, 2.3, 0.063, 1.00),
    ("NIRCAM", "SHORT", "NRC_TSGRISM"): ("F210M", "WLP8", None, 2.1, 0.031, 0.10),
    ("NIRISS", None, "NIS_IMAGE"): ("CLEAR", "F150W", None, 1.4, 0.0656, 0.30),
    ("NIRSPEC", None, "NRS_IFU"): ("F170LP", None, "G235M", 1.5, 0.1, 0.0),
    ("NIRSPEC", None, "NRS_FIXEDSLIT"): ("F290LP", None, "G395H", 1.5, 0.1, 0.0),
    ("NIRSPEC", None, "NRS_MSASPEC"): ("F100LP", None, "G140M", 1.5, 0.1, 0.0),
    ("MIRI", None, "MIR_IMAGE"): ("F770W", None, None, 2.4, 0.11, 15.0),
}

_DEFAULT_READPATT = {"NIRCAM": "RAPID", "NIRISS": "NISRAPID", "NIRSPEC": "NRSRAPID", "MIRI": "FAST"}


@dataclass
class SimulatedExposure:
    """A simulated exposure with its truth.

    Rate products are in DN/s, DMS orientation. When :attr:`rateints` is True the rate arrays
    have shape ``(nints, ny, nx)`` (a ``rateints`` product), otherwise ``(ny, nx)``.

    Attributes
    ----------
    data, err, var_poisson, var_rnoise : numpy.ndarray
        float32 rate (or rateints), its error and variances, DN/s and (DN/s)^2.
    dq : numpy.ndarray
        uint32 data quality (jwst flags).
    rate_no1f : numpy.ndarray
        float32, the same exposure without the correlated readout-noise components (pink
        noise, ACN, pedestal), same shape as ``data``.
    scene : numpy.ndarray
        float32 ``(ny, nx)`` noise-free rate (sources + sky, times the pixel flat), DN/s.
    sky : numpy.ndarray
        float32 ``(ny, nx)`` the smooth background alone (times the pixel flat), DN/s.
    empty : numpy.ndarray
        bool ``(ny, nx)``: science pixel with no astrophysical source.
    meta : dict
        Metadata as ``{"meta.x.y": value}`` (see :func:`jwst1f.simulate.metadata.apply_meta`).
    basename : str
        JWST file-name stem, e.g. ``jw01234001001_01101_00001_nrca1``.
    rateints : bool
        Whether the rate arrays are per integration.
    ramp : numpy.ndarray or None
        uint16 ``(nints, ngroups, ny, nx)`` raw ramps (with ``keep_ramp=True``), DN.
    seconds : float
        Wall time of the simulation, s.
    rate_clean : numpy.ndarray or None
        float32, the exposure without any readout artefact (shape of ``data``): as
        ``rate_no1f`` but also without the pipeline's reference-pixel correction, whose own
        noise (the reference pixels' white noise, smoothed along the side columns) is a line
        pattern that ``rate_no1f`` and ``data`` share. In memory only (not written to files).
    """

    data: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    var_poisson: np.ndarray
    var_rnoise: np.ndarray
    rate_no1f: np.ndarray
    scene: np.ndarray
    sky: np.ndarray
    empty: np.ndarray
    meta: dict[str, object]
    basename: str
    rateints: bool
    ramp: np.ndarray | None = None
    seconds: float = 0.0
    rate_clean: np.ndarray | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def header(self) -> dict[str, object]:
        """The FITS keywords describing instrument, readout and subarray."""
        return header_from_meta(self.meta)

    @property
    def var_flat(self) -> np.ndarray:
        """Flat-field variance: zero before flat fielding, (DN/s)^2."""
        return np.zeros_like(self.var_poisson)

    @property
    def one_over_f(self) -> np.ndarray:
        """The fitted correlated-noise component, ``data - rate_no1f``, DN/s."""
        return self.data - self.rate_no1f


def _ols_weights(times: np.ndarray) -> np.ndarray:
    dt = times - times.mean()
    return (dt / np.sum(dt * dt)).astype(np.float64)


def _clipped_mean(values: np.ndarray) -> float:
    """Mean after iterative 3-sigma clipping (as jwst's refpix step computes its levels)."""
    return float(sigmaclip(np.asarray(values, dtype=np.float64).ravel(), 3.0, 3.0).clipped.mean())


def _side_rows(win, k: int) -> np.ndarray:
    """Window rows feeding the side running median at window rows ``-k .. n_slow + k - 1``.

    jwst embeds a subarray in a full frame whose side reference pixels outside the window are
    DO_NOT_USE, and reflects only at the edges of the full frame: rows outside the window
    (see :func:`_inside`) do not take part in the median.
    """
    full = win.row0 + np.arange(-k, win.n_slow + k)
    full = np.where(full < 0, -full, full)
    full = np.where(full >= win.full_slow, 2 * (win.full_slow - 1) - full, full)
    return np.clip(full - win.row0, 0, win.n_slow - 1)


def _inside(win, k: int) -> np.ndarray:
    full = win.row0 + np.arange(-k, win.n_slow + k)
    full = np.where(full < 0, -full, full)
    full = np.where(full >= win.full_slow, 2 * (win.full_slow - 1) - full, full)
    return (full >= win.row0) & (full < win.row0 + win.n_slow)


def _refpix_correct(groups_det: np.ndarray, win, *, noutputs: int, hxrg: bool) -> None:
    """In place: the ``calwebb_detector1`` reference-pixel correction on detector-frame groups.

    As jwst's ``refpix`` step does it for near-infrared data (default parameters): with 4
    outputs, per output and column parity subtract the mean of the reference rows, then the
    running median (11 rows x 4 columns) of the side reference columns, the two sides
    averaged; with 1 output (subarrays), subtract the mean of all reference pixels in the
    window, per column parity, and no side correction. MIRI: nothing (jwst skips MIRI
    subarrays; its full-frame MIRI correction is not modelled). Levels are 3-sigma clipped
    means, as in jwst.
    """
    if not hxrg:
        return
    ng, n_slow, n_fast = groups_det.shape
    parity = (np.arange(n_fast) + win.col0) % 2
    refmask = win.ref_rows[:, None] | win.ref_cols[None, :]
    if noutputs == 1:
        if not refmask.any():
            return
        for p in (0, 1):
            sel = refmask & (parity == p)[None, :]
            if sel.any():
                vals = groups_det[:, sel]  # (ng, n_ref)
                level = np.array([_clipped_mean(v) for v in vals], dtype=np.float32)
                cols = parity == p
                groups_det[:, :, cols] -= level[:, None, None]
        return
    w = n_fast // noutputs
    colcorr = np.zeros((ng, n_fast), dtype=np.float32)
    if win.ref_rows.any():
        ref = groups_det[:, win.ref_rows, :]  # (ng, n_ref_rows, n_fast)
        for j in range(noutputs):
            for p in (0, 1):
                cols = np.zeros(n_fast, dtype=bool)
                cols[j * w : (j + 1) * w] = True
                cols &= parity == p
                use = cols & ~win.ref_cols
                if use.any():
                    for g in range(ng):
                        colcorr[g, cols] = _clipped_mean(ref[g][:, use])
    for g in range(ng):
        groups_det[g] -= colcorr[g][None, :]
    if win.ref_cols.any() and n_slow > _SIDE_SMOOTHING:
        k = _SIDE_SMOOTHING // 2
        sides = []
        half = n_fast // 2
        for lo, hi in ((0, half), (half, n_fast)):
            idx = lo + np.nonzero(win.ref_cols[lo:hi])[0]
            if idx.size == 0:
                continue
            vals = groups_det[:, :, idx]  # (ng, n_slow, 4)
            padded = vals[:, _side_rows(win, k), :]
            inside = _inside(win, k)
            if not inside.all():
                padded[:, ~inside, :] = np.nan
            windows = sliding_window_view(padded, _SIDE_SMOOTHING, axis=1)  # (ng, n_slow, 4, 11)
            flat = windows.reshape(ng, n_slow, -1)
            sides.append(np.nanmedian(flat, axis=-1) if not inside.all() else np.median(flat, -1))
        side = np.mean(sides, axis=0).astype(np.float32)
        for g in range(ng):
            groups_det[g] -= side[g][:, None]


def simulate_exposure(
    *,
    detector: str,
    instrument: str | None = None,
    subarray: str = "FULL",
    exp_type: str | None = None,
    scene: str | None = None,
    filter: str | None = None,  # noqa: A002
    pupil: str | None = None,
    grating: str | None = None,
    readpatt: str | None = None,
    ngroups: int = 6,
    nints: int = 1,
    rateints: bool | None = None,
    seed: int = 0,
    one_over_f: bool = True,
    noise: HxRGNoise | MiriNoise | None = None,
    pointing: Pointing | None = None,
    catalog: sc.Catalog | None = None,
    ids: ExposureIds | None = None,
    start: datetime | None = None,
    keep_ramp: bool = False,
    sky_level: float | None = None,
) -> SimulatedExposure:
    """Simulate one exposure.

    Parameters
    ----------
    detector : str
        ``DETECTOR`` keyword (see :data:`jwst1f.instruments.DETECTORS`).
    instrument : str, optional
        Checked against the detector when given.
    subarray : str
        Subarray name in :data:`jwst1f.instruments.SUBARRAYS` (``SUBGRISM64_1OUT`` etc. for
        the 1-output variants).
    exp_type : str, optional
        ``EXP_TYPE``; default per instrument (NRC_IMAGE, NIS_IMAGE, NRS_IFU, MIR_IMAGE).
    scene : str, optional
        One of :data:`jwst1f.simulate.scenes.SCENES`; default per exposure type.
    filter, pupil, grating : str, optional
        Optical elements; defaults per instrument and mode.
    readpatt : str, optional
        Readout pattern in :data:`jwst1f.instruments.READOUT_PATTERNS` (default: the
        instrument's 1-frame pattern).
    ngroups, nints : int
        Groups per integration (>= 2) and integrations.
    rateints : bool, optional
        Return per-integration rates; default ``nints > 1``.
    seed : int
        Seed of every random draw: same seed, same exposure.
    one_over_f : bool
        Include the correlated readout noise (False: ``data`` equals ``rate_no1f``).
    noise : HxRGNoise or MiriNoise, optional
        Noise parameters; default :func:`jwst1f.simulate.noise.default_noise`.
    pointing : Pointing, optional
        Pointing of the aperture reference point; default a field at RA 53.16, Dec -27.79.
    catalog : Catalog, optional
        Imaging sources on the sky; default a random field around the pointing.
    ids : ExposureIds, optional
        Programme/observation/visit/exposure numbers.
    start : datetime, optional
        UTC start of the exposure.
    keep_ramp : bool
        Keep the uint16 raw ramps (needed by :func:`jwst1f.simulate.write_uncal`).
    sky_level : float, optional
        Sky level, DN/s (imaging); default per filter.

    Returns
    -------
    SimulatedExposure
    """
    t_start = time.perf_counter()
    det = ins.get_detector(detector)
    if instrument is not None and instrument.upper() != det.instrument:
        raise ValueError(f"detector {det.detector} belongs to {det.instrument}, not {instrument}")
    sub = ins.get_subarray(det.detector, subarray)
    exp_type = (exp_type or DEFAULT_EXP_TYPE[det.instrument]).upper()
    if exp_type == "NRC_IMAGE" and sub.keyword.startswith("SUBGRISM"):
        exp_type = "NRC_TSGRISM"
    optics = _OPTICS.get((det.instrument, det.channel, exp_type))
    if optics is None:
        optics = _OPTICS.get((det.instrument, det.channel, DEFAULT_EXP_TYPE[det.instrument]))
    f_def, p_def, g_def, fwhm, pixscale, sky_def = optics
    filter = filter or f_def
    pupil = pupil or p_def
    grating = grating or g_def
    scene = scene or _DEFAULT_SCENE.get(exp_type, "field")
    if scene not in sc.SCENES:
        raise ValueError(f"unknown scene {scene!r}; known: {', '.join(sc.SCENES)}")
    readpatt = (readpatt or _DEFAULT_READPATT[det.instrument]).upper()
    if readpatt not in ins.READOUT_PATTERNS:
        raise ValueError(f"unknown readout pattern {readpatt!r}")
    patt = ins.READOUT_PATTERNS[readpatt]
    if ngroups < 2:
        raise ValueError("ngroups must be at least 2 to fit a slope")
    if nints < 1:
        raise ValueError("nints must be at least 1")
    rateints = nints > 1 if rateints is None else rateints
    noise = noise or default_noise(det)
    pointing = pointing or Pointing()
    ids = ids or ExposureIds()
    start = start or datetime(2025, 6, 1, 3, 0, 0, tzinfo=UTC) + timedelta(
        minutes=10 * (ids.exposure - 1)
    )
    tframe = ins.frame_time(det.detector, sub)
    rng = np.random.default_rng(seed)
    # Independent streams: scene, photons + white noise + reset, correlated readout noise.
    # Keeping the correlated noise on its own stream means that switching it off leaves every
    # other draw unchanged.
    rng_scene, rng_noise, rng_corr = (
        np.random.default_rng(s) for s in rng.bit_generator.seed_seq.spawn(3)
    )
    ny, nx = sub.shape
    win_sl = ins.subarray_slices(sub)
    ref_mask = ins.reference_pixel_mask(det.detector)[win_sl]

    meta = exposure_metadata(
        det=det,
        sub=sub,
        exp_type=exp_type,
        filter=filter,
        pupil=pupil,
        grating=grating,
        readpatt=readpatt,
        nframes=patt.nframes,
        groupgap=patt.groupgap,
        ngroups=ngroups,
        nints=nints,
        tframe=tframe,
        pointing=pointing,
        ids=ids,
        start=start,
    )

    # ---- scene (DN/s, before flat) ----
    slow_np_axis = 0 if abs(det.slowaxis) == 2 else 1
    fast_np_axis = det.fast_numpy_axis
    sky_level = sky_def if sky_level is None else sky_level
    source = np.zeros((ny, nx), dtype=np.float32)
    sky = np.zeros((ny, nx), dtype=np.float32)
    if scene in ("field", "stars", "galaxies", "extended", "miri_field", "sky"):
        sky = sc.sky_background((ny, nx), level=sky_level, slow_numpy_axis=slow_np_axis)
        if scene != "sky":
            apername = aperture_name(det, sub, exp_type=exp_type, filter=filter)
            att = attitude(det, apername, pointing)
            if catalog is None:
                radius = 0.75 * max(ny, nx) * pixscale
                n_st = {"stars": 500, "galaxies": 40}.get(scene, 250)
                n_gal = {"stars": 0, "galaxies": 500}.get(scene, 300)
                area = (ny * nx) / 2048**2
                catalog = sc.random_catalog(
                    rng_scene,
                    ra=pointing.ra_ref,
                    dec=pointing.dec_ref,
                    radius_arcsec=radius,
                    n_stars=max(int(n_st * area * 1.8), 3),
                    n_galaxies=int(n_gal * area * 1.8),
                )
            x, y = project_to_window(det, sub, att, catalog.ra, catalog.dec)
            v3y = float(meta["meta.wcsinfo.v3yangle"])
            source = sc.render_catalog(
                (ny, nx), x, y, catalog, fwhm=fwhm, pixel_scale=pixscale, spike_angle=90.0 - v3y
            )
        if scene == "extended":
            source += sc.extended_emission(
                rng_scene, (ny, nx), peak=3.0 * sky_level, fast_numpy_axis=fast_np_axis
            )
        if scene == "miri_field":
            # The coronagraph / Lyot region left of the imager field is (nearly) dark.
            xs = np.arange(nx) + sub.xstart - 1
            lit = expit((xs - 360.0) / 3.0).astype(np.float32)[None, :]
            sky = sky * (0.03 + 0.97 * lit)
            source = source * lit
    elif scene == "ifu":
        source = sc.nirspec_ifu(rng_scene, (ny, nx), y_offset=sub.ystart - 1)
    elif scene == "fixed_slit":
        source = sc.nirspec_fixed_slit(rng_scene, (ny, nx), y_offset=sub.ystart - 1)
    elif scene == "mos":
        source = sc.nirspec_mos(rng_scene, (ny, nx))
    elif scene == "grism":
        sky = sc.sky_background((ny, nx), level=sky_level, slow_numpy_axis=slow_np_axis)
        y_trace = min(34.0, ny / 2.0)
        source = sc.grism_traces(rng_scene, (ny, nx), y_trace=y_trace, peak=3000.0)
    # scene == "dark": nothing.
    source[ref_mask] = 0.0
    sky[ref_mask] = 0.0
    flat = ins.flat_map(det.detector, filter)[win_sl]
    sky_f = (sky * flat).astype(np.float32)
    scene_rate = (source * flat + sky_f).astype(np.float32)
    empty = sc.empty_mask(source, sky, ref_mask)

    # ---- ramps ----
    gain = det.gain
    dark = ins.dark_map(det.detector)[win_sl]
    flux_e = ((scene_rate + dark) * np.float32(gain)).astype(np.float32)  # e-/s
    rn = ins.readnoise_map(det.detector)[win_sl]
    rn[ref_mask] = noise.white * noise.ref_white_ratio
    rn[~ref_mask] = noise.white
    bias = ins.superbias_map(det.detector)[win_sl]
    full_well = det.saturation + 1500.0
    win = readout_window(det, sub, tframe)
    nf, gap = patt.nframes, patt.groupgap
    tgroup = (nf + gap) * tframe
    gtimes = tframe * (np.arange(ngroups) * (nf + gap) + (nf + 1) / 2.0)
    kept = [g * (nf + gap) + m for g in range(ngroups) for m in range(nf)]

    shape_out = (nints, ny, nx)
    rate = np.empty(shape_out, dtype=np.float32)
    rate_no1f = np.empty(shape_out, dtype=np.float32)
    rate_clean = np.empty(shape_out, dtype=np.float32)
    ngood_all = np.empty(shape_out, dtype=np.int16)
    ramp = np.empty((nints, ngroups, ny, nx), dtype=np.uint16) if keep_ramp else None
    cap = (full_well - bias).astype(np.float32)  # signal capacity above bias, DN
    inv_gain = np.float32(1.0 / gain)
    rn_read = (rn / np.float32(np.sqrt(nf))).astype(np.float32)
    for i in range(nints):
        sig = np.empty((ngroups, ny, nx), dtype=np.float32)
        counts = np.zeros((ny, nx), dtype=np.float32)
        prev = -1
        lam_cache: dict[int, np.ndarray] = {}
        for k, frame in enumerate(kept):
            step = frame - prev
            if step not in lam_cache:
                lam_cache[step] = flux_e * np.float32(tframe * step)
            counts += rng_noise.poisson(lam_cache[step])
            prev = frame
            g, m = divmod(k, nf)
            if m == 0:
                np.multiply(counts, inv_gain, out=sig[g])
                np.minimum(sig[g], cap, out=sig[g])
            else:
                sig[g] += np.minimum(counts * inv_gain, cap)
            if nf > 1 and m == nf - 1:
                sig[g] /= np.float32(nf)
        del lam_cache, counts
        for g in range(ngroups):
            sig[g] += rng_noise.standard_normal((ny, nx), dtype=np.float32) * rn_read
        if one_over_f:
            corr_det = readout_noise_groups(
                rng_corr, win, noise, ngroups=ngroups, nframes=nf, groupgap=gap
            )
            # Detector frame -> DMS (the inverse of to_detector), as a contiguous array.
            corr = np.empty((ngroups, ny, nx), dtype=np.float32)
            to_detector(corr, det.fastaxis, det.slowaxis)[...] = corr_det
            del corr_det
        else:
            corr = np.zeros((ngroups, ny, nx), dtype=np.float32)
        ktc = rng_noise.normal(0.0, noise.ktc, size=(ny, nx)).astype(np.float32)
        base = bias + ktc
        ngood = np.full((ny, nx), ngroups, dtype=np.int16)
        for g in range(ngroups):
            raw = base + sig[g]
            raw += corr[g]
            newly = (raw >= det.saturation) & (ngood == ngroups)
            ngood[newly] = g
            if keep_ramp:
                np.rint(raw, out=raw)
                np.clip(raw, 0, 65535, out=raw)
                ramp[i, g] = raw.astype(np.uint16)
        del raw, base
        # without any readout artefact: no correlated noise and no reference-pixel
        # correction (whose own noise, the reference pixels' white noise smoothed along the
        # side columns, is a line pattern in both rate and rate_no1f)
        rate_clean[i] = _fit(sig, gtimes, ngood) - dark
        # What Detector1 sees after superbias subtraction: reset offsets + signal (+ 1/f).
        # The reference-pixel correction (a running median) is not linear, so it runs on the
        # exposure with and without the correlated noise.
        sig += ktc
        del ktc
        corr += sig
        for arr in (sig, corr):
            _refpix_correct(
                to_detector(arr, det.fastaxis, det.slowaxis),
                win,
                noutputs=sub.noutputs,
                hxrg=det.is_hxrg,
            )
        rate_no1f[i] = _fit(sig, gtimes, ngood) - dark
        rate[i] = _fit(corr, gtimes, ngood) - dark
        del sig, corr
        ngood_all[i] = ngood

    # ---- variances and DQ (as ramp_fit would report them) ----
    dq = np.zeros(shape_out, dtype=np.uint32)
    dq[:, ref_mask] |= DQ_REFERENCE_PIXEL  # as Detector1 leaves them (not DO_NOT_USE)
    nogood = ngood_all < 1
    dq[nogood] |= DQ_SATURATED | DQ_DO_NOT_USE
    n_eff = np.maximum(ngood_all, 2).astype(np.float32)
    rn_group = rn / np.float32(np.sqrt(nf))
    var_r = 12.0 * rn_group**2 / ((n_eff**3 - n_eff) * tgroup**2)
    var_p = np.maximum(rate, 0.0) / (gain * (n_eff - 1.0) * tgroup)
    var_p[:, ref_mask] = 0.0
    for a in (rate, rate_no1f, rate_clean, var_p, var_r):
        a[nogood] = np.nan
    err = np.sqrt(var_p + var_r).astype(np.float32)

    if not rateints:
        rate_clean = _combine_ints(rate_clean, rate_clean, var_p, var_r, dq)[0]
        rate, rate_no1f, err, var_p, var_r, dq = _combine_ints(rate, rate_no1f, var_p, var_r, dq)
    seconds = time.perf_counter() - t_start
    log.info(
        "simulated %s %s %s %dx%d, %d int x %d groups in %.1f s",
        det.detector,
        sub.name,
        scene,
        ny,
        nx,
        nints,
        ngroups,
        seconds,
    )
    return SimulatedExposure(
        data=rate.astype(np.float32),
        err=err.astype(np.float32),
        dq=dq,
        var_poisson=var_p.astype(np.float32),
        var_rnoise=var_r.astype(np.float32),
        rate_no1f=rate_no1f.astype(np.float32),
        rate_clean=rate_clean.astype(np.float32),
        scene=scene_rate,
        sky=sky_f,
        empty=empty,
        meta=meta,
        basename=jwst_basename(ids, det.detector),
        rateints=rateints,
        ramp=ramp,
        seconds=seconds,
        extra={"scene_name": scene, "flat": flat, "subarray": sub, "tframe": tframe},
    )


def _fit(groups: np.ndarray, times: np.ndarray, ngood: np.ndarray) -> np.ndarray:
    """OLS slope of ``groups`` (ng, ny, nx) against ``times`` using the first ``ngood`` groups.

    Pixels with one good group get ``group0 / t0``; with none, NaN (flagged by the caller).
    """
    ng = groups.shape[0]
    w = _ols_weights(times).astype(np.float32)
    out = np.tensordot(w, groups, axes=(0, 0)).astype(np.float32)
    partial = ngood < ng
    if partial.any():
        idx = np.nonzero(partial)
        sub = groups[:, idx[0], idx[1]]  # (ng, n)
        k = ngood[idx]
        vals = np.full(k.shape, np.nan, dtype=np.float32)
        for kk in np.unique(k):
            sel = k == kk
            if kk >= 2:
                vals[sel] = np.tensordot(_ols_weights(times[:kk]), sub[:kk, sel], axes=(0, 0))
            elif kk == 1:
                vals[sel] = sub[0, sel] / times[0]
        out[idx] = vals
    return out


def _combine_ints(rate, rate_no1f, var_p, var_r, dq):
    """Combine integrations into one rate as ramp_fit does (inverse read-noise variance)."""
    if rate.shape[0] == 1:
        err = np.sqrt(var_p[0] + var_r[0]).astype(np.float32)
        return rate[0], rate_no1f[0], err, var_p[0], var_r[0], dq[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(np.isfinite(var_r) & (var_r > 0), 1.0 / var_r, 0.0)
        wsum = w.sum(axis=0)
        r = np.where(wsum > 0, np.nansum(w * np.nan_to_num(rate), axis=0) / wsum, np.nan)
        r0 = np.where(wsum > 0, np.nansum(w * np.nan_to_num(rate_no1f), axis=0) / wsum, np.nan)
        vp = np.where(wsum > 0, np.nansum(w * w * np.nan_to_num(var_p), axis=0) / wsum**2, np.nan)
        vr = np.where(wsum > 0, 1.0 / wsum, np.nan)
    err = np.sqrt(vp + vr)
    dq2 = np.bitwise_or.reduce(dq, axis=0)
    return (
        r.astype(np.float32),
        r0.astype(np.float32),
        err.astype(np.float32),
        vp.astype(np.float32),
        vr.astype(np.float32),
        dq2,
    )
