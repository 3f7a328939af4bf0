"""Run jwst pipeline stages safely from scripts and workflows, and record provenance.

The helpers here are what the workflow's rule scripts call; they never import Snakemake.

* :func:`crds_settings_environment` turns the workflow's ``crds:`` settings into the environment
  variables CRDS reads, and :func:`jwst_environment` applies them around a jwst call after
  checking that CRDS is usable (CRDS would otherwise end the process with ``sys.exit``).
* :func:`prefetch_crds` fills the CRDS cache once, before any parallel job: ``crds sync`` of the
  best references of the input files from a real server, or the synthetic offline cache of
  :mod:`jwst1f.offline_crds` for the demo and the tests.
* :func:`run_stage` runs one of ``detector1``, ``image2``, ``image3``, ``spec2``, ``spec3`` with
  pass-through step overrides and the number of cores given to the multiprocessing steps.
* :func:`find_inputs` lists and checks a programme's input files before any job starts.
* :func:`software_versions`, :func:`write_json` and :func:`metrics_table` record what was run.
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jwst1f.associations import AssociationError, ExposureInfo, exposure_base, exposure_info

__all__ = [
    "PIPELINES",
    "CRDSSettingsError",
    "InputError",
    "InputExposure",
    "crds_settings_environment",
    "find_inputs",
    "jwst_environment",
    "log_to_file",
    "metrics_table",
    "prefetch_crds",
    "provenance_record",
    "preview_product",
    "run_stage",
    "software_versions",
    "step_overrides",
    "write_json",
]

log = logging.getLogger(__name__)

#: Stage name -> dotted jwst pipeline class.
PIPELINES: dict[str, str] = {
    "detector1": "jwst.pipeline.Detector1Pipeline",
    "image2": "jwst.pipeline.Image2Pipeline",
    "image3": "jwst.pipeline.Image3Pipeline",
    "spec2": "jwst.pipeline.Spec2Pipeline",
    "spec3": "jwst.pipeline.Spec3Pipeline",
}

#: Steps of each stage that take ``maximum_cores``.
_MULTICORE_STEPS: dict[str, tuple[str, ...]] = {
    "detector1": ("jump", "ramp_fit"),
    "spec2": (),
    "image2": (),
    "image3": (),
    "spec3": (),
}

_CRDS_VARS = (
    "CRDS_PATH",
    "CRDS_SERVER_URL",
    "CRDS_CONTEXT",
    "CRDS_READONLY_CACHE",
    "STPIPE_DISABLE_CRDS_STEPPARS",
)


class CRDSSettingsError(RuntimeError):
    """CRDS is not usable with the given settings; the message says what to set."""


class InputError(FileNotFoundError):
    """A programme's input files are missing or unreadable; the message names them."""


# --------------------------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------------------------


class _NotHandledElsewhere(logging.Filter):
    """Drop records that a logger below the root already writes (stpipe adds its own handlers)."""

    def __init__(self, own: logging.Handler) -> None:
        super().__init__()
        self.own = own

    def filter(self, record: logging.LogRecord) -> bool:
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None and logger is not logging.root:
            if any(
                isinstance(h, logging.StreamHandler) and h is not self.own for h in logger.handlers
            ):
                return False
            if not logger.propagate:
                break
            logger = logger.parent
        return True


