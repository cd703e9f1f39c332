#!/bin/sh
# Runs every test of rotator: the C unit tests (cmocka), the end-to-end suite that drives the
# real binary over HTTP, once on SQLite and once on PostgreSQL, and the PostgreSQL-only tests
# (tests/pg). The unit and end-to-end runs share a throwaway PostgreSQL cluster started here
# (scripts/pg-cluster.sh) and stopped at the end, whatever happened. Ends with one summary
# line: "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1

passed=0
failed=0
log=$(mktemp)
pg_dir=$(mktemp -d /tmp/rotator-pg-XXXXXX)

cleanup() {
	scripts/pg-cluster.sh stop "$pg_dir" >/dev/null 2>&1
	rm -rf "$pg_dir" "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# add_summary PREFIX STATUS: adds the counts of the line "PREFIX: N passed, N failed" in $log;
# a run that failed (STATUS) without printing that line counts as one failure.
add_summary() {
	line=$(grep -E "^$1: [0-9]+ passed, [0-9]+ failed" "$log" | tail -n 1)
	if [ -n "$line" ]; then
		passed=$((passed + $(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')))
		failed=$((failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
	elif [ "$2" -ne 0 ]; then
		failed=$((failed + 1))
	fi
}

echo "== PostgreSQL cluster for the tests =="
pg_url=""
if scripts/pg-cluster.sh start "$pg_dir" >"$log" 2>&1; then
	pg_url=$(scripts/pg-cluster.sh url "$pg_dir" postgres)
	echo "running in $pg_dir"
else
	cat "$log"
	echo "cannot start PostgreSQL: its unit and end-to-end runs are skipped, counted as 1 failure"
	failed=$((failed + 1))
fi

echo "== unit tests =="
for t in build/tests/test_*; do
	[ -x "$t" ] || continue
	ROTATOR_TEST_DATABASE_PG=$pg_url "$t" >"$log" 2>&1
	status=$?
	grep -E '^\[ *(OK|FAILED|ERROR) *\]|^\[  (PASSED|FAILED)  \]' "$log"
	ok=$(grep -c '^\[       OK \]' "$log")
	# One "[  FAILED  ] N test(s), listed below:" per group of tests that had failures.
	bad=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) test\(s\), listed below:.*/\1/p' "$log" |
		awk '{ n += $1 } END { print n + 0 }')
	# A crash counts as a failure even if cmocka printed no verdict.
	[ "$status" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
	passed=$((passed + ok))
	failed=$((failed + bad))
done

echo "== end-to-end tests on SQLite =="
env -u ROTATOR_E2E_DATABASE_FACTORY -u ROTATOR_E2E_PG python3 tests/e2e/run.py >"$log" 2>&1
status=$?
cat "$log"
add_summary e2e "$status"

echo "== end-to-end tests on PostgreSQL =="
if [ -n "$pg_url" ]; then
	# The harness runs the factory once per test class, with the class's temporary folder as $1.
	ROTATOR_PG_CLUSTER=$pg_dir \
		ROTATOR_E2E_DATABASE_FACTORY="\"$PWD/scripts/pg-test-database.sh\" \"\$1\"" \
		env -u ROTATOR_E2E_PG python3 tests/e2e/run.py >"$log" 2>&1
	status=$?
	cat "$log"
	add_summary e2e "$status"
else
	echo "skipped: no PostgreSQL cluster"
fi

echo "== PostgreSQL restart tests =="
python3 tests/pg/run.py >"$log" 2>&1
status=$?
cat "$log"
add_summary pg "$status"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
