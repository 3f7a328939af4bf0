"""Build (or update) the local CRDS cache of synthetic reference files.

Layout, as CRDS expects it under ``CRDS_PATH``::

    config/jwst/server_config
    config/jwst/jwst1f_manifest.json        what was built, and from which recipe
    mappings/jwst/jwst_0000.pmap, jwst_<instr>_0000.imap, jwst_<instr>_<reftype>_0000.rmap
    references/jwst/<instr>/jwst_<instr>_<reftype>_<serial>.fits|asdf

Builds are incremental: a reference file is rewritten only when it is missing or its recipe
(the detector facts and builder version it depends on) changed; ``force=True`` rewrites all.
Detectors built earlier stay in the cache and in the mappings.  Concurrent builds of one
cache (e.g. from parallel jobs) are serialised by a lock file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from jwst1f.offline_crds.detectors import KNOWN_DETECTORS, detector_facts
from jwst1f.offline_crds.mappings import CONTEXT, write_mappings, write_server_config
from jwst1f.offline_crds.references import (
    RefSpec,
    detector_references,
    instrument_references,
)

__all__ = ["DEFAULT_DETECTORS", "build_cache", "planned_references", "MANIFEST"]

log = logging.getLogger(__name__)

#: Detectors built when none are named: one of each imaging kind plus NIRSpec.
DEFAULT_DETECTORS: tuple[str, ...] = ("NRCA1", "NRCALONG", "NIS", "MIRIMAGE", "NRS1")
#: Manifest path relative to the cache root.
MANIFEST = Path("config") / "jwst" / "jwst1f_manifest.json"

_ALIASES = {"NRCA5": "NRCALONG", "NRCB5": "NRCBLONG", "NIRISS": "NIS", "MIRI": "MIRIMAGE"}


def _normalise_detectors(detectors: Iterable[str] | None) -> list[str]:
    if detectors is None:
        return list(DEFAULT_DETECTORS)
    out: list[str] = []
    for name in detectors:
        for part in str(name).replace(",", " ").split():
            det = part.upper()
            if det in ("ALL", "*"):
                out.extend(KNOWN_DETECTORS)
                continue
            if det == "NIRCAM":
                out.extend(d for d in KNOWN_DETECTORS if d.startswith("NRC"))
                continue
            if det == "NIRSPEC":
                out.extend(("NRS1", "NRS2"))
                continue
            det = _ALIASES.get(det, det)
            if det not in KNOWN_DETECTORS:
                raise ValueError(
                    f"unknown detector {part!r}; choose from {', '.join(KNOWN_DETECTORS)}, "
                    "or NIRCAM, NIRSPEC, ALL"
                )
            out.append(det)
    return list(dict.fromkeys(out))


def _normalise_filters(filters: Iterable[str] | None) -> tuple[tuple[str, str], ...] | None:
    """``["F200W", "F150W2+F162M", "CLEAR+F150W"]`` -> ((FILTER, PUPIL), ...).

    A bare name stands for every (FILTER, PUPIL) pair that contains it, so ``F150W`` means
    F150W/CLEAR on NIRCam and CLEAR/F150W on NIRISS.
    """
    if filters is None:
        return None
    from jwst1f.offline_crds.detectors import IMAGING_FILTERS  # noqa: PLC0415

    pairs: list[tuple[str, str]] = []
    for item in filters:
        for part in str(item).replace(",", " ").split():
            part = part.upper()
            if "+" in part:
                f, p = part.split("+", 1)
                pairs.append((f, p))
                continue
            found = [
                fp
                for table in IMAGING_FILTERS.values()
                for fp in table
                if part in fp and (fp[1] in ("CLEAR", "CLEARP", "N/A") or fp[0] == "CLEAR")
            ]
            if not found:
                raise ValueError(f"unknown imaging filter {part!r}")
            pairs.extend(found)
    return tuple(dict.fromkeys(pairs))


def planned_references(
    detectors: Sequence[str] | None = None, *, filters: Iterable[str] | None = None
) -> list[RefSpec]:
    """The reference files a build of ``detectors`` (and ``filters``) consists of."""
    dets = _normalise_detectors(detectors)
    pairs = _normalise_filters(filters)
    specs: list[RefSpec] = []
    instruments: list[str] = []
    for det in dets:
        facts = detector_facts(det)
        specs += detector_references(facts, filters=pairs)
        if facts.instrument not in instruments:
            instruments.append(facts.instrument)
    for inst in instruments:
        specs += instrument_references(inst)
    return specs


def _load_manifest(root: Path) -> dict:
    path = root / MANIFEST
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            if isinstance(data, dict) and isinstance(data.get("files"), dict):
                return data
        except json.JSONDecodeError:
            log.warning("ignoring unreadable manifest %s", path)
    return {"files": {}}


def _save_manifest(root: Path, manifest: dict) -> None:
    path = root / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


def build_cache(
    path: str | os.PathLike[str],
    *,
    detectors: Sequence[str] | None = None,
    filters: Iterable[str] | None = None,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Build or update a local CRDS cache of synthetic JWST reference files.

    Parameters
    ----------
    path : path-like
        Cache directory (becomes ``CRDS_PATH``); created if missing.
    detectors : sequence of str, optional
        DETECTOR names (``NRCA1``, ``NRCALONG``, ``NIS``, ``NRS1``, ``MIRIMAGE``...), or the
        groups ``NIRCAM``, ``NIRSPEC``, ``ALL``.  Default `DEFAULT_DETECTORS`.
    filters : iterable of str, optional
        Imaging filters to build flat fields for: ``F200W`` or ``FILTER+PUPIL`` pairs such
        as ``F150W2+F162M``.  Default: two per detector family (see
        :data:`jwst1f.offline_crds.detectors.DEFAULT_FILTERS`).  Photometry, distortion and
        pixel-area references cover every imaging filter regardless.
    force : bool
        Rewrite every planned file even if its recipe is unchanged.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    Path
        The cache directory (absolute).

    Notes
    -----
    A full-frame near-infrared detector takes about 200 MB (MIRI about 50 MB) plus 17 MB per
    flat-field filter.
    """
    root = Path(path).expanduser().resolve()
    specs = planned_references(detectors, filters=filters)  # validates names before any write
    root.mkdir(parents=True, exist_ok=True)
    with _build_lock(root):
        return _build_locked(root, specs, force=force, progress=progress)


