#!/usr/bin/env bash
# Durable audit appends per second, sekimori against its peers, in one run:
#   SQLite:     our criterion bench (64 concurrent appenders, group commit)
#               vs the sqlite3 CLI, one INSERT per transaction,
#               journal_mode=WAL + synchronous=FULL, same table shape.
#   PostgreSQL: our criterion bench vs pgbench, one INSERT per transaction,
#               the same 64 clients, same table shape.
# Prints a table of appends/s and ratios (ours / peer).
#
# Usage: bash bench/audit_append.sh
#   SEKIMORI_TEST_POSTGRES_URL=postgres://…  use that server (a fresh database
#     is created and dropped); unset: a throw-away cluster (fsync on) is started
#     on a free loopback port and removed afterwards.
#   PEER_SQLITE_ROWS (default 2000), PGBENCH_SECS (default 15).
# Bounded: build ≤ 60 min, each measurement ≤ 5 min. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=bench/lib.sh
. bench/lib.sh
need sqlite3 sqlite3
need jq jq
need python3 python3
need pgbench postgresql-contrib
need psql postgresql-client
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || need initdb postgresql

rows=${PEER_SQLITE_ROWS:-2000}
pg_secs=${PGBENCH_SECS:-15}
clients=64 # = APPENDERS in crates/store/benches/audit_append.rs

work=$(mktemp -d /tmp/sekimori-bench-audit.XXXXXX)
chmod 755 "$work"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
started_pg=""
peer_db=""
cleanup() {
  if [ -n "$peer_db" ]; then
    psql "$admin_url" -qAtc "DROP DATABASE IF EXISTS \"$peer_db\"" >/dev/null 2>&1 || true
  fi
  if [ -n "$started_pg" ]; then
    run_pg "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
run_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ -n "${SEKIMORI_TEST_POSTGRES_URL:-}" ]; then
  admin_url=$SEKIMORI_TEST_POSTGRES_URL
else
  [ "$(id -u)" -eq 0 ] && chown postgres "$work"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  run_pg "$pgbin/initdb" -D "$work/pg" -A trust -U postgres -E UTF8 >/dev/null
  run_pg "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w -o "-p $port -k $work \
    -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on -c synchronous_commit=on" \
    start >/dev/null
  started_pg=1
  admin_url="postgres://postgres@127.0.0.1:$port/postgres"
  export SEKIMORI_TEST_POSTGRES_URL=$admin_url
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== building the benchmark (bounded to 60 min)"
timeout 3600 cargo bench -p sekimori-store --bench audit_append --locked --no-run 2>&1 | tail -n 2
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)

ours() { # ours BACKEND → appends/s (median of criterion's samples)
  local d="$target/criterion/audit_append/durable_64_appenders/$1/new"
  rm -rf "$d"
  timeout 300 cargo bench -p sekimori-store --bench audit_append --locked -- \
    --noplot "durable_64_appenders/$1" >"$work/ours-$1.log" 2>&1 ||
    { cat "$work/ours-$1.log" >&2; return 1; }
  jq -n --slurpfile b "$d/benchmark.json" --slurpfile e "$d/estimates.json" \
    '$b[0].throughput.Elements / ($e[0].median.point_estimate / 1e9) | floor'
}

body='{"actor":{"kind":"system"},"event":{"type":"audit_exported","format":"bench","records":'
zero=$(printf '%064d' 0)
one=$(printf '%064d' 1)

