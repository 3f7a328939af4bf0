"""Library helpers behind the rule scripts: CRDS settings, step overrides, inputs, records."""

from __future__ import annotations

import json
import logging
import os

import pytest
from wf_helpers import make_programme

from jwst1f import pipeline
from jwst1f.pipeline import (
    CRDSSettingsError,
    InputError,
    crds_settings_environment,
    find_inputs,
    jwst_environment,
    log_to_file,
    metrics_table,
    provenance_record,
    step_overrides,
    write_json,
)


def _fake_cache(root):
    (root / "config" / "jwst").mkdir(parents=True)
    (root / "mappings" / "jwst").mkdir(parents=True)
    (root / "config" / "jwst" / "server_config").write_text(
        "{'operational_context': 'jwst_0000.pmap'}"
    )
    (root / "mappings" / "jwst" / "jwst_0000.pmap").write_text("header = {}\n")
    return root


def test_offline_settings_unset_the_server_and_pin_the_cache_context(tmp_path):
    cache = _fake_cache(tmp_path / "cache")
    env = crds_settings_environment({"path": str(cache), "server_url": None})
    assert env["CRDS_PATH"] == str(cache.resolve())
    assert env["CRDS_SERVER_URL"] is None  # unset, not empty
    assert env["CRDS_CONTEXT"] == "jwst_0000.pmap"
    assert env["CRDS_READONLY_CACHE"] == "1"
    assert env["STPIPE_DISABLE_CRDS_STEPPARS"] == "true"
    writable = crds_settings_environment({"path": str(cache)}, readonly=False)
    assert writable["CRDS_READONLY_CACHE"] is None


def test_server_settings_keep_the_url_and_pin(tmp_path):
    env = crds_settings_environment(
        {"path": "~/c", "server_url": "https://jwst-crds.stsci.edu", "context": "jwst_1322.pmap"}
    )
    assert env["CRDS_SERVER_URL"] == "https://jwst-crds.stsci.edu"
    assert env["CRDS_CONTEXT"] == "jwst_1322.pmap"
    assert env["CRDS_PATH"] == os.path.expanduser("~/c")
    assert env["CRDS_READONLY_CACHE"] is None


def test_jwst_environment_refuses_before_jwst_and_restores(tmp_path, monkeypatch):
    monkeypatch.setenv("CRDS_SERVER_URL", "https://example.org")
    monkeypatch.setenv("CRDS_PATH", "/somewhere/else")
    with pytest.raises(CRDSSettingsError, match="CRDS"):
        with jwst_environment({"path": str(tmp_path / "empty")}):
            pytest.fail("must not get here")  # pragma: no cover
    assert os.environ["CRDS_SERVER_URL"] == "https://example.org"
    assert os.environ["CRDS_PATH"] == "/somewhere/else"
    cache = _fake_cache(tmp_path / "cache")
    with jwst_environment({"path": str(cache)}) as env:
        assert "CRDS_SERVER_URL" not in os.environ
        assert os.environ["CRDS_PATH"] == env["CRDS_PATH"]
    assert os.environ["CRDS_SERVER_URL"] == "https://example.org"


def test_step_overrides_add_cores_without_clobbering_user_values():
    steps = step_overrides(
        "detector1", {"jump": {"maximum_cores": "half"}, "refpix": {"skip": True}}, threads=4
    )
    assert steps["jump"]["maximum_cores"] == "half"
    assert steps["ramp_fit"]["maximum_cores"] == "4"
    assert steps["refpix"] == {"skip": True}
    assert step_overrides("image3", None, threads=8) == {}


def test_run_stage_rejects_unknown_stage_and_missing_input(tmp_path):
    with pytest.raises(ValueError, match="unknown stage"):
        pipeline._pipeline_class("image4")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pipeline.run_stage("image2", tmp_path / "x_asn.json", output_dir=tmp_path, crds={})


