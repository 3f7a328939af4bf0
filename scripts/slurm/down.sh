#!/usr/bin/env bash
# Shut down the single-node SLURM cluster started by scripts/slurm/up.sh.
#
# Cancels the cluster's jobs, then stops slurmd, slurmctld, slurmdbd, mariadbd and
# munged -- only the processes named by the pid files in the state directory, so a
# munged or database that up.sh did not start is left alone. Safe to run when
# nothing is running. Leaves no daemon of the cluster behind.
#
# Usage: scripts/slurm/down.sh [--purge]
#   --purge   also delete the state directory (configuration, database, logs)
#
# Environment: JWST1F_SLURM_DIR  state directory  [/var/tmp/jwst1f-slurm]
set -uo pipefail

D="${JWST1F_SLURM_DIR:-/var/tmp/jwst1f-slurm}"
PURGE=0
for arg in "$@"; do
    case "$arg" in
    --purge) PURGE=1 ;;
    -h | --help)
        sed -n '2,13p' "$0"
        exit 0
        ;;
    *)
        echo "down.sh: unknown argument $arg" >&2
        exit 2
        ;;
    esac
done
PATH="$PATH:/usr/sbin:/sbin"

log() { echo "down.sh: $*"; }

if [ ! -d "$D" ]; then
    log "no state directory $D: nothing to stop"
    exit 0
fi
export SLURM_CONF="$D/etc/slurm.conf"

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Cancel whatever the cluster still runs, and give slurmd a moment to clean up.
if alive "$D/run/slurmctld.pid"; then
    jobs="$(squeue -h -t PENDING,RUNNING,SUSPENDED -o %i 2>/dev/null | tr '\n' ' ')"
    if [ -n "${jobs// /}" ]; then
        log "cancelling jobs: $jobs"
        # shellcheck disable=SC2086
        scancel $jobs 2>/dev/null || true
    fi
    # wait for running and completing jobs to be cleaned up by slurmd
    for _ in $(seq 30); do
        [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
        sleep 1
    done
fi

# stop NAME: TERM the process of its pid file, wait up to 30 s, then KILL.
stop() {
    local name=$1 pidfile="$D/run/$1.pid" pid
    if ! alive "$pidfile"; then
        rm -f "$pidfile"
        return 0
    fi
    pid="$(cat "$pidfile")"
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name did not stop, killing it"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
    fi
    rm -f "$pidfile"
}

for daemon in slurmd slurmctld slurmdbd mariadbd munged; do
    stop "$daemon"
done

# The link up.sh made at the standard configuration path, if it is ours.
if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$SLURM_CONF" ]; then
    rm -f /etc/slurm/slurm.conf
fi

status=0
for daemon in slurmd slurmctld slurmdbd mariadbd munged; do
    if alive "$D/run/$daemon.pid"; then
        log "ERROR: $daemon is still running"
        status=1
    fi
done

if [ "$PURGE" -eq 1 ] && [ "$status" -eq 0 ]; then
    log "removing $D"
    rm -rf "$D"
fi
[ "$status" -eq 0 ] && log "cluster stopped"
exit "$status"
