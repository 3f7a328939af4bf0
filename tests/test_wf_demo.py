"""End to end (slow): the offline demo through the workflow, rerun no-op, one-parameter change.

One module-scoped run of ``scripts/demo.sh`` on a copy of the workflow files, then checks on its
products. About 3-6 minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from astropy.io import fits
from jwst.associations import load_asn
from wf_helpers import REPO, dry_run_counts

pytestmark = pytest.mark.slow


def _snakefile(root: Path) -> Path:
    return root / "workflow" / "Snakefile"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Run scripts/demo.sh in a copy of the repository's workflow files."""
    root = tmp_path_factory.mktemp("demo")
    for name in ("workflow", "config", "scripts", "profiles"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("slurm"))
    env = dict(os.environ)
    env.pop("CRDS_SERVER_URL", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["CORES"] = "2"
    proc = subprocess.run(
        ["bash", "scripts/demo.sh"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    return root, proc.stdout


def test_demo_makes_the_mosaic_and_the_report(demo):
    root, out = demo
    (mosaic,) = sorted((root / "results/demo-nircam/image3").glob("*_i2d.fits"))
    assert mosaic.name == "jw01234-o001_t001_nircam_clear-f200w_i2d.fits"
    with fits.open(mosaic) as hdul:
        sci = hdul["SCI"].data
        assert sci.ndim == 2 and min(sci.shape) > 2000  # three dithered full frames
        assert hdul[0].header["CRDS_CTX"] == "jwst_0000.pmap"
    report = root / "results/report.html"
    assert report.stat().st_size > 100_000
    assert "results/report.html" in out and str(mosaic.name) in out


def test_demo_products_and_associations(demo):
    root, _ = demo
    nircam = root / "results/demo-nircam"
    cals = sorted((nircam / "image2").glob("*_cal.fits"))
    assert len(cals) == 3
    for cal in cals:
        with fits.open(cal) as hdul:
            # the stage-2 input was the destriped rate file
            assert hdul[0].header["J1FSTAT"] == "COMPLETE"
    for asn_path in sorted((nircam / "destripe").glob("*_asn.json")) + sorted(
        (nircam / "image2").glob("*_asn.json")
    ):
        with open(asn_path) as fh:
            asn = load_asn(fh)
        for prod in asn["products"]:
            for member in prod["members"]:
                assert (asn_path.parent / member["expname"]).is_file()
    nirspec = root / "results/demo-nirspec"
    assert len(sorted((nirspec / "destripe").glob("*_rate.fits"))) == 2
    assert len(sorted((nirspec / "destripe").glob("*_asn.json"))) == 2
    assert not (nirspec / "spec2").exists()


def test_demo_records_provenance_and_qa(demo):
    root, _ = demo
    prov = json.loads((root / "results/demo-nircam/provenance.json").read_text())
    assert prov["software"]["jwst"].startswith("3.")
    assert prov["crds"]["contexts_in_products"] == ["jwst_0000.pmap"]
    assert prov["crds"]["prefetch"]["mode"] == "offline-synthetic-cache"
    assert len(prov["destripe"]) == 3
    assert prov["config"]["crds"]["offline_cache"] is True
    qa = root / "results/demo-nircam/qa"
    assert len(list((qa / "figures").glob("*/*.png"))) >= 3
    rows = (qa / "destripe_metrics.tsv").read_text().splitlines()
    assert len(rows) == 4
    assert (qa / "jw01234-o001_t001_nircam_clear-f200w_i2d.png").is_file()
    bench = sorted((root / "results/demo-nircam/benchmarks/detector1").glob("*.tsv"))
    assert len(bench) == 3


def test_rerun_is_a_no_op(demo):
    root, _ = demo
    assert dry_run_counts(root, root / "config/demo.yaml", snakefile=_snakefile(root)) == {}


def test_changing_one_destriper_parameter_reruns_only_its_dependants(demo):
    root, _ = demo
    config = yaml.safe_load((root / "config/demo.yaml").read_text())
    config["destripe"]["instrument"] = {"NIRSPEC": {"clip_sigma": 2.5}}
    changed = root / "config/changed.yaml"
    changed.write_text(yaml.safe_dump(config))  # keys sorted: reordering alone reruns nothing
    counts = dry_run_counts(root, changed, snakefile=_snakefile(root))
    # the two NIRSpec exposures are destriped again, with their associations and records;
    # nothing of the NIRCam programme and no Detector1 job reruns
    assert counts["destripe"] == 2
    assert counts["level2_association"] == 2
    assert "detector1" not in counts and "image2" not in counts and "image3" not in counts
    assert counts["provenance"] == 1
