"""QA figures and metrics for the 1/f destriper.

Two figures per exposure (PNG, matplotlib Agg backend), written atomically:

``<stem>_1f_images.png``
    The image before and after, on one robust stretch, each with the median profile of the
    background pixels along both axes in side panels (right: one value per row; bottom: one value
    per column; the other image's profile in grey for comparison), the map of the subtracted stripe
    model on a symmetric diverging scale, and the background mask.
``<stem>_1f_power.png``
    The power spectrum of the line means (one mean per fast-read line over background pixels)
    before and after, per output channel and for the mean of all channels (the common component),
    against temporal frequency for HxRG detectors (10 us per pixel, 12-pixel line overhead).

and a metrics JSON ``<stem>_1fmetrics.json`` (see :func:`metrics_record`).

Large images are block-averaged for display only; the profiles and spectra use every pixel.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "channel_index",
    "line_means",
    "line_power_spectrum",
    "robust_limits",
    "block_reduce",
    "plot_images",
    "plot_power",
    "make_figures",
    "metrics_record",
    "write_metrics",
]

#: HxRG pixel time (s) and line overhead (pixels) used for the frequency axis.
PIXEL_TIME_S = 10e-6
LINE_OVERHEAD_PX = 12
#: Largest side of a displayed image, in display pixels.
MAX_DISPLAY = 700


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _first_int(arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    return arr[0] if arr.ndim == 3 else arr


def channel_index(layout: Any) -> np.ndarray:
    """Output channel of every position along the fast axis.

    Parameters
    ----------
    layout : jwst1f.geometry.ReadoutLayout

    Returns
    -------
    ndarray of int, shape (n_fast,)
        Channel number (0-based) of each column (``fast_axis=1``) or row (``fast_axis=0``).
    """
    if hasattr(layout, "channel_index"):
        return np.asarray(layout.channel_index())
    n_fast = int(layout.shape[layout.fast_axis])
    n_ch = int(layout.n_channels)
    if getattr(layout, "interleaved", False):
        return np.arange(n_fast) % n_ch
    edges = np.asarray(layout.channel_edges, dtype=int)
    idx = np.searchsorted(edges, np.arange(n_fast), side="right") - 1
    return np.clip(idx, 0, n_ch - 1)


def line_means(
    image: np.ndarray, mask: np.ndarray | None, layout: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of each fast-read line over background pixels, per channel and for all channels.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        Image in DN/s.
    mask : ndarray of bool, shape (ny, nx), or None
        True where the pixel is background (used); None uses every finite pixel.
    layout : jwst1f.geometry.ReadoutLayout

    Returns
    -------
    per_channel : ndarray, shape (n_channels, n_lines)
        Line means per channel, DN/s (NaN where a channel-line has no background pixel).
    common : ndarray, shape (n_lines,)
        Mean over channels of the per-channel line means, DN/s.
    """
    img = np.asarray(image, dtype=np.float64)
    use = np.isfinite(img)
    if mask is not None:
        use &= np.asarray(mask, dtype=bool)
    if layout.fast_axis == 0:  # lines are columns: transpose to make lines rows
        img, use = img.T, use.T
    chan = channel_index(layout)
    n_ch = int(layout.n_channels)
    vals = np.where(use, img, 0.0)
    per = np.full((n_ch, img.shape[0]), np.nan)
    for k in range(n_ch):
        sel = chan == k
        num = vals[:, sel].sum(axis=1)
        cnt = use[:, sel].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            per[k] = np.where(cnt > 0, num / np.maximum(cnt, 1), np.nan)
    cnt = np.isfinite(per).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        common = np.where(cnt > 0, np.nansum(per, axis=0) / np.maximum(cnt, 1), np.nan)
    return per, common


