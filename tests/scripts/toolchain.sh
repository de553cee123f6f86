#!/usr/bin/env bash
# Owns: making the toolchain that rust-toolchain.toml pins resolve to the machine's one installed
# toolchain, before any cargo command runs in the tree. rustup knows a toolchain by its name: where
# the machine has 1.95.0 only as `stable`, a file naming `1.95.0` would make rustup download it (no
# network for that here) or fail. If the installed default toolchain is exactly the pinned version,
# it is aliased under the pinned name (the alias these machines already carry); any other version
# is an error that says so, never a download.
set -euo pipefail
cd "$(dirname "$0")/../.."

pinned=$(sed -n 's/^channel = "\(.*\)"$/\1/p' rust-toolchain.toml)
[ -n "$pinned" ] || { echo "toolchain: no channel in rust-toolchain.toml" >&2; exit 1; }
if rustup toolchain list | grep -q "^$pinned-"; then
    exit 0
fi
default=$(rustup default | cut -d' ' -f1)
version=$(RUSTUP_TOOLCHAIN="$default" rustc --version | cut -d' ' -f2)
if [ "$version" != "$pinned" ]; then
    echo "toolchain: rust-toolchain.toml pins $pinned, the machine has $default = $version" >&2
    exit 1
fi
sysroot=$(RUSTUP_TOOLCHAIN="$default" rustc --print sysroot)
host=$(RUSTUP_TOOLCHAIN="$default" rustc -vV | sed -n 's/^host: //p')
ln -s "$sysroot" "${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$pinned-$host"
echo "toolchain: $pinned is the installed $default (aliased)"
