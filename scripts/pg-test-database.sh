#!/bin/sh
# Prints the ROTATOR_DATABASE URL of a fresh PostgreSQL database, made in the running test
# cluster named by ROTATOR_PG_CLUSTER (see pg-cluster.sh). It is the end-to-end suite's
# ROTATOR_E2E_DATABASE_FACTORY: $1 is the test class's own temporary directory, whose unique
# name becomes the database's.
set -eu
: "${ROTATOR_PG_CLUSTER:?set it to the folder of a running pg-cluster.sh cluster}"
[ $# -ge 1 ] || {
	echo "usage: pg-test-database.sh CLASS_TEMP_DIR" >&2
	exit 2
}
name=$(basename "$1" | tr -c 'A-Za-z0-9_\n' '_')
exec "$(dirname "$0")/pg-cluster.sh" createdb "$ROTATOR_PG_CLUSTER" "$name"
