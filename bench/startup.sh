#!/usr/bin/env bash
# `xl create` to the guest's first instruction: wall time and the VMM's
# CPU time (xenolithd's own, from the request to vCPU 0's first KVM_RUN),
# for 128 MiB and 4 GiB guests. Anchor: Firecracker starts a VM in <= 8
# CPU-ms of VMM time. Also the KVM set-up (KVM_CREATE_VM to the last vCPU)
# and its slowest step, from the "KVM set-up" line of `xl dmesg`: a set-up
# call waiting for an SRCU grace period again shows there as ~10+ ms.
#   bench/startup.sh [BUILD_DIR] [RUNS]
set -euo pipefail
source "$(dirname "$0")/lib.sh" "${1:-build-release}"
runs=${2:-9}
printf '%-8s %14s %17s %17s  %s\n' memory "wall ms (p50)" "VMM CPU ms (p50)" "KVM set-up (p50)" \
    "slowest step (last run)"
for mem in 128 4096; do
    walls=() cpus=() kvms=() slowest=
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
        kvm=$("$xl" dmesg | grep -m1 'KVM set-up' || true)
        kvms+=("$(sed -E 's/.*KVM set-up ([0-9.]+) ms.*/\1/' <<<"$kvm")")
        slowest=$(sed -E 's/.*ms: //' <<<"$kvm" | awk -F', ' '{
            for (i = 1; i <= NF; i++) { n = split($i, a, " "); if (a[n] + 0 >= m) { m = a[n] + 0; s = $i } }
        } END { print s " ms" }')
        "$xl" destroy "start-$mem-$i" 2>/dev/null || true
    done
    printf '%-8s %14s %17s %17s  %s\n' "${mem}M" "$(printf '%s\n' "${walls[@]}" | median)" \
        "$(printf '%s\n' "${cpus[@]}" | median)" "$(printf '%s\n' "${kvms[@]}" | median)" "$slowest"
done
