#!/usr/bin/env bash
# Save, restore and live migration of guest memory through xenolith's
# image path (bench/migrate_bench.cpp: whole xl save images, pre-copy over
# a socketpair) against plain copies of the same bytes in the same run:
#   save / restore   vs `cp` of a file of the same size (both unsynced), and
#                    vs `dd` writing that many bytes from user memory / reading
#                    the image into user memory (the syscall copies a save
#                    and a restore cannot avoid; cp copies inside the kernel)
#   migrate          vs the same RAM written raw over the same socketpair
# for idle and busy guests of each size. Each figure is the median of RUNS.
#
#   bench/migrate.sh [build] [runs] [sizes in MiB...]     (default: 3 runs; 256 1024 4096)
#
# No KVM is involved: KVM's dirty-log cost and the guest's suspend are not
# in these figures (see the driver's header).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build-release}
runs=${2:-3}
shift $(($# > 2 ? 2 : $#)) || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(256 1024 4096)
bench=$build/bench/migrate_bench
[ -x "$bench" ] || { echo "build first: ninja -C $build migrate_bench" >&2; exit 1; }
dir=$(mktemp -d /var/tmp/xenolith-migrate.XXXXXX)
trap 'rm -rf "$dir"' EXIT

# median VALUES...: the middle value (lower middle for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
# field NAME LINE: NAME=value out of a driver line.
field() { sed -nE "s/.*(^| )$1=([^ ]+).*/\2/p" <<<"$2"; }
ms_of() { local t0 t1; t0=$(date +%s%N); "$@"; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }

for mib in "${sizes[@]}"; do
    save=() restore=() cp_ms=() ddw=() ddr=() plain=() idle_mbps=() idle_down=() idle_rounds=()
    busy_mbps=() busy_down=() busy_rounds=()
    for _ in $(seq "$runs"); do
        line=$("$bench" save "$mib" "$dir/image"); save+=("$(field ms "$line")")
        line=$("$bench" restore "$mib" "$dir/image"); restore+=("$(field ms "$line")")
        cp_ms+=("$(ms_of cp "$dir/image" "$dir/copy")"); rm -f "$dir/copy"
        ddw+=("$(ms_of dd if=/dev/zero of="$dir/copy" bs=4M count=$((mib / 4)) status=none)"); rm -f "$dir/copy"
        ddr+=("$(ms_of dd if="$dir/image" of=/dev/null bs=4M status=none)")
        line=$("$bench" plain "$mib"); plain+=("$(field mbps "$line")")
        line=$("$bench" migrate "$mib" idle)
        idle_mbps+=("$(field mbps "$line")"); idle_down+=("$(field downtime_ms "$line")")
        idle_rounds=("$(field rounds "$line")")
        line=$("$bench" migrate "$mib" busy)
        busy_mbps+=("$(field mbps "$line")"); busy_down+=("$(field downtime_ms "$line")")
        busy_rounds=("$(field rounds "$line")")
        rm -f "$dir/image"
    done
    s=$(median "${save[@]}") r=$(median "${restore[@]}") c=$(median "${cp_ms[@]}")
    p=$(median "${plain[@]}") im=$(median "${idle_mbps[@]}") bm=$(median "${busy_mbps[@]}")
    printf '%5d MiB  save %6s ms  restore %6s ms  cp %6s ms  (save/cp %.2f, restore/cp %.2f)\n' \
        "$mib" "$s" "$r" "$c" "$(echo "$s / $c" | bc -l)" "$(echo "$r / $c" | bc -l)"
    w=$(median "${ddw[@]}") rd=$(median "${ddr[@]}")
    printf '%5d MiB  dd write %6s ms  dd read %6s ms  (save/dd-write %.2f, restore/dd-read %.2f)\n' \
        "$mib" "$w" "$rd" "$(echo "$s / $w" | bc -l)" "$(echo "$r / $rd" | bc -l)"
    printf '%5d MiB  plain copy %5s MB/s\n' "$mib" "$p"
    printf '%5d MiB  migrate idle %5s MB/s (%.2fx plain), downtime %s ms, pages per round %s\n' \
        "$mib" "$im" "$(echo "$im / $p" | bc -l)" "$(median "${idle_down[@]}")" "${idle_rounds[0]}"
    printf '%5d MiB  migrate busy %5s MB/s (%.2fx plain), downtime %s ms, pages per round %s\n' \
        "$mib" "$bm" "$(echo "$bm / $p" | bc -l)" "$(median "${busy_down[@]}")" "${busy_rounds[0]}"
done
