"""Destripe JWST ``*_rate.fits`` / ``*_rateints.fits`` files: the file layer and ``jwst1f destripe``.

This module reads rate (2-D SCI) and rateints (3-D SCI) files, runs the array-only destriper
(:func:`jwst1f.destripe.destripe`) on them, and writes corrected copies that keep the input's
file structure exactly: every HDU is kept in order, with its name and dtype; only the SCI data
(and, when asked, the variance arrays and ERR) change, and provenance keywords are added to the
primary header.

Guarantees
----------
- The input file is opened read-only and never modified; writing onto the input path is refused.
- Every output is written to a temporary file in the destination directory and moved into place
  with :func:`os.replace`, so a run killed at any moment leaves no partial output; rerunning the
  same command completes the work. The corrected file is written last, so its presence means that
  the optional stripe-model file, figures and metrics of that input are complete too.
- A bad input raises :class:`DestripeInputError` with a one-line message that names the file and
  the problem. :func:`destripe_files` processes the other files and then raises
  :class:`DestripeBatchError` listing the failures (the CLI prints one line per failed file and
  exits with status 1).

Primary-header keywords written
-------------------------------
``J1FSTAT`` (``COMPLETE`` or ``SKIPPED``), ``J1FVERS`` (jwst1f version), ``J1FDATE`` (UTC time of
the run), ``J1FPARS`` (the parameters as JSON), ``J1FRMSB`` / ``J1FRMSA`` (stripe rms before and
after, DN/s), ``J1FMFRAC`` (fraction of pixels not used as background), ``J1FVAR`` (whether the
model variance was added to VAR_RNOISE and ERR), and a ``HISTORY`` line.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import json
import logging
import os
import re
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DestripeInputError",
    "DestripeBatchError",
    "Exposure",
    "read_exposure",
    "destripe_file",
    "destripe_files",
    "atomic_path",
    "model_path_for",
    "model_hdul",
    "provenance_cards",
    "add_model_variance",
    "history_line",
    "params_for_header",
    "load_user_mask",
    "cli_main",
]

log = logging.getLogger(__name__)

#: Value of ``J1FSTAT`` after a correction.
STATUS_COMPLETE = "COMPLETE"
#: Value of ``J1FSTAT`` when the input had already been corrected and was copied unchanged.
STATUS_SKIPPED = "SKIPPED"

_LAYERED_KEYS = frozenset({"default", "instrument", "exp_type", "detector"})
_TMP_TAG = ".j1ftmp"


class DestripeInputError(ValueError):
    """An input file that cannot be destriped; the message is one line: ``<file>: <problem>``."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = Path(path)
        self.problem = " ".join(str(problem).split())  # one line, always
        super().__init__(f"{self.path.name}: {self.problem}")


class DestripeBatchError(RuntimeError):
    """Some files of a :func:`destripe_files` call failed; the others were written.

    Attributes
    ----------
    written : list of Path
        Outputs that were written.
    failures : list of (Path, str)
        Each failed input and its one-line error message.
    """

    def __init__(self, written: list[Path], failures: list[tuple[Path, str]]) -> None:
        self.written = written
        self.failures = failures
        n = len(failures)
        super().__init__(
            f"{n} of {n + len(written)} file(s) failed: " + "; ".join(m for _, m in failures)
        )


# --------------------------------------------------------------------------------------------
# atomic writes


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's live process
        return True
    return True


