#!/usr/bin/env bash
# Owns: the one build of the workspace that the quick start, the tests and the CI images share:
# release profile, static glibc, every feature, into target/x86_64-unknown-linux-gnu/release.
# The tests find the plugin binaries beside their own executables there, and
# `docker/build.sh --prebuilt` packs the same files, so one CI run compiles everything once.
# Source it (`. tests/scripts/build.sh`) to get CARGO_BUILD_ARGS and BIN_DIR; run it to build.
TARGET=x86_64-unknown-linux-gnu
# crt-static reaches only the named target, not build scripts or proc-macros (which must stay
# dynamic): that is why the target is always given explicitly.
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"
CARGO_BUILD_ARGS=(--workspace --locked --release --all-features --target "$TARGET")
BIN_DIR="target/$TARGET/release"
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    cd "$(dirname "$0")/../.."
    cargo build "${CARGO_BUILD_ARGS[@]}"
fi
