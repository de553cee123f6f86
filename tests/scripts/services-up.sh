#!/usr/bin/env bash
# Owns: starting, idempotently and on loopback only, the real local services that the
# docker plugin end-to-end tests use, and writing $STATE/env that tells tests how to
# reach them:
#   * dockerd on /var/run/docker.sock (only if no daemon answers /_ping there);
#   * a test CA and server certificate in $STATE/tls, trusted by dockerd via
#     /etc/docker/certs.d/{127.0.0.1,localhost}:5443/ca.crt;
#   * the distribution registry twice: plain HTTP without auth on 127.0.0.1:5000, and
#     TLS with htpasswd (bcrypt) auth on 127.0.0.1:5443;
#   * the base image longshore-test/busybox:latest, imported from busybox-static
#     (nothing can be pulled here);
#   * two S3 servers for the s3 plugin, each with the bucket longshore-test:
#     moto on 127.0.0.1:5601 (in memory: its buckets are gone after a restart; accepts
#     any credentials, checks no checksum) and s3s-fs on 127.0.0.1:5602 (files under
#     $STATE/s3s-fs/<bucket>/<key>; checks SigV4 with its one key pair, Content-MD5 and
#     checksums);
#   * gcp-storage-emulator for the gcs plugin on 127.0.0.1:5603 (in memory, no auth,
#     single-threaded HTTP/1.0) with the bucket longshore-test, soft delete off.
# Everything it starts has a pid file in $STATE; tests/scripts/services-down.sh stops
# exactly those. Packages come from tests/scripts/install.sh. Run as root.
#
# Never start a second dockerd in this network namespace: even with --bridge=none it
# deletes the first daemon's docker0, and containers and RUN steps then fail.
set -euo pipefail

STATE=${LONGSHORE_STATE:-/tmp/longshore-services}
DOCKER_SOCK=/var/run/docker.sock
DOCKERD=/usr/sbin/dockerd
REGISTRY_BIN=/usr/bin/docker-registry
BUSYBOX=/bin/busybox
PLAIN_ADDR=127.0.0.1:5000
TLS_ADDR=127.0.0.1:5443
REGISTRY_USER=longshore
# Its standard base64 ("longshore:" + password) contains '/', which URL-safe base64
# spells '_': this catches clients that encode X-Registry-Auth with the wrong alphabet.
REGISTRY_PASSWORD='Lsh0re+pw/secret?1>'
BASE_IMAGE=longshore-test/busybox:latest
TLS_DIR=$STATE/tls
CA_CRT=$TLS_DIR/ca.crt
CERTS_D=/etc/docker/certs.d
AUTH_CHANGED=0
BUSYBOX_APPLETS=(sh echo cat ls mkdir cp mv rm touch true false sleep env wc head grep test id)
VENV=/opt/longshore-venv
MOTO_BIN=$VENV/bin/moto_server
AWS_CLI=$VENV/bin/aws
S3SFS_BIN=$(command -v s3s-fs 2>/dev/null || printf '%s' "$HOME/.cargo/bin/s3s-fs")
MOTO_ADDR=127.0.0.1:5601
S3SFS_ADDR=127.0.0.1:5602
S3SFS_ACCESS_KEY=longshore
# '+' and '/' as in real AWS secret keys: they must survive the signing code unescaped.
S3SFS_SECRET_KEY='Lsh0reS3cretKey+/abc'
S3_BUCKET=longshore-test
GCS_EMULATOR_BIN=$VENV/bin/gcp-storage-emulator
GCS_ADDR=127.0.0.1:5603
GCS_BUCKET=longshore-test

say() { printf 'services-up: %s\n' "$*"; }
die() { printf 'services-up: error: %s\n' "$*" >&2; exit 1; }

show_log_tail() { # LOGFILE
    if [ -s "$1" ]; then
        printf -- '--- last lines of %s ---\n' "$1" >&2
        tail -n 40 "$1" >&2
        printf -- '--- end of %s ---\n' "$1" >&2
    else
        printf 'services-up: %s is empty or missing\n' "$1" >&2
    fi
}

