#!/usr/bin/env bash
# bench/memory.sh: what caching N small objects costs in resident memory.
# relay (memory storage) and nginx proxy_cache side by side: each stores
# 200 warm-up objects, then is sent /obj/1../obj/N once (every one a miss,
# stored), then every 100th key again (must be a hit). Reported: RSS growth of each server over the fill,
# the payload it stored, and the overhead per object beyond the payload.
# nginx keeps its bodies in files, so its RSS growth is its metadata alone
# (its page cache is not in RSS); relay's includes the bodies. See
# bench/README.md.
#
# Usage: bench/memory.sh          (needs build/relay, nginx, python3)
#
# Settings (environment variables, defaults in brackets):
#   BENCH_OBJECTS      objects to cache [10000]
#   BENCH_OBJECT_SIZE  bytes per object [1024]
#   BENCH_TARGETS      "relay nginx", "relay" or "nginx" [relay nginx]
#   BENCH_PORT_BASE    fixed ports: origin=BASE, relay=BASE+1, nginx=BASE+2 [random]
#   BENCH_RELAY_BIN    relay binary [<repo>/build/relay]
#   BENCH_TMPDIR       where the run's temp dir goes [$TMPDIR or /tmp]
#   BENCH_KEEP_TMP     1 = keep the temp dir (configs, logs) [0]
#
# Exit status: 0 when the run worked (figures are reported, never judged);
# 2 for bad settings or a missing tool/binary; 3 when a server failed or
# did not store or serve what it was sent.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0; }
(($# == 0)) || { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }

OBJECTS=${BENCH_OBJECTS:-10000}
OBJECT_SIZE=${BENCH_OBJECT_SIZE:-1024}
WARMUP=200   # objects stored before the "before" reading
TARGETS=${BENCH_TARGETS:-relay nginx}
BENCH_THREADS=1   # one worker each: RSS of one process, not a sum of arenas

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

need_pos_int BENCH_OBJECTS "$OBJECTS"
need_pos_int BENCH_OBJECT_SIZE "$OBJECT_SIZE"
targets_from "$TARGETS" relay nginx
need_nginx   # the origin is nginx too
command -v python3 >/dev/null || die 2 "python3 not found"
want relay && need_relay

pick_proxy_ports

mkdir -p "$TMP/origin/www"
head -c "$OBJECT_SIZE" /dev/zero | tr '\0' 'x' >"$TMP/origin/www/object-1k"
start_nginx origin "$BENCH_DIR/nginx-origin-mixed.conf.in" "$ORIGIN_PORT"

declare -A BASE PID
start_proxies "$BENCH_DIR/nginx-mixed.conf.in" <<EOF
[storage]
backend = "memory"
max_size = "1GiB"

[admin]
listen = ""

[log]
access_log = "off"
EOF

# rss_kib TARGET: resident KiB of the server's whole process group (nginx:
# master, worker, cache manager and loader).
rss_kib() {
  local pgid=${PID[$1]} total=0 pid rss
  for pid in $(pgrep -g "$pgid"); do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    total=$((total + ${rss:-0}))
  done
  echo "$total"
}
origin_requests() { wc -l <"$TMP/origin/access.log" 2>/dev/null || echo 0; }

# walk TARGET PREFIX COUNT STEP EXPECT: GET /obj/PREFIX1, PREFIX(1+STEP),
# ... up to COUNT on one keep-alive connection; every answer must be a full
# 200 whose cache header says EXPECT (miss or hit). Prints nothing; fails
# with a reason.
walk() {
  local t=$1 hdr=X-Cache
  [[ $t == nginx ]] && hdr=X-Cache-Status
  run_fg "${CLIENT_PIN[@]}" timeout -k 5 300 python3 "$TMP/walk.py" "${BASE[$t]#http://127.0.0.1:}" \
    "$2" "$3" "$4" "$5" "$hdr" "$OBJECT_SIZE"
}
# (a file, not a here-document: a background job's stdin is /dev/null)
cat >"$TMP/walk.py" <<'PY'
import http.client, sys
_, port, prefix, objects, step, expect, header, size = sys.argv
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
for k in range(1, int(objects) + 1, int(step)):
    conn.request("GET", f"/obj/{prefix}{k}")
    r = conn.getresponse()
    body = r.read()
    state = (r.getheader(header) or "").upper()
    if r.status != 200 or len(body) != int(size) or not state.startswith(expect.upper()):
        sys.exit(f"/obj/{k}: status {r.status}, {len(body)} bytes, {header}: {state or '<missing>'} (wanted a {expect})")
PY

info "relay memory benchmark: $OBJECTS objects of $OBJECT_SIZE bytes, stored once each"
info "versions: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')$(want relay && printf ', %s' "$(relay_version)")"
info ""
printf '%-7s %12s %12s %12s %14s %16s %7s\n' target "RSS before" "RSS after" growth "payload" "overhead/object" origin
declare -A GROWTH OVER
payload_kib=$((OBJECTS * OBJECT_SIZE / 1024))
for t in "${ORDER[@]}"; do
  # Warm-up: the first requests size buffers, pools and allocator arenas
  # once; that is not what an object costs.
  walk "$t" warm- "$WARMUP" 1 MISS || server_failed "$t" "warm-up failed"
  sleep 0.5
  before=$(rss_kib "$t")
  o0=$(origin_requests)
  walk "$t" "" "$OBJECTS" 1 MISS || server_failed "$t" "fill failed"
  walk "$t" "" "$OBJECTS" 100 HIT || server_failed "$t" "stored objects were not served from cache"
  sleep 0.5
  after=$(rss_kib "$t")
  origin=$(($(origin_requests) - o0))
  ((origin == OBJECTS)) || server_failed "$t" "the origin saw $origin requests, expected $OBJECTS"
  GROWTH[$t]=$((after - before))
  # Over the payload for relay; nginx's bodies are files, so all of its growth is overhead.
  stored=$payload_kib
  [[ $t == nginx ]] && stored=0
  OVER[$t]=$(((GROWTH[$t] - stored) * 1024 / OBJECTS))
  printf '%-7s %9d KiB %9d KiB %9.1f MiB %10.1f MiB %12d B %7d\n' "$t" "$before" "$after" \
    "$(awk -v k="${GROWTH[$t]}" 'BEGIN { print k / 1024 }')" \
    "$(awk -v k="$payload_kib" -v s="$stored" 'BEGIN { print (s ? k : 0) / 1024 }')" "${OVER[$t]}" "$origin"
done
info ""
info "(growth = RSS after the fill - RSS after the warm-up; payload = body bytes held in the process;"
info " overhead/object = (growth - payload) / objects: metadata, index, allocator slack."
info " nginx holds bodies in its cache files (page cache, not RSS), so its payload column is 0;"
info " origin = requests that reached the origin, one per object)"
env_line="BENCH_OBJECTS=$OBJECTS BENCH_OBJECT_SIZE=$OBJECT_SIZE BENCH_TARGETS='${ORDER[*]}'"
info ""
info "command: $env_line bench/memory.sh"
exit 0
