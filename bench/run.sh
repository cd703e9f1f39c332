#!/bin/sh
# `make bench`: see bench/run.py. Extra arguments pass through, e.g. --sizes 10000.
set -eu
cd "$(dirname "$0")/.."
exec python3 bench/run.py "$@"
