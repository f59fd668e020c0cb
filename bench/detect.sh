#!/usr/bin/env bash
# What policy evaluation and detections cost `sekimori analyze`, in one run:
# the same generated capture (`sekimori lab synth`, as bench/sensor.sh;
# cached in /tmp) analysed on one thread without and with `--policy`
# (the shipped sample policy: 9 zones, its rules, every detection on),
# alternating, RUNS times each. Prints MB/s of each run, the medians and
# the overhead (1 − with/without); the goal is at most 10 %.
# Usage: bash bench/detect.sh   (SIZE_MB=600 HOSTS=2000 RUNS=3; CAPTURE=FILE)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
need jq jq
[ -x /usr/bin/time ] || need /usr/bin/time time

size_mb=${SIZE_MB:-600}
hosts=${HOSTS:-2000}
runs=${RUNS:-3}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== building (bounded to 60 min)"
timeout 3600 cargo build --release --locked -p sekimori-cli 2>&1 | tail -n 1
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
bin="$target/release/sekimori"

cap=${CAPTURE:-/tmp/sekimori-bench-sensor-${size_mb}mb-h${hosts}-s1.pcap}
if [ ! -s "$cap" ]; then
  echo "== generating $cap"
  "$bin" lab synth --hosts "$hosts" --duration 1h --size-mb "$size_mb" --seed 1 -o "$cap.tmp"
  mv "$cap.tmp" "$cap"
fi
cat "$cap" >/dev/null
work=$(mktemp -d /tmp/sekimori-bench-detect.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$bin" policy sample >"$work/policy.toml"
echo "== capture: $cap ($(stat -c %s "$cap") bytes); policy: the sample"

plain=()
policy=()
plain_cpu=()
policy_cpu=()
for i in $(seq 1 "$runs"); do
  /usr/bin/time -f "%U %S" -o "$work/plain.time" "$bin" analyze "$cap" --stats >/dev/null 2>"$work/plain.err"
  p=$(head -n 1 "$work/plain.err" | jq .mb_per_s)
  pc=$(awk '{print $1 + $2}' "$work/plain.time")
  /usr/bin/time -f "%U %S" -o "$work/with.time" "$bin" analyze "$cap" --stats --policy "$work/policy.toml" >"$work/with.json" 2>"$work/with.err"
  w=$(head -n 1 "$work/with.err" | jq .mb_per_s)
  wc=$(awk '{print $1 + $2}' "$work/with.time")
  d=$(tail -n 1 "$work/with.err" | jq -c .detections)
  printf 'run %d: without %8.1f MB/s %6.2f CPU-s   with policy %8.1f MB/s %6.2f CPU-s   %s\n' "$i" "$p" "$pc" "$w" "$wc" "$d"
  plain+=("$p")
  policy+=("$w")
  plain_cpu+=("$pc")
  policy_cpu+=("$wc")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mp=$(median "${plain[@]}")
mw=$(median "${policy[@]}")
echo "alerts: $(jq '.alerts | length' "$work/with.json") ($(jq -c '[.alerts[].kind] | group_by(.) | map({(.[0]): length}) | add' "$work/with.json"))"
echo "median: without $mp MB/s, with policy $mw MB/s; overhead $(echo "scale=4; 100 * (1 - $mw / $mp)" | bc | xargs printf "%.1f") %"
mpc=$(median "${plain_cpu[@]}")
mwc=$(median "${policy_cpu[@]}")
# CPU time is steadier than wall time on a busy machine (other processes
# take turns on the cores, they do not slow each instruction much).
echo "median CPU: without $mpc s, with policy $mwc s; overhead $(echo "scale=4; 100 * ($mwc / $mpc - 1)" | bc | xargs printf "%.1f") %"
echo "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
