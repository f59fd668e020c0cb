#!/usr/bin/env bash
# The assessment at scale, in one run:
#   import    300,000 CVE JSON 5 records (derived from the 15 real ones by
#             examples/gen_cve5: new IDs, shifted versions, renamed products;
#             a cvelistV5-style zip, cached in /tmp) with `sekimori feeds
#             import`, pinned to one core (taskset -c 0): wall time, CPU
#             time, peak RSS; then the same zip again (idempotent re-import)
#   match     10,000 assets (a ledger of the fixture's products and the
#             generated ones, versions around the ranges) against everything
#             imported: `sekimori assess --stats` phases (load, index,
#             match) and peak RSS; the same findings from a linear scan
#             (`--linear-scan`) as the naive-scan reference
# Usage: bash bench/assess.sh   (RECORDS=300000 ASSETS=10000)
# grype is not in Debian's archive nor on crates.io/PyPI/npm, so the ratio
# is against the naive scan (see docs/PERFORMANCE.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
need jq jq
[ -x /usr/bin/time ] || need /usr/bin/time time

records=${RECORDS:-300000}
assets=${ASSETS:-10000}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== building (bounded to 60 min)"
timeout 3600 cargo build --release --locked -p sekimori-cli 2>&1 | tail -n 1
timeout 3600 cargo build --release --locked -p sekimori-assess --example gen_cve5 2>&1 | tail -n 1
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
bin="$target/release/sekimori"

zip=/tmp/sekimori-bench-cve5-${records}.zip
if [ ! -s "$zip" ]; then
  echo "== generating $zip"
  "$target/release/examples/gen_cve5" crates/assess/testdata/advisories/cve5 "$records" "$zip.tmp"
  mv "$zip.tmp" "$zip"
fi

work=$(mktemp -d /tmp/sekimori-bench-assess.XXXXXX)
trap 'rm -rf "$work"' EXIT
export SEKIMORI_DATA_DIR="$work/data" SEKIMORI_LANG=en

measure() { # label, command...: wall s, user+sys s, max RSS KiB
  local label=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err" || {
    cat "$work/err" >&2; exit 1; }
  read -r wall user sys rss <"$work/time"
  printf '%-34s wall %7.2f s  cpu %7.2f s  peak RSS %6d MiB\n' "$label" "$wall" \
    "$(echo "$user + $sys" | bc)" "$((rss / 1024))"
}

echo "== import ($records records, one core)"
measure "feeds import (first)" taskset -c 0 "$bin" feeds import --json "$zip"
jq -c '{files, vulnerabilities, added, updated, unchanged, skipped}' "$work/out"
measure "feeds import (again, unchanged)" taskset -c 0 "$bin" feeds import --json "$zip"
jq -c '{files, vulnerabilities, added, updated, unchanged, skipped}' "$work/out"
"$bin" feeds import --json crates/assess/testdata/advisories >/dev/null

echo "== inventory ($assets assets)"
python3 - "$assets" "$work/ledger.csv" <<'PY'
# A third of the rows are the fixture's devices (real product names: the
# 60 records that keep them); the rest name generated products that exist
# in the feed (gen_cve5 names record n's product "<product> <n % 60000>",
# from seed n % 15 in file-name order), with versions around their ranges.
import csv, os, sys, random
n, out = int(sys.argv[1]), sys.argv[2]
random.seed(1)
base = list(csv.DictReader(open("crates/assess/testdata/assess/ledger.csv", encoding="utf-8")))
seeds = sorted(f for f in os.listdir("crates/assess/testdata/advisories/cve5") if f.endswith(".json"))
gen = [("Fortinet", "FortiOS", "CVE-2024-21762.json", "7.0.{}"),
       ("Ivanti", "ICS", "CVE-2024-21893.json", "22.6R{}"),
       ("OpenBSD", "OpenSSH", "CVE-2024-6387.json", "9.{}p1"),
       ("Philips", "EncoreAnywhere", "CVE-2018-8863.json", "2.36.3.{}"),
       ("Baxter", "Welch Allyn Connex Spot Monitor", "CVE-2024-1275.json", "1.{}"),
       ("Softneta", "MedDream PACS", "CVE-2023-39227.json", "7.2.8.{}")]
with open(out, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["資産番号", "機器名", "メーカー", "製品名", "バージョン", "IPアドレス"])
    for i in range(n):
        if i % 3 == 0:
            r = base[i % len(base)]
            w.writerow([f"B-{i}", f"{r['機器名']}-{i}", r["メーカー"], r["製品名"], r["バージョン"], ""])
        else:
            v, p, seed, fmt = gen[i % len(gen)]
            k = 15 * random.randrange(4000) + seeds.index(seed)
            w.writerow([f"B-{i}", f"host-{i}", v, f"{p} {k}", fmt.format(random.randrange(60)),
                        f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"])
PY

echo "== match"
measure "assess (indexed)" "$bin" assess --inventory "$work/ledger.csv" --stats -o "$work/findings.json"
tail -n 1 "$work/err"
# The linear scan visits every index entry for every asset: run it on the
# first $linear assets, against the indexed run on the same assets.
linear=${LINEAR_ASSETS:-1000}
head -n $((linear + 1)) "$work/ledger.csv" >"$work/ledger-small.csv"
measure "assess (indexed, $linear assets)" "$bin" assess --inventory "$work/ledger-small.csv" --stats -o "$work/findings-small.json"
tail -n 1 "$work/err"
small=$(tail -n 1 "$work/err")
measure "assess (linear scan, $linear assets)" "$bin" assess --inventory "$work/ledger-small.csv" --stats --linear-scan -o "$work/findings-linear.json"
tail -n 1 "$work/err"
lin=$(tail -n 1 "$work/err")
if cmp -s <(jq -S .findings "$work/findings-small.json") <(jq -S .findings "$work/findings-linear.json"); then
  echo "   same findings from both"
else
  echo "   FINDINGS DIFFER between indexed and linear" >&2; exit 1
fi
echo "   match phase, linear / indexed on $linear assets: $(echo "scale=1; $(jq .match_s <<<"$lin") / $(jq .match_s <<<"$small")" | bc)×"
echo "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
