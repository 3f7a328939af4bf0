"""A small dithered programme: several exposures of one field, written as JWST files.

All exposures see the same sky catalogue; each dither moves the pointing by an offset in the
aperture's ideal frame (arcsec), converted to ``ra_ref``/``dec_ref`` with the attitude matrix,
so the level-3 pipeline can register and combine them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from jwst1f import instruments as ins
from jwst1f.simulate import scenes as sc
from jwst1f.simulate.exposure import simulate_exposure
from jwst1f.simulate.metadata import (
    ExposureIds,
    Pointing,
    _import_pysiaf,
    aperture_name,
    attitude,
    siaf_aperture,
)
from jwst1f.simulate.writers import write_rate, write_truth, write_uncal

__all__ = ["ProgrammeSpec", "simulate_programme", "DEFAULT_DITHERS"]

log = logging.getLogger(__name__)

#: Default dither offsets in the ideal frame, arcsec (a small 3-point pattern).
DEFAULT_DITHERS: tuple[tuple[float, float], ...] = ((0.0, 0.0), (2.07, 1.31), (-1.73, 2.83))


@dataclass
class ProgrammeSpec:
    """What :func:`simulate_programme` simulates.

    Attributes
    ----------
    detectors : list of str
        Detectors read in every exposure (e.g. ``["NRCA1", "NRCALONG"]``).
    subarray : str
        Subarray name.
    scene : str
        Scene name (imaging scenes share one sky catalogue).
    dithers : list of (float, float)
        Pointing offsets in the ideal frame, arcsec; one exposure per entry.
    ngroups, nints : int
        Groups and integrations per exposure.
    readpatt : str or None
        Readout pattern (default per instrument).
    products : list of str
        Any of ``uncal``, ``rate``, ``rateints``, ``truth``.
    seed : int
        Master seed.
    program, observation, visit : int
        Identifiers used in the file names.
    ra, dec, roll : float
        Pointing of the first exposure, degrees.
    target_name : str
        ``TARGNAME``.
    """

    detectors: list[str] = field(default_factory=lambda: ["NRCA1"])
    subarray: str = "FULL"
    scene: str = "field"
    dithers: list[tuple[float, float]] = field(default_factory=lambda: list(DEFAULT_DITHERS))
    ngroups: int = 5
    nints: int = 1
    readpatt: str | None = None
    products: list[str] = field(default_factory=lambda: ["uncal", "truth"])
    seed: int = 0
    program: int = 1234
    observation: int = 1
    visit: int = 1
    ra: float = 53.16
    dec: float = -27.79
    roll: float = 60.0
    target_name: str = "JWST1F-FIELD"

    @classmethod
    def from_mapping(cls, m: Mapping[str, object]) -> ProgrammeSpec:
        """Build from a mapping (e.g. a YAML block); an unknown key raises ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = set(m) - known
        if unknown:
            raise ValueError(
                f"unknown programme setting(s): {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(known))}"
            )
        kw = dict(m)
        if "detectors" in kw and isinstance(kw["detectors"], str):
            kw["detectors"] = [kw["detectors"]]
        if "dithers" in kw:
            kw["dithers"] = [tuple(map(float, d)) for d in kw["dithers"]]  # type: ignore[union-attr]
        return cls(**kw)  # type: ignore[arg-type]


def _dither_pointings(spec: ProgrammeSpec) -> list[Pointing]:
    _import_pysiaf()
    from pysiaf.utils import rotations

    det = ins.get_detector(spec.detectors[0])
    sub = ins.get_subarray(det.detector, spec.subarray)
    apername = aperture_name(det, sub, exp_type="NRC_IMAGE", filter="CLEAR")
    ap = siaf_aperture(det, apername)
    base = Pointing(ra_ref=spec.ra, dec_ref=spec.dec, roll_ref=spec.roll)
    att = attitude(det, apername, base)
    out = []
    for dx, dy in spec.dithers:
        v2, v3 = ap.idl_to_tel(dx, dy)
        ra, dec = rotations.pointing(att, v2, v3)
        out.append(
            Pointing(
                ra_ref=float(ra),
                dec_ref=float(dec),
                roll_ref=spec.roll,
                target_ra=spec.ra,
                target_dec=spec.dec,
                target_name=spec.target_name,
            )
        )
    return out


def simulate_programme(
    outdir: str | os.PathLike,
    spec: ProgrammeSpec | Mapping[str, object] | None = None,
    *,
    progress: bool = True,
) -> list[Path]:
    """Simulate a small dithered programme and write its files into ``outdir``.

    Parameters
    ----------
    outdir : path-like
        Output folder (created if missing).
    spec : ProgrammeSpec or mapping, optional
        What to simulate; default: NRCA1 full frame, 3 dithers, 5 groups, uncal + truth.
    progress : bool
        Show a progress bar.

    Returns
    -------
    list of pathlib.Path
        Every file written, in order.
    """
    if spec is None:
        spec = ProgrammeSpec()
    elif not isinstance(spec, ProgrammeSpec):
        spec = ProgrammeSpec.from_mapping(spec)
    bad = set(spec.products) - {"uncal", "rate", "rateints", "truth"}
    if bad:
        raise ValueError(f"unknown product(s) {sorted(bad)}; use uncal, rate, rateints, truth")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    pointings = _dither_pointings(spec)
    # One sky catalogue for the whole programme.
    det0 = ins.get_detector(spec.detectors[0])
    radius = 1.5 * 2048 * (0.063 if det0.channel == "LONG" else 0.031)
    if det0.instrument == "NIRISS":
        radius = 1.2 * 2048 * 0.0656
    elif det0.instrument == "MIRI":
        radius = 1.2 * 1032 * 0.11
    rng = np.random.default_rng([spec.seed, 99])
    catalog = sc.random_catalog(
        rng, ra=spec.ra, dec=spec.dec, radius_arcsec=radius, n_stars=900, n_galaxies=1100
    )
    jobs = [(k, d) for k in range(len(pointings)) for d in spec.detectors]
    written: list[Path] = []
    try:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="simulate", unit="exp", disable=not progress)
    except ImportError:  # pragma: no cover - tqdm is a dependency
        bar = None
    for n, (k, detector) in enumerate(jobs):
        ids = ExposureIds(
            program=spec.program,
            observation=spec.observation,
            visit=spec.visit,
            exposure=k + 1,
            dither_position=k + 1,
            dither_points=len(pointings),
        )
        exp = simulate_exposure(
            detector=detector,
            subarray=spec.subarray,
            scene=spec.scene,
            ngroups=spec.ngroups,
            nints=spec.nints,
            readpatt=spec.readpatt,
            seed=int(np.random.SeedSequence([spec.seed, n]).generate_state(1)[0]),
            pointing=pointings[k],
            catalog=catalog,
            ids=ids,
            keep_ramp="uncal" in spec.products,
        )
        if "uncal" in spec.products:
            written.append(write_uncal(exp, outdir))
        for product in ("rate", "rateints"):
            if product in spec.products:
                written.append(write_rate(exp, outdir, product=product))
        if "truth" in spec.products:
            written.append(write_truth(exp, outdir))
        log.info("wrote %s (%.1f s)", exp.basename, exp.seconds)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return written
