"""jwst1f.offline_crds.build_cache: layout, mappings, content, incremental rebuilds, CLI."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from jwst1f import instruments
from jwst1f.offline_crds import build_cache, offline_environ
from jwst1f.offline_crds.build import MANIFEST, planned_references

DETECTOR1_TYPES = {"mask", "saturation", "superbias", "linearity", "dark", "gain", "readnoise"}
IMAGE2_TYPES = {"distortion", "flat", "photom", "area"}


@pytest.fixture(scope="module")
def miri_cache(tmp_path_factory):
    """The smallest real cache: the MIRI imager (1032 x 1024), one flat filter."""
    root = tmp_path_factory.mktemp("crds") / "cache"
    build_cache(root, detectors=["MIRIMAGE"], filters=["F770W"], progress=False)
    return root


def test_layout_and_server_config(miri_cache):
    cfg = ast.literal_eval((miri_cache / "config/jwst/server_config").read_text())
    assert cfg["operational_context"] == "jwst_0000.pmap"
    assert cfg["observatory"] == "jwst"
    assert (miri_cache / "mappings/jwst/jwst_0000.pmap").is_file()
    for inst in ("miri", "nircam", "niriss", "nirspec", "fgs"):
        assert (miri_cache / f"mappings/jwst/jwst_{inst}_0000.imap").is_file()
    refs = sorted(p.name for p in (miri_cache / "references/jwst/miri").iterdir())
    kinds = {name.split("_")[2] for name in refs}
    assert (DETECTOR1_TYPES - {"superbias"}) | IMAGE2_TYPES <= kinds
    assert {"apcorr", "abvegaoffset", "filteroffset"} <= kinds
    assert not any(name.endswith(".part.fits") for name in refs)
    manifest = json.loads((miri_cache / MANIFEST).read_text())
    assert set(manifest["files"]) == set(refs)


def test_imap_names_rmaps_or_na(miri_cache):
    text = (miri_cache / "mappings/jwst/jwst_miri_0000.imap").read_text()
    selector = ast.literal_eval(text.split("selector =", 1)[1])
    assert selector["dark"] == "jwst_miri_dark_0000.rmap"
    assert selector["distortion"] == "jwst_miri_distortion_0000.rmap"
    # Not modelled by the simulator: the steps skip themselves.
    for reftype in ("rscd", "reset", "emicorr", "ipc", "pars-detector1pipeline"):
        assert selector[reftype] == "N/A"
    # every rmap that the imap names exists
    for value in selector.values():
        if value != "N/A":
            assert (miri_cache / "mappings/jwst" / value).is_file()


def test_reference_content_matches_the_simulator(miri_cache):
    from stdatamodels.jwst import datamodels as dm

    ref = miri_cache / "references/jwst/miri"
    manifest = json.loads((miri_cache / MANIFEST).read_text())["files"]
    by_kind = {(e["reftype"], tuple(e["match"])): name for name, e in manifest.items()}
    with dm.GainModel(ref / by_kind[("gain", ("MIRIMAGE",))]) as m:
        np.testing.assert_array_equal(m.data, instruments.gain_map("MIRIMAGE"))
    with dm.ReadnoiseModel(ref / by_kind[("readnoise", ("MIRIMAGE",))]) as m:
        # CDS noise, the CRDS convention (stcal ramp_fit divides by sqrt(2 * nframes))
        expected = instruments.readnoise_map("MIRIMAGE") * np.float32(np.sqrt(2.0))
        np.testing.assert_allclose(m.data, expected, rtol=1e-6)
    with dm.FlatModel(ref / by_kind[("flat", ("MIRIMAGE", "F770W"))]) as m:
        np.testing.assert_array_equal(m.data, instruments.flat_map("MIRIMAGE", "F770W"))
        assert m.meta.instrument.filter == "F770W"
    sub = instruments.get_subarray("MIRIMAGE", "SUB256")
    with dm.DarkMIRIModel(ref / by_kind[("dark", ("MIRIMAGE", "SUB256"))]) as m:
        assert m.data.shape == (1, 2, 256, 256)
        tframe = instruments.frame_time("MIRIMAGE", sub)
        dark = instruments.dark_map("MIRIMAGE")[instruments.subarray_slices(sub)]
        np.testing.assert_allclose(m.data[0, 1], 2 * dark * tframe, rtol=1e-6)
        assert m.meta.subarray.xstart == sub.xstart
    with dm.MaskModel(ref / by_kind[("mask", ("MIRIMAGE",))]) as m:
        refpix = instruments.reference_pixel_mask("MIRIMAGE")
        assert np.all(m.dq[refpix] & 2**31)
        assert not np.any(m.dq[~refpix])
    with dm.PixelAreaModel(ref / by_kind[("area", ("MIRIMAGE",))]) as m:
        assert abs(float(np.mean(m.data)) - 1.0) < 1e-3
        assert 0.010 < m.meta.photometry.pixelarea_arcsecsq < 0.0135  # (0.11 arcsec)**2


def test_mappings_resolve_offline_for_simulated_metadata(miri_cache, tmp_path):
    """crds.getreferences in a fresh process, no server, real mapping checksums."""
    code = textwrap.dedent(
        """
        import json, crds
        hdr = {
            "META.INSTRUMENT.NAME": "MIRI", "META.INSTRUMENT.DETECTOR": "MIRIMAGE",
            "META.INSTRUMENT.FILTER": "F770W", "META.SUBARRAY.NAME": "SUB256",
            "META.EXPOSURE.TYPE": "MIR_IMAGE", "META.OBSERVATION.DATE": "2024-05-01",
            "META.OBSERVATION.TIME": "12:00:00",
        }
        types = ["dark", "flat", "mask", "distortion", "photom", "area", "filteroffset",
                 "apcorr", "rscd", "gain"]
        print(json.dumps(crds.getreferences(hdr, reftypes=types, observatory="jwst")))
        """
    )
    env = offline_environ(miri_cache)
    env.pop("CRDS_IGNORE_MAPPING_CHECKSUM", None)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    refs = json.loads(proc.stdout.strip().splitlines()[-1])
    root = str(miri_cache)
    for reftype in ("dark", "flat", "mask", "distortion", "photom", "area", "gain"):
        assert refs[reftype].startswith(root), (reftype, refs[reftype])
        assert os.path.isfile(refs[reftype])
    assert "rscd" in refs and refs["rscd"].upper().startswith("NOT FOUND N/A")
    with open(refs["dark"], "rb") as fh:
        assert b"SUB256" in fh.read(20000)


def test_incremental_rebuild_is_a_no_op_and_force_rewrites(miri_cache):
    files = sorted((miri_cache / "references/jwst/miri").iterdir())
    before = {p.name: p.stat().st_mtime_ns for p in files}
    build_cache(miri_cache, detectors=["MIRIMAGE"], filters=["F770W"], progress=False)
    after = {p.name: p.stat().st_mtime_ns for p in (miri_cache / "references/jwst/miri").iterdir()}
    assert after == before
    # a file deleted by hand is rebuilt; the others are untouched
    victim = next(p for p in files if "_gain_" in p.name)
    victim.unlink()
    build_cache(miri_cache, detectors=["MIRIMAGE"], filters=["F770W"], progress=False)
    assert victim.is_file()
    again = {p.name: p.stat().st_mtime_ns for p in (miri_cache / "references/jwst/miri").iterdir()}
    changed = {name for name in again if again[name] != before.get(name)}
    assert changed == {victim.name}


def test_planned_references_cover_every_pipeline_type():
    kinds = {(s.instrument, s.reftype) for s in planned_references(["NRCA1", "NIS", "NRS1"])}
    for inst in ("nircam", "niriss"):
        for reftype in DETECTOR1_TYPES | IMAGE2_TYPES | {"apcorr", "abvegaoffset"}:
            assert (inst, reftype) in kinds, (inst, reftype)
    # NIRSpec: Detector1 only (no synthetic NIRSpec optical model)
    nrs = {r for i, r in kinds if i == "nirspec"}
    assert nrs == DETECTOR1_TYPES
    darks = [s for s in planned_references(["NRCA1"]) if s.reftype == "dark"]
    assert {s.match[1] for s in darks} >= {"FULL", "SUB640", "SUBGRISM256"}
    every = planned_references(["ALL"])
    assert len({s.filename for s in every}) == len(every)


def test_unknown_detector_and_filter():
    with pytest.raises(ValueError, match="unknown detector 'NRCC1'"):
        planned_references(["NRCC1"])
    with pytest.raises(ValueError, match="unknown imaging filter"):
        planned_references(["NRCA1"], filters=["F999W"])


def test_cli_help_and_error():
    proc = subprocess.run(
        [sys.executable, "-m", "jwst1f", "offline-crds", "--help"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0
    assert "--detectors" in proc.stdout and "CRDS_SERVER_URL" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "jwst1f", "offline-crds", "/tmp/never-built", "--detectors", "XX"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "unknown detector" in proc.stderr
    assert not os.path.exists("/tmp/never-built")


def test_every_mapping_passes_the_crds_checksum(miri_cache):
    from crds.core import rmap

    mappings = sorted((miri_cache / "mappings/jwst").iterdir())
    assert len(mappings) > 10
    for path in mappings:
        mapping = rmap.Mapping.from_file(str(path), ignore_checksum=False)
        assert mapping.header["sha1sum"] != "0" * 40
    # a tampered mapping is detected
    victim = miri_cache / "mappings/jwst/jwst_miri_gain_0000.rmap"
    original = victim.read_text()
    try:
        victim.write_text(original.replace("2000-01-01 00:00:00", "2000-01-02 00:00:00"))
        with pytest.raises(Exception, match="sha1sum mismatch"):
            rmap.Mapping.from_file(str(victim), ignore_checksum=False)
    finally:
        victim.write_text(original)


def test_cli_update_logs_and_prints_environment(miri_cache):
    proc = subprocess.run(
        [sys.executable, "-m", "jwst1f", "offline-crds", str(miri_cache),
         "--detectors", "MIRIMAGE", "--filters", "F770W", "--print-env"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"export CRDS_PATH={miri_cache}" in proc.stdout
    assert "export STPIPE_DISABLE_CRDS_STEPPARS=true" in proc.stdout
    assert "unset CRDS_SERVER_URL" in proc.stdout
    # an up-to-date cache: the log says so and nothing is rewritten
    assert "0 to write" in proc.stderr
    assert "ready: context jwst_0000.pmap" in proc.stderr


@pytest.mark.slow
def test_concurrent_builds_are_serialised(tmp_path):
    """Two processes building one new cache: one writes everything, the other waits, then
    finds every file up to date."""
    root = tmp_path / "shared"
    cmd = [sys.executable, "-m", "jwst1f", "offline-crds", str(root), "--no-progress",
           "--detectors", "MIRIMAGE", "--filters", "F770W"]  # fmt: skip
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    logs = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), logs
    writes = sorted("0 to write" in log for log in logs)
    assert writes == [False, True], logs
    manifest = json.loads((root / MANIFEST).read_text())
    on_disk = {p.name for p in (root / "references/jwst/miri").iterdir()}
    assert set(manifest["files"]) == on_disk
