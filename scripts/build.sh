#!/usr/bin/env bash
# Configures (once) and builds relay in build/. Extra arguments go to
# `meson setup`, e.g. -Db_sanitize=address,undefined with BUILD_DIR=build-asan.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
if [[ ! -f $build_dir/build.ninja ]]; then
  meson setup "$build_dir" "$@"
fi
ninja -C "$build_dir"
