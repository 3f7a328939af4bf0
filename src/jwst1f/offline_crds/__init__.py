"""A local CRDS cache of synthetic JWST reference files, for the demo and the tests.

jwst 3.0 runs unmodified offline when ``CRDS_PATH`` points at a cache whose mappings name
reference files present there, ``CRDS_SERVER_URL`` is unset and
``STPIPE_DISABLE_CRDS_STEPPARS=true``.  This subpackage builds such a cache whose reference
files describe the detectors of :mod:`jwst1f.simulate` (bias, dark, gain, read noise,
saturation, flats) with real SIAF distortion from pysiaf.  It is for simulated data only:
real data must use the real CRDS server.

Typical use::

    from jwst1f.offline_crds import build_cache, offline_environ
    cache = build_cache("crds_cache", detectors=["NRCA1", "NRCALONG"])
    subprocess.run(["strun", "calwebb_detector1", "x_uncal.fits"], env=offline_environ(cache))

or from the shell: ``jwst1f offline-crds crds_cache --detectors NRCA1 NRCALONG``.
"""

from __future__ import annotations

from jwst1f.offline_crds.environment import (
    JWST_CRDS_SERVER,
    UNSET_VARIABLES,
    CRDSNotConfiguredError,
    check_crds_configured,
    crds_environment,
    find_context,
    offline_environ,
)

__all__ = [
    "CRDSNotConfiguredError",
    "JWST_CRDS_SERVER",
    "UNSET_VARIABLES",
    "DEFAULT_DETECTORS",
    "KNOWN_DETECTORS",
    "build_cache",
    "check_crds_configured",
    "crds_environment",
    "find_context",
    "offline_environ",
]


def __getattr__(name: str):
    # Lazy: building needs stdatamodels/pysiaf; checking the environment must stay cheap.
    if name in ("build_cache", "DEFAULT_DETECTORS"):
        from jwst1f.offline_crds import build

        return getattr(build, name)
    if name == "KNOWN_DETECTORS":
        from jwst1f.offline_crds.detectors import KNOWN_DETECTORS

        return KNOWN_DETECTORS
    raise AttributeError(f"module 'jwst1f.offline_crds' has no attribute {name!r}")
