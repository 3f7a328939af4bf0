"""Readout geometry from metadata (jwst1f.geometry)."""

from __future__ import annotations

from pathlib import Path

import jwst
import numpy as np
import pytest

from jwst1f.geometry import (
    ReadoutLayout,
    UnsupportedExposureError,
    layout_from_header,
    layout_from_model,
)
from jwst1f.simulate.noise import channel_read_directions

EXPOSURES = Path(jwst.__file__).parent / "associations" / "tests" / "data" / "exposures"


def _hdr(**kw):
    base = {
        "INSTRUME": "NIRCAM",
        "DETECTOR": "NRCA1",
        "EXP_TYPE": "NRC_IMAGE",
        "SUBARRAY": "FULL",
        "SUBSTRT1": 1,
        "SUBSTRT2": 1,
        "SUBSIZE1": 2048,
        "SUBSIZE2": 2048,
        "FASTAXIS": -1,
        "SLOWAXIS": 2,
        "NOUTPUTS": 4,
    }
    base.update(kw)
    return base


@pytest.mark.parametrize("det", ["nrca2", "nrca3", "nrca4"])
def test_real_flight_headers_nircam_full(det):
    from astropy.io import fits

    path = EXPOSURES / f"jw01075001001_03105_00009_{det}_uncal.fits"
    header = fits.getheader(path)
    lay = layout_from_header(header)
    assert lay.shape == (2048, 2048)
    assert lay.fast_axis == 1  # NIRCam: stripes are rows
    assert lay.channel_edges == (0, 512, 1024, 1536, 2048)
    assert lay.n_channels == 4
    # 4 outputs: channel k in DMS order reads towards (-1)**k whatever the sign of FASTAXIS
    # (nrca3 has FASTAXIS = -1, nrca2/nrca4 have +1).
    assert lay.fast_sign == (1, -1, 1, -1)
    assert lay.fast_sign == channel_read_directions(int(header["FASTAXIS"]), 4)
    assert lay.detector == det.upper()
    ref = lay.reference_mask()
    assert ref.shape == (2048, 2048)
    assert ref.sum() == 2048 * 2048 - 2040 * 2040
    assert not ref[4:-4, 4:-4].any()


def test_real_flight_model():
    from stdatamodels.jwst import datamodels

    path = EXPOSURES / "jw01075001001_03105_00009_nrca2_uncal.fits"
    with datamodels.open(path) as model:
        lay = layout_from_model(model)
    assert lay.fast_axis == 1 and lay.n_channels == 4 and lay.shape == (2048, 2048)


def test_nirspec_full_stripes_are_columns():
    lay = layout_from_header(
        _hdr(INSTRUME="NIRSPEC", DETECTOR="NRS1", EXP_TYPE="NRS_IFU", FASTAXIS=2, SLOWAXIS=1)
    )
    assert lay.fast_axis == 0
    assert lay.channel_edges == (0, 512, 1024, 1536, 2048)
    assert lay.n_lines == 2048 and lay.line_length == 2048


def test_niriss_soss_subarray_single_output():
    lay = layout_from_header(
        _hdr(
            INSTRUME="NIRISS",
            DETECTOR="NIS",
            EXP_TYPE="NIS_SOSS",
            SUBARRAY="SUBSTRIP256",
            SUBSTRT1=1,
            SUBSTRT2=1793,
            SUBSIZE1=2048,
            SUBSIZE2=256,
            FASTAXIS=-2,
            SLOWAXIS=-1,
            NOUTPUTS=1,
        )
    )
    assert lay.shape == (256, 2048)
    assert lay.fast_axis == 0 and lay.n_channels == 1
    assert lay.channel_edges == (0, 256)
    ref = lay.reference_mask()
    # window touches the top of the detector: last 4 rows and the 4 columns on each side
    assert ref[-4:].all() and not ref[-5, 4:-4].any()
    assert ref[:, :4].all() and ref[:, -4:].all()


def test_multi_output_subarray_keeps_full_frame_boundaries():
    lay = layout_from_header(
        _hdr(
            EXP_TYPE="NRC_TSGRISM",
            DETECTOR="NRCALONG",
            SUBARRAY="SUBGRISM256",
            SUBSTRT1=1,
            SUBSTRT2=1,
            SUBSIZE1=2048,
            SUBSIZE2=256,
        )
    )
    assert lay.shape == (256, 2048)
    assert lay.channel_edges == (0, 512, 1024, 1536, 2048)
    ref = lay.reference_mask()
    assert ref[:4].all() and not ref[4:, 4:-4].any()


