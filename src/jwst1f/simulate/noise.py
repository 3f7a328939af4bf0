"""Readout noise along the pixel clock: HxRG 1/f (NGHXRG-like) and MIRI banding.

The noise is generated as time streams, one sample per pixel time (10 us), for every output of
the detector, then mapped onto the pixels that each output reads. Everything here works in the
*detector frame* of jwst (``jwst.lib.reffile_utils.science_detector_frame_transform``): the fast
read runs along array axis 1, output 0 reads towards +x and, for HxRG detectors, the fast-scan
direction alternates between outputs (outputs 1 and 3 read towards -x). :func:`to_dms` and
:func:`to_detector` convert between the detector frame and DMS orientation.

The spectrum of each component is set as a power spectral density, not as a total standard
deviation:

* white read noise: one-sided PSD ``2 sigma^2 dt`` (flat); reference pixels have
  ``ref_white_ratio * sigma``;
* pink noise: one-sided PSD ``A / f`` with ``A = 2 sigma^2 dt f_knee``, i.e. it equals the white
  PSD at the knee frequency ``f_knee``. A fraction ``correlated_fraction`` of the pink power is
  common to all outputs (0.9 gives the 3:1 amplitude ratio of the NGHXRG defaults), the rest is
  independent per output;
* alternating column noise (ACN): per output, two independent pink streams, one for the even
  and one for the odd pixel clocks, with ``acn_ratio`` times the uncorrelated pink PSD;
* a pedestal: one random offset per output per frame.

The default knee (1.4 kHz) makes the total pink variance over one full frame about
``(3^2 + 1^2) / 5.2^2`` of the white variance, as in the NGHXRG defaults of Rauscher (2015,
PASP 127, 1144: read noise 5.2, correlated pink 3, uncorrelated pink 1, ACN 0.5, pedestal 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from jwst1f.instruments import (
    FRAME_OVERHEAD_ROWS,
    PIXEL_TIME,
    REFERENCE_BORDER,
    ROW_OVERHEAD,
    DetectorInfo,
    SubarrayInfo,
)

__all__ = [
    "HxRGNoise",
    "MiriNoise",
    "ReadoutWindow",
    "default_noise",
    "pink_noise",
    "readout_window",
    "readout_noise_groups",
    "to_detector",
    "to_dms",
    "channel_read_directions",
]


@dataclass(frozen=True)
class HxRGNoise:
    """Noise parameters of an HxRG readout chain.

    Attributes
    ----------
    white : float
        White read noise of one read of a science pixel, DN.
    ref_white_ratio : float
        White noise of reference pixels relative to science pixels.
    knee_hz : float
        Frequency at which the total pink PSD equals the white PSD, Hz.
    correlated_fraction : float
        Fraction of the pink power common to all outputs (0.9 = 3:1 in amplitude).
    acn_ratio : float
        PSD of each ACN stream relative to the uncorrelated pink PSD (0.25 = 0.5 in amplitude).
    pedestal : float
        Standard deviation of the per-output, per-frame offset, DN.
    ktc : float
        Standard deviation of the reset (kTC) offset of each pixel in each integration, DN.
    """

    white: float
    ref_white_ratio: float = 0.8
    knee_hz: float = 1400.0
    correlated_fraction: float = 0.9
    acn_ratio: float = 0.25
    pedestal: float = 4.0
    ktc: float = 15.0

    @property
    def pink_psd(self) -> float:
        """Amplitude ``A`` of the total pink PSD ``A / f``, DN^2."""
        return 2.0 * self.white**2 * PIXEL_TIME * self.knee_hz


@dataclass(frozen=True)
class MiriNoise:
    """Noise parameters of the MIRI Si:As readout (4 outputs interleaved by column).

    Attributes
    ----------
    white : float
        White read noise of one read, DN.
    knee_hz : float
        Knee of the banding (pink) spectrum of each output, Hz.
    correlated_fraction : float
        Fraction of the banding power common to the four outputs.
    row_even_odd : float
        Standard deviation of the per-frame, per-output even/odd row offset, DN.
    pedestal : float
        Standard deviation of the per-output, per-frame offset, DN.
    ktc : float
        Reset offset of each pixel in each integration, DN.
    ref_white_ratio : float
        White noise of reference pixels relative to science pixels.
    """

    white: float
    knee_hz: float = 300.0
    correlated_fraction: float = 0.5
    row_even_odd: float = 0.8
    pedestal: float = 2.0
    ktc: float = 10.0

    ref_white_ratio: float = 1.0

    @property
    def pink_psd(self) -> float:
        """Amplitude ``A`` of the total banding PSD ``A / f``, DN^2."""
        return 2.0 * self.white**2 * PIXEL_TIME * self.knee_hz


def default_noise(det: DetectorInfo) -> HxRGNoise | MiriNoise:
    """The default noise model of a detector, scaled to its read noise."""
    if det.is_hxrg:
        rn = det.read_noise
        return HxRGNoise(white=rn, pedestal=rn * 4.0 / 5.2, ktc=29.0 / det.gain)
    return MiriNoise(white=det.read_noise, pedestal=det.read_noise / 3.0, ktc=40.0 / det.gain)


def to_detector(a: np.ndarray, fastaxis: int, slowaxis: int) -> np.ndarray:
    """View of a DMS-oriented array ``(..., ny, nx)`` in the detector frame (fast read along x)."""
    if abs(fastaxis) == 1:
        return a[..., :: int(np.sign(slowaxis)), :: int(np.sign(fastaxis))]
    return np.swapaxes(a[..., :: int(np.sign(fastaxis)), :: int(np.sign(slowaxis))], -2, -1)


def to_dms(a: np.ndarray, fastaxis: int, slowaxis: int) -> np.ndarray:
    """View of a detector-frame array in DMS orientation (inverse of :func:`to_detector`)."""
    if abs(fastaxis) == 1:
        return a[..., :: int(np.sign(slowaxis)), :: int(np.sign(fastaxis))]
    return np.swapaxes(a, -2, -1)[..., :: int(np.sign(fastaxis)), :: int(np.sign(slowaxis))]


def channel_read_directions(fastaxis: int, noutputs: int) -> tuple[int, ...]:
    """Read direction of each HxRG output in DMS array order along the fast axis.

    (MIRI outputs are interleaved by column and all read towards +x.)

    Output ``j`` (detector frame) reads towards ``+x`` for even ``j`` and ``-x`` for odd ``j``.
    In DMS the detector x axis is reversed when ``FASTAXIS < 0``, so channel ``k`` in DMS array
    order is output ``j = k`` (``FASTAXIS > 0``) or ``j = noutputs - 1 - k`` (``FASTAXIS < 0``)
    and reads in the direction ``sign(FASTAXIS) * (-1)**j`` along the DMS array axis.

    Returns
    -------
    tuple of int
        +1 (towards increasing array index) or -1, one per channel in DMS array order.
    """
    s = 1 if fastaxis > 0 else -1
    out = []
    for k in range(noutputs):
        j = k if s > 0 else noutputs - 1 - k
        out.append(s * (-1) ** j)
    return tuple(out)


@dataclass(frozen=True)
class ReadoutWindow:
    """A subarray window in the detector frame, and how it is clocked.

    Attributes
    ----------
    n_slow, n_fast : int
        Window size along the slow (rows) and fast (columns) directions, pixels.
    row0, col0 : int
        0-based position of the window in the full-frame detector frame.
    noutputs : int
        Outputs used.
    interleaved : bool
        True for MIRI (output = column index modulo 4), False for HxRG blocks.
    row_samples : int
        Pixel times per row per output, including the row overhead.
    frame_rows : int
        Rows clocked per frame, including overhead rows.
    ref_rows, ref_cols : numpy.ndarray of bool
        Reference rows (``n_slow``) and columns (``n_fast``) of the window.
    full_slow : int
        Full-frame size along the slow direction, pixels.
    """

    n_slow: int
    n_fast: int
    row0: int
    col0: int
    noutputs: int
    interleaved: bool
    row_samples: int
    frame_rows: int
    ref_rows: np.ndarray
    ref_cols: np.ndarray
    full_slow: int = 2048

    @property
    def samples_per_frame(self) -> int:
        """Pixel times per frame per output."""
        return self.row_samples * self.frame_rows

    @property
    def width(self) -> int:
        """Pixels per row read by one output."""
        return self.n_fast // self.noutputs


def readout_window(det: DetectorInfo, sub: SubarrayInfo, tframe: float) -> ReadoutWindow:
    """Describe how ``sub`` on ``det`` is clocked, in the detector frame.

    Parameters
    ----------
    det : DetectorInfo
        The detector.
    sub : SubarrayInfo
        The window, DMS full-frame coordinates.
    tframe : float
        Frame time, s (fixes the MIRI row time).
    """
    ny, nx = det.shape
    x0, y0 = sub.xstart - 1, sub.ystart - 1
    if abs(det.fastaxis) == 1:
        n_fast, n_slow = sub.xsize, sub.ysize
        col0 = x0 if det.fastaxis > 0 else nx - (x0 + sub.xsize)
        row0 = y0 if det.slowaxis > 0 else ny - (y0 + sub.ysize)
        full_fast, full_slow = nx, ny
    else:
        n_fast, n_slow = sub.ysize, sub.xsize
        col0 = y0 if det.fastaxis > 0 else ny - (y0 + sub.ysize)
        row0 = x0 if det.slowaxis > 0 else nx - (x0 + sub.xsize)
        full_fast, full_slow = ny, nx
    b = REFERENCE_BORDER
    rows = np.arange(row0, row0 + n_slow)
    cols = np.arange(col0, col0 + n_fast)
    ref_cols = (cols < b) | (cols >= full_fast - b)
    if det.is_hxrg:
        ref_rows = (rows < b) | (rows >= full_slow - b)
        row_samples = n_fast // sub.noutputs + ROW_OVERHEAD
        frame_rows = n_slow + FRAME_OVERHEAD_ROWS
    else:
        ref_rows = np.zeros(n_slow, dtype=bool)
        frame_rows = n_slow
        row_samples = max(int(round(tframe / PIXEL_TIME / n_slow)), n_fast // sub.noutputs)
    return ReadoutWindow(
        n_slow=n_slow,
        n_fast=n_fast,
        row0=row0,
        col0=col0,
        noutputs=sub.noutputs,
        interleaved=not det.is_hxrg,
        row_samples=row_samples,
        frame_rows=frame_rows,
        ref_rows=ref_rows,
        ref_cols=ref_cols,
        full_slow=full_slow,
    )


def pink_noise(
    rng: np.random.Generator, n_streams: int, n_samples: int, psd_amplitude: float, dt: float
) -> np.ndarray:
    """Independent Gaussian streams with one-sided PSD ``psd_amplitude / f``.

    The spectrum runs from ``1 / (n dt)`` to the Nyquist frequency; the mean (f = 0) is zero.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.
    n_streams, n_samples : int
        Number and length of the streams.
    psd_amplitude : float
        ``A`` in ``S(f) = A / f``, (unit of the stream)^2.
    dt : float
        Sample interval, s.

    Returns
    -------
    numpy.ndarray
        float32 ``(n_streams, n_samples)``.
    """
    if n_streams == 0 or psd_amplitude <= 0:
        return np.zeros((n_streams, n_samples), dtype=np.float32)
    n = sfft.next_fast_len(n_samples, real=True)
    nf = n // 2 + 1
    freqs = np.arange(nf, dtype=np.float64) / (n * dt)
    scale = np.zeros(nf, dtype=np.float32)
    # E|X_k|^2 = S(f) n / (2 dt), split over the real and imaginary parts.
    scale[1:] = np.sqrt(psd_amplitude / freqs[1:] * n / (4.0 * dt))
    # Real and imaginary parts drawn into one contiguous float32 buffer, viewed as complex64.
    buf = rng.standard_normal((n_streams, nf, 2), dtype=np.float32)
    spec = buf.view(np.complex64)[..., 0]
    spec *= scale
    out = sfft.irfft(spec, n=n, axis=-1, overwrite_x=True)
    return out[:, :n_samples]


#: Decimation of the ACN streams: the even/odd streams change every this many pixel pairs.
_ACN_DECIMATION = 8


def _streams_hxrg(
    rng: np.random.Generator, win: ReadoutWindow, noise: HxRGNoise, n_frames: int
) -> np.ndarray:
    """Correlated + uncorrelated pink + ACN + pedestal, float32 (noutputs, n_frames * spf)."""
    n_out = win.noutputs
    n = n_frames * win.samples_per_frame
    a_tot = noise.pink_psd
    a_c = noise.correlated_fraction * a_tot
    a_u = (1.0 - noise.correlated_fraction) * a_tot
    pink = pink_noise(rng, 1 + n_out, n, 1.0, PIXEL_TIME)
    streams = pink[1:] * np.float32(np.sqrt(a_u))
    streams += pink[0] * np.float32(np.sqrt(a_c))
    del pink
    # ACN: even and odd pixel clocks get independent pink streams. They are drawn every
    # 2 * _ACN_DECIMATION pixel times (Nyquist 3 kHz, where the ACN PSD is far below the white
    # noise) and held constant in between, which costs 1/16 of a full-rate stream.
    d = _ACN_DECIMATION
    n_pairs = (n + 1) // 2
    n_slow = -(-n_pairs // d)
    acn = pink_noise(rng, 2 * n_out, n_slow, noise.acn_ratio * a_u, 2 * d * PIXEL_TIME)
    acn = np.repeat(acn, d, axis=1)
    streams[:, 0::2] += acn[:n_out, : (n + 1) // 2]
    streams[:, 1::2] += acn[n_out:, : n // 2]
    del acn
    ped = rng.normal(0.0, noise.pedestal, size=(n_out, n_frames)).astype(np.float32)
    streams.reshape(n_out, n_frames, -1)[...] += ped[:, :, None]
    return streams


def _streams_miri(
    rng: np.random.Generator, win: ReadoutWindow, noise: MiriNoise, n_frames: int
) -> np.ndarray:
    """MIRI banding streams, float32 (noutputs, n_frames * spf)."""
    n_out = win.noutputs
    n = n_frames * win.samples_per_frame
    a_c = noise.correlated_fraction * noise.pink_psd
    a_u = (1.0 - noise.correlated_fraction) * noise.pink_psd
    pink = pink_noise(rng, 1 + n_out, n, 1.0, PIXEL_TIME)
    streams = pink[1:] * np.float32(np.sqrt(a_u))
    streams += pink[0] * np.float32(np.sqrt(a_c))
    del pink
    per_frame = streams.reshape(n_out, n_frames, win.frame_rows, win.row_samples)
    # Even/odd row offsets, alternating sign, new for every frame and output.
    eo = rng.normal(0.0, noise.row_even_odd, size=(n_out, n_frames)).astype(np.float32)
    per_frame[:, :, 0::2, :] += eo[:, :, None, None]
    per_frame[:, :, 1::2, :] -= eo[:, :, None, None]
    ped = rng.normal(0.0, noise.pedestal, size=(n_out, n_frames)).astype(np.float32)
    per_frame += ped[:, :, None, None]
    return streams


def _frame_image(win: ReadoutWindow, frames: np.ndarray) -> np.ndarray:
    """Map per-output frame streams ``(noutputs, k, frame_rows, row_samples)`` to pixels.

    Returns float32 ``(k, n_slow, n_fast)`` in the detector frame.
    """
    n_out, k = frames.shape[:2]
    w = win.width
    img = np.empty((k, win.n_slow, win.n_fast), dtype=np.float32)
    for j in range(n_out):
        block = frames[j, :, : win.n_slow, :w]
        if win.interleaved:
            # Output j reads the full-frame columns with index % n_out == j.
            first = (j - win.col0) % n_out
            cols = img[:, :, first::n_out]
            cols[...] = block[:, :, : cols.shape[2]]
        elif j % 2 == 0:
            img[:, :, j * w : (j + 1) * w] = block
        else:
            img[:, :, j * w : (j + 1) * w] = block[:, :, ::-1]
    return img


def readout_noise_groups(
    rng: np.random.Generator,
    win: ReadoutWindow,
    noise: HxRGNoise | MiriNoise,
    *,
    ngroups: int,
    nframes: int,
    groupgap: int,
) -> np.ndarray:
    """The correlated readout noise of one integration, averaged into groups.

    All frames of the integration, including dropped (``groupgap``) frames, are clocked so that
    the noise is continuous in time.

    Returns
    -------
    numpy.ndarray
        float32 ``(ngroups, n_slow, n_fast)`` in the detector frame, DN. Reference pixels
        included. White read noise is *not* included.
    """
    n_clocked = ngroups * nframes + (ngroups - 1) * groupgap
    if isinstance(noise, HxRGNoise):
        streams = _streams_hxrg(rng, win, noise, n_clocked)
    else:
        streams = _streams_miri(rng, win, noise, n_clocked)
    frames = streams.reshape(win.noutputs, n_clocked, win.frame_rows, win.row_samples)
    out = np.zeros((ngroups, win.n_slow, win.n_fast), dtype=np.float32)
    for g in range(ngroups):
        first = g * (nframes + groupgap)
        img = _frame_image(win, frames[:, first : first + nframes])
        out[g] = img.mean(axis=0) if nframes > 1 else img[0]
    return out
