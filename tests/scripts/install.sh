#!/usr/bin/env bash
# Owns: installing, as root and idempotently (skipping what is present), what the
# end-to-end tests need. It only installs; tests/scripts/services-up.sh starts the
# services. Only the package registries are used (apt, PyPI, crates.io): nothing else
# can be downloaded on the project's machines.
#   * Debian packages for the docker plugin: dockerd, the distribution registry, a
#     static busybox for the base image, htpasswd for bcrypt, openssl, curl, iproute2.
#   * For the s3 plugin, a Python virtualenv $VENV with moto[server] (in-memory S3
#     that checks neither auth nor checksums) and awscli v1 (the reference client).
#   * For the gcs plugin, gcp-storage-emulator (in-memory GCS JSON API) in the same venv.
#   * For the s3 plugin, s3s-fs (S3 on the file system; checks SigV4, Content-MD5 and
#     checksums), by cargo install into the default cargo bin dir ($HOME/.cargo/bin).
#     Pinned to 0.14.1: 0.15 and later need rustc >= 1.96. Takes ~2.5 min on 2 cores.
set -euo pipefail

PACKAGES=(
    docker.io        # dockerd 20.10, containerd, runc, iptables
    docker-registry  # distribution registry 2.8 (/usr/bin/docker-registry)
    busybox-static   # /bin/busybox, the only binary of the locally made base image
    openssh-client   # ssh-agent, ssh-add, ssh-keygen: PLUGIN_SSH_AGENT_KEY and its test
    apache2-utils    # htpasswd -B (bcrypt) for the authenticated registry
    openssl          # test CA and server certificate
    curl             # readiness probes (/_ping, /v2/)
    iproute2         # ip, to inspect docker0
)

VENV=/opt/longshore-venv
PYTHON=${LONGSHORE_PYTHON:-python3} # CPython >= 3.9 with venv and pip
MOTO_VERSION=5.2.5
AWSCLI_VERSION=1.46.3
GCS_EMULATOR_VERSION=2026.7.19
S3SFS_VERSION=0.14.1

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

need_root() { # WHAT
    [ "$(id -u)" -eq 0 ] || die "must run as root to install: $1"
}

# ------------------------------------------------------------------------------- apt

# No `dpkg -s | grep -q` here: under pipefail, grep quitting at the first match can
# kill dpkg with SIGPIPE and make an installed package look missing.
installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = 'install ok installed' ]
}

# Keep package scripts from starting docker or docker-registry through init.d: the
# Debian registry would take port 5000 with its own htpasswd config, and services-up.sh
# wants to own both. policy-rc.d exit code 101 means "action forbidden".
policy=/usr/sbin/policy-rc.d
made_policy=0
cleanup() {
    if [ "$made_policy" -eq 1 ]; then
        rm -f "$policy"
        made_policy=0
    fi
}
trap cleanup EXIT

install_apt() {
    local missing=() pkg
    for pkg in "${PACKAGES[@]}"; do
        installed "$pkg" || missing+=("$pkg")
    done

    if [ "${#missing[@]}" -eq 0 ]; then
        say "all packages present: ${PACKAGES[*]}"
        return
    fi
    need_root "${missing[*]}"

    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        made_policy=1
    fi

    export DEBIAN_FRONTEND=noninteractive
    say "installing: ${missing[*]}"
    apt-get update -q
    apt-get install -y -q "${missing[@]}"

    for pkg in "${missing[@]}"; do
        installed "$pkg" || die "$pkg is still not installed"
    done
    cleanup
}

# ----------------------------------------------------------- Python venv: moto, awscli

# True when the venv's interpreter runs and has exactly the pinned versions.
venv_ok() {
    [ -x "$VENV/bin/moto_server" ] && [ -x "$VENV/bin/aws" ] || return 1
    [ -x "$VENV/bin/gcp-storage-emulator" ] || return 1
    "$VENV/bin/python" - "$MOTO_VERSION" "$AWSCLI_VERSION" "$GCS_EMULATOR_VERSION" 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
import moto.server  # noqa: F401  (fails if the [server] extra is incomplete)
got = (version("moto"), version("awscli"), version("gcp-storage-emulator"))
sys.exit(0 if got == tuple(sys.argv[1:4]) else 1)
PY
}

install_venv() {
    if venv_ok; then
        say "venv $VENV present: moto $MOTO_VERSION, awscli $AWSCLI_VERSION, gcp-storage-emulator $GCS_EMULATOR_VERSION"
        return
    fi
    need_root "$VENV"
    # A venv whose base interpreter went away cannot be repaired: make it again.
    if [ -e "$VENV" ] && ! "$VENV/bin/python" -c '' 2>/dev/null; then
        say "removing broken venv $VENV"
        rm -rf "$VENV"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating venv $VENV with $("$PYTHON" --version 2>&1)"
        "$PYTHON" -m venv "$VENV"
    fi
    say "installing moto[server]==$MOTO_VERSION awscli==$AWSCLI_VERSION gcp-storage-emulator==$GCS_EMULATOR_VERSION into $VENV"
    "$VENV/bin/python" -m pip install --no-input --quiet \
        "moto[server]==$MOTO_VERSION" "awscli==$AWSCLI_VERSION" \
        "gcp-storage-emulator==$GCS_EMULATOR_VERSION"
    venv_ok || die "venv $VENV still lacks moto $MOTO_VERSION, awscli $AWSCLI_VERSION or gcp-storage-emulator $GCS_EMULATOR_VERSION"
}

# --------------------------------------------------------------------------- s3s-fs

s3sfs_bin() {
    command -v s3s-fs 2>/dev/null || printf '%s' "$HOME/.cargo/bin/s3s-fs"
}

s3sfs_ok() {
    local bin
    bin=$(s3sfs_bin)
    [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "s3s-fs $S3SFS_VERSION" ]
}

install_s3sfs() {
    if s3sfs_ok; then
        say "s3s-fs $S3SFS_VERSION present: $(s3sfs_bin)"
        return
    fi
    command -v cargo >/dev/null || die "cargo not found: s3s-fs is installed with cargo install"
    say "cargo install s3s-fs $S3SFS_VERSION (about 2.5 min on 2 cores)"
    # nice: the machine's two cores are usually shared with a workspace build.
    nice -n 10 cargo install s3s-fs --version "$S3SFS_VERSION" --features binary --locked
    s3sfs_ok || die "s3s-fs $S3SFS_VERSION not found after cargo install (looked at $(s3sfs_bin))"
}

install_apt
install_venv
install_s3sfs
say "done"
