#!/usr/bin/env bash
# The access broker's data path against its peers, in one run, loopback only:
#   throughput  iperf3 direct / through `ssh -L` (aes128-gcm and the default
#               chacha20) / through a sekimori tunnel (recording off and on),
#               with CPU, context switches, system calls and TCP segments
#               retransmitted (loopback reordering) per amount carried;
#   latency     64-byte ping-pong p50/p99 through each (tunnel_probe pingpong);
#   opening     connect + 1-byte echo through each, and the first one after
#               `sekimori connect` starts (tunnel_probe open);
#   idle        gateway RSS before/after IDLE (10,000) idle tunnelled
#               connections, and /healthz latency while they are held.
# Usage: bash bench/tunnel.sh   (SECS=10 per iperf3 run, IDLE=10000,
#   KEEP_LOG=FILE keeps the server's log, PERF=DIR profiles ours under iperf3,
#   BIN=FILE runs that sekimori binary instead of the one built, e.g. a copy
#   of the baseline to alternate with; PROBE=FILE the same for tunnel_probe:
#   with both, nothing is built; RECORD_DELAY_MS=N sets the gateway's
#   record_delay_ms; THREADS=1 prints the per-thread split of an opening;
#   HOLD=FILE sets up, writes the addresses to FILE and waits; ROUNDS=N
#   alternates N throughput pairs, ssh then ours, and prints their median)
# Bounded: build ≤ 60 min, each step ≤ 2 min. Prints a summary table.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
need iperf3 iperf3
need sshd openssh-server
need ssh openssh-client
need jq jq
need python3 python3
need curl curl

secs=${SECS:-10}
idle=${IDLE:-10000}
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d /tmp/sekimori-bench-tunnel.XXXXXX)
pids=()
cleanup() {
  [ -r "$work/connect.pids" ] && mapfile -t -O "${#pids[@]}" pids <"$work/connect.pids"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  # KEEP_LOG=FILE keeps the server's log (per-connection authz_us/setup_us
  # with SEKIMORI_LOG=debug).
  if [ -n "${KEEP_LOG:-}" ]; then cp "$work/serve.err" "$KEEP_LOG" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }
totp() { python3 - "$1" "${2:-0}" <<'EOF'
import base64, hmac, hashlib, struct, sys, time
s = sys.argv[1].upper(); s += "=" * (-len(s) % 8)
c = int(time.time()) // 30 + int(sys.argv[2])
d = hmac.new(base64.b32decode(s), struct.pack(">Q", c), hashlib.sha1).digest()
o = d[19] & 15
print("%06d" % ((struct.unpack(">I", d[o:o+4])[0] & 0x7fffffff) % 1000000))
EOF
}
# Wait until at least 8 s remain in the TOTP step so two codes never straddle it.
settle() { local left=$(( 30 - $(date +%s) % 30 )); [ "$left" -ge 8 ] || sleep $((left + 1)); }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== building (bounded to 60 min)"
[ -n "${BIN:-}" ] || timeout 3600 cargo build --release --locked -p sekimori-cli 2>&1 | tail -n 1
[ -n "${PROBE:-}" ] || timeout 3600 cargo build --release --locked -p sekimori-gateway --example tunnel_probe 2>&1 | tail -n 1
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
bin="${BIN:-$target/release/sekimori}"
probe="${PROBE:-$target/release/examples/tunnel_probe}"

echo "== targets: iperf3 server and echo server"
iperf_port=$(free_port); echo_port=$(free_port)
iperf3 -s -p "$iperf_port" >/dev/null 2>&1 & pids+=($!)
"$probe" echo-server "127.0.0.1:$echo_port" >/dev/null & pids+=($!)
wait_port "$iperf_port"; wait_port "$echo_port"

