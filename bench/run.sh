#!/usr/bin/env bash
# bench/run.sh: relay against nginx proxy_cache, both serving one cached
# object over loopback, measured with wrk. See bench/README.md.
#
# Usage: bench/run.sh            (from anywhere; needs build/relay, nginx, wrk, curl)
#
# Settings (environment variables, defaults in brackets):
#   BENCH_SIZE         size of the cached object: bytes, or with k or m (100k, 1m) [1k]
#   BENCH_THREADS      worker threads/processes for relay and nginx [1]
#   BENCH_DURATION     seconds per measured wrk run [10]
#   BENCH_ROUNDS       measured rounds; each round runs every target once [3]
#   BENCH_CONNECTIONS  wrk connections [64]
#   BENCH_WRK_THREADS  wrk threads [the CPUs left after the servers' share, at least 1]
#   BENCH_WARMUP       seconds of unmeasured wrk load per target before round 1 [2]
#   BENCH_TARGETS      which servers to run, in order [relay nginx]: relay, nginx,
#                      and relay-log / nginx-log, the same with an access log
#                      to a file (relay: access_log = "<file>"; nginx: buffer=64k),
#                      and baseline: relay run from BENCH_BASELINE_BIN (say, a
#                      build of the previous commit), for before/after in one run
#   BENCH_BASELINE_BIN the relay binary of the baseline target
#   BENCH_PIN          auto | 1 | 0: pin the servers to the first BENCH_THREADS
#                      allowed CPUs and wrk to the rest (needs taskset) [auto]
#   BENCH_PORT_BASE    fixed ports: origin=BASE, then one per target [random free ports]
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

DURATION=${BENCH_DURATION:-10}
DURATION=${DURATION%s}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-64}
WARMUP=${BENCH_WARMUP:-2}
WARMUP=${WARMUP%s}
TARGETS=${BENCH_TARGETS:-relay nginx}
SIZE=${BENCH_SIZE:-1k}

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

# ---------------------------------------------------------------- settings

need_pos_int BENCH_DURATION "$DURATION"
need_pos_int BENCH_ROUNDS "$ROUNDS"
need_pos_int BENCH_CONNECTIONS "$CONNS"
OBJECT_SIZE=$(byte_count BENCH_SIZE "$SIZE")
OBJECT_PATH=/object-${SIZE,,}
is_uint "$WARMUP" || die 2 "BENCH_WARMUP must be a whole number of seconds (got '$WARMUP')"

targets_from "$TARGETS" relay nginx relay-log nginx-log baseline
kind() { [[ $1 == baseline ]] && echo relay || echo "${1%-log}"; }  # relay or nginx
if want baseline; then
  [[ -x ${BENCH_BASELINE_BIN:-} ]] || die 2 "the baseline target needs BENCH_BASELINE_BIN, a relay binary (got '${BENCH_BASELINE_BIN:-}')"
fi
need_nginx   # the origin is nginx too
need_wrk
uses_relay=0
for t in "${ORDER[@]}"; do [[ $(kind "$t") == relay ]] && uses_relay=1; done
((uses_relay)) && need_relay
WRK_THREADS=$(wrk_threads "$CONNS")

# ------------------------------------------------------------------ servers

pick_port origin 0; ORIGIN_PORT=$PORT
mkdir -p "$TMP/origin/www" "$TMP/wrk"
head -c "$OBJECT_SIZE" /dev/zero | tr '\0' 'x' >"$TMP/origin/www${OBJECT_PATH}"
# The origin shares the servers' CPUs; it only sees the warm-up misses.
start_nginx origin "$BENCH_DIR/nginx-origin.conf.in" "$ORIGIN_PORT"

declare -A URL PID HEADER
index=1
for t in "${ORDER[@]}"; do
  pick_port "$t" "$index"; port=$PORT; index=$((index + 1))
  if [[ $(kind "$t") == relay ]]; then
    log=off
    [[ $t == *-log ]] && log=$TMP/$t/access.log
    bin=$RELAY_BIN
    [[ $t == baseline ]] && bin=$BENCH_BASELINE_BIN
    RELAY_BIN=$bin start_relay "$t" "$port" "$ORIGIN_PORT" <<EOF
[storage]
backend = "memory"

[admin]
listen = ""

[log]
access_log = "$log"
EOF
    HEADER[$t]=X-Cache
  else
    edit=""
    [[ $t == *-log ]] && edit="s|access_log off;.*|access_log $TMP/$t/access.log combined buffer=64k flush=1s;|"
    start_nginx "$t" "$BENCH_DIR/nginx-proxy.conf.in" "$port" "$ORIGIN_PORT" "$edit"
    HEADER[$t]=X-Cache-Status
  fi
  PID[$t]=${SERVER_PIDS[-1]}
  URL[$t]="http://127.0.0.1:$port$OBJECT_PATH"
