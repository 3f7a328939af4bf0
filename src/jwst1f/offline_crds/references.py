"""Synthetic reference files, one builder per reference type.

Every builder returns a :class:`RefSpec`: the CRDS reference type, the match values used in the
rmap, a file name, and a function that writes the file.  The values come from
:mod:`jwst1f.offline_crds.detectors` (and so from ``jwst1f.instruments``), so the references
describe the simulated detectors exactly: the pipeline then removes what the simulator put in.

Arrays the pipeline can default (an all-zero DQ or ERR plane) are not written, which keeps a
full-frame detector at about 200 MB.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jwst1f.offline_crds.detectors import (
    DEFAULT_FILTERS,
    IMAGING_FILTERS,
    KNOWN_DETECTORS,
    DetectorFacts,
    dark_map,
    flat_map,
    frame_time,
    gain_map,
    readnoise_map,
    reference_pixel_mask,
    saturation_map,
    subarrays_for,
    superbias_map,
)

__all__ = [
    "simulator_psf_fwhm",
    "BUILDER_VERSION",
    "USEAFTER",
    "RefSpec",
    "detector_references",
    "instrument_references",
    "reference_filename",
]

log = logging.getLogger(__name__)

#: Bump when the content of any reference changes, so incremental builds redo the files.
BUILDER_VERSION = "6"
#: USEAFTER of every synthetic reference (before any flight data).
USEAFTER = "2000-01-01T00:00:00"
AUTHOR = "jwst1f.offline_crds (synthetic)"
PEDIGREE = "MODEL"  # not "DUMMY": some steps skip themselves on DUMMY references

#: JWST primary mirror collecting area (m**2) and effective diameter (m).
COLLECTING_AREA = 25.4
DIAMETER = 6.5
#: Nominal end-to-end throughput per instrument used to derive PHOTMJSR (electrons per photon).
THROUGHPUT = {"NIRCAM": 0.30, "NIRISS": 0.25, "MIRI": 0.20}
#: Moffat index of the simulator's point-spread function (``jwst1f.simulate.scenes``).
MOFFAT_BETA = 2.5
#: Encircled-energy fractions of the aperture-correction tables (source_catalog default 30/50/70).
EE_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)

_DET_SERIAL = {det: i + 1 for i, det in enumerate(KNOWN_DETECTORS)}


@dataclass
class RefSpec:
    """One reference file of the cache.

    Attributes
    ----------
    instrument : str
        Lower-case instrument (``nircam``).
    reftype : str
        CRDS reference type (``dark``).
    match : tuple of str
        Values matched against the rmap parkeys of this reftype.
    filename : str
        Basename, ``jwst_<instrument>_<reftype>_<serial>.<fits|asdf>``.
    recipe : dict
        Everything the content depends on; its hash decides whether a rebuild is needed.
    write : callable
        ``write(path)`` writes the file.
    """

    instrument: str
    reftype: str
    match: tuple[str, ...]
    filename: str
    recipe: dict
    write: Callable[[Path], None] = field(repr=False)

    @property
    def recipe_hash(self) -> str:
        """Short SHA-1 of the recipe (plus `BUILDER_VERSION`)."""
        text = json.dumps({"v": BUILDER_VERSION, **self.recipe}, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:16]


def reference_filename(instrument: str, reftype: str, serial: int, ext: str = "fits") -> str:
    """CRDS-style file name ``jwst_<instrument>_<reftype>_<serial:04d>.<ext>``."""
    return f"jwst_{instrument.lower()}_{reftype}_{serial:04d}.{ext}"


def _set_common_meta(model, facts: DetectorFacts | None, instrument: str, reftype: str, what: str):
    model.meta.reftype = reftype.upper()
    model.meta.author = AUTHOR
    model.meta.pedigree = PEDIGREE
    model.meta.useafter = USEAFTER
    model.meta.description = f"Synthetic {what} for jwst1f simulated data; not for flight data"
    model.meta.telescope = "JWST"
    model.meta.instrument.name = instrument.upper()
    if facts is not None:
        model.meta.instrument.detector = facts.detector
        if facts.channel is not None:
            model.meta.instrument.channel = facts.channel
        if facts.module is not None:
            model.meta.instrument.module = facts.module
    model.meta.origin = "jwst1f"


def _set_full_subarray(model, facts: DetectorFacts) -> None:
    ny, nx = facts.shape
    model.meta.subarray.name = "FULL"
    model.meta.subarray.xstart = 1
    model.meta.subarray.ystart = 1
    model.meta.subarray.xsize = nx
    model.meta.subarray.ysize = ny
    model.meta.subarray.fastaxis = 1
    model.meta.subarray.slowaxis = 2


def _save(model, path: Path, *, drop: tuple[str, ...] = ("dq", "err")) -> None:
    """Save atomically, leaving out all-zero ``drop`` arrays (jwst recreates them as zeros)."""
    for name in drop:
        value = model._instance.get(name) if hasattr(model, "_instance") else None
        if value is not None and not np.any(value):
            delattr(model, name)
    path = Path(path)
    tmp = path.with_name(path.name + ".part" + path.suffix)
    model.save(tmp)
    model.close()
    tmp.replace(path)


def _instruments_digest() -> str:
    """SHA-1 of the ``jwst1f.instruments`` source: its maps define the reference content."""
    import inspect  # noqa: PLC0415

    from jwst1f import instruments  # noqa: PLC0415

    return hashlib.sha1(inspect.getsource(instruments).encode()).hexdigest()[:16]


def _full_shape_detector_refs(facts: DetectorFacts) -> list[RefSpec]:
    from stdatamodels.jwst import datamodels as dm  # noqa: PLC0415
    from stdatamodels.jwst.datamodels import dqflags  # noqa: PLC0415

    inst = facts.instrument.lower()
    det_serial = _DET_SERIAL[facts.detector] * 100
    base = {
        "instruments": _instruments_digest(),
        "detector": facts.detector,
        "shape": facts.shape,
        "gain": facts.gain,
        "read_noise": facts.read_noise,
        "bias": facts.bias,
        "dark": facts.dark_current,
        "saturation": facts.saturation,
    }
    match = (facts.detector,)
    specs: list[RefSpec] = []

    def add(reftype: str, writer: Callable[[Path], None], extra: dict | None = None, *, m=match):
        specs.append(
            RefSpec(
                instrument=inst,
                reftype=reftype,
                match=m,
                filename=reference_filename(inst, reftype, det_serial),
                recipe={**base, "reftype": reftype, **(extra or {})},
                write=writer,
            )
        )

    def write_mask(path: Path) -> None:
        flags = dqflags.pixel
        dq = np.zeros(facts.shape, dtype=np.uint32)
        # REFERENCE_PIXEL only: with DO_NOT_USE as well, jwst's refpix finds "no valid
        # reference pixels" in every subarray and does nothing.
        dq[reference_pixel_mask(facts)] = flags["REFERENCE_PIXEL"]
        model = dm.MaskModel(dq=dq)
        rows = [
            (int(np.log2(value)), value, name, name.replace("_", " ").lower())
            for name, value in flags.items()
            if value > 0
        ]
        model.dq_def = np.array(
            rows,
            dtype=[("BIT", "<i4"), ("VALUE", "<u4"), ("NAME", "S40"), ("DESCRIPTION", "S80")],
        )
        _set_common_meta(model, facts, inst, "mask", "bad-pixel mask (reference pixels)")
        _set_full_subarray(model, facts)
        _save(model, path, drop=())

    def write_saturation(path: Path) -> None:
        model = dm.SaturationModel(data=saturation_map(facts))
        _set_common_meta(model, facts, inst, "saturation", "saturation level in DN")
        _set_full_subarray(model, facts)
        _save(model, path)

    def write_superbias(path: Path) -> None:
        model = dm.SuperBiasModel(data=superbias_map(facts))
        _set_common_meta(model, facts, inst, "superbias", "bias level in DN")
        _set_full_subarray(model, facts)
        _save(model, path)

    def write_linearity(path: Path) -> None:
        ny, nx = facts.shape
        coeffs = np.zeros((2, ny, nx), dtype=np.float32)
        coeffs[1] = 1.0
        model = dm.LinearityModel(coeffs=coeffs, dq=np.zeros((ny, nx), dtype=np.uint32))
        _set_common_meta(
            model, facts, inst, "linearity", "identity linearity (simulator is linear)"
        )
        _set_full_subarray(model, facts)
        _save(model, path, drop=())

    def write_gain(path: Path) -> None:
        model = dm.GainModel(data=gain_map(facts))
        _set_common_meta(model, facts, inst, "gain", "gain in e-/DN")
        _set_full_subarray(model, facts)
        _save(model, path)

    def write_readnoise(path: Path) -> None:
        # CRDS READNOISE holds the correlated-double-sampling noise: stcal's ramp fit divides
        # it by sqrt(2 * nframes) to get the noise of one group; the simulator's map is the
        # white noise of a single read.
        model = dm.ReadnoiseModel(data=readnoise_map(facts) * np.float32(np.sqrt(2.0)))
        _set_common_meta(
            model, facts, inst, "readnoise", "CDS read noise in DN (sqrt 2 x single read)"
        )
        _set_full_subarray(model, facts)
        _save(model, path)

    add("mask", write_mask)
    add("saturation", write_saturation)
    if facts.instrument != "MIRI":
        add("superbias", write_superbias)
    add("linearity", write_linearity)
    add("gain", write_gain)
    add("readnoise", write_readnoise)
    specs.extend(_dark_refs(facts, base))
    return specs


def _dark_refs(facts: DetectorFacts, base: dict) -> list[RefSpec]:
    """Darks: one per readout window (FULL and each subarray), since frame times differ.

    Frame-level darks (nframes=1, groupgap=0, 2 frames): jwst averages them to the science
    readout pattern and extrapolates them linearly to the science length, which is exact for
    the simulator's constant dark current.
    """
    from stdatamodels.jwst import datamodels as dm  # noqa: PLC0415

    inst = facts.instrument.lower()
    specs = []
    for k, (name, sub) in enumerate(subarrays_for(facts).items()):
        tframe = frame_time(facts, sub)
        ngroups = 2

        def write(path: Path, *, sub=sub, tframe=tframe, name=name, ngroups=ngroups) -> None:
            rows = slice(sub.ystart - 1, sub.ystart - 1 + sub.ysize)
            cols = slice(sub.xstart - 1, sub.xstart - 1 + sub.xsize)
            per_frame = dark_map(facts)[rows, cols] * np.float32(tframe)
            data = np.arange(1, ngroups + 1, dtype=np.float32)[:, None, None] * per_frame
            if facts.instrument == "MIRI":
                model = dm.DarkMIRIModel(data=data[None])
                model.meta.exposure.nints = 1
            else:
                model = dm.DarkModel(data=data)
            model.meta.exposure.nframes = 1
            model.meta.exposure.groupgap = 0
            model.meta.exposure.ngroups = ngroups
            model.meta.exposure.readpatt = "FAST" if facts.instrument == "MIRI" else "RAPID"
            model.meta.exposure.frame_time = tframe
            model.meta.exposure.group_time = tframe
            _set_common_meta(
                model, facts, inst, "dark", f"dark current {facts.dark_current} DN/s, {name}"
            )
            model.meta.subarray.name = name
            model.meta.subarray.xstart = sub.xstart
            model.meta.subarray.ystart = sub.ystart
            model.meta.subarray.xsize = sub.xsize
            model.meta.subarray.ysize = sub.ysize
            model.meta.subarray.fastaxis = 1
            model.meta.subarray.slowaxis = 2
            _save(model, path)

        window = [name, sub.xstart, sub.ystart, sub.xsize, sub.ysize, sub.noutputs, tframe]
        specs.append(
            RefSpec(
                instrument=inst,
                reftype="dark",
                match=(facts.detector, name),
                filename=reference_filename(inst, "dark", _DET_SERIAL[facts.detector] * 100 + k),
                recipe={**base, "reftype": "dark", "window": window},
                write=write,
            )
        )
    return specs


def _photmjsr(facts: DetectorFacts, wave_um: float, width_um: float, pixel_sr: float) -> float:
    """MJy/sr per DN/s for a flat-f_nu source: collecting area x throughput x bandwidth / gain."""
    c = 2.99792458e8
    h = 6.62607015e-34
    nu = c / (wave_um * 1e-6)
    dnu = c * width_um * 1e-6 / (wave_um * 1e-6) ** 2
    # electrons/s for 1 Jy: photons = F_nu * A * dnu / (h nu)
    e_per_jy = 1e-26 * COLLECTING_AREA * dnu / (h * nu) * THROUGHPUT[facts.instrument]
    dn_per_jy = e_per_jy / facts.gain
    return float(1.0 / dn_per_jy / pixel_sr / 1e6)


def _imaging_refs(facts: DetectorFacts, filters: tuple[tuple[str, str], ...] | None) -> list:
    from astropy import units as u  # noqa: PLC0415
    from stdatamodels.jwst import datamodels as dm  # noqa: PLC0415
    from stdatamodels.jwst.datamodels import dqflags  # noqa: PLC0415

    from jwst1f.offline_crds.distortion import (  # noqa: PLC0415
        pixel_area_map,
        siaf_distortion_model,
    )

    inst = facts.instrument.lower()
    serial = _DET_SERIAL[facts.detector] * 100
    table = IMAGING_FILTERS[facts.family]
    base = {
        "instruments": _instruments_digest(),
        "detector": facts.detector,
        "aperture": facts.siaf_aperture,
        "gain": facts.gain,
    }
    specs: list[RefSpec] = []
    cache: dict[str, object] = {}

    def distortion():
        if "model" not in cache:
            cache["model"] = siaf_distortion_model(facts.instrument, facts.siaf_aperture)
        return cache["model"]

    def area():
        if "area" not in cache:
            cache["area"] = pixel_area_map(distortion(), facts.shape)
        return cache["area"]

    def write_distortion(path: Path) -> None:
        model = dm.DistortionModel(model=distortion(), input_units=u.pix, output_units=u.arcsec)
        _set_common_meta(model, facts, inst, "distortion", f"SIAF {facts.siaf_aperture} distortion")
        exp = {
            "NIRCAM": "NRC_IMAGE|NRC_TSIMAGE|NRC_FLAT|NRC_LED|NRC_WFSC|NRC_TACQ|NRC_TACONFIRM|"
            "NRC_FOCUS|NRC_DARK|NRC_CORON|NRC_WFSS|NRC_TSGRISM|NRC_GRISM|",
            "NIRISS": "NIS_IMAGE|NIS_AMI|NIS_WFSS|NIS_SOSS|NIS_TACQ|NIS_TACONFIRM|NIS_FOCUS|"
            "NIS_DARK|NIS_LAMP|",
            "MIRI": "MIR_IMAGE|MIR_TACQ|MIR_LYOT|MIR_4QPM|MIR_CORONCAL|MIR_TACONFIRM|MIR_DARKIMG|"
            "MIR_FLATIMAGE|",
        }[facts.instrument]
        model.meta.exposure.p_exptype = exp
        model.meta.exposure.type = exp.split("|")[0]
        model.meta.instrument.p_pupil = "ANY|" if facts.instrument != "MIRI" else "N/A|"
        if facts.instrument == "NIRCAM":
            model.meta.instrument.pupil = "ANY"
        model.meta.subarray.name = "FULL"
        _save(model, path)

    def write_area(path: Path) -> None:
        rel, nominal = area()
        model = dm.PixelAreaModel(data=rel)
        _set_common_meta(model, facts, inst, "area", "relative pixel area from SIAF distortion")
        model.meta.photometry.pixelarea_arcsecsq = nominal
        model.meta.photometry.pixelarea_steradians = nominal * (np.pi / 180 / 3600) ** 2
        _save(model, path)

    def write_photom(path: Path) -> None:
        _, nominal = area()
        pixel_sr = nominal * (np.pi / 180 / 3600) ** 2
        rows = []
        for (filt, pupil), (wave, width) in table.items():
            value = _photmjsr(facts, wave, width, pixel_sr)
            if facts.instrument == "MIRI":
                rows.append((filt, "FULL", value, 0.02 * value))
                for sub in subarrays_for(facts):
                    if sub != "FULL":
                        rows.append((filt, sub, value, 0.02 * value))
            else:
                rows.append((filt, pupil, value, 0.02 * value))
        if facts.instrument == "MIRI":
            dtype = [("filter", "S12"), ("subarray", "S17"), ("photmjsr", "<f4")]
            dtype.append(("uncertainty", "<f4"))
            model = dm.MirImgPhotomModel(phot_table=np.array(rows, dtype=dtype))
        else:
            dtype = [("filter", "S12"), ("pupil", "S12"), ("photmjsr", "<f4")]
            dtype.append(("uncertainty", "<f4"))
            cls = dm.NrcImgPhotomModel if facts.instrument == "NIRCAM" else dm.NisImgPhotomModel
            model = cls(phot_table=np.array(rows, dtype=dtype))
        _set_common_meta(
            model, facts, inst, "photom", "PHOTMJSR from collecting area, nominal throughput, gain"
        )
        model.meta.photometry.pixelarea_arcsecsq = nominal
        model.meta.photometry.pixelarea_steradians = pixel_sr
        _save(model, path)

    specs.append(
        RefSpec(
            inst,
            "distortion",
            (facts.detector,),
            reference_filename(inst, "distortion", serial, "asdf"),
            {**base, "reftype": "distortion"},
            write_distortion,
        )
    )
    specs.append(
        RefSpec(
            inst,
            "area",
            (facts.detector,),
            reference_filename(inst, "area", serial),
            {**base, "reftype": "area"},
            write_area,
        )
    )
    specs.append(
        RefSpec(
            inst,
            "photom",
            (facts.detector,),
            reference_filename(inst, "photom", serial),
            {
                **base,
                "reftype": "photom",
                "table": sorted(map(str, table.items())),
                "throughput": THROUGHPUT[facts.instrument],
            },
            write_photom,
        )
    )

    wanted = DEFAULT_FILTERS[facts.family] if filters is None else filters
    names = list(table)
    for filt, pupil in wanted:
        if (filt, pupil) not in table:
            continue
        variant = names.index((filt, pupil)) + 1

        def write_flat(path: Path, *, filt=filt, pupil=pupil) -> None:
            model = dm.FlatModel(data=flat_map(facts, filt, pupil))
            # As in flight flats: reference pixels get no flat, so flat_field marks them
            # DO_NOT_USE and NaN in the cal file, and resample leaves them out of mosaics.
            dq = np.zeros(model.data.shape, dtype=np.uint32)
            dq[reference_pixel_mask(facts)] = (
                dqflags.pixel["NO_FLAT_FIELD"] | dqflags.pixel["DO_NOT_USE"]
            )
            model.dq = dq
            _set_common_meta(model, facts, inst, "flat", f"flat field for {filt}/{pupil}")
            _set_full_subarray(model, facts)
            model.meta.instrument.filter = filt
            if facts.instrument != "MIRI":
                model.meta.instrument.pupil = pupil
            _save(model, path)

        match = (
            (facts.detector, filt) if facts.instrument == "MIRI" else (facts.detector, filt, pupil)
        )
        specs.append(
            RefSpec(
                inst,
                "flat",
                match,
                reference_filename(inst, "flat", serial + variant),
                {**base, "reftype": "flat", "filter": [filt, pupil]},
                write_flat,
            )
        )
    return specs


def detector_references(
    facts: DetectorFacts, *, filters: tuple[tuple[str, str], ...] | None = None
) -> list[RefSpec]:
    """All per-detector reference files of one detector.

    Parameters
    ----------
    facts : DetectorFacts
        The detector.
    filters : tuple of (FILTER, PUPIL), optional
        Imaging filters to build flats for (those not valid for the detector are ignored);
        default: `DEFAULT_FILTERS` of its family.

    Returns
    -------
    list of RefSpec
    """
    specs = _full_shape_detector_refs(facts)
    if facts.instrument in ("NIRCAM", "NIRISS", "MIRI"):
        specs += _imaging_refs(facts, filters)
    return specs


@functools.cache
def _sampled_moffat_ee(fwhm: float, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Encircled energy of a Moffat PSF convolved with two 1-pixel boxes.

    Parameters
    ----------
    fwhm : float
        Moffat FWHM, pixels.
    beta : float
        Moffat index.

    Returns
    -------
    radii, ee : numpy.ndarray
        Radii in pixels (0.05-pixel steps) and the enclosed fraction of the total flux.
    """
    from scipy.ndimage import uniform_filter  # noqa: PLC0415

    oversample, half = 8, 40  # 1/8-pixel grid over +-40 pixels
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    g = (np.arange(-half * oversample, half * oversample) + 0.5) / oversample
    xx, yy = np.meshgrid(g, g)
    rr = np.hypot(xx, yy)
    img = (1.0 + (rr / alpha) ** 2) ** (-beta)
    # analytic normalisation (flux beyond the grid counts as missing from every aperture)
    img *= (beta - 1.0) / (np.pi * alpha**2) / oversample**2
    for _ in range(2):
        img = uniform_filter(img, size=oversample, mode="constant")
    radii = np.arange(0.05, half * 0.9, 0.05)
    order = np.argsort(rr, axis=None)
    cum = np.cumsum(img.ravel()[order])
    ee = np.interp(radii, rr.ravel()[order], cum)
    return radii, ee


