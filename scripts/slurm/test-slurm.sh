#!/usr/bin/env bash
# `make test-slurm`: install SLURM if needed, bring up a fresh single-node cluster, run the
# SLURM tests (tests/test_slurm_*.py) against it, and shut it down again -- always, even when
# a test fails or the run is interrupted.
#
# Run as root from the repository (CI does). Extra arguments go to pytest, e.g.
#   bash scripts/slurm/test-slurm.sh -k tiny
#
# The cluster's state directory (logs, database) and the tests' working directories are
# deleted after a passing run and kept, with the cluster stopped, after a failing one.
#
# Environment:
#   JWST1F_SLURM_KEEP=1     keep them after a passing run too
#   JWST1F_SLURM_NEED_MB    free space /var/tmp must have before the cluster starts [8192]
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python}"
if [ -x "$ROOT/.venv/bin/python" ]; then
    PYTHON="$ROOT/.venv/bin/python"
    export PATH="$ROOT/.venv/bin:$PATH"
fi

start=$(date +%s)
bash "$HERE/install.sh"

# The cluster's state and the demo run through it take a few GB of /var/tmp. On a fuller
# disk the jobs fail to write, SLURM drains the node and requeues them, and the run would only
# end at Snakemake's 30-minute timeout: fail now instead, with the reason.
NEED_MB="${JWST1F_SLURM_NEED_MB:-8192}"
avail_mb=$(($(df -Pk /var/tmp | awk 'NR == 2 {print $4}') / 1024))
if [ "$avail_mb" -lt "$NEED_MB" ]; then
    echo "test-slurm.sh: only $avail_mb MB free in /var/tmp; the SLURM test needs $NEED_MB MB" \
        "(JWST1F_SLURM_NEED_MB)" >&2
    exit 1
fi

# A fresh state directory per run, so that nothing of an earlier run leaks in.
JWST1F_SLURM_DIR="$(mktemp -d /var/tmp/jwst1f-slurm-test.XXXXXX)"
chmod 0755 "$JWST1F_SLURM_DIR"
export JWST1F_SLURM_DIR
export JWST1F_SLURM_PARTITION="${JWST1F_SLURM_PARTITION:-debug}"
export JWST1F_SLURM_ACCOUNT="${JWST1F_SLURM_ACCOUNT:-jwst1f}"

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    echo "test-slurm.sh: shutting the cluster down"
    if [ "$rc" -ne 0 ] && [ -d "$JWST1F_SLURM_DIR/log" ]; then
        for f in "$JWST1F_SLURM_DIR"/log/slurm*.log; do
            echo "---- last lines of $f"
            tail -n 20 "$f"
        done
    fi
    if [ "${JWST1F_SLURM_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
        # stopped, but logs, database and the tests' working directories kept for a post-mortem
        bash "$HERE/down.sh" || rc=1
        echo "test-slurm.sh: cluster state and test directories kept in $JWST1F_SLURM_DIR"
    else
        bash "$HERE/down.sh" --purge || rc=1
    fi
    echo "test-slurm.sh: finished in $(($(date +%s) - start)) s, exit status $rc"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash "$HERE/up.sh"
# shellcheck disable=SC1091
. "$JWST1F_SLURM_DIR/env.sh"

export MPLBACKEND=Agg
export JWST1F_SLURM_TESTS=1
"$PYTHON" -m pytest -p no:cacheprovider -m slurm -v --durations=0 \
    --basetemp "$JWST1F_SLURM_DIR/pytest" "$ROOT/tests" "$@"
