#!/usr/bin/env bash
# Every SCHEDOP_shutdown reason and the on_* actions, a vCPU halted with
# interrupts off, and a triple fault — through real xl commands against a
# real xenolithd, checked in `xl list`'s state letters and `xl dmesg`.
#   lifecycle.sh BUILD_DIR
set -u
XENOLITH_SERIAL_FIFO=1 source "$(dirname "$0")/lib.sh" "${1:?usage: lifecycle.sh BUILD_DIR}" life
skip_suite_without_kvm lifecycle

# start NAME EXTRA [cfg lines...]
start() {
    local name=$1 extra=$2; shift 2
    { echo "name = \"$name\""; echo 'type = "pvh"'; echo "kernel = \"$build/guests/lifecycle.elf\""
      echo 'memory = 16'; echo "extra = \"$extra\""; for l in "$@"; do echo "$l"; done; } >"$work/$name.cfg"
    "$xl" create -q "$work/$name.cfg"
}
state_of() { "$xl" list "$1" 2>/dev/null | awk 'NR == 2 {print $5}'; }
wait_state() {  # NAME WANT
    for _ in $(seq 100); do [ "$(state_of "$1")" = "$2" ] && return 0; sleep 0.05; done
    echo "  $1: state '$(state_of "$1")', want '$2'"; return 1
}
gone() { for _ in $(seq 100); do "$xl" domid "$1" >/dev/null 2>&1 || return 0; sleep 0.05; done; return 1; }

# Each reason with its on_* action set to preserve: the 5th letter names it.
start r-poweroff reason=0 'on_poweroff = "preserve"';   check "poweroff preserved as ---s--" wait_state r-poweroff ---s--
start r-reboot reason=1 'on_reboot = "preserve"';        check "reboot preserved as ---sr-" wait_state r-reboot ---sr-
start r-suspend reason=2;                                check "suspend stays as ---ss-" wait_state r-suspend ---ss-
start r-crash reason=3 'on_crash = "preserve"';          check "crash preserved as ---sc-" wait_state r-crash ---sc-
start r-watchdog reason=4 'on_watchdog = "preserve"';    check "watchdog preserved as ---sw-" wait_state r-watchdog ---sw-
start r-softreset reason=5 'on_soft_reset = "preserve"'; check "soft_reset preserved as ---sS-" wait_state r-softreset ---sS-
check "verbose list shows the reason code" grep -qE '^r-crash .* +3 +-$' <("$xl" list -v r-crash)
for d in r-poweroff r-reboot r-suspend r-crash r-watchdog r-softreset; do "$xl" destroy "$d"; done

# VIRQ_DOM_EXC reaches the domain named for it (global_virqs) and no other:
# a domain powering off and being destroyed raises it twice.
"$xl" create -q "$(guest_cfg v-handler dom_exc 16 'extra = "expect=2"' \
    'global_virqs = ["dom_exc"]' 'on_poweroff = "preserve"')"
"$xl" create -q "$(guest_cfg v-other dom_exc 16 'extra = "none"' 'on_poweroff = "preserve"')"
wait_for 10 grep -q 'dom_exc: waiting' "$work/log/guest-v-handler.log"
wait_for 10 grep -q 'dom_exc: waiting' "$work/log/guest-v-other.log"
start v-victim reason=0
check "VIRQ_DOM_EXC delivered to its handler on shutdown and destroy" \
    wait_for 30 grep -q 'Test result: SUCCESS' "$work/log/guest-v-handler.log"
check "... and to no other domain" \
    wait_for 30 grep -q 'Test result: SUCCESS' "$work/log/guest-v-other.log"
check "a second handler for VIRQ_DOM_EXC is refused" expect_rc 1 "$xl" create -q \
    "$(guest_cfg v-second dom_exc 16 'global_virqs = ["dom_exc"]')"
check "... saying who handles it" grep -q 'VIRQ 3 is already handled by domain' "$work/err"
check "... and leaving nothing behind" expect_rc 1 "$xl" domid v-second
check "a per-vCPU VIRQ is no global_virqs entry" expect_rc 1 "$xl" create -q \
    "$(guest_cfg v-bad dom_exc 16 'global_virqs = ["timer"]')"
check "... with file:line and the key" grep -qE 'v-bad.cfg:5:[0-9]+: global_virqs: "timer" is not a global VIRQ' "$work/err"
"$xl" destroy v-handler; "$xl" destroy v-other

