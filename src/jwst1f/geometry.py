"""Readout geometry of JWST detectors, from metadata only.

A :class:`ReadoutLayout` says, for one science array in DMS orientation, along which numpy
axis the detector was read fast (the stripes of 1/f noise run along it), how that axis is cut
into readout channels (outputs), in which direction each channel was read, and which pixels of
the window are reference pixels. Everything is derived from FITS keywords (``FASTAXIS``,
``SLOWAXIS``, ``SUBSTRT1/2``, ``SUBSIZE1/2``, ``NOUTPUTS``, ...), never from the instrument
name alone.

Conventions
-----------
* ``shape`` is the (ny, nx) shape of the science array in DMS orientation.
* ``fast_axis`` is the numpy axis of the fast-read direction: 1 means the fast read runs
  along x and stripes are rows (NIRCam, MIRI); 0 means it runs along y and stripes are
  columns (NIRSpec, NIRISS).
* ``channel_edges`` are boundaries along the fast axis in array pixels (0-based), of length
  ``n_channels + 1`` for contiguous channels. For interleaved channels (MIRI) they are
  ``(0, n)`` and channel ``k`` holds the pixels whose *full-frame* index along the fast axis
  is ``k`` modulo ``n_channels``.
* Channel ``k`` (0-based, full-frame output order along the fast axis in DMS array order)
  of a 4-output layout reads in direction ``(-1)**k`` (+1: towards increasing array index),
  whatever the sign of ``FASTAXIS``: output ``j`` of the detector reads towards its ``+x`` for
  even ``j``, and DMS both reverses ``x`` and the output order when ``FASTAXIS < 0``. A
  one-output window reads in direction ``sign(FASTAXIS)``. (The same convention as
  ``jwst1f.simulate.noise.channel_read_directions``.)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ReadoutLayout",
    "UnsupportedExposureError",
    "layout_from_header",
    "layout_from_model",
    "HXRG_FULL_SIZE",
    "HXRG_REFERENCE_WIDTH",
    "HXRG_OUTPUT_WIDTH",
    "MIRI_FULL_SHAPE",
    "SUPPORTED_EXP_TYPES",
]

log = logging.getLogger(__name__)

#: Side of a full HxRG (H2RG) frame, pixels.
HXRG_FULL_SIZE = 2048
#: Width of the reference-pixel border of a full HxRG frame, pixels.
HXRG_REFERENCE_WIDTH = 4
#: Width of one HxRG output (channel) of a full frame along the fast axis, pixels.
HXRG_OUTPUT_WIDTH = 512
#: Full-frame (ny, nx) of the MIRI Si:As detectors; 4 reference columns on each side.
MIRI_FULL_SHAPE = (1024, 1032)
_MIRI_REFERENCE_COLUMNS = 4

#: Exposure types the destriper handles, per instrument.
SUPPORTED_EXP_TYPES: dict[str, frozenset[str]] = {
    "NIRCAM": frozenset(
        {
            "NRC_IMAGE",
            "NRC_CORON",
            "NRC_WFSS",
            "NRC_GRISM",
            "NRC_TSIMAGE",
            "NRC_TSGRISM",
            "NRC_TACQ",
            "NRC_TACONFIRM",
            "NRC_FOCUS",
            "NRC_DARK",
            "NRC_FLAT",
            "NRC_LED",
        }
    ),
    "NIRISS": frozenset(
        {
            "NIS_IMAGE",
            "NIS_WFSS",
            "NIS_SOSS",
            "NIS_AMI",
            "NIS_TACQ",
            "NIS_TACONFIRM",
            "NIS_FOCUS",
            "NIS_DARK",
            "NIS_LAMP",
            "NIS_EXTCAL",
        }
    ),
    "NIRSPEC": frozenset(
        {
            "NRS_IFU",
            "NRS_FIXEDSLIT",
            "NRS_MSASPEC",
            "NRS_BRIGHTOBJ",
            "NRS_IMAGE",
            "NRS_TACQ",
            "NRS_MSATA",
            "NRS_WATA",
            "NRS_TASLIT",
            "NRS_TACONFIRM",
            "NRS_CONFIRM",
            "NRS_FOCUS",
            "NRS_LAMP",
            "NRS_AUTOWAVE",
            "NRS_AUTOFLAT",
            "NRS_DARK",
            "NRS_MIMF",
            "NRS_VERIFY",
        }
    ),
    "MIRI": frozenset({"MIR_IMAGE", "MIR_TACQ"}),
}

# Why some modes are refused, for the error message.
_UNSUPPORTED_REASONS = {
    "MIR_MRS": "MIRI MRS (IFU) banding is not modelled; use jwst's own MIRI corrections",
    "MIR_LRS-FIXEDSLIT": "MIRI LRS spectra fill the lines the banding model needs",
    "MIR_LRS-SLITLESS": "MIRI LRS spectra fill the lines the banding model needs",
    "MIR_4QPM": "MIRI coronagraphy is not supported (only MIRI imaging is)",
    "MIR_LYOT": "MIRI coronagraphy is not supported (only MIRI imaging is)",
    "MIR_CORONCAL": "MIRI coronagraphy is not supported (only MIRI imaging is)",
}


class UnsupportedExposureError(ValueError):
    """The instrument, detector or exposure mode is not handled by the destriper.

    The message names the mode and says why.
    """


@dataclass(frozen=True)
class ReadoutLayout:
    """How one science array was read out.

    Parameters
    ----------
    shape : tuple of int
        (ny, nx) of the science array in DMS orientation, pixels.
    fast_axis : int
        Numpy axis (0 or 1) of the fast-read direction. 1: stripes are rows; 0: stripes are
        columns.
    channel_edges : tuple of int
        Channel boundaries along the fast axis in array pixels, ``n_channels + 1`` values for
        contiguous channels; ``(0, n)`` when ``interleaved``.
    fast_sign : tuple of int
        Per channel, +1 if the channel is read towards increasing array index along the fast
        axis, -1 otherwise.
    n_channels : int
        Number of readout channels (outputs) present in the window.
    interleaved : bool
        True for MIRI: channel of a pixel = full-frame fast-axis index modulo ``n_channels``.
    instrument, detector, exp_type, subarray : str
        Metadata copied from the header (upper case).
    xstart, ystart : int
        1-based full-frame position of the window's first pixel (SUBSTRT1, SUBSTRT2).
    full_shape : tuple of int
        (ny, nx) of the detector's full frame, pixels.
    slow_sign : int
        +1 if lines were read in increasing array index along the slow axis, -1 otherwise.
    """

    shape: tuple[int, int]
    fast_axis: int
    channel_edges: tuple[int, ...]
    fast_sign: tuple[int, ...]
    n_channels: int
    interleaved: bool = False
    instrument: str = ""
    detector: str = ""
    exp_type: str = ""
    subarray: str = "FULL"
    xstart: int = 1
    ystart: int = 1
    full_shape: tuple[int, int] = (HXRG_FULL_SIZE, HXRG_FULL_SIZE)
    slow_sign: int = 1
    _channel_offset: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if self.fast_axis not in (0, 1):
            raise ValueError(f"fast_axis must be 0 or 1, not {self.fast_axis!r}")
        if len(self.shape) != 2 or min(self.shape) < 1:
            raise ValueError(f"shape must be (ny, nx) with positive sizes, not {self.shape!r}")
        if len(self.fast_sign) != self.n_channels:
            raise ValueError("fast_sign needs one entry per channel")
        if not self.interleaved and len(self.channel_edges) != self.n_channels + 1:
            raise ValueError("channel_edges needs n_channels + 1 boundaries")
        edges = np.asarray(self.channel_edges)
        if edges[0] != 0 or edges[-1] != self.shape[self.fast_axis] or np.any(np.diff(edges) < 1):
            raise ValueError(
                f"channel_edges {self.channel_edges} do not tile the fast axis of length "
                f"{self.shape[self.fast_axis]}"
            )

    # ------------------------------------------------------------------ derived quantities
    @property
    def n_lines(self) -> int:
        """Number of lines (stripes): the array length along the slow axis."""
        return self.shape[1 - self.fast_axis]

    @property
    def line_length(self) -> int:
        """Number of pixels along one line (the fast axis)."""
        return self.shape[self.fast_axis]

    def channel_slices(self) -> list[slice]:
        """Per channel, the slice that selects its pixels along the fast axis.

        Returns
        -------
        list of slice
            Contiguous slices, or strided ``start::n_channels`` slices when interleaved.
        """
        if self.interleaved:
            n = self.n_channels
            out = [slice(0, 0)] * n
            for j in range(min(n, self.line_length)):
                out[(self._channel_offset + j) % n] = slice(j, None, n)
            return out
        e = self.channel_edges
        return [slice(e[k], e[k + 1]) for k in range(self.n_channels)]

    def channel_index(self) -> np.ndarray:
        """Channel number of every pixel along the fast axis.

        Returns
        -------
        numpy.ndarray of int, shape (line_length,)
        """
        idx = np.empty(self.line_length, dtype=np.intp)
        for k, sl in enumerate(self.channel_slices()):
            idx[sl] = k
        return idx

    def reference_lines_and_pixels(self) -> tuple[np.ndarray, np.ndarray]:
        """The reference border as 1-D masks in canonical (line, pixel) order.

        ``reference_mask()`` equals ``lines[:, None] | pixels[None, :]`` in canonical
        orientation (transposed when ``fast_axis == 0``).

        Returns
        -------
        lines : numpy.ndarray of bool, shape (n_lines,)
            Lines made only of reference pixels.
        pixels : numpy.ndarray of bool, shape (line_length,)
            Positions along every line that are reference pixels.
        """
        ny, nx = self.shape
        fy, fx = self.full_shape
        y = np.arange(ny) + self.ystart - 1
        x = np.arange(nx) + self.xstart - 1
        if self.instrument == "MIRI":
            w = _MIRI_REFERENCE_COLUMNS
            row = np.zeros(ny, dtype=bool)
        else:
            w = HXRG_REFERENCE_WIDTH
            row = (y < w) | (y >= fy - w)
        col = (x < w) | (x >= fx - w)
        return (row, col) if self.fast_axis == 1 else (col, row)

    def reference_mask(self) -> np.ndarray:
        """Which pixels of the window are reference pixels.

        Returns
        -------
        numpy.ndarray of bool, shape ``shape``
            True on reference pixels (the 4-pixel border of a full HxRG frame; the 4 columns
            on each side of a MIRI frame).
        """
        ny, nx = self.shape
        fy, fx = self.full_shape
        y = np.arange(ny) + self.ystart - 1
        x = np.arange(nx) + self.xstart - 1
        if self.instrument == "MIRI":
            w = _MIRI_REFERENCE_COLUMNS
            col = (x < w) | (x >= fx - w)
            return np.broadcast_to(col[None, :], (ny, nx)).copy()
        w = HXRG_REFERENCE_WIDTH
        row = (y < w) | (y >= fy - w)
        col = (x < w) | (x >= fx - w)
        return row[:, None] | col[None, :]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (for provenance)."""
        return {
            "shape": list(self.shape),
            "fast_axis": self.fast_axis,
            "channel_edges": list(self.channel_edges),
            "fast_sign": list(self.fast_sign),
            "n_channels": self.n_channels,
            "interleaved": self.interleaved,
            "instrument": self.instrument,
            "detector": self.detector,
            "exp_type": self.exp_type,
            "subarray": self.subarray,
            "xstart": self.xstart,
            "ystart": self.ystart,
        }


