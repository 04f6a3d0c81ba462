#!/usr/bin/env bash
# Null hypercall round trip (xen_version) vs a raw port-I/O exit round trip,
# measured by a guest in TSC cycles in the same run. Goal: ratio <= 1.2.
# "inline" issues the hypercall exit with as many guest instructions as the
# port-I/O loop, so its ratio is xenolithd's own cost; "page" includes the
# hypercall-page stub (call, mov, out, ret), which on PVM hosts costs ~1 us
# per emulated instruction and on VMX/SVM hosts next to nothing.
#   bench/hypercall.sh [BUILD_DIR] [RUNS]
set -euo pipefail
source "$(dirname "$0")/lib.sh" "${1:-build-release}"
runs=${2:-5}
printf '%-4s %10s %18s %8s %18s %8s\n' run "port I/O" "hypercall (page)" ratio "hypercall (inline)" ratio
for i in $(seq "$runs"); do
    out=$("$xl" create -c "$(guest_cfg "bench-hc-$i" bench_hypercall 32)" 2>&1 | grep 'bench:')
    io=$(sed -E 's/.*port_io_cycles=([0-9]+).*/\1/' <<<"$out")
    hc=$(sed -E 's/.* hypercall_cycles=([0-9]+).*/\1/' <<<"$out")
    in=$(sed -E 's/.*inline_hypercall_cycles=([0-9]+).*/\1/' <<<"$out")
    printf '%-4s %10s %18s %8s %18s %8s\n' "$i" "$io" "$hc" \
        "$(awk -v a="$hc" -v b="$io" 'BEGIN{printf "%.3f", a/b}')" "$in" \
        "$(awk -v a="$in" -v b="$io" 'BEGIN{printf "%.3f", a/b}')"
done
