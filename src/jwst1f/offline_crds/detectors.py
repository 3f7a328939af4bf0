"""Detector facts used to build the synthetic reference files.

The reference files of the offline cache must describe the same detectors as the simulator
(``jwst1f.simulate``), so every number and map comes from :mod:`jwst1f.instruments`: gain,
read noise, superbias, dark current, saturation, flat fields, reference pixels, subarray
windows and frame times.  This module is the only place where the cache reads those facts,
plus the imaging-filter tables that the photometric references need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jwst1f import instruments

__all__ = [
    "DetectorFacts",
    "KNOWN_DETECTORS",
    "DEFAULT_FILTERS",
    "IMAGING_FILTERS",
    "detector_facts",
    "superbias_map",
    "flat_map",
    "readnoise_map",
    "gain_map",
    "dark_map",
    "saturation_map",
    "reference_pixel_mask",
    "frame_time",
    "subarrays_for",
]

#: Every detector the cache can build references for, in a fixed order (it fixes file serials).
KNOWN_DETECTORS: tuple[str, ...] = (
    "NRCA1", "NRCA2", "NRCA3", "NRCA4", "NRCALONG",
    "NRCB1", "NRCB2", "NRCB3", "NRCB4", "NRCBLONG",
    "NIS", "NRS1", "NRS2", "MIRIMAGE",
)  # fmt: skip

#: Imaging filters per instrument/channel as (FILTER, PUPIL) pairs, each with its pivot
#: wavelength and bandwidth in microns.  Photometry tables cover all of them.
IMAGING_FILTERS: dict[str, dict[tuple[str, str], tuple[float, float]]] = {
    "NIRCAM_SHORT": {
        ("F070W", "CLEAR"): (0.704, 0.128),
        ("F090W", "CLEAR"): (0.901, 0.194),
        ("F115W", "CLEAR"): (1.154, 0.225),
        ("F140M", "CLEAR"): (1.404, 0.142),
        ("F150W", "CLEAR"): (1.501, 0.318),
        ("F150W2", "CLEAR"): (1.659, 1.176),
        ("F150W2", "F162M"): (1.626, 0.152),
        ("F150W2", "F164N"): (1.644, 0.020),
        ("F182M", "CLEAR"): (1.845, 0.238),
        ("F187N", "CLEAR"): (1.874, 0.024),
        ("F200W", "CLEAR"): (1.990, 0.461),
        ("F210M", "CLEAR"): (2.093, 0.205),
        ("F212N", "CLEAR"): (2.120, 0.027),
    },
    "NIRCAM_LONG": {
        ("F250M", "CLEAR"): (2.503, 0.181),
        ("F277W", "CLEAR"): (2.786, 0.672),
        ("F300M", "CLEAR"): (2.996, 0.318),
        ("F322W2", "CLEAR"): (3.247, 1.339),
        ("F322W2", "F323N"): (3.237, 0.038),
        ("F335M", "CLEAR"): (3.365, 0.347),
        ("F356W", "CLEAR"): (3.563, 0.787),
        ("F360M", "CLEAR"): (3.621, 0.372),
        ("F410M", "CLEAR"): (4.092, 0.436),
        ("F430M", "CLEAR"): (4.280, 0.228),
        ("F444W", "CLEAR"): (4.421, 1.024),
        ("F444W", "F405N"): (4.052, 0.046),
        ("F444W", "F466N"): (4.654, 0.054),
        ("F444W", "F470N"): (4.707, 0.051),
        ("F460M", "CLEAR"): (4.624, 0.228),
        ("F480M", "CLEAR"): (4.834, 0.303),
    },
    "NIRISS": {
        ("CLEAR", "F090W"): (0.901, 0.194),
        ("CLEAR", "F115W"): (1.149, 0.240),
        ("CLEAR", "F140M"): (1.405, 0.145),
        ("CLEAR", "F150W"): (1.496, 0.318),
        ("CLEAR", "F158M"): (1.582, 0.197),
        ("CLEAR", "F200W"): (1.979, 0.457),
        ("F277W", "CLEARP"): (2.776, 0.672),
        ("F356W", "CLEARP"): (3.593, 0.787),
        ("F380M", "CLEARP"): (3.827, 0.205),
        ("F430M", "CLEARP"): (4.285, 0.228),
        ("F444W", "CLEARP"): (4.432, 1.024),
        ("F480M", "CLEARP"): (4.813, 0.303),
    },
    "MIRI": {
        ("F560W", "N/A"): (5.635, 1.000),
        ("F770W", "N/A"): (7.639, 1.950),
        ("F1000W", "N/A"): (9.953, 1.800),
        ("F1130W", "N/A"): (11.309, 0.730),
        ("F1280W", "N/A"): (12.810, 2.470),
        ("F1500W", "N/A"): (15.064, 2.920),
        ("F1800W", "N/A"): (17.984, 2.950),
        ("F2100W", "N/A"): (20.795, 4.580),
        ("F2550W", "N/A"): (25.365, 3.670),
    },
}

#: Filters for which flats are built when the caller does not name any (the demo's filters).
DEFAULT_FILTERS: dict[str, tuple[tuple[str, str], ...]] = {
    "NIRCAM_SHORT": (("F150W", "CLEAR"), ("F200W", "CLEAR")),
    "NIRCAM_LONG": (("F356W", "CLEAR"), ("F444W", "CLEAR")),
    "NIRISS": (("CLEAR", "F150W"), ("CLEAR", "F200W")),
    "MIRI": (("F770W", "N/A"), ("F1500W", "N/A")),
    "NIRSPEC": (),
}


@dataclass(frozen=True)
class DetectorFacts:
    """What the reference files need to know about one detector.

    Attributes
    ----------
    detector : str
        DETECTOR keyword, e.g. ``"NRCA1"``.
    instrument : str
        INSTRUME keyword (upper case).
    channel, module : str or None
        NIRCam channel (``"SHORT"``/``"LONG"``) and module (``"A"``/``"B"``).
    siaf_aperture : str
        Full-frame SIAF aperture used for the distortion.
    shape : tuple of int
        Full-frame array shape (ny, nx), pixels, DMS orientation.
    gain : float
        e-/DN.
    read_noise : float
        Read noise of one read, DN.
    bias : float
        Mean bias level, DN.
    dark_current : float
        DN/s.
    saturation : float
        DN (raw, bias included).
    """

    detector: str
    instrument: str
    channel: str | None
    module: str | None
    siaf_aperture: str
    shape: tuple[int, int]
    gain: float
    read_noise: float
    bias: float
    dark_current: float
    saturation: float

    @property
    def family(self) -> str:
        """Key into the per-family tables: ``NIRCAM_SHORT``, ``NIRCAM_LONG``, ``NIRISS``..."""
        if self.instrument == "NIRCAM":
            return f"NIRCAM_{self.channel}"
        return self.instrument


def detector_facts(detector: str) -> DetectorFacts:
    """Return the facts about ``detector`` (from :mod:`jwst1f.instruments`).

    Parameters
    ----------
    detector : str
        DETECTOR keyword (case-insensitive), one of `KNOWN_DETECTORS`.

    Raises
    ------
    ValueError
        If the detector is unknown.
    """
    det = detector.upper()
    if det not in KNOWN_DETECTORS:
        raise ValueError(
            f"unknown detector {detector!r}; the offline cache knows {', '.join(KNOWN_DETECTORS)}"
        )
    info = instruments.get_detector(det)
    return DetectorFacts(
        detector=info.detector,
        instrument=info.instrument,
        channel=info.channel,
        module=info.module,
        siaf_aperture=info.siaf_full_aperture,
        shape=tuple(info.shape),
        gain=float(info.gain),
        read_noise=float(info.read_noise),
        bias=float(info.bias),
        dark_current=float(info.dark_current),
        saturation=float(info.saturation),
    )


def superbias_map(facts: DetectorFacts) -> np.ndarray:
    """Full-frame bias, DN, float32 ``facts.shape`` (``jwst1f.instruments.superbias_map``)."""
    return np.asarray(instruments.superbias_map(facts.detector), dtype=np.float32)


def flat_map(facts: DetectorFacts, filter_name: str, pupil: str) -> np.ndarray:
    """Full-frame flat (mean 1), float32 ``facts.shape`` (``jwst1f.instruments.flat_map``).

    The simulator multiplies every exposure by ``jwst1f.instruments.flat_map(detector,
    FILTER)`` (``jwst1f.simulate.exposure``), whatever the pupil, so the flat reference is keyed
    the same way: for NIRISS imaging (FILTER=CLEAR, the filter in the pupil wheel) and NIRCam
    pupil-wheel narrow bands all pupils share the FILTER's flat.  ``pupil`` is accepted so that
    a future pupil-dependent simulator flat needs a change here only.
    """
    del pupil  # the simulator's flat does not depend on it (see above)
    return np.asarray(instruments.flat_map(facts.detector, filter_name), dtype=np.float32)


def readnoise_map(facts: DetectorFacts) -> np.ndarray:
    """Single-read noise, DN, float32 ``facts.shape``."""
    return np.asarray(instruments.readnoise_map(facts.detector), dtype=np.float32)


def gain_map(facts: DetectorFacts) -> np.ndarray:
    """Gain, e-/DN, float32 ``facts.shape``."""
    return np.asarray(instruments.gain_map(facts.detector), dtype=np.float32)


def dark_map(facts: DetectorFacts) -> np.ndarray:
    """Dark current, DN/s, float32 ``facts.shape``."""
    return np.asarray(instruments.dark_map(facts.detector), dtype=np.float32)


def saturation_map(facts: DetectorFacts) -> np.ndarray:
    """Saturation level (bias included), DN, float32 ``facts.shape``."""
    return np.asarray(instruments.saturation_map(facts.detector), dtype=np.float32)


def reference_pixel_mask(facts: DetectorFacts) -> np.ndarray:
    """Boolean ``facts.shape``, True on reference pixels."""
    return np.asarray(instruments.reference_pixel_mask(facts.detector), dtype=bool)


def frame_time(facts: DetectorFacts, subarray) -> float:
    """Frame time of ``subarray`` (a ``jwst1f.instruments.SubarrayInfo``) on the detector, s."""
    return float(instruments.frame_time(facts.detector, subarray))


def subarrays_for(facts: DetectorFacts) -> dict:
    """Readout windows of the detector as ``{SUBARRAY keyword: SubarrayInfo}``, FULL first.

    Windows are placed on the detector with ``jwst1f.instruments.get_subarray``.  Where the
    table holds a 1-output and a 4-output variant of one window (``SUBGRISM64_1OUT``), only
    the variant named by the keyword itself is kept, since CRDS matches on the keyword.
    """
    out = {}
    names = sorted(n for (inst, n) in instruments.SUBARRAYS if inst == facts.instrument)
    names.sort(key=lambda n: n != "FULL")
    for name in names:
        sub = instruments.get_subarray(facts.detector, name)
        if sub.keyword in out or sub.name != sub.keyword:
            continue
        ny, nx = facts.shape
        if sub.xstart + sub.xsize - 1 <= nx and sub.ystart + sub.ysize - 1 <= ny:
            out[sub.keyword] = sub
    return out
