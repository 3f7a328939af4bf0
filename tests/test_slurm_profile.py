"""The SLURM profile (``profiles/slurm``) on a real single-node SLURM cluster.

A small self-contained workflow whose rules carry the jwst1f rule names is run through the
profile: the CRDS prefetch stays local, the destripe jobs are grouped into one submission, a
job killed for using more memory than it asked for is resubmitted with more, and every
submission is shown by ``sacct`` and the slurmd log to have run on the node. The file also
holds fast checks of the profile that need no cluster.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from slurm_helpers import (
    PROFILE,
    cluster_settings,
    require_cluster,
    sacct,
    slurm_config_value,
    snakemake_slurm,
    submitted_job_ids,
)

N_DESTRIPE = 6

TINY_SNAKEFILE = textwrap.dedent(
    f"""
    localrules: all, crds_prefetch

    N = range({N_DESTRIPE})


    rule all:
        input:
            expand("out/{{i}}.txt", i=N),
            "out/hungry.txt",
            "out/table.txt",


    rule crds_prefetch:
        output:
            "prefetch.txt",
        shell:
            "echo job=${{{{SLURM_JOB_ID:-local}}}} > {{output}}"


    rule destripe:
        input:
            ancient("prefetch.txt"),
        output:
            "out/{{i}}.txt",
        threads: 1
        resources:
            mem_mb=lambda wc, attempt: 400 * attempt,
            runtime=2,
        shell:
            "echo job=${{{{SLURM_JOB_ID:-local}}}} host=$(hostname) > {{output}}"


    rule qa_metrics_table:
        input:
            expand("out/{{i}}.txt", i=N),
        output:
            "out/table.txt",
        resources:
            mem_mb=500,
            runtime=1,
        shell:
            "cat {{input}} > {{output}}"


    # Holds about 480 MB for 8 s: over the 300 MB of the first attempt, within the second.
    rule hungry:
        input:
            ancient("prefetch.txt"),
        output:
            "out/hungry.txt",
        resources:
            mem_mb=lambda wc, attempt: 300 if attempt == 1 else 1500,
            runtime=3,
        shell:
            "{sys.executable} -c 'import numpy as np, time; a = np.ones(60_000_000); "
            "time.sleep(8)' && echo job=${{{{SLURM_JOB_ID:-local}}}} > {{output}}"
    """
)


def _profile() -> dict:
    return yaml.safe_load((PROFILE / "config.v8+.yaml").read_text())


def test_profile_uses_the_slurm_executor_with_retries_and_groups():
    prof = _profile()
    assert prof["executor"] == "slurm"
    assert prof["retries"] >= 1
    assert prof["groups"]["destripe"] in prof["group-components"]
    assert prof["group-components"][prof["groups"]["destripe"]] > 1
    # default memory and runtime grow with the attempt, like the rules' own
    for key in ("mem_mb", "runtime"):
        assert "attempt" in str(prof["default-resources"][key])
    # partition and account are not hard-wired (they come from the user)
    assert "slurm_partition" not in prof["default-resources"]
    assert "slurm_account" not in prof["default-resources"]


def test_profile_dry_run_groups_the_destripe_jobs(tmp_path):
    (tmp_path / "Snakefile").write_text(TINY_SNAKEFILE)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--profile",
            str(PROFILE),
            "--cores",
            "2",
            "--dry-run",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert "Group job destripe" in text or "group job destripe" in text.lower()
    assert text.count("rule destripe:") == N_DESTRIPE


@pytest.mark.slurm
@pytest.mark.slow
def test_tiny_workflow_runs_through_slurm_with_grouping_and_memory_retry(tmp_path):
    require_cluster()
    (tmp_path / "Snakefile").write_text(TINY_SNAKEFILE)
    log = tmp_path / "snakemake.log"
    proc = snakemake_slurm(tmp_path, [], log=log, timeout=900)
    text = log.read_text()
    assert proc.returncode == 0, text[-5000:]

    # The prefetch ran locally (a localrule), before any submission.
    assert (tmp_path / "prefetch.txt").read_text().strip() == "job=local"

    ids = submitted_job_ids(text)
    records = sacct(ids)
    assert set(records) == set(ids), f"sacct does not know every submitted job: {ids}"
    for rec in records.values():
        assert rec.node_list == "localhost"
        assert rec.account == cluster_settings()["slurm_account"]
        assert rec.partition == cluster_settings()["slurm_partition"]

    # All destripe jobs ran inside one SLURM job (one group submission).
    destripe_jobs = {
        (tmp_path / "out" / f"{i}.txt").read_text().split()[0] for i in range(N_DESTRIPE)
    }
    assert len(destripe_jobs) == 1
    (group_job,) = destripe_jobs
    group_id = group_job.removeprefix("job=")
    assert group_id in ids
    assert records[group_id].state == "COMPLETED"
    assert records[group_id].alloc_cpus <= 2

    # hungry: killed for exceeding 300 MB, resubmitted with 1500 MB, then completed.
    hungry_ids = re.findall(r"rule_hungry/(\d+)\.log", text)
    hungry_ids = list(dict.fromkeys(hungry_ids))
    assert len(hungry_ids) == 2, text[-5000:]
    first, second = (records[i] for i in hungry_ids)
    assert first.state in {"FAILED", "OUT_OF_MEMORY", "CANCELLED"}, first
    assert second.state == "COMPLETED", second
    assert first.req_mem.startswith("300") and second.req_mem.startswith("1500")
    first_log = tmp_path / "results" / "logs" / "slurm" / "rule_hungry" / f"{hungry_ids[0]}.log"
    assert "exceeded memory limit" in first_log.read_text().lower()
    assert (tmp_path / "out" / "hungry.txt").read_text().strip() == f"job={hungry_ids[1]}"

    # slurmd itself launched every submitted job.
    slurmd_log = Path(slurm_config_value("SlurmdLogFile")).read_text()
    for job_id in ids:
        assert f"Launching batch job {job_id}" in slurmd_log, job_id