now_ms() {
    local t=${EPOCHREALTIME/[.,]/}
    printf '%s' "$((t / 1000))"
}

# A pid from a pid file, printed only if that process is alive and runs BINARY (for an
# interpreter: and has ARG among its arguments).
live_pid() { # PIDFILE BINARY [ARG]
    local pid exe
    [ -s "$1" ] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    [ "${exe% (deleted)}" = "$2" ] || return 1
    if [ -n "${3:-}" ]; then
        tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$3" || return 1
    fi
    printf '%s' "$pid"
}

pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# Poll CHECK every 50 ms for up to TIMEOUT_S seconds. Gives up early when PID (if not
# empty) has exited.
wait_for() { # TIMEOUT_S PID CHECK...
    local timeout_ms=$(($1 * 1000)) pid=$2 start
    shift 2
    start=$(now_ms)
    while :; do
        if "$@"; then
            return 0
        fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        if [ $(($(now_ms) - start)) -ge "$timeout_ms" ]; then
            return 1
        fi
        sleep 0.05
    done
}

# Start a command in its own session, detached from this shell, logging to LOGFILE.
# Prints the pid of the command itself (setsid execs when not a group leader).
start_detached() { # LOGFILE CMD...
    local log=$1
    shift
    setsid nohup "$@" </dev/null >>"$log" 2>&1 &
    printf '%s' "$!"
}

docker_ok() {
    [ "$(curl -s --max-time 5 --unix-socket "$DOCKER_SOCK" http://localhost/_ping 2>/dev/null)" = OK ]
}

http_code() { # URL [CURL ARGS...]
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" 2>/dev/null || true
}

# Any HTTP answer at all (curl prints 000 when nothing answers).
http_answers() { # URL
    local code
    code=$(http_code "$1")
    [ -n "$code" ] && [ "$code" != 000 ]
}

