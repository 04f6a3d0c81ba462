#!/usr/bin/env bash
# xenolithd memory per idle domain (RSS growth / N, anchor: Firecracker
# <= 5 MiB per VM) and the CPU all N idle domains use over 10 s (goal:
# near zero), with N small idle guests.
#   bench/idle-density.sh [BUILD_DIR] [N]
set -euo pipefail
source "$(dirname "$0")/lib.sh" "${1:-build-release}"
n=${2:-50}
rss() { awk '/^VmRSS/ {print $2}' "/proc/$bench_daemon/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$bench_daemon/stat"; }
before=$(rss)
for i in $(seq "$n"); do "$xl" create -q "$(guest_cfg "idle-$i" idle 8)"; done
sleep 2  # let every guest reach its idle loop
after=$(rss)
t0=$(cpu_ticks); sleep 10; t1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
echo "domains:                 $n"
echo "xenolithd RSS before:    ${before} KiB"
echo "xenolithd RSS after:     ${after} KiB"
awk -v a="$after" -v b="$before" -v n="$n" 'BEGIN{printf "per idle domain:         %.1f KiB\n", (a-b)/n}'
awk -v d="$((t1 - t0))" -v hz="$hz" -v n="$n" \
    'BEGIN{printf "CPU of %d idle domains:  %.2f%% of one core over 10 s\n", n, 100*d/hz/10}'
"$xl" list | awk 'NR>1 && $1 ~ /^idle-/ {s[$5]++} END {for (k in s) print "state " k ": " s[k] " domains"}'
