#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install what is missing, build,
# and run relay with the example configuration (memory storage, listening on
# 127.0.0.1:8080, origin http://127.0.0.1:9000). Extra arguments go to relay;
# RELAY_* environment variables override any key, e.g.
#   RELAY_UPSTREAM_URL=http://127.0.0.1:3000 scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/relay --config relay.example.toml "$@"
