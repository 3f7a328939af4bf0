"""Quality metrics of a 1/f correction measured against simulator truth.

Every metric compares a corrected rate image with the truth ``rate_no1f`` (the same exposure,
same white noise, without the 1/f components), so the residual ``corrected - rate_no1f`` holds
only what the correction got wrong: left-over stripes, removed sky or removed source flux.

Definitions (all in DN/s unless stated):

* **channel-line**: the pixels of one line along the fast-read direction (a row when
  ``layout.fast_axis == 1``, a column when ``layout.fast_axis == 0``) that belong to one output
  channel (contiguous segments between ``layout.channel_edges``, or every n-th pixel when
  ``layout.interleaved``).
* **background pixels**: truly empty (``EMPTY == 1``), finite, not flagged DO_NOT_USE,
  SATURATED or REFERENCE_PIXEL, and not reference pixels of ``layout.reference_mask()``.
* **residual stripe rms**: the rms over channel-lines of the mean residual over the
  background pixels of that channel-line, after subtracting the mean residual over all
  background pixels (that global offset is reported separately as ``offset``, since removing
  sky is a flux error, not a stripe).
* **flux bias**: ``sum(corrected - rate_no1f - offset) / sum(scene - sky)`` over source
  apertures (connected non-empty regions), in per cent: the flux a correction adds to or
  takes from sources relative to its own background level (what local-background photometry
  sees; a global level, which no method can tell from sky, is in ``offset``). The absolute
  version, without removing ``offset``, is reported as ``bias_abs_pct``.
* **trench**: mean residual in an annulus just outside the brightest sources, minus the
  mean residual over all background pixels, in units of the per-pixel white noise.
* **oracle**: for each channel-line, subtract the mean of ``data - scene`` over its truly
  empty, unflagged pixels (the best any mask can do).
* **sky-unknown floor** (one-output windows whose lines hold reference pixels): the same
  perfect mask, but the sky is not known: each line's mean over its empty pixels holds sky
  plus 1/f, and the sky across lines is a polynomial (flat or straight) fitted to those means
  minus the lines' reference-pixel levels (which see the 1/f and no sky). What a method that
  finds every source exactly can do when it must also find the sky.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy import ndimage

__all__ = [
    "BAD_DQ",
    "LayoutLike",
    "ChannelLines",
    "channel_lines",
    "background_mask",
    "channel_line_means",
    "oracle_correct",
    "sky_unknown_floor_correct",
    "white_noise_sigma",
    "source_apertures",
    "stripe_metrics",
    "flux_bias",
    "trench",
    "TruthFrame",
    "Truth",
    "prepare_truth",
    "evaluate_prepared",
    "evaluate",
]

#: DQ bits that exclude a pixel from every measurement: DO_NOT_USE, SATURATED, REFERENCE_PIXEL.
BAD_DQ = np.uint32(1 | 2 | (1 << 31))


class LayoutLike(Protocol):
    """The part of :class:`jwst1f.geometry.ReadoutLayout` that the metrics need."""

    fast_axis: int
    channel_edges: tuple[int, ...]
    interleaved: bool
    n_channels: int


@dataclass(frozen=True)
class ChannelLines:
    """Label of every pixel by channel-line.

    Attributes
    ----------
    labels : ndarray of int64, shape (ny, nx)
        ``line * n_channels + channel`` for every pixel.
    n_labels : int
        Number of channel-lines, ``n_lines * n_channels``.
    n_channels : int
        Number of output channels.
    """

    labels: np.ndarray
    n_labels: int
    n_channels: int


def channel_lines(layout: LayoutLike, shape: tuple[int, int]) -> ChannelLines:
    """Label every pixel of a 2-D frame with its channel-line.

    Parameters
    ----------
    layout : LayoutLike
        Readout layout (``fast_axis``, ``channel_edges``, ``interleaved``, ``n_channels``).
    shape : tuple of int
        Frame shape (ny, nx).

    Returns
    -------
    ChannelLines
        Labels of shape (ny, nx).
    """
    fast = int(layout.fast_axis)
    n_along = shape[fast]
    n_lines = shape[1 - fast]
    nch = max(int(layout.n_channels), 1)
    pos = np.arange(n_along)
    if hasattr(layout, "channel_index"):  # jwst1f.geometry.ReadoutLayout knows MIRI phases
        chan = np.asarray(layout.channel_index(), dtype=np.int64)
    elif getattr(layout, "interleaved", False):
        chan = pos % nch
    else:
        edges = np.asarray(layout.channel_edges, dtype=np.int64)
        if edges.size >= 2:
            chan = np.clip(np.searchsorted(edges, pos, side="right") - 1, 0, nch - 1)
        else:
            chan = np.zeros(n_along, dtype=np.int64)
    line = np.arange(n_lines)
    if fast == 1:
        labels = line[:, None] * nch + chan[None, :]
    else:
        labels = chan[:, None] + line[None, :] * nch
    return ChannelLines(labels=labels.astype(np.int64), n_labels=n_lines * nch, n_channels=nch)


def background_mask(empty: np.ndarray, dq: np.ndarray | None, data: np.ndarray) -> np.ndarray:
    """True where a pixel is truly empty, finite and not flagged.

    Parameters
    ----------
    empty : ndarray, shape (ny, nx)
        Truth ``EMPTY`` map (non-zero where no astrophysical source).
    dq : ndarray of uint32, shape (ny, nx), or None
        Data-quality flags.
    data : ndarray, shape (ny, nx)
        The data whose finiteness is required.

    Returns
    -------
    ndarray of bool, shape (ny, nx)
    """
    good = (np.asarray(empty) != 0) & np.isfinite(data)
    if dq is not None:
        good &= (np.asarray(dq).astype(np.uint32) & BAD_DQ) == 0
    return good


def channel_line_means(
    values: np.ndarray, use: np.ndarray, lines: ChannelLines
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` over the ``use`` pixels of every channel-line.

    Parameters
    ----------
    values : ndarray, shape (ny, nx)
    use : ndarray of bool, shape (ny, nx)
    lines : ChannelLines

    Returns
    -------
    means : ndarray of float64, shape (n_labels,)
        NaN where a channel-line has no usable pixel.
    counts : ndarray of int64, shape (n_labels,)
    """
    lab = lines.labels[use]
    v = np.asarray(values, dtype=np.float64)[use]
    counts = np.bincount(lab, minlength=lines.n_labels)
    sums = np.bincount(lab, weights=v, minlength=lines.n_labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return means, counts


def oracle_correct(
    data: np.ndarray,
    scene: np.ndarray,
    empty: np.ndarray,
    dq: np.ndarray | None,
    lines: ChannelLines,
) -> np.ndarray:
    """Perfect-mask correction of one frame.

    For each channel-line, subtract the mean of ``data - scene`` over its truly empty,
    unflagged pixels. A channel-line with no empty pixel uses all its unflagged pixels
    (``data - scene`` is still known exactly there); one with no usable pixel at all is left
    unchanged.

    Parameters
    ----------
    data : ndarray, shape (ny, nx)
        Rate with 1/f noise, DN/s.
    scene : ndarray, shape (ny, nx)
        Noise-free rate (sky and sources), DN/s.
    empty : ndarray, shape (ny, nx)
        Truth EMPTY map.
    dq : ndarray of uint32, shape (ny, nx), or None
    lines : ChannelLines

    Returns
    -------
    ndarray of float32, shape (ny, nx)
    """
    diff = np.asarray(data, dtype=np.float64) - scene
    bg = background_mask(empty, dq, diff)
    means, counts = channel_line_means(diff, bg, lines)
    if np.any(counts == 0):
        allgood = background_mask(np.ones_like(empty), dq, diff)
        m_all, c_all = channel_line_means(diff, allgood, lines)
        means = np.where(counts > 0, means, np.where(c_all > 0, m_all, 0.0))
    return (data - means[lines.labels]).astype(np.float32)


def sky_unknown_floor_correct(
    data: np.ndarray,
    empty: np.ndarray,
    dq: np.ndarray | None,
    lines: ChannelLines,
    reference: np.ndarray | None,
    degree: int,
    *,
    min_pixels: int = 8,
) -> np.ndarray:
    """Perfect-mask correction of a frame when the sky across lines is not known.

    Each channel-line's 1/f is its mean over the truly empty pixels minus the sky, and the
    sky across lines is a polynomial of ``degree`` fitted (unweighted) over the lines with
    at least ``min_pixels`` empty pixels:

    - with ``reference`` (one-output windows whose lines hold reference pixels), to those
      means minus the mean of the line's reference pixels (whose noise, the same on every
      line, dominates); lines with fewer empty pixels (lit lines, lines made of reference
      pixels) take their reference-pixel level;
    - without (windows whose lines hold no reference pixels, any number of outputs), to the
      line means themselves, averaged over the outputs measured on the line: the slow
      stripes that such a polynomial can follow are then kept as sky. A channel-line with
      too few empty pixels takes the mean of the line's measured outputs, or, where none
      is, the value interpolated from the neighbouring lines.

    The residual of this correction is the white noise of the line means (as the oracle's)
    plus the error of the fitted sky: the floor of any per-line estimate that must tell the
    slow stripes from a sky gradient with the reference pixels, or with nothing.

    Parameters
    ----------
    data : ndarray, shape (ny, nx)
        Rate with 1/f noise, DN/s.
    empty : ndarray, shape (ny, nx)
        Truth EMPTY map.
    dq : ndarray of uint32, shape (ny, nx), or None
    lines : ChannelLines
        Of the frame's layout (one output if ``reference`` is given).
    reference : ndarray of bool, shape (ny, nx), or None
        The reference pixels of the frame (``layout.reference_mask()``) when its lines hold
        some; None when they hold none.
    degree : int
        0: a flat sky across lines; 1: a straight line.
    min_pixels : int
        Empty pixels a channel-line needs to be measured.

    Returns
    -------
    ndarray of float32, shape (ny, nx)

    Raises
    ------
    ValueError
        If ``reference`` is given for a layout of more than one output, or fewer than
        ``degree + 2`` lines are measured (with reference pixels, where given).
    """
    data = np.asarray(data, dtype=np.float64)
    if reference is None:
        return _sky_unknown_no_reference(data, empty, dq, lines, degree, min_pixels)
    if lines.n_channels != 1:
        raise ValueError(
            "the sky-unknown floor with reference pixels is defined for one-output windows only"
        )
    reference = np.asarray(reference, dtype=bool)
    bg = background_mask(empty, dq, data) & ~reference
    level, counts = channel_line_means(data, bg, lines)
    usable = reference & np.isfinite(data)
    if dq is not None:
        usable &= (np.asarray(dq).astype(np.uint32) & np.uint32(1)) == 0  # DO_NOT_USE
    ref_level, _ = channel_line_means(data, usable, lines)
    measured = (counts >= min_pixels) & np.isfinite(ref_level)
    if measured.sum() < degree + 2:
        raise ValueError(f"only {int(measured.sum())} lines measured with reference pixels")
    idx = np.arange(lines.n_labels, dtype=np.float64)
    coef = np.polyfit(idx[measured], (level - ref_level)[measured], degree)
    model = np.where(measured, level - np.polyval(coef, idx), ref_level)
    model = np.where(np.isfinite(model), model, 0.0)
    return (data - model[lines.labels]).astype(np.float32)


def _sky_unknown_no_reference(data, empty, dq, lines, degree, min_pixels):
    """:func:`sky_unknown_floor_correct` without reference pixels (see there)."""
    nch = lines.n_channels
    bg = background_mask(empty, dq, data)
    level, counts = channel_line_means(data, bg, lines)
    level = level.reshape(-1, nch)  # (lines, outputs): labels are line * nch + output
    measured = (counts.reshape(-1, nch) >= min_pixels) & np.isfinite(level)
    n_meas = measured.sum(axis=1)
    line_ok = n_meas > 0
    if line_ok.sum() < degree + 2:
        raise ValueError(f"only {int(line_ok.sum())} lines measured")
    line_mean = np.where(measured, level, 0.0).sum(axis=1) / np.maximum(n_meas, 1)
    idx = np.arange(level.shape[0], dtype=np.float64)
    sky = np.polyval(np.polyfit(idx[line_ok], line_mean[line_ok], degree), idx)
    own = np.interp(idx, idx[line_ok], (line_mean - sky)[line_ok])  # each line's mean 1/f
    model = np.where(measured, level - sky[:, None], own[:, None])
    return (data - model.ravel()[lines.labels]).astype(np.float32)


def white_noise_sigma(rate_no1f: np.ndarray, scene: np.ndarray, background: np.ndarray) -> float:
    """Robust per-pixel white-noise sigma (DN/s) of ``rate_no1f - scene`` over background."""
    d = (np.asarray(rate_no1f, dtype=np.float64) - scene)[background]
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan")
    med = np.median(d)
    return float(1.4826 * np.median(np.abs(d - med)))


def source_apertures(
    empty: np.ndarray, source_flux: np.ndarray, *, dq: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Connected source regions of the truth EMPTY map.

    Parameters
    ----------
    empty : ndarray, shape (ny, nx)
        Truth EMPTY map; apertures are the connected regions where it is zero.
    source_flux : ndarray, shape (ny, nx)
        ``scene - sky`` (DN/s), used to rank apertures by flux.
    dq : ndarray of uint32 or None
        Flagged pixels are left out of the apertures.

    Returns
    -------
    labels : ndarray of int32, shape (ny, nx)
        0 outside apertures, 1..n inside.
    flux : ndarray of float64, shape (n,)
        Total source flux of each aperture (DN/s); aperture ``k`` has label ``k + 1``.
    """
    src = np.asarray(empty) == 0
    if dq is not None:
        src &= (np.asarray(dq).astype(np.uint32) & BAD_DQ) == 0
    labels, n = ndimage.label(src)
    if n == 0:
        return labels.astype(np.int32), np.zeros(0)
    flux = np.bincount(labels.ravel(), weights=np.nan_to_num(source_flux).ravel(), minlength=n + 1)[
        1:
    ]
    return labels.astype(np.int32), flux


def flux_bias(
    residual: np.ndarray,
    source_flux: np.ndarray,
    ap_labels: np.ndarray,
    ap_flux: np.ndarray,
    *,
    n_bright: int | None = None,
) -> float:
    """Flux bias in apertures, per cent of the true source flux.

    Parameters
    ----------
    residual : ndarray, shape (ny, nx)
        ``corrected - rate_no1f`` (DN/s).
    source_flux : ndarray, shape (ny, nx)
        ``scene - sky`` (DN/s).
    ap_labels, ap_flux
        From :func:`source_apertures`.
    n_bright : int or None
        Use only the ``n_bright`` apertures with most flux (None: all).

    Returns
    -------
    float
        ``100 * sum(residual) / sum(source_flux)`` over the chosen apertures; NaN if none.
    """
    if ap_flux.size == 0:
        return float("nan")
    if n_bright is None:
        sel = ap_labels > 0
    else:
        keep = np.argsort(ap_flux)[::-1][:n_bright] + 1
        sel = np.isin(ap_labels, keep)
    ok = sel & np.isfinite(residual)
    denom = float(np.sum(source_flux[ok], dtype=np.float64))
    if denom <= 0:
        return float("nan")
    return 100.0 * float(np.sum(residual[ok], dtype=np.float64)) / denom


def trench(
    residual: np.ndarray,
    background: np.ndarray,
    ap_labels: np.ndarray,
    ap_flux: np.ndarray,
    sigma: float,
    *,
    n_bright: int = 10,
    r_in: int = 2,
    r_out: int = 10,
) -> float:
    """Depth of a trench beside the brightest sources, in units of the per-pixel noise.

    Parameters
    ----------
    residual : ndarray, shape (ny, nx)
        ``corrected - rate_no1f`` (DN/s).
    background : ndarray of bool, shape (ny, nx)
        Background pixels (see :func:`background_mask`).
    ap_labels, ap_flux
        From :func:`source_apertures`.
    sigma : float
        Per-pixel white-noise sigma (DN/s).
    n_bright : int
        Number of brightest apertures around which to look.
    r_in, r_out : int
        Inner and outer radius of the annulus, pixels from the source footprint.

    Returns
    -------
    float
        ``(mean(residual[annulus]) - mean(residual[background])) / sigma``; negative for a
        trench. NaN when there is no annulus pixel.
    """
    if ap_flux.size == 0 or not np.isfinite(sigma) or sigma <= 0:
        return float("nan")
    keep = np.argsort(ap_flux)[::-1][:n_bright] + 1
    foot = np.isin(ap_labels, keep)
    struct = ndimage.generate_binary_structure(2, 1)
    inner = ndimage.binary_dilation(foot, struct, iterations=r_in)
    outer = ndimage.binary_dilation(foot, struct, iterations=r_out)
    ann = outer & ~inner & background & np.isfinite(residual)
    bg = background & np.isfinite(residual)
    if not ann.any() or not bg.any():
        return float("nan")
    return float((residual[ann].mean() - residual[bg].mean()) / sigma)


def stripe_metrics(
    residual: np.ndarray, background: np.ndarray, lines: ChannelLines, *, min_pixels: int = 8
) -> tuple[np.ndarray, float]:
    """Per-channel-line mean residuals over background, and the global mean residual.

    Parameters
    ----------
    residual : ndarray, shape (ny, nx)
        ``corrected - rate_no1f`` (DN/s).
    background : ndarray of bool, shape (ny, nx)
    lines : ChannelLines
    min_pixels : int
        Channel-lines with fewer background pixels are left out.

    Returns
    -------
    line_means : ndarray of float64, shape (m,)
        Mean residual of each measurable channel-line (DN/s).
    offset : float
        Mean residual over all background pixels (DN/s).
    """
    use = background & np.isfinite(residual)
    means, counts = channel_line_means(residual, use, lines)
    offset = float(residual[use].mean()) if use.any() else float("nan")
    return means[counts >= min_pixels], offset


@dataclass
class TruthFrame:
    """Everything about one truth frame that does not depend on the method (precomputed once).

    Attributes
    ----------
    rate_no1f : ndarray of float64, shape (ny, nx)
    background : ndarray of bool, shape (ny, nx)
        Background pixels (before the finiteness of a method's output is applied).
    source_flux : ndarray of float64, shape (ny, nx)
        ``scene - sky`` (DN/s).
    apertures : ndarray of bool, shape (ny, nx)
        All source apertures.
    bright : ndarray of bool, shape (ny, nx)
        The ``n_bright`` apertures with most flux.
    annulus : ndarray of bool, shape (ny, nx)
        Background pixels 2-10 px outside the bright apertures.
    sigma : float
        Per-pixel white-noise sigma (DN/s).
    stripe_means : ndarray of float64, shape (n_labels,), or None
        Mean of the true 1/f component ``data - rate_no1f`` over the background pixels of
        each channel-line (NaN where there is none); None when the data were not given.
    """

    rate_no1f: np.ndarray
    background: np.ndarray
    source_flux: np.ndarray
    apertures: np.ndarray
    bright: np.ndarray
    annulus: np.ndarray
    sigma: float
    stripe_means: np.ndarray | None = None


@dataclass
class Truth:
    """Precomputed truth of one exposure (one :class:`TruthFrame` per integration)."""

    frames: list[TruthFrame]
    lines: ChannelLines


def prepare_truth(
    *,
    rate_no1f: np.ndarray,
    scene: np.ndarray,
    sky: np.ndarray,
    empty: np.ndarray,
    dq: np.ndarray | None,
    layout: LayoutLike,
    n_bright: int = 10,
    r_in: int = 2,
    r_out: int = 10,
    data: np.ndarray | None = None,
) -> Truth:
    """Precompute the method-independent parts of :func:`evaluate`.

    Parameters are those of :func:`evaluate` (``r_in``/``r_out`` as in :func:`trench`);
    ``data`` (the input rate, shape of ``rate_no1f``) enables the ``stripe_gain`` metric.
    """
    no1f = np.asarray(rate_no1f)
    cube = no1f if no1f.ndim == 3 else no1f[None]

    def per_int(a, i):
        if a is None:
            return None
        a = np.asarray(a)
        return a[i] if a.ndim == 3 else a

    lines = channel_lines(layout, cube.shape[1:])
    refpix = layout.reference_mask() if hasattr(layout, "reference_mask") else None
    struct = ndimage.generate_binary_structure(2, 1)
    frames = []
    for i in range(cube.shape[0]):
        truth = cube[i].astype(np.float64)
        sc = per_int(scene, i).astype(np.float64)
        src = sc - per_int(sky, i).astype(np.float64)
        em = per_int(empty, i)
        d = per_int(dq, i)
        if refpix is not None:
            d = np.zeros(truth.shape, np.uint32) if d is None else np.asarray(d, np.uint32)
            d = d | np.where(refpix, np.uint32(1 << 31), np.uint32(0))
        bg = background_mask(em, d, truth)
        ap_lab, ap_flux = source_apertures(em, src, dq=d)
        keep = np.argsort(ap_flux)[::-1][:n_bright] + 1
        bright = np.isin(ap_lab, keep) if ap_flux.size else np.zeros(truth.shape, bool)
        if bright.any():
            inner = ndimage.binary_dilation(bright, struct, iterations=r_in)
            outer = ndimage.binary_dilation(bright, struct, iterations=r_out)
            annulus = outer & ~inner & bg
        else:
            annulus = np.zeros(truth.shape, bool)
        stripe_means = None
        if data is not None:
            stripes = np.asarray(per_int(data, i), dtype=np.float64) - truth
            stripe_means, _ = channel_line_means(stripes, bg & np.isfinite(stripes), lines)
        frames.append(
            TruthFrame(
                rate_no1f=truth,
                background=bg,
                source_flux=np.nan_to_num(src),
                apertures=ap_lab > 0,
                bright=bright,
                annulus=annulus,
                sigma=white_noise_sigma(truth, sc, bg),
                stripe_means=stripe_means,
            )
        )
    return Truth(frames=frames, lines=lines)


def _mean_or_nan(x) -> float:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def _bias(res: np.ndarray, src: np.ndarray, sel: np.ndarray) -> float:
    ok = sel & np.isfinite(res)
    denom = float(src[ok].sum())
    if not ok.any() or denom <= 0:
        return float("nan")
    return 100.0 * float(res[ok].sum()) / denom


def evaluate_prepared(corrected: np.ndarray, truth: Truth, *, min_pixels: int = 8) -> dict:
    """All quality metrics of one corrected exposure against precomputed truth.

    See :func:`evaluate` for the parameters and the returned keys.
    """
    corr = np.asarray(corrected)
    cube = corr if corr.ndim == 3 else corr[None]
    all_means, offsets, trenches, sigmas = [], [], [], []
    true_lines, removed_lines = [], []
    biases, biases_b, biases_abs = [], [], []
    for i, fr in enumerate(truth.frames):
        res = cube[i].astype(np.float64) - fr.rate_no1f
        means, off = stripe_metrics(res, fr.background, truth.lines, min_pixels=min_pixels)
        all_means.append(means - off)
        if fr.stripe_means is not None:
            use = fr.background & np.isfinite(res)
            rm, cnt = channel_line_means(res, use, truth.lines)
            ok = (cnt >= min_pixels) & np.isfinite(fr.stripe_means)
            true_lines.append(fr.stripe_means[ok])
            removed_lines.append(fr.stripe_means[ok] - rm[ok])  # the model's line means
        offsets.append(off)
        sigmas.append(fr.sigma)
        local = res - off if np.isfinite(off) else res
        biases.append(_bias(local, fr.source_flux, fr.apertures))
        biases_b.append(_bias(local, fr.source_flux, fr.bright))
        biases_abs.append(_bias(res, fr.source_flux, fr.apertures))
        ann = fr.annulus & np.isfinite(res)
        if ann.any() and np.isfinite(off) and np.isfinite(fr.sigma) and fr.sigma > 0:
            trenches.append(float((res[ann].mean() - off) / fr.sigma))
    m = np.concatenate(all_means) if all_means else np.zeros(0)
    gain = float("nan")
    if true_lines:
        t = np.concatenate(true_lines)
        r = np.concatenate(removed_lines)
        t, r = t - t.mean(), r - r.mean()
        if np.sum(t * t) > 0:
            gain = float(np.sum(t * r) / np.sum(t * t))
    return {
        "stripe_gain": gain,
        "stripe_rms": float(np.sqrt(np.mean(m**2))) if m.size else float("nan"),
        "offset": _mean_or_nan(offsets),
        "bias_pct": _mean_or_nan(biases),
        "bias_bright_pct": _mean_or_nan(biases_b),
        "bias_abs_pct": _mean_or_nan(biases_abs),
        "trench_sigma": _mean_or_nan(trenches),
        "sigma": _mean_or_nan(sigmas),
        "n_lines": int(m.size),
    }


def evaluate(
    corrected: np.ndarray,
    *,
    rate_no1f: np.ndarray,
    scene: np.ndarray,
    sky: np.ndarray,
    empty: np.ndarray,
    dq: np.ndarray | None,
    layout: LayoutLike,
    n_bright: int = 10,
    data: np.ndarray | None = None,
) -> dict[str, Any]:
    """All quality metrics of one corrected exposure.

    Parameters
    ----------
    corrected : ndarray, shape (ny, nx) or (nints, ny, nx)
        Corrected rate (DN/s).
    rate_no1f : ndarray, same shape as ``corrected``
        Truth without 1/f (DN/s).
    scene, sky : ndarray, shape (ny, nx) or same as ``corrected``
        Noise-free rate and smooth sky (DN/s).
    empty : ndarray, shape (ny, nx) or same as ``corrected``
        Truth EMPTY map.
    dq : ndarray of uint32 or None
        DQ flags, 2-D or same shape as ``corrected``.
    layout : LayoutLike
    n_bright : int
        Number of brightest apertures for ``bias_bright_pct`` and ``trench_sigma``.
    data : ndarray, optional
        The input (uncorrected) rate, shape of ``corrected``; needed for ``stripe_gain``.

    Returns
    -------
    dict
        ``stripe_rms`` (DN/s), ``offset`` (DN/s), ``bias_pct`` and ``bias_bright_pct`` (per
        cent, flux bias relative to the method's own background level, i.e. computed on
        ``residual - offset``, over all / the ``n_bright`` brightest apertures),
        ``bias_abs_pct`` (per cent, on the residual itself, all apertures), ``trench_sigma``
        (per-pixel noise units), ``sigma`` (DN/s), ``n_lines``, ``stripe_gain`` (slope of the
        removed line pattern on the true one; NaN without ``data``).
        Means over integrations for rateints; ``stripe_rms`` pools their channel-lines.
    """
    truth = prepare_truth(
        rate_no1f=rate_no1f,
        scene=scene,
        sky=sky,
        empty=empty,
        dq=dq,
        layout=layout,
        n_bright=n_bright,
        data=data,
    )
    return evaluate_prepared(corrected, truth)
