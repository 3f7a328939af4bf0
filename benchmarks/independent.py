"""An independent test generator for the destriper, not built on ``jwst1f.simulate``.

The destriper is judged on data it was not tuned on. This module makes such data with its own,
much simpler physics, written separately from the project's simulator:

* 1/f noise is drawn directly as one pink-noise series (power ~ f**-alpha) per output along
  the pixel clock, plus one shared by all outputs, laid out in readout order (the read
  direction of every output and of the lines from :class:`jwst1f.geometry.ReadoutLayout`, a
  pause of ``pause`` clocks after every line);
* the scene is drawn as rates directly (no ramps, no ramp fit): a sky level with a gradient,
  stars with a Gaussian core and power-law wings, optionally a band of emission filling whole
  lines, or bright spectral traces along the lines;
* white noise is Gaussian with a Poisson-like term; reference pixels see no light;
* optionally the pipeline's side reference-pixel correction is mimicked (the mean of the side
  reference pixels of each line, smoothed over 11 lines, subtracted from the line), which
  leaves line-to-line noise in the truth as the real pipeline does;
* with ``nints > 1`` the frame is a rateints array (nints, ny, nx): the same scene and sky in
  every integration, independent white noise, 1/f and reference-pixel step per integration.

Only the FITS metadata (which the pipeline needs to run CleanFlickerNoiseStep on a file) comes
from ``jwst1f.simulate.metadata``. The truth is the rate without the 1/f component.

``run_independent`` evaluates jwst1f, the perfect-mask oracle (and, where defined, that
mask with the sky across lines unknown: ``bench_destripe.FLOORS``), the seed routine and
CleanFlickerNoiseStep on a set of variants (spectral index, no reference-pixel step, no line
pause, strong per-output noise, emission bands, galaxies, a saturated star, one-output windows
with a trace, WFSS spectra with strong red per-output noise, NIRSpec columns with traces,
rateints) with the same metrics as ``bench_destripe.py``.
"""

from __future__ import annotations

import logging
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.special import expit

from benchmarks.bench_destripe import FLOORS, CaseData, _oracle, _sky_floors
from benchmarks.bench_destripe import _truth as case_truth
from benchmarks.metrics import evaluate_prepared
from benchmarks.peers.cfn import run_cfn
from benchmarks.peers.seed_routine import SeedUnsupported, seed_correct

