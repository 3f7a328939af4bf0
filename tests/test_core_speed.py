"""Faster implementations that must give the same values as the plain ones."""

from __future__ import annotations

import numpy as np
import pytest

from jwst1f.destripe import core, linemodel
from jwst1f.destripe.background import fit_background
from jwst1f.destripe.masking import PairDifferences, robust_sigma
from jwst1f.params import DestripeParams


def _frame(rng, n_lines, length, fortran):
    a = rng.normal(0.0, 0.05, (n_lines, length)).astype(np.float32)
    a[rng.random(a.shape) < 0.01] = np.nan
    good = np.isfinite(a) & (rng.random(a.shape) > 0.05)
    if fortran:  # canonical views of frames with stripes along columns
        a, good = np.asfortranarray(a), np.asfortranarray(good)
    return a, good


@pytest.mark.parametrize(
    "shape, fortran",
    [((512, 256), False), ((301, 131), False), ((512, 256), True), ((256, 130), True)]
    + [((2048, 64), False), ((2048, 64), True)],
)
def test_pair_differences_by_blocks_equal_robust_sigma(shape, fortran):
    """The pairs gathered from the blocks of a pass give robust_sigma's value exactly
    (blocks of lines, and blocks of an even number of pixels on transposed views)."""
    rng = np.random.default_rng(3)
    a, good = _frame(rng, *shape, fortran)
    pairs = PairDifferences(*shape, max_samples=4096, dtype=a.dtype)
    for lb, pb in core._row_blocks(*shape, fortran):
        pairs.add(a[lb, pb], good[lb, pb], lb, pb)
    assert pairs.complete
    expected = robust_sigma(a, good, max_samples=4096)
    assert expected > 0
    assert pairs.sigma() == expected


def test_pair_differences_refuse_blocks_split_inside_a_pair():
    """A block of pixels starting at an odd pixel cannot be taken: the caller falls back."""
    rng = np.random.default_rng(4)
    a, good = _frame(rng, 64, 33, True)
    pairs = PairDifferences(64, 33, dtype=a.dtype)
    pairs.add(a[:, 0:3], good[:, 0:3], slice(None), slice(0, 3))
    assert pairs.complete
    pairs.add(a[:, 3:6], good[:, 3:6], slice(None), slice(3, 6))
    assert not pairs.complete


@pytest.mark.parametrize("lines_inner", [False, True])
@pytest.mark.parametrize("density", [0.02, 0.5])
def test_block_flags_match_masked_copies(lines_inner, density):
    """_apply_block_flags (records of 16 lines on transposed views) = the masked copy."""
    rng = np.random.default_rng(5)
    n_lines, width = 16 * 20 + 5, 96
    r = rng.normal(size=(n_lines, width)).astype(np.float32)
    c = rng.random((n_lines, width)) > 0.1
    if lines_inner:
        r, c = np.asfortranarray(r), np.asfortranarray(c)
    flag = rng.random((-(-n_lines // 16), width)) < density
    full = np.repeat(flag, 16, axis=0)[:n_lines]
    r_exp, c_exp = r.copy(), c & ~full
    np.copyto(r_exp, 0.0, where=full)
    core._apply_block_flags(c, flag, r=r)
    assert np.array_equal(c, c_exp)
    assert np.array_equal(r.view(np.uint32), r_exp.view(np.uint32))  # +0.0, bit for bit


@pytest.mark.parametrize("n", [40, 256, 2048])
@pytest.mark.parametrize("sigma", [3.0, 30.0, 600.0])
def test_moment_pair_equals_two_moment_calls(n, sigma):
    """Shared kernels: the moments of both series bit for bit (direct and FFT kernels)."""
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=n), rng.random(n)
    ma, mb = linemodel._moment_pair(a, b, sigma, 2, 3)
    assert np.array_equal(ma, linemodel._moments(a, sigma, 2))
    assert np.array_equal(mb, linemodel._moments(b, sigma, 3))


def test_clip_and_initial_levels_on_scratch_memory_equal_fresh_arrays():
    """The work arrays of the level steps taken from an output buffer change no value, and
    do not touch the data."""
    rng = np.random.default_rng(7)
    a = rng.normal(0.3, 0.05, (256, 128)).astype(np.float32)
    a[rng.random(a.shape) < 0.02] += 5.0  # sources
    good = rng.random(a.shape) > 0.05
    chans = [slice(0, 32), slice(32, 64), slice(64, 96), slice(96, 128)]
    params = DestripeParams()
    a0 = a.copy()
    lvl = core._initial_levels(a, good, chans, 0.05)
    out = np.full(a.size * 4, np.nan, dtype=np.float32)  # an output not yet written
    lvl_s = core._initial_levels(a, good, chans, 0.05, scratch=core._Scratch(out))
    assert np.array_equal(lvl, lvl_s)
    ref = core._clip(a, good, chans, lvl, 0.05, params, step=1)
    got = core._clip(a, good, chans, lvl, 0.05, params, step=1, scratch=core._Scratch(out))
    assert np.array_equal(ref, got)
    assert np.array_equal(a, a0)
    assert not np.isnan(out[: a.size]).all()  # the work arrays did live there


def test_background_fit_of_zeroed_residuals_skips_only_a_no_op():
    """fit_background(zeroed=True) on residuals already zero where not clean = the fit of
    the plain call (which multiplies by the mask)."""
    rng = np.random.default_rng(8)
    r = rng.normal(0.0, 0.05, (512, 256)).astype(np.float32)
    r += np.linspace(0.0, 0.02, 256, dtype=np.float32)
    clean = rng.random(r.shape) > 0.1
    r *= clean
    kw = dict(box=32, along_order=2, extended_sigma=5.0)
    plain = fit_background(r.copy(), clean, 0.05, **kw)
    fast = fit_background(r.copy(), clean, 0.05, zeroed=True, **kw)
    assert np.array_equal(plain.line_coef, fast.line_coef)
    assert np.array_equal(plain.flag, fast.flag)
