#!/usr/bin/env bash
# Install the Debian packages for a single-node SLURM test cluster (run as root).
#
#   slurm-wlm (slurmctld, slurmd, client tools), munge (authentication),
#   slurmdbd + mariadb-server (job accounting, so that `sacct` -- the job-status
#   command preferred by snakemake-executor-plugin-slurm -- works).
#
# Idempotent: does nothing when every package is already installed. Installing
# does not start any service we rely on: scripts/slurm/up.sh starts private
# instances with their own configuration, sockets and state directory.
set -euo pipefail

PACKAGES=(slurm-wlm slurm-client slurmdbd munge mariadb-server)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install.sh: all SLURM packages already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: must run as root to install: ${missing[*]}" >&2
    exit 1
fi

echo "install.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
