#!/usr/bin/env bash
# bench/mixed.sh: a mixed workload. wrk requests Zipf-distributed keys
# (s = 1.0) over 10 000 cached 1 KiB objects, plus 10% one-off keys that
# must be fetched from the origin, so about 90% of requests are hits. relay
# and nginx proxy_cache side by side: req/s, p50, p99 and each proxy's
# measured hit ratio. See bench/README.md.
#
# Usage: bench/mixed.sh          (needs build/relay, nginx, wrk, curl)
#
# Settings (environment variables, defaults in brackets):
#   BENCH_OBJECTS      hot keys /obj/1../obj/N, Zipf-distributed [10000]
#   BENCH_ZIPF_S       Zipf exponent s [1.0]
#   BENCH_COLD_PCT     percent of requests for one-off keys (misses) [10]
#   BENCH_DURATION     seconds per measured wrk run [10]
#   BENCH_ROUNDS       measured rounds; each round runs every target once [3]
#   BENCH_CONNECTIONS  wrk connections [64]
#   BENCH_WRK_THREADS  wrk threads [the CPUs left after the servers' share, at least 1]
#   BENCH_FILL_SECS    seconds per cache-filling pass over the hot keys; up to 10
#                      passes per target until every hot key is stored [3]
#   BENCH_THREADS      worker threads/processes for relay and nginx [1]
#   BENCH_TARGETS      "relay nginx", "relay" or "nginx" [relay nginx]
#   BENCH_PIN          auto | 1 | 0: pin the servers to the first BENCH_THREADS
#                      allowed CPUs and wrk to the rest (needs taskset) [auto]
#   BENCH_PORT_BASE    fixed ports: origin=BASE, relay=BASE+1, nginx=BASE+2 [random]
#   BENCH_RELAY_BIN    relay binary [<repo>/build/relay]
#   BENCH_TMPDIR       where the run's temp dir goes [$TMPDIR or /tmp]
#   BENCH_KEEP_TMP     1 = keep the temp dir (configs, logs, raw wrk output) [0]
#   BENCH_VERBOSE      1 = also print wrk's own output for every run [0]
#
# Exit status: 0 when the run worked (timings are reported, never judged);
# 2 for bad settings or a missing tool/binary; 3 when a server failed to
# start, failed the warm-up check or died during the run.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0; }
(($# == 0)) || { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }

OBJECTS=${BENCH_OBJECTS:-10000}
ZIPF_S=${BENCH_ZIPF_S:-1.0}
COLD_PCT=${BENCH_COLD_PCT:-10}
DURATION=${BENCH_DURATION:-10}
DURATION=${DURATION%s}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-64}
FILL_SECS=${BENCH_FILL_SECS:-3}
FILL_SECS=${FILL_SECS%s}
FILL_PASSES=10
TARGETS=${BENCH_TARGETS:-relay nginx}
OBJECT_SIZE=1024

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

need_pos_int BENCH_OBJECTS "$OBJECTS"
need_pos_int BENCH_DURATION "$DURATION"
need_pos_int BENCH_ROUNDS "$ROUNDS"
need_pos_int BENCH_CONNECTIONS "$CONNS"
need_pos_int BENCH_FILL_SECS "$FILL_SECS"
is_num "$ZIPF_S" || die 2 "BENCH_ZIPF_S must be a non-negative number (got '$ZIPF_S')"
{ is_uint "$COLD_PCT" && ((COLD_PCT <= 100)); } || die 2 "BENCH_COLD_PCT must be 0..100 (got '$COLD_PCT')"
targets_from "$TARGETS" relay nginx
need_nginx   # the origin is nginx too
need_wrk
want relay && need_relay
WRK_THREADS=$(wrk_threads "$CONNS")

# ------------------------------------------------------------------ servers

pick_proxy_ports

mkdir -p "$TMP/origin/www" "$TMP/wrk"
head -c "$OBJECT_SIZE" /dev/zero | tr '\0' 'x' >"$TMP/origin/www/object-1k"
start_nginx origin "$BENCH_DIR/nginx-origin-mixed.conf.in" "$ORIGIN_PORT"
ORIGIN_PID=${SERVER_PIDS[-1]}

declare -A BASE PID
start_proxies "$BENCH_DIR/nginx-mixed.conf.in" <<EOF
[storage]
backend = "memory"
# Room for every key of the run, like nginx's keys_zone/max_size here, so
# neither proxy evicts and both see the same misses.
max_size = "1GiB"

# The hit ratio is read from /metrics; no admin listener to collide with.
[admin]
listen = ""

[metrics]
listen = "public"

[log]
access_log = "off"
EOF

# ------------------------------------------------------------- counters

origin_requests() { wc -l <"$TMP/origin/access.log" 2>/dev/null || echo 0; }

# cache_counts TARGET -> "HITS TOTAL" requests the proxy has answered so far.
# relay: relay_requests_total{cache=...} from /metrics (every label counts
# toward the total, only "hit" as a hit). nginx: its $upstream_cache_status
# log (buffered for up to 1 s: call after a pause).
cache_counts() {
  if [[ $1 == relay ]]; then
    curl -sS --max-time 5 "${BASE[relay]}/metrics" |
      awk '/^relay_requests_total\{/ { n = $NF + 0; total += n; if ($0 ~ /cache="hit"/) hits += n }
           END { printf "%d %d\n", hits, total }'
  else
    awk '$1 == "HIT" { h++ } END { printf "%d %d\n", h, NR }' "$TMP/nginx/cache.log" 2>/dev/null || echo "0 0"
  fi
}

# --------------------------------------------------------- check and fill

check() { # TARGET HEADER: /obj/1 twice, the second must be a cache hit
  local t=$1 hdr=$2 dir=$TMP/$1 status second size
  curl -sS --max-time 5 -o /dev/null "${BASE[$t]}/obj/1" 2>"$dir/curl.err" ||
    server_failed "$t" "first check request failed: $(cat "$dir/curl.err")"
  status=$(curl -sS --max-time 5 -o "$dir/check.body" -D "$dir/check.head" -w '%{http_code}' \
           "${BASE[$t]}/obj/1" 2>"$dir/curl.err") ||
    server_failed "$t" "second check request failed: $(cat "$dir/curl.err")"
  second=$(header_value "$dir/check.head" "$hdr")
  size=$(wc -c <"$dir/check.body")
  [[ $status == 200 && $size == "$OBJECT_SIZE" && ${second^^} == HIT ]] ||
    server_failed "$t" "second check response is not a ${OBJECT_SIZE}-byte 200 cache hit (status $status, $size bytes, $hdr: '${second:-<missing>}')"
}

ZIPF_ARGS=("$OBJECTS" "$ZIPF_S" "$COLD_PCT")
WRK_BASE=(-t"$WRK_THREADS" -c"$CONNS" --latency -s "$BENCH_DIR/zipf.lua")

# fill TARGET: walk the hot keys with wrk until the origin has seen each of
# them once from this proxy (at most FILL_PASSES passes of FILL_SECS). Each
# pass starts a little before where the previous one got to.
fill() {
  local t=$1 before got=1 pass start
  before=$(origin_requests)
  for ((pass = 1; pass <= FILL_PASSES; pass++)); do
    start=$((got > 2 * CONNS ? got - 2 * CONNS : 0))
    run_wrk "$TMP/wrk/fill-$t-$pass.txt" "${WRK_BASE[@]}" -d"${FILL_SECS}s" "${BASE[$t]}/" \
      -- "${ZIPF_ARGS[@]}" "$start" fill warm || die 3 "wrk failed while filling $t's cache"
    proc_alive "${PID[$t]}" || server_failed "$t" "died while its cache was being filled"
    got=$(($(origin_requests) - before + 1))   # +1: check() already stored /obj/1
    ((got >= OBJECTS)) && break
  done
  if ((got >= OBJECTS)); then
    info "fill     $(printf '%-6s' "$t") $OBJECTS hot keys stored ($pass pass(es) of ${FILL_SECS}s)"
  else
    warn "$t: only $got of $OBJECTS hot keys stored after $FILL_PASSES fill passes; its hit ratio will show it"
  fi
}

info "relay mixed-workload benchmark: Zipf(s=$ZIPF_S) over $OBJECTS hot ${OBJECT_SIZE}-byte objects + ${COLD_PCT}% one-off misses, ${ROUNDS} x ${DURATION}s per target"
info "servers: $THREADS worker(s) each; wrk: $WRK_THREADS thread(s), $CONNS connections; ${NCPU} CPU(s), $PIN_NOTE"
info "versions: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $(wrk --version 2>&1 | head -n 1 | awk '{print "wrk " $2}')$(want relay && printf ', %s' "$(relay_version)")"
want relay && check relay X-Cache
want nginx && check nginx X-Cache-Status
for t in "${ORDER[@]}"; do fill "$t"; done

# -------------------------------------------------------------------- runs

info ""
printf '%-7s %-7s %10s %9s %9s %8s %9s %7s\n' round target req/s "p50 ms" "p99 ms" "hit %" "origin" errors
RESULTS=$TMP/results.tsv
: >"$RESULTS"
pct() { awk -v h="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.1f", 100 * h / n; else print "n/a" }'; }
for ((r = 1; r <= ROUNDS; r++)); do
  run_order=("${ORDER[@]}")
  if ((r % 2 == 0 && ${#ORDER[@]} == 2)); then run_order=("${ORDER[1]}" "${ORDER[0]}"); fi
  for t in "${run_order[@]}"; do
    sleep 1.5   # also lets nginx flush its buffered cache-status log
    read -r h0 n0 < <(cache_counts "$t")
    o0=$(origin_requests)
    run_wrk "$TMP/wrk/round$r-$t.txt" "${WRK_BASE[@]}" -d"${DURATION}s" "${BASE[$t]}/" \
      -- "${ZIPF_ARGS[@]}" $((r * 1000)) "r$r$t" || {
      proc_alive "${PID[$t]}" || server_failed "$t" "died during the benchmark"
      die 3 "wrk against $t failed"
    }
    proc_alive "${PID[$t]}" || server_failed "$t" "died during the benchmark"
    proc_alive "$ORIGIN_PID" || server_failed origin "died during the benchmark"
    [[ $t == nginx ]] && sleep 1.5
    read -r h1 n1 < <(cache_counts "$t")
    o1=$(origin_requests)
    hits=$((h1 - h0)) total=$((n1 - n0)) origin=$((o1 - o0))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "$RES_RPS" "$RES_P50" "$RES_P99" \
      "$hits" "$total" "$origin" "$RES_ERR" >>"$RESULTS"
    printf '%-7s %-7s %10.0f %9s %9s %8s %9s %7s\n' "$r/$ROUNDS" "$t" "$RES_RPS" "$(ms "$RES_P50")" \
      "$(ms "$RES_P99")" "$(pct "$hits" "$total")" "$origin" "$RES_ERR"
  done
done

# ------------------------------------------------------------------ summary

sum() { awk -F'\t' -v t="$1" -v c="$2" '$2 == t { n += $c } END { print n + 0 }' "$RESULTS"; }
declare -A M_RPS M_P50 M_P99 HIT
info ""
info "median over $ROUNDS round(s) (hit % pooled over all rounds):"
printf '%-12s %10s %9s %9s %8s %9s %7s\n' target req/s "p50 ms" "p99 ms" "hit %" "origin" errors
for t in "${ORDER[@]}"; do
  M_RPS[$t]=$(median "$RESULTS" 2 "$t" 3); M_P50[$t]=$(median "$RESULTS" 2 "$t" 4)
  M_P99[$t]=$(median "$RESULTS" 2 "$t" 5)
  HIT[$t]=$(pct "$(sum "$t" 6)" "$(sum "$t" 7)")
  printf '%-12s %10.0f %9s %9s %8s %9s %7s\n' "$t" "${M_RPS[$t]}" "$(ms "${M_P50[$t]}")" \
    "$(ms "${M_P99[$t]}")" "${HIT[$t]}" "$(sum "$t" 8)" "$(sum "$t" 9)"
done
if want relay && want nginx; then
  printf '%-12s %10s %9s %9s\n' relay/nginx "$(ratio "${M_RPS[relay]}" "${M_RPS[nginx]}")" \
    "$(ratio "${M_P50[relay]}" "${M_P50[nginx]}")" "$(ratio "${M_P99[relay]}" "${M_P99[nginx]}")"
  info "(req/s ratio above 1 = relay serves more; latency ratios below 1 = relay answers faster)"
fi
info "(hit % = hits / requests the proxy answered, relay from /metrics relay_requests_total{cache=\"hit\"},"
info " nginx from \$upstream_cache_status == HIT; origin = requests that reached the origin during the runs;"
info " expected hit % is about $((100 - COLD_PCT)): every hot key is cached, every one-off key misses)"

errs=0
for t in "${ORDER[@]}"; do errs=$((errs + $(sum "$t" 9))); done
((errs == 0)) || info "note: wrk counted $errs socket errors/non-2xx responses; see BENCH_KEEP_TMP=1 raw output"

env_line=""
for kv in "BENCH_OBJECTS=$OBJECTS" "BENCH_ZIPF_S=$ZIPF_S" "BENCH_COLD_PCT=$COLD_PCT" \
          "BENCH_DURATION=$DURATION" "BENCH_ROUNDS=$ROUNDS" "BENCH_CONNECTIONS=$CONNS" \
          "BENCH_WRK_THREADS=$WRK_THREADS" "BENCH_THREADS=$THREADS" "BENCH_TARGETS='${ORDER[*]}'" "BENCH_PIN=$PIN"; do
  env_line+="$kv "
done
[[ -n ${BENCH_PORT_BASE:-} ]] && env_line+="BENCH_PORT_BASE=$BENCH_PORT_BASE "
[[ -n ${BENCH_RELAY_BIN:-} ]] && env_line+="BENCH_RELAY_BIN=$BENCH_RELAY_BIN "
info ""
info "command: ${env_line}bench/mixed.sh"
ports=""
for t in "${ORDER[@]}"; do ports+=" $t=${BASE[$t]}/"; done
info "wrk:     ${CLIENT_PIN[*]:+${CLIENT_PIN[*]} }wrk ${WRK_BASE[*]/#$BENCH_DIR/bench} -d${DURATION}s <url> -- ${ZIPF_ARGS[*]} <seed=round*1000> <tag>  (url:$ports)"
exit 0
