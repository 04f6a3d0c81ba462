#!/usr/bin/env bash
# Live migration of a real guest on KVM, end to end as a user runs it:
# `xl migrate` between two xenolithd daemons on this machine (two run
# directories, a local command in place of ssh), at each size, for three
# guests (guests/tests/pvsuspend.c):
#   idle   booted and idle: most of its memory never written
#   full   every page written once at boot (fill=), then idle
#   busy   full, and it keeps writing 16 MiB (dirty=16) during the migration
# Per run:
#   total      xl migrate's wall time (suspend, pre-copy, stop-and-copy,
#              the receiver's restore and start)
#   paused     the sender's paused time (pause to the last state byte
#              written), as xl dmesg reports it
#   downtime   what the guest saw: Xen system time from its
#              SCHEDOP_shutdown(suspend) to running again on the receiver
#   rounds, pages (frames named in the stream), stream MB/s (its bytes
#   over the total time) and that against a plain copy of as many bytes
#   through the same kind of transport (a pipe into a process the local
#   "ssh" command starts), and total time against a plain copy of the
#   guest's whole RAM size the same way (what moving the memory as bytes
#   would cost). Pages never written go as XALLOC, without data: that is
#   why an idle guest's stream is small.
# Each figure is the median of RUNS.
#
#   bench/xl-migrate.sh [build] [runs] [sizes in MiB...]   (default: 3 runs; 256 1024 4096)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build-release}
runs=${2:-3}
shift $(($# > 2 ? 2 : $#)) || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(256 1024 4096)
[ -x "$build/guests/pvsuspend.elf" ] || { echo "build first: ninja -C $build xenolithd xl guests/all" >&2; exit 1; }
source "$top/bench/lib.sh" "$build"
have_kvm || { echo "no usable /dev/kvm: this benchmark migrates a real guest" >&2; exit 1; }
run2=$work/run2
"$build/src/daemon/xenolithd" --run-dir "$run2" --log-dir "$work/log2" --xl-conf "$daemon_xl_conf" \
    >"$work/xenolithd2.log" 2>&1 &
daemon2=$!
cleanup_extra() { kill "$daemon2" 2>/dev/null; wait "$daemon2" 2>/dev/null; rm -rf "$work"; }
for _ in $(seq 100); do [ -S "$run2/xenolithd.sock" ] && break; sleep 0.05; done
to_run2="env XENOLITH_RUN_DIR=$run2"
path_host="PATH=$(dirname "$xl"):$PATH"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# migrate_once NAME MIB EXTRA -> "total_ms paused_ms downtime_ms rounds pages bytes"
migrate_once() {
    local name=$1 mib=$2 extra=$3 t0 t1 line resumed
    "$xl" create -q "$(guest_cfg "$name" pvsuspend "$mib" "extra = \"$extra\"")"
    wait_for 60 grep -q 'ready;' "$work/log/guest-$name.log" || { echo "guest $name did not start" >&2; exit 1; }
    sleep 1  # a few dirtying rounds before the migration starts
    t0=$(now_ms)
    "$xl" migrate -s "$to_run2" "$name" "$path_host" >/dev/null 2>"$work/migrate.err" ||
        { cat "$work/migrate.err" >&2; exit 1; }
    t1=$(now_ms)
    line=$("$xl" dmesg | grep -E "\(XEN\) d[0-9]+: saved, " | tail -n 1)
    wait_for 30 grep -q 'resumed in a new domain after' "$work/log2/guest-$name--incoming.log" ||
        { echo "guest $name did not resume on the receiver" >&2; exit 1; }
    resumed=$(sed -nE 's/.*resumed in a new domain after ([0-9]+) us.*/\1/p' \
        "$work/log2/guest-$name--incoming.log" | tail -n 1)
    XENOLITH_RUN_DIR=$run2 "$xl" destroy "$name"
    sed -nE "s/.*saved, ([0-9]+) pages in ([0-9]+) round\(s\), ([0-9]+) bytes, paused ([0-9.]+) ms.*/$((t1 - t0)) \4 $(echo "scale=1; $resumed / 1000" | bc) \2 \1 \3/p" <<<"$line"
}

# plain_ms BYTES: the same number of bytes through a pipe into a process the
# transport command starts, as xl's stream goes.
plain_ms() {
    local t0 t1
    t0=$(now_ms)
    head -c "$1" /dev/zero | $to_run2 sh -c 'cat >/dev/null'
    t1=$(now_ms)
    echo $((t1 - t0))
}

n=0
for mib in "${sizes[@]}"; do
    low=$((mib < 3840 ? mib : 3840))  # RAM below the MMIO hole, in the guest's identity map
    ram_plain=$(plain_ms $((mib << 20)))
    for kind in idle full busy; do
        case $kind in
            idle) extra="" ;;
            full) extra="fill=$((low - 48))" ;;
            busy) extra="fill=$((low - 48)) dirty=16" ;;
        esac
        total=() paused=() down=() rounds=() pages=() mbps=() ratio=() ram_ratio=()
        for _ in $(seq "$runs"); do
            n=$((n + 1))
            read -r t p d r pg b < <(migrate_once "mg$n" "$mib" "$extra")
            pl=$(plain_ms "$b")
            total+=("$t") paused+=("$p") down+=("$d") rounds+=("$r") pages+=("$pg")
            mbps+=("$(echo "scale=1; $b / 1000 / $t" | bc)")
            ratio+=("$(echo "scale=2; $pl / $t" | bc)")
            ram_ratio+=("$(echo "scale=2; $ram_plain / $t" | bc)")
        done
        printf '%5d MiB %s: total %5s ms (%sx plain copy of the RAM, %s ms)  paused %5s ms  guest downtime %6s ms  rounds %s  pages %s  stream %6s MB/s (%sx plain pipe of its bytes)\n' \
            "$mib" "$kind" "$(median_of "${total[@]}")" "$(median_of "${ram_ratio[@]}")" "$ram_plain" \
            "$(median_of "${paused[@]}")" "$(median_of "${down[@]}")" \
            "$(median_of "${rounds[@]}")" "$(median_of "${pages[@]}")" "$(median_of "${mbps[@]}")" \
            "$(median_of "${ratio[@]}")"
    done
done
