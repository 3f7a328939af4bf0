"""Level-2 and level-3 associations built from the headers of files that exist.

The JWST pipelines read their inputs from association files (``*_asn.json``). After the rate
files have been destriped into a new folder, the associations that came with the data point at the
wrong files. This module writes new ones from the primary headers of the files that exist:

* **level 2** (``calwebb_image2`` / ``calwebb_spec2``): one product per science exposure, named
  after the exposure, with ``background`` and ``imprint`` members where configured;
* **level 3** (``calwebb_image3`` / ``calwebb_spec3``): one product per target and instrument
  configuration (instrument, exposure type, optical elements such as FILTER/PUPIL or
  GRATING/FILTER, and subarray), named with the DMS product-name scheme
  ``jw<program>-<acid>_<target>_<instrument>_<optical elements>[-<subarray>]``.

Associations are written **beside their members, with bare file names**, so that a results folder
can be moved or shared. jwst 3.0 resolves level-3 members against the association's folder, but
``calwebb_image2``/``calwebb_spec2`` open the level-2 science member relative to the *working
directory*: run stage 2 from the association's folder (:func:`jwst1f.pipeline.run_stage` does).
Every association written here validates with jwst's own :func:`jwst.associations.load_asn`.

Examples
--------
>>> from jwst1f.associations import level2_associations, level3_associations
>>> asn2 = level2_associations(sorted(Path("destripe").glob("*_rate.fits")))  # doctest: +SKIP
>>> asn3 = level3_associations(sorted(Path("image2").glob("*_cal.fits")))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "IMAGE3_EXP_TYPES",
    "IMAGING_EXP_TYPES",
    "SPEC3_EXP_TYPES",
    "SPECTROSCOPIC_EXP_TYPES",
    "AssociationError",
    "ExposureInfo",
    "Level3Product",
    "DEFAULT_PRODUCT_NAME",
    "exposure_base",
    "exposure_info",
    "level2_association",
    "level2_associations",
    "level3_association",
    "level3_associations",
    "level3_products",
    "load_association",
    "stage2_for",
    "stage3_for",
    "write_association",
]

log = logging.getLogger(__name__)

#: Exposure types reduced with ``calwebb_image2``.
IMAGING_EXP_TYPES: frozenset[str] = frozenset(
    {
        "NRC_IMAGE",
        "NRC_CORON",
        "NRC_TACQ",
        "NRC_TACONFIRM",
        "NRC_FOCUS",
        "NRC_TSIMAGE",
        "NIS_IMAGE",
        "NIS_AMI",
        "NIS_TACQ",
        "NIS_TACONFIRM",
        "NIS_FOCUS",
        "MIR_IMAGE",
        "MIR_LYOT",
        "MIR_4QPM",
        "MIR_TACQ",
        "MIR_CORONCAL",
        "NRS_IMAGE",
        "NRS_TACQ",
        "NRS_TACONFIRM",
        "NRS_MSATA",
        "NRS_WATA",
        "NRS_CONFIRM",
        "NRS_FOCUS",
        "FGS_IMAGE",
        "FGS_FOCUS",
    }
)

#: Exposure types reduced with ``calwebb_spec2``.
SPECTROSCOPIC_EXP_TYPES: frozenset[str] = frozenset(
    {
        "NRS_IFU",
        "NRS_FIXEDSLIT",
        "NRS_MSASPEC",
        "NRS_BRIGHTOBJ",
        "NRC_WFSS",
        "NRC_TSGRISM",
        "NIS_WFSS",
        "NIS_SOSS",
        "MIR_LRS-FIXEDSLIT",
        "MIR_LRS-SLITLESS",
        "MIR_MRS",
    }
)

#: Imaging exposure types combined by ``calwebb_image3`` (coronagraphy, AMI, TSO and target
#: acquisitions have their own level-3 pipelines and are stopped after stage 2).
IMAGE3_EXP_TYPES: frozenset[str] = frozenset({"NRC_IMAGE", "NIS_IMAGE", "MIR_IMAGE", "FGS_IMAGE"})

#: Spectroscopic exposure types combined by ``calwebb_spec3``.
SPEC3_EXP_TYPES: frozenset[str] = frozenset(
    {"NRS_IFU", "NRS_FIXEDSLIT", "NRS_MSASPEC", "MIR_MRS", "MIR_LRS-FIXEDSLIT"}
)

#: The DMS level-3 product-name template; fields are described in :func:`level3_products`.
DEFAULT_PRODUCT_NAME = "jw{program}-{acid}_{target}_{instrument}_{opt_elem}{subarray}"

#: Values that mean "no optical element" (as in jwst's association rules).
_EMPTY = {"", "NONE", "NULL", "N/A", "--", "N", "F", "FALSE", "ANY"}

#: File-name suffixes of JWST pipeline products, longest first.
_SUFFIXES = (
    "_rateints",
    "_uncal",
    "_rate",
    "_calints",
    "_cal",
    "_crf",
    "_ramp",
    "_trapsfilled",
)


class AssociationError(ValueError):
    """Files that cannot be grouped into a valid association; the message says which and why."""


@dataclass(frozen=True)
class ExposureInfo:
    """What the association rules need to know about one exposure, read from its header.

    Attributes
    ----------
    path : Path
        The file.
    program, observation, visit : str
        ``PROGRAM`` (5 digits), ``OBSERVTN`` (3 digits) and ``VISIT`` (3 digits).
    instrument, detector, exp_type, subarray : str
        ``INSTRUME``, ``DETECTOR``, ``EXP_TYPE``, ``SUBARRAY`` (upper case).
    filter, pupil, grating : str
        Optical elements (empty string when the keyword is absent).
    channel : str
        ``CHANNEL`` (NIRCam ``SHORT``/``LONG``; empty elsewhere).
    target : str
        ``TARGPROP`` (the proposer's target name), else ``TARGNAME``, else ``"UNKNOWN"``.
    is_background, is_imprint : bool
        ``BKGDTARG`` and ``IS_IMPRT`` header flags.
    """

    path: Path
    program: str
    observation: str
    visit: str
    instrument: str
    detector: str
    exp_type: str
    subarray: str
    filter: str = ""
    pupil: str = ""
    grating: str = ""
    channel: str = ""
    target: str = "UNKNOWN"
    is_background: bool = False
    is_imprint: bool = False

    @property
    def base(self) -> str:
        """File name without the product suffix, e.g. ``jw01075001001_03105_00009_nrca2``."""
        return exposure_base(self.path)

    @property
    def stage2(self) -> str | None:
        """``"image2"``, ``"spec2"`` or None when the exposure type is not reduced here."""
        return stage2_for(self.exp_type)

    @property
    def stage3(self) -> str | None:
        """``"image3"``, ``"spec3"`` or None when no level-3 product is made."""
        return stage3_for(self.exp_type)

    @property
    def optical_elements(self) -> tuple[str, ...]:
        """Non-empty optical elements, lower case and sorted, as in DMS product names."""
        values = {self.filter, self.pupil, self.grating}
        elems = sorted({v.lower() for v in values if v and v.upper() not in _EMPTY})
        return tuple(elems)

    def configuration(self) -> tuple[str, ...]:
        """The level-3 grouping key: target and instrument configuration."""
        return (
            self.program,
            self.target,
            self.instrument,
            self.exp_type,
            self.channel,
            *self.optical_elements,
            self.subarray,
        )


def exposure_base(path: str | os.PathLike) -> str:
    """Return the exposure name of a JWST product file: its name without suffix and extension.

    Parameters
    ----------
    path : str or path-like
        For example ``jw01075001001_03105_00009_nrca2_uncal.fits``.

    Returns
    -------
    str
        For example ``jw01075001001_03105_00009_nrca2``.
    """
    name = Path(path).name
    for ext in (".fits.gz", ".fits"):
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def stage2_for(exp_type: str) -> str | None:
    """Stage-2 pipeline (``"image2"`` / ``"spec2"``) for an ``EXP_TYPE``, or None."""
    exp_type = exp_type.upper()
    if exp_type in IMAGING_EXP_TYPES:
        return "image2"
    if exp_type in SPECTROSCOPIC_EXP_TYPES:
        return "spec2"
    return None


def stage3_for(exp_type: str) -> str | None:
    """Stage-3 pipeline (``"image3"`` / ``"spec3"``) for an ``EXP_TYPE``, or None."""
    exp_type = exp_type.upper()
    if exp_type in IMAGE3_EXP_TYPES:
        return "image3"
    if exp_type in SPEC3_EXP_TYPES:
        return "spec3"
    return None


def _text(header: Mapping, key: str) -> str:
    value = header.get(key)
    if value is None or isinstance(value, bool):
        return ""
    return str(value).strip()


def _flag(header: Mapping, key: str) -> bool:
    value = header.get(key)
    if isinstance(value, str):
        return value.strip().upper() in {"T", "TRUE", "Y", "YES", "1"}
    return bool(value)


def exposure_info(path: str | os.PathLike) -> ExposureInfo:
    """Read the association keywords from the primary header of one JWST FITS file.

    Parameters
    ----------
    path : str or path-like
        An ``uncal``, ``rate``, ``rateints`` or ``cal`` file.

    Returns
    -------
    ExposureInfo

    Raises
    ------
    AssociationError
        If the file cannot be read or lacks ``INSTRUME``/``EXP_TYPE``/``DETECTOR``.
    """
    from astropy.io import fits

    path = Path(path)
    try:
        header = fits.getheader(path, 0)
    except (OSError, ValueError) as exc:
        raise AssociationError(f"{path}: cannot read the FITS header ({exc})") from exc
    missing = [k for k in ("INSTRUME", "DETECTOR", "EXP_TYPE") if not _text(header, k)]
    if missing:
        raise AssociationError(f"{path}: header lacks {', '.join(missing)}; not a JWST exposure")
    target = _text(header, "TARGPROP") or _text(header, "TARGNAME") or "UNKNOWN"
    return ExposureInfo(
        path=path,
        program=_text(header, "PROGRAM").zfill(5) or "00000",
        observation=_text(header, "OBSERVTN").zfill(3) or "001",
        visit=_text(header, "VISIT").zfill(3) or "001",
        instrument=_text(header, "INSTRUME").upper(),
        detector=_text(header, "DETECTOR").upper(),
        exp_type=_text(header, "EXP_TYPE").upper(),
        subarray=(_text(header, "SUBARRAY") or "FULL").upper(),
        filter=_text(header, "FILTER").upper(),
        pupil=_text(header, "PUPIL").upper(),
        grating=_text(header, "GRATING").upper(),
        channel=_text(header, "CHANNEL").upper(),
        target=target,
        is_background=_flag(header, "BKGDTARG"),
        is_imprint=_flag(header, "IS_IMPRT"),
    )


def _as_infos(items: Iterable[str | os.PathLike | ExposureInfo]) -> list[ExposureInfo]:
    return [i if isinstance(i, ExposureInfo) else exposure_info(i) for i in items]


def _code_version() -> str:
    try:
        from importlib.metadata import version

        return version("jwst")
    except Exception:  # pragma: no cover - jwst is a dependency
        return "unknown"


def _member(path: Path, exptype: str) -> dict:
    return {"expname": path.name, "exptype": exptype, "exposerr": None}


def level2_association(
    science: str | os.PathLike | ExposureInfo,
    *,
    background: Sequence[str | os.PathLike] = (),
    imprint: Sequence[str | os.PathLike] = (),
    asn_pool: str = "jwst1f",
) -> dict:
    """Build one level-2b association (one product, named after the science exposure).

    Parameters
    ----------
    science : str, path-like or ExposureInfo
        The science rate (or rateints) file.
    background, imprint : sequence of path-like, optional
        Background and NIRSpec imprint (leakcal) exposures to attach as members. They must
        sit in the same folder as the science file.
    asn_pool : str, optional
        Recorded as ``asn_pool``.

    Returns
    -------
    dict
        The association, ready for :func:`write_association`.

    Raises
    ------
    AssociationError
        If a member is in a different folder from the science exposure.
    """
    info = science if isinstance(science, ExposureInfo) else exposure_info(science)
    folder = info.path.resolve().parent
    members = [_member(info.path, "science")]
    for kind, paths in (("background", background), ("imprint", imprint)):
        for p in paths:
            p = Path(p)
            if p.resolve().parent != folder:
                raise AssociationError(
                    f"{kind} member {p} is not in the folder of {info.path.name} ({folder}); "
                    "level-2 members must sit beside the association"
                )
            members.append(_member(p, kind))
    asn_type = info.stage2 or "image2"
    return {
        "asn_type": asn_type,
        "asn_rule": "jwst1f_Level2b",
        "version_id": None,
        "code_version": _code_version(),
        "degraded_status": "No known degraded exposures in association.",
        "program": info.program,
        "constraints": f"regenerated by jwst1f from headers: exp_type={info.exp_type}",
        "asn_id": f"o{info.observation}",
        "target": info.target,
        "asn_pool": asn_pool,
        "products": [{"name": info.base, "members": members}],
    }


def write_association(asn: Mapping, path: str | os.PathLike) -> Path:
    """Write an association atomically and check that jwst's loader accepts it.

    Parameters
    ----------
    asn : mapping
        The association.
    path : str or path-like
        Destination, e.g. ``.../<name>_asn.json``. Written via a temporary file in the same
        folder, so a crash never leaves a half-written association.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    AssociationError
        If jwst's loader rejects the association (the file is then not written).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(asn, indent=4) + "\n"
    try:
        load_association(text)
    except Exception as exc:
        raise AssociationError(f"{path.name}: jwst rejects the association: {exc}") from exc
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_association(source: str | os.PathLike):
    """Load an association with jwst's own loader (:func:`jwst.associations.load_asn`).

    Parameters
    ----------
    source : str or path-like
        A path to an ``*_asn.json`` file, or its JSON text.

    Returns
    -------
    jwst.associations.Association
        The validated association (a dict subclass).
    """
    from jwst.associations import load_asn

    if isinstance(source, str) and source.lstrip().startswith("{"):
        return load_asn(source)
    with open(source) as fh:
        return load_asn(fh)


def _matches(info: ExposureInfo, science: ExposureInfo) -> bool:
    return info.detector == science.detector and info.optical_elements == science.optical_elements


def level2_associations(
    science: Iterable[str | os.PathLike | ExposureInfo],
    *,
    background: Iterable[str | os.PathLike | ExposureInfo] = (),
    imprint: Iterable[str | os.PathLike | ExposureInfo] = (),
    suffix: str = "_asn.json",
) -> list[Path]:
    """Write one level-2 association per science exposure, beside it.

    Background and imprint exposures are attached to every science exposure taken with the same
    detector and optical elements.

    Parameters
    ----------
    science : iterable of path-like or ExposureInfo
        Science rate files.
    background, imprint : iterable of path-like or ExposureInfo, optional
        Candidate background and imprint rate files (same folder as the science files).
    suffix : str, optional
        The association file is ``<exposure><suffix>`` beside the science file.

    Returns
    -------
    list of Path
        The associations written, in the order of ``science``.
    """
    bkg = _as_infos(background)
    imp = _as_infos(imprint)
    written = []
    for info in _as_infos(science):
        asn = level2_association(
            info,
            background=[b.path for b in bkg if _matches(b, info)],
            imprint=[i.path for i in imp if _matches(i, info)],
        )
        written.append(write_association(asn, info.path.parent / f"{info.base}{suffix}"))
    return written


@dataclass(frozen=True)
class Level3Product:
    """One level-3 product: a name, its stage-3 pipeline and its members.

    Attributes
    ----------
    name : str
        The product name (lower case, DMS scheme by default).
    stage : str
        ``"image3"`` or ``"spec3"``.
    members : tuple of Path
        The stage-2 products (``*_cal.fits``) combined into it, sorted by name.
    program, acid, target : str
        Programme, association candidate id (``o<obs>`` or ``c1000``) and target id (``t001``).
    """

    name: str
    stage: str
    members: tuple[Path, ...]
    program: str
    acid: str
    target: str
    exp_type: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        """JSON-serialisable form (member paths as strings)."""
        return {
            "name": self.name,
            "stage": self.stage,
            "members": [str(p) for p in self.members],
            "program": self.program,
            "acid": self.acid,
            "target": self.target,
            "exp_type": self.exp_type,
        }


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def level3_products(
    files: Iterable[str | os.PathLike | ExposureInfo],
    *,
    product_name: str | None = None,
    target_ids: Mapping[str, str] | None = None,
) -> list[Level3Product]:
    """Group stage-2 products by target and instrument configuration.

    Parameters
    ----------
    files : iterable of path-like or ExposureInfo
        Stage-2 products (``*_cal.fits``). Exposures whose type has no level-3 pipeline here
        (see :data:`IMAGE3_EXP_TYPES`, :data:`SPEC3_EXP_TYPES`), and background or imprint
        exposures, are left out.
    product_name : str, optional
        A :meth:`str.format` template for the product names. Fields: ``program`` (5 digits),
        ``acid`` (``o<observation>`` when all members share one observation, else ``c1000``),
        ``target`` (``t001``... in order of target name, or ``target_ids``), ``target_name``
        (the proposer's name, alphanumerics only), ``instrument``, ``opt_elem`` (sorted optical
        elements joined by ``-``, ``clear`` when none), ``subarray`` (``-<name>`` unless FULL),
        ``exp_type``. Default :data:`DEFAULT_PRODUCT_NAME`. The name is lower-cased.
    target_ids : mapping, optional
        Target name -> target id (e.g. ``{"NGC 1234": "t005"}``).

    Returns
    -------
    list of Level3Product
        Sorted by name.

    Raises
    ------
    AssociationError
        If two different groups would get the same product name.
    """
    infos = [i for i in _as_infos(files) if i.stage3 and not (i.is_background or i.is_imprint)]
    template = product_name or DEFAULT_PRODUCT_NAME
    targets = sorted({i.target for i in infos})
    ids = dict(target_ids or {})
    for n, t in enumerate(targets, start=1):
        ids.setdefault(t, f"t{n:03d}")
    groups: dict[tuple, list[ExposureInfo]] = {}
    for info in infos:
        groups.setdefault(info.configuration(), []).append(info)
    products: dict[str, Level3Product] = {}
    for members in groups.values():
        first = members[0]
        observations = sorted({m.observation for m in members})
        acid = f"o{observations[0]}" if len(observations) == 1 else "c1000"
        fields = {
            "program": first.program,
            "acid": acid,
            "target": ids[first.target],
            "target_name": _slug(first.target),
            "instrument": first.instrument.lower(),
            "opt_elem": "-".join(first.optical_elements) or "clear",
            "subarray": "" if first.subarray == "FULL" else f"-{first.subarray.lower()}",
            "exp_type": first.exp_type.lower(),
        }
        try:
            name = template.format(**fields).lower()
        except KeyError as exc:
            raise AssociationError(
                f"product_name template {template!r} uses unknown field {exc}; "
                f"known fields: {', '.join(sorted(fields))}"
            ) from None
        if name in products:
            raise AssociationError(
                f"two different exposure groups would both be named {name!r}; "
                "add more fields to the product_name template"
            )
        products[name] = Level3Product(
            name=name,
            stage=first.stage3,
            members=tuple(sorted((m.path for m in members), key=lambda p: p.name)),
            program=first.program,
            acid=acid,
            target=fields["target"],
            exp_type=first.exp_type,
        )
    return [products[k] for k in sorted(products)]


def level3_association(product: Level3Product, *, asn_pool: str = "jwst1f") -> dict:
    """Build the level-3 association of one product (members by bare file name).

    Parameters
    ----------
    product : Level3Product
    asn_pool : str, optional

    Returns
    -------
    dict
    """
    return {
        "asn_type": product.stage,
        "asn_rule": "jwst1f_Level3",
        "version_id": None,
        "code_version": _code_version(),
        "degraded_status": "No known degraded exposures in association.",
        "program": product.program,
        "constraints": f"regenerated by jwst1f from headers: exp_type={product.exp_type}",
        "asn_id": product.acid,
        "target": product.target,
        "asn_pool": asn_pool,
        "products": [
            {
                "name": product.name,
                "members": [_member(Path(p), "science") for p in product.members],
            }
        ],
    }


def level3_associations(
    files: Iterable[str | os.PathLike | ExposureInfo],
    *,
    product_name: str | None = None,
    outdir: str | os.PathLike | None = None,
) -> list[Path]:
    """Write one level-3 association per product, beside its members.

    Parameters
    ----------
    files : iterable of path-like or ExposureInfo
        Stage-2 products.
    product_name : str, optional
        Product-name template, see :func:`level3_products`.
    outdir : path-like, optional
        Must be the members' folder when given (checked); default: that folder.

    Returns
    -------
    list of Path
        ``<outdir>/<product>_<stage>_asn.json`` for every product.

    Raises
    ------
    AssociationError
        If the members of one product are spread over several folders.
    """
    written = []
    for product in level3_products(files, product_name=product_name):
        folders = {p.resolve().parent for p in product.members}
        if len(folders) != 1:
            raise AssociationError(
                f"members of {product.name} are in several folders: {sorted(map(str, folders))}"
            )
        folder = folders.pop()
        if outdir is not None and Path(outdir).resolve() != folder:
            raise AssociationError(
                f"associations must be written beside their members ({folder}), not in {outdir}"
            )
        path = folder / f"{product.name}_{product.stage}_asn.json"
        written.append(write_association(level3_association(product), path))
    return written
