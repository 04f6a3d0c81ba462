#!/usr/bin/env bash
# vCPU control costs, medians of RUNS: `xl vcpu-pin` and `xl vcpu-list`
# (the whole command: xl process, request, sched_setaffinity or /proc
# reads), and hot-plug latency: `xl vcpu-set` until the vcpu_hotplug guest
# reports the change on its console (xenstore write, watch event, guest
# VCPUOP_up/VCPUOP_down, console line; polled every 2 ms).
#   bench/vcpu.sh [BUILD_DIR] [RUNS]
set -u
source "$(dirname "$0")/lib.sh" "${1:-build-release}"
runs=${2:-20}
us_since() { echo $((($(date +%s%N) - $1) / 1000)); }
log=$work/log/guest-bench-hp.log
"$xl" create -q "$(guest_cfg bench-hp vcpu_hotplug 32 'vcpus = 1' 'maxvcpus = 4')" || exit 1
lines() { tr -d '\r' <"$log" | grep -c '^vcpu_hotplug: online'; }
wait_lines() {  # until the guest printed N reports
    for _ in $(seq 5000); do [ "$(lines)" -ge "$1" ] && return 0; sleep 0.002; done
    echo "the guest did not report" >&2; exit 1
}
wait_lines 1
last=$(($(nproc --all) - 1))

pin=() list=() up=() down=()
for i in $(seq "$runs"); do
    t=$(date +%s%N); "$xl" vcpu-pin bench-hp 0 $((i % 2 ? 0 : last)); pin+=("$(us_since "$t")")
    t=$(date +%s%N); "$xl" vcpu-list bench-hp >/dev/null; list+=("$(us_since "$t")")
    n=$(lines)
    t=$(date +%s%N); "$xl" vcpu-set -i bench-hp 4; wait_lines $((n + 1)); up+=("$(us_since "$t")")
    t=$(date +%s%N); "$xl" vcpu-set bench-hp 1; wait_lines $((n + 2)); down+=("$(us_since "$t")")
done
"$xl" shutdown -w bench-hp >/dev/null 2>&1

med() { printf '%s\n' "$@" | median; }
echo "vcpu bench, $runs runs, medians (µs, whole xl commands):"
echo "  xl vcpu-pin (one vCPU)           $(med "${pin[@]}")"
echo "  xl vcpu-list (4 vCPUs)           $(med "${list[@]}")"
echo "  xl vcpu-set 1 -> 4, guest online $(med "${up[@]}")"
echo "  xl vcpu-set 4 -> 1, guest online $(med "${down[@]}")"
