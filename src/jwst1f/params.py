"""Parameters of the 1/f destriper and their precedence.

One :class:`DestripeParams` holds every tunable of the algorithm, with units and defaults.
The same field names are used as config keys (the workflow's ``destripe:`` block), CLI flags
(``--clip-sigma`` for ``clip_sigma``) and stpipe step parameters.

Layered settings are resolved by :func:`resolve_params` with the precedence
``default < instrument < exp_type < detector < programme``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = [
    "DestripeParams",
    "DEFAULT_DQ_FLAGS",
    "LAYER_KEYS",
    "resolve_params",
    "load_params_file",
]

#: DQ flag names (``stdatamodels.jwst.datamodels.dqflags.pixel``) masked by default.
DEFAULT_DQ_FLAGS: tuple[str, ...] = (
    "DO_NOT_USE",
    "SATURATED",
    "DEAD",
    "HOT",
    "NON_SCIENCE",
    "REFERENCE_PIXEL",
    "OTHER_BAD_PIXEL",
    "TELEGRAPH",
    "RC",
    "UNRELIABLE_SLOPE",
)

#: Keys of the layered settings form, in increasing precedence (programme is separate).
LAYER_KEYS: tuple[str, ...] = ("default", "instrument", "exp_type", "detector")

_TRI_STATE = ("auto", "on", "off")


@dataclass(frozen=True)
class DestripeParams:
    """Tunables of the destriper. Every field has a default that suits all supported modes.

    Attributes
    ----------
    clip_sigma : float
        Symmetric clipping threshold around each line's own level, in units of the robust
        per-pixel noise sigma. Default 3.0.
    clip_iterations : int
        Number of clip / re-measure iterations. Default 3.
    dilate_radius : int
        Radius (pixels) of the square dilation applied to pixels rejected by clipping (bright
        pixels under the user mask included), so the faint wings of sources are masked too.
        Default 2.
    extended_sigma : float
        Threshold (sigma of the averaged residual) for detecting faint extended emission and
        traces on block-averaged residual maps. Default 3.0.
    background_box : int
        Block size (pixels) of the smooth background model and of the extended-emission
        detection. Default 64.
    background_slow_scale : float
        Smoothing scale (Gaussian sigma, lines) of the part of the sky that is constant along
        lines and is kept as sky (a local-linear smooth of the line means across lines). Sky
        gradients and emission bands broader than this stay; everything narrower is removed
        as stripes. Structure constant along lines is degenerate with the stripes: where the
        lines contain reference pixels, the stripes' own smooth part is measured on them and
        removed too (see ``use_reference_pixels``), and the scale actually used is chosen by
        least estimated risk from this one up to 4x the number of lines (a smooth sky is
        smoothed broadly; ``metrics["sky_scale"]``), and lines whose sky stands far above
        that smooth profile on the reference pixels' evidence (light filling a few whole
        lines) keep their own sky (``metrics["sky_excursion_lines"]``); elsewhere stripe
        modes broader than this scale are kept with the sky. Default 32.
    background_slow_scale_noref : float
        The same where the lines hold no reference pixels (subarrays away from the detector
        edges, e.g. NIRSpec fixed-slit and BOTS windows, or reference pixels that are NaN or
        not used): the stripes' slow part cannot be measured there, so only broader structure
        is kept as sky, plus the bumps of emission that fills whole lines, which stand far
        above the 1/f in the line means (kept at 16 lines; ``metrics["sky_excursion_lines"]``).
        In NIRSpec windows the kept sky is a local constant at half the window or broader,
        plus the light of the slit images in each line mean (``metrics["slit_light"]``).
        Default 512.
    background_along_order : int
        Polynomial order (Legendre, over the full line) of the smooth sky shape along the
        lines, fitted per block row; it is subtracted before measuring line means. Default 2.
    min_pixels : int
        Minimum number of clean pixels for a channel-line to be measured on its own; below it
        the line borrows from the other channels and neighbouring lines. Where the outputs
        are not interleaved, at most an eighth of the shortest channel-line (at least 8):
        short lines under a generous mask are still measured. Default 20.
    fit_by_channel : bool
        Fit a per-channel offset per line (on top of the shared component). Default True.
    line_wiener : bool
        Wiener-filter the line offsets across lines (in readout order): the spectrum of the
        shared and of each output's per-line offsets (pink stripes plus the white error of
        the line means) is fitted on the data, and the modes where the error dominates are
        damped, so that the measurement error is not subtracted as new stripes. Series with
        no detectable stripe power keep the per-line estimate. Default True.
    even_odd : str
        Even/odd column (ACN) term per channel: ``"auto"`` (kept where it measurably
        reduces the residual), ``"on"`` or ``"off"``. Default ``"auto"``.
    lowpass : str
        Model of the 1/f along each output's readout time (the stripes and the wander within
        lines together, NSClean-like; :mod:`jwst1f.destripe.timeline`): ``"auto"`` (on
        one-output windows, where one output reads the whole line, and only where the fitted
        1/f spectrum is significant; on windows read by several outputs side by side, the
        wander within lines that the outputs share, each output's measured on the others,
        :mod:`jwst1f.destripe.wander`, where significant), ``"on"`` (each output on its own,
        where significant) or ``"off"``. Default ``"auto"``.
    mask_reference_pixels : bool
        Exclude reference pixels from the line means of the sky (they are corrected all the
        same). Default True.
    use_reference_pixels : bool
        Anchor the zero level and the smooth part of the stripes on the reference pixels that
        the lines contain (they see no sky, only the readout): removes the 1/f offset and slow
        modes that are otherwise degenerate with the sky. Ignored where the window holds no
        reference pixels, and for MIRI. Default True.
    dq_flags : tuple of str
        Names of DQ flags whose pixels are not used for measuring. Default
        :data:`DEFAULT_DQ_FLAGS`.
    miri_exclude_columns : int
        MIRI imaging: number of full-frame columns on the left (the coronagraph and LRS
        region, dark and non-science). Not applied to a window with fewer than 64 columns
        outside them (SUB128 and SUB64 lie inside: they are measured whole). Default 360.
    miri_dark_region : str
        MIRI imaging: how that dark region is used. ``"separate"``: it is destriped on its
        own (its own level, not sky) and its per-row, per-output banding estimates are
        combined with the imager field's (the banding is common to the row); ``"exclude"``:
        it is not used for measuring (it is corrected all the same; measured 1.5-1.8x the
        perfect-mask oracle instead of 0.99-1.09x, since the banding wanders along a row).
        Default ``"separate"``.
    """

    clip_sigma: float = 3.0
    clip_iterations: int = 3
    dilate_radius: int = 2
    extended_sigma: float = 3.0
    background_box: int = 64
    background_slow_scale: float = 32.0
    background_slow_scale_noref: float = 512.0
    background_along_order: int = 2
    min_pixels: int = 20
    fit_by_channel: bool = True
    line_wiener: bool = True
    even_odd: str = "auto"
    lowpass: str = "auto"
    mask_reference_pixels: bool = True
    use_reference_pixels: bool = True
    dq_flags: tuple[str, ...] = field(default=DEFAULT_DQ_FLAGS)
    miri_exclude_columns: int = 360
    miri_dark_region: str = "separate"

    def __post_init__(self) -> None:
        # Normalise types so that values from YAML/CLI/JSON behave the same.
        def setv(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        try:
            for f in fields(self):
                v = getattr(self, f.name)
                if f.type in ("float",):
                    setv(f.name, float(v))
                elif f.type in ("int",):
                    if isinstance(v, bool) or float(v) != int(v):
                        raise ValueError(f"{f.name} must be an integer, not {v!r}")
                    setv(f.name, int(v))
                elif f.type in ("bool",):
                    setv(f.name, _to_bool(f.name, v))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid destripe parameter: {exc}") from None
        flags = self.dq_flags
        if isinstance(flags, str):
            flags = tuple(s.strip() for s in flags.replace("+", ",").split(",") if s.strip())
        setv("dq_flags", tuple(str(s).upper() for s in flags))
        for name in ("even_odd", "lowpass"):
            v = getattr(self, name)
            if isinstance(v, bool):
                v = "on" if v else "off"
            v = str(v).lower()
            if v not in _TRI_STATE:
                raise ValueError(f"{name} must be one of {_TRI_STATE}, not {v!r}")
            setv(name, v)
        if self.clip_sigma <= 0 or self.extended_sigma <= 0:
            raise ValueError("clip_sigma and extended_sigma must be positive")
        if self.clip_iterations < 1:
            raise ValueError("clip_iterations must be at least 1")
        if self.dilate_radius < 0:
            raise ValueError("dilate_radius must be >= 0")
        if self.background_box < 4:
            raise ValueError("background_box must be at least 4 pixels")
        if self.background_slow_scale <= 0 or self.background_slow_scale_noref <= 0:
            raise ValueError("background_slow_scale(_noref) must be positive")
        if self.background_along_order < 0:
            raise ValueError("background_along_order must be >= 0")
        if self.min_pixels < 1:
            raise ValueError("min_pixels must be at least 1")
        if self.miri_exclude_columns < 0:
            raise ValueError("miri_exclude_columns must be >= 0")
        setv("miri_dark_region", str(self.miri_dark_region).lower())
        if self.miri_dark_region not in ("separate", "exclude"):
            raise ValueError(
                f"miri_dark_region must be 'separate' or 'exclude', not {self.miri_dark_region!r}"
            )
        _check_dq_names(self.dq_flags)

    # ------------------------------------------------------------------ conversions
    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of all parameters."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any] | None) -> DestripeParams:
        """Build parameters from a flat mapping; missing keys take their defaults.

        Keys may use dashes instead of underscores (CLI spelling).

        Raises
        ------
        ValueError
            If a key is not a parameter name (the message names it) or a value is invalid.
        """
        return cls().replace(**dict(m or {}))

    def replace(self, **changes: Any) -> DestripeParams:
        """A copy with some fields changed (unknown names raise ``ValueError``)."""
        known = set(self.field_names())
        clean = {}
        for key, value in changes.items():
            name = str(key).replace("-", "_")
            if name not in known:
                raise ValueError(
                    f"unknown destripe parameter {key!r}; known: {', '.join(sorted(known))}"
                )
            clean[name] = value
        return dataclasses.replace(self, **clean)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of all parameters (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["dq_flags"] = list(self.dq_flags)
        return out

    def to_json(self) -> str:
        """Compact JSON of :meth:`to_dict`, keys sorted (for provenance keywords)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def dq_bitmask(self) -> int:
        """The OR of the DQ bit values named in ``dq_flags``."""
        from stdatamodels.jwst.datamodels import dqflags

        value = 0
        for name in self.dq_flags:
            value |= int(dqflags.pixel[name])
        return value