echo "== peer: sshd on loopback"
mkdir -p /run/sshd "$work/ssh"
ssh-keygen -q -t ed25519 -N "" -f "$work/ssh/host"
ssh-keygen -q -t ed25519 -N "" -f "$work/ssh/client"
cp "$work/ssh/client.pub" "$work/ssh/authorized_keys"
ssh_port=$(free_port)
cat >"$work/ssh/sshd_config" <<EOF
Port $ssh_port
ListenAddress 127.0.0.1
HostKey $work/ssh/host
AuthorizedKeysFile $work/ssh/authorized_keys
PidFile $work/ssh/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
PermitRootLogin prohibit-password
MaxSessions 100000
LogLevel ERROR
EOF
"$(command -v sshd)" -D -e -f "$work/ssh/sshd_config" 2>/dev/null & pids+=($!); sshd_pid=$!
wait_port "$ssh_port"
ssh_fwd() { # cipher local-port target-port
  ssh -N -p "$ssh_port" -i "$work/ssh/client" -c "$1" -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ExitOnForwardFailure=yes \
    -L "127.0.0.1:$2:127.0.0.1:$3" "$(id -un)@127.0.0.1" & pids+=($!)
  wait_port "$2"
}
gcm_iperf=$(free_port); gcm_echo=$(free_port); chacha_iperf=$(free_port); chacha_echo=$(free_port)
ssh_fwd aes128-gcm@openssh.com "$gcm_iperf" "$iperf_port"; gcm_ssh_pid=${pids[-1]}
ssh_fwd aes128-gcm@openssh.com "$gcm_echo" "$echo_port"; gcm_echo_pid=${pids[-1]}
ssh_fwd chacha20-poly1305@openssh.com "$chacha_iperf" "$iperf_port"
ssh_fwd chacha20-poly1305@openssh.com "$chacha_echo" "$echo_port"

echo "== ours: sekimori serve, users, two assets (recorded / not), approved grants"
data="$work/data"; mkdir -p "$data"
cat >"$data/config.toml" <<'EOF'
[authn.password]
m_cost_kib = 64
t_cost = 1
p_cost = 1
insecure_test_only_weak_params = true
EOF
# RECORD_DELAY_MS=N: the gateway's record_delay_ms (default: the server's).
[ -z "${RECORD_DELAY_MS:-}" ] || printf '[gateway]\nrecord_delay_ms = %s\n' "$RECORD_DELAY_MS" >>"$data/config.toml"
SEKIMORI_LANG=en "$bin" --data-dir "$data" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" & server_pid=$!; pids+=($server_pid)
for _ in $(seq 200); do grep -q '^ready' "$work/serve.out" && break; sleep 0.05; done
addr=$(sed -n 's/^ *listening on: //p' "$work/serve.out")
fp=$(sed -n 's/^ *certificate fingerprint: //p' "$work/serve.out")
code=$(sed -n 's/^ *one-time set-up code: //p' "$work/serve.out")
api() { curl -sS -k --resolve "localhost:${addr##*:}:127.0.0.1" "https://localhost:${addr##*:}/api/v1$1" "${@:2}"; }
pw='Bench-mark-2026-sekimori-pw'
api /setup -H 'content-type: application/json' -d "{\"setup_code\":\"$code\",\"username\":\"admin\",\"display_name\":\"A\",\"password\":\"$pw\"}" >/dev/null
for u in "vendor vendor --company Acme" "ce approver --department CE"; do
  set -- $u
  echo "$pw" | SEKIMORI_LANG=en "$bin" --data-dir "$data" user add --username "$1" --role "$2" "$3" "$4" --password-stdin >/dev/null
done
enrol() { # user → session token (first login: enrol TOTP), secret in $work/$1.secret
  local ch; ch=$(api /login -H 'content-type: application/json' -d "{\"username\":\"$1\",\"password\":\"$pw\"}")
  echo "$ch" | jq -r .secret >"$work/$1.secret"
  settle
  api /login/enrol -H 'content-type: application/json' \
    -d "{\"challenge\":$(echo "$ch" | jq .challenge),\"code\":\"$(totp "$(cat "$work/$1.secret")")\"}" | jq -r .token
}
enrol admin >/dev/null; enrol vendor >/dev/null; ce_token=$(enrol ce)
for name in plain recorded; do
  flag=""; [ "$name" = plain ] && flag="--no-recording"
  SEKIMORI_LANG=en "$bin" --data-dir "$data" asset add --name "$name" --address 127.0.0.1 \
    --owner-department CE --vendor-company Acme --port "$iperf_port/iperf" --port "$echo_port/echo" $flag >/dev/null
