#!/usr/bin/env bash
# Lateness of 1 ms singleshot timers (p50/p99/max, µs), seen by the guest
# through its pvclock, in a few runs.
#   bench/timer.sh [BUILD_DIR] [RUNS]
set -euo pipefail
source "$(dirname "$0")/lib.sh" "${1:-build-release}"
for i in $(seq "${2:-3}"); do
    "$xl" create -c "$(guest_cfg "bench-timer-$i" bench_timer 32)" 2>&1 | grep 'bench:'
done
