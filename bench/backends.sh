#!/usr/bin/env bash
# bench/backends.sh: cache-hit throughput and latency of each relay storage
# backend side by side (memory, disk, redis, memory+disk tier), for a 1 KiB
# and a 1 MiB object, with nginx proxy_cache as a reference; ratios against
# relay's memory backend. A backend that fails to start or to serve a hit is
# reported as unavailable and the others still run. See bench/README.md.
#
# Usage: bench/backends.sh       (needs build/relay, nginx, wrk, curl;
#                                 redis-server for the redis backend)
#
# Settings (environment variables, defaults in brackets):
#   BENCH_TARGETS      any of: memory disk redis memory+disk nginx
#                      [memory disk redis memory+disk nginx]
#   BENCH_SIZES        objects, any of: 1k 1m [1k 1m]
#   BENCH_DURATION     seconds per measured wrk run [5]
#   BENCH_ROUNDS       measured rounds; each runs every target once [1]
#   BENCH_CONNECTIONS  wrk connections [64]
#   BENCH_WRK_THREADS  wrk threads [the CPUs left after the servers' share, at least 1]
#   BENCH_WARMUP       seconds of unmeasured wrk load per target and object [1]
#   BENCH_THREADS      relay threads / nginx workers [1]
#   BENCH_PIN          auto | 1 | 0: pin the servers (and redis-server) to the
#                      first BENCH_THREADS CPUs and wrk to the rest [auto]
#   BENCH_PORT_BASE    fixed ports: origin=BASE, nginx=+1, redis=+2, relay
#                      memory=+3, disk=+4, redis=+5, memory+disk=+6 [random]
#   BENCH_RELAY_BIN    relay binary [<repo>/build/relay]
#   BENCH_REDIS_SERVER redis-server binary [redis-server]
#   BENCH_TMPDIR       where the run's temp dir (and the disk caches) go [$TMPDIR or /tmp]
#   BENCH_KEEP_TMP     1 = keep the temp dir (configs, logs, raw wrk output) [0]
#   BENCH_VERBOSE      1 = also print wrk's own output for every run [0]
#
# Exit status: 0 when the run worked, even if some backends were unavailable
# (timings are reported, never judged); 2 for bad settings or a missing tool;
# 3 when the origin failed, or no target could be measured at all.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0; }
(($# == 0)) || { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }

TARGETS=${BENCH_TARGETS:-memory disk redis memory+disk nginx}
SIZES=${BENCH_SIZES:-1k 1m}
DURATION=${BENCH_DURATION:-5}
DURATION=${DURATION%s}
ROUNDS=${BENCH_ROUNDS:-1}
CONNS=${BENCH_CONNECTIONS:-64}
WARMUP=${BENCH_WARMUP:-1}
WARMUP=${WARMUP%s}
REDIS_SERVER=${BENCH_REDIS_SERVER:-redis-server}

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

need_pos_int BENCH_DURATION "$DURATION"
need_pos_int BENCH_ROUNDS "$ROUNDS"
need_pos_int BENCH_CONNECTIONS "$CONNS"
is_uint "$WARMUP" || die 2 "BENCH_WARMUP must be a whole number of seconds (got '$WARMUP')"
declare -A PORT_INDEX=([nginx]=1 [memory]=3 [disk]=4 [redis]=5 [memory+disk]=6)
targets_from "$TARGETS" memory disk redis memory+disk nginx
read -r -a SIZE_LIST <<<"$SIZES"
((${#SIZE_LIST[@]} > 0)) || die 2 "BENCH_SIZES is empty"
declare -A BYTES=([1k]=1024 [1m]=1048576) SIZE_LABEL=([1k]="1 KiB" [1m]="1 MiB")
for s in "${SIZE_LIST[@]}"; do
  [[ -n ${BYTES[$s]:-} ]] || die 2 "BENCH_SIZES: unknown size '$s' (use 1k and/or 1m)"
done
need_nginx   # the origin is nginx
need_wrk
RELAY_TARGETS=()
for t in "${ORDER[@]}"; do [[ $t == nginx ]] || RELAY_TARGETS+=("$t"); done
((${#RELAY_TARGETS[@]} == 0)) || need_relay
WRK_THREADS=$(wrk_threads "$CONNS")

# ------------------------------------------------------------------ servers

# UNAVAIL[target] or UNAVAIL[target/size]: why it is not measured.
declare -A PORT_OF PID UNAVAIL
pick_port origin 0; ORIGIN_PORT=$PORT
for t in "${ORDER[@]}"; do pick_port "$t" "${PORT_INDEX[$t]}"; PORT_OF[$t]=$PORT; done

mkdir -p "$TMP/origin/www" "$TMP/wrk"
for s in "${SIZE_LIST[@]}"; do
  head -c "${BYTES[$s]}" /dev/zero | tr '\0' 'x' >"$TMP/origin/www/object-$s"
done
start_nginx origin "$BENCH_DIR/nginx-origin.conf.in" "$ORIGIN_PORT"
ORIGIN_PID=${SERVER_PIDS[-1]}

# The first line of a server's log that looks like an error, else its last line.
log_reason() {
  local f=$TMP/$1/server.log line
  line=$(grep -m1 -iE 'error|fatal|fail|unknown|invalid' "$f" 2>/dev/null || tail -n 1 "$f" 2>/dev/null || true)
  printf '%s' "${line:0:160}"
  [[ -n $line ]] || printf 'no output in %s' "${f#"$TMP"/}"
}

REDIS_PORT="" REDIS_VERSION=""
if want redis; then
  if ! command -v "$REDIS_SERVER" >/dev/null; then
    UNAVAIL[redis]="$REDIS_SERVER not found"
  else
    pick_port redis-server 2; REDIS_PORT=$PORT
    mkdir -p "$TMP/redis-server"
    start_server redis-server "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 \
      --save '' --appendonly no --dir "$TMP/redis-server"
    if try_listening "${SERVER_PIDS[-1]}" "$REDIS_PORT"; then
      REDIS_VERSION=$("$REDIS_SERVER" --version 2>/dev/null | sed -n 's/^Redis server v=\([^ ]*\).*/redis \1/p' | head -n 1)
    else
      UNAVAIL[redis]="redis-server $WAIT_ERR: $(log_reason redis-server)"
    fi
  fi
fi

relay_config() { # TARGET DIR
  local t=$1 dir=$2 backend=memory tier=none
  case $t in
    disk) backend=disk ;;
    redis) backend=redis ;;
    memory+disk) tier=memory+disk ;;
  esac
  cat <<EOF
[server]
listen = "127.0.0.1:${PORT_OF[$t]}"
threads = $THREADS

[upstream]
url = "http://127.0.0.1:$ORIGIN_PORT"

[storage]
backend = "$backend"
tier = "$tier"

[storage.disk]
path = "$dir/cache"
min_free_space = 0

[storage.redis]
url = "redis://127.0.0.1:${REDIS_PORT:-6379}/0"

# Off: each relay would otherwise take the default admin port, and only
# the first to start could.
[admin]
listen = ""

[log]
access_log = "off"
EOF
}

relay_name() { case $1 in memory+disk) echo relay-tier ;; *) echo "relay-$1" ;; esac; }

for t in "${RELAY_TARGETS[@]}"; do
  [[ -n ${UNAVAIL[$t]:-} ]] && continue
  name=$(relay_name "$t")
  mkdir -p "$TMP/$name"
  relay_config "$t" "$TMP/$name" >"$TMP/$name/relay.toml"
  start_server "$name" "$RELAY_BIN" --config "$TMP/$name/relay.toml"
  PID[$t]=${SERVER_PIDS[-1]}
  try_listening "${PID[$t]}" "${PORT_OF[$t]}" || UNAVAIL[$t]="$WAIT_ERR: $(log_reason "$name")"
done
if want nginx; then
  start_nginx nginx "$BENCH_DIR/nginx-proxy.conf.in" "${PORT_OF[nginx]}" "$ORIGIN_PORT"
  PID[nginx]=${SERVER_PIDS[-1]}
fi

# ------------------------------------------------------------------ warm-up

available() { [[ -z ${UNAVAIL[$1]:-} && -z ${UNAVAIL[$1/$2]:-} ]]; } # TARGET SIZE
url() { echo "http://127.0.0.1:${PORT_OF[$1]}/object-$2"; }

# check TARGET SIZE: one request to fill the cache, then more until one is a
# full-size 200 hit. A store may finish writing after the first response
# (relay then answers the next request as a follower of the still-open
# fill: COALESCED), so up to CHECK_TRIES requests, 0.2 s apart, are allowed.
CHECK_TRIES=15
check() {
  local t=$1 s=$2 dir hdr=X-Cache status="" got size=0 seen i
  dir=$TMP/check-$t-$s; mkdir -p "$dir"
  [[ $t == nginx ]] && hdr=X-Cache-Status
  if ! curl -sS --max-time 10 -o /dev/null -D "$dir/0.head" "$(url "$t" "$s")" 2>"$dir/err"; then
    UNAVAIL[$t/$s]="first request failed: $(head -c 120 "$dir/err")"; return
  fi
  seen=$(header_value "$dir/0.head" "$hdr"); seen=${seen:-<missing>}
  for ((i = 1; i <= CHECK_TRIES; i++)); do
    if ! status=$(curl -sS --max-time 10 -o "$dir/body" -D "$dir/$i.head" -w '%{http_code}' \
                  "$(url "$t" "$s")" 2>"$dir/err"); then
      UNAVAIL[$t/$s]="request $((i + 1)) failed: $(head -c 120 "$dir/err")"; return
    fi
    got=$(header_value "$dir/$i.head" "$hdr"); got=${got:-<missing>}
    size=$(wc -c <"$dir/body")
    [[ $seen == *" $got" ]] || seen+=", then $got"
    [[ $status == 200 && $size == "${BYTES[$s]}" && ${got^^} == HIT ]] && break
    sleep 0.2
  done
  if ((i > CHECK_TRIES)); then
    UNAVAIL[$t/$s]="no ${BYTES[$s]}-byte 200 hit in $((CHECK_TRIES + 1)) requests (last: status $status, $size bytes; $hdr: $seen)"
    return
  fi
  info "warm-up  $(printf '%-12s %-6s' "$t" "${SIZE_LABEL[$s]}") $hdr: $seen ($((i + 1)) requests)"
}

info "relay storage backends: cache hits for a cached object over 127.0.0.1, ${ROUNDS} x ${DURATION}s per target and size"
info "servers: $THREADS worker(s) each; wrk: $WRK_THREADS thread(s), $CONNS connections; ${NCPU} CPU(s), $PIN_NOTE"
info "versions: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $(wrk --version 2>&1 | head -n 1 | awk '{print "wrk " $2}')$( ((${#RELAY_TARGETS[@]})) && printf ', %s' "$(relay_version)")${REDIS_VERSION:+, $REDIS_VERSION}"
for s in "${SIZE_LIST[@]}"; do
  for t in "${ORDER[@]}"; do
    [[ -n ${UNAVAIL[$t]:-} ]] || check "$t" "$s"
  done
done
# The tier's levels after the warm-up: hits should come from its memory level.
if want memory+disk && [[ -z ${UNAVAIL[memory+disk]:-} ]]; then
  levels=$(curl -sS --max-time 5 "http://127.0.0.1:${PORT_OF[memory+disk]}/metrics" 2>/dev/null |
    sed -nE 's/^relay_cache_entries\{backend="([^"]*)"\} ([0-9.e+]+)$/\1 \2/p' |
    awk '{ printf "%s%s %d", sep, $1, $2; sep = ", " }' || true)
  [[ -n $levels ]] && info "memory+disk levels after warm-up (objects): $levels"
fi
for t in "${ORDER[@]}"; do
  [[ -n ${UNAVAIL[$t]:-} ]] && warn "$t: unavailable: ${UNAVAIL[$t]}"
  for s in "${SIZE_LIST[@]}"; do
    [[ -n ${UNAVAIL[$t/$s]:-} ]] && warn "$t, ${SIZE_LABEL[$s]}: unavailable: ${UNAVAIL[$t/$s]}"
  done
done

# -------------------------------------------------------------------- runs

WRK_ARGS=(-t"$WRK_THREADS" -c"$CONNS" --latency -s "$BENCH_DIR/wrk-report.lua")
RESULTS=$TMP/results.tsv
: >"$RESULTS"
measured=0

# measure TARGET SIZE SECS OUT: one wrk run; on failure mark it unavailable.
measure() {
  local t=$1 s=$2
  if ! run_wrk "$4" "${WRK_ARGS[@]}" -d"${3}s" "$(url "$t" "$s")" 2>>"$TMP/wrk/errors.txt"; then
    UNAVAIL[$t/$s]="wrk failed (see BENCH_KEEP_TMP=1 wrk/errors.txt)"
  fi
  if [[ -n ${PID[$t]:-} ]] && ! proc_alive "${PID[$t]}"; then
    UNAVAIL[$t]="died during the run: $(log_reason "$(relay_name "$t")")"
    [[ $t == nginx ]] && UNAVAIL[$t]="died during the run"
  fi
  proc_alive "$ORIGIN_PID" || server_failed origin "died during the run"
  available "$t" "$s"
}

origin_requests() { wc -l <"$TMP/origin/access.log" 2>/dev/null || echo 0; }
mibs() { awk -v r="$1" -v b="$2" 'BEGIN { printf "%.1f", r * b / 1048576 }'; }

for s in "${SIZE_LIST[@]}"; do
  info ""
  info "object ${SIZE_LABEL[$s]} ($(url "${ORDER[0]}" "$s" | sed 's|.*/||'))"
  if ((WARMUP > 0)); then
    for t in "${ORDER[@]}"; do
      available "$t" "$s" && { measure "$t" "$s" "$WARMUP" "$TMP/wrk/warmup-$t-$s.txt" || true; }
    done
  fi
  printf '%-7s %-12s %10s %9s %9s %9s %7s %7s\n' round target req/s "p50 ms" "p99 ms" "MiB/s" errors origin
  for ((r = 1; r <= ROUNDS; r++)); do
    run_order=("${ORDER[@]}")
    if ((r % 2 == 0)); then
      run_order=()
      for ((i = ${#ORDER[@]} - 1; i >= 0; i--)); do run_order+=("${ORDER[i]}"); done
    fi
    for t in "${run_order[@]}"; do
      available "$t" "$s" || continue
      sleep 1
      o0=$(origin_requests)
      measure "$t" "$s" "$DURATION" "$TMP/wrk/round$r-$t-$s.txt" || continue
      origin=$(($(origin_requests) - o0))
      measured=$((measured + 1))
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t/$s" "$r" "$RES_RPS" "$RES_P50" "$RES_P99" "$RES_ERR" >>"$RESULTS"
      printf '%-7s %-12s %10.0f %9s %9s %9s %7s %7s\n' "$r/$ROUNDS" "$t" "$RES_RPS" "$(ms "$RES_P50")" \
        "$(ms "$RES_P99")" "$(mibs "$RES_RPS" "${BYTES[$s]}")" "$RES_ERR" "$origin"
      ((origin == 0)) || warn "$t, ${SIZE_LABEL[$s]}: $origin request(s) reached the origin during the run: not everything was a cache hit"
    done
  done
done
((measured > 0)) || die 3 "no target could be measured"

# ------------------------------------------------------------------ summary

info ""
info "median over $ROUNDS round(s); vs memory = this target / relay's memory backend, same object"
printf '%-6s %-12s %10s %9s %9s %9s %7s %9s %9s\n' object target req/s "p50 ms" "p99 ms" "MiB/s" errors \
  "req/s vs" "p99 vs"
printf '%-6s %-12s %10s %9s %9s %9s %7s %9s %9s\n' "" "" "" "" "" "" "" memory memory
for s in "${SIZE_LIST[@]}"; do
  base_rps="" base_p99=""
  if [[ -n $(median "$RESULTS" 1 "memory/$s" 3) ]]; then
    base_rps=$(median "$RESULTS" 1 "memory/$s" 3); base_p99=$(median "$RESULTS" 1 "memory/$s" 5)
  fi
  for t in "${ORDER[@]}"; do
    rps=$(median "$RESULTS" 1 "$t/$s" 3)
    if [[ -z $rps ]]; then
      why=${UNAVAIL[$t]:-${UNAVAIL[$t/$s]:-not measured}}
      printf '%-6s %-12s unavailable (%s)\n' "$s" "$t" "${why:0:100}"
      continue
    fi
    p50=$(median "$RESULTS" 1 "$t/$s" 4); p99=$(median "$RESULTS" 1 "$t/$s" 5)
    errs=$(awk -F'\t' -v k="$t/$s" '$1 == k { n += $6 } END { print n + 0 }' "$RESULTS")
    printf '%-6s %-12s %10.0f %9s %9s %9s %7s %9s %9s\n' "$s" "$t" "$rps" "$(ms "$p50")" "$(ms "$p99")" \
      "$(mibs "$rps" "${BYTES[$s]}")" "$errs" \
      "$( [[ -n $base_rps ]] && ratio "$rps" "$base_rps" || echo n/a)" \
      "$( [[ -n $base_p99 ]] && ratio "$p99" "$base_p99" || echo n/a)"
  done
done
info "(req/s vs memory above 1 = faster than the memory backend; p99 vs memory below 1 = lower tail latency)"
want memory+disk && info "(memory+disk hits come from its memory level: the objects fit in it)"
info "(origin = requests that reached the origin during the run: 0 when every response was a hit)"
want redis && info "(redis-server runs on the servers' CPU(s), next to relay)"
errs=$(awk -F'\t' '{ n += $6 } END { print n + 0 }' "$RESULTS")
((errs == 0)) || info "note: wrk counted $errs socket errors/non-2xx responses; see BENCH_KEEP_TMP=1 raw output"
origin_reqs=$(origin_requests)
info "origin saw $origin_reqs request(s) (one miss per target and object is expected; more means hits were not served from cache)"

env_line=""
for kv in "BENCH_TARGETS='${ORDER[*]}'" "BENCH_SIZES='${SIZE_LIST[*]}'" "BENCH_DURATION=$DURATION" \
          "BENCH_ROUNDS=$ROUNDS" "BENCH_CONNECTIONS=$CONNS" "BENCH_WRK_THREADS=$WRK_THREADS" \
          "BENCH_WARMUP=$WARMUP" "BENCH_THREADS=$THREADS" "BENCH_PIN=$PIN"; do
  env_line+="$kv "
done
[[ -n ${BENCH_PORT_BASE:-} ]] && env_line+="BENCH_PORT_BASE=$BENCH_PORT_BASE "
[[ -n ${BENCH_RELAY_BIN:-} ]] && env_line+="BENCH_RELAY_BIN=$BENCH_RELAY_BIN "
[[ -n ${BENCH_TMPDIR:-} ]] && env_line+="BENCH_TMPDIR=$BENCH_TMPDIR "
info ""
info "command: ${env_line}bench/backends.sh"
ports=""
for t in "${ORDER[@]}"; do ports+=" $t=${PORT_OF[$t]}"; done
info "wrk:     ${CLIENT_PIN[*]:+${CLIENT_PIN[*]} }wrk ${WRK_ARGS[*]/#$BENCH_DIR/bench} -d${DURATION}s http://127.0.0.1:<port>/object-<size>  (port:$ports)"
[[ -n $REDIS_VERSION ]] && info "redis:   $REDIS_SERVER --port $REDIS_PORT --bind 127.0.0.1 --save '' --appendonly no --dir <tmp>/redis-server"
exit 0