@contextlib.contextmanager
def log_to_file(path: str | os.PathLike, *, level: int = logging.INFO) -> Iterator[Path]:
    """Send everything the process writes (stdout, stderr, logging) to a log file.

    The redirection is done on the file descriptors, so messages from jwst/stpipe handlers and
    from compiled code land in the log too. A failure is logged with its traceback before it
    propagates.

    Parameters
    ----------
    path : path-like
        The log file (created or truncated).
    level : int, optional
        Logging level of the root logger.

    Yields
    ------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds = (os.dup(1), os.dup(2))
    saved_streams = (sys.stdout, sys.stderr)
    root = logging.getLogger()
    saved_logging = (root.level, list(root.handlers))
    # our own messages reach the log at `level` even if a caller had quietened the package
    package = logging.getLogger("jwst1f")
    saved_package_level = package.level
    package.setLevel(level)
    with open(path, "w", buffering=1) as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        sys.stdout = sys.stderr = fh
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(_NotHandledElsewhere(handler))
        root.handlers = [handler]
        root.setLevel(level)
        try:
            yield path
        except BaseException:
            log.exception("failed")
            raise
        finally:
            fh.flush()
            sys.stdout, sys.stderr = saved_streams
            root.setLevel(saved_logging[0])
            root.handlers = saved_logging[1]
            package.setLevel(saved_package_level)
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            os.close(saved_fds[0])
            os.close(saved_fds[1])


# --------------------------------------------------------------------------------------------
# CRDS
# --------------------------------------------------------------------------------------------


def crds_settings_environment(
    crds: Mapping[str, Any], *, readonly: bool = True
) -> dict[str, str | None]:
    """Environment variables for the workflow's ``crds:`` settings.

    Parameters
    ----------
    crds : mapping
        ``path`` (cache folder), ``server_url`` (None or empty: no server, use the cache
        offline), ``context`` (optional pin, e.g. ``jwst_1322.pmap``), ``parameter_references``
        (let jwst read the ``pars-*`` step-parameter references; default False).
    readonly : bool, optional
        For an offline cache, add ``CRDS_READONLY_CACHE=1`` (jobs that run after the prefetch
        never need to write into it).

    Returns
    -------
    dict
        Variable -> value; ``None`` means "unset this variable".

    Raises
    ------
    CRDSSettingsError
        If ``crds.path`` is empty.
    """
    path = crds.get("path")
    if not path:
        raise CRDSSettingsError("crds.path is not set: give the CRDS cache folder in the config")
    root = Path(os.path.expanduser(str(path))).resolve()
    server = crds.get("server_url") or None
    env: dict[str, str | None] = {
        "CRDS_PATH": str(root),
        "CRDS_SERVER_URL": server,
        "CRDS_CONTEXT": crds.get("context") or None,
        "CRDS_READONLY_CACHE": None,
        # By default stpipe's parameter reference files (pars-*) are not used: step parameters
        # come from the config alone. ``parameter_references: true`` lets jwst read them.
        "STPIPE_DISABLE_CRDS_STEPPARS": None if crds.get("parameter_references") else "true",
    }
    if server is None:
        try:
            from jwst1f.offline_crds import find_context
        except ImportError:  # pragma: no cover - part of the package
            find_context = None
        if env["CRDS_CONTEXT"] is None and find_context is not None and root.is_dir():
            env["CRDS_CONTEXT"] = find_context(root)
        if readonly:
            env["CRDS_READONLY_CACHE"] = "1"
    return env


def _check_crds(env: Mapping[str, str]) -> None:
    """Raise :class:`CRDSSettingsError` unless CRDS can work with ``env``."""
    try:
        from jwst1f.offline_crds import check_crds_configured
    except ImportError:  # pragma: no cover - the foundation module is part of the package
        check_crds_configured = None
    if check_crds_configured is not None:
        try:
            check_crds_configured(env)
        except Exception as exc:
            raise CRDSSettingsError(str(exc)) from exc
        return
    if env.get("CRDS_SERVER_URL"):
        return
    path = env.get("CRDS_PATH")
    cfg = Path(path or ".") / "config" / "jwst" / "server_config"
    if not path or not cfg.is_file():
        raise CRDSSettingsError(
            f"no CRDS server (CRDS_SERVER_URL unset) and no usable cache at CRDS_PATH={path!r} "
            f"({cfg} missing): set crds.server_url, or build the cache first"
        )


@contextlib.contextmanager
def jwst_environment(
    crds: Mapping[str, Any], *, readonly: bool = True
) -> Iterator[dict[str, str | None]]:
    """Apply the CRDS environment for jwst calls, after checking that CRDS is usable.

    Parameters
    ----------
    crds : mapping
        The workflow's ``crds:`` settings, see :func:`crds_settings_environment`.
    readonly : bool, optional
        See :func:`crds_settings_environment`.

    Yields
    ------
    dict
        The variables that were set (None: unset).

    Raises
    ------
    CRDSSettingsError
        Neither a server nor a usable cache is configured. Raised *before* jwst is called, so
        that CRDS never gets to end the process with ``sys.exit``.
    """
    wanted = crds_settings_environment(crds, readonly=readonly)
    saved = {k: os.environ.get(k) for k in set(wanted) | set(_CRDS_VARS)}
    try:
        for key, value in wanted.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _check_crds({k: v for k, v in os.environ.items()})
        yield wanted
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _current_context() -> str | None:
    try:
        import crds

        return str(crds.get_context_name("jwst"))
    except Exception as exc:  # noqa: BLE001 - the record says why
        log.warning("cannot determine the CRDS context: %s", exc)
        return None


def prefetch_crds(
    crds: Mapping[str, Any],
    *,
    datasets: Sequence[str | os.PathLike] = (),
    detectors: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Make the CRDS cache complete before any parallel job reads it.

    With ``crds.server_url`` set: ``crds sync --fetch-references`` of the best references of
    ``datasets`` (every reference type of the context, evaluated on their headers) for the pinned
    or operational context. Without a server and with ``crds.offline_cache`` true: build the
    synthetic cache of :func:`jwst1f.offline_crds.build_cache` (demo and tests only). Without a
    server and without ``offline_cache``: check that the cache is usable.

    Parameters
    ----------
    crds : mapping
        The workflow's ``crds:`` settings.
    datasets : sequence of path-like
        Input exposures whose references are needed.
    detectors : sequence of str, optional
        Detectors for the offline cache (default: those of ``datasets``).

    Returns
    -------
    dict
        A record: mode, cache path, server, context, seconds taken.
    """
    t0 = time.perf_counter()
    env = crds_settings_environment(crds, readonly=False)
    path = Path(env["CRDS_PATH"])
    record: dict[str, Any] = {
        "cache": str(path),
        "server_url": env["CRDS_SERVER_URL"],
        "context_pin": crds.get("context") or None,
    }
    if env["CRDS_SERVER_URL"]:
        record["mode"] = "server"
        sync_env = {k: v for k, v in os.environ.items() if k not in _CRDS_VARS}
        sync_env.update({k: v for k, v in env.items() if v is not None})
        context = env["CRDS_CONTEXT"] or "jwst-operational"
        cmd = [sys.executable, "-m", "crds.sync", "--contexts", context, "--fetch-references"]
        if datasets:
            cmd += ["--dataset-files", *map(str, datasets)]
        log.info("fetching CRDS references: %s", " ".join(cmd[:6]) + " ...")
        subprocess.run(cmd, check=True, env=sync_env)
    elif crds.get("offline_cache"):
        record["mode"] = "offline-synthetic-cache"
        from jwst1f.offline_crds import build_cache

        infos = [exposure_info(p) for p in datasets]
        if detectors is None:
            detectors = sorted({i.detector for i in infos})
        filters = sorted(
            {
                i.filter if i.pupil in ("", "CLEAR", "NONE") else f"{i.filter}+{i.pupil}"
                for i in infos
                if i.stage2 == "image2" and i.filter
            }
        )
        log.info(
            "building the offline CRDS cache in %s for %s (filters %s)",
            path,
            ", ".join(detectors),
            ", ".join(filters) or "default",
        )
        build_cache(path, detectors=list(detectors) or None, filters=filters or None)
        record["filters"] = filters
    else:
        record["mode"] = "local-cache"
    record["detectors"] = list(detectors or [])
    with jwst_environment(crds, readonly=False):
        record["context"] = _current_context()
    record["seconds"] = round(time.perf_counter() - t0, 2)
    return record


