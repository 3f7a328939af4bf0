"""jwst1f.qa: line means, spectra, figures and the metrics JSON."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from test_io_helpers import make_rate

from jwst1f import qa
from jwst1f.destripe import destripe
from jwst1f.geometry import layout_from_header
from jwst1f.io import destripe_file, read_exposure

FULL_NIRCAM = {
    "INSTRUME": "NIRCAM",
    "DETECTOR": "NRCA2",
    "EXP_TYPE": "NRC_IMAGE",
    "SUBARRAY": "FULL",
    "SUBSTRT1": 1,
    "SUBSTRT2": 1,
    "SUBSIZE1": 2048,
    "SUBSIZE2": 2048,
    "FASTAXIS": 1,
    "SLOWAXIS": -2,
    "NOUTPUTS": 4,
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_line_means_per_channel_and_common():
    layout = layout_from_header(FULL_NIRCAM)
    rng = np.random.default_rng(1)
    per_true = rng.normal(size=(4, 2048))
    img = np.repeat(per_true, 512, axis=0).T.copy()  # row y, channel k -> per_true[k, y]
    mask = np.ones(img.shape, bool)
    mask[:, 100:200] = False
    img[:, 100:200] = 1e6  # masked pixels must not count
    per, common = qa.line_means(img, mask, layout)
    np.testing.assert_allclose(per, per_true)
    np.testing.assert_allclose(common, per_true.mean(axis=0))


def test_line_means_follow_the_fast_axis_of_nirspec():
    hdr = {**FULL_NIRCAM, "INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "EXP_TYPE": "NRS_IFU"}
    hdr.update(FASTAXIS=2, SLOWAXIS=1)
    layout = layout_from_header(hdr)
    assert layout.fast_axis == 0
    cols = np.arange(2048, dtype=float)
    img = np.broadcast_to(cols[None, :], (2048, 2048))  # stripes are columns
    _, common = qa.line_means(img, None, layout)
    np.testing.assert_allclose(common, cols)


def test_power_spectrum_finds_a_sinusoid():
    n = 2048
    series = np.sin(2 * np.pi * 0.125 * np.arange(n))
    series[::97] = np.nan  # gaps are tolerated
    f, p = qa.line_power_spectrum(series)
    assert f.shape == (n // 2 + 1,)
    assert f[np.argmax(p)] == pytest.approx(0.125)


def test_block_reduce_and_robust_limits():
    a = np.arange(16, dtype=float).reshape(4, 4)
    a[0, 0] = np.nan
    r = qa.block_reduce(a, 2)
    assert r.shape == (2, 2)
    assert r[0, 0] == pytest.approx((1 + 4 + 5) / 3)
    rng = np.random.default_rng(0)
    x = rng.normal(10, 2, 100_000)
    x[:100] = 1e5
    lo, hi = qa.robust_limits(x, lo=2, hi=2)
    assert lo == pytest.approx(6, abs=0.1) and hi == pytest.approx(14, abs=0.1)


def test_figures_and_metrics_for_a_file(tmp_path):
    src = make_rate(tmp_path / "x_rate.fits")
    destripe_file(src, tmp_path / "out", plots_dir=tmp_path / "plots")
    images = tmp_path / "plots" / "x_rate_1f_images.png"
    power = tmp_path / "plots" / "x_rate_1f_power.png"
    for png in (images, power):
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 20_000
    m = json.loads((tmp_path / "plots" / "x_rate_1fmetrics.json").read_text())
    for key in (
        "input",
        "output",
        "jwst1f_version",
        "instrument",
        "detector",
        "exp_type",
        "subarray",
        "stripe_rms_before",
        "stripe_rms_after",
        "stripe_rms_before_total",
        "stripe_rms_after_total",
        "masked_fraction",
        "seconds",
        "seconds_total",
        "params",
    ):
        assert key in m, key
    assert len(m["stripe_rms_before"]) == 1  # one channel in this subarray
    assert m["stripe_rms_after_total"] < m["stripe_rms_before_total"]
    assert m["detector"] == "NRCA1" and m["params"]["clip_sigma"] == 3.0
    assert not list((tmp_path / "plots").glob(".*"))  # no temporary files left


def test_metrics_only_directory(tmp_path):
    src = make_rate(tmp_path / "x_rate.fits")
    destripe_file(src, tmp_path / "out", metrics_dir=tmp_path / "m")
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["x_rate_1fmetrics.json"]


@pytest.mark.slow
def test_full_frame_rateints_figures_are_fast(tmp_path):
    """Figures for a 2 x 2048 x 2048 rateints exposure (4 outputs) in a few seconds."""
    src = make_rate(
        tmp_path / "full_rateints.fits",
        detector="NRCA2",
        subarray="FULL",
        shape=(2048, 2048),
        noutputs=4,
        fastaxis=1,
        slowaxis=-2,
        nints=2,
        n_sources=20,
    )
    exp = read_exposure(src)
    result = destripe(exp.sci, exp.layout, dq=exp.dq)
    t0 = time.perf_counter()
    paths = qa.make_figures(exp.sci, result, exp.layout, outdir=tmp_path / "p", stem="full")
    elapsed = time.perf_counter() - t0
    assert [p.name for p in paths] == ["full_1f_images.png", "full_1f_power.png"]
    assert elapsed < 30, f"figures took {elapsed:.1f} s"  # ~2-3 s on an idle core
    rec = qa.metrics_record(result, exp.layout, params={"a": 1})
    assert rec["n_channels"] == 4 and rec["shape"] == [2, 2048, 2048]
    json.dumps(rec)  # serialisable
