"""Fast paths of the faint-emission and gap helpers equal the plain operations."""

import numpy as np
import pytest

from jwst1f.destripe.core import _EMISSION_BLOCK, _apply_block_flags
from jwst1f.destripe.masking import _block_sums


def _expand(flag, n_lines):
    return np.repeat(flag, _EMISSION_BLOCK, axis=0)[:n_lines]


@pytest.mark.parametrize("shape", [(2048, 512), (2045, 64), (128, 128), (10, 7)])
@pytest.mark.parametrize("density", [0.001, 0.02, 0.3])
@pytest.mark.parametrize("transposed", [False, True])
def test_apply_block_flags_equals_plain_masking(shape, density, transposed):
    """Sparse (flagged blocks only) and dense (broadcast) paths: ``c &= ~flag`` and
    ``r[flag] = 0`` per block of lines, in both memory orders, bit for bit."""
    rng = np.random.default_rng(1)
    n_lines, width = shape
    flag = rng.random((-(-n_lines // _EMISSION_BLOCK), width)) < density
    mem = (width, n_lines) if transposed else shape
    r0 = rng.normal(size=mem).astype(np.float32)
    c0 = rng.random(mem) < 0.8
    r, c = r0.copy(), c0.copy()
    rv, cv = (r.T, c.T) if transposed else (r, c)
    _apply_block_flags(cv, flag, r=rv)
    full = _expand(flag, n_lines)
    r_exp = (r0.T if transposed else r0).copy()
    r_exp[full] = 0.0
    c_exp = (c0.T if transposed else c0) & ~full
    np.testing.assert_array_equal(rv, r_exp)
    np.testing.assert_array_equal(cv, c_exp)


@pytest.mark.parametrize("n_lines", [2048, 2045, 37, 8, 5])
@pytest.mark.parametrize("transposed", [False, True])
def test_block_sums_counts_exact_and_sums_close(n_lines, transposed):
    """Byte counts per block of lines exact (64-bit word path), float sums to float32
    rounding, also on channel slices of a transposed frame (strided memory rows)."""
    rng = np.random.default_rng(2)
    width = 96
    big_c = rng.random((3 * width, n_lines) if transposed else (n_lines, 3 * width)) < 0.6
    big_x = rng.normal(size=big_c.shape).astype(np.float32)
    sl = slice(width, 2 * width)
    c = big_c.T[:, sl] if transposed else big_c[:, sl]
    x = big_x.T[:, sl] if transposed else big_x[:, sl]
    edges = np.append(np.arange(0, n_lines, 16), n_lines)
    want_c = np.array([c[a:b].sum(axis=0) for a, b in zip(edges[:-1], edges[1:], strict=True)])
    want_x = np.array(
        [x[a:b].astype(np.float64).sum(axis=0) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    )
    got_c = _block_sums(c.view(np.uint8), 16, np.uint8)
    got_x = _block_sums(x, 16, np.float32)
    assert got_c.dtype == np.float32 and got_x.dtype == np.float32
    np.testing.assert_array_equal(got_c, want_c)
    np.testing.assert_allclose(got_x, want_x, rtol=0, atol=2e-5)


@pytest.mark.parametrize("transposed", [False, True])
def test_dark_positions_finite_path_same_selection(transposed):
    """With finite residuals, the masked products select the same gap positions as the
    masked selections (non-usable pixels carry arbitrary finite values)."""
    from jwst1f.destripe.masking import dark_positions

    rng = np.random.default_rng(3)
    n_lines, width = 300, 200
    mem = (width, n_lines) if transposed else (n_lines, width)
    r = rng.normal(0.0, 1.0, mem).astype(np.float32)
    good = rng.random(mem) < 0.9
    r[~good] = 1e3  # would dominate the sums if not masked
    rv, gv = (r.T, good.T) if transposed else (r, good)
    rv[:, 50:60] -= 2.0  # a gap
    lines = rng.random(n_lines) < 0.8
    a = dark_positions(rv, gv, lines, 8)
    b = dark_positions(rv, gv, lines, 8, finite=True)
    np.testing.assert_array_equal(a, b)
    assert a[:, 50:60].sum() > 0.8 * a.sum()  # the gap is found


def test_rateints_one_output_timeline_corrected_is_sci_minus_model():
    """Rateints of a one-output window (timeline model written per channel, joint sky added
    afterwards): ``corrected`` is exactly ``sci - model`` and the model is not flat along
    the lines (the timeline model was applied)."""
    from core_helpers import nircam_layout

    from jwst1f.destripe import destripe
    from jwst1f.params import DestripeParams

    lay = nircam_layout(64, 2048, 1, SUBSTRT2=1000)
    rng = np.random.default_rng(6)
    shape = (2, *lay.shape)
    sci = (0.3 + rng.normal(0.0, 0.02, shape)).astype(np.float32)
    # slow wander along the readout of each line (pink-like), and line offsets
    t = np.cumsum(rng.normal(0.0, 0.004, (2, lay.shape[0] * lay.shape[1])), axis=1)
    sci += t.reshape(shape).astype(np.float32)
    res = destripe(sci, lay, params=DestripeParams(lowpass="on"))
    assert res.metrics["joint_sky"]
    np.testing.assert_array_equal(res.corrected, sci - res.model)
    assert any(t is not None for t in res.metrics["timeline"])
    assert float(np.ptp(res.model[0], axis=1).max()) > 0.0


@pytest.mark.parametrize("n", [1, 5, 128, 1500])
def test_window_sums_equal_cumsum_differences(n):
    """Window sums without the own row, bit for bit those of the cumulative-sum formula."""
    from jwst1f.destripe.masking import _window_sums

    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 33)).astype(np.float32)
    half = 8
    cs = np.concatenate([np.zeros((1, 33), np.float32), np.cumsum(x, axis=0)])
    idx = np.arange(n)
    hi, lo = np.minimum(idx + half + 1, n), np.maximum(idx - half, 0)
    want = (cs[hi] - cs[lo]) - x
    np.testing.assert_array_equal(_window_sums(x, half), want)
