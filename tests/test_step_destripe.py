"""jwst1f.step.Destripe1fStep: stpipe step on models, via strun, and registered with stpipe."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from stdatamodels.jwst import datamodels
from test_io_helpers import file_digest, make_rate

from jwst1f.io import destripe_file
from jwst1f.step import Destripe1fStep, _get_steps


def _offline_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    env["STPIPE_DISABLE_CRDS_STEPPARS"] = "true"
    env["CRDS_PATH"] = str(tmp_path / "no-crds-cache")  # empty: nothing may be looked up
    return env


def test_spec_mirrors_destripe_params():
    from jwst1f.params import DestripeParams

    spec = Destripe1fStep.spec
    for name in DestripeParams.field_names():
        assert f"\n    {name} = " in spec, name
    for name in ("params_file", "user_mask", "update_variance", "save_stripe_model"):
        assert f"{name} = " in spec
    assert Destripe1fStep.reference_file_types == []
    assert Destripe1fStep.class_alias == "destripe_1f"


def test_entry_point_tuples():
    steps = _get_steps()
    assert steps == [("jwst1f.step.Destripe1fStep", "destripe_1f", False)]
    from importlib.metadata import entry_points

    eps = [ep for ep in entry_points(group="stpipe.steps") if ep.name == "jwst1f"]
    assert eps and eps[0].load()() == steps
    from stpipe.utilities import resolve_step_class_alias

    assert resolve_step_class_alias("destripe_1f") == "jwst1f.step.Destripe1fStep"


def test_run_on_image_model_returns_a_corrected_copy(tmp_path):
    src = make_rate(tmp_path / "x_rate.fits")
    with datamodels.open(src) as model:
        before = model.data.copy()
        var_before = model.var_rnoise.copy()
        result = Destripe1fStep().run(model)
        np.testing.assert_array_equal(model.data, before)  # input model untouched
        assert result is not model
    assert result.meta.cal_step.destripe_1f == "COMPLETE"
    assert np.all(result.var_rnoise >= var_before) and np.any(result.var_rnoise > var_before)
    # same numbers as the file layer
    out = destripe_file(src, tmp_path / "io")
    with fits.open(out) as hdul:
        np.testing.assert_array_equal(result.data, hdul["SCI"].data)
        np.testing.assert_allclose(result.err, hdul["ERR"].data, rtol=1e-6)
    result.save(tmp_path / "saved.fits")
    hdr = fits.getheader(tmp_path / "saved.fits")
    assert hdr["J1FSTAT"] == "COMPLETE"
    assert json.loads(hdr["J1FPARS"])["clip_sigma"] == 3.0
    assert any("jwst1f" in str(h) for h in hdr["HISTORY"])


def test_run_on_cube_model_with_parameters(tmp_path):
    src = make_rate(tmp_path / "x_rateints.fits", nints=2)
    step = Destripe1fStep(clip_sigma=2.5, update_variance=False)
    with datamodels.open(src) as model:
        result = step.run(model)
        np.testing.assert_array_equal(result.var_rnoise, model.var_rnoise)
    assert isinstance(result, datamodels.CubeModel) and result.data.shape == (2, 160, 160)
    result.save(tmp_path / "c.fits")
    assert json.loads(fits.getval(tmp_path / "c.fits", "J1FPARS"))["clip_sigma"] == 2.5


def test_unsupported_exposure_is_skipped_not_crashed(tmp_path):
    src = make_rate(tmp_path / "x_rate.fits")
    with datamodels.open(src) as model:
        model.meta.instrument.name = "FGS"
        model.meta.instrument.detector = "GUIDER1"
        model.meta.exposure.type = "FGS_IMAGE"
        result = Destripe1fStep().run(model)
        np.testing.assert_array_equal(result.data, model.data)
    assert result.meta.cal_step.destripe_1f == "SKIPPED"


def _strun() -> list[str]:
    exe = shutil.which("strun") or str(Path(sys.executable).with_name("strun"))
    return [exe]


@pytest.mark.parametrize(
    "name", ["destripe_1f", pytest.param("jwst1f.step.Destripe1fStep", marks=pytest.mark.slow)]
)
def test_strun_offline(tmp_path, name):
    src = make_rate(tmp_path / "jw01_nrca1_rate.fits")
    digest = file_digest(src)
    out = tmp_path / "out"
    proc = subprocess.run(
        _strun()
        + [name, str(src), f"--output_dir={out}", "--clip_sigma=2.5", "--save_stripe_model=true"],
        capture_output=True,
        text=True,
        timeout=300,
        env=_offline_env(tmp_path),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert file_digest(src) == digest
    produced = sorted(p.name for p in out.iterdir())
    assert produced == ["jw01_nrca1_destripe1fstep.fits", "jw01_nrca1_rate_1fmodel.fits"], produced
    with datamodels.open(out / "jw01_nrca1_destripe1fstep.fits") as m:
        assert m.meta.cal_step.destripe_1f == "COMPLETE"
    assert json.loads(fits.getval(out / "jw01_nrca1_destripe1fstep.fits", "J1FPARS"))[
        "clip_sigma"
    ] == pytest.approx(2.5)
