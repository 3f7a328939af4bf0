"""Statistics of the simulated readout noise (NGHXRG-like model along the pixel clock)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from jwst1f import instruments as ins
from jwst1f.simulate import noise as nz


def _psd(x: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """One-sided periodogram averaged over the leading axis."""
    x = x - x.mean(axis=-1, keepdims=True)
    n = x.shape[-1]
    p = np.abs(np.fft.rfft(x, axis=-1)) ** 2 * 2 * dt / n
    f = np.fft.rfftfreq(n, dt)
    return f[1:], p.reshape(-1, p.shape[-1]).mean(axis=0)[1:]


def _slope(f, p, lo, hi):
    sel = (f >= lo) & (f <= hi)
    # Average in log bins so that every decade weighs the same.
    edges = np.logspace(np.log10(lo), np.log10(hi), 15)
    lf, lp = [], []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        m = sel & (f >= a) & (f < b)
        if m.any():
            lf.append(np.log10(f[m].mean()))
            lp.append(np.log10(p[m].mean()))
    return np.polyfit(lf, lp, 1)[0]


def test_pink_noise_psd_amplitude_and_slope():
    rng = np.random.default_rng(1)
    dt = 1e-5
    x = nz.pink_noise(rng, 8, 2**17, 0.5, dt)
    f, p = _psd(x, dt)
    assert _slope(f, p, 10.0, 4e4) == pytest.approx(-1.0, abs=0.1)
    # The level is the requested A / f (within the scatter of 8 averaged periodograms).
    sel = (f > 100) & (f < 1000)
    assert np.median(p[sel] * f[sel]) / 0.5 == pytest.approx(1.0, rel=0.15)


@pytest.mark.parametrize("fast,slow", [(1, 2), (-1, 2), (1, -2), (-1, -2), (2, 1), (-2, -1)])
def test_frame_transforms_match_jwst(fast, slow):
    from jwst.lib.reffile_utils import (
        detector_science_frame_transform,
        science_detector_frame_transform,
    )

    a = np.arange(12 * 7).reshape(12, 7)
    np.testing.assert_array_equal(
        nz.to_detector(a, fast, slow), science_detector_frame_transform(a.copy(), fast, slow)
    )
    d = nz.to_detector(a, fast, slow)
    np.testing.assert_array_equal(
        nz.to_dms(d, fast, slow), detector_science_frame_transform(d.copy(), fast, slow)
    )
    np.testing.assert_array_equal(nz.to_dms(d, fast, slow), a)


def _window(detector="NRCA2", subarray="FULL"):
    det = ins.get_detector(detector)
    sub = ins.get_subarray(detector, subarray)
    return det, sub, nz.readout_window(det, sub, ins.frame_time(detector, sub))


def test_pixels_follow_the_clock_with_alternating_directions():
    det, sub, win = _window("NRCALONG", "SUBGRISM64")
    assert (win.n_slow, win.n_fast, win.noutputs) == (64, 2048, 4)
    w = win.width
    t = np.arange(win.samples_per_frame, dtype=np.float32)
    frames = np.broadcast_to(
        t.reshape(1, 1, win.frame_rows, win.row_samples),
        (4, 1)
        + (
            win.frame_rows,
            win.row_samples,
        ),
    )
    img = nz._frame_image(win, np.ascontiguousarray(frames))[0]  # detector frame
    row = img[0]
    # Output 0 reads towards +x, output 1 towards -x, ... at the same times.
    assert np.all(np.diff(row[:w]) == 1) and np.all(np.diff(row[w : 2 * w]) == -1)
    np.testing.assert_array_equal(row[:w], row[2 * w - 1 : w - 1 : -1])
    # Consecutive rows are one row time (512 + 12 pixel times) apart.
    assert img[1, 0] - img[0, 0] == w + ins.ROW_OVERHEAD
    # In DMS, with FASTAXIS = -1 the channel order reverses and so do the directions.
    dirs = nz.channel_read_directions(det.fastaxis, 4)
    dms_row = nz.to_dms(img, det.fastaxis, det.slowaxis)[0]
    for k, d in enumerate(dirs):
        assert np.sign(np.diff(dms_row[k * w : (k + 1) * w])).mean() == d


@pytest.fixture(scope="module")
def full_frame_noise():
    """One full-frame frame of correlated noise (NRCA2, FASTAXIS +1), detector frame."""
    det, sub, win = _window("NRCA2")
    noise = nz.default_noise(det)
    rng = np.random.default_rng(7)
    img = nz.readout_noise_groups(rng, win, noise, ngroups=1, nframes=1, groupgap=0)[0]
    return det, win, noise, img


def test_line_means_have_a_one_over_f_spectrum(full_frame_noise):
    det, win, noise, img = full_frame_noise
    w = win.width
    means = np.stack([img[:, k * w : (k + 1) * w].mean(axis=1) for k in range(4)])
    row_time = win.row_samples * ins.PIXEL_TIME
    f, p = _psd(means, row_time)
    assert _slope(f, p, 0.2, 60.0) == pytest.approx(-1.0, abs=0.2)


def test_spectrum_flat_above_knee_and_pink_below():
    det, sub, win = _window("NRCA2", "SUB160")
    noise = nz.default_noise(det)
    rng = np.random.default_rng(3)
    n = 40 * win.samples_per_frame
    streams = nz._streams_hxrg(rng, win, dataclasses.replace(noise, pedestal=0.0), 40)
    white = rng.standard_normal(streams.shape).astype(np.float32) * noise.white
    f, p = _psd((streams + white)[:, :n], ins.PIXEL_TIME)
    assert _slope(f, p, 10.0, 200.0) == pytest.approx(-1.0, abs=0.25)
    assert abs(_slope(f, p, 1.5e4, 4.5e4)) < 0.2
    # The knee: where the pink part equals the white level.
    white_psd = 2 * noise.white**2 * ins.PIXEL_TIME
    near = (f > 0.7 * noise.knee_hz) & (f < 1.4 * noise.knee_hz)
    assert np.mean(p[near]) / white_psd == pytest.approx(2.0, rel=0.25)


def test_common_to_per_output_ratio_about_three(full_frame_noise):
    det, win, noise, img = full_frame_noise
    w = win.width
    means = np.stack([img[:, k * w : (k + 1) * w].mean(axis=1) for k in range(4)])
    means -= means.mean(axis=1, keepdims=True)
    cov = np.cov(means)
    common = cov[np.triu_indices(4, 1)].mean()
    per_output = np.diag(cov).mean() - common
    ratio = np.sqrt(common / per_output)
    assert 2.2 < ratio < 4.0, ratio
    # With no correlated part the ratio collapses: the statistic can fail.
    rng = np.random.default_rng(7)
    uncorr = dataclasses.replace(noise, correlated_fraction=0.0)
    img2 = nz.readout_noise_groups(rng, win, uncorr, ngroups=1, nframes=1, groupgap=0)[0]
    m2 = np.stack([img2[:, k * w : (k + 1) * w].mean(axis=1) for k in range(4)])
    c2 = np.cov(m2 - m2.mean(axis=1, keepdims=True))
    assert c2[np.triu_indices(4, 1)].mean() < 0.1 * np.diag(c2).mean()


def _even_odd_excess(img: np.ndarray, win, white: float) -> float:
    """Variance of (even - odd) row means per output, relative to white noise alone."""
    w = win.width
    diffs = []
    for k in range(win.noutputs):
        blk = img[:, k * w : (k + 1) * w]
        diffs.append(blk[:, 0::2].mean(axis=1) - blk[:, 1::2].mean(axis=1))
    return float(np.var(np.concatenate(diffs)) / (white**2 * 4.0 / w))


def test_alternating_column_noise_present(full_frame_noise):
    det, win, noise, img = full_frame_noise
    rng = np.random.default_rng(11)
    white = rng.standard_normal(img.shape).astype(np.float32) * noise.white
    with_acn = _even_odd_excess(img + white, win, noise.white)
    no_acn = dataclasses.replace(noise, acn_ratio=0.0)
    img0 = nz.readout_noise_groups(rng, win, no_acn, ngroups=1, nframes=1, groupgap=0)[0]
    without = _even_odd_excess(img0 + white, win, noise.white)
    assert with_acn > 1.6 * without
    assert without < 1.5


def test_miri_banding_is_column_interleaved():
    det, sub, win = _window("MIRIMAGE", "FULL")
    assert win.interleaved and win.noutputs == 4
    noise = nz.default_noise(det)
    assert isinstance(noise, nz.MiriNoise)
    rng = np.random.default_rng(5)
    smooth = dataclasses.replace(noise, row_even_odd=0.0, pedestal=0.0)
    img = nz.readout_noise_groups(rng, win, smooth, ngroups=6, nframes=1, groupgap=0)
    # Row means of each output (columns j::4): partly common, partly per output.
    means = np.stack([img[:, :, j::4].mean(axis=2) for j in range(4)])  # (4, ng, ny)
    means = (means - means.mean(axis=2, keepdims=True)).reshape(4, -1)
    cov = np.cov(means)
    corr = cov[np.triu_indices(4, 1)].mean() / np.diag(cov).mean()
    assert corr == pytest.approx(noise.correlated_fraction, abs=0.2)
    # Even/odd rows: per output and frame, alternate rows are offset in opposite directions.
    eo = nz.readout_noise_groups(rng, win, noise, ngroups=6, nframes=1, groupgap=0)

    def alternation(a):
        m = np.stack([a[:, :, j::4].mean(axis=2) for j in range(4)])
        return np.var(m[:, :, 0::2].mean(axis=2) - m[:, :, 1::2].mean(axis=2))

    assert alternation(eo) > 4.0 * alternation(img)
