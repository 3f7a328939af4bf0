"""The destriper on the windows users meet: sizes, outputs and read directions of real JWST
subarrays (their positions on the detector illustrative, inside it), with realistic
reference pixels (no light in them)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from jwst1f.destripe import destripe
from jwst1f.geometry import UnsupportedExposureError, layout_from_header

#: FASTAXIS, SLOWAXIS of the detectors used here (as in flight headers).
_AXES = {
    "NRCA1": (-1, 2),
    "NRCA3": (-1, 2),
    "NRCA5": (-1, 2),
    "NRCB4": (-1, 2),
    "NRCB5": (1, -2),
    "NRS1": (2, 1),
    "NRS2": (-2, -1),
    "NIS": (-2, -1),
    "MIRIMAGE": (1, 2),
}

#: (instrument, detector, exp_type, subarray, SUBSTRT1, SUBSTRT2, SUBSIZE1, SUBSIZE2,
#: NOUTPUTS)
WINDOWS = [
    ("NIRCAM", "NRCA1", "NRC_TACQ", "SUB32TATS", 1985, 1985, 32, 32, 1),
    ("NIRCAM", "NRCA3", "NRC_IMAGE", "SUB8FP1A", 1000, 1000, 8, 8, 1),
    ("NIRCAM", "NRCA3", "NRC_IMAGE", "SUB64FP1A", 1000, 1000, 64, 64, 1),
    ("NIRCAM", "NRCA5", "NRC_CORON", "SUB320A335R", 1, 1, 320, 320, 1),
    ("NIRCAM", "NRCB4", "NRC_CORON", "SUB400X256ALWB", 1, 1, 400, 256, 1),
    ("NIRCAM", "NRCA1", "NRC_IMAGE", "SUB160P", 1889, 1889, 160, 160, 1),
    ("NIRCAM", "NRCA1", "NRC_TSIMAGE", "SUB64P", 1935, 1911, 64, 64, 1),
    ("NIRCAM", "NRCB5", "NRC_TSGRISM", "SUBGRISM128", 1, 1921, 2048, 128, 4),
    ("NIRCAM", "NRCB5", "NRC_TSGRISM", "SUBGRISM256_1OUT", 1, 1793, 2048, 256, 1),
    ("NIRCAM", "NRCA1", "NRC_TSGRISM", "SUB41S1_2-SPECTRA", 1, 1, 2048, 41, 4),
    ("NIRCAM", "NRCA1", "NRC_IMAGE", "SUB96DHSPILA", 1, 1, 2048, 96, 4),
    ("NIRSPEC", "NRS1", "NRS_BRIGHTOBJ", "SUB32", 1, 1, 32, 32, 1),
    ("NIRSPEC", "NRS1", "NRS_BRIGHTOBJ", "SUB512S", 1, 946, 512, 16, 1),
    ("NIRSPEC", "NRS1", "NRS_BRIGHTOBJ", "SUB1024A", 1, 946, 1024, 32, 1),
    ("NIRSPEC", "NRS2", "NRS_BRIGHTOBJ", "SUB1024B", 1025, 946, 1024, 32, 1),
    ("NIRSPEC", "NRS1", "NRS_FIXEDSLIT", "SUBS400A1", 1, 993, 2048, 128, 1),
    ("NIRSPEC", "NRS2", "NRS_FIXEDSLIT", "SUBS1600A1", 1, 993, 2048, 64, 1),
    ("NIRSPEC", "NRS1", "NRS_WATA", "SUB32", 1000, 1000, 32, 32, 1),
    ("NIRISS", "NIS", "NIS_AMI", "SUB80", 1969, 1969, 80, 80, 1),
    ("NIRISS", "NIS", "NIS_TACQ", "SUBTAAMI", 1985, 1985, 64, 64, 1),
    ("NIRISS", "NIS", "NIS_SOSS", "SUBSTRIP256", 1, 1793, 2048, 256, 1),
    ("NIRISS", "NIS", "NIS_WFSS", "WFSS64R", 1, 1, 64, 2048, 1),
    ("MIRI", "MIRIMAGE", "MIR_TACQ", "SUB64", 1, 779, 72, 64, 4),
    ("MIRI", "MIRIMAGE", "MIR_IMAGE", "SUB128", 1, 889, 136, 128, 4),
    ("MIRI", "MIRIMAGE", "MIR_IMAGE", "BRIGHTSKY", 457, 51, 512, 512, 4),
]


def _header(ins, det, exp_type, sub, x0, y0, nx, ny, nout) -> dict:
    fast, slow = _AXES[det]
    return {
        "INSTRUME": ins,
        "DETECTOR": det,
        "EXP_TYPE": exp_type,
        "SUBARRAY": sub,
        "SUBSTRT1": x0,
        "SUBSTRT2": y0,
        "SUBSIZE1": nx,
        "SUBSIZE2": ny,
        "NOUTPUTS": nout,
        "FASTAXIS": fast,
        "SLOWAXIS": slow,
    }


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    f = np.fft.rfftfreq(4 * n)
    f[0] = f[1]
    x = np.fft.irfft((rng.normal(size=f.size) + 1j * rng.normal(size=f.size)) / np.sqrt(f))
    x = x[:n]
    return x / x.std()


def _window(lay, rng, white=0.3, stripes=0.5):
    """(data, truth, judged) in DMS orientation: sky, white noise and compact sources (one
    per 30000 pixels) outside the reference pixels, plus stripes per channel-line: a part shared by the outputs
    (rms ``stripes``; pink and white, as the line means of 1/f noise are) and a tenth of that
    of each output's own."""
    n_lines, length = lay.n_lines, lay.line_length
    ref = lay.reference_mask()
    canon = (lambda a: a) if lay.fast_axis == 1 else (lambda a: a.T)  # DMS <-> canonical
    truth = canon(rng.normal(0.5, white, lay.shape))
    src = np.zeros((n_lines, length))
    yy, xx = np.mgrid[:n_lines, :length]
    for _ in range(n_lines * length // 30000):  # none in the smallest windows
        cy, cx = rng.integers(0, n_lines), rng.integers(0, length)
        src += 40.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 4.0)
    truth += src
    truth[canon(ref)] = rng.normal(0.0, white, int(ref.sum()))
    shared = stripes * (0.6 * _pink(rng, n_lines) + 0.8 * rng.normal(size=n_lines))
    pattern = np.empty((n_lines, length))
    for sl in lay.channel_slices():
        pattern[:, sl] = (shared + 0.1 * stripes * rng.normal(size=n_lines))[:, None]
    judged = (src < 0.05) & ~canon(ref)
    data = (truth + pattern).astype(np.float32)
    return canon(data), canon(truth), canon(judged)


