"""The simulator's reference-pixel correction against jwst's own refpix code."""

from __future__ import annotations

import numpy as np
import pytest

from jwst1f import instruments as ins
from jwst1f.simulate import noise as nz
from jwst1f.simulate.exposure import _refpix_correct

JWST_REFPIX_DEFAULTS = {
    "refpix_algorithm": "median",
    "sirs_kernel_model": None,
    "sigreject": 4.0,
    "gaussmooth": 1.0,
    "halfwidth": 30,
}


@pytest.mark.parametrize(
    ("detector", "subarray"),
    [("NRCALONG", "SUBGRISM64"), ("NRCA4", "SUB160"), ("NRCB1", "SUB320"), ("NIS", "FULL")],
)
def test_refpix_matches_jwst(detector, subarray):
    from jwst.refpix.reference_pixels import correct_model
    from stdatamodels.jwst import datamodels as dm

    det = ins.get_detector(detector)
    sub = ins.get_subarray(detector, subarray)
    win = nz.readout_window(det, sub, ins.frame_time(detector, sub))
    rng = np.random.default_rng(1)
    ng = 2
    corr = nz.readout_noise_groups(
        rng, win, nz.default_noise(det), ngroups=ng, nframes=1, groupgap=0
    )
    groups = np.empty((ng,) + sub.shape, dtype=np.float32)
    nz.to_detector(groups, det.fastaxis, det.slowaxis)[...] = corr
    groups += rng.normal(0.0, 5.0, groups.shape).astype(np.float32)  # white noise
    groups += rng.normal(0.0, 16.0, sub.shape).astype(np.float32)  # reset offsets
    ref = ins.reference_pixel_mask(detector)[ins.subarray_slices(sub)]

    model = dm.RampModel(data=groups[None].copy())
    model.pixeldq = np.where(ref, np.uint32(2**31), np.uint32(0))
    model.groupdq = np.zeros(model.data.shape, np.uint8)
    m = model.meta
    m.instrument.name, m.instrument.detector = det.instrument, det.detector
    m.exposure.type, m.exposure.readpatt = "NRC_IMAGE", "RAPID"
    m.exposure.noutputs, m.exposure.ngroups, m.exposure.nints = sub.noutputs, ng, 1
    m.exposure.nframes, m.exposure.groupgap = 1, 0
    m.subarray.name = sub.keyword
    m.subarray.xstart, m.subarray.ystart = sub.xstart, sub.ystart
    m.subarray.xsize, m.subarray.ysize = sub.xsize, sub.ysize
    m.subarray.fastaxis, m.subarray.slowaxis = det.fastaxis, det.slowaxis
    assert correct_model(model, True, True, 11, 1.0, False, JWST_REFPIX_DEFAULTS, 3.0) == 0

    ours = groups.copy()
    _refpix_correct(
        nz.to_detector(ours, det.fastaxis, det.slowaxis), win, noutputs=sub.noutputs, hxrg=True
    )
    sci = ~ref
    axis = 2 if det.fast_numpy_axis == 1 else 1  # average along the stripes

    def line_means(a: np.ndarray) -> np.ndarray:
        return np.where(sci, a, 0.0).sum(axis=axis) / np.maximum(sci.sum(axis=axis - 1), 1)

    before = np.std(line_means(groups))
    lines = line_means(model.data[0] - ours)
    # Both remove the same offsets and stripes: what differs is ~1 % of what was removed.
    assert np.std(lines) < 0.03 * before
    assert abs(np.mean((model.data[0] - ours)[:, sci])) < 0.05
