"""Dry-run DAGs for several configs (jobs per rule), snakemake --lint and snakefmt.

Marked slow: each test starts snakemake in a subprocess (3-10 s each).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from wf_helpers import REPO, SNAKEFILE, dry_run_counts, make_programme, run_snakemake, write_config

# Each test starts snakemake in a subprocess (a few seconds each): run with the slow tests.
pytestmark = pytest.mark.slow

NIRCAM = [
    {"EXPOSURE": e, "DETECTOR": d, "FILTER": f}
    for e, f in ((1, "F200W"), (2, "F200W"), (3, "F150W"))
    for d in ("NRCA1", "NRCA2", "NRCA3")
]


def _config(tmp_path, programmes, **extra):
    cfg = {"programmes": programmes, "crds": {"path": "crds", "offline_cache": True}, **extra}
    return write_config(tmp_path / "config.yaml", cfg)


def test_imaging_from_uncal(tmp_path):
    make_programme(tmp_path / "raw", exposures=NIRCAM)
    counts = dry_run_counts(tmp_path, _config(tmp_path, [{"id": "img", "input": "raw"}]))
    assert counts == {
        "crds_prefetch": 1,
        "detector1": 9,
        "destripe": 9,
        "level2_association": 9,
        "image2": 9,
        "level3_manifest": 1,  # image3 jobs appear once the checkpoint has read the headers
        "qa_metrics_table": 1,
        "provenance": 1,
        "all": 1,
        "total": 41,
    }


def test_selection_of_detectors_and_observations(tmp_path):
    exps = NIRCAM + [{"EXPOSURE": 1, "DETECTOR": "NRCA1", "OBSERVTN": "002"}]
    make_programme(tmp_path / "raw", exposures=exps)
    prog = {"id": "sel", "input": "raw/*_uncal.fits", "detectors": ["nrca2"], "observations": [1]}
    counts = dry_run_counts(tmp_path, _config(tmp_path, [prog]))
    assert counts["detector1"] == 3
    assert counts["image2"] == 3


def test_start_from_rate_skips_detector1(tmp_path):
    make_programme(tmp_path / "raw", exposures=NIRCAM[:4], suffix="rate")
    counts = dry_run_counts(tmp_path, _config(tmp_path, [{"id": "r", "input": "raw"}]))
    assert "detector1" not in counts
    assert counts["destripe"] == 4
    assert counts["image2"] == 4


def test_rate_without_destripe_is_copied_beside_its_association(tmp_path):
    make_programme(tmp_path / "raw", exposures=NIRCAM[:2], suffix="rate")
    cfg = _config(tmp_path, [{"id": "r", "input": "raw"}], stages={"destripe": False})
    counts = dry_run_counts(tmp_path, cfg)
    assert counts["detector1"] == 2  # a copy into results/r/detector1/
    assert "destripe" not in counts and "qa_metrics_table" not in counts
    assert counts["level2_association"] == 2


def test_uncal_preferred_over_rate_and_start_from(tmp_path):
    make_programme(tmp_path / "raw", exposures=NIRCAM[:3], suffix="uncal")
    make_programme(tmp_path / "raw", exposures=NIRCAM[:3], suffix="rate")
    auto = dry_run_counts(tmp_path, _config(tmp_path, [{"id": "a", "input": "raw"}]))
    assert auto["detector1"] == 3 and auto["destripe"] == 3
    rate = dry_run_counts(
        tmp_path, _config(tmp_path, [{"id": "a", "input": "raw", "start_from": "rate"}])
    )
    assert "detector1" not in rate and rate["destripe"] == 3


def test_spectroscopy_with_background_and_imprint(tmp_path):
    ifu = {"EXP_TYPE": "NRS_IFU", "INSTRUME": "NIRSPEC", "GRATING": "G140H", "FILTER": "F100LP"}
    exps = [{**ifu, "EXPOSURE": e, "DETECTOR": d} for e in (1, 2) for d in ("NRS1", "NRS2")]
    exps += [{**ifu, "EXPOSURE": 5, "DETECTOR": d, "BKGDTARG": True} for d in ("NRS1", "NRS2")]
    exps += [{**ifu, "EXPOSURE": 6, "DETECTOR": "NRS1"}]
    make_programme(tmp_path / "raw", exposures=exps)
    prog = {"id": "ifu", "input": "raw", "imprint": ["*_00006_*"]}
    counts = dry_run_counts(tmp_path, _config(tmp_path, [prog]))
    assert counts["detector1"] == 7 and counts["destripe"] == 7
    assert counts["level2_association"] == 4  # science only
    assert counts["spec2"] == 4
    assert "image2" not in counts
    assert counts["level3_manifest"] == 1


def test_stage_switches_and_two_programmes(tmp_path):
    make_programme(tmp_path / "raw", exposures=NIRCAM[:3])
    progs = [
        {"id": "one", "input": "raw"},
        {"id": "two", "input": "raw", "stages": {"image2": False}},
    ]
    counts = dry_run_counts(tmp_path, _config(tmp_path, progs, stages={"image3": False}))
    assert counts["detector1"] == 6 and counts["destripe"] == 6
    assert counts["image2"] == 3  # programme "two" stops after destriping...
    assert counts["level2_association"] == 6  # ...but its associations are written
    assert "level3_manifest" not in counts
    assert counts["provenance"] == 2 and counts["qa_metrics_table"] == 2
    assert counts["crds_prefetch"] == 1  # once for the whole run


def test_duplicate_programme_id_is_refused(tmp_path):
    make_programme(tmp_path / "raw", exposures=NIRCAM[:1])
    cfg = _config(tmp_path, [{"id": "x", "input": "raw"}, {"id": "x", "input": "raw"}])
    proc = run_snakemake(tmp_path, cfg, "-n", "--cores", "1")
    assert proc.returncode != 0
    assert "'x' is used twice" in proc.stderr + proc.stdout


def test_snakemake_lint_is_clean(tmp_path):
    make_programme(tmp_path / "raw", exposures=NIRCAM[:2])
    proc = run_snakemake(tmp_path, _config(tmp_path, [{"id": "l", "input": "raw"}]), "--lint")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


def test_snakefmt_check_is_clean():
    proc = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", str(REPO / "workflow")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert SNAKEFILE.is_file()


@pytest.mark.parametrize("name", ["config.yaml"])
def test_template_config_fails_cleanly_without_data(tmp_path, name):
    """The template points at data that is not here: the message says so, no traceback."""
    proc = run_snakemake(tmp_path, REPO / "config" / name, "-n", "--cores", "1")
    out = proc.stderr + proc.stdout
    assert proc.returncode != 0
    assert "programme 'jw01345': input 'data/jw01345/' matches no file" in out
