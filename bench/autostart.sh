#!/usr/bin/env bash
# xenolith-domains with N service guests (guests/tests/service.c):
#  - start: the tool's wall time against N plain `xl create` one after the
#    other (its own cost: reading N configs, planning, listing; goal: ratio
#    near 1), XENDOMAINS_CREATE_USLEEP=0;
#  - stop: N domains in one level (all asked at once) against a chain of N
#    levels (one after the other): what level-parallel shutdown buys.
#   bench/autostart.sh [BUILD_DIR] [N]
set -euo pipefail
source "$(dirname "$0")/lib.sh" "${1:-build-release}"
n=${2:-8}
xd="$build/src/toolstack/autostart/xenolith-domains"
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
gone() { for _ in $(seq 400); do [ "$("$xl" list | wc -l)" -eq 2 ] && return 0; sleep 0.05; done; return 1; }

# DIR CHAIN: N configs in DIR; CHAIN=1 makes svc-i start after svc-(i-1).
make_dir() {
    mkdir -p "$1"
    for i in $(seq "$n"); do
        { echo "name = \"svc-$i\""; echo 'type = "pvh"'; echo "kernel = \"$build/guests/service.elf\""
          echo 'memory = 16'
          [ "$2" = 1 ] && [ "$i" -gt 1 ] && echo "start_after = \"svc-$((i - 1))\""
          true; } >"$1/svc-$(printf %03d "$i").cfg"
    done
    printf 'XENDOMAINS_AUTO=%s\nXENDOMAINS_CREATE_USLEEP=0\nXENDOMAINS_STOP_MAXWAIT=120\nXENOLITH_XL=%s\n' \
        "$1" "$xl" >"$1.settings"
}
wait_up() {  # every service printed its "up" line
    for _ in $(seq 400); do
        [ "$("$xl" dmesg | grep -c 'service svc-[0-9]*: up')" -ge "$n" ] && return 0; sleep 0.05
    done
    return 1
}
make_dir "$work/flat" 0
make_dir "$work/chain" 1

t=$(date +%s%N)
for f in "$work/flat"/*.cfg; do "$xl" create -q "$f"; done
plain=$(ms "$t")
wait_up; "$xl" dmesg -c >/dev/null
for i in $(seq "$n"); do "$xl" destroy "svc-$i"; done; gone

t=$(date +%s%N); "$xd" --config "$work/flat.settings" start >/dev/null; tool=$(ms "$t")
wait_up; "$xl" dmesg -c >/dev/null
t=$(date +%s%N); "$xd" --config "$work/flat.settings" stop >/dev/null; stop_flat=$(ms "$t")
gone

"$xd" --config "$work/chain.settings" start >/dev/null
wait_up; "$xl" dmesg -c >/dev/null
t=$(date +%s%N); "$xd" --config "$work/chain.settings" stop >/dev/null; stop_chain=$(ms "$t")

echo "domains:                          $n"
echo "start, N x xl create:             $plain ms"
echo "start, xenolith-domains:          $tool ms"
awk -v a="$tool" -v b="$plain" 'BEGIN{printf "  ratio:                          %.2f\n", a/b}'
echo "stop, one level (all at once):    $stop_flat ms"
echo "stop, chain of $n levels:          $stop_chain ms"
awk -v a="$stop_chain" -v b="$stop_flat" 'BEGIN{printf "  chain / one level:              %.1f\n", a/(b ? b : 1)}'
