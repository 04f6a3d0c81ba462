#!/usr/bin/env bash
# `xl destroy` cost with 1, 50 and N (200) idle 8 MiB domains: xenolithd's
# CPU per destroy (ticks of /proc/PID/stat around each `xl destroy` only,
# summed over RUNS destroys of the last domain, each created again
# outside the measurement), and the ratio to the 1-domain figure. Then
# xenstored's share alone (build/bench/xenstore_destroy, no KVM needed).
# Goal: independent of the number of other domains.
#   bench/destroy.sh [BUILD_DIR] [N] [RUNS]
set -euo pipefail
source "$(dirname "$0")/lib.sh" "${1:-build-release}"
n=${2:-200}
runs=${3:-50}
hz=$(getconf CLK_TCK)
daemon_ticks() { awk '{print $14 + $15}' "/proc/$bench_daemon/stat"; }
have=0
grow_to() {  # create idle domains up to $1
    for ((i = have + 1; i <= $1; i++)); do "$xl" create -q "$(guest_cfg "idle-$i" idle 8)"; done
    have=$1
    sleep 1  # every guest reaches its idle loop
}
first=
for count in 1 50 "$n"; do
    grow_to "$count"
    ticks=0
    for ((r = 0; r < runs; r++)); do
        t0=$(daemon_ticks)
        "$xl" destroy "idle-$count"
        ticks=$((ticks + $(daemon_ticks) - t0))
        "$xl" create -q "$work/idle-$count.cfg"
    done
    ms=$(awk -v t="$ticks" -v hz="$hz" -v r="$runs" 'BEGIN {printf "%.2f", t * 1000 / hz / r}')
    first=${first:-$ms}
    printf 'xl destroy, %3d domains:  xenolithd CPU %6s ms per destroy (%d runs)  ratio %s\n' \
        "$count" "$ms" "$runs" "$(awk -v a="$ms" -v b="$first" 'BEGIN {printf "%.2f", b > 0 ? a / b : 0}')"
done
[ -x "$build/bench/xenstore_destroy" ] && "$build/bench/xenstore_destroy" 1 50 "$n"
