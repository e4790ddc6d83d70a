#!/usr/bin/env bash
# Builds relay's libFuzzer targets (tests/fuzz) with clang, ASan and UBSan in
# build-fuzz/, then runs each (as many at once as there are cores) over its
# seed corpus (tests/fuzz/corpus/<target>,
# the regression cases) and fuzzes it for a while. New inputs and crash
# artifacts go to a temporary directory, never into the repository.
#
#   scripts/fuzz.sh                 every target, 15 s each after its corpus
#   FUZZ_SECONDS=600 scripts/fuzz.sh fuzz_request   one target for 10 minutes
#
# Exit status 0 when no target crashed. The last line is
# "fuzz: N passed, N failed" (one per target).
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-15}
build=${FUZZ_BUILD_DIR:-build-fuzz}
all=(fuzz_request fuzz_fields fuzz_target_key fuzz_config fuzz_disk_record fuzz_redis_record)
targets=("$@")
((${#targets[@]} == 0)) && targets=("${all[@]}")

fail() { echo "$1"; echo "fuzz: 0 passed, ${#targets[@]} failed"; exit 1; }

scripts/install-deps.sh --fuzz || fail "installing clang-15 and libFuzzer failed"
if [[ ! -f $build/build.ninja ]]; then
  # -fsanitize=fuzzer-no-link on every object (llhttp's C included) gives the
  # fuzzer its coverage; the targets themselves link with -fsanitize=fuzzer.
  # -O1 and line tables only: a quicker build, and what fuzzers usually run.
  flags="-O1 -gline-tables-only -fsanitize=fuzzer-no-link"
  CC=clang-15 CXX=clang++-15 CFLAGS=$flags CXXFLAGS=$flags \
    meson setup "$build" -Dfuzz=true -Dtests=false -Dbuildtype=plain \
    -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || fail "meson setup $build failed"
fi
ninja -C "$build" "${targets[@]/#/tests/fuzz/}" || fail "building the fuzz targets failed"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
[[ -x /usr/bin/llvm-symbolizer-15 ]] && export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-15

# One target: its corpus first (every input, regression cases included),
# then fuzzing from there; new inputs land in $work, never in the repo.
# Writes its report to $work/<target>.report and its status to .status.
fuzz_one() {
  local target=$1 corpus=tests/fuzz/corpus/$1 dict=()
  mkdir -p "$work/$target/new" "$work/$target/crash"
  [[ -f tests/fuzz/$target.dict ]] && dict=(-dict="tests/fuzz/$target.dict")
  {
    echo "== $target: ${seconds}s after $(find "$corpus" -type f | wc -l) corpus inputs"
    if "$build/tests/fuzz/$target" "$work/$target/new" "$corpus" "${dict[@]}" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$work/$target/crash/" -print_final_stats=1 >"$work/$target.log" 2>&1; then
      grep -E '^(stat::number_of_executed_units|#[0-9]+.*DONE)' "$work/$target.log" | tail -n 2
      echo 0 >"$work/$target.status"
    else
      tail -n 60 "$work/$target.log"
      for crash in "$work/$target/crash/"*; do
        [[ -f $crash ]] || continue
        echo "crash input (add it to $corpus once fixed): $(base64 -w0 "$crash")"
      done
      echo "FAIL $target"
      echo 1 >"$work/$target.status"
    fi
  } >"$work/$target.report"
}

# As many targets at once as there are cores; reports in target order.
jobs=$(nproc)
for target in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n; done
  fuzz_one "$target" &
done
wait

passed=0
failed=0
for target in "${targets[@]}"; do
  cat "$work/$target.report" 2>/dev/null
  if [[ $(cat "$work/$target.status" 2>/dev/null) == 0 ]]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
