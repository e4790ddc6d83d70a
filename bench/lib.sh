# shellcheck shell=bash disable=SC2034  # SC2034: variables are used by the sourcing scripts
# bench/lib.sh: helpers shared by every bench script (run.sh, stampede.sh,
# mixed.sh, backends.sh, proxied.sh, memory.sh, cold.sh, h2.sh).
#
# Source it after setting BENCH_DIR and ROOT, under `set -euo pipefail`.
# It reads the common settings (BENCH_THREADS, BENCH_PIN, BENCH_PORT_BASE,
# BENCH_RELAY_BIN, BENCH_TMPDIR, BENCH_KEEP_TMP, BENCH_VERBOSE), creates the
# run's temp dir $TMP and installs an EXIT trap that stops every process
# started through it (servers, wrk, the Python client) and removes $TMP.

# relay reads RELAY_<SECTION>_<KEY> overrides from its environment; the
# benchmark's config must be exactly the generated file, so drop them all.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^RELAY_' || true)

THREADS=${BENCH_THREADS:-1}
PIN=${BENCH_PIN:-auto}
RELAY_BIN=${BENCH_RELAY_BIN:-$ROOT/build/relay}
KEEP_TMP=${BENCH_KEEP_TMP:-0}
VERBOSE=${BENCH_VERBOSE:-0}
START_TIMEOUT=10     # seconds for a server to start listening
STOP_TIMEOUT=5       # seconds for a server to exit on SIGTERM before SIGKILL
SCRIPT_NAME=$(basename "$0")

die() { # die STATUS MESSAGE...
  local rc=$1; shift
  printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2
  exit "$rc"
}
warn() { printf '%s: warning: %s\n' "$SCRIPT_NAME" "$*" >&2; }
info() { printf '%s\n' "$*"; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
is_num() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }
need_pos_int() { # NAME VALUE
  if ! is_uint "$2" || (($2 == 0)); then die 2 "$1 must be a positive integer (got '$2')"; fi
}
usage_of() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$1"; }

need_pos_int BENCH_THREADS "$THREADS"

# ------------------------------------------------------------------- tools

