"""Named benchmark cases for the destriper: ``CASES[name](seed) -> SimulatedExposure``.

Each case is one rate (or rateints) exposure with its truth, chosen to exercise one difficulty
of 1/f removal:

=============================  ==============================================================
``nircam_full_stars``          NRCA1 full frame (FASTAXIS -1), stars (some saturated) and
                               galaxies on a sky with a gradient along the slow axis
``nircam_full_extended``       NRCBLONG full frame (FASTAXIS +1): extended emission filling
                               whole amplifier rows plus a sky gradient along the slow axis
``nircam_sub640``              NRCA3 SUB640, one output, stars and galaxies
``nircam_grism_strip_1out``    NRCALONG SUBGRISM64 read with one output: a bright grism trace
                               running along the stripes
``nircam_subgrism256_4out``    NRCALONG SUBGRISM256 with four outputs, bright trace
``nircam_subgrism64_4out``     NRCALONG SUBGRISM64 with four outputs (the common grism
                               time-series window): a bright trace over most of three outputs
``niriss_full``                NIRISS full frame (fast axis along y, FASTAXIS -2)
``nirspec_ifu``                NRS1 full frame: 30 IFU slices lighting half of every column
``nirspec_fs``                 NRS1 SUBS200A1: fixed-slit spectrum in a 2048 x 64 window
``nirspec_mos``                NRS2 full frame (FASTAXIS -2): MOS slitlets
``miri_imaging``               MIRIMAGE full frame: banding, dark coronagraph region on the left
``nircam_full_rateints``       NRCB3 full frame, 3 integrations (rateints)
=============================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from jwst1f.simulate.exposure import SimulatedExposure, simulate_exposure

__all__ = ["CASES", "case_names", "make_case"]


def _case(seed: int, **kwargs) -> SimulatedExposure:
    return simulate_exposure(seed=seed, **kwargs)


#: Benchmark cases: name -> function of the seed returning a :class:`SimulatedExposure`.
CASES: dict[str, Callable[[int], SimulatedExposure]] = {
    "nircam_full_stars": partial(_case, detector="NRCA1", scene="field", ngroups=6),
    "nircam_full_extended": partial(_case, detector="NRCBLONG", scene="extended", ngroups=6),
    "nircam_sub640": partial(_case, detector="NRCA3", subarray="SUB640", ngroups=8),
    "nircam_grism_strip_1out": partial(
        _case, detector="NRCALONG", subarray="SUBGRISM64_1OUT", exp_type="NRC_TSGRISM", ngroups=8
    ),
    "nircam_subgrism256_4out": partial(
        _case, detector="NRCALONG", subarray="SUBGRISM256", exp_type="NRC_TSGRISM", ngroups=8
    ),
    "nircam_subgrism64_4out": partial(
        _case, detector="NRCALONG", subarray="SUBGRISM64", exp_type="NRC_TSGRISM", ngroups=8
    ),
    "niriss_full": partial(_case, detector="NIS", scene="field", ngroups=6),
    "nirspec_ifu": partial(_case, detector="NRS1", exp_type="NRS_IFU", ngroups=6),
    "nirspec_fs": partial(
        _case, detector="NRS1", subarray="SUBS200A1", exp_type="NRS_FIXEDSLIT", ngroups=10
    ),
    "nirspec_mos": partial(_case, detector="NRS2", exp_type="NRS_MSASPEC", ngroups=6),
    "miri_imaging": partial(_case, detector="MIRIMAGE", ngroups=10),
    "nircam_full_rateints": partial(
        _case, detector="NRCB3", scene="field", ngroups=4, nints=3, rateints=True
    ),
}


def case_names() -> list[str]:
    """The names of :data:`CASES`, in a stable order."""
    return list(CASES)


def make_case(name: str, seed: int = 0, **overrides) -> SimulatedExposure:
    """Simulate case ``name`` with ``seed``.

    Parameters
    ----------
    name : str
        A key of :data:`CASES`.
    seed : int
        Random seed.
    **overrides
        Keyword arguments of :func:`jwst1f.simulate.simulate_exposure` that replace the case's
        own (e.g. ``keep_ramp=True`` to write the case as an uncal file, ``ngroups=10``).

    Raises
    ------
    KeyError
        With the list of case names.
    """
    if name not in CASES:
        raise KeyError(f"unknown case {name!r}; known: {', '.join(CASES)}")
    case = CASES[name]
    if not overrides:
        return case(seed)
    return _case(seed, **{**case.keywords, **overrides})
