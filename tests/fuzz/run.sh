#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for a bounded time (make fuzz;
# tests/fuzz/fuzz.h). Usage: tests/fuzz/run.sh <builddir> <seconds> [target…]
#
# Each target starts from its seeds (tests/fuzz/corpus/<target>/, read
# only) plus what earlier runs found (<builddir>/corpus/<target>/, where
# new inputs go). A crash, leak, sanitizer report or timeout fails the
# target: its reproducer is kept under <builddir>/crashes/<target>/ and
# printed (path, size, base64) with the report, and the reproducer belongs
# in the seeds once the bug is fixed. One line per target with its figures,
# then "fuzz: N passed, N failed"; exit 0 only when nothing failed.
#
# Replay a reproducer: <builddir>/<target> <file>
set -uo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 <builddir> <seconds> [target...]" >&2
	exit 2
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2
build=${1%/}
secs=$2
shift 2
if [ $# -gt 0 ]; then
	targets=("$@")
else
	targets=()
	for f in tests/fuzz/fuzz_*.c; do
		t=$(basename "$f" .c)
		targets+=("$t")
	done
fi

# Leaks count as crashes; UBSan stops at the first report.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:allocator_may_return_null=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

passed=0
failed=0
total_execs=0
printf '%-16s %8s %12s %10s %8s  %s\n' target seconds executions exec/s corpus result
for t in "${targets[@]}"; do
	bin=$build/$t
	seeds=tests/fuzz/corpus/$t
	corpus=$build/corpus/$t
	crashes=$build/crashes/$t
	log=$build/logs/$t.log
	mkdir -p "$corpus" "$crashes" "$build/logs" "$seeds"
	if [ ! -x "$bin" ]; then
		echo "FAIL $t: $bin is missing (make fuzz-build)"
		failed=$((failed + 1))
		continue
	fi
	before=$(ls "$crashes" | wc -l)
	start=$(date +%s)
	# -timeout: one input may take 25 s at most (a hang is a bug too).
	"$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2560 \
	    -max_len=262144 -print_final_stats=1 -close_fd_mask=1 \
	    -artifact_prefix="$crashes/" "$corpus" "$seeds" >"$log" 2>&1
	rc=$?
	took=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	execs=${execs:-0}
	total_execs=$((total_execs + execs))
	rate=$(( took > 0 ? execs / took : execs ))
	ncorp=$(ls "$corpus" | wc -l)
	after=$(ls "$crashes" | wc -l)
	if [ "$rc" -eq 0 ] && [ "$after" -eq "$before" ]; then
		result=ok
		passed=$((passed + 1))
	else
		result="FAILED (exit $rc)"
		failed=$((failed + 1))
	fi
	printf '%-16s %8s %12s %10s %8s  %s\n' "$t" "$took" "$execs" "$rate" \
	    "$ncorp" "$result"
	if [ "$result" != ok ]; then
		echo "---- $t: the report ($log)"
		grep -v '^#[0-9]' "$log" | grep -vE '^(INFO|MS:|\s*$)' | tail -60
		for f in $(ls -t "$crashes" | head -3); do
			echo "---- $t: reproducer $crashes/$f ($(stat -c %s "$crashes/$f") bytes), base64:"
			base64 -w 0 "$crashes/$f" | head -c 4096
			echo
			echo "---- replay: $bin $crashes/$f"
		done
	fi
done
echo "fuzz: ${#targets[@]} targets, $total_execs executions, ${secs}s each"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
