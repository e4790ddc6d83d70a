#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install what is missing, build,
# and run relay with the example configuration (memory storage, listening on
# 127.0.0.1:8080; RELAY_SERVER_LISTEN changes it).
#
# With no origin configured (no RELAY_UPSTREAM_URL, no arguments) it also
# starts a demo origin (scripts/demo-origin.py, a page cacheable for 60 s) on
# a free 127.0.0.1 port, points relay at it and prints the curl commands to
# try. Ctrl-C (SIGINT) or SIGTERM stops both.
#
# With an origin, relay alone fronts it:
#   RELAY_UPSTREAM_URL=http://127.0.0.1:3000 scripts/run.sh
# Extra arguments go to relay (and skip the demo origin); RELAY_* environment
# variables override any key of the configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh

config=relay.example.toml
if [[ -n ${RELAY_UPSTREAM_URL:-} || $# -gt 0 ]]; then
  exec build/relay --config "$config" "$@"
fi

tmp=$(mktemp -d)
origin_pid=
relay_pid=
cleanup() {
  local pid
  for pid in $relay_pid $origin_pid; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $relay_pid $origin_pid; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
# Ctrl-C or SIGTERM: relay drains its requests (server.shutdown_grace), the
# origin stops at once; the wait below then returns and the script exits.
stopping=0
stop() {
  stopping=1
  local pid
  for pid in $relay_pid $origin_pid; do
    kill -TERM "$pid" 2>/dev/null || true
  done
}
trap stop INT TERM

python3 scripts/demo-origin.py --port-file "$tmp/port" &
origin_pid=$!
for _ in $(seq 100); do
  [[ -s $tmp/port ]] && break
  kill -0 "$origin_pid" 2>/dev/null || { echo "run.sh: the demo origin failed to start" >&2; exit 1; }
  sleep 0.1
done
[[ -s $tmp/port ]] || { echo "run.sh: the demo origin did not start within 10 s" >&2; exit 1; }
export RELAY_UPSTREAM_URL="http://127.0.0.1:$(cat "$tmp/port")"

# Where clients reach relay: its effective server.listen (file + environment),
# a wildcard address reached through loopback.
listen=$(build/relay --print-config --config "$config" |
  sed -n '/^\[server\]/,/^$/s/^listen = "\([^"]*\)".*/\1/p')
case $listen in
  0.0.0.0:*) listen="127.0.0.1:${listen#0.0.0.0:}" ;;
  \[::\]:*) listen="[::1]:${listen#\[::\]:}" ;;
esac

cat <<EOF
relay demo: no origin configured, so a demo origin (scripts/demo-origin.py) serves
$RELAY_UPSTREAM_URL/ and relay fronts it on http://$listen/. Try:

  curl -i http://$listen/    # X-Cache: MISS, fetched from the origin
  curl -i http://$listen/    # X-Cache: HIT, with Age: from relay's cache

Your own origin instead: RELAY_UPSTREAM_URL=http://HOST:PORT scripts/run.sh
Ctrl-C stops relay and the demo origin.

EOF

build/relay --config "$config" &
relay_pid=$!
# wait returns early when a trapped signal arrives; keep waiting while relay
# drains. kill -0 still succeeds on an exited but unreaped relay, so the
# status kept is the one of the wait that reaped it.
status=0
while kill -0 "$relay_pid" 2>/dev/null; do
  status=0
  wait "$relay_pid" || status=$?
done
relay_pid=
# Ctrl-C reaches relay from the terminal and again from stop(): a signal that
# lands after relay has drained and released its handlers ends it with the
# default action (130/143). Both ask for exactly that stop, so it is success.
if ((stopping)) && ((status == 130 || status == 143)); then
  status=0
fi
exit "$status"