done

# ------------------------------------------------------------------ warm-up

declare -A HEAD_BYTES
warm() { # TARGET
  local t=$1 hdr=${HEADER[$1]} dir=$TMP/$1 status first second size
  curl -sS --max-time 5 -o "$dir/warm1.body" -D "$dir/warm1.head" "${URL[$t]}" 2>"$dir/curl.err" ||
    server_failed "$t" "warm-up request failed: $(cat "$dir/curl.err")"
  curl -sS --max-time 5 -o "$dir/warm2.body" -D "$dir/warm2.head" \
       -w '%{http_code} %{size_header}\n' "${URL[$t]}" >"$dir/warm2.info" 2>"$dir/curl.err" ||
    server_failed "$t" "second warm-up request failed: $(cat "$dir/curl.err")"
  read -r status "HEAD_BYTES[$t]" <"$dir/warm2.info"
  first=$(header_value "$dir/warm1.head" "$hdr")
  second=$(header_value "$dir/warm2.head" "$hdr")
  size=$(wc -c <"$dir/warm2.body")
  [[ $status == 200 ]] || server_failed "$t" "second warm-up response has status $status, expected 200"
  ((size == OBJECT_SIZE)) || server_failed "$t" "second warm-up body is $size bytes, expected $OBJECT_SIZE"
  [[ ${second^^} == HIT ]] ||
    server_failed "$t" "second warm-up response is not a cache hit ($hdr: '${second:-<missing>}'); headers:
$(tr -d '\r' <"$dir/warm2.head")"
  info "warm-up  $(printf '%-9s' "$t") 1st $hdr: ${first:-<missing>}, 2nd $hdr: $second (200, ${size}-byte body, ${HEAD_BYTES[$t]}-byte response head)"
}
for t in "${ORDER[@]}"; do warm "$t"; done

# -------------------------------------------------------------------- runs

WRK_ARGS=(-t"$WRK_THREADS" -c"$CONNS" --latency -s "$BENCH_DIR/wrk-report.lua")

# measure TARGET SECONDS OUTFILE: one wrk run against the target; sets RES_*.
measure() {
  local t=$1
  run_wrk "$3" "${WRK_ARGS[@]}" -d"$2s" "${URL[$t]}" || {
    proc_alive "${PID[$t]}" || server_failed "$t" "died during the benchmark"
    die 3 "wrk against $t failed"
  }
  proc_alive "${PID[$t]}" || server_failed "$t" "died during the benchmark"
}

busy_percent() { # TICKS SECONDS -> share of the servers' CPUs used, in %
  awk -v t="$1" -v s="$2" -v hz="$CLK_TCK" -v n="$THREADS" 'BEGIN { printf "%.0f", 100 * t / hz / s / n }'
}

info ""
info "relay benchmark: cached ${OBJECT_SIZE}-byte object over 127.0.0.1, ${ROUNDS} x ${DURATION}s per target"
info "servers: $THREADS worker(s) each; wrk: $WRK_THREADS thread(s), $CONNS connections; ${NCPU} CPU(s), $PIN_NOTE"
info "versions: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $(wrk --version 2>&1 | head -n 1 | awk '{print "wrk " $2}')$( ((uses_relay)) && printf ', %s' "$(relay_version)")"

if ((WARMUP > 0)); then
  for t in "${ORDER[@]}"; do measure "$t" "$WARMUP" "$TMP/wrk/warmup-$t.txt"; done
  info "load warm-up: ${WARMUP}s per target (not measured)"
fi

