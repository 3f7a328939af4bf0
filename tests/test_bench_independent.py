"""The independent test generator of the benchmark (benchmarks/independent.py)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.independent import (  # noqa: E402
    SUBARRAYS,
    VARIANTS,
    Variant,
    _meta,
    _one_over_f,
    make_frame,
)
from jwst1f.geometry import layout_from_header  # noqa: E402
from jwst1f.simulate.metadata import header_from_meta  # noqa: E402


def _variant(name: str) -> Variant:
    """The benchmark's own variant of that name."""
    return next(v for v in VARIANTS if v.name == name)


def _layout(v: Variant):
    return layout_from_header(header_from_meta(_meta(v)))


def test_one_over_f_follows_the_pixel_clock():
    """Along each output's read order, the 1/f continues across the end of a line: the jump
    from the last pixel read of a line to the first of the next is as small as between
    neighbouring pixels, which a wrong read direction would break."""
    v = Variant("t", subarray="SUB640", amp_output=0.05, pause=0)
    lay = _layout(v)
    noise = _one_over_f(np.random.default_rng(0), lay, v)
    canon = noise if lay.fast_axis == 1 else noise.T
    line = canon if lay.fast_sign[0] > 0 else canon[:, ::-1]
    if lay.slow_sign < 0:
        line = line[::-1]
    within = np.std(np.diff(line, axis=1))
    across = np.std(line[1:, 0] - line[:-1, -1])
    assert across < 1.5 * within
    wrong = np.std(line[1:, -1] - line[:-1, -1])  # same position on consecutive lines
    assert wrong > 1.8 * within


def test_frame_truth_and_empty_map():
    v = Variant("t", subarray="SUB640", scene="band")
    lay = _layout(v)
    f = make_frame(np.random.default_rng(1), lay, v)
    assert f["sci"].shape == lay.shape and f["sci"].dtype == np.float32
    stripes = f["sci"] - f["rate_no1f"]
    # the 1/f component is what the generator added: strong, and constant-ish along lines
    assert 0.02 < np.std(stripes) < 0.2
    ref = lay.reference_mask()
    assert not f["empty"][ref].any() and (f["scene"][ref] == 0).all()
    assert 0.1 < f["empty"].mean() < 0.99
    # the mimicked reference-pixel step puts a line pattern into the truth; the clean truth
    # is without it, and is the same truth when the step is not mimicked
    pattern = (f["rate_no1f"] - f["rate_clean"]).astype(np.float64)
    canon = pattern if lay.fast_axis == 1 else pattern.T
    assert np.std(canon.mean(axis=1)) > 1e-3
    assert np.abs(canon - canon.mean(axis=1, keepdims=True)).max() < 1e-4  # float32
    g = make_frame(np.random.default_rng(1), lay, dataclasses.replace(v, refpix_step=False))
    np.testing.assert_array_equal(g["rate_no1f"], g["rate_clean"])
    np.testing.assert_array_equal(g["rate_clean"], f["rate_clean"])


def _x_oracle(v: Variant, seed: int = 0) -> tuple[float, float, float]:
    from benchmarks.independent import truth_and_oracle
    from benchmarks.metrics import evaluate_prepared
    from jwst1f.destripe import destripe

    lay = _layout(v)
    f = make_frame(np.random.default_rng(10_000 + seed), lay, v)
    truth, oracle = truth_and_oracle(f, lay)
    o = evaluate_prepared(oracle, truth)
    m = evaluate_prepared(destripe(f["sci"], lay).corrected, truth)
    return m["stripe_rms"] / o["stripe_rms"], m["stripe_gain"], m["bias_pct"] - o["bias_pct"]


def test_destriper_on_an_independent_one_output_window():
    """Data not made by jwst1f.simulate: the destriper stays near the perfect-mask oracle."""
    ratio, gain, dbias = _x_oracle(Variant("t", subarray="SUB640"))
    assert ratio < 1.15
    assert 0.9 < gain < 1.1
    assert abs(dbias) < 1.0


@pytest.mark.parametrize("v", SUBARRAYS, ids=lambda v: v.name)
def test_destriper_on_real_subarray_layouts(v):
    """Every real window of the benchmark's subarray section: no crash, the stripes at most
    a little above the oracle's and most of the 1/f removed (generous bounds: one seed of
    small frames; the benchmark reports the means)."""
    ratio, gain, _ = _x_oracle(v)
    assert ratio < (2.0 if v.name.startswith("MIRIMAGE BRIGHTSKY") else 1.6), ratio
    assert gain > 0.5, gain