plain_registry_ok() { [ "$(http_code "http://$PLAIN_ADDR/v2/")" = 200 ]; }
moto_ok() { http_answers "http://$MOTO_ADDR/"; }
s3sfs_ok() { http_answers "http://$S3SFS_ADDR/"; }
gcs_ok() { http_answers "http://$GCS_ADDR/"; }
tls_registry_ok() { [ "$(http_code "https://$TLS_ADDR/v2/" --cacert "$CA_CRT")" = 401 ]; }

check_tools() {
    local tool
    for tool in "$DOCKERD" "$REGISTRY_BIN" "$BUSYBOX" /usr/bin/htpasswd /usr/bin/openssl /usr/bin/curl; do
        [ -x "$tool" ] || die "$tool not found: run tests/scripts/install.sh first"
    done
    command -v docker >/dev/null || die "docker CLI not found: run tests/scripts/install.sh first"
    for tool in "$MOTO_BIN" "$AWS_CLI" "$S3SFS_BIN" "$GCS_EMULATOR_BIN"; do
        [ -x "$tool" ] || die "$tool not found: run tests/scripts/install.sh first"
    done
}

# ---------------------------------------------------------------------------- dockerd

ensure_dockerd() {
    local pidfile=$STATE/dockerd.pid log=$STATE/dockerd.log pid
    if docker_ok; then
        if pid=$(live_pid "$pidfile" "$DOCKERD"); then
            say "dockerd already running (pid $pid, started by this script)"
        else
            say "dockerd already answering on $DOCKER_SOCK (not started by this script)"
        fi
        return
    fi
    if pid=$(live_pid "$pidfile" "$DOCKERD"); then
        say "dockerd (pid $pid) is running but not answering yet; waiting"
    else
        rm -f "$pidfile"
        : >"$log"
        say "starting dockerd (log $log)"
        # Default networking (docker0 + iptables): containers and RUN steps need the
        # bridge. dockerd writes and removes its own pid file.
        pid=$(start_detached "$log" "$DOCKERD" \
            -H "unix://$DOCKER_SOCK" \
            --pidfile "$pidfile")
    fi
    local start
    start=$(now_ms)
    if ! wait_for 30 "$pid" docker_ok; then
        show_log_tail "$log"
        die "dockerd did not answer /_ping with OK within 30 s"
    fi
    say "dockerd ready in $(($(now_ms) - start)) ms (pid $pid)"
}

# ------------------------------------------------------------------------- TLS + auth

# Sets AUTH_CHANGED=1 when it makes new certificates.
ensure_tls() {
    if [ -s "$CA_CRT" ] && [ -s "$TLS_DIR/server.crt" ] && [ -s "$TLS_DIR/server.key" ]; then
        return
    fi
    say "making test CA and server certificate in $TLS_DIR"
    local tmp
    tmp=$(mktemp -d "$STATE/tls.tmp.XXXXXX")
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
        -subj '/CN=longshore test CA' \
        -addext 'basicConstraints=critical,CA:TRUE' \
        -addext 'keyUsage=critical,keyCertSign,cRLSign' \
        -keyout "$tmp/ca.key" -out "$tmp/ca.crt" 2>/dev/null
    openssl req -new -newkey rsa:2048 -nodes -sha256 \
        -subj '/CN=localhost' \
        -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
    cat >"$tmp/server.ext" <<'EOF'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
EOF
    openssl x509 -req -sha256 -days 3650 -in "$tmp/server.csr" \
        -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial \
        -extfile "$tmp/server.ext" -out "$tmp/server.crt" 2>/dev/null
    openssl verify -CAfile "$tmp/ca.crt" "$tmp/server.crt" >/dev/null
    chmod 0644 "$tmp/ca.crt" "$tmp/server.crt"
    chmod 0600 "$tmp/ca.key" "$tmp/server.key"
    rm -rf "$TLS_DIR"
    mv "$tmp" "$TLS_DIR"
    AUTH_CHANGED=1
}

ensure_ca_trusted_by_dockerd() {
    # dockerd reads certs.d on every push or pull: no restart needed.
    local host dest
    for host in 127.0.0.1:5443 localhost:5443; do
        dest=$CERTS_D/$host/ca.crt
        if ! cmp -s "$CA_CRT" "$dest"; then
            install -D -m 0644 "$CA_CRT" "$dest"
            say "installed test CA as $dest"
        fi
    done
}

# The logins the TLS registry accepts: the test user, and the fixed logins the cloud credential
# flows end in (what moto's ECR token decodes to, the Google and Azure fixtures' tokens), so a
# registry plugin's push proves the flow produced exactly those credentials.
CLOUD_LOGINS=(
    "AWS:123456789012-auth-token"
    "oauth2accesstoken:ya29.longshore-fixture-access-token"
    "00000000-0000-0000-0000-000000000000:longshore-fixture-acr-refresh-token"
)

# Sets AUTH_CHANGED=1 when it (re)writes the htpasswd file.
ensure_htpasswd() {
    local file=$STATE/registry-auth.htpasswd login ok=1
    if [ -s "$file" ] && htpasswd -vb "$file" "$REGISTRY_USER" "$REGISTRY_PASSWORD" >/dev/null 2>&1; then
        for login in "${CLOUD_LOGINS[@]}"; do
            htpasswd -vb "$file" "${login%%:*}" "${login#*:}" >/dev/null 2>&1 || ok=0
        done
        [ "$ok" = 1 ] && return
    fi
    # The registry would make a file with a random user if this one were missing.
    htpasswd -Bbn "$REGISTRY_USER" "$REGISTRY_PASSWORD" | sed '/^$/d' >"$file.tmp"
    for login in "${CLOUD_LOGINS[@]}"; do
        htpasswd -Bbn "${login%%:*}" "${login#*:}" | sed '/^$/d' >>"$file.tmp"
    done
    chmod 0644 "$file.tmp"
    mv "$file.tmp" "$file"
    AUTH_CHANGED=1
}

# ------------------------------------------------------------------------- registries

write_registry_config() { # NAME ADDR
    local name=$1 addr=$2 config=$STATE/$1.yml
    {
        cat <<EOF
# Written by tests/scripts/services-up.sh
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/$name
  delete:
    enabled: true
http:
  addr: $addr
  secret: longshore-test-$name
EOF
        if [ "$name" = registry-auth ]; then
            cat <<EOF
  tls:
    certificate: $TLS_DIR/server.crt
    key: $TLS_DIR/server.key
auth:
  htpasswd:
    realm: longshore-test
    path: $STATE/registry-auth.htpasswd
EOF
        fi
    } >"$config.tmp"
    mv "$config.tmp" "$config"
}

# RESTART=1: the TLS files or the htpasswd file changed; restart our own instance.
ensure_registry() { # NAME ADDR CHECK_FN RESTART(0|1)
    local name=$1 addr=$2 check=$3 restart=$4
    local pidfile=$STATE/$name.pid log=$STATE/$name.log pid
    write_registry_config "$name" "$addr"
    if [ "$restart" = 1 ] && pid=$(live_pid "$pidfile" "$REGISTRY_BIN"); then
        say "$name: certificate or credentials changed, restarting pid $pid"
        kill "$pid"
        wait_for 10 "" pid_gone "$pid" || kill -9 "$pid" 2>/dev/null || true
        rm -f "$pidfile"
    fi
    if "$check"; then
        say "$name already answering on $addr"
        return
    fi
    if pid=$(live_pid "$pidfile" "$REGISTRY_BIN"); then
        say "$name (pid $pid) is running but not answering yet; waiting"
    else
        mkdir -p "$STATE/$name"
        : >"$log"
        pid=$(start_detached "$log" "$REGISTRY_BIN" serve "$STATE/$name.yml")
        printf '%s\n' "$pid" >"$pidfile"
    fi
    if ! wait_for 15 "$pid" "$check"; then
        show_log_tail "$log"
        die "$name did not become ready on $addr within 15 s"
    fi
    say "$name ready on $addr (pid $pid)"
}

# ------------------------------------------------------------------------- S3 servers

# Start NAME unless something answers CHECK already; wait until it answers.
# EXE and ARG identify our own instance in its pid file (see live_pid).
ensure_s3_server() { # NAME ADDR CHECK EXE ARG -- CMD...
    local name=$1 addr=$2 check=$3 exe=$4 arg=$5
    local pidfile=$STATE/$name.pid log=$STATE/$name.log pid start
    shift 6
    if "$check"; then
        if pid=$(live_pid "$pidfile" "$exe" "$arg"); then
            say "$name already running on $addr (pid $pid)"
        else
            say "$name already answering on $addr (not started by this script)"
        fi
        return
    fi
    start=$(now_ms)
    if pid=$(live_pid "$pidfile" "$exe" "$arg"); then
        say "$name (pid $pid) is running but not answering yet; waiting"
    else
        : >"$log"
        say "starting $name on $addr (log $log)"
        pid=$(start_detached "$log" "$@")
        printf '%s\n' "$pid" >"$pidfile"
    fi
    if ! wait_for 30 "$pid" "$check"; then
        show_log_tail "$log"
        die "$name did not answer on $addr within 30 s"
    fi
    say "$name ready on $addr in $(($(now_ms) - start)) ms (pid $pid)"
}

ensure_moto() {
    # moto_server is a Python script: its process runs the venv's interpreter.
    ensure_s3_server moto "$MOTO_ADDR" moto_ok "$(readlink -f "$VENV/bin/python")" "$MOTO_BIN" -- \
        "$MOTO_BIN" -H "${MOTO_ADDR%:*}" -p "${MOTO_ADDR##*:}"
}

ensure_s3sfs() {
    mkdir -p "$STATE/s3s-fs"
    ensure_s3_server s3s-fs "$S3SFS_ADDR" s3sfs_ok "$(readlink -f "$S3SFS_BIN")" "" -- \
        "$S3SFS_BIN" --host "${S3SFS_ADDR%:*}" --port "${S3SFS_ADDR##*:}" \
        --access-key "$S3SFS_ACCESS_KEY" --secret-key "$S3SFS_SECRET_KEY" "$STATE/s3s-fs"
}

ensure_gcs_emulator() {
    # A Python script too; in memory, so its bucket is made again after every restart.
    ensure_s3_server gcs-emulator "$GCS_ADDR" gcs_ok "$(readlink -f "$VENV/bin/python")" "$GCS_EMULATOR_BIN" -- \
        "$GCS_EMULATOR_BIN" start -H "${GCS_ADDR%:*}" --port "${GCS_ADDR##*:}" --in-memory -q
    local base=http://$GCS_ADDR/storage/v1/b code
    # -H 'Expect:': the emulator ignores Expect: 100-continue (test-servers §6.1).
    code=$(http_code "$base/$GCS_BUCKET")
    if [ "$code" != 200 ]; then
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Expect:' \
            -H 'Content-Type: application/json' -d "{\"name\":\"$GCS_BUCKET\"}" \
            "$base?project=longshore-test") || true
        [ "$code" = 200 ] || die "gcs-emulator: could not create bucket $GCS_BUCKET (HTTP $code)"
        say "gcs-emulator: created bucket $GCS_BUCKET"
    fi
    # Soft delete is on by default (7 days) and only a PATCH turns it off: deleted objects
    # would otherwise stay in the index the emulator rewrites on every write.
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PATCH -H 'Expect:' \
        -H 'Content-Type: application/json' -d '{"softDeletePolicy":{"retentionDurationSeconds":"0"}}' \
        "$base/$GCS_BUCKET") || true
    [ "$code" = 200 ] || die "gcs-emulator: could not turn soft delete off (HTTP $code)"
}

# The venv's awscli against ENDPOINT, isolated from the caller's AWS settings.
# AWS_CA_BUNDLE (set on the project's machines) would be applied to the plain-HTTP
# endpoint too; no config or credentials file, profile or session token may leak in.
aws_cli() { # ENDPOINT ACCESS_KEY SECRET_KEY ARGS...
    local endpoint=$1 access=$2 secret=$3
    shift 3
    env -u AWS_CA_BUNDLE -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_SESSION_TOKEN \
        -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_S3 \
        AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
        AWS_ACCESS_KEY_ID="$access" AWS_SECRET_ACCESS_KEY="$secret" \
        AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
        "$AWS_CLI" --endpoint-url "$endpoint" "$@"
}

ensure_bucket() { # NAME ENDPOINT ACCESS_KEY SECRET_KEY BUCKET
    local name=$1 endpoint=$2 access=$3 secret=$4 bucket=$5 out
    if aws_cli "$endpoint" "$access" "$secret" s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
        say "$name: bucket $bucket present"
        return
    fi
    if ! out=$(aws_cli "$endpoint" "$access" "$secret" s3 mb "s3://$bucket" 2>&1); then
        printf '%s\n' "$out" >&2
        die "$name: could not create bucket $bucket on $endpoint"
    fi
    say "$name: created bucket $bucket"
}

# ------------------------------------------------------------------------- base image

ensure_base_image() {
    if docker -H "unix://$DOCKER_SOCK" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        say "base image $BASE_IMAGE present"
        return
    fi
    say "importing base image $BASE_IMAGE from $BUSYBOX"
    local tmp applet
    tmp=$(mktemp -d "$STATE/base.tmp.XXXXXX")
    mkdir -p "$tmp/rootfs/bin" "$tmp/rootfs/etc" "$tmp/rootfs/root" "$tmp/rootfs/tmp"
    chmod 1777 "$tmp/rootfs/tmp"
    cp -L "$BUSYBOX" "$tmp/rootfs/bin/busybox"
    for applet in "${BUSYBOX_APPLETS[@]}"; do
        ln -s busybox "$tmp/rootfs/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$tmp/rootfs/etc/passwd"
    printf 'root:x:0:\n' >"$tmp/rootfs/etc/group"
    tar -C "$tmp/rootfs" --owner=0 --group=0 --numeric-owner -cf "$tmp/base.tar" .
    docker -H "unix://$DOCKER_SOCK" import \
        --change 'ENV PATH=/bin' \
        --change 'CMD ["/bin/sh"]' \
        "$tmp/base.tar" "$BASE_IMAGE" >/dev/null
    rm -rf "$tmp"
}

# ------------------------------------------------------------------------------- env

write_env() {
    local env=$STATE/env
    # Values are single-quoted so the file can be sourced (the password holds '>' and
    # '?', the S3 secret '+' and '/'); none contains a single quote. moto accepts any
    # credentials. Non-shell readers: strip one pair of quotes.
    cat >"$env.tmp" <<EOF
DOCKER_HOST='unix://$DOCKER_SOCK'
LONGSHORE_REGISTRY_PLAIN='$PLAIN_ADDR'
LONGSHORE_REGISTRY_TLS='$TLS_ADDR'
LONGSHORE_REGISTRY_USER='$REGISTRY_USER'
LONGSHORE_REGISTRY_PASSWORD='$REGISTRY_PASSWORD'
LONGSHORE_REGISTRY_CA='$CA_CRT'
LONGSHORE_BASE_IMAGE='$BASE_IMAGE'
LONGSHORE_MOTO='http://$MOTO_ADDR'
LONGSHORE_S3SFS='http://$S3SFS_ADDR'
LONGSHORE_S3SFS_ACCESS_KEY='$S3SFS_ACCESS_KEY'
LONGSHORE_S3SFS_SECRET_KEY='$S3SFS_SECRET_KEY'
LONGSHORE_S3_BUCKET='$S3_BUCKET'
LONGSHORE_AWS_CLI='$AWS_CLI'
LONGSHORE_GCS_EMULATOR='http://$GCS_ADDR'
LONGSHORE_GCS_BUCKET='$GCS_BUCKET'
EOF
    if cmp -s "$env.tmp" "$env"; then
        rm -f "$env.tmp"
    else
        mv "$env.tmp" "$env"
    fi
}

main() {
    [ "$(id -u)" -eq 0 ] || die "run as root (dockerd, /etc/docker/certs.d)"
    check_tools
    mkdir -p "$STATE"
    STATE=$(cd "$STATE" && pwd -P)
    TLS_DIR=$STATE/tls
    CA_CRT=$TLS_DIR/ca.crt

    ensure_dockerd
    ensure_tls
    ensure_ca_trusted_by_dockerd
    ensure_htpasswd
    ensure_registry registry-plain "$PLAIN_ADDR" plain_registry_ok 0
    ensure_registry registry-auth "$TLS_ADDR" tls_registry_ok "$AUTH_CHANGED"
    ensure_base_image
    ensure_moto
    ensure_s3sfs
    ensure_bucket moto "http://$MOTO_ADDR" longshore-moto any-secret "$S3_BUCKET"
    ensure_bucket s3s-fs "http://$S3SFS_ADDR" "$S3SFS_ACCESS_KEY" "$S3SFS_SECRET_KEY" "$S3_BUCKET"
    ensure_gcs_emulator
    write_env

    cat <<EOF

Longshore test services (state in $STATE; stop with tests/scripts/services-down.sh):
  dockerd        unix://$DOCKER_SOCK  (log $STATE/dockerd.log if started here)
  registry plain http://$PLAIN_ADDR     no auth
  registry TLS   https://$TLS_ADDR    user $REGISTRY_USER, CA $CA_CRT
  base image     $BASE_IMAGE
  moto (S3)      http://$MOTO_ADDR   any credentials, in memory, bucket $S3_BUCKET
  s3s-fs (S3)    http://$S3SFS_ADDR   key $S3SFS_ACCESS_KEY, data $STATE/s3s-fs, bucket $S3_BUCKET
  gcs emulator   http://$GCS_ADDR   no auth, in memory, bucket $GCS_BUCKET
  aws CLI        $AWS_CLI  (unset AWS_CA_BUNDLE for plain-HTTP endpoints)
Environment for tests:  set -a; . $STATE/env; set +a
EOF
}

main "$@"
