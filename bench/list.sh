#!/usr/bin/env bash
# `xl list` latency (whole command: fork, connect, request, JSON, print),
# median and p99 over RUNS runs, with 1 idle domain and with N idle
# domains (8 MiB each) on one xenolithd; `xl list -l` with N; and the
# ratio N vs 1.
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
}

"$xl" create -q "$(guest_cfg idle-1 idle 8)"
sleep 1
measure "xl list, 1 domain" "$xl" list

for i in $(seq 2 "$n"); do "$xl" create -q "$(guest_cfg "idle-$i" idle 8)"; done
sleep 2  # every guest reaches its idle loop
count=$("$xl" list | grep -c '^idle-')
[ "$count" -eq "$n" ] || { echo "only $count of $n domains" >&2; exit 1; }
measure "xl list, $n domains" "$xl" list
measure "xl list -l, $n domains" "$xl" list -l
awk -v a="$(cat "$bench_work/median-xl list, $n domains")" -v b="$(cat "$bench_work/median-xl list, 1 domain")" \
    -v n="$n" 'BEGIN {printf "ratio %d vs 1 domain (median wall): %.2f\n", n, a / b}'