# ---------------------------------------------------------------------- construction
def _get(header: Mapping, key: str, default: Any = None) -> Any:
    try:
        value = header.get(key, default)
    except AttributeError:  # pragma: no cover - any Mapping has get
        value = header[key] if key in header else default
    return default if value is None else value


def _detector_axes(detector: str) -> tuple[int, int] | None:
    """FASTAXIS/SLOWAXIS from the shared detector table, if it exists."""
    try:
        from jwst1f.instruments import DETECTORS  # owned by the simulator
    except Exception:  # pragma: no cover - table not there yet
        return None
    info = DETECTORS.get(detector)
    if info is None:
        return None
    return int(info.fastaxis), int(info.slowaxis)


def layout_from_header(header: Mapping) -> ReadoutLayout:
    """Build the readout layout of a science array from its FITS keywords.

    Parameters
    ----------
    header : Mapping
        Keywords of the primary header (and, where present, the SCI header) of a JWST
        level-1/2 file: INSTRUME, DETECTOR, EXP_TYPE, SUBARRAY, SUBSTRT1/2, SUBSIZE1/2,
        FASTAXIS, SLOWAXIS, NOUTPUTS. A merged ``dict`` of both headers works.

    Returns
    -------
    ReadoutLayout

    Raises
    ------
    UnsupportedExposureError
        If the instrument or exposure type is not handled (FGS, MIRI spectroscopy, ...).
    ValueError
        If a keyword needed to know the geometry is missing or inconsistent.
    """
    instrument = str(_get(header, "INSTRUME", "")).strip().upper()
    detector = str(_get(header, "DETECTOR", "")).strip().upper()
    exp_type = str(_get(header, "EXP_TYPE", "")).strip().upper()
    subarray = str(_get(header, "SUBARRAY", "FULL")).strip().upper()

    if instrument not in SUPPORTED_EXP_TYPES:
        if instrument == "FGS":
            why = "FGS guider exposures are not supported by the 1/f destriper"
        elif not instrument:
            why = "the header has no INSTRUME keyword"
        else:
            why = f"instrument {instrument!r} is not a JWST near-infrared or MIRI imager"
        raise UnsupportedExposureError(f"{instrument or '?'} {exp_type or '?'}: {why}")
    if exp_type and exp_type not in SUPPORTED_EXP_TYPES[instrument]:
        why = _UNSUPPORTED_REASONS.get(
            exp_type, f"exposure type {exp_type} is not one the destriper handles"
        )
        raise UnsupportedExposureError(f"{instrument} {exp_type}: {why}")
    if instrument == "MIRI" and detector and detector != "MIRIMAGE":
        raise UnsupportedExposureError(
            f"MIRI {detector} {exp_type}: only the MIRI imager detector (MIRIMAGE) is supported"
        )

    full_shape = MIRI_FULL_SHAPE if instrument == "MIRI" else (HXRG_FULL_SIZE, HXRG_FULL_SIZE)
    xstart = int(_get(header, "SUBSTRT1", 1))
    ystart = int(_get(header, "SUBSTRT2", 1))
    nx = int(_get(header, "SUBSIZE1", full_shape[1] if subarray == "FULL" else 0))
    ny = int(_get(header, "SUBSIZE2", full_shape[0] if subarray == "FULL" else 0))
    if nx < 1 or ny < 1:
        raise ValueError(f"{instrument} {detector} subarray {subarray}: SUBSIZE1/2 missing")
    if (
        xstart < 1
        or ystart < 1
        or xstart - 1 + nx > full_shape[1]
        or ystart - 1 + ny > full_shape[0]
    ):
        raise ValueError(
            f"{instrument} {detector}: window SUBSTRT=({xstart},{ystart}) SUBSIZE=({nx},{ny}) "
            f"lies outside the {full_shape[1]}x{full_shape[0]} full frame"
        )

    fastaxis = _get(header, "FASTAXIS")
    slowaxis = _get(header, "SLOWAXIS")
    if fastaxis is None or slowaxis is None:
        axes = _detector_axes(detector)
        if axes is None and instrument == "MIRI":
            axes = (1, 2)
        if axes is None:
            raise ValueError(
                f"{instrument} {detector}: FASTAXIS/SLOWAXIS missing from the header and the "
                "detector is unknown; the stripe direction cannot be determined"
            )
        fastaxis, slowaxis = axes
        log.warning("%s: FASTAXIS/SLOWAXIS missing; using %d/%d", detector, fastaxis, slowaxis)
    fastaxis, slowaxis = int(fastaxis), int(slowaxis)
    if abs(fastaxis) not in (1, 2) or abs(slowaxis) not in (1, 2) or abs(fastaxis) == abs(slowaxis):
        raise ValueError(f"{detector}: inconsistent FASTAXIS={fastaxis}, SLOWAXIS={slowaxis}")
    fast_axis = 1 if abs(fastaxis) == 1 else 0  # numpy axis: FITS axis 1 is x (numpy axis 1)
    sign0 = 1 if fastaxis > 0 else -1
    slow_sign = 1 if slowaxis > 0 else -1

    noutputs = _get(header, "NOUTPUTS")
    if noutputs is None:
        noutputs = 4 if (subarray == "FULL" or instrument == "MIRI") else 1
        log.info("%s %s: NOUTPUTS missing; assuming %d", detector, subarray, noutputs)
    noutputs = int(noutputs)
    if noutputs < 1:
        raise ValueError(f"{detector}: NOUTPUTS={noutputs} is not a number of outputs")

    shape = (ny, nx)
    length = shape[fast_axis]
    start0 = (xstart if fast_axis == 1 else ystart) - 1  # 0-based full-frame start
    common = dict(
        shape=shape,
        fast_axis=fast_axis,
        instrument=instrument,
        detector=detector,
        exp_type=exp_type,
        subarray=subarray,
        xstart=xstart,
        ystart=ystart,
        full_shape=full_shape,
        slow_sign=slow_sign,
    )

    if instrument == "MIRI":
        n = 4
        return ReadoutLayout(
            channel_edges=(0, length),
            fast_sign=(sign0,) * n,
            n_channels=n,
            interleaved=True,
            _channel_offset=start0 % n,
            **common,
        )

    if noutputs == 1:
        return ReadoutLayout(channel_edges=(0, length), fast_sign=(sign0,), n_channels=1, **common)

    # Multi-output HxRG: full-frame boundaries every 512 pixels, clipped to the window.
    width = HXRG_FULL_SIZE // noutputs if noutputs != 4 else HXRG_OUTPUT_WIDTH
    edges = [0]
    signs = []
    for k in range(noutputs):
        lo = max(k * width - start0, 0)
        hi = min((k + 1) * width - start0, length)
        if hi <= lo:
            continue
        if lo != edges[-1]:  # pragma: no cover - defensive
            raise ValueError(f"{detector}: output boundaries do not tile the window")
        edges.append(hi)
        # DMS channel k is detector output j = k (FASTAXIS > 0) or noutputs-1-k (< 0); output
        # j reads towards detector +x for even j, and DMS x is detector x times sign(FASTAXIS).
        j = k if sign0 > 0 else noutputs - 1 - k
        signs.append(sign0 * (-1) ** j)
    if edges[-1] != length:
        raise ValueError(f"{detector}: {noutputs} outputs do not cover the window")
    return ReadoutLayout(
        channel_edges=tuple(edges), fast_sign=tuple(signs), n_channels=len(signs), **common
    )


