#!/usr/bin/env bash
# `xl create` to the guest's first instruction: wall time and the VMM's
# CPU time (xenolithd's own, from the request to vCPU 0's first KVM_RUN),
# for 128 MiB and 4 GiB guests. Anchor: Firecracker starts a VM in <= 8
# CPU-ms of VMM time.
#   bench/startup.sh [BUILD_DIR] [RUNS]
set -euo pipefail
source "$(dirname "$0")/lib.sh" "${1:-build-release}"
runs=${2:-9}
printf '%-8s %14s %14s\n' memory "wall ms (p50)" "VMM CPU ms (p50)"
for mem in 128 4096; do
    walls=() cpus=()
    for i in $(seq "$runs"); do
        "$xl" dmesg -c >/dev/null
        cfg=$(guest_cfg "start-$mem-$i" demo "$mem")
        "$xl" create -q "$cfg"
        for _ in $(seq 200); do
            line=$("$xl" dmesg | grep -m1 'first guest instruction' || true)
            [ -n "$line" ] && break; sleep 0.01
        done
        walls+=("$(sed -E 's/.* ([0-9.]+) ms after.*/\1/' <<<"$line")")
        cpus+=("$(sed -E 's/.*VMM CPU ([0-9.]+) ms.*/\1/' <<<"$line")")
        "$xl" destroy "start-$mem-$i" 2>/dev/null || true
    done
    printf '%-8s %14s %14s\n' "${mem}M" "$(printf '%s\n' "${walls[@]}" | median)" \
        "$(printf '%s\n' "${cpus[@]}" | median)"
done
