#!/usr/bin/env bash
# Owns: the benchmark run of issue #9, end to end. Installs what is missing (rclone, skopeo,
# hyperfine, time via apt; the venv and s3s-fs via tests/scripts/install.sh), builds the measured
# plugins once in release mode, starts its OWN servers on separate ports in a scratch directory
# (s3s-fs with keys, an anonymous s3s-fs for the curl ceiling, a GCS emulator, a plain registry,
# a PUT sink for jfrog/nexus), runs bench/bench.py (every workload BENCH_RUNS times per tool,
# tools alternating, each run to a fresh prefix and verified afterwards), stops its servers, and
# writes BENCHMARKS.md and bench/chart.svg with bench/report.py.
#
# Never touches the shared test services (5000, 5443, 5601-5603); it uses the shared dockerd for
# the docker workloads (as the tests do) and starts a dockerd of its own only inside a private
# network and mount namespace (the dind readiness case).
#
#   bench/run.sh                 # full run (BENCH_RUNS=5, 1 GiB file, ...)
#   BENCH_QUICK=1 bench/run.sh   # tiny datasets, 1 run: checks the script end to end
#
# Environment: BENCH_RUNS (default 5), BENCH_QUICK, BENCH_DIR (scratch, default
# /tmp/longshore-bench), BENCH_ONLY (comma list of groups: s3,gcs,docker,dind,startup,memory),
# BENCH_PORT_BASE (default 5710), BENCH_NO_BUILD=1 (reuse the binaries in BENCH_BIN, default
# target/x86_64-unknown-linux-gnu/release), BENCH_NO_WAIT=1 (do not wait for a load average under 1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BENCH_DIR=${BENCH_DIR:-/tmp/longshore-bench}
PORT_BASE=${BENCH_PORT_BASE:-5710}
VENV=/opt/longshore-venv
export BENCH_DIR PORT_BASE VENV

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------------------ install
need_apt=()
command -v rclone >/dev/null || need_apt+=(rclone)
command -v skopeo >/dev/null || need_apt+=(skopeo)
command -v hyperfine >/dev/null || need_apt+=(hyperfine)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v busybox >/dev/null || need_apt+=(busybox-static)
if [ "${#need_apt[@]}" -gt 0 ]; then
    say "apt-get install ${need_apt[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >/dev/null ||
        { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >/dev/null; }
fi
bash tests/scripts/install.sh >&2
S3SFS=$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")
export S3SFS

# -------------------------------------------------------------------------------- build
# The binaries measured are the shipped ones: the one release build of tests/scripts/build.sh
# (static, the files the images carry), which the test suite has usually built already.
# shellcheck source=../tests/scripts/build.sh
. tests/scripts/build.sh
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    say "cargo build ${CARGO_BUILD_ARGS[*]}"
    nice -n 5 cargo build "${CARGO_BUILD_ARGS[@]}" >&2
fi
BENCH_BIN=${BENCH_BIN:-$ROOT/$BIN_DIR}
export BENCH_BIN
for p in s3 gcs docker jfrog nexus; do
    [ -x "$BENCH_BIN/longshore-$p" ] || die "$BENCH_BIN/longshore-$p missing"
done

# ------------------------------------------------------------------------------ servers
mkdir -p "$BENCH_DIR"
RUN="$BENCH_DIR/run"
rm -rf "$RUN"
mkdir -p "$RUN/logs" "$RUN/s3keys" "$RUN/s3anon" "$RUN/registry"
PIDS=()
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap stop_all EXIT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for off in 0 1 2 3 4; do
    port_free $((PORT_BASE + off)) || die "port $((PORT_BASE + off)) is in use (set BENCH_PORT_BASE)"
done
S3_PORT=$PORT_BASE ANON_PORT=$((PORT_BASE + 1)) GCS_PORT=$((PORT_BASE + 2))
REG_PORT=$((PORT_BASE + 3)) SINK_PORT=$((PORT_BASE + 4))
export S3_PORT ANON_PORT GCS_PORT REG_PORT SINK_PORT
export BENCH_ACCESS_KEY=bench BENCH_SECRET_KEY=benchbenchbench

"$S3SFS" --host 127.0.0.1 --port "$S3_PORT" --access-key "$BENCH_ACCESS_KEY" \
    --secret-key "$BENCH_SECRET_KEY" "$RUN/s3keys" >"$RUN/logs/s3keys.log" 2>&1 &
PIDS+=($!)
echo $! >"$RUN/s3keys.pid"
"$S3SFS" --host 127.0.0.1 --port "$ANON_PORT" "$RUN/s3anon" >"$RUN/logs/s3anon.log" 2>&1 &
PIDS+=($!)
echo $! >"$RUN/s3anon.pid"
"$VENV/bin/gcp-storage-emulator" start -H 127.0.0.1 --port "$GCS_PORT" --in-memory -q \
    >"$RUN/logs/gcs.log" 2>&1 &
PIDS+=($!)
echo $! >"$RUN/gcs.pid"
python3 bench/sink.py 127.0.0.1 "$SINK_PORT" >"$RUN/logs/sink.log" 2>&1 &
PIDS+=($!)
# The registry is (re)started by bench.py: every cold docker run needs an empty one.

wait_port() { # PORT
    local i
    for i in $(seq 1 100); do
        port_free "$1" || return 0
        sleep 0.1
    done
    die "nothing listens on $1 (see $RUN/logs)"
}
for p in "$S3_PORT" "$ANON_PORT" "$GCS_PORT" "$SINK_PORT"; do wait_port "$p"; done
# Buckets: s3s-fs stores a bucket as a directory; the emulator needs a create and a PATCH
# (soft delete is on by default and would keep deleted objects in memory).
mkdir -p "$RUN/s3keys/bench" "$RUN/s3anon/bench"
curl -sf -X POST "http://127.0.0.1:$GCS_PORT/storage/v1/b?project=bench" \
    -H 'Content-Type: application/json' -d '{"name":"gbench"}' >/dev/null
curl -sf -X PATCH "http://127.0.0.1:$GCS_PORT/storage/v1/b/gbench" -H 'Content-Type: application/json' \
    -d '{"softDeletePolicy":{"retentionDurationSeconds":"0"}}' >/dev/null

# --------------------------------------------------------------------------------- run
set +e
"$VENV/bin/python" bench/bench.py
rc=$?
set -e
stop_all
trap - EXIT
[ "$rc" -eq 0 ] || die "bench.py failed ($rc)"
"$VENV/bin/python" bench/report.py
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    say "wrote bench/results/BENCHMARKS-quick.md (quick mode)"
else
    say "wrote BENCHMARKS.md and bench/chart.svg"
fi
