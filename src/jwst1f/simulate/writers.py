"""Write simulated exposures as JWST files: ``_uncal``, ``_rate``/``_rateints`` and ``_truth``.

Files are written through jwst's own datamodels (``Level1bModel``, ``ImageModel``,
``CubeModel``) and validated strictly before they are saved, so every file opens with
``jwst.datamodels`` like flight data. Writes are atomic (temporary file, then rename).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from astropy.io import fits

from jwst1f.simulate.exposure import SimulatedExposure
from jwst1f.simulate.metadata import apply_meta

__all__ = ["write_uncal", "write_rate", "write_truth", "product_path"]

_SUFFIX = {"uncal": "uncal", "rate": "rate", "rateints": "rateints", "truth": "truth"}


def product_path(exposure: SimulatedExposure, outdir: str | os.PathLike, product: str) -> Path:
    """``<outdir>/<basename>_<product>.fits``."""
    return Path(outdir) / f"{exposure.basename}_{_SUFFIX[product]}.fits"


@contextmanager
def _atomic(path: Path):
    """Yield a path with ``path``'s name in a hidden temporary folder beside it; move it into
    place when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.stem}.", dir=path.parent))
    tmp = tmpdir / path.name
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        tmpdir.rmdir()


def _finish(model, path: Path) -> Path:
    model.meta.filename = path.name
    model.meta.date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:23]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any validation warning is an error here
        model.validate()
    with _atomic(path) as tmp:
        model.save(tmp)
    return path


def write_uncal(
    exposure: SimulatedExposure, outdir: str | os.PathLike, *, path: str | os.PathLike | None = None
) -> Path:
    """Write the raw ramps as a ``Level1bModel`` ``_uncal.fits`` (uint16, (nints, ngroups,
    ny, nx)).

    Raises
    ------
    ValueError
        If the exposure was simulated without ``keep_ramp=True``.
    """
    from stdatamodels.jwst import datamodels as dm

    if exposure.ramp is None:
        raise ValueError("this exposure has no ramps: simulate it with keep_ramp=True")
    out = Path(path) if path is not None else product_path(exposure, outdir, "uncal")
    model = dm.Level1bModel(data=exposure.ramp)
    apply_meta(model, exposure.meta)
    model.meta.model_type = "Level1bModel"
    model.meta.bunit_data = "DN"
    nints, ngroups = exposure.ramp.shape[:2]
    _group_table(model, nints, ngroups)
    try:
        return _finish(model, out)
    finally:
        model.close()


def _group_table(model, nints: int, ngroups: int) -> None:
    """The ``GROUP`` and ``INT_TIMES`` tables that flight Level1b files carry."""
    meta = model.meta.exposure
    t0, tgroup, tint = meta.start_time, meta.group_time, meta.integration_time
    tframe = meta.frame_time
    ny, nx = model.data.shape[-2:]
    rows = []
    for i in range(nints):
        for g in range(ngroups):
            t = t0 + ((i * (tint + tframe)) + (g + 1) * tgroup) / 86400.0
            rows.append((i + 1, g + 1, 0, 0, 0, "", nx, ny, 0, 0, "NORMAL_COMPLETION", t, t))
    group_dtype = np.dtype(
        [
            ("integration_number", ">i4"),
            ("group_number", ">i2"),
            ("end_day", ">i2"),
            ("end_milliseconds", ">i4"),
            ("end_submilliseconds", ">i2"),
            ("group_end_time", "S26"),
            ("number_of_columns", ">i2"),
            ("number_of_rows", ">i2"),
            ("number_of_gaps", ">i2"),
            ("completion_code_number", ">i2"),
            ("completion_code_text", "S36"),
            ("bary_end_time", ">f8"),
            ("helio_end_time", ">f8"),
        ]
    )
    model.group = np.array(rows, dtype=group_dtype)
    int_dtype = np.dtype(
        [
            ("integration_number", ">i4"),
            ("int_start_MJD_UTC", ">f8"),
            ("int_mid_MJD_UTC", ">f8"),
            ("int_end_MJD_UTC", ">f8"),
            ("int_start_BJD_TDB", ">f8"),
            ("int_mid_BJD_TDB", ">f8"),
            ("int_end_BJD_TDB", ">f8"),
        ]
    )
    ints = []
    for i in range(nints):
        s = t0 + i * (tint + tframe) / 86400.0
        e = s + tint / 86400.0
        ints.append((i + 1, s, (s + e) / 2, e, s, (s + e) / 2, e))
    model.int_times = np.array(ints, dtype=int_dtype)