def test_find_inputs_selection_and_roles(tmp_path):
    raw = tmp_path / "raw"
    make_programme(
        raw,
        exposures=[
            {"EXPOSURE": 1, "DETECTOR": "NRCA1"},
            {"EXPOSURE": 2, "DETECTOR": "NRCA2"},
            {"EXPOSURE": 3, "DETECTOR": "NRCA1", "VISIT": "002"},
            {"EXPOSURE": 4, "DETECTOR": "NRCA1", "BKGDTARG": True},
        ],
    )
    make_programme(raw, exposures=[{"EXPOSURE": 1, "DETECTOR": "NRCA1"}], suffix="rate")
    got = find_inputs({"id": "p", "input": str(raw), "detectors": ["nrca1"], "visits": [1]})
    assert [e.name[-11:] for e in got] == ["00001_nrca1", "00004_nrca1"]
    assert [e.kind for e in got] == ["uncal", "uncal"]
    assert [e.role for e in got] == ["science", "background"]
    rate = find_inputs({"id": "p", "input": str(raw), "start_from": "rate"})
    assert [(e.kind, e.name[-11:]) for e in rate] == [("rate", "00001_nrca1")]
    pattern = find_inputs({"id": "p", "input": "raw/*nrca2_uncal.fits"}, base_dir=tmp_path)
    assert len(pattern) == 1 and pattern[0].info.detector == "NRCA2"
    imprint = find_inputs({"id": "p", "input": str(raw), "imprint": ["*_00003_*"]})
    assert [e.role for e in imprint].count("imprint") == 1


def test_find_inputs_errors_name_the_problem(tmp_path):
    with pytest.raises(InputError, match="'q'.*matches no file"):
        find_inputs({"id": "q", "input": str(tmp_path / "none")})
    raw = tmp_path / "raw"
    make_programme(raw, exposures=[{"EXPOSURE": 1}])
    with pytest.raises(InputError, match="leaves no exposure"):
        find_inputs({"id": "q", "input": str(raw), "detectors": ["NRCB4"]})
    bad = raw / "jw01075001001_03105_00002_nrca2_uncal.fits"
    bad.write_bytes(b"\0" * 100)
    with pytest.raises(InputError, match=bad.name):
        find_inputs({"id": "q", "input": str(raw)})
    with pytest.raises(InputError, match="not a"):
        find_inputs({"id": "q", "input": str(raw / "*"), "start_from": "uncal"})


def test_metrics_table(tmp_path):
    files = []
    for n, (before, after) in enumerate([([2.0, 2.0], [0.5, 0.5]), ([4.0], [1.0])]):
        files.append(
            write_json(
                tmp_path / f"jw01_{n}_rate_1fmetrics.json",
                {
                    "input": f"/x/jw01_{n}_rate.fits",
                    "stripe_rms_before": before,
                    "stripe_rms_after": after,
                    "masked_fraction": 0.1,
                    "seconds": 0.05,
                },
            )
        )
    rows = metrics_table(files, tsv=tmp_path / "m.tsv", html=tmp_path / "m.html")
    assert [r["exposure"] for r in rows] == ["jw01_0", "jw01_1"]
    assert rows[0]["ratio"] == pytest.approx(0.25)
    assert rows[1]["stripe_rms_before"] == pytest.approx(4.0)
    lines = (tmp_path / "m.tsv").read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("exposure\t")
    assert "<table" in (tmp_path / "m.html").read_text()


def test_provenance_record_reads_product_headers(tmp_path):
    from astropy.io import fits

    prod = tmp_path / "x_cal.fits"
    hdu = fits.PrimaryHDU()
    hdu.header["CRDS_CTX"] = "jwst_0000.pmap"
    hdu.header["CAL_VER"] = "3.0.0"
    hdu.writeto(prod)
    crds = write_json(tmp_path / "crds.json", {"context": "jwst_0000.pmap"})
    rec = provenance_record(products=[prod], crds_record=crds, config={"a": 1})
    assert rec["crds"]["contexts_in_products"] == ["jwst_0000.pmap"]
    assert rec["crds"]["prefetch"]["context"] == "jwst_0000.pmap"
    assert rec["products"][0]["CAL_VER"] == "3.0.0"
    assert rec["software"]["jwst"].startswith("3.")
    assert rec["config"] == {"a": 1}
    json.dumps(rec)


def test_log_to_file_captures_logging_and_failures(tmp_path):
    log = tmp_path / "logs" / "x.log"
    # as after an in-process `jwst1f destripe -q`: the job's own messages must still be logged
    logging.getLogger("jwst1f").setLevel(logging.WARNING)
    with pytest.raises(RuntimeError):
        with log_to_file(log):
            logging.getLogger("jwst1f.test").info("hello from the job")
            os.write(2, b"raw stderr\n")
            raise RuntimeError("boom")
    text = log.read_text()
    assert "hello from the job" in text
    assert "raw stderr" in text
    assert "RuntimeError: boom" in text
    assert logging.getLogger("jwst1f").level == logging.WARNING  # restored afterwards
    logging.getLogger("jwst1f").setLevel(logging.NOTSET)
