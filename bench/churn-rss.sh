#!/usr/bin/env bash
# xenolithd RSS under create/destroy churn: N cycles in 4 parallel streams,
# RSS before, right after, and after the daemon's quiet-moment trim (it trims
# once domains came or went and no request ran for a second). Before the
# trim and M_ARENA_MAX, RSS crept ~1 KiB per cycle and never came back.
#   bench/churn-rss.sh [BUILD_DIR] [N]
set -euo pipefail
source "$(dirname "$0")/lib.sh" "${1:-build-release}"
n=${2:-200}
rss() { awk '/^VmRSS/ {print $2}' "/proc/$bench_daemon/status"; }
"$xl" create -q "$(guest_cfg warm idle 8)" && "$xl" destroy warm  # first-use allocations
sleep 1.5
before=$(rss)
stream() {
    for i in $(seq "$2"); do
        "$xl" create -q "$(guest_cfg "churn-$1-$i" idle 8)" && "$xl" destroy "churn-$1-$i"
    done
}
for s in 1 2 3 4; do stream "$s" $((n / 4)) & done
wait
after=$(rss)
sleep 2
quiet=$(rss)
echo "cycles:                 $n (4 parallel streams of create + destroy, idle 8 MiB guests)"
echo "RSS before:             $before KiB"
echo "RSS right after:        $after KiB ($(( (after - before) * 1024 / n )) bytes per cycle)"
echo "RSS after a quiet 2 s:  $quiet KiB ($(( (quiet - before) * 1024 / n )) bytes per cycle)"
