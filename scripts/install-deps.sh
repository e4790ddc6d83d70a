#!/usr/bin/env bash
# Installs every Debian 12 package relay needs to build, test and benchmark.
# Idempotent: packages already present are skipped, so repeat runs are quick.
set -euo pipefail

packages=(
  g++ pkg-config cmake meson ninja-build
  libboost1.81-dev libboost-url1.81-dev libcurl4-openssl-dev libtomlplusplus-dev
  libhiredis-dev libzstd-dev prometheus-cpp-dev doctest-dev libssl-dev libnghttp2-dev libsystemd-dev node-llhttp
  redis-server python3 curl openssl ca-certificates nghttp2-client iproute2
  prometheus  # promtool: tests check contrib/prometheus rules and the /metrics scrape
  groff-base man-db  # groff -ww and man -l: tests render man/relay.8 and the generated relay.toml(5)
)
for extra in "$@"; do
  case $extra in
    --bench) packages+=(nginx-light wrk valgrind) ;;
    --fuzz) packages+=(clang-15 libfuzzer-15-dev llvm-15) ;;  # scripts/fuzz.sh; llvm-15 symbolizes crashes
    --package) packages+=(dpkg-dev debhelper fakeroot lintian) ;;  # dpkg-buildpackage -us -uc -b (debian/)
    *) echo "usage: $0 [--bench] [--fuzz] [--package]" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

SUDO=()
[[ $(id -u) -ne 0 ]] && SUDO=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
