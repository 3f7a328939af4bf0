"""Channel-lines without clean pixels borrow their output's own offset from its neighbouring
lines, as far as the per-output 1/f stays correlated."""

from __future__ import annotations

import numpy as np
from core_helpers import pink

from jwst1f.destripe.linemodel import _lag_correlation, line_offsets


def _levels(seed: int, alpha: float, n_lines: int = 2048, nch: int = 4):
    """Channel-line means: a shared 1/f, each output's own 1/f (rms 0.08 DN/s, spectral
    index ``alpha``) and white noise of 400 pixels at 0.1 DN/s."""
    rng = np.random.default_rng(seed)
    own = np.stack([0.08 * pink(rng, n_lines, alpha) for _ in range(nch)], axis=1)
    own -= own.mean(axis=1, keepdims=True)
    m = 0.05 * pink(rng, n_lines)[:, None] + own + rng.normal(0, 0.1 / 20, (n_lines, nch))
    return m, own


def test_the_correlation_of_the_per_output_part_is_measured():
    """Red per-output 1/f stays correlated over tens of lines, white over none; short
    series keep the fixed four-line decay."""
    for seed in range(3):
        m, own = _levels(seed, 1.4)
        well = np.ones(m.shape, dtype=bool)
        u = own - own.mean(axis=0)
        red = _lag_correlation(u, well, float(np.var(u)))
        assert red(np.array([10.0]))[0] > 0.5, seed
        white = np.random.default_rng(seed).normal(0, 0.05, m.shape)
        flat = _lag_correlation(white, well, 0.05**2)
        assert flat(np.array([2.0]))[0] < 0.1, seed
        r = red(np.arange(0.0, 100.0))
        assert r[0] == 1.0 and np.all(np.diff(r) <= 0) and r[-1] >= 0
    short = _lag_correlation(u[:64], well[:64], float(np.var(u)))
    assert np.isclose(short(np.array([4.0]))[0], np.exp(-1.0))


def test_channel_lines_filled_by_a_trace_keep_their_outputs_red_offset():
    """An output with no clean pixel over 24 lines (a bright trace along them): its offset
    there, borrowed from its neighbouring lines, follows its own red 1/f. With a fixed
    correlation of four lines the middle of the gap fell back to the shared level
    (0.09 DN/s rms error on such channel-lines of an independent WFSS frame)."""
    errs, fixed = [], []
    for seed in range(4):
        m, own = _levels(seed, 1.4)
        n = np.full(m.shape, 400.0)
        gaps = [slice(g, g + 24) for g in range(100, 2000, 150)]
        for g in gaps:
            n[g, 1] = 0
        lm = line_offsets(m, n, 0.1, min_pixels=20, wiener=False)
        rel = lm.offset - lm.offset.mean(axis=1, keepdims=True)
        true = own - own.mean(axis=1, keepdims=True)
        lines = np.concatenate([np.arange(2048)[g] for g in gaps])
        errs.append(np.sqrt(np.mean((rel[lines, 1] - true[lines, 1]) ** 2)))
        fixed.append(np.sqrt(np.mean(true[lines, 1] ** 2)))  # borrowing nothing of its own
    assert np.mean(errs) < 0.6 * np.mean(fixed), (errs, fixed)


def test_the_correlation_falls_back_without_a_measured_variance():
    """No variance of the per-output parts (or NaN): the fixed four-line decay, never NaN."""
    u = np.zeros((512, 4))
    well = np.ones(u.shape, dtype=bool)
    for tau2 in (0.0, float("nan")):
        rho = _lag_correlation(u, well, tau2)
        assert np.isclose(rho(np.array([4.0]))[0], np.exp(-1.0))
    rho = _lag_correlation(u, well, 1e-3)  # all zero: no correlation measured
    assert np.all(np.isfinite(rho(np.arange(0.0, 80.0))))