def simulator_psf_fwhm(instrument: str, channel: str | None) -> float | None:
    """FWHM (pixels) of the point sources ``jwst1f.simulate`` renders for imaging, or None.

    Read from the simulator's optics table (one FWHM per instrument/channel); None when the
    simulator does not provide it.
    """
    try:
        from jwst1f.simulate.exposure import _OPTICS, DEFAULT_EXP_TYPE  # noqa: PLC0415
    except ImportError:
        return None
    entry = _OPTICS.get((instrument, channel, DEFAULT_EXP_TYPE.get(instrument)))
    try:
        return float(entry[3])
    except (TypeError, IndexError, ValueError):
        return None


def _moffat_apcorr_rows(instrument: str, family: str) -> list[tuple]:
    """Aperture-correction rows for the simulator's PSF.

    The simulator renders point sources as Moffat profiles with ``beta = MOFFAT_BETA`` and the
    FWHM of :func:`simulator_psf_fwhm` (the same for every filter of a channel); without it
    the FWHM is the diffraction limit ``1.03 lambda / D`` at the filter pivot wavelength (at
    least 1 pixel).  The encircled energy is computed numerically for that Moffat convolved
    with two 1-pixel boxes (the detector pixel and the drizzle kernel of a ``pixfrac=1``
    mosaic), the images ``source_catalog`` measures; the radius of each EE fraction follows by
    interpolation and the aperture correction is ``1 / EE``.
    """
    from jwst1f.instruments import SUBARRAYS  # noqa: PLC0415
    from jwst1f.offline_crds.distortion import siaf_aperture  # noqa: PLC0415

    aperture = {
        "NIRCAM_SHORT": "NRCA1_FULL",
        "NIRCAM_LONG": "NRCA5_FULL",
        "NIRISS": "NIS_CEN",
        "MIRI": "MIRIM_FULL",
    }[family]
    ap = siaf_aperture(instrument, aperture)
    miri_subarrays = sorted({n.removesuffix("_1OUT") for (i, n) in SUBARRAYS if i == "MIRI"})
    scale = 0.5 * (abs(float(ap.Sci2IdlX10)) + abs(float(ap.Sci2IdlY11)))  # arcsec/pixel
    beta = MOFFAT_BETA

    def radius(ee: float, fwhm: float) -> float:
        radii, curve = _sampled_moffat_ee(round(fwhm, 3), beta)
        return float(np.interp(ee, curve, radii))

    rows = []
    channel = family.split("_")[1] if family.startswith("NIRCAM") else None
    sim_fwhm = simulator_psf_fwhm(instrument, channel)
    for (filt, pupil), (wave, _) in IMAGING_FILTERS[family].items():
        fwhm_pix = sim_fwhm or max(1.03 * wave * 1e-6 / DIAMETER * 206264.806 / scale, 1.0)
        r_max = radius(0.9, fwhm_pix)
        for ee in EE_FRACTIONS:
            for key2 in miri_subarrays if instrument == "MIRI" else [pupil]:
                rows.append((filt, key2, ee, radius(ee, fwhm_pix), 1.0 / ee, r_max, 1.5 * r_max))
    return rows


