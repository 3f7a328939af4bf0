"""Simulate the inputs of the offline demo (``config/demo.yaml``) into ``resources/demo/``.

Called by ``scripts/demo.sh`` before the workflow runs; the simulated files play the part of the
``*_uncal.fits`` files a user downloads from MAST. Nothing is rewritten when the files are
already there (``--force`` rewrites them).

* ``nircam/``: a NIRCam imaging programme: NRCA1, full frame, a 3-point dither, 5 groups, F200W.
* ``nirspec/``: a NIRSpec fixed-slit programme: NRS1, SUBS200A1 subarray, 2 nods, 5 groups.

Usage: ``python scripts/demo_simulate.py [--outdir resources/demo] [--force]``
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("demo_simulate")

NIRCAM_SPEC = {
    "detectors": ["NRCA1"],
    "subarray": "FULL",
    "scene": "field",
    "ngroups": 5,
    "products": ["uncal"],
    "seed": 1,
    "program": 1234,
}
NIRSPEC_NODS = 2


def simulate_nircam(outdir: Path) -> list[Path]:
    """The dithered NIRCam imaging programme (3 full-frame uncal files)."""
    from jwst1f.simulate import simulate_programme

    return simulate_programme(outdir, NIRCAM_SPEC)


def simulate_nirspec(outdir: Path) -> list[Path]:
    """Two NIRSpec fixed-slit nods on the SUBS200A1 subarray."""
    from jwst1f.simulate import simulate_exposure, write_uncal
    from jwst1f.simulate.metadata import ExposureIds

    written = []
    for nod in range(1, NIRSPEC_NODS + 1):
        exp = simulate_exposure(
            detector="NRS1",
            subarray="SUBS200A1",
            exp_type="NRS_FIXEDSLIT",
            ngroups=5,
            seed=100 + nod,
            keep_ramp=True,
            ids=ExposureIds(
                program=1235, exposure=nod, dither_position=nod, dither_points=NIRSPEC_NODS
            ),
        )
        written.append(write_uncal(exp, outdir))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", type=Path, default=Path("resources/demo"))
    parser.add_argument("--force", action="store_true", help="simulate again even if present")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name, func, expected in (
        ("nircam", simulate_nircam, 3),
        ("nirspec", simulate_nirspec, NIRSPEC_NODS),
    ):
        folder = args.outdir / name
        present = sorted(folder.glob("*_uncal.fits"))
        if len(present) >= expected and not args.force:
            log.info("%s: %d simulated uncal files already in %s", name, len(present), folder)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        files = [p for p in func(folder) if p.name.endswith("_uncal.fits")]
        log.info("%s: simulated %d uncal files into %s", name, len(files), folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