peer_sqlite() { # sqlite3 CLI, one INSERT per (autocommit) transaction → appends/s
  local db="$work/peer.db"
  sqlite3 "$db" "PRAGMA journal_mode=WAL; CREATE TABLE audit_records (
    seq INTEGER PRIMARY KEY NOT NULL, ts BIGINT NOT NULL, body TEXT NOT NULL,
    prev_hash BLOB NOT NULL, hash BLOB NOT NULL);" >/dev/null
  {
    echo "PRAGMA journal_mode=WAL;"
    echo "PRAGMA synchronous=FULL;"
    for ((i = 1; i <= rows; i++)); do
      echo "INSERT INTO audit_records VALUES ($i, 1775034000000000, '$body$i}}', X'$zero', X'$one');"
    done
  } >"$work/peer.sql"
  local t0 t1
  t0=$(date +%s%N)
  timeout 300 sqlite3 "$db" <"$work/peer.sql" >/dev/null
  t1=$(date +%s%N)
  [ "$(sqlite3 "$db" 'SELECT count(*) FROM audit_records')" -eq "$rows" ]
  echo $((rows * 1000000000 / (t1 - t0)))
}

peer_pg() { # pgbench, 64 clients, one INSERT per transaction → appends/s
  peer_db="sekimori_bench_peer_$$"
  psql "$admin_url" -qAtc "CREATE DATABASE \"$peer_db\"" >/dev/null
  local url="${admin_url%/*}/$peer_db"
  psql "$url" -qAtc "CREATE TABLE audit_records (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ts BIGINT NOT NULL,
    body TEXT NOT NULL, prev_hash BYTEA NOT NULL, hash BYTEA NOT NULL)" >/dev/null
  cat >"$work/insert.pgbench" <<EOF
\set r random(1, 1000000000)
INSERT INTO audit_records (ts, body, prev_hash, hash) VALUES (1775034000000000, '$body' || :r || '}}', '\\x$zero'::bytea, '\\x$one'::bytea);
EOF
  timeout $((pg_secs + 120)) pgbench -n -M prepared -c "$clients" -j 2 -T "$pg_secs" \
    -f "$work/insert.pgbench" "$url" >"$work/pgbench.log" 2>&1 ||
    { cat "$work/pgbench.log" >&2; return 1; }
  grep -q '^number of failed transactions: 0 ' "$work/pgbench.log" ||
    { cat "$work/pgbench.log" >&2; return 1; }
  psql "$admin_url" -qAtc "DROP DATABASE \"$peer_db\"" >/dev/null
  peer_db=""
  sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$work/pgbench.log" |
    cut -d. -f1
}

echo "== SQLite: ours"; s_ours=$(ours sqlite)
echo "== SQLite: sqlite3 CLI ($rows rows)"; s_peer=$(peer_sqlite)
echo "== PostgreSQL: ours"; p_ours=$(ours postgres)
echo "== PostgreSQL: pgbench ($clients clients, ${pg_secs}s)"; p_peer=$(peer_pg)
pg_version=$(psql "$admin_url" -qAtc 'SHOW server_version')

ratio() { python3 -c "print(f'{$1 / $2:.1f}')"; }
echo
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  loadavg before/after: $load_before / $(cut -d' ' -f1-3 /proc/loadavg)  nproc: $(nproc)  $(free -h | awk '/^Mem:/{print "mem: " $2}')  sqlite3 $(sqlite3 --version | cut -d' ' -f1)  PostgreSQL $pg_version"
printf '| %-10s | %-44s | %10s | %-48s | %10s | %6s |\n' backend ours appends/s peer appends/s ratio
printf '|%s|%s|%s|%s|%s|%s|\n' ------------ ---------------------------------------------- ------------ -------------------------------------------------- ------------ --------
printf '| %-10s | %-44s | %10s | %-48s | %10s | %6s |\n' \
  SQLite "64 appenders, group commit, synchronous=FULL" "$s_ours" \
  "sqlite3 CLI, 1 INSERT/txn, WAL+synchronous=FULL" "$s_peer" "$(ratio "$s_ours" "$s_peer")" \
  PostgreSQL "64 appenders, group commit, fsync on" "$p_ours" \
  "pgbench -c $clients -M prepared, 1 INSERT/txn" "$p_peer" "$(ratio "$p_ours" "$p_peer")"
