"""Shared helpers of the destriper core tests."""

from jwst1f.geometry import ReadoutLayout, layout_from_header


def nircam_layout(ny: int = 512, nx: int = 2048, noutputs: int = 4, **kw) -> ReadoutLayout:
    """A NIRCam NRCA1 readout layout of an (ny, nx) window; ``kw`` overrides header keywords."""
    h = {
        "INSTRUME": "NIRCAM",
        "DETECTOR": "NRCA1",
        "EXP_TYPE": "NRC_IMAGE",
        "SUBARRAY": "FULL" if (ny, nx) == (2048, 2048) else "SUBTEST",
        "SUBSTRT1": 1,
        "SUBSTRT2": 1,
        "SUBSIZE1": nx,
        "SUBSIZE2": ny,
        "FASTAXIS": -1,
        "SLOWAXIS": 2,
        "NOUTPUTS": noutputs,
    }
    h.update(kw)
    return layout_from_header(h)


def nirspec_fs_layout() -> ReadoutLayout:
    """A NIRSpec SUBS200A1 fixed-slit window: 64 x 2048 in DMS, stripes along its 2048
    columns of 64 pixels (a transposed canonical view), one output, no reference pixels in
    its lines."""
    return layout_from_header(
        {
            "INSTRUME": "NIRSPEC",
            "DETECTOR": "NRS1",
            "EXP_TYPE": "NRS_FIXEDSLIT",
            "SUBARRAY": "SUBS200A1",
            "SUBSTRT1": 1,
            "SUBSTRT2": 923,
            "SUBSIZE1": 2048,
            "SUBSIZE2": 64,
            "FASTAXIS": 2,
            "SLOWAXIS": 1,
            "NOUTPUTS": 1,
        }
    )


def output_stripes(lay: ReadoutLayout, rng, shared: float = 0.03, own: float = 0.01):
    """Per-line stripes of a row-read layout: a part shared by all outputs plus each
    output's own (rms ``shared`` and ``own``, DN/s), float32 of the layout's shape."""
    import numpy as np

    ny, nx = lay.shape
    stripes = np.zeros((ny, nx), np.float32)
    common = rng.normal(0, shared, ny)
    for sl in lay.channel_slices():
        stripes[:, sl] = (common + rng.normal(0, own, ny))[:, None]
    return stripes