done
export SEKIMORI_CLIENT_DIR="$work/client" SEKIMORI_LANG=en
echo "$pw" >"$work/pw"
t_login0=$(date +%s%N)
"$bin" login --server "$addr" --user vendor --password-file "$work/pw" --totp-code "$(totp "$(cat "$work/vendor.secret")" 1)" --server-fingerprint "$fp" >/dev/null
t_login1=$(date +%s%N)
grant() {
  local id; id=$("$bin" request create --asset "$1" --port "$iperf_port" --port "$echo_port" --reason bench --duration 120 --json | jq -r .id)
  api "/requests/$id/approve" -X POST -H "authorization: Bearer $ce_token" >/dev/null
  echo "$id"
}
plain=$(grant plain); recorded=$(grant recorded)
connect() { # request port → local address (also records the connect pid)
  local out="$work/connect.$RANDOM"
  # (A command substitution's pids+= is lost: its pid goes to a file.)
  "$bin" connect "$1" --port "$2" --json >"$out" 2>"$out.err" & echo $! >>"$work/connect.pids"
  for _ in $(seq 200); do [ -s "$out" ] && break; sleep 0.05; done
  jq -r .listen "$out"
}
t_iperf=$(connect "$plain" "$iperf_port"); t_echo=$(connect "$plain" "$echo_port")
r_iperf=$(connect "$recorded" "$iperf_port")
first_echo_start=$(date +%s%N)
first_echo=$(connect "$plain" "$echo_port")
first_open=$(timeout 120 "$probe" open "$first_echo" 1 | jq .first_us)
first_echo_end=$(date +%s%N)

gbps() { timeout 120 iperf3 -c 127.0.0.1 -p "$1" -t "$secs" -J | jq '.end.sum_received.bits_per_second / 1e9 * 100 | round / 100'; }
# CPU seconds per GB carried: user + system time of the given processes
# (from /proc/PID/stat) over the bytes iperf3 received. Prints "Gbit/s CPU-s/GB".
ticks() { local t=0 p; for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
# TCP segments retransmitted, system-wide (on loopback: reordering between
# the two CPUs' backlogs makes the sender retransmit spuriously).
retrans() { awk '/^Tcp:/ { if (seen) { for (i = 1; i <= NF; i++) if (h[i] == "RetransSegs") print $i; exit } split($0, h); seen = 1 }' /proc/net/snmp; }
# Context switches (voluntary + involuntary) of every thread of the processes.
switches() { local t=0 p; for p in "$@"; do t=$((t + $(cat /proc/"$p"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}'))); done; echo "$t"; }
# Per thread name: CPU ticks and context switches of the threads of a process
# (THREADS=1 prints the split of the openings: "name cpu_us switches").
thread_stats() { local f d; for d in /proc/"$1"/task/*; do
  f=$(cat "$d/stat" "$d/status" 2>/dev/null) || continue
  echo "$f" | awk 'NR == 1 {sub(/^[^(]*\(/, ""); name = $0; sub(/\).*/, "", name); sub(/^[^)]*\) /, ""); t = $12 + $13}
    /ctxt_switches/ {s += $2} END {gsub(/ /, "_", name); print name, t, s}'
done; }
desc() { local p; echo "$1"; for p in $(pgrep -P "$1"); do desc "$p"; done; }
# Whether `perf stat` can count system calls here (checked once).
syscall_counts=""
command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1 && syscall_counts=1
# Prints "Gbit/s CPU-s/GB switches/MB syscalls/MB" (context switches of
# every thread, from /proc; system calls from `perf stat` where perf runs,
# else "-").
cpu_gbps() { # port pid...
  local port=$1 t0 t1 s0 s1 r0 r1 j pf=$work/perfstat.$1 sp=""; shift
  if [ -n "$syscall_counts" ]; then
    perf stat -x, -e raw_syscalls:sys_enter -p "$(IFS=,; echo "$*")" -o "$pf" -- sleep "$((secs + 2))" >/dev/null 2>&1 & sp=$!
  fi
  r0=$(retrans); t0=$(ticks "$@"); s0=$(switches "$@"); j=$(timeout 120 iperf3 -c 127.0.0.1 -p "$port" -t "$secs" -J); t1=$(ticks "$@"); s1=$(switches "$@"); r1=$(retrans)
  [ -z "$sp" ] || wait "$sp" || true
  python3 -c 'import json, os, sys
d = json.loads(sys.argv[1])["end"]["sum_received"]
hz = os.sysconf("SC_CLK_TCK")
rate, gb = d["bits_per_second"] / 1e9, d["bytes"] / 1e9
sys_mb = "-"
try:
    for line in open(sys.argv[6]):
        f = line.split(",")
        if len(f) > 2 and f[2].startswith("raw_syscalls"):
            sys_mb = "%.0f" % (int(f[0]) / (gb * 1000))
except (OSError, ValueError):
    pass
print("%.2f %.2f %.1f %s %.0f" % (rate, (int(sys.argv[3]) - int(sys.argv[2])) / hz / gb,
    (int(sys.argv[5]) - int(sys.argv[4])) / (gb * 1000), sys_mb,
    (int(sys.argv[8]) - int(sys.argv[7])) / gb))' "$j" "$t0" "$t1" "$s0" "$s1" "$pf" "$r0" "$r1"
}
connect_pid=$(pgrep -f -- "connect $plain --port $iperf_port" | head -n 1)
# HOLD=FILE: write the set-up's addresses and pids to FILE and wait (until
# the script is stopped) instead of measuring, for experiments by hand.
if [ -n "${HOLD:-}" ]; then
  declare -p iperf_port echo_port t_iperf t_echo r_iperf gcm_iperf gcm_echo server_pid connect_pid \
    gcm_ssh_pid sshd_pid probe bin >"$HOLD"
  echo "== holding: see $HOLD"; while :; do sleep 3600; done