def _remove_stale_temps(target: Path) -> None:
    """Remove temporary files for ``target`` left by dead processes on this host."""
    host = socket.gethostname()
    for tmp in target.parent.glob(f".{target.name}.*{_TMP_TAG}"):
        # ".<name>.<host>.<pid>.<random><tag>": the host may contain dots, the rest cannot
        parts = tmp.name[len(target.name) + 2 : -len(_TMP_TAG)].rsplit(".", 2)
        if len(parts) >= 3 and parts[0] == host and parts[1].isdigit():
            if not _pid_alive(int(parts[1])):
                with contextlib.suppress(OSError):
                    tmp.unlink()
                    log.debug("removed stale temporary file %s", tmp)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` only on success.

    The temporary file is a hidden file in the same directory (so :func:`os.replace` is atomic)
    named ``.<target name>.<host>.<pid>.<random>.j1ftmp``. On an exception it is removed and
    ``target`` is left untouched; temporary files of dead processes are cleaned up on the next
    write of the same target.

    Parameters
    ----------
    target : path-like
        Final destination.

    Yields
    ------
    Path
        Where to write the content.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(target)
    prefix = f".{target.name}.{socket.gethostname()}.{os.getpid()}."
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=_TMP_TAG, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        # make the permissions those of a normal new file (mkstemp uses 0600)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


# --------------------------------------------------------------------------------------------
# reading


@dataclasses.dataclass
class Exposure:
    """A rate or rateints file read fully into memory.

    Attributes
    ----------
    path : Path
        The input file.
    hdul : astropy.io.fits.HDUList
        Every HDU, data loaded (the file itself is closed).
    header : dict
        Primary-header keywords overlaid with the SCI-header keywords (used for the layout).
    sci : ndarray
        SCI data, (ny, nx) for rate or (nints, ny, nx) for rateints, DN/s.
    dq : ndarray or None
        DQ flags (uint32), same shape as ``sci`` or (ny, nx).
    layout : jwst1f.geometry.ReadoutLayout
        Readout layout from the headers.
    checksum : bool
        Whether the input carried ``CHECKSUM``/``DATASUM`` cards (then the output gets them too).
    """

    path: Path
    hdul: Any
    header: dict[str, Any]
    sci: np.ndarray
    dq: np.ndarray | None
    layout: Any
    checksum: bool = False

    @property
    def is_rateints(self) -> bool:
        """Whether SCI is 3-D (a ``rateints`` file)."""
        return self.sci.ndim == 3


def read_exposure(path: str | os.PathLike) -> Exposure:
    """Read a rate/rateints FITS file and check that it can be destriped.

    Parameters
    ----------
    path : path-like
        ``*_rate.fits`` (SCI of shape (ny, nx)) or ``*_rateints.fits`` (SCI (nints, ny, nx)).

    Returns
    -------
    Exposure

    Raises
    ------
    DestripeInputError
        Missing, not FITS, truncated or corrupt, no SCI, wrong dimensions or dtype, no finite
        pixel, a DQ of another shape, or an instrument/mode the destriper does not handle.
    """
    from astropy.io import fits

    from jwst1f.geometry import UnsupportedExposureError, layout_from_header

    path = Path(path)
    if not path.exists():
        raise DestripeInputError(path, "no such file")
    if not path.is_file():
        raise DestripeInputError(path, "not a regular file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # read everything into memory (no memmap), then close the input file
            with fits.open(path, memmap=False, lazy_load_hdus=False, mode="readonly") as hdul:
                for hdu in hdul:
                    _ = hdu.data  # force every data block to be read (finds truncation)
        except (OSError, ValueError, TypeError, IndexError, KeyError) as exc:
            trunc = [w for w in caught if "truncat" in str(w.message).lower()]
            what = "truncated FITS file" if trunc else "not a readable FITS file"
            raise DestripeInputError(path, f"{what} ({exc})") from None
    bad = [
        str(w.message)
        for w in caught
        if any(s in str(w.message).lower() for s in ("truncat", "corrupt"))
    ]
    if bad:
        raise DestripeInputError(path, f"truncated or corrupt FITS file ({bad[0]})")

    names = [h.name for h in hdul]
    if "SCI" not in names:
        raise DestripeInputError(
            path, f"no SCI extension (HDUs: {', '.join(names)}); expected a rate/rateints file"
        )
    sci = hdul["SCI"].data
    if sci is None:
        raise DestripeInputError(path, "SCI extension holds no data")
    if sci.ndim not in (2, 3):
        raise DestripeInputError(
            path,
            f"SCI has {sci.ndim} dimension(s) {sci.shape}; expected 2 (rate) or 3 (rateints)"
            + ("; is this an uncal/ramp file?" if sci.ndim == 4 else ""),
        )
    if not np.issubdtype(sci.dtype, np.floating):
        raise DestripeInputError(path, f"SCI has dtype {sci.dtype}; expected floating point")
    if min(sci.shape[-2:]) < 2:
        raise DestripeInputError(path, f"SCI of shape {sci.shape} is too small to destripe")
    if not np.isfinite(sci).any():
        raise DestripeInputError(path, "SCI has no finite pixel (all NaN or inf)")

    dq = None
    if "DQ" in names and hdul["DQ"].data is not None:
        dq = np.asarray(hdul["DQ"].data)
        if dq.shape != sci.shape and dq.shape != sci.shape[-2:]:
            raise DestripeInputError(path, f"DQ shape {dq.shape} does not match SCI {sci.shape}")
        dq = dq.astype(np.uint32, copy=False)

    header: dict[str, Any] = {}
    for card in hdul[0].header.cards:
        if card.keyword and card.keyword not in ("COMMENT", "HISTORY", ""):
            header.setdefault(card.keyword, card.value)
    for card in hdul["SCI"].header.cards:
        if card.keyword and card.keyword not in ("COMMENT", "HISTORY", ""):
            header[card.keyword] = card.value

    try:
        layout = layout_from_header(header)
    except UnsupportedExposureError as exc:
        raise DestripeInputError(path, str(exc)) from None
    except (KeyError, ValueError, TypeError) as exc:
        raise DestripeInputError(
            path, f"cannot read the readout layout from the header: {exc}"
        ) from None
    if tuple(layout.shape) != tuple(sci.shape[-2:]):
        raise DestripeInputError(
            path,
            f"SCI shape {sci.shape[-2:]} does not match the header's subarray "
            f"{tuple(layout.shape)} (SUBSIZE2, SUBSIZE1)",
        )
    bunit = str(hdul["SCI"].header.get("BUNIT", "DN/s")).replace(" ", "").lower()
    if bunit not in ("dn/s", "dn/sec", "ct/s", "count/s", "counts/s", "adu/s"):
        log.warning(
            "%s: SCI is in %r, not DN/s: is this a calibrated (cal) file rather than a rate?",
            path.name,
            hdul["SCI"].header.get("BUNIT"),
        )
    checksum = any("CHECKSUM" in h.header for h in hdul)
    return Exposure(
        path=path, hdul=hdul, header=header, sci=sci, dq=dq, layout=layout, checksum=checksum
    )


# --------------------------------------------------------------------------------------------
# parameters and masks


def _is_layered(settings: Mapping[str, Any]) -> bool:
    return any(k in settings for k in _LAYERED_KEYS)


def params_for_header(params: Any, header: Mapping[str, Any]) -> Any:
    """Resolve the destriper parameters for one exposure.

    Parameters
    ----------
    params : None, DestripeParams, mapping or path-like
        ``None``: the built-in defaults for the exposure's instrument, mode and detector.
        A :class:`~jwst1f.params.DestripeParams`: used as is. A mapping or a YAML file
        (:func:`~jwst1f.params.load_params_file`): either the layered form
        (``default``/``instrument``/``exp_type``/``detector``) resolved for this exposure, or flat
        parameters applied on top of the built-in defaults (programme level).
    header : mapping
        Keywords with ``INSTRUME``, ``EXP_TYPE`` and ``DETECTOR``.

    Returns
    -------
    DestripeParams
    """
    from jwst1f.params import DestripeParams, load_params_file, resolve_params

    if isinstance(params, DestripeParams):
        return params
    if isinstance(params, (str, os.PathLike)):
        params = load_params_file(params)
    settings: Mapping[str, Any] = params or {}
    kw = {
        "instrument": str(header.get("INSTRUME", "")).upper(),
        "exp_type": str(header.get("EXP_TYPE", "")).upper(),
        "detector": str(header.get("DETECTOR", "")).upper(),
    }
    if _is_layered(settings):
        return resolve_params(settings, **kw)
    return resolve_params({}, programme=dict(settings) or None, **kw)


def load_user_mask(mask: Any, shape: tuple[int, int]) -> np.ndarray | None:
    """Read a user mask: True (non-zero) marks pixels that must not be used as background.

    Parameters
    ----------
    mask : None, ndarray or path-like
        An array, a ``.npy`` file, or a FITS file whose ``MASK`` extension (else the first HDU
        with 2-D data) holds the mask.
    shape : tuple of int
        (ny, nx) of the exposure.

    Returns
    -------
    ndarray of bool, shape (ny, nx), or None
    """
    if mask is None:
        return None
    if isinstance(mask, (str, os.PathLike)):
        mpath = Path(mask)
        if not mpath.is_file():
            raise DestripeInputError(mpath, "mask file not found")
        if mpath.suffix == ".npy":
            arr = np.load(mpath)
        else:
            from astropy.io import fits

            try:
                with fits.open(mpath, memmap=False) as hdul:
                    names = [h.name for h in hdul]
                    if "MASK" in names:
                        arr = np.asarray(hdul["MASK"].data)
                    else:
                        arrs = [h.data for h in hdul if h.data is not None and h.data.ndim == 2]
                        if not arrs:
                            raise DestripeInputError(mpath, "no 2-D image in the mask file")
                        arr = np.asarray(arrs[0])
            except OSError as exc:
                raise DestripeInputError(mpath, f"not a readable mask file ({exc})") from None
    else:
        mpath = Path("user_mask")
        arr = np.asarray(mask)
    if arr.shape != tuple(shape):
        raise DestripeInputError(mpath, f"mask shape {arr.shape} does not match SCI {shape}")
    return np.asarray(arr != 0) if arr.dtype != bool else arr


# --------------------------------------------------------------------------------------------
# writing


def model_path_for(output: str | os.PathLike) -> Path:
    """Name of the optional stripe-model file: ``<stem>_1fmodel.fits`` beside ``output``."""
    output = Path(output)
    return output.with_name(f"{output.stem}_1fmodel.fits")


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _version() -> str:
    from jwst1f import __version__

    return __version__


def _rms_common(values: Any) -> float | None:
    """One number from per-channel stripe rms values (quadratic mean), or None."""
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        return None
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return None
    return float(np.sqrt(np.mean(arr**2)))


def provenance_cards(
    status: str,
    params_dict: Mapping[str, Any],
    metrics: Mapping[str, Any],
    update_variance: bool,
) -> list[tuple[str, Any, str]]:
    """Primary-header provenance cards ``J1FSTAT``, ``J1FVERS``, ``J1FDATE``, ``J1FPARS``, ...

    Parameters
    ----------
    status : str
        ``COMPLETE`` or ``SKIPPED``.
    params_dict : mapping
        The parameters used (stored as JSON in ``J1FPARS``).
    metrics : mapping
        ``stripe_rms_before``/``stripe_rms_after`` (per channel, DN/s), ``masked_fraction``.
    update_variance : bool
        Whether the model variance was added to VAR_RNOISE and ERR.

    Returns
    -------
    list of (key, value, comment)
    """
    cards: list[tuple[str, Any, str]] = [
        ("J1FSTAT", status, "jwst1f 1/f destripe status"),
        ("J1FVERS", _version(), "jwst1f version"),
        ("J1FDATE", _now(), "UTC time of the jwst1f destripe run"),
        ("J1FPARS", json.dumps(dict(params_dict), sort_keys=True), "destripe parameters (JSON)"),
    ]
    before = _rms_common(metrics.get("stripe_rms_before"))
    after = _rms_common(metrics.get("stripe_rms_after"))
    if before is not None:
        cards.append(("J1FRMSB", round(before, 7), "[DN/s] stripe rms before"))
    if after is not None:
        cards.append(("J1FRMSA", round(after, 7), "[DN/s] stripe rms after"))
    if metrics.get("masked_fraction") is not None:
        cards.append(
            ("J1FMFRAC", round(float(metrics["masked_fraction"]), 5), "fraction not background")
        )
    cards.append(("J1FVAR", bool(update_variance), "model variance added to VAR_RNOISE, ERR"))
    return cards


def history_line(status: str, metrics: Mapping[str, Any]) -> str:
    """One HISTORY line describing the run (version, date, stripe rms before and after)."""
    if status == STATUS_SKIPPED:
        return f"jwst1f {_version()} destripe {_now()}: SKIPPED (input already destriped)"
    before = _rms_common(metrics.get("stripe_rms_before"))
    after = _rms_common(metrics.get("stripe_rms_after"))
    rms = f"; stripe rms {before:.4g} -> {after:.4g} DN/s" if None not in (before, after) else ""
    return f"jwst1f {_version()} destripe {_now()}: 1/f stripes removed{rms}"


def _write_hdul(hdul: Any, target: Path, *, checksum: bool) -> None:
    with atomic_path(target) as tmp:
        hdul.writeto(tmp, overwrite=True, checksum=checksum, output_verify="silentfix")


def add_model_variance(
    model_var: np.ndarray, *, var_rnoise: np.ndarray | None, err: np.ndarray | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Add the variance of the removed model to VAR_RNOISE and, in quadrature, to ERR.

    Parameters
    ----------
    model_var : ndarray
        Variance of the stripe model, (DN/s)^2, broadcastable to the arrays.
    var_rnoise, err : ndarray or None
        The exposure's VAR_RNOISE ((DN/s)^2) and ERR (DN/s); None if absent.

    Returns
    -------
    (var_rnoise, err)
        New arrays in the input dtypes (None where the input was None).
    """
    # in the arrays' own dtype (float32 for JWST products): a float32 sum is the float64 one
    # rounded, and ERR's three roundings are within 2e-7 of it; 4 ms instead of 25 ms for a
    # full frame (the float64 copies were most of the time)
    new_v = new_e = None
    if var_rnoise is not None:
        work = var_rnoise.dtype.newbyteorder("=")  # (FITS data are big-endian)
        new_v = np.add(var_rnoise, np.asarray(model_var), dtype=work.type)
        new_v = new_v.astype(var_rnoise.dtype, copy=False)
    if err is not None:
        work = err.dtype.newbyteorder("=")
        new_e = np.multiply(err, err, dtype=work.type)
        new_e += np.asarray(model_var).astype(work, copy=False)
        np.sqrt(new_e, out=new_e)
        new_e = new_e.astype(err.dtype, copy=False)
    return new_v, new_e


def _apply_to_hdul(exp: Exposure, result: Any, *, update_variance: bool) -> None:
    """Put the corrected SCI (same dtype) and, if asked, the model variance into ``exp.hdul``."""
    hdul = exp.hdul
    hdul["SCI"].data = np.asarray(result.corrected).astype(exp.sci.dtype, copy=False)
    if not update_variance:
        return
    names = [h.name for h in hdul]
    v = hdul["VAR_RNOISE"].data if "VAR_RNOISE" in names else None
    e = hdul["ERR"].data if "ERR" in names else None
    new_v, new_e = add_model_variance(result.model_var, var_rnoise=v, err=e)
    if new_v is not None:
        hdul["VAR_RNOISE"].data = new_v
    if new_e is not None:
        hdul["ERR"].data = new_e


def model_hdul(
    header: Mapping[str, Any], result: Any, cards: Sequence[tuple[str, Any, str]]
) -> Any:
    """The stripe-model file: MODEL, MODELVAR and BKGMASK images with identifying keywords.

    Parameters
    ----------
    header : mapping
        Keywords of the exposure (primary header); identifying ones are copied.
    result : jwst1f.destripe.DestripeResult
    cards : sequence of (key, value, comment)
        Provenance cards for the primary header.

    Returns
    -------
    astropy.io.fits.HDUList
    """
    from astropy.io import fits

    primary = fits.PrimaryHDU()
    for key in (
        "FILENAME",
        "TELESCOP",
        "INSTRUME",
        "DETECTOR",
        "EXP_TYPE",
        "FILTER",
        "PUPIL",
        "GRATING",
        "SUBARRAY",
        "SUBSTRT1",
        "SUBSTRT2",
        "SUBSIZE1",
        "SUBSIZE2",
        "FASTAXIS",
        "SLOWAXIS",
        "NOUTPUTS",
        "NINTS",
    ):
        if header.get(key) is not None:
            primary.header[key] = header[key]
    for key, value, comment in cards:
        primary.header[key] = (value, comment)
    primary.header["BUNIT"] = ("DN/s", "units of MODEL; MODELVAR in (DN/s)^2")
    model = fits.ImageHDU(np.asarray(result.model, dtype=np.float32), name="MODEL")
    model.header["BUNIT"] = "DN/s"
    model.header["COMMENT"] = "Zero-mean 1/f stripe pattern subtracted from SCI"
    shape = np.shape(result.model)
    var = np.broadcast_to(np.asarray(result.model_var, dtype=np.float32), shape)
    mvar = fits.ImageHDU(np.ascontiguousarray(var), name="MODELVAR")
    mvar.header["BUNIT"] = "(DN/s)**2"
    mask = fits.ImageHDU(np.asarray(result.mask).astype(np.uint8), name="BKGMASK")
    mask.header["COMMENT"] = "1 = pixel used to measure the stripes (background)"
    return fits.HDUList([primary, model, mvar, mask])


def _check_not_input(src: Path, out: Path) -> None:
    if out.resolve() == src.resolve() or (out.exists() and os.path.samefile(out, src)):
        raise DestripeInputError(
            src, f"output {out} would overwrite the input; choose another output directory"
        )


def destripe_file(
    path: str | os.PathLike,
    outdir: str | os.PathLike,
    *,
    params: Any = None,
    plots_dir: str | os.PathLike | None = None,
    metrics_dir: str | os.PathLike | None = None,
    save_model: bool = False,
    update_variance: bool = True,
    user_mask: Any = None,
) -> Path:
    """Remove 1/f stripes from one rate or rateints file; write the result under ``outdir``.

    Parameters
    ----------
    path : path-like
        Input ``*_rate.fits`` or ``*_rateints.fits`` (never modified).
    outdir : path-like
        Output directory (created if missing); the output keeps the input's file name.
    params : None, DestripeParams, mapping or path-like, optional
        Destriper parameters; see :func:`params_for_header`.
    plots_dir : path-like, optional
        Write QA figures (PNG) and the metrics JSON there.
    metrics_dir : path-like, optional
        Write the metrics JSON there (default: ``plots_dir``; none if both are None).
    save_model : bool, optional
        Also write ``<stem>_1fmodel.fits`` (MODEL, MODELVAR, BKGMASK) in ``outdir``.
    update_variance : bool, optional
        Add the variance of the removed model to VAR_RNOISE and ERR (in quadrature).
    user_mask : None, ndarray or path-like, optional
        Pixels (True / non-zero) never used as background; see :func:`load_user_mask`.

    Returns
    -------
    Path
        The corrected file.

    Raises
    ------
    DestripeInputError
        A one-line message naming the file and the problem.
    """
    from jwst1f.destripe import destripe

    t0 = time.perf_counter()
    src = Path(path)
    out = Path(outdir) / src.name
    _check_not_input(src, out)
    exp = read_exposure(src)
    umask = load_user_mask(user_mask, exp.sci.shape[-2:])

    already = str(exp.hdul[0].header.get("J1FSTAT", "")).upper() == STATUS_COMPLETE
    if already:
        log.warning("%s: already destriped (J1FSTAT=COMPLETE); copied unchanged", src.name)
        cards = [
            ("J1FSTAT", STATUS_SKIPPED, "jwst1f 1/f destripe status"),
            ("J1FVERS", _version(), "jwst1f version"),
            ("J1FDATE", _now(), "UTC time of the jwst1f destripe run"),
        ]
        for key, value, comment in cards:
            exp.hdul[0].header[key] = (value, comment)
        exp.hdul[0].header["HISTORY"] = history_line(STATUS_SKIPPED, {})
        _write_hdul(exp.hdul, out, checksum=exp.checksum)
        return out

    prm = params_for_header(params, exp.header)
    try:
        result = destripe(exp.sci, exp.layout, dq=exp.dq, user_mask=umask, params=prm)
    except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
        raise DestripeInputError(src, f"destriping failed: {exc}") from None
    params_dict = prm.to_dict() if hasattr(prm, "to_dict") else dataclasses.asdict(prm)
    metrics = dict(result.metrics)
    if not np.any(np.asarray(result.model)):
        log.warning("%s: the stripe model is zero everywhere; nothing was corrected", src.name)
    cards = provenance_cards(STATUS_COMPLETE, params_dict, metrics, update_variance)

    if save_model:
        _write_hdul(model_hdul(exp.header, result, cards), model_path_for(out), checksum=False)

    mdir = metrics_dir if metrics_dir is not None else plots_dir
    if plots_dir is not None or mdir is not None:
        from jwst1f import qa

        if plots_dir is not None:
            qa.make_figures(
                exp.sci,
                result,
                exp.layout,
                outdir=plots_dir,
                stem=src.stem,
                title=f"{src.name}  ({exp.layout.instrument} {exp.layout.detector} "
                f"{exp.layout.exp_type} {exp.layout.subarray})",
            )
        if mdir is not None:
            record = qa.metrics_record(
                result,
                exp.layout,
                params=params_dict,
                input_path=src,
                output_path=out,
                seconds_total=time.perf_counter() - t0,
            )
            qa.write_metrics(Path(mdir) / f"{src.stem}_1fmetrics.json", record)

    _apply_to_hdul(exp, result, update_variance=update_variance)
    header = exp.hdul[0].header
    for key, value, comment in cards:
        header[key] = (value, comment)
    header["HISTORY"] = history_line(STATUS_COMPLETE, metrics)
    _write_hdul(exp.hdul, out, checksum=exp.checksum)
    log.info("%s: destriped in %.2f s -> %s", src.name, time.perf_counter() - t0, out.parent or ".")
    return out


def _destripe_one(path: Path, outdir: Any, dupes: frozenset[str], kwargs: dict[str, Any]):
    """Destripe one file of a batch: ``(path, output or None, one-line error or None)``.

    Top-level so that worker processes can run it.
    """
    try:
        if path.name in dupes:
            raise DestripeInputError(
                path, "another input has the same file name; outputs would collide"
            )
        return path, destripe_file(path, outdir, **kwargs), None
    except DestripeInputError as exc:
        return path, None, str(exc)
    except MemoryError:
        return path, None, f"{path.name}: out of memory"
    except Exception as exc:  # noqa: BLE001 - a bad file must not stop the others
        log.debug("unexpected error on %s", path, exc_info=True)
        return path, None, f"{path.name}: {type(exc).__name__}: {' '.join(str(exc).split())}"


def _run_batch(
    paths: Sequence[str | os.PathLike],
    outdir: str | os.PathLike,
    *,
    progress: bool,
    jobs: int = 1,
    on_error: Any = None,
    **kwargs: Any,
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Destripe each file (``jobs`` processes); collect one-line failures instead of raising."""
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    paths = [Path(p) for p in paths]
    names = [p.name for p in paths]
    dupes = frozenset(n for n in names if names.count(n) > 1)
    show = progress and len(paths) > 1
    results: dict[Path, Path] = {}
    failures: list[tuple[Path, str]] = []

    def collect(p: Path, out: Path | None, msg: str | None) -> None:
        if msg is None:
            results[p] = out
            return
        failures.append((p, msg))
        if on_error is not None:
            on_error(msg)
        else:
            log.error(msg)

    jobs = max(1, min(int(jobs or 1), len(paths)))
    with (
        logging_redirect_tqdm(),
        tqdm(
            total=len(paths), desc="destripe", unit="file", disable=not show, file=sys.stderr,
            leave=show,
        ) as bar,
    ):  # fmt: skip
        if jobs == 1:
            for p in paths:
                collect(*_destripe_one(p, outdir, dupes, kwargs))
                bar.update()
        else:
            import concurrent.futures as cf
            import multiprocessing as mp

            ctx = mp.get_context("spawn")  # no fork of a process that may hold threads
            with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
                futures = [pool.submit(_destripe_one, p, outdir, dupes, kwargs) for p in paths]
                for fut, p in zip(futures, paths, strict=True):
                    try:
                        collect(*fut.result())
                    except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by the OOM killer
                        collect(p, None, f"{p.name}: worker failed: {type(exc).__name__}: {exc}")
                    bar.update()
    failures.sort(key=lambda f: paths.index(f[0]))
    written = [results[p] for p in paths if p in results]
    return written, failures


def destripe_files(
    paths: Sequence[str | os.PathLike] | str | os.PathLike,
    outdir: str | os.PathLike,
    *,
    params: Any = None,
    plots_dir: str | os.PathLike | None = None,
    metrics_dir: str | os.PathLike | None = None,
    save_model: bool = False,
    update_variance: bool = True,
    user_mask: Any = None,
    progress: bool = True,
    jobs: int = 1,
) -> list[Path]:
    """Destripe many rate/rateints files, one line in a reduction script.

    Example::

        written = jwst1f.destripe_files(sorted(glob("*_rate.fits")), "output_files")

    Parameters
    ----------
    paths : sequence of path-like, or one path-like
        Input files; outputs keep their names, so two inputs may not share a name.
    outdir : path-like
        Output directory (created if missing).
    params, plots_dir, metrics_dir, save_model, update_variance, user_mask
        As in :func:`destripe_file`.
    progress : bool, optional
        Show a progress bar (stderr) when there is more than one file.
    jobs : int, optional
        Number of worker processes (each needs about 5x the SCI array of memory).

    Returns
    -------
    list of Path
        The corrected files, in input order.

    Raises
    ------
    DestripeBatchError
        After every file was tried, if any failed; it lists each failure in one line and holds
        the written paths in ``.written``.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    written, failures = _run_batch(
        paths,
        outdir,
        progress=progress,
        jobs=jobs,
        params=params,
        plots_dir=plots_dir,
        metrics_dir=metrics_dir,
        save_model=save_model,
        update_variance=update_variance,
        user_mask=user_mask,
    )
    if failures:
        raise DestripeBatchError(written, failures)
    return written


# --------------------------------------------------------------------------------------------
# command line


def _param_fields() -> list[Any]:
    try:
        from jwst1f.params import DestripeParams
    except ImportError:  # pragma: no cover - core not installed
        return []
    return list(dataclasses.fields(DestripeParams))


def _field_doc(name: str) -> str:
    try:
        from jwst1f.params import DestripeParams
    except ImportError:  # pragma: no cover
        return ""
    doc = getattr(DestripeParams, "__doc__", "") or ""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith(f"{name} :") or line.strip() == name:
            desc = []
            for nxt in lines[i + 1 :]:
                if not nxt.strip() or (nxt.strip() and not nxt.startswith(" " * 8)):
                    break
                desc.append(nxt.strip())
            text = " ".join(desc)
            text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text)  # :data:`X` -> X
            return text.replace("``", "")
    return ""


def _bool_arg(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on", "y", "t"):
        return True
    if t in ("0", "false", "no", "off", "n", "f"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jwst1f destripe",
        description=(
            "Remove 1/f stripes from JWST rate/rateints files. Each corrected file keeps its "
            "name and structure and is written to OUTDIR; inputs are never modified."
        ),
        epilog=(
            "Exit status: 0 if every file was corrected, 1 if any failed (one line each on "
            "stderr), 2 for a usage error. Parameters: defaults < --params FILE < the "
            "--<parameter> options."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help="rate or rateints FITS files")
    p.add_argument("-o", "--outdir", required=True, metavar="OUTDIR", help="output directory")
    p.add_argument(
        "--params",
        metavar="FILE",
        help="YAML parameter file (flat, or layered default/instrument/exp_type/detector)",
    )
    p.add_argument("--plots", "--plots-dir", dest="plots_dir", metavar="DIR",
                   help="write QA figures (PNG) and metrics JSON to DIR")  # fmt: skip
    p.add_argument(
        "--metrics",
        "--metrics-dir",
        dest="metrics_dir",
        metavar="DIR",
        help="write the metrics JSON to DIR (default: the --plots directory)",
    )
    p.add_argument(
        "--save-model",
        action="store_true",
        help="also write <name>_1fmodel.fits (stripe model, its variance, background mask)",
    )
    p.add_argument(
        "--no-variance",
        dest="update_variance",
        action="store_false",
        help="do not add the model variance to VAR_RNOISE and ERR",
    )
    p.add_argument(
        "--mask",
        "--user-mask",
        dest="user_mask",
        metavar="FILE",
        help="FITS or .npy mask; non-zero pixels are never used as background",
    )
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help="process N files at a time (default 1)")  # fmt: skip
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar")  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", help="only errors")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    grp = p.add_argument_group(
        "destriper parameters (override the defaults and --params; names as in the config)"
    )
    for f in _param_fields():
        flag = "--" + f.name.replace("_", "-")
        typ = f.type if isinstance(f.type, type) else None
        tname = str(f.type)
        if typ is bool or tname == "bool":
            conv, meta = _bool_arg, "BOOL"
        elif typ is int or tname == "int":
            conv, meta = int, "INT"
        elif typ is float or tname == "float":
            conv, meta = float, "FLOAT"
        elif typ is str or tname == "str":
            conv, meta = str, "STR"
        elif tname.startswith("tuple[str"):
            conv, meta = str, "A,B,..."
        else:
            conv, meta = json.loads, "JSON"
        opts = [flag] if f.name.replace("_", "-") == f.name else [flag, "--" + f.name]
        helptext = _field_doc(f.name)
        if isinstance(f.default, tuple):
            default = ",".join(map(str, f.default))
            helptext = re.sub(r"Default [A-Z_]+\.", f"Default {default}.", helptext)
        grp.add_argument(
            *opts,
            dest=f"param__{f.name}",
            type=conv,
            metavar=meta,
            default=None,
            help=helptext or None,
        )
    return p


def cli_main(argv: Sequence[str] | None = None) -> int:
    """Run ``jwst1f destripe``; return the exit status (0 ok, 1 some file failed, 2 usage).

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments after ``destripe``; ``sys.argv[2:]`` semantics when None.

    Returns
    -------
    int
    """
    parser = _parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code or 0)
    level = logging.DEBUG if args.verbose else logging.ERROR if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)
    logging.getLogger("jwst1f").setLevel(level)

    overrides = {
        k[len("param__") :]: v
        for k, v in vars(args).items()
        if k.startswith("param__") and v is not None
    }
    params: Any = None
    try:
        if args.params:
            from jwst1f.params import load_params_file

            params = load_params_file(args.params)
        if overrides:
            params = _merge_overrides(params, overrides)
    except (OSError, ValueError, TypeError) as exc:
        print(f"jwst1f destripe: bad parameters: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2

    def report(msg: str) -> None:
        from tqdm.auto import tqdm

        tqdm.write(f"error: {msg}", file=sys.stderr)

    written, failures = _run_batch(
        args.inputs,
        args.outdir,
        progress=args.progress and not args.quiet,
        jobs=args.jobs,
        on_error=report,
        params=params,
        plots_dir=args.plots_dir,
        metrics_dir=args.metrics_dir,
        save_model=args.save_model,
        update_variance=args.update_variance,
        user_mask=args.user_mask,
    )
    if not args.quiet:
        print(
            f"jwst1f destripe: {len(written)} written to {args.outdir}"
            + (f", {len(failures)} failed" if failures else ""),
            file=sys.stderr,
        )
    return 1 if failures else 0


def _merge_overrides(params: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    """Put command-line parameter values on top of a flat or layered parameter dict."""
    from jwst1f.params import DestripeParams

    DestripeParams.from_mapping(overrides)  # validates names and values early
    if params is None:
        return dict(overrides)
    params = dict(params)
    if _is_layered(params):
        # the command line is the most specific level: apply it to every layer it could meet
        # by folding it into each detector/exp_type/instrument entry and the default.
        params["default"] = {**params.get("default", {}), **overrides}
        for level in ("instrument", "exp_type", "detector"):
            params[level] = {
                name: {**(layer or {}), **overrides}
                for name, layer in (params.get(level) or {}).items()
            }
        return params
    return {**params, **overrides}