def _stripe_rms(res, judged, lay) -> float:
    """rms of the channel-line means of ``res`` over the judged pixels (global mean off)."""
    canon = (lambda a: a) if lay.fast_axis == 1 else (lambda a: a.T)
    r, j = canon(res), canon(judged)
    means = []
    for sl in lay.channel_slices():
        n = j[:, sl].sum(axis=1)
        m = np.where(j[:, sl], r[:, sl], 0.0).sum(axis=1) / np.maximum(n, 1)
        means.append(m[n >= 4])
    m = np.concatenate(means)
    return float(np.sqrt(np.mean((m - m.mean()) ** 2)))


def _limit(lay, data, truth) -> float:
    """What a per-line estimate can reach, DN/s: the white noise of the shortest channel-line's
    mean (0.3 DN/s per pixel), with the error of the slowest stripes added in quadrature.
    Those are told from a sky gradient with the reference pixels of the lines (a straight
    line through their levels, each the mean of the line's reference pixels) or, in windows
    whose lines hold none, not at all: the straight line through the stripes stays as sky."""
    ref_lines, ref_pixels = lay.reference_lines_and_pixels()
    length = lay.line_length
    per_line = min(len(range(*sl.indices(length))) for sl in lay.channel_slices())
    floor2 = 0.3**2 / per_line
    if ref_pixels.any():
        slow2 = 0.3**2 / ref_pixels.sum() * 2.0 / (~ref_lines).sum()
    else:
        canon = (lambda a: a) if lay.fast_axis == 1 else (lambda a: a.T)
        m = canon(data - truth).mean(axis=1)
        x = np.arange(m.size)
        slow2 = np.var(np.polyval(np.polyfit(x, m, 1), x))
    return float(np.sqrt(floor2 + slow2))


@pytest.mark.parametrize("window", WINDOWS, ids=[f"{w[0]}-{w[3]}-{w[2]}" for w in WINDOWS])
def test_real_subarray_windows_are_destriped(window):
    lay = layout_from_header(_header(*window))
    rng = np.random.default_rng(zlib.crc32(window[3].encode()))
    data, truth, judged = _window(lay, rng)
    res = destripe(data, lay)
    assert res.corrected.shape == data.shape and res.corrected.dtype == np.float32
    assert np.isfinite(res.corrected).all() and np.isfinite(res.model_var).all()
    after = _stripe_rms(res.corrected - truth, judged, lay)
    before = _stripe_rms(data - truth, judged, lay)
    limit = _limit(lay, data, truth)
    assert before > 2.5 * limit  # (the premise: the stripes stand well above the limit)
    assert after < 2.0 * limit, (before, after, limit)


@pytest.mark.parametrize(
    "window",
    [
        ("MIRI", "MIRIMAGE", "MIR_4QPM", "MASK1065", 1, 19, 288, 224, 4),
        ("MIRI", "MIRIMAGE", "MIR_LRS-SLITLESS", "SLITLESSPRISM", 1, 529, 72, 416, 4),
    ],
)
def test_miri_windows_that_are_not_imaging_are_refused_by_name(window):
    with pytest.raises(UnsupportedExposureError, match=window[2]):
        layout_from_header(_header(*window))


def test_lines_of_eight_pixels_with_one_flagged_pixel_are_still_measured():
    # the smallest windows (8 x 8): a line with one flagged (or clipped) pixel of its eight
    # is measured on the other seven, not borrowed from its neighbours' unrelated stripes
    lay = layout_from_header(
        _header("NIRCAM", "NRCA3", "NRC_IMAGE", "SUB8FP1A", 1000, 1000, 8, 8, 1)
    )
    rng = np.random.default_rng(5)
    truth = rng.normal(0.5, 0.1, (8, 8))
    stripes = rng.normal(0.0, 0.5, 8)
    data = (truth + stripes[:, None]).astype(np.float32)
    dq = np.zeros((8, 8), np.uint32)
    dq[[0, 3, 6], [2, 5, 1]] = 1  # DO_NOT_USE
    res = destripe(data, lay, dq=dq)
    assert res.metrics["lines_interpolated"] == 0
    good = dq == 0
    left = np.array([(res.corrected - truth)[i][good[i]].mean() for i in range(8)])
    # what the window can tell: the stripes about a straight line across its lines (without
    # reference pixels that line stays as sky); the floor is the white noise of 7-8 pixels
    x = np.arange(8)
    about_line = left - np.polyval(np.polyfit(x, left, 1), x)
    before = stripes - np.polyval(np.polyfit(x, stripes, 1), x)
    assert np.std(about_line) < 2.0 * 0.1 / np.sqrt(7) < 0.5 * np.std(before)
