"""Destripe1fStep inside a real jwst pipeline: a post-hook of Detector1's gain_scale.

Runs the unmodified ``Detector1Pipeline`` on a simulated NIRCam SUB160 uncal file against the
project's offline CRDS cache, in a subprocess (CRDS reads its environment at import).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from astropy.io import fits
from stdatamodels.jwst import datamodels

pytestmark = pytest.mark.slow

RUN = textwrap.dedent(
    """
    import sys
    from jwst.pipeline import Detector1Pipeline

    Detector1Pipeline.call(
        sys.argv[1],
        output_dir=sys.argv[2],
        save_results=True,
        steps={"gain_scale": {"post_hooks": ["jwst1f.step.Destripe1fStep"]}},
    )
    """
)


def test_detector1_with_destripe_post_hook(tmp_path):
    from jwst1f.offline_crds import build_cache, offline_environ
    from jwst1f.simulate import simulate_exposure, write_uncal

    cache = build_cache(tmp_path / "crds", detectors=["NRCA1"], filters=["F200W"], progress=False)
    exp = simulate_exposure(detector="NRCA1", subarray="SUB160", ngroups=5, keep_ramp=True)
    uncal = write_uncal(exp, tmp_path / "raw")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(uncal), str(out)],
        env=offline_environ(cache),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    stem = uncal.name.replace("_uncal.fits", "")
    for suffix, kind in (("rate", datamodels.ImageModel), ("rateints", datamodels.CubeModel)):
        path = out / f"{stem}_{suffix}.fits"
        with datamodels.open(path) as m:
            assert isinstance(m, kind)
            assert m.meta.cal_step.ramp_fit == "COMPLETE"
            assert m.meta.cal_step.destripe_1f == "COMPLETE"
        hdr = fits.getheader(path)
        assert hdr["J1FSTAT"] == "COMPLETE"
        assert hdr["J1FRMSA"] < hdr["J1FRMSB"]
    assert "Step destripe_1f done" in proc.stderr
