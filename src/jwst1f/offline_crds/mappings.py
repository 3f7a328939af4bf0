"""CRDS mappings (pmap, imap, rmap) and ``server_config`` for the synthetic cache.

The mappings are a pure function of the cache manifest (which reference files exist and what
they match), so they are regenerated in full on every build.  Every reference type a jwst 3.0
pipeline or CRDS's own JWST type specification knows for an instrument gets an imap entry:
an rmap when the cache holds files of that type, otherwise ``N/A`` (the step skips itself).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = [
    "CONTEXT",
    "INSTRUMENTS",
    "parkeys",
    "known_reftypes",
    "write_mappings",
    "write_server_config",
]

log = logging.getLogger(__name__)

#: Name of the pipeline mapping (the CRDS context) of the synthetic cache.
CONTEXT = "jwst_0000.pmap"
INSTRUMENTS = ("fgs", "miri", "nircam", "niriss", "nirspec")
DATE_KEYS = ("META.OBSERVATION.DATE", "META.OBSERVATION.TIME")
USEAFTER_KEY = "2000-01-01 00:00:00"
DERIVED_FROM = "jwst1f synthetic offline cache"


def parkeys(instrument: str, reftype: str) -> tuple[str, ...]:
    """Dataset keywords an rmap of ``reftype`` matches on (in order of `RefSpec.match`)."""
    if reftype in ("apcorr", "abvegaoffset", "filteroffset"):
        return ("META.INSTRUMENT.NAME",)
    if reftype == "dark":
        return ("META.INSTRUMENT.DETECTOR", "META.SUBARRAY.NAME")
    if reftype == "flat":
        if instrument.lower() == "miri":
            return ("META.INSTRUMENT.DETECTOR", "META.INSTRUMENT.FILTER")
        return ("META.INSTRUMENT.DETECTOR", "META.INSTRUMENT.FILTER", "META.INSTRUMENT.PUPIL")
    return ("META.INSTRUMENT.DETECTOR",)


def known_reftypes(instrument: str) -> list[str]:
    """Reference types CRDS's JWST specs or any jwst step ask for, for ``instrument``."""
    import inspect  # noqa: PLC0415

    from crds.core import reftypes  # noqa: PLC0415

    types: set[str] = set()
    try:
        types.update(reftypes.get_types_object("jwst").get_filekinds(instrument.lower()))
    except Exception as exc:  # noqa: BLE001 - older crds: fall back to the steps alone
        log.debug("crds type spec unavailable for %s: %s", instrument, exc)
    import jwst.step  # noqa: PLC0415

    for obj in vars(jwst.step).values():
        rt = getattr(obj, "reference_file_types", None) if inspect.isclass(obj) else None
        if isinstance(rt, list | tuple):
            types.update(rt)
    types.update(("trapdensity", "trappars", "persat", "drizpars"))
    types.discard("all")
    return sorted(types)


def _fmt(value) -> str:
    return repr(value)


def _with_checksum(text: str) -> str:
    """Fill in the ``sha1sum`` header line the way CRDS checks it.

    CRDS hashes the file text without the line(s) containing ``sha1sum``
    (``crds.core.rmap.Mapping._get_checksum``); computing it here is the same as running
    ``python -m crds.refactoring.checksum`` but avoids its slow grammar-based parse.
    """
    from crds.core import utils  # noqa: PLC0415

    digest = utils.str_checksum(
        "".join(line for line in text.splitlines(True) if "sha1sum" not in line)
    )
    return text.replace(f"'sha1sum' : {'0' * 40!r}", f"'sha1sum' : {digest!r}", 1)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    tmp.replace(path)


def _header(fields: Mapping[str, object]) -> str:
    lines = ["header = {"]
    for key in sorted(fields):
        lines.append(f"    {key!r} : {_fmt(fields[key])},")
    lines.append("}")
    return "\n".join(lines)


def _rmap_text(instrument: str, reftype: str, entries: list[tuple[tuple[str, ...], str]]) -> str:
    name = f"jwst_{instrument}_{reftype}_0000.rmap"
    header = {
        "classes": ("Match", "UseAfter"),
        "derived_from": DERIVED_FROM,
        "filekind": reftype.upper(),
        "instrument": instrument.upper(),
        "mapping": "REFERENCE",
        "name": name,
        "observatory": "JWST",
        "parkey": (parkeys(instrument, reftype), DATE_KEYS),
        "sha1sum": "0" * 40,
    }
    body = ["", "selector = Match({"]
    for match, filename in sorted(entries):
        key = repr(match[0]) if len(match) == 1 else repr(tuple(match))
        body.append(f"    {key} : UseAfter({{")
        body.append(f"        {USEAFTER_KEY!r} : {filename!r},")
        body.append("    }),")
    body.append("})")
    return _header(header) + "\n" + "\n".join(body) + "\n"


