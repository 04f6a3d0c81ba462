#!/usr/bin/env bash
# `xl list` latency (whole command: fork, connect, request, JSON, print),
# median and p99 over RUNS runs, with 1, 50 and N idle domains (8 MiB each)
# on one xenolithd; `xl list -l` with N; the ratios N vs 1 (wall and
# xenolithd CPU); and the create cost of the 1st vs the Nth domain
# (xenolithd CPU from the request to its first guest instruction, and the
# KVM set-up, from `xl dmesg`).
#   bench/list.sh [BUILD_DIR] [N] [RUNS]
set -euo pipefail
source "$(dirname "$0")/lib.sh" "${1:-build-release}"
n=${2:-200}
runs=${3:-200}

hz=$(getconf CLK_TCK)
daemon_ticks() { awk '{print $14 + $15}' "/proc/$bench_daemon/stat"; }
percentile() {  # P: the P-th percentile (nearest rank) of stdin
    sort -n | awk -v p="$1" '{a[NR] = $1} END {r = int((p * NR + 99) / 100); if (r < 1) r = 1; print a[r]}'
}
# measure LABEL COMMAND...: RUNS runs of COMMAND; wall time per run (median,
# p99; $EPOCHREALTIME, no fork to time), and CPU per run of the xl processes
# and of xenolithd less its idle CPU (load on a shared machine inflates
# wall time, not CPU).
measure() {
    local label=$1; shift
    local d0 d1
    d0=$(daemon_ticks)
    (
        starts=() ends=()
        for ((i = 0; i < runs; i++)); do
            starts+=("$EPOCHREALTIME"); "$@" >/dev/null; ends+=("$EPOCHREALTIME")
        done
        read -r -a st <"/proc/$BASHPID/stat"  # cutime and cstime: the xl runs only
        echo $((st[15] + st[16])) >"$bench_work/xl-ticks"
        for ((i = 0; i < runs; i++)); do echo "${starts[i]} ${ends[i]}"; done |
            awk '{printf "%.3f\n", ($2 - $1) * 1000}'
    ) >"$bench_work/wall"
    d1=$(daemon_ticks)
    # xenolithd's own idle CPU (the idle domains) over as long, taken off.
    local spent idle0
    spent=$(awk '{s += $1} END {print s / 1000}' "$bench_work/wall")
    idle0=$(daemon_ticks); sleep "$spent"; d0=$((d0 + $(daemon_ticks) - idle0))
    printf '%-26s wall median %7.2f ms  p99 %7.2f ms   CPU/run: xl %5.2f ms, xenolithd %5.2f ms\n' \
        "$label" "$(median <"$bench_work/wall")" "$(percentile 99 <"$bench_work/wall")" \
        "$(awk -v t="$(cat "$bench_work/xl-ticks")" -v hz="$hz" -v n="$runs" 'BEGIN {print t * 1000 / hz / n}')" \
        "$(awk -v t="$((d1 - d0))" -v hz="$hz" -v n="$runs" 'BEGIN {print t * 1000 / hz / n}')"
    median <"$bench_work/wall" >"$bench_work/median-$label"
    awk -v t="$((d1 - d0))" -v hz="$hz" -v n="$runs" 'BEGIN {print t * 1000 / hz / n}' \
        >"$bench_work/cpu-$label"
}
# create_cost NAME: "VMM CPU ms, KVM set-up ms" of domain NAME's creation.
create_cost() {
    local id cpu kvm
    id=$("$xl" domid "$1")
    for _ in $(seq 200); do
        cpu=$("$xl" dmesg | sed -nE "s/.*d$id: first guest instruction .*VMM CPU ([0-9.]+) ms.*/\1/p" | tail -1)
        [ -n "$cpu" ] && break; sleep 0.01
    done
    kvm=$("$xl" dmesg | sed -nE "s/.*d$id: KVM set-up ([0-9.]+) ms.*/\1/p" | tail -1)
    echo "${cpu:-?} ${kvm:-?}"
}

"$xl" create -q "$(guest_cfg idle-1 idle 8)"
read -r first_cpu first_kvm <<<"$(create_cost idle-1)"
sleep 1
measure "xl list, 1 domain" "$xl" list

for i in $(seq 2 50); do "$xl" create -q "$(guest_cfg "idle-$i" idle 8)"; done
sleep 1
measure "xl list, 50 domains" "$xl" list

last_cpu=? last_kvm=?
for i in $(seq 51 "$n"); do
    "$xl" create -q "$(guest_cfg "idle-$i" idle 8)"
    [ "$i" -eq "$n" ] && read -r last_cpu last_kvm <<<"$(create_cost "idle-$i")"
done
sleep 2  # every guest reaches its idle loop
count=$("$xl" list | grep -c '^idle-')
[ "$count" -eq "$n" ] || { echo "only $count of $n domains" >&2; exit 1; }
measure "xl list, $n domains" "$xl" list
measure "xl list -l, $n domains" "$xl" list -l
ratio() { awk -v a="$(cat "$bench_work/$1-xl list, $n domains")" -v b="$(cat "$bench_work/$1-xl list, 1 domain")" \
    'BEGIN {printf "%.2f", b > 0 ? a / b : 0}'; }
echo "ratio $n vs 1 domain: wall (median) $(ratio median), xenolithd CPU $(ratio cpu)"
printf 'create, domain 1:  xenolithd CPU %s ms, KVM set-up %s ms\n' "$first_cpu" "$first_kvm"
printf 'create, domain %d: xenolithd CPU %s ms, KVM set-up %s ms  (CPU ratio %s)\n' "$n" "$last_cpu" "$last_kvm" \
    "$(awk -v a="$last_cpu" -v b="$first_cpu" 'BEGIN {printf "%.2f", b > 0 ? a / b : 0}')"
