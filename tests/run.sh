#!/bin/sh
# Runs every test of rotator: the C unit tests (cmocka), then the end-to-end suite that drives
# the real binary over HTTP. Ends with one summary line: "N passed, N failed".
set -u
cd "$(dirname "$0")/.."

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== unit tests =="
for t in build/tests/test_*; do
	[ -x "$t" ] || continue
	"$t" >"$log" 2>&1
	status=$?
	grep -E '^\[ *(OK|FAILED|ERROR) *\]|^\[  (PASSED|FAILED)  \]' "$log"
	ok=$(grep -c '^\[       OK \]' "$log")
	bad=$(grep -cE '^\[  (FAILED|ERROR)   \] [a-z_]' "$log")
	# A crash counts as a failure even if cmocka printed no verdict.
	[ "$status" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
	passed=$((passed + ok))
	failed=$((failed + bad))
done

echo "== end-to-end tests =="
python3 tests/e2e/run.py >"$log" 2>&1
status=$?
cat "$log"
line=$(grep -E '^e2e: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
if [ -n "$line" ]; then
	passed=$((passed + $(echo "$line" | sed -E 's/e2e: ([0-9]+) passed.*/\1/')))
	failed=$((failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
fi
[ "$status" -ne 0 ] && [ -z "$line" ] && failed=$((failed + 1))

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
