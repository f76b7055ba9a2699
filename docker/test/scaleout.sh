#!/usr/bin/env bash
# Scale-out test of docker/compose.yaml (make test-docker):
#
#   haproxy (TCP, PROXY v2) -> fpserver-1, fpserver-2 -> Postgres; emuproxy on
#   the same Postgres.
#
# It runs its own dockerd (private socket, data root and exec root in a temp
# directory, no bridge, no iptables: every container uses host networking on
# loopback addresses), builds local stand-ins for the base images the
# Dockerfile and compose file name (no registry is needed: a Debian rootfs made
# by debootstrap from the Debian archive, cached between runs, plus the host's
# Go toolchain), then brings the stack up with the unchanged compose file and
# checks:
#
#   1. captures made through haproxy carry the client's address, not haproxy's;
#      a PROXY header from any other address is refused;
#   2. h2load through haproxy reaches both replicas and every answered request
#      is a capture in Postgres;
#   3. with Postgres down both replicas spool; fpserver-1 is SIGKILLed under
#      h2load; new connections through haproxy keep succeeding; after Postgres
#      and fpserver-1 come back, every capture fpserver-1 had acknowledged into
#      its spool is in Postgres (counted);
#   4. emuproxy serves a profile inserted into Postgres within its reload
#      interval.
#
# Missing tools skip the test, or fail it under CI=true.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$PWD"

log() { printf 'scaleout: %s\n' "$*" >&2; }
fail() { printf 'scaleout: FAIL: %s\n' "$*" >&2; exit 1; }

# ---- tools -----------------------------------------------------------------
missing=()
for t in dockerd docker debootstrap h2load curl psql jq go ss; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
if [ "$(id -u)" != 0 ]; then missing+=("root (dockerd, debootstrap)"); fi
compose=()
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
else
    missing+=("docker compose or docker-compose")
fi
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "${CI:-}" = true ]; then fail "missing: ${missing[*]}"; fi
    log "SKIP: missing: ${missing[*]}"
    exit 0
fi

start=$(date +%s)
work="$(mktemp -d "${TMPDIR:-/tmp}/guanaco-scaleout.XXXXXX")"
sock="$work/docker.sock"
export DOCKER_HOST="unix://$sock"
project="gscale$$"
dockerd_pid=""

cleanup() {
    set +e
    if [ "${KEEP:-}" = 1 ]; then
        log "KEEP=1: left running: DOCKER_HOST=$DOCKER_HOST, dockerd $dockerd_pid, $work"
        return
    fi
    if [ -n "$dockerd_pid" ]; then
        "${compose[@]}" -p "$project" -f docker/compose.yaml down -v -t 2 >/dev/null 2>&1
        kill "$dockerd_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
    fi
    # dockerd unmounts its layers on exit; whatever is still mounted stays.
    grep -o " $work/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$work" 2>/dev/null
}
trap cleanup EXIT
trap "exit 1" INT TERM

# ---- a private dockerd -----------------------------------------------------
log "starting dockerd on $sock"
# GUANACO_DOCKER_ROOT keeps images and the build cache between runs (for
# development); by default everything goes with the temp directory.
nice -n 5 dockerd --host "unix://$sock" --data-root "${GUANACO_DOCKER_ROOT:-$work/root}" --exec-root "$work/exec" \
    --pidfile "$work/docker.pid" --bridge none --iptables=false --ip6tables=false \
    >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.3; done
docker info >/dev/null 2>&1 || { tail -20 "$work/dockerd.log" >&2; fail "dockerd did not start"; }

