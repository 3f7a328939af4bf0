"""jwst's ``CleanFlickerNoiseStep`` run on real rate files, with no reference files.

The step is run with its defaults except:

* ``skip=False`` (it is skipped by default);
* ``fit_by_channel=True`` (the step itself turns it off, with a warning, for subarrays and
  MIRI, so it only acts on full NIR frames);
* ``apply_flat_field=False`` (its default; with it the step would ask CRDS for a flat).

With ``mask_science_regions=False`` (default) and no flat, the step resolves no reference file
for any exposure type except NIS_SOSS (``pastasoss``), so it needs no CRDS cache;
``STPIPE_DISABLE_CRDS_STEPPARS=true`` keeps ``pars-*`` look-ups away. A second variant,
``fit_method='fft'`` (NSClean), is offered for NIRSpec exposure types.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

__all__ = ["CFNResult", "NSCLEAN_EXP_TYPES", "run_cfn"]

#: Exposure types for which jwst accepts ``fit_method='fft'``.
NSCLEAN_EXP_TYPES = ("NRS_MSASPEC", "NRS_IFU", "NRS_FIXEDSLIT", "NRS_BRIGHTOBJ")


class CFNResult:
    """Outcome of one ``CleanFlickerNoiseStep`` run.

    Attributes
    ----------
    corrected : ndarray of float32 or None
        Corrected SCI array, shape of the input SCI; None when the step did not complete.
    status : str
        ``meta.cal_step.clean_flicker_noise`` (COMPLETE / SKIPPED / FAILED) or ``ERROR: ...``.
    seconds : float
        CPU time of ``step.run(model)`` (model already opened), s; the best of the runs.
    wall : float
        Wall time of the same call, s; the best of the runs.
    """

    def __init__(
        self,
        corrected: np.ndarray | None,
        status: str,
        seconds: float,
        wall: float = float("nan"),
    ) -> None:
        self.corrected = corrected
        self.status = status
        self.seconds = seconds
        self.wall = wall


def run_cfn(path: str | Path, *, fit_method: str = "median", repeats: int = 1) -> CFNResult:
    """Run ``CleanFlickerNoiseStep`` on one rate/rateints file.

    Parameters
    ----------
    path : str or Path
        A ``*_rate.fits`` or ``*_rateints.fits`` file; it is opened read-only and not modified.
    fit_method : {"median", "fft"}
        The step's fit method.
    repeats : int
        Timed runs, each on the file opened afresh; the first one's result is returned with
        the best time. The first run in a given state of the process can be much slower than
        the next ones (fresh memory: page faults): a full frame took 1.8 s as the first call
        after the benchmark's other methods and 1.3 s as the next one.

    Returns
    -------
    CFNResult
    """
    os.environ.setdefault("STPIPE_DISABLE_CRDS_STEPPARS", "true")
    for name in ("stpipe", "jwst", "CRDS"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from jwst.clean_flicker_noise import CleanFlickerNoiseStep
    from stdatamodels.jwst import datamodels

    out = None
    for _ in range(max(int(repeats), 1)):
        with datamodels.open(str(path)) as model:
            exp_type = str(model.meta.exposure.type)
            if exp_type == "NIS_SOSS" and not os.environ.get("CRDS_PATH"):
                return CFNResult(None, "n/a (needs a pastasoss reference)", float("nan"))
            step = CleanFlickerNoiseStep(skip=False, fit_by_channel=True, fit_method=fit_method)
            c0, t0 = time.process_time(), time.perf_counter()
            try:
                result = step.run(model)
            except (Exception, SystemExit) as exc:  # CRDS exits the process on a missing cache
                return CFNResult(None, f"ERROR: {type(exc).__name__}: {exc}"[:120], float("nan"))
            seconds, wall = time.process_time() - c0, time.perf_counter() - t0
            if out is None:
                status = str(result.meta.cal_step.clean_flicker_noise)
                data = np.array(result.data, dtype=np.float32) if status == "COMPLETE" else None
                out = CFNResult(data, status, seconds, wall)
            else:
                out.seconds, out.wall = min(out.seconds, seconds), min(out.wall, wall)
            if result is not model:
                result.close()
        if out.corrected is None:  # (not completed: nothing to time again)
            break
    return out
