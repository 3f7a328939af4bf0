"""The workflow config: schema validation (errors name the key), defaults, precedence."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml
from snakemake.utils import validate
from wf_helpers import REPO, make_programme, run_snakemake, write_config

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _minimal() -> dict:
    return {"programmes": [{"id": "p1", "input": "raw"}], "crds": {"path": "crds"}}


def _error(config: dict) -> str:
    with pytest.raises(Exception) as info:  # snakemake wraps jsonschema's ValidationError
        validate(config, str(SCHEMA))
    return str(info.value)


def test_minimal_config_gets_defaults():
    config = _minimal()
    validate(config, str(SCHEMA))
    assert config["stages"] == {
        s: True for s in ("detector1", "destripe", "image2", "image3", "spec2", "spec3", "qa")
    }
    assert config["crds"]["server_url"] is None
    assert config["crds"]["offline_cache"] is False
    assert config["threads"]["detector1"] == 2
    assert config["temporary"] == {"detector1": False, "destripe": False, "stage2": False}
    assert config["programmes"][0]["start_from"] == "auto"
    assert config["destripe"] == {"default": {}, "instrument": {}, "exp_type": {}, "detector": {}}


@pytest.mark.parametrize("name", ["config.yaml", "demo.yaml"])
def test_shipped_configs_are_valid(name):
    config = yaml.safe_load((REPO / "config" / name).read_text())
    validate(config, str(SCHEMA))


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda c: c.update(stagez={}), "stagez"),
        (lambda c: c["programmes"][0].update(detectorz=["NRCA1"]), "detectorz"),
        (lambda c: c["programmes"][0].pop("input"), "'input' is a required property"),
        (lambda c: c["programmes"][0].update(id="bad/id"), "bad/id"),
        (lambda c: c.update(threads={"detector1": 0}), "detector1"),
        (lambda c: c["crds"].update(server_url="ftp://x"), "ftp://x"),
        (lambda c: c["crds"].update(context="hst.pmap"), "hst.pmap"),
        (lambda c: c.update(stages={"image3": "yes"}), "'yes' is not of type 'boolean'"),
        (lambda c: c.update(destripe={"detectors": {}}), "detectors"),
        (lambda c: c.update(steps={"image4": {}}), "image4"),
        (lambda c: c["programmes"][0].update(start_from="cal"), "cal"),
        (lambda c: c.pop("crds"), "'crds' is a required property"),
    ],
)
def test_bad_config_names_the_key(mutate, named):
    config = _minimal()
    mutate(config)
    assert named in _error(config)


@pytest.mark.slow  # starts snakemake in a subprocess
def test_bad_config_fails_the_run_before_any_job(tmp_path):
    make_programme(tmp_path / "raw", exposures=[{"EXPOSURE": 1}])
    cfg = _minimal()
    cfg["programmes"][0]["observatons"] = [1]
    proc = run_snakemake(tmp_path, write_config(tmp_path / "c.yaml", cfg), "-n", "--cores", "1")
    assert proc.returncode != 0
    assert "observatons" in proc.stderr + proc.stdout
    assert not (tmp_path / "results").exists()


@pytest.mark.slow  # starts snakemake in a subprocess
def test_missing_input_is_named_before_any_job(tmp_path):
    cfg = _minimal()
    cfg["programmes"][0]["input"] = "nowhere/*_uncal.fits"
    proc = run_snakemake(tmp_path, write_config(tmp_path / "c.yaml", cfg), "--cores", "1")
    out = proc.stderr + proc.stdout
    assert proc.returncode != 0
    assert "nowhere/*_uncal.fits" in out and "matches no file" in out
    assert not (tmp_path / "results").exists()


@pytest.mark.slow  # starts snakemake in a subprocess
def test_unreadable_input_is_named(tmp_path):
    (tmp_path / "raw").mkdir()
    bad = tmp_path / "raw" / "jw01075001001_03105_00001_nrca1_uncal.fits"
    bad.write_text("not a FITS file")
    proc = run_snakemake(
        tmp_path, write_config(tmp_path / "c.yaml", _minimal()), "-n", "--cores", "1"
    )
    out = proc.stderr + proc.stdout
    assert proc.returncode != 0
    assert bad.name in out and "cannot read the FITS header" in out


@pytest.mark.slow  # starts snakemake in a subprocess
def test_unknown_destripe_parameter_is_named(tmp_path):
    make_programme(tmp_path / "raw", exposures=[{"EXPOSURE": 1}])
    cfg = _minimal()
    cfg["destripe"] = {"instrument": {"NIRCAM": {"clip_sigmaa": 3}}}
    proc = run_snakemake(tmp_path, write_config(tmp_path / "c.yaml", cfg), "-n", "--cores", "1")
    assert proc.returncode != 0
    assert "clip_sigmaa" in proc.stderr + proc.stdout


@pytest.mark.slow  # starts snakemake in a subprocess
def test_destripe_precedence_through_the_config(tmp_path):
    """default < instrument < exp_type < detector < programme, as the workflow resolves it."""
    make_programme(
        tmp_path / "raw",
        exposures=[
            {"EXPOSURE": 1, "DETECTOR": "NRCA1"},
            {"EXPOSURE": 2, "DETECTOR": "NRCA2"},
            {"EXPOSURE": 3, "DETECTOR": "NRCA3"},
        ],
    )
    cfg = {
        "programmes": [
            {"id": "a", "input": "raw", "detectors": ["NRCA1", "NRCA2"]},
            {"id": "b", "input": "raw", "destripe": {"clip_sigma": 5.0}},
        ],
        "crds": {"path": "crds"},
        "destripe": {
            "default": {
                "clip_sigma": 2.0,
                "dilate_radius": 1,
                "background_box": 16,
                "min_pixels": 7,
            },
            "instrument": {"NIRCAM": {"clip_sigma": 2.5, "dilate_radius": 3, "background_box": 32}},
            "exp_type": {"NRC_IMAGE": {"clip_sigma": 2.8, "dilate_radius": 4}},
            "detector": {"NRCA2": {"clip_sigma": 4.0}},
        },
    }
    config = write_config(tmp_path / "c.yaml", cfg)
    snakefile = tmp_path / "Dump"
    snakefile.write_text(
        textwrap.dedent(
            f"""
            include: "{REPO / "workflow" / "rules" / "common.smk"}"

            rule dump:
                output: "params.json"
                run:
                    import json
                    with open(output[0], "w") as fh:
                        json.dump({{p: v["destripe_params"] for p, v in PROGRAMMES.items()}}, fh)
            """
        )
    )
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--configfile", str(config)]
        + ["--cores", "1", "dump"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads((tmp_path / "params.json").read_text())
    a = got["a"]
    assert set(a) == {"jw01075001001_03105_00001_nrca1", "jw01075001001_03105_00002_nrca2"}
    a1, a2 = a["jw01075001001_03105_00001_nrca1"], a["jw01075001001_03105_00002_nrca2"]
    assert a1["min_pixels"] == 7  # default only
    assert a1["background_box"] == 32  # instrument over default
    assert a1["dilate_radius"] == 4  # exp_type over instrument
    assert a1["clip_sigma"] == 2.8  # exp_type (no detector layer for NRCA1)
    assert a2["clip_sigma"] == 4.0  # detector over exp_type
    b = got["b"]
    assert len(b) == 3
    assert all(p["clip_sigma"] == 5.0 for p in b.values())  # programme over everything
    assert all(p["dilate_radius"] == 4 for p in b.values())