# VIRQ_CONSOLE: bytes on xenolithd's serial line reach the domain that
# handles it, which reads them with CONSOLEIO_read.
"$xl" create -q "$(guest_cfg v-serial serial_console 16 'global_virqs = ["console"]' \
    'on_poweroff = "preserve"')"
wait_for 10 grep -q 'serial: waiting' "$work/log/guest-v-serial.log"
printf 'ping\n' >"$work/serial"
check "serial input reaches the VIRQ_CONSOLE domain through CONSOLEIO_read" \
    wait_for 30 grep -q 'Test result: SUCCESS' "$work/log/guest-v-serial.log"
"$xl" destroy v-serial

# on_soft_reset's default, soft-reset: the same domain continues after its
# SCHEDOP_shutdown (the guest says so, then powers off and is preserved).
start s-soft reason=5 'on_poweroff = "preserve"'
soft_id=$("$xl" domid s-soft)
check "soft reset resumes the guest after its hypercall" \
    wait_for 10 grep -q 'still running after shutdown' "$work/log/guest-s-soft.log"
check "... logged as a resume of the same domain" \
    grep -q "Domain $soft_id (s-soft) resumed after soft reset" <("$xl" dmesg)
check "... which then powers off under the same domid" wait_state s-soft ---s--
check "... (domid $soft_id kept)" test "$("$xl" domid s-soft)" = "$soft_id"
"$xl" destroy s-soft

# Default actions: poweroff and crash destroy; reboot restarts under a new domid.
start a-poweroff reason=0; check "on_poweroff=destroy removes the domain" gone a-poweroff
start a-crash reason=3;    check "on_crash=destroy removes the domain" gone a-crash
start a-reboot reason=1
first=$("$xl" domid a-reboot 2>/dev/null)
restarted=no
for _ in $(seq 100); do
    now=$("$xl" domid a-reboot 2>/dev/null || true)
    if [ -n "$now" ] && [ "$now" != "$first" ]; then restarted=yes; break; fi
    sleep 0.05
done
check "on_reboot=restart starts it again under a new domid" test "$restarted" = yes
"$xl" destroy a-reboot 2>/dev/null; sleep 0.2; "$xl" destroy a-reboot 2>/dev/null
check "the console log survives and shows every boot" \
    test "$(grep -c 'lifecycle: reason=1' "$work/log/guest-a-reboot.log")" -ge 2

# rename-restart keeps the dead domain under "<name>-<UTC time>" and starts
# a new one under the name. A 1 s watchdog ends each incarnation, so the
# restart cycle is slow enough to observe and to stop.
start rr-dog watchdog 'on_watchdog = "rename-restart"'
renamed=no
for _ in $(seq 200); do
    "$xl" list | grep -qE '^rr-dog-[0-9]{8}T[0-9]{4}Z +[0-9]+ .* ---sw-' && { renamed=yes; break; }
    sleep 0.05
done
check "rename-restart preserves the dead domain as <name>-<time>" test "$renamed" = yes
check "... and a new domain runs under the name" bash -c \
    "for i in \$(seq 100); do '$xl' domid rr-dog >/dev/null 2>&1 && exit 0; sleep 0.05; done; exit 1"
for _ in 1 2 3; do  # a watchdog may fire (and rename) while we clean up
    for d in $("$xl" list | awk '/^rr-dog/ {print $1}'); do "$xl" destroy "$d" 2>/dev/null; done
    sleep 0.2
done
check "nothing of the restart cycle is left" bash -c "! '$xl' list | grep -q '^rr-dog'"

# A vCPU halted with interrupts off is reported, shown blocked, and idle.
start h-halt halt
check "dead halt reported in dmesg" bash -c \
    "for i in \$(seq 60); do '$xl' dmesg | grep -q 'halted with interrupts disabled' && exit 0; sleep 0.1; done; exit 1"
check "dead halt shown as blocked" wait_state h-halt -b----
t0=$("$xl" list h-halt | awk 'NR == 2 {print $6}'); sleep 2; t1=$("$xl" list h-halt | awk 'NR == 2 {print $6}')
check "a dead-halted vCPU uses no CPU (${t0}s -> ${t1}s)" awk -v a="$t0" -v b="$t1" 'BEGIN {exit !(b - a < 0.2)}'
"$xl" destroy h-halt

# A triple fault is a crash.
start t-triple triplefault 'on_crash = "preserve"'
check "triple fault is a crash (---sc-)" wait_state t-triple ---sc-
check "triple fault named in dmesg" grep -q 'triple fault' <("$xl" dmesg)
"$xl" destroy t-triple

summary lifecycle
