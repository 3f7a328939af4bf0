"""The demo workflow through a real SLURM cluster gives the same science as a local run.

The demo inputs are simulated once and copied into two working directories. One is reduced
locally (``snakemake --cores 2``), the other through ``profiles/slurm`` on the single-node
cluster of ``scripts/slurm/up.sh``. The test then proves that SLURM ran the jobs (job IDs in the
Snakemake log, ``sacct`` records on node ``localhost``, the slurmd log) and compares the data
arrays of every rate, destriped rate, cal and i2d product (headers, which hold dates, are not
compared).

Both runs use one frozen copy of the code (``src/``, ``workflow/``, ``scripts/``, ``config/``,
put first on ``PYTHONPATH``), so that an edit to the working tree while the test runs cannot make
the two runs differ.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from slurm_helpers import (
    REPO,
    cluster_settings,
    require_cluster,
    sacct,
    slurm_config_value,
    snakemake_slurm,
    submitted_job_ids,
)

#: The parts of the repository that a demo run executes or reads.
CODE_PARTS = ("src", "workflow", "scripts", "config")

#: Product suffixes whose arrays must match; all of them must exist in both runs.
PRODUCT_SUFFIXES = ("_rate.fits", "_rateints.fits", "_cal.fits", "_i2d.fits", "_s3d.fits")

#: Extensions that hold metadata (dates, file names), not science: never compared.
_METADATA_HDUS = {"ASDF", "HDRTAB"}


def _science_products(results: Path) -> dict[str, Path]:
    """Products under ``results`` keyed by their path relative to it."""
    return {
        str(p.relative_to(results)): p
        for p in sorted(results.rglob("*.fits"))
        if p.name.endswith(PRODUCT_SUFFIXES)
    }


def _array_differences(a: Path, b: Path) -> list[str]:
    """Names of the HDUs whose data differ between ``a`` and ``b`` (empty if identical)."""
    problems = []
    with fits.open(a) as ha, fits.open(b) as hb:
        names_a = [h.name for h in ha if h.name not in _METADATA_HDUS]
        names_b = [h.name for h in hb if h.name not in _METADATA_HDUS]
        if names_a != names_b:
            return [f"extensions differ: {names_a} != {names_b}"]
        for name in names_a:
            da, db = ha[name].data, hb[name].data
            if da is None and db is None:
                continue
            if da is None or db is None or da.shape != db.shape:
                problems.append(f"{name}: shape differs")
                continue
            if da.dtype.fields is not None:  # a table: compare column by column
                for col in da.dtype.names:
                    if not np.array_equal(da[col], db[col], equal_nan=da[col].dtype.kind == "f"):
                        problems.append(f"{name}.{col}")
                continue
            if not np.array_equal(da, db, equal_nan=da.dtype.kind == "f"):
                diff = np.nanmax(np.abs(da.astype(float) - db.astype(float)))
                problems.append(f"{name}: max |difference| {diff:g}")
    return problems


def _freeze_code(dest: Path) -> Path:
    """Copy the code the demo runs into ``dest``; return it."""
    for part in CODE_PARTS:
        shutil.copytree(
            REPO / part, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    return dest


def _demo_env(code: Path) -> dict[str, str]:
    """The environment scripts/demo.sh runs the demo in (offline, no CRDS parameter lookups),
    with the frozen copy of the package first on the import path."""
    env = {k: v for k, v in os.environ.items() if k != "CRDS_SERVER_URL"}
    path = os.pathsep.join(p for p in (str(code / "src"), env.get("PYTHONPATH")) if p)
    env.update({"MPLBACKEND": "Agg", "STPIPE_DISABLE_CRDS_STEPPARS": "true", "PYTHONPATH": path})
    return env


def _prepare_workdir(workdir: Path, inputs: Path) -> None:
    """A working directory with the demo inputs (copied: inputs are never shared or modified)."""
    workdir.mkdir(parents=True)
    shutil.copytree(inputs, workdir / "resources" / "demo")


def _simulate_demo_inputs(root: Path, code: Path) -> Path:
    """Simulate the demo inputs once, the way ``scripts/demo.sh`` does; return their folder."""
    root.mkdir(parents=True, exist_ok=True)
    simulator = code / "scripts" / "demo_simulate.py"
    subprocess.run(
        [sys.executable, str(simulator), "--outdir", str(root / "resources" / "demo")],
        cwd=root,
        check=True,
        timeout=900,
        env=_demo_env(code),
    )
    return root / "resources" / "demo"


@pytest.mark.slurm
@pytest.mark.slow
def test_demo_through_slurm_matches_a_local_run(tmp_path):
    require_cluster()
    code = _freeze_code(tmp_path / "code")
    env = _demo_env(code)
    inputs = _simulate_demo_inputs(tmp_path / "sim", code)
    common = [
        "--snakefile",
        str(code / "workflow" / "Snakefile"),
        "--configfile",
        str(code / "config" / "demo.yaml"),
    ]

    # 1. local reference run
    local = tmp_path / "local"
    _prepare_workdir(local, inputs)
    with open(tmp_path / "local.log", "w") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "snakemake", "--cores", "2", *common],
            cwd=local,
            stdout=fh,
            stderr=subprocess.STDOUT,
            timeout=1800,
            check=False,
            env=env,
        )
    assert proc.returncode == 0, (tmp_path / "local.log").read_text()[-5000:]

    # 2. the same through SLURM
    cluster = tmp_path / "slurm"
    _prepare_workdir(cluster, inputs)
    log = tmp_path / "slurm.log"
    proc = snakemake_slurm(cluster, common, log=log, env=env)
    text = log.read_text()
    assert proc.returncode == 0, text[-5000:]

    # SLURM really ran the jobs: submitted with sbatch, accounted, launched by slurmd.
    ids = submitted_job_ids(text)
    assert len(ids) >= 3, text[-3000:]
    records = sacct(ids)
    assert set(records) == set(ids)
    settings = cluster_settings()
    for rec in records.values():
        assert rec.state == "COMPLETED", rec
        assert rec.node_list == "localhost", rec
        assert rec.account == settings["slurm_account"], rec
        assert rec.partition == settings["slurm_partition"], rec
    slurmd_log = Path(slurm_config_value("SlurmdLogFile")).read_text()
    for job_id in ids:
        assert f"Launching batch job {job_id}" in slurmd_log, job_id

    # The science arrays are identical.
    products_local = _science_products(local / "results")
    products_slurm = _science_products(cluster / "results")
    assert products_local, "the local run made no products"
    assert sorted(products_local) == sorted(products_slurm)
    kinds = {s for s in PRODUCT_SUFFIXES for k in products_local if k.endswith(s)}
    assert {"_rate.fits", "_cal.fits", "_i2d.fits"} <= kinds, kinds
    assert any("/destripe/" in k for k in products_local)
    differences = {
        name: diff
        for name in products_local
        if (diff := _array_differences(products_local[name], products_slurm[name]))
    }
    assert not differences, differences

    # The CRDS prefetch ran on the submitting host, before anything was submitted.
    assert "localrule crds_prefetch" in text
    assert text.index("localrule crds_prefetch") < text.index("has been submitted with SLURM")
    # The destripe jobs were grouped: fewer SLURM jobs than destripe jobs.
    n_destripe = text.count("rule destripe:")
    n_destripe_submissions = len(
        set(re.findall(r"SLURM jobid (\d+) \(log: [^)]*/group_destripe", text))
    )
    assert n_destripe >= 2
    assert 1 <= n_destripe_submissions < n_destripe
