#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install what is missing, build,
# and run every test: doctest unit and storage suites, then the integration
# suite (the real relay binary against a real origin process on 127.0.0.1),
# the Debian package (built, checked by lintian, installed, asked a request).
# Then a 60-second soak (bench/soak.sh), the libFuzzer targets over their
# corpora and for 10 s each
# (scripts/fuzz.sh; RELAY_TEST_FUZZ=0 skips them), and the same suites
# again on an AddressSanitizer + UBSan build (RELAY_TEST_SANITIZERS=0 skips
# it, for a quicker local run).
# `scripts/test.sh --tsan` instead runs a ThreadSanitizer build against the
# integration tests with two event loops per relay (its own ~8 minutes).
# The last line is the total: "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
# One apt transaction for everything this run needs (clang for the fuzzers too).
extras=()
[[ ${RELAY_TEST_FUZZ:-1} != 0 && ${1:-} != --tsan ]] && extras+=(--fuzz)
[[ ${1:-} != --tsan ]] && extras+=(--package)
scripts/install-deps.sh "${extras[@]}" || { echo "tests: 0 passed, 1 failed"; exit 1; }

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Adds one suite's counts: tally <exit status> <passed> <failed>. A count
# that could not be read, or a failing exit with none failed, is a failure.
tally() {
  local status=$1 p=$2 f=$3
  [[ $p =~ ^[0-9]+$ ]] || p=0
  [[ $f =~ ^[0-9]+$ ]] || f=1
  ((status != 0 && f == 0)) && f=1
  passed=$((passed + p))
  failed=$((failed + f))
}

# doctest prints "[doctest] test cases: N | N passed | N failed | ..."
run_doctest() {
  local name=$1 binary=$2
  echo "== $name"
  "$binary" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  local line
  line=$(grep '^\[doctest\] test cases:' "$log" | tail -n1)
  tally "$status" "$(sed -E 's/.*\| *([0-9]+) passed.*/\1/' <<<"$line")" \
    "$(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$line")"
}

# Runs a command whose last summary line is "<prefix>: N passed, N failed".
run_summarised() {
  local name=$1 prefix=$2
  shift 2
  echo "== $name"
  "$@" 2>&1 | tee "$log"
  tally_summary "$prefix" "${PIPESTATUS[0]}" "$log"
}

# tally_summary <prefix> <exit status> <output file>
tally_summary() {
  local prefix=$1 status=$2 line
  line=$(grep -E "^$prefix: [0-9]+ passed, [0-9]+ failed" "$3" | tail -n1)
  tally "$status" "$(sed -E "s/^$prefix: ([0-9]+) passed.*/\1/" <<<"$line")" \
    "$(sed -E 's/.*passed, ([0-9]+) failed.*/\1/' <<<"$line")"
}

# Three modules at a time: the suite mostly waits on timers and sockets
# (about a fifth of a core when run alone), so this cuts its time to about
# a third without crowding two cores.
run_integration() {
  run_summarised "$1" integration python3 tests/integration/run.py -j "${RELAY_IT_JOBS:-3}" --relay "$2"
}

# The integration tests that exercise threads = 2 most: hits, misses,
# coalescing within and across loops, stale-while-revalidate, refresh-ahead,
# warming, purge, reload, faults and shutdown.
TSAN_TESTS=(-k test_caching -k test_coalescing -k test_rfc9111_stale -k test_purge -k test_reload
            -k test_http -k test_storage_disk -k test_storage_redis -k test_faults -k test_lifetimes -k test_limits
            -k test_refresh_ahead -k test_warming -k test_fleet_faults -k test_redis_sentinel)

if [[ ${1:-} == --tsan ]]; then
  # ThreadSanitizer: its own build, the request-path doctests, and the
  # integration tests above with every relay on two event loops.
  if BUILD_DIR=build-tsan scripts/build.sh -Dbuildtype=debugoptimized -Db_sanitize=thread; then
    export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:history_size=4
    export RELAY_IT_THREADS=2
    run_doctest "request path tests (thread sanitizer)" build-tsan/tests/request_path_tests
    run_summarised "integration tests, threads = 2 (thread sanitizer)" integration \
      python3 tests/integration/run.py -j "${RELAY_IT_JOBS:-2}" --relay build-tsan/relay "${TSAN_TESTS[@]}"
  else
    echo "thread sanitizer build failed"
    failed=$((failed + 1))
  fi
  echo "tests: $passed passed, $failed failed"
  ((failed == 0))
  exit
fi

scripts/build.sh || { echo "tests: 0 passed, 1 failed"; exit 1; }
run_doctest "unit tests" build/tests/unit_tests
run_doctest "storage tests" build/tests/storage_tests
run_doctest "request path tests" build/tests/request_path_tests
# The Debian package builds the whole tree again and takes both cores for
# minutes: alone, after the integration tests, so it slows no timed test.
export RELAY_IT_SKIP_PACKAGE=1
run_integration "integration tests" build/relay
RELAY_IT_SKIP_PACKAGE= run_summarised "Debian package (dpkg-buildpackage, lintian, install, smoke request)" \
  integration python3 tests/integration/run.py -k "test_package.*" --relay build/relay

# The soak (one per backend: bounded mixed traffic, every body checked, RSS
# watched) runs while the fuzzers are built and run (one per target: its
# corpus, regression inputs included, then fuzzing). Neither judges speed,
# and the overlap saves a minute. The soak's output follows the fuzzers'.
soak_log=$(mktemp)
trap 'rm -f "$log" "$soak_log"' EXIT
SOAK_SECONDS=60 bench/soak.sh >"$soak_log" 2>&1 &
soak_pid=$!
if [[ ${RELAY_TEST_FUZZ:-1} != 0 ]]; then
  run_summarised "fuzz targets (corpus, then ${FUZZ_SECONDS:-10} s each)" fuzz env FUZZ_SECONDS="${FUZZ_SECONDS:-10}" scripts/fuzz.sh
fi
wait "$soak_pid"
soak_status=$?
echo "== soak (60 s over memory, disk and redis)"
cat "$soak_log"
tally_summary soak "$soak_status" "$soak_log"

if [[ ${RELAY_TEST_SANITIZERS:-1} != 0 ]]; then
  if BUILD_DIR=build-asan scripts/build.sh -Dbuildtype=debug -Db_sanitize=address,undefined; then
    # A small quarantine keeps RSS meaningful for the bounded-memory tests.
    export ASAN_OPTIONS=quarantine_size_mb=4:detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    run_doctest "unit tests (address,undefined sanitizers)" build-asan/tests/unit_tests
    run_doctest "storage tests (address,undefined sanitizers)" build-asan/tests/storage_tests
    run_doctest "request path tests (address,undefined sanitizers)" build-asan/tests/request_path_tests
    run_integration "integration tests (address,undefined sanitizers)" build-asan/relay
  else
    echo "sanitizer build failed"
    failed=$((failed + 1))
  fi
fi

echo "tests: $passed passed, $failed failed"
((failed == 0))