def _to_bool(name: str, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in (
        "true",
        "yes",
        "on",
        "1",
        "false",
        "no",
        "off",
        "0",
    ):
        return v.strip().lower() in ("true", "yes", "on", "1")
    raise ValueError(f"{name} must be true or false, not {v!r}")


def _check_dq_names(names: tuple[str, ...]) -> None:
    try:
        from stdatamodels.jwst.datamodels import dqflags
    except ImportError:  # pragma: no cover - stdatamodels comes with jwst
        return
    unknown = [n for n in names if n not in dqflags.pixel]
    if unknown:
        raise ValueError(
            f"unknown DQ flag name(s) {unknown}; see stdatamodels.jwst.datamodels.dqflags.pixel"
        )


def _layer(settings: Mapping[str, Any], key: str, name: str | None) -> Mapping[str, Any]:
    block = settings.get(key) or {}
    if not isinstance(block, Mapping):
        raise ValueError(f"destripe settings: {key!r} must be a mapping")
    if key == "default":
        return block
    if not name:
        return {}
    for k, v in block.items():
        if str(k).upper() == name.upper():
            if not isinstance(v, Mapping):
                raise ValueError(f"destripe settings: {key}.{k} must be a mapping")
            return v
    return {}


def _is_layered(m: Mapping[str, Any]) -> bool:
    return any(k in m for k in LAYER_KEYS)


def resolve_params(
    settings: Mapping[str, Any] | None,
    *,
    instrument: str,
    exp_type: str,
    detector: str,
    programme: Mapping[str, Any] | None = None,
) -> DestripeParams:
    """Resolve layered settings into the parameters for one exposure.

    Parameters
    ----------
    settings : Mapping or None
        The ``destripe:`` block: ``{"default": {...}, "instrument": {"NIRCAM": {...}},
        "exp_type": {"NRS_IFU": {...}}, "detector": {"NRCA1": {...}}}``. A flat mapping of
        parameters is accepted as the ``default`` layer. Names match case-insensitively.
    instrument, exp_type, detector : str
        Keywords of the exposure (INSTRUME, EXP_TYPE, DETECTOR).
    programme : Mapping, optional
        Flat parameters that override everything (e.g. a user's parameter file).

    Returns
    -------
    DestripeParams
        Precedence: default < instrument < exp_type < detector < programme.

    Raises
    ------
    ValueError
        On an unknown parameter name or an invalid value, naming it.
    """
    settings = dict(settings or {})
    if settings and not _is_layered(settings):
        settings = {"default": settings}
    extra = set(settings) - set(LAYER_KEYS)
    if extra:
        raise ValueError(
            f"destripe settings: unknown layer(s) {sorted(extra)}; expected {list(LAYER_KEYS)}"
        )
    merged: dict[str, Any] = {}
    merged.update(_layer(settings, "default", None))
    merged.update(_layer(settings, "instrument", instrument))
    merged.update(_layer(settings, "exp_type", exp_type))
    merged.update(_layer(settings, "detector", detector))
    merged.update(dict(programme or {}))
    return DestripeParams.from_mapping(merged)


def load_params_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML parameter file.

    Parameters
    ----------
    path : str or pathlib.Path
        A YAML file holding either flat parameters (``clip_sigma: 2.5``) or the layered form
        accepted by :func:`resolve_params`.

    Returns
    -------
    dict
        The file's content; validated (unknown keys raise ``ValueError`` naming them).
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read parameter file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a mapping of parameters, got {type(data).__name__}")
    data = dict(data)
    try:
        if _is_layered(data):
            resolve_params(data, instrument="", exp_type="", detector="")
            for key in ("instrument", "exp_type", "detector"):
                for name, block in (data.get(key) or {}).items():
                    try:
                        DestripeParams.from_mapping(block)
                    except ValueError as exc:
                        raise ValueError(f"{key}.{name}: {exc}") from None
        else:
            DestripeParams.from_mapping(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return data
