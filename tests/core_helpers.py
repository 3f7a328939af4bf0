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
