"""Helpers for the workflow tests (``tests/test_wf_*.py``): fake programmes and dry runs.

Exposures are made from the real flight NIRCam headers shipped inside the jwst wheel
(``jwst/associations/tests/data/exposures``; pixels cut to 1x1), with a few keywords changed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import jwst
import yaml
from astropy.io import fits

__all__ = [
    "FLIGHT_DIR",
    "REPO",
    "SNAKEFILE",
    "dry_run_counts",
    "make_programme",
    "run_snakemake",
    "write_config",
]

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
FLIGHT_DIR = Path(jwst.__file__).parent / "associations" / "tests" / "data" / "exposures"


def make_programme(
    folder: Path,
    *,
    exposures: Iterable[Mapping[str, object]],
    suffix: str = "uncal",
) -> list[Path]:
    """Write header-only exposures derived from a flight NIRCam uncal header.

    Parameters
    ----------
    folder : Path
        Destination.
    exposures : iterable of mapping
        Keyword overrides per exposure; ``EXPOSURE`` (int) and ``DETECTOR`` decide the name.
    suffix : str
        ``uncal`` or ``rate``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    template = FLIGHT_DIR / "jw01075001001_03105_00009_nrca2_uncal.fits"
    written = []
    for over in exposures:
        with fits.open(template) as hdul:
            h = hdul[0].header
            h["EXP_TYPE"] = "NRC_IMAGE"
            h["PUPIL"] = "CLEAR"
            for k, v in over.items():
                h[k] = v
            obs = int(h["OBSERVTN"])
            name = (
                f"jw{int(h['PROGRAM']):05d}{obs:03d}{int(h['VISIT']):03d}_03105_"
                f"{int(h['EXPOSURE']):05d}_{str(h['DETECTOR']).lower()}_{suffix}.fits"
            )
            h["FILENAME"] = name
            hdul.writeto(folder / name, overwrite=True)
        written.append(folder / name)
    return written


def write_config(path: Path, config: Mapping) -> Path:
    """Write a YAML config file."""
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return path


def run_snakemake(
    workdir: Path,
    configfile: Path,
    *args: str,
    timeout: float = 300,
    env: Mapping | None = None,
    snakefile: Path = SNAKEFILE,
) -> subprocess.CompletedProcess:
    """Run snakemake on the project's workflow in ``workdir`` (returns the completed process)."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(snakefile),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        *args,
    ]
    full_env = dict(os.environ if env is None else env)
    full_env.pop("CRDS_SERVER_URL", None)
    return subprocess.run(
        cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=full_env
    )


def dry_run_counts(
    workdir: Path, configfile: Path, *args: str, snakefile: Path = SNAKEFILE
) -> dict[str, int]:
    """Jobs per rule of a dry run (``snakemake -n``); raises AssertionError on failure."""
    proc = run_snakemake(
        workdir, configfile, "--dry-run", "--cores", "1", *args, snakefile=snakefile
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    if "Nothing to be done" in out:
        return {}
    counts: dict[str, int] = {}
    table = out.split("Job stats:", 1)[1]
    for line in table.splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    return counts
