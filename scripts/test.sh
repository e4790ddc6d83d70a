#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install what is missing, build,
# and run every test: doctest unit and storage suites, then the integration
# suite (the real relay binary against a real origin process on 127.0.0.1).
# Then the same again on an AddressSanitizer + UBSan build (skip it with
# RELAY_TEST_SANITIZERS=0 for a quicker local run).
# The last line is the total: "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh || { echo "tests: 0 passed, 1 failed"; exit 1; }
scripts/build.sh || { echo "tests: 0 passed, 1 failed"; exit 1; }

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# doctest prints "[doctest] test cases: N | N passed | N failed | ..."
run_doctest() {
  local name=$1 binary=$2
  echo "== $name"
  "$binary" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  local line
  line=$(grep '^\[doctest\] test cases:' "$log" | tail -n1)
  local p f
  p=$(sed -E 's/.*\| *([0-9]+) passed.*/\1/' <<<"$line")
  f=$(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$line")
  [[ $p =~ ^[0-9]+$ ]] || p=0
  [[ $f =~ ^[0-9]+$ ]] || f=1
  ((status != 0 && f == 0)) && f=1
  passed=$((passed + p))
  failed=$((failed + f))
}

run_integration() {
  local name=$1 binary=$2
  echo "== $name"
  python3 tests/integration/run.py --relay "$binary" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  local line p f
  line=$(grep -E '^integration: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n1)
  p=$(sed -E 's/^integration: ([0-9]+) passed.*/\1/' <<<"$line")
  f=$(sed -E 's/.*passed, ([0-9]+) failed.*/\1/' <<<"$line")
  [[ $p =~ ^[0-9]+$ ]] || p=0
  [[ $f =~ ^[0-9]+$ ]] || f=1
  ((status != 0 && f == 0)) && f=1
  passed=$((passed + p))
  failed=$((failed + f))
}

run_doctest "unit tests" build/tests/unit_tests
run_doctest "storage tests" build/tests/storage_tests
run_doctest "request path tests" build/tests/request_path_tests
run_integration "integration tests" build/relay

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
