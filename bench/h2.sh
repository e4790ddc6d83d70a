#!/usr/bin/env bash
# bench/h2.sh: the front door. A cached 1 KiB object over TLS with HTTP/2,
# relay ([server.tls]) and nginx proxy_cache (`listen ... ssl http2`) side
# by side with h2load -c 64 -m 10 (64 connections, 10 streams each), then
# the TLS handshake rate: h2load opening BENCH_HANDSHAKES connections at
# once, one request each (full handshakes, no resumption). With one CPU
# for the client, the client's half of a handshake (which costs more than
# the server's) bounds that rate, so the script also reports the server's
# own cost: handshakes per CPU-second the server process (nginx: its
# workers) spent, read from /proc before and after each run. Both use the same EC P-256 certificate.
# See bench/README.md.
#
# Usage: bench/h2.sh        (needs build/relay, nginx, h2load, curl, openssl)
#
# Settings (environment variables, defaults in brackets):
#   BENCH_DURATION     seconds per measured h2load run [5]
#   BENCH_ROUNDS       measured rounds; each round runs every target once [3]
#   BENCH_CONNECTIONS  h2load connections for the request rate [64]
#   BENCH_STREAMS      concurrent streams per connection [10]
#   BENCH_HANDSHAKES   connections opened at once, one request each, per handshake run [1000]
#   BENCH_THREADS      relay threads / nginx workers [1]
#   BENCH_TARGETS      "relay nginx", "relay" or "nginx" [relay nginx]
#   BENCH_PIN, BENCH_PORT_BASE, BENCH_RELAY_BIN, BENCH_TMPDIR, BENCH_KEEP_TMP,
#   BENCH_VERBOSE      as in bench/proxied.sh
#
# Exit status: 0 when the run worked; 2 for bad settings or a missing tool;
# 3 when a server failed to start, failed the check (not HTTP/2, not a
# cache hit, a wrong body) or died during the run.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0; }
(($# == 0)) || { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }

DURATION=${BENCH_DURATION:-5}
DURATION=${DURATION%s}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-64}
STREAMS=${BENCH_STREAMS:-10}
HANDSHAKES=${BENCH_HANDSHAKES:-1000}
TARGETS=${BENCH_TARGETS:-relay nginx}

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

need_pos_int BENCH_DURATION "$DURATION"
need_pos_int BENCH_ROUNDS "$ROUNDS"
need_pos_int BENCH_CONNECTIONS "$CONNS"
need_pos_int BENCH_STREAMS "$STREAMS"
need_pos_int BENCH_HANDSHAKES "$HANDSHAKES"
targets_from "$TARGETS" relay nginx
need_nginx
command -v h2load >/dev/null || die 2 "h2load not found; install it with scripts/install-deps.sh --bench (nghttp2-client)"
command -v openssl >/dev/null || die 2 "openssl not found"
want relay && need_relay
H2_THREADS=$(wrk_threads "$CONNS")   # the CPUs left to the client

# ------------------------------------------------------------------ servers

declare -A PORT_OF PID
pick_port origin 0; ORIGIN_PORT=$PORT
pick_port relay 1;  PORT_OF[relay]=$PORT
pick_port nginx 2;  PORT_OF[nginx]=$PORT
pick_port relay-plain 3; RELAY_PLAIN=$PORT
pick_port relay-admin 4; ADMIN_PORT=$PORT

mkdir -p "$TMP/origin/www" "$TMP/pki" "$TMP/h2load"
head -c 1024 /dev/zero | tr '\0' 'x' >"$TMP/origin/www/object-1k"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=bench.test \
  -addext "subjectAltName=DNS:bench.test,IP:127.0.0.1" -keyout "$TMP/pki/key.pem" -out "$TMP/pki/cert.pem" \
  >/dev/null 2>&1 || die 3 "openssl could not make the benchmark's certificate"
start_nginx origin "$BENCH_DIR/nginx-origin.conf.in" "$ORIGIN_PORT"
ORIGIN_PID=${SERVER_PIDS[-1]}

if want relay; then
  mkdir -p "$TMP/relay"
  cat >"$TMP/relay/relay.toml" <<TOML
[server]
listen = "127.0.0.1:$RELAY_PLAIN"
threads = $THREADS

[server.tls]
listen = "127.0.0.1:${PORT_OF[relay]}"
certificates = [ { cert = "$TMP/pki/cert.pem", key = "$TMP/pki/key.pem" } ]

[upstream]
url = "http://127.0.0.1:$ORIGIN_PORT"

[storage]
backend = "memory"

[admin]
listen = "127.0.0.1:$ADMIN_PORT"

[log]
access_log = "off"
TOML
  start_server relay "$RELAY_BIN" --config "$TMP/relay/relay.toml"
  PID[relay]=${SERVER_PIDS[-1]}
  wait_listening relay "${PID[relay]}" "${PORT_OF[relay]}"
fi
if want nginx; then
  mkdir -p "$TMP/nginx"
  cp "$TMP/pki/cert.pem" "$TMP/pki/key.pem" "$TMP/nginx/"
  start_nginx nginx "$BENCH_DIR/nginx-h2.conf.in" "${PORT_OF[nginx]}" "$ORIGIN_PORT"
  PID[nginx]=${SERVER_PIDS[-1]}
fi

url() { echo "https://127.0.0.1:${PORT_OF[$1]}/object-1k"; }

# check TARGET: two requests over HTTP/2; the second must be a cache hit
# with the full body, so the run measures hits, not the origin.
check() {
  local t=$1 dir=$TMP/check-$1 i status version size hit
  mkdir -p "$dir"
  for i in 1 2; do
    read -r status version < <(curl -sS --max-time 10 --http2 --cacert "$TMP/pki/cert.pem" -o "$dir/body" \
      -D "$dir/$i.head" -w '%{http_code} %{http_version}\n' "$(url "$t")" 2>"$dir/err") ||
      server_failed "$t" "check request $i failed: $(cat "$dir/err")"
    size=$(wc -c <"$dir/body")
    [[ $status == 200 && $version == 2 ]] || server_failed "$t" "check request $i: status $status over HTTP/$version, expected 200 over HTTP/2"
    ((size == 1024)) || server_failed "$t" "check request $i: ${size}-byte body, expected 1024"
  done
  if [[ $t == relay ]]; then hit=$(header_value "$dir/2.head" X-Cache); else hit=$(header_value "$dir/2.head" X-Cache-Status); fi
  [[ ${hit^^} == HIT ]] || server_failed "$t" "the second request was not a cache hit (${hit:-no cache header})"
  info "check    $(printf '%-6s' "$t") HTTP/2 over TLS: 200, 1024-byte body, second request a cache HIT"
}

info "relay benchmark: the front door (TLS + HTTP/2, cached 1 KiB) over 127.0.0.1, ${ROUNDS} x ${DURATION}s per target"
info "servers: $THREADS worker(s) each; h2load: $H2_THREADS thread(s); ${NCPU} CPU(s), $PIN_NOTE"
info "versions: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $(h2load --version 2>&1 | head -n 1), $(openssl version | awk '{print $1, $2}')$(want relay && printf ', %s' "$(relay_version)")"
for t in "${ORDER[@]}"; do check "$t"; done

RESULTS=$TMP/results.tsv
: >"$RESULTS"

# h2load_run OUT ARGS...: sets H_RPS (req/s), H_OK (succeeded), H_FAIL
# (failed + errored), H_MEAN (mean time per request, ms).
h2load_run() {
  local out=$1; shift
  "${CLIENT_PIN[@]}" h2load "$@" >"$out" 2>&1 || true
  ((VERBOSE)) && cat "$out"
  H_RPS=$(awk '/^finished in/ { for (i = 1; i <= NF; i++) if ($i == "req/s,") { print $(i - 1); exit } }' "$out")
  read -r H_OK H_FAIL < <(awk '/^requests:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^succeeded/) ok = $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^errored/) f += $i } print ok + 0, f + 0; exit }' "$out")
  H_MEAN=$(awk '/^time for request:/ { v = $6; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) sub(/ms$/, "", v); else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v; exit }' "$out")
  [[ -n $H_RPS ]] || die 3 "h2load printed no result; its output:
$(cat "$out")"
}

# cpu_ticks PID: user + system clock ticks of PID and its children (nginx's workers).
cpu_ticks() {
  local pid total=0 f
  for pid in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
    f=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
    total=$((total + f))
  done
  echo "$total"
}
TICKS=$(getconf CLK_TCK)

printf '%-7s %-7s %-11s %10s %10s %9s %7s %12s\n' round target run "req/s" "conn/s" "mean ms" failed "hs/cpu-s"
for ((r = 1; r <= ROUNDS; r++)); do
  run_order=("${ORDER[@]}")
  if ((r % 2 == 0 && ${#ORDER[@]} == 2)); then run_order=("${ORDER[1]}" "${ORDER[0]}"); fi
  for t in "${run_order[@]}"; do
    sleep 1
    h2load_run "$TMP/h2load/rate-$r-$t.txt" -t "$H2_THREADS" -c "$CONNS" -m "$STREAMS" -D "$DURATION" "$(url "$t")"
    proc_alive "${PID[$t]}" || server_failed "$t" "died during the benchmark"
    printf '%s\t%s\t%s\t%s\t%s\n' "$t/rate" "$r" "$H_RPS" "$H_MEAN" "$H_FAIL" >>"$RESULTS"
    printf '%-7s %-7s %-11s %10.0f %10s %9s %7s\n' "$r/$ROUNDS" "$t" "h2 -m $STREAMS" "$H_RPS" - "$H_MEAN" "$H_FAIL"
    # Handshakes: every connection makes one request, so req/s = connections/s.
    ticks0=$(cpu_ticks "${PID[$t]}")
    h2load_run "$TMP/h2load/hs-$r-$t.txt" -t "$H2_THREADS" -c "$HANDSHAKES" -n "$HANDSHAKES" -m 1 "$(url "$t")"
    ticks=$(($(cpu_ticks "${PID[$t]}") - ticks0))
    per_cpu=$(awk -v n="$H_OK" -v t="$ticks" -v hz="$TICKS" 'BEGIN { if (t > 0) printf "%.0f", n * hz / t; else print 0 }')
    printf '%s\t%s\t%s\t%s\t%s\n' "$t/handshake" "$r" "$H_RPS" "$H_MEAN" "$H_FAIL" >>"$RESULTS"
    printf '%s\t%s\t%s\t%s\t%s\n' "$t/hs-per-cpu-s" "$r" "$per_cpu" "-" 0 >>"$RESULTS"
    printf '%-7s %-7s %-11s %10s %10.0f %9s %7s %12s\n' "$r/$ROUNDS" "$t" handshakes - "$H_RPS" "$H_MEAN" "$H_FAIL" "$per_cpu"
  done
done

info ""
info "median over $ROUNDS round(s)"
printf '%-12s %-11s %10s %9s\n' target run "per s" "mean ms"
declare -A M
for run in rate handshake hs-per-cpu-s; do
  for t in "${ORDER[@]}"; do
    M[$t/$run]=$(median "$RESULTS" 1 "$t/$run" 3)
    printf '%-12s %-11s %10.0f %9s\n' "$t" "$run" "${M[$t/$run]}" "$(median "$RESULTS" 1 "$t/$run" 4)"
  done
  if want relay && want nginx; then
    printf '%-12s %-11s %10s\n' relay/nginx "$run" "$(ratio "${M[relay/$run]}" "${M[nginx/$run]}")"
  fi
done
want relay && want nginx && info "(ratios above 1 = relay serves more requests / completes more handshakes per second / spends less CPU per handshake)"
info "(handshake: per second of wall time, bounded by h2load's own CPU; hs-per-cpu-s: per CPU-second the server spent)"
fails=$(awk -F'\t' '{ n += $5 } END { print n + 0 }' "$RESULTS")
((fails == 0)) || info "note: h2load counted $fails failed or errored requests; see BENCH_KEEP_TMP=1 raw output"
info ""
info "command: BENCH_DURATION=$DURATION BENCH_ROUNDS=$ROUNDS BENCH_CONNECTIONS=$CONNS BENCH_STREAMS=$STREAMS BENCH_HANDSHAKES=$HANDSHAKES BENCH_THREADS=$THREADS BENCH_TARGETS='${ORDER[*]}' BENCH_PIN=$PIN bench/h2.sh"
info "h2load:  ${CLIENT_PIN[*]:+${CLIENT_PIN[*]} }h2load -t $H2_THREADS -c $CONNS -m $STREAMS -D $DURATION https://127.0.0.1:<port>/object-1k; handshakes: h2load -c $HANDSHAKES -n $HANDSHAKES -m 1"
exit 0