fi
echo "== throughput (iperf3, ${secs}s each)"
direct_tp=$(gbps "$iperf_port")
read -r gcm_tp gcm_cpu gcm_sw gcm_sys gcm_rt < <(cpu_gbps "$gcm_iperf" "$gcm_ssh_pid" $(desc "$sshd_pid"))
chacha_tp=$(gbps "$chacha_iperf")
# PERF=DIR also profiles both processes of ours during its throughput run
# (perf record, DWARF call graphs) into DIR/{serve,connect}.perf.
if [ -n "${PERF:-}" ]; then
  mkdir -p "$PERF"
  perf record --call-graph dwarf,32768 -F 1000 -p "$server_pid" -o "$PERF/serve.perf" -- sleep "$secs" >/dev/null 2>&1 & perf_pids=($!)
  perf record --call-graph dwarf,32768 -F 1000 -p "$connect_pid" -o "$PERF/connect.perf" -- sleep "$secs" >/dev/null 2>&1 & perf_pids+=($!)
fi
read -r ours_tp ours_cpu ours_sw ours_sys ours_rt < <(cpu_gbps "${t_iperf##*:}" "$server_pid" "$connect_pid")
[ -z "${PERF:-}" ] || wait "${perf_pids[@]}"
# ROUNDS=N (default 1) more pairs, ssh then ours, back to back: the machine's
# drift falls on both alike. The table shows each round; the median ratio
# is the figure to quote.
# Each round: "ssh-Gbit/s ours-Gbit/s ssh-CPU-s/GB ours-CPU-s/GB".
rounds_out=("$gcm_tp $ours_tp $gcm_cpu $ours_cpu")
for _ in $(seq 2 "${ROUNDS:-1}"); do
  read -r g_tp g_cpu _ _ _ < <(cpu_gbps "$gcm_iperf" "$gcm_ssh_pid" $(desc "$sshd_pid"))
  read -r o_tp o_cpu _ _ _ < <(cpu_gbps "${t_iperf##*:}" "$server_pid" "$connect_pid")
  rounds_out+=("$g_tp $o_tp $g_cpu $o_cpu")
