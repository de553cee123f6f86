#!/usr/bin/env bash
# Owns: the image tests — builds every plugin image (release, static; docker/build.sh) on the
# locally made dind base, then runs tests/tests/images.rs, which runs each image as a pipeline
# step against the local services. Not part of .ci/run yet: the release builds take longer than
# CI's budget leaves. Run as root.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash tests/scripts/install.sh
bash tests/scripts/services-up.sh
bash tests/scripts/make-dind-base.sh
bash docker/build.sh --base longshore-test/dind-base:latest
cargo test --locked -p longshore-tests --test images -- --ignored
