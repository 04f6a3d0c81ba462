#!/usr/bin/env bash
# blkback's core against fio on the same file in the same run. The front end
# is bench/blkback_bench.cpp: a host-side harness driving the real back-end
# core through a shared ring, with every buffer granted and mapped through
# LocalGrantTable (memfd "guest" memory), no guest involved. Both sides use
# io_uring with O_DIRECT. Workloads: 4 KiB random read/write at QD 1 and
# 32, 1 MiB sequential read/write at QD 4 (indirect descriptors, 256
# segments); blkback with a mapping per request and with persistent grants.
# Then the real xenolith-blkback process, launched as xenolithd launches it
# (sandbox, link, scoped xenstore; bench/blkproc_bench.cpp over the host
# blkfront harness), and the same back-end code on a thread ("inproc"):
# their ratio is the sandbox's cost. Both with persistent grants.
# Each workload runs REPS times, the contenders interleaved, and the
# medians are reported (shared, loaded machines are noisy).
#   bench/blkback.sh [BUILD_DIR] [SECONDS] [FILE_MiB] [FILE] [REPS]
set -euo pipefail
build=${1:-build-release}
secs=${2:-5}
mib=${3:-1024}
file=${4:-/var/tmp/xenolith-blkback-bench.img}
reps=${5:-3}
harness="$build/bench/blkback_bench"
proc_harness="$build/bench/blkproc_bench"
blkback_bin="$build/src/daemon/xenolith-blkback"
for x in "$harness" "$proc_harness" "$blkback_bin"; do
    [ -x "$x" ] || { echo "build $x first (ninja blkback_bench blkproc_bench)" >&2; exit 1; }
done
command -v fio >/dev/null || { echo "fio missing: scripts/install-deps.sh" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq missing: scripts/install-deps.sh" >&2; exit 1; }

made_file=0
if [ ! -e "$file" ]; then
    # Written, not sparse: reads of unwritten extents never reach the disk.
    dd if=/dev/zero of="$file" bs=1M count="$mib" oflag=direct status=none
    made_file=1
fi
trap '[ $made_file = 1 ] && rm -f "$file"' EXIT

# fio: iops, mean completion latency (µs) and CPU µs per request.
run_fio() {  # rw bs qd
    fio --name=ref --filename="$file" --ioengine=io_uring --direct=1 --rw="$1" --bs="$2" \
        --iodepth="$3" --runtime="$secs" --time_based --output-format=json 2>/dev/null |
        jq -r '.jobs[0] | (if .read.io_bytes > 0 then .read else .write end) as $d
               | "\($d.iops) \($d.lat_ns.mean / 1000) \((.usr_cpu + .sys_cpu) / 100 * (.job_runtime / 1000) / ($d.total_ios + 0.0001) * 1e6)"'
}
run_blk() {  # mode bs qd [persistent]
    "$harness" "$file" "$1" "$2" "$3" "$secs" ${4:+"$4"} |
        sed -E 's/.*iops=([0-9.]+) .*lat_us=([0-9.]+) backend_cpu_us_per_req=([0-9.]+).*/\1 \2 \3/'
}

run_proc() {  # mode bs qd [inproc]
    "$proc_harness" "$blkback_bin" "$file" "$1" "$2" "$3" "$secs" persistent ${4:+"$4"} |
        sed -E 's/.*iops=([0-9.]+) .*lat_us=([0-9.]+) backend_cpu_us_per_req=([0-9.]+).*/\1 \2 \3/'
}

printf '%-20s %10s %10s %10s %7s %7s %12s %12s %12s\n' workload fio map/req persistent ratio ratio_p \
    lat+us_map lat+us_p cpu_us/req
proc_lines=()
for w in "randread 4096 1" "randwrite 4096 1" "randread 4096 32" "randwrite 4096 32" \
         "read 1048576 4" "write 1048576 4"; do
    set -- $w
    fio_runs=() map_runs=() per_runs=() proc_runs=() inproc_runs=()
    for _ in $(seq "$reps"); do
        fio_runs+=("$(run_fio "$1" "$2" "$3")")
        map_runs+=("$(run_blk "$1" "$2" "$3")")
        per_runs+=("$(run_blk "$1" "$2" "$3" persistent)")
        proc_runs+=("$(run_proc "$1" "$2" "$3")")
        inproc_runs+=("$(run_proc "$1" "$2" "$3" inproc)")
    done
    # Median of each column over the repetitions.
    med() { printf '%s\n' "$@" | awk -v c="$col" '{print $c}' | sort -g |
            awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
    col=1; f_iops=$(med "${fio_runs[@]}"); b_iops=$(med "${map_runs[@]}"); p_iops=$(med "${per_runs[@]}")
    col=2; f_lat=$(med "${fio_runs[@]}"); b_lat=$(med "${map_runs[@]}"); p_lat=$(med "${per_runs[@]}")
    col=3; f_cpu=$(med "${fio_runs[@]}"); p_cpu=$(med "${per_runs[@]}")
    col=1; x_iops=$(med "${proc_runs[@]}"); i_iops=$(med "${inproc_runs[@]}")
    col=2; x_lat=$(med "${proc_runs[@]}"); i_lat=$(med "${inproc_runs[@]}")
    col=3; x_cpu=$(med "${proc_runs[@]}"); i_cpu=$(med "${inproc_runs[@]}")
    unit=IOPS scale=1
    if [ "$2" -ge 1048576 ]; then unit=MB/s scale=1.048576; fi
    awk -v n="$1 $(( $2 / 1024 ))K qd$3" -v f="$f_iops" -v b="$b_iops" -v p="$p_iops" -v s="$scale" \
        -v fl="$f_lat" -v bl="$b_lat" -v pl="$p_lat" -v fc="$f_cpu" -v pc="$p_cpu" -v u="$unit" \
        'BEGIN { printf "%-20s %10.0f %10.0f %10.0f %7.2f %7.2f %12.1f %12.1f %5.1f/%-6.1f %s\n",
                 n, f*s, b*s, p*s, b/f, p/f, bl-fl, pl-fl, pc, fc, u }'
    proc_lines+=("$(awk -v n="$1 $(( $2 / 1024 ))K qd$3" -v f="$f_iops" -v x="$x_iops" -v i="$i_iops" \
        -v s="$scale" -v fl="$f_lat" -v xl="$x_lat" -v il="$i_lat" -v xc="$x_cpu" -v ic="$i_cpu" -v u="$unit" \
        'BEGIN { printf "%-20s %10.0f %10.0f %10.0f %7.2f %7.2f %12.1f %12.1f %5.1f/%-6.1f %s\n",
                 n, f*s, x*s, i*s, x/f, x/i, xl-fl, xl-il, xc, ic, u }')")
done
echo "medians of $reps runs; ratio = blkback/fio (map per request), ratio_p = with persistent grants;"
echo "lat+us = added mean latency per request vs fio; cpu_us/req = blkback thread (persistent) / fio process"
echo
printf '%-20s %10s %10s %10s %7s %7s %12s %12s %12s\n' workload fio process inproc x/fio x/inproc \
    lat+us_fio lat+us_inproc cpu_us/req
printf '%s\n' "${proc_lines[@]}"
echo "the xenolith-blkback process (sandboxed, over its link) vs fio and vs the same code in-process;"
echo "cpu_us/req = back-end side (process + its link server) / in-process back-end + link server"