@pytest.mark.slow
@pytest.mark.parametrize(
    "variant",
    [
        Variant("pink"),
        Variant("no_refpix_step", refpix_step=False),
        Variant("band", scene="band"),
        _variant("nirspec_ifu_slices"),
    ],
    ids=lambda v: v.name,
)
def test_destriper_on_independent_full_frames(variant):
    ratio, gain, dbias = _x_oracle(variant)
    # without the pipeline's reference-pixel step the oracle floor is the white noise
    # alone; the anchor on the reference pixels then shows (1.50x before the sky scale was
    # chosen by risk on the outputs with reference pixels, now 1.29x on this seed)
    assert ratio < (1.35 if not variant.refpix_step else 1.15)
    assert 0.9 < gain < 1.1
    assert abs(dbias) < 2.0


@pytest.mark.slow
def test_destriper_on_an_independent_wfss_frame():
    """Many spectral traces along the lines of a 4-output frame (NIRCam WFSS-like), some
    lighting every output over a few lines: the traces are not taken for stripes (4.6x the
    oracle before lit channel-lines were found at short scales and across lines)."""
    v = Variant("wfss", exp_type="NRC_WFSS", filter="F444W", pupil="GRISMR", scene="traces")
    ratio, gain, dbias = _x_oracle(v)
    assert ratio < 1.35
    assert 0.7 < gain < 1.1
    assert abs(dbias) < 1.0


def test_destriper_on_an_independent_soss_strip():
    """NIRISS SOSS-like window (SUBSTRIP256, one output, lines are the 256-pixel columns):
    two broad curved orders across the lines. The geometry is the transposed one, and the
    orders' light is not taken for stripes."""
    v = _variant("niriss_soss_substrip256")
    lay = _layout(v)
    assert lay.fast_axis == 0 and lay.shape == (256, 2048)
    f = make_frame(np.random.default_rng(3), lay, v)
    # the orders run across the lines: along each line (column) the light is concentrated
    lit = f["scene"] - f["sky"] > 1.0
    assert 0.05 < lit.mean() < 0.3 and lit[:, 1000].sum() < 0.3 * lay.shape[0]
    ratio, _, dbias = _x_oracle(v)
    assert ratio < 1.2
    assert abs(dbias) < 0.3


def test_destriper_on_an_independent_miri_frame():
    """MIRI imager (4 outputs interleaved by column, odd/even rows, no sky left of column
    340): the independent generator lays the banding along each interleaved output's clock,
    and the destriper stays near the perfect-mask oracle."""
    v = _variant("miri_imaging_dark_left")
    lay = _layout(v)
    assert lay.interleaved and lay.shape == (1024, 1032)
    noise = _one_over_f(np.random.default_rng(0), lay, v)
    # the odd/even rows: each output's alternating line offset shows in its line means
    lm = np.stack([noise[:, sl].mean(axis=1) for sl in lay.channel_slices()], axis=1)
    alt = np.abs((lm[0::2] - lm[1::2]).mean(axis=0))
    assert np.all(alt < 0.1) and np.any(alt > 0.005)
    f = make_frame(np.random.default_rng(4), lay, v)
    assert np.median(f["scene"][:, 4:300]) < 0.05 < np.median(f["scene"][:, 400:1000])
    ratio, _, dbias = _x_oracle(v)
    assert ratio < 1.2
    assert abs(dbias) < 0.5


def test_rateints_frame_shares_the_scene_not_the_noise():
    """A rateints variant: every integration holds the same scene and sky, with white noise
    and 1/f drawn independently per integration; integration 0 is the single-integration
    frame of the same generator state."""
    v = Variant("t", subarray="SUB640", nints=3)
    lay = _layout(v)
    f = make_frame(np.random.default_rng(5), lay, v)
    for key in ("sci", "rate_no1f", "rate_clean"):
        assert f[key].shape == (3, *lay.shape) and f[key].dtype == np.float32
    for key in ("scene", "sky", "empty"):
        assert f[key].shape == lay.shape
    one = make_frame(np.random.default_rng(5), lay, dataclasses.replace(v, nints=1))
    np.testing.assert_array_equal(one["sci"], f["sci"][0])
    np.testing.assert_array_equal(one["rate_no1f"], f["rate_no1f"][0])
    assert not np.array_equal(f["sci"][0], f["sci"][1])
    # the scene is the same in every integration, the white noise is not: the noise of the
    # integration mean is 1/sqrt(3) of one integration's (a scene differing between
    # integrations would add to it, a noise shared by them would leave it at 1)
    white = f["rate_clean"] - f["scene"]
    ratio = np.std(white.mean(axis=0)) / np.std(white[0])
    assert abs(ratio - 1 / np.sqrt(3)) < 0.02
    assert abs(np.corrcoef(white[0].ravel(), white[1].ravel())[0, 1]) < 0.01
    # the source light is in every integration
    bright = f["scene"] - f["sky"] > 50.0
    assert bright.sum() > 10
    for i in range(3):
        np.testing.assert_allclose(
            f["rate_clean"][i][bright].sum(), f["scene"][bright].sum(), rtol=0.01
        )
    # independent 1/f: the line means of the stripes of two integrations are uncorrelated
    stripes = (f["sci"] - f["rate_no1f"]).astype(np.float64)
    lm = stripes.mean(axis=2)  # fast axis along x for NIRCam: one mean per row
    assert 0.01 < np.std(lm[0]) < 0.2
    assert abs(np.corrcoef(lm[0], lm[1])[0, 1]) < 0.3


