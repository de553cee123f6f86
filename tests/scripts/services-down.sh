#!/usr/bin/env bash
# Owns: stopping the services that tests/scripts/services-up.sh started: the two
# registries, the S3 servers moto and s3s-fs, the GCS emulator, and dockerd, each only through its pid
# file in $STATE and only if that pid still runs the expected binary (never by process
# name). A dockerd that services-up.sh did not start is left alone. Installed packages
# and the venv stay.
#   --purge  also removes $STATE (registry and s3s-fs data, certificates, logs, env) and
#            the test CA that services-up.sh put in /etc/docker/certs.d. moto keeps
#            its buckets in memory only: stopping it already loses them.
set -euo pipefail

STATE=${LONGSHORE_STATE:-/tmp/longshore-services}
DOCKERD=/usr/sbin/dockerd
REGISTRY_BIN=/usr/bin/docker-registry
CERTS_D=/etc/docker/certs.d
VENV=/opt/longshore-venv
MOTO_BIN=$VENV/bin/moto_server
S3SFS_BIN=$(command -v s3s-fs 2>/dev/null || printf '%s' "$HOME/.cargo/bin/s3s-fs")

purge=0
for arg in "$@"; do
    case $arg in
        --purge) purge=1 ;;
        -h | --help)
            echo "usage: $0 [--purge]"
            exit 0
            ;;
        *)
            echo "services-down: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

say() { printf 'services-down: %s\n' "$*"; }

# A pid from a pid file, printed only if that process is alive and runs BINARY (for an
# interpreter: and has ARG among its arguments).
live_pid() { # PIDFILE BINARY [ARG]
    local pid exe
    [ -s "$1" ] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    [ "${exe% (deleted)}" = "$2" ] || return 1
    if [ -n "${3:-}" ]; then
        tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$3" || return 1
    fi
    printf '%s' "$pid"
}

# SIGTERM to every service at once (registries take ~2 s to exit, dockerd ~3 s), then
# wait up to TIMEOUT_S seconds each, polling every 50 ms, then SIGKILL.
declare -A stopping=() # pid -> name
declare -A deadline=() # pid -> 50 ms ticks left before SIGKILL
status=0

request_stop() { # NAME BINARY TIMEOUT_S [ARG]
    local pidfile=$STATE/$1.pid pid
    if pid=$(live_pid "$pidfile" "$2" "${4:-}"); then
        say "stopping $1 (pid $pid)"
        if kill -TERM "$pid" 2>/dev/null; then
            stopping[$pid]=$1
            deadline[$pid]=$(($3 * 20))
        fi
    else
        say "$1 not running from $pidfile"
        rm -f "$pidfile"
    fi
}

wait_stopped() {
    local pid
    while [ "${#stopping[@]}" -gt 0 ]; do
        for pid in "${!stopping[@]}"; do
            if ! kill -0 "$pid" 2>/dev/null; then
                rm -f "$STATE/${stopping[$pid]}.pid"
                unset "stopping[$pid]"
            elif [ "${deadline[$pid]}" -le -20 ]; then
                say "${stopping[$pid]} (pid $pid) survived SIGKILL for 1 s; giving up" >&2
                unset "stopping[$pid]"
                status=1
            else
                if [ "${deadline[$pid]}" -eq 0 ]; then
                    say "${stopping[$pid]} (pid $pid) still running; sending SIGKILL"
                    kill -KILL "$pid" 2>/dev/null || true
                fi
                deadline[$pid]=$((deadline[$pid] - 1))
            fi
        done
        [ "${#stopping[@]}" -eq 0 ] || sleep 0.05
    done
}

if [ -d "$STATE" ]; then
    request_stop registry-auth "$REGISTRY_BIN" 10
    request_stop registry-plain "$REGISTRY_BIN" 10
    # moto_server is a Python script: its process runs the venv's interpreter.
    request_stop moto "$(readlink -f "$VENV/bin/python")" 10 "$MOTO_BIN"
    request_stop s3s-fs "$(readlink -f "$S3SFS_BIN")" 10
    request_stop gcs-emulator "$(readlink -f "$VENV/bin/python")" 10 "$VENV/bin/gcp-storage-emulator"
    # dockerd stops its containers and its managed containerd before exiting.
    request_stop dockerd "$DOCKERD" 30
    wait_stopped
    say "stopped"
else
    say "no state directory $STATE: nothing to stop"
fi

if [ "$purge" = 1 ]; then
    for host in 127.0.0.1:5443 localhost:5443; do
        ca=$CERTS_D/$host/ca.crt
        # Only the CA that services-up.sh made (its subject names it).
        if [ -f "$ca" ] && openssl x509 -noout -subject -in "$ca" 2>/dev/null | grep -q 'longshore test CA'; then
            rm -f "$ca"
            rmdir "$CERTS_D/$host" 2>/dev/null || true
            say "removed $ca"
        fi
    done
    rm -rf "$STATE"
    say "removed $STATE"
fi
exit "$status"
