#!/usr/bin/env bash
# bench/stampede.sh: a cache stampede. 200 clients ask relay and nginx
# (proxy_cache_lock) for the same cold key at the same moment, in front of a
# slow origin (1 s to the response head, then a 100 KiB body dripped over
# 1 s). Reports how many requests reached the origin and each client's time
# to first byte and total time. See bench/README.md.
#
# With BENCH_INSTANCES=N the clients are spread over a fleet of N instances
# of each: N relays sharing one redis-server (storage and fill lock), and N
# nginx, each with its own cache (nginx has no cache shared across hosts).
#
# Usage: bench/stampede.sh       (needs build/relay, nginx, python3, curl)
#
# Settings (environment variables, defaults in brackets):
#   BENCH_CLIENTS      simultaneous clients per run, one connection each [200]
#   BENCH_ROUNDS       rounds; each runs every target once on its own fresh key [3]
#   BENCH_DELAY        origin: seconds before the response head [1.0]
#   BENCH_DRIP         origin: seconds over which the body is sent [1.0]
#   BENCH_BODY_SIZE    origin: body bytes [102400]
#   BENCH_TIMEOUT      client: seconds allowed per connect / per exchange [60]
#   BENCH_THREADS      worker threads/processes for relay and nginx [1]
#   BENCH_INSTANCES    instances of each server; >1 needs redis-server [1]
#   BENCH_TARGETS      "relay nginx", "relay" or "nginx" [relay nginx]
#   BENCH_PIN          auto | 1 | 0: pin servers to the first BENCH_THREADS CPUs
#                      and the client to the rest (needs taskset) [auto]
#   BENCH_PORT_BASE    fixed ports: origin=BASE, redis=BASE+1, relay i=BASE+2i,
#                      nginx i=BASE+2i+1 (i = 1..BENCH_INSTANCES) [random]
#   BENCH_RELAY_BIN    relay binary [<repo>/build/relay]
#   BENCH_PYTHON       Python 3 interpreter for the origin and client [python3]
#   BENCH_TMPDIR       where the run's temp dir goes [$TMPDIR or /tmp]
#   BENCH_KEEP_TMP     1 = keep the temp dir (configs, logs, per-client TSVs) [0]
#
# Exit status: 0 when the run worked (timings are reported, never judged);
# 2 for bad settings or a missing tool/binary; 3 when a server failed to
# start or died during the run.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0; }
(($# == 0)) || { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }

CLIENTS=${BENCH_CLIENTS:-200}
ROUNDS=${BENCH_ROUNDS:-3}
DELAY=${BENCH_DELAY:-1.0}
DRIP=${BENCH_DRIP:-1.0}
BODY_SIZE=${BENCH_BODY_SIZE:-102400}
CLIENT_TIMEOUT=${BENCH_TIMEOUT:-60}
TARGETS=${BENCH_TARGETS:-relay nginx}
INSTANCES=${BENCH_INSTANCES:-1}
PYTHON=${BENCH_PYTHON:-python3}

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

need_pos_int BENCH_CLIENTS "$CLIENTS"
need_pos_int BENCH_ROUNDS "$ROUNDS"
need_pos_int BENCH_BODY_SIZE "$BODY_SIZE"
need_pos_int BENCH_TIMEOUT "$CLIENT_TIMEOUT"
need_pos_int BENCH_INSTANCES "$INSTANCES"
is_num "$DELAY" || die 2 "BENCH_DELAY must be a number of seconds (got '$DELAY')"
is_num "$DRIP" || die 2 "BENCH_DRIP must be a number of seconds (got '$DRIP')"
targets_from "$TARGETS" relay nginx

command -v "$PYTHON" >/dev/null || die 2 "$PYTHON not found (set BENCH_PYTHON)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null || die 2 "$PYTHON is not Python 3.8 or newer"
want nginx && need_nginx
want relay && need_relay
if want relay && ((INSTANCES > 1)); then
  REDIS_SERVER=$(command -v redis-server || true)
  [[ -n $REDIS_SERVER ]] || die 2 "redis-server not found (BENCH_INSTANCES > 1 shares one between the relays); install it with scripts/install-deps.sh"
fi
# One socket per client plus a few for the script itself.
if (($(ulimit -n) < CLIENTS + 64)); then
  ulimit -n $((CLIENTS + 64)) 2>/dev/null || die 2 "open-file limit $(ulimit -n) is too low for $CLIENTS clients"
fi

# ------------------------------------------------------------------ servers

pick_port origin 0; ORIGIN_PORT=$PORT
pick_port redis 1;  REDIS_PORT=$PORT

start_server origin "$PYTHON" -u "$BENCH_DIR/slow_origin.py" --port "$ORIGIN_PORT" \
  --delay "$DELAY" --drip "$DRIP" --size "$BODY_SIZE" --chunks 10
ORIGIN_PID=${SERVER_PIDS[-1]}
wait_listening origin "$ORIGIN_PID" "$ORIGIN_PORT"

# A fleet of relays shares one Redis: storage and the per-key fill lock.
STORAGE='backend = "memory"'
if want relay && ((INSTANCES > 1)); then
  start_server redis "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no
  wait_listening redis "${SERVER_PIDS[-1]}" "$REDIS_PORT"
  STORAGE="backend = \"redis\"

[storage.redis]
url = \"redis://127.0.0.1:$REDIS_PORT/0\"
key_prefix = \"bench:$$:\""
fi

declare -A PORT_OF PID   # per target: comma-separated ports, space-separated pids
for ((i = 1; i <= INSTANCES; i++)); do
  suffix=""
  ((INSTANCES > 1)) && suffix=$i
  if want relay; then
    pick_port "relay$suffix" $((2 * i)); port=$PORT
    mkdir -p "$TMP/relay$suffix"
    cat >"$TMP/relay$suffix/relay.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
threads = $THREADS

[upstream]
url = "http://127.0.0.1:$ORIGIN_PORT"
first_byte_timeout = "60s"

[cache.coalesce]
# relay's defaults, spelled out; the times match nginx's lock settings.
enabled = true
follower_timeout = "30s"
max_fill_age = "30s"

[storage]
$STORAGE

[log]
access_log = "off"
EOF
    start_server "relay$suffix" "$RELAY_BIN" --config "$TMP/relay$suffix/relay.toml"
    wait_listening "relay$suffix" "${SERVER_PIDS[-1]}" "$port"
    PID[relay]+="${SERVER_PIDS[-1]} "
    PORT_OF[relay]+="${PORT_OF[relay]:+,}$port"
  fi
  if want nginx; then
    pick_port "nginx$suffix" $((2 * i + 1)); port=$PORT
    start_nginx "nginx$suffix" "$BENCH_DIR/nginx-stampede.conf.in" "$port" "$ORIGIN_PORT"
    PID[nginx]+="${SERVER_PIDS[-1]} "
    PORT_OF[nginx]+="${PORT_OF[nginx]:+,}$port"
  fi
done
fleet_alive() { # TARGET: every instance still running?
  local p
  for p in ${PID[$1]}; do proc_alive "$p" || return 1; done
}

origin_count() { # PATH -> requests the origin has seen for PATH
  curl -sS --max-time 5 "http://127.0.0.1:$ORIGIN_PORT/__count?path=$1" | tr -d '[:space:]'
}

# ---------------------------------------------------------------- the runs

sec() { awk -v s="$1" 'BEGIN { if (s == "nan") print "-"; else printf "%.3f", s }'; }
kv() { sed -nE "s/.*(^| )$2=([^ ]*).*/\2/p" <<<"$1"; }   # kv LINE NAME

info "relay stampede benchmark: $CLIENTS clients request one cold key at once, ${ROUNDS} round(s), a fresh key per target and round"
info "origin: ${DELAY}s to the response head, then ${BODY_SIZE} bytes dripped over ${DRIP}s (one fill takes about $(awk -v a="$DELAY" -v b="$DRIP" 'BEGIN { print a + b }')s)"
info "servers: $INSTANCES instance(s) of each, $THREADS worker(s) each; ${NCPU} CPU(s), $PIN_NOTE"
((INSTANCES > 1)) && info "fleet: clients spread round-robin; the relays share one redis-server, each nginx has its own cache"
info "versions: $(want nginx && "$NGINX" -v 2>&1 | sed 's/^nginx version: //')$(want nginx && want relay && printf ', ')$(want relay && relay_version), $("$PYTHON" -V 2>&1)"
info ""
info "times in seconds, measured by each client from the moment it sent its request"
printf '%-6s %-6s %7s %9s %9s %9s %9s %9s  %s\n' round target origin ok "ttfb p50" "ttfb p99" "total p50" "total p99" "X-Cache / X-Cache-Status"
RESULTS=$TMP/results.tsv
: >"$RESULTS"
mkdir -p "$TMP/runs"
declare -A FILES
for ((r = 1; r <= ROUNDS; r++)); do
  run_order=("${ORDER[@]}")
  if ((r % 2 == 0 && ${#ORDER[@]} == 2)); then run_order=("${ORDER[1]}" "${ORDER[0]}"); fi
  for t in "${run_order[@]}"; do
    key="/stampede/r$r-$t-$$-$RANDOM$RANDOM"
    out=$TMP/runs/round$r-$t.tsv
    if ! run_fg "${CLIENT_PIN[@]}" timeout -k 5 $((2 * CLIENT_TIMEOUT + 30)) \
         "$PYTHON" "$BENCH_DIR/stampede_client.py" --port "${PORT_OF[$t]}" --path "$key" \
         --clients "$CLIENTS" --timeout "$CLIENT_TIMEOUT" --expect-bytes "$BODY_SIZE" --out "$out" \
         >"$TMP/runs/round$r-$t.txt" 2>&1; then
      cat "$TMP/runs/round$r-$t.txt" >&2
      fleet_alive "$t" || server_failed "$t" "died during the run"
      die 3 "the stampede client failed against $t"
    fi
    fleet_alive "$t" || server_failed "$t" "died during the run"
    proc_alive "$ORIGIN_PID" || server_failed origin "died during the run"
    grep -v '^STAMPEDE_RESULT' "$TMP/runs/round$r-$t.txt" >&2 || true
    line=$(grep '^STAMPEDE_RESULT ' "$TMP/runs/round$r-$t.txt" | tail -n 1) ||
      die 3 "no result from the stampede client against $t"
    n_origin=$(origin_count "$key") || die 3 "could not read the origin's request count"
    FILES[$t]+="$out "
    printf '%s\t%s\t%s\n' "$r" "$t" "$n_origin" >>"$RESULTS"
    printf '%-6s %-6s %7s %9s %9s %9s %9s %9s  %s\n' "$r/$ROUNDS" "$t" "$n_origin" \
      "$(kv "$line" ok)/$(kv "$line" clients)" \
      "$(sec "$(kv "$line" ttfb_p50)")" "$(sec "$(kv "$line" ttfb_p99)")" \
      "$(sec "$(kv "$line" total_p50)")" "$(sec "$(kv "$line" total_p99)")" "$(kv "$line" cache)"
    sleep 0.5
  done
done

# ------------------------------------------------------------------ summary

info ""
info "all rounds pooled ($CLIENTS clients x $ROUNDS round(s) per target):"
printf '%-12s %-14s %9s %9s %9s %9s %9s %9s\n' target "origin/round" ok "ttfb p50" "ttfb p99" "total p50" "total p99" "spread"
declare -A S
for t in "${ORDER[@]}"; do
  # shellcheck disable=SC2086  # FILES holds a space-separated list
  S[$t]=$("$PYTHON" "$BENCH_DIR/stampede_client.py" --summarize ${FILES[$t]})
  per_round=$(awk -F'\t' -v t="$t" '$2 == t { printf "%s%s", sep, $3; sep = "," }' "$RESULTS")
  printf '%-12s %-14s %9s %9s %9s %9s %9s %9s\n' "$t" "$per_round" \
    "$(kv "${S[$t]}" ok)/$(kv "${S[$t]}" clients)" \
    "$(sec "$(kv "${S[$t]}" ttfb_p50)")" "$(sec "$(kv "${S[$t]}" ttfb_p99)")" \
    "$(sec "$(kv "${S[$t]}" total_p50)")" "$(sec "$(kv "${S[$t]}" total_p99)")" \
    "$(sec "$(kv "${S[$t]}" send_spread)")"
done
if want relay && want nginx; then
  o_relay=$(awk -F'\t' '$2 == "relay" { n += $3 } END { print n + 0 }' "$RESULTS")
  o_nginx=$(awk -F'\t' '$2 == "nginx" { n += $3 } END { print n + 0 }' "$RESULTS")
  printf '%-12s %-14s %9s %9s %9s %9s %9s\n' relay/nginx "$(ratio "$o_relay" "$o_nginx")" "" \
    "$(ratio "$(kv "${S[relay]}" ttfb_p50)" "$(kv "${S[nginx]}" ttfb_p50)")" \
    "$(ratio "$(kv "${S[relay]}" ttfb_p99)" "$(kv "${S[nginx]}" ttfb_p99)")" \
    "$(ratio "$(kv "${S[relay]}" total_p50)" "$(kv "${S[nginx]}" total_p50)")" \
    "$(ratio "$(kv "${S[relay]}" total_p99)" "$(kv "${S[nginx]}" total_p99)")"
  info "(origin = requests the origin received for the round's key: 1 means the stampede was fully collapsed;"
  info " latency ratios below 1 = relay's clients got their bytes sooner)"
fi
failed=0
for t in "${ORDER[@]}"; do failed=$((failed + $(kv "${S[$t]}" failed))); done
((failed == 0)) || info "note: $failed client(s) failed (wrong status/size, error or timeout); their times are left out. BENCH_KEEP_TMP=1 keeps the per-client TSVs"
info "(spread = time between the first and the last client sending its request)"

env_line=""
for kv_ in "BENCH_CLIENTS=$CLIENTS" "BENCH_ROUNDS=$ROUNDS" "BENCH_INSTANCES=$INSTANCES" "BENCH_DELAY=$DELAY" "BENCH_DRIP=$DRIP" \
           "BENCH_BODY_SIZE=$BODY_SIZE" "BENCH_THREADS=$THREADS" "BENCH_TARGETS='${ORDER[*]}'" "BENCH_PIN=$PIN"; do
  env_line+="$kv_ "
done
[[ -n ${BENCH_PORT_BASE:-} ]] && env_line+="BENCH_PORT_BASE=$BENCH_PORT_BASE "
[[ -n ${BENCH_RELAY_BIN:-} ]] && env_line+="BENCH_RELAY_BIN=$BENCH_RELAY_BIN "
info ""
info "command: ${env_line}bench/stampede.sh"
info "client:  ${CLIENT_PIN[*]:+${CLIENT_PIN[*]} }$PYTHON bench/stampede_client.py --port <port> --path /stampede/<fresh key> --clients $CLIENTS --timeout $CLIENT_TIMEOUT --expect-bytes $BODY_SIZE --out <tsv>"
info "origin:  $PYTHON bench/slow_origin.py --port <port> --delay $DELAY --drip $DRIP --size $BODY_SIZE --chunks 10"
exit 0
