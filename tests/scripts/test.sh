#!/usr/bin/env bash
# Owns: the whole test suite, as the README's second command and .ci/run run it. Installs and
# starts the local services (tests/scripts/install.sh, services-up.sh), builds every plugin once in
# the test profile, then runs every unit and end-to-end test. Run as root.
# The image tests need release builds of every plugin: tests/scripts/test-images.sh runs them.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash tests/scripts/install.sh
bash tests/scripts/services-up.sh
# One build of the binaries the end-to-end tests run, in the same profile as the tests.
cargo build --workspace --locked
cargo test --workspace --locked --all-features