done
ours_rec_tp=$(gbps "${r_iperf##*:}")

echo "== latency (64-byte ping-pong) and opening (connect + 1-byte echo)"
pp() { timeout 120 "$probe" pingpong "$1" 20000; }
op() { timeout 120 "$probe" open "$1" 2000; }
direct_pp=$(pp "127.0.0.1:$echo_port"); gcm_pp=$(pp "127.0.0.1:$gcm_echo"); ours_pp=$(pp "$t_echo")
# CPU microseconds per opening: user + system time of the tunnel's two
# processes (sekimori serve + connect / sshd + ssh) over the 2,000 openings.
op_cpu() { # address pid...
  local addr=$1 t0 t1 s0 s1 r; shift
  t0=$(ticks "$@"); s0=$(switches "$@"); r=$(op "$addr"); t1=$(ticks "$@"); s1=$(switches "$@")
  echo "$r" | jq -c --argjson us "$(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) / 2000 ))" \
    --argjson sw "$(( (s1 - s0) * 10 / 2000 ))" '. + {cpu_us: $us, switches: ($sw / 10)}'
}
echo_connect_pid=$(pgrep -f -- "connect $plain --port $echo_port" | head -n 1)
direct_op=$(op "127.0.0.1:$echo_port")
gcm_op=$(op_cpu "127.0.0.1:$gcm_echo" "$gcm_echo_pid" $(desc "$sshd_pid"))
# PERF=DIR: the same for the openings (DIR/{serve,connect}-open.perf).
if [ -n "${PERF:-}" ]; then
  perf record --call-graph dwarf,32768 -F 2000 -p "$server_pid" -o "$PERF/serve-open.perf" >/dev/null 2>&1 & perf_pids=($!)
  perf record --call-graph dwarf,32768 -F 2000 -p "$echo_connect_pid" -o "$PERF/connect-open.perf" >/dev/null 2>&1 & perf_pids+=($!)
  sleep 1
fi
[ -z "${THREADS:-}" ] || { thread_stats "$server_pid" >"$work/threads0"; thread_stats "$echo_connect_pid" >"$work/cthreads0"; }
ours_op=$(op_cpu "$t_echo" "$server_pid" "$echo_connect_pid")
if [ -n "${THREADS:-}" ]; then
  thread_stats "$server_pid" >"$work/threads1"; thread_stats "$echo_connect_pid" >"$work/cthreads1"
  for side in threads cthreads; do
    echo "== per-thread split of an opening ($side: serve / connect): name, CPU µs, switches"
    awk -v hz="$(getconf CLK_TCK)" 'FNR == NR {t0[$1] += $2; s0[$1] += $3; next} {t1[$1] += $2; s1[$1] += $3}
      END {for (n in t1) printf "%s %.0f %.1f\n", n, (t1[n] - t0[n]) * 1e6 / hz / 2000, (s1[n] - s0[n]) / 2000}' \
      "$work/${side}0" "$work/${side}1"
  done
fi
if [ -n "${PERF:-}" ]; then kill -INT "${perf_pids[@]}"; wait "${perf_pids[@]}" || true; fi

echo "== idle: $idle tunnelled connections held"
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
sleep 1
rss0=$(rss "$server_pid")
coproc IDLE { timeout 600 "$probe" idle "$t_echo" "$idle"; }
read -r idle_line <&"${IDLE[0]}"
sleep 2
rss1=$(rss "$server_pid")
live=$(api "/tunnel-sessions?live=true&limit=1" -H "authorization: Bearer $ce_token" >/dev/null; echo ok)
health=$(for _ in $(seq 50); do curl -sk -o /dev/null -w '%{time_total}\n' --resolve "localhost:${addr##*:}:127.0.0.1" "https://localhost:${addr##*:}/healthz"; done | sort -n | awk '{a[NR]=$1} END {printf "p50 %.1f ms, max %.1f ms", a[int(NR/2)]*1000, a[NR]*1000}')
exec {IDLE[1]}>&-
read -r idle_end <&"${IDLE[0]}" || true
per_conn=$(( (rss1 - rss0) * 1024 / idle ))

