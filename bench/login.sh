#!/usr/bin/env bash
# Logins per second at the default Argon2id parameters, memory per login and
# responsiveness under login load, with the peer alongside, in one run:
#   1. ours, per hash: criterion bench of PasswordHasher::hash / verify
#      (crates/authn/benches/argon2.rs);
#   2. peer, per hash: the reference C implementation's CLI (Debian `argon2`)
#      at the same parameters, timed with hyperfine;
#   3. the release server on a temp data dir (default password parameters,
#      throttling raised so the load is not throttled), wrong-password logins
#      from CLIENTS concurrent HTTPS clients, one new user name per request,
#      for SECS seconds, /healthz probed every 10 ms idle and under load
#      (crates/authn/benches/login_load.rs).
# Usage: bash bench/login.sh     (CLIENTS=8 SECS=20 by default;
#   SEKIMORI_BIN=path uses that server binary instead of building it;
#   SERVER_ENV="NAME=value …" is set in the server's environment, e.g.
#   SERVER_ENV=MALLOC_MMAP_THRESHOLD_=1048576 to see glibc's share of the RSS)
# Bounded: builds ≤ 60 min, each measurement ≤ 5 min. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=bench/lib.sh
. bench/lib.sh
need argon2 argon2
need hyperfine hyperfine
need jq jq
need python3 python3
need /usr/bin/time time

clients=${CLIENTS:-8}
secs=${SECS:-20}
# The defaults of crates/authn/src/config.rs, which the server runs with.
m_kib=19456 t_cost=2 p_cost=1 default_hashes=4
# HASHES=n runs the server with max_concurrent_hashes = n instead of 4.
hashes=${HASHES:-$default_hashes}

work=$(mktemp -d /tmp/sekimori-bench-login.XXXXXX)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== building (bounded to 60 min)"
if [ -z "${SEKIMORI_BIN:-}" ]; then
  timeout 3600 cargo build --release -p sekimori-cli --locked 2>&1 | tail -n 1
fi
timeout 3600 cargo bench -p sekimori-authn --locked --bench argon2 --bench login_load --no-run 2>&1 |
  tail -n 1
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)

echo "== ours: one Argon2id hash (criterion)"
rm -rf "$target/criterion/argon2id_default"
timeout 300 cargo bench -p sekimori-authn --locked --bench argon2 -- --noplot \
  >"$work/argon2.log" 2>&1 || { cat "$work/argon2.log" >&2; exit 1; }
median_ms() { jq '.median.point_estimate / 1e6' "$target/criterion/argon2id_default/$1/new/estimates.json"; }
ours_hash=$(median_ms hash)
ours_verify=$(median_ms verify_wrong)
ours_x4=$(median_ms "verify_wrong_x${default_hashes}_concurrent")

echo "== peer: argon2 CLI, one hash (hyperfine)"
argon2_cli=(argon2 sekimorisalt16by -id -t "$t_cost" -k "$m_kib" -p "$p_cost" -l 32)
# The CLI always verifies the hash it has just computed: one run is two
# Argon2id computations (plus process start), so per hash = run / 2.
timeout 300 hyperfine --style basic --warmup 3 --runs 30 --export-json "$work/peer.json" \
  "echo -n 'not the password of anyone' | ${argon2_cli[*]}" \
  >"$work/peer.log" 2>&1 || { cat "$work/peer.log" >&2; exit 1; }
peer_hash=$(jq '.results[0].median * 1e3 / 2' "$work/peer.json")
# Cross-check: the CLI's own timing of the hash alone (CPU time), and its
# peak RSS (one 19 MiB block array at a time) as the peer's memory per hash.
for _ in $(seq 9); do
  echo -n 'not the password of anyone' |
    /usr/bin/time -f 'maxrss_kib %M' "${argon2_cli[@]}" 2>&1 | grep -E 'seconds$|^maxrss_kib'
done >"$work/peer_self.log"
peer_self_ms=$(awk '/seconds$/{print $1 * 1000}' "$work/peer_self.log" | sort -n | sed -n 5p)
peer_rss_kib=$(awk '/^maxrss_kib/{print $2}' "$work/peer_self.log" | sort -n | sed -n 5p)

echo "== ours: login load over HTTPS ($clients clients, ${secs}s + 3s warm-up)"
cat >"$work/config.toml" <<'EOF'
# No throttling in the way of a benchmark (every request uses a new user name).
[authn.throttle]
account_free_failures = 99
account_lock_after = 100
source_free_failures = 999999
source_block_after = 1000000
EOF
if [ "$hashes" != "$default_hashes" ]; then
  printf '\n[authn.password]\nmax_concurrent_hashes = %s\n' "$hashes" >>"$work/config.toml"