# ---- stand-in base images --------------------------------------------------
cache="${GUANACO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/guanaco}"
rootfs_tar="$cache/debian-bookworm-standin-v1.tar"
if [ ! -s "$rootfs_tar" ]; then
    log "debootstrap: Debian bookworm rootfs (cached in $rootfs_tar)"
    mkdir -p "$cache"
    nice debootstrap --variant=minbase --include=ca-certificates,postgresql-15,haproxy \
        bookworm "$work/rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1 ||
        { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
    tar -C "$work/rootfs" -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
    rm -rf "$work/rootfs"
fi
base=guanaco-standin/debian:bookworm
# (an image already there, in a kept GUANACO_DOCKER_ROOT, keeps the build cache)
docker image inspect "$base" >/dev/null 2>&1 || docker import "$rootfs_tar" "$base" >/dev/null

# The tags docker/Dockerfile and docker/compose.yaml name by default.
go_image=golang:1.26-bookworm
runtime_image=gcr.io/distroless/static-debian12:nonroot
pg_image=postgres:16-bookworm
haproxy_image=haproxy:2.8
log "stand-ins: $go_image (host Go $(go env GOVERSION)), $runtime_image, $pg_image, $haproxy_image"
printf 'FROM %s\nCOPY . /usr/local/go\nENV GOPATH=/go PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' "$base" |
    docker build -q -t "$go_image" -f - "$(go env GOROOT)" >/dev/null 2>&1 || fail "building the Go stand-in"
# The build stage fetches modules from the Go module proxy: give it the host's
# trust store (which may hold a local egress CA) as the official image has
# Debian's.
mkdir -p "$work/certs"
cp /etc/ssl/certs/ca-certificates.crt "$work/certs/"
printf 'FROM %s\nCOPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n' "$go_image" |
    docker build -q -t "$go_image" -f - "$work/certs" >/dev/null 2>&1 || fail "adding the trust store to the Go stand-in"
docker build -q --build-arg BASE="$base" -t "$pg_image" docker/test/standin-postgres >/dev/null 2>&1 ||
    fail "building the postgres stand-in"
docker tag "$base" "$runtime_image"
docker tag "$base" "$haproxy_image"

# ---- ports -----------------------------------------------------------------
# 20 free consecutive loopback ports, so runs next to other tests do not clash.
pick_base() {
    local used p b i
    used="$(ss -Htan | awk '{print $4}' | sed 's/.*://' | sort -u)"
    for _ in $(seq 50); do
        b=$((20000 + (RANDOM % 2000) * 20))
        for ((i = 0; i < 20; i++)); do
            p=$((b + i))
            grep -qx "$p" <<<"$used" && continue 2
        done
        echo "$b"
        return
    done
    fail "no free port range"
}
b=$(pick_base)
export GUANACO_PG_PORT=$b GUANACO_HTTPS_PORT=$((b + 1)) GUANACO_HTTPS_H1_PORT=$((b + 2)) GUANACO_HTTP_PORT=$((b + 3))
export GUANACO_FP1_HTTPS_PORT=$((b + 4)) GUANACO_FP1_HTTPS_H1_PORT=$((b + 5)) GUANACO_FP1_HTTP_PORT=$((b + 6)) GUANACO_FP1_DEBUG_PORT=$((b + 7))
export GUANACO_FP2_HTTPS_PORT=$((b + 8)) GUANACO_FP2_HTTPS_H1_PORT=$((b + 9)) GUANACO_FP2_HTTP_PORT=$((b + 10)) GUANACO_FP2_DEBUG_PORT=$((b + 11))
export GUANACO_EMUPROXY_PORT=$((b + 12)) GUANACO_EMUPROXY_DEBUG_PORT=$((b + 13))
export GUANACO_HAPROXY_SOURCE=127.0.0.2 GUANACO_STORE_FULL_IP=true
export GUANACO_MAX_CAPTURES_PER_CONN=-1 GUANACO_MAX_CAPTURES_PER_MINUTE=-1
export GUANACO_PROFILES_RELOAD=3s GUANACO_EMUPROXY_ALLOW_PRIVATE=true GUANACO_EMUPROXY_PORTS=$GUANACO_HTTP_PORT
dsn="postgres://guanaco:guanaco@127.0.0.1:$GUANACO_PG_PORT/guanaco"
front="https://localhost:$GUANACO_HTTPS_PORT"

dc() { "${compose[@]}" -p "$project" -f docker/compose.yaml "$@"; }
cid() { dc ps -q "$1"; }
metric() { # metric PORT NAME_WITH_LABELS: the value, 0 when absent
    curl -fsS "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {v = $2} END {print v + 0}'
}
count() { psql -qtA "$dsn" -c 'SELECT count(*) FROM captures'; }
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local secs=$1 what=$2
    shift 2
    for ((i = 0; i < secs * 5; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    fail "timed out after ${secs}s waiting for $what"
}

# ---- up --------------------------------------------------------------------
log "building the image and starting the stack (ports from $b)"
t0=$(date +%s)
if ! dc build >"$work/build.log" 2>&1; then tail -30 "$work/build.log" >&2; fail "image build failed"; fi
log "image built in $(($(date +%s) - t0))s"
dc up -d >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; fail "compose up failed"; }
ca="$work/ca.pem"
wait_for 60 "fpserver-1's CA" docker cp "$(cid fpserver-1):/data/tls/ca.pem" "$ca"
wait_for 60 "fpserver through haproxy" curl -fsS --cacert "$ca" "$front/healthz"
wait_for 60 "fpserver-2's metrics" curl -fsS "http://127.0.0.1:$GUANACO_FP2_DEBUG_PORT/metrics"
docker cp "$(cid fpserver-2):/data/tls/ca.pem" "$work/ca2.pem"
cmp -s "$ca" "$work/ca2.pem" || fail "the replicas have different local CAs"

# ---- 1. client addresses ---------------------------------------------------
log "1. client addresses through haproxy"
ids=()
for _ in 1 2 3 4; do
    out="$(curl -fsS --interface 127.0.0.3 --cacert "$ca" "$front/api/fingerprint")"
    [ "$(jq -r .stored <<<"$out")" = queued ] || fail "capture not queued: $(jq -c '{stored, stored_reason}' <<<"$out")"
    ids+=("$(jq -r .capture_id <<<"$out")")
done
for id in "${ids[@]}"; do
    wait_for 20 "capture $id in Postgres" test "$(psql -qtA "$dsn" -c "SELECT count(*) FROM captures WHERE id = '$id'")" = 1
    ip="$(curl -fsS --cacert "$ca" "$front/api/captures/$id" | jq -r .client_ip)"
    [ "$ip" = 127.0.0.3 ] || fail "capture $id stored client address $ip, want 127.0.0.3 (haproxy is $GUANACO_HAPROXY_SOURCE)"
done
a1=$(metric "$GUANACO_FP1_DEBUG_PORT" guanaco_store_writer_queued_total)
a2=$(metric "$GUANACO_FP2_DEBUG_PORT" guanaco_store_writer_queued_total)
[ "$a1" -ge 1 ] && [ "$a2" -ge 1 ] || fail "round robin: captures per replica $a1, $a2; want both >= 1"
# A PROXY header from an address other than haproxy's is refused, and so is a
# connection from haproxy's address without one.
if curl -fsS --max-time 5 --haproxy-protocol --interface 127.0.0.3 -k \
    "https://127.0.0.1:$GUANACO_FP1_HTTPS_PORT/healthz" >/dev/null 2>&1; then
    fail "a PROXY header from 127.0.0.3 (not haproxy) was accepted"
fi
if curl -fsS --max-time 5 --interface "$GUANACO_HAPROXY_SOURCE" -k \
    "https://127.0.0.1:$GUANACO_FP1_HTTPS_PORT/healthz" >/dev/null 2>&1; then
    fail "a connection from haproxy's address without a PROXY header was accepted"
fi

# ---- 2. h2load through haproxy ---------------------------------------------
log "2. h2load through haproxy"
c0=$(count)
h2load -n 4000 -c 8 -m 8 "$front/api/clean" >"$work/h2load1.log" 2>&1 || true
ok=$(awk '/^status codes:/ {print $3}' "$work/h2load1.log")
[ "${ok:-0}" -eq 4000 ] || { cat "$work/h2load1.log" >&2; fail "h2load: ${ok:-0} of 4000 requests answered 2xx"; }
log "   $(grep -E '^(finished in|requests:)' "$work/h2load1.log" | tr '\n' ' ')"
b1=$(metric "$GUANACO_FP1_DEBUG_PORT" guanaco_store_writer_queued_total)
b2=$(metric "$GUANACO_FP2_DEBUG_PORT" guanaco_store_writer_queued_total)
t0=$(date +%s.%N)
for ((i = 0; i < 600; i++)); do
    [ "$(($(count) - c0))" -ge 4000 ] && break
    sleep 0.2
done
n=$(($(count) - c0))
if [ "$n" -ne 4000 ]; then
    for p in "$GUANACO_FP1_DEBUG_PORT" "$GUANACO_FP2_DEBUG_PORT"; do
        curl -fsS "http://127.0.0.1:$p/metrics" | grep -E '^guanaco_store_writer_(queued|written|dropped|spooled)|^fpserver_web_captures' >&2
    done
    fail "Postgres holds $n new captures, want 4000"
fi
log "   all 4000 in Postgres $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')s after h2load finished"
log "   captures per replica: $((b1 - a1)), $((b2 - a2))"
[ $((b1 - a1)) -ge 1000 ] && [ $((b2 - a2)) -ge 1000 ] || fail "haproxy did not spread the load"

# ---- 3. SIGKILL under load with Postgres down ------------------------------
log "3. Postgres down, fpserver-1 SIGKILLed under load"
before=$(count)
dc stop -t 5 postgres >/dev/null 2>&1
h2load -D 12 -c 8 -m 4 "$front/api/clean" >"$work/h2load2.log" 2>&1 &
load_pid=$!
sleep 4
s1=$(metric "$GUANACO_FP1_DEBUG_PORT" guanaco_store_writer_spooled_total)
[ "$s1" -ge 1 ] || fail "fpserver-1 spooled nothing while Postgres was down"
docker kill -s KILL "$(cid fpserver-1)" >/dev/null
killed_at=$(date +%s.%N)
# New connections through haproxy during the rest of the load: all succeed.
probe_fail=0 probe_ok=0
end=$(($(date +%s) + 6))
while [ "$(date +%s)" -lt "$end" ]; do
    if curl -fsS --max-time 5 --cacert "$ca" "$front/api/clean" >/dev/null 2>&1; then
        probe_ok=$((probe_ok + 1))
    else
        probe_fail=$((probe_fail + 1))
    fi
done
wait "$load_pid" || true
[ "$probe_fail" -eq 0 ] || fail "$probe_fail of $((probe_ok + probe_fail)) new connections through haproxy failed after the kill"
log "   $probe_ok new connections after the kill, none failed; h2load: $(grep '^requests:' "$work/h2load2.log")"
# h2load's clients on the killed replica lose their connection (h2load does
# not reconnect); the others carry on: some requests after the kill succeed.
[ "$(awk '/^status codes:/ {print $3}' "$work/h2load2.log")" -gt 0 ] || fail "h2load got no answer"

s2=$(metric "$GUANACO_FP2_DEBUG_PORT" guanaco_store_writer_spooled_total)
dc start postgres >/dev/null 2>&1
wait_for 60 "Postgres" pg_isready -q -h 127.0.0.1 -p "$GUANACO_PG_PORT"
drained2() { # fpserver-2 writes directly again and every spooled capture is accounted for
    local p=$GUANACO_FP2_DEBUG_PORT
    [ "$(metric "$p" guanaco_store_writer_spooling)" = 0 ] &&
        [ $(($(metric "$p" 'guanaco_store_writer_written_total{source="spool"}') + $(metric "$p" guanaco_store_writer_duplicates_total) +
            $(metric "$p" guanaco_store_writer_dead_letter_total))) -ge "$(metric "$p" guanaco_store_writer_spooled_total)" ]
}
wait_for 120 "fpserver-2's spool to drain" drained2
c1=$(count)
dc start fpserver-1 >/dev/null 2>&1
wait_for 60 "fpserver-1's metrics" curl -fsS "http://127.0.0.1:$GUANACO_FP1_DEBUG_PORT/metrics"
drained1() { # the new fpserver-1 writes directly and its replay count is steady
    local p=$GUANACO_FP1_DEBUG_PORT a b
    [ "$(metric "$p" guanaco_store_writer_spooling)" = 0 ] || return 1
    a=$(metric "$p" 'guanaco_store_writer_written_total{source="spool"}')
    sleep 1
    b=$(metric "$p" 'guanaco_store_writer_written_total{source="spool"}')
    [ "$a" -gt 0 ] && [ "$a" = "$b" ]
}
wait_for 120 "fpserver-1's spool to drain" drained1
replayed=$(metric "$GUANACO_FP1_DEBUG_PORT" 'guanaco_store_writer_written_total{source="spool"}')
dups=$(metric "$GUANACO_FP1_DEBUG_PORT" guanaco_store_writer_duplicates_total)
dead=$(metric "$GUANACO_FP1_DEBUG_PORT" guanaco_store_writer_dead_letter_total)
torn=$(metric "$GUANACO_FP1_DEBUG_PORT" guanaco_store_writer_spool_torn_bytes_total)
c2=$(count)
log "   fpserver-1 had spooled >= $s1 when killed; after restart it replayed $replayed ($dups duplicates, $dead dead letters, $torn torn bytes); Postgres gained $((c2 - c1))"
log "   fpserver-2 spooled $s2 during the outage; Postgres: $before before, $c1 with fpserver-2 drained, $c2 with fpserver-1 drained"
answered=$(($(awk '/^status codes:/ {print $3}' "$work/h2load2.log") + probe_ok))
log "   answered during the outage: $answered; stored: $((c2 - before)); lost: $((answered - (c2 - before))) (acknowledged into fpserver-1's memory queue, not yet its spool, when it was killed)"
[ "$replayed" -ge "$s1" ] || fail "fpserver-1 acknowledged $s1 captures into its spool before the kill, but only $replayed were replayed"
[ "$((c2 - c1))" -eq "$replayed" ] || fail "fpserver-1 replayed $replayed captures, Postgres gained $((c2 - c1))"
[ "$dead" -eq 0 ] || fail "$dead captures became dead letters"
[ "$((c1 - before))" -ge "$s2" ] || fail "fpserver-2 spooled $s2 captures, Postgres gained only $((c1 - before))"
# haproxy sends traffic to the restarted replica again.
rejoined() {
    curl -fsS --cacert "$ca" "$front/api/clean" >/dev/null &&
        [ "$(metric "$GUANACO_FP1_DEBUG_PORT" guanaco_store_writer_queued_total)" -ge 1 ]
}
wait_for 30 "haproxy to send connections to the restarted fpserver-1" rejoined

# ---- 4. emuproxy picks up a profile inserted into Postgres -----------------
log "4. emuproxy and a profile inserted into Postgres"
name="scaleout-$$"
nice go build -o "$work/bin/" ./cmd/fpserver ./cmd/emuproxy
"$work/bin/emuproxy" profiles show chromium-156-linux >"$work/base.json"
jq --arg n "$name" '.name = $n | .source.kind = "imported"' "$work/base.json" >"$work/$name.json" ||
    fail "could not derive a test profile"
proxy="http://127.0.0.1:$GUANACO_EMUPROXY_PORT"
target="http://127.0.0.1:$GUANACO_HTTP_PORT/api/clean"
code=$(curl -sS -o /dev/null -w '%{http_code}' -x "$proxy" -H "X-Guanaco-Profile: $name" "$target")
[ "$code" != 200 ] || fail "emuproxy served the unknown profile $name before it was inserted"
"$work/bin/fpserver" profiles -db "$dsn" import "$work/$name.json" >/dev/null
inserted=$(date +%s.%N)
wait_for 10 "emuproxy to serve profile $name" \
    sh -c "test \"\$(curl -sS -o /dev/null -w '%{http_code}' -x '$proxy' -H 'X-Guanaco-Profile: $name' '$target')\" = 200"
log "   emuproxy served $name $(awk -v a="$inserted" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')s after the insert (reload interval $GUANACO_PROFILES_RELOAD)"

log "PASS in $(($(date +%s) - start))s (killed at $killed_at)"
