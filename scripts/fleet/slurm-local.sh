#!/usr/bin/env bash
# A single-node Slurm on localhost for tests and demos of `bench fleet` (not for real work).
#
#   scripts/fleet/slurm-local.sh up DIR     start munged, slurmctld and slurmd with all their
#                                           state in DIR; wait until the node is idle; print
#                                           `export SLURM_CONF=DIR/slurm.conf` on the last line
#   scripts/fleet/slurm-local.sh down DIR   stop the daemons that `up DIR` started
#
# One node (this machine's hostname, CPUs and memory as `slurmd -C` reports them) in one
# partition, `cpu`. Munge gets its own key and socket in DIR; slurmctld and slurmd get ports
# that were free at `up` time, so several of these can run side by side and none touches
# /etc/slurm, /etc/munge or /run. The daemons run as the calling user (SlurmUser and
# SlurmdUser); jobs run as the submitting user, so run it as the user who submits (CI and
# containers are root).
# No cgroups, no systemd, no accounting database: process tracking is proctrack/linuxproc,
# and jobs stay visible to squeue for an hour after they end (MinJobAge), where sacct would
# otherwise need slurmdbd.
# Needs Debian's slurm-wlm and munge (apt-get install slurm-wlm munge).
set -euo pipefail

usage() {
    echo "usage: $0 up|down DIR" >&2
    exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

need() {
    command -v "$1" >/dev/null 2>&1 || {
        echo "slurm-local: $1 not found: install Debian's slurm-wlm and munge (apt-get install slurm-wlm munge)" >&2
        exit 2
    }
}

# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    local p tries
    for tries in $(seq 1 200); do
        p=$((20000 + RANDOM % 20000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    echo "slurm-local: no free TCP port found" >&2
    exit 2
}

stop_pidfile() {
    local f=$1 pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f" 2>/dev/null || true)
    rm -f "$f"
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

down() {
    [ -d "$dir" ] || return 0
    # slurmd first (it kills its job steps), then the controller, then munge.
    stop_pidfile "$dir/run/slurmd.pid"
    stop_pidfile "$dir/run/slurmctld.pid"
    stop_pidfile "$dir/run/munged.pid"
}

show_logs() {
    local f
    for f in "$dir"/log/*.log; do
        [ -f "$f" ] || continue
        echo "--- $f (last 15 lines)" >&2
        tail -n 15 "$f" >&2
    done
}

up() {
    need munged
    need mungekey
    need slurmctld
    need slurmd
    need sinfo
    if [ -f "$dir/run/slurmctld.pid" ] && kill -0 "$(cat "$dir/run/slurmctld.pid")" 2>/dev/null; then
        echo "slurm-local: already running in $dir (run '$0 down $dir' first)" >&2
        exit 2
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log" "$dir/run"
    chmod 700 "$dir/munge"

    # Munge: a fresh key and a private socket.
    rm -f "$dir/munge/munge.key"
    mungekey --create --keyfile="$dir/munge/munge.key"
    chmod 400 "$dir/munge/munge.key"
    munged --force \
        --socket="$dir/munge/munge.socket" \
        --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/run/munged.pid" \
        --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munge/munged.seed"

    # The node as slurmd sees it: NodeName=<hostname> CPUs=.. Boards=.. ... RealMemory=..
    local node name user ctl_port d_port
    node=$(slurmd -C | head -n 1)
    name=$(echo "$node" | sed -n 's/^NodeName=\([^ ]*\).*/\1/p')
    [ -n "$name" ] || {
        echo "slurm-local: 'slurmd -C' gave no NodeName: $node" >&2
        down
        exit 2
    }
    user=$(id -un)
    ctl_port=$(free_port)
    d_port=$(free_port)
    while [ "$d_port" = "$ctl_port" ]; do d_port=$(free_port); done

    cat >"$dir/plugstack.conf" <<EOF
EOF
    cat >"$dir/slurm.conf" <<EOF
# Written by scripts/fleet/slurm-local.sh for tests and demos; everything lives in $dir.
ClusterName=benchlocal
SlurmctldHost=$name(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
PlugStackConfig=$dir/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=3600
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=cpu Nodes=$name Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld -f "$dir/slurm.conf" -i || {
        echo "slurm-local: slurmctld did not start" >&2
        show_logs
        down
        exit 2
    }
    slurmd -f "$dir/slurm.conf" || {
        echo "slurm-local: slurmd did not start" >&2
        show_logs
        down
        exit 2
    }
    local i state=""
    for i in $(seq 1 120); do
        state=$(sinfo -h -N -n "$name" -o '%T' 2>/dev/null || true)
        [ "$state" = "idle" ] && break
        sleep 0.5
    done
    if [ "$state" != "idle" ]; then
        echo "slurm-local: node $name is '${state:-not reported}' after 60 s, not idle" >&2
        show_logs
        down
        exit 2
    fi
    echo "slurm-local: node $name idle in partition cpu (slurmctld port $ctl_port, slurmd port $d_port); state in $dir" >&2
    echo "export SLURM_CONF=$dir/slurm.conf"
}

case "$cmd" in
up) up ;;
down) down ;;
*) usage ;;
esac
