#!/usr/bin/env bash
# Owns: installing, as root and idempotently, the Debian packages that the docker
# plugin end-to-end tests need (dockerd, the distribution registry, a static busybox
# for the base image, htpasswd for bcrypt, openssl, curl, iproute2). It only installs;
# tests/scripts/services-up.sh starts the services. Only apt is used: nothing else can
# be downloaded on the project's machines.
set -euo pipefail

PACKAGES=(
    docker.io        # dockerd 20.10, containerd, runc, iptables
    docker-registry  # distribution registry 2.8 (/usr/bin/docker-registry)
    busybox-static   # /bin/busybox, the only binary of the locally made base image
    apache2-utils    # htpasswd -B (bcrypt) for the authenticated registry
    openssl          # test CA and server certificate
    curl             # readiness probes (/_ping, /v2/)
    iproute2         # ip, to inspect docker0
)

installed() {
    dpkg -s "$1" 2>/dev/null | grep -qx 'Status: install ok installed'
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install.sh: all packages present: ${PACKAGES[*]}"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: must run as root to install: ${missing[*]}" >&2
    exit 1
fi

# Keep package scripts from starting docker or docker-registry through init.d: the
# Debian registry would take port 5000 with its own htpasswd config, and services-up.sh
# wants to own both. policy-rc.d exit code 101 means "action forbidden".
policy=/usr/sbin/policy-rc.d
made_policy=0
cleanup() {
    if [ "$made_policy" -eq 1 ]; then
        rm -f "$policy"
    fi
}
trap cleanup EXIT
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    made_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install.sh: installing: ${missing[*]}"
apt-get update -q
apt-get install -y -q "${missing[@]}"

for pkg in "${missing[@]}"; do
    if ! installed "$pkg"; then
        echo "install.sh: $pkg is still not installed" >&2
        exit 1
    fi
done
echo "install.sh: done"