# --------------------------------------------------------------------------------------------
# Running jwst
# --------------------------------------------------------------------------------------------


def step_overrides(
    stage: str, overrides: Mapping[str, Mapping[str, Any]] | None = None, *, threads: int = 1
) -> dict[str, dict[str, Any]]:
    """Step parameters for one stage: user overrides plus ``maximum_cores``.

    Parameters
    ----------
    stage : str
        One of :data:`PIPELINES`.
    overrides : mapping, optional
        ``{step name: {parameter: value}}`` passed through to jwst unchanged.
    threads : int
        Cores given to the steps that can use several (``jump``, ``ramp_fit``) unless the user
        set ``maximum_cores`` explicitly.

    Returns
    -------
    dict
        ``steps=`` argument for ``Pipeline.call``.
    """
    steps = {name: dict(pars or {}) for name, pars in (overrides or {}).items()}
    for name in _MULTICORE_STEPS.get(stage, ()):
        steps.setdefault(name, {}).setdefault("maximum_cores", str(max(1, int(threads))))
    return steps


def _pipeline_class(stage: str):
    if stage not in PIPELINES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(PIPELINES)}")
    import importlib

    module, _, name = PIPELINES[stage].rpartition(".")
    return getattr(importlib.import_module(module), name)


def run_stage(
    stage: str,
    input_path: str | os.PathLike,
    *,
    output_dir: str | os.PathLike,
    crds: Mapping[str, Any],
    steps: Mapping[str, Mapping[str, Any]] | None = None,
    threads: int = 1,
    expected: Sequence[str | os.PathLike] = (),
) -> list[Path]:
    """Run one jwst pipeline stage on one input and save its products.

    Parameters
    ----------
    stage : str
        ``detector1``, ``image2``, ``image3``, ``spec2`` or ``spec3``.
    input_path : path-like
        An ``uncal`` file (detector1) or an association (the other stages).
    output_dir : path-like
        Where jwst writes its products, under their canonical names.
    crds : mapping
        The workflow's ``crds:`` settings (checked before jwst is called).
    steps : mapping, optional
        Pass-through step overrides, ``{step: {parameter: value}}``.
    threads : int, optional
        Cores for the multiprocessing steps.
    expected : sequence of path-like, optional
        Files the stage must produce; a clear error is raised if one is missing afterwards.

    Returns
    -------
    list of Path
        The files written or updated in ``output_dir`` during the call.

    Raises
    ------
    CRDSSettingsError
        CRDS is not configured.
    RuntimeError
        An expected product was not written.
    """
    output_dir = Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    input_path = Path(input_path).resolve()
    expected = [Path(p).resolve() for p in expected]
    if not input_path.is_file():
        raise FileNotFoundError(f"{stage}: input {input_path} does not exist")
    pars = step_overrides(stage, steps, threads=threads)
    t0 = time.time()
    # jwst 3.0 opens level-2 members relative to the working directory (level-3 ones relative
    # to the association): run from the association's folder, where its members are.
    with jwst_environment(crds), contextlib.chdir(input_path.parent):
        cls = _pipeline_class(stage)
        log.info("%s on %s (steps: %s)", cls.__name__, input_path.name, json.dumps(pars))
        cls.call(
            str(input_path),
            output_dir=str(output_dir),
            save_results=True,
            steps=pars,
        )
    written = sorted(p for p in output_dir.iterdir() if p.is_file() and p.stat().st_mtime >= t0)
    missing = [str(p) for p in expected if not Path(p).is_file()]
    if missing:
        raise RuntimeError(
            f"{stage} on {input_path.name} finished without writing {', '.join(missing)}; "
            f"it wrote: {', '.join(p.name for p in written) or 'nothing'}"
        )
    log.info("%s wrote %s", stage, ", ".join(p.name for p in written))
    return written


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputExposure:
    """One input exposure of a programme.

    Attributes
    ----------
    name : str
        Exposure name (file name without ``_uncal``/``_rate`` and ``.fits``).
    path : Path
        The input file.
    kind : str
        ``"uncal"`` or ``"rate"``.
    role : str
        ``"science"``, ``"background"`` or ``"imprint"``.
    info : ExposureInfo
        Header keywords.
    """

    name: str
    path: Path
    kind: str
    role: str
    info: ExposureInfo


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _norm_ids(values: Any, width: int) -> set[str] | None:
    values = _as_list(values)
    if not values:
        return None
    return {str(v).strip().zfill(width) for v in values}


