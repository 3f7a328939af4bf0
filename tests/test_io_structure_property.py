"""Property: whatever extra extensions a rate file carries, the output keeps them bit for bit."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_io_helpers import make_rate

from jwst1f.io import destripe_file


@pytest.fixture(scope="module")
def base_rate(tmp_path_factory) -> Path:
    return make_rate(tmp_path_factory.mktemp("prop") / "base_rate.fits")


extra_hdu = st.one_of(
    st.tuples(
        st.just("image"),
        st.sampled_from(["int16", "uint16", "int32", "uint32", "float32", "float64", "uint8"]),
        st.tuples(st.integers(1, 7), st.integers(1, 9)),
    ),
    st.tuples(st.just("table"), st.integers(1, 5), st.integers(0, 3)),
)


def _make_hdu(spec, i: int, rng: np.random.Generator):
    if spec[0] == "image":
        _, dtype, shape = spec
        info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
        if info is not None:
            data = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
        else:
            data = rng.standard_normal(shape).astype(dtype)
        hdu = fits.ImageHDU(data, name=f"EXTRA{i}")
    else:
        _, nrows, ncols_extra = spec
        cols = [fits.Column(name="ID", format="J", array=np.arange(nrows))]
        for k in range(ncols_extra):
            cols.append(fits.Column(name=f"V{k}", format="D", array=rng.standard_normal(nrows)))
        hdu = fits.BinTableHDU.from_columns(cols, name=f"TAB{i}")
    hdu.header["J1FTEST"] = (i, "extension added by the property test")
    return hdu


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(extras=st.lists(extra_hdu, min_size=1, max_size=4), seed=st.integers(0, 2**16))
def test_extra_extensions_survive(tmp_path, base_rate, extras, seed):
    rng = np.random.default_rng(seed)
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    src = work / "in" / "x_rate.fits"
    src.parent.mkdir()
    with fits.open(base_rate) as hdul:
        new = fits.HDUList([h.copy() for h in hdul])
    for i, spec in enumerate(extras):
        new.append(_make_hdu(spec, i, rng))
    new.writeto(src)
    out = destripe_file(src, work / "out")
    with fits.open(src) as a, fits.open(out) as b:
        assert [(h.name, h.ver, type(h)) for h in a] == [(h.name, h.ver, type(h)) for h in b]
        for ha, hb in zip(a, b, strict=True):
            if ha.name.startswith(("EXTRA", "TAB")):
                assert ha.data.dtype == hb.data.dtype
                assert ha.data.tobytes() == hb.data.tobytes()
                assert hb.header["J1FTEST"] == ha.header["J1FTEST"]
        assert b["SCI"].data.dtype == a["SCI"].data.dtype