fi
# shellcheck disable=SC2086 # SERVER_ENV is a list of NAME=value words
env ${SERVER_ENV:-} "${SEKIMORI_BIN:-$target/release/sekimori}" --data-dir "$work" serve --listen 127.0.0.1:0 >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 300); do grep -qx ready "$work/server.log" && break; sleep 0.2; done
grep -qx ready "$work/server.log" || { cat "$work/server.log" >&2; exit 1; }
addr=$(sed -n 's/^ *listening on: //p' "$work/server.log")
SEKIMORI_BENCH_URL="https://$addr" SEKIMORI_BENCH_CERT="$work/tls/cert.pem" \
  SEKIMORI_BENCH_PID=$server_pid SEKIMORI_BENCH_CLIENTS=$clients SEKIMORI_BENCH_SECS=$secs \
  timeout $((secs + 120)) cargo bench -p sekimori-authn --locked --bench login_load \
  >"$work/load.out" 2>"$work/load.err" || { cat "$work/load.err" >&2; exit 1; }
# shellcheck disable=SC1091
. "$work/load.out" # key=value lines
[ "$other_answers" -eq 0 ] || { echo "unexpected answers:" >&2; grep -i unexpected "$work/load.err" >&2; }

py() { python3 -c "print($1)"; }
echo
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  loadavg before/after: $load_before / $(cut -d' ' -f1-3 /proc/loadavg)  nproc: $(nproc)  $(free -h | awk '/^Mem:/{print "mem: " $2}')  argon2 CLI $(dpkg-query -W -f '${Version}' argon2)"
echo "Argon2id m=$m_kib KiB ($(py "$m_kib / 1024") MiB) t=$t_cost p=$p_cost; server max_concurrent_hashes=$hashes; $clients clients"
printf '| %-40s | %14s | %-36s | %14s | %5s |\n' measure ours "peer" "peer's" ratio
printf '|%s|%s|%s|%s|%s|\n' ------------------------------------------ ---------------- -------------------------------------- ---------------- -------
printf '| %-40s | %11.1f ms | %-36s | %11.1f ms | %5.2f |\n' \
  "one hash (PasswordHasher::hash)" "$ours_hash" "argon2 CLI (C reference), hyperfine" "$peer_hash" "$(py "$ours_hash / $peer_hash")" \
  "one verify (PasswordHasher::verify)" "$ours_verify" "argon2 CLI (C reference), hyperfine" "$peer_hash" "$(py "$ours_verify / $peer_hash")" \
  "one hash (PasswordHasher::hash)" "$ours_hash" "argon2 CLI, its own timer (CPU time)" "$peer_self_ms" "$(py "$ours_hash / $peer_self_ms")"
printf '| %-40s | %12.1f/s | %-36s | %12.1f/s | %5.2f |\n' \
  "$default_hashes verifies at once (hasher only)" "$(py "$default_hashes * 1000 / $ours_x4")" "theory: $(nproc) cores / ours per hash" "$(py "$(nproc) * 1000 / $ours_verify")" "$(py "$default_hashes * $ours_verify / $ours_x4 / $(nproc)")" \
  "logins/s over HTTPS (wrong password)" "$logins_per_s" "theory: $(nproc) cores / ours per hash" "$(py "$(nproc) * 1000 / $ours_verify")" "$(py "$logins_per_s * $ours_verify / 1000 / $(nproc)")" \
  "logins/s over HTTPS (wrong password)" "$logins_per_s" "theory: $(nproc) cores / peer per hash" "$(py "$(nproc) * 1000 / $peer_hash")" "$(py "$logins_per_s * $peer_hash / 1000 / $(nproc)")"
printf '| %-40s | %10.1f MiB | %-36s | %10.1f MiB | %5.2f |\n' \
  "memory per login (peak-idle RSS)/$hashes" "$(py "($peak_rss_kib - $idle_rss_kib) / $hashes / 1024")" "argon2 CLI peak RSS, one hash" "$(py "$peer_rss_kib / 1024")" "$(py "($peak_rss_kib - $idle_rss_kib) / $hashes / $peer_rss_kib")"
printf '| %-40s | %11.2f ms | %-36s | %11.2f ms | %5.1f |\n' \
  "healthz p50 under load" "$healthz_load_p50_ms" "healthz p50 idle (same server)" "$healthz_idle_p50_ms" "$(py "$healthz_load_p50_ms / $healthz_idle_p50_ms")" \
  "healthz p99 under load" "$healthz_load_p99_ms" "healthz p99 idle (same server)" "$healthz_idle_p99_ms" "$(py "$healthz_load_p99_ms / $healthz_idle_p99_ms")"
echo "login latency under load: p50 $login_p50_ms ms, p99 $login_p99_ms ms (ratio: ours/peer for times, ours/theory for rates, load/idle for healthz)"
echo "logins=$logins other_answers=$other_answers healthz probes: idle=$healthz_idle_n load=$healthz_load_n"
echo "server RSS: idle $((idle_rss_kib / 1024)) MiB, peak under load $((peak_rss_kib / 1024)) MiB (peak reset after idle: $peak_reset)"