def test_rateints_meta_and_rateints_file(tmp_path):
    """The rateints variant's metadata say nints, and its file is a CubeModel with 3-D
    err/dq/var arrays."""
    from stdatamodels.jwst import datamodels as dm

    from benchmarks.independent import _write

    v = dataclasses.replace(_variant("nircam_rateints"), subarray="SUB160")
    meta = _meta(v)
    assert meta["meta.exposure.nints"] == 4
    lay = _layout(v)
    f = make_frame(np.random.default_rng(0), lay, v)
    path = _write(meta, f["sci"], tmp_path / "t_rateints.fits")
    with dm.open(str(path)) as model:
        assert isinstance(model, dm.CubeModel)
        assert model.meta.exposure.nints == 4
        for name in ("data", "err", "dq", "var_poisson", "var_rnoise", "var_flat"):
            assert getattr(model, name).shape == (4, *lay.shape)
        np.testing.assert_array_equal(model.data, f["sci"])


def test_destriper_on_an_independent_rateints_window():
    """Rateints of a one-output window (3 integrations): the oracle and the truth are per
    integration, and the destriper stays near the perfect-mask oracle."""
    from benchmarks.independent import truth_and_oracle

    v = Variant("t", subarray="SUB640", nints=3)
    lay = _layout(v)
    f = make_frame(np.random.default_rng(10_000), lay, v)
    truth, oracle = truth_and_oracle(f, lay)
    assert oracle.shape == f["sci"].shape and len(truth.frames) == 3
    ratio, gain, dbias = _x_oracle(v)
    assert ratio < 1.15
    assert 0.9 < gain < 1.1
    assert abs(dbias) < 1.0


@pytest.mark.slow
def test_destriper_on_the_independent_rateints_full_frame():
    """The benchmark's nircam_rateints variant (FULL, 4 integrations of the same stars)."""
    v = _variant("nircam_rateints")
    assert v.nints == 4 and v.subarray == "FULL" and v.scene == "stars"
    ratio, gain, dbias = _x_oracle(v)
    assert ratio < 1.15
    assert 0.9 < gain < 1.1
    assert abs(dbias) < 0.5


@pytest.mark.slow
def test_destriper_on_the_independent_tso_rateints():
    """The benchmark's TSO-like variant: a bright trace (60 DN/s) along the rows of the 4-output
    SUBGRISM256 window, 8 integrations. Its power-law wings fill most of the lit lines, and
    jwst1f is 1.27x the oracle on seeds 0 and 1 (the same as on each integration alone, so
    not a rateints effect; the target of 1.2x is not met). Most of it is the oracle's own
    advantage: the empty pixels are only 20-40 % of the measurable channel-lines, the oracle
    fits the 1/f on exactly those and the metric judges them; the same oracle on every
    pixel of the channel-lines (scene known) is 1.17-1.19x, and jwst1f 1.07x that. The bound
    guards against a worsening, not the target."""
    v = _variant("nircam_tso_subgrism256_rateints")
    assert v.nints == 8 and v.subarray == "SUBGRISM256" and v.scene == "trace"
    ratio, gain, dbias = _x_oracle(v)
    assert ratio < 1.4
    assert 0.8 < gain < 1.1
    assert abs(dbias) < 0.3


@pytest.mark.slow
def test_user_mask_over_the_tso_trace_does_not_make_it_worse():
    """The TSO variant with the truth's source map as the user mask (the trace and its wings:
    98 % of outputs 2 and 3, 20-40 % of the others) is corrected at least as well as not at
    all. Seed 1; without the mask jwst1f is 1.25x the oracle, the input 2.14x. (It was 57x:
    the levels of the two masked outputs, borrowed from the others, served as a noise-free
    dark reference of the lit-output test; now 1.43x.)"""
    from benchmarks.independent import truth_and_oracle
    from benchmarks.metrics import evaluate_prepared
    from jwst1f.destripe import destripe

    v = _variant("nircam_tso_subgrism256_rateints")
    lay = _layout(v)
    f = make_frame(np.random.default_rng(10_001), lay, v)
    truth, _ = truth_and_oracle(f, lay)
    user_mask = (f["empty"] == 0) & ~lay.reference_mask()
    corrected = destripe(f["sci"], lay, user_mask=user_mask).corrected
    before = evaluate_prepared(f["sci"], truth)["stripe_rms"]
    assert evaluate_prepared(corrected, truth)["stripe_rms"] < before
