#!/usr/bin/env bash
# The passive sensor against its peers on one generated capture, in one run:
#   capture   `sekimori lab synth` (≥ 500 MB; cached in /tmp between runs)
#   tcpdump   `tcpdump -r F -w /dev/null`: the read rate of libpcap
#   tshark    `tshark -n -q -z conv,tcp -r F`: rate and peak RSS (bounded)
#   suricata  no rules, `-k none --runmode single` (if Debian has it)
#   ours      `sekimori analyze F --format json --stats` with 1 and 2
#             threads: MB/s, peak RSS (/usr/bin/time -v), bytes per flow
# Usage: bash bench/sensor.sh   (SIZE_MB=600 HOSTS=2000 RUNS=3;
#   TSHARK_SECS=300 bounds the tshark run; CAPTURE=FILE uses another file)
# Bounded: build ≤ 60 min, each measured step ≤ TSHARK_SECS. Prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
need tcpdump tcpdump
need tshark tshark
need jq jq
[ -x /usr/bin/time ] || need /usr/bin/time time

size_mb=${SIZE_MB:-600}
hosts=${HOSTS:-2000}
runs=${RUNS:-3}
tshark_secs=${TSHARK_SECS:-300}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== building (bounded to 60 min)"
timeout 3600 cargo build --release --locked -p sekimori-cli 2>&1 | tail -n 1
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
bin="$target/release/sekimori"

cap=${CAPTURE:-/tmp/sekimori-bench-sensor-${size_mb}mb-h${hosts}-s1.pcap}
if [ ! -s "$cap" ]; then
  echo "== generating $cap"
  gen_start=$(date +%s.%N)
  "$bin" lab synth --hosts "$hosts" --duration 1h --size-mb "$size_mb" --seed 1 -o "$cap.tmp"
  mv "$cap.tmp" "$cap"
  gen_s=$(echo "$(date +%s.%N) - $gen_start" | bc)
  echo "   generated in ${gen_s} s"
fi
bytes=$(stat -c %s "$cap")
mb=$(echo "scale=1; $bytes / 1000000" | bc)
packets=$(tshark -r "$cap" -q -z io,stat,0 2>/dev/null | awk -F'|' '/<>/ {gsub(/ /,"",$3); print $3; exit}')
echo "== capture: $cap, $mb MB, $packets frames"
# Warm the page cache so every tool reads from memory.
cat "$cap" >/dev/null

work=$(mktemp -d /tmp/sekimori-bench-sensor.XXXXXX)
trap 'rm -rf "$work"' EXIT

# best RUNS ELAPSED-SECONDS of a command (prints the smallest wall time).
best() {
  local n=$1; shift
  local b=""
  for _ in $(seq "$n"); do
    local s e t
    s=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || true
    e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc)
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}
# rss COMMAND...: peak RSS in MiB of one run (/usr/bin/time -v).
rss() {
  /usr/bin/time -v "$@" >/dev/null 2>"$work/time.txt" || true
  awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$work/time.txt"
}
rate() { echo "scale=1; $bytes / 1000000 / $1" | bc; }

echo "== tcpdump"
t_tcpdump=$(best "$runs" tcpdump -r "$cap" -w /dev/null)
rss_tcpdump=$(rss tcpdump -r "$cap" -w /dev/null)

echo "== tshark conv,tcp (bounded to ${tshark_secs}s)"
s=$(date +%s.%N)
if /usr/bin/time -v timeout "$tshark_secs" tshark -n -q -z conv,tcp -r "$cap" >/dev/null 2>"$work/time.txt"; then
  t_tshark=$(echo "$(date +%s.%N) - $s" | bc)
  rss_tshark=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$work/time.txt")
else
  t_tshark=""; rss_tshark="(timed out)"
fi

echo "== suricata"
t_suri=""; rss_suri=""; suri_note=""
if ! command -v suricata >/dev/null 2>&1; then
  as_root apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends suricata >/dev/null 2>&1 || true
fi
if command -v suricata >/dev/null 2>&1; then
  mkdir -p "$work/suri"
  : >"$work/empty.rules"
  suri() { timeout "$tshark_secs" suricata -r "$cap" -k none --runmode single -S "$work/empty.rules" -l "$work/suri" "$@"; }
  t_suri=$(best 1 suri)
  rss_suri=$(rss suri)
  suri_note="Suricata $(suricata -V 2>/dev/null | grep -o '[0-9][0-9.]*' | head -1), no rules, --runmode single"
else
  suri_note="Suricata: not installable from this machine's Debian sources (apt has no candidate)"
fi

echo "== sekimori analyze"
declare -A t_ours rss_ours flows_ours peak_ours bpf_ours
for th in 1 2; do
  t_ours[$th]=$(best "$runs" "$bin" analyze "$cap" --format json --threads "$th")
  /usr/bin/time -v "$bin" analyze "$cap" --format json --threads "$th" --stats >/dev/null 2>"$work/ours.txt" || true
  rss_ours[$th]=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$work/ours.txt")
  line=$(grep '^{' "$work/ours.txt" | head -1)
  flows_ours[$th]=$(echo "$line" | jq .flows)
  peak_ours[$th]=$(echo "$line" | jq .peak_flows)
  bpf_ours[$th]=$(echo "$line" | jq .bytes_per_flow)
done
# Identification off, one thread: what the flow table alone costs.
t_noid=$(best "$runs" "$bin" analyze "$cap" --format json --no-identify)

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
r_tcpdump=$(rate "$t_tcpdump")
r1=$(rate "${t_ours[1]}"); r2=$(rate "${t_ours[2]}")
ratio() { if [ -n "$2" ]; then echo "scale=2; $1 / $2" | bc; else echo "-"; fi; }
r_tshark=""; [ -n "$t_tshark" ] && r_tshark=$(rate "$t_tshark")
r_suri=""; [ -n "$t_suri" ] && r_suri=$(rate "$t_suri")

echo
echo "Run $(date -u '+%Y-%m-%d %H:%M UTC'); load average before $load_before, after $load_after; nproc $(nproc)"
echo "Capture: $mb MB, $packets frames, $(basename "$cap") (sekimori lab synth --hosts $hosts --duration 1h --size-mb $size_mb --seed 1); best of $runs runs, page cache warm"
echo
echo "| tool | MB/s | peak RSS MiB | ours ÷ it (1 thread) |"
echo "|---|---|---|---|"
echo "| tcpdump -r F -w /dev/null | $r_tcpdump | $rss_tcpdump | $(ratio "$r1" "$r_tcpdump") |"
echo "| tshark -n -q -z conv,tcp | ${r_tshark:--} | $rss_tshark | $(ratio "$r1" "$r_tshark") |"
echo "| $suri_note | ${r_suri:--} | ${rss_suri:--} | $(ratio "$r1" "$r_suri") |"
echo "| sekimori analyze, identification on, 1 thread | $r1 | ${rss_ours[1]} | 1.00 |"
echo "| sekimori analyze, identification on, --threads 2 | $r2 | ${rss_ours[2]} | $(ratio "$r2" "$r1") (2 ÷ 1 threads) |"
echo "| sekimori analyze --no-identify, 1 thread | $(rate "$t_noid") | - | - |"
echo
echo "Flows: ${flows_ours[1]} created, ${peak_ours[1]} tracked at once (2 threads: sum of worker peaks ${peak_ours[2]}); bytes per tracked flow: ${bpf_ours[1]} (table slot + index)."
