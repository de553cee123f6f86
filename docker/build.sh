#!/usr/bin/env bash
# Owns: building every plugin image in one command. Each plugin is compiled on its own
# (`-p longshore-<name>`, so a binary links only its own features), as a static glibc binary,
# then packed: upload plugins FROM scratch with the CA bundle, image
# plugins on a dind base (BASE, default the official docker:*-dind image).
#
#   docker/build.sh [--base IMAGE] [--tag-prefix longshore/] [--prebuilt] [PLUGIN ...]
#
# --prebuilt packs the binaries already in target/x86_64-unknown-linux-gnu/release without
# compiling: tests/scripts/test.sh builds the whole workspace there once (one feature set for all,
# so each binary is about 1 MB larger than its own `-p` build) and tests the images it packs.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-gnu
BASE=docker:28.1.1-dind
PREFIX=longshore/
PREBUILT=false
while [ $# -gt 0 ]; do
    case "$1" in
        --base) BASE=$2; shift 2 ;;
        --tag-prefix) PREFIX=$2; shift 2 ;;
        --prebuilt) PREBUILT=true; shift ;;
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

# Static glibc: the images run FROM scratch and on musl-based dind bases. The flag reaches only
# the named target (--target), not build scripts and proc-macros, which must stay dynamic.
# glibc 2.36 resolves /etc/hosts and DNS in a static binary without NSS modules (checked in an
# empty image).
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"
if [ "$PREBUILT" = false ]; then
    for p in "${PLUGINS[@]}"; do
        cargo build --release --locked --target "$TARGET" -p "longshore-$p"
    done
fi

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