def _imap_text(instrument: str, selector: Mapping[str, str]) -> str:
    header = {
        "derived_from": DERIVED_FROM,
        "instrument": instrument.upper(),
        "mapping": "INSTRUMENT",
        "name": f"jwst_{instrument}_0000.imap",
        "observatory": "JWST",
        "parkey": ("META.EXPOSURE.TYPE",),
        "sha1sum": "0" * 40,
    }
    body = ["", "selector = {"]
    for reftype in sorted(selector):
        body.append(f"    {reftype!r} : {selector[reftype]!r},")
    body.append("}")
    return _header(header) + "\n" + "\n".join(body) + "\n"


def _pmap_text(imaps: Mapping[str, str]) -> str:
    header = {
        "derived_from": DERIVED_FROM,
        "mapping": "PIPELINE",
        "name": CONTEXT,
        "observatory": "JWST",
        "parkey": ("META.INSTRUMENT.NAME",),
        "sha1sum": "0" * 40,
    }
    body = ["", "selector = {"]
    for inst in sorted(imaps):
        body.append(f"    {inst.upper()!r} : {imaps[inst]!r},")
    body.append("}")
    return _header(header) + "\n" + "\n".join(body) + "\n"


def write_mappings(root: Path, manifest: Iterable[Mapping[str, object]]) -> list[Path]:
    """Write every rmap, imap and the pmap under ``root/mappings/jwst``, with CRDS checksums.

    Parameters
    ----------
    root : Path
        The cache directory (``CRDS_PATH``).
    manifest : iterable of dict
        One entry per reference file: ``instrument``, ``reftype``, ``match`` (list of str),
        ``filename``.

    Returns
    -------
    list of Path
        The mapping files written (rmaps, imaps, then the pmap).
    """
    mapdir = Path(root) / "mappings" / "jwst"
    mapdir.mkdir(parents=True, exist_ok=True)
    grouped: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for entry in manifest:
        grouped[str(entry["instrument"])][str(entry["reftype"])].append(
            (tuple(entry["match"]), str(entry["filename"]))
        )
    # Remove stale mappings from an earlier build (e.g. a reftype no longer built).
    for old in mapdir.glob("jwst_*"):
        old.unlink()
    written: list[Path] = []
    imaps: dict[str, str] = {}
    for instrument in INSTRUMENTS:
        selector = dict.fromkeys(known_reftypes(instrument), "N/A")
        for reftype, entries in sorted(grouped.get(instrument, {}).items()):
            path = mapdir / f"jwst_{instrument}_{reftype}_0000.rmap"
            _write_text(path, _with_checksum(_rmap_text(instrument, reftype, entries)))
            written.append(path)
            selector[reftype] = path.name
        imap = mapdir / f"jwst_{instrument}_0000.imap"
        _write_text(imap, _with_checksum(_imap_text(instrument, selector)))
        imaps[instrument] = imap.name
    pmap = mapdir / CONTEXT
    _write_text(pmap, _with_checksum(_pmap_text(imaps)))
    written += [mapdir / name for name in imaps.values()] + [pmap]
    return written


def write_server_config(root: Path) -> Path:
    """Write ``root/config/jwst/server_config`` naming `CONTEXT` as every context."""
    import datetime  # noqa: PLC0415

    import crds  # noqa: PLC0415

    cfgdir = Path(root) / "config" / "jwst"
    cfgdir.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
    info = {
        "observatory": "jwst",
        "operational_context": CONTEXT,
        "edit_context": CONTEXT,
        "versions_context": CONTEXT,
        "bad_files_list": [],
        "bad_files": "",
        "force_remote_mode": False,
        "last_synced": now,
        "crds_version": {"str": f"{crds.__version__}, jwst1f synthetic cache"},
        "reference_url": {},
        "mapping_url": {},
    }
    path = cfgdir / "server_config"
    _write_text(path, repr(info) + "\n")
    return path
