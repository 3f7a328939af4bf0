"""Noise-free scenes in DMS orientation, in DN/s before the pixel flat.

A scene is two float32 images of the readout window: ``source`` (everything astrophysical that
is not the smooth background: stars, galaxies, extended emission, spectral traces and slices)
and ``sky`` (the smooth background). Imaging scenes are rendered from a sky catalogue
(:class:`Catalog`) projected onto the detector through the real SIAF distortion (pysiaf), so
that dithered exposures of one field agree; spectroscopic scenes (NIRSpec IFU / fixed slit /
MOS, NIRCam grism time series) are drawn in detector pixels.

Point sources use a Moffat profile (beta = 2.5) with the filter's FWHM and, for bright stars,
six diffraction spikes plus the two fainter ones of the secondary-mirror strut; galaxies use
Sersic profiles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

__all__ = [
    "Scene",
    "Catalog",
    "SCENES",
    "random_catalog",
    "render_catalog",
    "sky_background",
    "extended_emission",
    "nirspec_ifu",
    "nirspec_fixed_slit",
    "nirspec_mos",
    "grism_traces",
    "empty_mask",
]

#: Scene names understood by :func:`jwst1f.simulate.simulate_exposure`.
SCENES = (
    "field",
    "stars",
    "galaxies",
    "extended",
    "sky",
    "dark",
    "ifu",
    "fixed_slit",
    "mos",
    "grism",
    "miri_field",
)


@dataclass
class Scene:
    """Noise-free rates of a window, DN/s, float32 ``(ny, nx)``, DMS orientation."""

    source: np.ndarray
    sky: np.ndarray


@dataclass
class Catalog:
    """Sources on the sky.

    Attributes
    ----------
    ra, dec : numpy.ndarray
        Positions, degrees.
    flux : numpy.ndarray
        Total count rate, DN/s.
    kind : numpy.ndarray
        0 = point source, 1 = galaxy.
    re : numpy.ndarray
        Galaxy effective radius, arcsec.
    sersic : numpy.ndarray
        Sersic index.
    q : numpy.ndarray
        Axis ratio b/a.
    pa : numpy.ndarray
        Position angle of the major axis on the detector, degrees.
    """

    ra: np.ndarray
    dec: np.ndarray
    flux: np.ndarray
    kind: np.ndarray
    re: np.ndarray
    sersic: np.ndarray
    q: np.ndarray
    pa: np.ndarray

    def __len__(self) -> int:
        return int(self.ra.size)


def random_catalog(
    rng: np.random.Generator,
    *,
    ra: float,
    dec: float,
    radius_arcsec: float,
    n_stars: int,
    n_galaxies: int,
    star_flux_range: tuple[float, float] = (0.5, 2.0e5),
    galaxy_flux_range: tuple[float, float] = (1.0, 300.0),
    n_bright: int = 4,
) -> Catalog:
    """A random field of stars and galaxies within ``radius_arcsec`` of ``(ra, dec)``.

    Star fluxes follow a power law ``dN/dF ~ F^-1.8`` (many faint, a few bright enough to
    saturate) and ``n_bright`` of them get 2e3-3e5 DN/s; galaxy fluxes ``F^-2``; galaxy effective radii 0.08-1.3 arcsec (log-uniform), Sersic index 0.5-4.
    """
    n = n_stars + n_galaxies
    r = radius_arcsec * np.sqrt(rng.uniform(0.0, 1.0, n))
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    dra = r * np.cos(phi) / 3600.0 / np.cos(np.deg2rad(dec))
    ddec = r * np.sin(phi) / 3600.0

    def powerlaw(lo: float, hi: float, slope: float, size: int) -> np.ndarray:
        a = 1.0 - slope
        u = rng.uniform(0.0, 1.0, size)
        return (lo**a + u * (hi**a - lo**a)) ** (1.0 / a)

    star_flux = powerlaw(*star_flux_range, 1.8, n_stars)
    # A few bright stars (saturated cores, diffraction spikes, wide wings) in every field.
    n_bright = min(n_bright, n_stars)
    star_flux[:n_bright] = 10.0 ** rng.uniform(3.3, 5.5, n_bright)
    flux = np.concatenate([star_flux, powerlaw(*galaxy_flux_range, 2.0, n_galaxies)])
    kind = np.concatenate([np.zeros(n_stars, int), np.ones(n_galaxies, int)])
    return Catalog(
        ra=ra + dra,
        dec=dec + ddec,
        flux=flux,
        kind=kind,
        re=10.0 ** rng.uniform(-1.1, 0.1, n),
        sersic=rng.uniform(0.5, 4.0, n),
        q=rng.uniform(0.3, 1.0, n),
        pa=rng.uniform(0.0, 180.0, n),
    )


def _moffat_stamp(dx: np.ndarray, dy: np.ndarray, fwhm: float, beta: float = 2.5) -> np.ndarray:
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    r2 = (dx * dx + dy * dy) / (alpha * alpha)
    return (beta - 1.0) / (np.pi * alpha * alpha) * (1.0 + r2) ** (-beta)


def _spikes(dx: np.ndarray, dy: np.ndarray, angle0: float, fwhm: float) -> np.ndarray:
    """Diffraction spikes, unnormalised: six at 60 deg plus two fainter at 90 deg."""
    r = np.hypot(dx, dy) + 1.0
    out = np.zeros_like(dx)
    sig = 0.5 * fwhm
    for k, amp in [(0, 1.0), (60, 1.0), (120, 1.0), (90, 0.35)]:
        th = np.deg2rad(angle0 + k)
        perp = -dx * np.sin(th) + dy * np.cos(th)
        out += amp * np.exp(-0.5 * (perp / sig) ** 2) / r**2
    return out


def _sersic_stamp(
    dx: np.ndarray, dy: np.ndarray, re_pix: float, n: float, q: float, pa_deg: float
) -> np.ndarray:
    th = np.deg2rad(pa_deg)
    xr = dx * np.cos(th) + dy * np.sin(th)
    yr = -dx * np.sin(th) + dy * np.cos(th)
    r = np.sqrt(xr * xr + (yr / q) ** 2)
    b = 2.0 * n - 1.0 / 3.0 + 0.009876 / n
    return np.exp(-b * ((r / re_pix) ** (1.0 / n) - 1.0))


def render_catalog(
    shape: tuple[int, int],
    x: np.ndarray,
    y: np.ndarray,
    cat: Catalog,
    *,
    fwhm: float,
    pixel_scale: float,
    spike_angle: float = 0.0,
) -> np.ndarray:
    """Render catalogue sources at window pixel positions ``x``, ``y`` (0-based), DN/s.

    Parameters
    ----------
    shape : tuple of int
        Window shape ``(ny, nx)``.
    x, y : numpy.ndarray
        Source positions in window pixels (0-based, DMS).
    cat : Catalog
        The sources (fluxes in DN/s).
    fwhm : float
        PSF full width at half maximum, pixels.
    pixel_scale : float
        Arcsec per pixel, to convert galaxy sizes.
    spike_angle : float
        Orientation of the diffraction spikes on the detector, degrees.

    Returns
    -------
    numpy.ndarray
        float32 ``shape``.
    """
    ny, nx = shape
    img = np.zeros(shape, dtype=np.float64)
    for i in range(len(cat)):
        xi, yi, f = float(x[i]), float(y[i]), float(cat.flux[i])
        if cat.kind[i] == 0:
            # Out to where the Moffat wing (~ r^-5) falls below 1e-4 DN/s, within 6-300 px.
            alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / 2.5) - 1.0))
            r_lim = alpha * (f * 1.5 / (np.pi * alpha**2 * 1e-4)) ** 0.2
            rad = int(np.clip(r_lim, 6, 300))
        else:
            re_pix = max(cat.re[i] / pixel_scale, 0.7)
            rad = int(np.clip(5.0 * re_pix + 4.0, 6, 150))
        x0, x1 = max(int(xi) - rad, 0), min(int(xi) + rad + 1, nx)
        y0, y1 = max(int(yi) - rad, 0), min(int(yi) + rad + 1, ny)
        if x0 >= x1 or y0 >= y1:
            continue
        dy, dx = np.mgrid[y0:y1, x0:x1]
        dx = dx - xi
        dy = dy - yi
        if cat.kind[i] == 0:
            prof = _moffat_stamp(dx, dy, fwhm)
            if f > 2e3:
                # Diffraction spikes carry a few per cent of the flux.
                sp = _spikes(dx, dy, spike_angle, fwhm)
                prof = 0.97 * prof + 0.03 * sp / max(float(sp.sum()), 1e-12)
            img[y0:y1, x0:x1] += f * prof
        else:
            prof = _sersic_stamp(dx, dy, re_pix, float(cat.sersic[i]), float(cat.q[i]), cat.pa[i])
            norm = prof.sum()
            if norm > 0:
                img[y0:y1, x0:x1] += f * prof / norm
    return img.astype(np.float32)


def sky_background(
    shape: tuple[int, int],
    *,
    level: float,
    slow_numpy_axis: int,
    gradient: float = 0.08,
    fast_gradient: float = 0.02,
) -> np.ndarray:
    """Smooth sky: ``level`` with a linear gradient along the slow read axis, DN/s.

    ``gradient`` is the fractional change from one edge of the window to the other along the
    slow axis (the direction that 1/f destripers must not confuse with stripes);
    ``fast_gradient`` a smaller one along the fast axis.
    """
    ny, nx = shape
    ys = np.linspace(-0.5, 0.5, ny, dtype=np.float32)[:, None]
    xs = np.linspace(-0.5, 0.5, nx, dtype=np.float32)[None, :]
    slow, fast = (ys, xs) if slow_numpy_axis == 0 else (xs, ys)
    return (level * (1.0 + gradient * slow + fast_gradient * fast)).astype(np.float32) * np.ones(
        shape, dtype=np.float32
    )


def extended_emission(
    rng: np.random.Generator, shape: tuple[int, int], *, peak: float, fast_numpy_axis: int
) -> np.ndarray:
    """Large extended emission that fills whole amplifier rows, DN/s.

    A bright band elongated along the fast axis (covering every output over a range of rows)
    plus two large blobs and a few filaments.
    """
    ny, nx = shape
    yy = np.arange(ny, dtype=np.float32)[:, None]
    xx = np.arange(nx, dtype=np.float32)[None, :]
    fast, slow = (xx, yy) if fast_numpy_axis == 1 else (yy, xx)
    n_fast, n_slow = (nx, ny) if fast_numpy_axis == 1 else (ny, nx)
    img = np.zeros(shape, dtype=np.float32)
    # Band along the fast axis: rows fully covered by emission, gently varying along the row.
    c = rng.uniform(0.3, 0.7) * n_slow
    w = rng.uniform(0.08, 0.15) * n_slow
    along = 1.0 + 0.3 * np.sin(
        2 * np.pi * fast / n_fast * rng.uniform(0.5, 1.5) + rng.uniform(0, 6)
    )
    # Flat-topped profiles (exp(-x^4)) so that the emission ends within a few widths and part
    # of the detector stays empty.
    img += peak * np.exp(-(((slow - c) / w) ** 4)) * along
    for _ in range(2):
        cx, cy = rng.uniform(0, nx), rng.uniform(0, ny)
        s = rng.uniform(0.06, 0.12) * max(nx, ny)
        img += 0.6 * peak * np.exp(-((((xx - cx) ** 2 + (yy - cy) ** 2) / s**2) ** 2))
    for _ in range(3):
        th = rng.uniform(0, np.pi)
        cx, cy = rng.uniform(0, nx), rng.uniform(0, ny)
        d = -(xx - cx) * np.sin(th) + (yy - cy) * np.cos(th)
        r2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / (0.15 * max(nx, ny)) ** 2
        img += 0.4 * peak * np.exp(-0.5 * (d / rng.uniform(3, 15)) ** 2) * np.exp(-(r2**2))
    return img.astype(np.float32)


def _spectrum(rng: np.random.Generator, n: int, *, n_lines: int, line_amp: float) -> np.ndarray:
    """A smooth continuum with emission lines along the dispersion axis, relative units."""
    x = np.linspace(0.0, 1.0, n, dtype=np.float32)
    cont = 1.0 + 0.4 * np.sin(2 * np.pi * x * rng.uniform(0.3, 1.0) + rng.uniform(0, 6))
    cont *= np.exp(-0.5 * ((x - 0.5) / 0.45) ** 4)
    idx = np.arange(n, dtype=np.float32)
    for _ in range(n_lines):
        c = rng.uniform(0.05, 0.95) * n
        cont = cont + line_amp * rng.uniform(0.3, 1.0) * np.exp(-0.5 * ((idx - c) / 1.2) ** 2)
    return cont.astype(np.float32)


def nirspec_ifu(
    rng: np.random.Generator, shape: tuple[int, int], *, y_offset: int = 0, level: float = 0.3
) -> np.ndarray:
    """NIRSpec IFU: 30 slice spectra (about 30 px tall each) filling about half of every column.

    Dispersion runs along DMS x. Each slice carries the sky-plus-target spectrum; the central
    slices hold a bright compact target with emission lines. ``y_offset`` is the 0-based
    full-frame row of the window's first row.
    """
    ny, nx = shape
    img = np.zeros(shape, dtype=np.float32)
    yy = np.arange(ny, dtype=np.float32)[:, None] + y_offset
    xx = np.arange(nx, dtype=np.float32)[None, :]
    sky_spec = _spectrum(rng, nx, n_lines=25, line_amp=2.0) * level
    target = _spectrum(rng, nx, n_lines=8, line_amp=6.0)
    height, gap, first = 29.0, 5.0, 515.0
    for s in range(30):
        y0 = first + s * (height + gap)
        tilt = 0.002 * (s - 15) * (xx - nx / 2) + 3e-7 * (xx - nx / 2) ** 2
        lo, hi = y0 + tilt, y0 + height + tilt
        # Only the rows this slice can reach (window coordinates).
        r0 = int(np.clip(np.floor(lo.min()) - 6 - y_offset, 0, ny))
        r1 = int(np.clip(np.ceil(hi.max()) + 7 - y_offset, 0, ny))
        if r0 >= r1:
            continue
        yb = yy[r0:r1]
        # Soft-edged slice illumination (edges about 1 px wide).
        prof = expit((yb - lo) / 0.5) - expit((yb - hi) / 0.5)
        t_amp = 15.0 * level * np.exp(-0.5 * ((s - 14.5) / 2.0) ** 2)
        tprof = np.exp(-0.5 * ((yb - (lo + hi) / 2) / 5.0) ** 2)
        img[r0:r1] += prof * (sky_spec + t_amp * target * tprof)
    # Spectra end before the detector edges along the dispersion direction.
    ends = expit((xx - 40) / 5) * expit(-(xx - (nx - 60)) / 5)
    return (img * ends).astype(np.float32)


def nirspec_fixed_slit(
    rng: np.random.Generator, shape: tuple[int, int], *, y_offset: int = 0, level: float = 0.2
) -> np.ndarray:
    """NIRSpec fixed slits: S200A1, S200A2, S400A1, S1600A1, S200B1 background-lit slit images
    with a point-source trace in S200A1, at their approximate NRS1 full-frame rows.
    """
    ny, nx = shape
    img = np.zeros(shape, dtype=np.float32)
    yy = np.arange(ny, dtype=np.float32)[:, None] + y_offset
    xx = np.arange(nx, dtype=np.float32)[None, :]
    slits = [("S200A1", 1073.0, 33.0), ("S200A2", 1047.0, 33.0), ("S400A1", 1032.0, 38.0)]
    slits += [("S1600A1", 1010.0, 16.0), ("S200B1", 990.0, 33.0)]
    for name, yc, h in slits:
        yc_x = yc + 0.003 * (xx - nx / 2)
        spec = _spectrum(rng, nx, n_lines=12, line_amp=1.5) * level
        trace = _spectrum(rng, nx, n_lines=5, line_amp=3.0) * 400.0 * level
        r0 = int(np.clip(np.floor(yc_x.min() - h / 2) - 10 - y_offset, 0, ny))
        r1 = int(np.clip(np.ceil(yc_x.max() + h / 2) + 11 - y_offset, 0, ny))
        if r0 >= r1:
            continue
        yb = yy[r0:r1]
        prof = expit((yb - (yc_x - h / 2)) / 0.5) - expit((yb - (yc_x + h / 2)) / 0.5)
        img[r0:r1] += prof * spec
        if name == "S200A1":
            img[r0:r1] += trace * np.exp(-0.5 * ((yb - yc_x) / 1.1) ** 2)
    ends = expit((xx - 30) / 5) * expit(-(xx - (nx - 40)) / 5)
    return (img * ends).astype(np.float32)


def nirspec_mos(rng: np.random.Generator, shape: tuple[int, int], *, n_slitlets: int = 90):
    """NIRSpec MOS: short three-shutter slitlets with sky spectra, most with a source trace."""
    ny, nx = shape
    img = np.zeros(shape, dtype=np.float32)
    xx = np.arange(nx, dtype=np.float32)
    for _ in range(n_slitlets):
        yc = rng.uniform(40, ny - 40)
        x0 = rng.uniform(-600, 600)
        length = rng.uniform(1300, 1900)
        y0, y1 = int(yc - 9), int(yc + 9)
        dy = np.arange(y0, y1, dtype=np.float32)[:, None] - yc
        on = ((xx >= x0) & (xx < x0 + length)).astype(np.float32)[None, :]
        sky = _spectrum(rng, nx, n_lines=15, line_amp=1.5) * 0.15
        # Three shutters of ~5 px separated by 1-px bars.
        shutter = ((np.abs(dy) < 8.5) & (np.abs(np.abs(dy) - 3.0) > 0.5)).astype(np.float32)
        piece = shutter * sky[None, :]
        if rng.uniform() < 0.8:
            amp = 10.0 ** rng.uniform(-0.5, 1.5)
            piece += (
                amp * _spectrum(rng, nx, n_lines=3, line_amp=4.0) * np.exp(-0.5 * (dy / 1.2) ** 2)
            )
        img[y0:y1] += piece * on
    return img


def grism_traces(
    rng: np.random.Generator,
    shape: tuple[int, int],
    *,
    y_trace: float,
    peak: float,
    n_contaminants: int = 4,
) -> np.ndarray:
    """NIRCam grism time-series: a bright spectral trace along DMS x at row ``y_trace`` plus
    fainter contaminating traces, DN/s.
    """
    ny, nx = shape
    img = np.zeros(shape, dtype=np.float32)
    yy = np.arange(ny, dtype=np.float32)[:, None]
    xx = np.arange(nx, dtype=np.float32)[None, :]
    x_start, x_end = 0.33 * nx, nx + 50
    on = expit((xx - x_start) / 8) * expit(-(xx - x_end) / 8)
    spec = 1.0 + 0.5 * np.cos(np.pi * (xx - x_start) / (x_end - x_start))
    ytr = y_trace + 2e-4 * (xx - nx / 2)
    img += peak * spec * on * _moffat_stamp(0.0 * xx, yy - ytr, 2.3) / 0.15
    for _ in range(n_contaminants):
        yc = rng.uniform(0, ny)
        xs = rng.uniform(-500, nx - 300)
        amp = peak * 10 ** rng.uniform(-3, -1.5)
        on_c = expit((xx - xs) / 8) * expit(-(xx - xs - 1300) / 8)
        img += amp * on_c * np.exp(-0.5 * ((yy - yc) / 1.2) ** 2)
    return img.astype(np.float32)


def empty_mask(source: np.ndarray, sky: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """True where a science pixel has no astrophysical source.

    A pixel is empty when its source rate is below ``max(1e-3, 1e-3 * median(sky))`` DN/s.
    Reference pixels are never empty (they see no sky).
    """
    med = float(np.median(sky)) if sky.size else 0.0
    thresh = max(1e-3, 1e-3 * med)
    return (source < thresh) & ~reference


#: Type of a scene builder used by the exposure simulator.
SceneBuilder = Callable[..., Scene]
