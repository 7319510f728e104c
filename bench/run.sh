#!/usr/bin/env bash
# `make bench`: install what the benchmarks need on a Debian machine, then run bench/bench.py,
# which prints the table and writes bench/results/latest.json. Options are environment
# variables (BENCH_SECONDS, BENCH_CONNECTIONS, BENCH_ONLY, BENCH_DATABASE_URL, ...): see
# bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

updated=0
apt_install() {
  if [ "$updated" = 0 ]; then
    as_root apt-get update -qq
    updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# pgbench ships with PostgreSQL's packages: the client package on newer Debian releases, the
# server package (postgresql-NN, which keeps it under /usr/lib/postgresql/NN/bin) on older ones.
find_pgbench() {
  command -v pgbench >/dev/null 2>&1 && return 0
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$found" ] && [ -x "$found/pgbench" ]; then
    export PATH="$found:$PATH"
    return 0
  fi
  return 1
}

if ! command -v wrk >/dev/null 2>&1; then
  echo "bench: installing wrk"
  apt_install wrk
fi
if ! find_pgbench; then
  echo "bench: installing pgbench (PostgreSQL client)"
  apt_install postgresql-client
  if ! find_pgbench; then
    echo "bench: installing pgbench (PostgreSQL server package)"
    apt_install postgresql
    find_pgbench || { echo "bench: pgbench not found after installing PostgreSQL" >&2; exit 1; }
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "bench: .venv is missing; run 'make venv' (or 'make bench', which does)" >&2
  exit 1
fi
# Measurement-only tools go into .venv, never into the project's dependencies.
if [ "${BENCH_PROFILE:-0}" = 1 ] && [ ! -x .venv/bin/py-spy ]; then
  .venv/bin/python -m pip install --disable-pip-version-check --quiet py-spy
fi

exec .venv/bin/python bench/bench.py
