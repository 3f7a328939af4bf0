"""A failing exposure leaves the others' products intact, and the run resumes (slow)."""

from __future__ import annotations

import shutil

import pytest
from astropy.io import fits
from wf_helpers import FLIGHT_DIR, dry_run_counts, run_snakemake, write_config

pytestmark = pytest.mark.slow


def _simulated_rates(folder):
    from jwst1f.simulate import simulate_exposure, write_rate
    from jwst1f.simulate.metadata import ExposureIds

    out = []
    for n in (1, 2, 3):
        exp = simulate_exposure(
            detector="NRCA1", subarray="SUB160", ngroups=3, seed=n, ids=ExposureIds(exposure=n)
        )
        out.append(write_rate(exp, folder))
    return out


def test_failing_exposure_is_isolated_and_the_run_resumes(tmp_path):
    raw = tmp_path / "raw"
    good1, bad, good3 = _simulated_rates(raw)
    kept = tmp_path / "kept_rate.fits"
    shutil.move(bad, kept)
    # a rate file whose header is fine but which holds no SCI image: destriping must fail
    shutil.copyfile(FLIGHT_DIR / "jw01075001001_03105_00009_nrca2_uncal.fits", bad)
    with fits.open(bad, mode="update") as hdul:
        hdul[0].header["FILENAME"] = bad.name
        del hdul[1:]
    cfg = write_config(
        tmp_path / "c.yaml",
        {
            "programmes": [{"id": "f", "input": "raw"}],
            "crds": {"path": "no-cache-needed"},
            "stages": {"image2": False, "image3": False},
        },
    )
    proc = run_snakemake(tmp_path, cfg, "--cores", "2", "--keep-going")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Error in rule destripe" in out
    done = tmp_path / "results/f/destripe"
    assert sorted(p.name for p in done.glob("*_rate.fits")) == [good1.name, good3.name]
    for p in (good1, good3):
        with fits.open(done / p.name) as hdul:
            assert hdul[0].header["J1FSTAT"] == "COMPLETE"
            assert hdul["SCI"].data.shape == (160, 160)
    assert not (done / bad.name).exists()
    log = (tmp_path / f"results/f/logs/destripe/{bad.name[:-10]}.log").read_text()
    assert bad.name in log
    assert not (tmp_path / "results/crds_prefetch.json").exists()  # no jwst stage: no CRDS

    # fix the input: only the failed exposure and what depends on it run again
    shutil.copyfile(kept, bad)
    counts = dry_run_counts(tmp_path, cfg)
    assert counts["destripe"] == 1
    assert counts["level2_association"] == 1
    assert counts["qa_metrics_table"] == 1
    proc = run_snakemake(tmp_path, cfg, "--cores", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(list(done.glob("*_rate.fits"))) == 3
    assert dry_run_counts(tmp_path, cfg) == {}
