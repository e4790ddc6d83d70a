#!/usr/bin/env bash
# bench/hit_cost.sh: what one cache hit costs relay, counted rather than
# timed: instructions (valgrind's callgrind, stable on a noisy machine) and
# heap allocations (calls to malloc, calloc, realloc and operator new) per
# hit. relay runs under callgrind twice, serving BENCH_HITS_LOW and then
# BENCH_HITS_HIGH hits of one cached object over one keep-alive connection;
# the difference between the two runs divided by the difference in hits is
# the cost of a hit alone (start-up, the miss and shutdown cancel out).
#
# Usage: bench/hit_cost.sh        (needs build/relay, nginx, valgrind, python3)
#
# Settings (environment variables, defaults in brackets):
#   BENCH_SIZE         the object: 1k, 100k or 1m [1k]
#   BENCH_HITS_LOW     hits in the first run [200]
#   BENCH_HITS_HIGH    hits in the second run [1200]
#   BENCH_ACCESS_LOG   on | off: relay's access log (to a file) [off]
#   BENCH_RELAY_BIN    relay binary [<repo>/build/relay]
#   BENCH_TMPDIR       where the run's temp dir goes [$TMPDIR or /tmp]
#   BENCH_KEEP_TMP     1 = keep the temp dir (callgrind files, logs) [0]
#
# Exit status: 0 when the run worked (the figures are reported, never
# judged); 2 for bad settings or a missing tool; 3 when a server failed or a
# response was not the cached object (every hit must say X-Cache: HIT).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0; }
(($# == 0)) || { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }

SIZE=${BENCH_SIZE:-1k}
LOW=${BENCH_HITS_LOW:-200}
HIGH=${BENCH_HITS_HIGH:-1200}
ACCESS_LOG=${BENCH_ACCESS_LOG:-off}
BENCH_PIN=0  # callgrind serialises the threads anyway

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

need_pos_int BENCH_HITS_LOW "$LOW"
need_pos_int BENCH_HITS_HIGH "$HIGH"
((HIGH > LOW)) || die 2 "BENCH_HITS_HIGH ($HIGH) must be above BENCH_HITS_LOW ($LOW)"
declare -A BYTES=([1k]=1024 [100k]=102400 [1m]=1048576)
[[ -n ${BYTES[$SIZE]:-} ]] || die 2 "BENCH_SIZE: unknown size '$SIZE' (use 1k, 100k or 1m)"
[[ $ACCESS_LOG == on || $ACCESS_LOG == off ]] || die 2 "BENCH_ACCESS_LOG must be on or off (got '$ACCESS_LOG')"
command -v valgrind >/dev/null || die 2 "valgrind not found; install it with scripts/install-deps.sh --bench"
command -v python3 >/dev/null || die 2 "python3 not found"
need_nginx
need_relay

pick_port origin 0; ORIGIN_PORT=$PORT
mkdir -p "$TMP/origin/www"
head -c "${BYTES[$SIZE]}" /dev/zero | tr '\0' 'x' >"$TMP/origin/www/object"
start_nginx origin "$BENCH_DIR/nginx-origin.conf.in" "$ORIGIN_PORT"

# hits PORT N: one miss then N requests on one keep-alive connection; every
# one after the first must be a complete HIT.
hits() {
  python3 - "$1" "$2" "${BYTES[$SIZE]}" <<'PY'
import http.client, sys
port, n, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for i in range(n + 1):
    conn.request("GET", "/object")
    r = conn.getresponse()
    body = r.read()
    if r.status != 200 or len(body) != size or (i > 0 and r.getheader("X-Cache") != "HIT"):
        sys.exit("request %d: status %d, %d bytes, X-Cache %s" % (i, r.status, len(body), r.getheader("X-Cache")))
PY
}

# measure N: relay under callgrind serving N hits; sets IR and ALLOCS (totals).
measure() {
  local n=$1 dir=$TMP/relay-$1 port pid log
  pick_port "relay-$n" $((n % 50 + 1)); port=$PORT
  mkdir -p "$dir"
  log=off; [[ $ACCESS_LOG == on ]] && log="$dir/access.log"
  cat >"$dir/relay.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
threads = 1

[upstream]
url = "http://127.0.0.1:$ORIGIN_PORT"

[admin]
listen = ""

[log]
access_log = "$log"
TOML
  start_server "relay-$n" valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" \
    "$RELAY_BIN" --config "$dir/relay.toml"
  pid=${SERVER_PIDS[-1]}
  START_TIMEOUT=60 wait_listening "relay-$n" "$pid" "$port"
  hits "$port" "$n" || server_failed "relay-$n" "the hits were not all served from the cache"
  stop_server "$pid" "relay-$n"
  read -r IR ALLOCS < <(callgrind_totals "$dir/callgrind.out")
}

# callgrind_totals FILE: the instructions of the whole run, and the calls
# into the C allocator from the call graph (operator new comes through
# malloc, so it is not counted twice).
callgrind_totals() {
  python3 - "$1" <<'PY'
import re, sys
names, total, allocs, callee = {}, 0, 0, None
alloc = {"malloc", "calloc", "realloc", "memalign", "aligned_alloc", "posix_memalign"}
ref = re.compile(r"^(c?fn)=\((\d+)\)(?: (.*))?$")
for line in open(sys.argv[1], errors="replace"):
    line = line.rstrip("\n")
    m = ref.match(line)
    if m:
        if m.group(3) is not None:
            names[m.group(2)] = m.group(3)
        if m.group(1) == "cfn":
            callee = names.get(m.group(2))
        continue
    if line.startswith("calls="):
        if callee in alloc:
            allocs += int(line[6:].split()[0])
    elif line.startswith(("summary:", "totals:")):
        total = max(total, int(line.split()[1]))
print(total, allocs)
PY
}

info "# $(relay_version), object $SIZE, access log $ACCESS_LOG, $LOW and $HIGH hits under callgrind"
measure "$LOW";  IR_LOW=$IR;  ALLOC_LOW=$ALLOCS
measure "$HIGH"; IR_HIGH=$IR; ALLOC_HIGH=$ALLOCS
awk -v a="$IR_LOW" -v b="$IR_HIGH" -v c="$ALLOC_LOW" -v d="$ALLOC_HIGH" -v n=$((HIGH - LOW)) 'BEGIN {
  printf "%-28s %12s\n", "per hit", "relay"
  printf "%-28s %12.0f\n", "instructions", (b - a) / n
  printf "%-28s %12.2f\n", "heap allocations", (d - c) / n
}'
info "command: BENCH_SIZE=$SIZE BENCH_HITS_LOW=$LOW BENCH_HITS_HIGH=$HIGH BENCH_ACCESS_LOG=$ACCESS_LOG bench/hit_cost.sh"