@contextlib.contextmanager
def _build_lock(root: Path):
    """Exclusive lock on ``root/.jwst1f-build.lock``: concurrent builds wait for each other."""
    with open(root / ".jwst1f-build.lock", "w") as handle:
        try:
            import fcntl  # noqa: PLC0415 - POSIX only; elsewhere builds are not serialised
        except ImportError:  # pragma: no cover
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_locked(root: Path, specs: list[RefSpec], *, force: bool, progress: bool) -> Path:
    t0 = time.monotonic()
    manifest = _load_manifest(root)
    files: dict = manifest["files"]
    todo = []
    for spec in specs:
        target = root / "references" / "jwst" / spec.instrument / spec.filename
        known = files.get(spec.filename, {})
        if force or not target.is_file() or known.get("recipe_hash") != spec.recipe_hash:
            todo.append((spec, target))
    log.info("CRDS cache %s: %d reference files planned, %d to write", root, len(specs), len(todo))
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm  # noqa: PLC0415

        bar = tqdm(total=len(todo), desc="offline-crds", unit="file")
    try:
        for spec, target in todo:
            target.parent.mkdir(parents=True, exist_ok=True)
            t1 = time.monotonic()
            spec.write(target)
            log.info(
                "wrote %s (%s %s, %.1f s)",
                target.name,
                spec.reftype,
                "/".join(spec.match),
                time.monotonic() - t1,
            )
            files[spec.filename] = {
                "instrument": spec.instrument,
                "reftype": spec.reftype,
                "match": list(spec.match),
                "recipe_hash": spec.recipe_hash,
            }
            _save_manifest(root, manifest)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    # Keep only entries whose file exists (a user may have deleted some).
    for name in list(files):
        entry = files[name]
        if not (root / "references" / "jwst" / entry["instrument"] / name).is_file():
            del files[name]
    entries = [{"filename": name, **entry} for name, entry in files.items()]
    manifest["context"] = CONTEXT
    _save_manifest(root, manifest)
    write_server_config(root)
    write_mappings(root, entries)
    log.info(
        "CRDS cache %s ready: context %s, %d reference files, %.1f s",
        root,
        CONTEXT,
        len(entries),
        time.monotonic() - t0,
    )
    return root