info ""
printf '%-7s %-9s %12s %10s %10s %8s %7s\n' round target req/s "p50 ms" "p99 ms" errors "cpu %"
RESULTS=$TMP/results.tsv
: >"$RESULTS"
for ((r = 1; r <= ROUNDS; r++)); do
  # Every other round runs the targets in reverse, so none always goes
  # first (or always runs right after another's load).
  run_order=("${ORDER[@]}")
  if ((r % 2 == 0)); then
    run_order=()
    for ((i = ${#ORDER[@]} - 1; i >= 0; i--)); do run_order+=("${ORDER[i]}"); done
  fi
  for t in "${run_order[@]}"; do
    sleep 1
    # A server that is not busy during its run is held back by something
    # other than its own work, and then the ratio does not measure it.
    ticks_before=$(cpu_ticks "${PID[$t]}")
    measure "$t" "$DURATION" "$TMP/wrk/round$r-$t.txt"
    busy=$(busy_percent $(($(cpu_ticks "${PID[$t]}") - ticks_before)) "$DURATION")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "$RES_RPS" "$RES_P50" "$RES_P99" "$RES_ERR" "$busy" >>"$RESULTS"
    printf '%-7s %-9s %12.0f %10s %10s %8s %7s\n' "$r/$ROUNDS" "$t" "$RES_RPS" "$(ms "$RES_P50")" "$(ms "$RES_P99")" "$RES_ERR" "$busy"
  done
done

# ------------------------------------------------------------------ summary

total() { awk -F'\t' -v t="$1" '$2 == t { n += $6 } END { print n + 0 }' "$RESULTS"; }

# The server's CPU time per response, in microseconds: what a response
# costs it even when something else (the client) sets the pace.
cpu_per_request() { awk -v c="$1" -v r="$2" 'BEGIN { if (r > 0) printf "%.1f", c / 100 * 1e6 / r; else print 0 }'; }

declare -A M_RPS M_P50 M_P99 M_CPU M_CPR
info ""
info "median over $ROUNDS round(s):"
printf '%-19s %12s %10s %10s %8s %7s %11s\n' target req/s "p50 ms" "p99 ms" errors "cpu %" "cpu us/req"
for t in "${ORDER[@]}"; do
  M_RPS[$t]=$(median "$RESULTS" 2 "$t" 3); M_P50[$t]=$(median "$RESULTS" 2 "$t" 4)
  M_P99[$t]=$(median "$RESULTS" 2 "$t" 5); M_CPU[$t]=$(median "$RESULTS" 2 "$t" 7)
  M_CPR[$t]=$(cpu_per_request "${M_CPU[$t]}" "${M_RPS[$t]}")
  printf '%-19s %12.0f %10s %10s %8s %7.0f %11s\n' "$t" "${M_RPS[$t]}" "$(ms "${M_P50[$t]}")" "$(ms "${M_P99[$t]}")" "$(total "$t")" "${M_CPU[$t]}" "${M_CPR[$t]}"
done
# Ratios: relay against nginx with the same logging, each with its log
# against itself without, and relay against its baseline.
compared=0
for pair in relay/nginx relay-log/nginx-log relay-log/relay nginx-log/nginx relay/baseline; do
  a=${pair%/*} b=${pair#*/}
  want "$a" && want "$b" || continue
  printf '%-19s %12s %10s %10s %8s %7s %11s\n' "$pair" "$(ratio "${M_RPS[$a]}" "${M_RPS[$b]}")" \
    "$(ratio "${M_P50[$a]}" "${M_P50[$b]}")" "$(ratio "${M_P99[$a]}" "${M_P99[$b]}")" "" "" \
    "$(ratio "${M_CPR[$a]}" "${M_CPR[$b]}")"
  compared=1
done
((compared)) && info "(req/s ratio above 1 = the first serves more; latency and cpu/req ratios below 1 = the first answers faster, or spends less CPU on a response)"

for t in "${ORDER[@]}"; do
  if awk -v c="${M_CPU[$t]}" 'BEGIN { exit !(c < 80) }'; then
    info "warning: $t used only ${M_CPU[$t]}% of its CPU(s) while measured: it waited on something other than its own work (usually wrk: its copying at large sizes, its share of the CPUs when unpinned), so the req/s ratio above does not measure it; compare cpu us/req"
  fi
done

errs=0
for t in "${ORDER[@]}"; do errs=$((errs + $(total "$t"))); done
((errs == 0)) || info "note: wrk counted $errs socket errors/non-2xx responses; see BENCH_KEEP_TMP=1 raw output"
origin_reqs=$(wc -l <"$TMP/origin/access.log" 2>/dev/null || echo 0)
info "origin saw $origin_reqs request(s) (expected ${#ORDER[@]}: one miss per proxy; more means hits were not served from cache)"

env_line=""
for kv in "BENCH_SIZE=$SIZE" "BENCH_THREADS=$THREADS" "BENCH_DURATION=$DURATION" "BENCH_ROUNDS=$ROUNDS" \
          "BENCH_CONNECTIONS=$CONNS" "BENCH_WRK_THREADS=$WRK_THREADS" "BENCH_WARMUP=$WARMUP" \
          "BENCH_TARGETS='${ORDER[*]}'" "BENCH_PIN=$PIN"; do
  env_line+="$kv "
done
[[ -n ${BENCH_PORT_BASE:-} ]] && env_line+="BENCH_PORT_BASE=$BENCH_PORT_BASE "
[[ -n ${BENCH_RELAY_BIN:-} ]] && env_line+="BENCH_RELAY_BIN=$BENCH_RELAY_BIN "
want baseline && env_line+="BENCH_BASELINE_BIN=$BENCH_BASELINE_BIN "
info ""
info "command: ${env_line}bench/run.sh"
ports=""
for t in "${ORDER[@]}"; do ports+=" $t=${URL[$t]%%"$OBJECT_PATH"}"; done
info "wrk:     ${CLIENT_PIN[*]:+${CLIENT_PIN[*]} }wrk ${WRK_ARGS[*]/#$BENCH_DIR/bench} -d${DURATION}s <url>$OBJECT_PATH  (url:$ports)"
exit 0