j() { echo "$1" | jq -r ".$2"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}' if $2 else '-')"; }
cat <<EOF

== results ($(date -u +%FT%TZ), load before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg))
| measure | sekimori tunnel | ssh -L aes128-gcm | ssh -L chacha20 | direct | ratio ours/ssh-gcm |
|---|---|---|---|---|---|
| throughput, Gbit/s | $ours_tp (recording on: $ours_rec_tp) | $gcm_tp | $chacha_tp | $direct_tp | $(ratio "$ours_tp" "$gcm_tp") |
| CPU seconds per GB (serve + connect / sshd + ssh) | $ours_cpu | $gcm_cpu | - | - | $(ratio "$ours_cpu" "$gcm_cpu") |
| context switches / system calls per MB carried (same processes) | $ours_sw / $ours_sys | $gcm_sw / $gcm_sys | - | - | $(ratio "$ours_sw" "$gcm_sw") |
| TCP segments retransmitted per GB (system-wide; loopback reordering) | $ours_rt | $gcm_rt | - | - | $(ratio "$ours_rt" "$gcm_rt") |
| ping-pong p50 / p99, µs | $(j "$ours_pp" p50_us) / $(j "$ours_pp" p99_us) | $(j "$gcm_pp" p50_us) / $(j "$gcm_pp" p99_us) | - | $(j "$direct_pp" p50_us) / $(j "$direct_pp" p99_us) | $(ratio "$(j "$ours_pp" p50_us)" "$(j "$gcm_pp" p50_us)") / $(ratio "$(j "$ours_pp" p99_us)" "$(j "$gcm_pp" p99_us)") |
| open (connect + 1-byte echo) p50 / p99, µs | $(j "$ours_op" p50_us) / $(j "$ours_op" p99_us) | $(j "$gcm_op" p50_us) / $(j "$gcm_op" p99_us) | - | $(j "$direct_op" p50_us) / $(j "$direct_op" p99_us) | $(ratio "$(j "$ours_op" p50_us)" "$(j "$gcm_op" p50_us)") |
| CPU µs per opening (serve + connect / sshd + ssh) | $(j "$ours_op" cpu_us) | $(j "$gcm_op" cpu_us) | - | - | $(ratio "$(j "$ours_op" cpu_us)" "$(j "$gcm_op" cpu_us)") |
| context switches per opening (all threads of the same) | $(j "$ours_op" switches) | $(j "$gcm_op" switches) | - | - | $(ratio "$(j "$ours_op" switches)" "$(j "$gcm_op" switches)") |
| first connection after \`connect\` starts, µs | $first_open (connect start → answer: $(( (first_echo_end - first_echo_start) / 1000000 )) ms) | | | | |
| \`sekimori login\` (password + TOTP + key), ms | $(( (t_login1 - t_login0) / 1000000 )) | | | | |
| idle tunnelled connections held | $(j "$idle_line" held) (alive at end: $(j "$idle_end" alive)) | | | | |
| gateway RSS per idle connection | $per_conn bytes (RSS $rss0 → $rss1 KiB) | | | | |
| /healthz while holding them | $health | | | | |

EOF
printf '%s\n' "${rounds_out[@]}" | python3 -c '
import statistics, sys
rows = [line.split() for line in sys.stdin if line.strip()]
ratios = [float(o) / float(g) for g, o, _, _ in rows]
print()
print("Throughput rounds (ssh -L aes128-gcm, then ours, %ss each): median ratio ours/ssh %.2f"
      % (sys.argv[1], statistics.median(ratios)))
print("| round | ssh Gbit/s | ours Gbit/s | ratio | ssh CPU-s/GB | ours CPU-s/GB |")
print("|---|---|---|---|---|---|")
for i, ((g, o, gc, oc), r) in enumerate(zip(rows, ratios), 1):
    print("| %d | %s | %s | %.2f | %s | %s |" % (i, g, o, r, gc, oc))' "$secs"
