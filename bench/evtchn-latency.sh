#!/usr/bin/env bash
# Event-channel send-to-upcall latency, 2-level vs FIFO, measured by a guest
# in TSC cycles (guests/tests/bench_evtchn.c), same vCPU and vCPU 0 -> 1.
# Per run: medians of the guest's samples; last line: median over runs.
#   bench/evtchn-latency.sh [BUILD_DIR] [RUNS]
set -euo pipefail
source "$(dirname "$0")/lib.sh" "${1:-build-release}"
runs=${2:-5}
field() { sed -E "s/.*$1=([0-9]+).*/\1/" <<<"$2"; }
printf '%-4s %-5s %14s %14s %14s %14s\n' run abi "send+upcall" "send+dispatch" "send only" "cross-vCPU"
declare -A all
for i in $(seq "$runs"); do
    out=$("$xl" create -c "$(guest_cfg "bench-ev-$i" bench_evtchn 32 'vcpus = 2')" 2>&1 |
          grep 'bench: abi=' || true)
    [ -n "$out" ] || { echo "run $i: no figures (see $bench_work)" >&2; exit 1; }
    while read -r line; do
        abi=$(sed -E 's/.*abi=([a-z0-9]+).*/\1/' <<<"$line")
        for k in same_upcall same_dispatch send_only cross_upcall; do
            all[$abi.$k]+="$(field "${k}_cycles" "$line") "
        done
        printf '%-4s %-5s %14s %14s %14s %14s\n' "$i" "$abi" \
            "$(field same_upcall_cycles "$line")" "$(field same_dispatch_cycles "$line")" \
            "$(field send_only_cycles "$line")" "$(field cross_upcall_cycles "$line")"
    done <<<"$out"
done
for abi in 2l fifo; do
    m() { tr ' ' '\n' <<<"${all[$abi.$1]}" | grep . | median; }
    printf '%-4s %-5s %14s %14s %14s %14s\n' med "$abi" "$(m same_upcall)" "$(m same_dispatch)" \
        "$(m send_only)" "$(m cross_upcall)"
done