__all__ = [
    "Variant",
    "VARIANTS",
    "SUBARRAYS",
    "make_frame",
    "truth_and_oracle",
    "run_independent",
    "markdown",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    """One independent test case.

    Attributes
    ----------
    name : str
    detector, subarray, exp_type, filter, pupil, grating : str
        Geometry and metadata of the exposure (for the header only).
    alpha : float
        Spectral index of the 1/f noise.
    amp_common, amp_output : float
        Rms (DN/s) of the 1/f noise shared by all outputs and of each output's own.
    pause : int
        Pixel clocks of pause after each line.
    refpix_step : bool
        Mimic the pipeline's side reference-pixel correction.
    nan_refpix : bool
        The reference pixels of the data are NaN (as if flagged ``DO_NOT_USE`` and dropped by
        ramp fitting, or not usable for any reason).
    row_even_odd : float
        Rms (DN/s) of an offset alternating in sign from line to line, drawn per output
        (MIRI's odd/even rows).
    scene : str
        ``"stars"``, ``"band"`` (stars plus a band of emission filling whole lines),
        ``"narrow_band"``, ``"galaxy"`` (stars plus an exponential disk, peak 0.6 DN/s and
        scale length 100 pixels, centred 100 pixels past the middle output boundary along the
        lines: its faint outskirts fill whole channel-lines below any per-pixel detection),
        ``"saturated_star"`` (stars plus a star saturated within 15 pixels, NaN there, with
        wings of 150 DN/s x (1 + r^2 / 4)^-1.5 and diffraction spikes along both axes of
        10 DN/s x (1 + d / 10)^-1 across the frame), ``"blob"`` (stars plus a broad diffuse
        nebula over several
        outputs), ``"trace"`` (a bright trace along the lines), ``"traces"``
        (NIRSpec-like: ``extra["n_traces"]`` traces across the columns, default 40),
        ``"soss"`` (NIRISS SOSS-like:
        two broad, curved spectral orders across the lines) or ``"miri"`` (stars and sky on
        the imager; the full-frame columns left of ``extra["dark_columns"]`` see no sky,
        only a faint dark level).
        Perturbations of any scene (``extra``; for :mod:`benchmarks.stress`):
        ``"crowding"``, a factor on the number of stars (the scene's usual count times
        it); ``"outliers"``, the fraction of pixels that are unflagged outliers (80 % warm
        or hot pixels of 0.3-100 DN/s, 20 % negative ones of 0.3-5 DN/s, log-uniform; part
        of the scene, so not empty and known to the oracle); ``"nan_box"``,
        ``(y0, y1, x0, x1)`` in fractions of the frame, NaN in the data there (as dropped
        ``DO_NOT_USE`` pixels). The added stars and outliers, and their photon noise, are
        drawn after everything else: the frame is otherwise its unperturbed variant's.
    nints : int
        Integrations. With ``nints > 1`` the frame is a rateints array (nints, ny, nx), the
        same scene in every integration, its noise drawn per integration.
    """

    name: str
    detector: str = "NRCA1"
    subarray: str = "FULL"
    exp_type: str = "NRC_IMAGE"
    filter: str = "F150W"
    pupil: str | None = "CLEAR"
    grating: str | None = None
    alpha: float = 1.0
    amp_common: float = 0.05
    amp_output: float = 0.02
    pause: int = 12
    refpix_step: bool = True
    row_even_odd: float = 0.0
    nan_refpix: bool = False
    scene: str = "stars"
    extra: dict[str, Any] = field(default_factory=dict)
    nints: int = 1


#: A NIRCam grism (WFSS) exposure with many spectra along the rows.
_WFSS: dict[str, Any] = {
    "exp_type": "NRC_WFSS",
    "filter": "F444W",
    "pupil": "GRISMR",
    "scene": "traces",
}

VARIANTS: tuple[Variant, ...] = (
    Variant("nircam_pink"),
    Variant("nircam_alpha0.7", alpha=0.7),
    Variant("nircam_alpha1.3", alpha=1.3),
    Variant("nircam_no_refpix_step", refpix_step=False),
    Variant("nircam_no_line_pause", pause=0),
    Variant("nircam_strong_per_output", amp_output=0.05),
    # three and ten times the usual 1/f (both parts): stripes of 0.7 and 2.2 sigma per pixel
    Variant("nircam_1f_x3", amp_common=0.15, amp_output=0.06),
    Variant("nircam_1f_x10", amp_common=0.5, amp_output=0.2),
    Variant("nircam_emission_band", scene="band"),
    Variant("nircam_narrow_band", scene="narrow_band"),
    Variant("nircam_emission_band_nan_refpix", scene="band", nan_refpix=True),
    # the band with the 1/f whole (no reference-pixel step): the sky's structure across lines
    # must be told from slow stripes with reference pixels that also see the 1/f within lines
    Variant("nircam_emission_band_no_refpix_step", scene="band", refpix_step=False),
    Variant("nircam_diffuse_blob", scene="blob"),
    Variant("nircam_galaxy", scene="galaxy"),
    Variant("nircam_saturated_star", scene="saturated_star"),
    Variant("niriss_galaxy", detector="NIS", exp_type="NIS_IMAGE", pupil="CLEARP", scene="galaxy"),
    Variant("nircam_sub640_1out", subarray="SUB640"),
    Variant(
        "nircam_strip_1out_trace",
        subarray="SUBGRISM64_1OUT",
        exp_type="NRC_TSGRISM",
        filter="F444W",
        pupil="GRISMR",
        scene="trace",
    ),
    Variant(  # a faint trace that fills whole channel-lines of the two middle outputs
        "nircam_subgrism256_4out_trace",
        subarray="SUBGRISM256",
        exp_type="NRC_TSGRISM",
        filter="F444W",
        pupil="GRISMR",
        scene="trace",
        extra={"trace_amp": 3.0},
    ),
    Variant(  # the grism time-series window read by four outputs: a bright trace along
        # the rows over most of the middle outputs (their sky is nowhere empty)
        "nircam_subgrism64_4out_trace",
        subarray="SUBGRISM64",
        exp_type="NRC_TSGRISM",
        filter="F444W",
        pupil="GRISMR",
        scene="trace",
    ),
    # many spectra along the rows (the fast lines) of a 4-output frame
    Variant("nircam_wfss_traces", **_WFSS),
    # the same with the outputs' own 1/f four times stronger and red (index 1.4) and whole
    # (no reference-pixel step): the outputs drift apart over many lines
    Variant("nircam_wfss_red_per_output", alpha=1.4, amp_output=0.08, refpix_step=False, **_WFSS),
    Variant(  # a window without reference pixels in its lines (NIRSpec fixed slits)
        "nirspec_allslits_traces",
        detector="NRS1",
        subarray="ALLSLITS",
        exp_type="NRS_FIXEDSLIT",
        filter="F290LP",
        pupil=None,
        grating="G395H",
        scene="traces",
    ),
    Variant("niriss_pink", detector="NIS", exp_type="NIS_IMAGE", pupil="CLEARP"),
    Variant(  # two broad curved orders across the column lines of a one-output strip
        "niriss_soss_substrip256",
        detector="NIS",
        subarray="SUBSTRIP256",
        exp_type="NIS_SOSS",
        filter="CLEAR",
        pupil="GR700XD",
        scene="soss",
    ),
    Variant(  # banding of 4 column-interleaved outputs; a dark region on the left
        "miri_imaging_dark_left",
        detector="MIRIMAGE",
        exp_type="MIR_IMAGE",
        filter="F770W",
        pupil=None,
        refpix_step=False,
        row_even_odd=0.02,
        scene="miri",
        extra={"dark_columns": 340},
    ),
    Variant(  # slice spectra lighting about half of every column
        "nirspec_ifu_slices",
        detector="NRS1",
        exp_type="NRS_IFU",
        filter="F170LP",
        pupil=None,
        grating="G235M",
        scene="ifu",
    ),
    Variant(
        "nirspec_traces",
        detector="NRS1",
        exp_type="NRS_MSASPEC",
        filter="F170LP",
        pupil=None,
        grating="G235M",
        scene="traces",
    ),
    Variant("nircam_rateints", nints=4),  # the stars of nircam_pink, 4 integrations
    Variant(  # time series: a bright trace along the rows of a 4-output window, 8 integrations
        "nircam_tso_subgrism256_rateints",
        subarray="SUBGRISM256",
        exp_type="NRC_TSGRISM",
        filter="F444W",
        pupil="GRISMR",
        scene="trace",
        nints=8,
    ),
)


def _pink(rng: np.random.Generator, n: int, alpha: float) -> np.ndarray:
    """Unit-rms noise with power ~ f**-alpha, length n (generated on 2n, cut)."""
    f = np.fft.rfftfreq(2 * n)
    f[0] = f[1]
    spec = (rng.normal(size=f.size) + 1j * rng.normal(size=f.size)) * f ** (-alpha / 2)
    x = np.fft.irfft(spec, 2 * n)[:n]
    return x / x.std()


def _one_over_f(rng, layout, v: Variant) -> np.ndarray:
    """The 1/f component in DMS orientation, laid out along each output's pixel clock."""
    n_lines, length = layout.n_lines, layout.line_length
    chans = layout.channel_slices()
    # pixels of each output in a line (interleaved outputs: every n-th pixel)
    widths = [len(range(length)[sl]) for sl in chans]
    period = max(widths) + v.pause
    total = n_lines * period
    common = v.amp_common * _pink(rng, total, v.alpha)
    out = np.empty((n_lines, length))
    row_sign = np.where(np.arange(n_lines) % 2 == 0, 1.0, -1.0)[:, None]
    for k, sl in enumerate(chans):
        series = common + v.amp_output * _pink(rng, total, v.alpha)
        block = series.reshape(n_lines, period)[:, : widths[k]]  # read order within each line
        if layout.fast_sign[k] < 0:
            block = block[:, ::-1]
        out[:, sl] = block
        if v.row_even_odd:  # an alternating offset of the lines, each output its own
            out[:, sl] += row_sign * rng.normal(0.0, v.row_even_odd)
    if layout.slow_sign < 0:
        out = out[::-1]
    return out if layout.fast_axis == 1 else out.T


def _stars(rng, shape, n, *, flux_range=(1.0, 3000.0)) -> np.ndarray:
    """Stars: Gaussian core (sigma 1.2 px) plus power-law wings, DN/s."""
    ny, nx = shape
    img = np.zeros(shape)
    half = 20
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    for _ in range(n):
        y0, x0 = rng.uniform(0, ny), rng.uniform(0, nx)
        f = np.exp(rng.uniform(*np.log(flux_range)))
        iy, ix = int(y0), int(x0)
        dy, dx = yy - (y0 - iy), xx - (x0 - ix)
        r2 = dy * dy + dx * dx
        psf = np.exp(-r2 / (2 * 1.2**2)) / (2 * np.pi * 1.2**2) + 0.003 / (1 + r2 / 4.0) ** 1.5
        y1, y2 = max(iy - half, 0), min(iy + half + 1, ny)
        x1, x2 = max(ix - half, 0), min(ix + half + 1, nx)
        img[y1:y2, x1:x2] += (
            f * psf[y1 - iy + half : y2 - iy + half, x1 - ix + half : x2 - ix + half]
        )
    return img


def _perturbation(
    rng: np.random.Generator, v: Variant, shape: tuple[int, int], ref: np.ndarray
) -> np.ndarray | None:
    """The light that ``v.extra["crowding"]`` and ``v.extra["outliers"]`` add (DN/s, 0 on
    the reference pixels), or None without them."""
    crowding = float(v.extra.get("crowding", 1.0))
    fraction = float(v.extra.get("outliers", 0.0))
    if crowding == 1.0 and fraction == 0.0:
        return None
    ny, nx = shape
    more = np.zeros(shape)
    if crowding != 1.0:  # (the scene's own stars are there already)
        more += _stars(rng, shape, int((crowding - 1.0) * (300 * ny * nx / 2048**2 + 5)))
    if fraction:  # single pixels, no wings
        hit = rng.random(shape) < fraction
        n_hit = int(hit.sum())
        value = np.exp(rng.uniform(np.log(0.3), np.log(100.0), n_hit))
        negative = rng.random(n_hit) < 0.2
        value[negative] = -np.exp(rng.uniform(np.log(0.3), np.log(5.0), int(negative.sum())))
        more[hit] += value
    more[ref] = 0.0
    return more


def make_frame(rng: np.random.Generator, layout, v: Variant) -> dict[str, np.ndarray]:
    """One independent rate (or rateints) frame with its truth.

    The scene is drawn first; then, per integration, the white noise and the 1/f (the draws of
    integration 0 are those of a single-integration frame).

    Returns
    -------
    dict
        ``sci`` (float32, DN/s), ``rate_no1f`` (the same without 1/f), ``rate_clean`` (also
        without the line noise that the reference-pixel step puts into the truth: scene plus
        white noise), each of shape (ny, nx), or (nints, ny, nx) when ``v.nints > 1``;
        ``scene`` (noise-free rate, DN/s), ``sky`` (DN/s) and ``empty`` (uint8: no source
        flux above 0.2 % of the white noise), each (ny, nx), shared by all integrations.
    """
    if v.nints < 1:
        raise ValueError(f"nints must be at least 1, not {v.nints}")
    ny, nx = layout.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    sky = 0.3 + 0.08 * yy / ny + 0.04 * xx / nx
    src = np.zeros((ny, nx))
    slow = yy if layout.fast_axis == 1 else xx  # position across lines
    n_slow = ny if layout.fast_axis == 1 else nx
    along = xx if layout.fast_axis == 1 else yy  # position along the lines
    n_along = nx if layout.fast_axis == 1 else ny
    if v.scene == "miri":  # no sky left of the imager's field, only a faint dark level
        dark = xx < int(v.extra.get("dark_columns", 0))
        sky = np.where(dark, 0.02, sky)
        src += np.where(dark, 0.0, _stars(rng, (ny, nx), int(300 * ny * nx / 2048**2) + 5))
    saturated = None
    if v.scene == "saturated_star":  # NaN core, wide wings, spikes along both axes
        y0, x0 = 0.44 * ny + 0.3, 0.54 * nx + 0.7
        r2 = (yy - y0) ** 2 + (xx - x0) ** 2
        src += 150.0 / (1 + r2 / 4.0) ** 1.5
        src += 10.0 * np.exp(-0.5 * (yy - y0) ** 2) / (1 + np.abs(xx - x0) / 10.0)
        src += 10.0 * np.exp(-0.5 * (xx - x0) ** 2) / (1 + np.abs(yy - y0) / 10.0)
        saturated = r2 < 15.0**2
    if v.scene in ("stars", "band", "narrow_band", "blob", "galaxy", "saturated_star"):
        src += _stars(rng, (ny, nx), int(300 * ny * nx / 2048**2) + 5)
    if v.scene == "band":  # emission filling whole lines, smooth across lines
        src += 0.4 * np.exp(-0.5 * ((slow - 0.6 * n_slow) / (0.08 * n_slow)) ** 2)
    if v.scene == "blob":  # a diffuse nebula, brighter in some outputs than in others
        src += 0.2 * np.exp(
            -0.5 * ((slow - 0.6 * n_slow) / (0.075 * n_slow)) ** 2
            - 0.5 * ((along - 0.45 * n_along) / (0.19 * n_along)) ** 2
        )
    if v.scene == "galaxy":  # an exponential disk 100 pixels past the middle output boundary
        r = np.hypot((slow - 0.55 * n_slow) / 1.0, (along - (n_along / 2 + 100)) / 1.3)
        src += 0.6 * np.exp(-r / 100.0)
    if v.scene == "narrow_band":
        src += 0.3 * np.exp(-0.5 * ((slow - 0.4 * n_slow) / 40.0) ** 2)
    if v.scene == "trace":  # a bright trace along the lines (rows), over part of them
        prof = np.exp(-0.5 * ((slow - 0.45 * n_slow) / 2.0) ** 2) + 0.01 / (
            1 + ((slow - 0.45 * n_slow) / 3.0) ** 2
        )
        amp = float(v.extra.get("trace_amp", 60.0))
        src += amp * prof * ((along > 0.2 * along.max()) & (along < 0.85 * along.max()))
    if v.scene == "traces":  # spectra along the dispersion (across the NIRSpec columns)
        for _ in range(int(v.extra.get("n_traces", 40))):
            y0 = rng.uniform(8, ny - 8)
            x1, x2 = sorted(rng.uniform(0, nx, 2))
            amp = np.exp(rng.uniform(np.log(0.5), np.log(30.0)))
            prof = np.exp(-0.5 * ((yy - y0) / 1.5) ** 2) + 0.005 / (1 + ((yy - y0) / 3.0) ** 2)
            src += amp * prof * ((xx > x1) & (xx < x2))
    if v.scene == "ifu":  # NIRSpec IFU-like: 30 slice spectra across the columns, half lit
        sky = np.full((ny, nx), 0.02)  # the gaps between the slices see no sky
        pitch = ny / 31.0
        rs = np.random.default_rng(77)  # the same slices for every seed
        for k in range(30):
            y0 = pitch * (k + 0.75) + 6.0 * ((xx - nx / 2) / (nx / 2)) ** 2
            y1 = y0 + pitch / 2
            inside = expit((yy - y0) / 0.7) * expit((y1 - yy) / 0.7)
            # faint wings into the gaps (0.3 % of the slice's light, falling over 3 pixels)
            outside = np.maximum(np.maximum(y0 - yy, yy - y1), 0.0)
            wings = 0.003 * np.exp(-outside / 3.0)
            level = rs.uniform(0.3, 2.0) * (1.0 + 0.5 * np.sin(xx / nx * rs.uniform(2, 6)))
            for _ in range(3):  # emission lines
                level = level + rs.uniform(2, 20) * np.exp(
                    -0.5 * ((xx - rs.uniform(0, nx)) / 1.5) ** 2
                )
            src += level * (inside + wings) * ((xx > 0.05 * nx) & (xx < 0.97 * nx))
    if v.scene == "soss":  # orders dispersed across the lines, a few tens of pixels wide
        u = slow / n_slow  # dispersion coordinate, 0..1
        for centre, curve, amp, lo, hi in (
            (0.35, 0.15, 50.0, 0.03, 1.0),
            (0.65, 0.1, 15.0, 0.15, 0.85),
        ):
            c = n_along * (centre + curve * ((u - 0.5) / 0.5) ** 2)
            d = (along - c) / 8.0
            prof = np.exp(-0.5 * d**4) + 0.002 / (1 + (d * 0.8) ** 2)
            src += amp * np.clip(1.2 - u, 0.1, 1.0) * prof * ((u > lo) & (u < hi))
    ref = layout.reference_mask()
    scene = np.where(ref, 0.0, sky + src)
    sky = np.where(ref, 0.0, sky)
    sigma = np.sqrt(0.1**2 + 0.01 * scene)
    cols = np.zeros(0, dtype=np.int64)
    if v.refpix_step:
        _, ref_pixels = layout.reference_lines_and_pixels()
        cols = np.flatnonzero(ref_pixels)
    out: dict[str, list[np.ndarray]] = {"sci": [], "rate_no1f": [], "rate_clean": []}
    for _ in range(v.nints):  # the same scene; white noise and 1/f of each integration
        truth = scene + rng.normal(size=(ny, nx)) * sigma
        clean = truth.copy()  # without the reference-pixel step's line noise either
        data = truth + _one_over_f(rng, layout, v)
        if cols.size:
            for arr in (data, truth):
                canon = arr if layout.fast_axis == 1 else arr.T
                side = uniform_filter1d(canon[:, cols].mean(axis=1), 11, mode="nearest")
                canon -= side[:, None]
        if v.nan_refpix:
            data[ref] = np.nan
        if saturated is not None:  # (no usable ramp: NaN in the rate file)
            data[saturated] = np.nan
        if "nan_box" in v.extra:
            y0, y1, x0, x1 = v.extra["nan_box"]
            data[int(y0 * ny) : int(y1 * ny), int(x0 * nx) : int(x1 * nx)] = np.nan
        for key, arr in (("sci", data), ("rate_no1f", truth), ("rate_clean", clean)):
            out[key].append(arr.astype(np.float32))
    more = _perturbation(rng, v, (ny, nx), ref)
    if more is not None:  # (drawn last: the frame is otherwise the unperturbed one)
        src = src + more
        scene = scene + more
        for i in range(v.nints):
            add = (more + rng.normal(size=(ny, nx)) * np.sqrt(0.01 * np.abs(more))).astype(
                np.float32
            )
            for key in out:
                out[key][i] += add
    empty = (np.abs(src) < 2e-4) & ~ref
    frame = {k: (a[0] if v.nints == 1 else np.stack(a)) for k, a in out.items()}
    return frame | {"scene": scene, "sky": sky, "empty": empty.astype(np.uint8)}


def truth_and_oracle(frame: dict[str, np.ndarray], layout) -> tuple[Any, np.ndarray]:
    """The benchmark truth of a frame of :func:`make_frame`, and its perfect-mask correction.

    Returns
    -------
    truth : benchmarks.metrics.Truth
        For :func:`benchmarks.metrics.evaluate_prepared` (``stripe_gain`` included; one truth
        frame per integration of a rateints frame).
    oracle : numpy.ndarray of float32, shape of ``frame["sci"]``
        The oracle of ``bench_destripe.py`` (per integration, reference pixels excluded).
    """
    return _truth(frame, layout), _oracle(_case(frame), layout)


def _case(frame: dict[str, np.ndarray]) -> CaseData:
    """A frame of :func:`make_frame` as the benchmark's case data (no DQ, no header)."""
    return CaseData(
        sci=frame["sci"],
        dq=None,
        header={},
        rate_no1f=frame["rate_no1f"],
        scene=frame["scene"],
        sky=frame["sky"],
        empty=frame["empty"],
    )


def _truth(frame: dict[str, np.ndarray], layout, key: str = "rate_no1f") -> Any:
    """The benchmark truth of a frame, with ``frame[key]`` as the rate without 1/f."""
    return case_truth(_case(frame), layout, frame[key], data=frame["sci"])


def _window(detector: str, subarray: str, exp_type: str, label: str = "", **kw: Any) -> Variant:
    """A variant of a real subarray layout (its geometry and outputs from the instrument
    tables), with the instrument's usual filter elements; named ``"DETECTOR SUBARRAY"`` plus
    ``label``."""
    inst = {"NRC": "NIRCAM", "NRS": "NIRSPEC", "NIS": "NIRISS", "MIR": "MIRI"}[exp_type[:3]]
    elements = {
        "NIRCAM": {"filter": "F150W", "pupil": "CLEAR"},
        "NIRSPEC": {"filter": "F290LP", "pupil": None, "grating": "G395H"},
        "NIRISS": {"filter": "F150W", "pupil": "CLEARP"},
        "MIRI": {"filter": "F770W", "pupil": None, "refpix_step": False, "row_even_odd": 0.02},
    }[inst]
    name = f"{detector} {subarray}{label}"
    return Variant(name, detector=detector, subarray=subarray, exp_type=exp_type, **(elements | kw))


_TSGRISM = {"filter": "F322W2", "pupil": "GRISMR", "scene": "trace"}
_SOSS = {"filter": "CLEAR", "pupil": "GR700XD", "scene": "soss"}

#: Real subarray layouts: the frame sizes, outputs and reference pixels users meet, each with
#: the scene of its usual science (stars for imaging windows, a trace along the lines for the
#: grism time-series windows, one or a few traces across the columns of NIRSpec's slit and
#: bright-object windows, SOSS orders).
SUBARRAYS: tuple[Variant, ...] = (
    *(_window("NRCA1", sub, "NRC_IMAGE") for sub in ("SUB640", "SUB320", "SUB160", "SUB400P")),
    _window("NRCA1", "SUB64P", "NRC_IMAGE"),
    _window("NRCALONG", "SUBGRISM128", "NRC_TSGRISM", **_TSGRISM),
    _window("NRCALONG", "SUBGRISM256_1OUT", "NRC_TSGRISM", **_TSGRISM),
    *(
        _window(
            "NRS1", sub, exp, f", {n} trace{'s' * (n > 1)}", scene="traces", extra={"n_traces": n}
        )
        for sub, exp, n in (
            ("SUB2048", "NRS_BRIGHTOBJ", 1),
            ("SUBS200A1", "NRS_FIXEDSLIT", 1),
            ("SUBS200A1", "NRS_FIXEDSLIT", 3),
        )
    ),
    *(_window("NIS", sub, "NIS_IMAGE") for sub in ("SUB256", "SUB128", "SUB64")),
    _window("NIS", "SUBSTRIP96", "NIS_SOSS", **_SOSS),
    *(_window("MIRIMAGE", sub, "MIR_IMAGE") for sub in ("BRIGHTSKY", "SUB256", "SUB128", "SUB64")),
)

#: Every variant of :data:`VARIANTS` and :data:`SUBARRAYS` by name.
BY_NAME: dict[str, Variant] = {v.name: v for v in (*VARIANTS, *SUBARRAYS)}


def _meta(v: Variant) -> dict[str, Any]:
    from jwst1f import instruments as ins
    from jwst1f.simulate.metadata import ExposureIds, Pointing, exposure_metadata

    det = ins.get_detector(v.detector)
    sub = ins.get_subarray(det.detector, v.subarray)
    readpatt = {"NIRCAM": "RAPID", "NIRISS": "NISRAPID", "MIRI": "FAST"}.get(
        det.instrument, "NRSRAPID"
    )
    patt = ins.READOUT_PATTERNS[readpatt]
    return exposure_metadata(
        det=det,
        sub=sub,
        exp_type=v.exp_type,
        filter=v.filter,
        pupil=v.pupil,
        grating=v.grating,
        readpatt=readpatt,
        nframes=patt.nframes,
        groupgap=patt.groupgap,
        ngroups=6,
        nints=v.nints,
        tframe=ins.frame_time(det.detector, sub),
        pointing=Pointing(),
        ids=ExposureIds(),
        start=datetime(2025, 6, 1, 3, 0, 0, tzinfo=UTC),
    )


def _write(meta: dict[str, Any], sci: np.ndarray, path: Path) -> Path:
    """Write ``sci`` as a rate file (ImageModel), or a rateints file (CubeModel) when 3-D."""
    from stdatamodels.jwst import datamodels as dm

    from jwst1f.simulate.metadata import apply_meta

    err = np.full(sci.shape, 0.1, np.float32)
    model = (dm.CubeModel if sci.ndim == 3 else dm.ImageModel)(
        data=sci,
        err=err,
        dq=np.zeros(sci.shape, np.uint32),
        var_poisson=err**2,
        var_rnoise=err**2,
        var_flat=np.zeros(sci.shape, np.float32),
    )
    apply_meta(model, meta)
    model.meta.bunit_data = "DN/s"
    model.meta.bunit_err = "DN/s"
    model.save(str(path))
    model.close()
    return path


def run_independent(
    seeds: list[int],
    *,
    cfn: bool = True,
    variants: list[str] | None = None,
    pool: tuple[Variant, ...] = VARIANTS,
    repeats: int = 1,
    cfn_repeats: int = 1,
) -> dict[str, dict[str, Any]]:
    """Evaluate every method on every variant; means over ``seeds``.

    Parameters
    ----------
    seeds : list of int
        Seeds; the generator of seed ``s`` is ``numpy.random.default_rng(10_000 + s)``.
    cfn : bool
        Also run CleanFlickerNoiseStep (writes a rate or rateints file per variant and seed).
    variants : list of str, optional
        Names of the variants to run (default: all of ``pool``).
    pool : tuple of Variant
        The variants to choose from: :data:`VARIANTS` or :data:`SUBARRAYS`.
    repeats : int
        Timed runs of jwst1f per variant and seed, after an untimed one (best of).
    cfn_repeats : int
        Timed runs of CleanFlickerNoiseStep per variant and seed (best of; see
        :func:`benchmarks.peers.cfn.run_cfn`).

    Returns
    -------
    dict
        variant name -> method -> metrics (``stripe_rms``, ``stripe_gain``, ``bias_pct``,
        ... as :func:`benchmarks.metrics.evaluate_prepared`, pooled over the integrations of a
        rateints frame) plus ``x_oracle`` and ``seconds`` (CPU seconds per 2-D frame).
    """
    from jwst1f.destripe import destripe
    from jwst1f.geometry import layout_from_header
    from jwst1f.simulate.metadata import header_from_meta

    results: dict[str, dict[str, Any]] = {}
    notes: dict[str, str] = {}  # variant -> why a peer gave no result
    chosen = pool
    if variants is not None:
        unknown = set(variants) - {v.name for v in pool}
        if unknown:
            raise ValueError(f"unknown independent variants: {', '.join(sorted(unknown))}")
        chosen = tuple(v for v in pool if v.name in variants)
    with tempfile.TemporaryDirectory(prefix="jwst1f_indep_") as tmp:
        for v in chosen:
            meta = _meta(v)
            layout = layout_from_header(header_from_meta(meta))
            per: dict[str, list[dict[str, Any]]] = {}
            for seed in seeds:
                rng = np.random.default_rng(10_000 + seed)
                f = make_frame(rng, layout, v)
                truth, oracle = truth_and_oracle(f, layout)
                clean = None
                if v.refpix_step:  # the same frame judged against the truth without line noise
                    clean = _truth(f, layout, "rate_clean")
                runs: dict[str, tuple[np.ndarray | None, float]] = {"oracle": (oracle, np.nan)}
                for name, corr in _sky_floors(_case(f), layout).items():
                    runs[name] = (corr, np.nan)
                res = destripe(f["sci"], layout)  # (untimed: the first run pays for fresh memory)
                best = np.inf
                for _ in range(max(repeats, 1)):
                    t0 = time.process_time()
                    destripe(f["sci"], layout)
                    best = min(best, time.process_time() - t0)
                runs["jwst1f"] = (res.corrected, best)
                try:
                    t0 = time.process_time()
                    corr, _ = seed_correct(
                        f["sci"], instrument=layout.instrument, subarray=layout.subarray
                    )
                    runs["seed"] = (corr, time.process_time() - t0)
                except SeedUnsupported:
                    pass
                if cfn:
                    product = "rateints" if v.nints > 1 else "rate"
                    stem = v.name.replace(" ", "_").replace(",", "")
                    path = _write(meta, f["sci"], Path(tmp) / f"{stem}_{seed}_{product}.fits")
                    r = run_cfn(path, repeats=cfn_repeats)
                    if r.corrected is not None:
                        runs["cfn"] = (r.corrected, r.seconds)
                    else:
                        notes[v.name] = f"CleanFlickerNoiseStep {r.status}"
                for method, (corr, sec) in runs.items():
                    m = evaluate_prepared(corr, truth)
                    m["seconds"] = sec / v.nints  # per 2-D frame
                    m["stripe_rms_clean"] = (
                        evaluate_prepared(corr, clean)["stripe_rms"] if clean else np.nan
                    )
                    per.setdefault(method, []).append(m)
                log.info("independent %s seed %d done", v.name, seed)
            rows: dict[str, Any] = {}
            for method, ms in per.items():
                rows[method] = {
                    k: _mean([m[k] for m in ms])
                    for k in (
                        "stripe_rms",
                        "stripe_rms_clean",
                        "stripe_gain",
                        "bias_pct",
                        "trench_sigma",
                        "seconds",
                    )
                }
                # (one seed's bias scatters by per cents in small windows: its typical size)
                rows[method]["bias_abs_pct"] = _mean([abs(m["bias_pct"]) for m in ms])
            o = rows["oracle"]["stripe_rms"]
            oc = rows["oracle"]["stripe_rms_clean"]
            for method in rows:
                rows[method]["x_oracle"] = rows[method]["stripe_rms"] / o if o else float("nan")
                rows[method]["x_oracle_clean"] = (
                    rows[method]["stripe_rms_clean"] / oc if oc else np.nan
                )
            rows["_shape"] = layout.shape if v.nints == 1 else (v.nints, *layout.shape)
            if v.name in notes:
                rows["_note"] = notes[v.name]
            results[v.name] = rows
    return results


def _mean(values: list[float]) -> float:
    """Mean of the finite values; NaN if there is none."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


#: What the independent tables' *sky unknown* column is.
SKY_UNKNOWN = (
    "*Sky unknown, flat / line*: the oracle's perfect mask with the sky across lines not "
    "known but a flat level / a straight line fitted to the line means over the empty pixels "
    "(minus the lines' reference-pixel levels in one-output windows whose lines hold them; "
    "the means themselves, averaged over the outputs, in windows whose lines hold none; "
    "`benchmarks.metrics.sky_unknown_floor_correct`), × the oracle, which knows the sky: "
    "what a perfect mask allows where the window cannot tell a sky gradient from the slow "
    "stripes (– where not defined: several outputs with reference pixels)."
)


def markdown(
    results: dict[str, dict[str, Any]],
    command: str,
    seeds: list[int],
    *,
    subarrays: bool = False,
) -> list[str]:
    """The Markdown section of ``RESULTS.md`` for the independent cases (or, with
    ``subarrays``, for the real subarray layouts of :data:`SUBARRAYS`)."""
    head = (
        [
            "## Real subarray layouts (independent generator)",
            "",
            "The generator of the section above on the subarrays users meet (geometry, outputs "
            "and reference pixels from the instrument tables): stars on imaging windows, a "
            "trace along the lines of the grism time-series windows, one or three traces "
            "across the columns of NIRSpec's slit windows (32 and 64 pixels per line), NIRISS "
            "SOSS orders. The sky gradient of the generator (0.08 DN/s across the lines and "
            "0.04 along them) spans every window, however small.",
            "",
        ]
        if subarrays
        else ["## Independent cases (not made by jwst1f.simulate)", ""]
    )
    intro = [
        "Produced by the same command, `benchmarks/independent.py`: pink 1/f noise drawn "
        "directly along each output's pixel clock, rates drawn directly (no ramps), stars with "
        "power-law wings, optional emission bands and traces; see the module docstring. "
        f"Seeds {', '.join(map(str, seeds))}; means over seeds. Stripe rms as a multiple of the "
        "oracle's; *gain* as above; *bias* in % of the source flux (oracle's in brackets). "
        "Rateints variants (shape nints×ny×nx: the same scene in every integration, their 1/f "
        "and white noise independent) pool the channel-lines of all integrations; seconds are "
        "CPU seconds per 2-D frame (per integration), the best of the timed runs of each method "
        "(jwst1f's after an untimed one).",
        "",
        "*vs clean truth*: where the pipeline's side reference-pixel correction is mimicked, it "
        "puts the reference pixels' noise, smoothed over 11 lines, into the data and into the "
        "truth alike, as a line pattern that a method is then penalised for removing. This "
        "column judges the same corrected frames against the truth without it (scene plus "
        "white noise; the oracle then removes it too, and its floor is the white noise alone): "
        "how much of all the striping in the image is gone (jwst1f / CFN, × that oracle).",
        "",
        SKY_UNKNOWN,
        "",
    ]
    lines = head + (
        [
            f"Seeds {', '.join(map(str, seeds))}; means over seeds.",
            "",
            SKY_UNKNOWN,
            "",
            "*|bias| per seed*: the mean over the seeds of each seed's absolute flux bias (the "
            "perfect mask's and, where defined, its sky-unknown variants' too): in small and "
            "slit windows one exposure's bias scatters by per cents for any method, which the "
            "mean alone hides.",
            "",
        ]
        if subarrays
        else intro
    )
    lines += [
        f"Command: `{command}`",
        "",
        "| case | shape | jwst1f | seed routine | CFN median | gain jwst1f / CFN | "
        "bias jwst1f (oracle) % | bias CFN % | vs clean truth jwst1f / CFN | "
        "sky unknown, flat / line | "
        + (
            "\\|bias\\| per seed, jwst1f / oracle / sky unknown flat / line % | "
            if subarrays
            else ""
        )
        + "jwst1f s | CFN s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if subarrays else ""),
    ]

    g = cell
    for name, rows in results.items():
        shape = "×".join(map(str, rows["_shape"]))
        floors = (
            " / ".join(g(rows, f, "x_oracle", ".2f") for f in FLOORS)
            if any(f in rows for f in FLOORS)
            else "–"
        )
        spread = ""
        if subarrays:
            spread = " / ".join(
                g(rows, m, "bias_abs_pct", ".2f")
                for m in ("jwst1f", "oracle", *FLOORS)
                if m in rows
            )
            spread += " | "
        lines.append(
            f"| {name} | {shape} | **{g(rows, 'jwst1f', 'x_oracle', '.2f')}** | "
            f"{g(rows, 'seed', 'x_oracle', '.2f')} | {g(rows, 'cfn', 'x_oracle', '.2f')} | "
            f"{g(rows, 'jwst1f', 'stripe_gain', '.2f')} / {g(rows, 'cfn', 'stripe_gain', '.2f')} | "
            f"{g(rows, 'jwst1f', 'bias_pct', '+.2f')} ({g(rows, 'oracle', 'bias_pct', '+.2f')}) | "
            f"{g(rows, 'cfn', 'bias_pct', '+.2f')} | "
            f"{g(rows, 'jwst1f', 'x_oracle_clean', '.2f')} / "
            f"{g(rows, 'cfn', 'x_oracle_clean', '.2f')} | {floors} | {spread}"
            f"{g(rows, 'jwst1f', 'seconds', '.3f')} | "
            f"{g(rows, 'cfn', 'seconds', '.2f')} |"
        )
    return lines + note_lines(results) + [""]


def cell(rows: dict[str, Any], method: str, key: str, spec: str) -> str:
    """One table cell: ``rows[method][key]`` formatted with ``spec``, or – if not finite."""
    v = rows.get(method, {}).get(key, float("nan"))
    return "–" if not np.isfinite(v) else format(v, spec)


def method_cells(rows: dict[str, Any]) -> str:
    """The cells of one frame's row shared by the sweep and stress tables: jwst1f's, the
    seed routine's and CleanFlickerNoiseStep's stripe rms x oracle, the flux biases of
    jwst1f (the oracle's) and CleanFlickerNoiseStep, and their seconds (ends with ``|``)."""
    g = cell
    return (
        f"**{g(rows, 'jwst1f', 'x_oracle', '.2f')}** | {g(rows, 'seed', 'x_oracle', '.2f')} | "
        f"{g(rows, 'cfn', 'x_oracle', '.2f')} | "
        f"{g(rows, 'jwst1f', 'bias_pct', '+.2f')} ({g(rows, 'oracle', 'bias_pct', '+.2f')}) | "
        f"{g(rows, 'cfn', 'bias_pct', '+.2f')} | {g(rows, 'jwst1f', 'seconds', '.3f')} | "
        f"{g(rows, 'cfn', 'seconds', '.2f')} |"
    )


#: The header cells that :func:`method_cells` fills.
METHOD_HEADER = (
    "jwst1f | seed routine | CFN median | bias jwst1f (oracle) % | bias CFN % | jwst1f s | CFN s |"
)


def command_line(module: str, argv: list[str] | None) -> str:
    """``python -m <module> <arguments>``: the command that made a report (``argv`` None:
    this process's own arguments)."""
    args = shlex.join(sys.argv[1:] if argv is None else argv)
    return f"python -m {module} {args}".strip()


def write_report(lines: list[str], path: Path | None) -> None:
    """A report's Markdown lines to ``path``, or to standard output if None."""
    text = "\n".join(lines) + "\n"
    if path:
        path.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def note_lines(results: dict[str, dict[str, Any]]) -> list[str]:
    """The notes (why a peer gave no result) under a table, one list item each."""
    lines: list[str] = []
    for name, rows in results.items():
        if "_note" in rows:
            lines += ["", f"- {name}: {rows['_note']}."]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Quick look: ``python -m benchmarks.independent [--variants NAME ...] [--seeds S ...]``."""
    import argparse
    import shlex
    import sys

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", help="names of the variants (default: all)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--no-cfn", action="store_true", help="skip CleanFlickerNoiseStep")
    ap.add_argument(
        "--subarrays", action="store_true", help="the real subarray layouts (SUBARRAYS)"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    pool = SUBARRAYS if args.subarrays else VARIANTS
    res = run_independent(args.seeds, cfn=not args.no_cfn, variants=args.variants, pool=pool)
    command = "python -m benchmarks.independent " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    text = markdown(res, command.strip(), args.seeds, subarrays=args.subarrays)
    sys.stdout.write("\n".join(text) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