def test_partial_multi_output_window():
    lay = layout_from_header(_hdr(SUBARRAY="X", SUBSTRT1=257, SUBSIZE1=1024, SUBSIZE2=64))
    # full-frame boundaries 512, 1024 fall at window pixels 256 and 768
    assert lay.channel_edges == (0, 256, 768, 1024)
    # DMS channels 0, 1, 2 of a FASTAXIS=-1 detector are detector outputs 3, 2, 1
    assert lay.fast_sign == (1, -1, 1)
    assert lay.fast_sign == channel_read_directions(-1, 4)[:3]

    idx = lay.channel_index()
    assert idx[255] == 0 and idx[256] == 1 and idx[1023] == 2


@pytest.mark.parametrize("fastaxis", [1, -1, 2, -2])
def test_read_directions(fastaxis):
    full = layout_from_header(_hdr(FASTAXIS=fastaxis, SLOWAXIS=2 if abs(fastaxis) == 1 else 1))
    assert full.fast_sign == (1, -1, 1, -1)
    assert full.fast_sign == channel_read_directions(fastaxis, 4)
    one = layout_from_header(
        _hdr(
            FASTAXIS=fastaxis,
            SLOWAXIS=2 if abs(fastaxis) == 1 else 1,
            NOUTPUTS=1,
            SUBARRAY="S",
            SUBSIZE1=64,
            SUBSIZE2=64,
        )
    )
    assert one.fast_sign == (int(np.sign(fastaxis)),)
    assert one.fast_sign == channel_read_directions(fastaxis, 1)


def test_miri_interleaved():
    lay = layout_from_header(
        _hdr(
            INSTRUME="MIRI",
            DETECTOR="MIRIMAGE",
            EXP_TYPE="MIR_IMAGE",
            SUBSIZE1=1032,
            SUBSIZE2=1024,
            FASTAXIS=1,
            SLOWAXIS=2,
        )
    )
    assert lay.interleaved and lay.n_channels == 4
    idx = lay.channel_index()
    assert list(idx[:8]) == [0, 1, 2, 3, 0, 1, 2, 3]
    ref = lay.reference_mask()
    assert ref[:, :4].all() and ref[:, -4:].all() and not ref[:, 4:-4].any()
    sub = layout_from_header(
        _hdr(
            INSTRUME="MIRI",
            DETECTOR="MIRIMAGE",
            EXP_TYPE="MIR_IMAGE",
            SUBARRAY="SUB128",
            SUBSTRT1=2,
            SUBSTRT2=889,
            SUBSIZE1=136,
            SUBSIZE2=128,
            FASTAXIS=1,
            SLOWAXIS=2,
        )
    )
    assert list(sub.channel_index()[:4]) == [1, 2, 3, 0]


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"INSTRUME": "MIRI", "DETECTOR": "MIRIFUSHORT", "EXP_TYPE": "MIR_MRS"}, "MRS"),
        ({"INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE", "EXP_TYPE": "MIR_LRS-FIXEDSLIT"}, "LRS"),
        ({"INSTRUME": "FGS", "DETECTOR": "GUIDER1", "EXP_TYPE": "FGS_IMAGE"}, "FGS"),
        ({"EXP_TYPE": "NRC_WEIRD"}, "NRC_WEIRD"),
    ],
)
def test_unsupported_modes_name_the_mode(kw, words):
    with pytest.raises(UnsupportedExposureError, match=words):
        layout_from_header(_hdr(**kw))


def test_unsupported_is_value_error():
    assert issubclass(UnsupportedExposureError, ValueError)


def test_inconsistent_headers_raise():
    with pytest.raises(ValueError, match="outside"):
        layout_from_header(_hdr(SUBSTRT1=2000, SUBSIZE1=100, SUBARRAY="X"))
    with pytest.raises(ValueError, match="FASTAXIS"):
        layout_from_header(_hdr(FASTAXIS=1, SLOWAXIS=1))


def test_layout_validation():
    with pytest.raises(ValueError):
        ReadoutLayout(
            shape=(10, 10), fast_axis=1, channel_edges=(0, 5), fast_sign=(1,), n_channels=1
        )
    lay = ReadoutLayout(
        shape=(10, 12), fast_axis=1, channel_edges=(0, 12), fast_sign=(1,), n_channels=1
    )
    assert lay.to_dict()["shape"] == [10, 12]
    assert np.all(lay.channel_index() == 0)
