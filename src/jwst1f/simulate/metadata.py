"""Flight-like metadata of simulated exposures, as jwst datamodel attribute paths.

Pointing and WCS keywords come from the SIAF (pysiaf): ``v2_ref``/``v3_ref``, ``v3yangle``,
``vparity`` and the science reference pixel of the aperture, with an attitude matrix built so
that the aperture reference point lands on ``(ra_ref, dec_ref)`` at V3 position angle
``roll_ref``.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import numpy as np

from jwst1f.instruments import DetectorInfo, SubarrayInfo

__all__ = [
    "Pointing",
    "ExposureIds",
    "KEYWORDS",
    "siaf_aperture",
    "aperture_name",
    "attitude",
    "project_to_window",
    "exposure_metadata",
    "header_from_meta",
    "apply_meta",
    "jwst_basename",
]

#: FITS keyword -> datamodel attribute path, for the keywords that describe the readout.
KEYWORDS: dict[str, str] = {
    "TELESCOP": "meta.telescope",
    "INSTRUME": "meta.instrument.name",
    "DETECTOR": "meta.instrument.detector",
    "CHANNEL": "meta.instrument.channel",
    "MODULE": "meta.instrument.module",
    "FILTER": "meta.instrument.filter",
    "PUPIL": "meta.instrument.pupil",
    "GRATING": "meta.instrument.grating",
    "EXP_TYPE": "meta.exposure.type",
    "READPATT": "meta.exposure.readpatt",
    "NOUTPUTS": "meta.exposure.noutputs",
    "NINTS": "meta.exposure.nints",
    "NGROUPS": "meta.exposure.ngroups",
    "NFRAMES": "meta.exposure.nframes",
    "GROUPGAP": "meta.exposure.groupgap",
    "TFRAME": "meta.exposure.frame_time",
    "TGROUP": "meta.exposure.group_time",
    "EFFINTTM": "meta.exposure.integration_time",
    "EFFEXPTM": "meta.exposure.exposure_time",
    "SUBARRAY": "meta.subarray.name",
    "SUBSTRT1": "meta.subarray.xstart",
    "SUBSTRT2": "meta.subarray.ystart",
    "SUBSIZE1": "meta.subarray.xsize",
    "SUBSIZE2": "meta.subarray.ysize",
    "FASTAXIS": "meta.subarray.fastaxis",
    "SLOWAXIS": "meta.subarray.slowaxis",
    "DATE-OBS": "meta.observation.date",
    "TIME-OBS": "meta.observation.time",
    "PROGRAM": "meta.observation.program_number",
    "OBSERVTN": "meta.observation.observation_number",
    "VISIT": "meta.observation.visit_number",
    "EXPOSURE": "meta.observation.exposure_number",
}


@dataclass(frozen=True)
class Pointing:
    """Where the aperture reference point points: ``ra_ref``, ``dec_ref`` (deg), ``roll_ref``
    (V3 position angle at the reference point, deg) and the target position (deg)."""

    ra_ref: float = 53.16
    dec_ref: float = -27.79
    roll_ref: float = 60.0
    target_ra: float | None = None
    target_dec: float | None = None
    target_name: str = "JWST1F-FIELD"


@dataclass(frozen=True)
class ExposureIds:
    """Programme, observation, visit, visit group, sequence, activity and exposure numbers."""

    program: int = 1234
    observation: int = 1
    visit: int = 1
    visit_group: int = 1
    sequence: int = 1
    activity: int = 1
    exposure: int = 1
    dither_position: int = 1
    dither_points: int = 1


def jwst_basename(ids: ExposureIds, detector: str) -> str:
    """``jw{PPPPP}{OOO}{VVV}_{GG}{S}{AA}_{EEEEE}_{detector}`` (lower-case detector)."""
    return (
        f"jw{ids.program:05d}{ids.observation:03d}{ids.visit:03d}_"
        f"{ids.visit_group:02d}{ids.sequence:1d}{ids.activity:02d}_"
        f"{ids.exposure:05d}_{detector.lower()}"
    )


def _import_pysiaf():
    """Import pysiaf without its warning about not reaching the network for the PRD version."""
    logger = logging.getLogger("pysiaf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import pysiaf
            from pysiaf.utils import rotations  # noqa: F401
    finally:
        logger.setLevel(level)
    return pysiaf


@lru_cache(maxsize=8)
def _siaf(instrument: str):
    pysiaf = _import_pysiaf()
    with contextlib.redirect_stdout(io.StringIO()):
        return pysiaf.Siaf(instrument)


def aperture_name(det: DetectorInfo, sub: SubarrayInfo, *, exp_type: str, filter: str) -> str:  # noqa: A002
    """The SIAF aperture flight data would name in ``APERNAME`` for this configuration."""
    siaf = _siaf(det.siaf_instrument)
    base = det.siaf_full_aperture.rsplit("_", 1)[0]
    candidates: list[str] = []
    name = sub.keyword
    if det.instrument == "NIRSPEC":
        candidates = {
            "NRS_IFU": ["NRS_FULL_IFU"],
            "NRS_FIXEDSLIT": ["NRS_S200A1_SLIT"],
            "NRS_MSASPEC": ["NRS_FULL_MSA"],
        }.get(exp_type, [])
    elif det.instrument == "NIRCAM" and name.startswith("SUBGRISM"):
        candidates = [f"{base}_GRISM{name[len('SUBGRISM') :]}_{filter}"]
    elif det.instrument == "MIRI":
        candidates = [f"MIRIM_{name}"]
    elif name != "FULL":
        candidates = [f"{base}_{name}"]
    for cand in candidates:
        if cand in siaf.apertures:
            return cand
    return det.siaf_full_aperture


def siaf_aperture(det: DetectorInfo, name: str | None = None):
    """The pysiaf aperture ``name`` (default: the detector's full-frame aperture)."""
    return _siaf(det.siaf_instrument)[name or det.siaf_full_aperture]


def attitude(det: DetectorInfo, apername: str, pointing: Pointing) -> np.ndarray:
    """Attitude matrix placing aperture ``apername``'s reference point on the pointing."""
    _import_pysiaf()
    from pysiaf.utils import rotations

    ap = siaf_aperture(det, apername)
    return rotations.attitude(
        ap.V2Ref, ap.V3Ref, pointing.ra_ref, pointing.dec_ref, pointing.roll_ref
    )


def project_to_window(
    det: DetectorInfo,
    sub: SubarrayInfo,
    att: np.ndarray,
    ra: np.ndarray,
    dec: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Sky positions to 0-based window pixels (DMS) through the full-frame SIAF distortion."""
    _import_pysiaf()
    from pysiaf.utils import rotations

    v2, v3 = rotations.getv2v3(att, np.asarray(ra, float), np.asarray(dec, float))
    ap = siaf_aperture(det)
    xs, ys = ap.tel_to_sci(v2, v3)
    return xs - sub.xstart, ys - sub.ystart


_TEMPLATES = {
    "NRC_IMAGE": "NIRCam Imaging",
    "NRC_TSGRISM": "NIRCam Grism Time Series",
    "NIS_IMAGE": "NIRISS Imaging",
    "NRS_IFU": "NIRSpec IFU Spectroscopy",
    "NRS_FIXEDSLIT": "NIRSpec Fixed Slit Spectroscopy",
    "NRS_MSASPEC": "NIRSpec MultiObject Spectroscopy",
    "MIR_IMAGE": "MIRI Imaging",
}


def _mjd(t: datetime) -> float:
    return (t - datetime(1858, 11, 17, tzinfo=UTC)).total_seconds() / 86400.0


def exposure_metadata(
    *,
    det: DetectorInfo,
    sub: SubarrayInfo,
    exp_type: str,
    filter: str,  # noqa: A002
    pupil: str | None,
    grating: str | None,
    readpatt: str,
    nframes: int,
    groupgap: int,
    ngroups: int,
    nints: int,
    tframe: float,
    pointing: Pointing,
    ids: ExposureIds,
    start: datetime,
) -> dict[str, object]:
    """All metadata of a simulated exposure as ``{"meta.x.y": value}``.

    Timing follows the JWST definitions: ``tgroup = (nframes + groupgap) tframe``; effective
    integration time ``(ngroups nframes + (ngroups - 1) groupgap) tframe``; measurement time
    ``(ngroups - 1) tgroup nints``.
    """
    _import_pysiaf()
    from pysiaf.utils import rotations

    tgroup = (nframes + groupgap) * tframe
    tint = (ngroups * nframes + (ngroups - 1) * groupgap) * tframe
    texp = tint * nints
    duration = texp + (nints - 1) * tframe  # one reset frame between integrations
    end = start + timedelta(seconds=duration)
    mid = start + timedelta(seconds=duration / 2)
    apername = aperture_name(det, sub, exp_type=exp_type, filter=filter)
    ap = siaf_aperture(det, apername)
    full = siaf_aperture(det)
    att = attitude(det, apername, pointing)
    ra_v1, dec_v1 = rotations.pointing(att, 0.0, 0.0)
    pa_v3 = rotations.posangle(att, 0.0, 0.0)
    xref = ap.XSciRef if ap.XSciRef is not None else full.XSciRef
    yref = ap.YSciRef if ap.YSciRef is not None else full.YSciRef
    tra = pointing.ra_ref if pointing.target_ra is None else pointing.target_ra
    tdec = pointing.dec_ref if pointing.target_dec is None else pointing.target_dec
    tso = exp_type in ("NRC_TSGRISM", "NRC_TSIMAGE")
    meta: dict[str, object] = {
        "meta.telescope": "JWST",
        "meta.origin": "jwst1f",
        "meta.filename": "",
        "meta.data_processing_software_version": "jwst1f simulator",
        "meta.program.title": "jwst1f simulated programme",
        "meta.program.pi_name": "Simulator, J1F",
        "meta.program.category": "CAL",
        "meta.observation.date": start.strftime("%Y-%m-%d"),
        "meta.observation.time": start.strftime("%H:%M:%S.%f")[:12],
        "meta.observation.date_beg": start.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23],
        "meta.observation.date_end": end.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23],
        "meta.observation.program_number": f"{ids.program:05d}",
        "meta.observation.observation_number": f"{ids.observation:03d}",
        "meta.observation.visit_number": f"{ids.visit:03d}",
        "meta.observation.visit_group": f"{ids.visit_group:02d}",
        "meta.observation.sequence_id": f"{ids.sequence:1d}",
        "meta.observation.activity_id": f"{ids.activity:02d}",
        "meta.observation.exposure_number": f"{ids.exposure:d}",
        "meta.observation.visit_id": f"{ids.program:05d}{ids.observation:03d}{ids.visit:03d}",
        "meta.observation.obs_id": (
            f"V{ids.program:05d}{ids.observation:03d}{ids.visit:03d}P0000000"
            f"{ids.visit_group:02d}{ids.sequence:1d}{ids.activity:02d}"
        ),
        "meta.visit.tsovisit": tso,
        "meta.target.catalog_name": pointing.target_name,
        "meta.target.proposer_name": pointing.target_name,
        "meta.target.ra": float(tra),
        "meta.target.dec": float(tdec),
        "meta.target.type": "FIXED",
        "meta.instrument.name": det.instrument,
        "meta.instrument.detector": det.detector,
        "meta.instrument.filter": filter,
        "meta.exposure.type": exp_type,
        "meta.exposure.readpatt": readpatt,
        "meta.exposure.noutputs": sub.noutputs,
        "meta.exposure.nints": nints,
        "meta.exposure.ngroups": ngroups,
        "meta.exposure.nframes": nframes,
        "meta.exposure.groupgap": groupgap,
        "meta.exposure.frame_divisor": nframes,
        "meta.exposure.drop_frames1": 0,
        "meta.exposure.drop_frames3": 0,
        "meta.exposure.nsamples": 1,
        "meta.exposure.sample_time": 10.0,
        "meta.exposure.nresets_at_start": 1,
        "meta.exposure.nresets_between_ints": 1,
        "meta.exposure.frame_time": tframe,
        "meta.exposure.group_time": tgroup,
        "meta.exposure.integration_time": tint,
        "meta.exposure.exposure_time": texp,
        "meta.exposure.effective_exposure_time": texp,
        "meta.exposure.measurement_time": (ngroups - 1) * tgroup * nints,
        "meta.exposure.duration": duration,
        "meta.exposure.elapsed_exposure_time": duration,
        "meta.exposure.start_time": _mjd(start),
        "meta.exposure.mid_time": _mjd(mid),
        "meta.exposure.end_time": _mjd(end),
        "meta.exposure.start_time_mjd": _mjd(start),
        "meta.exposure.mid_time_mjd": _mjd(mid),
        "meta.exposure.end_time_mjd": _mjd(end),
        "meta.exposure.sca_num": det.sca_num,
        "meta.exposure.zero_frame": False,
        "meta.exposure.data_problem": False,
        "meta.exposure.count": ids.exposure,
        "meta.exposure.prime_parallel": "PRIME",
        "meta.subarray.name": sub.keyword,
        "meta.subarray.xstart": sub.xstart,
        "meta.subarray.ystart": sub.ystart,
        "meta.subarray.xsize": sub.xsize,
        "meta.subarray.ysize": sub.ysize,
        "meta.subarray.fastaxis": det.fastaxis,
        "meta.subarray.slowaxis": det.slowaxis,
        "meta.dither.position_number": ids.dither_position,
        "meta.dither.total_points": ids.dither_points,
        "meta.dither.primary_type": "NONE" if ids.dither_points == 1 else "FULL",
        "meta.dither.x_offset": 0.0,
        "meta.dither.y_offset": 0.0,
        "meta.aperture.name": apername,
        "meta.aperture.pps_name": apername,
        "meta.observation.template": _TEMPLATES.get(exp_type, "Simulated"),
        "meta.coordinates.reference_frame": "ICRS",
        "meta.target.proposer_ra": float(tra),
        "meta.target.proposer_dec": float(tdec),
        "meta.aperture.position_angle": float(pointing.roll_ref - ap.VIdlParity * ap.V3IdlYAngle),
        "meta.pointing.ra_v1": float(ra_v1),
        "meta.pointing.dec_v1": float(dec_v1),
        "meta.pointing.pa_v3": float(pa_v3),
        "meta.wcsinfo.v2_ref": float(ap.V2Ref),
        "meta.wcsinfo.v3_ref": float(ap.V3Ref),
        "meta.wcsinfo.vparity": int(ap.VIdlParity),
        "meta.wcsinfo.v3yangle": float(ap.V3IdlYAngle),
        "meta.wcsinfo.ra_ref": float(pointing.ra_ref),
        "meta.wcsinfo.dec_ref": float(pointing.dec_ref),
        "meta.wcsinfo.roll_ref": float(pointing.roll_ref),
        "meta.wcsinfo.siaf_xref_sci": float(xref),
        "meta.wcsinfo.siaf_yref_sci": float(yref),
        "meta.velocity_aberration.scale_factor": 1.0,
        "meta.velocity_aberration.va_ra_ref": float(pointing.ra_ref),
        "meta.velocity_aberration.va_dec_ref": float(pointing.dec_ref),
    }
    if det.channel is not None:
        meta["meta.instrument.channel"] = det.channel
    if det.module is not None:
        meta["meta.instrument.module"] = det.module
    if pupil is not None:
        meta["meta.instrument.pupil"] = pupil
    if grating is not None:
        meta["meta.instrument.grating"] = grating
    if det.instrument == "NIRSPEC":
        meta["meta.instrument.gwa_tilt"] = 37.07
        meta["meta.instrument.gwa_xtilt"] = 0.3357
        meta["meta.instrument.gwa_ytilt"] = 0.1358
        meta["meta.instrument.msa_state"] = "PRIMARYPARK_CONFIGURED"
        if exp_type == "NRS_FIXEDSLIT":
            meta["meta.instrument.fixed_slit"] = "S200A1"
    return meta


def apply_meta(model, meta: dict[str, object]) -> None:
    """Set every ``"meta.x.y"`` value of ``meta`` on a jwst datamodel."""
    for path, value in meta.items():
        if value is None:
            continue
        parts = path.split(".")
        node = model
        for p in parts[:-1]:
            node = getattr(node, p)
        setattr(node, parts[-1], value)


def header_from_meta(meta: dict[str, object]) -> dict[str, object]:
    """The FITS keywords of :data:`KEYWORDS` present in ``meta`` (for ``layout_from_header``)."""
    return {kw: meta[path] for kw, path in KEYWORDS.items() if path in meta}
