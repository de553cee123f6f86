#!/usr/bin/env bash
# Owns: the whole test suite, as the README's second command and .ci/run run it. Installs and
# starts the local services (tests/scripts/install.sh, services-up.sh), builds the workspace once
# (tests/scripts/build.sh: release, static, the binaries the images ship), packs the nine images
# from those very binaries, then runs every unit, property, end-to-end, reliability, leak and
# image test against them. Run as root.
set -euo pipefail
cd "$(dirname "$0")/../.."
# rust-toolchain.toml pins the toolchain by version: make that name resolve offline first.
bash tests/scripts/toolchain.sh

bash tests/scripts/install.sh
bash tests/scripts/services-up.sh
bash tests/scripts/make-dind-base.sh
# shellcheck source=build.sh
. tests/scripts/build.sh
cargo build "${CARGO_BUILD_ARGS[@]}"
bash docker/build.sh --prebuilt --base longshore-test/dind-base:latest
LONGSHORE_IMAGES=built cargo test "${CARGO_BUILD_ARGS[@]}" --no-fail-fast
