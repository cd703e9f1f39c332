#!/bin/sh
# Installs the Debian 12 packages rotator needs to build, test and benchmark.
# Safe to run again: apt-get skips what is already installed. Needs root or sudo.
set -eu

BUILD="gcc make pkg-config clang-format"
LIBS="libh2o-evloop-dev libjwt-dev libjansson-dev libargon2-dev libsqlite3-dev
      libssl-dev uuid-dev uthash-dev libpq-dev"
TEST="libcmocka-dev python3 postgresql-15 postgresql-client-15 util-linux sqlite3 curl jq"
BENCH="wrk nginx-light"

missing=""
for pkg in $BUILD $LIBS $TEST $BENCH; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