def find_inputs(
    programme: Mapping[str, Any], *, base_dir: str | os.PathLike = "."
) -> list[InputExposure]:
    """List, read and select the input exposures of one programme.

    Parameters
    ----------
    programme : mapping
        One entry of the config's ``programmes:`` list (keys ``id``, ``input``, ``start_from``,
        ``observations``, ``visits``, ``detectors``, ``exp_types``, ``target``, ``background``,
        ``imprint``; see ``config/README.md``).
    base_dir : path-like
        Relative input paths are taken from here.

    Returns
    -------
    list of InputExposure
        Sorted by name. When an exposure exists both as ``uncal`` and ``rate``, ``start_from``
        decides (``auto`` prefers the ``uncal``).

    Raises
    ------
    InputError
        A pattern matches nothing, a file is unreadable or is not a JWST exposure, or the
        selection leaves nothing. The message names the programme and the files.
    """
    pid = programme["id"]
    base_dir = Path(base_dir)
    start_from = programme.get("start_from", "auto")
    kinds = {"auto": ("uncal", "rate"), "uncal": ("uncal",), "rate": ("rate",)}[start_from]
    files: list[Path] = []
    for pattern in _as_list(programme.get("input")):
        p = Path(os.path.expanduser(str(pattern)))
        p = p if p.is_absolute() else base_dir / p
        if p.is_dir():
            found = [q for k in kinds for q in sorted(p.glob(f"*_{k}.fits"))]
        elif any(c in str(p) for c in "*?["):
            found = [Path(q) for q in sorted(glob.glob(str(p)))]
        else:
            found = [p] if p.exists() else []
        if not found:
            raise InputError(f"programme {pid!r}: input {pattern!r} matches no file ({p})")
        files.extend(found)
    by_name: dict[str, tuple[str, Path]] = {}
    problems = []
    for f in files:
        name = f.name
        kind = next((k for k in kinds if name.endswith(f"_{k}.fits")), None)
        if kind is None:
            problems.append(f"{f}: not a *_{'/_'.join(kinds)}.fits file")
            continue
        if not os.access(f, os.R_OK):
            problems.append(f"{f}: not readable")
            continue
        base = exposure_base(f)
        prev = by_name.get(base)
        if prev is None or kinds.index(kind) < kinds.index(prev[0]):
            by_name[base] = (kind, f)
    observations = _norm_ids(programme.get("observations"), 3)
    visits = _norm_ids(programme.get("visits"), 3)
    detectors = {str(d).upper() for d in _as_list(programme.get("detectors"))} or None
    exp_types = {str(d).upper() for d in _as_list(programme.get("exp_types"))} or None
    target = programme.get("target")
    bkg_patterns = [str(x) for x in _as_list(programme.get("background"))]
    imp_patterns = [str(x) for x in _as_list(programme.get("imprint"))]
    selected = []
    for base in sorted(by_name):
        kind, f = by_name[base]
        try:
            info = exposure_info(f)
        except AssociationError as exc:
            problems.append(str(exc))
            continue
        if observations and info.observation not in observations:
            continue
        if visits and info.visit not in visits:
            continue
        if detectors and info.detector not in detectors:
            continue
        if exp_types and info.exp_type not in exp_types:
            continue
        if target and str(target).lower() not in {info.target.lower()}:
            continue
        role = "science"
        if info.is_background or any(fnmatch.fnmatch(base, p) for p in bkg_patterns):
            role = "background"
        if info.is_imprint or any(fnmatch.fnmatch(base, p) for p in imp_patterns):
            role = "imprint"
        selected.append(InputExposure(name=base, path=f, kind=kind, role=role, info=info))
    if problems:
        raise InputError(f"programme {pid!r}: unusable input files:\n  " + "\n  ".join(problems))
    if not selected:
        raise InputError(f"programme {pid!r}: the selection leaves no exposure")
    return selected