NGINX=$(command -v nginx || true)
[[ -z $NGINX && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
for tool in curl setsid timeout awk sort; do
  command -v "$tool" >/dev/null || die 2 "$tool not found"
done
need_nginx() { [[ -n $NGINX ]] || die 2 "nginx not found; install it with scripts/install-deps.sh --bench"; }
need_wrk() { command -v wrk >/dev/null || die 2 "wrk not found; install it with scripts/install-deps.sh --bench"; }
need_relay() {
  [[ -x $RELAY_BIN ]] || die 2 "relay binary not found at $RELAY_BIN
  build it first:  meson setup build && ninja -C build   (from $ROOT)
  or run the nginx side alone with BENCH_TARGETS=nginx"
}
relay_version() {
  printf 'relay %s%s' "${RELAY_BIN#"$ROOT"/}" \
    "$(git -C "$ROOT" describe --always --dirty 2>/dev/null | sed 's/^/ @ /')"
}

# ---------------------------------------------------------------- targets

# targets_from LIST ALLOWED...: ORDER = the words of LIST (BENCH_TARGETS),
# each one of ALLOWED; fatal otherwise.
targets_from() {
  local list=$1 t allowed; shift
  printf -v allowed '%s, ' "$@"
  read -r -a ORDER <<<"$list"
  ((${#ORDER[@]} > 0)) || die 2 "BENCH_TARGETS is empty"
  for t in "${ORDER[@]}"; do
    [[ " $* " == *" $t "* ]] || die 2 "BENCH_TARGETS: unknown target '$t' (use ${allowed%, })"
  done
}
want() { [[ " ${ORDER[*]} " == *" $1 "* ]]; }

# byte_count NAME SPEC: SPEC (bytes, or with k, m or g) in bytes; fatal
# unless it is a positive size.
byte_count() {
  local n
  case ${2,,} in
    *k) n=${2%[kK]}; is_uint "$n" && n=$((n * 1024)) ;;
    *m) n=${2%[mM]}; is_uint "$n" && n=$((n * 1048576)) ;;
    *g) n=${2%[gG]}; is_uint "$n" && n=$((n * 1073741824)) ;;
    *) n=$2 ;;
  esac
  if ! is_uint "$n" || ((n == 0)); then die 2 "$1 must be a byte count, optionally with k, m or g (got '$2')"; fi
  echo "$n"
}

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

# Servers (proxies, origin, redis) on the first BENCH_THREADS CPUs, the load
# generator (wrk or the Python client) on the rest.
SERVER_PIN=() CLIENT_PIN=() PIN_NOTE="not pinned"
if [[ $PIN != 0 ]]; then
  if command -v taskset >/dev/null && ((${#CPUS[@]} > THREADS)); then
    server_cpus=$(IFS=,; echo "${CPUS[*]:0:THREADS}")
    client_cpus=$(IFS=,; echo "${CPUS[*]:THREADS}")
    SERVER_PIN=(taskset -c "$server_cpus")
    CLIENT_PIN=(taskset -c "$client_cpus")
    PIN_NOTE="servers on CPU $server_cpus, load generator on CPU $client_cpus"
  elif [[ $PIN == 1 ]]; then
    warn "BENCH_PIN=1 but pinning is impossible (need taskset and more than $THREADS allowed CPUs); running unpinned"
  fi
fi

# wrk threads: BENCH_WRK_THREADS, else the CPUs left after the servers' share.
wrk_threads() { # CONNECTIONS
  local n
  if [[ -n ${BENCH_WRK_THREADS:-} ]]; then
    need_pos_int BENCH_WRK_THREADS "$BENCH_WRK_THREADS"
    n=$BENCH_WRK_THREADS
  elif ((${#CLIENT_PIN[@]})); then
    n=$((${#CPUS[@]} - THREADS))
  else
    n=$((NCPU > THREADS ? NCPU - THREADS : 1))
  fi
  ((n <= $1)) || n=$1   # wrk needs connections >= threads
  echo "$n"
}

# ------------------------------------------------------ processes, cleanup

TMP=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/relay-${SCRIPT_NAME%.sh}.XXXXXX")
SERVER_PIDS=() SERVER_NAMES=() FG_PID=""

# True while the process exists and is not a zombie.
proc_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# Each server runs in its own session/process group (setsid), so stopping
# it also reaches its children (nginx workers, cache manager, ...).
# shellcheck disable=SC2317
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
bench_cleanup() {
  local rc=$? i
  set +e
  trap - INT TERM
  if [[ -n $FG_PID ]]; then
    kill -TERM "$FG_PID" 2>/dev/null
    wait "$FG_PID" 2>/dev/null
  fi
  for ((i = ${#SERVER_PIDS[@]} - 1; i >= 0; i--)); do
    stop_server "${SERVER_PIDS[i]}"
  done
  if [[ $KEEP_TMP == 1 ]]; then
    echo "$SCRIPT_NAME: kept temp dir $TMP" >&2
  else
    rm -rf -- "$TMP"
  fi
  exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_fg CMD...: run a client (wrk, curl loop, Python) in the background and
# wait for it, so a signal to the script is handled at once (the cleanup
# stops it) instead of after it finishes. Returns the command's status.
run_fg() {
  local rc=0
  "$@" &
  FG_PID=$!
  wait "$FG_PID" || rc=$?
  FG_PID=""
  return "$rc"
}

server_log_tail() { # NAME: the end of the server's logs, for error messages
  local name=$1 f
  for f in "$TMP/$name/server.log" "$TMP/$name/error.log"; do
    [[ -s $f ]] || continue
    echo "--- last lines of ${f#"$TMP"/} ---"
    tail -n 20 "$f"
  done
}

# server_failed NAME MESSAGE: report with the end of the server's log, exit 3.
server_failed() {
  local name=$1; shift
  { printf '%s: error: %s: %s\n' "$SCRIPT_NAME" "$name" "$*"; server_log_tail "$name"; } >&2
  exit 3
}

# start_server NAME CMD...: background, own process group, output to
# $TMP/NAME/server.log; its pid is ${SERVER_PIDS[-1]}.
start_server() {
  local name=$1; shift
  mkdir -p "$TMP/$name"
  setsid "${SERVER_PIN[@]}" "$@" >"$TMP/$name/server.log" 2>&1 </dev/null &
  SERVER_PIDS+=("$!")
  SERVER_NAMES+=("$name")
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# try_listening PID PORT: 0 once PORT accepts, 1 if PID exited first or
# START_TIMEOUT passed; the reason is in $WAIT_ERR.
try_listening() {
  local pid=$1 port=$2 i
  for ((i = 0; i < START_TIMEOUT * 10; i++)); do
    proc_alive "$pid" || { WAIT_ERR="exited during startup"; return 1; }
    port_in_use "$port" && return 0
    sleep 0.1
  done
  WAIT_ERR="not listening on 127.0.0.1:$port after ${START_TIMEOUT}s"
  return 1
}
wait_listening() { # NAME PID PORT: like try_listening, but fatal
  try_listening "$2" "$3" || server_failed "$1" "$WAIT_ERR"
}

PICKED_PORTS=" "
# Random ports come from below the kernel's ephemeral range, which the
# clients' own connections (thousands of them, in TIME_WAIT after a run)
# draw their local ports from.
read -r EPHEMERAL_LOW _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || EPHEMERAL_LOW=32768
if ((EPHEMERAL_LOW > 12000)); then
  PORT_LOW=10000 PORT_HIGH=$EPHEMERAL_LOW
else
  PORT_LOW=20000 PORT_HIGH=60000
fi
# pick_port NAME INDEX: BENCH_PORT_BASE+INDEX, or a random free port. Call
# it directly (not in $(...)) so the picked ports are remembered: sets PORT.
pick_port() {
  local p i
  if [[ -n ${BENCH_PORT_BASE:-} ]]; then
    is_uint "$BENCH_PORT_BASE" || die 2 "BENCH_PORT_BASE must be a port number"
    p=$((BENCH_PORT_BASE + $2))
    port_in_use "$p" && die 3 "port $p for $1 (BENCH_PORT_BASE+$2) is already in use"
    PORT=$p; PICKED_PORTS+="$p "; return
  fi
  for ((i = 0; i < 200; i++)); do
    p=$((PORT_LOW + RANDOM % (PORT_HIGH - PORT_LOW)))
    [[ $PICKED_PORTS == *" $p "* ]] && continue
    port_in_use "$p" && continue
    # Any socket on it (a client's connection too) would make the bind fail.
    [[ -n $(ss -Htan "sport = :$p" 2>/dev/null) ]] && continue
    PORT=$p; PICKED_PORTS+="$p "; return
  done
  die 3 "no free loopback port found for $1"
}

# nginx started as root would hand its workers to "nobody", who cannot enter
# the private temp dir; keep them as the current user instead.
USER_LINE=""
(($(id -u) == 0)) && USER_LINE="user $(id -un) $(id -gn);"

render() { # TEMPLATE DIR PORT UPSTREAM_PORT -> stdout
  sed -e "s|@USER_LINE@|$USER_LINE|" -e "s|@DIR@|$2|g" -e "s|@PORT@|$3|g" \
      -e "s|@ORIGIN_PORT@|$4|g" -e "s|@WORKERS@|$THREADS|g" "$1"
}

# start_nginx NAME TEMPLATE PORT [UPSTREAM_PORT [SED_SCRIPT]]: fatal if it
# doesn't start. SED_SCRIPT edits the rendered config (a variant).
start_nginx() {
  local name=$1 dir=$TMP/$1
  mkdir -p "$dir/tmp"
  render "$2" "$dir" "$3" "${4:-0}" | sed -e "${5:-}" >"$dir/nginx.conf"
  start_server "$name" "$NGINX" -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;'
  wait_listening "$name" "${SERVER_PIDS[-1]}" "$3"
}

# start_relay NAME PORT ORIGIN_PORT < MORE-TOML: relay in front of the
# origin with BENCH_THREADS threads; stdin holds the rest of its config
# (storage, admin, log). Its pid is ${SERVER_PIDS[-1]}; fatal if it does
# not start listening.
start_relay() {
  local name=$1 port=$2 origin=$3
  mkdir -p "$TMP/$name"
  {
    printf '[server]\nlisten = "127.0.0.1:%s"\nthreads = %s\n\n' "$port" "$THREADS"
    printf '[upstream]\nurl = "http://127.0.0.1:%s"\n\n' "$origin"
    cat
  } >"$TMP/$name/relay.toml"
  start_server "$name" "$RELAY_BIN" --config "$TMP/$name/relay.toml"
  wait_listening "$name" "${SERVER_PIDS[-1]}" "$port"
}

# pick_proxy_ports: ORIGIN_PORT, RELAY_PORT and NGINX_PORT (BENCH_PORT_BASE
# +0, +1, +2), for start_proxies.
pick_proxy_ports() {
  pick_port origin 0; ORIGIN_PORT=$PORT
  pick_port relay 1; RELAY_PORT=$PORT
  pick_port nginx 2; NGINX_PORT=$PORT
}

# start_proxies NGINX_TEMPLATE < RELAY-TOML: the relay and nginx targets
# wanted, on RELAY_PORT and NGINX_PORT in front of ORIGIN_PORT; sets PID[t]
# and BASE[t] (http://127.0.0.1:PORT) for each.
start_proxies() {
  local toml
  toml=$(cat)
  declare -gA PID BASE
  if want relay; then
    start_relay relay "$RELAY_PORT" "$ORIGIN_PORT" <<<"$toml"
    PID[relay]=${SERVER_PIDS[-1]}
    BASE[relay]="http://127.0.0.1:$RELAY_PORT"
  fi
  if want nginx; then
    start_nginx nginx "$1" "$NGINX_PORT" "$ORIGIN_PORT"
    PID[nginx]=${SERVER_PIDS[-1]}
    BASE[nginx]="http://127.0.0.1:$NGINX_PORT"
  fi
}

# --------------------------------------------------------------- helpers

header_value() { # FILE NAME -> value of the first NAME: header
  grep -i "^$2:" "$1" | head -n 1 | cut -d: -f2- | tr -d ' \r' || true
}

# run_wrk OUTFILE WRK-ARGS...: one wrk run (pinned, time-bounded); sets
# RES_RPS, RES_P50, RES_P99 (microseconds), RES_ERR, RES_REQS from the
# BENCH_RESULT line. Returns 1 (output on stderr) if wrk failed.
run_wrk() {
  local out=$1 line secs=0 a; shift
  for a in "$@"; do [[ $a =~ ^-d([0-9]+)s$ ]] && secs=${BASH_REMATCH[1]}; done
  if ! run_fg "${CLIENT_PIN[@]}" timeout -k 5 $((secs + 30)) wrk "$@" >"$out" 2>&1; then
    cat "$out" >&2
    return 1
  fi
  [[ $VERBOSE == 1 ]] && cat "$out"
  line=$(grep '^BENCH_RESULT ' "$out" | tail -n 1) || { cat "$out" >&2; return 1; }
  RES_REQS=$(sed -E 's/.* requests=([^ ]+).*/\1/' <<<"$line")
  RES_RPS=$(sed -E 's/.* rps=([^ ]+).*/\1/' <<<"$line")
  RES_P50=$(sed -E 's/.* p50_us=([^ ]+).*/\1/' <<<"$line")
  RES_P99=$(sed -E 's/.* p99_us=([^ ]+).*/\1/' <<<"$line")
  RES_ERR=$(awk '{ n = 0; for (i = 1; i <= NF; i++) if ($i ~ /^err_/) { split($i, kv, "="); n += kv[2] } print n }' <<<"$line")
}

# cpu_ticks PGID: user + system clock ticks (CLK_TCK a second) the server's
# process group has used so far.
cpu_ticks() {
  local pid files=()
  for pid in $(pgrep -g "$1" 2>/dev/null || true); do files+=("/proc/$pid/stat"); done
  ((${#files[@]})) || { echo 0; return; }
  cat "${files[@]}" 2>/dev/null | awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

ms() { awk -v us="$1" 'BEGIN { printf "%.3f", us / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
# median FILE KEYCOL KEY VALCOL: median of column VALCOL over the TSV rows
# whose column KEYCOL equals KEY (empty output when there are none).
median() {
  awk -F'\t' -v kc="$2" -v k="$3" -v c="$4" '$kc == k { print $c }' "$1" | sort -g |
    awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
