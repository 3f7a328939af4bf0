"""Helpers for the SLURM tests (``tests/test_slurm_*.py``): find the cluster, run Snakemake
through ``profiles/slurm``, and read the evidence SLURM leaves (``sacct``, the slurmd log).

The cluster is the single-node one of ``scripts/slurm/up.sh``; ``make test-slurm``
(``scripts/slurm/test-slurm.sh``) starts it, sets ``JWST1F_SLURM_TESTS=1`` and runs the tests
marked ``slurm``. Without a reachable cluster those tests skip, unless
``JWST1F_SLURM_TESTS=1`` says that one was promised: then they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "PROFILE",
    "REPO",
    "SacctRecord",
    "cluster_settings",
    "require_cluster",
    "sacct",
    "slurm_config_value",
    "snakemake_slurm",
    "submitted_job_ids",
]

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"

_SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+)")


def _cluster_answers() -> str | None:
    """Return None if ``scontrol ping`` reaches a controller, else the reason it does not."""
    if shutil.which("sbatch") is None or shutil.which("scontrol") is None:
        return "SLURM client tools (sbatch, scontrol) are not installed"
    try:
        out = subprocess.run(
            ["scontrol", "ping"], capture_output=True, text=True, timeout=20, check=False
        )
    except subprocess.TimeoutExpired:
        return "scontrol ping timed out"
    if out.returncode != 0 or "UP" not in out.stdout:
        return f"no SLURM controller answers: {(out.stdout + out.stderr).strip()[:200]}"
    return None


def require_cluster() -> None:
    """Skip the calling test when no cluster answers (fail instead under make test-slurm)."""
    reason = _cluster_answers()
    if reason is None:
        return
    if os.environ.get("JWST1F_SLURM_TESTS") == "1":
        pytest.fail(f"JWST1F_SLURM_TESTS=1 but {reason}")
    pytest.skip(f"{reason}; run `make test-slurm` to start a single-node cluster")


def cluster_settings() -> dict[str, str]:
    """Partition and account for submissions (from the environment test-slurm.sh sets)."""
    return {
        "slurm_partition": os.environ.get("JWST1F_SLURM_PARTITION", "debug"),
        "slurm_account": os.environ.get("JWST1F_SLURM_ACCOUNT", "jwst1f"),
    }


def snakemake_slurm(
    workdir: Path,
    args: Sequence[str],
    *,
    log: Path,
    cores: int = 2,
    timeout: float = 1800,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``snakemake --profile profiles/slurm`` in ``workdir``; stdout+stderr go to ``log``.

    ``--cores`` is the node's CPU count; partition and account are given the documented way,
    with ``--default-resources``; status checks start after 2 s instead of 40 s. ``env`` is
    the whole environment (default: this process's); the job inherits it through ``sbatch``.
    """
    settings = cluster_settings()
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--profile",
        str(PROFILE),
        "--cores",
        str(cores),
        "--default-resources",
        *(f"{k}={v}" for k, v in settings.items()),
        "--slurm-init-seconds-before-status-checks",
        "2",
        *args,
    ]
    full_env = dict(os.environ if env is None else env)
    full_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full_env.get('PATH', '')}"
    with open(log, "w") as fh:
        return subprocess.run(
            cmd,
            cwd=workdir,
            stdout=fh,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            env=full_env,
            check=False,
        )


def submitted_job_ids(log_text: str) -> list[str]:
    """SLURM job IDs that Snakemake reported as submitted, in order."""
    return _SUBMITTED.findall(log_text)


@dataclass(frozen=True)
class SacctRecord:
    """One ``sacct -X`` line: the allocation of one submitted job."""

    job_id: str
    name: str
    state: str
    exit_code: str
    node_list: str
    req_mem: str
    alloc_cpus: int
    account: str
    partition: str


def sacct(job_ids: Iterable[str]) -> dict[str, SacctRecord]:
    """Accounting records (``sacct -X``) of the given jobs, keyed by job ID."""
    ids = ",".join(job_ids)
    fields = "JobIDRaw,JobName%80,State,ExitCode,NodeList,ReqMem,AllocCPUS,Account,Partition"
    out = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-j", ids, "-o", fields],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    records = {}
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) != 9:
            continue
        rec = SacctRecord(*parts[:6], int(parts[6] or 0), *parts[7:])
        records[rec.job_id] = rec
    return records


def slurm_config_value(key: str) -> str:
    """One value of ``scontrol show config`` (e.g. ``SlurmdLogFile``)."""
    out = subprocess.run(
        ["scontrol", "show", "config"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    for line in out.splitlines():
        name, _, value = line.partition("=")
        if name.strip() == key:
            return value.strip()
    raise KeyError(key)
