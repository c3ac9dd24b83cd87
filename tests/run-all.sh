#!/usr/bin/env bash
# Runs every test binary of one build, in order: unit tests, the Mustache
# spec runner, integration tests. Usage: tests/run-all.sh <builddir>
# (make test passes build/asan).
#
# Each binary runs from the repository root under ASan/UBSan settings that
# stop at the first error and report leaks. Its Check summary lines
# ("NN%: Checks: N, Failures: F, Errors: E") are summed; a binary that exits
# non-zero without reporting a failed check (an ASan abort, a leak found at
# exit, a crash, a timeout) counts as one more failure. One line per binary,
# then exactly one final line "N passed, N failed"; exit 0 only when nothing
# failed.
#
# PARLEY_TEST_TIMEOUT (seconds, default 900) bounds each binary.
set -uo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 <builddir>" >&2
	exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
build=${1%/}
limit=${PARLEY_TEST_TIMEOUT:-900}

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

passed=0
failed=0
log=$(mktemp "${TMPDIR:-/tmp}/parley-run-all.XXXXXX")
trap 'rm -f "$log"' EXIT

# run <path> [missing-is-failure]
run() {
	local bin=$1 rc checks=0 fails=0 n f e line summaries=0 extra=0

	if [ ! -x "$bin" ]; then
		echo "FAIL $bin (missing or not executable)"
		failed=$((failed + 1))
		return
	fi
	echo "==== $bin"
	timeout --kill-after=15 "$limit" "$bin" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}

	while IFS= read -r line; do
		if [[ $line =~ ([0-9]+)%:\ Checks:\ ([0-9]+),\ Failures:\ ([0-9]+),\ Errors:\ ([0-9]+) ]]; then
			n=${BASH_REMATCH[2]}
			f=${BASH_REMATCH[3]}
			e=${BASH_REMATCH[4]}
			checks=$((checks + n))
			fails=$((fails + f + e))
			summaries=$((summaries + 1))
		fi
	done <"$log"

	# Exited badly but the checks did not say so: one more failure.
	if [ "$rc" -ne 0 ] && [ "$fails" -eq 0 ]; then
		extra=1
	fi
	passed=$((passed + checks - fails))
	failed=$((failed + fails + extra))

	if [ "$fails" -eq 0 ] && [ "$extra" -eq 0 ]; then
		echo "PASS $bin ($checks checks)"
	elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "FAIL $bin (timed out after ${limit}s; $checks checks," \
		    "$fails failed)"
	elif [ "$summaries" -eq 0 ]; then
		echo "FAIL $bin (exit $rc without a Check summary)"
	elif [ "$extra" -eq 1 ]; then
		echo "FAIL $bin ($checks checks passed, but exit $rc:" \
		    "sanitizer report or crash after the run)"
	else
		echo "FAIL $bin ($checks checks, $fails failed, exit $rc)"
	fi
}

shopt -s nullglob
for bin in "$build"/tests/unit/*; do
	[ -f "$bin" ] && [ -x "$bin" ] && run "$bin"
done
run "$build/tests/spec_runner"
for bin in "$build"/tests/integration/*; do
	[ -f "$bin" ] && [ -x "$bin" ] && run "$bin"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