def _vega_abvega(wave_um: float) -> float:
    """AB - Vega magnitude for Vega approximated by a 9550 K blackbody of 3630 Jy at 0.55 um."""
    h, c, k = 6.62607015e-34, 2.99792458e8, 1.380649e-23

    def bnu(lam_um: float) -> float:
        nu = c / (lam_um * 1e-6)
        return nu**3 / np.expm1(h * nu / (k * 9550.0))

    fnu = 3630.0 * bnu(wave_um) / bnu(0.55)
    return float(2.5 * np.log10(3631.0 / fnu))


def instrument_references(instrument: str) -> list[RefSpec]:
    """Per-instrument references (apcorr, abvegaoffset, MIRI filteroffset) for Image3.

    Parameters
    ----------
    instrument : str
        ``NIRCAM``, ``NIRISS`` or ``MIRI``; other instruments get none.
    """
    from stdatamodels.jwst import datamodels as dm  # noqa: PLC0415

    instrument = instrument.upper()
    families = {
        "NIRCAM": ("NIRCAM_SHORT", "NIRCAM_LONG"),
        "NIRISS": ("NIRISS",),
        "MIRI": ("MIRI",),
    }.get(instrument)
    if families is None:
        return []
    inst = instrument.lower()
    filters = [fp for fam in families for fp in IMAGING_FILTERS[fam].items()]
    fwhm = {
        fam: simulator_psf_fwhm(instrument, fam.split("_")[1] if "_" in fam else None)
        for fam in families
    }
    recipe = {"instrument": instrument, "filters": sorted(map(str, filters)), "psf_fwhm": fwhm}
    match = (instrument,)

    def write_apcorr(path: Path) -> None:
        rows = [row for fam in families for row in _moffat_apcorr_rows(instrument, fam)]
        key2 = ("subarray", "S17") if instrument == "MIRI" else ("pupil", "S15")
        dtype = [("filter", "S12"), key2, ("eefraction", "<f4"), ("radius", "<f4")]
        dtype += [("apcorr", "<f4"), ("skyin", "<f4"), ("skyout", "<f4")]
        cls = {
            "NIRCAM": dm.NrcImgApcorrModel,
            "NIRISS": dm.NisImgApcorrModel,
            "MIRI": dm.MirImgApcorrModel,
        }[instrument]
        model = cls(apcorr_table=np.array(rows, dtype=dtype))
        _set_common_meta(model, None, inst, "apcorr", "aperture corrections of a Moffat PSF")
        model.meta.instrument.detector = (
            "ANY" if instrument == "NIRCAM" else model.meta.instrument.detector
        )
        _save(model, path)

    def write_abvega(path: Path) -> None:
        if instrument == "MIRI":
            rows = [{"filter": f, "abvega_offset": _vega_abvega(w)} for (f, _), (w, _) in filters]
        else:
            rows = [
                {"filter": f, "pupil": p, "abvega_offset": _vega_abvega(w)}
                for (f, p), (w, _) in filters
            ]
        from astropy.table import Table  # noqa: PLC0415

        model = dm.ABVegaOffsetModel()
        model.abvega_offset = Table(rows=rows)
        _set_common_meta(model, None, inst, "abvegaoffset", "AB-Vega offsets of a 9550 K Vega")
        _save(model, path)

    specs = [
        RefSpec(
            inst,
            "apcorr",
            match,
            reference_filename(inst, "apcorr", 1),
            {**recipe, "reftype": "apcorr"},
            write_apcorr,
        ),
        RefSpec(
            inst,
            "abvegaoffset",
            match,
            reference_filename(inst, "abvegaoffset", 1, "asdf"),
            {**recipe, "reftype": "abvegaoffset"},
            write_abvega,
        ),
    ]
    if instrument == "MIRI":

        def write_filteroffset(path: Path) -> None:
            model = dm.FilteroffsetModel()
            model.filters = [
                {"filter": f, "column_offset": 0.0, "row_offset": 0.0} for (f, _), _ in filters
            ]
            _set_common_meta(model, None, inst, "filteroffset", "zero filter offsets")
            model.meta.instrument.detector = "MIRIMAGE"
            model.meta.input_units = "pixel"
            _save(model, path)

        specs.append(
            RefSpec(
                inst,
                "filteroffset",
                match,
                reference_filename(inst, "filteroffset", 1, "asdf"),
                {**recipe, "reftype": "filteroffset"},
                write_filteroffset,
            )
        )
    return specs
