#!/usr/bin/env bash
# bench/cold.sh: one large object nobody has asked for yet. Each round asks
# the origin directly, then relay and nginx proxy_cache for a URL new to
# them (a miss they fetch, pass on and store while they send it), with
# curl. Reported per target: time to first byte, total time, the total as
# a multiple of the direct fetch, and how far the server's RSS rose during
# the transfer (sampled every 2 ms). A second request for each URL must
# then be a full cache hit. See bench/README.md.
#
# Usage: bench/cold.sh          (needs build/relay, nginx, curl, python3)
#
# Settings (environment variables, defaults in brackets):
#   BENCH_COLD_SIZE    object size: bytes, or with k/m suffix [100m]
#   BENCH_ROUNDS       rounds; each round fetches from every target once [5]
#   BENCH_TARGETS      "relay nginx", "relay" or "nginx" [relay nginx]
#   BENCH_PIN          auto | 1 | 0: servers on CPU 0, curl on the rest [auto]
#   BENCH_COLD_ORIGIN  shared | apart: where the pinned origin runs [shared]
#                      shared: on CPU 0 with the proxies, so the total is
#                        the origin's and the proxy's work one after the other;
#                      apart: on curl's CPUs, as if the origin were another
#                        machine: the proxy has a CPU of its own and the
#                        total shows what its stage adds. The direct fetch
#                        runs with the same placement (origin beside curl)
#   BENCH_PORT_BASE    fixed ports: origin=BASE, relay=BASE+1, nginx=BASE+2 [random]
#   BENCH_RELAY_BIN    relay binary [<repo>/build/relay]
#   BENCH_TMPDIR       where the run's temp dir goes [$TMPDIR or /tmp]
#   BENCH_KEEP_TMP     1 = keep the temp dir (configs, logs) [0]
#
# Exit status: 0 when the run worked (timings are reported, never judged);
# 2 for bad settings or a missing tool/binary; 3 when a server failed or
# answered wrongly.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0; }
(($# == 0)) || { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }

SIZE_SPEC=${BENCH_COLD_SIZE:-100m}
ROUNDS=${BENCH_ROUNDS:-5}
TARGETS=${BENCH_TARGETS:-relay nginx}
ORIGIN_PLACE=${BENCH_COLD_ORIGIN:-shared}
BENCH_THREADS=1

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

SIZE=$(byte_count BENCH_COLD_SIZE "$SIZE_SPEC")
need_pos_int BENCH_ROUNDS "$ROUNDS"
targets_from "$TARGETS" relay nginx
need_nginx
command -v python3 >/dev/null || die 2 "python3 not found"
want relay && need_relay
[[ $ORIGIN_PLACE == shared || $ORIGIN_PLACE == apart ]] || die 2 "BENCH_COLD_ORIGIN must be shared or apart, not '$ORIGIN_PLACE'"

pick_proxy_ports

mkdir -p "$TMP/origin/www"
head -c "$SIZE" /dev/urandom >"$TMP/origin/www/object-big"
head -c 1024 /dev/zero >"$TMP/origin/www/object-1k"
if [[ $ORIGIN_PLACE == apart && ${#CLIENT_PIN[@]} -gt 0 ]]; then
  proxy_pin=("${SERVER_PIN[@]}")
  SERVER_PIN=("${CLIENT_PIN[@]}")
  start_nginx origin "$BENCH_DIR/nginx-origin-mixed.conf.in" "$ORIGIN_PORT"
  SERVER_PIN=("${proxy_pin[@]}")
  PIN_NOTE="proxies on CPU ${SERVER_PIN[2]}, origin and curl on CPU ${CLIENT_PIN[2]}"
else
  start_nginx origin "$BENCH_DIR/nginx-origin-mixed.conf.in" "$ORIGIN_PORT"
fi

declare -A BASE PID
BASE[direct]="http://127.0.0.1:$ORIGIN_PORT"
PID[direct]=${SERVER_PIDS[-1]}
start_proxies "$BENCH_DIR/nginx-mixed.conf.in" <<EOF
[storage]
backend = "memory"
max_size = "$(((ROUNDS + 1) * SIZE * 4 / 1048576 + 64))MiB"

[admin]
listen = ""

[log]
access_log = "off"
EOF

# The RSS sampler: the peak resident KiB of a process group until stopped.
cat >"$TMP/rss_peak.py" <<'PY'
import os, signal, sys, time
pgid, out = int(sys.argv[1]), sys.argv[2]
peak, running = 0, True
def stop(*_):
    global running
    running = False
signal.signal(signal.SIGTERM, stop)
open(out + ".ready", "w").close()
def rss():
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getpgid(int(pid)) != pgid:
                continue
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total
while running:
    peak = max(peak, rss())
    time.sleep(0.002)
with open(out, "w") as f:
    f.write(f"{peak}\n")
PY
rss_now() { python3 - "$1" <<'PY'
import os, sys
pgid, total = int(sys.argv[1]), 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if os.getpgid(int(pid)) == pgid:
            total += int(next(l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:")).split()[1])
    except (OSError, ValueError, StopIteration):
        pass
print(total)
PY
}

# fetch TARGET PATH -> "ttfb_s total_s bytes status cache-header"
fetch() {
  local t=$1 hdr=X-Cache
  [[ $t == nginx ]] && hdr=X-Cache-Status
  "${CLIENT_PIN[@]}" curl -sS --max-time 120 -o /dev/null -D "$TMP/head.txt" \
    -w '%{time_starttransfer} %{time_total} %{size_download} %{http_code}' "${BASE[$t]}$2" ||
    server_failed "$t" "request for $2 failed"
  printf ' %s\n' "$(header_value "$TMP/head.txt" "$hdr")"
}

info "relay cold-object benchmark: $SIZE bytes, $ROUNDS round(s); each target fetches a URL new to it"
info "versions: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $(curl --version | head -n 1 | awk '{print "curl " $2}')$(want relay && printf ', %s' "$(relay_version)"); $PIN_NOTE"
info ""
printf '%-7s %-7s %10s %10s %9s %8s %12s\n' round target "ttfb ms" "total ms" "x direct" "cpu ms" "RSS peak +"
RESULTS=$TMP/results.tsv
: >"$RESULTS"
for ((r = 1; r <= ROUNDS; r++)); do
  read -r _ direct _ _ _ < <(fetch direct "/big/warm-$r")  # page cache warm for every round
  run_order=(direct "${ORDER[@]}")
  ((r % 2 == 0 && ${#ORDER[@]} == 2)) && run_order=(direct "${ORDER[1]}" "${ORDER[0]}")
  for t in "${run_order[@]}"; do
    path="/big/r$r-$t"
    before=$(rss_now "${PID[$t]}")
    rm -f "$TMP/peak.txt" "$TMP/peak.txt.ready"
    python3 "$TMP/rss_peak.py" "${PID[$t]}" "$TMP/peak.txt" &
    sampler=$!
    for ((i = 0; i < 500; i++)); do [[ -e $TMP/peak.txt.ready ]] && break; sleep 0.01; done
    ticks=$(cpu_ticks "${PID[$t]}")
    read -r ttfb total bytes status state < <(fetch "$t" "$path")
    cpu_ms=$((($(cpu_ticks "${PID[$t]}") - ticks) * 1000 / CLK_TCK))
    kill -TERM "$sampler"; wait "$sampler" || true
    peak=$(cat "$TMP/peak.txt")
    [[ $status == 200 && $bytes == "$SIZE" ]] || server_failed "$t" "$path: status $status, $bytes bytes"
    if [[ $t != direct ]]; then
      [[ ${state^^} == MISS ]] || server_failed "$t" "$path: first request was '${state:-<no cache header>}', not a MISS"
      read -r _ _ bytes status state < <(fetch "$t" "$path")
      [[ $status == 200 && $bytes == "$SIZE" && ${state^^} == HIT ]] ||
        server_failed "$t" "$path: second request was not a full HIT (status $status, $bytes bytes, '${state:-<none>}')"
    fi
    [[ $t == direct ]] && direct=$total
    ms_ttfb=$(awk -v s="$ttfb" 'BEGIN { printf "%.1f", s * 1000 }')
    ms_total=$(awk -v s="$total" 'BEGIN { printf "%.1f", s * 1000 }')
    times=$(awk -v a="$total" -v b="$direct" 'BEGIN { printf "%.2f", a / b }')
    grew=$((peak > before ? peak - before : 0))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "$ms_ttfb" "$ms_total" "$times" "$grew" "$cpu_ms" >>"$RESULTS"
    printf '%-7s %-7s %10s %10s %9s %8s %8d KiB\n' "$r/$ROUNDS" "$t" "$ms_ttfb" "$ms_total" "$times" "$cpu_ms" "$grew"
  done
done

info ""
info "median over $ROUNDS round(s):"
printf '%-7s %10s %10s %9s %8s %12s\n' target "ttfb ms" "total ms" "x direct" "cpu ms" "RSS peak +"
for t in direct "${ORDER[@]}"; do
  printf '%-7s %10s %10s %9s %8s %8s KiB\n' "$t" "$(median "$RESULTS" 2 "$t" 3)" "$(median "$RESULTS" 2 "$t" 4)" \
    "$(median "$RESULTS" 2 "$t" 5)" "$(median "$RESULTS" 2 "$t" 7)" "$(median "$RESULTS" 2 "$t" 6)"
done
info "(x direct = total time / the same round's direct fetch from the origin; cpu ms = the server's CPU"
info " time during the transfer (the origin's own for direct), in ${CLK_TCK}ths of a second; RSS peak + = the server's"
info " resident memory at its highest during the transfer minus just before it, summed over its processes)"
info ""
info "command: BENCH_COLD_SIZE=$SIZE_SPEC BENCH_ROUNDS=$ROUNDS BENCH_TARGETS='${ORDER[*]}' BENCH_PIN=$PIN BENCH_COLD_ORIGIN=$ORIGIN_PLACE bench/cold.sh"
exit 0
