#!/usr/bin/env bash
# bench/run.sh: relay against nginx proxy_cache, both serving one cached
# 1 KiB object over loopback, measured with wrk. See bench/README.md.
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
#   BENCH_TARGETS      which proxies to run: "relay nginx", "relay" or "nginx" [relay nginx]
#   BENCH_PIN          auto | 1 | 0: pin the servers to the first BENCH_THREADS
#                      allowed CPUs and wrk to the rest (needs taskset) [auto]
#   BENCH_PORT_BASE    fixed ports: origin=BASE, relay=BASE+1, nginx=BASE+2 [random free ports]
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

# relay reads RELAY_<SECTION>_<KEY> overrides from its environment; the
# benchmark's config must be exactly the generated file, so drop them all.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^RELAY_' || true)

THREADS=${BENCH_THREADS:-1}
DURATION=${BENCH_DURATION:-10}
DURATION=${DURATION%s}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-64}
WARMUP=${BENCH_WARMUP:-2}
WARMUP=${WARMUP%s}
TARGETS=${BENCH_TARGETS:-relay nginx}
PIN=${BENCH_PIN:-auto}
RELAY_BIN=${BENCH_RELAY_BIN:-$ROOT/build/relay}
KEEP_TMP=${BENCH_KEEP_TMP:-0}
VERBOSE=${BENCH_VERBOSE:-0}
START_TIMEOUT=10     # seconds for a server to start listening
STOP_TIMEOUT=5       # seconds for a server to exit on SIGTERM before SIGKILL
SIZE=${BENCH_SIZE:-1k}

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
[[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }
(($# == 0)) || { usage >&2; exit 2; }

die() { # die STATUS MESSAGE...
  local rc=$1; shift
  printf 'bench: error: %s\n' "$*" >&2
  exit "$rc"
}
info() { printf '%s\n' "$*"; }

# ---------------------------------------------------------------- settings

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
for kv in "BENCH_THREADS=$THREADS" "BENCH_DURATION=$DURATION" "BENCH_ROUNDS=$ROUNDS" \
          "BENCH_CONNECTIONS=$CONNS"; do
  if ! is_uint "${kv#*=}" || ((${kv#*=} == 0)); then
    die 2 "${kv%%=*} must be a positive integer (got '${kv#*=}')"
  fi
done
case ${SIZE,,} in
  *k) OBJECT_SIZE=$((${SIZE%[kK]} * 1024)) ;;
  *m) OBJECT_SIZE=$((${SIZE%[mM]} * 1048576)) ;;
  *) OBJECT_SIZE=$SIZE ;;
esac 2>/dev/null || die 2 "BENCH_SIZE must be a byte count, optionally with k or m (got '$SIZE')"
if ! is_uint "$OBJECT_SIZE" || ((OBJECT_SIZE == 0)); then
  die 2 "BENCH_SIZE must be a byte count, optionally with k or m (got '$SIZE')"
fi
OBJECT_PATH=/object-${SIZE,,}
is_uint "$WARMUP" || die 2 "BENCH_WARMUP must be a whole number of seconds (got '$WARMUP')"

read -r -a TARGET_LIST <<<"$TARGETS"
((${#TARGET_LIST[@]} > 0)) || die 2 "BENCH_TARGETS is empty"
for t in "${TARGET_LIST[@]}"; do
  [[ $t == relay || $t == nginx ]] || die 2 "BENCH_TARGETS: unknown target '$t' (use relay and/or nginx)"
done
want() { [[ " ${TARGET_LIST[*]} " == *" $1 "* ]]; }

# ------------------------------------------------------------------- tools

NGINX=$(command -v nginx || true)
[[ -z $NGINX && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
[[ -n $NGINX ]] || die 2 "nginx not found; install it with scripts/install-deps.sh --bench"
command -v wrk >/dev/null || die 2 "wrk not found; install it with scripts/install-deps.sh --bench"
for tool in curl setsid timeout awk sort; do
  command -v "$tool" >/dev/null || die 2 "$tool not found"
done
if want relay; then
  [[ -x $RELAY_BIN ]] || die 2 "relay binary not found at $RELAY_BIN
  build it first:  meson setup build && ninja -C build   (from $ROOT)
  or benchmark nginx alone:  BENCH_TARGETS=nginx bench/run.sh"
fi

# --------------------------------------------------------- CPU placement

# CPUs this process may run on, e.g. "0-1" or "0,2-3" -> "0 1 2 3".
allowed_cpus() {
  local list part
  list=$(awk '/^Cpus_allowed_list:/ {print $2}' /proc/self/status 2>/dev/null || true)
  [[ -n $list ]] || return 0
  IFS=, read -r -a parts <<<"$list"
  for part in "${parts[@]}"; do
    if [[ $part == *-* ]]; then seq "${part%-*}" "${part#*-}"; else echo "$part"; fi
  done | tr '\n' ' '
}
read -r -a CPUS <<<"$(allowed_cpus)"
NCPU=${#CPUS[@]}
((NCPU > 0)) || NCPU=$(nproc 2>/dev/null || echo 1)

SERVER_PIN=() WRK_PIN=() PIN_NOTE="not pinned"
if [[ $PIN != 0 ]]; then
  if command -v taskset >/dev/null && ((${#CPUS[@]} > THREADS)); then
    server_cpus=$(IFS=,; echo "${CPUS[*]:0:THREADS}")
    wrk_cpus=$(IFS=,; echo "${CPUS[*]:THREADS}")
    SERVER_PIN=(taskset -c "$server_cpus")
    WRK_PIN=(taskset -c "$wrk_cpus")
    PIN_NOTE="servers on CPU $server_cpus, wrk on CPU $wrk_cpus"
  elif [[ $PIN == 1 ]]; then
    echo "bench: warning: BENCH_PIN=1 but pinning is impossible (need taskset and more than $THREADS allowed CPUs); running unpinned" >&2
  fi
fi

if [[ -n ${BENCH_WRK_THREADS:-} ]]; then
  WRK_THREADS=$BENCH_WRK_THREADS
  if ! is_uint "$WRK_THREADS" || ((WRK_THREADS == 0)); then
    die 2 "BENCH_WRK_THREADS must be a positive integer (got '$WRK_THREADS')"
  fi
elif ((${#WRK_PIN[@]})); then
  WRK_THREADS=$((${#CPUS[@]} - THREADS))
else
  WRK_THREADS=$((NCPU > THREADS ? NCPU - THREADS : 1))
fi
((WRK_THREADS <= CONNS)) || WRK_THREADS=$CONNS   # wrk needs connections >= threads

# ------------------------------------------------------ processes, cleanup

TMP=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/relay-bench.XXXXXX")
SERVER_PIDS=() SERVER_NAMES=() WRK_PID=""

# True while the process exists and is not a zombie.
proc_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# shellcheck disable=SC2317  # run from the EXIT trap
# Each server runs in its own session/process group (setsid), so stopping
# it also reaches its children (nginx workers, cache manager, ...).
stop_server() {
  local pid=$1 i
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    proc_alive "$pid" || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317
cleanup() {
  local rc=$? i
  set +e
  trap - INT TERM
  if [[ -n $WRK_PID ]]; then
    kill -TERM "$WRK_PID" 2>/dev/null
    wait "$WRK_PID" 2>/dev/null
  fi
  for ((i = ${#SERVER_PIDS[@]} - 1; i >= 0; i--)); do
    stop_server "${SERVER_PIDS[i]}"
  done
  if [[ $KEEP_TMP == 1 ]]; then
    echo "bench: kept temp dir $TMP" >&2
  else
    rm -rf -- "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# server_failed NAME MESSAGE: report with the end of the server's log, exit 3.
server_failed() {
  local name=$1 log=$TMP/$1/server.log; shift
  {
    printf 'bench: error: %s: %s\n' "$name" "$*"
    for f in "$log" "$TMP/$name/error.log"; do
      [[ -s $f ]] || continue
      echo "--- last lines of ${f#"$TMP"/} ---"
      tail -n 20 "$f"
    done
  } >&2
  exit 3
}

# start_server NAME CMD...: background, own process group, output to NAME/server.log.
start_server() {
  local name=$1; shift
  setsid "${SERVER_PIN[@]}" "$@" >"$TMP/$name/server.log" 2>&1 </dev/null &
  SERVER_PIDS+=("$!")
  SERVER_NAMES+=("$name")
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_listening() { # NAME PID PORT
  local name=$1 pid=$2 port=$3 i
  for ((i = 0; i < START_TIMEOUT * 10; i++)); do
    proc_alive "$pid" || server_failed "$name" "exited during startup"
    port_in_use "$port" && return 0
    sleep 0.1
  done
  server_failed "$name" "not listening on 127.0.0.1:$port after ${START_TIMEOUT}s"
}

PICKED_PORTS=" "
pick_port() { # NAME INDEX
  local p i
  if [[ -n ${BENCH_PORT_BASE:-} ]]; then
    is_uint "$BENCH_PORT_BASE" || die 2 "BENCH_PORT_BASE must be a port number"
    p=$((BENCH_PORT_BASE + $2))
    port_in_use "$p" && die 3 "port $p for $1 (BENCH_PORT_BASE+$2) is already in use"
    echo "$p"; return
  fi
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 40000))
    [[ $PICKED_PORTS == *" $p "* ]] && continue
    port_in_use "$p" && continue
    echo "$p"; return
  done
  die 3 "no free loopback port found for $1"
}
ORIGIN_PORT=$(pick_port origin 0); PICKED_PORTS+="$ORIGIN_PORT "
RELAY_PORT=$(pick_port relay 1);   PICKED_PORTS+="$RELAY_PORT "
NGINX_PORT=$(pick_port nginx 2);   PICKED_PORTS+="$NGINX_PORT "

# nginx started as root would hand its workers to "nobody", who cannot enter
# the private temp dir; keep them as the current user instead.
USER_LINE=""
(($(id -u) == 0)) && USER_LINE="user $(id -un) $(id -gn);"

render() { # TEMPLATE DIR PORT -> stdout
  sed -e "s|@USER_LINE@|$USER_LINE|" -e "s|@DIR@|$2|g" -e "s|@PORT@|$3|g" \
      -e "s|@ORIGIN_PORT@|$ORIGIN_PORT|g" -e "s|@WORKERS@|$THREADS|g" "$1"
}

start_nginx() { # NAME TEMPLATE PORT
  local name=$1 dir=$TMP/$1
  mkdir -p "$dir/tmp"
  render "$2" "$dir" "$3" >"$dir/nginx.conf"
  start_server "$name" "$NGINX" -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;'
  wait_listening "$name" "${SERVER_PIDS[-1]}" "$3"
}

# ------------------------------------------------------------------ servers

mkdir -p "$TMP/origin/www" "$TMP/relay" "$TMP/nginx" "$TMP/wrk"
head -c "$OBJECT_SIZE" /dev/zero | tr '\0' 'x' >"$TMP/origin/www${OBJECT_PATH}"

# The origin shares the servers' CPUs; it only sees the warm-up misses.
start_nginx origin "$BENCH_DIR/nginx-origin.conf.in" "$ORIGIN_PORT"

declare -A URL PID
if want relay; then
  cat >"$TMP/relay/relay.toml" <<EOF
[server]
listen = "127.0.0.1:$RELAY_PORT"
threads = $THREADS

[upstream]
url = "http://127.0.0.1:$ORIGIN_PORT"

[storage]
backend = "memory"

[log]
access_log = "off"
EOF
  start_server relay "$RELAY_BIN" --config "$TMP/relay/relay.toml"
  PID[relay]=${SERVER_PIDS[-1]}
  wait_listening relay "${PID[relay]}" "$RELAY_PORT"
  URL[relay]="http://127.0.0.1:$RELAY_PORT$OBJECT_PATH"
fi
if want nginx; then
  start_nginx nginx "$BENCH_DIR/nginx-proxy.conf.in" "$NGINX_PORT"
  PID[nginx]=${SERVER_PIDS[-1]}
  URL[nginx]="http://127.0.0.1:$NGINX_PORT$OBJECT_PATH"
fi

# ------------------------------------------------------------------ warm-up

header_value() { # FILE NAME -> value of the first NAME: header
  grep -i "^$2:" "$1" | head -n 1 | cut -d: -f2- | tr -d ' \r' || true
}

declare -A HEAD_BYTES
warm() { # TARGET CACHE_HEADER
  local t=$1 hdr=$2 dir=$TMP/$1 status first second size
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
  info "warm-up  $(printf '%-6s' "$t") 1st $hdr: ${first:-<missing>}, 2nd $hdr: $second (200, ${size}-byte body, ${HEAD_BYTES[$t]}-byte response head)"
}
want relay && warm relay X-Cache
want nginx && warm nginx X-Cache-Status

# -------------------------------------------------------------------- runs

WRK_ARGS=(-t"$WRK_THREADS" -c"$CONNS" --latency -s "$BENCH_DIR/wrk-report.lua")

# run_wrk TARGET SECONDS OUTFILE: one wrk run; sets the RES_* variables.
run_wrk() {
  local t=$1 secs=$2 out=$3 line
  # In the background plus `wait`, so a signal to this script is handled at
  # once (cleanup stops wrk) rather than after wrk finishes.
  "${WRK_PIN[@]}" timeout -k 5 $((secs + 30)) wrk "${WRK_ARGS[@]}" -d"${secs}s" "${URL[$t]}" >"$out" 2>&1 &
  WRK_PID=$!
  if ! wait "$WRK_PID"; then
    proc_alive "${PID[$t]}" || server_failed "$t" "died during the benchmark"
    cat "$out" >&2
    die 3 "wrk against $t failed"
  fi
  WRK_PID=""
  [[ $VERBOSE == 1 ]] && cat "$out"
  proc_alive "${PID[$t]}" || server_failed "$t" "died during the benchmark"
  line=$(grep '^BENCH_RESULT ' "$out" | tail -n 1) || { cat "$out" >&2; die 3 "no result line in wrk output for $t"; }
  RES_RPS=$(sed -E 's/.* rps=([^ ]+).*/\1/' <<<"$line")
  RES_P50=$(sed -E 's/.* p50_us=([^ ]+).*/\1/' <<<"$line")
  RES_P99=$(sed -E 's/.* p99_us=([^ ]+).*/\1/' <<<"$line")
  RES_ERR=$(awk '{ n = 0; for (i = 1; i <= NF; i++) if ($i ~ /^err_/) { split($i, kv, "="); n += kv[2] } print n }' <<<"$line")
}

ms() { awk -v us="$1" 'BEGIN { printf "%.3f", us / 1000 }'; }

ORDER=("${TARGET_LIST[@]}")
info ""
info "relay benchmark: cached ${OBJECT_SIZE}-byte object over 127.0.0.1, ${ROUNDS} x ${DURATION}s per target"
info "servers: $THREADS worker(s) each; wrk: $WRK_THREADS thread(s), $CONNS connections; ${NCPU} CPU(s), $PIN_NOTE"
info "versions: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $(wrk --version 2>&1 | head -n 1 | awk '{print "wrk " $2}')$(want relay && printf ', relay %s%s' "${RELAY_BIN#"$ROOT"/}" "$(git -C "$ROOT" describe --always --dirty 2>/dev/null | sed 's/^/ @ /')")"

if ((WARMUP > 0)); then
  for t in "${ORDER[@]}"; do
    run_wrk "$t" "$WARMUP" "$TMP/wrk/warmup-$t.txt"
  done
  info "load warm-up: ${WARMUP}s per target (not measured)"
fi

info ""
# Clock ticks a server (and its children: nginx's workers) has used: a
# server that is not busy during its run is held back by something other
# than its own work, and then the ratio does not measure it.
cpu_ticks() {
  local pid files=()
  for pid in "$1" $(pgrep -P "$1" 2>/dev/null || true); do files+=("/proc/$pid/stat"); done
  cat "${files[@]}" 2>/dev/null | awk '{ t += $14 + $15 } END { print t + 0 }'
}
CLK_TCK=$(getconf CLK_TCK)
busy_percent() { # TICKS SECONDS -> share of the servers' CPUs used, in %
  awk -v t="$1" -v s="$2" -v hz="$CLK_TCK" -v n="$THREADS" 'BEGIN { printf "%.0f", 100 * t / hz / s / n }'
}

printf '%-7s %-7s %12s %10s %10s %8s %7s\n' round target req/s "p50 ms" "p99 ms" errors "cpu %"
RESULTS=$TMP/results.tsv
: >"$RESULTS"
for ((r = 1; r <= ROUNDS; r++)); do
  # ABBA order: every other round runs the targets in reverse, so neither
  # always goes first (or always runs right after the other's load).
  run_order=("${ORDER[@]}")
  if ((r % 2 == 0 && ${#ORDER[@]} == 2)); then run_order=("${ORDER[1]}" "${ORDER[0]}"); fi
  for t in "${run_order[@]}"; do
    sleep 1
    ticks_before=$(cpu_ticks "${PID[$t]}")
    run_wrk "$t" "$DURATION" "$TMP/wrk/round$r-$t.txt"
    busy=$(busy_percent $(($(cpu_ticks "${PID[$t]}") - ticks_before)) "$DURATION")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "$RES_RPS" "$RES_P50" "$RES_P99" "$RES_ERR" "$busy" >>"$RESULTS"
    printf '%-7s %-7s %12.0f %10s %10s %8s %7s\n' "$r/$ROUNDS" "$t" "$RES_RPS" "$(ms "$RES_P50")" "$(ms "$RES_P99")" "$RES_ERR" "$busy"
  done
done

# ------------------------------------------------------------------ summary

median() { # TARGET COLUMN
  awk -F'\t' -v t="$1" -v c="$2" '$2 == t { print $c }' "$RESULTS" | sort -g |
    awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
total() { awk -F'\t' -v t="$1" '$2 == t { n += $6 } END { print n + 0 }' "$RESULTS"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }

declare -A M_RPS M_P50 M_P99 M_CPU
info ""
info "median over $ROUNDS round(s):"
printf '%-12s %12s %10s %10s %8s %7s\n' target req/s "p50 ms" "p99 ms" errors "cpu %"
for t in "${ORDER[@]}"; do
  M_RPS[$t]=$(median "$t" 3); M_P50[$t]=$(median "$t" 4); M_P99[$t]=$(median "$t" 5); M_CPU[$t]=$(median "$t" 7)
  printf '%-12s %12.0f %10s %10s %8s %7.0f\n' "$t" "${M_RPS[$t]}" "$(ms "${M_P50[$t]}")" "$(ms "${M_P99[$t]}")" "$(total "$t")" "${M_CPU[$t]}"
done
if want relay && want nginx; then
  printf '%-12s %12s %10s %10s\n' relay/nginx "$(ratio "${M_RPS[relay]}" "${M_RPS[nginx]}")" \
    "$(ratio "${M_P50[relay]}" "${M_P50[nginx]}")" "$(ratio "${M_P99[relay]}" "${M_P99[nginx]}")"
  info "(req/s ratio above 1 = relay serves more; latency ratios below 1 = relay answers faster)"
fi

for t in "${ORDER[@]}"; do
  if awk -v c="${M_CPU[$t]}" 'BEGIN { exit !(c < 80) }'; then
    info "warning: $t used only ${M_CPU[$t]}% of its CPU(s) while measured: it waited on something other than its own work, so the ratio above does not measure it"
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
          "BENCH_TARGETS='${TARGET_LIST[*]}'" "BENCH_PIN=$PIN"; do
  env_line+="$kv "
done
[[ -n ${BENCH_PORT_BASE:-} ]] && env_line+="BENCH_PORT_BASE=$BENCH_PORT_BASE "
[[ -n ${BENCH_RELAY_BIN:-} ]] && env_line+="BENCH_RELAY_BIN=$BENCH_RELAY_BIN "
info ""
info "command: ${env_line}bench/run.sh"
ports=""
for t in "${ORDER[@]}"; do ports+=" $t=${URL[$t]%%"$OBJECT_PATH"}"; done
info "wrk:     ${WRK_PIN[*]:+${WRK_PIN[*]} }wrk ${WRK_ARGS[*]/#$BENCH_DIR/bench} -d${DURATION}s <url>$OBJECT_PATH  (url:$ports)"
exit 0