def line_power_spectrum(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-sided power spectrum of a series of line means.

    NaN entries are replaced by the series mean (zero after mean removal).

    Parameters
    ----------
    series : ndarray, shape (..., n_lines)
        Line means in DN/s.

    Returns
    -------
    freq : ndarray, shape (n_lines // 2 + 1,)
        Frequency in cycles per line.
    power : ndarray, shape (..., n_lines // 2 + 1)
        |FFT|^2 / n_lines, (DN/s)^2 per frequency bin.
    """
    s = np.asarray(series, dtype=np.float64)
    good = np.isfinite(s)
    cnt = good.sum(axis=-1, keepdims=True)
    mean = np.where(good, s, 0.0).sum(axis=-1, keepdims=True) / np.maximum(cnt, 1)
    s = np.where(good, s - mean, 0.0)
    n = s.shape[-1]
    power = np.abs(np.fft.rfft(s, axis=-1)) ** 2 / max(n, 1)
    return np.fft.rfftfreq(n), power


def _log_bin(freq: np.ndarray, power: np.ndarray, nbins: int = 60):
    """Average a spectrum in logarithmic frequency bins (drops f=0)."""
    f = freq[1:]
    p = power[..., 1:]
    if f.size < 2 * nbins:
        return f, p
    edges = np.geomspace(f[0], f[-1] * 1.0001, nbins + 1)
    idx = np.digitize(f, edges) - 1
    keep = [i for i in range(nbins) if np.any(idx == i)]
    fb = np.array([f[idx == i].mean() for i in keep])
    pb = np.stack([p[..., idx == i].mean(axis=-1) for i in keep], axis=-1)
    return fb, pb


def robust_limits(image: np.ndarray, *, lo: float = 2.0, hi: float = 6.0) -> tuple[float, float]:
    """Display limits ``median - lo*sigma, median + hi*sigma`` with sigma from the MAD.

    Parameters
    ----------
    image : ndarray
        Any shape; NaN ignored.

    Returns
    -------
    (float, float)
    """
    v = np.asarray(image, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return -1.0, 1.0
    if v.size > 200_000:
        v = v[:: v.size // 200_000]
    med = float(np.median(v))
    sig = 1.4826 * float(np.median(np.abs(v - med)))
    if not sig > 0:
        sig = float(np.std(v)) or 1.0
    return med - lo * sig, med + hi * sig


def block_reduce(image: np.ndarray, factor: int | tuple[int, int]) -> np.ndarray:
    """Block-average ``image`` (NaN-aware; trims the edges that do not fill a block).

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
    factor : int or (int, int)
        Block size, the same along both axes or (along y, along x).

    Returns
    -------
    ndarray of float32, shape (ny // fy, nx // fx)
    """
    fy, fx = (factor, factor) if np.isscalar(factor) else factor
    fy, fx = max(int(fy), 1), max(int(fx), 1)
    if fy == 1 and fx == 1:
        return np.asarray(image, dtype=np.float32)
    ny, nx = image.shape[0] // fy * fy, image.shape[1] // fx * fx
    a = np.asarray(image[:ny, :nx], dtype=np.float32).reshape(ny // fy, fy, nx // fx, fx)
    good = np.isfinite(a)
    num = np.where(good, a, 0).sum(axis=(1, 3))
    cnt = good.sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, num / cnt, np.nan).astype(np.float32)


def _finite_median(v: np.ndarray) -> float:
    """Median of the finite values (a subsample of at most ~200 000), 0 if there are none."""
    f = np.asarray(v, dtype=np.float64).ravel()
    f = f[np.isfinite(f)]
    if f.size > 200_000:
        f = f[:: f.size // 200_000]
    return float(np.median(f)) if f.size else 0.0


def _nanmedian_lines(v: np.ndarray) -> np.ndarray:
    """Median of each row of ``v`` ignoring NaN (sort-based; much faster than nanmedian)."""
    s = np.sort(v, axis=1)  # NaN sort last
    n = np.isfinite(v).sum(axis=1)
    lo = np.maximum((n - 1) // 2, 0)[:, None]
    hi = np.maximum(n // 2, 0)[:, None]
    med = 0.5 * (np.take_along_axis(s, lo, 1)[:, 0] + np.take_along_axis(s, hi, 1)[:, 0])
    return np.where(n > 0, med, np.nan)


def _profiles(image: np.ndarray, use: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median over background pixels of each row (ny,) and each column (nx,)."""
    v = np.where(use & np.isfinite(image), image, np.nan).astype(np.float32)
    return _nanmedian_lines(v), _nanmedian_lines(np.ascontiguousarray(v.T))


def _savefig(fig: Any, path: Path) -> Path:
    from jwst1f.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def plot_images(
    before: np.ndarray,
    result: Any,
    layout: Any,
    path: str | os.PathLike,
    *,
    title: str = "",
) -> Path:
    """Before/after images with median profiles, the subtracted model and the mask.

    Parameters
    ----------
    before : ndarray, shape (ny, nx) or (nints, ny, nx)
        Input SCI in DN/s (the first integration is shown for rateints).
    result : jwst1f.destripe.DestripeResult
        ``corrected``, ``model`` and ``mask`` of the same shape (or mask (ny, nx)).
    layout : jwst1f.geometry.ReadoutLayout
    path : path-like
        PNG to write.
    title : str, optional

    Returns
    -------
    Path
    """
    plt = _pyplot()
    from matplotlib.gridspec import GridSpec

    nints = before.shape[0] if np.ndim(before) == 3 else 1
    b = _first_int(before).astype(np.float32)
    a = _first_int(result.corrected).astype(np.float32)
    m = _first_int(result.model).astype(np.float32)
    use = _first_int(np.broadcast_to(np.asarray(result.mask, bool), np.shape(before)))
    use = use & np.isfinite(b)
    ny, nx = b.shape
    factor = (max(1, math.ceil(ny / MAX_DISPLAY)), max(1, math.ceil(nx / MAX_DISPLAY)))

    # One contrast for before and after (from the background of "after"), each image centred
    # on its own background median, so that a removed offset does not saturate either.
    bg_a = np.where(use, a, np.nan) if use.any() else a
    bg_b = np.where(use, b, np.nan) if use.any() else b
    vlo, vhi = robust_limits(bg_a)
    med_a = _finite_median(bg_a)
    shift = _finite_median(bg_b) - med_a  # before - after, DN/s
    m_mid = _finite_median(m)
    dm = np.abs(m - m_mid)
    mabs = float(np.nanpercentile(dm, 99.5)) if np.isfinite(dm).any() else 1.0
    mabs = mabs if mabs > 0 else 1.0

    rows_b, cols_b = _profiles(b, use)
    rows_a, cols_a = _profiles(a, use)
    rows_m, cols_m = _profiles(m, np.ones_like(use))

    # sizes in inches: image panels keep roughly the array's aspect ratio
    img_w = 3.3
    img_h = float(np.clip(img_w * ny / nx, 1.4, 5.5))
    prof_h, top_in, bottom_in = 0.9, 1.25, 0.55
    height = img_h + prof_h + top_in + bottom_in + 0.15
    fig = plt.figure(figsize=(17.0, height))
    gs = GridSpec(
        2,
        8,
        figure=fig,
        width_ratios=[4, 1, 4, 1, 4, 1, 3.2, 0.2],
        height_ratios=[img_h, prof_h],
        wspace=0.08,
        hspace=0.15 / ((img_h + prof_h) / 2),
        left=0.045,
        right=0.985,
        top=1 - top_in / height,
        bottom=bottom_in / height,
    )
    extent = (-0.5, nx - 0.5, -0.5, ny - 0.5)
    yy, xx = np.arange(ny), np.arange(nx)
    panels = [
        (
            "before",
            b,
            (vlo + shift, vhi + shift),
            "gray",
            (rows_b, cols_b),
            (rows_a + shift, cols_a + shift),
        ),
        ("after", a, (vlo, vhi), "gray", (rows_a, cols_a), (rows_b - shift, cols_b - shift)),
        ("subtracted model", m, (m_mid - mabs, m_mid + mabs), "RdBu_r", (rows_m, cols_m), None),
    ]
    stripe_dir = "rows" if layout.fast_axis == 1 else "columns"
    for j, (name, img, (lo, hi), cmap, (pr, pc), ref) in enumerate(panels):
        ax = fig.add_subplot(gs[0, 2 * j])
        cm = plt.get_cmap(cmap).with_extremes(bad="#f2c500")
        im = ax.imshow(
            block_reduce(img, factor),
            origin="lower",
            cmap=cm,
            vmin=lo,
            vmax=hi,
            extent=extent,
            interpolation="nearest",
            aspect="auto",
        )
        ax.set_title(name, fontsize=11)
        ax.tick_params(labelbottom=False, labelsize=8)
        if j == 0:
            ax.set_ylabel("y (pixel, DMS)")
        else:
            ax.tick_params(labelleft=False)
        cax = ax.inset_axes([0.02, 0.95, 0.35, 0.03])
        cb = fig.colorbar(im, cax=cax, orientation="horizontal")
        cb.ax.tick_params(labelsize=7, colors="C1", length=2)
        # right panel: one value per row
        axr = fig.add_subplot(gs[0, 2 * j + 1], sharey=ax)
        if ref is not None:
            axr.plot(ref[0], yy, color="0.75", lw=0.6)
        axr.plot(pr, yy, color="k" if cmap == "gray" else "C3", lw=0.6)
        axr.tick_params(labelleft=False, labelsize=7)
        axr.set_xlabel("row median", fontsize=8)
        axr.xaxis.set_label_position("top")
        # bottom panel: one value per column
        axb = fig.add_subplot(gs[1, 2 * j], sharex=ax)
        if ref is not None:
            axb.plot(xx, ref[1], color="0.75", lw=0.6)
        axb.plot(xx, pc, color="k" if cmap == "gray" else "C3", lw=0.6)
        axb.set_xlabel("x (pixel, DMS)", fontsize=9)
        axb.tick_params(labelsize=7)
        axb.set_ylabel("col. median", fontsize=8)
        for axp, prof, ax_set in ((axr, pr, axr.set_xlim), (axb, pc, axb.set_ylim)):
            finite = np.asarray(prof)[np.isfinite(prof)]
            if ref is not None:
                finite = np.concatenate([finite, np.asarray(ref[0 if axp is axr else 1])])
                finite = finite[np.isfinite(finite)]
            if finite.size:
                lo_p, hi_p = np.percentile(finite, [0.5, 99.5])
                pad = 0.1 * (hi_p - lo_p) or 1e-3
                ax_set(lo_p - pad, hi_p + pad)
        if layout.n_channels > 1 and not getattr(layout, "interleaved", False):
            for e in list(layout.channel_edges)[1:-1]:
                if layout.fast_axis == 1:
                    ax.axvline(e - 0.5, color="C0", lw=0.5, alpha=0.6)
                else:
                    ax.axhline(e - 0.5, color="C0", lw=0.5, alpha=0.6)

    axm = fig.add_subplot(gs[0, 6])
    axm.imshow(
        block_reduce(use.astype(np.float32), factor),
        origin="lower",
        cmap="Greys_r",
        vmin=0,
        vmax=1,
        extent=extent,
        interpolation="nearest",
        aspect="auto",
    )
    frac = 1.0 - float(use.mean())
    axm.set_title(f"background mask (white = used)\n{100 * frac:.1f}% excluded", fontsize=10)
    axm.tick_params(labelleft=False, labelbottom=True, labelsize=7)
    axm.set_xlabel("x (pixel)", fontsize=9)

    sub = f"stripes along {stripe_dir}; {layout.n_channels} output(s)"
    if nints > 1:
        sub += f"; integration 1 of {nints} shown"
    if factor != (1, 1):
        sub += f"; images block-averaged {factor[1]}x{factor[0]} (x by y) for display"
    if not np.isfinite(b).all():
        sub += "; yellow: NaN"
    sub += f"\nstretch {vlo - med_a:+.3g} to {vhi - med_a:+.3g} DN/s about each median"
    sub += f"; model {m_mid:.3g} ± {mabs:.3g} DN/s"
    if abs(shift) > 0.1 * (vhi - vlo):
        sub += f"; level removed {shift:.3g} DN/s"
    sub += "; grey profiles: the other image, shifted to the same median"
    fig.suptitle(f"{title}\n{sub}" if title else sub, fontsize=11)
    path = _savefig(fig, Path(path))
    plt.close(fig)
    return path


def plot_power(
    before: np.ndarray,
    result: Any,
    layout: Any,
    path: str | os.PathLike,
    *,
    title: str = "",
) -> Path:
    """Power spectra of the line means before and after, per channel and common.

    Spectra are averaged over integrations for rateints and over logarithmic frequency bins.

    Parameters
    ----------
    before : ndarray, shape (ny, nx) or (nints, ny, nx)
        Input SCI, DN/s.
    result : jwst1f.destripe.DestripeResult
    layout : jwst1f.geometry.ReadoutLayout
    path : path-like
    title : str, optional

    Returns
    -------
    Path
    """
    plt = _pyplot()
    b3 = np.asarray(before)
    b3 = b3[None] if b3.ndim == 2 else b3
    a3 = np.asarray(result.corrected)
    a3 = a3[None] if a3.ndim == 2 else a3
    mask = np.broadcast_to(
        np.asarray(result.mask, bool), b3.shape[-2:] if np.ndim(result.mask) == 2 else b3.shape
    )
    mask3 = mask[None] if mask.ndim == 2 else mask

    def spectra(cube: np.ndarray):
        per_all, com_all = [], []
        for i in range(cube.shape[0]):
            per, com = line_means(cube[i], mask3[min(i, mask3.shape[0] - 1)], layout)
            f, pp = line_power_spectrum(per)
            _, pc = line_power_spectrum(com)
            per_all.append(pp)
            com_all.append(pc)
        return f, np.mean(per_all, axis=0), np.mean(com_all, axis=0)

    f, per_b, com_b = spectra(b3)
    _, per_a, com_a = spectra(a3)
    floor_per, floor_com = _white_floor(a3[0], mask3[0], layout)
    fb, per_b = _log_bin(f, per_b)
    _, per_a = _log_bin(f, per_a)
    _, com_b = _log_bin(f, com_b)
    _, com_a = _log_bin(f, com_a)

    is_hxrg = str(getattr(layout, "instrument", "")).upper() != "MIRI"
    n_fast = layout.shape[layout.fast_axis]
    ch_width = n_fast / max(int(layout.n_channels), 1)
    line_time = (ch_width + LINE_OVERHEAD_PX) * PIXEL_TIME_S
    x = fb / line_time if is_hxrg else fb
    xlabel = "frequency (Hz)" if is_hxrg else "frequency (cycles per line)"

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True, constrained_layout=True)
    colors = plt.cm.viridis(np.linspace(0, 0.85, max(int(layout.n_channels), 1)))
    for k in range(per_b.shape[0]):
        axes[0].loglog(x, per_b[k], color=colors[k], lw=1.0, label=f"ch {k} before")
        axes[0].loglog(x, per_a[k], color=colors[k], lw=1.0, ls="--", label=f"ch {k} after")
    axes[0].set_title(
        "per output channel (solid: before, dashed: after, dotted: white-noise level)",
        fontsize=10,
    )
    axes[1].loglog(x, com_b, color="k", lw=1.4, label="before")
    axes[1].loglog(x, com_a, color="C3", lw=1.4, label="after")
    if np.isfinite(floor_com) and floor_com > 0:
        axes[1].axhline(floor_com, color="0.4", ls=":", lw=1.2, label="white-noise level")
    for k, fl in enumerate(floor_per):
        if np.isfinite(fl) and fl > 0:
            axes[0].axhline(fl, color=colors[k], ls=":", lw=0.8)
    axes[1].set_title("common: mean of the channels' line means", fontsize=10)
    axes[1].legend(fontsize=9)
    if per_b.shape[0] <= 4:
        axes[0].legend(fontsize=7, ncol=2)
    for ax in axes:
        ax.set_xlabel(xlabel)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("power of line means ((DN/s)$^2$ per bin)")
    if is_hxrg:
        sec = axes[1].secondary_xaxis(
            "top", functions=(lambda hz: hz * line_time, lambda cpl: cpl / line_time)
        )
        sec.set_xlabel("cycles per line", fontsize=8)
        sec.tick_params(labelsize=7)
    nints = b3.shape[0]
    sub = f"line time {1e3 * line_time:.3g} ms" if is_hxrg else "MIRI: per line"
    if nints > 1:
        sub += f"; averaged over {nints} integrations"
    fig.suptitle(f"{title}\n{sub}" if title else sub, fontsize=11)
    path = _savefig(fig, Path(path))
    plt.close(fig)
    return path


def _white_floor(image: np.ndarray, mask: np.ndarray, layout: Any) -> tuple[np.ndarray, float]:
    """Expected power of pure white pixel noise in the line means (per channel and common).

    The pixel noise sigma is the robust (MAD) scatter of the background pixels of ``image``
    about their line-channel level; a line mean over ``n`` pixels then has variance
    ``sigma**2 / n``, which is the flat power level of its spectrum in the normalisation of
    :func:`line_power_spectrum`.
    """
    img = np.asarray(image, dtype=np.float64)
    use = np.asarray(mask, bool) & np.isfinite(img)
    if layout.fast_axis == 0:
        img, use = img.T, use.T
    chan = channel_index(layout)
    n_ch = int(layout.n_channels)
    per = np.full(n_ch, np.nan)
    for k in range(n_ch):
        sub, u = img[:, chan == k], use[:, chan == k]
        counts = u.sum(axis=1)
        if not u.any():
            continue
        vals = np.where(u, sub, np.nan)
        resid = vals - _nanmedian_lines(vals)[:, None]
        r = resid[np.isfinite(resid)]
        if r.size > 200_000:
            r = r[:: r.size // 200_000]
        sigma = 1.4826 * float(np.median(np.abs(r)))
        n = float(np.median(counts[counts > 0]))
        per[k] = sigma**2 / n
    good = per[np.isfinite(per)]
    common = float(np.sum(good) / good.size**2) if good.size else float("nan")
    return per, common


def make_figures(
    before: np.ndarray,
    result: Any,
    layout: Any,
    *,
    outdir: str | os.PathLike,
    stem: str,
    title: str = "",
) -> list[Path]:
    """Write ``<stem>_1f_images.png`` and ``<stem>_1f_power.png`` into ``outdir``.

    Parameters
    ----------
    before : ndarray, shape (ny, nx) or (nints, ny, nx)
        Input SCI, DN/s.
    result : jwst1f.destripe.DestripeResult
    layout : jwst1f.geometry.ReadoutLayout
    outdir : path-like
        Created if missing.
    stem : str
        File-name stem, usually the input's (``jw..._rate``).
    title : str, optional

    Returns
    -------
    list of Path
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [
        plot_images(before, result, layout, outdir / f"{stem}_1f_images.png", title=title),
        plot_power(before, result, layout, outdir / f"{stem}_1f_power.png", title=title),
    ]


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _total(values: Sequence[float] | None) -> float | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=float).ravel()
    arr = arr[np.isfinite(arr)]
    return float(np.sqrt(np.mean(arr**2))) if arr.size else None


def metrics_record(
    result: Any,
    layout: Any,
    *,
    params: Mapping[str, Any] | None = None,
    input_path: str | os.PathLike | None = None,
    output_path: str | os.PathLike | None = None,
    seconds_total: float | None = None,
) -> dict[str, Any]:
    """The metrics of one destriped exposure, as a JSON-ready dict.

    Keys: ``input``, ``output``, ``jwst1f_version``, ``date`` (UTC), ``instrument``, ``detector``,
    ``exp_type``, ``subarray``, ``shape``, ``n_channels``, ``fast_axis``, ``stripe_rms_before`` and
    ``stripe_rms_after`` (per channel, DN/s), ``stripe_rms_before_total`` and
    ``stripe_rms_after_total`` (quadratic mean over channels, DN/s), ``masked_fraction``,
    ``seconds`` (destriper compute), ``seconds_total`` (including reading and QA), ``params``,
    plus any other metric the destriper reported.

    Returns
    -------
    dict
    """
    from jwst1f import __version__

    m = dict(result.metrics)
    record: dict[str, Any] = {
        "input": str(input_path) if input_path is not None else None,
        "output": str(output_path) if output_path is not None else None,
        "jwst1f_version": __version__,
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "instrument": getattr(layout, "instrument", None),
        "detector": getattr(layout, "detector", None),
        "exp_type": getattr(layout, "exp_type", None),
        "subarray": getattr(layout, "subarray", None),
        "shape": list(np.shape(result.corrected)),
        "n_channels": int(layout.n_channels),
        "fast_axis": int(layout.fast_axis),
        "stripe_rms_before": m.pop("stripe_rms_before", None),
        "stripe_rms_after": m.pop("stripe_rms_after", None),
        "masked_fraction": m.pop("masked_fraction", None),
        "seconds": m.pop("seconds", None),
        "seconds_total": seconds_total,
    }
    record["stripe_rms_before_total"] = _total(record["stripe_rms_before"])
    record["stripe_rms_after_total"] = _total(record["stripe_rms_after"])
    record.update(m)
    record["params"] = dict(params) if params is not None else None
    return _jsonable(record)


def write_metrics(path: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    """Write a metrics record as indented JSON, atomically.

    Parameters
    ----------
    path : path-like
    record : mapping

    Returns
    -------
    Path
    """
    from jwst1f.io import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(record), indent=2, sort_keys=False) + "\n")
    return path
