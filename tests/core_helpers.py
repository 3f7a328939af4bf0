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


def pink(rng, n: int, alpha: float = 1.0):
    """Unit-rms noise with power ~ f**-alpha, length n (the independent generator's)."""
    from benchmarks.independent import _pink

    return _pink(rng, n, alpha)


def clocked_1f(lay: ReadoutLayout, rng, common: float, own: float, pause: int = 12):
    """1/f along each output's pixel clock (reference pixels included): rms ``common``
    shared by the outputs plus ``own`` per output, DN/s, shape of the layout."""
    import numpy as np

    n_lines, length = lay.shape
    chans = lay.channel_slices()
    width = max(len(range(length)[sl]) for sl in chans)
    shared = common * pink(rng, n_lines * (width + pause))
    out = np.zeros(lay.shape)
    for k, sl in enumerate(chans):
        series = shared + own * pink(rng, shared.size)
        block = series.reshape(n_lines, width + pause)[:, :width]
        out[:, sl] = block[:, ::-1] if lay.fast_sign[k] < 0 else block
    return out


def stripe_rms(corrected, truth, empty, lay: ReadoutLayout) -> float:
    """Rms of the per-channel line means of ``corrected - truth`` over empty pixels (on the
    lines where every output has some)."""
    import numpy as np

    chans = lay.channel_slices()
    lines = np.all([empty[:, sl].any(axis=1) for sl in chans], axis=0)
    r = np.where(empty, corrected - truth, 0.0)[lines]
    e = empty[lines]
    m = np.stack([r[:, sl].sum(axis=1) / e[:, sl].sum(axis=1) for sl in chans], axis=1)
    return float(np.std(m - m.mean()))