def layout_from_model(model: Any) -> ReadoutLayout:
    """Build the readout layout from a jwst datamodel (``ImageModel``, ``CubeModel``, ...).

    Parameters
    ----------
    model : stdatamodels.jwst.datamodels.JwstDataModel
        An open model with ``meta.instrument``, ``meta.exposure`` and ``meta.subarray``.

    Returns
    -------
    ReadoutLayout
    """
    meta = model.meta
    sub = meta.subarray
    header = {
        "INSTRUME": meta.instrument.name,
        "DETECTOR": meta.instrument.detector,
        "EXP_TYPE": meta.exposure.type,
        "SUBARRAY": sub.name,
        "SUBSTRT1": sub.xstart,
        "SUBSTRT2": sub.ystart,
        "SUBSIZE1": sub.xsize,
        "SUBSIZE2": sub.ysize,
        "FASTAXIS": sub.fastaxis,
        "SLOWAXIS": sub.slowaxis,
        "NOUTPUTS": getattr(meta.exposure, "noutputs", None),
    }
    header = {k: v for k, v in header.items() if v is not None}
    data = getattr(model, "data", None)
    if data is not None and "SUBSIZE1" not in header and np.ndim(data) >= 2:
        header["SUBSIZE2"], header["SUBSIZE1"] = np.shape(data)[-2:]
    return layout_from_header(header)
