"""Detector and subarray facts for the JWST near- and mid-infrared detectors.

One table shared by the simulator (:mod:`jwst1f.simulate`) and the offline CRDS cache
(:mod:`jwst1f.offline_crds`), so that synthetic reference files calibrate simulated exposures
consistently.

Orientation
-----------
Every array here is in DMS ("science") orientation, the orientation of ``*_uncal.fits`` and
``*_rate.fits`` files. ``FASTAXIS``/``SLOWAXIS`` follow the flight keywords: ``1``/``2`` mean
the fast/slow read runs along DMS x/y, the sign gives the direction (``-1``: from high x to low
x). The values below agree with the flight NIRCam headers shipped in ``jwst`` (NRCA2 ``1, -2``;
NRCA3/NRCA4 ``-1, 2`` / ``1, -2``) and with the ``DetSciYAngle``/``DetSciParity`` of the SIAF
full-frame apertures (``DetSciYAngle`` 0 -> ``-1, 2``; 180 -> ``1, -2`` for NIRCam).

Subarray positions (``xstart``/``ystart``, 1-based, full-frame DMS pixels) were taken from the
SIAF (pysiaf, PRDOPSSOC-075) or from the values used in ``jwst``'s own tests (NIRSpec
``SUBS200A1`` at y=1041, ``SUB2048`` at y=946).

The gain, read noise, bias, dark current and saturation values are representative flight-like
numbers (not a calibration): they set the simulation and the synthetic reference files alike.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

__all__ = [
    "PIXEL_TIME",
    "ROW_OVERHEAD",
    "FRAME_OVERHEAD_ROWS",
    "REFERENCE_BORDER",
    "DetectorInfo",
    "SubarrayInfo",
    "ReadoutPattern",
    "DETECTORS",
    "SUBARRAYS",
    "READOUT_PATTERNS",
    "get_detector",
    "get_subarray",
    "frame_time",
    "subarray_slices",
    "reference_pixel_mask",
    "superbias_map",
    "flat_map",
    "gain_map",
    "readnoise_map",
    "dark_map",
    "saturation_map",
]

#: Time to read one pixel with one HxRG output (SIDECAR ASIC, 100 kHz), seconds.
PIXEL_TIME: float = 10e-6
#: Extra pixel times added at the end of every row (HxRG, per output), pixels.
ROW_OVERHEAD: int = 12
#: Extra rows added at the end of every frame (HxRG), rows.
FRAME_OVERHEAD_ROWS: int = 1
#: Width of the HxRG reference-pixel border (all four sides in full frame), pixels.
REFERENCE_BORDER: int = 4


@dataclass(frozen=True)
class DetectorInfo:
    """Facts about one detector, keyed in :data:`DETECTORS` by its ``DETECTOR`` keyword.

    Attributes
    ----------
    detector : str
        ``DETECTOR`` keyword, e.g. ``"NRCA1"``.
    instrument : str
        ``INSTRUME`` keyword: ``NIRCAM``, ``NIRISS``, ``NIRSPEC`` or ``MIRI``.
    channel : str or None
        ``CHANNEL`` keyword (NIRCam ``SHORT``/``LONG``; MIRI imager ``N/A`` is written as None).
    module : str or None
        NIRCam ``MODULE`` (``A``/``B``); None otherwise.
    shape : tuple of int
        Full-frame shape ``(ny, nx)`` in DMS orientation, pixels.
    fastaxis, slowaxis : int
        ``FASTAXIS`` and ``SLOWAXIS`` keywords (±1 or ±2).
    n_outputs : int
        Number of outputs (amplifiers) used for a full frame.
    gain : float
        Conversion gain, e-/DN.
    read_noise : float
        White read noise of a single frame read of a science pixel, DN.
    bias : float
        Mean bias (superbias) level, DN.
    dark_current : float
        Dark current, DN/s.
    saturation : float
        Saturation level of raw data (bias included), DN.
    detector_type : str
        ``"HXRG"`` (H2RG, NIRCam/NIRISS/NIRSpec) or ``"SIAS"`` (MIRI Si:As).
    sca_num : int
        ``SCA_NUM`` keyword.
    siaf_instrument : str
        Instrument name as pysiaf spells it.
    siaf_full_aperture : str
        The full-frame SIAF aperture of this detector.
    """

    detector: str
    instrument: str
    channel: str | None
    module: str | None
    shape: tuple[int, int]
    fastaxis: int
    slowaxis: int
    n_outputs: int
    gain: float
    read_noise: float
    bias: float
    dark_current: float
    saturation: float
    detector_type: str
    sca_num: int
    siaf_instrument: str
    siaf_full_aperture: str

    @property
    def is_hxrg(self) -> bool:
        """True for HAWAII-2RG detectors (NIRCam, NIRISS, NIRSpec)."""
        return self.detector_type == "HXRG"

    @property
    def fast_numpy_axis(self) -> int:
        """Numpy axis of a ``(ny, nx)`` array along which the fast read runs (1 = along x)."""
        return 1 if abs(self.fastaxis) == 1 else 0


@dataclass(frozen=True)
class SubarrayInfo:
    """A readout window, keyed in :data:`SUBARRAYS` by ``(instrument, name)``.

    Attributes
    ----------
    instrument : str
        ``INSTRUME`` keyword.
    name : str
        Table name: the ``SUBARRAY`` keyword, with a ``_1OUT`` suffix for the 1-output variant
        of a window that flight data also read with 4 outputs (see :attr:`keyword`).
    xstart, ystart : int
        ``SUBSTRT1``/``SUBSTRT2``: first pixel, 1-based, full-frame DMS coordinates.
    xsize, ysize : int
        ``SUBSIZE1``/``SUBSIZE2``, pixels.
    noutputs : int
        ``NOUTPUTS``: outputs used to read the window.
    tframe : float or None
        Frame time, s, where it does not follow the HxRG clocking formula (MIRI); None otherwise.
    """

    instrument: str
    name: str
    xstart: int
    ystart: int
    xsize: int
    ysize: int
    noutputs: int
    tframe: float | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """Array shape ``(ysize, xsize)``, pixels."""
        return (self.ysize, self.xsize)

    @property
    def keyword(self) -> str:
        """The ``SUBARRAY`` keyword value (``SUBGRISM64_1OUT`` is ``SUBGRISM64`` with 1 output)."""
        return self.name.removesuffix("_1OUT")


@dataclass(frozen=True)
class ReadoutPattern:
    """A MULTIACCUM readout pattern: ``nframes`` averaged per group, ``groupgap`` dropped."""

    name: str
    nframes: int
    groupgap: int


def _nircam(det: str, *, fast: int, sca: int) -> DetectorInfo:
    long = det.endswith("LONG")
    module = det[3]
    siaf_det = f"NRC{module}5" if long else det
    return DetectorInfo(
        detector=det,
        instrument="NIRCAM",
        channel="LONG" if long else "SHORT",
        module=module,
        shape=(2048, 2048),
        fastaxis=fast,
        slowaxis=-2 * fast,
        n_outputs=4,
        gain=1.82 if long else 2.05,
        read_noise=5.0 if long else 5.5,
        bias=12500.0 if long else 12000.0,
        dark_current=0.012 if long else 0.0015,
        saturation=60000.0,
        detector_type="HXRG",
        sca_num=sca,
        siaf_instrument="NIRCam",
        siaf_full_aperture=f"{siaf_det}_FULL",
    )


#: Detector facts keyed by the ``DETECTOR`` keyword.
DETECTORS: dict[str, DetectorInfo] = {
    d.detector: d
    for d in [
        _nircam("NRCA1", fast=-1, sca=481),
        _nircam("NRCA2", fast=1, sca=482),
        _nircam("NRCA3", fast=-1, sca=483),
        _nircam("NRCA4", fast=1, sca=484),
        _nircam("NRCALONG", fast=-1, sca=485),
        _nircam("NRCB1", fast=1, sca=486),
        _nircam("NRCB2", fast=-1, sca=487),
        _nircam("NRCB3", fast=1, sca=488),
        _nircam("NRCB4", fast=-1, sca=489),
        _nircam("NRCBLONG", fast=1, sca=490),
        DetectorInfo(
            detector="NIS",
            instrument="NIRISS",
            channel=None,
            module=None,
            shape=(2048, 2048),
            fastaxis=-2,
            slowaxis=-1,
            n_outputs=4,
            gain=1.61,
            read_noise=6.0,
            bias=11500.0,
            dark_current=0.012,
            saturation=60000.0,
            detector_type="HXRG",
            sca_num=496,
            siaf_instrument="NIRISS",
            siaf_full_aperture="NIS_CEN",
        ),
        DetectorInfo(
            detector="NRS1",
            instrument="NIRSPEC",
            channel=None,
            module=None,
            shape=(2048, 2048),
            fastaxis=2,
            slowaxis=1,
            n_outputs=4,
            gain=1.08,
            read_noise=9.0,
            bias=13000.0,
            dark_current=0.006,
            saturation=60000.0,
            detector_type="HXRG",
            sca_num=491,
            siaf_instrument="NIRSpec",
            siaf_full_aperture="NRS1_FULL",
        ),
        DetectorInfo(
            detector="NRS2",
            instrument="NIRSPEC",
            channel=None,
            module=None,
            shape=(2048, 2048),
            fastaxis=-2,
            slowaxis=-1,
            n_outputs=4,
            gain=1.08,
            read_noise=9.5,
            bias=13500.0,
            dark_current=0.008,
            saturation=60000.0,
            detector_type="HXRG",
            sca_num=492,
            siaf_instrument="NIRSpec",
            siaf_full_aperture="NRS2_FULL",
        ),
        DetectorInfo(
            detector="MIRIMAGE",
            instrument="MIRI",
            channel=None,
            module=None,
            shape=(1024, 1032),
            fastaxis=1,
            slowaxis=2,
            n_outputs=4,
            gain=4.0,
            read_noise=6.0,
            bias=10000.0,
            dark_current=0.15,
            saturation=60000.0,
            detector_type="SIAS",
            sca_num=493,
            siaf_instrument="MIRI",
            siaf_full_aperture="MIRIM_FULL",
        ),
    ]
}


def _sub(instr: str, name: str, xs: int, ys: int, nx: int, ny: int, nout: int, tframe=None):
    return SubarrayInfo(instr, name, xs, ys, nx, ny, nout, tframe)


#: Subarray windows keyed by ``(instrument, name)``. For NIRCam SW/LW imaging subarrays the
#: position depends on the detector: :func:`get_subarray` applies :data:`_PLACEMENT`.
SUBARRAYS: dict[tuple[str, str], SubarrayInfo] = {
    (s.instrument, s.name): s
    for s in [
        # NIRCam
        _sub("NIRCAM", "FULL", 1, 1, 2048, 2048, 4),
        _sub("NIRCAM", "SUB640", 1, 1, 640, 640, 1),
        _sub("NIRCAM", "SUB320", 1, 1, 320, 320, 1),
        _sub("NIRCAM", "SUB160", 1, 1, 160, 160, 1),
        _sub("NIRCAM", "SUB400P", 1649, 1649, 400, 400, 1),
        _sub("NIRCAM", "SUB160P", 1889, 1889, 160, 160, 1),
        _sub("NIRCAM", "SUB64P", 1935, 1911, 64, 64, 1),
        # Grism time series strips: full width, read with 4 outputs...
        _sub("NIRCAM", "SUBGRISM64", 1, 1, 2048, 64, 4),
        _sub("NIRCAM", "SUBGRISM128", 1, 1, 2048, 128, 4),
        _sub("NIRCAM", "SUBGRISM256", 1, 1, 2048, 256, 4),
        # ...or with one output (NOUTPUTS=1 variant of the same window, longer frame time).
        _sub("NIRCAM", "SUBGRISM64_1OUT", 1, 1, 2048, 64, 1),
        _sub("NIRCAM", "SUBGRISM128_1OUT", 1, 1, 2048, 128, 1),
        _sub("NIRCAM", "SUBGRISM256_1OUT", 1, 1, 2048, 256, 1),
        # NIRSpec (fast axis along DMS y: a 2048 x 32 strip is read 32 pixels per row)
        _sub("NIRSPEC", "FULL", 1, 1, 2048, 2048, 4),
        _sub("NIRSPEC", "SUBS200A1", 1, 1041, 2048, 64, 1),
        _sub("NIRSPEC", "SUB2048", 1, 946, 2048, 32, 1),
        _sub("NIRSPEC", "ALLSLITS", 1, 897, 2048, 256, 1),
        # NIRISS
        _sub("NIRISS", "FULL", 1, 1, 2048, 2048, 4),
        _sub("NIRISS", "SUB256", 1793, 1793, 256, 256, 1),
        _sub("NIRISS", "SUB128", 1921, 1921, 128, 128, 1),
        _sub("NIRISS", "SUB64", 1985, 1985, 64, 64, 1),
        _sub("NIRISS", "SUBSTRIP256", 1, 1793, 2048, 256, 1),
        _sub("NIRISS", "SUBSTRIP96", 1, 1803, 2048, 96, 1),
        # MIRI imager (frame times from the MIRI readout tables, FAST mode)
        _sub("MIRI", "FULL", 1, 1, 1032, 1024, 4, 2.77504),
        _sub("MIRI", "BRIGHTSKY", 457, 51, 512, 512, 4, 0.86528),
        _sub("MIRI", "SUB256", 413, 51, 256, 256, 4, 0.29952),
        _sub("MIRI", "SUB128", 1, 889, 136, 128, 4, 0.11904),
        _sub("MIRI", "SUB64", 1, 779, 72, 64, 4, 0.08524),
    ]
}

# Per-detector (xstart, ystart) of NIRCam windows, from the SIAF (det -> sci of the FULL aperture).
_PLACEMENT: dict[tuple[str, str], tuple[int, int]] = {}
for _det, _corner in {
    "NRCA1": (1409, 1409),
    "NRCA2": (1409, 1),
    "NRCA3": (1, 1409),
    "NRCA4": (1, 1),
    "NRCB1": (1, 1),
    "NRCB2": (1, 1409),
    "NRCB3": (1409, 1),
    "NRCB4": (1409, 1409),
}.items():
    for _size in (640, 320, 160):
        _off = 640 - _size
        _x = _corner[0] + (_off if _corner[0] > 1 else 0)
        _y = _corner[1] + (_off if _corner[1] > 1 else 0)
        _PLACEMENT[(_det, f"SUB{_size}")] = (_x, _y)
for _det, _centre in {"NRCALONG": (705, 705), "NRCBLONG": (693, 701)}.items():
    for _size in (640, 320, 160):
        _off = (640 - _size) // 2
        _PLACEMENT[(_det, f"SUB{_size}")] = (_centre[0] + _off, _centre[1] + _off)
for _name in ("SUBGRISM64", "SUBGRISM128", "SUBGRISM256"):
    for _suffix in ("", "_1OUT"):
        _h = int(_name[len("SUBGRISM") :])
        _PLACEMENT[("NRCBLONG", _name + _suffix)] = (1, 2049 - _h)

#: MULTIACCUM readout patterns keyed by ``READPATT``.
READOUT_PATTERNS: dict[str, ReadoutPattern] = {
    p.name: p
    for p in [
        ReadoutPattern("RAPID", 1, 0),
        ReadoutPattern("BRIGHT1", 1, 1),
        ReadoutPattern("BRIGHT2", 2, 0),
        ReadoutPattern("SHALLOW2", 2, 3),
        ReadoutPattern("SHALLOW4", 4, 1),
        ReadoutPattern("MEDIUM2", 2, 8),
        ReadoutPattern("MEDIUM8", 8, 2),
        ReadoutPattern("DEEP2", 2, 18),
        ReadoutPattern("DEEP8", 8, 12),
        ReadoutPattern("NISRAPID", 1, 0),
        ReadoutPattern("NIS", 4, 0),
        ReadoutPattern("NRSRAPID", 1, 0),
        ReadoutPattern("NRS", 4, 0),
        ReadoutPattern("FAST", 1, 0),
    ]
}


def get_detector(detector: str) -> DetectorInfo:
    """Return the :class:`DetectorInfo` of a ``DETECTOR`` keyword (case-insensitive).

    Raises
    ------
    KeyError
        With the list of known detectors.
    """
    key = detector.upper()
    if key not in DETECTORS:
        raise KeyError(f"unknown detector {detector!r}; known: {', '.join(DETECTORS)}")
    return DETECTORS[key]


def get_subarray(detector: str, name: str) -> SubarrayInfo:
    """Return the window of subarray ``name`` on ``detector``, with its per-detector position.

    Parameters
    ----------
    detector : str
        ``DETECTOR`` keyword.
    name : str
        ``SUBARRAY`` keyword, e.g. ``"FULL"``, ``"SUB640"``, ``"SUBGRISM256"``.

    Raises
    ------
    KeyError
        If the instrument has no such subarray in :data:`SUBARRAYS`.
    """
    det = get_detector(detector)
    key = (det.instrument, name.upper())
    if key not in SUBARRAYS:
        known = sorted(n for (i, n) in SUBARRAYS if i == det.instrument)
        raise KeyError(f"unknown {det.instrument} subarray {name!r}; known: {', '.join(known)}")
    sub = SUBARRAYS[key]
    place = _PLACEMENT.get((det.detector, sub.name))
    if place is not None:
        sub = replace(sub, xstart=place[0], ystart=place[1])
    return sub


def frame_time(detector: str, subarray: SubarrayInfo) -> float:
    """Frame time of a window, seconds.

    For HxRG detectors ``tframe = (n_fast / noutputs + 12) * (n_slow + 1) * 10 us`` where
    ``n_fast``/``n_slow`` are the window sizes along the fast and slow read directions
    (FULL: 10.73676 s; NIRCam SUBGRISM256 with 4 outputs: 1.34669 s; NIRSpec SUB2048:
    0.90156 s). MIRI uses the tabulated frame time of the subarray.
    """
    det = get_detector(detector)
    if subarray.tframe is not None:
        return float(subarray.tframe)
    if abs(det.fastaxis) == 1:
        n_fast, n_slow = subarray.xsize, subarray.ysize
    else:
        n_fast, n_slow = subarray.ysize, subarray.xsize
    per_row = n_fast // subarray.noutputs + ROW_OVERHEAD
    return round(per_row * (n_slow + FRAME_OVERHEAD_ROWS) * PIXEL_TIME, 8)


def subarray_slices(subarray: SubarrayInfo) -> tuple[slice, slice]:
    """Numpy slices ``(rows, columns)`` that cut ``subarray`` out of a full-frame array."""
    y0 = max(subarray.ystart - 1, 0)
    x0 = max(subarray.xstart - 1, 0)
    return (
        slice(y0, subarray.ystart - 1 + subarray.ysize),
        slice(x0, subarray.xstart - 1 + subarray.xsize),
    )


def reference_pixel_mask(detector: str) -> np.ndarray:
    """Full-frame boolean mask of reference pixels, True = reference pixel, shape ``(ny, nx)``.

    HxRG: the 4-pixel border on all sides. MIRI: the 4 columns at each side.
    """
    det = get_detector(detector)
    ny, nx = det.shape
    mask = np.zeros((ny, nx), dtype=bool)
    b = REFERENCE_BORDER
    mask[:, :b] = True
    mask[:, nx - b :] = True
    if det.is_hxrg:
        mask[:b, :] = True
        mask[ny - b :, :] = True
    return mask


def _rng(*keys: str) -> np.random.Generator:
    """A generator seeded deterministically from strings (stable across runs and platforms)."""
    seed = [zlib.crc32(k.encode()) for k in keys]
    return np.random.default_rng(seed)


@lru_cache(maxsize=4)
def _superbias(detector: str) -> np.ndarray:
    det = get_detector(detector)
    ny, nx = det.shape
    rng = _rng("superbias", det.detector)
    # Column-to-column structure plus a pixel-to-pixel scatter and a per-output offset.
    bias = np.full((ny, nx), det.bias, dtype=np.float32)
    bias += rng.normal(0.0, 30.0, size=(1, nx)).astype(np.float32) if det.is_hxrg else 0.0
    bias += rng.normal(0.0, 20.0, size=(ny, nx)).astype(np.float32)
    n_out = det.n_outputs
    offsets = rng.normal(0.0, 150.0, size=n_out).astype(np.float32)
    if det.is_hxrg:
        fast_axis = det.fast_numpy_axis
        width = det.shape[fast_axis] // n_out
        for k in range(n_out):
            sl = [slice(None), slice(None)]
            sl[fast_axis] = slice(k * width, (k + 1) * width)
            bias[tuple(sl)] += offsets[k]
    else:
        for k in range(n_out):
            bias[:, k::n_out] += offsets[k]
    bias.setflags(write=False)
    return bias


def superbias_map(detector: str) -> np.ndarray:
    """Deterministic superbias of a detector, DN, float32 ``(ny, nx)`` full frame.

    The level :attr:`DetectorInfo.bias` plus a per-output offset (sigma 150 DN), HxRG column
    structure (sigma 30 DN) and pixel-to-pixel scatter (sigma 20 DN). Cut a subarray with
    :func:`subarray_slices`.
    """
    return _superbias(get_detector(detector).detector).copy()


def flat_map(detector: str, filter: str = "CLEAR") -> np.ndarray:  # noqa: A002
    """Deterministic pixel flat, dimensionless, float32 ``(ny, nx)`` full frame, mean 1.

    A smooth large-scale pattern (+-2 %) plus 1 % pixel-to-pixel scatter; reference pixels 1.
    Depends on the detector and (weakly, through the seed) on the filter.
    """
    det = get_detector(detector)
    ny, nx = det.shape
    rng = _rng("flat", det.detector, filter.upper())
    y = np.linspace(-1.0, 1.0, ny, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, nx, dtype=np.float32)[None, :]
    c = rng.uniform(-0.01, 0.01, size=5).astype(np.float32)
    flat = 1.0 + c[0] * x + c[1] * y + c[2] * x * y + c[3] * (x**2 - 1 / 3) + c[4] * (y**2 - 1 / 3)
    flat = flat + rng.normal(0.0, 0.01, size=(ny, nx)).astype(np.float32)
    flat /= np.mean(flat)
    flat[reference_pixel_mask(det.detector)] = 1.0
    return flat.astype(np.float32)


def gain_map(detector: str) -> np.ndarray:
    """Gain, e-/DN, float32 ``(ny, nx)`` full frame (uniform :attr:`DetectorInfo.gain`)."""
    det = get_detector(detector)
    return np.full(det.shape, det.gain, dtype=np.float32)


def readnoise_map(detector: str) -> np.ndarray:
    """Single-frame white read noise, DN, float32 ``(ny, nx)`` full frame.

    :attr:`DetectorInfo.read_noise` on science pixels, 0.8 times that on reference pixels
    (the NGHXRG default ratio).
    """
    det = get_detector(detector)
    rn = np.full(det.shape, det.read_noise, dtype=np.float32)
    rn[reference_pixel_mask(det.detector)] *= 0.8
    return rn


def dark_map(detector: str) -> np.ndarray:
    """Dark current, DN/s, float32 ``(ny, nx)`` full frame; 0 on reference pixels."""
    det = get_detector(detector)
    dark = np.full(det.shape, det.dark_current, dtype=np.float32)
    dark[reference_pixel_mask(det.detector)] = 0.0
    return dark


def saturation_map(detector: str) -> np.ndarray:
    """Saturation level of raw data (bias included), DN, float32 ``(ny, nx)`` full frame."""
    det = get_detector(detector)
    return np.full(det.shape, det.saturation, dtype=np.float32)
