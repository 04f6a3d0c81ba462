#!/usr/bin/env bash
# The vif back-end through one TAP, three contenders in the same run
# (bench/netback_bench.cpp; root, in a network namespace of its own):
#   tap      this process reads and writes the TAP itself: the floor;
#   inproc   netback's code (VifDevice, Netback, the link) on a thread;
#   process  the real xenolith-netback process, sandboxed, launched as
#            xenolithd launches it, driven by the host netfront harness.
# Guest -> host and host -> guest; 64 B, 1500 B and 64 KiB TCPv4 GSO
# frames; 1 and 4 queues. Each cell runs REPS times, the contenders
# interleaved, and the medians are reported (shared machines are noisy).
#   bench/netback.sh [BUILD_DIR] [SECONDS] [REPS]
set -euo pipefail
build=${1:-build-release}
secs=${2:-2}
reps=${3:-3}
bench="$build/bench/netback_bench"
netback_bin="$build/src/daemon/xenolith-netback"
for x in "$bench" "$netback_bin"; do
    [ -x "$x" ] || { echo "build $x first (ninja netback_bench xenolith-netback)" >&2; exit 1; }
done

run() {  # mode dir size queues -> "pps gbps cpu lat"
    "$bench" "$netback_bin" "$1" "$2" "$3" "$4" "$secs" |
        sed -E 's/.*pps=([0-9.]+) gbps=([0-9.]+) backend_cpu_us_per_pkt=([0-9.]+) lat_us=([0-9.]+).*/\1 \2 \3 \4/'
}
med() { printf '%s\n' "$@" | awk -v c="$col" '{print $c}' | sort -g |
        awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

printf '%-16s %9s %9s %9s %8s %8s %8s %8s %14s %14s\n' case tap_pps inproc process proc/tap \
    inproc/tap proc/inproc gbit_proc 'cpu_us p/i/t' 'lat+us p/i'
for dir in g2h h2g; do
    for size in 64 1500 65000; do
        for q in 1 4; do
            tap_runs=() in_runs=() proc_runs=()
            for _ in $(seq "$reps"); do
                tap_runs+=("$(run tap "$dir" "$size" "$q")")
                in_runs+=("$(run inproc "$dir" "$size" "$q")")
                proc_runs+=("$(run process "$dir" "$size" "$q")")
            done
            col=1; t=$(med "${tap_runs[@]}"); i=$(med "${in_runs[@]}"); p=$(med "${proc_runs[@]}")
            col=2; pg=$(med "${proc_runs[@]}")
            col=3; tc=$(med "${tap_runs[@]}"); ic=$(med "${in_runs[@]}"); pc=$(med "${proc_runs[@]}")
            col=4; tl=$(med "${tap_runs[@]}"); il=$(med "${in_runs[@]}"); pl=$(med "${proc_runs[@]}")
            awk -v n="$dir ${size}B q$q" -v t="$t" -v i="$i" -v p="$p" -v pg="$pg" -v tc="$tc" -v ic="$ic" \
                -v pc="$pc" -v tl="$tl" -v il="$il" -v pl="$pl" \
                'BEGIN { printf "%-16s %9.0f %9.0f %9.0f %8.3f %8.3f %8.3f %8.3f %4.1f/%4.1f/%4.1f %6.0f/%-6.0f\n",
                         n, t, i, p, p/t, i/t, p/(i ? i : 1), pg, pc, ic, tc, pl-tl, il-tl }'
        done
    done
done
echo "medians of $reps runs of ${secs}s; pps = frames the receiving side got per second;"
echo "cpu_us = back-end CPU per frame: process (utime+stime) / in-process thread / tap I/O thread;"
echo "lat+us = mean one-way latency with one frame in flight, minus the tap contender's"
