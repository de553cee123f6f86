#!/usr/bin/env bash
# Owns: the README's first command — the main job on local defaults. Starts the local services,
# builds the plugins (the same one build as the tests), then builds an image from tests/fixtures/quickstart with longshore-docker
# and pushes it to the local registry, printing what landed. Run as root.
set -euo pipefail
cd "$(dirname "$0")/../.."
# rust-toolchain.toml pins the toolchain by version: make that name resolve offline first.
bash tests/scripts/toolchain.sh

bash tests/scripts/install.sh
bash tests/scripts/services-up.sh
STATE=${LONGSHORE_STATE:-/tmp/longshore-services}
# shellcheck disable=SC1091
. "$STATE/env"

# shellcheck source=build.sh
. tests/scripts/build.sh
cargo build "${CARGO_BUILD_ARGS[@]}"
BIN="$PWD/$BIN_DIR"

out=$(mktemp -d)
echo "== longshore-docker: build tests/fixtures/quickstart and push to $LONGSHORE_REGISTRY_PLAIN/longshore/quickstart"
(
  cd tests/fixtures/quickstart
  env -i PATH="$PATH" HOME="$HOME" \
    DOCKER_HOST="$DOCKER_HOST" \
    PLUGIN_DAEMON_OFF=true \
    PLUGIN_PULL_IMAGE=false \
    PLUGIN_REPO="$LONGSHORE_REGISTRY_PLAIN/longshore/quickstart" \
    PLUGIN_TAGS=latest,1.0.0 \
    PLUGIN_BUILD_ARGS="BASE=$LONGSHORE_BASE_IMAGE" \
    PLUGIN_ARTIFACT_FILE="$out/artifact.json" \
    DRONE_OUTPUT="$out/output.env" \
    "$BIN/longshore-docker"
)
echo "== DRONE_OUTPUT ($out/output.env)"
cat "$out/output.env"
echo "== registry tags"
curl -fsS "http://$LONGSHORE_REGISTRY_PLAIN/v2/longshore/quickstart/tags/list"
echo

echo "== longshore-s3: upload tests/fixtures/quickstart to s3://$LONGSHORE_S3_BUCKET/quickstart/ on s3s-fs"
env -i PATH="$PATH" HOME="$HOME" \
  AWS_EC2_METADATA_DISABLED=true \
  PLUGIN_BUCKET="$LONGSHORE_S3_BUCKET" \
  PLUGIN_ENDPOINT="$LONGSHORE_S3SFS" \
  PLUGIN_PATH_STYLE=true \
  PLUGIN_ACCESS_KEY="$LONGSHORE_S3SFS_ACCESS_KEY" \
  PLUGIN_SECRET_KEY="$LONGSHORE_S3SFS_SECRET_KEY" \
  PLUGIN_SOURCE=tests/fixtures/quickstart \
  PLUGIN_STRIP_PREFIX=tests/fixtures/ \
  PLUGIN_ARTIFACT_FILE="$out/files.json" \
  "$BIN/longshore-s3"
echo "== artifact file ($out/files.json)"
cat "$out/files.json"
echo
echo "== objects"
env -u AWS_CA_BUNDLE AWS_ACCESS_KEY_ID="$LONGSHORE_S3SFS_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$LONGSHORE_S3SFS_SECRET_KEY" \
  AWS_DEFAULT_REGION=us-east-1 "$LONGSHORE_AWS_CLI" --endpoint-url "$LONGSHORE_S3SFS" \
  s3 ls --recursive "s3://$LONGSHORE_S3_BUCKET/quickstart/"