def write_rate(
    exposure: SimulatedExposure,
    outdir: str | os.PathLike,
    *,
    product: str | None = None,
    path: str | os.PathLike | None = None,
) -> Path:
    """Write the rate as ``_rate.fits`` (ImageModel) or ``_rateints.fits`` (CubeModel).

    Parameters
    ----------
    exposure : SimulatedExposure
        The exposure.
    outdir : path-like
        Output folder.
    product : {"rate", "rateints"}, optional
        Default: ``rateints`` when the exposure holds per-integration rates. ``rate`` from a
        per-integration exposure combines the integrations.
    path : path-like, optional
        Exact output path (overrides ``outdir``).
    """
    from stdatamodels.jwst import datamodels as dm

    product = product or ("rateints" if exposure.rateints else "rate")
    if product not in ("rate", "rateints"):
        raise ValueError(f"product must be 'rate' or 'rateints', not {product!r}")
    arrays = {
        "data": exposure.data,
        "err": exposure.err,
        "dq": exposure.dq,
        "var_poisson": exposure.var_poisson,
        "var_rnoise": exposure.var_rnoise,
    }
    if product == "rateints" and not exposure.rateints:
        arrays = {k: v[None] for k, v in arrays.items()}
    if product == "rate" and exposure.rateints:
        from jwst1f.simulate.exposure import _combine_ints

        r, _, err, vp, vr, dq = _combine_ints(
            exposure.data,
            exposure.rate_no1f,
            exposure.var_poisson,
            exposure.var_rnoise,
            exposure.dq,
        )
        arrays = {"data": r, "err": err, "dq": dq, "var_poisson": vp, "var_rnoise": vr}
    arrays["var_flat"] = np.zeros_like(arrays["var_poisson"])
    out = Path(path) if path is not None else product_path(exposure, outdir, product)
    cls = dm.CubeModel if product == "rateints" else dm.ImageModel
    model = cls(**arrays)
    apply_meta(model, exposure.meta)
    model.meta.bunit_data = "DN/s"
    model.meta.bunit_err = "DN/s"
    model.meta.cal_step.dq_init = "COMPLETE"
    model.meta.cal_step.saturation = "COMPLETE"
    model.meta.cal_step.superbias = "COMPLETE"
    model.meta.cal_step.refpix = "COMPLETE"
    model.meta.cal_step.dark_sub = "COMPLETE"
    model.meta.cal_step.jump = "SKIPPED"
    model.meta.cal_step.ramp_fit = "COMPLETE"
    try:
        return _finish(model, out)
    finally:
        model.close()


def write_truth(
    exposure: SimulatedExposure, outdir: str | os.PathLike, *, path: str | os.PathLike | None = None
) -> Path:
    """Write ``<basename>_truth.fits``: RATE_NO1F, SCENE, SKY (float32, DN/s) and EMPTY (uint8).

    The primary header repeats the readout keywords of the exposure (INSTRUME, DETECTOR,
    SUBARRAY, SUBSTRT1/2, SUBSIZE1/2, FASTAXIS, SLOWAXIS, NOUTPUTS, ...).
    """
    out = Path(path) if path is not None else product_path(exposure, outdir, "truth")
    prim = fits.PrimaryHDU()
    for kw, value in exposure.header.items():
        prim.header[kw] = value
    prim.header["FILENAME"] = out.name
    prim.header["ORIGIN"] = "jwst1f"
    prim.header["RATEINTS"] = (bool(exposure.rateints), "RATE_NO1F is per integration")
    prim.header["COMMENT"] = "Truth of a jwst1f simulated exposure, DMS orientation."
    hdus = [prim]
    for name, arr, unit, comment in [
        ("RATE_NO1F", exposure.rate_no1f, "DN/s", "same exposure without correlated 1/f noise"),
        ("SCENE", exposure.scene, "DN/s", "noise-free rate: sources + sky, times pixel flat"),
        ("SKY", exposure.sky, "DN/s", "smooth background alone, times pixel flat"),
        ("EMPTY", exposure.empty.astype(np.uint8), "", "1 = science pixel with no source"),
    ]:
        h = fits.ImageHDU(np.asarray(arr), name=name)
        if unit:
            h.header["BUNIT"] = unit
        h.header["COMMENT"] = comment
        hdus.append(h)
    with _atomic(out) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)
    return out
