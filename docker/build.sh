#!/usr/bin/env bash
# Owns: building every plugin image in one command. The binaries come from the one workspace
# build the tests use (tests/scripts/build.sh: release, static glibc), so the images shipped are
# the ones the test suite runs; then they are packed: upload plugins FROM scratch with the CA
# bundle, image plugins on a dind base (BASE, default the official docker:*-dind image).
#
#   docker/build.sh [--base IMAGE] [--tag-prefix longshore/] [--prebuilt | --separate] [PLUGIN ...]
#
# --prebuilt packs what is already in target/x86_64-unknown-linux-gnu/release (tests/scripts/
# test.sh has just built it). --separate compiles each plugin on its own (`-p`, only its own
# features): measured 0.1-0.5 MB smaller binaries, nine builds of the core instead of one.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-gnu
BASE=docker:28.1.1-dind
PREFIX=longshore/
MODE=workspace
while [ $# -gt 0 ]; do
    case "$1" in
        --base) BASE=$2; shift 2 ;;
        --tag-prefix) PREFIX=$2; shift 2 ;;
        --prebuilt) MODE=prebuilt; shift ;;
        --separate) MODE=separate; shift ;;
        -*) echo "build.sh: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
UPLOAD=(s3 gcs jfrog nexus)
IMAGE=(docker ecr gcr gar acr)
if [ $# -gt 0 ]; then
    PLUGINS=("$@")
else
    PLUGINS=()
    for p in "${IMAGE[@]}" "${UPLOAD[@]}"; do
        [ -d "plugins/$p" ] && PLUGINS+=("$p")
    done
fi
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
REVISION=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

# Static glibc: the images run FROM scratch and on musl-based dind bases. glibc 2.36 resolves
# /etc/hosts and DNS in a static binary without NSS modules (the jfrog image test resolves by name).
# shellcheck source=../tests/scripts/build.sh
. tests/scripts/build.sh
case "$MODE" in
    workspace) cargo build "${CARGO_BUILD_ARGS[@]}" ;;
    separate)
        for p in "${PLUGINS[@]}"; do
            cargo build --release --locked --target "$TARGET" -p "longshore-$p"
        done
        ;;
    prebuilt) ;;
esac

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
for p in "${PLUGINS[@]}"; do
    bin="target/$TARGET/release/longshore-$p"
    if ! ldd "$bin" 2>&1 | grep -q 'statically linked'; then
        echo "build.sh: $bin is not static" >&2
        exit 1
    fi
    rm -rf "${ctx:?}"/*
    cp "$bin" "$ctx/"
    args=(--build-arg "PLUGIN=$p" --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION")
    case " ${UPLOAD[*]} " in
        *" $p "*)
            cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
            docker build -q -f docker/upload.Dockerfile "${args[@]}" -t "${PREFIX}$p:$VERSION" -t "${PREFIX}$p:latest" "$ctx" >/dev/null
            ;;
        *)
            docker build -q -f docker/image.Dockerfile --build-arg "BASE=$BASE" "${args[@]}" -t "${PREFIX}$p:$VERSION" -t "${PREFIX}$p:latest" "$ctx" >/dev/null
            ;;
    esac
    size=$(docker image inspect -f '{{.Size}}' "${PREFIX}$p:latest")
    printf 'build.sh: %s%s:%s  %s bytes (binary %s bytes)\n' "$PREFIX" "$p" "$VERSION" "$size" "$(stat -c %s "$bin")"
done
