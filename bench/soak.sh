#!/usr/bin/env bash
# Soak: bounded mixed traffic against relay on each storage backend (memory,
# disk, Redis), checking every body and watching RSS; see bench/soak.py.
#
#   bench/soak.sh                  10 minutes in all (SOAK_SECONDS=600)
#   SOAK_SECONDS=60 bench/soak.sh  the short version scripts/test.sh runs
#
# Settings: SOAK_SECONDS, SOAK_BACKENDS (memory,disk,redis), SOAK_CLIENTS (8),
# SOAK_KEYS (3000), SOAK_MAX_SIZE_MIB (16); RELAY_BIN (default build/relay).
# Exit status 0 when every backend passed; the last line is
# "soak: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ ${1:-} == --help ]]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
RELAY_BIN=$(realpath -m "${RELAY_BIN:-build/relay}")
export RELAY_BIN
[[ -x $RELAY_BIN ]] || { echo "no relay binary at $RELAY_BIN (build it first)"; echo "soak: 0 passed, 1 failed"; exit 2; }
exec python3 bench/soak.py "$@"
