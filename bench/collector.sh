#!/usr/bin/env bash
# Flow-export collector: records per second received without loss on
# loopback, ours (`sekimori sensor --collector`) against nfcapd (nfdump), in
# one run. The same sender (crates/capture/examples/export_flood.rs) replays
# the IPFIX export datagrams of testdata/pcaps/gen_ipfix_softflowd_export.pcap
# (templates first, then data) at each RATE for SECS seconds; loss = records
# sent − records the collector counted.
# Usage: bash bench/collector.sh   (RATES="20000 50000 100000 200000 0" SECS=5;
#   0 = as fast as the sender can)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
need nfcapd nfdump
need jq jq
need python3 python3
rates=${RATES:-"20000 50000 100000 200000 0"}
secs=${SECS:-5}
work=$(mktemp -d /tmp/sekimori-bench-collector.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== building (bounded to 60 min)"
timeout 3600 cargo build --release --locked -p sekimori-cli 2>&1 | tail -n 1
timeout 3600 cargo build --release --locked -p sekimori-capture --example export_flood 2>&1 | tail -n 1
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
bin="$target/release/sekimori"; flood="$target/release/examples/export_flood"
cap=testdata/pcaps/gen_ipfix_softflowd_export.pcap
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

ours() { # rate → "sent received"
  local port; port=$(free_port); local d="$work/ours.$1"; mkdir -p "$d"
  SEKIMORI_LANG=en "$bin" --data-dir "$d" sensor --collector "127.0.0.1:$port" --flush-secs 1 >"$d/out" 2>"$d/err" & local pid=$!
  for _ in $(seq 100); do grep -q '^ready' "$d/out" 2>/dev/null && break; sleep 0.05; done
  local sent; sent=$(timeout 120 "$flood" "$cap" "127.0.0.1:$port" "$1" "$secs")
  sleep 2; kill -TERM "$pid"; wait "$pid" || true
  local got; got=$(grep -o 'total [0-9]* packets, [0-9]* imported flows' "$d/out" | tail -n 1 | awk '{print $4}')
  echo "$(echo "$sent" | jq .records) ${got:-0} $(echo "$sent" | jq .records_per_s)"
}
theirs() {
  local port; port=$(free_port); local d="$work/nf.$1"; mkdir -p "$d"
  nfcapd -b 127.0.0.1 -p "$port" -w "$d" -t 3600 >"$d.log" 2>&1 & local pid=$!
  sleep 0.5
  local sent; sent=$(timeout 120 "$flood" "$cap" "127.0.0.1:$port" "$1" "$secs")
  sleep 1; kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  local got; got=$(nfdump -R "$d" -q -o csv 2>/dev/null | grep -c '^[0-9]' || true)
  echo "$(echo "$sent" | jq .records) ${got:-0} $(echo "$sent" | jq .records_per_s)"
}
printf '\n== results (%s, load before: %s)\n' "$(date -u +%FT%TZ)" "$load_before"
echo "| offered records/s | ours: received / sent (loss) | nfcapd: received / sent (loss) |"
echo "|---|---|---|"
for r in $rates; do
  read -r s1 g1 rps1 < <(ours "$r"); read -r s2 g2 rps2 < <(theirs "$r")
  loss() { python3 -c "print(f'{(1-$2/$1)*100 if $1 else 0:.2f}%')"; }
  echo "| ${rps1%.*} (rate $r dgrams/s) | $g1 / $s1 ($(loss "$s1" "$g1")) | $g2 / $s2 at ${rps2%.*}/s ($(loss "$s2" "$g2")) |"
done
echo "(the first datagrams — templates — are sent once before timing and carry records too: a received count slightly above 'sent' is those)"
