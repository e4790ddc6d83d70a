#!/usr/bin/env bash
# bench/proxied.sh: proxied (uncached) requests. The origin marks a 1 KiB
# and a 100 KiB response Cache-Control: no-store, so every request goes
# through to it; relay and nginx proxy_pass (keep-alive upstream pool, no
# cache) side by side: req/s, p50, p99, and how many requests and new
# connections reached the origin. See bench/README.md.
#
# Usage: bench/proxied.sh        (needs build/relay, nginx, wrk, curl)
#
# Settings (environment variables, defaults in brackets):
#   BENCH_SIZES        responses, any of: 1k 100k [1k 100k]
#   BENCH_DURATION     seconds per measured wrk run [5]
#   BENCH_ROUNDS       measured rounds; each round runs every target once [3]
#   BENCH_CONNECTIONS  wrk connections [64]
#   BENCH_WRK_THREADS  wrk threads [the CPUs left after the servers' share, at least 1]
#   BENCH_WARMUP       seconds of unmeasured wrk load per target and size [1]
#   BENCH_THREADS      relay threads / nginx workers [1]
#   BENCH_TARGETS      "relay nginx", "relay" or "nginx" [relay nginx]
#   BENCH_PIN          auto | 1 | 0: pin the servers (origin included) to the
#                      first BENCH_THREADS CPUs and wrk to the rest [auto]
#   BENCH_PORT_BASE    fixed ports: origin=BASE, relay=BASE+1, nginx=BASE+2,
#                      relay's admin listener (metrics)=BASE+3 [random]
#   BENCH_RELAY_BIN    relay binary [<repo>/build/relay]
#   BENCH_TMPDIR       where the run's temp dir goes [$TMPDIR or /tmp]
#   BENCH_KEEP_TMP     1 = keep the temp dir (configs, logs, raw wrk output) [0]
#   BENCH_VERBOSE      1 = also print wrk's own output for every run [0]
#
# Exit status: 0 when the run worked (timings are reported, never judged);
# 2 for bad settings or a missing tool/binary; 3 when a server failed to
# start, failed the pass-through check (a response served without reaching
# the origin, a wrong status or size) or died during the run.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0; }
(($# == 0)) || { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }

SIZES=${BENCH_SIZES:-1k 100k}
DURATION=${BENCH_DURATION:-5}
DURATION=${DURATION%s}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-64}
WARMUP=${BENCH_WARMUP:-1}
WARMUP=${WARMUP%s}
TARGETS=${BENCH_TARGETS:-relay nginx}
CHECK_REQUESTS=3   # pass-through check: requests per target and size

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

need_pos_int BENCH_DURATION "$DURATION"
need_pos_int BENCH_ROUNDS "$ROUNDS"
need_pos_int BENCH_CONNECTIONS "$CONNS"
is_uint "$WARMUP" || die 2 "BENCH_WARMUP must be a whole number of seconds (got '$WARMUP')"
targets_from "$TARGETS" relay nginx
read -r -a SIZE_LIST <<<"$SIZES"
((${#SIZE_LIST[@]} > 0)) || die 2 "BENCH_SIZES is empty"
declare -A BYTES=([1k]=1024 [100k]=102400) SIZE_LABEL=([1k]="1 KiB" [100k]="100 KiB")
for s in "${SIZE_LIST[@]}"; do
  [[ -n ${BYTES[$s]:-} ]] || die 2 "BENCH_SIZES: unknown size '$s' (use 1k and/or 100k)"
done
need_nginx   # the origin is nginx too
need_wrk
want relay && need_relay
WRK_THREADS=$(wrk_threads "$CONNS")

# ------------------------------------------------------------------ servers

declare -A PORT_OF PID
pick_port origin 0; ORIGIN_PORT=$PORT
pick_port relay 1;  PORT_OF[relay]=$PORT
pick_port nginx 2;  PORT_OF[nginx]=$PORT
pick_port relay-admin 3; ADMIN_PORT=$PORT   # not the default 9091: another relay may hold it

mkdir -p "$TMP/origin/www" "$TMP/wrk"
for s in "${SIZE_LIST[@]}"; do
  head -c "${BYTES[$s]}" /dev/zero | tr '\0' 'x' >"$TMP/origin/www/object-$s"
done
# The origin shares the servers' CPUs: it serves every request of the run.
start_nginx origin "$BENCH_DIR/nginx-origin-proxied.conf.in" "$ORIGIN_PORT"
ORIGIN_PID=${SERVER_PIDS[-1]}

if want relay; then
  start_relay relay "${PORT_OF[relay]}" "$ORIGIN_PORT" <<EOF
[storage]
backend = "memory"

[admin]
listen = "127.0.0.1:$ADMIN_PORT"

[log]
access_log = "off"
EOF
  PID[relay]=${SERVER_PIDS[-1]}
fi
if want nginx; then
  start_nginx nginx "$BENCH_DIR/nginx-proxied.conf.in" "${PORT_OF[nginx]}" "$ORIGIN_PORT"
  PID[nginx]=${SERVER_PIDS[-1]}
fi

# --------------------------------------------------------- origin counters

# origin_stats: sets O_REQ (requests the origin has handled) and O_ACC
# (connections it has accepted) from its stub_status. The status request
# itself counts as one of each: deltas between two calls subtract 1.
origin_stats() {
  local out
  out=$(curl -sS --max-time 5 "http://127.0.0.1:$ORIGIN_PORT/__status" 2>&1) ||
    server_failed origin "stub_status request failed: $out"
  read -r O_ACC _ O_REQ < <(sed -n '3p' <<<"$out")
  if ! is_uint "${O_REQ:-}" || ! is_uint "${O_ACC:-}"; then
    server_failed origin "unexpected stub_status output: $out"
  fi
}

# ------------------------------------------------------ pass-through check

url() { echo "http://127.0.0.1:${PORT_OF[$1]}/object-$2"; }

# check TARGET SIZE: CHECK_REQUESTS requests one after the other; each must
# be a 200 with the full body, relay's must not claim a cache answer (X-Cache
# MISS or BYPASS), and the origin must have received every one of them.
check() {
  local t=$1 s=$2 dir i status size xc seen="" req0
  dir=$TMP/check-$t-$s; mkdir -p "$dir"
  origin_stats; req0=$O_REQ
  for ((i = 1; i <= CHECK_REQUESTS; i++)); do
    status=$(curl -sS --max-time 10 -o "$dir/body" -D "$dir/$i.head" -w '%{http_code}' "$(url "$t" "$s")" \
             2>"$dir/err") || server_failed "$t" "check request $i for $(url "$t" "$s") failed: $(cat "$dir/err")"
    size=$(wc -c <"$dir/body")
    [[ $status == 200 ]] || server_failed "$t" "check request $i: status $status, expected 200"
    ((size == BYTES[$s])) || server_failed "$t" "check request $i: ${size}-byte body, expected ${BYTES[$s]}"
    if [[ $t == relay ]]; then
      xc=$(header_value "$dir/$i.head" X-Cache)
      [[ ${xc^^} == MISS || ${xc^^} == BYPASS ]] ||
        server_failed relay "check request $i: X-Cache '${xc:-<missing>}', expected MISS or BYPASS (the benchmark must not be served from cache); headers:
$(tr -d '\r' <"$dir/$i.head")"
      seen+="${seen:+, }$xc"
    fi
  done
  origin_stats
  local got=$((O_REQ - req0 - 1))
  ((got == CHECK_REQUESTS)) ||
    server_failed "$t" "the origin received $got of $CHECK_REQUESTS check requests for /object-$s; every request must reach it"
  info "check    $(printf '%-6s %-8s' "$t" "${SIZE_LABEL[$s]}") $CHECK_REQUESTS requests: 200, ${BYTES[$s]}-byte bodies, origin received $got${seen:+; X-Cache: $seen}"
}

info "relay benchmark: proxied (uncached, Cache-Control: no-store) responses over 127.0.0.1, ${ROUNDS} x ${DURATION}s per target and size"
info "servers: $THREADS worker(s) each, origin on the same CPU(s); wrk: $WRK_THREADS thread(s), $CONNS connections; ${NCPU} CPU(s), $PIN_NOTE"
info "versions: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $(wrk --version 2>&1 | head -n 1 | awk '{print "wrk " $2}')$(want relay && printf ', %s' "$(relay_version)")"
for s in "${SIZE_LIST[@]}"; do
  for t in "${ORDER[@]}"; do check "$t" "$s"; done
done

# -------------------------------------------------------------------- runs

WRK_ARGS=(-t"$WRK_THREADS" -c"$CONNS" --latency -s "$BENCH_DIR/wrk-report.lua")
RESULTS=$TMP/results.tsv
: >"$RESULTS"

# measure TARGET SIZE SECS OUT: one wrk run, with the origin's counters
# around it; sets RES_* (lib.sh), ORIGIN_REQS and ORIGIN_CONNS.
measure() {
  local t=$1 s=$2 req0 acc0
  origin_stats; req0=$O_REQ acc0=$O_ACC
  if ! run_wrk "$4" "${WRK_ARGS[@]}" -d"${3}s" "$(url "$t" "$s")"; then
    proc_alive "${PID[$t]}" || server_failed "$t" "died during the benchmark"
    die 3 "wrk against $t failed"
  fi
  proc_alive "${PID[$t]}" || server_failed "$t" "died during the benchmark"
  proc_alive "$ORIGIN_PID" || server_failed origin "died during the benchmark"
  sleep 0.2   # let requests still in flight when wrk stopped reach the counters
  origin_stats
  ORIGIN_REQS=$((O_REQ - req0 - 1)) ORIGIN_CONNS=$((O_ACC - acc0 - 1))
  # wrk counts completed responses; the origin also sees the requests in
  # flight when wrk stopped (at most one per connection). Fewer than wrk
  # counted means some were answered without the origin.
  if ((ORIGIN_REQS < RES_REQS)); then
    server_failed "$t" "wrk got $RES_REQS responses but the origin received only $ORIGIN_REQS requests: some were served from cache, which this benchmark must not measure"
  fi
}

mibs() { awk -v r="$1" -v b="$2" 'BEGIN { printf "%.1f", r * b / 1048576 }'; }

for s in "${SIZE_LIST[@]}"; do
  info ""
  info "response ${SIZE_LABEL[$s]} (/object-$s, Cache-Control: no-store)"
  if ((WARMUP > 0)); then
    for t in "${ORDER[@]}"; do measure "$t" "$s" "$WARMUP" "$TMP/wrk/warmup-$t-$s.txt"; done
    info "load warm-up: ${WARMUP}s per target (not measured)"
  fi
  printf '%-7s %-7s %10s %9s %9s %9s %7s %10s %9s\n' round target req/s "p50 ms" "p99 ms" "MiB/s" errors \
    "origin req" "new conns"
  for ((r = 1; r <= ROUNDS; r++)); do
    # ABBA order: every other round runs the targets in reverse.
    run_order=("${ORDER[@]}")
    if ((r % 2 == 0 && ${#ORDER[@]} == 2)); then run_order=("${ORDER[1]}" "${ORDER[0]}"); fi
    for t in "${run_order[@]}"; do
      sleep 1
      measure "$t" "$s" "$DURATION" "$TMP/wrk/round$r-$t-$s.txt"
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t/$s" "$r" "$RES_RPS" "$RES_P50" "$RES_P99" "$RES_ERR" \
        "$RES_REQS" "$ORIGIN_REQS" "$ORIGIN_CONNS" >>"$RESULTS"
      printf '%-7s %-7s %10.0f %9s %9s %9s %7s %10s %9s\n' "$r/$ROUNDS" "$t" "$RES_RPS" "$(ms "$RES_P50")" \
        "$(ms "$RES_P99")" "$(mibs "$RES_RPS" "${BYTES[$s]}")" "$RES_ERR" "$ORIGIN_REQS" "$ORIGIN_CONNS"
    done
  done
done

# ------------------------------------------------------------------ summary

col_sum() { awk -F'\t' -v k="$1" -v c="$2" '$1 == k { n += $c } END { print n + 0 }' "$RESULTS"; }

info ""
info "median over $ROUNDS round(s); origin/resp = origin requests / wrk responses, new conns = connections opened to the origin, both summed over the rounds"
printf '%-7s %-12s %10s %9s %9s %9s %7s %11s %9s\n' size target req/s "p50 ms" "p99 ms" "MiB/s" errors \
  "origin/resp" "new conns"
declare -A M_RPS M_P50 M_P99
for s in "${SIZE_LIST[@]}"; do
  for t in "${ORDER[@]}"; do
    M_RPS[$t]=$(median "$RESULTS" 1 "$t/$s" 3); M_P50[$t]=$(median "$RESULTS" 1 "$t/$s" 4)
    M_P99[$t]=$(median "$RESULTS" 1 "$t/$s" 5)
    printf '%-7s %-12s %10.0f %9s %9s %9s %7s %11s %9s\n' "$s" "$t" "${M_RPS[$t]}" "$(ms "${M_P50[$t]}")" \
      "$(ms "${M_P99[$t]}")" "$(mibs "${M_RPS[$t]}" "${BYTES[$s]}")" "$(col_sum "$t/$s" 6)" \
      "$(awk -v o="$(col_sum "$t/$s" 8)" -v w="$(col_sum "$t/$s" 7)" 'BEGIN { if (w > 0) printf "%.4f", o / w; else print "n/a" }')" \
      "$(col_sum "$t/$s" 9)"
  done
  if want relay && want nginx; then
    printf '%-7s %-12s %10s %9s %9s\n' "$s" relay/nginx "$(ratio "${M_RPS[relay]}" "${M_RPS[nginx]}")" \
      "$(ratio "${M_P50[relay]}" "${M_P50[nginx]}")" "$(ratio "${M_P99[relay]}" "${M_P99[nginx]}")"
  fi
done
want relay && want nginx &&
  info "(req/s ratio above 1 = relay serves more; latency ratios below 1 = relay answers faster)"
info "(origin/resp slightly above 1: requests in flight when wrk stopped; below 1 would mean responses that never reached the origin)"
info "(new conns: up to $CONNS per run is the upstream pool filling; one per request would mean no keep-alive to the origin)"
errs=$(awk -F'\t' '{ n += $6 } END { print n + 0 }' "$RESULTS")
((errs == 0)) || info "note: wrk counted $errs socket errors/non-2xx responses; see BENCH_KEEP_TMP=1 raw output"
if want nginx; then
  spills=$(grep -c 'buffered to a temporary file' "$TMP/nginx/error.log" 2>/dev/null || true)
  ((${spills:-0} == 0)) ||
    info "note: nginx buffered ${spills} upstream response(s) to a temporary file (proxy_buffering with default buffers)"
fi

env_line=""
for kv in "BENCH_SIZES='${SIZE_LIST[*]}'" "BENCH_DURATION=$DURATION" "BENCH_ROUNDS=$ROUNDS" \
          "BENCH_CONNECTIONS=$CONNS" "BENCH_WRK_THREADS=$WRK_THREADS" "BENCH_WARMUP=$WARMUP" \
          "BENCH_THREADS=$THREADS" "BENCH_TARGETS='${ORDER[*]}'" "BENCH_PIN=$PIN"; do
  env_line+="$kv "
done
[[ -n ${BENCH_PORT_BASE:-} ]] && env_line+="BENCH_PORT_BASE=$BENCH_PORT_BASE "
[[ -n ${BENCH_RELAY_BIN:-} ]] && env_line+="BENCH_RELAY_BIN=$BENCH_RELAY_BIN "
[[ -n ${BENCH_TMPDIR:-} ]] && env_line+="BENCH_TMPDIR=$BENCH_TMPDIR "
info ""
info "command: ${env_line}bench/proxied.sh"
ports=""
for t in "${ORDER[@]}"; do ports+=" $t=${PORT_OF[$t]}"; done
info "wrk:     ${CLIENT_PIN[*]:+${CLIENT_PIN[*]} }wrk ${WRK_ARGS[*]/#$BENCH_DIR/bench} -d${DURATION}s http://127.0.0.1:<port>/object-<size>  (port:$ports)"
exit 0
