#!/bin/sh
# A throwaway PostgreSQL 15 cluster for tests, kept entirely in one directory.
#
#   pg-cluster.sh start DIR          make the cluster in DIR if needed, start it, wait until ready
#   pg-cluster.sh stop DIR           stop it (fast shutdown); nothing happens if it is not running
#   pg-cluster.sh createdb DIR NAME  create database NAME and print its ROTATOR_DATABASE URL
#   pg-cluster.sh url DIR NAME       print the URL of database NAME without creating it
#
# The server listens on a unix socket in DIR only (no TCP), trusts every local connection, and
# runs with fsync off: fast, and worthless after a crash, which is what tests want. Run as root,
# it runs the server as the `postgres` system user (initdb refuses root); run as anyone else, as
# that user. DIR should be new and unique, e.g. from `mktemp -d`; remove it after `stop`.
set -eu

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
START_TIMEOUT=30 # seconds

die() {
	echo "pg-cluster: $*" >&2
	exit 1
}

usage() {
	echo "usage: pg-cluster.sh start DIR | stop DIR | createdb DIR NAME | url DIR NAME" >&2
	exit 2
}

# Runs a server-side command as the cluster's owner.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# The socket lives in DIR and its path must fit a sockaddr_un (107 bytes); the URL carries DIR
# unescaped, so it must be a plain absolute path.
check_dir() {
	case $1 in
	/*) ;;
	*) die "DIR must be an absolute path: $1" ;;
	esac
	case $1 in
	*[!A-Za-z0-9/._-]*) die "DIR may hold only letters, digits and / . _ -: $1" ;;
	esac
	[ ${#1} -le 80 ] || die "DIR is too long for a unix socket path: $1"
}

check_name() {
	case $1 in
	"" | *[!A-Za-z0-9_-]*) die "database NAME may hold only letters, digits, _ and -: $1" ;;
	esac
}

init_cluster() {
	dir=$1
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir"
	fi
	chmod 700 "$dir"
	as_owner "$PG_BIN/initdb" -D "$dir/data" --auth=trust --username=postgres \
		--encoding=UTF8 --no-locale --no-sync --no-instructions >"$dir/initdb.log" 2>&1 ||
		{
			cat "$dir/initdb.log" >&2
			die "initdb failed in $dir (the postgres user must be able to reach it)"
		}
	cat >>"$dir/data/postgresql.conf" <<EOF

# pg-cluster.sh: a throwaway test cluster
listen_addresses = ''
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
}

cmd_start() {
	dir=$1
	check_dir "$dir"
	mkdir -p "$dir"
	[ -f "$dir/data/PG_VERSION" ] || init_cluster "$dir"
	if as_owner "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		return 0
	fi
	# pg_ctl -w returns once the server accepts connections, or fails after the timeout.
	if ! as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w \
		-t "$START_TIMEOUT" start >/dev/null; then
		tail -n 20 "$dir/postgres.log" >&2 || true
		die "the server in $dir did not start"
	fi
	"$PG_BIN/pg_isready" -q -h "$dir" -U postgres -d postgres ||
		die "the server in $dir started but does not answer"
}

cmd_stop() {
	dir=$1
	check_dir "$dir"
	[ -f "$dir/data/postmaster.pid" ] || return 0
	as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

cmd_url() {
	check_dir "$1"
	check_name "$2"
	echo "postgresql:///$2?host=$1&user=postgres"
}

cmd_createdb() {
	check_dir "$1"
	check_name "$2"
	"$PG_BIN/createdb" -h "$1" -U postgres "$2" || die "cannot create database $2 in $1"
	cmd_url "$1" "$2"
}

[ $# -ge 1 ] || usage
command=$1
shift
case $command in
start | stop) [ $# -eq 1 ] || usage ;;
createdb | url) [ $# -eq 2 ] || usage ;;
*) usage ;;
esac
"cmd_$command" "$@"