# --------------------------------------------------------------------------------------------
# Provenance and reports
# --------------------------------------------------------------------------------------------


def software_versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape the products."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in (
        "jwst1f",
        "jwst",
        "stcal",
        "stpipe",
        "stdatamodels",
        "crds",
        "gwcs",
        "drizzle",
        "numpy",
        "scipy",
        "astropy",
        "snakemake",
    ):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write JSON atomically (temporary file + rename).

    Parameters
    ----------
    path : path-like
    data : JSON-serialisable
        Paths are written as strings.

    Returns
    -------
    Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True, default=str)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def provenance_record(
    *,
    products: Sequence[str | os.PathLike],
    crds_record: str | os.PathLike | Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A provenance record: software versions, CRDS context, products and anything in ``extra``.

    Parameters
    ----------
    products : sequence of path-like
        Product files. For FITS products the record keeps the CRDS context (``CRDS_CTX``) and
        the jwst version (``CAL_VER``) written by the pipeline, and the destriper status
        (``J1FSTAT``) where present.
    crds_record : path-like or mapping, optional
        The record written by :func:`prefetch_crds`.
    **extra
        JSON-serialisable items recorded as they are (resolved config, parameters, ...).

    Returns
    -------
    dict
    """
    from astropy.io import fits

    if crds_record is not None and not isinstance(crds_record, Mapping):
        with open(crds_record) as fh:
            crds_record = json.load(fh)
    entries = []
    contexts = set()
    for p in products:
        p = Path(p)
        entry: dict[str, Any] = {"file": str(p)}
        if p.name.endswith(".fits") and p.is_file():
            try:
                header = fits.getheader(p, 0)
            except OSError as exc:
                entry["error"] = str(exc)
            else:
                for key in ("CRDS_CTX", "CAL_VER", "J1FSTAT", "J1FVERS"):
                    if key in header:
                        entry[key] = header[key]
                if "CRDS_CTX" in header:
                    contexts.add(str(header["CRDS_CTX"]))
        entries.append(entry)
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "software": software_versions(),
        "crds": {
            "prefetch": dict(crds_record or {}),
            "contexts_in_products": sorted(contexts),
        },
        "products": entries,
        **extra,
    }


def _rms(values: Any) -> float | None:
    if values is None:
        return None
    if isinstance(values, (int, float)):
        return float(values)
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    return (sum(v * v for v in vals) / len(vals)) ** 0.5


def metrics_table(
    metrics_files: Sequence[str | os.PathLike], *, tsv: str | os.PathLike, html: str | os.PathLike
) -> list[dict[str, Any]]:
    """Collect per-exposure destripe metrics into a TSV and an HTML table.

    Parameters
    ----------
    metrics_files : sequence of path-like
        ``*_1fmetrics.json`` files written by :func:`jwst1f.io.destripe_file`.
    tsv, html : path-like
        Outputs.

    Returns
    -------
    list of dict
        One row per exposure: exposure, detector, stripe rms before/after (DN/s, rms over the
        channels), ratio, masked fraction, seconds.
    """
    rows = []
    for f in metrics_files:
        with open(f) as fh:
            m = json.load(fh)
        before = _rms(m.get("stripe_rms_before"))
        after = _rms(m.get("stripe_rms_after"))
        rows.append(
            {
                "exposure": exposure_base(m.get("input") or m.get("input_path") or Path(f).name)
                if (m.get("input") or m.get("input_path"))
                else Path(f).name.replace("_rate_1fmetrics.json", ""),
                "detector": m.get("detector", ""),
                "stripe_rms_before": before,
                "stripe_rms_after": after,
                "ratio": (after / before) if before and after is not None else None,
                "masked_fraction": m.get("masked_fraction"),
                "seconds": m.get("seconds"),
            }
        )
    cols = list(rows[0]) if rows else ["exposure"]

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v)

    Path(tsv).parent.mkdir(parents=True, exist_ok=True)
    with open(tsv, "w") as fh:
        fh.write("\t".join(cols) + "\n")
        for r in rows:
            fh.write("\t".join(fmt(r[c]) for c in cols) + "\n")
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{fmt(r[c])}</td>" for c in cols) + "</tr>\n" for r in rows
    )
    with open(html, "w") as fh:
        fh.write(
            "<html><body><table border='1' cellpadding='4'>\n"
            f"<caption>1/f destriping metrics (stripe rms in DN/s)</caption>\n"
            f"<tr>{head}</tr>\n{body}</table></body></html>\n"
        )
    return rows


def preview_product(path: str | os.PathLike, png: str | os.PathLike) -> Path:
    """Save a quick-look PNG of a level-3 product (``i2d`` image, or ``s3d`` cube collapsed).

    Parameters
    ----------
    path : path-like
        A FITS product with a ``SCI`` extension (2-D image or 3-D cube, (nz, ny, nx)).
    png : path-like
        Output figure.

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from astropy.io import fits

    with fits.open(path) as hdul:
        sci = np.asarray(hdul["SCI"].data, dtype=float)
        header = hdul[0].header
        unit = hdul["SCI"].header.get("BUNIT")
    if sci.ndim == 3:
        with np.errstate(all="ignore"):
            sci = np.nanmedian(sci, axis=0)
    from astropy.visualization import AsinhStretch, ImageNormalize

    finite = sci[np.isfinite(sci)]
    lo, hi = np.percentile(finite, [5, 99.9]) if finite.size else (0.0, 1.0)
    # asinh from just below the sky: the noise stays grey, faint and bright sources both show
    norm = ImageNormalize(vmin=lo, vmax=hi, stretch=AsinhStretch(a=0.05))
    fig, ax = plt.subplots(figsize=(7, 6), layout="constrained")
    im = ax.imshow(sci, origin="lower", cmap="gray", norm=norm, interpolation="antialiased")
    fig.colorbar(im, ax=ax, label=f"surface brightness [{unit or 'MJy/sr'}]")
    ax.set_title(
        f"{Path(path).name}\n{header.get('INSTRUME', '')} {header.get('FILTER', '')} "
        f"{header.get('PUPIL', '') or header.get('GRATING', '')}",
        fontsize=9,
    )
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png
