#!/usr/bin/env bash
# Owns: the locally made stand-in for the official docker:*-dind base image (nothing can be
# pulled here): a root filesystem with busybox, this machine's dockerd, containerd, runc,
# docker-init, docker-proxy and iptables (legacy, with the xtables modules), plus every shared
# library they link, imported as longshore-test/dind-base:latest. Idempotent. Run as root.
set -euo pipefail

IMAGE=${1:-longshore-test/dind-base:latest}
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "make-dind-base: $IMAGE present"
    exit 0
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,tmp,run,var/lib/docker,root,proc,sys,dev,lib64}
chmod 1777 "$root/tmp"

copy_with_libs() { # BINARY...
    local bin lib
    for bin in "$@"; do
        mkdir -p "$root$(dirname "$bin")"
        cp -L "$bin" "$root$bin"
        for lib in $(ldd "$bin" 2>/dev/null | grep -o '/[^ ]*' || true); do
            [ -e "$root$lib" ] && continue
            mkdir -p "$root$(dirname "$lib")"
            cp -L "$lib" "$root$lib"
        done
    done
}

cp /bin/busybox "$root/bin/busybox"
for applet in sh ls cat echo mkdir mount umount rm cp mv ln sleep grep sed env id ps kill modprobe true false test; do
    ln -sf busybox "$root/bin/$applet"
done
copy_with_libs /usr/sbin/dockerd /usr/sbin/docker-proxy /usr/bin/containerd /usr/bin/containerd-shim-runc-v2 \
    /usr/bin/runc /usr/bin/docker-init /usr/sbin/iptables-legacy /usr/sbin/ip6tables-legacy
# iptables loads its match/target modules at run time.
mkdir -p "$root/usr/lib/x86_64-linux-gnu"
cp -rL /usr/lib/x86_64-linux-gnu/xtables "$root/usr/lib/x86_64-linux-gnu/"
for t in iptables iptables-save iptables-restore; do ln -sf iptables-legacy "$root/usr/sbin/$t"; done
for t in ip6tables ip6tables-save ip6tables-restore; do ln -sf ip6tables-legacy "$root/usr/sbin/$t"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\ndocker:x:999:\n' >"$root/etc/group"
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV DOCKER_HOST=unix:///var/run/docker.sock' \
    - "$IMAGE" >/dev/null
echo "make-dind-base: $IMAGE made ($(docker image inspect -f '{{.Size}}' "$IMAGE") bytes)"
