#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time each, one core, nightly toolchain.
# Not part of CI. Prints per target: seconds run, executions, corpus size (files and bytes) and
# whether a crash was found; exits non-zero when any target crashed (the crashing input is in
# fuzz/artifacts/<target>/).
#
#   bash tests/scripts/fuzz.sh                 # every target, 60 s each
#   FUZZ_SECONDS=300 bash tests/scripts/fuzz.sh glob_match key_mapping
#
# The grown corpus goes to fuzz/corpus-gen/<target>/ (git-ignored) and is reused by the next
# run; the committed seeds in fuzz/corpus/<target>/ are only read.
set -euo pipefail

cd "$(dirname "$0")/../.."
seconds="${FUZZ_SECONDS:-60}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo "+$toolchain" fuzz list)
fi

# The targets that read the disk make their trees under TMPDIR; the process exits without
# cleaning up, so give it a directory of its own and remove it at the end.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export TMPDIR="$work/tmp"
mkdir -p "$TMPDIR"

echo "building the fuzz targets with $toolchain"
cargo "+$toolchain" fuzz build >/dev/null 2>"$work/build.log" || {
    cat "$work/build.log" >&2
    exit 1
}

printf '%-16s %8s %12s %8s %10s  %s\n' target seconds executions files bytes result
failed=0
for t in "${targets[@]}"; do
    gen="fuzz/corpus-gen/$t"
    mkdir -p "$gen" "fuzz/corpus/$t"
    log="$work/$t.log"
    start=$(date +%s)
    status=0
    # `--jobs 1` is cargo-fuzz's: one libFuzzer process, in process, on one core (libFuzzer's
    # own -jobs would fork a worker logging to fuzz-0.log instead).
    cargo "+$toolchain" fuzz run --jobs 1 "$t" "$gen" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || status=$?
    took=$(($(date +%s) - start))
    # libFuzzer's final stats: `stat::number_of_executed_units: N`.
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    files=$(find "$gen" -type f | wc -l)
    bytes=$(find "$gen" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
    if [ "$status" -eq 0 ]; then
        result=ok
    else
        result="CRASH (exit $status)"
        failed=1
        cp "$log" "fuzz/artifacts/$t.log" 2>/dev/null || true
        grep -m3 -E 'panicked at|Test unit written to|ERROR: libFuzzer' "$log" | sed 's/^/    /' >&2 || true
    fi
    printf '%-16s %8s %12s %8s %10s  %s\n' "$t" "$took" "${execs:-?}" "$files" "$bytes" "$result"
done
exit "$failed"
